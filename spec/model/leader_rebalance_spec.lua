-- auto.leader.rebalance.enable (Kafka's default: true) and
-- leader.imbalance.check.interval.seconds (300), as the KRaft controller
-- does them (QuorumController.maybeScheduleNextBalancePartitionLeaders,
-- ReplicationControlManager.maybeBalancePartitionLeaders, a PREFERRED
-- PartitionChangeBuilder election): leadership goes back to the first
-- replica of the assignment once it is in the ISR and unfenced.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")
local insync = require "insync"

local raises = S.raises

-- Broker 1 (the preferred replica of "orders" 0) killed, fenced, restarted;
-- returns the cluster and the time it was back in the ISR.
local function leader_moved_away(config)
  local c = S.cluster{ trace = true, config = config }
  c:run_for(100)
  c:crash(1)
  c:run_for(10000)                     -- fenced after broker.session.timeout.ms
  assert.equal(2, c:partition("orders", 0).leader)
  c:restart(1)
  for _ = 1, 100 do
    if S.isr(c) == "1,2,3" then break end
    c:run_for(10)
  end
  assert.equal("1,2,3", S.isr(c))
  return c, c:now()
end

describe("auto leader rebalance", function()
  it("takes its keys under Kafka's names and validates them", function()
    raises('cluster: config["auto.leader.rebalance.enable"]: expected boolean', insync.cluster,
      { config = { ["auto.leader.rebalance.enable"] = 1 } })
    raises('cluster: config["leader.imbalance.check.interval.seconds"]: expected at least 1, got 0',
      insync.cluster, { config = { ["leader.imbalance.check.interval.seconds"] = 0 } })
    raises('cluster: config["leader.imbalance.check.interval.seconds"]: expected integer',
      insync.cluster, { config = { ["leader.imbalance.check.interval.seconds"] = 1.5 } })
    assert.truthy(insync.cluster{ config = { ["auto.leader.rebalance.enable"] = "false",
                                             ["leader.imbalance.check.interval.seconds"] = "60" } })
  end)

  it("moves leadership back to the preferred replica within the check interval (default 300 s)", function()
    local c, back = leader_moved_away()
    local epoch = c:partition("orders", 0).leader_epoch
    c:run_for(60000)
    assert.equal(2, c:partition("orders", 0).leader)   -- a periodic check, not at once
    c:run_for(300000 - 60000)
    local part = c:partition("orders", 0)
    assert.equal(1, part.leader)
    assert.equal(epoch + 1, part.leader_epoch)
    assert.equal("1,2,3", S.isr(c))
    local e = S.find(c:trace(), "preferred_election")
    assert.truthy(e)
    assert.equal("controller", e.node)
    assert.equal(1, e.leader)
    assert.equal(epoch + 1, e.epoch)
    assert.is_true(e.t > back + 60000 and e.t <= back + 300000)
    -- writes go on at the preferred leader
    local out = S.send(c:producer{}, 2); c:run()
    assert.same({ OK = 2 }, S.count(out))
    assert.same({}, c:audit().lost)
  end)

  it("checks every leader.imbalance.check.interval.seconds", function()
    local c, back = leader_moved_away{ ["leader.imbalance.check.interval.seconds"] = 10 }
    c:run_for(10000)
    assert.equal(1, c:partition("orders", 0).leader)
    assert.is_true(S.find(c:trace(), "preferred_election").t <= back + 10000)
  end)

  it("never moves leadership when auto.leader.rebalance.enable is false", function()
    local c = leader_moved_away{ ["auto.leader.rebalance.enable"] = false }
    c:run_for(900000)
    assert.equal(2, c:partition("orders", 0).leader)
    assert.is_nil(S.find(c:trace(), "preferred_election"))
  end)

  it("waits while the preferred replica is out of the ISR", function()
    local c = S.cluster{ config = { ["leader.imbalance.check.interval.seconds"] = 10 } }
    local p = c:producer{}
    c:run_for(100)
    c:crash(1)
    c:run_for(10000)
    S.send(p, 3); c:run()
    c:cut(1, 2)                                          -- it cannot catch up
    c:restart(1)
    c:run_for(60000)
    assert.is_false(c:broker(1).fenced)
    assert.equal("2,3", S.isr(c))
    assert.equal(2, c:partition("orders", 0).leader)
    c:heal()
    c:run_for(12000)                                     -- rejoins, then the next check
    assert.equal("1,2,3", S.isr(c))
    assert.equal(1, c:partition("orders", 0).leader)
  end)

  -- The preferred replica is in the ISR, so it holds everything below the
  -- HW: no acks=all record is lost.  But it may lag the leader's log end
  -- (up to replica.lag.time.max.ms): acks=1 records it had not fetched are
  -- truncated from the old leader when leadership moves back.
  for _, on in ipairs{ true, false } do
    it((on and "truncates" or "without it, keeps") ..
       " acks=1 records the preferred replica had not fetched; loses no acks=all record", function()
      local INTERVAL = 10
      local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 },
        config = { ["leader.imbalance.check.interval.seconds"] = INTERVAL,
                   ["auto.leader.rebalance.enable"] = on } }
      local one, all = c:producer{ acks = 1 }, c:producer{ acks = "all" }
      local first = S.send(all, 2, { prefix = "first" }); c:run()
      c:crash(1)
      c:run_for(9500)
      local fenced = S.find(c:trace(), "fence", { broker = 1 }).t
      c:restart(1)
      c:run_for(2000)
      assert.equal("1,2,3", S.isr(c))
      c:drop(2, 1)                       -- 1 gets no more of the leader's records
      local acks1 = S.send(one, 5, { prefix = "one" })
      local acksall = S.send(all, 2, { prefix = "all" })
      c:run_for(100)
      assert.same({ OK = 5 }, S.count(acks1))
      assert.same({ PENDING = 2 }, S.count(acksall))   -- 1, in the ISR, holds the HW
      -- heal just before the check (the next check after 1 was fenced):
      -- 1's lost fetch is retried only after replica.socket.timeout.ms
      c:run_for(fenced + INTERVAL * 1000 - 50 - c:now())
      c:heal()
      c:run_for(100)
      assert.equal(on and 1 or 2, c:partition("orders", 0).leader)
      c:run(120000)
      c:run_for(40000)
      assert.same({ OK = 2 }, S.count(first))
      assert.same({ OK = 2 }, S.count(acksall))
      local a = c:audit()
      assert.same({}, a.duplicated)
      if on then
        assert.equal(5, #a.lost)
        for _, l in ipairs(a.lost) do
          assert.equal(1, l.acks)
          assert.truthy(l.key:match("^one"))
        end
        local t = S.find(c:trace(), "truncate", { node = 2 })
        assert.truthy(t)
      else
        assert.same({}, a.lost)
      end
      assert.is_nil(c:check())
    end)
  end
end)
