--- Requests per second of a trivial nginx handler that sends one record per
-- request through insync.openresty (`send`, which returns at once), of one
-- that answers only once its record is acknowledged (`send_wait`), each
-- against the same handler without a send: same nginx (2 workers), same
-- run, alternating rounds of wrk, medians.  The cluster is librdkafka's
-- mock cluster in a process of its own.  Once with librdkafka's default
-- linger.ms (5), once with 100.  Target for send: at least 0.95x.  A
-- send_wait request lasts a round trip to the cluster plus linger.ms plus
-- up to poll_interval_ms (10): with a fixed number of connections its rate
-- is bounded by that latency, which is printed beside it.
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

local median = require("stats").median

-- wrk's latency as "1.23ms" or "456.00us" or "1.20s", in ms.
local function ms(text)
  local v, unit = text:match("([%d%.]+)(%a+)")
  v = tonumber(v)
  if unit == "us" then return v / 1000 elseif unit == "s" then return v * 1000 end
  return v
end

local CONNECTIONS = 8
-- A send_wait request holds its connection for a round trip: with more
-- connections its rate grows; measured beside a baseline with as many.
local MANY = 64

-- One round of wrk on `path` with `conns` connections: requests/s, worker
-- CPU microseconds per request and the median latency in ms.
local function wrk(path, conns)
  local out = srv.prefix .. "/logs/wrk.out"
  local cpu0 = worker_cpu()
  assert(os.execute(("wrk -t2 -c%d -d%ds --latency %s > %s 2>&1"):format(conns or CONNECTIONS, secs,
    srv:url(path), out)))
  local cpu = worker_cpu() - cpu0
  local f = assert(io.open(out))
  local text = f:read("a")
  f:close()
  local rate = tonumber(text:match("Requests/sec:%s*([%d%.]+)"))
  local n = tonumber(text:match("(%d+) requests in"))
  local non2xx = tonumber(text:match("Non%-2xx or 3xx responses: (%d+)") or "0")
  local p50 = text:match("\n%s*50%%%s+(%S+)")
  if not rate or not n or non2xx > 0 or not p50 then error("wrk " .. path .. ":\n" .. text) end
  return rate, cpu / n * 1e6, ms(p50)
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
    location = /wait { content_by_lua_block {
      local report, err = require("insync.openresty").send_wait({ topic = "bench", value = "ok" }, 10000)
      if not report then return ngx.exit(503) end
      ngx.say("ok")
    } }
]],
  }
  wrk("/send") -- warm up: JIT, connections to the cluster
  wrk("/wait")
  local paths = { "nosend", "send", "wait", "nosend_many", "wait_many" }
  local rate, cpu, lat = {}, {}, {}
  for _, path in ipairs(paths) do rate[path], cpu[path], lat[path] = {}, {}, {} end
  for _ = 1, rounds do
    for _, path in ipairs(paths) do
      local url, many = path:match("^(%a+)(_?m?a?n?y?)$")
      local r, us, p50 = wrk("/" .. url, many ~= "" and MANY or nil)
      table.insert(rate[path], r)
      table.insert(cpu[path], us)
      table.insert(lat[path], p50)
    end
  end
  for _, path in ipairs(paths) do
    rate[path], cpu[path], lat[path] = median(rate[path]), median(cpu[path]), median(lat[path])
  end
  assert(srv:stop(), "nginx did not stop gracefully")
  local exited = srv:log_lines("insync%.openresty: worker %d+ exiting")
  local sent, delivered = 0, 0
  for _, line in ipairs(exited) do
    sent = sent + tonumber(line:match("sent (%d+)"))
    delivered = delivered + tonumber(line:match("delivered (%d+)"))
  end
  srv = nil
  print(("nginx, 2 workers, trivial handler, linger.ms = %d, wrk -t2 -c%d, %d alternating rounds of %d s, "
    .. "medians:"):format(linger, CONNECTIONS, rounds, secs))
  local function line(label, path)
    print(("  %-28s %9.0f requests/s, %6.1f us of worker CPU per request, p50 %6.2f ms"):format(label,
      rate[path], cpu[path], lat[path]))
  end
  line("without a send (baseline):", "nosend")
  line("with a send:", "send")
  line("with a send_wait:", "wait")
  print(("  send:      %.2fx requests/s of the baseline (target >= 0.95x); CPU per request %.2fx"):format(
    rate.send / rate.nosend, cpu.send / cpu.nosend))
  print(("  send_wait: %.2fx requests/s of the baseline; CPU per request %.2fx; each request waits "
    .. "for its acknowledgement (p50 %.2f ms)"):format(rate.wait / rate.nosend, cpu.wait / cpu.nosend, lat.wait))
  print(("  with wrk -c%d:"):format(MANY))
  line("without a send (baseline):", "nosend_many")
  line("with a send_wait:", "wait_many")
  print(("  send_wait: %.2fx requests/s of the baseline; CPU per request %.2fx"):format(
    rate.wait_many / rate.nosend_many, cpu.wait_many / cpu.nosend_many))
  print(("  (%d records sent, %d delivered)"):format(sent, delivered))
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
