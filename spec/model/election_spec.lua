-- Clean and unclean leader election, truncation by leader epoch.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

local function lone_leader(unclean)
  -- broker 1 leads alone (followers out of the ISR), takes writes, dies;
  -- brokers 2 and 3 come back without its records.
  local c = S.cluster{ trace = true, config = { ["unclean.leader.election.enable"] = unclean,
                                                 ["replica.lag.time.max.ms"] = 10000 } }
  c:run_for(100)
  c:crash(2); c:crash(3); c:run_for(10000)
  local p = c:producer{ acks = "all" }
  local out = S.send(p, 3); c:run()
  c:crash(1)
  c:restart(2); c:restart(3)
  c:run_for(20000)
  return c, out, p
end

describe("leader election", function()
  it("with unclean election off, leaves the partition offline until an ISR member returns", function()
    local c, out = lone_leader(false)
    assert.same({ OK = 3 }, S.count(out))
    local part = c:partition("orders", 0)
    assert.is_nil(part.leader)
    assert.equal("1", S.isr(c))             -- the ISR keeps its last member
    assert.equal(0, #c:audit().lost)
    c:restart(1); c:run_for(20000)
    part = c:partition("orders", 0)
    assert.equal(1, part.leader)
    assert.equal(3, part.hw)
    assert.equal(0, #c:audit().lost)
  end)

  it("with unclean election on, elects a replica outside the ISR and loses acknowledged records", function()
    local c, out = lone_leader(true)
    assert.same({ OK = 3 }, S.count(out))
    local part = c:partition("orders", 0)
    assert.equal(2, part.leader)
    assert.equal(3, #c:audit().lost)
    assert.truthy(S.find(c:trace(), "unclean_election", { leader = 2 }))
    -- the trace shows the ISR it replaced ({1} -> {2}, bit masks)
    assert.truthy(S.find(c:trace(), "isr_shrink", { node = "controller", removed = 2, isr = 4 }))
    assert.truthy(S.find(c:trace(), "isr_expand", { node = "controller", added = 4, isr = 4 }))
    -- the old leader returns and truncates to the new leader's log
    c:restart(1); c:run_for(20000)
    assert.equal(0, c:partition("orders", 0).replicas[1].leo)
    assert.truthy(S.find(c:trace(), "truncate", { node = 1 }))
  end)

  it("truncates a returning leader's unreplicated records by leader epoch", function()
    local c = S.cluster{ trace = true }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 2); c:run()
    c:drop(1, 2); c:drop(1, 3)                -- what broker 1 writes now stays on broker 1
    local p1 = c:producer{ acks = 1 }
    local out = S.send(p1, 2, { prefix = "only1-" }); c:run()
    c:crash(1); c:run_for(10000)             -- fenced: broker 2 leads epoch 1
    assert.equal(2, c:partition("orders", 0).leader)
    S.send(p, 1, { prefix = "new" }); c:run()
    c:heal(); c:restart(1); c:run_for(5000)
    local log1 = c:log("orders", 0, 1)
    local log2 = c:log("orders", 0, 2)
    assert.equal(#log2, #log1)
    for i = 1, #log2 do assert.equal(log2[i].key, log1[i].key) end
    assert.equal("new1", log1[3].key)
    assert.equal(1, log1[3].leader_epoch)
    assert.same({ OK = 2 }, S.count(out))
    assert.equal(2, #c:audit().lost)
  end)
end)

describe("a leader cut off from the controller and its followers", function()
  -- librdkafka 2.0.2 asks the broker it last wrote to for metadata
  -- (rd_kafka_broker_any_usable) and takes the answer without comparing
  -- leader epochs: broker 1, cut off, still names itself, so the acks=all
  -- writes go on timing out against it until the cut heals
  it("takes acks=1 writes that are lost when it rejoins; acks=all writes wait, then land on the new leader", function()
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local one = c:producer{ acks = 1 }
    local all = c:producer{ acks = "all", ["topic.metadata.refresh.interval.ms"] = 20000 }
    S.send(one, 1, { prefix = "warm" }); S.send(all, 1, { prefix = "warmall" }); c:run()
    c:cut(1, 2); c:cut(1, 3); c:cut(1, "controller")   -- producers still reach broker 1
    local o1 = S.send(one, 2, { prefix = "zombie" })
    local oa = S.send(all, 2, { prefix = "safe" })
    c:run_for(15000)
    local part = c:partition("orders", 0)
    assert.equal(2, part.leader)                        -- the controller moved on
    assert.same({ OK = 2 }, S.count(o1))                -- broker 1 still answered acks=1
    assert.is_nil(oa[1].name)                           -- acks=all waits: no follower fetches from it
    c:run_for(40000)
    assert.is_nil(oa[1].name)                           -- REQUEST_TIMED_OUT, retried, still to broker 1
    assert.truthy(S.find(c:trace(), "retry", { node = "producer2", error = 7 }))
    c:heal(); c:run_for(15000)
    assert.same({ OK = 2 }, S.count(oa))                -- NOT_LEADER_OR_FOLLOWER, refresh, new leader
    local a = c:audit()
    local lost = {}
    for _, e in ipairs(a.lost) do lost[#lost + 1] = e.key end
    table.sort(lost)
    assert.same({ "zombie1", "zombie2" }, lost)
    assert.equal(0, #a.duplicated)
    assert.equal(c:partition("orders", 0).replicas[2].leo, c:partition("orders", 0).replicas[1].leo)
  end)
end)

describe("a broker restarted within broker.session.timeout.ms", function()
  -- ClusterControlManager.registerBroker refuses a new incarnation while
  -- the old one's session is valid; the broker retries with a doubling
  -- backoff, and its partitions stay led by the dead process until the
  -- session runs out and the controller fences it
  it("registers only once its old session expired; the partition is offline meanwhile", function()
    local c = S.cluster{ trace = true }   -- Kafka's defaults: 9 s session
    c:run_for(5000)
    c:crash(1); c:run_for(1000); c:restart(1)
    c:run_for(2000)
    assert.equal(1, c:partition("orders", 0).leader)      -- still the dead process
    local p = c:producer{ ["message.timeout.ms"] = 60000 }
    local out = S.send(p, 1)
    c:run_for(30000)
    local fence, unfence, election
    for _, e in ipairs(c:trace()) do
      if e.event == "fence" and e.broker == 1 then fence = fence or e.t end
      if e.event == "unfence" and e.broker == 1 and e.t > 5000 then unfence = unfence or e.t end
      if e.event == "election" and e.t > 5000 then election = election or e end
    end
    -- its last heartbeat (every 2 s) came within 2 s before the crash at 5 s
    assert.is_true(fence >= 5000 - 2000 + 9000, "fenced before its session ran out")
    assert.equal(2, election.leader)
    assert.equal(fence, election.t)
    assert.is_true(unfence > fence, "registered again while the old session was valid")
    assert.equal("OK", out[1].name)                      -- written once 2 leads
    assert.is_true(out[1].report.latency_ms >= fence - 8000)
  end)
end)
