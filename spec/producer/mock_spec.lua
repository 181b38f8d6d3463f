-- insync.mock: librdkafka's embedded mock cluster.
local insync = require "insync"
local fixture = require "producer.fixture"
local helpers = require "helpers"

describe("mock cluster", function()
  it("lists one bootstrap address per broker", function()
    local m = insync.mock{ brokers = 3 }
    local n = 0
    for addr in m:bootstrap_servers():gmatch("[^,]+") do
      assert.matches("^127%.0%.0%.1:%d+$", addr)
      n = n + 1
    end
    assert.equal(3, n)
    assert.equal(3, m:brokers())
    m:close()
    m:close()
    assert.equal("insync.mock (closed)", tostring(m))
    assert.matches("attempt to use a closed mock cluster", helpers.raises(m.bootstrap_servers, m))
  end)

  it("moves a partition's leader", function()
    local m = fixture.cluster(3, "orders", 1, 3)
    m:set_leader("orders", 0, 3)
    m:broker_down(3)
    local p = fixture.producer(m, { ["message.timeout.ms"] = 1000 })
    local err
    p:send({ topic = "orders", value = "x" }, function(_, e) err = e end)
    assert.equal(0, p:flush(10000))
    assert.equal("_MSG_TIMED_OUT", err.name)
    p:close()
    m:set_leader("orders", 0, 1)
    local p2 = fixture.producer(m)
    local report
    p2:send({ topic = "orders", value = "x" }, function(r, e) report = r; err = e end)
    assert.equal(0, p2:flush(10000))
    assert.is_nil(err)
    assert.equal(0, report.offset)
    p2:close()
    m:close()
  end)

  it("pushes errors by request name or ApiKey, per cluster or per broker", function()
    local m = fixture.cluster(1, "orders", 1, 1)
    local p = fixture.producer(m, { retries = 0 })
    local errs = {}
    local function send()
      p:send({ topic = "orders", value = "x" }, function(_, e) errs[#errs + 1] = e or false end)
      assert.equal(0, p:flush(10000))
    end
    send() -- connected, metadata known
    m:push_errors(0, { "NOT_ENOUGH_REPLICAS_AFTER_APPEND" })
    send()
    m:push_broker_errors(1, "Produce", { "KAFKA_STORAGE_ERROR" })
    assert.equal(1, m:broker_errors_left(1, "Produce"))
    send()
    send()
    assert.is_false(errs[1])
    assert.equal("NOT_ENOUGH_REPLICAS_AFTER_APPEND", errs[2].name)
    assert.equal("possibly_persisted", errs[2].persisted)
    assert.equal("KAFKA_STORAGE_ERROR", errs[3].name)
    assert.is_false(errs[4])
    p:close()
    m:close()
  end)

  it("delays a broker's responses by its RTT", function()
    local m = fixture.cluster(1, "orders", 1, 1)
    local p = fixture.producer(m)
    local report
    p:send({ topic = "orders", value = "warm up" }, function() end)
    assert.equal(0, p:flush(10000))
    m:broker_rtt(1, 400)
    p:send({ topic = "orders", value = "x" }, function(r) report = r end)
    assert.equal(0, p:flush(10000))
    assert.is_true(report.latency_ms >= 400, "latency " .. report.latency_ms)
    m:broker_rtt(-1, 0)
    p:close()
    m:close()
  end)

  it("sends a consumer to the follower it is given, which serves only up to its watermark", function()
    local m = fixture.cluster(3, "orders", 1, 3)
    m:set_leader("orders", 0, 1)
    local p = fixture.producer(m, { ["linger.ms"] = 0 })
    for i = 1, 10 do   -- one batch each, so that offset 5 starts one
      assert(p:send({ topic = "orders", partition = 0, value = "v" .. i }))
      assert.equal(0, p:flush(10000))
    end
    -- kcat (librdkafka's consumer) from offset 5, the values on one line
    local function read()
      return (fixture.sh(("timeout 4 kcat -C -b %s -t orders -p 0 -o 5 -c 5 -e -q 2>/dev/null | tr '\\n' ' '")
        :format(m:bootstrap_servers())))
    end
    assert.equal("v6 v7 v8 v9 v10 ", read())                    -- from the leader
    m:set_follower("orders", 0, 2)
    m:set_follower_watermarks("orders", 0, 0, 3)                 -- a follower at offset 3
    local lagging = fixture.sh(("timeout 4 kcat -C -b %s -t orders -p 0 -o 5 -c 5 -e -q -d fetch")
      :format(m:bootstrap_servers()))
    assert.matches("migrating from broker 1 to 2", lagging)      -- the leader sent it there
    assert.not_matches("v6", lagging)                            -- offset 5 is above its watermark
    m:set_follower_watermarks("orders", 0, -1, -1)               -- tracks the leader again
    assert(p:send({ topic = "orders", partition = 0, value = "v11" }))
    assert.equal(0, p:flush(10000))
    assert.equal("v6 v7 v8 v9 v10 ", read())                    -- now it has them
    p:close()
    m:close()
  end)

  it("checks the arguments of set_follower and set_follower_watermarks", function()
    local m = fixture.cluster(3, "orders", 1, 3)
    m:set_follower("orders", 0, 2)
    m:set_follower_watermarks("orders", 0, 0, 10)
    m:set_follower_watermarks("orders", 0, -1, -1)
    assert.matches("set_follower_watermarks: high: expected an offset or %-1",
      helpers.raises(m.set_follower_watermarks, m, "orders", 0, 0, -7))
    assert.matches("set_follower: partition: expected an integer >= 0",
      helpers.raises(m.set_follower, m, "orders", "zero", 2))
    assert.matches("set_leader: broker: no broker 4",
      helpers.raises(m.set_leader, m, "orders", 0, 4))
    m:close()
  end)

  it("raises on misuse, naming the argument", function()
    assert.matches("mock: brokers: expected an integer >= 1", helpers.raises(insync.mock, { brokers = 0 }))
    local m = insync.mock{ brokers = 2 }
    assert.matches("create_topic: replication_factor: 3 is more than the 2 brokers",
      helpers.raises(m.create_topic, m, "t", 1, 3))
    assert.matches("broker_down: broker: no broker 5", helpers.raises(m.broker_down, m, 5))
    assert.matches("push_errors: request: unknown request type 'Produse'",
      helpers.raises(m.push_errors, m, "Produse", { "NOT_ENOUGH_REPLICAS" }))
    assert.matches("push_errors: unknown error name 'NOT_ENOUGH'",
      helpers.raises(m.push_errors, m, "Produce", { "NOT_ENOUGH" }))
    assert.matches("push_errors: expected an error name or code, got 1.5",
      helpers.raises(m.push_errors, m, "Produce", { 1.5 }), 1, true)
    assert.matches("push_errors: request: expected an ApiKey 0..32767, got 70000",
      helpers.raises(m.push_errors, m, 70000, { "NOT_ENOUGH_REPLICAS" }), 1, true)
    assert.equal(22, insync.api_key("InitProducerId"))
    m:close()
  end)
end)
