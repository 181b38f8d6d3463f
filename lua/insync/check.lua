--- `insync.check{ producer = {...}, topic = {...}, cluster = {...} }`:
-- what a Kafka engineer would flag in a producer's and a topic's
-- durability settings, each finding with the model's evidence where the
-- model can show it (a fault schedule, the audit's counts and a script
-- that replays it), and marked as advice where it cannot.
-- See docs/check.md.
-- @module insync.check

local properties = require "insync.properties"
local evidence = require "insync.evidence"

local M = {}

local INT_MAX = 2147483647
local SEVERITY_RANK = { error = 1, warning = 2, info = 3 }

local function clamp(v, lo, hi)
  if v < lo then return lo end
  if v > hi then return hi end
  return v
end

---------------------------------------------------------------------------
-- Input and effective settings
---------------------------------------------------------------------------

local OPTIONS = { producer = true, topic = true, cluster = true, client = true,
                  evidence = true, accept_loss = true, sources = true }

local function read_section(name, t, out)
  if t == nil then return end
  if type(t) ~= "table" then
    error(("check: %s: expected table, got %s"):format(name, type(t)), 3)
  end
  for k, v in pairs(t) do
    if type(k) ~= "string" then
      error(("check: %s: expected string keys, got %s"):format(name, type(k)), 3)
    end
    local r, canon = properties.value(name, k, v)
    if r == nil then
      error(("check: %s[\"%s\"]: %s"):format(name, k, canon), 3)
    end
    if r ~= false or canon ~= "unchecked" then out[canon] = r end
  end
end

