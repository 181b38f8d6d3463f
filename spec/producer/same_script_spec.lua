-- One script, two engines: the same send-and-callback code runs on the model
-- (insync.cluster) and on the real producer (librdkafka against its mock
-- cluster), and records the same outcomes.
local insync = require "insync"
local fixture = require "producer.fixture"

-- Written once, for either engine: sends five keyed records to partition 0
-- and keeps what each callback saw (everything but the latency, which is
-- the one thing that differs between a simulation and a real network).
local function script(p, seen)
  for i = 1, 5 do
    assert(p:send({ topic = "orders", partition = 0, key = "k" .. i, value = "v" .. i, opaque = i },
      function(report, err)
        seen[report.opaque] = {
          topic = report.topic, partition = report.partition, offset = report.offset,
          key = report.key, latency = type(report.latency_ms),
          err = err and err.name, code = err and err.code,
          retriable = err and err.retriable, persisted = err and err.persisted,
          is_error = err and insync.is_error(err),
        }
      end))
  end
end

local function on_model(setup)
  local c = insync.cluster{ brokers = 3, seed = 1 }
  c:create_topic("orders", { partitions = 1, replication_factor = 3,
                             config = { ["min.insync.replicas"] = 2 } })
  local p = c:producer{ acks = "all", retries = 0 }
  if setup then setup(c) end
  local seen = {}
  script(p, seen)
  assert.is_true(c:run(60000))
  return seen
end

local function on_producer(setup)
  local m = fixture.cluster(3, "orders", 1, 3)
  local p = fixture.producer(m, { acks = "all", retries = 0 })
  assert(p:send({ topic = "orders", partition = 0, value = "connect" }, function() end))
  assert.equal(0, p:flush(10000))   -- so both start from a known cluster
  if setup then setup(m) end
  local seen = {}
  script(p, seen)
  assert.equal(0, p:flush(20000))
  p:close()
  m:close()
  -- the connecting record took offset 0 on the real producer
  for _, s in pairs(seen) do if s.offset then s.offset = s.offset - 1 end end
  return seen
end

