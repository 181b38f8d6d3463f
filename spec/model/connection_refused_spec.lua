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
