-- Every accepted send gets exactly one callback, with the right offset.
local insync = require "insync"
local fixture = require "producer.fixture"

describe("producer delivery", function()
  local m
  before_each(function() m = fixture.cluster(3, "orders", 4, 3) end)
  after_each(function() m:close() end)

  it("gives every send exactly one callback with a dense offset per partition", function()
    local p = fixture.producer(m, { acks = "all", ["enable.idempotence"] = true })
    local n = 20000
    local calls, by_partition = {}, {}
    for i = 1, n do
      local id = assert(p:send({ topic = "orders", key = "k" .. i, value = ("v"):rep(100), opaque = i },
        function(report, err)
          assert(err == nil, tostring(err))
          calls[report.opaque] = (calls[report.opaque] or 0) + 1
          local offs = by_partition[report.partition] or {}
          by_partition[report.partition] = offs
          offs[#offs + 1] = report.offset
          assert(report.key == "k" .. report.opaque)
        end))
      assert.equal(i, id)
      if i % 1000 == 0 then p:poll(0) end
    end
    assert.equal(0, p:flush(30000))
    for i = 1, n do assert.equal(1, calls[i]) end
    local total, parts = 0, 0
    for part, offs in pairs(by_partition) do
      assert.is_true(part >= 0 and part < 4)
      table.sort(offs)
      for j, o in ipairs(offs) do assert.equal(j - 1, o) end
      total, parts = total + #offs, parts + 1
    end
    assert.equal(n, total)
    assert.equal(4, parts)
    assert.equal(0, p:close())
  end)

  it("reports topic, partition, offset, key, opaque and latency", function()
    local p = fixture.producer(m)
    local opaque = { any = "value" }
    local got
    p:send({ topic = "orders", partition = 2, key = "order-42", value = "x", opaque = opaque },
      function(report, err) got = { report = report, err = err } end)
    assert.equal(0, p:flush(10000))
    assert.is_nil(got.err)
    assert.equal("orders", got.report.topic)
    assert.equal(2, got.report.partition)
    assert.equal(0, got.report.offset)
    assert.equal("order-42", got.report.key)
    assert.equal(opaque, got.report.opaque)
    assert.is_true(got.report.latency_ms >= 0 and got.report.latency_ms < 10000)
    p:close()
  end)

  it("flushes what lingers at once, as rd_kafka_flush does, within a timeout below linger.ms", function()
    local p = fixture.producer(m, { ["linger.ms"] = 30000 })
    assert(p:send({ topic = "orders", value = "warm" }))
    assert.equal(0, p:flush(60000))
    local got
    assert(p:send({ topic = "orders", value = "a" }, function(_, err) got = err and err.name or "OK" end))
    assert.equal(0, p:flush(5000))   -- linger.ms is 30 s: a flush that waited it out fails
    assert.equal("OK", got)
    assert(p:send({ topic = "orders", value = "b" }, function(_, err) got = err and err.name or "OK" end))
    assert.equal(0, p:close(5000))   -- delivered, not purged
    assert.equal("OK", got)
  end)

  it("counts sends without a callback, and poll returns the reports it served", function()
    local p = fixture.producer(m)
    for _ = 1, 100 do p:send({ topic = "orders", value = "x" }) end
    assert.equal(100, p:outstanding())
    local served, deadline = 0, os.time() + 10
    while served < 100 and os.time() < deadline do served = served + p:poll(100) end
    assert.equal(100, served)
    assert.equal(0, p:outstanding())
    p:close()
  end)

  it("returns _QUEUE_FULL from send, without raising, when the local queue is full", function()
    local p = fixture.producer(m, { ["queue.buffering.max.messages"] = 10, ["linger.ms"] = 1000 })
    local accepted, full = 0, nil
    for _ = 1, 11 do
      local id, err = p:send({ topic = "orders", value = "x" }, function() end)
      if id then accepted = accepted + 1 else full = err end
    end
    assert.equal(10, accepted)
    assert.is_true(insync.is_error(full))
    assert.equal("_QUEUE_FULL", full.name)
    assert.equal(insync.errors._QUEUE_FULL, full.code)
    assert.equal(0, p:flush(10000))
    p:close()
  end)

  it("counts every report, with or without a callback, also once closed", function()
    local p = fixture.producer(m, { ["message.timeout.ms"] = 1500, retries = 0 })
    local called = 0
    for i = 1, 6 do
      assert(p:send({ topic = "orders", value = "v" .. i }, i % 2 == 0 and function() called = called + 1 end or nil))
    end
    assert.same({ sent = 6, delivered = 0, failed = 0, outstanding = 6 }, p:counts())
    assert.equal(0, p:flush(10000))
    assert.same({ sent = 6, delivered = 6, failed = 0, outstanding = 0 }, p:counts())
    assert.equal(3, called)
    m:push_errors("Produce", { "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS" })
    local errs = {}
    for i = 1, 2 do
      assert(p:send({ topic = "orders", partition = 0, value = "x" .. i }, function(_, err) errs[#errs + 1] = err.name end))
    end
    assert.equal(0, p:flush(10000))
    assert.same({ "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS" }, errs)
    p:close()
    assert.same({ sent = 8, delivered = 6, failed = 2, outstanding = 0 }, p:counts())
  end)
end)
