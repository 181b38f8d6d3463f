-- bench/producer_bench.lua: insync.producer against librdkafka used from C
-- and against confluent-kafka-python, in the same run.
--
-- N sends (default 1,000,000; `make bench` passes none, or run
-- `lua5.4 bench/producer_bench.lua N`) of 100-byte values with acks=all to a
-- 3-broker librdkafka mock cluster (started here, fresh for each
-- measurement), topic of 3 partitions with replication factor 3, one
-- callback per send and poll(0) after each send, by each peer in a process
-- of its own:
--   C             build/bench/rdkafka_mock_baseline (dr_msg_cb)
--   Lua 5.4       insync on Lua 5.4 (the Lua C API binding)
--   LuaJIT        insync on LuaJIT: the FFI path (lua/insync/ffi.lua)
--   LuaJIT classic  the same with INSYNC_FFI=off (the Lua C API binding)
--   Python        confluent-kafka-python with on_delivery (build/pybench,
--                 .ci/pybench: built against the same librdkafka)
-- ROUNDS rounds (INSYNC_BENCH_ROUNDS, default 5), the peers alternating in
-- each; medians.  Prints each peer's rate and its sending thread's CPU per
-- message (librdkafka's own threads left out: what the binding costs), and
-- the ratios to C and to Python by both.  Exits non-zero if a send is lost
-- or failed.
--     lua5.4 bench/producer_bench.lua --peer N BOOTSTRAP   (one Lua peer)

local PARTITIONS, VALUE = 3, ("x"):rep(100)

if arg[1] == "--peer" then
  -- One Lua peer: the loop of the C baseline, in Lua.
  local insync = require "insync"
  local N, bootstrap = tonumber(arg[2]), arg[3]
  local p = insync.producer{ ["bootstrap.servers"] = bootstrap, acks = "all" }
  local delivered, failed = 0, 0
  local cb = function(_, err)
    if err then failed = failed + 1 else delivered = delivered + 1 end
  end
  local msg = { topic = "bench", value = VALUE }
  local send, poll = p.send, p.poll
  local t0, c0 = insync.monotonic(), insync.thread_cpu()
  for _ = 1, N do
    while not send(p, msg, cb) do poll(p, 1) end
    poll(p, 0)
  end
  local left = p:flush(60000)
  local secs, cpu = insync.monotonic() - t0, insync.thread_cpu() - c0
  -- poll(0) with nothing to hand out, on the idle producer
  local K = tonumber(os.getenv("INSYNC_BENCH_POLLS")) or 1000000
  local c1 = insync.thread_cpu()
  for _ = 1, K do poll(p, 0) end
  local poll_ns = (insync.thread_cpu() - c1) / math.max(K, 1) * 1e9
  p:close()
  print(("delivered=%d\nfailed=%d\nmain_thread_cpu_seconds=%.3f\npoll0_ns=%.1f\nmsgs_per_sec=%.0f"):format(
    delivered, failed, cpu, poll_ns, N / secs))
  os.exit(left == 0 and delivered == N and failed == 0 and 0 or 1)
end

local insync = require "insync"
local N = tonumber(arg and arg[1]) or tonumber(os.getenv("INSYNC_BENCH_N")) or 1000000
local BIN = os.getenv("INSYNC_BENCH_BIN") or "build/bench"
local ROUNDS = tonumber(os.getenv("INSYNC_BENCH_ROUNDS")) or 5
local top = debug.getinfo(1, "S").source:gsub("^@", ""):match("^(.*)/bench/[^/]*$") or "."
local LUA_PATH = ("%s/lua/?.lua;%s/lua/?/init.lua;;"):format(top, top)
local PY = top .. "/build/pybench/bin/python"

local function lua_peer(env, lua, cpath)
  return ("%s LUA_PATH='%s' LUA_CPATH='%s/build/%s/?.so;;' %s %s/bench/producer_bench.lua --peer %%d %%s")
    :format(env, LUA_PATH, top, cpath, lua, top)
end

local peers = {
  { name = "C (librdkafka)", cmd = BIN .. "/rdkafka_mock_baseline %d 3 100 %s" },
  { name = "insync, Lua 5.4", cmd = lua_peer("", "lua5.4", "lua5.4") },
  { name = "insync, LuaJIT (FFI)", cmd = lua_peer("INSYNC_FFI=", "luajit", "luajit") },
  { name = "insync, LuaJIT classic", cmd = lua_peer("INSYNC_FFI=off", "luajit", "luajit") },
}
local f = io.open(PY)
if f then
  f:close()
  peers[#peers + 1] = { name = "confluent-kafka-python", cmd = PY .. " " .. top .. "/bench/confluent_peer.py %d %s" }
else
  io.stderr:write("producer_bench: no build/pybench (run .ci/pybench): confluent-kafka-python left out\n")
end

-- One measurement: a fresh mock cluster, the peer against it.
local function measure(peer)
  local m = insync.mock{ brokers = 3 }
  m:create_topic("bench", PARTITIONS, 3)
  local p = assert(io.popen(peer.cmd:format(N, m:bootstrap_servers()) .. " 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  m:close()
  local rate = tonumber(out:match("msgs_per_sec=(%d+)"))
  local cpu = tonumber(out:match("main_thread_cpu_seconds=([%d.]+)"))
  assert(ok and rate and cpu, peer.name .. " failed:\n" .. out)
  return rate, cpu / N * 1e6, tonumber(out:match("poll0_ns=([%d.]+)"))
end

local median = require("stats").median

for _, peer in ipairs(peers) do peer.rates, peer.cpus, peer.polls = {}, {}, {} end
for round = 1, ROUNDS do
  -- alternating: each round starts with the next peer
  for k = 0, #peers - 1 do
    local peer = peers[(round - 1 + k) % #peers + 1]
    local r, c, p0 = measure(peer)
    peer.rates[#peer.rates + 1], peer.cpus[#peer.cpus + 1] = r, c
    peer.polls[#peer.polls + 1] = p0
  end
end

local c, py = peers[1], peers[5]
for _, peer in ipairs(peers) do peer.rate, peer.cpu = median(peer.rates), median(peer.cpus) end
print(("messages  %d x 100 bytes, acks=all, 3 brokers, %d partitions, RF 3, a callback per send"
  .. " and poll(0) after each; median of %d alternating rounds"):format(N, PARTITIONS, ROUNDS))
print(("%-24s %12s %10s  %8s %8s  %8s %8s"):format("", "msgs/s", "CPU/msg", "rate/C", "C/CPU",
  py and "rate/Py" or "", py and "Py/CPU" or ""))
for _, peer in ipairs(peers) do
  local line = ("%-24s %12.0f %8.3f us  %8.2f %8.2f"):format(peer.name, peer.rate, peer.cpu,
    peer.rate / c.rate, c.cpu / peer.cpu)
  if py then line = line .. ("  %8.2f %8.2f"):format(peer.rate / py.rate, py.cpu / peer.cpu) end
  print(line)
end
print("(C/CPU: C's CPU per message over the peer's, the sending thread only; Py/CPU: Python's over the peer's)")
for _, peer in ipairs(peers) do
  if #peer.polls > 0 then
    print(("%-24s poll(0) with nothing ready: %.1f ns (CPU per call, median)"):format(peer.name, median(peer.polls)))
  end
end
