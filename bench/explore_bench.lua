-- bench/explore_bench.lua: how many fault schedules insync.explore runs a
-- second.
--
--   lua5.4 bench/explore_bench.lua [RUNS]          (make bench: RUNS = 2,000)
--   lua5.4 bench/explore_bench.lua golden [RUNS]   the golden rule over RUNS
--                                                  schedules (100,000 by hand)
--
-- The workload of the speed target: 3 brokers, a topic with RF 3, 100
-- acks=all records over 60 virtual seconds, up to 3 faults of every kind
-- the search has, each run audited.  Baseline, in the same run: the same
-- search with no fault (max_faults = 0), i.e. what the simulation of that
-- workload costs by itself.  Five rounds, explore's and the baseline's
-- alternating; medians; wall-clock rate and CPU time per schedule side by
-- side.  Target: >= 5,000 schedules a second per core.  Exits non-zero only
-- when a search fails, never for a missed target.
local insync = require "insync"
local explore = require "insync.explore"

local clock = insync.monotonic
local ROUNDS = tonumber(os.getenv("INSYNC_BENCH_ROUNDS")) or 5

local function workload(runs, faults)
  return { cluster = { brokers = 3 }, topic = { replication_factor = 3 },
           producer = { acks = "all" }, records = 100, duration_ms = 60000,
           max_faults = faults, runs = runs, seed = 1, shrink = false, progress = false }
end

local function measure(opts)
  collectgarbage()
  local t0, c0 = clock(), os.clock()
  local r = explore.explore(opts)
  local wall, cpu = clock() - t0, os.clock() - c0
  assert(r.runs == opts.runs and r.sent == opts.runs * 100, "the search did not run every schedule")
  return opts.runs / wall, cpu / opts.runs * 1e6, r
end

local median = require("stats").median

if arg and arg[1] == "golden" then
  local runs = tonumber(arg[2]) or 100000
  local jobs = tonumber(os.getenv("INSYNC_BENCH_JOBS")) or 1
  local t0 = clock()
  local r = explore.explore{
    topic = { config = { ["min.insync.replicas"] = 2 } },
    producer = { acks = "all", ["enable.idempotence"] = true },
    faults = { "kill", "pause", "partition", "isolate", "shutdown" }, max_down = 1,
    invariants = { "lost", "duplicated", "reordered" }, runs = runs, seed = 1, jobs = jobs }
  print(("golden rule, %d schedules (jobs %d) in %.1f s: %s"):format(runs, jobs, clock() - t0, tostring(r)))
  os.exit(r.violating == 0 and 0 or 1)
end

local RUNS = tonumber(arg and arg[1]) or tonumber(os.getenv("INSYNC_BENCH_EXPLORE_RUNS")) or 2000
local rate, cpu, base_rate, base_cpu = {}, {}, {}, {}
local last
for round = 1, ROUNDS do
  local r1, c1
  if round % 2 == 1 then
    r1, c1, last = measure(workload(RUNS, 3))
    base_rate[round], base_cpu[round] = measure(workload(RUNS, 0))
  else
    base_rate[round], base_cpu[round] = measure(workload(RUNS, 0))
    r1, c1, last = measure(workload(RUNS, 3))
  end
  rate[round], cpu[round] = r1, c1
end
local er, ec, br, bc = median(rate), median(cpu), median(base_rate), median(base_cpu)
print(("explore, 3 brokers RF 3, 100 records, <= 3 faults, 60 virtual s, %d schedules x %d rounds (medians):")
  :format(RUNS, ROUNDS))
print(("  explore      %7.0f schedules/s   %6.0f us CPU per schedule   %7.0f per CPU second")
  :format(er, ec, 1e6 / ec))
print(("  no faults    %7.0f schedules/s   %6.0f us CPU per schedule   %7.0f per CPU second   (baseline)")
  :format(br, bc, 1e6 / bc))
print(("  ratio %.2f (explore / baseline, per CPU second); target >= 5,000 schedules/s per core: %s")
  :format(bc / ec, 1e6 / ec >= 5000 and "met" or "not met"))
print("  last round: " .. tostring(last))

-- insync.matrix on the default profile (target: under a minute on one core)
local c0, w0 = os.clock(), clock()
local m = insync.matrix{ progress = false }
print(("matrix (lan, %d runs a row, %d rows): %.1f s CPU, %.1f s wall (target < 60 s on one core)")
  :format(m.runs, #m.rows, os.clock() - c0, clock() - w0))
