-- acks=all against min.insync.replicas on real Apache Kafka: what a producer
-- sees when the ISR shrinks below the floor, and what acks=1 still does.
local real = require "kafka.real"

-- n messages to partition 0 whose values start with `tag`.
local function msgs(topic, tag, n)
  local list = {}
  for i = 1, n do
    list[i] = { topic = topic, partition = 0, key = tag .. "-k" .. i, value = tag .. "-" .. i }
  end
  return list
end

local function outcomes(results)
  local names = {}
  for i, r in ipairs(results) do names[i] = real.outcome(r) end
  return names
end

-- The producer's audit: the counts given, and no record lost, duplicated,
-- failed yet in the log, reordered or away from its reported offset.
local function assert_clean(p, want)
  local a = real.audit(p)
  assert.same(want, { sent = a.sent, acked = a.acked, failed = a.failed }, real.audit_line(a))
  for _, k in ipairs({ "lost", "duplicated", "unexpected", "uncommitted", "reordered", "inconsistent" }) do
    assert.same({}, a[k], k .. ": " .. real.audit_line(a))
  end
end

local function followers(leader)
  local list = {}
  for _, id in ipairs(real.nodes) do if id ~= leader then list[#list + 1] = id end end
  return list
end

describe("acks=all, replication factor 3, min.insync.replicas=2 on Apache Kafka", function()
  setup(real.require_cluster)
  after_each(real.heal)

  it("rejects with NOT_ENOUGH_REPLICAS once two brokers are gone, times out with retries, " ..
     "keeps taking acks=1, and takes acks=all again when they return", function()
    local topic = real.name("mis-2of3")
    real.topic(topic, 1, 3, { ["min.insync.replicas"] = 2 })
    local leader = real.wait_isr_is(topic, 0, { 1, 2, 3 })

    local all_noretry = real.producer{ acks = "all", retries = 0, track = true }
    local all_retry = real.producer{ acks = "all", ["message.timeout.ms"] = 4000, track = true }
    local one = real.producer{ acks = "1", track = true }

    -- healthy: acks=all succeeds
    assert.same({ "ok", "ok" }, outcomes(real.send_all(all_noretry, msgs(topic, "before", 2))))

    -- stop both followers (controlled shutdown); the ISR shrinks to the leader
    local gone = followers(leader)
    for _, id in ipairs(gone) do real.stop(id) end
    assert.same({ leader }, select(2, real.wait_isr_is(topic, 0, { leader })))

    -- retries=0: the broker's answer reaches the callback as it is
    local rejected = real.send_all(all_noretry, msgs(topic, "noretry", 3))
    assert.same({ "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS" },
                outcomes(rejected))
    for _, r in ipairs(rejected) do
      assert.equal(19, r.err.code)
      assert.is_true(r.err.retriable)
      assert.equal("not_persisted", r.err.persisted)
      assert.is_nil(r.report.offset)
    end

    -- with retries, the same rejection repeats until message.timeout.ms
    local timed_out = real.send_all(all_retry, msgs(topic, "retry", 2), 30)
    assert.same({ "_MSG_TIMED_OUT", "_MSG_TIMED_OUT" }, outcomes(timed_out))

    -- acks=1 is never checked against min.insync.replicas
    local acks1 = real.send_all(one, msgs(topic, "acks1", 2))
    assert.same({ "ok", "ok" }, outcomes(acks1))
    assert.is_number(acks1[1].report.offset)
    assert.equal(acks1[1].report.offset + 1, acks1[2].report.offset)

    -- the brokers return: the ISR grows back and acks=all succeeds again
    for _, id in ipairs(gone) do real.restart(id) end
    real.wait_isr_is(topic, 0, { 1, 2, 3 })
    local after = real.send_all(all_noretry, msgs(topic, "after", 2))
    assert.same({ "ok", "ok" }, outcomes(after))

    all_noretry:close(5000); all_retry:close(5000); one:close(5000)

    -- what a consumer reads, by each producer's audit: every acknowledged
    -- record once, at its offset; nothing that was rejected before the append
    assert_clean(all_noretry, { sent = 7, acked = 4, failed = 3 })
    assert_clean(all_retry, { sent = 2, acked = 0, failed = 2 })
    assert_clean(one, { sent = 2, acked = 2, failed = 0 })
  end)
end)

describe("min.insync.replicas equal to the replication factor on Apache Kafka (common mistake 2)", function()
  setup(real.require_cluster)
  after_each(real.heal)

  it("one broker stopped stops every acks=all write; acks=1 goes on", function()
    local topic = real.name("mis-3of3")
    real.topic(topic, 1, 3, { ["min.insync.replicas"] = 3 })
    local leader = real.wait_isr_is(topic, 0, { 1, 2, 3 })

    local all_noretry = real.producer{ acks = "all", retries = 0, track = true }
    local all_retry = real.producer{ acks = "all", ["message.timeout.ms"] = 4000, track = true }
    local one = real.producer{ acks = "1", track = true }
    assert.same({ "ok" }, outcomes(real.send_all(all_noretry, msgs(topic, "before", 1))))

    -- one broker down, as in any rolling restart
    local gone = followers(leader)[1]
    real.stop(gone)
    local rest = followers(gone)
    real.wait_isr_is(topic, 0, rest)

    assert.same({ "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS" },
                outcomes(real.send_all(all_noretry, msgs(topic, "noretry", 2))))
    assert.same({ "_MSG_TIMED_OUT" },
                outcomes(real.send_all(all_retry, msgs(topic, "retry", 1), 30)))
    assert.same({ "ok" }, outcomes(real.send_all(one, msgs(topic, "acks1", 1))))

    real.restart(gone)
    real.wait_isr_is(topic, 0, { 1, 2, 3 })
    assert.same({ "ok" }, outcomes(real.send_all(all_noretry, msgs(topic, "after", 1))))
    all_noretry:close(5000); all_retry:close(5000); one:close(5000)

    assert_clean(all_noretry, { sent = 4, acked = 2, failed = 2 })
    assert_clean(all_retry, { sent = 1, acked = 0, failed = 1 })
    assert_clean(one, { sent = 1, acked = 1, failed = 0 })
  end)
end)
