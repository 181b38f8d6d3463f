-- The audit of a tracking producer (track = true) on real Apache Kafka: it
-- finds every acknowledged record once, names the records a deleted and
-- recreated topic took with it as lost, and the copies a retry without
-- idempotence wrote as duplicated.
local real = require "kafka.real"

local KINDS = { "lost", "duplicated", "unexpected", "uncommitted", "reordered", "inconsistent" }

local function sent_all(p, topic, n, partitions)
  local msgs = {}
  for i = 1, n do
    msgs[i] = { topic = topic, partition = (i - 1) % partitions, key = "k" .. i, value = "same value" }
  end
  return real.send_all(p, msgs)
end

describe("the audit of a tracking producer on Apache Kafka", function()
  setup(real.require_cluster)
  after_each(real.heal)

  it("finds every acknowledged record once, records with equal values told apart", function()
    local topic = real.name("audit-once")
    real.topic(topic, 3, 3, { ["min.insync.replicas"] = 2 })
    local p = real.producer{ track = true, acks = "all" }
    for _, r in ipairs(sent_all(p, topic, 300, 3)) do assert.equal("ok", real.outcome(r)) end
    local a = real.audit(p)
    p:close(5000)
    assert.same({ 300, 300, 0, 0 }, { a.sent, a.acked, a.failed, a.pending })
    for _, k in ipairs(KINDS) do assert.same({}, a[k], k .. ": " .. real.audit_line(a)) end
    -- what the audit counted is what a consumer reads: 300 records, each
    -- with its own insync.id
    local ids = {}
    for _, rec in ipairs(real.consume(topic)) do
      local id = rec.headers["insync.id"]
      assert.is_nil(ids[id], "two records carry " .. tostring(id))
      ids[id] = true
    end
    local n = 0
    for _ in pairs(ids) do n = n + 1 end
    assert.equal(300, n)
  end)

  it("names as lost every acknowledged record of a topic deleted and recreated", function()
    local topic = real.name("audit-recreated")
    real.topic(topic, 2, 3, { ["min.insync.replicas"] = 2 })
    local p = real.producer{ track = true, acks = "all" }
    for _, r in ipairs(sent_all(p, topic, 20, 2)) do assert.equal("ok", real.outcome(r)) end
    p:close(5000)
    local before = real.audit(p)
    assert.same({}, before.lost)
    real.delete_topic(topic)
    real.topic(topic, 2, 3, { ["min.insync.replicas"] = 2 })
    -- the new topic's partition 0 fills up again, with other records
    local other = real.producer{ acks = "all" }
    local fill = {}
    for i = 1, 30 do fill[i] = { topic = topic, partition = 0, value = "new " .. i } end
    for _, r in ipairs(real.send_all(other, fill)) do assert.equal("ok", real.outcome(r)) end
    other:close(5000)
    local a = real.audit(p, 5000)
    assert.same({ 20, 20, 20 }, { a.sent, a.acked, #a.lost }, real.audit_line(a))
    for _, k in ipairs(KINDS) do
      if k ~= "lost" then assert.same({}, a[k], k .. ": " .. real.audit_line(a)) end
    end
    for _, e in ipairs(a.lost) do
      -- partition 0 holds 30 records now, partition 1 none: only partition
      -- 1's lost records sit at or above its high watermark
      assert.equal(e.partition == 1 or nil, e.above_hw, real.audit_line(a))
    end
  end)

  it("names as duplicated the copies a retry without idempotence wrote", function()
    -- acks=all, min.insync.replicas=1: with both followers hung (SIGSTOP)
    -- the leader appends, waits for them and answers REQUEST_TIMED_OUT after
    -- request.timeout.ms; the producer sends the batch again and the leader
    -- appends it again, until the followers are fenced (3 s) and the ISR
    -- is the leader alone: then a copy is acknowledged.
    local topic = real.name("audit-retry")
    real.topic(topic, 1, 3, { ["min.insync.replicas"] = 1 })
    local leader = real.wait_isr_is(topic, 0, { 1, 2, 3 })
    local p = real.producer{ track = true, acks = "all", ["enable.idempotence"] = false,
                             ["request.timeout.ms"] = 1000, ["message.timeout.ms"] = 60000 }
    assert.equal("ok", real.outcome(real.send_all(p, { { topic = topic, value = "warm-up" } })[1]))
    local followers = {}
    for _, id in ipairs(real.nodes) do if id ~= leader then followers[#followers + 1] = id end end
    for _, id in ipairs(followers) do real.pause(id) end
    local results = real.send_all(p, {
      { topic = topic, key = "a", value = "v" }, { topic = topic, key = "b", value = "v" },
    }, 90)
    for _, r in ipairs(results) do assert.equal("ok", real.outcome(r)) end
    for _, id in ipairs(followers) do real.resume(id) end
    real.wait_isr_is(topic, 0, { 1, 2, 3 })
    local a = real.audit(p)
    p:close(5000)
    assert.same({ 3, 3, 0 }, { a.sent, a.acked, #a.lost }, real.audit_line(a))
    assert.is_true(#a.duplicated >= 1, "no copy was written twice: " .. real.audit_line(a))
    -- one duplicated entry per extra copy a consumer reads, send by send
    -- (the warm-up too may have been written twice: the followers of a new
    -- topic can be slow to fetch its first record)
    local copies, extra = {}, {}
    for _, rec in ipairs(real.consume(topic)) do
      local n = tonumber(rec.headers["insync.id"]:match("%-(%d+)$"))
      copies[n] = (copies[n] or 0) + 1
    end
    for _, d in ipairs(a.duplicated) do extra[d.id] = (extra[d.id] or 0) + 1 end
    for id = 1, 3 do
      assert.equal(copies[id] - 1, extra[id] or 0, "send " .. id .. ": " .. real.audit_line(a))
    end
    assert.is_true(copies[2] + copies[3] > 2, "neither a nor b was written twice: " .. real.audit_line(a))
    print("# audit on Kafka, a retry without idempotence: " .. real.audit_line(a))
  end)
end)
