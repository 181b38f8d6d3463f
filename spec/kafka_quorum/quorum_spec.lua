-- A KRaft controller quorum that loses its majority, on real Apache Kafka
-- (spec/kafka/cluster with INSYNC_KAFKA_CONTROLLERS=3: `make
-- test-kafka-quorum`) and on the model with the same settings, step by step:
-- while two of three controllers are down, a killed partition leader is
-- never fenced, the brokers keep serving the metadata that names it leader
-- with an unchanged ISR, and acks=all records to it time out; once a
-- controller returns, the new active controller fences it after a session
-- (QuorumController; ClusterControlManager.activate gives every broker a
-- fresh session) and elects another leader, and writes resume.
local real = require "kafka.real"
local insync = require "insync"

-- spec/kafka/cluster's broker settings
local CONFIG = {
  ["broker.session.timeout.ms"] = 3000, ["broker.heartbeat.interval.ms"] = 500,
  ["replica.lag.time.max.ms"] = 5000, ["auto.leader.rebalance.enable"] = false,
}
local SESSION_S = 3
local TOPIC_CONFIG = { ["min.insync.replicas"] = 2 }

-- The two engines behind the same steps.
local function model_engine()
  local c = insync.cluster{ brokers = 3, controllers = 3, config = CONFIG }
  local e = { name = "model" }
  function e.topic(name) c:create_topic(name, { replication_factor = 3, config = TOPIC_CONFIG }); c:run_for(1000) end
  function e.state(name)
    local part = c:partition(name, 0)
    local isr = part.isr
    table.sort(isr)
    return part.leader, isr
  end
  function e.kill_controllers() c:crash_controller(2); c:crash_controller(3) end
  function e.restart_controller() c:restart_controller(2) end
  function e.kill(b) c:crash(b) end
  function e.wait(s) c:run_for(s * 1000) end
  function e.producer(conf) return c:producer(conf) end
  function e.send(p, name, n)
    local out = {}
    for i = 1, n do
      local r = {}
      out[i] = r
      p:send({ topic = name, partition = 0, value = "v" .. i }, function(_, err)
        r.name = err and err.name or "ok"
      end)
    end
    c:run()
    local names = {}
    for i = 1, n do names[i] = out[i].name end
    return names
  end
  function e.wait_new_leader(name, old)
    for _ = 1, 600 do
      local l = c:partition(name, 0).leader
      if l and l ~= old then return l end
      c:run_for(100)
    end
    error("model: no new leader")
  end
  return e
end

local function kafka_engine()
  local e = { name = "kafka" }
  function e.topic(name)
    real.topic(name, 1, 3, TOPIC_CONFIG)
    real.wait_isr_is(name, 0, { 1, 2, 3 })
  end
  function e.state(name) return real.isr(name, 0) end
  function e.kill_controllers() real.kill("controller2"); real.kill("controller3") end
  function e.restart_controller() real.restart("controller2") end
  function e.kill(b) real.kill(b) end
  function e.wait(s) real.sleep(s) end
  function e.producer(conf) return real.producer(conf) end
  function e.send(p, name, n)
    local msgs = {}
    for i = 1, n do msgs[i] = { topic = name, partition = 0, value = "v" .. i } end
    local names = {}
    for i, r in ipairs(real.send_all(p, msgs, 60)) do names[i] = real.outcome(r) end
    return names
  end
  function e.wait_new_leader(name, old)
    return (real.wait_isr(name, 0, function(l) return l and l ~= old end, "a new leader"))
  end
  return e
end

-- The steps; returns what each engine saw.
local function lose_quorum(e, name)
  local seen = {}
  e.topic(name)
  local leader = e.state(name)
  e.kill_controllers()
  e.kill(leader)
  e.wait(3 * SESSION_S)
  local l, isr = e.state(name)
  seen.leader_kept = l == leader
  seen.isr = table.concat(isr, ",")
  local p = e.producer{ acks = "all", ["message.timeout.ms"] = 4000 }
  seen.during = table.concat(e.send(p, name, 2), " ")
  e.restart_controller()
  local new = e.wait_new_leader(name, leader)
  seen.new_leader = new ~= nil and new ~= leader
  seen.after = table.concat(e.send(p, name, 2), " ")
  if p.close then p:close(10000) end
  return seen
end

describe("a controller quorum that loses its majority (3 controllers)", function()
  setup(function()
    real.require_cluster()
    assert(real.status().controller2,
           "this spec needs spec/kafka/cluster with INSYNC_KAFKA_CONTROLLERS=3 (make test-kafka-quorum)")
  end)
  after_each(real.heal)

  it("fences nobody, changes no ISR and elects nobody until a majority is back; the model agrees", function()
    local kafka = lose_quorum(kafka_engine(), real.name("quorum"))
    local model = lose_quorum(model_engine(), "quorum")
    local want = {
      leader_kept = true, isr = "1,2,3",
      during = "_MSG_TIMED_OUT _MSG_TIMED_OUT",
      new_leader = true, after = "ok ok",
    }
    assert.same(want, kafka)
    assert.same(want, model)
    print("# quorum lost and regained: model vs kafka: agree")
  end)
end)
