--- What the two pictures of a scenario share (insync.diagram, the Mermaid
-- sequence diagram, and insync.timeline, the SVG timeline): checking their
-- arguments, naming errors, brokers and producers, and choosing the
-- partitions to draw.  Internal: use insync.diagram and insync.timeline.
-- @module insync.picture

local core = require "insync.core"

local M = {}

local floor, huge = math.floor, math.huge
local tointeger = math.tointeger   -- nil on LuaJIT, where every number is a double

local function typename(v)
  if type(v) == "number" and v ~= floor(v) then return "a fraction" end
  return type(v)
end
M.typename = typename

--- Raises "<fn>: <msg>" at the caller of the public function.
function M.fail(fn, msg, level)
  error(("%s: %s"):format(fn, msg), (level or 1) + 2)
end

local function is_int(v)
  return type(v) == "number" and v == floor(v) and v > -huge and v < huge
end
M.is_int = is_int

--- Checks the trace and audit arguments; @return trace, audit (an empty
-- audit for nil).
function M.check_inputs(fn, trace, audit)
  if type(trace) ~= "table" then
    M.fail(fn, ("trace: expected a list of trace events, got %s"):format(typename(trace)), 2)
  end
  local copy
  for i = 1, #trace do
    local e = trace[i]
    if type(e) ~= "table" or type(e.event) ~= "string" or not is_int(e.t) then
      M.fail(fn, ("trace[%d]: expected a trace event { t = , event = , ... }, got %s")
        :format(i, type(e) == "table" and "a table without t or event" or typename(e)), 2)
    end
    -- Read back from JSON (lua-cjson on Lua 5.4), whole numbers are
    -- floats: made integers again, so that "B" .. 1 is "B1".
    if tointeger and math.type(e.t) == "float" then
      copy = copy or { table.unpack(trace, 1, i - 1) }
      local f = {}
      for k, v in pairs(e) do f[k] = type(v) == "number" and tointeger(v) or v end
      e = f
    end
    if copy then copy[i] = e end
  end
  trace = copy or trace
  if audit == nil then return trace, {} end
  if type(audit) ~= "table" then
    M.fail(fn, ("audit: expected the table c:audit() returns, got %s"):format(typename(audit)), 2)
  end
  local out = {}
  for _, k in ipairs{ "lost", "duplicated" } do
    local list = audit[k]
    if list ~= nil then
      if type(list) ~= "table" then
        M.fail(fn, ("audit.%s: expected a list, got %s"):format(k, typename(list)), 2)
      end
      out[k] = {}
      for i, r in ipairs(list) do
        if type(r) ~= "table" or type(r.topic) ~= "string" or not is_int(r.partition)
           or not is_int(r.offset) then
          M.fail(fn, ("audit.%s[%d]: expected a record { topic, partition, offset, ... }")
            :format(k, i), 2)
        end
        if tointeger and math.type(r.offset) == "float" then   -- read back from JSON
          local f = {}
          for key, v in pairs(r) do f[key] = type(v) == "number" and tointeger(v) or v end
          r = f
        end
        out[k][i] = r
      end
    end
  end
  return trace, out
end

--- Checks opts against `known` (name -> checker(fn, name, value) returning
-- the value to use); unknown names raise.  @return a fresh table.
function M.check_opts(fn, opts, known)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    M.fail(fn, ("opts: expected table, got %s"):format(typename(opts)), 2)
  end
  local out = {}
  for k, v in pairs(opts) do
    local check = type(k) == "string" and known[k]
    if not check then M.fail(fn, ("unknown option '%s'"):format(tostring(k)), 2) end
    out[k] = check(fn, k, v)
  end
  return out
end

function M.int_opt(min, max)
  return function(fn, name, v)
    if not is_int(v) then
      M.fail(fn, ("%s: expected integer, got %s"):format(name, typename(v)), 4)
    end
    if min and v < min then M.fail(fn, ("%s: expected at least %d, got %d"):format(name, min, v), 4) end
    if max and v > max then M.fail(fn, ("%s: expected at most %d, got %d"):format(name, max, v), 4) end
    return v
  end
end

function M.string_opt(fn, name, v)
  if type(v) ~= "string" then
    M.fail(fn, ("%s: expected string, got %s"):format(name, typename(v)), 4)
  end
  return v
end

function M.bool_opt(fn, name, v)
  if type(v) ~= "boolean" then
    M.fail(fn, ("%s: expected boolean, got %s"):format(name, typename(v)), 4)
  end
  return v
end

--- partitions: one partition number or a list of them.
function M.partitions_opt(fn, name, v)
  if is_int(v) and v >= 0 then return { v } end
  if type(v) ~= "table" or #v == 0 then
    M.fail(fn, ("%s: expected a partition number or a list of them, got %s"):format(name, typename(v)), 4)
  end
  local out = {}
  for i, p in ipairs(v) do
    if not is_int(p) or p < 0 then
      M.fail(fn, ("%s[%d]: expected a partition number, got %s"):format(name, i, typename(p)), 4)
    end
    out[i] = p
  end
  return out
end

