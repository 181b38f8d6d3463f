--- insync in OpenResty and in nginx's Lua module: producers per worker.
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
-- `send_wait` is the send of a handler that answers only once the record
-- is acknowledged: it yields the request (an ngx.semaphore) until the
-- record's report arrives or its timeout passes; the worker serves other
-- requests meanwhile.
--
-- A worker may run several producers, each under its own name (one per
-- cluster, or per configuration): `init{ name = "audit", ... }`, then
-- `get("audit"):send(...)`.  The one without a name is "default", the one
-- `send`, `send_wait`, `metrics` and `producer` use.  Each has its own
-- timer, counters and drain.
--
-- When the worker exits (nginx -s reload / HUP, nginx -s quit / QUIT) each
-- producer's timer fires one last time: it keeps polling for up to
-- `exit_timeout_ms`, then closes the producer, which purges every record
-- still undelivered and hands each one to its callback with `_PURGE_QUEUE`
-- or `_PURGE_INFLIGHT`.  The counts of sent, delivered, failed and purged
-- records are logged (ngx.NOTICE) per worker and producer.  `exit()`
-- (exit_worker_by_lua*) does the same for a fast shutdown (nginx -s stop /
-- TERM), where timers do not run.
--
-- Metrics: `metrics()` (this worker), `all_metrics()` (every worker, through
-- a lua_shared_dict), `serve_metrics()` (JSON), `serve_prometheus()` (the
-- Prometheus text format 0.0.4) and `prometheus(registry)` (the same series
-- in an nginx-lua-prometheus registry).  librdkafka's log and error events
-- go to nginx's error log, one line each.
-- @module insync.openresty

local insync = require "insync"
local core = require "insync.core"

local ngx = ngx
local pairs, ipairs, type, tostring, xpcall, pcall = pairs, ipairs, type, tostring, xpcall, pcall
local traceback = debug.traceback

local M = { _VERSION = insync._VERSION }

local DEFAULTS = {
  poll_interval_ms = 10,
  exit_timeout_ms = 5000,
  metrics_interval_ms = 1000,
}

--- The name of the producer made by `init` without a name.
M.DEFAULT = "default"

