-- insync.explore runs each schedule in C (csrc/model/explore.c).  Here the
-- same random cases run three ways: through the C runner, through a runner
-- written in Lua on the public API only (below: the sends with their
-- callbacks, the skip rules read from c:broker() and c:partition()), and
-- through the replay script result:script() writes for the faults the C
-- runner applied.  All three must give the same audit, the same acked and
-- failed counts, the same errors and latencies; the two runners the same
-- faults applied and skipped.  Any drift between them would make a
-- counterexample's replay script lie.
local insync = require "insync"
local explore = require "insync.explore"

local floor = math.floor

---------------------------------------------- the Lua runner, public API

local function send_time(s, i)
  return floor((i - 1) * 1000 / s.rate)
end

-- Fault starts and ends by time; at one moment ends, then starts.
local function fault_ops(s, faults)
  local ops = {}
  for fi, f in ipairs(faults) do
    ops[#ops + 1] = { t = f.t_ms, o = 2, fi = fi, f = f }
    if f.t_ms + f.args.for_ms < s.duration_ms then
      ops[#ops + 1] = { t = f.t_ms + f.args.for_ms, o = 1, fi = fi, f = f }
    end
  end
  table.sort(ops, function(a, b)
    if a.t ~= b.t then return a.t < b.t end
    if a.o ~= b.o then return a.o < b.o end
    return a.fi < b.fi
  end)
  return ops
end

local function affected(nb, kind, b)
  if kind == "partition_majority" then
    local l = {}
    for x = 1, nb do if x ~= b then l[#l + 1] = x end end
    return l
  elseif kind == "drop" then
    return {}
  end
  return { b }
end

local NET = { isolate = true, partition = true, partition_majority = true, drop = true }

local function apply_net(c, p, nb, kind, b)
  if kind == "isolate" then
    c:isolate(b)
  elseif kind == "partition" then
    for x = 1, nb do if x ~= b then c:cut(b, x) end end
    c:cut(b, "controller")
  elseif kind == "partition_majority" then
    for x = 1, nb do if x ~= b then c:cut(x, b); c:cut(x, "controller") end end
  elseif kind == "drop" then
    c:drop(b, p)
  end
end

local function settle(c, s)
  c:run(3600000)
  for _ = 1, 30 do
    local calm = true
    for _, t in ipairs(s.topics) do
      for part = 0, t.opts.partitions - 1 do
        local p = c:partition(t.name, part)
        if not p.leader or #p.isr ~= #p.assignment or p.hw ~= p.replicas[p.leader].leo then
          calm = false
        end
      end
    end
    if calm then return end
    c:run_for(1000)
  end
end

local function lua_run(s, case)
  local copts = {}
  for k, v in pairs(s.cluster) do copts[k] = v end
  copts.seed = case.seed
  local c = insync.cluster(copts)
  for _, t in ipairs(s.topics) do c:create_topic(t.name, t.opts) end
  local p = c:producer(s.producer)
  local nb = s.cluster.brokers
  local r = { acked = 0, failed = 0, errors = {}, latency = {}, applied = {}, skipped = 0 }
  local function cb(report, err)
    if err then
      r.failed = r.failed + 1
      r.errors[err.name] = (r.errors[err.name] or 0) + 1
    else
      r.acked = r.acked + 1
      r.latency[report.latency_ms] = (r.latency[report.latency_ms] or 0) + 1
    end
  end
  local down, active = {}, {}
  local ops = fault_ops(s, case.faults)
  local k, i = 1, 1
  while true do
    local op = ops[k]
    local ts = i <= case.records and send_time(s, i) or nil
    if not op and not ts then break end
    local use_op = op and (not ts or op.t <= ts)
    local t = use_op and op.t or ts
    if t > c:now() then c:run_for(t - c:now()) end
    if not use_op then
      local topic = s.topics[(i - 1) % #s.topics + 1].name
      p:send({ topic = topic, key = s.keys and ("k" .. (i % s.keys)) or nil, value = "r" .. i }, cb)
      i = i + 1
    elseif op.o == 2 then
      k = k + 1
      local f = op.f
      local b = f.args.broker
      if b == "leader" then b = c:partition(s.topics[1].name, 0).leader end
      local hit = b and affected(nb, f.fault, b)
      local out, nout = {}, 0
      for x = 1, nb do
        local st = c:broker(x)
        if down[x] or not st.online or st.fenced or st.paused or st.shutting_down then
          out[x], nout = true, nout + 1
        end
      end
      local ok = hit ~= nil and (f.fault == "drop" or not out[b])
      for _, x in ipairs(hit or {}) do if not out[x] then nout = nout + 1 end end
      if f.fault ~= "drop" and nout > s.max_down then ok = false end
      if not ok then
        r.skipped = r.skipped + 1
      else
        for _, x in ipairs(hit) do down[x] = op.fi end
        active[op.fi] = { kind = f.fault, broker = b, hit = hit }
        r.applied[#r.applied + 1] = { t_ms = f.t_ms, fault = f.fault, args = { broker = b, for_ms = f.args.for_ms } }
        if f.fault == "kill" then c:crash(b)
        elseif f.fault == "power_loss" then c:crash(b, { lose_unflushed = true })
        elseif f.fault == "shutdown" then c:shutdown(b)
        elseif f.fault == "pause" then c:pause(b)
        else apply_net(c, p, nb, f.fault, b) end
      end
    else
      k = k + 1
      local a = active[op.fi]
      if a then
        local b, done = a.broker, true
        if a.kind == "kill" or a.kind == "power_loss" then c:restart(b)
        elseif a.kind == "shutdown" then
          if c:broker(b).shutting_down then done = false else c:restart(b) end
        elseif a.kind == "pause" then c:resume(b)
        else
          active[op.fi] = nil
          c:heal()
          for fi = 1, #case.faults do
            local o = active[fi]
            if o and NET[o.kind] then apply_net(c, p, nb, o.kind, o.broker) end
          end
        end
        if done then
          active[op.fi] = nil
          for _, x in ipairs(a.hit) do down[x] = nil end
        end
      end
    end
  end
  if s.duration_ms > c:now() then c:run_for(s.duration_ms - c:now()) end
  explore.recover(c, nb)
  settle(c, s)
  r.audit = c:audit()
  return r
end

------------------------------------------------------------ the C runner

local function c_run(s, case)
  local copts = {}
  for k, v in pairs(s.cluster) do copts[k] = v end
  copts.seed = case.seed
  local c = insync.cluster(copts)
  for _, t in ipairs(s.topics) do c:create_topic(t.name, t.opts) end
  local p = c:producer(s.producer)
  local r = c:_explore(p, s.plan, case)
  r.audit = c:audit()
  return r, c
end

-- The replay script of the faults the C runner applied, run alone.
local function replay(s, case, applied, end_ms)
  local src = explore._script(s, { seed = case.seed, records = case.records, faults = applied, end_ms = end_ms })
  assert.is_nil(src:find('require "insync.', 1, true))   -- the public API only
  local chunk = assert((loadstring or load)(src, "=replay"))
  local quiet = _G.print
  _G.print = function() end
  local out = { pcall(chunk) }
  _G.print = quiet
  assert(out[1], out[2])
  return out[2], out[3], out[4]
end

local KINDS = explore.fault_kinds

-- A random search configuration: brokers, topics, keys, rates, producer
-- settings, fault kinds, max_down.
local function random_opts(rnd)
  local nb = 3 + rnd(3)
  local ntop = 1 + rnd(3)
  local topics = {}
  for i = 1, ntop do
    topics[i] = { name = "t" .. i, partitions = 1 + rnd(3), replication_factor = 1 + rnd(3),
                  config = { ["min.insync.replicas"] = 1 + rnd(2) } }
    if topics[i].config["min.insync.replicas"] > topics[i].replication_factor then
      topics[i].config["min.insync.replicas"] = 1
    end
  end
  local kinds = {}
  for _, k in ipairs(KINDS) do if rnd(3) > 0 then kinds[#kinds + 1] = k end end
  if #kinds == 0 then kinds = { "power_loss", "partition_majority" } end
  local max_down = rnd(3) == 0 and 1 or nb
  if max_down < nb - 1 then
    local keep = {}
    for _, k in ipairs(kinds) do if k ~= "partition_majority" then keep[#keep + 1] = k end end
    kinds = #keep > 0 and keep or { "kill" }
  end
  local idem = rnd(3) == 0
  local producer = { acks = idem and "all" or ({ "all", 1, 0 })[1 + rnd(3)],
                     ["enable.idempotence"] = idem,
                     ["linger.ms"] = ({ 0, 5, 20 })[1 + rnd(3)] }
  if rnd(2) == 0 then producer["delivery.timeout.ms"] = 3000 + rnd(8000) end
  local cl = { brokers = nb, eligible_leader_replicas = rnd(2) == 0,
               config = { ["unclean.leader.election.enable"] = rnd(4) == 0 } }
  if rnd(3) == 0 then cl.profile = ({ "datacenter", "cross_az", "overloaded" })[1 + rnd(3)] end
  return { cluster = cl, topics = topics, producer = producer,
           records = 10 + rnd(50), rate = ({ 2, 5, 20, 0.5 })[1 + rnd(4)],
           keys = ({ false, 1, 7 })[1 + rnd(3)], faults = kinds, max_faults = 1 + rnd(6),
           max_down = max_down, duration_ms = 5000 + rnd(40000), runs = 1, seed = 1 + rnd(1000) }
end

-- A denser schedule than a search draws: up to 8 short faults, often on
-- the same broker, so that faults meet brokers still down, fenced after a
-- restart or shutting down, and max_down.
local function dense(s, rnd)
  local faults = {}
  local span = floor((s.records - 1) * 1000 / s.rate) + 1000
  for i = 1, 2 + rnd(7) do
    faults[i] = { t_ms = rnd(span), fault = s.kinds[1 + rnd(#s.kinds)],
                  args = { broker = rnd(4) == 0 and "leader" or 1 + rnd(2), for_ms = 100 + rnd(6000) } }
  end
  table.sort(faults, function(a, b) return a.t_ms < b.t_ms end)
  return faults
end

describe("insync.explore's runner in C", function()
  it("gives what a Lua runner on the public API gives, and its replay script, over random cases", function()
    local rnd = explore.rng(20261204)
    local cases, skipped, applied, failed, violating = 0, 0, 0, 0, 0
    local seen = {}
    for n = 1, tonumber(os.getenv("INSYNC_RUNNER_CASES")) or 200 do
      local s = explore._normalize(random_opts(rnd))
      local seed = explore._run_seed(s.seed, n)
      local case = { seed = seed, records = s.records, faults = explore._generate(s, explore.rng(seed)) }
      if n % 2 == 0 then case.faults = dense(s, rnd) end
      local what = ("case %d (seed %d)"):format(n, seed)
      local rc = c_run(s, case)
      local rl = lua_run(s, case)
      assert.are.same(rl.audit, rc.audit, what)
      assert.are.equal(rl.acked, rc.acked, what)
      assert.are.equal(rl.failed, rc.failed, what)
      assert.are.same(rl.errors, rc.errors, what)
      assert.are.same(rl.latency, rc.latency, what)
      assert.are.same(rl.applied, rc.applied, what)
      assert.are.equal(rl.skipped, rc.skipped, what)
      for _, k in ipairs({ "lost", "duplicated", "reordered", "unexpected", "inconsistent", "uncommitted" }) do
        assert.are.equal(#rc.audit[k], rc[k], what .. ": " .. k)
      end
      local a, acked, nfailed = replay(s, case, rc.applied, rc.end_ms)
      assert.are.same(rc.audit, a, what .. ": replay")
      assert.are.equal(rc.acked, acked, what .. ": replay")
      assert.are.equal(rc.failed, nfailed, what .. ": replay")
      cases = cases + 1
      skipped, applied, failed = skipped + rc.skipped, applied + #rc.applied, failed + rc.failed
      for _, f in ipairs(rc.applied) do seen[f.fault] = true end
      for _, k in ipairs({ "lost", "duplicated", "reordered" }) do
        if rc[k] > 0 then violating = violating + 1; break end
      end
    end
    -- the cases exercised what they are meant to: every kind applied,
    -- faults skipped, sends failed, invariants broken
    for _, k in ipairs(KINDS) do assert.is_true(seen[k], "no " .. k .. " applied") end
    assert.is_true(skipped > 0 and applied > 0 and failed > 0 and violating > 0,
      ("skipped %d applied %d failed %d violating %d"):format(skipped, applied, failed, violating))
  end)

  it("a search's counts are the sum of its runs', whichever runner made them", function()
    local opts = { producer = { acks = 1 }, records = 40, runs = 30, seed = 7, shrink = false, progress = false,
                   keys = 3, topics = { { name = "a", partitions = 2 }, { name = "b" } } }
    local r = insync.explore(opts)
    local s = explore._normalize(opts)
    local acked, failed, violating = 0, 0, 0
    for i = 1, opts.runs do
      local seed = explore._run_seed(s.seed, i)
      local rl = lua_run(s, { seed = seed, records = s.records, faults = explore._generate(s, explore.rng(seed)) })
      acked, failed = acked + rl.acked, failed + rl.failed
      for _, k in ipairs(explore.invariants) do
        if #rl.audit[k] > 0 then violating = violating + 1; break end
      end
    end
    assert.are.equal(acked, r.acked)
    assert.are.equal(failed, r.failed)
    assert.are.equal(violating, r.violating)
    assert.is_true(violating > 0)
  end)

  it("leaves the cluster usable: a report still due reaches run() as a callback-less send's", function()
    local c = insync.cluster{ brokers = 3, seed = 3 }
    c:create_topic("t", { replication_factor = 3 })
    local p = c:producer{ acks = "all" }
    local r = c:_explore(p, { topics = { "t" }, rate = 2, keys = false, duration_ms = 1000, max_down = 3 },
      { records = 5, faults = {} })
    assert.are.equal(5, r.acked)
    local got
    p:send({ topic = "t", value = "after" }, function(rep, err) got = { rep, err } end)
    c:run()
    assert.is_nil(got[2])
    assert.are.equal("after", c:log("t", 0, c:partition("t", 0).leader)[6].value)
    assert.has_error(function()
      c:_explore(p, { topics = { "nope" }, rate = 1, keys = false, duration_ms = 1, max_down = 1 },
        { records = 1, faults = {} })
    end,
      "_explore: plan.topics[1]: no such topic")
  end)
end)
