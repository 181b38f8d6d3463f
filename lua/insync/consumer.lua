--- The consumer: librdkafka's consumer without a group, reading the
-- partitions it is assigned from the offsets it is told.  The C half is
-- csrc/lua/consumer.c (methods) and csrc/rdkafka/consumer.c.
-- See docs/consumer-audit.md.
-- @module insync.consumer

local core = require "insync.core"

local M = {}

--- Makes a consumer.
-- @tparam table conf librdkafka configuration properties by their own names
--   (`["bootstrap.servers"]`, `["isolation.level"]`, `["fetch.wait.max.ms"]`,
--   ...), values as strings, numbers or booleans.  Unless set here:
--   `enable.auto.commit` and `enable.auto.offset.store` are false (it has no
--   group and commits nothing) and `enable.partition.eof` is true (so that
--   `at_end()` knows where each partition ends).
-- @return the consumer; raises on an unknown property or a bad value, naming
--   the property.
function M.consumer(conf)
  if type(conf) ~= "table" then
    error(("consumer: conf: expected table, got %s"):format(type(conf)), 2)
  end
  -- Called through pcall so that a misuse is reported at the caller's line.
  local ok, c = pcall(core.consumer, conf)
  if not ok then error(c, 2) end
  return c
end

--- The consumer's methods (in C).
-- @type consumer

--- Replaces the assignment: `c:assign{ { topic = "t", partition = 0,
-- offset = "beginning" }, ... }`; offset is `"beginning"` (the default),
-- `"end"` or an offset; `{}` clears it.
-- @return true, or nil and an error object
-- @function consumer:assign

--- Reads what is there: waits up to `timeout_ms` (default 0, -1: no bound)
-- for the first record, then takes those already fetched, `max` (default
-- 500) at most.  Each record: `{ topic, partition, offset, key, value,
-- timestamp, timestamp_type ("create" or "log_append"), headers = { {name,
-- value}, ... } }` (key, value, headers absent when the record has none).
-- @return the list of records (maybe empty), and, when some came, the list of
--   error objects (each with `topic` and `partition` when it concerns one)
-- @function consumer:poll

--- @return true when every assigned partition has been read to its end
-- (nothing new since the last partition end librdkafka reported)
-- @function consumer:at_end

--- Asks the partition's leader for its low and high watermarks.
-- @return low, high; or nil and an error object
-- @function consumer:watermarks

--- @return the topic's number of partitions; or nil and an error object
-- @function consumer:partitions

--- Closes the consumer.  Idempotent; also `__close` and `__gc`.
-- @function consumer:close

--- @section end

return M
