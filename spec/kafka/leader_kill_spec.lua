-- A partition leader killed (SIGKILL) under a steady acks=all idempotent
-- load, on real Apache Kafka: what a user checks afterwards by reading the
-- topic back, with the producer's own audit (track = true).
local real = require "kafka.real"

describe("a leader killed under an acks=all idempotent load on Apache Kafka", function()
  setup(real.require_cluster)
  after_each(real.heal)

  it("every send gets one callback; every acknowledged record is read back exactly once, " ..
     "at its reported offset, in send order per partition", function()
    local topic = real.name("leader-kill")
    local partitions = 3
    real.topic(topic, partitions, 3, { ["min.insync.replicas"] = 2 })
    for p = 0, partitions - 1 do real.wait_isr_is(topic, p, { 1, 2, 3 }) end
    local victim = real.isr(topic, 0)

    local p = real.producer{
      track = true, acks = "all", ["enable.idempotence"] = true,
      ["message.timeout.ms"] = 60000, ["linger.ms"] = 5,
    }
    local results, sent = {}, 0
    local function send_for(seconds)
      local deadline = os.time() + seconds
      while os.time() < deadline do
        for _ = 1, 5 do
          sent = sent + 1
          local i = sent
          local r = { calls = 0, partition = i % partitions, value = ("v%06d"):format(i) }
          results[i] = r
          assert(p:send({ topic = topic, partition = r.partition, key = "k" .. i, value = r.value },
            function(report, err)
              r.calls = r.calls + 1
              r.report, r.err = report, err
            end))
        end
        p:poll(10)
      end
    end

    send_for(2)
    real.kill(victim)
    send_for(5)             -- through the failover (the killed broker is fenced after ~3 s)
    real.restart(victim)
    send_for(1)
    real.wait_callbacks(p, results, 90)
    assert.equal(0, p:flush(10000))
    p:close(5000)

    -- one callback per send, and (retries and idempotence doing their job)
    -- every one of them a success
    local acked, failed = 0, {}
    for i, r in ipairs(results) do
      assert.equal(1, r.calls, "send " .. i .. " got " .. r.calls .. " callbacks")
      if r.err then failed[#failed + 1] = r.value .. ": " .. tostring(r.err)
      else acked = acked + 1 end
    end
    assert.same({}, failed)
    assert.equal(sent, acked)
    assert.is_true(sent > 100, "the load was too thin: " .. sent .. " sends")

    -- read back by the audit: every acknowledged record once (none lost
    -- or duplicated), at its reported offset (none inconsistent), in send
    -- order per partition (none reordered), and no failed one in the log
    local a = real.audit(p)
    assert.same({ sent, sent, 0, 0 }, { a.sent, a.acked, a.failed, a.pending })
    for _, k in ipairs({ "lost", "duplicated", "unexpected", "uncommitted", "reordered", "inconsistent" }) do
      assert.same({}, a[k], k .. ": " .. real.audit_line(a))
    end
    print(("# leader-kill: %d sends, all acknowledged, read back once each in order; " ..
           "broker %d killed and restarted"):format(sent, victim))
  end)
end)
