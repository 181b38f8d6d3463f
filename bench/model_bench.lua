-- bench/model_bench.lua: the model's speed and size.
--
--   lua5.4 bench/model_bench.lua [N]      (make bench runs it with N = 1,000,000)
--
-- 1. Throughput: N sends of 100-byte values with acks=all to a 3-broker
--    cluster, topic of 3 partitions with replication factor 3, one Lua
--    callback each, settled by c:run(); against build/bench/rdkafka_mock_baseline
--    (librdkafka sending the same records to its embedded mock cluster from
--    C), measured in the same run.  Target: ratio >= 1.0.  Also per CPU
--    second (the model is one thread; librdkafka and its mock use several),
--    which a busy machine disturbs less than wall time.
-- 2. Time compression: a leader crash with Kafka's default timeouts (30 s
--    replica.lag.time.max.ms, 9 s session timeout): the fencing, election,
--    ISR shrink, the restarted broker catching up and rejoining, while a
--    producer keeps sending.  Virtual ms per real ms.  Target: >= 10,000.
-- 3. Memory: bytes the model holds per stored record-replica (record store,
--    logs, queues) after N and 10 N records.  Target: <= 64 and linear.
-- Each measurement is the best of INSYNC_BENCH_ROUNDS (5) rounds, the
-- model's and the baseline's alternating, so that a disturbance on a shared
-- machine (another tenant, a slow page fault) costs both sides alike.  Exits
-- non-zero when a send is lost or fails, never for a missed target.
local insync = require "insync"

local N = tonumber(arg and arg[1]) or tonumber(os.getenv("INSYNC_BENCH_N")) or 1000000
local BIN = os.getenv("INSYNC_BENCH_BIN") or "build/bench"
local ROUNDS = tonumber(os.getenv("INSYNC_BENCH_ROUNDS")) or 5
local VALUE = ("x"):rep(100)
local clock = insync.monotonic or os.clock

local function baseline()
  local f = assert(io.popen(("%s/rdkafka_mock_baseline %d 3 100"):format(BIN, N)))
  local out = f:read("*a")
  local ok = f:close()
  local rate = tonumber(out:match("msgs_per_sec=(%d+)"))
  local cpu = tonumber(out:match("\ncpu_seconds=([%d.]+)"))
  assert(ok and rate and cpu, "baseline failed:\n" .. out)
  return rate, N / cpu
end

local function cluster()
  local c = insync.cluster{ brokers = 3, seed = 1 }
  c:create_topic("bench", { partitions = 3, replication_factor = 3,
                            config = { ["min.insync.replicas"] = 2 } })
  return c
end

local function throughput()
  collectgarbage()   -- start clean, as the baseline's fresh process does:
                     -- not while the last round's million records are freed
  local c = cluster()
  local p = c:producer{ acks = "all", ["queue.buffering.max.messages"] = N }
  local delivered, failed = 0, 0
  local cb = function(_, err)
    if err then failed = failed + 1 else delivered = delivered + 1 end
  end
  local msg = { topic = "bench", value = VALUE }
  local send = p.send
  local t0, c0 = clock(), os.clock()
  for _ = 1, N do send(p, msg, cb) end
  assert(c:run(), "sends still outstanding")
  local secs, cpu = clock() - t0, os.clock() - c0
  assert(delivered == N and failed == 0, ("%d delivered, %d failed, of %d"):format(delivered, failed, N))
  local a = c:audit()
  assert(#a.lost == 0 and #a.duplicated == 0, "the healthy run lost or duplicated records")
  return N / secs, N / cpu
end

local function compression()
  local c = insync.cluster{ brokers = 3, seed = 1 }   -- Kafka's default timeouts
  c:create_topic("bench", { partitions = 3, replication_factor = 3,
                            config = { ["min.insync.replicas"] = 2 } })
  local p = c:producer{ acks = "all" }
  local done = 0
  local cb = function() done = done + 1 end
  local t0 = clock()
  local sent = 0
  local function tick(ms)   -- one send per virtual 250 ms while time runs
    for _ = 1, ms / 250 do
      sent = sent + 1
      p:send({ topic = "bench", key = "k" .. sent, value = VALUE }, cb)
      c:run_for(250)
    end
  end
  tick(5000)
  local leader = c:partition("bench", 0).leader
  c:crash(leader)
  tick(60000)                -- fenced at 9 s, elected, ISRs shrink
  c:restart(leader)
  tick(60000)                -- back, caught up, in the ISR again
  assert(c:run())
  local virtual, real = c:now(), (clock() - t0) * 1000
  assert(done == sent, "a send had no callback")
  assert(#c:partition("bench", 0).isr == 3, "the ISR did not recover")
  return virtual / real, virtual, real
end

local function memory(n)
  local c = cluster()
  local p = c:producer{ acks = "all", ["queue.buffering.max.messages"] = 1000000 }
  local msg = { topic = "bench", value = VALUE }
  local send = p.send
  local left = n
  while left > 0 do
    local k = left < 1000000 and left or 1000000
    for _ = 1, k do send(p, msg) end
    assert(c:run(), "sends still outstanding")
    left = left - k
  end
  local a = c:audit()
  assert(a.acked == n, "not every record was acknowledged")
  return c:memory() / (n * 3)
end

local best_rate, best_base, best_x, vms, rms = 0, 0, 0, 0, 0
local best_rate_cpu, best_base_cpu = 0, 0
for _ = 1, ROUNDS do
  local r, rc = throughput()
  if r > best_rate then best_rate = r end
  if rc > best_rate_cpu then best_rate_cpu = rc end
  local b, bc = baseline()
  if b > best_base then best_base = b end
  if bc > best_base_cpu then best_base_cpu = bc end
  local x, v, rr = compression()
  if x > best_x then best_x, vms, rms = x, v, rr end
end
collectgarbage()
local m1 = memory(N)
collectgarbage()
local m10 = memory(10 * N)

print(("model: %d sends x 100 bytes, acks=all, 3 brokers, 3 partitions, RF 3, one Lua callback each, best of %d")
  :format(N, ROUNDS))
print(("model_sends_per_sec      %.0f"):format(best_rate))
print(("baseline_msgs_per_sec    %.0f   (librdkafka to its mock cluster, from C)"):format(best_base))
print(("ratio                    %.2f   (target >= 1.0)"):format(best_rate / best_base))
print(("per CPU second: model %.0f, baseline %.0f (all its threads), ratio %.2f")
  :format(best_rate_cpu, best_base_cpu, best_rate_cpu / best_base_cpu))
print(("time_compression         %.0f x (%.0f virtual s in %.1f real ms; target >= 10000)")
  :format(best_x, vms / 1000, rms))
print(("bytes_per_record_replica %.1f at %d records, %.1f at %d records (target <= 64, linear)")
  :format(m1, N, m10, 10 * N))
