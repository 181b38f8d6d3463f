-- The control plane: the KRaft controller quorum (KafkaRaftClient,
-- QuorumController), controller failover, loss of quorum, a restarted
-- broker unfenced only once caught up with the metadata
-- (ReplicationControlManager.processBrokerHeartbeat: isCaughtUp is
-- currentMetadataOffset >= registerBrokerRecordOffset), and the
-- kafka_version option's defaults (KAFKA-15583, KIP-966).
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")
local insync = require "insync"

local SESSION = 9000     -- broker.session.timeout.ms
local FETCH_TIMEOUT = 2000 -- controller.quorum.fetch.timeout.ms

local function quorum_cluster(opts)
  opts = opts or {}
  local c = insync.cluster{ brokers = 3, controllers = opts.controllers or 3, trace = true,
                            config = opts.config }
  c:create_topic("orders", { partitions = 1, replication_factor = 3,
                             config = opts.topic_config })
  c:run_for(100)
  return c
end

describe("the controller quorum", function()
  it("has one voter by default, active from the start", function()
    local c = S.cluster{}
    assert.same({ voters = 1, active = 1, epoch = 1, alive = { 1 } }, c:quorum())
    local q = quorum_cluster():quorum()
    assert.equal(3, q.voters)
    assert.same({ 1, 2, 3 }, q.alive)
  end)

  it("fails over after controller.quorum.fetch.timeout.ms when the active controller dies; nobody is fenced", function()
    local c = quorum_cluster()
    local p = c:producer{ acks = "all" }
    assert.equal(1, c:crash_controller())         -- the active one
    assert.is_nil(c:quorum().active)
    local out = S.send(p, 3); c:run()              -- the data path needs no controller
    assert.same({ OK = 3 }, S.count(out))
    c:run_for(FETCH_TIMEOUT - 100)
    assert.is_nil(c:quorum().active)
    c:run_for(200)                                 -- fetch timeout and one vote's round trip
    local q = c:quorum()
    assert.equal(2, q.active)
    assert.equal(2, q.epoch)
    c:run_for(SESSION * 2)                         -- fresh sessions on activation
    for b = 1, 3 do assert.is_false(c:broker(b).fenced) end
    assert.equal(1, c:partition("orders", 0).leader)
  end)

  it("decides nothing while a majority is down: no fencing, no election, no ISR change", function()
    local c = quorum_cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:crash_controller(2)
    c:crash_controller(3)                          -- the leader (1) has lost its majority
    assert.is_nil(c:quorum().active)
    c:crash(1)                                     -- the partition's leader
    c:run_for(SESSION * 3)
    assert.is_false(c:broker(1).fenced)            -- its session never expires
    local part = c:partition("orders", 0)
    assert.equal(1, part.leader)                   -- no election: offline in effect
    assert.same({ 1, 2, 3 }, part.isr)
    local p = c:producer{ acks = "all", ["message.timeout.ms"] = 5000 }
    local out = S.send(p, 2); c:run()
    assert.same({ _MSG_TIMED_OUT = 2 }, S.count(out))
    assert.equal("not_persisted", out[1].err.persisted)
    assert.has_error(function() c:create_topic("later") end,
                     "create_topic: no active controller (the quorum has no leader)")
    -- a majority again: an election, then the dead broker's fresh session runs out
    c:restart_controller(2)
    c:run_for(1000 + 2)
    local q = c:quorum()
    assert.equal(1, q.active)
    assert.equal(2, q.epoch)
    c:run_for(SESSION + 100)
    assert.is_true(c:broker(1).fenced)
    assert.equal(2, c:partition("orders", 0).leader)
    out = S.send(p, 2); c:run()
    assert.same({ OK = 2 }, S.count(out))
  end)

  it("lets no ISR shrink while the quorum is lost: AlterPartition waits, the leader keeps waiting for the follower", function()
    local c = quorum_cluster{ config = { ["replica.lag.time.max.ms"] = 10000 } }
    c:crash_controller(1); c:crash_controller(2)
    c:drop(1, 3); c:drop(3, 1)                     -- follower 3 falls behind
    local p = c:producer{ acks = "all", ["request.timeout.ms"] = 120000 }
    local out = S.send(p, 1)
    c:run_for(40000)                               -- four lag periods
    assert.is_nil(out[1].name)                     -- still waiting for 3
    assert.same({ 1, 2, 3 }, c:partition("orders", 0).isr)
    c:restart_controller(1)
    c:run()
    assert.equal("OK", out[1].name)
    assert.same({ 1, 2 }, c:partition("orders", 0).isr)
  end)

  it("with one controller: its crash stops every decision until it restarts, then it leads at once", function()
    local c = S.cluster{}
    c:crash_controller(1)
    c:crash(1)
    c:run_for(SESSION * 2)
    assert.is_false(c:broker(1).fenced)
    assert.equal(1, c:partition("orders", 0).leader)
    c:restart_controller(1)
    c:run_for(1)
    assert.equal(1, c:quorum().active)
    c:run_for(SESSION + 100)
    assert.is_true(c:broker(1).fenced)
    assert.equal(2, c:partition("orders", 0).leader)
  end)

  it("checks its arguments", function()
    local c = quorum_cluster()
    assert.has_error(function() c:crash_controller(4) end,
                     "crash_controller: controller: expected a controller id 1..3, got 4")
    assert.has_error(function() c:restart_controller(2) end, "restart_controller: controller 2 is running")
    assert.has_error(function() c:restart_controller() end,
                     "restart_controller: controller: expected a controller id, got nil")
    c:crash_controller(2)
    assert.has_error(function() c:crash_controller(2) end, "crash_controller: controller 2 is already down")
    assert.has_error(function() insync.cluster{ controllers = 0 } end)
    assert.has_error(function() insync.cluster{ controllers = 10 } end)
  end)
end)

