--- The model's Lua face: `insync.cluster{...}` and the methods that take
-- configuration tables (create_topic, producer), validated here under
-- Apache Kafka's and librdkafka's names and defaults, and trace_json.
-- The rest of the methods (send, run, run_for, faults, partition, audit,
-- trace, ...) are C, in csrc/lua/cluster.c.  See docs/model.md.
-- @module insync.cluster

local core = require "insync.core"

local M = {}
local methods = core.cluster_methods
local broker_conf = setmetatable({}, { __mode = "k" }) -- cluster -> its broker config
local disk_of = setmetatable({}, { __mode = "k" })     -- cluster -> its disk budgets by broker

local floor, huge = math.floor, math.huge
local LONG_MAX = 9223372036854775807
local CUT = 60 -- a value shown in a message is cut to this many bytes, then "..."

-- A value for an error message: a string quoted and cut, a number as
-- written (inf, nan), anything else by its type (no __tostring is called).
local function show(v)
  if type(v) == "string" then
    local s = ("%q"):format(v:sub(1, CUT)):gsub("\\\n", "\\n")
    return #v > CUT and s .. "..." or s
  elseif type(v) == "number" then
    if v ~= v then return "nan" end
    if v == floor(v) and v > -2 ^ 63 and v < 2 ^ 63 then return ("%d"):format(v) end
    return tostring(v)
  end
  return type(v)
end
M.show = show

