--- Explore: run many random fault schedules against one configuration of
-- the model, count the runs that break the audit's invariants, shrink the
-- first counterexample to a minimal one and write it out as a standalone
-- script.  `insync.explore{...}`; see docs/explore.md.
-- @module insync.explore

local cluster = require "insync.cluster"
local proc = require("insync.core").proc

local M = {}

local floor = math.floor
local concat, sort = table.concat, table.sort
local fmt = string.format

--- A small deterministic PRNG (Park-Miller): `rng(n)` is an integer in
-- 0..n-1.  Its products stay below 2^53, so Lua 5.4 and LuaJIT draw the
-- same numbers.
-- @int seed any integer
function M.rng(seed)
  local s = seed % 2147483647
  if s == 0 then s = 1 end
  return function(n)
    s = (s * 16807) % 2147483647
    return s % n
  end
end

-- Brings every broker back, the same way in a search and in a replay
-- script: undo every cut and drop, resume the paused brokers, let the
-- controlled shutdowns under way finish (within their 5-minute limit), then
-- restart every broker that is down.  Kept as source text so that the
-- scripts result:script() writes carry the very same code.
local RECOVER_SRC = [[
local function recover(c, brokers)
  c:heal()
  for b = 1, brokers do
    local s = c:broker(b)
    if s.paused then c:resume(b); s = c:broker(b) end
    while s.shutting_down do c:run_for(100); s = c:broker(b) end
    if not s.online then c:restart(b) end
  end
end

-- Then every send's callback, and up to 30 virtual seconds more until each
-- partition is calm: led, its ISR whole, its HW at the leader's log end.
local function settle(c, topics)
  c:run(3600000)
  for _ = 1, 30 do
    local calm = true
    for _, t in ipairs(topics) do
      for part = 0, t[2] - 1 do
        local p = c:partition(t[1], part)
        if not p.leader or #p.isr ~= #p.assignment or p.hw ~= p.replicas[p.leader].leo then
          calm = false
          break
        end
      end
      if not calm then break end
    end
    if calm then return end
    c:run_for(1000)
  end
end
]]

--- Brings every broker of `c` back: heal, resume, finish the controlled
-- shutdowns under way, restart what is down.
-- @function recover
local recover_settle = assert((loadstring or load)(RECOVER_SRC .. "return recover, settle"))  -- luacheck: ignore 143
M.recover = (recover_settle())

local INVARIANTS = { "lost", "duplicated", "reordered", "unexpected", "inconsistent" }
local IS_INVARIANT = {}
for _, k in ipairs(INVARIANTS) do IS_INVARIANT[k] = true end

-- Fault kinds: what starts the fault, what ends it, and how many brokers it
-- takes out of service ("down") while it lasts.
local KINDS = {
  kill = { doc = "process kill (c:crash): the page cache survives", down = 1 },
  power_loss = { doc = "power loss (c:crash with lose_unflushed)", down = 1 },
  shutdown = { doc = "controlled shutdown (c:shutdown)", down = 1 },
  pause = { doc = "hung process (c:pause), resumed after for_ms", down = 1 },
  isolate = { doc = "the broker cut from every node, producers too", down = 1 },
  partition = { doc = "the broker cut from the other brokers and the controller; producers still reach it",
                down = 1 },
  partition_majority = { doc = "every other broker cut from this one and the controller", down = -1 },
  drop = { doc = "the broker's answers to the producer lost (c:drop): the connection breaks, the requests on it time out",
           down = 0 },
}
local KIND_ORDER = { "kill", "power_loss", "shutdown", "pause", "isolate", "partition",
                     "partition_majority", "drop" }
M.fault_kinds = KIND_ORDER

local OPTS = {
  cluster = true, topic = true, topics = true, producer = true, records = true, rate = true,
  keys = true, faults = true, max_faults = true, max_down = true, duration_ms = true,
  runs = true, seed = true, invariants = true, shrink = true, max_shrinks = true,
  jobs = true, progress = true, availability = true,
}

local function bad(name, msg)
  error(fmt("explore: %s: %s", name, msg), 4)
end

local function typename(v)
  if type(v) == "number" and v ~= floor(v) then return "a fraction" end
  return type(v)
end

local function int_opt(o, name, def, min, max)
  local v = o[name]
  if v == nil then return def end
  if type(v) ~= "number" or v ~= floor(v) then bad(name, "expected integer, got " .. typename(v)) end
  if v < min then bad(name, fmt("expected at least %d, got %d", min, v)) end
  if max and v > max then bad(name, fmt("expected at most %d, got %d", max, v)) end
  return v
