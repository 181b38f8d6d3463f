-- Topic auto-creation with Kafka's default auto.create.topics.enable=true
-- (this cluster: `make test-kafka-quorum` sets INSYNC_KAFKA_AUTO_CREATE=true)
-- and librdkafka 2.0.2's allow.auto.create.topics, on real Apache Kafka and
-- on the model with the same settings: three records to a topic that does
-- not exist yet, from a producer with the key true, unset, and false.
local real = require "kafka.real"
local insync = require "insync"

local CASES = {
  { name = "true", conf = { ["allow.auto.create.topics"] = true } },
  { name = "unset", conf = {} },
  { name = "false", conf = { ["allow.auto.create.topics"] = false } },
}

local function with(conf)
  local out = { acks = "all", ["message.timeout.ms"] = 5000 }
  for k, v in pairs(conf) do out[k] = v end
  return out
end

-- outcome and "partition:offset" of each of the three sends
local function summary(results)
  local parts = {}
  for i, r in ipairs(results) do
    local rep = r.report
    parts[i] = r.err and r.err.name or ("ok@" .. rep.partition .. ":" .. rep.offset)
  end
  return table.concat(parts, " ")
end

local function on_kafka(case, topic)
  local p = real.producer(with(case.conf))
  local msgs = {}
  for i = 1, 3 do msgs[i] = { topic = topic, value = "v" .. i } end
  local got = summary(real.send_all(p, msgs, 60))
  p:close(10000)
  return got
end

local function on_model(case, topic)
  local c = insync.cluster{ brokers = 3, config = { ["broker.session.timeout.ms"] = 3000,
                                                    ["replica.lag.time.max.ms"] = 5000 } }
  c:run_for(1000)
  local p = c:producer(with(case.conf))
  local results = {}
  for i = 1, 3 do
    local r = {}
    results[i] = r
    p:send({ topic = topic, value = "v" .. i }, function(report, err) r.report, r.err = report, err end)
  end
  c:run()
  return summary(results)
end

describe("topic auto-creation on Kafka's defaults (auto.create.topics.enable=true)", function()
  setup(real.require_cluster)

  for _, case in ipairs(CASES) do
    it("allow.auto.create.topics " .. case.name .. ": the model and Kafka agree", function()
      local kafka = on_kafka(case, real.name("auto-" .. case.name))
      local model = on_model(case, "auto-" .. case.name)
      local want = case.name == "false" and "_MSG_TIMED_OUT _MSG_TIMED_OUT _MSG_TIMED_OUT"
                   or "ok@0:0 ok@0:1 ok@0:2"
      assert.equal(want, kafka)
      assert.equal(want, model)
      print(("# auto-creation, allow.auto.create.topics %s: model vs kafka: agree"):format(case.name))
    end)
  end
end)