-- This worker's producers: name -> handle, and the names in init order.
local handles, names = {}, {}
local shm_name           -- the lua_shared_dict for metrics (the first init's shm)
local metrics_interval_ms = DEFAULTS.metrics_interval_ms

-- The counters kept per producer; `published` ones reach the shared dict
-- and are added to the exited totals when a worker exits.
local COUNTERS = { "sent", "delivered", "failed", "purged", "queue_full", "rejected", "callback_errors",
  "wait_timeouts" }

local Handle = {}
Handle.__index = Handle

local function new_handle(name)
  local counts = {}
  for _, k in ipairs(COUNTERS) do counts[k] = 0 end
  return setmetatable({
    name = name,
    state = "new",       -- "new" -> "running" -> "closed"
    p = nil,             -- the insync.producer while "running"
    opts = nil,          -- the options given to init, with defaults
    counts = counts,     -- sent: accepted sends; delivered: the producer's count, read after each poll;
                         -- failed: reports with an error other than a purge; purged: _PURGE_QUEUE or
                         -- _PURGE_INFLIGHT; queue_full, rejected: sends refused (_QUEUE_FULL, _DESTROY);
                         -- callback_errors: callbacks that raised; wait_timeouts: send_wait timeouts
    sent_by = {},        -- topic -> accepted sends
    failed_by = {},      -- "topic\terror" -> reports with that error (purges included)
    refused_by = {},     -- "topic\terror" -> sends refused at once
    client_errors = {},  -- error name -> librdkafka error events not about one record
    -- Reports waiting for their callback: flat triples (cb, report, err) in
    -- queue[head .. tail].  Filled while the producer is polled (its
    -- callbacks run inside a C function, where a Lua callback could not
    -- yield: the collecting one does not), emptied in Lua right after.
    queue = {}, head = 1, tail = 0,
    -- Records accepted by send and not yet handed to the producer.
    pending = {}, npending = 0,
    max_messages = 100000, -- queue.buffering.max.messages: the bound send keeps to
    seq = 0,             -- the number send returns
    busy = false,        -- a timer run is serving reports (callbacks may yield)
    last_publish = 0,
    stats = nil,         -- librdkafka's latest statistics, decoded
    fail_pending = {},   -- librdkafka FAIL log lines of this poll: { level, message } (see log_rdkafka)
    logged = {},         -- the last FAIL lines logged without their error event
  }, Handle)
end

local function log_err(h, ...)
  ngx.log(ngx.ERR, "insync.openresty[", h.name, "]: ", ...)
end

-- Accepted sends without a report yet: pending here, or in librdkafka.
local function in_flight(h)
  local c = h.counts
  return c.sent - c.delivered - c.failed - c.purged
end

local function bump(t, key)
  t[key] = (t[key] or 0) + 1
end

-- Counts a failed report and queues the report's callback.  Successes are
-- counted by the producer itself (producer:counts()), so a send without a
-- callback costs no Lua call when it succeeds: only its failure comes here,
-- from on_error.
local function collect(h, cb, report, err)
  if err ~= nil then
    if err.name == "_PURGE_QUEUE" or err.name == "_PURGE_INFLIGHT" then
      h.counts.purged = h.counts.purged + 1
    else
      h.counts.failed = h.counts.failed + 1
    end
    bump(h.failed_by, tostring(report.topic) .. "\t" .. err.name)
  end
  if cb then
    local tail = h.tail + 3
    h.tail = tail
    local queue = h.queue
    queue[tail - 2], queue[tail - 1], queue[tail] = cb, report, err
  elseif err ~= nil then
    -- Nobody asked for this report: it must not vanish silently.
    ngx.log(ngx.WARN, "insync.openresty[", h.name, "]: record to ", tostring(report.topic), " [",
      tostring(report.partition), "] key ", tostring(report.key), " not delivered: ", tostring(err))
  end
end

-- The report of a record refused before librdkafka took it: an
-- insync.report as every other (csrc/lua/report.c builds them all), with
-- topic, partition (nil unless msg.partition was given), key, opaque;
-- offset and latency_ms unknown, so nil.
local function report_of(copy)
  return core.report_new(copy.topic, copy.partition, copy.key, copy.cb and copy.user_opaque or nil)
end

-- Hands the pending records to the producer, in order.  librdkafka refuses
-- one only when its queue is full (the bound send keeps to counts what is
-- pending, not the bytes): that record then fails through its callback.
-- send checks each record as producer:send does, so producer:send raising
-- here is not expected; if it does all the same, the record fails through
-- its callback with _INVALID_ARG, counted as failed, never stuck in flight.
local function hand_over(h)
  local n = h.npending
  if n == 0 then return end
  local p, list, deliver = h.p, h.pending, h.deliver
  h.pending, h.npending = {}, 0
  for i = 1, n do
    local copy = list[i]
    local ok, id, err = pcall(p.send, p, copy, copy.cb and deliver or nil)
    if not ok then
      log_err(h, "record to ", tostring(copy.topic), " refused: ", tostring(id))
      id, err = nil, insync.error("_INVALID_ARG", tostring(id))
    end
    if not id then collect(h, copy.cb, report_of(copy), err) end
  end
end

-- Callbacks run in a row before the timer lets the event loop serve
-- requests (ngx.sleep(0)), so a burst of reports does not hold them up.
local BURST = 200

-- Runs the queued callbacks, each under xpcall (which lets it yield);
-- `can_yield` is false in exit_worker, where nothing may yield.
local function drain(h, can_yield)
  local ran = 0
  local queue = h.queue
  while h.head <= h.tail do
    if can_yield and ran >= BURST then
      ngx.sleep(0)
      ran = 0
    end
    ran = ran + 1
    local i = h.head
    local cb, report, err = queue[i], queue[i + 1], queue[i + 2]
    queue[i], queue[i + 1], queue[i + 2] = nil, nil, nil
    h.head = i + 3
    local ok, e = xpcall(cb, traceback, report, err)
    if not ok then
      h.counts.callback_errors = h.counts.callback_errors + 1
      log_err(h, "delivery callback raised (the other reports are still served): ", tostring(e))
    end
  end
  h.head, h.tail = 1, 0
end

-- Reports are handed out only in poll, flush and close: after each, the
-- producer's count of deliveries is this worker's.
local function count_delivered(h, p)
  h.counts.delivered = p:counts().delivered
end

local flush_fail_lines   -- (h): below, with librdkafka's log

local function poll(h)
  hand_over(h)
  local ok, e = pcall(h.p.poll, h.p, 0)
  if not ok then log_err(h, "poll: ", tostring(e)) end
  flush_fail_lines(h)
  count_delivered(h, h.p)
end

-- librdkafka's statistics, condensed to what the metrics show: the local
-- queue and, per broker, round-trip times and request counts.
local function condense(stats)
  if type(stats) ~= "table" then return nil end
  local out = { msg_cnt = stats.msg_cnt, msg_size = stats.msg_size, brokers = {} }
  for _, b in pairs(stats.brokers or {}) do
    if type(b) == "table" and b.source ~= "internal" and (b.nodeid or -1) >= 0 then
      local rtt = type(b.rtt) == "table" and b.rtt or {}
      out.brokers[tostring(b.nodeid)] = {
        name = b.name, up = b.state == "UP" and 1 or 0,
        rtt_avg = rtt.avg or 0, rtt_p99 = rtt.p99 or 0,
        outbuf = b.outbuf_msg_cnt or 0, waitresp = b.waitresp_cnt or 0,
        tx = b.tx or 0, txretries = b.txretries or 0, txerrs = b.txerrs or 0,
        req_timeouts = b.req_timeouts or 0, connects = b.connects or 0, disconnects = b.disconnects or 0,
      }
    end
  end
  return out
end

local function handle_metrics(h)
  local m = {
    name = h.name,
    pid = ngx.worker.pid(),
    worker = ngx.worker.id(),
    state = h.state,
    queue_depth = in_flight(h),
    pending = h.npending,
    pending_callbacks = (h.tail - h.head + 1) / 3,
    sent_by = h.sent_by,
    failed_by = h.failed_by,
    refused_by = h.refused_by,
    client_errors = h.client_errors,
    started = h.started,
  }
  for k, v in pairs(h.counts) do m[k] = v end
  m.stats = h.stats
  m.rdkafka = condense(h.stats)
  return m
end

local function get(name, fname, level)
  local h = handles[name or M.DEFAULT]
  if h then return h end
  if next(handles) == nil then
    error(("insync.openresty.%s: no producer in this worker: call insync.openresty.init "
      .. "from init_worker_by_lua*"):format(fname), level + 1)
  end
  error(("insync.openresty.%s: name: no producer named '%s' in this worker (made: %s)"):format(fname,
    tostring(name or M.DEFAULT), table.concat(names, ", ")), level + 1)
end

--- The counters of producer `name` (default "default") in this worker:
-- `name`, `pid`, `worker` (ngx.worker.id()), `queue_depth` (accepted sends
-- whose report has not arrived yet), `pending` (of those, the ones the
-- timer has not handed to librdkafka yet), `sent`, `delivered`, `failed`,
-- `purged`, `queue_full`, `rejected`, `callback_errors`, `wait_timeouts`,
-- `pending_callbacks`, `state` ("new", "running", "closed"), `started`
-- (ngx.now() when init made it), `sent_by`
-- (topic -> sends), `failed_by` and `refused_by` ("topic\terror" -> count),
-- `client_errors` (error name -> librdkafka error events), `stats`
-- (librdkafka's last statistics, decoded, when `statistics.interval.ms` is
-- set) and `rdkafka` (the part of them the Prometheus series show).
function M.metrics(name)
  return handle_metrics(get(name, "metrics", 2))
end

local cjson
local function json()
  if not cjson then cjson = require "cjson.safe" end
  return cjson
end

local function shdict()
  return shm_name and ngx.shared[shm_name]
end

-- Puts this worker's counters of producer h in the shared dict (when one
-- is configured), so that any worker can serve every worker's metrics.
local function publish(h, force)
  local dict = shdict()
  if not dict then return end
  local now = ngx.now()
  if not force and (now - h.last_publish) * 1000 < metrics_interval_ms then return end
  h.last_publish = now
  -- Keyed by pid: after a reload an exiting worker and its successor share
  -- a worker id.  The entry expires if its worker stops publishing.
  local ttl = math.max(10, metrics_interval_ms / 100)
  local ok, err = dict:set("worker:" .. h.name .. ":" .. ngx.worker.pid(), json().encode(handle_metrics(h)), ttl)
  if not ok then log_err(h, "metrics: lua_shared_dict ", shm_name, ": ", tostring(err)) end
