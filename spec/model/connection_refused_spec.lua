-- A leader whose process is dead refuses connections.  librdkafka sends
-- nothing on a connection it could not make, so that is no attempt: the
-- record waits for the new leader (or its message timeout), whatever
-- `retries` says.  Found by the differential check against real Kafka
-- (spec/kafka/scenarios.lua, "leader killed while a follower is down").
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

describe("a send to a leader whose process is dead", function()
  it("is no attempt: retries=0 gets the new leader's answer, not _TRANSPORT", function()
    local c = S.cluster{ config = { ["broker.session.timeout.ms"] = 3000 },
                         topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all", retries = 0 }
    assert.same({ OK = 1 }, S.count((function() local o = S.send(p, 1); c:run(); return o end)()))
    local old = c:partition("orders", 0).leader
    c:crash(old)
    -- before the controller fences it, the producer still names the old leader
    local out = S.send(p, 2, { prefix = "during" })
    c:run()
    local part = c:partition("orders", 0)
    assert.not_equal(old, part.leader)
    -- the new leader has an ISR of 2: the records are written, as Kafka does
    assert.same({ OK = 2 }, S.count(out))
    for _, o in ipairs(out) do assert.equal(1, o.done) end
    assert.equal(0, #c:audit().lost)
  end)

  it("with acks=0, loses what went out before the refusal, then waits for a connection", function()
    -- librdkafka counts an acks=0 send done once written; on a refused
    -- connection it writes nothing, so the records wait for the new leader
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = 0, ["linger.ms"] = 0 }
    S.send(p, 1, { prefix = "warm" }); c:run(); c:run_for(100)
    local old = c:partition("orders", 0).leader
    c:crash(old)
    local out = {}
    for i = 1, 30 do   -- one send a second, through fencing and election
      out[i] = S.send(p, 1, { prefix = "s" .. i .. "-" })[1]
      c:run_for(1000)
    end
    assert.is_true(c:run())
    assert.not_equal(old, c:partition("orders", 0).leader)
    for _, o in ipairs(out) do assert.equal("OK", o.name) end
    -- only the first went out on the old connection (the refusal tells
    -- the producer); the rest waited and reached the new leader
    local lost = c:audit().lost
    assert.equal(1, #lost)
    assert.equal("s1-1", lost[1].key)
    assert.equal(30, c:partition("orders", 0).hw)
    -- the old leader comes back: its connection opens again
    c:restart(old); c:run_for(60000)
    out = S.send(p, 1, { prefix = "after" }); c:run(); c:run_for(1000)
    assert.equal("OK", out[1].name)
    assert.equal(1, #c:audit().lost)
  end)

  it("with acks=0, writes nothing to a restarted broker before it serves requests", function()
    -- one broker: the records wait for it through its restart; it takes
    -- connections once unfenced and caught up with the metadata, as
    -- leader again
    local c = S.cluster{ brokers = 1, rf = 1, topic_config = { ["min.insync.replicas"] = 1 } }
    c:run_for(100)
    local p = c:producer{ acks = 0, ["linger.ms"] = 0 }
    S.send(p, 1, { prefix = "warm" }); c:run(); c:run_for(100)
    c:crash(1)
    local out = {}
    for i = 1, 5 do out[i] = S.send(p, 1, { prefix = "s" .. i .. "-" })[1]; c:run_for(1000) end
    c:restart(1)
    assert.is_true(c:run()); c:run_for(1000)
    for _, o in ipairs(out) do assert.equal("OK", o.name) end
    local lost = c:audit().lost
    assert.equal(1, #lost)             -- the one written before the refusal
    assert.equal("s1-1", lost[1].key)
    assert.equal(5, c:partition("orders", 0).hw)
  end)

  it("times out as _MSG_TIMED_OUT, never persisted, when no leader comes", function()
    local c = S.cluster{ rf = 1, topic_config = { ["min.insync.replicas"] = 1 } }
    c:run_for(100)
    local p = c:producer{ acks = "all", retries = 0, ["message.timeout.ms"] = 2000 }
    c:crash(c:partition("orders", 0).leader)
    local out = S.send(p, 1)
    c:run()
    assert.equal("_MSG_TIMED_OUT", out[1].name)
    assert.equal("not_persisted", out[1].err.persisted)
  end)
end)
