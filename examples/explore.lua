-- insync.explore: "does acks=1 lose data if the leader dies?"  Instead of
-- guessing which fault at which moment shows it, let the search try 200
-- random fault schedules, count the runs that lost acknowledged records,
-- shrink the first to a minimal counterexample and print its replay
-- script.  Then the same search on the golden rule finds nothing.
local insync = require "insync"

local r = insync.explore{
  cluster = { brokers = 3, profile = "lan" },
  topic = { replication_factor = 3 },
  producer = { acks = 1 },
  records = 100, rate = 2,          -- 100 records over 50 virtual seconds
  invariants = { "lost" },
  runs = 200, seed = 1,
}
print(r)
print(("%d of %d runs lost acknowledged records (%.1f%%)"):format(r.violations.lost, r.runs, 100 * r.rate))
local s = r.shrunk
print(("shrunk from %d faults and %d records to %d fault(s) and %d record(s) in %d runs:")
  :format(#r.first.schedule, r.first.records, #s.schedule, s.records, r.shrink_runs))
for _, f in ipairs(s.schedule) do
  print(("  at %6d ms  %-18s broker %d for %d ms"):format(f.t_ms, f.fault, f.args.broker, f.args.for_ms))
end
print("its audit: " .. tostring(s.audit))
print("\n-- the replay script (paste it into a spec) --")
print(r:script())

local golden = insync.explore{
  topic = { replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producer = { acks = "all", ["enable.idempotence"] = true },
  faults = { "kill", "pause", "partition", "isolate", "shutdown" }, max_down = 1,
  invariants = { "lost", "duplicated", "reordered" },
  runs = 1000, seed = 1,
}
print("golden rule, one broker down at a time: " .. tostring(golden))
