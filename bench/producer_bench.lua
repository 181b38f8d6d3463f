-- bench/producer_bench.lua: insync.producer against librdkafka used from C.
--
-- N sends (default 1,000,000; `make bench` passes none, or run
-- `lua5.4 bench/producer_bench.lua N`) of 100-byte values with acks=all to a
-- 3-broker librdkafka mock cluster, topic of 3 partitions with replication
-- factor 3, one Lua callback per send; against build/bench/rdkafka_mock_baseline
-- doing the same from C (dr_msg_cb), measured in the same run.  Prints both
-- rates and their ratio, the rate without callbacks, and CPU time per message
-- of the sending thread (librdkafka's own threads left out) for both, whose
-- difference is what the Lua layer costs.  Exits non-zero if a send is lost
-- or failed.
local insync = require "insync"

local N = tonumber(arg and arg[1]) or tonumber(os.getenv("INSYNC_BENCH_N")) or 1000000
local BIN = os.getenv("INSYNC_BENCH_BIN") or "build/bench"
local PARTITIONS, VALUE = 3, ("x"):rep(100)

local function baseline()
  local f = assert(io.popen(("%s/rdkafka_mock_baseline %d %d 100"):format(BIN, N, PARTITIONS)))
  local out = f:read("*a")
  local ok = f:close()
  local rate = tonumber(out:match("msgs_per_sec=(%d+)"))
  local cpu = tonumber(out:match("main_thread_cpu_seconds=([%d.]+)"))
  assert(ok and rate and cpu, "baseline failed:\n" .. out)
  return rate, cpu
end

-- Sends N records; returns msgs/s and process CPU seconds, both measured from
-- the first send to the last callback, as the baseline does.
local function run(with_callbacks)
  local m = insync.mock{ brokers = 3 }
  m:create_topic("bench", PARTITIONS, 3)
  local p = insync.producer{ ["bootstrap.servers"] = m:bootstrap_servers(), acks = "all" }
  local delivered, failed = 0, 0
  local cb = nil
  if with_callbacks then
    cb = function(_, err)
      if err then failed = failed + 1 else delivered = delivered + 1 end
    end
  end
  local msg = { topic = "bench", value = VALUE }
  local send, poll = p.send, p.poll
  local t0, c0 = insync.monotonic(), insync.thread_cpu()
  for i = 1, N do
    while not send(p, msg, cb) do poll(p, 1) end
    if i % 1024 == 0 then poll(p, 0) end
  end
  assert(p:flush(60000) == 0, "records still outstanding after 60 s")
  local secs, cpu = insync.monotonic() - t0, insync.thread_cpu() - c0
  p:close()
  m:close()
  if with_callbacks then
    assert(delivered == N and failed == 0,
      ("%d delivered, %d failed, of %d"):format(delivered, failed, N))
  end
  return N / secs, cpu
end

-- The machine may be shared: each measurement is taken ROUNDS times,
-- interleaved, and the best (highest rate, lowest CPU) of each is kept.
local ROUNDS = tonumber(os.getenv("INSYNC_BENCH_ROUNDS")) or 3
local c_rate, c_cpu, rate, cpu, bare_rate, bare_cpu = 0, math.huge, 0, math.huge, 0, math.huge
for _ = 1, ROUNDS do
  local r, c = baseline()
  c_rate, c_cpu = math.max(c_rate, r), math.min(c_cpu, c)
  r, c = run(true)
  rate, cpu = math.max(rate, r), math.min(cpu, c)
  r, c = run(false)
  bare_rate, bare_cpu = math.max(bare_rate, r), math.min(bare_cpu, c)
end
print(("messages               %d x 100 bytes, acks=all, 3 brokers, %d partitions, RF 3, best of %d"):format(N, PARTITIONS, ROUNDS))
print("                            rate        sending thread's CPU per message")
print(("C (librdkafka)         %10.0f msgs/s   %6.3f us"):format(c_rate, c_cpu / N * 1e6))
print(("insync, Lua callbacks  %10.0f msgs/s   %6.3f us"):format(rate, cpu / N * 1e6))
print(("insync, no callbacks   %10.0f msgs/s   %6.3f us"):format(bare_rate, bare_cpu / N * 1e6))
print(("Lua layer CPU/msg      %10.3f us (insync with callbacks minus C)"):format((cpu - c_cpu) / N * 1e6))
print(("ratio insync/C         %10.2f"):format(rate / c_rate))
