-- The producer's connection to a broker, after librdkafka 2.0.2: one TCP
-- connection per broker, in order, failing as a unit.  A request timeout
-- takes it down (rd_kafka_broker_timeout_scan, socket.max.fails = 1) and
-- every request in flight on it fails (rd_kafka_broker_fail); a broker
-- closes it on an acks=0 error (KafkaApis.handleProduceRequest,
-- closeConnection); a killed process's OS closes it.  A message lost on a
-- cut link (c:drop, c:cut, c:isolate) loses the rest of that connection,
-- as TCP would, not one message out of the middle of the stream.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

local function keys(c)
  local k = {}
  for _, e in ipairs(c:log("orders", 0, 1)) do k[#k + 1] = e.key end
  return k
end

-- r1 on the wire when `fault` strikes; r2 sent on the same connection
-- after the link heals.
local function two_requests(conf, fault)
  local c = S.cluster{ trace = true }
  c:run_for(100)
  conf["linger.ms"] = 0
  conf["socket.timeout.ms"] = 1000
  local p = c:producer(conf)
  S.send(p, 1, { prefix = "warm" }); c:run()
  local r1 = S.send(p, 1, { prefix = "r1-" })
  c:run_for(0)
  fault(c, p)
  c:run_for(1)
  c:heal()
  local r2 = S.send(p, 1, { prefix = "r2-" })
  assert.is_true(c:run())
  c:run_for(1000)
  return c, r1[1], r2[1]
end

describe("a producer's connection", function()
  it("loses every later request once one is lost on the link (c:drop): they are retried in order", function()
    local c, r1, r2 = two_requests({}, function(c, p) c:drop(p, 1) end)
    assert.same({ "warm1", "r1-1", "r2-1" }, keys(c))
    assert.equal(0, #c:audit().reordered)
    assert.same({ "OK", "OK" }, { r1.name, r2.name })
    -- r2 went on the broken connection, was never appended, and timed out
    -- together with r1 (one timeout event takes the connection down)
    local n = 0
    for _, e in ipairs(c:trace()) do if e.event == "timeout" then n = n + 1 end end
    assert.equal(1, n)
  end)

  -- broker 1's answers lost for 50 ms: r1 is written, its answer lost; r2,
  -- sent in that time on the same connection, is lost too
  local function answers_lost(conf)
    local c = S.cluster{}
    c:run_for(100)
    conf["linger.ms"] = 0
    conf["socket.timeout.ms"] = 1000
    local p = c:producer(conf)
    S.send(p, 1, { prefix = "warm" }); c:run()
    c:drop(1, p)
    local r1 = S.send(p, 1, { prefix = "r1-" })
    c:run_for(20)
    local r2 = S.send(p, 1, { prefix = "r2-" })
    c:run_for(30)
    c:heal()
    assert.is_true(c:run())
    c:run_for(1000)
    return c, r1[1], r2[1]
  end

  it("lost answers (c:drop from the broker): the retry duplicates what was written, never reorders", function()
    local c, r1, r2 = answers_lost{}
    assert.same({ "warm1", "r1-1", "r1-1", "r2-1" }, keys(c))
    assert.same({ "OK", "OK" }, { r1.name, r2.name })
    assert.equal(1, #c:audit().duplicated)
    assert.equal(0, #c:audit().reordered)
  end)

  it("lost answers with enable.idempotence: the retry is recognized, no duplicate", function()
    local c, r1, r2 = answers_lost{ ["enable.idempotence"] = true }
    assert.same({ "warm1", "r1-1", "r2-1" }, keys(c))
    assert.same({ "OK", "OK" }, { r1.name, r2.name })
    assert.equal(1, r1.report.offset)
    assert.equal(2, r2.report.offset)
  end)

  -- r1 and r2, 400 ms apart, to a hung leader; returns when each failed
  local function hung(conf)
    local c = S.cluster{}
    c:run_for(100)
    conf.retries, conf["linger.ms"], conf["socket.timeout.ms"] = 0, 0, 1000
    local p = c:producer(conf)
    S.send(p, 1, { prefix = "warm" }); c:run()
    c:pause(1)
    local t0 = c:now()
    local at = {}
    local function send(k)
      p:send({ topic = "orders", partition = 0, key = k, value = "v" }, function(_, err)
        at[k] = { c:now() - t0, err and err.name, err and err.persisted }
      end)
    end
    send("r1")
    c:run_for(400)
    send("r2")                   -- its own timeout is at 1400
    c:run_for(1200)
    c:resume(1); c:run()
    return at
  end

  it("fails every request in flight on it when one times out (socket.max.fails = 1)", function()
    local at = hung{}
    assert.same({ 1000, "_MSG_TIMED_OUT", "possibly_persisted" }, at.r1)
    assert.same({ 1000, "_MSG_TIMED_OUT", "possibly_persisted" }, at.r2)
  end)

  it("keeps the connection after a timeout with socket.max.fails = 0 or 2: each request times out alone", function()
    for _, fails in ipairs{ 0, 2 } do
      local at = hung{ ["socket.max.fails"] = fails }
      assert.same({ 1000, "_MSG_TIMED_OUT", "possibly_persisted" }, at.r1)
      assert.same({ 1400, "_MSG_TIMED_OUT", "possibly_persisted" }, at.r2)
    end
  end)

  it("is closed by a killed leader's OS: what is in flight fails at once with _TRANSPORT, possibly persisted", function()
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ retries = 0, ["linger.ms"] = 0 }
    S.send(p, 1, { prefix = "warm" }); c:run()
    local out = S.send(p, 1)
    c:run_for(0)                 -- on the wire
    local t = c:now()
    c:crash(1)
    c:run_for(50)
    assert.equal("_TRANSPORT", out[1].name)
    assert.equal("possibly_persisted", out[1].err.persisted)
    assert.is_true(c:now() - t <= 50)
  end)

  it("c:lossy loses single messages and keeps the connection (a fault below TCP)", function()
    local c, r1, r2 = two_requests({}, function(c, p) c:lossy(p, 1) end)
    assert.same({ "warm1", "r2-1", "r1-1" }, keys(c))
    assert.same({ "OK", "OK" }, { r1.name, r2.name })
  end)
end)

describe("metadata, asked of one broker (librdkafka 2.0.2)", function()
  -- leader 2, the producer's first metadata from broker 1; broker 1's
  -- answers are then lost, and leader 2 is killed: the producer asks
  -- broker 1, the one broker whose connection is up, until that request
  -- times out (socket.timeout.ms) and takes the connection down; then it
  -- connects to the next broker, 3, which names the new leader
  local function ask_lost(socket_timeout)
    local c = S.cluster{ replicas = { { 2, 3, 1 } }, config = { ["broker.session.timeout.ms"] = 3000 } }
    c:run_for(100)
    assert.equal(2, c:partition("orders", 0).leader)
    local p = c:producer{ ["socket.timeout.ms"] = socket_timeout, ["message.timeout.ms"] = 30000 }
    S.send(p, 1, { prefix = "warm" }); c:run()
    c:drop(1, p)
    c:crash(2)
    local out = S.send(p, 1)
    local t0 = c:now()
    c:run()
    return out[1], c:now() - t0
  end

  it("asks another broker once the metadata request times out", function()
    local o, took = ask_lost(2000)
    assert.equal("OK", o.name)
    assert.is_true(took < 10000, took)
  end)

  it("keeps asking the broker whose connection is up until then: the record times out first", function()
    local o = ask_lost(60000)
    assert.equal("_MSG_TIMED_OUT", o.name)
  end)
end)

describe("acks=0 to a deposed leader", function()
  -- broker 2 led while broker 1 was down; the producer learned broker 2;
  -- the preferred leader election gives the partition back to broker 1,
  -- and the producer's metadata is stale (refreshed every 300 s)
  local function deposed()
    local c = S.cluster{ config = { ["leader.imbalance.check.interval.seconds"] = 1 } }
    c:run_for(100)
    c:crash(1)
    c:run_for(10000)
    assert.equal(2, c:partition("orders", 0).leader)
    local p = c:producer{ acks = 0, ["linger.ms"] = 0 }
    S.send(p, 1, { prefix = "warm" }); c:run()
    c:restart(1)
    for _ = 1, 200 do
      if c:partition("orders", 0).leader == 1 then break end
      c:run_for(100)
    end
    assert.equal(1, c:partition("orders", 0).leader)
    return c, p
  end

  it("has the broker close the connection (KafkaApis.handleProduceRequest): the producer moves to the new leader", function()
    local c, p = deposed()
    local out = {}
    for i = 1, 20 do           -- one send every 100 ms
      out[i] = S.send(p, 1, { prefix = "s" .. i .. "-" })[1]
      c:run_for(100)
    end
    c:run()
    -- every send reports success (acks=0); the first one, written to the
    -- deposed leader, is refused and lost; the close makes the producer
    -- ask for metadata, and the rest go to broker 1
    assert.same({ OK = 20 }, S.count(out))
    local lost = c:audit().lost
    assert.equal(1, #lost)
    assert.equal("s1-1", lost[1].key)
    assert.equal(19, #c:log("orders", 0, 1) - 1)
  end)
end)
