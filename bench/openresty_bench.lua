--- Requests per second of a trivial nginx handler that sends one record per
-- request through insync.openresty, against the same handler without the
-- send: same nginx (2 workers), same run, alternating rounds of wrk.  The
-- cluster is librdkafka's mock cluster in a process of its own.  Once with
-- librdkafka's default linger.ms (5), once with 100.  Target: at least 0.9x.
--     lua5.4 bench/openresty_bench.lua [SECONDS_PER_ROUND [ROUNDS]]
local top = debug.getinfo(1, "S").source:gsub("^@", ""):match("^(.*)/bench/[^/]*$") or "."
package.path = top .. "/spec/?.lua;" .. package.path
local nginx = require "openresty.nginx"

local secs = tonumber(arg[1] or "5")
local rounds = tonumber(arg[2] or "3")

local ok, why = nginx.available()
if not ok then
  io.stderr:write("openresty_bench: ", why, "\n")
  os.exit(1)
end

local cluster = nginx.mock_cluster("bench-cluster", { "bench" })
local srv
local function cleanup()
  if srv then srv:stop(10) end
  cluster.stop()
end

-- CPU seconds (user + system, every thread: librdkafka's included) the
-- nginx workers have used so far.
local function worker_cpu()
  local total = 0
  for _, pid in ipairs(srv:workers()) do
    local f = io.open("/proc/" .. pid .. "/stat")
    if f then
      local fields = {}
      for x in f:read("a"):match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = x end
      f:close()
      total = total + (tonumber(fields[12]) + tonumber(fields[13])) / 100
    end
  end
  return total
end

-- One round of wrk on `path`: requests/s and worker CPU microseconds per request.
local function wrk(path)
  local out = srv.prefix .. "/logs/wrk.out"
  local cpu0 = worker_cpu()
  assert(os.execute(("wrk -t2 -c8 -d%ds %s > %s 2>&1"):format(secs, srv:url(path), out)))
  local cpu = worker_cpu() - cpu0
  local f = assert(io.open(out))
  local text = f:read("a")
  f:close()
  local rate = tonumber(text:match("Requests/sec:%s*([%d%.]+)"))
  local n = tonumber(text:match("(%d+) requests in"))
  local non2xx = tonumber(text:match("Non%-2xx or 3xx responses: (%d+)") or "0")
  if not rate or not n or non2xx > 0 then error("wrk " .. path .. ":\n" .. text) end
  return rate, cpu / n * 1e6
end

-- One nginx with the producer's linger.ms set to `linger`; returns nothing,
-- prints both rates and the ratio.
local function measure(linger)
  srv = nginx.start{
    name = "bench",
    workers = 2,
    log_level = "notice",
    http = ([[
  init_worker_by_lua_block {
    require("insync.openresty").init{ config = { ["bootstrap.servers"] = %q, ["linger.ms"] = %d } }
  }
  exit_worker_by_lua_block { require("insync.openresty").exit() }
]]):format(cluster.bootstrap, linger),
    server = [[
    location = /nosend { content_by_lua_block { ngx.say("ok") } }
    location = /send { content_by_lua_block {
      local id, err = require("insync.openresty").send({ topic = "bench", value = "ok" })
      if not id then return ngx.exit(503) end
      ngx.say("ok")
    } }
]],
  }
  wrk("/send") -- warm up: JIT, connections to the cluster
  local best, cpu = { nosend = 0, send = 0 }, { nosend = math.huge, send = math.huge }
  for _ = 1, rounds do
    for _, path in ipairs({ "nosend", "send" }) do
      local rate, us = wrk("/" .. path)
      best[path] = math.max(best[path], rate)
      cpu[path] = math.min(cpu[path], us)
    end
  end
  assert(srv:stop(), "nginx did not stop gracefully")
  local exited = srv:log_lines("insync%.openresty: worker %d+ exiting")
  local sent, delivered = 0, 0
  for _, line in ipairs(exited) do
    sent = sent + tonumber(line:match("sent (%d+)"))
    delivered = delivered + tonumber(line:match("delivered (%d+)"))
  end
  srv = nil
  print(("nginx, 2 workers, trivial handler, linger.ms = %d, %d rounds of %d s, best of each:"):format(linger,
    rounds, secs))
  print(("  with one send per request: %10.0f requests/s, %5.1f us of worker CPU per request"
    .. " (%d records sent, %d delivered)"):format(best.send, cpu.send, sent, delivered))
  print(("  without a send (baseline): %10.0f requests/s, %5.1f us of worker CPU per request"):format(best.nosend,
    cpu.nosend))
  print(("  ratio: %.2fx requests/s (target >= 0.9x); CPU per request %.2fx"):format(best.send / best.nosend,
    cpu.send / cpu.nosend))
  if delivered ~= sent then error(("%d records sent, %d delivered"):format(sent, delivered)) end
end

-- librdkafka's default linger (5 ms), then 100 ms: fewer, larger batches
-- cost librdkafka's threads less CPU per record, and a request never waits
-- for its record's batch anyway.
local ran, err = pcall(function()
  measure(5)
  measure(100)
end)
cleanup()
if not ran then
  io.stderr:write("openresty_bench: ", tostring(err), "\n")
  os.exit(1)
end