--- records: offsets, or audit entries (their offset and partition).
function M.records_opt(fn, name, v)
  if type(v) ~= "table" or #v == 0 then
    M.fail(fn, ("%s: expected a list of offsets or of audit records, got %s"):format(name, typename(v)), 4)
  end
  local out = {}
  for i, r in ipairs(v) do
    local o = type(r) == "table" and r.offset or r
    if not is_int(o) or o < 0 then
      M.fail(fn, ("%s[%d]: expected an offset or an audit record, got %s"):format(name, i, typename(r)), 4)
    end
    out[o] = true
  end
  return out
end

local names = {}
--- The librdkafka name of an error code (0: "OK").
function M.err_name(code)
  if code == 0 or code == nil then return "OK" end
  local n = names[code]
  if not n then
    local ok, e = pcall(core.error, code)
    n = ok and e.name or ("ERROR " .. tostring(code))
    names[code] = n
  end
  return n
end

--- Partition key "topic/partition" of an event or record (nil when none).
local keys = {}   -- topic -> partition -> "topic/partition"
function M.key(e)
  local t, p = e.topic, e.partition
  if t == nil or p == nil then return nil end
  local byp = keys[t]
  if not byp then byp = {}; keys[t] = byp end
  local k = byp[p]
  if not k then k = t .. "/" .. p; byp[p] = k end
  return k
end

--- Broker ids of an ISR or ELR bit mask, ascending.
function M.members(mask)
  local out, b = {}, 0
  while mask > 0 do
    if mask % 2 == 1 then out[#out + 1] = b end
    mask = floor(mask / 2)
    b = b + 1
  end
  return out
end

--- The number of brokers, as far as the trace tells (the largest broker id
-- seen as a node, leader, follower or ISR member).
function M.brokers(trace)
  local n = 0
  local function see(b) if is_int(b) and b > n then n = b end end
  for i = 1, #trace do
    local e = trace[i]
    if type(e.node) == "number" then see(e.node) end
    if e.event ~= "request" then see(e.leader) end
    if e.event == "fetch" then see(e.follower) end
    if e.event == "fence" or e.event == "unfence" then see(e.broker) end
    if e.isr then local m = M.members(e.isr); see(m[#m]) end
  end
  return n
end

--- The node a drop went to (numbers in the trace: 0 the controller, 1..n
-- the brokers, above them the producers): a broker id, "controller" or
-- "producerK".
function M.node_name(to, nbrokers)
  if to == 0 then return "controller" end
  if to <= nbrokers then return to end
  return "producer" .. (to - nbrokers)
end

--- The partitions the pictures draw: those named by opts (topic,
-- partitions), else those of the lost or duplicated records, else every
-- partition in the trace.  @return the sorted list of keys, a set of them,
-- and every partition key in the trace.
function M.choose_partitions(fn, trace, audit, opts)
  local all, seen, topics = {}, {}, {}
  for i = 1, #trace do
    local k = M.key(trace[i])
    if k and not seen[k] then
      seen[k] = true
      all[#all + 1] = k
      topics[trace[i].topic] = true
    end
  end
  local function by_name(a, b)
    local ta, pa = a:match("^(.*)/(%d+)$")
    local tb, pb = b:match("^(.*)/(%d+)$")
    if ta ~= tb then return ta < tb end
    return tonumber(pa) < tonumber(pb)
  end
  table.sort(all, by_name)
  local chosen = {}
  if opts.topic or opts.partitions then
    local topic = opts.topic
    if not topic then
      local only
      for t in pairs(topics) do
        if only then M.fail(fn, "partitions: the trace has several topics: give topic too", 2) end
        only = t
      end
      topic = only
    end
    if topic and not topics[topic] then
      M.fail(fn, ("topic: '%s' is not in the trace"):format(topic), 2)
    end
    for _, k in ipairs(all) do
      local t, p = k:match("^(.*)/(%d+)$")
      if t == topic then
        local want = not opts.partitions
        for _, q in ipairs(opts.partitions or {}) do
          if q == tonumber(p) then want = true end
        end
        if want then chosen[#chosen + 1] = k end
      end
    end
    for _, q in ipairs(opts.partitions or {}) do
      if not seen[(topic or "?") .. "/" .. q] then
        M.fail(fn, ("partitions: %s/%d is not in the trace"):format(tostring(topic), q), 2)
      end
    end
  else
    local marked = {}
    for _, list in ipairs{ audit.lost or {}, audit.duplicated or {} } do
      for _, r in ipairs(list) do marked[M.key(r)] = true end
    end
    for _, k in ipairs(all) do
      if marked[k] then chosen[#chosen + 1] = k end
    end
    if #chosen == 0 then for i, k in ipairs(all) do chosen[i] = k end end
  end
  local set = {}
  for _, k in ipairs(chosen) do set[k] = true end
  return chosen, set, all
end

--- Per partition key, the audit's records of one list, sorted by offset.
function M.by_partition(list)
  local out = {}
  for _, r in ipairs(list or {}) do
    local k = M.key(r)
    out[k] = out[k] or {}
    table.insert(out[k], r)
  end
  for _, l in pairs(out) do
    table.sort(l, function(a, b)
      if a.offset ~= b.offset then return a.offset < b.offset end
      return (a.id or 0) < (b.id or 0)
    end)
  end
  return out
end

--- "3" or "3..7".
function M.range(first, count)
  if count <= 1 then return tostring(first) end
  return ("%d..%d"):format(first, first + count - 1)
end

return M
