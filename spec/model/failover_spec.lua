-- The seeds' durability table, row by row, under a leader failure.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

-- Sends n records with the producer conf, waits for the answers, crashes
-- the leader (power loss when asked), runs on, and returns the audit.
local function leader_failure(conf, opts)
  opts = opts or {}
  local c = S.cluster{ rf = opts.rf or 3, topic_config = opts.topic_config,
                       config = { ["unclean.leader.election.enable"] = opts.unclean or false } }
  c:run_for(100)
  if opts.before then opts.before(c) end
  local p = c:producer(conf)
  local out = S.send(p, opts.n or 5)
  c:run(60000)
  local leader = c:partition("orders", 0).leader
  c:crash(leader, { lose_unflushed = opts.power_loss })
  c:run_for(opts.after or 20000)
  if opts.restart then c:restart(leader); c:run_for(20000) end
  return c:audit(), out, c
end

-- How many of the k<n> records (not the warm-up ones) the audit lists.
local function lost_k(audit)
  local n = 0
  for _, e in ipairs(audit.lost) do
    if e.key:match("^k%d+$") then n = n + 1 end
  end
  return n
end

describe("durability under a leader failure", function()
  it("acks=0: records can be lost (sent, 'done', never replicated)", function()
    local audit = leader_failure({ acks = 0 }, {
      before = function(c) c:cut(1, 2); c:cut(1, 3) end,   -- followers cannot fetch
    })
    assert.equal(5, audit.acked)
    assert.equal(5, #audit.lost)
  end)

  it("acks=1: records acknowledged by the leader alone are lost when it fails", function()
    local audit, out = leader_failure({ acks = 1 }, {
      before = function(c) c:drop(1, 2); c:drop(1, 3) end, -- the leader's data never reaches them
    })
    assert.same({ OK = 5 }, S.count(out))
    assert.equal(5, #audit.lost)
    assert.equal("orders", audit.lost[1].topic)
    assert.equal("k1", audit.lost[1].key)
    assert.equal(0, audit.lost[1].offset)
  end)

  it("acks=all with min.insync.replicas=1 degrades to acks=1: a lone ISR member's loss loses records", function()
    local audit, out = leader_failure({ acks = "all" }, {
      topic_config = { ["min.insync.replicas"] = 1 },
      before = function(c)
        c:drop(1, 2); c:drop(1, 3)
        local warm = c:producer{ acks = 1 }
        S.send(warm, 1, { prefix = "warm" }); c:run()
        c:run_for(46000)             -- the followers leave the ISR
        assert.equal("1", S.isr(c))
      end,
      power_loss = true, restart = true,
    })
    assert.same({ OK = 5 }, S.count(out))
    assert.equal(5, lost_k(audit))
  end)

  it("acks=all with min.insync.replicas=2 refuses instead of degrading, and loses nothing", function()
    local audit, out = leader_failure({ acks = "all", ["message.timeout.ms"] = 10000 }, {
      topic_config = { ["min.insync.replicas"] = 2 },
      before = function(c)
        c:drop(1, 2); c:drop(1, 3)
        local warm = c:producer{ acks = 1 }
        S.send(warm, 1, { prefix = "warm" }); c:run()
        c:run_for(46000)
      end,
      power_loss = true, restart = true,
    })
    assert.same({ _MSG_TIMED_OUT = 5 }, S.count(out))
    assert.equal(0, lost_k(audit))
  end)

  it("acks=all with min.insync.replicas=2 survives the leader's crash", function()
    local audit, out, c = leader_failure({ acks = "all" }, { topic_config = { ["min.insync.replicas"] = 2 } })
    assert.same({ OK = 5 }, S.count(out))
    assert.equal(0, #audit.lost)
    assert.equal(0, #audit.duplicated)
    assert.equal(2, c:partition("orders", 0).leader)
    assert.equal(5, c:partition("orders", 0).hw)
  end)

  it("acks=all with min.insync.replicas=3: no loss, but one follower down stops writes", function()
    local audit, out = leader_failure({ acks = "all" }, { topic_config = { ["min.insync.replicas"] = 3 } })
    assert.same({ OK = 5 }, S.count(out))
    assert.equal(0, #audit.lost)
    -- not lost, but invisible until the ISR is whole again (strict min ISR)
    assert.equal(5, #audit.uncommitted)
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 3 } }
    c:crash(3); c:run_for(10000)
    local p = c:producer{ acks = "all", retries = 0 }
    local o = S.send(p, 1); c:run()
    assert.equal("NOT_ENOUGH_REPLICAS", o[1].name)
  end)

  it("replication factor 1 with acks=all: the only copy's loss is a loss", function()
    local audit, out = leader_failure({ acks = "all" }, { rf = 1, power_loss = true, restart = true })
    assert.same({ OK = 5 }, S.count(out))
    assert.equal(5, #audit.lost)
  end)
end)
