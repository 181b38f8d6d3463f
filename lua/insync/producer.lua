--- The real producer: librdkafka behind the send and callback of
-- docs/errors.md, and librdkafka's embedded mock cluster.  The C half is
-- csrc/lua/producer.c and csrc/lua/mock.c; this file only adds what is
-- easier in Lua: decoding the statistics JSON for `on_stats`.
-- @module insync.producer

local core = require "insync.core"
-- On LuaJIT, send, poll, flush and close through the FFI (lua/insync/ffi.lua).
local fast = require "insync.ffi"

local M = {}

--- Makes a producer.
-- @tparam table conf every librdkafka configuration property by its own name
--   (`["bootstrap.servers"]`, `acks`, `["enable.idempotence"]`, ...), values
--   as strings, numbers or booleans; plus three optional functions, called
--   only inside poll, flush and close:
--   `on_error(err [, report])` (an error object; `err.fatal` for a fatal
--   error; with `report` when a send made without a callback failed: the
--   report its callback would have got),
--   `on_log(level, facility, message)` (syslog levels, as librdkafka's log_cb),
--   `on_stats(stats, json)` (the statistics, decoded, and their JSON text;
--   set `["statistics.interval.ms"]`; needs lua-cjson, the only use of it:
--   without it, `producer` raises when given `on_stats`).
-- @return the producer; raises on an unknown property or a bad value, naming
--   the property (never showing a secret's value).
function M.producer(conf)
  if type(conf) ~= "table" then
    error(("producer: conf: expected table, got %s"):format(type(conf)), 2)
  end
  local on_stats = conf.on_stats
  if type(on_stats) == "function" then
    -- lua-cjson is needed here only: everything else works without it.
    local ok, cjson = pcall(require, "cjson")
    if not ok then
      error("producer: on_stats: decoding the statistics needs lua-cjson, which is not installed ("
        .. tostring(cjson):match("^[^\n]*") .. ")", 2)
    end
    local decode = cjson.decode
    local copy = {}
    for k, v in pairs(conf) do copy[k] = v end
    copy.on_stats = function(json) return on_stats(decode(json), json) end
    conf = copy
  end
  -- Called through pcall so that a misuse is reported at the caller's line.
  local ok, p = pcall(core.producer, conf)
  if not ok then error(p, 2) end
  if fast.active then fast.adopt(p) end
  return p
end

--- The producer's methods (in C, csrc/lua/producer.c).
-- @type producer

--- Queues a record: `p:send(msg [, callback])`.
-- `msg` has `topic` (required), `key`, `value` (strings), `partition`,
-- `timestamp` (milliseconds), `headers` (`{ name = value }`, or
-- `{ {name, value}, ... }` to keep order and repeats), `opaque` (anything);
-- msg is read raw (fields from an __index metamethod are not seen).
-- `callback(report, err)` runs exactly once, inside poll/flush/close
-- (without a callback, a failure goes to on_error(err, report), or without
-- on_error to one line on stderr);
-- `report` (an insync.report: read like a table, `report:totable()` for
-- one) has `topic`, `partition`, `offset` (nil unless delivered), `key`,
-- `opaque`, `latency_ms`; `err` is nil or an error object.
-- @return the send's number, or nil and a `_QUEUE_FULL` error object.
-- @function producer:send

--- Runs the callbacks that are due, waiting up to `timeout_ms` (default 0,
-- -1: no bound) for the first.
-- @return how many delivery reports it handed out
-- @function producer:poll

--- Runs callbacks until every send has had its own, or `timeout_ms` passed
-- (default -1: no bound; each record is bounded by message.timeout.ms).
-- @return how many sends still wait for their callback
-- @function producer:flush

--- Flushes for at most `timeout_ms` (default 10000), purges what is left
-- (each gets its callback with `_PURGE_QUEUE` or `_PURGE_INFLIGHT`) and frees
-- the producer.  Idempotent; also `__close` and `__gc` (which runs no Lua).
-- @return how many sends had to be purged
-- @function producer:close

--- @return sends whose callback has not run yet
-- @function producer:outstanding

--- @return `{ sent, delivered, failed, outstanding }`: accepted sends,
-- reports handed out without and with an error (with a callback or not),
-- sends whose report is still due; also on a closed producer.
-- @function producer:counts

--- @return librdkafka's client name, e.g. "rdkafka#producer-1"
-- @function producer:name

--- librdkafka's `rd_kafka_test_fatal_error()`: raises a fatal error with code
-- `err` (a name or number), to try fatal error handling.
-- @return true if librdkafka raised it
-- @function producer:test_fatal_error

--- @section end

--- Starts librdkafka's embedded mock cluster: `insync.mock{ brokers = 3 }`.
-- Methods: `bootstrap_servers()`, `brokers()`, `create_topic(name,
-- partitions, replication_factor)`, `broker_down(id)`, `broker_up(id)`,
-- `broker_rtt(id, ms)`, `set_leader(topic, partition, id)`,
-- `set_follower(topic, partition, id)`, `set_follower_watermarks(topic,
-- partition, low, high)`, `push_errors(request, { names })`,
-- `push_broker_errors(id, request, { names } [, rtt_ms])`,
-- `clear_errors(request)`, `broker_errors_left(id, request)`, `close()`.
-- Broker ids are 1..n, -1 means every broker where librdkafka allows it;
-- requests are Kafka's names ("Produce") or ApiKey numbers.
M.mock = core.mock

--- The ApiKey of a Kafka request type by name: `api_key("Produce") == 0`.
M.api_key = core.api_key

--- Seconds on the monotonic clock (a float): for timing real sends.
M.monotonic = core.monotonic

--- CPU seconds used by the calling thread only, not by librdkafka's threads.
M.thread_cpu = core.thread_cpu

return M