--- The settings in force: what was given, else the client's defaults.
-- @return a table of effective values, with `given` (the names set) and
-- `notes`
function M.effective(input)
  local P, T, C = {}, {}, {}
  read_section("producer", input.producer, P)
  read_section("topic", input.topic, T)
  read_section("cluster", input.cluster, C)
  local client = input.client or "java"
  local java = client == "java"
  local e = { client = client, given = {}, notes = {}, producer = P, topic = T, cluster = C }
  for k in pairs(P) do e.given[k] = true end

  e.acks = P.acks or "all"
  e.retries = P.retries or INT_MAX
  e.max_in_flight = P["max.in.flight.requests.per.connection"]
  e.delivery_timeout = P["delivery.timeout.ms"] or (java and 120000 or 300000)
  e.request_timeout = P["request.timeout.ms"] or 30000
  e.linger = P["linger.ms"] or (java and 0 or 5)
  e.retry_backoff = P["retry.backoff.ms"] or 100
  e.socket_timeout = P["socket.timeout.ms"] or 60000
  e.conflicts = {}
  local idem = P["enable.idempotence"]
  if P["transactional.id"] and idem == nil then idem = true end
  local explicit_idem = idem ~= nil
  if idem == nil then idem = java end          -- Java 3.0+: true; librdkafka: false
  if idem then
    -- ProducerConfig.postProcessAndValidateIdempotenceConfigs and
    -- librdkafka's rd_kafka_conf_finalize
    local why = {}
    if e.given.acks and e.acks ~= "all" then why[#why + 1] = "acks=" .. e.acks end
    if e.given.retries and e.retries == 0 then why[#why + 1] = "retries=0" end
    if e.max_in_flight and e.max_in_flight > 5 then
      why[#why + 1] = "max.in.flight.requests.per.connection=" .. e.max_in_flight
    end
    if #why > 0 then
      if explicit_idem then
        e.conflicts = why          -- the client refuses to start
      else
        idem = false               -- Java 3.x turns idempotence off, with a log line
        e.idempotence_dropped = why
      end
    end
  end
  e.idempotence = idem
  e.explicit_idempotence = explicit_idem
  if not e.max_in_flight then
    e.max_in_flight = (java or idem) and 5 or 1000000
  end

  e.rf = T["replication.factor"] or C["default.replication.factor"]
  e.rf_given = e.rf ~= nil
  e.min_isr = T["min.insync.replicas"] or C["min.insync.replicas"] or 1
  e.min_isr_given = (T["min.insync.replicas"] or C["min.insync.replicas"]) ~= nil
  local unclean = T["unclean.leader.election.enable"]
  if unclean == nil then unclean = C["unclean.leader.election.enable"] end
  e.unclean = unclean == true
  e.brokers = C.brokers
  e.flush_messages = T["flush.messages"] or C["log.flush.interval.messages"]
  return e
end

-- The model producer's configuration for the effective settings.  The
-- model's producer is librdkafka's; a Java client's request.timeout.ms is
-- its own wait for an answer, which the model calls socket.timeout.ms.
local function model_producer(e)
  local conf = {
    acks = e.acks,
    ["enable.idempotence"] = e.idempotence and #e.conflicts == 0,
    retries = e.retries,
    ["delivery.timeout.ms"] = e.delivery_timeout,
    ["request.timeout.ms"] = clamp(e.request_timeout, 1, 900000),
    ["socket.timeout.ms"] = clamp(e.client == "java" and e.request_timeout or e.socket_timeout, 10, 300000),
    ["retry.backoff.ms"] = clamp(e.retry_backoff, 1, 300000),
    ["linger.ms"] = clamp(math.floor(e.linger), 0, 900000),
    ["max.in.flight"] = clamp(e.max_in_flight, 1, 1000000),
  }
  if conf["enable.idempotence"] then
    conf.acks = "all"
    conf["max.in.flight"] = math.min(conf["max.in.flight"], 5)
    if conf.retries == 0 then conf.retries = INT_MAX end
  end
  return conf
end

-- A setup for the evidence player: the user's settings where given, a
-- stated assumption where not.
local function setup_for(e, title, over)
  over = over or {}
  local rf = over.rf or e.rf or 3
  local s = {
    title = title,
    brokers = math.max(over.brokers or e.brokers or 3, rf),
    replication_factor = rf,
    min_insync_replicas = over.min_isr or e.min_isr,
    unclean = over.unclean == nil and e.unclean or over.unclean,
    flush_messages = e.flush_messages,
    producer = model_producer(e),
  }
  for k, v in pairs(over.producer or {}) do s.producer[k] = v end
  return s
end

---------------------------------------------------------------------------
-- Scenarios: each returns setup, schedule, claim, and what it shows
---------------------------------------------------------------------------

local S = {}

-- The leader appends, its followers do not get the records yet, the
-- leader is killed: what it acknowledged alone is gone.
function S.leader_killed_followers_lag(e, title)
  local setup = setup_for(e, title)
  local sch = {}
  for f = 2, setup.replication_factor do
    sch[#sch + 1] = { t_ms = 100, fault = "drop", args = { 1, f } }
  end
  sch[#sch + 1] = { t_ms = 100, fault = "send", args = { 20 } }
  sch[#sch + 1] = { t_ms = 1100, fault = "crash", args = { 1 } }
  sch[#sch + 1] = { t_ms = 1100, fault = "heal", args = {} }
  return setup, sch, "lost > 0",
    "broker 1 leads; from t=100 ms its fetch answers to the followers are lost, 20 records are " ..
    "sent, and broker 1 is killed at t=1100 ms"
end

-- One copy, no fsync: a power loss takes the acknowledged records along.
function S.single_copy_power_loss(e, title)
  local setup = setup_for(e, title, { rf = 1 })
  return setup, {
    { t_ms = 100, fault = "send", args = { 5 } },
    { t_ms = 1000, fault = "crash", args = { 1, { lose_unflushed = true } } },
    { t_ms = 1000, fault = "restart", args = { 1 } },
  }, "lost > 0",
    "5 records are sent to the only replica, broker 1, which loses power at t=1000 ms " ..
    "(Kafka does not fsync by default) and restarts"
end

-- One follower down: with min.insync.replicas = RF every acks=all send fails.
function S.one_broker_down(e, title)
  local setup = setup_for(e, title)
  local down = setup.replication_factor
  return setup, {
    { t_ms = 0, fault = "crash", args = { down } },
    { t_ms = 10000, fault = "send", args = { 5 } },
  }, "acked == 0 and failed == sent",
    ("follower %d is killed at t=0; 5 acks=all records are sent at t=10000 ms, once the " ..
     "controller has fenced it"):format(down)
end

-- The golden rule's promise: the leader dies mid-stream, nothing is lost.
function S.leader_killed_mid_stream(e, title)
  local setup = setup_for(e, title)
  return setup, {
    { t_ms = 100, fault = "send", args = { 100 } },
    { t_ms = 108, fault = "crash", args = { 1 } },
    { t_ms = 108, fault = "send", args = { 100 } },
  }, "lost == 0 and acked == sent",
    "200 records are sent; the leader, broker 1, is killed in the middle of them (t=108 ms)"
end

-- min.insync.replicas=1: the followers fall out of the ISR, the leader
-- acknowledges alone, then loses power.
function S.isr_shrinks_to_leader(e, title)
  local setup = setup_for(e, title)
  local sch = {}
  for f = 2, setup.replication_factor do
    sch[#sch + 1] = { t_ms = 100, fault = "cut", args = { 1, f } }
  end
  -- the record sent at 100 ms leaves the followers behind; the ISR is the
  -- leader alone from the check at 45 s; the 10 records after it are under
  -- 30 s old at the power loss, so the page cache had not written them back
  sch[#sch + 1] = { t_ms = 100, fault = "send", args = { 1 } }
  sch[#sch + 1] = { t_ms = 47000, fault = "send", args = { 10 } }
  sch[#sch + 1] = { t_ms = 50000, fault = "crash", args = { 1, { lose_unflushed = true } } }
  sch[#sch + 1] = { t_ms = 50000, fault = "heal", args = {} }
  sch[#sch + 1] = { t_ms = 50000, fault = "restart", args = { 1 } }
  return setup, sch, "lost > 0",
    "the followers are cut off from leader 1 at t=100 ms while a record is sent; after " ..
    "replica.lag.time.max.ms the ISR is the leader alone; 10 records sent at t=47000 ms are " ..
    "acknowledged by it alone; at t=50000 ms, before the page cache has written them back, " ..
    "it loses power and restarts"
end

-- Unclean election: a follower out of the ISR becomes leader.
function S.unclean_election(e, title)
  local setup = setup_for(e, title, { unclean = true })
  local rf = setup.replication_factor
  local sch = {
    { t_ms = 100, fault = "cut", args = { 1, rf } },
    { t_ms = 100, fault = "send", args = { 10 } },
    { t_ms = 50000, fault = "send", args = { 10 } },
  }
  for b = 1, rf - 1 do
    sch[#sch + 1] = { t_ms = 51000, fault = "crash", args = { b } }
  end
  sch[#sch + 1] = { t_ms = 51000, fault = "heal", args = {} }
  return setup, sch, "lost > 0",
    ("broker %d is cut off from leader 1 at t=100 ms and falls out of the ISR; 20 records are " ..
     "sent; at t=51000 ms every ISR member is killed and broker %d, out of date, is elected")
      :format(rf, rf)
end

-- An answer lost on the way back: the retry writes the record again.
function S.answer_lost(e, title)
  local setup = setup_for(e, title)
  local wait = setup.producer["socket.timeout.ms"]
  return setup, {
    { t_ms = 100, fault = "drop", args = { 1, "producer" } },
    { t_ms = 100, fault = "send", args = { 1 } },
    { t_ms = 100 + wait + 100, fault = "heal", args = {} },
  }, "duplicated > 0",
    ("leader 1's answers to the producer are lost from t=100 ms; the producer's wait (%d ms) " ..
     "runs out and it sends the record again"):format(wait)
end

-- retries=0: the leader hangs; the requests in flight time out and are
-- not retried, though the controller soon elects another leader.
function S.leader_hangs(e, title)
  local setup = setup_for(e, title)
  local wait = setup.producer["socket.timeout.ms"]
  return setup, {
    { t_ms = 100, fault = "pause", args = { 1 } },
    { t_ms = 100, fault = "send", args = { 10 } },
    { t_ms = 100 + wait + 1000, fault = "resume", args = { 1 } },
  }, "failed > 0",
    ("leader 1 hangs at t=100 ms (a long GC pause, a stuck disk) while 10 records are sent; " ..
     "the controller elects another leader, but the producer's wait (%d ms) runs out first")
      :format(wait)
end

-- A leader killed while records are sent: they wait for the failover.
function S.leader_killed_failover(e, title)
  local setup = setup_for(e, title)
  return setup, {
    { t_ms = 100, fault = "crash", args = { 1 } },
    { t_ms = 100, fault = "send", args = { 10 } },
  }, "failed > 0",
    "leader 1 is killed at t=100 ms as 10 records are sent; the controller fences it after " ..
    "broker.session.timeout.ms (9000) and elects another leader"
end

M.scenarios = S
M.model_producer = model_producer   -- for `insync explore`

-- Runs a scenario; evidence when its claim holds, else nil and why.
local function demonstrate(scenario, e, title)
  local setup, schedule, claim, story = scenario(e, title)
  local opts = { claim = claim }
  local ok, counts, script = pcall(evidence.play, setup, schedule, opts)
  if not ok then return nil, "the model could not run these settings: " .. tostring(counts) end
  local env = setmetatable({}, { __index = counts })
  local holds = (loadstring or load)("return " .. claim, "=claim", "t", env)
  if setfenv then setfenv(holds, env) end
  if not holds() then
    return nil, ("the standard scenario (%s) did not show it with these settings"):format(story)
  end
  return {
    scenario = story,
    setup = setup,
    schedule = schedule,
    claim = claim,
    audit = counts,
    script = script,
  }
end

---------------------------------------------------------------------------
-- Rules
---------------------------------------------------------------------------

local function loss_words(n)
  return n == 1 and "1 acknowledged record was lost" or (n .. " acknowledged records were lost")
end

-- Two replicas leave no good min.insync.replicas: 2 halts writes when
-- either broker is down, 1 lets one copy acknowledge.
local TWO_REPLICAS_FIX = "replication.factor=3 with min.insync.replicas=2. With two replicas " ..
  "there is no good choice: min.insync.replicas=2 stops writes when either broker is down, 1 " ..
  "lets a single copy acknowledge."

local RULES = {}
M.rules = RULES

local function rule(id, fn) RULES[#RULES + 1] = { id = id, run = fn } end

rule("acks-all-rf-1", function(e)
  if e.rf ~= 1 then return end
  local all = e.acks == "all"
  return {
    id = all and "acks-all-rf-1" or "rf-1",
    severity = "error",
    title = all and "acks=all with replication.factor=1: one copy, nothing to wait for"
      or "replication.factor=1: every record has one copy",
    explanation = "With one replica the ISR is the leader alone: acks=all waits for that one " ..
      "copy, the same as acks=1, and min.insync.replicas can only be 1. Kafka does not fsync " ..
      "by default, so when that broker loses power or its disk, acknowledged records are gone; " ..
      "while it is down the partition is offline.",
    fix = "replication.factor=3 with min.insync.replicas=2 and acks=all: one broker can fail " ..
      "and writes go on, and every acknowledged record is on two brokers.",
    scenario = S.single_copy_power_loss,
    settings = { "topic.replication.factor", "cluster.default.replication.factor", "producer.acks" },
  }
end)

rule("min-isr-equals-rf", function(e)
  if not (e.rf and e.rf > 1 and e.min_isr == e.rf and e.acks == "all") then return end
  return {
    id = "min-isr-equals-rf",
    severity = "error",
    title = ("min.insync.replicas=%d equals replication.factor=%d: any one broker down stops " ..
      "every acks=all write"):format(e.min_isr, e.rf),
    explanation = "acks=all is refused with NOT_ENOUGH_REPLICAS while the ISR is smaller than " ..
      "min.insync.replicas. With both equal to the replication factor, a single broker restart, " ..
      "crash or slow follower halts all writes to its partitions until it is back in the ISR; " ..
      "the producer retries until delivery.timeout.ms and then fails the sends.",
    fix = e.rf >= 3 and ("min.insync.replicas = replication.factor - 1 (here %d): one broker " ..
      "can fail and writes continue, each acknowledged record still on at least %d brokers.")
      :format(e.rf - 1, e.rf - 1) or TWO_REPLICAS_FIX,
    scenario = S.one_broker_down,
    settings = { "topic.min.insync.replicas", "cluster.min.insync.replicas", "topic.replication.factor" },
  }
end)

rule("min-isr-above-rf", function(e)
  if not (e.rf and e.min_isr > e.rf) then return end
  return {
    id = "min-isr-above-rf",
    severity = "error",
    title = ("min.insync.replicas=%d is above replication.factor=%d"):format(e.min_isr, e.rf),
    explanation = "The ISR can never hold more replicas than the replication factor. Kafka " ..
      "3.7 and later (KAFKA-15583) cap min.insync.replicas at the replication factor, so it " ..
      "acts as min.insync.replicas = replication.factor: any one broker down stops every " ..
      "acks=all write. Brokers before 3.7 refuse every acks=all write with " ..
      "NOT_ENOUGH_REPLICAS, even with all replicas up.",
    fix = ("min.insync.replicas = replication.factor - 1 (here %d)."):format(math.max(e.rf - 1, 1)),
    scenario = e.acks == "all" and e.rf > 1 and S.one_broker_down or nil,
    settings = { "topic.min.insync.replicas", "cluster.min.insync.replicas", "topic.replication.factor" },
  }
end)

rule("acks-1", function(e, input)
  if e.acks ~= "1" and e.acks ~= "0" then return end
  local zero = e.acks == "0"
  return {
    id = zero and "acks-0" or "acks-1",
    severity = input.accept_loss and "info" or "error",
    title = zero and "acks=0: records are acknowledged before any broker has them"
      or "acks=1: records acknowledged by the leader alone are lost when it fails",
    explanation = (zero and "With acks=0 the producer counts a record sent once it is written " ..
      "to the socket: no broker has confirmed anything, retries never happen, and a leader " ..
      "failure loses what it had not replicated yet." or
      "With acks=1 the leader answers after its own append, before any follower has the " ..
      "record. If the leader fails before the followers fetch it, a follower becomes leader " ..
      "without the record and the old leader truncates it away: silent loss.") ..
      " min.insync.replicas does not apply to acks=0 or 1. Fine for metrics or logs where loss " ..
      "is acceptable (run with --accept-loss / accept_loss = true), not for data that must not " ..
      "be lost.",
    fix = "acks=all (the Java client's default since Kafka 3.0, and librdkafka's) with " ..
      "replication.factor=3 and min.insync.replicas=2, and enable.idempotence=true.",
    scenario = S.leader_killed_followers_lag,
    settings = { "producer.acks" },
  }
end)

rule("min-isr-1", function(e)
  if not (e.acks == "all" and e.min_isr == 1 and e.rf and e.rf > 1) then return end
  return {
    id = "min-isr-1",
    severity = "warning",
    title = "acks=all with min.insync.replicas=1 degrades to acks=1 when the followers fall behind",
    explanation = "acks=all waits for the current ISR. When the followers fall out of it (slow, " ..
      "cut off, restarting) the ISR is the leader alone and min.insync.replicas=1 still lets " ..
      "writes through: they are acknowledged with one copy, and a failure of that leader's " ..
      "disk or power loses them." ..
      (e.min_isr_given and "" or " (min.insync.replicas was not given: Kafka's default is 1.)"),
    fix = e.rf >= 3 and ("min.insync.replicas=%d on the topic (or the brokers' default): with " ..
      "replication.factor=%d one broker can fail and writes continue."):format(e.rf - 1, e.rf)
      or TWO_REPLICAS_FIX,
    scenario = S.isr_shrinks_to_leader,
    settings = { "topic.min.insync.replicas", "cluster.min.insync.replicas", "producer.acks" },
  }
end)

rule("unclean-leader-election", function(e)
  if not e.unclean then return end
  return {
    id = "unclean-leader-election",
    severity = "error",
    title = "unclean.leader.election.enable=true: an out-of-date replica may become leader",
    explanation = "When no ISR member is alive, an unclean election makes a replica that " ..
      "fell out of the ISR the leader. Every record it did not have, acknowledged ones " ..
      "included, is truncated from the others when they return. acks=all and " ..
      "min.insync.replicas protect nothing then.",
    fix = "unclean.leader.election.enable=false (Kafka's default): the partition waits offline " ..
      "for an ISR member instead of losing acknowledged records.",
    scenario = e.rf ~= 1 and S.unclean_election or nil,
    settings = { "topic.unclean.leader.election.enable", "cluster.unclean.leader.election.enable" },
  }
end)

rule("idempotence-off", function(e)
  if e.idempotence or e.acks == "0" or e.retries == 0 or #e.conflicts > 0 then return end
  local why
  if e.idempotence_dropped then
    why = ("The Java client turns idempotence off because %s conflicts with it (it only logs " ..
      "this). "):format(table.concat(e.idempotence_dropped, ", "))
  elseif e.explicit_idempotence then
    why = "enable.idempotence=false. "
  else
    why = "librdkafka's default is enable.idempotence=false. "
  end
  return {
    id = "idempotence-off",
    severity = "warning",
    title = "retries without idempotence: a retried record can be written twice, and out of order",
    explanation = why .. "When a produce request is appended but its answer is lost (a timeout, " ..
      "a broken connection, a leader change), the producer sends it again and the broker appends " ..
      "a second copy." .. (e.max_in_flight > 1 and (" With " .. e.max_in_flight ..
      " requests in flight a retry can also land after later records (reordering).") or ""),
    fix = "enable.idempotence=true (with acks=all, retries > 0 and at most 5 requests in flight): " ..
      "the broker recognises a retried batch by its producer id and sequence.",
    scenario = S.answer_lost,
    settings = { "producer.enable.idempotence", "producer.retries" },
  }
end)

rule("idempotence-conflict", function(e)
  if #e.conflicts == 0 then return end
  local java = e.client == "java"
  return {
    id = "idempotence-conflict",
    severity = "error",
    title = ("enable.idempotence=true conflicts with %s: the producer refuses to start")
      :format(table.concat(e.conflicts, ", ")),
    explanation = java and ("KafkaProducer throws a ConfigException at construction " ..
      "(ProducerConfig.postProcessAndValidateIdempotenceConfigs): an idempotent producer " ..
      "needs acks=all, retries > 0 and max.in.flight.requests.per.connection <= 5.")
      or ("rd_kafka_new() fails (rd_kafka_conf_finalize): an idempotent producer needs " ..
      "acks=all, retries >= 1 and max.in.flight <= 5."),
    fix = "Keep enable.idempotence=true and set acks=all, retries > 0 (the default) and at most " ..
      "5 requests in flight (the default with idempotence).",
    settings = { "producer.enable.idempotence", "producer.acks", "producer.retries",
                 "producer.max.in.flight.requests.per.connection" },
  }
end)

rule("delivery-timeout-too-short", function(e)
  if e.client == "java" then
    if not e.given["delivery.timeout.ms"] or e.delivery_timeout >= e.linger + e.request_timeout then return end
    return {
      id = "delivery-timeout-too-short",
      severity = "error",
      title = ("delivery.timeout.ms=%d is below linger.ms + request.timeout.ms (%d): the " ..
        "producer refuses to start"):format(e.delivery_timeout, e.linger + e.request_timeout),
      explanation = "KafkaProducer (configureDeliveryTimeout) throws a ConfigException " ..
        "\"delivery.timeout.ms should be equal to or larger than linger.ms + " ..
        "request.timeout.ms\" when delivery.timeout.ms is set explicitly below that sum.",
      fix = ("delivery.timeout.ms >= %d (Kafka's default is 120000), or a shorter " ..
        "request.timeout.ms."):format(e.linger + e.request_timeout),
      settings = { "producer.delivery.timeout.ms", "producer.linger.ms", "producer.request.timeout.ms" },
    }
  end
  if e.delivery_timeout == 0 or e.delivery_timeout > e.linger or not e.given["linger.ms"] then return end
  return {
    id = "delivery-timeout-too-short",
    severity = "error",
    title = ("message.timeout.ms=%d is not above linger.ms=%s: librdkafka refuses the " ..
      "configuration"):format(e.delivery_timeout, tostring(e.linger)),
    explanation = "rd_kafka_new() fails with \"`message.timeout.ms` must be greater than " ..
      "`linger.ms`\" (rd_kafka_conf_finalize) when linger.ms is set and the message timeout " ..
      "is not above it.",
    fix = "message.timeout.ms (delivery.timeout.ms) well above linger.ms; librdkafka's default " ..
      "is 300000.",
    settings = { "producer.delivery.timeout.ms", "producer.linger.ms" },
  }
end)

rule("delivery-timeout-below-failover", function(e)
  if not e.given["delivery.timeout.ms"] or e.delivery_timeout == 0 or e.delivery_timeout >= 15000 then
    return
  end
  return {
    id = "delivery-timeout-below-failover",
    severity = "warning",
    title = ("delivery.timeout.ms=%d is shorter than a leader failover"):format(e.delivery_timeout),
    explanation = "When a leader's broker dies, the controller fences it only after " ..
      "broker.session.timeout.ms (9000 ms by default in KRaft), then elects a new leader, and " ..
      "the producer must refresh its metadata. Records that wait for that longer than " ..
      "delivery.timeout.ms fail with a timeout, though the cluster recovers by itself.",
    fix = "delivery.timeout.ms of 30 s or more (the Java default is 120000, librdkafka's " ..
      "300000); bound latency in the application instead.",
    scenario = S.leader_killed_failover,
    settings = { "producer.delivery.timeout.ms" },
  }
end)

rule("max-in-flight-idempotence", function(e)
  if not (e.idempotence_dropped and e.max_in_flight > 5) then return end
  return {
    id = "max-in-flight-idempotence",
    severity = "warning",
    title = ("max.in.flight.requests.per.connection=%d turns the Java client's default " ..
      "idempotence off"):format(e.max_in_flight),
    explanation = "Idempotence allows at most 5 requests in flight per connection. Kafka 3.x " ..
      "then disables the default idempotence with a log line (ProducerConfig says this " ..
      "becomes an error in 4.0): retries may duplicate and reorder records.",
    fix = "max.in.flight.requests.per.connection=5 (or less) and keep idempotence.",
    settings = { "producer.max.in.flight.requests.per.connection" },
  }
end)

rule("rf-above-brokers", function(e)
  if not (e.rf and e.brokers and e.rf > e.brokers) then return end
  return {
    id = "rf-above-brokers",
    severity = "error",
    title = ("replication.factor=%d is above the %d brokers"):format(e.rf, e.brokers),
    explanation = "Kafka refuses to create the topic (INVALID_REPLICATION_FACTOR: the " ..
      "replication factor is larger than the number of available brokers).",
    fix = ("replication.factor <= %d, or more brokers."):format(e.brokers),
    settings = { "topic.replication.factor", "cluster.brokers" },
  }
end)

rule("retries-0", function(e)
  if e.retries ~= 0 or e.acks == "0" then return end
  return {
    id = "retries-0",
    severity = "warning",
    title = "retries=0: a hung leader, a leader change or a broken connection fails the sends in flight",
    explanation = "Leader elections, broker restarts and rolling upgrades are routine; each " ..
      "one fails the records in flight with a retriable error that the producer does not " ..
      "retry, and the application must resend them (or lose them)." ..
      (e.client == "java" and " It also turns the Java client's default idempotence off." or ""),
    fix = "Leave retries at its default (2147483647) and bound the time with " ..
      "delivery.timeout.ms instead.",
    scenario = S.leader_hangs,
    settings = { "producer.retries" },
  }
end)

rule("replication-factor-unknown", function(e)
  if e.rf then return end
  return {
    id = "replication-factor-unknown",
    severity = "info",
    title = "replication factor not given: topic rules not checked",
    explanation = "No replication.factor (topic) or default.replication.factor (broker) was " ..
      "given, so the rules on replication factor and min.insync.replicas were not " ..
      "checked. Kafka's default.replication.factor is 1. Evidence for producer findings " ..
      "assumes replication.factor=3.",
    fix = "Give the topic's settings: a topic .properties file, or --replication-factor N " ..
      "--min-insync-replicas N.",
  }
end)

rule("golden-rule", function(e)
  if not (e.rf and e.rf >= 3 and e.min_isr == e.rf - 1 and e.acks == "all" and not e.unclean) then
    return
  end
  return {
    id = "golden-rule",
    severity = "info",
    title = ("golden rule: acks=all, replication.factor=%d, min.insync.replicas=%d"):format(e.rf, e.min_isr),
    explanation = ("min.insync.replicas = replication.factor - 1: one broker can fail and " ..
      "writes go on, and every acknowledged record is on at least %d brokers."):format(e.min_isr),
    fix = "Nothing to change.",
    scenario = S.leader_killed_mid_stream,
    settings = { "producer.acks", "topic.replication.factor", "topic.min.insync.replicas" },
  }
end)

---------------------------------------------------------------------------
-- insync.check
---------------------------------------------------------------------------

--- Checks a producer's, a topic's and a cluster's durability settings.
-- @tparam table input `producer` (Kafka's names or librdkafka's aliases),
-- `topic` (`replication.factor`, `min.insync.replicas`,
-- `unclean.leader.election.enable`, ...), `cluster` (`brokers`,
-- `default.replication.factor`, `min.insync.replicas`, ...), `client`
-- ("java", the default, or "librdkafka": whose defaults apply),
-- `evidence` (true: run the model for each finding it can show),
-- `accept_loss` (false: acks=0/1 are errors; true: info),
-- `sources` (optional map "section.key" -> "file:line" for the findings)
-- @return a list of findings, errors first: `{ id, severity, title,
-- explanation, fix, evidence = { scenario, setup, schedule, claim, audit,
-- script } or nil, advice = true when the model does not show it, note,
-- settings = { "file:line", ... } }`
function M.check(input)
  if type(input) ~= "table" then
    error(("check: expected a table, got %s"):format(type(input)), 2)
  end
  for k in pairs(input) do
    if not OPTIONS[k] then error(("check: unknown option '%s'"):format(tostring(k)), 2) end
  end
  if input.client ~= nil and input.client ~= "java" and input.client ~= "librdkafka" then
    error(("check: client: expected \"java\" or \"librdkafka\", got %s"):format(tostring(input.client)), 2)
  end
  local e = M.effective(input)
  local findings = {}
  for _, r in ipairs(RULES) do
    local f = r.run(e, input)
    if f then
      local scenario = f.scenario
      f.scenario = nil
      if scenario and input.evidence ~= false then
        local ev, why = demonstrate(scenario, e, f.id .. ": " .. f.title)
        f.evidence = ev
        if not ev then f.advice, f.note = true, "advice, not proof: " .. why end
      elseif scenario then
        f.advice, f.note = true, "evidence not asked for (evidence = false)"
      elseif f.severity ~= "info" then
        f.advice, f.note = true, "advice, not proof: the model does not simulate this; " ..
          "the source cited above says so"
      end
      if f.id == "golden-rule" and f.evidence and f.evidence.audit.duplicated > 0 then
        f.explanation = f.explanation .. (" It says nothing about duplicates: without " ..
          "idempotence the run below wrote %d records twice (see idempotence-off).")
          :format(f.evidence.audit.duplicated)
      end
      local where = {}
      for _, s in ipairs(f.settings or {}) do
        local src = input.sources and input.sources[s]
        if src then where[#where + 1] = src end
      end
      f.settings = where
      findings[#findings + 1] = f
    end
  end
  for i, f in ipairs(findings) do f.order = i end
  table.sort(findings, function(a, b)
    if a.severity ~= b.severity then return SEVERITY_RANK[a.severity] < SEVERITY_RANK[b.severity] end
    return a.order < b.order
  end)
  for _, f in ipairs(findings) do f.order = nil end
  return findings, e
end

--- Describes a finding's evidence in one line, e.g. "20 sent, 20
-- acknowledged, 20 acknowledged records were lost".
function M.summary(ev)
  local a = ev.audit
  local parts = { ("%d sent, %d acknowledged, %d failed"):format(a.sent, a.acked, a.failed) }
  if a.lost > 0 then parts[#parts + 1] = loss_words(a.lost) end
  if a.duplicated > 0 then parts[#parts + 1] = a.duplicated .. " duplicated" end
  local names = {}
  for n, c in pairs(a.errors or {}) do names[#names + 1] = n .. " x" .. c end
  table.sort(names)
  if #names > 0 then parts[#parts + 1] = "errors: " .. table.concat(names, ", ") end
  local retried = {}
  for n, c in pairs(a.retried or {}) do retried[#retried + 1] = n .. " x" .. c end
  table.sort(retried)
  if #retried > 0 then parts[#parts + 1] = "retried after " .. table.concat(retried, ", ") end
  return table.concat(parts, "; ")
end

return M
