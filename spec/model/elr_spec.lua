-- KIP-966 eligible leader replicas (eligible_leader_replicas = true), as
-- Kafka 4.x's controller does them (PartitionChangeBuilder,
-- ReplicationControlManager): who leads, what is lost, ISR and ELR.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")
local insync = require "insync"

local SESSION = 9000 -- broker.session.timeout.ms: a killed broker is fenced after it

local function list(t) return table.concat(t, ",") end
local function sorted(t) table.sort(t) return t end

-- RF 3 on brokers 1, 2, 3 (1 leads), min.insync.replicas = 2.
local function cluster(elr, config)
  return S.cluster{ elr = elr, trace = true, config = config,
                    topic_config = { ["min.insync.replicas"] = 2 } }
end

-- Two acks=all records on all three, both followers stopped (controlled
-- shutdown: 2, then 3), two acks=1 records on the leader alone, the leader
-- killed and fenced: the differential check's scenario against Kafka 4.4.
local function last_isr_member_killed(elr)
  local c = cluster(elr)
  local all, one = c:producer{ acks = "all" }, c:producer{ acks = 1, ["message.timeout.ms"] = 5000 }
  local first = S.send(all, 2); c:run()
  c:shutdown(2)
  c:shutdown(3)
  local acks1 = S.send(one, 2, { prefix = "one" }); c:run()
  c:crash(1)
  c:run_for(SESSION + 1000)
  return c, all, one, first, acks1
end

-- ELR and unclean.leader.election.enable both on: one acks=all record on
-- all three, 2 stopped (it misses the three records that follow), then 3
-- stopped and the leader 1 killed and fenced: the ELR is {1, 3}.
local function elr_with_unclean()
  local c = cluster(true, { ["unclean.leader.election.enable"] = true })
  local all = c:producer{ acks = "all" }
  S.send(all, 1); c:run()
  c:shutdown(2)
  local later = S.send(all, 3, { prefix = "later" }); c:run()
  c:shutdown(3)
  c:crash(1)
  c:run_for(SESSION + 1000)
  return c, later
end

