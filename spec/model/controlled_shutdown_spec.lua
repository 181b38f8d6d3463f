-- Controlled shutdown as KRaft Kafka does it (BrokerServer.shutdown,
-- BrokerLifecycleManager, BrokerHeartbeatManager, ReplicationControlManager):
-- the broker stays up and answering while the controller moves its
-- leaderships away and takes it out of the ISRs; a produce request waiting
-- in its purgatory is answered NOT_LEADER_OR_FOLLOWER (librdkafka retries
-- it on the new leader); the broker flushes and stops once the controller
-- grants the shutdown.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")
local insync = require "insync"

local NOT_LEADER = insync.errors.NOT_LEADER_FOR_PARTITION

-- min.insync.replicas = 2 on brokers 1 (leader), 2, 3; 3 cannot fetch from
-- 1, so an acks=all record waits in 1's purgatory (HW held by 3); then 1
-- begins a controlled shutdown.
local function waiting_request(producer_conf)
  local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
  local p = c:producer(producer_conf)
  c:run_for(1000)
  c:cut(1, 3)
  local out = S.send(p, 1)
  c:run_for(1000)
  assert.is_nil(out[1].name)                 -- still waiting
  c:shutdown(1)
  return c, p, out
end

local function responses(c, err)
  local n = 0
  for _, e in ipairs(c:trace()) do
    if e.event == "response" and e.error == err then n = n + 1 end
  end
  return n
end

describe("controlled shutdown", function()
  it("answers a waiting acks=all request NOT_LEADER_OR_FOLLOWER; the producer retries on the new leader", function()
    local c, _, out = waiting_request{ acks = "all" }
    c:run_for(10)
    assert.equal(2, c:partition("orders", 0).leader)
    assert.is_true(c:broker(1).online)       -- answered by a running broker
    assert.equal(1, responses(c, NOT_LEADER))
    assert.equal(0, responses(c, insync.errors._TRANSPORT))
    c:run(60000)
    assert.equal("OK", out[1].name)
    c:heal(); c:run_for(5000)
    local a = c:audit()
    assert.equal(1, a.acked)
    assert.equal(0, a.failed)
    assert.same({}, a.unexpected)
    assert.same({}, a.lost)
    -- the first attempt was appended and replicated to 2 before the leader
    -- moved: without idempotence the retry writes the record again
    assert.equal(1, #a.duplicated)
    assert.equal(1, out[1].report.offset)
  end)

  it("lets an idempotent producer's retry find its first append: one copy, at offset 0", function()
    local c, _, out = waiting_request{ ["enable.idempotence"] = true }
    c:run(60000)
    assert.equal("OK", out[1].name)
    assert.equal(0, out[1].report.offset)
    assert.equal(1, responses(c, NOT_LEADER))
    c:heal(); c:run_for(5000)
    local a = c:audit()
    assert.same({}, a.duplicated)
    assert.same({}, a.unexpected)
    assert.equal(1, a.acked)
  end)

  it("keeps the broker running, out of the ISR and leading nothing, until the controller grants it", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    local p = c:producer{}
    S.send(p, 3); c:run()
    c:shutdown(1)
    c:run_for(10)
    local b = c:broker(1)
    assert.is_true(b.online)
    assert.is_true(b.shutting_down)
    assert.is_false(b.fenced)
    assert.equal("2,3", S.isr(c))
    assert.equal(2, c:partition("orders", 0).leader)
    assert.has_error(function() c:shutdown(1) end, "shutdown: broker 1 is already shutting down")
    assert.has_error(function() c:restart(1) end,
      "restart: broker 1 is still running (its controlled shutdown has not finished)")
    -- it does not fetch while out of the ISR: writes go on without it
    local later = S.send(p, 2, { prefix = "later" }); c:run()
    assert.same({ OK = 2 }, S.count(later))
    assert.equal(3, c:partition("orders", 0).replicas[1].leo)
    -- granted after the other brokers' next heartbeats (2 s apart)
    c:run_for(2500)
    b = c:broker(1)
    assert.is_false(b.online)
    assert.is_false(b.shutting_down)
    assert.is_true(b.fenced)
    assert.equal(3, c:partition("orders", 0).replicas[1].flushed)
    c:restart(1); c:run_for(3000)
    assert.equal("1,2,3", S.isr(c))
    assert.equal(5, c:partition("orders", 0).replicas[1].leo)
  end)

  it("waits for every active broker to report the new metadata (lowestActiveOffset)", function()
    local c = S.cluster{}
    c:run_for(100)
    c:cut(3, "controller")                   -- 3 stays active until fenced (9 s)
    c:shutdown(1)
    c:run_for(5000)
    assert.equal(2, c:partition("orders", 0).leader)
    assert.is_true(c:broker(1).online)
    c:run_for(6000)                          -- 3 fenced: nothing holds 1 back
    assert.is_true(c:broker(3).fenced)
    assert.is_false(c:broker(1).online)
  end)

  it("gives up waiting after 5 minutes without the controller, and still flushes", function()
    local c = S.cluster{}
    local p = c:producer{}
    S.send(p, 2); c:run()
    c:cut(1, "controller")
    c:shutdown(1)
    c:run_for(299000)
    assert.is_true(c:broker(1).online)
    assert.is_true(c:broker(1).shutting_down)
    c:run_for(2000)
    assert.is_false(c:broker(1).online)
    assert.equal(2, c:partition("orders", 0).replicas[1].flushed)
  end)
end)
