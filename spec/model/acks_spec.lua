-- acks 0 / 1 / all against min.insync.replicas, as docs/kafka-semantics.md
-- states them.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

describe("acks=all", function()
  it("succeeds on a healthy cluster, every ISR member holding the record", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    local p = c:producer{ acks = "all" }
    local out = S.send(p, 5)
    assert.is_true(c:run())
    assert.same({ OK = 5 }, S.count(out))
    local part = c:partition("orders", 0)
    assert.equal("1,2,3", S.isr(c))
    assert.equal(5, part.hw)
    for b = 1, 3 do assert.equal(5, part.replicas[b].leo) end
    for i, o in ipairs(out) do assert.equal(i - 1, o.report.offset) end
  end)

  it("goes on with one follower down (ISR 2 >= min.insync.replicas 2)", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:crash(3)
    c:run_for(10000)            -- the controller fences broker 3 after 9 s
    assert.equal("1,2", S.isr(c))
    local p = c:producer{ acks = "all" }
    local out = S.send(p, 3)
    assert.is_true(c:run())
    assert.same({ OK = 3 }, S.count(out))
  end)

  it("is rejected with NOT_ENOUGH_REPLICAS when two followers are down, while acks=1 goes on", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:crash(2); c:crash(3)
    c:run_for(10000)
    assert.equal("1", S.isr(c))
    local all = c:producer{ acks = "all", ["message.timeout.ms"] = 2000 }
    local one = c:producer{ acks = 1 }
    local out_all = S.send(all, 2)
    local out_one = S.send(one, 2, { prefix = "one" })
    -- watch the first attempt's error before the retries run out
    local first
    all:send({ topic = "orders", partition = 0, value = "x" }, function(_, err) first = err end)
    assert.is_true(c:run())
    assert.same({ OK = 2 }, S.count(out_one))
    -- retried until message.timeout.ms, then _MSG_TIMED_OUT; never persisted
    assert.same({ _MSG_TIMED_OUT = 2 }, S.count(out_all))
    assert.equal("not_persisted", out_all[1].err.persisted)
    local trace_c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    trace_c:crash(2); trace_c:crash(3); trace_c:run_for(10000)
    local p2 = trace_c:producer{ acks = "all", retries = 0 }
    local o2 = S.send(p2, 1)
    trace_c:run()
    assert.equal("NOT_ENOUGH_REPLICAS", o2[1].name)
    assert.equal(19, o2[1].err.code)
    assert.is_true(o2[1].err.retriable)
    assert.equal("not_persisted", o2[1].err.persisted)
    assert.equal("_MSG_TIMED_OUT", first.name)
  end)

  it("waits for every ISR member, not for min.insync.replicas of them", function()
    -- three in the ISR, min.insync.replicas=2, broker 3 gets nothing from the
    -- leader: the send completes only once broker 3 has left the ISR.
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 },
                         config = { ["replica.lag.time.max.ms"] = 10000 } }
    c:run_for(100)
    c:drop(1, 3)
    local p = c:producer{ acks = "all" }
    local out = S.send(p, 1)
    c:run_for(5000)
    assert.is_nil(out[1].name)             -- broker 2 has it, yet no answer
    assert.equal(1, c:partition("orders", 0).replicas[2].leo)
    assert.equal(0, c:partition("orders", 0).hw)
    assert.is_true(c:run())
    assert.equal("OK", out[1].name)
    assert.equal("1,2", S.isr(c))
    assert.is_true(out[1].report.latency_ms >= 10000)
  end)

  it("reports NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank after the append (pre-3.7 HW rule)", function()
    local c = S.cluster{ strict_min_isr = false, topic_config = { ["min.insync.replicas"] = 3 },
                         config = { ["replica.lag.time.max.ms"] = 10000 } }
    c:run_for(100)
    c:drop(1, 3)
    local p = c:producer{ acks = "all", retries = 0 }
    local out = S.send(p, 1)
    c:run()
    assert.equal("NOT_ENOUGH_REPLICAS_AFTER_APPEND", out[1].name)
    assert.equal(20, out[1].err.code)
    assert.equal("possibly_persisted", out[1].err.persisted)
  end)

  it("times out with REQUEST_TIMED_OUT when the ISR falls under the minimum after the append (strict min ISR)", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 3 },
                         config = { ["replica.lag.time.max.ms"] = 10000 } }
    c:run_for(100)
    c:drop(1, 3)
    local p = c:producer{ acks = "all", retries = 0, ["request.timeout.ms"] = 30000 }
    local out = S.send(p, 1)
    c:run()
    assert.equal("REQUEST_TIMED_OUT", out[1].name)
    assert.equal("possibly_persisted", out[1].err.persisted)
    assert.equal(1, c:partition("orders", 0).replicas[1].leo)   -- appended
    assert.equal(0, c:partition("orders", 0).hw)                -- never committed
  end)
end)

describe("acks=1", function()
  it("is answered after the leader's own append, before any follower has it", function()
    local c = S.cluster{ trace = true }
    c:run_for(100)
    c:cut(1, 2); c:cut(1, 3)
    local p = c:producer{ acks = 1 }
    local out = S.send(p, 1)
    c:run()
    assert.equal("OK", out[1].name)
    assert.equal(0, out[1].report.offset)
    local part = c:partition("orders", 0)
    assert.equal(1, part.replicas[1].leo)
    assert.equal(0, part.replicas[2].leo)
    assert.equal(0, part.hw)
  end)

  it("is never rejected for min.insync.replicas", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 3 } }
    c:crash(2); c:crash(3); c:run_for(10000)
    local p = c:producer{ acks = "1" }
    local out = S.send(p, 3)
    c:run()
    assert.same({ OK = 3 }, S.count(out))
  end)
end)

describe("acks=0", function()
  it("counts a send done once it has gone out, with no offset", function()
    local c = S.cluster()
    local p = c:producer{ acks = 0 }
    local out = S.send(p, 2)
    c:run()
    assert.same({ OK = 2 }, S.count(out))
    assert.is_nil(out[1].report.offset)
    c:run_for(1000)
    assert.equal(2, c:partition("orders", 0).hw)
  end)

  it("reports success even when the leader is unreachable, and the record is lost", function()
    local c = S.cluster()
    local p = c:producer{ acks = 0 }
    S.send(p, 1); c:run(); c:run_for(100)   -- learn the leader, let it land
    c:cut(p, 1)
    local out = S.send(p, 1, { prefix = "gone" })
    c:run(); c:run_for(1000)
    assert.equal("OK", out[1].name)
    local a = c:audit()
    assert.equal(1, #a.lost)
    assert.equal("gone1", a.lost[1].key)
  end)
end)
