-- bench/scale_bench.lua: the model's cost as a cluster grows.
--
--   lua5.4 bench/scale_bench.lua [SENDS] [IDLE_MS]
--       (make bench: SENDS = 200,000, IDLE_MS = 3,600,000: one virtual hour)
--
-- For each row (brokers x partitions, replication factor 3): SENDS acks=all
-- sends of 20-byte values spread over every partition, settled, then
-- IDLE_MS of idle virtual time.  Printed per row: sends a second, the idle
-- period's virtual time per real time (x real time), and the model's memory
-- per partition replica (c:memory(), records excluded) beside the process's
-- resident memory.  The baseline, measured in the same run, is the first
-- row (3 brokers x 1 partition); each row's sends/s is given as a ratio to
-- it.  The last column steps the idle period through every event
-- (skip_idle = false) on the largest rows that take less than a minute
-- that way, for the ratio the skipping buys.  Rounds alternate row order;
-- medians over INSYNC_BENCH_ROUNDS (3) rounds.
-- Targets: 48 x 10,000 idle hour >= 10,000x real time, <= 1 KB
-- per partition replica; sends/s at 1,000 partitions within 20% of 1.
-- Exits non-zero only when a send is lost or fails, never for a missed target.
local insync = require "insync"

local SENDS = tonumber(arg and arg[1]) or tonumber(os.getenv("INSYNC_BENCH_SCALE_SENDS")) or 200000
local IDLE = tonumber(arg and arg[2]) or tonumber(os.getenv("INSYNC_BENCH_SCALE_IDLE_MS")) or 3600000
local ROUNDS = tonumber(os.getenv("INSYNC_BENCH_ROUNDS")) or 3
local clock = insync.monotonic
local VALUE = ("x"):rep(20)

local ROWS = {
  { 3, 1 }, { 3, 100 }, { 3, 1000 }, { 48, 100 }, { 63, 1000 }, { 48, 10000 },
}

local function rss_kb()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")) or 0
end

local function row(brokers, partitions, skip)
  collectgarbage()
  collectgarbage()
  local c = insync.cluster{ brokers = brokers, seed = 1, skip_idle = skip }
  c:create_topic("t", { partitions = partitions, replication_factor = 3 })
  local p = c:producer{ acks = "all", ["queue.buffering.max.messages"] = SENDS }
  c:run_for(10000)   -- every fetcher started, the cluster settled
  local empty = c:memory()
  local ok, bad = 0, 0
  local cb = function(_, err) if err then bad = bad + 1 else ok = ok + 1 end end
  local msg = { topic = "t", value = VALUE, partition = 0 }
  local t0 = clock()
  for i = 1, SENDS do
    msg.partition = i % partitions
    p:send(msg, cb)
  end
  assert(c:run(), "sends still outstanding")
  local send_s = clock() - t0
  assert(ok == SENDS and bad == 0, ("%d acked, %d failed of %d"):format(ok, bad, SENDS))
  local t1 = clock()
  c:run_for(IDLE)
  local idle_s = clock() - t1
  local a = c:audit()
  assert(#a.lost == 0 and #a.duplicated == 0, "lost or duplicated records")
  local per_replica = empty / (partitions * 3)
  local res = { sends = SENDS / send_s, x = IDLE / 1000 / idle_s, mem = per_replica,
                rss = rss_kb() / 1024, idle_s = idle_s }
  return res
end

local median = require("stats").median

local results = {}
for i = 1, #ROWS do results[i] = {} end
for round = 1, ROUNDS do
  local first, last, step = 1, #ROWS, 1
  if round % 2 == 0 then first, last, step = #ROWS, 1, -1 end
  for i = first, last, step do
    local r = ROWS[i]
    results[i][#results[i] + 1] = row(r[1], r[2], true)
  end
end

print(("scale: RF 3, %d acks=all sends of 20 B, then %.0f idle virtual s; medians of %d rounds")
  :format(SENDS, IDLE / 1000, ROUNDS))
print("  brokers  partitions     sends/s  (ratio to 3x1)   idle x real time   bytes/replica   RSS MB   stepped x real time")
local base = median(results[1], "sends")
for i, r in ipairs(ROWS) do
  local s, x, m, rss = median(results[i], "sends"), median(results[i], "x"), median(results[i], "mem"),
    median(results[i], "rss")
  local stepped = "-"
  if r[1] * r[2] <= 48000 then
    stepped = ("%.0f"):format(row(r[1], r[2], false).x)
  end
  print(("  %7d  %10d  %10.0f  (%.2f)          %14.0f   %13.0f   %6.0f   %s")
    :format(r[1], r[2], s, s / base, x, m, rss, stepped))
end
local big, k1 = #ROWS, 3
local xb, mb = median(results[big], "x"), median(results[big], "mem")
print(("  targets: 48 x 10,000 idle hour >= 10,000x: %s (%.0fx); <= 1 KB per replica: %s (%.0f B); " ..
       "sends/s at 1,000 partitions within 20%% of 1: %s (%.2f)")
  :format(xb >= 10000 and "met" or "not met", xb, mb <= 1024 and "met" or "not met", mb,
          median(results[k1], "sends") >= 0.8 * base and "met" or "not met", median(results[k1], "sends") / base))
