-- insync.explore: random fault schedules find what each configuration
-- loses, the first counterexample shrinks to a small one, and its replay
-- script, run alone, does it again.  Every search here is deterministic
-- (its seed), so each expectation holds on every machine.
local insync = require "insync"
local S = require "model.scenario"

local NO_POWER_LOSS = { "kill", "pause", "partition", "isolate", "shutdown" }

-- Runs the result's replay script on its own (a fresh chunk, only the
-- public API) and returns its audit.
local function replay(r)
  local src = r:script()
  assert.is_string(src)
  assert.is_nil(src:find('require "insync.', 1, true))   -- the public API only
  local chunk = assert((loadstring or load)(src, "=replay"))
  local quiet = _G.print
  _G.print = function() end
  local out = { pcall(chunk) }
  _G.print = quiet
  assert(out[1], out[2])
  return out[2], out[3], out[4]
end

-- The first trace entry of this event, and the broker that led first.
local function first_event(trace, event, pred)
  for _, e in ipairs(trace) do
    if e.event == event and (not pred or pred(e)) then return e end
  end
end

local function bits(mask)
  local n = 0
  while mask > 0 do
    if mask % 2 == 1 then n = n + 1 end
    mask = math.floor(mask / 2)
  end
  return n
end

describe("insync.explore", function()
  it("finds acks=1 losing acknowledged records after a leader failure in 200 runs, shrunk to <= 2 faults",
     function()
    local r = insync.explore{ producer = { acks = 1 }, invariants = { "lost" }, runs = 200, seed = 1,
                              progress = false }
    assert.equal(200, r.runs)
    assert.is_true(r.violations.lost > 0)
    assert.truthy(r.first)
    assert.is_true(r.first.run <= 200)
    assert.equal("lost", r.first.invariant)
    assert.is_true(#r.first.audit.lost > 0)
    local s = r.shrunk
    assert.equal("lost", s.invariant)
    assert.is_true(#s.schedule >= 1 and #s.schedule <= 2)
    assert.is_true(s.records <= r.first.records)
    assert.is_true(#s.audit.lost > 0)
    -- a leader failure: leadership moved away from the first leader
    local first = first_event(s.trace, "election")
    assert.truthy(first_event(s.trace, "election", function(e) return e.leader ~= first.leader end))
    for _, f in ipairs(s.schedule) do
      assert.is_number(f.t_ms)
      assert.is_string(f.fault)
      assert.is_number(f.args.broker)
    end
    -- the script, run alone, loses the same records
    local a = replay(r)
    assert.equal(#s.audit.lost, #a.lost)
    assert.equal(s.audit.lost[1].value, a.lost[1].value)
  end)

  it("finds acks=all with min.insync.replicas=1 losing records once the ISR shrank (Kafka 4, ELR on)",
     function()
    local function search(min_isr)
      return insync.explore{ cluster = { eligible_leader_replicas = true },
        topic = { config = { ["min.insync.replicas"] = min_isr } }, producer = { acks = "all" },
        faults = { "partition_majority", "power_loss" }, max_faults = 2, invariants = { "lost" },
        runs = 400, seed = 1, progress = false }
    end
    local one, two = search(1), search(2)
    assert.is_true(one.violations.lost > 0)
    local s = one.shrunk
    assert.is_true(#s.schedule <= 2)
    -- the leader lost power while the others were cut off; the ISR shrank
    -- to it alone; it came back without what only its page cache held and
    -- led again as the last known leader (the followers that left the ISR
    -- at min.insync.replicas are not eligible): the record is gone
    local power = first_event(s.trace, "crash", function(e) return e.lose_unflushed == 1 end)
    assert.truthy(power)
    local shrunk_to_one = first_event(s.trace, "isr_shrink", function(e) return bits(e.isr) == 1 end)
    assert.truthy(shrunk_to_one)
    local again = first_event(s.trace, "unclean_election", function(e) return e.leader == power.node end)
    assert.truthy(again)
    assert.is_true(shrunk_to_one.t <= again.t)
    local a = replay(one)
    assert.is_true(#a.lost > 0)
    -- min.insync.replicas=2 refuses those writes: it loses fewer runs, and
    -- only when two brokers lose power together
    assert.is_true(two.violations.lost < one.violations.lost)
    if two.shrunk then
      assert.equal(2, #two.shrunk.schedule)
      for _, f in ipairs(two.shrunk.schedule) do assert.equal("power_loss", f.fault) end
    end
  end)

  it("finds a producer without idempotence writing a record twice on a retry", function()
    local r = insync.explore{ producer = { acks = "all" }, invariants = { "duplicated" },
                              runs = 100, seed = 1, progress = false }
    assert.is_true(r.violations.duplicated > 0)
    local s = r.shrunk
    assert.is_true(#s.audit.duplicated > 0)
    assert.truthy(first_event(s.trace, "retry"))
    assert.is_true(#replay(r).duplicated > 0)
  end)

  it("finds an unclean election losing acks=all records; clean elections lose none in the same search", function()
    local function search(unclean)
      return insync.explore{ cluster = { config = { ["unclean.leader.election.enable"] = unclean } },
        topic = { config = { ["min.insync.replicas"] = 2 } }, producer = { acks = "all" },
        faults = NO_POWER_LOSS, invariants = { "lost" }, runs = 400, seed = 1, progress = false }
    end
    local r = search(true)
    assert.is_true(r.violations.lost > 0)
    assert.truthy(first_event(r.shrunk.trace, "unclean_election"))
    assert.is_true(#replay(r).lost > 0)
    assert.equal(0, search(false).violations.lost)
  end)

  it("finds power loss without fsync losing acks=all records; an fsync per record loses none", function()
    local function search(flush)
      return insync.explore{ cluster = { config = { ["log.flush.interval.messages"] = flush } },
        topic = { config = { ["min.insync.replicas"] = 2 } }, producer = { acks = "all" },
        faults = { "power_loss" }, invariants = { "lost" }, runs = 200, seed = 1, progress = false }
    end
    local r = search(nil)
    assert.is_true(r.violations.lost > 0)
    assert.is_true(#r.shrunk.schedule <= 2)
    for _, f in ipairs(r.shrunk.schedule) do assert.equal("power_loss", f.fault) end
    assert.is_true(#replay(r).lost > 0)
    assert.equal(0, search(1).violations.lost)
  end)

  it("finds nothing lost, duplicated or reordered under the golden rule, one broker down at a time (2,000 runs)",
     function()
    local r = insync.explore{
      topic = { config = { ["min.insync.replicas"] = 2 } },
      producer = { acks = "all", ["enable.idempotence"] = true },
      faults = NO_POWER_LOSS, max_down = 1, invariants = { "lost", "duplicated", "reordered" },
      runs = 2000, seed = 1, progress = false }
    assert.equal(2000, r.runs)
    assert.same({ lost = 0, duplicated = 0, reordered = 0 }, r.violations)
    assert.is_nil(r.first)
    assert.equal(r.sent, r.acked + r.failed)
    assert.equal(200000, r.sent)
  end)

  -- librdkafka bumps the idempotent producer's epoch once a record times out
  -- (rd_kafka_idemp_drain_epoch_bump) and sends what it still holds again
  -- from sequence 0: a batch the leader had appended is written twice.  The
  -- source wins over "idempotence never duplicates".
  it("finds the golden rule duplicating across an epoch bump once records time out (librdkafka's behaviour)",
     function()
    local r = insync.explore{
      topic = { config = { ["min.insync.replicas"] = 2 } },
      producer = { acks = "all", ["enable.idempotence"] = true, ["delivery.timeout.ms"] = 10000 },
      faults = NO_POWER_LOSS, max_down = 1, invariants = { "lost", "duplicated" },
      runs = 400, seed = 1, progress = false }
    assert.equal(0, r.violations.lost)
    assert.is_true(r.violations.duplicated > 0)
    local s = r.shrunk
    local dup = s.audit.duplicated[1]
    local bump = first_event(s.trace, "epoch_bump")
    assert.truthy(bump)
    -- the extra copy was written after the bump
    local written
    for _, e in ipairs(s.trace) do
      if e.event == "append" and e.offset <= dup.offset and dup.offset < e.offset + e.count then
        written = e.t
      end
    end
    assert.is_true(bump.t <= written)
    assert.is_true(#replay(r).duplicated > 0)
  end)

  it("is deterministic per seed, and jobs = 2 gives what jobs = 1 gives", function()
    local opts = { producer = { acks = 1 }, runs = 60, seed = 7, progress = false }
    local a, b = insync.explore(opts), insync.explore(opts)
    assert.equal(tostring(a), tostring(b))
    assert.equal(a:script(), b:script())
    opts.jobs = 2
    local c = insync.explore(opts)
    assert.equal(tostring(a), tostring(c))
    assert.same(a.violations, c.violations)
    assert.same(a.errors, c.errors)
    assert.equal(a:script(), c:script())
    opts.jobs, opts.seed = 1, 8
    assert.are_not.equal(tostring(a), tostring(insync.explore(opts)))
  end)

  it("counts sends refused or timed out as availability", function()
    local r = insync.explore{ topic = { config = { ["min.insync.replicas"] = 3 } },
      producer = { acks = "all", ["delivery.timeout.ms"] = 5000 }, faults = { "kill" },
      invariants = {}, availability = 1, runs = 50, seed = 1, progress = false }
    assert.is_true(r.failed > 0)
    assert.equal(r.sent, r.acked + r.failed)
    assert.is_true(r.violations.availability > 0)
    assert.is_true((r.errors._MSG_TIMED_OUT or 0) + (r.errors.NOT_ENOUGH_REPLICAS or 0) > 0)
    local a, acked, failed = replay(r)
    assert.truthy(a)
    assert.is_true(failed > 0 and acked / (acked + failed) < 1)
  end)

  it("says what a result and an audit hold in one line", function()
    local r = insync.explore{ producer = { acks = 1 }, runs = 20, seed = 1, progress = false }
    assert.matches("^explore: 20 runs, %d+ violating", tostring(r))
    local c = S.cluster{}
    local p = c:producer{}
    S.send(p, 3)
    c:run()
    assert.equal("audit: sent 3, acked 3, failed 0, pending 0; lost 0, duplicated 0, reordered 0, "
      .. "unexpected 0, inconsistent 0, uncommitted 0", tostring(c:audit()))
  end)

  it("raises on bad arguments, naming them", function()
    S.raises("explore: opts: expected table", insync.explore, 3)
    S.raises("explore: unknown option 'run'", insync.explore, { run = 3 })
    S.raises("explore: runs: expected integer", insync.explore, { runs = 1.5 })
    S.raises("explore: runs: expected at least 1", insync.explore, { runs = 0 })
    S.raises("explore: faults[2]: unknown fault kind 'meteor'", insync.explore, { faults = { "kill", "meteor" } })
    S.raises("explore: invariants[1]: unknown invariant 'fast'", insync.explore, { invariants = { "fast" } })
    S.raises("explore: producer: acks", insync.explore, { producer = { acks = 2 } })
    S.raises("explore: producer: property 'ack': No such configuration property", insync.explore, { producer = { ack = 1 } })
    S.raises("explore: cluster: brokers", insync.explore, { cluster = { brokers = 0 } })
    S.raises("explore: cluster.seed", insync.explore, { cluster = { seed = 3 } })
    S.raises("explore: topic: replication_factor", insync.explore, { topic = { replication_factor = 4 } })
    S.raises("explore: rate: expected a number", insync.explore, { rate = 0 })
    S.raises("explore: keys: expected false or a number", insync.explore, { keys = "x" })
    S.raises("explore: max_down: expected at most 3", insync.explore, { max_down = 4 })
    S.raises("explore: faults[1]: partition_majority takes 2 brokers out, more than max_down (1)",
      insync.explore, { faults = { "partition_majority" }, max_down = 1 })
    S.raises("explore: jobs: expected at least 1", insync.explore, { jobs = 0 })
    S.raises("explore: progress: expected boolean", insync.explore, { progress = 1 })
    S.raises("explore: availability: expected a share", insync.explore, { availability = 2 })
    S.raises("explore: seed: expected integer", insync.explore, { seed = "x" })
  end)
end)