end

local function sort_workers(list)
  table.sort(list, function(a, b)
    -- ngx.worker.id() is nil outside the worker processes (privileged agent)
    local wa, wb = a.worker or -1, b.worker or -1
    if wa ~= wb then return wa < wb end
    return a.pid < b.pid
  end)
  return list
end

-- Every producer's metrics in every worker, from the shared dict: name ->
-- { workers = {...}, exited = { counter = n }, exited_by = { "kind\tlabels" = n } }.
local function gather()
  local out = {}
  local function of(name)
    local t = out[name]
    if not t then
      t = { workers = {}, exited = {}, exited_by = {} }
      out[name] = t
    end
    return t
  end
  local dict = shdict()
  if not dict then
    for _, name in ipairs(names) do of(name).workers[1] = handle_metrics(handles[name]) end
    return out
  end
  for _, name in ipairs(names) do publish(handles[name], true) end
  for _, key in ipairs(dict:get_keys(0)) do
    local name = key:match("^worker:([^:]+):%d+$")
    if name then
      local m = json().decode(dict:get(key) or "null")
      if m then local t = of(name) t.workers[#t.workers + 1] = m end
    else
      local n2, counter = key:match("^exited:([^:]+):(.+)$")
      if n2 then of(n2).exited[counter] = dict:get(key) end
      local n3, kind = key:match("^exitedby:([^:]+):(.+)$")
      if n3 then of(n3).exited_by[kind] = dict:get(key) end
    end
  end
  for _, t in pairs(out) do sort_workers(t.workers) end
  return out
end

--- Every worker's metrics of producer `name` (default "default"):
-- `{ workers = { metrics, ... }, exited = { sent =, delivered =, failed =,
-- purged =, queue_full =, rejected =, callback_errors =, wait_timeouts = } }`,
-- workers sorted by worker id then pid (after a reload, exiting workers are
-- listed until they are gone), `exited` summing the workers that have
-- exited since nginx started.  Needs `shm`; without it, `workers` holds
-- only this worker.
function M.all_metrics(name)
  local h = get(name, "all_metrics", 2)
  local t = gather()[h.name] or { workers = {}, exited = {} }
  return { workers = t.workers, exited = t.exited }
end

--- A content handler: writes `all_metrics(name)` as JSON.
--     location = /insync/metrics { content_by_lua_block { require("insync.openresty").serve_metrics() } }
function M.serve_metrics(name)
  local m = M.all_metrics(name)
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json().encode(m))
end


