-- bench/consumer_bench.lua: insync.consumer against librdkafka's consumer
-- used from C, on the same records; and what a tracking producer keeps per
-- send.
--
-- Consumer: N records (default 200,000; `lua5.4 bench/consumer_bench.lua
-- N`) of 100-byte values with a key and one header, written once to a
-- 3-broker librdkafka mock cluster (topic of 12 partitions, round robin:
-- the mock keeps only the last 5 MB of each partition), then read from
-- the beginning by build/bench/rdkafka_consumer_baseline (C,
-- rd_kafka_consumer_poll) and by insync.consumer (poll(100, 1000), each
-- record a Lua table), in alternating rounds (INSYNC_BENCH_ROUNDS, default
-- 5).  Prints the median rate and the median CPU per record of the reading
-- thread (librdkafka's threads left out) for both, and the ratio.
--
-- Tracking: INSYNC_BENCH_TRACK_N sends (default 10,000,000) with 8-byte
-- keys by a producer made with track = true, to the same mock cluster;
-- prints the bytes its tracking holds per send (p:counts().track_bytes / n),
-- the key bytes included.  Exits non-zero if a record is missing.
local insync = require "insync"

local N = tonumber(arg and arg[1]) or tonumber(os.getenv("INSYNC_BENCH_N")) or 200000
local TRACK_N = tonumber(os.getenv("INSYNC_BENCH_TRACK_N")) or 10000000
local ROUNDS = tonumber(os.getenv("INSYNC_BENCH_ROUNDS")) or 5
local BIN = os.getenv("INSYNC_BENCH_BIN") or "build/bench"
local PARTITIONS, VALUE = 12, ("x"):rep(100)

local median = require("stats").median

local m = insync.mock{ brokers = 3 }
m:create_topic("bench", PARTITIONS, 3)
m:create_topic("track", PARTITIONS, 3)
local bootstrap = m:bootstrap_servers()

-- the records both consumers read
do
  local p = insync.producer{ ["bootstrap.servers"] = bootstrap, acks = "1", ["linger.ms"] = 5 }
  local msg = { topic = "bench", key = "key-0001", value = VALUE, headers = { { "h", "1" } } }
  for i = 1, N do
    msg.partition = i % PARTITIONS
    while not p:send(msg) do p:poll(1) end
    if i % 4096 == 0 then p:poll(0) end
  end
  assert(p:flush(120000) == 0, "records still outstanding after 120 s")
  assert(p:counts().failed == 0, "some records were not written")
  p:close()
end

local function baseline()
  local f = assert(io.popen(("%s/rdkafka_consumer_baseline %s bench %d %d")
    :format(BIN, bootstrap, PARTITIONS, N)))
  local out = f:read("*a")
  local ok = f:close()
  local rate = tonumber(out:match("msgs_per_sec=(%d+)"))
  local cpu = tonumber(out:match("main_thread_cpu_seconds=([%d.]+)"))
  assert(ok and rate and cpu, "baseline failed:\n" .. out)
  return rate, cpu
end

local function lua_consumer()
  local c = insync.consumer{ ["bootstrap.servers"] = bootstrap }
  local list = {}
  for p = 0, PARTITIONS - 1 do list[#list + 1] = { topic = "bench", partition = p } end
  local t0, c0 = insync.monotonic(), insync.thread_cpu()
  assert(c:assign(list))
  local got, bytes = 0, 0
  while got < N and insync.monotonic() - t0 < 300 do
    local recs, errs = c:poll(100, 1000)
    assert(not errs, errs and tostring(errs[1]))
    for i = 1, #recs do
      local r = recs[i]
      bytes = bytes + #r.value + #r.key + #r.headers
    end
    got = got + #recs
  end
  local secs, cpu = insync.monotonic() - t0, insync.thread_cpu() - c0
  c:close()
  assert(got == N, ("read %d of %d records"):format(got, N))
  return N / secs, cpu
end

local c_rates, c_cpus, rates, cpus = {}, {}, {}, {}
for i = 1, ROUNDS do
  c_rates[i], c_cpus[i] = baseline()
  rates[i], cpus[i] = lua_consumer()
end
local c_rate, c_cpu, rate, cpu = median(c_rates), median(c_cpus), median(rates), median(cpus)
print(("records                %d x 100 bytes + 8-byte key + 1 header, 3 brokers, %d partitions")
  :format(N, PARTITIONS))
print(("                       median of %d alternating rounds"):format(ROUNDS))
print("                            rate        reading thread's CPU per record")
print(("C (librdkafka)         %10.0f recs/s   %6.3f us"):format(c_rate, c_cpu / N * 1e6))
print(("insync.consumer        %10.0f recs/s   %6.3f us"):format(rate, cpu / N * 1e6))
print(("Lua layer CPU/record   %10.3f us (insync minus C)"):format((cpu - c_cpu) / N * 1e6))
print(("ratio insync/C         %10.2f"):format(rate / c_rate))

-- what track = true keeps per send
do
  local p = insync.producer{ ["bootstrap.servers"] = bootstrap, acks = "1", ["linger.ms"] = 5, track = true }
  local keys = {}
  for i = 0, 9 do keys[i] = ("key-%04d"):format(i) end
  local msg = { topic = "track", value = "" }
  for i = 1, TRACK_N do
    msg.key = keys[i % 10]
    while not p:send(msg) do p:poll(1) end
    if i % 4096 == 0 then p:poll(0) end
  end
  assert(p:flush(300000) == 0, "tracked records still outstanding after 300 s")
  local c = p:counts()
  assert(c.tracked == TRACK_N and c.failed == 0)
  print(("track = true           %d sends, 8-byte keys: %d bytes held, %.1f bytes per send")
    :format(TRACK_N, c.track_bytes, c.track_bytes / TRACK_N))
  print("                       (32 per send + its key + the unfilled part of the last chunks)")
  p:close()
end
m:close()
