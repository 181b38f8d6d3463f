-- What insync.producer sends is what a consumer of real Apache Kafka reads:
-- keys, values, headers, timestamps, partitions and offsets.
local real = require "kafka.real"

describe("a record's fields round-trip through Apache Kafka", function()
  setup(real.require_cluster)

  it("keys, values, headers, timestamps and partitions come back as sent, at the reported offsets", function()
    local topic = real.name("roundtrip")
    real.topic(topic, 3, 3, { ["min.insync.replicas"] = 2 })
    local p = real.producer{ acks = "all" }
    local before = real.now_ms()
    local msgs = {
      { topic = topic, partition = 2, key = "order-42", value = "first",
        headers = { trace = "abc-123", kind = "order" }, timestamp = 1700000000123 },
      { topic = topic, partition = 0, key = "order-43", value = "caf\195\169 au lait",
        headers = { { "dup", "1" }, { "dup", "2" } } },
      { topic = topic, partition = 1, value = "no key, no headers" },
      { topic = topic, key = "partitioner picks", value = "any partition",
        timestamp = 1600000000000 },
    }
    local results = real.send_all(p, msgs)
    local after = real.now_ms()
    p:close(5000)

    for i, r in ipairs(results) do
      assert.equal("ok", real.outcome(r), "send " .. i)
      assert.equal(1, r.calls)
      assert.equal(topic, r.report.topic)
      assert.is_number(r.report.offset)
      if msgs[i].partition then assert.equal(msgs[i].partition, r.report.partition) end
      assert.equal(msgs[i].key, r.report.key)
    end

    local seen = real.by_value(topic)
    local function read(i)
      local copies = seen[msgs[i].value]
      assert.is_not_nil(copies, "send " .. i .. " is not in the log")
      assert.equal(1, #copies)
      local rec = copies[1]
      assert.equal(results[i].report.partition, rec.partition)
      assert.equal(results[i].report.offset, rec.offset)
      assert.equal(msgs[i].key, rec.key)
      return rec
    end

    local r1 = read(1)
    assert.same({ trace = "abc-123", kind = "order" }, r1.headers)
    assert.equal(1700000000123, r1.timestamp)

    local r2 = read(2)
    assert.equal("caf\195\169 au lait", r2.value)
    -- a header name may repeat; the consumer sees both, in order
    assert.same({ { "dup", "1" }, { "dup", "2" } }, r2.header_list)
    -- no timestamp given: the producer's clock at send time (CreateTime)
    assert.is_true(r2.timestamp >= before - 1000 and r2.timestamp <= after + 1000,
      ("timestamp %d outside [%d, %d]"):format(r2.timestamp, before, after))

    local r3 = read(3)
    assert.is_nil(r3.key)
    assert.is_nil(r3.headers)

    local r4 = read(4)
    assert.equal(1600000000000, r4.timestamp)
    assert.is_true(r4.partition >= 0 and r4.partition < 3)
  end)
end)
