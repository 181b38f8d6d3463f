-- Small helpers for the model specs: build a cluster with one topic, send
-- records and collect what the callbacks said.
local insync = require "insync"

local S = {}

--- A cluster with topic "orders" (one partition unless told) on brokers 1..n.
function S.cluster(opts)
  opts = opts or {}
  local c = insync.cluster{
    brokers = opts.brokers or 3, seed = opts.seed or 1, trace = opts.trace,
    config = opts.config, strict_min_isr = opts.strict_min_isr,
    eligible_leader_replicas = opts.elr,
  }
  c:create_topic("orders", {
    partitions = opts.partitions or 1,
    replication_factor = opts.rf or 3,
    config = opts.topic_config,
    replicas = opts.replicas,
  })
  return c
end

--- Sends n records ("k1".."kn" unless keyless) to partition 0 (unless
-- told) and returns the list of outcomes, filled in as callbacks run:
-- { report = , err = , name = "OK" or err.name }.
function S.send(p, n, opts)
  opts = opts or {}
  local out = {}
  for i = 1, n do
    local o = {}
    out[i] = o
    p:send({ topic = opts.topic or "orders", key = opts.keyless and nil or ((opts.prefix or "k") .. i),
             value = "v" .. i, partition = opts.partition == nil and 0 or opts.partition or nil },
      function(report, err)
        o.report, o.err, o.name = report, err, err and err.name or "OK"
        o.done = (o.done or 0) + 1
      end)
  end
  return out
end

--- Fails (raises) unless fn(...) raises an error whose message contains
-- `text` (plain text, not a pattern).  Plain error(): this file runs
-- outside busted's environment, without its assert.
function S.raises(text, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error with: " .. text, 2) end
  if not tostring(err):find(text, 1, true) then
    error(("expected an error with: %s\ngot: %s"):format(text, tostring(err)), 2)
  end
end

--- Counts outcomes by name: { OK = 3, NOT_ENOUGH_REPLICAS = 1 }.
function S.count(out)
  local n = {}
  for _, o in ipairs(out) do
    local k = o.name or "PENDING"
    n[k] = (n[k] or 0) + 1
  end
  return n
end

function S.isr(c, topic, part)
  local isr = c:partition(topic or "orders", part or 0).isr
  return table.concat(isr, ",")
end

--- The first trace entry with this event (and matching fields).
function S.find(trace, event, fields)
  for _, e in ipairs(trace) do
    if e.event == event then
      local ok = true
      for k, v in pairs(fields or {}) do
        if e[k] ~= v then ok = false end
      end
      if ok then return e end
    end
  end
end

return S
