-- Process kill, power loss, controlled shutdown, flushing.
local insync = require "insync"
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

local function all_down(opts)
  local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2, ["flush.messages"] = opts.flush } }
  c:run_for(100)
  local p = c:producer{ acks = "all" }
  local out = S.send(p, 5); c:run()
  assert.same({ OK = 5 }, S.count(out))
  for b = 1, 3 do c:crash(b, { lose_unflushed = opts.power_loss }) end
  c:run_for(1000)
  for b = 1, 3 do c:restart(b) end
  c:run_for(15000)
  return c
end

describe("storage", function()
  it("keeps what is in the page cache across a process kill of every broker", function()
    local c = all_down{ power_loss = false }
    local a = c:audit()
    assert.equal(0, #a.lost)
    assert.equal(5, c:partition("orders", 0).hw)
  end)

  it("loses acknowledged acks=all records when every broker loses power without fsync", function()
    local c = all_down{ power_loss = true }
    local a = c:audit()
    assert.equal(5, #a.lost)
    for b = 1, 3 do assert.equal(0, c:partition("orders", 0).replicas[b].leo) end
  end)

  it("keeps flushed records through a power loss (flush.messages=1)", function()
    local c = all_down{ power_loss = true, flush = 1 }
    assert.equal(0, #c:audit().lost)
    assert.equal(5, c:partition("orders", 0).replicas[1].flushed)
  end)

  it("a power loss of one broker loses nothing when the others have the records", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 5); c:run()
    c:crash(1, { lose_unflushed = true })
    c:run_for(10000)
    c:restart(1); c:run_for(5000)
    assert.equal(0, #c:audit().lost)
    assert.equal(5, c:partition("orders", 0).replicas[1].leo)   -- refetched
    assert.equal("1,2,3", S.isr(c))
  end)

  it("a controlled shutdown moves leadership first, then flushes and stops", function()
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 3); c:run()
    local t0 = c:now()
    c:shutdown(1)
    c:run_for(10)                              -- one heartbeat round trip
    local part = c:partition("orders", 0)
    assert.equal(2, part.leader)               -- no session timeout
    assert.equal("2,3", S.isr(c))
    -- still running until the controller grants the shutdown
    assert.is_true(c:broker(1).online)
    assert.is_true(c:broker(1).shutting_down)
    local out = S.send(p, 2, { prefix = "after" })
    c:run()
    assert.same({ OK = 2 }, S.count(out))
    while c:broker(1).online do c:run_for(100) end
    assert.is_false(c:broker(1).shutting_down)
    assert.equal(3, c:partition("orders", 0).replicas[1].flushed)
    -- granted once the other brokers have reported the new metadata in a
    -- heartbeat (every broker.heartbeat.interval.ms, 2 s)
    assert.is_true(c:now() - t0 < 2000 + 500)
    assert.truthy(S.find(c:trace(), "shutdown", { broker = 1, stopped = 0 }))
    assert.truthy(S.find(c:trace(), "shutdown", { broker = 1, stopped = 1 }))
  end)

  it("a process kill resets the producer's connections at once (retry to the new leader)", function()
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    c:drop(1, 3)                      -- a request waits in broker 1's purgatory
    local p = c:producer{ acks = "all" }
    local out = S.send(p, 1)
    c:run_for(50)
    c:crash(1)
    c:heal()
    c:run()
    assert.equal("OK", out[1].name)
    local retry = S.find(c:trace(), "retry")
    assert.truthy(retry)
    assert.equal(-195, retry.error)   -- _TRANSPORT
  end)
end)

-- Kafka's log flusher as it runs (LogManager.startup schedules
-- "kafka-log-flusher": flushDirtyLogs after log.initial.task.delay.ms, 30 s,
-- then every log.flush.scheduler.interval.ms, Long.MAX_VALUE by default, so
-- once; it flushes each log whose lastFlushTime is flush.ms old).  The
-- kernel's writeback is off here (dirty_writeback_centisecs = 0) so that
-- only fsyncs count.
describe("the log flusher (LogManager.flushDirtyLogs)", function()
  local function power_loss_after(cfg, topic_cfg, send_at, wait)
    local c = insync.cluster{ dirty_writeback_centisecs = 0, config = cfg }
    c:create_topic("orders", { replication_factor = 3,
                               config = topic_cfg or { ["min.insync.replicas"] = 2 } })
    c:run_for(send_at)
    local p = c:producer{ acks = "all" }
    local out = S.send(p, 3); c:run()
    assert.same({ OK = 3 }, S.count(out))
    c:run_for(wait)
    local flushed = c:partition("orders", 0).replicas[1].flushed
    for b = 1, 3 do c:crash(b, { lose_unflushed = true }) end
    for b = 1, 3 do c:restart(b) end
    c:run_for(15000)
    return #c:audit().lost, flushed
  end

  it("log.flush.interval.ms alone: the flusher runs once, log.initial.task.delay.ms (30 s) after the start", function()
    local cfg = { ["log.flush.interval.ms"] = 1000 }
    assert.same({ 3, 0 }, { power_loss_after(cfg, nil, 1500, 25000) })   -- t = 26.5 s: not yet
    assert.same({ 0, 3 }, { power_loss_after(cfg, nil, 1500, 30000) })   -- the run at 30 s flushed
    assert.same({ 3, 0 }, { power_loss_after(cfg, nil, 31000, 60000) })  -- no run after it
  end)

  it("with log.flush.scheduler.interval.ms it runs every interval from then on", function()
    local cfg = { ["log.flush.interval.ms"] = 1000, ["log.flush.scheduler.interval.ms"] = 1000 }
    assert.same({ 3, 0 }, { power_loss_after(cfg, nil, 1500, 1000) })    -- before 30 s: no run
    assert.same({ 3, 0 }, { power_loss_after(cfg, nil, 31500, 0) })      -- the next run is due
    assert.same({ 0, 3 }, { power_loss_after(cfg, nil, 31500, 1000) })   -- it came
    -- log.flush.interval.ms defaults to log.flush.scheduler.interval.ms (KafkaConfig.logFlushIntervalMs)
    assert.same({ 0, 3 }, { power_loss_after({ ["log.flush.scheduler.interval.ms"] = 1000 }, nil, 31500, 1000) })
    -- log.initial.task.delay.ms moves the first run
    cfg["log.initial.task.delay.ms"] = 0
    assert.same({ 0, 3 }, { power_loss_after(cfg, nil, 1500, 1000) })
  end)

  it("flush.ms is measured from the last flush that wrote something (LocalLog.lastFlushTime)", function()
    -- idle since the load: the first run after a record flushes it at once
    local cfg = { ["log.flush.interval.ms"] = 10000, ["log.flush.scheduler.interval.ms"] = 1000 }
    assert.same({ 0, 3 }, { power_loss_after(cfg, nil, 45500, 1000) })
  end)

  it("the topic's flush.ms overrides log.flush.interval.ms", function()
    local cfg = { ["log.flush.scheduler.interval.ms"] = 1000, ["log.flush.interval.ms"] = 600000 }
    assert.same({ 3, 0 }, { power_loss_after(cfg, nil, 31500, 5000) })
    assert.same({ 0, 3 }, { power_loss_after(cfg, { ["min.insync.replicas"] = 2, ["flush.ms"] = 1000 },
                                             31500, 5000) })
  end)
end)

-- The page cache's own writeback: Linux's kernel flusher wakes every
-- vm.dirty_writeback_centisecs (5 s) from boot and writes the pages dirty
-- for longer than vm.dirty_expire_centisecs (30 s) (wb_workfn ->
-- wb_check_old_data_flush, dirty_expire_interval).  A power loss keeps
-- that; LogLoader.recoverLog / LogSegment.recover cut the rest of the log at
-- the first batch that is not whole on disk.
describe("power loss and the page cache's writeback", function()
  local function cluster(opts)
    opts.config = nil
    local c = insync.cluster(opts)
    c:create_topic("orders", { replication_factor = 3, config = { ["min.insync.replicas"] = 2 } })
    return c
  end
  local function power_loss_all(c)
    for b = 1, 3 do c:crash(b, { lose_unflushed = true }) end
    for b = 1, 3 do c:restart(b) end
    c:run_for(15000)
  end

  it("keeps records older than dirty_expire_centisecs at the last wake, loses the recent ones", function()
    local c = cluster{}
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    local old = S.send(p, 5, { prefix = "old" }); c:run()
    c:run_for(40000 - c:now())
    local new = S.send(p, 5, { prefix = "new" }); c:run()
    assert.same({ OK = 5 }, S.count(old)); assert.same({ OK = 5 }, S.count(new))
    -- written back at the wake of t = 40 s (dirty since ~0.1 s, older than 30 s)
    assert.equal(5, c:partition("orders", 0).replicas[2].durable)
    assert.equal(0, c:partition("orders", 0).replicas[2].flushed)
    power_loss_all(c)
    local lost = c:audit().lost
    assert.equal(5, #lost)
    for _, e in ipairs(lost) do assert.truthy(e.key:match("^new")) end
  end)

  it("a record is on disk from the first wake at least dirty_expire after its append", function()
    local function run(at)
      local c = cluster{}
      c:run_for(1000)
      local p = c:producer{ acks = "all", ["linger.ms"] = 0 }
      S.send(p, 1); c:run()           -- appended at t = 1 s and a few ms
      c:run_for(at - c:now())
      local durable = c:partition("orders", 0).replicas[1].durable
      power_loss_all(c)
      return durable, #c:audit().lost
    end
    assert.same({ 0, 1 }, { run(34999) })   -- the wake at 30 s: dirty for under 30 s
    assert.same({ 1, 0 }, { run(35000) })   -- the wake at 35 s wrote it
  end)

  it("dirty_writeback_centisecs = 0 (no kernel flusher): everything since the last fsync is lost", function()
    local c = cluster{ dirty_writeback_centisecs = 0 }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 5); c:run()
    c:run_for(120000)
    assert.equal(0, c:partition("orders", 0).replicas[1].durable)
    power_loss_all(c)
    assert.equal(5, #c:audit().lost)
  end)

  it("dirty_expire_centisecs sets the age: 100 (1 s) keeps records 6 s old", function()
    local c = cluster{ dirty_expire_centisecs = 100 }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 5); c:run()
    c:run_for(6000)
    power_loss_all(c)
    assert.equal(0, #c:audit().lost)
  end)

  it("the kernel writes back while the broker process is dead: a kill, then a power loss", function()
    local c = cluster{}
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 5); c:run()
    for b = 1, 3 do c:crash(b) end             -- process kill: the page cache stays
    c:run_for(40000)
    for b = 1, 3 do c:restart(b) end
    c:run_for(100)
    power_loss_all(c)                          -- at 40.2 s: written back at 35 s
    assert.equal(0, #c:audit().lost)
  end)

  it("after a power loss the machine boots: its flusher wakes from then on", function()
    local c = cluster{}
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 3); c:run()
    c:crash(3, { lose_unflushed = true })
    c:run_for(2500)
    local boot = c:now()
    c:restart(3)
    local r = c:partition("orders", 0).replicas[3]
    while r.leo < 3 do c:run_for(1); r = c:partition("orders", 0).replicas[3] end
    local appended = c:now()
    -- the first wake (boot + k * 5 s) at least 30 s after the refetch
    local wake = boot + math.ceil((appended + 30000 - boot) / 5000) * 5000
    assert.is_true(wake % 5000 ~= 0)
    c:run_for(wake - 1 - c:now())
    assert.equal(0, c:partition("orders", 0).replicas[3].durable)
    c:run_for(1)
    assert.equal(3, c:partition("orders", 0).replicas[3].durable)
  end)
end)

-- The HW a restarted broker starts with: its replication-offset-checkpoint,
-- written every replica.high.watermark.checkpoint.interval.ms (5 s) and at
-- shutdown (ReplicaManager.checkpointHighWatermarks, shutdown(checkpointHW =
-- true)), bounded by the log end (Partition.createLogIfNotExists ->
-- UnifiedLog.updateHighWatermark), until fetches bring the leader's.
describe("the high watermark checkpoint", function()
  local function setup(cfg)
    local c = S.cluster{ config = cfg, topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 5); c:run()
    c:run_for(1000)                           -- the followers learn the HW
    assert.equal(5, c:partition("orders", 0).replicas[3].hw)
    return c, p
  end

  it("a killed follower restarts with the HW of the last checkpoint, then catches up", function()
    local c = setup()
    c:run_for(3000 - c:now())                  -- the first checkpoint is at 5 s
    assert.equal(0, c:partition("orders", 0).replicas[3].hw_checkpoint)
    c:crash(3)
    assert.equal(0, c:partition("orders", 0).replicas[3].hw)
    assert.equal(5, c:partition("orders", 0).replicas[3].leo)
    c:restart(3); c:run_for(10000)
    assert.equal(5, c:partition("orders", 0).replicas[3].hw)
  end)

  it("after a checkpoint the restart reads it back", function()
    local c = setup()
    c:run_for(5000 - c:now())
    assert.equal(5, c:partition("orders", 0).replicas[3].hw_checkpoint)
    c:crash(3)
    assert.equal(5, c:partition("orders", 0).replicas[3].hw)
  end)

  it("replica.high.watermark.checkpoint.interval.ms sets the interval", function()
    local c = setup{ ["replica.high.watermark.checkpoint.interval.ms"] = 1000 }
    c:run_for(2000 - c:now())                 -- the default's first is at 5 s
    c:crash(3)
    assert.equal(5, c:partition("orders", 0).replicas[3].hw)
  end)

  it("a controlled shutdown writes it", function()
    local c = setup()
    c:shutdown(3)
    while c:broker(3).online do c:run_for(10) end
    assert.is_true(c:now() < 5000)
    assert.equal(5, c:partition("orders", 0).replicas[3].hw)
  end)

  it("a power loss keeps the checkpoint (fsynced), bounded by what is left of the log", function()
    local c = setup()
    c:run_for(5000 - c:now())
    c:crash(3, { lose_unflushed = true })
    local r = c:partition("orders", 0).replicas[3]
    assert.equal(0, r.leo)                    -- 5 s old: not yet written back
    assert.equal(0, r.hw)
  end)

  it("every broker killed: the new leader starts from its checkpoint and nothing acknowledged is lost", function()
    local c = setup()
    c:run_for(3000 - c:now())
    for b = 1, 3 do c:crash(b) end
    for b = 1, 3 do assert.equal(0, c:partition("orders", 0).replicas[b].hw) end
    for b = 1, 3 do c:restart(b) end
    c:run_for(15000)
    assert.equal(5, c:partition("orders", 0).hw)
    assert.equal(0, #c:audit().lost)
  end)
end)

-- Past a few hundred thousand records the record store, the records and
-- the logs outgrow malloc and move to mappings of their own (csrc/model/mem.c):
-- nothing may change for the records in them.
describe("a large run", function()
  it("names every one of 200,000 lost records with its own key and value", function()
    local n = 200000
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all", ["queue.buffering.max.messages"] = n }
    local acked = 0
    local cb = function(_, err) if not err then acked = acked + 1 end end
    local pad = ("x"):rep(90)
    for i = 1, n do p:send({ topic = "orders", key = "k" .. i, value = "v" .. i .. pad }, cb) end
    assert(c:run())
    assert.equal(n, acked)
    for b = 1, 3 do c:crash(b, { lose_unflushed = true }) end
    c:run_for(1000)
    local a = c:audit()
    assert.equal(n, #a.lost)
    local seen, wrong = {}, 0
    for _, e in ipairs(a.lost) do
      local i = tonumber(e.key:match("^k(%d+)$"))
      if not i or seen[i] or e.value ~= "v" .. i .. pad then wrong = wrong + 1 end
      if i then seen[i] = true end
    end
    assert.equal(0, wrong)
  end)

  it("keeps 1,100,000 records in order in every replica's log, through a failover", function()
    local n = 1100000
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all", ["queue.buffering.max.messages"] = n }
    local msg = { topic = "orders", partition = 0 }
    local send = p.send
    for _ = 1, n do send(p, msg) end
    assert(c:run())
    c:crash(1)                               -- the leader
    c:run_for(15000)
    c:restart(1)
    c:run_for(15000)
    local part = c:partition("orders", 0)
    assert.equal(n, part.hw)
    for b = 1, 3 do assert.equal(n, part.replicas[b].leo) end
    local a = c:audit()
    assert.equal(n, a.acked)
    assert.equal(0, #a.lost + #a.duplicated + #a.unexpected + #a.reordered)
  end)
end)
