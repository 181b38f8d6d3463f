--- The model's Lua face: `insync.cluster{...}` and the methods that take
-- configuration tables (create_topic, producer), validated here under
-- Apache Kafka's and librdkafka's names and defaults, and trace_json.
-- The rest of the methods (send, run, run_for, faults, partition, audit,
-- trace, ...) are C, in csrc/lua/cluster.c.  See README.md, "The model".
-- @module insync.cluster

local core = require "insync.core"

local M = {}
local methods = core.cluster_methods
local broker_conf = setmetatable({}, { __mode = "k" }) -- cluster -> its broker config

local floor = math.floor
local LONG_MAX = 9223372036854775807

local function typename(v)
  if type(v) == "number" and v ~= floor(v) then return "a fraction" end
  return type(v)
end

-- Reads an integer: a Lua number or a decimal string ("2"), as Kafka's
-- properties allow.
local function to_int(where, v, min, max)
  local n = v
  if type(v) == "string" and v:match("^%s*%-?%d+%s*$") then n = tonumber(v) end
  if type(n) ~= "number" or n ~= floor(n) then
    error(("%s: expected integer, got %s"):format(where, typename(v)), 4)
  end
  if min and n < min then
    error(("%s: expected at least %d, got %d"):format(where, min, n), 4)
  end
  if max and n > max then
    error(("%s: expected at most %d, got %s"):format(where, max, tostring(n)), 4)
  end
  return n
end

local function to_bool(where, v)
  if v == true or v == "true" then return 1 end
  if v == false or v == "false" then return 0 end
  error(("%s: expected boolean, got %s"):format(where, typename(v)), 4)
end

-- Broker configuration: Kafka name -> { internal field, kind, min }.
local BROKER_KEYS = {
  ["min.insync.replicas"] = { "min_isr", "int", 1 },
  ["replica.lag.time.max.ms"] = { "lag_ms", "int", 1 },
  ["unclean.leader.election.enable"] = { "unclean", "bool" },
  ["broker.session.timeout.ms"] = { "session_ms", "int", 1 },
  ["broker.heartbeat.interval.ms"] = { "heartbeat_ms", "int", 1 },
  ["replica.fetch.wait.max.ms"] = { "fetch_wait_ms", "int", 0 },
  ["replica.fetch.max.bytes"] = { "fetch_max_bytes", "int", 1 },
  ["replica.fetch.backoff.ms"] = { "fetch_backoff_ms", "int", 0 },
  ["replica.socket.timeout.ms"] = { "socket_timeout_ms", "int", 1 },
  ["log.flush.interval.messages"] = { "flush_messages", "int", 1 },
  ["log.flush.interval.ms"] = { "flush_ms", "int", 1 },
  ["num.partitions"] = { "default_partitions", "int", 1 },
  ["default.replication.factor"] = { "default_rf", "int", 1 },
  ["auto.leader.rebalance.enable"] = { "auto_rebalance", "bool" },
  ["leader.imbalance.check.interval.seconds"] = { "imbalance_check_s", "int", 1 },
}

local BROKER_DEFAULTS = {
  min_isr = 1, lag_ms = 30000, unclean = 0, session_ms = 9000,
  heartbeat_ms = 2000, fetch_wait_ms = 500, fetch_max_bytes = 1048576,
  fetch_backoff_ms = 1000, socket_timeout_ms = 30000, flush_messages = LONG_MAX,
  flush_ms = LONG_MAX,
  default_partitions = 1, default_rf = 1,
  auto_rebalance = 1, imbalance_check_s = 300,
}

local TOPIC_KEYS = {
  ["min.insync.replicas"] = { "min_isr", "int", 1 },
  ["unclean.leader.election.enable"] = { "unclean", "bool" },
  ["flush.messages"] = { "flush_messages", "int", 1 },
}