end

local function copy(t)
  if type(t) ~= "table" then return t end
  local o = {}
  for k, v in pairs(t) do o[k] = copy(v) end
  return o
end

-- Checks explore's options, fills the defaults; every bad argument raises
-- here, naming it, before any run.
local function normalize(o)
  if type(o) ~= "table" then error("explore: opts: expected table, got " .. type(o), 3) end
  for k in pairs(o) do
    if not OPTS[k] then error(fmt("explore: unknown option '%s'", tostring(k)), 3) end
  end
  local s = {}
  local co = o.cluster == nil and {} or o.cluster
  if type(co) ~= "table" then bad("cluster", "expected table, got " .. type(co)) end
  if co.seed ~= nil then bad("cluster.seed", "each run draws its own: give explore's seed") end
  if co.trace ~= nil then bad("cluster.trace", "explore traces the counterexample itself") end
  s.cluster = copy(co)
  s.cluster.brokers = co.brokers or 3
  -- a cluster built once checks every cluster option with cluster.new's messages
  local ok, err = pcall(cluster.new, s.cluster)
  if not ok then bad("cluster", tostring(err):gsub("^.-cluster: ", "")) end
  local probe = err
  local nb = s.cluster.brokers

  if o.topic ~= nil and o.topics ~= nil then bad("topics", "give topic or topics, not both") end
  local topics = o.topics or { o.topic == nil and {} or o.topic }
  if type(topics) ~= "table" or #topics == 0 then bad("topics", "expected a non-empty list of topics") end
  s.topics = {}
  for i, t in ipairs(topics) do
    local where = o.topics and fmt("topics[%d]", i) or "topic"
    if type(t) ~= "table" then bad(where, "expected table, got " .. type(t)) end
    local name = t.name or (i == 1 and "explore" or ("explore" .. i))
    local topt = {}
    for k, v in pairs(t) do if k ~= "name" then topt[k] = copy(v) end end
    if topt.replication_factor == nil then topt.replication_factor = nb < 3 and nb or 3 end
    if topt.partitions == nil then
      topt.partitions = tonumber(co.config and co.config["num.partitions"]) or 1
    end
    local tok, terr = pcall(probe.create_topic, probe, name, topt)
    if not tok then bad(where, tostring(terr):gsub("^.-create_topic: ", "")) end
    s.topics[i] = { name = name, opts = topt }
    s.calm = s.calm or {}
    s.calm[i] = { name, topt.partitions }
  end

  local pc = o.producer == nil and {} or o.producer
  if type(pc) ~= "table" then bad("producer", "expected table, got " .. type(pc)) end
  local pok, perr = pcall(probe.producer, probe, pc)
  if not pok then bad("producer", tostring(perr):gsub("^.-producer: ", "")) end
  s.producer = copy(pc)
  -- checked once (librdkafka's rd_kafka_conf_set for each key, above):
  -- each run's producer reads the same table (a copy: what the caller
  -- changes later is not the search's)
  s.pconf = cluster._producer_conf(copy(pc))

  s.records = int_opt(o, "records", 100, 1, 1000000)
  if o.rate ~= nil and (type(o.rate) ~= "number" or not (o.rate > 0 and o.rate <= 1000000)) then
    bad("rate", "expected a number of records per virtual second, > 0, got " .. tostring(o.rate))
  end
  s.rate = o.rate or 2
  if o.keys ~= nil and o.keys ~= false and
     (type(o.keys) ~= "number" or o.keys ~= floor(o.keys) or o.keys < 1) then
    bad("keys", "expected false or a number of distinct keys >= 1, got " .. tostring(o.keys))
  end
  -- an integer on every Lua ("k3", not "k3.0"), as the replay script writes it
  s.keys = o.keys == nil and 10 or o.keys and floor(o.keys)
  s.duration_ms = int_opt(o, "duration_ms", 60000, 1, 86400000)
  s.runs = int_opt(o, "runs", 100, 1)
  if o.seed ~= nil and (type(o.seed) ~= "number" or o.seed ~= floor(o.seed)) then
    bad("seed", "expected integer, got " .. typename(o.seed))
  end
  s.seed = o.seed or 1
  s.max_faults = int_opt(o, "max_faults", 3, 0, 1000)
  s.max_down = int_opt(o, "max_down", nb, 0, nb)
  s.max_shrinks = int_opt(o, "max_shrinks", 500, 0)
  s.jobs = int_opt(o, "jobs", 1, 1, 256)
  if o.shrink ~= nil and type(o.shrink) ~= "boolean" then bad("shrink", "expected boolean, got " .. type(o.shrink)) end
  s.shrink = o.shrink ~= false
  if o.progress ~= nil and type(o.progress) ~= "boolean" then
    bad("progress", "expected boolean, got " .. type(o.progress))
  end
  s.progress = o.progress

  local kinds = o.faults or KIND_ORDER
  if type(kinds) ~= "table" then bad("faults", "expected a list of fault kinds, got " .. type(kinds)) end
  s.kinds = {}
  for i, k in ipairs(kinds) do
    if not KINDS[k] then
      bad(fmt("faults[%d]", i), fmt("unknown fault kind '%s' (known: %s)", tostring(k), concat(KIND_ORDER, ", ")))
    end
    if k ~= "partition_majority" or s.max_down >= nb - 1 then
      s.kinds[#s.kinds + 1] = k
    elseif o.faults then   -- asked for, never possible: say so rather than skip it every time
      bad(fmt("faults[%d]", i), fmt("partition_majority takes %d brokers out, more than max_down (%d)",
        nb - 1, s.max_down))
    end
  end
  if #s.kinds == 0 and s.max_faults > 0 then bad("faults", "no fault kind that max_down allows") end

  local inv = o.invariants or INVARIANTS
  if type(inv) ~= "table" then bad("invariants", "expected a list, got " .. type(inv)) end
  s.invariants = {}
  for i, k in ipairs(inv) do
    if not IS_INVARIANT[k] then
      bad(fmt("invariants[%d]", i), fmt("unknown invariant '%s' (known: %s)", tostring(k), concat(INVARIANTS, ", ")))
    end
    s.invariants[#s.invariants + 1] = k
  end
  if o.availability ~= nil and (type(o.availability) ~= "number" or o.availability < 0 or o.availability > 1) then
    bad("availability", "expected a share 0..1 of sends that must be acknowledged, got " .. tostring(o.availability))
  end
  s.availability = o.availability
  local names = {}
  for i, t in ipairs(s.topics) do names[i] = t.name end
  s.plan = { topics = names, rate = s.rate, keys = s.keys, duration_ms = s.duration_ms, max_down = s.max_down }
  return s
end

-- The seed of run i (1-based) of a search with seed s.
local function run_seed(s, i)
  return (s * 1000003 + i * 7919) % 2147483646 + 1
end

local function send_time(s, i)
  return floor((i - 1) * 1000 / s.rate)
end

-- A random schedule: up to max_faults faults, each at a moment while the
-- records are sent (or soon after), lasting 0.1 to 30 virtual seconds
-- (drawn log-uniformly), on the leader of the first partition one time in
-- two, else on a broker drawn at random.
local function generate(s, rnd)
  local faults = {}
  local nf = s.max_faults == 0 and 0 or 1 + rnd(s.max_faults)
  local send_ms = send_time(s, s.records) + 1000
  local nb = s.cluster.brokers
  for i = 1, nf do
    local kind = s.kinds[1 + rnd(#s.kinds)]
    local t = rnd(send_ms)
    local for_ms = floor(100 * 300 ^ (rnd(1000) / 1000))
    local target = rnd(2) == 0 and "leader" or 1 + rnd(nb)
    faults[i] = { t_ms = t, fault = kind, args = { broker = target, for_ms = for_ms } }
  end
  sort(faults, function(a, b) return a.t_ms < b.t_ms end)
  return faults
end

-- The timeline of one run: sends, fault starts and ends, sorted by time
-- (at one moment: ends, then starts, then sends).
local function timeline(s, case)
  local ops = {}
  for i = 1, case.records do
    ops[#ops + 1] = { t = send_time(s, i), o = 3, seq = i, op = "send", i = i }
  end
  for fi, f in ipairs(case.faults) do
    ops[#ops + 1] = { t = f.t_ms, o = 2, seq = fi, op = "start", f = f, fi = fi }
    local stop = f.t_ms + f.args.for_ms
    if stop < s.duration_ms then
      ops[#ops + 1] = { t = stop, o = 1, seq = fi, op = "stop", f = f, fi = fi }
    end
  end
  sort(ops, function(a, b)
    if a.t ~= b.t then return a.t < b.t end
    if a.o ~= b.o then return a.o < b.o end
    return a.seq < b.seq
  end)
  return ops
end

local NET = { isolate = true, partition = true, partition_majority = true, drop = true }

-- Runs one case in C (c:_explore, csrc/model/explore.c): the sends at their
-- times, the faults with their skip rules, then recover and settle as
-- RECOVER_SRC does, the same steps as the replay script.  `case`: { seed,
-- records, faults = {...}, end_ms }; fault targets may be "leader"
-- (resolved when the fault starts); the final recovery starts at end_ms
-- when that is later than duration_ms.  Returns the acked and failed
-- counts, the audit's counts by kind (lost, duplicated, ...), the faults
-- applied (with broker ids), the number skipped (target already out, or
-- max_down reached), end_ms (when the recovery started); the failed sends
-- by error name and the acked ones by latency go into `into` ({ errors,
-- latency }) when given, else r.errors, r.latency.  With `trace`, also
-- the cluster (with its trace) and its c:audit() as r.cluster, r.audit.
local function run_case(s, case, trace, into)
  local build = s.build
  if not build then build = cluster._builder(copy(s.cluster)); s.build = build end
  local c = build(case.seed, trace)
  for _, t in ipairs(s.topics) do c:create_topic(t.name, t.opts) end
  local p = c:_producer(s.pconf)
  local r = c:_explore(p, s.plan, case, into)
  if trace then
    r.cluster, r.audit = c, c:audit()
  else
    -- freed now: the collector does not see the C memory a run's cluster
    -- holds, and would let thousands of them pile up
    c:close()
  end
  return r
end

-- The invariants a run broke, in INVARIANTS order.
local function broken(s, r)
  local out = {}
  for _, k in ipairs(s.invariants) do
    if r[k] > 0 then out[#out + 1] = k end
  end
  if s.availability then
    local sent = r.acked + r.failed
    if sent > 0 and r.acked / sent < s.availability then out[#out + 1] = "availability" end
  end
  return out
end

local function violates(s, r, inv)
  if inv == "availability" then
    local sent = r.acked + r.failed
    return sent > 0 and r.acked / sent < s.availability
  end
  return r[inv] > 0
end

-- Runs i = from, from + step, ... <= s.runs; tick(done, violating) now
-- and then.  Returns the tallies and the first violating run.
local function search(s, from, step, tick)
  local t = { runs = 0, violating = 0, violations = {}, sent = 0, acked = 0, failed = 0, errors = {},
              lost_records = 0, duplicated_records = 0, losing = 0, latency = {} }
  for _, k in ipairs(s.invariants) do t.violations[k] = 0 end
  if s.availability then t.violations.availability = 0 end
  for i = from, s.runs, step do
    local seed = run_seed(s.seed, i)
    local rnd = M.rng(seed)
    local case = { seed = seed, records = s.records, faults = generate(s, rnd) }
    local r = run_case(s, case, false, t)
    t.runs = t.runs + 1
    t.acked, t.failed = t.acked + r.acked, t.failed + r.failed
    t.sent = t.sent + r.acked + r.failed
    local nl = r.lost
    t.lost_records, t.duplicated_records = t.lost_records + nl, t.duplicated_records + r.duplicated
    if nl > 0 then t.losing = t.losing + 1 end
    local b = broken(s, r)
    if #b > 0 then
      t.violating = t.violating + 1
      for _, k in ipairs(b) do t.violations[k] = t.violations[k] + 1 end
      if not t.first or i < t.first.run then
        -- the faults applied, and when the recovery started: a skipped
        -- fault late in the run can hold it back, and a run of the applied
        -- faults alone must wait as long to be the same run
        t.first = { run = i, seed = seed, invariant = b[1], records = s.records, faults = r.applied,
                    end_ms = r.end_ms }
      end
    end
    if tick then tick(t) end
  end
  return t
end

local function merge(parts)
  local t = { runs = 0, violating = 0, violations = {}, sent = 0, acked = 0, failed = 0, errors = {},
              lost_records = 0, duplicated_records = 0, losing = 0, latency = {} }
  for _, q in ipairs(parts) do
    t.lost_records, t.duplicated_records = t.lost_records + q.lost_records, t.duplicated_records + q.duplicated_records
    t.losing = t.losing + q.losing
    for ms, n in pairs(q.latency) do t.latency[ms] = (t.latency[ms] or 0) + n end
    t.runs, t.violating = t.runs + q.runs, t.violating + q.violating
    t.sent, t.acked, t.failed = t.sent + q.sent, t.acked + q.acked, t.failed + q.failed
    for k, n in pairs(q.violations) do t.violations[k] = (t.violations[k] or 0) + n end
    for k, n in pairs(q.errors) do t.errors[k] = (t.errors[k] or 0) + n end
    if q.first and (not t.first or q.first.run < t.first.run) then t.first = q.first end
  end
  return t
end

---------------------------------------------------------------- shrinking

local function case_copy(case)
  return { seed = case.seed, records = case.records, faults = copy(case.faults), end_ms = case.end_ms }
end

-- Shrinks a failing case: fewer faults, fewer records, rounder and earlier
-- times, each step kept only when the run still breaks the same invariant
-- with every fault applied.  At most s.max_shrinks runs.
local function shrink(s, case, inv)
  local budget = s.max_shrinks
  local tries = 0
  local function fails(cand)
    if budget <= 0 then return false end
    budget, tries = budget - 1, tries + 1
    local r = run_case(s, cand)
    return r.skipped == 0 and violates(s, r, inv)
  end
  local best = case_copy(case)
  local changed = true
  while changed and budget > 0 do
    changed = false
    -- fewer faults
    local i = #best.faults
    while i >= 1 do
      local cand = case_copy(best)
      table.remove(cand.faults, i)
      if fails(cand) then best, changed = cand, true end
      i = i - 1
    end
    -- fewer records: halve while it fails, then step down
    -- (the smallest first: n/2^k for k = many .. 1, then n - 1)
    local n = best.records
    local cands = {}
    local h = floor(n / 2)
    while h >= 1 do table.insert(cands, 1, h); h = floor(h / 2) end
    cands[#cands + 1] = n - 1
    for _, m in ipairs(cands) do
      if m >= 1 and m < best.records then
        local cand = case_copy(best)
        cand.records = m
        if fails(cand) then best, changed = cand, true; break end
      end
    end
    -- simpler times: earlier, rounder; shorter faults
    for fi = 1, #best.faults do
      for _, field in ipairs({ "t_ms", "for_ms" }) do
        local cur = field == "t_ms" and best.faults[fi].t_ms or best.faults[fi].args.for_ms
        local tried = {}
        for _, v in ipairs({ 0, floor(cur / 2), floor(cur / 10000) * 10000, floor(cur / 1000) * 1000,
                             floor(cur / 100) * 100, floor(cur / 10) * 10 }) do
          if v < cur and not tried[v] and (field == "t_ms" or v >= 1) then
            tried[v] = true
            local cand = case_copy(best)
            if field == "t_ms" then cand.faults[fi].t_ms = v else cand.faults[fi].args.for_ms = v end
            sort(cand.faults, function(a, b) return a.t_ms < b.t_ms end)
            if fails(cand) then best, changed = cand, true; break end
          end
        end
        if changed then break end
      end
      if changed then break end
    end
  end
  return best, tries
end

------------------------------------------------------------------ scripts

-- A value as a one-line Lua literal (strings quoted, keys sorted: the same
-- text every time), for the replay scripts and the jobs' pipes.
local function lua_value(v)
  if type(v) == "string" then return fmt("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  -- positional only for 1..n all present: # of { [1] = a, [3] = c } may be 3
  local parts, n = {}, 0
  while v[n + 1] ~= nil do n = n + 1 end
  for _, k in ipairs(keys) do
    local ks
    if type(k) == "number" and k >= 1 and k <= n and k == floor(k) then ks = ""
    elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then ks = k .. " = "
    else ks = "[" .. lua_value(k) .. "] = " end
    parts[#parts + 1] = ks .. lua_value(v[k])
  end
  return "{ " .. concat(parts, ", ") .. " }"
end

local DOC = {
  lost = "acknowledged records lost", duplicated = "records written twice",
  reordered = "records out of the order they were sent", unexpected = "records reported failed yet written",
  inconsistent = "records acknowledged at an offset that holds another", availability = "sends refused or timed out",
}

-- The replay script of a case: the public API only, the same steps the
-- search made, in the same order.
local function script(s, case, inv)
  local L = {}
  local function w(...) L[#L + 1] = fmt(...) end
  if inv then
    w("-- insync.explore counterexample: %s (%s).", inv, DOC[inv])
  else
    w("-- insync.explore run.")
  end
  w("-- Replays alone: lua this_file.lua (insync on the Lua path); returns the audit.")
  w('local insync = require "insync"')
  local copts = copy(s.cluster)
  copts.seed = case.seed
  w("local c = insync.cluster%s", lua_value(copts))
  for _, t in ipairs(s.topics) do w("c:create_topic(%q, %s)", t.name, lua_value(t.opts)) end
  w("local p = c:producer%s", lua_value(s.producer))
  w("local acked, failed = 0, 0")
  w("local function cb(_, err) if err then failed = failed + 1 else acked = acked + 1 end end")
  local ntop = #s.topics
  local tnames = {}
  for i, t in ipairs(s.topics) do tnames[i] = fmt("%q", t.name) end
  w("local topics = { %s }", concat(tnames, ", "))
  w("local function send(i)")
  w("  p:send({ topic = topics[(i - 1) %% %d + 1], key = %s, value = \"r\" .. i }, cb)", ntop,
    s.keys and fmt("\"k\" .. (i %% %d)", s.keys) or "nil")
  w("end")
  w("local function at(t) if t > c:now() then c:run_for(t - c:now()) end end")
  w("%s", RECOVER_SRC)
  local nb = s.cluster.brokers
  local active = {}
  local function net_lines(kind, b)
    if kind == "isolate" then return { fmt("c:isolate(%d)", b) } end
    if kind == "drop" then return { fmt("c:drop(%d, p)", b) } end
    local out = {}
    if kind == "partition" then
      for x = 1, nb do if x ~= b then out[#out + 1] = fmt("c:cut(%d, %d)", b, x) end end
      out[#out + 1] = fmt('c:cut(%d, "controller")', b)
    else
      for x = 1, nb do
        if x ~= b then out[#out + 1] = fmt("c:cut(%d, %d); c:cut(%d, \"controller\")", x, b, x) end
      end
    end
    return out
  end
  local ops = timeline(s, case)
  local k = 1
  while k <= #ops do
    local op = ops[k]
    if op.op == "send" then
      -- a run of sends with nothing between them: one loop
      local j = k
      while ops[j + 1] and ops[j + 1].op == "send" do j = j + 1 end
      if j == k then
        w("at(%d); send(%d)", op.t, op.i)
      else
        w("for i = %d, %d do at(math.floor((i - 1) * 1000 / %s)); send(i) end", op.i, ops[j].i,
          tostring(s.rate))
      end
      k = j + 1
    else
      local f, b = op.f, op.f.args.broker
      if op.op == "start" then
        active[op.fi] = { kind = f.fault, broker = b }
        local line
        if f.fault == "kill" then line = fmt("c:crash(%d)", b)
        elseif f.fault == "power_loss" then line = fmt("c:crash(%d, { lose_unflushed = true })", b)
        elseif f.fault == "shutdown" then line = fmt("c:shutdown(%d)", b)
        elseif f.fault == "pause" then line = fmt("c:pause(%d)", b)
        else line = concat(net_lines(f.fault, b), "; ") end
        w("at(%d); %s   -- %s", op.t, line, f.fault)
      else
        local line
        if f.fault == "kill" or f.fault == "power_loss" then line = fmt("c:restart(%d)", b)
        elseif f.fault == "shutdown" then
          line = fmt("if not c:broker(%d).shutting_down then c:restart(%d) end", b, b)
        elseif f.fault == "pause" then line = fmt("c:resume(%d)", b)
        else
          active[op.fi] = nil
          local again = {}
          for fi = 1, #case.faults do
            local a = active[fi]
            if a and NET[a.kind] then
              for _, l in ipairs(net_lines(a.kind, a.broker)) do again[#again + 1] = l end
            end
          end
          line = "c:heal()" .. (#again > 0 and "; " .. concat(again, "; ") or "")
        end
        active[op.fi] = nil
        w("at(%d); %s   -- end of %s", op.t, line, f.fault)
      end
      k = k + 1
    end
  end
  w("at(%d)", math.max(s.duration_ms, case.end_ms or 0))
  w("recover(c, %d)", nb)
  w("settle(c, %s)", lua_value(s.calm))
  w("local a = c:audit()")
  w("print(a)")
  if inv == nil then
    w("-- (no invariant asserted)")
  elseif inv == "availability" then
    w("assert(acked / (acked + failed) < %s, \"expected sends refused or timed out\")", tostring(s.availability))
  else
    w("assert(#a.%s > 0, \"expected %s\")", inv, DOC[inv])
  end
  w("return a, acked, failed")
  return concat(L, "\n") .. "\n"
end

------------------------------------------------------------------- result

local Result = {}
Result.__index = Result

--- The replay script of the (shrunk) first counterexample, or nil.
function Result:script()
  local f = self.shrunk or self.first
  if not f then return nil end
  return script(self._spec, { seed = f.seed, records = f.records, faults = f.schedule, end_ms = f.end_ms },
    f.invariant)
end

-- The counterexample drawn: the shrunk one, else the first; its trace, re-run
-- with trace = true if the result holds none.
local function traced(self, fn)
  local f = self.shrunk or self.first
  if not f then return nil end
  if not f.trace then
    local r = run_case(self._spec, { seed = f.seed, records = f.records, faults = f.schedule, end_ms = f.end_ms },
      true)
    f.trace, f.audit = r.cluster:trace(), f.audit or r.audit
  end
  if fn then return fn(f) end
  return f
end

--- The (shrunk) first counterexample as a Mermaid sequence diagram, or nil
-- when no run violated; opts as insync.diagram.sequence's.  See
-- docs/pictures.md.
function Result:diagram(opts)
  return traced(self, function(f) return require("insync.diagram").sequence(f.trace, f.audit, opts) end)
end

--- The (shrunk) first counterexample as an SVG timeline of one partition,
-- or nil when no run violated; opts as insync.timeline.svg's.
function Result:timeline_svg(opts)
  return traced(self, function(f) return require("insync.timeline").svg(f.trace, f.audit, opts) end)
end

function Result.__tostring(r)
  local parts = {}
  for _, k in ipairs(INVARIANTS) do
    if r.violations[k] then parts[#parts + 1] = fmt("%s %d", k, r.violations[k]) end
  end
  if r.violations.availability then parts[#parts + 1] = fmt("availability %d", r.violations.availability) end
  local s = fmt("explore: %d runs, %d violating (%.1f%%): %s; sends %d acked %d failed %d",
    r.runs, r.violating, 100 * r.rate, concat(parts, ", "), r.sent, r.acked, r.failed)
  local f = r.shrunk or r.first
  if f then
    local fl = {}
    for _, x in ipairs(f.schedule) do
      fl[#fl + 1] = fmt("%s(%s) at %d ms for %d ms", x.fault, tostring(x.args.broker), x.t_ms, x.args.for_ms)
    end
    s = s .. fmt("; first: run %d, %s, %d records, %s", r.first.run, f.invariant, f.records,
      #fl > 0 and concat(fl, ", ") or "no fault")
  end
  return s
end

-- The counterexample as the result shows it: schedule, audit, trace.
local function describe(s, case, inv, run)
  local r = run_case(s, case, true)
  return { run = run, seed = case.seed, invariant = inv, records = case.records,
           schedule = r.applied, end_ms = r.end_ms, audit = r.audit, trace = r.cluster:trace(),
           acked = r.acked, failed = r.failed }
end

------------------------------------------------------------- processes

-- Spreads the runs over s.jobs forked processes: child j makes runs j,
-- j + jobs, ...; each writes "P runs violating" lines now and then and one
-- "R {tally}" line at its end.  The tallies merge as one process would
-- have counted them (sums; the first violation is the lowest run).
local function parallel(s, tick)
  local jobs = s.jobs < s.runs and s.jobs or s.runs
  local kids, fds = {}, {}
  for j = 1, jobs do
    local pid, fd = proc.fork()
    if not pid then
      for _, k in ipairs(kids) do proc.wait(k.pid) end
      error("explore: jobs: " .. tostring(fd), 3)
    end
    if pid == 0 then
      local ok, err = pcall(function()
        local last = os.clock()
        local t = search(s, j, jobs, function(t)
          local now = os.clock()
          if now - last >= 0.2 then
            last = now
            proc.write(fd, fmt("P %d %d\n", t.runs, t.violating))
          end
        end)
        t.errors = t.errors or {}
        proc.write(fd, "R " .. lua_value(t) .. "\n")
      end)
      if not ok then proc.write(fd, "E " .. tostring(err):gsub("\n", " ") .. "\n") end
      proc.exit(ok and 0 or 1)
    end
    kids[j] = { pid = pid, fd = fd, buf = "", runs = 0, violating = 0 }
    fds[j] = fd
  end
  local parts, failure = {}, nil
  local open = jobs
  while open > 0 do
    local i = proc.poll(fds, 250)
    if i then
      local k = kids[i]
      local chunk = proc.read(k.fd)
      if chunk then
        k.buf = k.buf .. chunk
        for line in k.buf:gmatch("([^\n]*)\n") do
          local what, rest = line:sub(1, 1), line:sub(3)
          if what == "P" then
            local r, v = rest:match("^(%d+) (%d+)$")
            k.runs, k.violating = tonumber(r), tonumber(v)
          elseif what == "R" then
            parts[i] = assert((loadstring or load)("return " .. rest))()
            k.runs, k.violating = parts[i].runs, parts[i].violating
          elseif what == "E" then
            failure = failure or rest
          end
        end
        k.buf = k.buf:match("[^\n]*$")
      else
        fds[i] = -1      -- poll ignores a negative fd
        open = open - 1
      end
    end
    if tick then
      local sum = { runs = 0, violating = 0 }
      for _, k in ipairs(kids) do
        sum.runs, sum.violating = sum.runs + k.runs, sum.violating + k.violating
      end
      tick(sum)
    end
  end
  for j, k in ipairs(kids) do
    local code = proc.wait(k.pid)
    if not failure and (code ~= 0 or not parts[j]) then
      failure = fmt("process %d ended with status %d", j, code)
    end
  end
  if failure then error("explore: jobs: " .. failure, 3) end
  return merge(parts)
end

------------------------------------------------------------- the search

-- p50, p99 and max of a histogram { [ms] = count }.
local function percentiles(h)
  local keys, n = {}, 0
  for ms, k in pairs(h) do keys[#keys + 1] = ms; n = n + k end
  sort(keys)
  local out, seen = {}, 0
  for _, ms in ipairs(keys) do
    seen = seen + h[ms]
    if not out.p50 and seen >= 0.5 * n then out.p50 = ms end
    if not out.p99 and seen >= 0.99 * n then out.p99 = ms end
    out.max = ms
  end
  return out
end

local function progress_line(t, runs, t0, clock)
  local dt = clock() - t0
  return fmt("\rexplore: %d/%d runs, %.0f runs/s, %d violating so far ", t.runs, runs,
    dt > 0 and t.runs / dt or 0, t.violating)
end

--- Runs `runs` random fault schedules; see docs/explore.md.
-- @tparam table opts
-- @return the result: runs, violations, violating, rate, sent, acked,
-- failed, errors, first, shrunk, shrink_runs, and `result:script()`
function M.explore(opts)
  local s = normalize(opts)
  local clock = require("insync.core").monotonic   -- wall time: children run while the parent waits
  local t0 = clock()
  local tty = s.progress
  if tty == nil then tty = proc.isatty(2) end
  local last = t0
  local shown = false
  local function tick(t)
    if not tty then return end
    local now = clock()
    if now - t0 >= 1 and now - last >= 0.25 then
      last, shown = now, true
      io.stderr:write(progress_line(t, s.runs, t0, clock))
    end
  end
  local t
  if s.jobs > 1 and s.runs > 1 then
    t = parallel(s, tick)
  else
    t = search(s, 1, 1, tick)
  end
  if shown then io.stderr:write(progress_line(t, s.runs, t0, clock), "\n") end
  local res = setmetatable({
    runs = t.runs, violating = t.violating, violations = t.violations,
    rate = t.runs > 0 and t.violating / t.runs or 0,
    sent = t.sent, acked = t.acked, failed = t.failed, errors = t.errors,
    lost_records = t.lost_records, duplicated_records = t.duplicated_records, losing = t.losing,
    latency_ms = percentiles(t.latency),
    _spec = s,
  }, Result)
  if t.first then
    local case = { seed = t.first.seed, records = t.first.records, faults = t.first.faults,
                   end_ms = t.first.end_ms }
    res.first = describe(s, case, t.first.invariant, t.first.run)
    if s.shrink then
      local small, tries = shrink(s, case, t.first.invariant)
      res.shrunk = describe(s, small, t.first.invariant, t.first.run)
      res.shrink_runs = tries
    end
  end
  return res
end

-- For the processes helper and the specs.
M._normalize, M._search, M._merge, M._run_case = normalize, search, merge, run_case
M._generate, M._run_seed, M._script = generate, run_seed, script
M.invariants = INVARIANTS

return M