describe("one script on both engines", function()
  it("sees the same reports when every record is acknowledged", function()
    local model, real = on_model(), on_producer()
    assert.same(model, real)
    for i = 1, 5 do assert.equal(i - 1, real[i].offset) end
  end)

  it("sees the same NOT_ENOUGH_REPLICAS when the ISR is too small", function()
    local model = on_model(function(c)
      c:crash(2); c:crash(3)
      c:run_for(40000)   -- past replica.lag.time.max.ms: the ISR shrinks to {1}
    end)
    local real = on_producer(function(m)
      m:push_errors("Produce", { "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS",
                                 "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS" })
    end)
    assert.same(model, real)
    assert.equal("NOT_ENOUGH_REPLICAS", real[1].err)
    assert.equal("not_persisted", real[1].persisted)
  end)

  it("refuses the same records as over message.max.bytes, through the callback", function()
    -- librdkafka counts a record's most v2 overhead (36 bytes), key, value
    -- and headers (a varint length before each name and value)
    local function sizes(p, settle)
      local names = {}
      local function s(label, msg)
        msg.topic, msg.partition = "orders", 0
        assert(p:send(msg, function(_, err) names[label] = err and err.name or "OK" end))
      end
      s("value at the limit", { value = ("x"):rep(1000 - 36) })
      s("value 1 over", { value = ("x"):rep(1000 - 35) })
      s("key and value 1 over", { key = ("k"):rep(500), value = ("x"):rep(1000 - 35 - 500) })
      -- a header h of 959 bytes takes 1 + 1 + 2 + 959; with 1 byte of value
      s("header at the limit", { value = "x", headers = { h = ("y"):rep(959) } })
      s("header 1 over", { value = "x", headers = { h = ("y"):rep(960) } })
      -- a header without value takes 1 + 1 + 1 bytes
      s("header without value 1 over", { value = "x", headers = { { "a" }, { "h", ("y"):rep(957) } } })
      settle()
      return names
    end
    local c = insync.cluster{ brokers = 1 }
    c:create_topic("orders", { partitions = 1, replication_factor = 1 })
    local model = sizes(c:producer{ ["message.max.bytes"] = 1000 }, function() assert.is_true(c:run()) end)
    local m = fixture.cluster(1, "orders", 1, 1)
    local rp = fixture.producer(m, { ["message.max.bytes"] = 1000 })
    local real = sizes(rp, function() assert.equal(0, rp:flush(10000)) end)
    rp:close()
    m:close()
    assert.same(model, real)
    assert.same({ ["value at the limit"] = "OK", ["value 1 over"] = "MSG_SIZE_TOO_LARGE",
                  ["key and value 1 over"] = "MSG_SIZE_TOO_LARGE", ["header at the limit"] = "OK",
                  ["header 1 over"] = "MSG_SIZE_TOO_LARGE",
                  ["header without value 1 over"] = "MSG_SIZE_TOO_LARGE" }, model)
  end)

  it("fails the idempotent producer for good on a sequence it cannot explain, as librdkafka does", function()
    -- The broker answers OUT_OF_ORDER_SEQUENCE_NUMBER for the producer's
    -- oldest unacknowledged batch: librdkafka raises a fatal error (on_error
    -- first), fails that batch (possibly persisted) and every later send.
    local function oos_script(p, events, settle)
      local function send(k)
        assert(p:send({ topic = "orders", partition = 0, key = k, value = "v" }, function(_, err)
          events[#events + 1] = { k, err and err.name, err and err.fatal, err and err.persisted }
        end))
      end
      send("a1"); settle()
      send("a2"); settle()
    end
    local function on_error(events)
      return function(err) events[#events + 1] = { "on_error", err.name, err.fatal } end
    end

    -- the model: the broker keeps the producer's state for the 3 flushed
    -- records (flush.messages = 3), loses the 4th with the power; the next
    -- batch's sequence (4) has a gap against what it kept (3)
    local c = insync.cluster{ brokers = 3, seed = 1 }
    c:create_topic("orders", { partitions = 1, replication_factor = 3,
                               config = { ["min.insync.replicas"] = 2, ["flush.messages"] = 3 } })
    local model = {}
    local mp = c:producer{ ["enable.idempotence"] = true, on_error = on_error(model) }
    for i = 1, 4 do
      assert(mp:send({ topic = "orders", partition = 0, key = "w" .. i, value = "v" }, function(_, err) assert(not err) end))
      assert.is_true(c:run())   -- one batch each
    end
    for b = 1, 3 do c:crash(b, { lose_unflushed = true }) end
    for b = 1, 3 do c:restart(b) end
    c:run_for(20000)
    oos_script(mp, model, function() c:run() end)

    -- librdkafka: its mock cluster answers the same error
    local m = fixture.cluster(1, "orders", 1, 1)
    local real = {}
    local rp = fixture.producer(m, { ["enable.idempotence"] = true, on_error = on_error(real),
                                     log_level = 0 })
    assert(rp:send({ topic = "orders", partition = 0, value = "warm" }, function() end))
    assert.equal(0, rp:flush(10000))
    m:push_errors("Produce", { "OUT_OF_ORDER_SEQUENCE_NUMBER" })
    oos_script(rp, real, function() rp:flush(5000) end)
    rp:close(0)
    m:close()

    assert.same(real, model)
    assert.same({ { "on_error", "OUT_OF_ORDER_SEQUENCE_NUMBER", true },
                  { "a1", "OUT_OF_ORDER_SEQUENCE_NUMBER", true, "possibly_persisted" },
                  { "a2", "OUT_OF_ORDER_SEQUENCE_NUMBER", true, "not_persisted" } }, model)
  end)

  it("raises the same message for the same bad msg", function()
    local c = insync.cluster{ brokers = 1 }
    c:create_topic("orders", { partitions = 1, replication_factor = 1 })
    local mp = c:producer{}
    local m = fixture.cluster(1, "orders", 1, 1)
    local rp = fixture.producer(m)
    local bad = {
      "not a table",
      { value = "v" },
      { topic = 7 },
      { topic = "orders", key = 1 },
      { topic = "orders", value = true },
      { topic = "orders", partition = -1 },
      { topic = "orders", partition = 0.5 },
      { topic = "orders", partition = "0" },
      { topic = "orders", timestamp = -5 },
      { topic = "orders", headers = "h" },
      { topic = "orders", headers = { h = 1 } },
      { topic = "orders", headers = { { "h", 2 } } },
      { topic = "" },                       -- topic names as Kafka allows them
      { topic = "a b" },
      { topic = "orders\0x" },
      { topic = ("a"):rep(250) },
    }
    for i, msg in ipairs(bad) do
      local ok1, e1 = pcall(mp.send, mp, msg)
      local ok2, e2 = pcall(rp.send, rp, msg)
      assert.is_false(ok1, "model accepted case " .. i)
      assert.is_false(ok2, "producer accepted case " .. i)
      assert.matches("^send: msg", e1)
      assert.equal(e1, e2, "case " .. i)
    end
    assert.equal(0, rp:outstanding())
    rp:close()
    m:close()
  end)
end)
