-- The cluster script's faults do to real Kafka what they say: a paused or
-- killed broker leaves the ISR (fenced after broker.session.timeout.ms), a
-- killed leader loses its leadership, and a resumed or restarted broker
-- catches up and rejoins the ISR.
local real = require "kafka.real"

local basic_topic = real.name("cluster-basic")
local pause_topic = real.name("cluster-pause")
local kill_topic = real.name("cluster-kill")

describe("spec/kafka/cluster against Apache Kafka", function()
  setup(real.require_cluster)
  after_each(real.heal)

  it("serves a 3-broker cluster; a topic gets three in-sync replicas", function()
    real.topic(basic_topic, 3, 3)
    for p = 0, 2 do
      local leader, isr = real.wait_isr_is(basic_topic, p, { 1, 2, 3 })
      assert.is_not_nil(leader)
      assert.same({ 1, 2, 3 }, isr)
    end
  end)

  it("a paused broker (SIGSTOP) is fenced and leaves the ISR; resumed, it rejoins", function()
    real.topic(pause_topic, 1, 3)
    local leader = real.wait_isr_is(pause_topic, 0, { 1, 2, 3 })
    local victim = leader % 3 + 1          -- a follower
    real.pause(victim)
    assert.equal("paused", real.status()[tostring(victim)])
    local rest = {}
    for _, id in ipairs(real.nodes) do if id ~= victim then rest[#rest + 1] = id end end
    local now_leader = real.wait_isr_is(pause_topic, 0, rest)
    assert.equal(leader, now_leader)
    real.resume(victim)
    real.wait_isr_is(pause_topic, 0, { 1, 2, 3 })
  end)

  it("a killed leader (SIGKILL) loses leadership to an ISR member; restarted, it rejoins", function()
    real.topic(kill_topic, 1, 3)
    local leader = real.wait_isr_is(kill_topic, 0, { 1, 2, 3 })
    real.kill(leader)
    assert.equal("down", real.status()[tostring(leader)])
    local new_leader, isr = real.wait_isr(kill_topic, 0, function(l, isr)
      return l ~= nil and l ~= leader and #isr == 2
    end, "a new leader")
    assert.not_equal(leader, new_leader)
    for _, id in ipairs(isr) do assert.not_equal(leader, id) end
    real.restart(leader)
    real.wait_isr_is(kill_topic, 0, { 1, 2, 3 })
  end)
end)
