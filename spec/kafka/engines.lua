--- Runs a scenario of spec/kafka/scenarios.lua on one engine and returns
-- what the differential check compares:
--   { outcomes = { "ok", "NOT_ENOUGH_REPLICAS", ... }  -- one per send, in order
--     calls = { 1, 1, ... },                           -- callbacks per send
--     audit = { sent =, acked =, failed =, pending =, lost =, duplicated =,
--               unexpected =, uncommitted =, reordered =, inconsistent = },
--     lost = n, duplicated = n, unexpected = n, sent = n }
-- (audit: the audit's counts, field by field; lost, duplicated, unexpected
-- repeat three of them: acknowledged but not committed; committed more
-- than once; reported as failed yet committed)
--     at = { "0:0", "-", ... },                        -- partition:offset of each acknowledged send
-- engines.model(scenario): the model, insync.cluster, in virtual time; its
-- audit is c:audit().
-- engines.kafka(scenario, topic): real Apache Kafka (spec/kafka/cluster must
-- be up), through insync.producer made with track = true; its audit is the
-- sum of each producer's p:audit(), which reads the topic back.
local insync = require "insync"

local engines = {}

-- The model is given the real cluster's non-default broker settings
-- (spec/kafka/cluster), so both detect failures on the same clocks, and
-- Kafka 4.4's eligible leader replicas (KIP-966, on for new clusters).
engines.model_options = { eligible_leader_replicas = true }
engines.model_config = {
  ["replica.lag.time.max.ms"] = 5000,
  ["broker.session.timeout.ms"] = 3000,
  ["auto.leader.rebalance.enable"] = false,   -- as spec/kafka/cluster configures Kafka
  ["auto.create.topics.enable"] = false,
}

local BROKERS = { 1, 2, 3 }

--- The fields of an audit (the model's c:audit() or a tracking producer's
-- p:audit(), the same shape) that the check compares, as numbers.
engines.AUDIT_FIELDS = { "sent", "acked", "failed", "pending", "lost", "duplicated", "unexpected",
                         "uncommitted", "reordered", "inconsistent" }

function engines.audit_counts(a, into)
  local c = into or {}
  for _, k in ipairs(engines.AUDIT_FIELDS) do
    local v = type(a[k]) == "table" and #a[k] or a[k]
    c[k] = (c[k] or 0) + v
  end
  return c
end

-- The messages of a send step: values unique per scenario step.
local function step_msgs(topic, step, index)
  local list = {}
  for i = 1, step.n do
    list[i] = {
      topic = topic, partition = step.partition or 0,
      key = ("s%d-k%d"):format(index, i), value = ("s%d-%d"):format(index, i),
      headers = step.headers,
    }
  end
  return list
end

