-- A hung broker (c:pause: SIGSTOP, a long GC pause) against a cut-off one
-- (c:isolate): the hung process keeps its connections, and handles what
-- waited for it the moment it resumes.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

describe("a paused broker", function()
  it("holds acks=all until it is fenced, and rejoins the ISR at once when resumed", function()
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    c:pause(2)
    assert.is_true(c:broker(2).paused)
    assert.is_true(c:broker(2).online)
    local t0 = c:now()
    local out = S.send(p, 1); c:run()
    assert.equal("OK", out[1].name)
    -- answered once broker 2 left the ISR: fenced after broker.session.timeout.ms
    assert.is_true(out[1].report.latency_ms >= 9000 - 1000, tostring(out[1].report.latency_ms))
    assert.equal("1,3", S.isr(c))
    assert.is_true(c:broker(2).fenced)
    c:resume(2)
    c:run_for(1000)
    assert.is_false(c:broker(2).paused)
    assert.equal("1,2,3", S.isr(c))
    assert.equal(1, c:partition("orders", 0).replicas[2].leo)
    local pause, resume = S.find(c:trace(), "pause"), S.find(c:trace(), "resume")
    assert.same({ 2, t0 }, { pause.node, pause.t })
    assert.equal(2, resume.node)
  end)

  it("an isolated one, healed, fetches again only after replica.socket.timeout.ms", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    c:isolate(2)
    S.send(c:producer{ acks = "all" }, 1); c:run()
    c:heal()
    c:run_for(1000)
    assert.equal("1,3", S.isr(c))            -- its fetch was dropped: it waits
    c:run_for(30000)
    assert.equal("1,2,3", S.isr(c))
  end)

  it("as a leader, appends a request it held after the producer gave up on it", function()
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ acks = 1, ["message.timeout.ms"] = 2000 }
    c:pause(1)
    local out = S.send(p, 1)
    c:run_for(2500)                          -- before broker 1 is fenced (9 s)
    assert.equal("_MSG_TIMED_OUT", out[1].name)
    assert.equal("possibly_persisted", out[1].err.persisted)
    assert.equal(0, c:partition("orders", 0).replicas[1].leo)
    c:resume(1)
    c:run_for(1000)
    assert.equal(1, c:partition("orders", 0).replicas[1].leo)
    assert.equal(1, #c:audit().unexpected)   -- failed, yet written
  end)

  it("killed while paused is down, and what waited for it is gone", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    c:pause(1)
    local out = S.send(c:producer{ acks = "all" }, 1)
    c:run_for(100)
    c:crash(1)
    assert.same({ false, false }, { c:broker(1).online, c:broker(1).paused })
    c:run_for(15000)                         -- fenced, 2 leads; the retry lands there
    assert.equal(2, c:partition("orders", 0).leader)
    assert.equal("OK", out[1].name)
    assert.equal(0, #c:audit().duplicated)
    c:restart(1); c:run_for(15000)
    assert.equal(1, c:partition("orders", 0).replicas[1].leo)
  end)

  it("refuses what a hung or dead process cannot do, naming the broker", function()
    local c = S.cluster{}
    S.raises("pause: broker: expected a broker id 1..3, got 7", c.pause, c, 7)
    S.raises("resume: broker 2 is not paused", c.resume, c, 2)
    c:pause(2)
    S.raises("pause: broker 2 is already paused", c.pause, c, 2)
    S.raises("shutdown: broker 2 is paused (resume it first)", c.shutdown, c, 2)
    c:resume(2)
    c:crash(3)
    S.raises("pause: broker 3 is down", c.pause, c, 3)
  end)
end)