describe("a restarted broker", function()
  it("stays fenced until its heartbeat shows the metadata up to its registration", function()
    local c = S.cluster{}
    c:latency("controller", 3, 500)                -- slow metadata to and from broker 3
    c:run_for(100)
    c:crash(3)
    c:run_for(SESSION + 1000)
    assert.is_true(c:broker(3).fenced)
    c:restart(3)
    -- registration reaches the controller at +500; the snapshot and the
    -- reply reach 3 at +1000; its heartbeat, caught up, at +1500+
    c:run_for(1400)
    assert.is_true(c:broker(3).fenced)
    c:run_for(200)
    assert.is_false(c:broker(3).fenced)
    c:run_for(5000)                                -- it fetches and rejoins the ISR
    local isr = c:partition("orders", 0).isr
    table.sort(isr)
    assert.same({ 1, 2, 3 }, isr)
  end)
end)

describe("kafka_version", function()
  local function after_shrink(version)
    local c = insync.cluster{ kafka_version = version, config = { ["replica.lag.time.max.ms"] = 10000 } }
    c:create_topic("orders", { replication_factor = 3, config = { ["min.insync.replicas"] = 3 } })
    c:run_for(100)
    c:drop(1, 3)
    local p = c:producer{ acks = "all", retries = 0 }
    local out = S.send(p, 1)
    c:run()
    return out[1].name
  end

  it("3.6 has the HW rule before strict min ISR (KAFKA-15583); 3.9 and 4.1 have it", function()
    assert.equal("NOT_ENOUGH_REPLICAS_AFTER_APPEND", after_shrink("3.6"))
    assert.equal("REQUEST_TIMED_OUT", after_shrink("3.9"))
    assert.equal("REQUEST_TIMED_OUT", after_shrink("4.1"))
    assert.equal("REQUEST_TIMED_OUT", after_shrink(nil))   -- the default is 3.9's
  end)

  local function last_member_fenced(version)
    local c = insync.cluster{ kafka_version = version }
    c:create_topic("orders", { replication_factor = 3, config = { ["min.insync.replicas"] = 2 } })
    c:shutdown(2); c:shutdown(3); c:crash(1)
    c:run_for(SESSION + 1000)
    return c:partition("orders", 0)
  end

  it("4.1 turns eligible leader replicas on (KIP-966); 3.6 and 3.9 keep the last ISR member", function()
    assert.same({}, last_member_fenced("4.1").isr)
    local elr = last_member_fenced("4.1").elr
    table.sort(elr)
    assert.same({ 1, 3 }, elr)
    assert.same({ 1 }, last_member_fenced("3.9").isr)
    assert.same({}, last_member_fenced("3.6").elr)
  end)

  it("lets an explicit option win over the version's default, and names a bad version", function()
    local c = insync.cluster{ kafka_version = "4.1", eligible_leader_replicas = false }
    c:create_topic("orders", { replication_factor = 3, config = { ["min.insync.replicas"] = 2 } })
    c:shutdown(2); c:shutdown(3); c:crash(1)
    c:run_for(SESSION + 1000)
    assert.same({ 1 }, c:partition("orders", 0).isr)
    assert.has_error(function() insync.cluster{ kafka_version = "3.7" } end,
                     'cluster: kafka_version: expected one of "3.6", "3.9", "4.1", got "3.7"')
    assert.has_error(function() insync.cluster{ kafka_version = true } end,
                     'cluster: kafka_version: expected one of "3.6", "3.9", "4.1", got boolean')
    assert.same({ "3.6", "3.9", "4.1" }, require("insync.cluster").kafka_versions)
  end)
end)