-- A key or option name for a message: 'name' cut, or what show gives.
local function show_key(k)
  if type(k) ~= "string" then return show(k) end
  return "'" .. k:sub(1, CUT) .. (#k > CUT and "'..." or "'")
end

local function typename(v)
  if type(v) == "number" then
    if v ~= v or v == huge or v == -huge then return show(v) end
    if v ~= floor(v) then return "a fraction" end
  end
  return type(v)
end

-- Reads an integer: a Lua number or a decimal string ("2"), as Kafka's
-- properties allow; within [min, max] (max: Long.MAX_VALUE by default).
local function to_int(where, v, min, max)
  local n = v
  if type(v) == "string" and v:match("^%s*%-?%d+%s*$") then n = tonumber(v) end
  if type(n) ~= "number" or n ~= n or n == huge or n == -huge or n ~= floor(n) then
    error(("%s: expected integer, got %s"):format(where, typename(v)), 4)
  end
  if min and n < min then
    error(("%s: expected at least %d, got %s"):format(where, min, show(n)), 4)
  end
  max = max or LONG_MAX
  if n > max then
    error(("%s: expected at most %d, got %s"):format(where, max, show(n)), 4)
  end
  return n
end

local function to_bool(where, v)
  if v == true or v == "true" then return 1 end
  if v == false or v == "false" then return 0 end
  error(("%s: expected boolean, got %s"):format(where, typename(v)), 4)
end

-- The configuration schema, owned by C (csrc/model/config.c): every key
-- once, with its field, type, range, default and doc.  Rows by scope, and
-- by each name a key is given under.
local KEYS = core.model_keys()
local CLUSTER_ROWS = {}   -- options of insync.cluster{}, in the schema's order
local BROKER_KEYS, TOPIC_KEYS, PRODUCER_KEYS = {}, {}, {}   -- name -> row
for _, row in ipairs(KEYS) do
  if row.scope == "cluster" then
    CLUSTER_ROWS[#CLUSTER_ROWS + 1] = row
  elseif row.scope == "broker" then
    BROKER_KEYS[row.name] = row
    if row.topic then TOPIC_KEYS[row.topic] = row end
  else
    PRODUCER_KEYS[row.name] = row
    if row.alias then PRODUCER_KEYS[row.alias] = row end
  end
end

-- An ENUM row's value for v (a name, or a number written as one), or nil.
local function enum_value(row, v)
  if type(v) == "number" then
    v = v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 and ("%d"):format(v) or nil
  end
  for _, nv in ipairs(row.values) do
    if nv[1] == v then return nv[2] end
  end
end

-- What an ENUM row takes, for a message: "a", "b" or "c"; the names that
-- are numbers also as numbers: "all", "-1", "0", "1" or -1, 0, 1.
local function enum_expected(row)
  local quoted, numbers = {}, {}
  for i, nv in ipairs(row.values) do
    quoted[i] = '"' .. nv[1] .. '"'
    if tonumber(nv[1]) then numbers[#numbers + 1] = nv[1] end
  end
  if #numbers > 0 then
    return table.concat(quoted, ", ") .. " or " .. table.concat(numbers, ", ")
  end
  return table.concat(quoted, ", ", 1, #quoted - 1) .. " or " .. quoted[#quoted]
end

local function read_config(where, conf, keys, out)
  if conf == nil then return out end
  if type(conf) ~= "table" then
    error(("%s: expected table, got %s"):format(where, type(conf)), 3)
  end
  for k, v in pairs(conf) do
    local row = type(k) == "string" and keys[k]
    if not row then
      error(("%s: unknown key %s"):format(where, show_key(k)), 3)
    end
    local name = where .. "[\"" .. k .. "\"]"
    if row.type == "bool" then
      out[row.field] = to_bool(name, v)
    else
      out[row.field] = to_int(name, v, row.min, row.max)
    end
  end
  return out
end

local CLUSTER_OPTS = { config = true, latency = true, profile = true, kafka_version = true }
for _, row in ipairs(CLUSTER_ROWS) do CLUSTER_OPTS[row.name] = true end

-- kafka_version: the defaults that differ between the Kafka versions the
-- model knows (docs/configuration.md has the table and the sources).
-- strict_min_isr: KAFKA-15583 (3.7); eligible_leader_replicas: KIP-966,
-- on for new clusters from 4.1 (eligible.leader.replicas.version=1).
local KAFKA_VERSIONS = {
  ["3.6"] = { strict_min_isr = 0, elr = 0 },
  ["3.9"] = { strict_min_isr = 1, elr = 0 },
  ["4.1"] = { strict_min_isr = 1, elr = 1 },
}
M.kafka_versions = { "3.6", "3.9", "4.1" }

-- Latency distributions (one way, per message, virtual ms): kind codes of
-- csrc/model/latency.c and the figures each takes.
local LAT = {
  fixed = { 0, "ms" },
  uniform = { 1, "min_ms", "max_ms" },
  lognormal = { 2, "median_ms", "p99_ms" },
}

--- The timing profiles, one word each; docs/explore.md gives where each
-- figure comes from.  "lan" is the model's historical fixed 1 ms.
M.profiles = {
  lan = { dist = "fixed", ms = 1 },
  datacenter = { dist = "lognormal", median_ms = 0.1, p99_ms = 0.5 },
  cross_az = { dist = "lognormal", median_ms = 0.5, p99_ms = 2 },
  overloaded = { dist = "lognormal", median_ms = 3, p99_ms = 100 },
}

-- Reads a latency: a number (fixed ms), a profile's name, or
-- { dist = "fixed" | "uniform" | "lognormal", <its figures> }.
-- Returns kind, a, b.
local function read_latency(where, v, lvl)
  lvl = lvl + 1
  if type(v) == "number" then v = { dist = "fixed", ms = v } end
  if type(v) == "string" then
    local p = M.profiles[v]
    if not p then
      error(("%s: unknown profile '%s' (known: lan, datacenter, cross_az, overloaded)"):format(where, v), lvl)
    end
    v = p
  end
  if type(v) ~= "table" then
    error(("%s: expected a number, a profile name or a table, got %s"):format(where, type(v)), lvl)
  end
  local spec = LAT[v.dist]
  if not spec then
    error(("%s: dist: expected \"fixed\", \"uniform\" or \"lognormal\", got %s"):format(where, tostring(v.dist)), lvl)
  end
  for k in pairs(v) do
    if k ~= "dist" and k ~= spec[2] and k ~= spec[3] then
      error(("%s: unknown key '%s' for a %s latency"):format(where, tostring(k), v.dist), lvl)
    end
  end
  local out = {}
  for i = 2, #spec do
    local x = v[spec[i]]
    if type(x) ~= "number" or not (x >= 0 and x <= 86400000) then
      error(("%s: %s: expected a number of ms 0..86400000, got %s"):format(where, spec[i], tostring(x)), lvl)
    end
    out[i - 1] = x
  end
  if v.dist == "uniform" and out[2] < out[1] then
    error(("%s: max_ms: expected at least min_ms"):format(where), lvl)
  end
  if v.dist == "lognormal" and (out[1] <= 0 or out[2] < out[1]) then
    error(("%s: expected 0 < median_ms <= p99_ms"):format(where), lvl)
  end
  return spec[1], out[1], out[2]
end

--- Builds a simulated cluster.
-- @tparam table opts `brokers` (3), `seed` (1), `latency_ms` (1), `config`
-- (broker defaults under Kafka's names), `trace` (false),
-- `strict_min_isr` (true: Kafka 3.7+, the HW does not advance while the
-- ISR is below min.insync.replicas; false: the older behaviour),
-- `eligible_leader_replicas` (false: KIP-966, on in new Kafka 4.x clusters:
-- replicas that left the ISR while it was below min.insync.replicas may be
-- elected cleanly when no ISR member is alive), `disk_bytes_per_ms` (a
-- number, or `{ [broker id] = n }`), `dirty_expire_centisecs` (3000) and
-- `dirty_writeback_centisecs` (500): docs/configuration.md, "Storage";
-- `kafka_version` ("3.9": "3.6", "3.9" or "4.1" sets strict_min_isr and
-- eligible_leader_replicas to that version's defaults; given explicitly
-- they win), `controllers` (1: KRaft controller quorum voters, 1..9),
-- `skip_idle` (true: idle
-- fetch rounds are skipped where that changes nothing observable; false
-- steps through each, for comparison: docs/model.md)
-- @return the cluster
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error(("cluster: opts: expected table, got %s"):format(type(opts)), 2)
  end
  for k in pairs(opts) do
    if not CLUSTER_OPTS[k] then
      error(("cluster: unknown option %s"):format(show_key(k)), 2)
    end
  end
  local conf = {}
  for _, row in ipairs(KEYS) do
    if row.scope ~= "producer" then conf[row.field] = row.default end
  end
  -- a disk write budget per broker: { [broker id] = n } (a number: the row)
  local disk_each = {}
  if type(opts.disk_bytes_per_ms) == "table" then
    local nb = opts.brokers == nil and 3 or to_int("cluster: brokers", opts.brokers, 1, 63)
    for b, v in pairs(opts.disk_bytes_per_ms) do
      if type(b) ~= "number" or b ~= floor(b) or b < 1 or b > nb then
        error(("cluster: disk_bytes_per_ms: expected broker ids 1..%d as keys, got %s")
          :format(nb, show_key(b)), 2)
      end
      disk_each[b] = to_int(("cluster: disk_bytes_per_ms[%d]"):format(b), v, 1)
    end
  end
  for _, row in ipairs(CLUSTER_ROWS) do
    local v = opts[row.name]
    if v ~= nil and not (row.name == "disk_bytes_per_ms" and type(v) == "table") then
      local where = "cluster: " .. row.name
      if row.type == "bool" then
        conf[row.field] = to_bool(where, v)
      else
        conf[row.field] = to_int(where, v, row.min, row.max)
      end
    end
  end
  local lat = opts.latency
  if opts.profile ~= nil then
    if lat ~= nil or opts.latency_ms ~= nil then
      error("cluster: profile: give profile, latency or latency_ms, not two of them", 2)
    end
    if type(opts.profile) ~= "string" then
      error(("cluster: profile: expected string, got %s"):format(type(opts.profile)), 2)
    end
    lat = opts.profile
  elseif lat ~= nil and opts.latency_ms ~= nil then
    error("cluster: latency: give latency or latency_ms, not both", 2)
  end
  if lat ~= nil then
    local kind, a, b = read_latency(opts.profile and "cluster: profile" or "cluster: latency", lat, 1)
    if kind == 0 then
      if a ~= floor(a) then error("cluster: latency: a fixed latency is a whole number of ms", 2) end
      conf.latency_ms = a
    else
      conf.lat_kind, conf.lat_a, conf.lat_b = kind, a, b
    end
  end
  local version = opts.kafka_version
  if version ~= nil then
    if type(version) == "number" then version = ("%.1f"):format(version) end
    local v = type(version) == "string" and KAFKA_VERSIONS[version]
    if not v then
      error(("cluster: kafka_version: expected one of \"3.6\", \"3.9\", \"4.1\", got %s")
        :format(type(opts.kafka_version) == "string" and show(opts.kafka_version)
                or typename(opts.kafka_version)), 2)
    end
    -- the version's defaults; an option given as well wins
    if opts.strict_min_isr == nil then conf.strict_min_isr = v.strict_min_isr end
    if opts.eligible_leader_replicas == nil then conf.elr = v.elr end
  end
  read_config("cluster: config", opts.config, BROKER_KEYS, conf)
  -- KafkaConfig.logFlushIntervalMs: log.flush.interval.ms, or else
  -- log.flush.scheduler.interval.ms
  if not (opts.config and opts.config["log.flush.interval.ms"] ~= nil) then
    conf.flush_ms = conf.flush_scheduler_ms
  end
  local c = core.cluster_new(conf)
  for b, v in pairs(disk_each) do c:_disk(b, v) end
  broker_conf[c] = conf
  disk_of[c] = disk_each
  return c
end

-- For insync.explore, which builds a cluster per run from the same
-- options: a function(seed, trace) that builds the cluster M.new(opts)
-- would with that seed and trace, the options checked once (here, by
-- M.new: it raises as M.new does).
function M._builder(opts)
  local probe = M.new(opts)
  local conf, disk_each = broker_conf[probe], disk_of[probe]
  return function(seed, trace)
    conf.seed, conf.trace = seed, trace and 1 or 0
    local c = core.cluster_new(conf)
    for b, v in pairs(disk_each) do c:_disk(b, v) end
    broker_conf[c] = conf   -- shared: the methods read only the broker defaults from it
    return c
  end
end

-- Raises "<what>: self: expected insync.cluster, got <type>" unless self
-- is a cluster (open or closed: a closed one raises in the C method).
local function check_self(self, what)
  if broker_conf[self] == nil then
    error(("%s: self: expected insync.cluster, got %s"):format(what, type(self)), 3)
  end
end

--- Sets the latency of the link between nodes a and b, both ways: a
-- number of ms, a profile's name or a distribution (see M.new's `latency`).
-- Nodes are broker ids, "controller" or a producer.  Up to 15 per cluster.
function methods:latency(a, b, spec)
  check_self(self, "latency")
  local kind, x, y = read_latency("latency: spec", spec, 1)
  self:_latency(a, b, kind, x, y)
  self:_latency(b, a, kind, x, y)
  return self
end

local TOPIC_OPTS = { partitions = true, replication_factor = true, config = true,
                     replicas = true }

--- Creates a topic; the controller elects each partition's first replica.
-- @string name
-- @tparam[opt] table opts `partitions` (num.partitions), `replication_factor`
-- (default.replication.factor), `config` (topic overrides:
-- min.insync.replicas, unclean.leader.election.enable, flush.messages,
-- flush.ms),
-- `replicas` (a list per partition of broker ids; default round robin)
function methods:create_topic(name, opts)
  check_self(self, "create_topic")
  if type(name) ~= "string" or #name > 249 or name == "." or name == ".."
     or not name:match("^[a-zA-Z0-9._-]+$") then
    error(("create_topic: name: expected a topic name (1 to 249 of a-z A-Z 0-9 . _ -), got %s")
      :format(type(name) == "string" and show(name) or typename(name)), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error(("create_topic: opts: expected table, got %s"):format(type(opts)), 2)
  end
  for k in pairs(opts) do
    if not TOPIC_OPTS[k] then
      error(("create_topic: unknown option %s"):format(show_key(k)), 2)
    end
  end
  local bc = broker_conf[self]
  local partitions = opts.partitions == nil and bc.default_partitions
    or to_int("create_topic: partitions", opts.partitions, 1, BROKER_KEYS["num.partitions"].max)
  local rf = opts.replication_factor == nil and bc.default_rf
    or to_int("create_topic: replication_factor", opts.replication_factor, 1)
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
  -- the model's own checks (a replication factor above the brokers, a
  -- broker id in replicas, ...) raise at the caller as the ones above
  local ok, err = pcall(self._create_topic, self, name, partitions, rf, tc.min_isr or bc.min_isr,
    tc.unclean or -1, tc.flush_messages or -1, opts.replicas, tc.flush_ms)
  if not ok then error(err, 2) end
  return self
end

-- Every other key librdkafka's producer takes (bootstrap.servers,
-- security.protocol, sasl.*, ssl.*, statistics.interval.ms, compression,
-- debug, ...) is accepted so that one table configures both engines: its
-- value is checked by librdkafka's own rd_kafka_conf_set (a typo raises with
-- librdkafka's message), then ignored: the model has no network, no
-- security, no compression, no statistics.  modelled_producer_keys() lists
-- the keys the model does model.

-- The producer configuration as the binding reads it (`c:_producer(out,
-- on_error)`), every key checked; raises at the caller's caller.  Also
-- M._producer_conf, for insync.explore: it checks a search's configuration
-- once and hands the same table to each run's producer.
local function producer_conf(conf)
  conf = conf or {}
  if type(conf) ~= "table" then
    error(("producer: conf: expected table, got %s"):format(type(conf)), 3)
  end
  local out, set, on_error = {}, {}, nil
  for k, v in pairs(conf) do
    if type(k) ~= "string" then
      error(("producer: configuration keys must be strings, got %s"):format(show(k)), 3)
    end
    local where = ("producer: %s"):format(k:sub(1, CUT))
    local why = core.conf_unsupported(k)
    if why then error(("producer: property %s: %s"):format(show_key(k), why), 3) end
    if k == "on_error" or k == "on_log" or k == "on_stats" then
      if type(v) ~= "function" then
        error(("%s: expected function, got %s"):format(where, type(v)), 3)
      end
      -- the model has no librdkafka logs or statistics to hand on_log and
      -- on_stats: taken so that one table configures both engines
      if k == "on_error" then on_error = v end
    else
      local row = PRODUCER_KEYS[k]
      if row then
        if row.type == "bool" then
          out[row.field] = to_bool(where, v)
        elseif row.type == "enum" then
          out[row.field] = enum_value(row, v)
          if out[row.field] == nil then
            error(("%s: expected %s, got %s"):format(where, enum_expected(row), show(v)), 3)
          end
        elseif row.type == "number" then
          local n = type(v) == "string" and tonumber(v) or v
          if type(n) ~= "number" or not (n >= row.min and n <= row.max) then   -- nan too
            error(("%s: expected a number %d..%d, got %s"):format(where, row.min, row.max,
              show(v)), 3)
          end
          out[row.field] = floor(n)
        else
          out[row.field] = to_int(where, v, row.min, row.max)
        end
        set[row.field] = true
      end
      -- Every key, modelled or not, as librdkafka itself judges it.
      local ok, msg = core.conf_check(k, v)
      if not ok then error(("producer: property %s: %s"):format(show_key(k), msg), 3) end -- msg: librdkafka's, cut in C
      if k == "delivery.report.only.error" and (v == true or v == "true") then
        error("producer: property 'delivery.report.only.error': not supported (every send gets its callback)", 3)
      end
    end
  end
  if out.idempotence == 1 then
    -- librdkafka's rules (rd_kafka_conf_finalize)
    if set.acks and out.acks ~= -1 then
      error("producer: acks: must be \"all\" when enable.idempotence is true", 3)
    end
    if set.max_in_flight and out.max_in_flight > 5 then
      error("producer: max.in.flight.requests.per.connection: must be at most 5 when enable.idempotence is true", 3)
    end
    if set.retries and out.retries == 0 then
      error("producer: retries: must not be 0 when enable.idempotence is true", 3)
    end
    out.acks = -1
    out.max_in_flight = out.max_in_flight or 5
  end
  return out, on_error
end
M._producer_conf = producer_conf

--- A simulated producer with librdkafka's configuration names and defaults.
-- `on_error = function(err, report)` gets the failure of a send made
-- without a callback (without it, one line goes to stderr), as with
-- insync.producer.
-- @tparam[opt] table conf
-- @return the producer; `producer:send(msg, callback)`
function methods:producer(conf)
  check_self(self, "producer")
  return self:_producer(producer_conf(conf))
end

--- The producer configuration keys the model models (sorted): the others
-- librdkafka takes are accepted, checked by librdkafka, and ignored.  Also
-- `c:producer_keys()`.
function M.modelled_producer_keys()
  local out = { "on_error" }
  for k in pairs(PRODUCER_KEYS) do out[#out + 1] = k end
  table.sort(out)
  return out
end

--- `c:producer_keys()`: as `modelled_producer_keys()`.
function methods.producer_keys()
  return M.modelled_producer_keys()
end

-- The audit's one-line summary: tostring(c:audit()).
local AUDIT_LISTS = { "lost", "duplicated", "reordered", "unexpected", "inconsistent", "uncommitted" }
local audit_mt = {
  __tostring = function(a)
    local parts = {}
    for _, k in ipairs(AUDIT_LISTS) do parts[#parts + 1] = ("%s %d"):format(k, #a[k]) end
    return ("audit: sent %d, acked %d, failed %d, pending %d; %s"):format(
      a.sent, a.acked, a.failed, a.pending, table.concat(parts, ", "))
  end,
}
local raw_audit = methods.audit

--- What became of every send: see README.md, "The audit".
-- `tostring(audit)` is a one-line summary.
function methods:audit()
  return setmetatable(raw_audit(self), audit_mt)
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
  check_self(self, "trace_json")
  if type(path) ~= "string" then
    error(("trace_json: path: expected string, got %s"):format(type(path)), 2)
  end
  -- the trace first: a closed cluster raises before the file is touched
  local ok, entries = pcall(self.trace, self)
  if not ok then error(entries, 2) end
  local f, err = io.open(path, "w")
  if not f then
    err = tostring(err)   -- "<path>: <reason>": the path cut
    local reason = err:match(": ([^:]*)$") or err
    error(("trace_json: path: cannot open %s (%s)"):format(show(path), reason), 2)
  end
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
  check_self(self, "diagram")
  return require("insync.diagram").sequence(self:trace(), self:audit(), opts)
end

--- One partition's replicas over virtual time as an SVG image (a cluster
-- made with `trace = true`); opts as insync.timeline.svg's.  See
-- docs/pictures.md.
-- @treturn string
function methods:timeline_svg(opts)
  check_self(self, "timeline_svg")
  return require("insync.timeline").svg(self:trace(), self:audit(), opts)
end

return M
