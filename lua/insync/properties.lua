--- Reads Kafka client and server configuration files: Java `.properties`
-- (the Java client's, a broker's `server.properties`, a topic's settings),
-- Spring Boot's `application.properties` (`spring.kafka.*`) and
-- librdkafka's `key=value` files, into one shape that `insync.check` takes:
-- `{ client = "java" | "librdkafka", producer = {...}, topic = {...},
--    cluster = {...} }` under Apache Kafka's canonical names.
-- See docs/check.md.
-- @module insync.properties

local M = {}

local floor = math.floor
local INT_MAX = 2147483647

---------------------------------------------------------------------------
-- Syntax
---------------------------------------------------------------------------

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then
    return string.char(0xC0 + floor(cp / 64), 0x80 + cp % 64)
  end
  return string.char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

local ESCAPES = { t = "\t", n = "\n", r = "\r", f = "\f" }

-- Java's Properties.loadConvert: \t \n \r \f, \uhhhh, and \x for any other
-- x.  Returns the text, or nil and a message for a malformed \uhhhh.
local function unescape(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local ch = s:sub(i, i)
    if ch == "\\" and i < n then
      local e = s:sub(i + 1, i + 1)
      if e == "u" then
        local hex = s:sub(i + 2, i + 5)
        if not hex:match("^%x%x%x%x$") then
          return nil, "malformed \\uxxxx encoding"
        end
        out[#out + 1] = utf8_char(tonumber(hex, 16))
        i = i + 6
      else
        out[#out + 1] = ESCAPES[e] or e
        i = i + 2
      end
    else
      out[#out + 1] = ch
      i = i + 1
    end
  end
  return table.concat(out)
end

-- Splits text into natural lines, each with its number.
local function natural_lines(text)
  local lines, n = {}, 0
  local pos, len = 1, #text
  while pos <= len do
    local s, e = text:find("\r\n?", pos)
    local nl = text:find("\n", pos, true)
    if nl and (not s or nl < s) then s, e = nl, nl end
    n = n + 1
    if not s then
      lines[#lines + 1] = { n = n, text = text:sub(pos) }
      break
    end
    lines[#lines + 1] = { n = n, text = text:sub(pos, s - 1) }
    pos = e + 1
  end
  return lines
end

local function ends_in_odd_backslashes(s)
  local run = #s - #(s:gsub("\\+$", ""))
  return run % 2 == 1
end

--- Parses Java `.properties` text as `java.util.Properties.load` does:
-- `key=value`, `key: value` or `key value`; `#` and `!` comment lines;
-- a line ending in an odd number of backslashes goes on on the next one
-- (whose leading blanks are skipped); `\t \n \r \f \uhhhh` and `\x`
-- escapes in keys and values.  A key alone has the value "".
-- @string text
-- @string[opt] name the file's name, for messages
-- @return a list of `{ key =, value =, line = }`, or nil and "name:line: message"
function M.parse_java(text, name)
  if type(text) ~= "string" then
    error(("properties.parse_java: text: expected string, got %s"):format(type(text)), 2)
  end
  name = name or "(string)"
  local entries = {}
  local lines = natural_lines(text)
  local i = 1
  while i <= #lines do
    local first = lines[i]
    local s = first.text:gsub("^[ \t\f]+", "")
    local c1 = s:sub(1, 1)
    if s == "" or c1 == "#" or c1 == "!" then
      i = i + 1
    else
      local parts = {}
      while true do
        if ends_in_odd_backslashes(s) and i < #lines then
          parts[#parts + 1] = s:sub(1, -2)
          i = i + 1
          s = lines[i].text:gsub("^[ \t\f]+", "")
        else
          if ends_in_odd_backslashes(s) then s = s:sub(1, -2) end
          parts[#parts + 1] = s
          i = i + 1
          break
        end
      end
      local logical = table.concat(parts)
      -- the key ends at the first unescaped '=', ':' or blank
      local k, j, len = 1, 1, #logical
      while j <= len do
        local ch = logical:sub(j, j)
        if ch == "\\" then
          j = j + 2
        elseif ch == "=" or ch == ":" or ch == " " or ch == "\t" or ch == "\f" then
          break
        else
          j = j + 1
        end
      end
      local rawkey = logical:sub(k, j - 1)
      local rest = logical:sub(j):gsub("^[ \t\f]+", "")
      local sep = rest:sub(1, 1)
      if sep == "=" or sep == ":" then rest = rest:sub(2):gsub("^[ \t\f]+", "") end
      local key, kerr = unescape(rawkey)
      local value, verr = unescape(rest)
      if not key or not value then
        return nil, ("%s:%d: %s"):format(name, first.n, kerr or verr)
      end
      entries[#entries + 1] = { key = key, value = value, line = first.n }
    end
  end
  return entries
end

--- Parses a librdkafka configuration file, as its tools read one: one
-- `key=value` a line (blanks around both trimmed), `#` comment lines,
-- blank lines.  A line without `=` or with an empty key is an error.
-- @string text
-- @string[opt] name
-- @return a list of `{ key =, value =, line = }`, or nil and "name:line: message"
function M.parse_librdkafka(text, name)
  if type(text) ~= "string" then
    error(("properties.parse_librdkafka: text: expected string, got %s"):format(type(text)), 2)
  end
  name = name or "(string)"
  local entries = {}
  for _, l in ipairs(natural_lines(text)) do
    local s = l.text:gsub("^%s+", ""):gsub("%s+$", "")
    if s ~= "" and s:sub(1, 1) ~= "#" then
      local k, v = s:match("^([^=]-)%s*=%s*(.*)$")
      if not k then
        return nil, ("%s:%d: expected key=value, got %q"):format(name, l.n, s)
      end
      if k == "" then
        return nil, ("%s:%d: empty key before '='"):format(name, l.n)
      end
      entries[#entries + 1] = { key = k, value = v, line = l.n }
    end
  end
  return entries
end

---------------------------------------------------------------------------
-- Names
---------------------------------------------------------------------------

--- librdkafka's aliases, mapped to Apache Kafka's names.
M.ALIASES = {
  ["request.required.acks"] = "acks",
  ["message.send.max.retries"] = "retries",
  ["message.timeout.ms"] = "delivery.timeout.ms",
  ["queue.buffering.max.ms"] = "linger.ms",
  ["max.in.flight"] = "max.in.flight.requests.per.connection",
  ["metadata.broker.list"] = "bootstrap.servers",
  ["compression.codec"] = "compression.type",
}

-- The settings insync.check reads: canonical name -> { section, kind, min, max }.
local CHECKED = {
  producer = {
    ["acks"] = { "acks" },
    ["enable.idempotence"] = { "bool" },
    ["retries"] = { "int", 0, INT_MAX },
    ["delivery.timeout.ms"] = { "int", 0, INT_MAX },
    ["request.timeout.ms"] = { "int", 0, INT_MAX },
    ["linger.ms"] = { "num", 0, 9007199254740991 },
    ["batch.size"] = { "size", 0, INT_MAX },
    ["max.in.flight.requests.per.connection"] = { "int", 1, INT_MAX },
    ["retry.backoff.ms"] = { "int", 0, INT_MAX },
    ["socket.timeout.ms"] = { "int", 10, 300000 },
    ["transactional.id"] = { "string" },
    -- not validated: a topic's file may say "producer" or "uncompressed"
    ["compression.type"] = { "string" },
  },
  topic = {
    ["min.insync.replicas"] = { "int", 1, INT_MAX },
    ["replication.factor"] = { "int", 1, 32767 },
    ["unclean.leader.election.enable"] = { "bool" },
    ["flush.messages"] = { "int", 1, 9223372036854775807 },
  },
  cluster = {
    ["min.insync.replicas"] = { "int", 1, INT_MAX },
    ["default.replication.factor"] = { "int", 1, 32767 },
    ["unclean.leader.election.enable"] = { "bool" },
    ["log.flush.interval.messages"] = { "int", 1, 9223372036854775807 },
    ["brokers"] = { "int", 1, 63 },
  },
}
M.CHECKED = CHECKED

local function set_of(s)
  local t = {}
  for w in s:gmatch("%S+") do t[w] = true end
  return t
end

-- The Java producer's own names (ProducerConfig, CommonClientConfigs).
local JAVA_PRODUCER = set_of [[
  bootstrap.servers client.dns.lookup metadata.max.age.ms metadata.max.idle.ms
  batch.size partitioner.adaptive.partitioning.enable partitioner.availability.timeout.ms
  partitioner.ignore.keys acks linger.ms request.timeout.ms delivery.timeout.ms client.id
  send.buffer.bytes receive.buffer.bytes max.request.size reconnect.backoff.ms
  reconnect.backoff.max.ms max.block.ms buffer.memory retry.backoff.ms retry.backoff.max.ms
  enable.metrics.push compression.type compression.gzip.level compression.lz4.level
  compression.zstd.level metrics.sample.window.ms metrics.num.samples
  metrics.recording.level metric.reporters retries key.serializer value.serializer
  socket.connection.setup.timeout.ms socket.connection.setup.timeout.max.ms
  connections.max.idle.ms partitioner.class interceptor.classes enable.idempotence
  transaction.timeout.ms transactional.id security.providers security.protocol
  max.in.flight.requests.per.connection auto.include.jmx.reporter
  metadata.recovery.strategy metadata.recovery.rebootstrap.trigger.ms
]]

-- librdkafka 2.0.2's global and topic properties that apply to a producer.
local LIBRDKAFKA = set_of [[
  builtin.features client.id metadata.broker.list bootstrap.servers message.max.bytes
  message.copy.max.bytes receive.message.max.bytes max.in.flight.requests.per.connection
  max.in.flight topic.metadata.refresh.interval.ms metadata.max.age.ms
  topic.metadata.refresh.fast.interval.ms topic.metadata.refresh.fast.cnt
  topic.metadata.refresh.sparse topic.metadata.propagation.max.ms topic.blacklist debug
  socket.timeout.ms socket.blocking.max.ms socket.send.buffer.bytes
  socket.receive.buffer.bytes socket.keepalive.enable socket.nagle.disable
  socket.max.fails broker.address.ttl broker.address.family
  socket.connection.setup.timeout.ms connections.max.idle.ms reconnect.backoff.jitter.ms
  reconnect.backoff.ms reconnect.backoff.max.ms statistics.interval.ms enabled_events
  log_level log.queue log.thread.name enable.random.seed log.connection.close
  internal.termination.signal api.version.request api.version.request.timeout.ms
  api.version.fallback.ms broker.version.fallback allow.auto.create.topics
  security.protocol plugin.library.paths client.rack transactional.id
  transaction.timeout.ms enable.idempotence enable.gapless.guarantee
  queue.buffering.max.messages queue.buffering.max.kbytes queue.buffering.max.ms
  linger.ms message.send.max.retries retries retry.backoff.ms
  queue.buffering.backpressure.threshold compression.codec compression.type
  batch.num.messages batch.size delivery.report.only.error sticky.partitioning.linger.ms
  request.required.acks acks request.timeout.ms message.timeout.ms delivery.timeout.ms
  queuing.strategy produce.offset.report partitioner compression.level
]]

-- Names a broker's server.properties holds and no client does: a file
-- with one of them is a broker's, and its min.insync.replicas and
-- unclean.leader.election.enable are the cluster's defaults.
local BROKER_ONLY = set_of [[
  broker.id node.id process.roles log.dirs log.dir listeners advertised.listeners
  zookeeper.connect controller.quorum.voters controller.quorum.bootstrap.servers
  controller.listener.names inter.broker.listener.name listener.security.protocol.map
  default.replication.factor num.partitions offsets.topic.replication.factor
  num.network.threads num.io.threads log.retention.hours log.flush.interval.messages
]]

local BROKER_PREFIXES = { "log.", "listener.", "socket.", "num.", "offsets.",
  "transaction.state.log.", "group.", "controller.", "replica.", "zookeeper.",
  "auto.", "delete.", "metadata.", "queued.", "quota.", "authorizer.", "broker.",
  "inter.broker.", "message.", "leader.", "unclean.", "min.", "default.",
  "compression.", "ssl.", "sasl.", "security.", "share.", "transaction." }

-- Topic-level configuration names (and the creation parameters).
local TOPIC_NAMES = set_of [[
  cleanup.policy compression.type delete.retention.ms file.delete.delay.ms flush.ms
  index.interval.bytes max.compaction.lag.ms max.message.bytes message.timestamp.type
  message.timestamp.difference.max.ms message.timestamp.before.max.ms
  message.timestamp.after.max.ms min.cleanable.dirty.ratio min.compaction.lag.ms
  preallocate retention.bytes retention.ms segment.bytes segment.index.bytes
  segment.jitter.ms segment.ms message.downconversion.enable partitions
  local.retention.ms local.retention.bytes remote.storage.enable
]]

local function has_prefix(k, list)
  for _, p in ipairs(list) do
    if k:sub(1, #p) == p then return true end
  end
  return false
end

---------------------------------------------------------------------------
-- Values
---------------------------------------------------------------------------

local SIZE_UNITS = { B = 1, KB = 1024, MB = 1024 ^ 2, GB = 1024 ^ 3, TB = 1024 ^ 4 }

-- Converts a file's text to the kind a setting takes.  Returns the value
-- (and a note), or nil and a message.
local function convert(key, spec, text, notes)
  local kind = spec[1]
  local v = text:gsub("^%s+", ""):gsub("%s+$", "")
  if kind == "string" then return v end
  if kind == "acks" then
    local a = v:lower()
    if a == "all" or a == "-1" then return "all" end
    if a == "0" or a == "1" then return a end
    return nil, ("%s: expected all, -1, 0 or 1, got %q"):format(key, v)
  end
  if kind == "bool" then
    local b = v:lower()
    if b == "true" then return true end
    if b == "false" then return false end
    return nil, ("%s: expected true or false, got %q"):format(key, v)
  end
  local n
  if v == "Integer.MAX_VALUE" then
    n = INT_MAX
    notes[#notes + 1] = ("%s=Integer.MAX_VALUE is Java source, not a value: read as %d " ..
      "(Kafka's own parser would refuse the text; write %d)"):format(key, INT_MAX, INT_MAX)
  elseif v == "Long.MAX_VALUE" then
    n = 9223372036854775807
    notes[#notes + 1] = ("%s=Long.MAX_VALUE is Java source, not a value: read as " ..
      "9223372036854775807 (write that)"):format(key)
  elseif kind == "num" then
    n = v:match("^%-?%d+%.?%d*$") and tonumber(v)
  elseif kind == "size" then
    local digits, unit = v:match("^(%d+)%s*(%a*)$")
    if digits and (unit == "" or SIZE_UNITS[unit:upper()]) then
      n = tonumber(digits) * (unit == "" and 1 or SIZE_UNITS[unit:upper()])
    end
  elseif v:match("^%-?%d+$") then
    n = tonumber(v)
  end
  if type(n) ~= "number" then
    return nil, ("%s: expected %s, got %q"):format(key,
      kind == "num" and "a number" or kind == "size" and "a size in bytes (e.g. 32768 or 32KB)"
      or "an integer", v)
  end
  if (spec[2] and n < spec[2]) or (spec[3] and n > spec[3]) then
    return nil, ("%s: expected %s..%s, got %s"):format(key, tostring(spec[2]),
      tostring(spec[3]), v)
  end
  return n
end

---------------------------------------------------------------------------
-- Spring Boot
---------------------------------------------------------------------------

-- Spring's relaxed binding: batchSize, batch_size, BATCH-SIZE -> batch-size.
local function relaxed(seg)
  return (seg:gsub("(%l)(%u)", "%1-%2"):gsub("_", "-"):lower())
end

-- spring.kafka.producer.<first-class property> -> Kafka's name.
local SPRING_PRODUCER = {
  ["acks"] = "acks",
  ["batch-size"] = "batch.size",
  ["bootstrap-servers"] = "bootstrap.servers",
  ["buffer-memory"] = "buffer.memory",
  ["client-id"] = "client.id",
  ["compression-type"] = "compression.type",
  ["key-serializer"] = "key.serializer",
  ["value-serializer"] = "value.serializer",
  ["retries"] = "retries",
  ["transaction-id-prefix"] = "transactional.id",
}

-- Names people write under spring.kafka.producer that Spring Boot has no
-- property for: Spring ignores them without a word.
local SPRING_MISTAKEN = {
  ["linger-ms"] = "linger.ms", ["linger"] = "linger.ms",
  ["enable-idempotence"] = "enable.idempotence",
  ["delivery-timeout-ms"] = "delivery.timeout.ms", ["delivery-timeout"] = "delivery.timeout.ms",
  ["request-timeout-ms"] = "request.timeout.ms", ["request-timeout"] = "request.timeout.ms",
  ["max-in-flight-requests-per-connection"] = "max.in.flight.requests.per.connection",
  ["retry-backoff-ms"] = "retry.backoff.ms", ["retry-backoff"] = "retry.backoff.ms",
}

local SPRING_TOP_UNCHECKED = { "ssl.", "security.", "jaas.", "admin.", "consumer.",
  "listener.", "streams.", "template.", "retry.", "client-id", "clientId", "client_id" }

-- Reads spring.kafka.* into Kafka producer names, with Spring's precedence:
-- spring.kafka.properties.* < spring.kafka.producer.<property> <
-- spring.kafka.producer.properties.* (KafkaProperties.buildProducerProperties).
-- Returns a list of { key =, value =, line =, rank = } and the unknowns.
local function spring_entries(entries)
  local out, unknown, ignored = {}, {}, {}
  local function mapkey(k)
    return (k:match("^%[(.*)%]$")) or k
  end
  for _, e in ipairs(entries) do
    local k = e.key
    local rest = k:match("^spring%.kafka%.(.+)$")
    if rest then
      local pprop = rest:match("^producer%.properties%.(.+)$") or rest:match("^producer%.properties(%[.+%])$")
      local cprop = rest:match("^properties%.(.+)$") or rest:match("^properties(%[.+%])$")
      local prod = rest:match("^producer%.(.+)$")
      local top = relaxed(rest)
      if pprop then
        out[#out + 1] = { key = mapkey(pprop), value = e.value, line = e.line, rank = 3, as = k }
      elseif cprop then
        out[#out + 1] = { key = mapkey(cprop), value = e.value, line = e.line, rank = 1, as = k }
      elseif prod then
        local name = relaxed(prod)
        if SPRING_PRODUCER[name] then
          out[#out + 1] = { key = SPRING_PRODUCER[name], value = e.value, line = e.line, rank = 2, as = k }
        elseif name:match("^ssl%.") or name:match("^security%.") then
          ignored[#ignored + 1] = k
        else
          local hint
          if SPRING_MISTAKEN[name] then
            hint = ("Spring Boot has no such property and ignores it: write " ..
              "spring.kafka.producer.properties.%s"):format(SPRING_MISTAKEN[name])
          else
            hint = "not a Spring Boot producer property: Spring ignores it"
          end
          unknown[#unknown + 1] = { key = k, line = e.line, hint = hint }
        end
      elseif top == "bootstrap-servers" then
        out[#out + 1] = { key = "bootstrap.servers", value = e.value, line = e.line, rank = 0, as = k }
      elseif has_prefix(rest, SPRING_TOP_UNCHECKED) then
        ignored[#ignored + 1] = k
      else
        unknown[#unknown + 1] = { key = k, line = e.line,
          hint = "not a Spring Boot spring.kafka property: Spring ignores it" }
      end
    else
      local plain = k:gsub("%-", ".")
      if CHECKED.topic[plain] then
        out[#out + 1] = { key = plain, value = e.value, line = e.line, rank = 0, as = k, topic = true }
      else
        ignored[#ignored + 1] = k   -- the application's own settings
      end
    end
  end
  return out, unknown, ignored
end

---------------------------------------------------------------------------
-- Files
---------------------------------------------------------------------------

local FORMATS = { java = true, spring = true, librdkafka = true }
local CLIENTS = { java = true, librdkafka = true }

local function guess_format(name, entries)
  local base = name:match("[^/]*$")
  if base:match("^application.*%.properties$") then return "spring" end
  for _, e in ipairs(entries or {}) do
    if e.key:match("^spring%.") then return "spring" end
  end
  if base:match("%.properties$") then return "java" end
  return "librdkafka"
end

-- A Java-syntax file whose client names are librdkafka's only is for librdkafka.
local function guess_client(entries)
  local rd, java = false, false
  for _, e in ipairs(entries) do
    if LIBRDKAFKA[e.key] and not JAVA_PRODUCER[e.key] then rd = true end
    if JAVA_PRODUCER[e.key] and not LIBRDKAFKA[e.key] then java = true end
  end
  if rd and not java then return "librdkafka" end
  return "java"
end

--- Reads one configuration file's text into `insync.check`'s shape.
-- @string text the file's contents
-- @tparam[opt] table opts `name` (the file name, for messages and to
-- guess the format), `format` ("java", "spring", "librdkafka"; guessed
-- from the name and keys when absent), `client` ("java", "librdkafka";
-- from the format when absent)
-- @return `{ format =, client =, producer =, topic =, cluster =, sources =,
-- unknown =, ignored =, notes = }`, or nil and "name:line: message"
function M.parse(text, opts)
  if type(text) ~= "string" then
    error(("properties.parse: text: expected string, got %s"):format(type(text)), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error(("properties.parse: opts: expected table, got %s"):format(type(opts)), 2)
  end
  for k in pairs(opts) do
    if k ~= "name" and k ~= "format" and k ~= "client" then
      error(("properties.parse: unknown option '%s'"):format(tostring(k)), 2)
    end
  end
  if opts.format ~= nil and not FORMATS[opts.format] then
    error(("properties.parse: format: expected \"java\", \"spring\" or \"librdkafka\", got %s")
      :format(tostring(opts.format)), 2)
  end
  if opts.client ~= nil and not CLIENTS[opts.client] then
    error(("properties.parse: client: expected \"java\" or \"librdkafka\", got %s")
      :format(tostring(opts.client)), 2)
  end
  local name = opts.name or "(string)"
  local format = opts.format
  local entries, err
  if format == "librdkafka" or (not format and guess_format(name) == "librdkafka") then
    format = "librdkafka"
    entries, err = M.parse_librdkafka(text, name)
  else
    entries, err = M.parse_java(text, name)
    format = format or guess_format(name, entries)
  end
  if not entries then return nil, err end

  local res = { format = format, producer = {}, topic = {}, cluster = {}, sources = {},
                unknown = {}, ignored = {}, notes = {} }
  local client = opts.client
  local list
  if format == "spring" then
    client = client or "java"
    local unknown, ignored
    list, unknown, ignored = spring_entries(entries)
    for _, u in ipairs(unknown) do
      res.unknown[#res.unknown + 1] = { file = name, line = u.line, key = u.key, hint = u.hint }
    end
    res.ignored = ignored
    -- Spring's precedence: a higher rank wins whatever the line order
    table.sort(list, function(a, b)
      if a.rank ~= b.rank then return a.rank < b.rank end
      return a.line < b.line
    end)
  else
    client = client or (format == "librdkafka" and "librdkafka" or guess_client(entries))
    list = entries
  end
  res.client, res.name = client, name
  local known = client == "librdkafka" and LIBRDKAFKA or JAVA_PRODUCER

  -- compression.type is a producer's, a topic's and a broker's name: it
  -- is the producer's only in a file with other producer settings
  local broker_file, producer_file = false, false
  for _, e in ipairs(list) do
    if BROKER_ONLY[e.key] then broker_file = true end
    if known[e.key] and e.key ~= "compression.type" and not TOPIC_NAMES[e.key] then
      producer_file = true
    end
  end
  res.role = broker_file and "broker" or nil

  for _, e in ipairs(list) do
    local where = ("%s:%d"):format(name, e.line)
    local key = e.key
    if client == "librdkafka" and M.ALIASES[key] then key = M.ALIASES[key] end
    local section
    if broker_file then
      if CHECKED.cluster[key] then section = "cluster"
      elseif CHECKED.topic[key] then section = "topic" end
    elseif e.topic or (CHECKED.topic[key] and not CHECKED.producer[key]) then
      section = "topic"
    elseif CHECKED.producer[key] and known[e.key] and (producer_file or key ~= "compression.type") then
      section = "producer"
    end
    if section and section ~= "cluster" and key == "brokers" then section = nil end
    if section then
      local notes = {}
      local v, verr = convert(key, CHECKED[section][key], e.value, notes)
      if v == nil then return nil, ("%s: %s"):format(where, verr) end
      for _, n in ipairs(notes) do res.notes[#res.notes + 1] = where .. ": " .. n end
      res[section][key] = v
      res.sources[section .. "." .. key] = where .. (e.as and e.as ~= e.key and (" (" .. e.as .. ")") or "")
    elseif known[e.key] or (client == "librdkafka" and (e.key:match("^ssl[._]")
           or e.key:match("^sasl%."))) or (client == "java" and (e.key:match("^ssl%.")
           or e.key:match("^sasl%."))) then
      res.ignored[#res.ignored + 1] = e.key   -- a real client setting no rule reads
    elseif TOPIC_NAMES[e.key] or (broker_file and has_prefix(e.key, BROKER_PREFIXES))
           or BROKER_ONLY[e.key] then
      res.ignored[#res.ignored + 1] = e.key
    else
      local hint
      if client == "java" and LIBRDKAFKA[e.key] then
        hint = ("a librdkafka name: the Java client ignores it (it logs \"not a known config\")%s")
          :format(M.ALIASES[e.key] and ("; Kafka's name is " .. M.ALIASES[e.key]) or "")
      elseif client == "librdkafka" and JAVA_PRODUCER[e.key] then
        hint = "a Java client name librdkafka does not have: rd_kafka_conf_set() refuses it"
      elseif client == "librdkafka" then
        hint = "librdkafka has no such property: rd_kafka_conf_set() refuses it"
      else
        hint = "not a Kafka producer, topic or broker setting insync knows"
      end
      res.unknown[#res.unknown + 1] = { file = name, line = e.line, key = e.key, hint = hint }
    end
  end
  if next(res.producer) and res.topic["min.insync.replicas"] then
    res.notes[#res.notes + 1] = ("%s: min.insync.replicas is a topic or broker setting, not a " ..
      "producer's: a producer ignores it. Read here as the topic's; set it on the topic " ..
      "(kafka-configs.sh --alter --add-config min.insync.replicas=N) or the brokers.")
      :format(res.sources["topic.min.insync.replicas"])
  end
  return res
end

--- Reads a file from disk: `properties.read(path, opts)` as `parse`, with
-- the path as the name.
-- @return as parse, or nil and a message naming the file
function M.read(path, opts)
  if type(path) ~= "string" then
    error(("properties.read: path: expected string, got %s"):format(type(path)), 2)
  end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("*a")   -- "*a": Lua 5.1 too
  f:close()
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.name = o.name or path
  return M.parse(text, o)
end

--- Merges parsed files into one `insync.check` input.  A setting in a
-- later file overrides an earlier one (a note says so).  The client is
-- `opts.client`, else the one of the files that set producer settings;
-- files for two different clients are an error.
-- @tparam table results a list of `parse` results
-- @tparam[opt] table opts `client`
-- @return the merged input, or nil and a message
function M.merge(results, opts)
  opts = opts or {}
  local out = { producer = {}, topic = {}, cluster = {}, sources = {}, unknown = {},
                ignored = {}, notes = {}, files = {} }
  local client = opts.client
  local client_from
  for _, r in ipairs(results) do
    if next(r.producer) and not opts.client then
      if client and r.client ~= client then
        return nil, ("%s is for the %s client, %s for %s: say which with --client")
          :format(r.name or "a file", r.client, client_from or "another", client)
      end
      client, client_from = r.client, r.name
    end
    out.files[#out.files + 1] = { name = r.name, format = r.format, client = r.client, role = r.role }
    for _, section in ipairs { "producer", "topic", "cluster" } do
      for k, v in pairs(r[section]) do
        local id = section .. "." .. k
        if out[section][k] ~= nil and out[section][k] ~= v then
          out.notes[#out.notes + 1] = ("%s overrides %s (%s=%s, was %s)"):format(
            r.sources[id], out.sources[id], k, tostring(v), tostring(out[section][k]))
        end
        out[section][k] = v
        out.sources[id] = r.sources[id]
      end
    end
    for _, u in ipairs(r.unknown) do out.unknown[#out.unknown + 1] = u end
    for _, u in ipairs(r.ignored) do out.ignored[#out.ignored + 1] = u end
    for _, u in ipairs(r.notes) do out.notes[#out.notes + 1] = u end
  end
  out.client = client or "java"
  return out
end

--- Checks one setting given in Lua (a number, a boolean or a file's text)
-- and returns it in the kind insync.check uses, or nil and a message.
-- Settings no rule reads but the client knows return `false, "unchecked"`;
-- names nobody knows return nil and a message.
-- @string section "producer", "topic" or "cluster"
-- @string key Kafka's name or a librdkafka alias
-- @param v
function M.value(section, key, v)
  local canon = (section == "producer" and M.ALIASES[key]) or key
  local spec = CHECKED[section][canon]
  if not spec then
    local known = (section == "producer" and (JAVA_PRODUCER[key] or LIBRDKAFKA[key]
        or key:match("^ssl[._]") or key:match("^sasl%."))) or
      (section == "topic" and TOPIC_NAMES[key]) or
      (section == "cluster" and (BROKER_ONLY[key] or has_prefix(key, BROKER_PREFIXES)))
    if known then return false, "unchecked" end
    return nil, ("unknown %s setting '%s'"):format(section, key)
  end
  local text = v
  if type(v) == "boolean" then text = tostring(v)
  elseif type(v) == "number" then
    text = (v == floor(v) and v >= -2 ^ 63 and v < 2 ^ 63) and ("%d"):format(v) or tostring(v)
  elseif type(v) ~= "string" then
    return nil, ("%s: expected a string, number or boolean, got %s"):format(key, type(v))
  end
  local r, err = convert(canon, spec, text, {})
  if r == nil then return nil, err end
  return r, canon
end

return M
