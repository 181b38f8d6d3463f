--- Plays a fault schedule on the model (`insync.cluster`) with given
-- settings, and writes the same run as a standalone Lua script.  The
-- script is the run: `play` loads the text `script` returns and runs it,
-- so a finding's evidence and its replay script cannot disagree.
-- See docs/check.md, "Evidence".
-- @module insync.evidence

local M = {}

local FAULTS = {
  send = true,     -- args { n }: n records to partition 0 (keys k1, k2, ...)
  crash = true,    -- args { broker[, { lose_unflushed = true }] }
  restart = true,  -- args { broker }
  shutdown = true, -- args { broker }
  pause = true,    -- args { broker }
  resume = true,   -- args { broker }
  cut = true,      -- args { node, node }
  drop = true,     -- args { from, to }
  isolate = true,  -- args { node }
  heal = true,     -- args {}
}
M.FAULTS = FAULTS

local function literal(v)
  local t = type(v)
  if t == "string" then
    return v == "producer" and "p" or ("%q"):format(v)
  elseif t == "number" then
    if v == math.floor(v) and v >= -2 ^ 53 and v <= 2 ^ 53 then return ("%d"):format(v) end
    return tostring(v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do
      local val = type(v[k]) == "string" and ("%q"):format(v[k]) or literal(v[k])
      if type(k) == "number" then
        parts[#parts + 1] = val
      elseif k:match("^[%a_][%w_]*$") then
        parts[#parts + 1] = k .. " = " .. val
      else
        parts[#parts + 1] = ("[%q] = %s"):format(k, val)
      end
    end
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  error(("evidence: cannot write a %s into a script"):format(t), 3)
end

local function check_setup(setup)
  if type(setup) ~= "table" then
    error(("evidence: setup: expected table, got %s"):format(type(setup)), 3)
  end
  for _, k in ipairs { "brokers", "replication_factor", "min_insync_replicas" } do
    if type(setup[k]) ~= "number" then
      error(("evidence: setup.%s: expected number, got %s"):format(k, type(setup[k])), 3)
    end
  end
  if type(setup.producer) ~= "table" then
    error(("evidence: setup.producer: expected table, got %s"):format(type(setup.producer)), 3)
  end
end

local function check_schedule(schedule)
  if type(schedule) ~= "table" then
    error(("evidence: schedule: expected table, got %s"):format(type(schedule)), 3)
  end
  local last = 0
  for i, step in ipairs(schedule) do
    if type(step) ~= "table" or type(step.t_ms) ~= "number" or step.t_ms < last then
      error(("evidence: schedule[%d]: expected { t_ms = (not before the previous step), fault =, args = }")
        :format(i), 3)
    end
    if not FAULTS[step.fault] then
      error(("evidence: schedule[%d].fault: unknown fault '%s'"):format(i, tostring(step.fault)), 3)
    end
    if step.args ~= nil and type(step.args) ~= "table" then
      error(("evidence: schedule[%d].args: expected table, got %s"):format(i, type(step.args)), 3)
    end
    last = step.t_ms
  end
end

--- Writes the schedule played on the settings as a standalone Lua script
-- that uses the public API only.  Run with `lua`, it prints the audit's
-- counts and exits 0 when `claim` holds (1 otherwise); loaded and called
-- with "insync-evidence" it returns the counts (and the traced cluster) instead.
-- @tparam table setup `{ brokers =, replication_factor =,
-- min_insync_replicas =, unclean = (bool), flush_messages = (the topic's
-- flush.messages: fsync every N records), producer = { model producer
-- configuration }, seed = (1), title = (a comment) }`
-- @tparam table schedule list of `{ t_ms =, fault =, args = {} }`, in time order
-- @tparam[opt] table opts `claim` (a Lua expression over the counts `sent
-- acked failed lost duplicated unexpected reordered`, default "true"),
-- `limit_ms` (how long to let sends finish after the last step: default
-- the delivery timeout plus a minute), `settle_ms` (10000: then let the
-- replicas settle before the audit)
-- @treturn string
function M.script(setup, schedule, opts)
  check_setup(setup)
  check_schedule(schedule)
  opts = opts or {}
  local rf = setup.replication_factor
  local replicas = {}
  for b = 1, rf do replicas[b] = b end
  local topic_conf = { ["min.insync.replicas"] = setup.min_insync_replicas }
  if setup.unclean ~= nil then topic_conf["unclean.leader.election.enable"] = setup.unclean end
  if setup.flush_messages then topic_conf["flush.messages"] = setup.flush_messages end
  local timeout = setup.producer["delivery.timeout.ms"] or setup.producer["message.timeout.ms"] or 300000
  local limit = opts.limit_ms or (timeout + 60000)
  local L = {}
  local function w(fmt, ...) L[#L + 1] = fmt:format(...) end
  w("-- %s", setup.title or "insync evidence")
  w("-- Written by insync check; run it with: lua this_file.lua (insync on the path)")
  w("local insync = require \"insync\"")
  w("local c = insync.cluster%s", literal { brokers = setup.brokers, seed = setup.seed or 1, trace = true })
  w("c:create_topic(\"orders\", { replication_factor = %d, replicas = { %s },", rf, literal(replicas))
  w("  config = %s })", literal(topic_conf))
  w("local p = c:producer{")
  local pkeys = {}
  for k in pairs(setup.producer) do pkeys[#pkeys + 1] = k end
  table.sort(pkeys)
  for _, k in ipairs(pkeys) do
    local v = setup.producer[k]
    w("  [%q] = %s,", k, type(v) == "string" and ("%q"):format(v) or literal(v))
  end
  w("}")
  w("local errors, n = {}, 0")
  w("local function send(count)")
  w("  for _ = 1, count do")
  w("    n = n + 1")
  w("    p:send({ topic = \"orders\", partition = 0, key = \"k\" .. n, value = \"v\" .. n },")
  w("      function(_, err) if err then errors[err.name] = (errors[err.name] or 0) + 1 end end)")
  w("  end")
  w("end")
  local now = 0
  for _, step in ipairs(schedule) do
    if step.t_ms > now then
      w("c:run_for(%d)", step.t_ms - now)
      now = step.t_ms
    end
    local args = step.args or {}
    local parts = {}
    for i = 1, #args do parts[i] = literal(args[i]) end
    if step.fault == "send" then
      w("send(%s)", parts[1] or "1")
    else
      w("c:%s(%s)", step.fault, table.concat(parts, ", "))
    end
  end
  w("c:run(%d)", limit)
  w("c:run_for(%d)", opts.settle_ms or 10000)
  w("local a = c:audit()")
  w("local sent, acked, failed = a.sent, a.acked, a.failed")
  w("local lost, duplicated, unexpected = #a.lost, #a.duplicated, #a.unexpected")
  w("local reordered, inconsistent = #a.reordered, #a.inconsistent")
  w("local code_names, refused = {}, {}")
  w("for _, name in ipairs(insync.error_names()) do code_names[insync.errors[name]] = name end")
  w("for _, ev in ipairs(c:trace()) do")
  w("  if ev.event == \"retry\" and ev.error then")
  w("    local name = code_names[ev.error] or tostring(ev.error)")
  w("    refused[name] = (refused[name] or 0) + 1")
  w("  end")
  w("end")
  w("local counts = { sent = sent, acked = acked, failed = failed, lost = lost,")
  w("  duplicated = duplicated, unexpected = unexpected, reordered = reordered,")
  w("  inconsistent = inconsistent, pending = a.pending, errors = errors, retried = refused,")
  w("  end_ms = c:now(),")
  w("  leader = c:partition(\"orders\", 0).leader }")
  w("if ... == \"insync-evidence\" then return counts, c end")
  w("local names = {}")
  w("for name, count in pairs(errors) do names[#names + 1] = name .. \"=\" .. count end")
  w("table.sort(names)")
  w("print((\"sent=%%d acked=%%d failed=%%d lost=%%d duplicated=%%d unexpected=%%d errors: %%s\"):format(")
  w("  sent, acked, failed, lost, duplicated, unexpected, #names > 0 and table.concat(names, \" \") or \"none\"))")
  w("os.exit((%s) and 0 or 1)", opts.claim or "true")
  return table.concat(L, "\n") .. "\n"
end

--- Plays a schedule on the model: the script `script` writes, run here.
-- @tparam table setup as for `script`
-- @tparam table schedule as for `script`
-- @tparam[opt] table opts as for `script`
-- @return the counts `{ sent, acked, failed, lost, duplicated, unexpected,
-- reordered, inconsistent, pending, errors = { NAME = n } (the callbacks'
-- errors), retried = { NAME = n } (the errors the producer retried, from
-- the trace), end_ms, leader }`
-- and the script's text
function M.play(setup, schedule, opts)
  local text = M.script(setup, schedule, opts)
  local chunk = assert((loadstring or load)(text, "=insync evidence"))
  return chunk("insync-evidence"), text
end

return M
