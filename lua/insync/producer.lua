--- The real producer: librdkafka behind API.md's send and callback, and
-- librdkafka's embedded mock cluster.  The C half is csrc/lua/producer.c and
-- csrc/lua/mock.c; this file only adds what is easier in Lua: decoding the
-- statistics JSON for `on_stats`.
-- @module insync.producer

local core = require "insync.core"

local M = {}

--- Makes a producer.
-- @tparam table conf every librdkafka configuration property by its own name
--   (`["bootstrap.servers"]`, `acks`, `["enable.idempotence"]`, ...), values
--   as strings, numbers or booleans; plus three optional functions, called
--   only inside poll, flush and close:
--   `on_error(err)` (an error object; `err.fatal` for a fatal error),
--   `on_log(level, facility, message)` (syslog levels, as librdkafka's log_cb),
--   `on_stats(stats, json)` (the statistics, decoded, and their JSON text;
--   set `["statistics.interval.ms"]`).
-- @return the producer; raises on an unknown property or a bad value, naming
--   the property (never showing a secret's value).
function M.producer(conf)
  if type(conf) ~= "table" then
    error(("producer: conf: expected table, got %s"):format(type(conf)), 2)
  end
  local on_stats = conf.on_stats
  if type(on_stats) == "function" then
    local decode = require("cjson").decode
    local copy = {}
    for k, v in pairs(conf) do copy[k] = v end
    copy.on_stats = function(json) return on_stats(decode(json), json) end
    conf = copy
  end
  -- Called through pcall so that a misuse is reported at the caller's line.
  local ok, p = pcall(core.producer, conf)
  if not ok then error(p, 2) end
  return p
end

--- Starts librdkafka's embedded mock cluster: `insync.mock{ brokers = 3 }`.
M.mock = core.mock

--- The ApiKey of a Kafka request type by name: `api_key("Produce") == 0`.
M.api_key = core.api_key

--- Seconds on the monotonic clock (a float): for timing real sends.
M.monotonic = core.monotonic

--- CPU seconds used by the calling thread only, not by librdkafka's threads.
M.thread_cpu = core.thread_cpu

return M
