--- insync in OpenResty and in nginx's Lua module: one producer per worker.
--
--     init_worker_by_lua_block {
--       require("insync.openresty").init{
--         config = { ["bootstrap.servers"] = "127.0.0.1:9092" },
--       }
--     }
--     exit_worker_by_lua_block { require("insync.openresty").exit() }
--     ...
--     log_by_lua_block {
--       local id, err = require("insync.openresty").send({ topic = "access", value = ngx.var.request_uri })
--     }
--
-- The producer is made in each worker by `init` (never in the master: the
-- threads of a librdkafka handle do not survive fork).  `send` checks the
-- record and keeps a copy in the worker's Lua memory; it never waits for
-- anything and can be called from the rewrite, access, content and log
-- phases.  An `ngx.timer.every` hands the copies to the producer every
-- `poll_interval_ms` (librdkafka's own queue, batches of warm calls instead
-- of one cold call per request) and polls it for delivery reports; the
-- callbacks then run one after the other in that timer's coroutine, where
-- the whole nginx Lua API, cosockets and ngx.sleep included, is available.
-- A callback that raises is logged with its traceback (ngx.ERR) and the
-- others still run.
--
-- When the worker exits (nginx -s reload / HUP, nginx -s quit / QUIT) the
-- timer fires one last time: it keeps polling for up to `exit_timeout_ms`,
-- then closes the producer, which purges every record still undelivered and
-- hands each one to its callback with `_PURGE_QUEUE` or `_PURGE_INFLIGHT`.
-- The counts of sent, delivered, failed and purged records are logged
-- (ngx.NOTICE) per worker.  `exit()` (exit_worker_by_lua*) does the same for
-- a fast shutdown (nginx -s stop / TERM), where timers do not run.
-- @module insync.openresty

local insync = require "insync"

local ngx = ngx
local pairs, type, tostring, xpcall, pcall = pairs, type, tostring, xpcall, pcall
local traceback = debug.traceback

local M = { _VERSION = insync._VERSION }

local DEFAULTS = {
  poll_interval_ms = 10,
  exit_timeout_ms = 5000,
  metrics_interval_ms = 1000,
}