-- Resolves WHO ("leader", "followers", "follower", "down", an id) to ids;
-- leader_of() is asked only when WHO depends on the leader.
local function targets(who, leader_of, down)
  if type(who) == "number" then return { who } end
  if type(who) == "table" then
    -- { down = K }: the K-th broker taken down, in the order the steps did
    local ids = {}
    for id, order in pairs(down) do ids[#ids + 1] = { id = id, order = order } end
    table.sort(ids, function(x, y) return x.order < y.order end)
    return { assert(ids[who.down], "no broker was taken down " .. who.down .. "th").id }
  end
  if who == "down" then
    local ids = {}
    for id in pairs(down) do ids[#ids + 1] = id end
    table.sort(ids)
    return ids
  end
  local leader = leader_of()
  if who == "leader" then
    assert(leader, "partition 0 has no leader")
    return { leader }
  end
  local ids = {}
  for _, id in ipairs(BROKERS) do
    if id ~= leader and not down[id] then ids[#ids + 1] = id end
  end
  if who == "follower" then return { ids[1] } end
  assert(who == "followers", "unknown target " .. tostring(who))
  return ids
end

-- The engine-neutral part: walks the steps, calling the engine's
-- operations (e.send, e.wait, e.leader, e.stop, e.kill, e.restart,
-- e.wait_leader, e.wait_isr, e.settle, e.create) and collecting one result per send.
local function walk(scenario, topic, e)
  local results, pending, down, downs = {}, {}, {}, 0
  for index, step in ipairs(scenario.steps) do
    if step.send then
      local mine = {}
      for _, msg in ipairs(step_msgs(topic, step, index)) do
        local r = { calls = 0, value = msg.value }
        results[#results + 1] = r
        mine[#mine + 1] = r
        pending[#pending + 1] = r
        e.send(step.send, msg, function(report, err)
          r.calls = r.calls + 1
          r.report, r.err = report, err
        end)
      end
      if step.wait ~= false then e.wait(mine) end
    elseif step.stop or step.kill or step.pause then
      local op = step.stop and "stop" or step.kill and "kill" or "pause"
      for _, id in ipairs(targets(step[op], e.leader, down)) do
        e[op](id)
        downs = downs + 1
        down[id] = downs
      end
    elseif step.resume then
      for _, id in ipairs(targets(step.resume, e.leader, down)) do
        e.resume(id)
        down[id] = nil
      end
    elseif step.restart then
      for _, id in ipairs(targets(step.restart, e.leader, down)) do
        e.restart(id)
        down[id] = nil
      end
    elseif step.callback then
      e.wait({ assert(results[step.callback], "no send " .. step.callback .. " yet") })
    elseif step.leader then
      e.wait_leader()
    elseif step.isr then
      e.wait_isr(step.isr)
    elseif step.settle then
      e.settle(step.settle)
    elseif step.create then
      e.create()
    elseif step.wait then
      e.wait(pending)
    else
      error("scenario '" .. scenario.name .. "': unknown step " .. index)
    end
  end
  e.wait(pending)
  local out = { outcomes = {}, calls = {}, at = {}, sent = #results }
  for i, r in ipairs(results) do
    out.outcomes[i] = r.err and r.err.name or "ok"
    out.calls[i] = r.calls
    -- where an acknowledged record landed, "partition:offset"
    local rep = r.report
    out.at[i] = (not r.err and rep and rep.offset) and (rep.partition .. ":" .. rep.offset) or "-"
  end
  return out, results
end

--- The model: a fresh insync.cluster per scenario.
function engines.model(scenario, topic, seed)
  local c = insync.cluster{ brokers = 3, seed = seed or 1, config = engines.model_config,
                            eligible_leader_replicas = engines.model_options.eligible_leader_replicas }
  if not scenario.create_later then c:create_topic(topic, scenario.topic) end
  local producers = {}
  for name, conf in pairs(scenario.producers) do
    local model_conf = {}
    for k, v in pairs(conf) do
      if k ~= "bootstrap" then model_conf[k] = v end
    end
    producers[name] = c:producer(model_conf)
  end
  local function leader() return c:partition(topic, 0).leader end
  local function all_done(list)
    for _, r in ipairs(list) do if r.calls == 0 then return false end end
    return true
  end
  local e = {
    send = function(pname, msg, cb) assert(producers[pname]:send(msg, cb)) end,
    wait = function(list)
      -- virtual time: at most 10 minutes, far beyond every timeout here
      for _ = 1, 6000 do
        if all_done(list) then return end
        c:run_for(100)
      end
      error("model: sends without a callback after 10 virtual minutes")
    end,
    leader = leader,
    -- as `spec/kafka/cluster stop`, wait for the process to end: a
    -- controlled shutdown takes (virtual) time
    stop = function(id)
      c:shutdown(id)
      for _ = 1, 3100 do
        if not c:broker(id).online then return end
        c:run_for(100)
      end
      error("model: broker " .. id .. " still running 5 minutes after its shutdown began")
    end,
    kill = function(id) c:crash(id) end,
    restart = function(id) c:restart(id) end,
    -- a hung process (SIGSTOP): the model's pause
    pause = function(id) c:pause(id) end,
    resume = function(id) c:resume(id) end,
    settle = function(ms) c:run_for(ms) end,
    create = function() c:create_topic(topic, scenario.topic) end,
    wait_leader = function()
      for _ = 1, 600 do
        if c:partition(topic, 0).leader then return end
        c:run_for(100)
      end
      error("model: partition 0 had no leader for 60 virtual seconds")
    end,
    wait_isr = function(n)
      for _ = 1, 600 do
        local p = c:partition(topic, 0)
        if p.leader and #p.isr == n then return end
        c:run_for(100)
      end
      local p = c:partition(topic, 0)
      error(("model: partition 0 never reached an ISR of %d (leader %s, isr {%s})"):format(
        n, tostring(p.leader), table.concat(p.isr, ",")))
    end,
  }
  local out = walk(scenario, topic, e)
  out.audit = engines.audit_counts(c:audit())
  out.lost, out.duplicated, out.unexpected = out.audit.lost, out.audit.duplicated, out.audit.unexpected
  return out
end

--- Real Apache Kafka: `topic` must be a new name on the running cluster.
function engines.kafka(scenario, topic)
  local real = require "kafka.real"
  local t = scenario.topic
  local function create()
    real.topic(topic, t.partitions, t.replication_factor, t.config)
    for p = 0, t.partitions - 1 do
      real.wait_isr(topic, p, function(l, isr) return l and #isr == t.replication_factor end)
    end
  end
  if not scenario.create_later then create() end
  local producers = {}
  for name, conf in pairs(scenario.producers) do
    local tracked = { track = true }
    for k, v in pairs(conf) do
      if k ~= "bootstrap" then tracked[k] = v end
    end
    if conf.bootstrap then
      assert(not scenario.create_later, "bootstrap = WHO needs the topic from the start")
      local id = targets(conf.bootstrap, function() return (real.isr(topic, 0)) end, {})[1]
      tracked["bootstrap.servers"] = real.address(id)
    end
    producers[name] = real.producer(tracked)
  end
  local polled = {}
  local e = {
    send = function(pname, msg, cb)
      polled[pname] = producers[pname]
      assert(producers[pname]:send(msg, cb))
    end,
    wait = function(list)
      local deadline = os.time() + 120
      while true do
        local left = 0
        for _, r in ipairs(list) do if r.calls == 0 then left = left + 1 end end
        if left == 0 then return end
        assert(os.time() <= deadline, "kafka: " .. left .. " sends without a callback after 120 s")
        for _, p in pairs(polled) do p:poll(20) end
      end
    end,
    leader = function() return (real.isr(topic, 0)) end,
    stop = real.stop,
    kill = real.kill,
    restart = real.restart,
    pause = real.pause,
    resume = real.resume,
    create = create,
    settle = function(ms)
      local deadline = real.now_ms() + ms
      repeat
        for _, p in pairs(polled) do p:poll(20) end
      until real.now_ms() >= deadline
    end,
    wait_leader = function()
      real.wait_isr(topic, 0, function(l) return l ~= nil end, "a leader")
    end,
    wait_isr = function(n)
      real.wait_isr(topic, 0, function(l, isr) return l and #isr == n end, "an ISR of " .. n)
    end,
  }
  local ok, out = pcall(walk, scenario, topic, e)
  for _, p in pairs(producers) do p:close(10000) end
  if not ok then error(out, 0) end
  -- the audit, as a consumer sees the topic: each producer's, added up
  out.audit = {}
  local names = {}
  for name in pairs(producers) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do engines.audit_counts(real.audit(producers[name]), out.audit) end
  out.lost, out.duplicated, out.unexpected = out.audit.lost, out.audit.duplicated, out.audit.unexpected
  return out
end

--- Compares two engines' results; returns nil when they agree, else a list
-- of the differences in words.
function engines.diff(a, b, a_name, b_name)
  local d = {}
  if a.sent ~= b.sent then
    d[#d + 1] = ("sends: %s %d, %s %d"):format(a_name, a.sent, b_name, b.sent)
  end
  -- Per send: its outcome on each side, and, where both acknowledged it,
  -- where it landed (partition:offset).  Runs of sends that differ in the
  -- same way fold into one entry ("sends 3-5: model ok, kafka ...").
  local n = math.max(#a.outcomes, #b.outcomes)
  local kind = {}
  for i = 1, n do
    local x, y = a.outcomes[i], b.outcomes[i]
    if x ~= y then
      kind[i] = ("%s %s, %s %s"):format(a_name, tostring(x), b_name, tostring(y))
    elseif x == "ok" and a.at[i] ~= b.at[i] then
      kind[i] = ("landed at %s %s, %s %s"):format(a_name, a.at[i], b_name, b.at[i])
    end
  end
  local i = 1
  while i <= n do
    if kind[i] then
      local j = i
      local offsets = kind[i]:find("^landed")
      while j < n and kind[j + 1] and
            (kind[j + 1] == kind[i] or (offsets and kind[j + 1]:find("^landed"))) do
        j = j + 1
      end
      if i == j then d[#d + 1] = ("send %d: %s"):format(i, kind[i])
      elseif offsets then d[#d + 1] = ("sends %d-%d: %s, ..."):format(i, j, kind[i])
      else d[#d + 1] = ("sends %d-%d: %s"):format(i, j, kind[i]) end
      i = j + 1
    else
      i = i + 1
    end
  end
  for k = 1, math.max(#a.calls, #b.calls) do
    if (a.calls[k] or 0) ~= 1 then d[#d + 1] = ("send %d: %d callbacks on %s"):format(k, a.calls[k] or 0, a_name) end
    if (b.calls[k] or 0) ~= 1 then d[#d + 1] = ("send %d: %d callbacks on %s"):format(k, b.calls[k] or 0, b_name) end
  end
  -- the two audits, field by field
  for _, k in ipairs(engines.AUDIT_FIELDS) do
    local x, y = a.audit and a.audit[k], b.audit and b.audit[k]
    if x ~= y then
      d[#d + 1] = ("audit %s: %s %s, %s %s"):format(k, a_name, tostring(x), b_name, tostring(y))
    end
  end
  if #d == 0 then return nil end
  return d
end

--- One line: "model vs kafka: agree" or what differed (runs of sends with
-- the same difference are folded: "sends 3-5: model ok, kafka NOT_...").
-- A send that did not get exactly one callback is a difference too.
function engines.line(name, d)
  if not d then return ("%s: model vs kafka: agree"):format(name) end
  return ("%s: model vs kafka: %s"):format(name, table.concat(d, "; "))
end

return engines