-- The Prometheus series, each { name, type, help, label names (after
-- "producer"), reader }: the reader turns one worker's metrics of one
-- producer into rows { labelvalue..., value }.  Counters add up over the
-- live workers and, through the shared dict, the exited ones (see finish),
-- so they go on across reloads; gauges add up over the live workers, but
-- for `per_worker` ones (averages do not add up), which get a "worker"
-- label (ngx.worker.id()).
local function split_key(key)
  local out = {}
  for part in (key .. "\t"):gmatch("(.-)\t") do out[#out + 1] = part end
  return out
end

local function labelled(field)
  return function(m)
    local out = {}
    for key, v in pairs(m[field] or {}) do
      local row = split_key(key)
      row[#row + 1] = v
      out[#out + 1] = row
    end
    return out
  end
end

local function scalar(field)
  return function(m) return { { m[field] or 0 } } end
end

local function rdkafka(field)
  return function(m) return m.rdkafka and { { m.rdkafka[field] or 0 } } or {} end
end

local function broker(field, scale)
  return function(m)
    local out = {}
    for id, b in pairs(m.rdkafka and m.rdkafka.brokers or {}) do
      out[#out + 1] = { id, (b[field] or 0) * (scale or 1) }
    end
    return out
  end
end

local SERIES = {
  { "insync_records_sent_total", "counter", "Records accepted by send or send_wait.", { "topic" },
    labelled("sent_by") },
  { "insync_records_delivered_total", "counter", "Records acknowledged by Kafka (report without error).", {},
    scalar("delivered") },
  { "insync_records_failed_total", "counter",
    "Records whose delivery report carries an error, by error name (purges when a worker exits included).",
    { "topic", "error" }, labelled("failed_by") },
  { "insync_records_refused_total", "counter",
    "Sends refused at once: _QUEUE_FULL (local queue full), _DESTROY (the worker is exiting).",
    { "topic", "error" }, labelled("refused_by") },
  { "insync_callback_errors_total", "counter", "Delivery callbacks that raised (logged with their traceback).",
    {}, scalar("callback_errors") },
  { "insync_send_wait_timeouts_total", "counter", "send_wait calls that returned _TIMED_OUT.", {},
    scalar("wait_timeouts") },
  { "insync_client_errors_total", "counter", "librdkafka error events not about one record, by error name.",
    { "error" }, labelled("client_errors") },
  { "insync_queue_depth", "gauge", "Records accepted and not yet reported (pending here or in librdkafka).", {},
    scalar("queue_depth") },
  { "insync_rdkafka_queue_messages", "gauge", "Messages in librdkafka's queues (statistics msg_cnt).", {},
    rdkafka("msg_cnt") },
  { "insync_rdkafka_queue_bytes", "gauge", "Bytes of the messages in librdkafka's queues (statistics msg_size).",
    {}, rdkafka("msg_size") },
  { "insync_broker_up", "gauge", "Workers whose connection to the broker is UP.", { "broker" }, broker("up") },
  { "insync_broker_inflight_requests", "gauge", "Requests sent to the broker, waiting for their response.",
    { "broker" }, broker("waitresp") },
  { "insync_broker_outbuf_requests", "gauge", "Requests waiting to be sent to the broker.", { "broker" },
    broker("outbuf") },
  { "insync_broker_requests_total", "counter", "Requests sent to the broker.", { "broker" }, broker("tx") },
  { "insync_broker_request_retries_total", "counter", "Requests to the broker that were retried.", { "broker" },
    broker("txretries") },
  { "insync_broker_request_errors_total", "counter", "Requests to the broker that failed.", { "broker" },
    broker("txerrs") },
  { "insync_broker_request_timeouts_total", "counter", "Requests to the broker that timed out.", { "broker" },
    broker("req_timeouts") },
  { "insync_broker_connects_total", "counter", "Connections made to the broker.", { "broker" },
    broker("connects") },
  { "insync_broker_disconnects_total", "counter", "Connections to the broker that were closed or lost.",
    { "broker" }, broker("disconnects") },
  { "insync_broker_rtt_avg_seconds", "gauge", "Average round-trip time to the broker (librdkafka's window).",
    { "broker" }, broker("rtt_avg", 1e-6), per_worker = true },
  { "insync_broker_rtt_p99_seconds", "gauge", "99th percentile round-trip time to the broker (librdkafka's window).",
    { "broker" }, broker("rtt_p99", 1e-6), per_worker = true },
}

--- The names, types, help texts and label names of the Prometheus series:
-- a list of { name =, type = "counter" | "gauge", help =, labels = {...} }.
function M.prometheus_series()
  local out = {}
  for _, s in ipairs(SERIES) do
    local labels = { "producer" }
    for _, l in ipairs(s[4]) do labels[#labels + 1] = l end
    if s.per_worker then labels[#labels + 1] = "worker" end
    out[#out + 1] = { name = s[1], type = s[2], help = s[3], labels = labels }
  end
  return out
end

-- The rows of series s for one worker's metrics m of producer pname, with
-- the full label values: { { labels = {...}, value = n }, ... }.
local function rows_of(s, pname, m)
  local out = {}
  for _, row in ipairs(s[5](m)) do
    local labels = { pname }
    for j = 1, #row - 1 do labels[#labels + 1] = tostring(row[j]) end
    if s.per_worker then labels[#labels + 1] = tostring(m.worker) end
    out[#out + 1] = { labels = labels, value = tonumber(row[#row]) or 0 }
  end
  return out
end

-- Every sample of every series over `all` (gather()'s result): per series,
-- a list of { labels =, value = } sorted by labels.
local function samples(all)
  local pnames = {}
  for pname in pairs(all) do pnames[#pnames + 1] = pname end
  table.sort(pnames)
  local out = {}
  for i, s in ipairs(SERIES) do
    local by, list = {}, {}
    -- `started`: for a per-worker series, an exiting worker and the one
    -- that took its id (a reload) share the label: the newer one wins.
    local function add(labels, v, started)
      local key = table.concat(labels, "\t")
      local e = by[key]
      if e and s.per_worker then
        if (started or 0) >= e.started then e.value, e.started = v, started or 0 end
      elseif e then
        e.value = e.value + v
      else
        e = { labels = labels, value = v, key = key, started = started or 0 }
        by[key] = e
        list[#list + 1] = e
      end
    end
    for _, pname in ipairs(pnames) do
      local t = all[pname]
      for _, m in ipairs(t.workers) do
        for _, r in ipairs(rows_of(s, pname, m)) do add(r.labels, r.value, m.started) end
      end
      if s[2] == "counter" then
        local prefix = s[1] .. "\t"
        for key, v in pairs(t.exited_by or {}) do
          if key:sub(1, #prefix) == prefix then
            local labels = { pname }
            local rest = key:sub(#prefix + 1)
            if #s[4] > 0 then
              for _, part in ipairs(split_key(rest)) do labels[#labels + 1] = part end
            end
            add(labels, v)
          end
        end
      end
    end
    table.sort(list, function(a, b) return a.key < b.key end)
    out[i] = list
  end
  return out
end

local function escape_label(v)
  return (v:gsub("[\\\n\"]", { ["\\"] = "\\\\", ["\n"] = "\\n", ['"'] = '\\"' }))
end

local function format_value(v)
  if v ~= v then return "NaN" end
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(v) end
  return ("%.17g"):format(v)
end

--- The Prometheus text exposition (format 0.0.4) of every producer in
-- every worker (needs `shm` for all workers; without it, this worker's).
-- @return the text
function M.prometheus_text()
  local all = gather()
  local out = {}
  local series = M.prometheus_series()
  for i, list in ipairs(samples(all)) do
    local s = series[i]
    out[#out + 1] = "# HELP " .. s.name .. " " .. s.help
    out[#out + 1] = "# TYPE " .. s.name .. " " .. s.type
    for _, e in ipairs(list) do
      local parts = {}
      for j, l in ipairs(s.labels) do parts[j] = l .. '="' .. escape_label(e.labels[j]) .. '"' end
      out[#out + 1] = s.name .. "{" .. table.concat(parts, ",") .. "} " .. format_value(e.value)
    end
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

--- A content handler: writes `prometheus_text()` with Prometheus's
-- content type.
--     location = /metrics { content_by_lua_block { require("insync.openresty").serve_prometheus() } }
function M.serve_prometheus()
  local text = M.prometheus_text()
  ngx.header["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
  ngx.print(text)
end

-- nginx-lua-prometheus: the registry and its metric objects, and what this
-- worker has already added to each counter and gauge (it adds differences,
-- so that the registry sums every worker and keeps counting across reloads).
local registry
local adapter_metrics = {}
local adapter_added = {}

--- Registers the same series (`prometheus_series()`) in an
-- nginx-lua-prometheus registry instead: `openresty.prometheus(prometheus)`,
-- called in init_worker_by_lua* after `require("prometheus").init(...)`.
-- Each worker then brings them up to date every `metrics_interval_ms` and
-- when it exits, through the registry's own API: counters with `inc` (of
-- what happened since the last update), gauges with `inc` too (the
-- registry holds the sum over the workers), but `per_worker` gauges
-- with `set`.  `registry:collect()` serves them with the application's own.
-- @param prometheus the object `require("prometheus").init(dict)` returned
function M.prometheus(prometheus)
  if type(prometheus) ~= "table" or type(prometheus.counter) ~= "function"
    or type(prometheus.gauge) ~= "function" then
    error("insync.openresty.prometheus: prometheus: expected an nginx-lua-prometheus registry "
      .. "(require(\"prometheus\").init(...)), got " .. type(prometheus), 2)
  end
  if registry then error("insync.openresty.prometheus: already called in this worker", 2) end
  registry = prometheus
  for _, s in ipairs(M.prometheus_series()) do
    local m = prometheus[s.type](prometheus, s.name, s.help, s.labels)
    if not m then error("insync.openresty.prometheus: the registry refused " .. s.name, 2) end
    adapter_metrics[s.name] = m
  end
end

-- Brings the registry's series up to date with handle h's metrics.
local function sync_registry(h)
  if not registry then return end
  local m = handle_metrics(h)
  for _, s in ipairs(SERIES) do
    local metric = adapter_metrics[s[1]]
    local added = adapter_added[s[1]]
    if not added then
      added = {}
      adapter_added[s[1]] = added
    end
    for _, r in ipairs(rows_of(s, h.name, m)) do
      if s.per_worker then
        metric:set(r.value, r.labels)
      else
        local key = table.concat(r.labels, "\t")
        local d = r.value - (added[key] or 0)
        -- the first update makes the series, even at 0; a counter never
        -- goes back while its producer lives
        if (d ~= 0 or added[key] == nil) and not (s[2] == "counter" and d < 0) then
          metric:inc(d, r.labels)
          added[key] = r.value
        end
      end
    end
  end
end

-- Closes h's producer: what is still undelivered is purged and reaches its
-- callback with an error; then the counts are logged and added to the
-- exited totals.
local function finish(h, how)
  hand_over(h)
  local p = h.p
  h.state, h.p = "closed", nil
  local ok, e = pcall(p.close, p, 0)
  if not ok then log_err(h, "close: ", tostring(e)) end
  flush_fail_lines(h)
  count_delivered(h, p)
  drain(h, how == "graceful")
  local c = h.counts
  ngx.log(ngx.NOTICE, "insync.openresty: worker ", ngx.worker.pid(), " exiting (", how, "): ",
    h.name == M.DEFAULT and "" or ("producer " .. h.name .. ": "), "sent ", c.sent, ", delivered ", c.delivered,
    ", failed ", c.failed, ", purged ", c.purged, ", queue_full ", c.queue_full, ", rejected ", c.rejected,
    ", callback_errors ", c.callback_errors, ", undelivered without report ", in_flight(h))
  local ok2, e2 = pcall(sync_registry, h)
  if not ok2 then log_err(h, "prometheus registry: ", tostring(e2)) end
  local dict = shdict()
  if dict then
    dict:delete("worker:" .. h.name .. ":" .. ngx.worker.pid())
    for _, k in ipairs(COUNTERS) do
      dict:incr("exited:" .. h.name .. ":" .. k, c[k], 0)
    end
    local m = handle_metrics(h)
    for _, s in ipairs(SERIES) do
      if s[2] == "counter" then
        for _, r in ipairs(rows_of(s, h.name, m)) do
          local labels = {}
          for j = 2, #r.labels do labels[j - 1] = r.labels[j] end
          dict:incr("exitedby:" .. h.name .. ":" .. s[1] .. "\t" .. table.concat(labels, "\t"), r.value, 0)
        end
      end
    end
  end
end

-- The worker is exiting gracefully: keep serving reports for up to
-- exit_timeout_ms (the event loop keeps running, requests still in progress
-- may still send), then purge the rest.
local function exit_drain(h)
  while h.busy do ngx.sleep(0.001) end
  if h.state ~= "running" then return end
  h.busy = true
  local deadline = ngx.now() + h.opts.exit_timeout_ms / 1000
  repeat
    poll(h)
    drain(h, true)
    if in_flight(h) <= 0 then break end
    ngx.sleep(h.opts.poll_interval_ms / 1000)
  until ngx.now() >= deadline
  finish(h, "graceful")
  h.busy = false
end

local function tick(premature, h)
  if premature then return exit_drain(h) end
  if h.state ~= "running" then return end
  if h.busy then
    -- An earlier run is in a callback that waits (a cosocket): keep
    -- librdkafka fed and its reports collected; that run hands them out.
    poll(h)
    return
  end
  h.busy = true
  poll(h)
  drain(h, true)
  h.busy = false
  local now = ngx.now()
  if (now - h.last_publish) * 1000 >= metrics_interval_ms then
    h.last_publish = now   -- also without shm: the registry's pace
    publish(h, true)
    local ok, e = pcall(sync_registry, h)
    if not ok then log_err(h, "prometheus registry: ", tostring(e)) end
  end
end

-- syslog levels (librdkafka's) to nginx's.
local LEVELS = { [0] = ngx.EMERG, ngx.ALERT, ngx.CRIT, ngx.ERR, ngx.WARN, ngx.NOTICE, ngx.INFO, ngx.DEBUG }

-- librdkafka reports a broker's failure (a refused or lost connection, a
-- failed TLS handshake or authentication) twice: a log line (facility FAIL,
-- at the level librdkafka judges: a lost connection is only "info") and an
-- error event with the same text.  They make one line: the FAIL line waits
-- in h.fail_pending until the poll ends; the error event that ends with its
-- text takes it and logs both in one line, "FAIL: _TRANSPORT: ...", at the
-- more severe of the two levels (an error event is a warning, or an error
-- when fatal).  A FAIL line without its event by the end of the poll is
-- logged alone and remembered (h.logged), so that an event arriving in the
-- next poll is counted, not logged again.
local REMEMBER = 16

local function log_rdkafka(h)
  return function(level, facility, message)
    if facility == "FAIL" then
      local pending = h.fail_pending
      pending[#pending + 1] = { level, message }
      return
    end
    ngx.log(LEVELS[level] or ngx.NOTICE, "librdkafka[", h.name, "]: ", facility, ": ", message)
  end
end

-- Logs the FAIL lines no error event took during the poll.
function flush_fail_lines(h)
  local pending = h.fail_pending
  if #pending == 0 then return end
  h.fail_pending = {}
  local logged = h.logged
  for _, f in ipairs(pending) do
    ngx.log(LEVELS[f[1]] or ngx.NOTICE, "librdkafka[", h.name, "]: FAIL: ", f[2])
    logged[#logged + 1] = f[2]
    if #logged > REMEMBER then table.remove(logged, 1) end
  end
end

local function ends_with(s, tail)
  return tail ~= "" and s:sub(-#tail) == tail
end

local function error_rdkafka(h, user_on_error)
  return function(err)
    bump(h.client_errors, err.name)
    if user_on_error then return user_on_error(err) end
    local msg = tostring(err.message or "")
    local level = err.fatal and ngx.ERR or ngx.WARN
    local pending = h.fail_pending
    for i = 1, #pending do
      local f = pending[i]
      if ends_with(f[2], msg) then
        table.remove(pending, i)
        ngx.log(math.min(level, LEVELS[f[1]] or ngx.NOTICE), "librdkafka[", h.name, "]: FAIL: ", err.name,
          ": ", f[2])
        return
      end
    end
    local logged = h.logged
    for i = #logged, 1, -1 do
      if ends_with(logged[i], msg) then
        table.remove(logged, i)
        return   -- its FAIL line was logged at the end of the last poll
      end
    end
    ngx.log(level, "librdkafka[", h.name, "]: ", tostring(err))
  end
end

local function check_ms(o, name)
  local v = o[name]
  if v == nil then return DEFAULTS[name] end
  if type(v) ~= "number" or v < 0 then
    error(("insync.openresty.init: %s: expected a number >= 0, got %s"):format(name, tostring(v)), 3)
  end
  return v
end

local INIT_OPTS = { name = true, config = true, shm = true, poll_interval_ms = true, exit_timeout_ms = true,
  metrics_interval_ms = true }

--- Makes one of this worker's producers and starts its poll timer.  Call
-- it from init_worker_by_lua* (it raises anywhere else, in particular in
-- init_by_lua*, the master), once per name.  Options:
-- `name` ("default"): the producer's name (letters, digits, `_ . -`), for
-- `get(name)`, the metrics and the log;
-- `config` (required): librdkafka's configuration, as for insync.producer;
-- `poll_interval_ms` (10): how often the timer serves delivery reports;
-- `exit_timeout_ms` (5000): how long an exiting worker waits for deliveries
-- before purging; `shm`: a lua_shared_dict name for metrics of all workers
-- (one for all producers: the first one an init names);
-- `metrics_interval_ms` (1000): how often each worker publishes to `shm`
-- and updates an nginx-lua-prometheus registry (the first init's).
-- Returns the producer (an insync.producer).
function M.init(o)
  if type(o) ~= "table" then
    error("insync.openresty.init: options: expected table, got " .. type(o), 2)
  end
  for k in pairs(o) do
    if not INIT_OPTS[k] then error("insync.openresty.init: unknown option '" .. tostring(k) .. "'", 2) end
  end
  if type(o.config) ~= "table" then
    error("insync.openresty.init: config: expected table, got " .. type(o.config), 2)
  end
  local name = o.name
  if name == nil then name = M.DEFAULT end
  if type(name) ~= "string" or not name:match("^[%w_.%-]+$") then
    error("insync.openresty.init: name: expected a name of letters, digits, _ . -, got "
      .. (type(name) == "string" and ("%q"):format(name) or type(name)), 2)
  end
  -- init wraps these two, so the producer never sees the caller's own
  for _, key in ipairs{ "on_error", "on_stats" } do
    local f = o.config[key]
    if f ~= nil and type(f) ~= "function" then
      error(("insync.openresty.init: config.%s: expected function, got %s"):format(key, type(f)), 2)
    end
  end
  local phase = ngx.get_phase()
  if phase ~= "init_worker" then
    error("insync.openresty.init: call it from init_worker_by_lua*, not from " .. phase
      .. " (librdkafka's threads do not survive nginx's fork of the workers)", 2)
  end
  if handles[name] then
    error(name == M.DEFAULT and "insync.openresty.init: already called in this worker"
      or ("insync.openresty.init: name: a producer named '%s' already exists in this worker"):format(name), 2)
  end
  if o.shm ~= nil and not ngx.shared[o.shm] then
    error("insync.openresty.init: shm: no lua_shared_dict named " .. tostring(o.shm), 2)
  end
  local h = new_handle(name)
  h.started = ngx.now()
  h.opts = {
    config = o.config,
    poll_interval_ms = check_ms(o, "poll_interval_ms"),
    exit_timeout_ms = check_ms(o, "exit_timeout_ms"),
    metrics_interval_ms = check_ms(o, "metrics_interval_ms"),
  }
  if next(handles) == nil then metrics_interval_ms = h.opts.metrics_interval_ms end
  if not shm_name and o.shm then shm_name = o.shm end
  -- librdkafka's statistics (when statistics.interval.ms is set) are kept
  -- for metrics(); the caller's own on_stats still runs.
  local config = {}
  for k, v in pairs(o.config) do config[k] = v end
  local user_on_stats = o.config.on_stats
  config.on_stats = function(stats, text)
    h.stats = stats
    if user_on_stats then return user_on_stats(stats, text) end
  end
  -- librdkafka's logs and errors go to nginx's error log unless the caller
  -- takes them (they are served by the poll timer, like the reports).
  if config.on_log == nil then config.on_log = log_rdkafka(h) end
  -- A send made without a callback has none: when it fails, the producer
  -- hands its report to on_error, which counts it as collect does.
  local client_error = error_rdkafka(h, o.config.on_error)
  config.on_error = function(err, report)
    if report ~= nil then return collect(h, nil, report, err) end
    return client_error(err)
  end
  -- The producer's callback for a send with one: the record's copy travels
  -- as the opaque and carries the caller's callback and opaque.
  h.deliver = function(report, err)
    local copy = report.opaque
    report.opaque = copy.user_opaque
    collect(h, copy.cb, report, err)
  end
  local ok, p = pcall(insync.producer, config)
  if not ok then error("insync.openresty.init: " .. tostring(p):gsub("^[^:]*:%d+: ", ""), 2) end
  h.p = p
  -- librdkafka's default for queue.buffering.max.messages is 100000.
  h.max_messages = tonumber(o.config["queue.buffering.max.messages"]) or 100000
  local tok, err = ngx.timer.every(math.max(h.opts.poll_interval_ms, 1) / 1000, tick, h)
  if not tok then
    p:close(0)
    error("insync.openresty.init: ngx.timer.every: " .. tostring(err), 2)
  end
  h.state = "running"
  handles[name] = h
  names[#names + 1] = name
  publish(h, true)
  return p
end

-- What each field of msg must be, in the words of its error: the rule
-- table of producer:send (csrc/lua/msg.c), checked here in Lua, because a
-- call into C per send costs LuaJIT two to three times what these checks
-- and the copy cost in Lua.
local RULES = core.msg_rules()
local PARTITION_MAX, TIMESTAMP_MAX = RULES.partition.max, RULES.timestamp.max

-- The message producer:send raises for the same mistake: a count out of
-- range is named by its value, anything else by its type.  The error names
-- the line that called send: `lvl` is its level as seen from copy_msg (4
-- for send: copy_msg, accept, send, the caller).
local function bad(field, v, by_value, lvl)
  local got = by_value and type(v) == "number" and tostring(v) or type(v)
  error(("send: msg.%s: expected %s, got %s"):format(field, RULES[field].expected, got), lvl + 1)
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -math.huge and v < math.huge
end

-- Topic names producer:send takes (the rule and words of msg.c); the
-- names seen pass at once, up to 1000 of them.
local good_topics, ngood = {}, 0
local function check_topic(topic, lvl)
  if good_topics[topic] then return end
  local ok, err = pcall(core.check_topic, topic)
  if not ok then error(err, lvl + 1) end
  if ngood >= 1000 then good_topics, ngood = {}, 0 end
  good_topics[topic], ngood = true, ngood + 1
end

-- A copy of msg's headers, checked as producer:send checks them:
-- { name = value, ... } or { {name, value}, ... }.
local function copy_headers(hd, lvl)
  local out = {}
  for k, v in pairs(hd) do
    if type(k) == "number" and type(v) == "table" then
      local name, value = rawget(v, 1), rawget(v, 2)
      if type(name) ~= "string" then bad("headers[i][1]", name, false, lvl + 1) end
      if value ~= nil and type(value) ~= "string" then
        bad("headers[i][2]", value, false, lvl + 1)
      end
      out[k] = { name, value }
    else
      if type(k) ~= "string" then bad("headers (a name)", k, false, lvl + 1) end
      if type(v) ~= "string" then bad("headers (a value)", v, false, lvl + 1) end
      out[k] = v
    end
  end
  return out
end

-- Checks msg as producer:send does and returns a copy of it, so that the
-- caller may reuse or change its table once send returns.
local function copy_msg(msg, cb, lvl)
  if type(msg) ~= "table" then
    error("send: msg: expected table, got " .. type(msg), lvl)
  end
  local topic, key, value = rawget(msg, "topic"), rawget(msg, "key"), rawget(msg, "value")
  local partition, timestamp, headers = rawget(msg, "partition"), rawget(msg, "timestamp"), rawget(msg, "headers")
  if type(topic) ~= "string" then bad("topic", topic, false, lvl) end
  check_topic(topic, lvl)
  if key ~= nil and type(key) ~= "string" then bad("key", key, false, lvl) end
  if value ~= nil and type(value) ~= "string" then bad("value", value, false, lvl) end
  if partition ~= nil then
    if not is_integer(partition) or partition < 0 or partition > PARTITION_MAX then
      bad("partition", partition, true, lvl)
    end
  end
  -- TIMESTAMP_MAX is 2^63 - 1, which a double (LuaJIT's numbers) rounds
  -- up to 2^63: a double of 2^63 or more is no int64
  if timestamp ~= nil and (not is_integer(timestamp) or timestamp < 0 or timestamp > TIMESTAMP_MAX
                           or timestamp >= 2 ^ 63) then
    bad("timestamp", timestamp, true, lvl)
  end
  if headers ~= nil then
    if type(headers) ~= "table" then bad("headers", headers, false, lvl) end
    headers = copy_headers(headers, lvl)
  end
  local copy = { topic = topic, key = key, value = value, partition = partition, timestamp = timestamp,
    headers = headers }
  if cb then
    copy.cb, copy.user_opaque, copy.opaque = cb, rawget(msg, "opaque"), copy
  end
  return copy
end

-- The send of producer h: `lvl` is the caller's level as seen from
-- copy_msg (4 when the API function calls accept directly).
local function accept(h, msg, cb, fname, lvl)
  if h.state ~= "running" then
    local topic = type(msg) == "table" and rawget(msg, "topic")
    h.counts.rejected = h.counts.rejected + 1
    bump(h.refused_by, tostring(topic) .. "\t_DESTROY")
    if h.state == "closed" then
      -- after finish() has logged and published this worker's counts (a
      -- log phase that runs after exit_worker): counted and logged here
      local dict = shdict()
      if dict then dict:incr("exited:" .. h.name .. ":rejected", 1, 0) end
      ngx.log(ngx.WARN, "insync.openresty: worker ", ngx.worker.pid(), " refused a send after closing ",
        h.name == M.DEFAULT and "its producer" or ("producer " .. h.name), ": _DESTROY, topic ", tostring(topic))
    end
    return nil, insync.error("_DESTROY", "insync.openresty: this worker is exiting and has closed its producer")
  end
  if cb ~= nil and type(cb) ~= "function" then
    error("insync.openresty." .. fname .. ": cb: expected function or nil, got " .. type(cb), lvl - 1)
  end
  local copy = copy_msg(msg, cb, lvl)
  if in_flight(h) >= h.max_messages then
    h.counts.queue_full = h.counts.queue_full + 1
    bump(h.refused_by, copy.topic .. "\t_QUEUE_FULL")
    return nil, insync.error("_QUEUE_FULL")
  end
  local n = h.npending + 1
  h.npending = n
  h.pending[n] = copy
  h.counts.sent = h.counts.sent + 1
  local by = h.sent_by
  by[copy.topic] = (by[copy.topic] or 0) + 1
  h.seq = h.seq + 1
  return h.seq
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
-- no init in this worker.  Sends through the "default" producer; a named
-- one's is `get(name):send(msg, cb)`.
function M.send(msg, cb)
  local id, err = accept(get(nil, "send", 2), msg, cb, "send", 4)
  return id, err
end

-- The phases where a request may wait (ngx.semaphore's wait yields).
local WAIT_PHASES = { rewrite = true, access = true, content = true, timer = true }

local semaphore

-- `lvl`: the caller's level as seen from copy_msg (5: copy_msg, accept,
-- wait_send, the API function, the caller).
local function wait_send(h, msg, timeout_ms, lvl)
  if type(timeout_ms) ~= "number" or timeout_ms ~= timeout_ms or timeout_ms < 0 then
    error("insync.openresty.send_wait: timeout_ms: expected a number >= 0, got " .. tostring(timeout_ms), lvl - 2)
  end
  local phase = ngx.get_phase()
  if not WAIT_PHASES[phase] then
    error("insync.openresty.send_wait: cannot wait in the " .. phase
      .. " phase (it may not yield): use send with a callback", lvl - 2)
  end
  if not semaphore then semaphore = require "ngx.semaphore" end
  local sema = semaphore.new(0)
  local box = {}
  local id, err = accept(h, msg, function(report, e)
    box.report, box.err, box.done = report, e, true
    sema:post(1)
  end, "send_wait", lvl)
  if not id then return nil, err end
  -- Hand it (and what was sent before it, in order) to librdkafka now,
  -- rather than at the timer's next run.
  hand_over(h)
  local ok, werr = sema:wait(timeout_ms / 1000)
  if not ok and not box.done then
    h.counts.wait_timeouts = h.counts.wait_timeouts + 1
    if werr == "timeout" then
      return nil, insync.error("_TIMED_OUT", ("send_wait: no delivery report within %s ms; the record may "
        .. "still be delivered (its outcome is counted in the metrics)"):format(tostring(timeout_ms)),
        "possibly_persisted")
    end
    return nil, insync.error("_FAIL", "send_wait: " .. tostring(werr), "possibly_persisted")
  end
  if box.err then return nil, box.err, box.report end
  return box.report
end

--- Sends `msg` and waits for its delivery report, yielding the request
-- (never the worker: other requests are served meanwhile) for up to
-- `timeout_ms`.  Returns the report (an insync.report: topic, partition,
-- offset, ...) once Kafka has acknowledged the record; or nil, the error
-- and the report when the record failed; or nil and `_QUEUE_FULL` /
-- `_DESTROY` as send.  After `timeout_ms` without a report it returns nil
-- and a `_TIMED_OUT` error (persisted = "possibly_persisted"): the record
-- is not withdrawn, it may still be delivered (bounded by
-- message.timeout.ms), and its outcome is still counted in the metrics
-- when its report comes.  Callable where a request may yield: the rewrite,
-- access and content phases, and timers; it raises elsewhere (log,
-- header_filter, body_filter, init_worker).  `msg.opaque` comes back as
-- the report's opaque.  Sends through the "default" producer; a named
-- one's is `get(name):send_wait(msg, timeout_ms)`.
function M.send_wait(msg, timeout_ms)
  local r, e, rep = wait_send(get(nil, "send_wait", 2), msg, timeout_ms, 5)
  return r, e, rep
end

--- Producer `name` of this worker (raises when there is none): an object
-- with `send(msg [, cb])`, `send_wait(msg, timeout_ms)`, `metrics()`,
-- `all_metrics()`, `producer()` and `name`, as the module's functions of
-- the default producer.
function M.get(name)
  if type(name) ~= "string" then
    error("insync.openresty.get: name: expected string, got " .. type(name), 2)
  end
  return get(name, "get", 2)
end

--- `h:send(msg [, cb])`: as `insync.openresty.send`, through producer h.
function Handle:send(msg, cb)
  local id, err = accept(self, msg, cb, "send", 4)
  return id, err
end

--- `h:send_wait(msg, timeout_ms)`: as `insync.openresty.send_wait`.
function Handle:send_wait(msg, timeout_ms)
  local r, e, rep = wait_send(self, msg, timeout_ms, 5)
  return r, e, rep
end

--- `h:metrics()`: as `insync.openresty.metrics(h.name)`.
function Handle:metrics()
  return handle_metrics(self)
end

--- `h:all_metrics()`: as `insync.openresty.all_metrics(h.name)`.
function Handle:all_metrics()
  return M.all_metrics(self.name)
end

--- `h:producer()`: its insync.producer (nil once closed).
function Handle:producer()
  return self.p
end

--- The names of this worker's producers, in the order they were made.
function M.names()
  local out = {}
  for i, n in ipairs(names) do out[i] = n end
  return out
end

--- For exit_worker_by_lua*: when the worker exits without its timers
-- having run (a fast shutdown, nginx -s stop), flushes each producer for up
-- to its exit_timeout_ms, then purges and reports what is left, as on a
-- graceful exit.  Callbacks run here cannot yield (no cosockets in
-- exit_worker).  Does nothing for a producer already closed.
function M.exit()
  for _, name in ipairs(names) do
    local h = handles[name]
    if h.state == "running" then
      hand_over(h)
      local ok, e = pcall(h.p.flush, h.p, h.opts.exit_timeout_ms)
      if not ok then log_err(h, "flush: ", tostring(e)) end
      flush_fail_lines(h)
      count_delivered(h, h.p)
      drain(h, false)
      finish(h, "exit_worker")
    end
  end
end

--- This worker's insync.producer named `name` (default "default"); nil
-- before init and once closed.
function M.producer(name)
  local h = handles[name or M.DEFAULT]
  return h and h.p
end

return M