local state = "new"      -- "new" -> "running" -> "closed"
local producer           -- this worker's insync.producer while "running"
local opts               -- the options given to init, with defaults
local counts = {
  sent = 0,              -- sends accepted (by send; handed to the producer by the timer)
  delivered = 0,         -- reports without error (the producer's count, read after each poll)
  failed = 0,            -- reports with an error other than a purge
  purged = 0,            -- reports with _PURGE_QUEUE or _PURGE_INFLIGHT
  queue_full = 0,        -- sends refused with _QUEUE_FULL (not accepted)
  rejected = 0,          -- sends refused because this worker had closed its producer
  callback_errors = 0,   -- callbacks that raised (logged with traceback)
}
-- Reports waiting for their callback: flat triples (cb, report, err) in
-- queue[head .. tail].  Filled while the producer is polled (its callbacks
-- run inside a C function, where a Lua callback could not yield: the
-- collecting one does not), emptied in Lua right after, where it can.
local queue, head, tail = {}, 1, 0
-- Records accepted by send and not yet handed to the producer: the checked
-- copies of the messages in pending[1 .. npending].
local pending, npending = {}, 0
local max_messages       -- queue.buffering.max.messages: the bound send keeps to
local seq = 0            -- the number send returns
local busy = false       -- a timer run is serving reports (callbacks may yield)
local last_publish = 0
local last_stats         -- librdkafka's latest statistics, decoded

local function log_err(...)
  ngx.log(ngx.ERR, "insync.openresty: ", ...)
end

-- Accepted sends without a report yet: pending here, or in librdkafka.
local function in_flight()
  return counts.sent - counts.delivered - counts.failed - counts.purged
end

-- Counts a failed report and queues the report's callback.  Successes are
-- counted by the producer itself (producer:counts()), so a send without a
-- callback costs no Lua call when it succeeds: only its failure comes here,
-- from on_error.
local function collect(cb, report, err)
  if err ~= nil then
    if err.name == "_PURGE_QUEUE" or err.name == "_PURGE_INFLIGHT" then
      counts.purged = counts.purged + 1
    else
      counts.failed = counts.failed + 1
    end
  end
  if cb then
    tail = tail + 3
    queue[tail - 2], queue[tail - 1], queue[tail] = cb, report, err
  elseif err ~= nil then
    -- Nobody asked for this report: it must not vanish silently.
    ngx.log(ngx.WARN, "insync.openresty: record to ", tostring(report.topic), " [",
      tostring(report.partition), "] key ", tostring(report.key), " not delivered: ", tostring(err))
  end
end

-- The producer's callback for a send with one: the record's copy travels
-- as the opaque and carries the caller's callback and opaque.
local function deliver(report, err)
  local copy = report.opaque
  report.opaque = copy.user_opaque
  collect(copy.cb, report, err)
end

-- The report of a record refused before librdkafka took it: what
-- insync.report gives (a userdata core builds only from a delivery),
-- as a table.  Fields: topic, partition (nil unless msg.partition was
-- given), key, opaque; offset and latency_ms are unknown, so nil.
local REPORT_FIELDS = { "topic", "partition", "offset", "key", "latency_ms", "opaque" }
local report_mt = { __index = {} }

--- `report:totable()`: a plain table of its fields.
function report_mt.__index.totable(r)
  local t = {}
  for k, v in pairs(r) do t[k] = v end
  return t
end

-- As insync.report's: "insync.report{topic=t partition=0 key=k opaque=...}".
function report_mt.__tostring(r)
  local parts = {}
  for _, name in ipairs(REPORT_FIELDS) do
    local v = rawget(r, name)
    if v ~= nil then parts[#parts + 1] = name .. "=" .. tostring(v) end
  end
  return "insync.report{" .. table.concat(parts, " ") .. "}"
end

local function report_of(copy)
  return setmetatable({ topic = copy.topic, partition = copy.partition, key = copy.key,
    opaque = copy.cb and copy.user_opaque or nil }, report_mt)
end

-- Hands the pending records to the producer, in order.  librdkafka refuses
-- one only when its queue is full (the bound send keeps to counts what is
-- pending, not the bytes): that record then fails through its callback.
-- send checks each record as producer:send does, so producer:send raising
-- here is not expected; if it does all the same, the record fails through
-- its callback with _INVALID_ARG, counted as failed, never stuck in flight.
local function hand_over()
  if npending == 0 then return end
  local p, list, n = producer, pending, npending
  pending, npending = {}, 0
  for i = 1, n do
    local copy = list[i]
    local ok, id, err = pcall(p.send, p, copy, copy.cb and deliver or nil)
    if not ok then
      log_err("record to ", tostring(copy.topic), " refused: ", tostring(id))
      id, err = nil, insync.error("_INVALID_ARG", tostring(id))
    end
    if not id then collect(copy.cb, report_of(copy), err) end
  end
end

-- Callbacks run in a row before the timer lets the event loop serve
-- requests (ngx.sleep(0)), so a burst of reports does not hold them up.
local BURST = 200

-- Runs the queued callbacks, each under xpcall (which lets it yield);
-- `can_yield` is false in exit_worker, where nothing may yield.
local function drain(can_yield)
  local ran = 0
  while head <= tail do
    if can_yield and ran >= BURST then
      ngx.sleep(0)
      ran = 0
    end
    ran = ran + 1
    local i = head
    local cb, report, err = queue[i], queue[i + 1], queue[i + 2]
    queue[i], queue[i + 1], queue[i + 2] = nil, nil, nil
    head = i + 3
    local ok, e = xpcall(cb, traceback, report, err)
    if not ok then
      counts.callback_errors = counts.callback_errors + 1
      log_err("delivery callback raised (the other reports are still served): ", tostring(e))
    end
  end
  head, tail = 1, 0
end

-- Reports are handed out only in poll, flush and close: after each, the
-- producer's count of deliveries is this worker's.
local function count_delivered(p)
  counts.delivered = p:counts().delivered
end

local function poll()
  hand_over()
  local ok, e = pcall(producer.poll, producer, 0)
  if not ok then log_err("poll: ", tostring(e)) end
  count_delivered(producer)
end

--- This worker's counters: `pid`, `worker` (ngx.worker.id()), `queue_depth`
-- (accepted sends whose report has not arrived yet), `pending` (of those,
-- the ones the timer has not handed to librdkafka yet), `sent`, `delivered`,
-- `failed`, `purged`, `queue_full`, `rejected`, `callback_errors`,
-- `pending_callbacks`, `state` ("new", "running", "closed"), and `stats`
-- (librdkafka's last statistics, decoded, when `statistics.interval.ms` is
-- set and the producer reports them).
function M.metrics()
  local m = {
    pid = ngx.worker.pid(),
    worker = ngx.worker.id(),
    state = state,
    queue_depth = in_flight(),
    pending = npending,
    pending_callbacks = (tail - head + 1) / 3,
  }
  for k, v in pairs(counts) do m[k] = v end
  m.stats = last_stats
  return m
end

local cjson
local function json()
  if not cjson then cjson = require "cjson.safe" end
  return cjson
end

local function shdict()
  return opts and opts.shm and ngx.shared[opts.shm]
end

-- Puts this worker's counters in the shared dict (when one is configured),
-- so that any worker can serve every worker's metrics.
local function publish(force)
  local dict = shdict()
  if not dict then return end
  local now = ngx.now()
  if not force and (now - last_publish) * 1000 < opts.metrics_interval_ms then return end
  last_publish = now
  -- Keyed by pid: after a reload an exiting worker and its successor share
  -- a worker id.  The entry expires if its worker stops publishing.
  local ttl = math.max(10, opts.metrics_interval_ms / 100)
  local ok, err = dict:set("worker:" .. ngx.worker.pid(), json().encode(M.metrics()), ttl)
  if not ok then log_err("metrics: lua_shared_dict ", opts.shm, ": ", tostring(err)) end
end

--- Every worker's metrics: `{ workers = { metrics, ... }, exited = { sent =,
-- delivered =, failed =, purged =, queue_full =, rejected = } }`, workers
-- sorted by worker id then pid (after a reload, exiting workers are listed
-- until they are gone), `exited` summing the workers that have exited since
-- nginx started.  Needs `shm`; without it, `workers` holds only this worker.
function M.all_metrics()
  local dict = shdict()
  local out = { workers = {}, exited = {} }
  if not dict then
    out.workers[1] = M.metrics()
    return out
  end
  publish(true)
  for _, key in ipairs(dict:get_keys(0)) do
    if key:find("^worker:") then
      local m = json().decode(dict:get(key) or "null")
      if m then out.workers[#out.workers + 1] = m end
    end
    local name = key:match("^exited:(.+)$")
    if name then out.exited[name] = dict:get(key) end
  end
  table.sort(out.workers, function(a, b)
    -- ngx.worker.id() is nil outside the worker processes (privileged agent)
    local wa, wb = a.worker or -1, b.worker or -1
    if wa ~= wb then return wa < wb end
    return a.pid < b.pid
  end)
  return out
end

--- A content handler: writes `all_metrics()` as JSON.
--     location = /insync/metrics { content_by_lua_block { require("insync.openresty").serve_metrics() } }
function M.serve_metrics()
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json().encode(M.all_metrics()))
end

-- Closes the producer: what is still undelivered is purged and reaches its
-- callback with an error; then the counts are logged.
local function finish(how)
  hand_over()
  local p = producer
  state, producer = "closed", nil
  local ok, e = pcall(p.close, p, 0)
  if not ok then log_err("close: ", tostring(e)) end
  count_delivered(p)
  drain(how == "graceful")
  ngx.log(ngx.NOTICE, "insync.openresty: worker ", ngx.worker.pid(), " exiting (", how, "): sent ",
    counts.sent, ", delivered ", counts.delivered, ", failed ", counts.failed, ", purged ", counts.purged,
    ", queue_full ", counts.queue_full, ", rejected ", counts.rejected, ", callback_errors ",
    counts.callback_errors, ", undelivered without report ", in_flight())
  local dict = shdict()
  if dict then
    dict:delete("worker:" .. ngx.worker.pid())
    for _, k in ipairs({ "sent", "delivered", "failed", "purged", "queue_full", "rejected" }) do
      dict:incr("exited:" .. k, counts[k], 0)
    end
  end
end

-- The worker is exiting gracefully: keep serving reports for up to
-- exit_timeout_ms (the event loop keeps running, requests still in progress
-- may still send), then purge the rest.
local function exit_drain()
  while busy do ngx.sleep(0.001) end
  if state ~= "running" then return end
  busy = true
  local deadline = ngx.now() + opts.exit_timeout_ms / 1000
  repeat
    poll()
    drain(true)
    if in_flight() <= 0 then break end
    ngx.sleep(opts.poll_interval_ms / 1000)
  until ngx.now() >= deadline
  finish("graceful")
  busy = false
end

local function tick(premature)
  if premature then return exit_drain() end
  if state ~= "running" then return end
  if busy then
    -- An earlier run is in a callback that waits (a cosocket): keep
    -- librdkafka fed and its reports collected; that run hands them out.
    poll()
    return
  end
  busy = true
  poll()
  drain(true)
  busy = false
  publish(false)
end

-- syslog levels (librdkafka's) to nginx's.
local LEVELS = { [0] = ngx.EMERG, ngx.ALERT, ngx.CRIT, ngx.ERR, ngx.WARN, ngx.NOTICE, ngx.INFO, ngx.DEBUG }

local function log_rdkafka(level, facility, message)
  ngx.log(LEVELS[level] or ngx.NOTICE, "librdkafka: ", facility, ": ", message)
end

local function error_rdkafka(err)
  ngx.log(err.fatal and ngx.ERR or ngx.WARN, "librdkafka: ", tostring(err))
end

local function check_ms(o, name)
  local v = o[name]
  if v == nil then return DEFAULTS[name] end
  if type(v) ~= "number" or v < 0 then
    error(("insync.openresty.init: %s: expected a number >= 0, got %s"):format(name, tostring(v)), 3)
  end
  return v
end

--- Makes this worker's producer and starts its poll timer.  Call it from
-- init_worker_by_lua* (it raises anywhere else, in particular in
-- init_by_lua*, the master).  Options:
-- `config` (required): librdkafka's configuration, as for insync.producer;
-- `poll_interval_ms` (10): how often the timer serves delivery reports;
-- `exit_timeout_ms` (5000): how long an exiting worker waits for deliveries
-- before purging; `shm`: a lua_shared_dict name for metrics of all workers;
-- `metrics_interval_ms` (1000): how often each worker publishes to `shm`.
-- Returns the producer.
function M.init(o)
  if type(o) ~= "table" then
    error("insync.openresty.init: options: expected table, got " .. type(o), 2)
  end
  if type(o.config) ~= "table" then
    error("insync.openresty.init: config: expected table, got " .. type(o.config), 2)
  end
  -- init wraps these two, so the producer never sees the caller's own
  for _, name in ipairs{ "on_error", "on_stats" } do
    local f = o.config[name]
    if f ~= nil and type(f) ~= "function" then
      error(("insync.openresty.init: config.%s: expected function, got %s"):format(name, type(f)), 2)
    end
  end
  local phase = ngx.get_phase()
  if phase ~= "init_worker" then
    error("insync.openresty.init: call it from init_worker_by_lua*, not from " .. phase
      .. " (librdkafka's threads do not survive nginx's fork of the workers)", 2)
  end
  if state ~= "new" then error("insync.openresty.init: already called in this worker", 2) end
  if o.shm ~= nil and not ngx.shared[o.shm] then
    error("insync.openresty.init: shm: no lua_shared_dict named " .. tostring(o.shm), 2)
  end
  opts = {
    config = o.config,
    shm = o.shm,
    poll_interval_ms = check_ms(o, "poll_interval_ms"),
    exit_timeout_ms = check_ms(o, "exit_timeout_ms"),
    metrics_interval_ms = check_ms(o, "metrics_interval_ms"),
  }
  -- librdkafka's statistics (when statistics.interval.ms is set) are kept
  -- for metrics(); the caller's own on_stats still runs.
  local config = {}
  for k, v in pairs(o.config) do config[k] = v end
  local user_on_stats = o.config.on_stats
  config.on_stats = function(stats, text)
    last_stats = stats
    if user_on_stats then return user_on_stats(stats, text) end
  end
  -- librdkafka's logs and errors go to nginx's error log unless the caller
  -- takes them (they are served by the poll timer, like the reports).
  if config.on_log == nil then config.on_log = log_rdkafka end
  -- A send made without a callback has none: when it fails, the producer
  -- hands its report to on_error, which counts it as collect does.
  local client_error = o.config.on_error or error_rdkafka
  config.on_error = function(err, report)
    if report ~= nil then return collect(nil, report, err) end
    return client_error(err)
  end
  producer = insync.producer(config)
  -- librdkafka's default for queue.buffering.max.messages is 100000.
  max_messages = tonumber(o.config["queue.buffering.max.messages"]) or 100000
  local ok, err = ngx.timer.every(math.max(opts.poll_interval_ms, 1) / 1000, tick)
  if not ok then
    producer:close(0)
    producer = nil
    error("insync.openresty.init: ngx.timer.every: " .. tostring(err), 2)
  end
  state = "running"
  publish(true)
  return producer
end

-- The message producer:send raises for the same mistake (csrc/lua/msg.c):
-- a count out of range is named by its value, anything else by its type.
-- The error names the line that called send: `depth` is how deep below
-- send its caller is (1, copy_msg, by default; 2 for copy_headers).
local function bad(field, expected, v, by_value, depth)
  local got = by_value and type(v) == "number" and tostring(v) or type(v)
  error(("send: msg.%s: expected %s, got %s"):format(field, expected, got), (depth or 1) + 3)
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -math.huge and v < math.huge
end

-- Topic names producer:send takes (the rule and words of msg.c); the
-- names seen pass at once, up to 1000 of them.
local core = require "insync.core"
local good_topics, ngood = {}, 0
local function check_topic(topic)
  if good_topics[topic] then return end
  local ok, err = pcall(core.check_topic, topic)
  if not ok then error(err, 4) end
  if ngood >= 1000 then good_topics, ngood = {}, 0 end
  good_topics[topic], ngood = true, ngood + 1
end

-- A copy of msg's headers, checked as producer:send checks them:
-- { name = value, ... } or { {name, value}, ... }.
local function copy_headers(h)
  local out = {}
  for k, v in pairs(h) do
    if type(k) == "number" and type(v) == "table" then
      local name, value = rawget(v, 1), rawget(v, 2)
      if type(name) ~= "string" then bad("headers[i][1]", "string", name, false, 2) end
      if value ~= nil and type(value) ~= "string" then bad("headers[i][2]", "string or nil", value, false, 2) end
      out[k] = { name, value }
    else
      if type(k) ~= "string" then bad("headers (a name)", "string", k, false, 2) end
      if type(v) ~= "string" then bad("headers (a value)", "string", v, false, 2) end
      out[k] = v
    end
  end
  return out
end

-- Checks msg as producer:send does and returns a copy of it, so that the
-- caller may reuse or change its table once send returns.
local function copy_msg(msg, cb)
  if type(msg) ~= "table" then
    error("send: msg: expected table, got " .. type(msg), 3)
  end
  local topic, key, value = rawget(msg, "topic"), rawget(msg, "key"), rawget(msg, "value")
  local partition, timestamp, headers = rawget(msg, "partition"), rawget(msg, "timestamp"), rawget(msg, "headers")
  if type(topic) ~= "string" then bad("topic", "string", topic) end
  check_topic(topic)
  if key ~= nil and type(key) ~= "string" then bad("key", "string or nil", key) end
  if value ~= nil and type(value) ~= "string" then bad("value", "string or nil", value) end
  if partition ~= nil then
    if not is_integer(partition) or partition < 0 then
      bad("partition", "a partition number (integer >= 0)", partition, true)
    end
    if partition > 2147483647 then bad("partition", "a partition number (integer >= 0)", partition, true) end
  end
  -- at most 2^63 - 1, as producer:send: a double of 2^63 or more is no int64
  if timestamp ~= nil and (not is_integer(timestamp) or timestamp < 0 or timestamp >= 2 ^ 63) then
    bad("timestamp", "milliseconds since the epoch (integer >= 0)", timestamp, true)
  end
  if headers ~= nil then
    if type(headers) ~= "table" then bad("headers", "table", headers) end
    headers = copy_headers(headers)
  end
  local copy = { topic = topic, key = key, value = value, partition = partition, timestamp = timestamp,
    headers = headers }
  if cb then
    copy.cb, copy.user_opaque, copy.opaque = cb, rawget(msg, "opaque"), copy
  end
  return copy
end

--- Accepts `msg` (the fields of producer:send) and returns a number, or nil
-- and an error object: `_QUEUE_FULL` when the records not yet delivered
-- reach `queue.buffering.max.messages` (nothing waits: the caller decides
-- to drop and count, or to fail the request), `_DESTROY` when this worker
-- has already closed its producer (it is exiting); then no callback runs.
-- The record goes to librdkafka at the poll timer's next run.
-- `cb(report, err)`, when given, runs in the poll timer once the record is
-- delivered or has failed (anything librdkafka refuses later reaches it
-- too).  Raises on misuse: a bad msg, naming the field, as producer:send;
-- no init in this worker.
function M.send(msg, cb)
  if state ~= "running" then
    if state == "new" then
      error("insync.openresty.send: no producer in this worker: call insync.openresty.init "
        .. "from init_worker_by_lua*", 2)
    end
    counts.rejected = counts.rejected + 1
    return nil, insync.error("_DESTROY", "insync.openresty: this worker is exiting and has closed its producer")
  end
  if cb ~= nil and type(cb) ~= "function" then
    error("insync.openresty.send: cb: expected function or nil, got " .. type(cb), 2)
  end
  local copy = copy_msg(msg, cb)
  if in_flight() >= max_messages then
    counts.queue_full = counts.queue_full + 1
    return nil, insync.error("_QUEUE_FULL")
  end
  npending = npending + 1
  pending[npending] = copy
  counts.sent = counts.sent + 1
  seq = seq + 1
  return seq
end

--- For exit_worker_by_lua*: when the worker exits without its timer having
-- run (a fast shutdown, nginx -s stop), flushes for up to exit_timeout_ms,
-- then purges and reports what is left, as on a graceful exit.  Callbacks
-- run here cannot yield (no cosockets in exit_worker).  Does nothing when
-- the producer is already closed.
function M.exit()
  if state ~= "running" then return end
  hand_over()
  local ok, e = pcall(producer.flush, producer, opts.exit_timeout_ms)
  if not ok then log_err("flush: ", tostring(e)) end
  count_delivered(producer)
  drain(false)
  finish("exit_worker")
end

--- This worker's insync.producer (nil before init and once closed).
function M.producer()
  return producer
end

return M
