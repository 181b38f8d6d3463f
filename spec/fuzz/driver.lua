--- The fuzzer's driver: one batch of seeded calls in this process.
--     lua spec/fuzz/driver.lua SEED COUNT
-- Calls every public function and method of insync (the module, model
-- clusters and their producers, real producers on an embedded mock
-- cluster, the mock, reports, error objects) COUNT times in all, with
-- arguments of many kinds: nil, booleans, +-inf, nan, huge and negative
-- and fractional numbers, huge strings, tables whose metatables raise,
-- userdata of the wrong type, callbacks that call back into insync, and
-- objects whose __gc finalizers change msg tables and close clusters while
-- a call runs.  An error raised must name the function (or a function its
-- callbacks called) and stay short; anything else ends the batch with exit
-- status 1 and the call that made it.  A crash, a sanitizer report or a
-- hang is seen by spec/fuzz/run, which starts this under a watchdog.
local insync = require "insync"

local seed, count = tonumber(arg[1]) or 1, tonumber(arg[2]) or 100
math.randomseed(seed)
local random = math.random

local MAX_LINE = 300   -- the first line of a message, at most
local RAISE = "FUZZ-RAISE" -- what the fuzzer's own code raises: never unclear

local function pick(list) return list[random(#list)] end

-- Objects alive in this batch, replaced now and then.
local pool = { clusters = {}, mproducers = {}, producers = {}, reports = {}, errors = {} }
local mock = insync.mock{ brokers = 3 }
mock:create_topic("t", 2, 3)
mock:create_topic("u", 1, 1)
local bootstrap = mock:bootstrap_servers()

local function raiser(event)
  return function() error(RAISE .. " " .. event, 0) end
end
local RAISING = {}
for _, ev in ipairs({ "__index", "__newindex", "__tostring", "__eq", "__len", "__pairs", "__call", "__lt",
                      "__concat" }) do
  RAISING[#RAISING + 1] = setmetatable({}, { [ev] = raiser(ev), __name = "fuzz" })
end

local BIG = ("x"):rep(1024 * 1024)
local NUMBERS = { 0, 1, -1, 2, 3, 7, 63, 64, 65, 255, 256, 1000, 65535, 2 ^ 31 - 1, 2 ^ 31, 2 ^ 32, 2 ^ 53,
                  -2 ^ 63, 2 ^ 63, 1 / 0, -1 / 0, 0 / 0, 0.5, -0.5, 1e300, -1e300,
                  math.maxinteger or 2 ^ 53, math.mininteger or -2 ^ 53 }
local STRINGS = { "", "t", "u", "x", "all", "1", "-1", "Produce", "NOT_ENOUGH_REPLICAS", "_MSG_TIMED_OUT",
                  "controller", "lose_unflushed", "acks", "linger.ms", "message.timeout.ms", ".", "..",
                  "a b", "\0", ("y"):rep(250), BIG, "not_persisted", "persisted" }

local value -- forward: a value of any kind

-- A value usable as a table key (not nil, not nan), else `default`.
local function key(default)
  local k = value()
  if k == nil or k ~= k then return default end
  return k
end


-- A finalizable object (a table on Lua 5.4, a newproxy on LuaJIT) whose
-- finalizer runs fin.
local function finalizable(fin)
  if newproxy then
    local u = newproxy(true)
    getmetatable(u).__gc = fin
    return u
  end
  return setmetatable({}, { __gc = fin })
end

-- A msg for send, usually nearly right.
local function msg()
  local m = { topic = pick({ "t", "t", "u", "nope", value() }) }
  if random(2) == 1 then m.value = random(3) == 1 and value() or "v" .. random(100) end
  if random(3) == 1 then m.key = random(3) == 1 and value() or "k" end
  if random(5) == 1 then m.partition = random(3) == 1 and value() or random(0, 2) end
  if random(8) == 1 then m.timestamp = value() end
  if random(6) == 1 then m.headers = random(2) == 1 and value() or { h = "v", { "n", value() } } end
  if random(6) == 1 then m.opaque = value() end
  if random(10) == 1 then m[key("other")] = value() end
  return m
end

local depth = 0
local call -- forward: one random call

-- A callback: counts, sometimes raises, sometimes calls back into insync.
local function callback()
  local r = random(10)
  if r == 1 then return raiser("callback") end
  return function(report, err)
    if report ~= nil then pool.reports[#pool.reports % 16 + 1] = report end
    if err ~= nil then pool.errors[#pool.errors % 16 + 1] = err end
    if r == 2 and depth < 2 then
      depth = depth + 1
      pcall(call)   -- its own errors are checked where it is called
      depth = depth - 1
    elseif r == 3 then
      -- close a cluster: perhaps the one whose run called this
      local c = pick(pool.clusters)
      if c then pcall(getmetatable(c).__gc, c) end
    end
  end
end

local function userdata()
  local u = { io.stdout, mock, pick(pool.clusters), pick(pool.producers), pick(pool.reports),
              pick(pool.mproducers), newproxy and newproxy(false) or nil }
  return u[random(#u)]
end

function value()
  local k = random(12)
  if k == 1 then return nil
  elseif k == 2 then return random(2) == 1
  elseif k <= 4 then return pick(NUMBERS)
  elseif k <= 6 then return pick(STRINGS)
  elseif k == 7 then return pick(RAISING)
  elseif k == 8 then return userdata()
  elseif k == 9 then return callback()
  elseif k == 10 then return msg()
  elseif k == 11 then return {}
  end
  return random(-5, 300)
end

-- A time argument of a call that blocks for it: never long (a call told
-- to wait a day waits a day: not a hang), any other kind of value.
local function short_time()
  return pick({ nil, 0, 1, 5, 20, 0.5, 0 / 0, "x", {}, true, pick(RAISING) })
end

-- Finalizers that, when the collector runs them, change msg tables or
-- close objects: made before a call, they run inside whatever allocates.
local live_msgs = {}
local function plant_finalizers()
  for _ = 1, random(0, 3) do
    local what = random(4)
    finalizable(function()
      if not pool then return end   -- the batch is over
      if what == 1 then
        local m = pick(live_msgs)
        if m then m.topic = pick({ "u", "t", "nope", nil }); m.value = nil end
      elseif what == 2 then
        local c = pick(pool.clusters)
        if c and random(4) == 1 then pcall(getmetatable(c).__gc, c) end
      elseif what == 3 then
        local p = pick(pool.producers)
        if p and random(4) == 1 then pcall(p.close, p, 0) end
      else
        collectgarbage("step")
      end
    end)
  end
end

local check_error -- forward: ends the batch on an unclear message

local function new_cluster()
  local ok, c = pcall(insync.cluster, { brokers = random(1, 3), trace = random(2) == 1,
                                        seed = random(1, 1000) })
  if not ok then return nil end
  pcall(c.create_topic, c, "t", { partitions = random(1, 3), replication_factor = 1 })
  pcall(c.create_topic, c, "u")
  pool.clusters[#pool.clusters % 4 + 1] = c
  local okp, p = pcall(c.producer, c, { ["linger.ms"] = random(0, 5), ["message.timeout.ms"] = 5000 })
  if okp then
    pool.mproducers[#pool.mproducers % 4 + 1] = p
    -- reports and error objects for the report and error targets
    local keep = function(r, e)
      pool.reports[#pool.reports % 16 + 1] = r
      if e then pool.errors[#pool.errors % 16 + 1] = e end
    end
    pcall(p.send, p, { topic = "t", value = "w" }, callback())   -- may close c, or raise
    pcall(p.send, p, { topic = "t", key = "k", value = "v", opaque = {} }, keep)
    pcall(p.send, p, { topic = "nope" }, keep)
    local okr, err = pcall(c.run, c, 60000)
    if not okr then check_error("run", err) end
  end
  return c
end

local function new_producer()
  local ok, p = pcall(insync.producer, { ["bootstrap.servers"] = bootstrap, ["message.timeout.ms"] = 2000,
                                         ["linger.ms"] = 1, log_level = 0 })
  if ok then
    local old = pool.producers[#pool.producers % 3 + 1]
    if old then pcall(old.close, old, 0) end
    pool.producers[#pool.producers % 3 + 1] = p
  end
end

-- The targets: name (as messages must show it), object (or nil: a module
-- function), the function, and how many arguments.
local function method_of(obj, name) return obj and function(...) return obj[name](obj, ...) end end

local targets = {}
local function add(name, kind, fn_of, nargs, gen)
  targets[#targets + 1] = { name = name, kind = kind, fn_of = fn_of, nargs = nargs, gen = gen }
end

-- module functions
add("cluster", "module", function() return insync.cluster end, 1,
  function() return random(2) == 1 and { brokers = value(), latency_ms = value(), seed = value(),
    config = random(2) == 1 and { [pick({ "min.insync.replicas", "broker.heartbeat.interval.ms",
      "replica.lag.time.max.ms", "num.partitions", key("x") })] = value() } or value(),
    trace = value(), [random(4) == 1 and key("seed") or "seed"] = value() } or value() end)
add("producer", "module", function() return insync.producer end, 1,
  function() return random(2) == 1 and { ["bootstrap.servers"] = bootstrap, log_level = 0,
    ["message.timeout.ms"] = 2000, [key("acks")] = value() } or value() end)
add("mock", "module", function() return insync.mock end, 1,
  function() return random(2) == 1 and { brokers = pick({ nil, 1, 2, 0, -1, 65, 300, 1 / 0, 0 / 0, "3", {} }) }
    or value() end)
add("error", "module", function() return insync.error end, 4)
add("is_error", "module", function() return insync.is_error end, 1)
add("error_names", "module", function() return insync.error_names end, 0)
add("insync.errors", "module", function() return function(k) return insync.errors[k] end end, 1)
add("api_key", "module", function() return insync.api_key end, 1)
add("monotonic", "module", function() return insync.monotonic end, 0)
add("thread_cpu", "module", function() return insync.thread_cpu end, 0)

-- cluster methods
local CLUSTER_METHODS = { "now", "outstanding", "create_topic", "producer", "crash", "restart", "shutdown",
  "pause", "resume", "cut", "drop", "lossy", "isolate", "heal", "partition", "audit", "log", "broker", "check",
  "memory", "trace", "trace_json", "_create_topic", "_producer", "_disk", "crash_controller",
  "restart_controller", "quorum" }
for _, name in ipairs(CLUSTER_METHODS) do
  add(name, "cluster", function() return method_of(pick(pool.clusters), name) end, 7)
end
add("run_for", "cluster", function() return method_of(pick(pool.clusters), "run_for") end, 1,
  function() return pick({ 0, 10, 100, 1000, 5000, -1, 0 / 0, -1 / 0, "x", {}, nil, 0.5 }) end)
add("run", "cluster", function() return method_of(pick(pool.clusters), "run") end, 1,
  function() return pick({ nil, 0, 10, 1000, 60000, -1, 0 / 0, -1 / 0, "x", {}, 0.5 }) end)
add("__gc", "cluster", function() local c = pick(pool.clusters); return c and getmetatable(c).__gc end, 0)
add("close", "cluster", function() return method_of(pick(pool.clusters), "close") end, 0)
add("__tostring", "cluster", function()
  local c = pick(pool.clusters); return c and getmetatable(c).__tostring end, 0)
-- a model producer
add("send", "mproducer", function() return method_of(pick(pool.mproducers), "send") end, 2,
  function() return msg(), random(3) > 1 and callback() or value() end)
add("cluster", "mproducer", function() return method_of(pick(pool.mproducers), "cluster") end, 0)
-- a real producer
for _, name in ipairs({ "outstanding", "counts", "name", "test_fatal_error" }) do
  add(name, "producer", function() return method_of(pick(pool.producers), name) end, 3)
end
add("send", "producer", function() return method_of(pick(pool.producers), "send") end, 2,
  function() return msg(), random(3) > 1 and callback() or value() end)
for _, name in ipairs({ "poll", "flush", "close" }) do
  add(name, "producer", function() return method_of(pick(pool.producers), name) end, 1,
    function() return short_time() end)
end
-- the mock
for _, name in ipairs({ "bootstrap_servers", "brokers", "create_topic", "broker_down", "broker_up",
    "set_leader", "set_follower", "set_follower_watermarks", "push_errors", "push_broker_errors",
    "clear_errors", "broker_errors_left" }) do
  add(name, "mock", function() return method_of(mock, name) end, 5)
end
add("broker_rtt", "mock", function() return method_of(mock, "broker_rtt") end, 2,
  function() return pick({ -1, 1, 2, 3, 4, 0 / 0, "x" }), pick({ 0, 1, 5, -1, 1 / 0, 0 / 0, "x", 2 ^ 31 }) end)
-- reports and errors
add("totable", "report", function() return method_of(pick(pool.reports), "totable") end, 1)
add("__index", "report", function() local r = pick(pool.reports); return r and function(k) return r[k] end end, 1)
add("__newindex", "report", function()
  local r = pick(pool.reports); return r and function(k, v) r[k] = v end end, 2)
add("__tostring", "report", function()
  local r = pick(pool.reports); return r and function() return tostring(r) end end, 0)
add("__tostring", "error", function()
  local e = pick(pool.errors); return e and function() return tostring(e) end end, 0)

-- Every name a message may start with (a callback may call another).
local NAMES = {}
for _, t in ipairs(targets) do NAMES[t.name] = true end
for _, n in ipairs({ "partition", "topic", "send", "create_topic", "producer", "trace", "log", "report",
                    "latency", "diagram", "timeline_svg", "_explore" }) do
  NAMES[n] = true
end

-- Is err a clear message?  nil, or why not.
local UNCLEAR = { "bad argument #", "to '%?'", "'format'", "no integer representation", "attempt to index",
                  "attempt to call", "attempt to compare", "attempt to perform", "attempt to concatenate",
                  "index is nil", "index is NaN" }
local function unclear(err)
  if type(err) ~= "string" then return "not a string: " .. type(err) end
  if err:find(RAISE, 1, true) then return nil end
  if err:find("not enough memory", 1, true) then return nil end
  local first = err:match("^[^\n]*")
  if #first > MAX_LINE then return ("first line of %d bytes"):format(#first) end
  for _, pat in ipairs(UNCLEAR) do
    if first:find(pat) then return "unclear: " .. pat end
  end
  local named = false
  for name in first:gmatch("([%w_.]+):") do
    if NAMES[name] then named = true; break end
  end
  if not named then return "names no function" end
  return nil
end

local function describe_args(args, n)
  local parts = {}
  for i = 1, n do
    local v = args[i]
    local s = type(v) == "string" and ("%q"):format(v:sub(1, 40)) or type(v) == "number" and tostring(v) or type(v)
    parts[#parts + 1] = s
  end
  return table.concat(parts, ", ")
end

local iterations, raised = 0, 0

-- Ends the batch when err (raised by `what`) is unclear.
check_error = function(what, err)
  local why = unclear(err)
  if why then
    io.stderr:write(("fuzz: seed %d: %s -> %s\n  message: %s\n"):format(seed, what, why,
      tostring(err):sub(1, 400)))
    os.exit(1)
  end
end
function call()
  local t = pick(targets)
  local fn = t.fn_of()
  if not fn then return end
  local args, n
  if t.gen then
    local function pack(...) return { ... }, select("#", ...) end
    args, n = pack(t.gen())
  else
    args, n = {}, random(0, t.nargs)
    for i = 1, n do args[i] = value() end
  end
  n = math.max(n, t.gen and 0 or t.nargs)
  for i = 1, n do
    if type(args[i]) == "table" and rawget(args[i], "topic") ~= nil then
      live_msgs[#live_msgs % 8 + 1] = args[i]
    end
  end
  plant_finalizers()
  local ok, err = pcall(fn, (table.unpack or unpack)(args, 1, n))
  iterations = iterations + 1
  if not ok then
    raised = raised + 1
    local why = unclear(err)
    if why then
      io.stderr:write(("fuzz: seed %d: %s(%s) -> %s\n  message: %s\n"):format(seed,
        t.kind .. ":" .. t.name, describe_args(args, n), why, tostring(err):sub(1, 400)))
      os.exit(1)
    end
  end
end

-- wrong self: a method of each kind called on values of the wrong type
local function wrong_self()
  local obj = pick({ pool.clusters[1], pool.producers[1], mock, pool.mproducers[1], pool.reports[1] })
  if not obj then return end
  local mt = getmetatable(obj)
  local idx = mt and mt.__index
  if type(idx) ~= "table" then return end
  local names = {}
  for k in pairs(idx) do names[#names + 1] = k end
  table.sort(names)
  local name = pick(names)
  local ok, err = pcall(idx[name], value(), value())
  iterations = iterations + 1
  if not ok then
    local why = unclear(err)
    if why then
      io.stderr:write(("fuzz: seed %d: %s with a wrong self -> %s\n  message: %s\n")
        :format(seed, name, why, tostring(err):sub(1, 400)))
      os.exit(1)
    end
  end
end

new_cluster(); new_cluster(); new_producer()
local eager = false
for i = 1, count do
  if i % 50 == 0 then new_cluster() end
  if i % 100 == 0 then new_producer() end
  if random(40) == 1 then
    eager = not eager   -- the collector at every allocation, or as usual
    if _VERSION == "Lua 5.4" then
      if eager then collectgarbage("incremental", 1, 1000, 40) else collectgarbage("incremental", 200, 100, 13) end
    else
      collectgarbage("setpause", eager and 0 or 200)
    end
  end
  if random(10) == 1 then wrong_self() else call() end
end
if _VERSION == "Lua 5.4" then collectgarbage("incremental", 200, 100, 13) end
for _, p in ipairs(pool.producers) do pcall(p.close, p, 0) end
pool = nil
live_msgs = nil
collectgarbage()
mock:close()
print(("fuzz: seed %d: %d calls (%d raised), no unclear message"):format(seed, iterations, raised))
