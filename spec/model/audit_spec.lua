-- The audit counts what a consumer can read: a copy above the high
-- watermark is not committed (no consumer sees it, truncation may still
-- remove it), so it is neither unexpected nor duplicated until the HW
-- covers it.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

describe("audit", function()
  it("counts a record reordered by a retry only once the HW covers it", function()
    -- r1's request is lost on a lossy link (c:lossy: the connection stays
    -- up, not what TCP does), r2's arrives, r1's retry lands after r2;
    -- the followers are down meanwhile, so neither is committed yet
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ acks = 1, ["linger.ms"] = 0, ["socket.timeout.ms"] = 1000 }
    S.send(p, 1, { prefix = "warm" }); c:run(); c:run_for(100)
    c:crash(2); c:crash(3)
    local r1 = S.send(p, 1, { prefix = "r1-" })
    c:run_for(0)            -- r1 is on the wire
    c:lossy(p, 1)
    c:run_for(1)            -- and lost
    c:heal()
    local r2 = S.send(p, 1, { prefix = "r2-" })
    assert.is_true(c:run())
    assert.same({ "OK", "OK" }, { r1[1].name, r2[1].name })
    local keys = {}
    for _, e in ipairs(c:log("orders", 0, 1)) do keys[#keys + 1] = e.key end
    assert.same({ "warm1", "r2-1", "r1-1" }, keys)
    assert.equal(1, c:partition("orders", 0).hw)
    assert.same({}, c:audit().reordered)
    c:restart(2); c:restart(3); c:run_for(30000)
    assert.equal(3, c:partition("orders", 0).hw)
    local a = c:audit()
    assert.equal(1, #a.reordered)
    assert.equal("r1-1", a.reordered[1].key)
    assert.equal(2, a.reordered[1].offset)
  end)

  it("counts a failed record as unexpected only once the HW covers it", function()
    -- acks=all, min.insync.replicas=2, both followers down: the leader
    -- appends, the HW cannot move (strict min ISR), the request times out
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    local p = c:producer{ retries = 0 }
    c:run_for(1000)
    c:crash(2); c:crash(3)
    local out = S.send(p, 1, { prefix = "x" })
    c:run()
    assert.equal("REQUEST_TIMED_OUT", out[1].name)
    assert.equal("possibly_persisted", out[1].err.persisted)
    local part = c:partition("orders", 0)
    assert.equal(1, part.replicas[1].leo)   -- in the leader's log ...
    assert.equal(0, part.hw)                -- ... above the HW
    local a = c:audit()
    assert.equal(1, a.failed)
    assert.same({}, a.unexpected)
    assert.same({}, a.uncommitted)          -- not acknowledged: not there either
    assert.same({}, a.lost)
    assert.same({}, a.duplicated)
    -- the followers return, rejoin the ISR, the HW moves over the record
    c:restart(2); c:restart(3); c:run_for(30000)
    part = c:partition("orders", 0)
    assert.equal(1, part.hw)
    assert.equal("1,2,3", S.isr(c))
    a = c:audit()
    assert.equal(1, #a.unexpected)
    assert.equal("x1", a.unexpected[1].key)
    assert.equal(0, a.unexpected[1].offset)
  end)

  it("counts a retry's second copy as duplicated only once the HW covers it", function()
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ acks = 1, ["socket.timeout.ms"] = 2000 }
    S.send(p, 1); c:run(); c:run_for(100)
    c:drop(1, p)                       -- the leader's answers are lost
    local out = S.send(p, 1, { prefix = "d" })
    c:run_for(100)
    assert.equal(2, c:partition("orders", 0).hw)   -- the first copy is committed
    c:crash(2); c:crash(3)             -- nothing follows the leader any more
    c:run_for(1950); c:heal(); c:run() -- the retry is appended and acknowledged
    assert.equal("OK", out[1].name)
    assert.equal(2, out[1].report.offset)
    local part = c:partition("orders", 0)
    assert.equal(3, part.replicas[1].leo)
    assert.equal(2, part.hw)           -- the second copy is above the HW
    local a = c:audit()
    assert.same({}, a.duplicated)
    assert.same({}, a.uncommitted)     -- its first copy is committed
    -- the dead followers are fenced and leave the ISR; the HW moves on
    c:run_for(20000)
    part = c:partition("orders", 0)
    assert.equal("1", S.isr(c))
    assert.equal(3, part.hw)
    a = c:audit()
    assert.equal(1, #a.duplicated)
    assert.equal("d1", a.duplicated[1].key)
    assert.equal(2, a.duplicated[1].offset)
  end)
end)

describe("a follower's high watermark", function()
  it("follows the leader's down as well as up, so the audit sees what a consumer would", function()
    -- min.insync.replicas = RF = 3: after a failover the ISR is too small
    -- for the new leader's HW to move (strict min ISR); a follower takes
    -- the leader's HW (UnifiedLog.maybeUpdateHighWatermark), even a lower one
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 3 } }
    c:run_for(100)
    local out = S.send(c:producer{}, 10); c:run()
    assert.same({ OK = 10 }, S.count(out))
    c:cut(1, 2); c:run_for(1000)          -- 2 misses the HW's last move
    c:crash(1); c:heal(); c:run_for(12000)
    local part = c:partition("orders", 0)
    assert.equal(2, part.leader)
    assert.equal(0, part.hw)
    assert.equal(0, part.replicas[3].hw)  -- was 10: it follows 2 now
    c:crash(2); c:run_for(12000)          -- 3 leads alone: its HW is 2's
    part = c:partition("orders", 0)
    assert.equal(3, part.leader)
    assert.equal(0, part.hw)
    local a = c:audit()
    assert.equal(10, #a.uncommitted)      -- acknowledged, in its log, no consumer reads them yet
    assert.equal(0, #a.lost)
  end)
end)

describe("the audit right after the leader dies", function()
  it("reads the log the next leader will serve, not the dead one's, and finds nothing lost", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local out = S.send(c:producer{}, 10); c:run(); c:run_for(1000)
    assert.same({ OK = 10 }, S.count(out))
    c:crash(1, { lose_unflushed = true })   -- the leader's machine loses power
    assert.equal(1, c:partition("orders", 0).leader)   -- not fenced yet
    assert.equal(0, #c:audit().lost)         -- brokers 2 and 3 hold all ten
    c:run_for(10000)                          -- fenced, 2 elected
    assert.equal(2, c:partition("orders", 0).leader)
    assert.equal(0, #c:audit().lost)
  end)
end)