describe("eligible leader replicas (KIP-966)", function()
  it("are off by default: the ISR keeps its last member and the ELR stays empty", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:shutdown(2); c:shutdown(3); c:crash(1)
    c:run_for(SESSION + 1000)
    local part = c:partition("orders", 0)
    assert.is_nil(part.leader)
    assert.equal("1", list(part.isr))
    assert.equal("", list(part.elr))
  end)

  it("take in the replicas that leave an ISR below min.insync.replicas, and the fenced last member", function()
    local c = last_isr_member_killed(true)
    local part = c:partition("orders", 0)
    -- 2 left while the ISR stayed at min ISR: not eligible; 3 left it
    -- below: eligible; 1, the last member, fenced: the ISR is empty
    assert.is_nil(part.leader)
    assert.equal("", list(part.isr))
    assert.same({ 1, 3 }, sorted(part.elr))
    assert.equal(1, part.last_known_leader)
    local e = S.find(c:trace(), "elr", { node = "controller" })
    assert.truthy(e)
    assert.equal(8, e.elr)           -- {3}, a bit mask, when 3 left
    assert.equal(2, e.isr)           -- {1}
  end)

  it("elect a returning ELR member cleanly; the dead leader's uncommitted acks=1 records are lost", function()
    local c, all, one, first = last_isr_member_killed(true)
    c:restart(3)
    c:run_for(2000)
    local part = c:partition("orders", 0)
    assert.equal(3, part.leader)
    assert.equal("3", list(part.isr))
    assert.equal("1", list(part.elr))
    assert.truthy(S.find(c:trace(), "elr_election", { leader = 3 }))
    assert.is_nil(S.find(c:trace(), "unclean_election"))
    local mid = S.send(one, 1, { prefix = "mid" }); c:run()
    assert.equal("OK", mid[1].name)
    assert.equal(2, mid[1].report.offset)  -- after the two committed records
    -- 1 comes back from a kill (unclean shutdown): out of the ELR; it
    -- follows 3 and truncates its two acks=1 records away
    c:restart(1); c:restart(2)
    c:run_for(5000)
    part = c:partition("orders", 0)
    assert.equal(3, part.leader)
    assert.equal("1,2,3", list(part.isr))
    assert.equal("", list(part.elr))  -- at min ISR again: empty
    local last = S.send(all, 2, { prefix = "last" }); c:run()
    assert.same({ OK = 2 }, S.count(last))
    assert.equal(3, last[1].report.offset)
    local a = c:audit()
    assert.equal(2, #a.lost)
    for _, l in ipairs(a.lost) do
      assert.equal(1, l.acks)
      assert.truthy(l.key:match("^one"))
    end
    assert.equal(0, #a.duplicated)
    for _, o in ipairs(first) do assert.equal("OK", o.name) end
    assert.is_nil(c:check())
  end)

  it("without them the partition stays offline until the last ISR member returns, and nothing is lost", function()
    local c, _, one = last_isr_member_killed(false)
    c:restart(3)
    c:run_for(2000)
    assert.is_nil(c:partition("orders", 0).leader)
    local mid = S.send(one, 1, { prefix = "mid" }); c:run()
    assert.equal("_MSG_TIMED_OUT", mid[1].name)
    c:restart(1); c:restart(2)
    c:run_for(5000)
    assert.equal(1, c:partition("orders", 0).leader)
    assert.equal(0, #c:audit().lost)
  end)

  it("drop a replica that registers again after an unclean shutdown; the last known leader may lead again", function()
    local c = cluster(true)
    local all = c:producer{ acks = "all" }
    S.send(all, 3); c:run()
    c:shutdown(2)
    c:crash(3)                        -- killed: its shutdown is unclean
    c:run_for(SESSION + 1000)
    assert.equal("1", list(c:partition("orders", 0).isr))
    assert.equal("3", list(c:partition("orders", 0).elr))  -- fenced, not yet known unclean
    c:crash(1)
    c:run_for(SESSION + 1000)
    assert.equal("1,3", list(c:partition("orders", 0).elr))
    c:restart(3)                      -- no clean shutdown marker: out of the ELR
    c:run_for(2000)
    local part = c:partition("orders", 0)
    assert.is_nil(part.leader)
    assert.equal("1", list(part.elr))
    assert.equal("", list(part.isr))
    -- 1 too comes back uncleanly: the ELR is empty, and the last known
    -- leader is elected, as an unclean election (ISR = {1})
    c:restart(1)
    c:run_for(2000)
    part = c:partition("orders", 0)
    assert.equal(1, part.leader)
    assert.equal("", list(part.elr))
    assert.is_nil(part.last_known_leader)
    assert.truthy(S.find(c:trace(), "unclean_election", { leader = 1 }))
    assert.is_nil(S.find(c:trace(), "elr_election"))
    c:run_for(5000)
    assert.equal("1,3", list(c:partition("orders", 0).isr))
    assert.equal(0, #c:audit().lost)
  end)

  it("keep a follower that fell behind while the ISR was below min ISR eligible: the leader's fencing elects it at once", function()
    local c = cluster(true, { ["replica.lag.time.max.ms"] = 10000 })
    local all, one = c:producer{ acks = "all" }, c:producer{ acks = 1 }
    S.send(all, 2); c:run()
    c:cut(1, 2); c:cut(1, 3)          -- they heartbeat on, but fetch nothing
    local acks1 = S.send(one, 3, { prefix = "one" }); c:run()
    c:run_for(20000)                  -- the leader shrinks its ISR for lag
    local part = c:partition("orders", 0)
    assert.equal("1", list(part.isr))
    assert.equal("2,3", list(part.elr))
    for _, o in ipairs(acks1) do assert.equal("OK", o.name) end
    c:crash(1)
    c:run_for(SESSION + 1000)
    part = c:partition("orders", 0)
    assert.equal(2, part.leader)       -- first ELR member in assignment order
    assert.truthy(S.find(c:trace(), "elr_election", { leader = 2 }))
    -- 3 (still cut off from 1 only) follows 2 and rejoins: min ISR again
    assert.equal("2,3", list(part.isr))
    assert.equal("", list(part.elr))
    local a = c:audit()
    assert.equal(3, #a.lost)           -- the acks=1 records only 1 had
    for _, l in ipairs(a.lost) do assert.equal(1, l.acks) end
  end)

  it("do not hold back unclean.leader.election.enable: the first live replica leads and the ELR empties", function()
    local c, later = elr_with_unclean()
    assert.same({ OK = 3 }, S.count(later))
    assert.equal("1,3", list(sorted(c:partition("orders", 0).elr)))
    c:restart(2)                      -- no ELR member is up: unclean election
    c:run_for(2000)
    local part = c:partition("orders", 0)
    assert.equal(2, part.leader)
    assert.equal("2", list(part.isr))
    assert.equal("", list(part.elr))
    assert.truthy(S.find(c:trace(), "unclean_election", { leader = 2 }))
    c:restart(3); c:restart(1)
    c:run_for(5000)
    assert.equal(2, c:partition("orders", 0).leader)
    assert.equal(3, #c:audit().lost)  -- acks=all records 2 never had
  end)

  it("come before an unclean election: an ELR member that is up is elected cleanly", function()
    local c = elr_with_unclean()
    c:restart(3); c:restart(2)
    c:run_for(2000)
    local part = c:partition("orders", 0)
    assert.equal(3, part.leader)
    assert.truthy(S.find(c:trace(), "elr_election", { leader = 3 }))
    assert.is_nil(S.find(c:trace(), "unclean_election"))
    c:run_for(5000)
    assert.equal(0, #c:audit().lost)
  end)

  it("is a cluster option checked by name", function()
    assert.has_error(function() insync.cluster{ eligible_leader_replicas = "yes" } end,
      "cluster: eligible_leader_replicas: expected boolean, got string")
    local c = insync.cluster{ eligible_leader_replicas = "true" }
    c:create_topic("t", { replication_factor = 3 })
    assert.equal("", list(c:partition("t", 0).elr))
  end)
end)