local function read_config(where, conf, keys, out)
  if conf == nil then return out end
  if type(conf) ~= "table" then
    error(("%s: expected table, got %s"):format(where, type(conf)), 3)
  end
  for k, v in pairs(conf) do
    local spec = type(k) == "string" and keys[k]
    if not spec then
      error(("%s: unknown key '%s'"):format(where, tostring(k)), 3)
    end
    local name = where .. "[\"" .. k .. "\"]"
    if spec[2] == "bool" then
      out[spec[1]] = to_bool(name, v)
    else
      local n = v
      if type(v) == "number" and v >= LONG_MAX then n = LONG_MAX end
      out[spec[1]] = to_int(name, n, spec[3])
    end
  end
  return out
end

local CLUSTER_OPTS = { brokers = true, seed = true, latency_ms = true, config = true,
                       trace = true, strict_min_isr = true, eligible_leader_replicas = true }

--- Builds a simulated cluster.
-- @tparam table opts `brokers` (3), `seed` (1), `latency_ms` (1), `config`
-- (broker defaults under Kafka's names), `trace` (false),
-- `strict_min_isr` (true: Kafka 3.7+, the HW does not advance while the
-- ISR is below min.insync.replicas; false: the older behaviour),
-- `eligible_leader_replicas` (false: KIP-966, on in new Kafka 4.x clusters:
-- replicas that left the ISR while it was below min.insync.replicas may be
-- elected cleanly when no ISR member is alive)
-- @return the cluster
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error(("cluster: opts: expected table, got %s"):format(type(opts)), 2)
  end
  for k in pairs(opts) do
    if not CLUSTER_OPTS[k] then
      error(("cluster: unknown option '%s'"):format(tostring(k)), 2)
    end
  end
  local conf = {}
  for k, v in pairs(BROKER_DEFAULTS) do conf[k] = v end
  conf.brokers = opts.brokers == nil and 3 or to_int("cluster: brokers", opts.brokers, 1, 63)
  conf.seed = opts.seed == nil and 1 or to_int("cluster: seed", opts.seed)
  if opts.latency_ms ~= nil then
    conf.latency_ms = to_int("cluster: latency_ms", opts.latency_ms, 0)
  end
  if opts.trace ~= nil then conf.trace = to_bool("cluster: trace", opts.trace) end
  if opts.strict_min_isr ~= nil then
    conf.strict_min_isr = to_bool("cluster: strict_min_isr", opts.strict_min_isr)
  end
  if opts.eligible_leader_replicas ~= nil then
    conf.eligible_leader_replicas = to_bool("cluster: eligible_leader_replicas",
                                            opts.eligible_leader_replicas)
  end
  read_config("cluster: config", opts.config, BROKER_KEYS, conf)
  local c = core.cluster_new(conf)
  broker_conf[c] = conf
  return c
end

local TOPIC_OPTS = { partitions = true, replication_factor = true, config = true,
                     replicas = true }

--- Creates a topic; the controller elects each partition's first replica.
-- @string name
-- @tparam[opt] table opts `partitions` (num.partitions), `replication_factor`
-- (default.replication.factor), `config` (topic overrides:
-- min.insync.replicas, unclean.leader.election.enable, flush.messages),
-- `replicas` (a list per partition of broker ids; default round robin)
function methods:create_topic(name, opts)
  if type(name) ~= "string" or #name > 249 or name == "." or name == ".."
     or not name:match("^[a-zA-Z0-9._-]+$") then
    error(("create_topic: name: expected a topic name (1 to 249 of a-z A-Z 0-9 . _ -), got %s")
      :format(type(name) == "string" and ("%q"):format(name) or typename(name)), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error(("create_topic: opts: expected table, got %s"):format(type(opts)), 2)
  end
  for k in pairs(opts) do
    if not TOPIC_OPTS[k] then
      error(("create_topic: unknown option '%s'"):format(tostring(k)), 2)
    end
  end
  local bc = broker_conf[self]
  local partitions = opts.partitions == nil and bc.default_partitions
    or to_int("create_topic: partitions", opts.partitions, 1, 65535)
  local rf = opts.replication_factor == nil and bc.default_rf
    or to_int("create_topic: replication_factor", opts.replication_factor, 1)
  if rf > bc.brokers then
    error(("create_topic: replication_factor: %d is larger than the number of brokers (%d)")
      :format(rf, bc.brokers), 2)
  end
  local tc = read_config("create_topic: config", opts.config, TOPIC_KEYS, {})
  if opts.replicas ~= nil then
    if type(opts.replicas) ~= "table" or #opts.replicas ~= partitions then
      error(("create_topic: replicas: expected a list of %d replica lists"):format(partitions), 2)
    end
    for i, list in ipairs(opts.replicas) do
      if type(list) ~= "table" or #list ~= rf then
        error(("create_topic: replicas[%d]: expected a list of %d broker ids"):format(i, rf), 2)
      end
    end
  end
  self:_create_topic(name, partitions, rf, tc.min_isr or bc.min_isr,
    tc.unclean or -1, tc.flush_messages or -1, opts.replicas)
  return self
end

-- Producer configuration: name -> { internal field, kind, min, max }.
local PRODUCER_KEYS = {
  ["enable.idempotence"] = { "idempotence", "bool" },
  ["retries"] = { "retries", "int", 0, 2147483647 },
  ["message.send.max.retries"] = { "retries", "int", 0, 2147483647 },
  ["delivery.timeout.ms"] = { "message_timeout_ms", "int", 0, 2147483647 },
  ["message.timeout.ms"] = { "message_timeout_ms", "int", 0, 2147483647 },
  ["request.timeout.ms"] = { "request_timeout_ms", "int", 1, 900000 },
  ["socket.timeout.ms"] = { "socket_timeout_ms", "int", 10, 300000 },
  ["retry.backoff.ms"] = { "retry_backoff_ms", "int", 1, 300000 },
  ["linger.ms"] = { "linger_ms", "num", 0, 900000 },
  ["queue.buffering.max.ms"] = { "linger_ms", "num", 0, 900000 },
  ["batch.size"] = { "batch_size", "int", 1, 2147483647 },
  ["batch.num.messages"] = { "batch_num_messages", "int", 1, 1000000 },
  ["max.in.flight.requests.per.connection"] = { "max_in_flight", "int", 1, 1000000 },
  ["max.in.flight"] = { "max_in_flight", "int", 1, 1000000 },
  ["queue.buffering.max.messages"] = { "queue_max_messages", "int", 1, 2147483647 },
  ["queue.buffering.max.kbytes"] = { "queue_max_kbytes", "int", 1, 2147483647 },
  ["sticky.partitioning.linger.ms"] = { "sticky_ms", "int", 0, 900000 },
  ["topic.metadata.refresh.fast.interval.ms"] = { "metadata_fast_ms", "int", 1, 60000 },
  ["topic.metadata.refresh.interval.ms"] = { "metadata_refresh_ms", "int", -1, 3600000 },
  ["message.max.bytes"] = { "message_max_bytes", "int", 1000, 1000000000 },
}

-- Accepted so that one table configures both engines; no effect on the model.
local PRODUCER_IGNORED = {
  ["bootstrap.servers"] = true, ["metadata.broker.list"] = true,
  ["client.id"] = true, ["compression.type"] = true, ["compression.codec"] = true,
  ["debug"] = true,
}

local ACKS = { all = -1, ["-1"] = -1, ["0"] = 0, ["1"] = 1, [-1] = -1, [0] = 0, [1] = 1 }
local PARTITIONERS = { consistent_random = 0, consistent = 1, random = 2 }

--- A simulated producer with librdkafka's configuration names and defaults.
-- `on_error = function(err, report)` gets the failure of a send made
-- without a callback (without it, one line goes to stderr), as with
-- insync.producer.
-- @tparam[opt] table conf
-- @return the producer; `producer:send(msg, callback)`
function methods:producer(conf)
  conf = conf or {}
  if type(conf) ~= "table" then
    error(("producer: conf: expected table, got %s"):format(type(conf)), 2)
  end
  local out, set, on_error = {}, {}, nil
  for k, v in pairs(conf) do
    local where = ("producer: %s"):format(tostring(k))
    if k == "on_error" or k == "on_log" or k == "on_stats" then
      if type(v) ~= "function" then
        error(("%s: expected function, got %s"):format(where, type(v)), 2)
      end
      -- the model has no librdkafka logs or statistics to hand on_log and
      -- on_stats: taken so that one table configures both engines
      if k == "on_error" then on_error = v end
    elseif k == "acks" or k == "request.required.acks" then
      local a = ACKS[v]
      if a == nil then
        error(("%s: expected \"all\", \"-1\", \"0\", \"1\" or -1, 0, 1, got %s")
          :format(where, tostring(v)), 2)
      end
      out.acks, set.acks = a, true
    elseif k == "partitioner" then
      if PARTITIONERS[v] == nil then
        error(("%s: expected \"consistent_random\", \"consistent\" or \"random\", got %s")
          :format(where, tostring(v)), 2)
      end
      out.partitioner = PARTITIONERS[v]
    elseif PRODUCER_IGNORED[k] then
      if type(v) ~= "string" then
        error(("%s: expected string, got %s"):format(where, type(v)), 2)
      end
    else
      local spec = type(k) == "string" and PRODUCER_KEYS[k]
      if not spec then
        error(("producer: unknown configuration key '%s'"):format(tostring(k)), 2)
      end
      if spec[2] == "bool" then
        out[spec[1]] = to_bool(where, v)
      elseif spec[2] == "num" then
        local n = type(v) == "string" and tonumber(v) or v
        if type(n) ~= "number" or not (n >= spec[3] and n <= spec[4]) then   -- nan too
          error(("%s: expected a number %d..%d, got %s"):format(where, spec[3], spec[4],
            tostring(v)), 2)
        end
        out[spec[1]] = floor(n)
      else
        out[spec[1]] = to_int(where, v, spec[3], spec[4])
      end
      set[spec[1]] = true
    end
  end
  if out.idempotence == 1 then
    -- librdkafka's rules (rd_kafka_conf_finalize)
    if set.acks and out.acks ~= -1 then
      error("producer: acks: must be \"all\" when enable.idempotence is true", 2)
    end
    if set.max_in_flight and out.max_in_flight > 5 then
      error("producer: max.in.flight.requests.per.connection: must be at most 5 when enable.idempotence is true", 2)
    end
    if set.retries and out.retries == 0 then
      error("producer: retries: must not be 0 when enable.idempotence is true", 2)
    end
    out.acks = -1
    out.max_in_flight = out.max_in_flight or 5
  end
  return self:_producer(out, on_error)
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(ch)
    local map = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
    return map[ch] or ("\\u%04x"):format(ch:byte())
  end) .. '"'
end

local FIRST = { "t", "event", "node", "topic", "partition" }

local function json_line(e)
  local parts, done = {}, {}
  local function add(k, v)
    local val = type(v) == "string" and json_string(v) or ("%d"):format(v)
    parts[#parts + 1] = json_string(k) .. ":" .. val
    done[k] = true
  end
  for _, k in ipairs(FIRST) do
    if e[k] ~= nil then add(k, e[k]) end
  end
  local rest = {}
  for k in pairs(e) do
    if not done[k] then rest[#rest + 1] = k end
  end
  table.sort(rest)
  for _, k in ipairs(rest) do add(k, e[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

--- Writes the trace as JSON lines, one event per line.
-- @string path
-- @return the number of lines written
function methods:trace_json(path)
  if type(path) ~= "string" then
    error(("trace_json: path: expected string, got %s"):format(type(path)), 2)
  end
  local f, err = io.open(path, "w")
  if not f then error("trace_json: " .. tostring(err), 2) end
  local entries = self:trace()
  for i = 1, #entries do
    f:write(json_line(entries[i]), "\n")
  end
  f:close()
  return #entries
end

--- The scenario as a Mermaid sequence diagram (a cluster made with
-- `trace = true`); opts as insync.diagram.sequence's.  See docs/pictures.md.
-- @treturn string
function methods:diagram(opts)
  return require("insync.diagram").sequence(self:trace(), self:audit(), opts)
end

--- One partition's replicas over virtual time as an SVG image (a cluster
-- made with `trace = true`); opts as insync.timeline.svg's.  See
-- docs/pictures.md.
-- @treturn string
function methods:timeline_svg(opts)
  return require("insync.timeline").svg(self:trace(), self:audit(), opts)
end

return M
