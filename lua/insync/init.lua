--- insync: what happens to your Kafka records if... and then send them for real.
--
-- One module, two engines behind one way of sending: the model (a
-- deterministic simulation of a Kafka cluster, `insync.cluster`) and the real
-- producer on librdkafka (`insync.producer`, with librdkafka's embedded mock
-- cluster as `insync.mock`).  See README.md and the manual under docs/.
-- @module insync

local core = require "insync.core"

local insync = {
  _VERSION = "0.2.0",
  --- librdkafka's version string, e.g. "2.0.2".
  librdkafka_version = core.librdkafka_version,
}

--- Every librdkafka error name mapped to its code, read-only:
-- `insync.errors.NOT_ENOUGH_REPLICAS == 19`.  Asking for a name librdkafka
-- does not know raises, naming it, so a typo cannot pass as nil.
-- Iterate with `insync.error_names()`.
local codes = core.error_codes()

-- A name for a message: a string cut to 60 bytes and "...", else its
-- type (no __tostring runs).
local function cut(name)
  if type(name) ~= "string" then return type(name) end
  return #name > 60 and name:sub(1, 60) .. "..." or name
end
insync.errors = setmetatable({}, {
  __index = function(_, name)
    local code = codes[name]
    if code then return code end
    error(("insync.errors: unknown error name '%s'"):format(cut(name)), 2)
  end,
  __newindex = function(_, name)
    error(("insync.errors is read-only (assignment to '%s')"):format(cut(name)), 2)
  end,
  __pairs = function() return next, codes, nil end,
  __metatable = false,
})

--- The sorted list of error names.
function insync.error_names()
  local names = {}
  for name in pairs(codes) do names[#names + 1] = name end
  table.sort(names)
  return names
end

--- Builds the shared error object: `insync.error("NOT_ENOUGH_REPLICAS")`.
-- @param code an error name or code
-- @param[opt] message human text (librdkafka's description by default)
-- @param[opt] persisted "not_persisted" (default), "possibly_persisted", "persisted"
-- @param[opt] fatal boolean
insync.error = core.error

local producer = require "insync.producer"

--- The real producer on librdkafka: `insync.producer{ ["bootstrap.servers"] = ... }`.
-- See lua/insync/producer.lua and docs/producer.md.
insync.producer = producer.producer

--- librdkafka's embedded mock cluster: `insync.mock{ brokers = 3 }`.
-- See docs/mock.md.
insync.mock = producer.mock
insync.api_key = producer.api_key
insync.monotonic = producer.monotonic
insync.thread_cpu = producer.thread_cpu

--- A consumer without a group, on librdkafka: `insync.consumer{ ... }`.
-- See lua/insync/consumer.lua and docs/consumer-audit.md.
insync.consumer = require("insync.consumer").consumer

--- A deterministic simulated Kafka cluster in virtual time (the model).
-- See docs/model.md and lua/insync/cluster.lua.
insync.cluster = require("insync.cluster").new

--- Random fault schedules against one configuration, the first
-- counterexample shrunk and written out as a script: `insync.explore{...}`.
-- See docs/explore.md and lua/insync/explore.lua.
insync.explore = require("insync.explore").explore

--- The durability matrix, measured with insync.explore: `insync.matrix{...}`.
-- See docs/explore.md, "The durability matrix".
insync.matrix = require("insync.matrix").matrix
--- What a Kafka engineer would flag in producer, topic and cluster settings,
-- with the model's evidence: `insync.check{ producer = {...}, topic = {...} }`.
-- See docs/check.md and lua/insync/check.lua.
insync.check = require("insync.check").check

--- True when `v` is an insync error object.
function insync.is_error(v)
  return type(v) == "table" and getmetatable(v) == core.error_mt
end

return insync
