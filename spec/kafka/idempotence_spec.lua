-- The idempotent producer (librdkafka 2.0.2) on real Apache Kafka: a batch
-- retried across an epoch bump is written twice.  The model gives the same
-- verdict (spec/model/producer_spec.lua); this checks it is Kafka's.  Not a
-- differential scenario: the followers here hang (SIGSTOP), and the model
-- has no hung process (README "What the model leaves out").
local real = require "kafka.real"

describe("an idempotent producer on Apache Kafka", function()
  setup(real.require_cluster)
  after_each(real.heal)

  it("writes a batch twice when it is retried after a timeout elsewhere bumped its epoch", function()
    local topic = real.name("idem-bump")
    real.topic(topic, 2, 3, { ["min.insync.replicas"] = 2 })
    for part = 0, 1 do real.wait_isr(topic, part, function(l, isr) return l and #isr == 3 end) end
    local leader0, leader1 = real.isr(topic, 0), real.isr(topic, 1)
    assert.are_not.equal(leader0, leader1)   -- Kafka spreads the leaders
    local p = real.producer{ acks = "all", ["enable.idempotence"] = true,
                             ["message.timeout.ms"] = 10000, ["request.timeout.ms"] = 1000 }
    local out = {}
    local function send(part, value)
      out[value] = { calls = 0 }
      assert(p:send({ topic = topic, partition = part, value = value }, function(report, err)
        local r = out[value]
        r.calls, r.err, r.offset = r.calls + 1, err, report.offset
      end))
    end
    local function settle(ms)
      local deadline = real.now_ms() + ms
      repeat p:poll(20) until real.now_ms() >= deadline
    end
    -- a producer id and both leaders' connections first
    send(0, "x0"); send(1, "x1")
    real.wait_callbacks(p, { out.x0, out.x1 })
    -- partition 0's followers hang; partition 1's leader is one of them
    for _, b in ipairs(real.nodes) do if b ~= leader0 then real.pause(b) end end
    send(1, "b1")        -- no answer: times out after 10 s
    settle(2000)
    send(0, "a1")        -- appended by partition 0's leader before the
                         -- followers are fenced (3 s), then REQUEST_TIMED_OUT,
                         -- NOT_ENOUGH_REPLICAS, retried
    settle(8700)         -- b1 times out: drain, epoch bump, a1 renumbered
    for _, b in ipairs(real.nodes) do if b ~= leader0 then real.resume(b) end end
    real.wait_callbacks(p, { out.a1, out.b1 }, 30)
    p:close(5000)
    assert.equal("_MSG_TIMED_OUT", out.b1.err and out.b1.err.name)
    assert.is_nil(out.a1.err)
    local copies = {}
    for _, rec in ipairs(real.consume(topic)) do
      if rec.value == "a1" then copies[#copies + 1] = rec.offset end
    end
    assert.same({ 1, 2 }, copies)          -- the first append, then the retry
    assert.equal(2, out.a1.offset)         -- acknowledged as the second
  end)
end)
