-- ISR shrink and expand, the high watermark, fencing.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

describe("ISR", function()
  it("shrinks a follower that has not caught up for replica.lag.time.max.ms, checked every lag/2", function()
    local lag = 10000
    local c = S.cluster{ trace = true, config = { ["replica.lag.time.max.ms"] = lag } }
    local p = c:producer{ acks = 1 }
    S.send(p, 1); c:run(); c:run_for(1000)
    local cut_at = c:now()
    c:cut(1, 3)                       -- broker 3 still heartbeats: only the lag can remove it
    S.send(p, 1, { prefix = "after" }); c:run()
    c:run_for(lag - 100)
    assert.equal("1,2,3", S.isr(c))   -- not before the lag has passed
    c:run_for(lag)
    assert.equal("1,2", S.isr(c))
    local e = S.find(c:trace(), "isr_shrink", { node = "controller" })
    assert.truthy(e)
    -- shrunk after lag, at the latest lag/2 (the check period) plus a round trip later
    assert.is_true(e.t - cut_at >= lag)
    assert.is_true(e.t - cut_at <= lag + lag / 2 + 10)
    assert.is_false(c:broker(3).fenced)
  end)

  it("keeps an idle follower in the ISR: lagging means behind the leader's LEO", function()
    local c = S.cluster{ config = { ["replica.lag.time.max.ms"] = 10000 } }
    c:run_for(100)
    c:cut(1, 3)
    c:run_for(60000)
    assert.equal("1,2,3", S.isr(c))
  end)

  it("takes a broker that misses heartbeats for broker.session.timeout.ms out of every ISR (fencing)", function()
    local c = S.cluster{ trace = true, partitions = 3 }
    c:run_for(100)
    c:crash(2)
    c:run_for(8000)
    for part = 0, 2 do assert.equal("1,2,3", S.isr(c, "orders", part)) end
    c:run_for(2000)
    for part = 0, 2 do assert.equal("1,3", S.isr(c, "orders", part)) end
    assert.is_true(c:broker(2).fenced)
    local e = S.find(c:trace(), "fence", { broker = 2 })
    assert.truthy(e)
    assert.is_true(e.t >= 9000 and e.t <= 9100 + 2000)
    -- partition 1 was led by broker 2: a new leader from the ISR, a new epoch
    local p1 = c:partition("orders", 1)
    assert.equal(3, p1.leader)
    assert.equal(1, p1.leader_epoch)
  end)

  it("lets a restarted follower back in once it has caught up to the HW", function()
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    c:crash(3); c:run_for(10000)
    local p = c:producer{ acks = "all" }
    S.send(p, 20); c:run()
    assert.equal("1,2", S.isr(c))
    c:restart(3)
    c:run_for(3000)
    assert.equal("1,2,3", S.isr(c))
    local part = c:partition("orders", 0)
    assert.equal(20, part.replicas[3].leo)
    assert.truthy(S.find(c:trace(), "isr_expand"))
  end)
end)

describe("high watermark", function()
  it("is the minimum LEO over the ISR", function()
    local c = S.cluster{ config = { ["replica.lag.time.max.ms"] = 10000 } }
    c:run_for(100)
    c:drop(1, 3)
    local p = c:producer{ acks = 1 }
    S.send(p, 4); c:run(); c:run_for(500)
    local part = c:partition("orders", 0)
    assert.equal(4, part.replicas[1].leo)
    assert.equal(4, part.replicas[2].leo)
    assert.equal(0, part.replicas[3].leo)
    assert.equal(0, part.hw)
  end)

  it("reaches followers one fetch later than the leader", function()
    local c = S.cluster{ trace = true, config = { ["replica.fetch.wait.max.ms"] = 500 } }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    local out = S.send(p, 1); c:run()
    assert.equal("OK", out[1].name)
    local part = c:partition("orders", 0)
    assert.equal(1, part.hw)
    assert.equal(0, part.replicas[2].hw)   -- not yet told
    c:run_for(600)                          -- the next fetch answer carries it
    assert.equal(1, c:partition("orders", 0).replicas[2].hw)
  end)

  it("does not advance while the ISR is below min.insync.replicas (strict min ISR)", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:crash(2); c:crash(3); c:run_for(10000)
    local p = c:producer{ acks = 1 }
    S.send(p, 3); c:run()
    local part = c:partition("orders", 0)
    assert.equal(3, part.replicas[1].leo)
    assert.equal(0, part.hw)
    local c2 = S.cluster{ strict_min_isr = false, topic_config = { ["min.insync.replicas"] = 2 } }
    c2:crash(2); c2:crash(3); c2:run_for(10000)
    local p2 = c2:producer{ acks = 1 }
    S.send(p2, 3); c2:run()
    assert.equal(3, c2:partition("orders", 0).hw)
  end)
end)

describe("offline partitions and follower shutdown", function()
  it("an offline partition fails sends with _MSG_TIMED_OUT, not persisted", function()
    local c = S.cluster{ rf = 3 }
    c:run_for(100)
    for b = 1, 3 do c:crash(b) end
    c:run_for(10000)
    assert.is_nil(c:partition("orders", 0).leader)
    local p = c:producer{ ["message.timeout.ms"] = 3000 }
    local out = S.send(p, 2)
    c:run()
    assert.same({ _MSG_TIMED_OUT = 2 }, S.count(out))
    assert.equal("not_persisted", out[1].err.persisted)
  end)

  it("a follower's controlled shutdown takes it out of the ISR within a heartbeat round trip; writes go on", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    c:shutdown(3)
    c:run_for(10)           -- it leads nothing: the controller lets it stop at once
    assert.is_false(c:broker(3).online)
    assert.is_true(c:broker(3).fenced)
    assert.equal("1,2", S.isr(c))
    assert.equal(1, c:partition("orders", 0).leader)
    local p = c:producer{}
    local out = S.send(p, 3); c:run()
    assert.same({ OK = 3 }, S.count(out))
    c:restart(3); c:run_for(3000)
    local part = c:partition("orders", 0)
    assert.equal("1,2,3", S.isr(c))
    assert.equal(3, part.replicas[3].leo)
    c:run_for(1000)
    assert.equal(part.hw, c:partition("orders", 0).replicas[3].hw)
  end)
end)
