-- The simulated producer: partitioner, batching, retries, timeouts,
-- idempotence, queue limits.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")
local insync = require "insync"

describe("producer", function()
  it("places keys as librdkafka's consistent_random partitioner does (CRC-32 of the key)", function()
    local c = S.cluster{ partitions = 3 }
    local p = c:producer{}
    local got = {}
    for _, k in ipairs({ "k1", "k2", "k3", "k10", "order-42", "123456789", "user-045189" }) do
      p:send({ topic = "orders", key = k, value = "v" }, function(r) got[k] = r.partition end)
    end
    c:run()
    -- the partitions librdkafka 2.0.2's rd_kafka_msg_partitioner_consistent_random gives for 3 partitions
    assert.same({ k1 = 1, k2 = 0, k3 = 2, k10 = 2, ["order-42"] = 1, ["123456789"] = 2,
                  ["user-045189"] = 1 }, got)
  end)

  it("sticks keyless records to one partition for sticky.partitioning.linger.ms", function()
    local c = S.cluster{ partitions = 8 }
    local p = c:producer{}
    local parts = {}
    for i = 1, 20 do
      p:send({ topic = "orders", value = "v" .. i }, function(r) parts[r.partition] = true end)
    end
    c:run()
    local n = 0
    for _ in pairs(parts) do n = n + 1 end
    assert.equal(1, n)
  end)

  it("sticks records with an empty key (consistent_random) or no key (consistent) the same way", function()
    for _, case in ipairs({ { partitioner = "consistent_random", key = "" },
                            { partitioner = "consistent", key = nil } }) do
      local c = S.cluster{ partitions = 8 }
      local p = c:producer{ partitioner = case.partitioner }
      local parts, n = {}, 0
      for i = 1, 20 do
        p:send({ topic = "orders", key = case.key, value = "v" .. i }, function(r) parts[r.partition] = true end)
      end
      c:run()
      for _ in pairs(parts) do n = n + 1 end
      assert.equal(1, n, case.partitioner)
    end
  end)

  it("sends few keyless records to a partition the metadata shows without a leader", function()
    -- 6 partitions, replication factor 1, 2 of them on broker 1, which dies:
    -- librdkafka moves the sticky partition off a leaderless one, and draws
    -- a random one twice before it settles on a leaderless one
    local c = S.cluster{ partitions = 6, rf = 1 }
    local p = c:producer{ ["message.timeout.ms"] = 2000 }
    S.send(p, 1, { partition = 0 }); c:run()   -- the producer has the metadata
    c:crash(1); c:run_for(15000)                 -- fenced: its partitions have no leader
    local on1 = {}
    for i = 0, 5 do
      if c:partition("orders", i).assignment[1] == 1 then
        on1[i] = true
        assert.is_nil(c:partition("orders", i).leader)
      end
    end
    local dead = 0
    for i = 1, 300 do   -- 20 ms apart: a new sticky partition each time
      p:send({ topic = "orders", value = "v" .. i }, function(r)
        if on1[r.partition] then dead = dead + 1 end
      end)
      c:run_for(20)
    end
    c:run()
    assert.is_true(dead < 60, dead .. " of 300 went to a leaderless partition")   -- about 1/9, not 1/3
  end)

  it("batches records sent within linger.ms into one produce request", function()
    local c = S.cluster{ trace = true }
    local p = c:producer{ ["linger.ms"] = 50 }
    S.send(p, 10); c:run()
    local requests = 0
    for _, e in ipairs(c:trace()) do
      if e.event == "request" and e.node == "producer1" then requests = requests + 1; assert.equal(10, e.count) end
    end
    assert.equal(1, requests)
    local p2 = c:producer{ ["linger.ms"] = 50, ["batch.num.messages"] = 4 }
    S.send(p2, 10, { prefix = "b" }); c:run()
    requests = 0
    for _, e in ipairs(c:trace()) do
      if e.event == "request" and e.node == "producer2" then requests = requests + 1 end
    end
    assert.equal(3, requests)
  end)

  it("ends in _MSG_TIMED_OUT after message.timeout.ms, not persisted when never sent", function()
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ ["message.timeout.ms"] = 5000 }
    c:isolate(p)
    local out = S.send(p, 2)
    c:run()
    assert.same({ _MSG_TIMED_OUT = 2 }, S.count(out))
    assert.equal(-192, out[1].err.code)
    assert.equal("not_persisted", out[1].err.persisted)
    assert.is_true(out[1].report.latency_ms >= 5000 and out[1].report.latency_ms <= 6100)
  end)

  it("reports its own request timeout, retries used up, as _MSG_TIMED_OUT, as librdkafka does", function()
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ retries = 0, ["socket.timeout.ms"] = 3000 }
    S.send(p, 1); c:run()
    c:drop(1, p)                       -- answers are lost
    local out = S.send(p, 1, { prefix = "x" })
    c:run()
    assert.equal("_MSG_TIMED_OUT", out[1].name)   -- not the request's _TIMED_OUT
    assert.equal("possibly_persisted", out[1].err.persisted)
    assert.is_true(out[1].report.latency_ms < 10000)   -- after socket.timeout.ms, not message.timeout.ms
  end)

  it("reports possibly_persisted for a request sent but never answered", function()
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ ["message.timeout.ms"] = 5000 }
    S.send(p, 1); c:run()
    c:drop(1, p)                       -- answers are lost, requests arrive
    local out = S.send(p, 1, { prefix = "x" })
    c:run()
    assert.equal("_MSG_TIMED_OUT", out[1].name)
    assert.equal("possibly_persisted", out[1].err.persisted)
    c:heal(); c:run_for(1000)
    local a = c:audit()
    assert.equal(1, #a.unexpected)     -- failed, yet written
    assert.equal("x1", a.unexpected[1].key)
  end)

  it("duplicates a record whose response was lost when retrying without idempotence", function()
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ ["socket.timeout.ms"] = 2000 }
    S.send(p, 1); c:run()
    c:drop(1, p)
    local out = S.send(p, 1, { prefix = "d" })
    c:run_for(2050)                    -- the first attempt's answer is lost
    c:heal()
    c:run()
    assert.equal("OK", out[1].name)
    local a = c:audit()
    assert.equal(1, #a.duplicated)
    assert.equal("d1", a.duplicated[1].key)
    assert.equal(2, a.duplicated[1].offset)
  end)

  it("does not duplicate with enable.idempotence: the broker answers the retry with the original offset", function()
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ ["enable.idempotence"] = true, ["socket.timeout.ms"] = 2000 }
    S.send(p, 1); c:run()
    c:drop(1, p)
    local out = S.send(p, 1, { prefix = "d" })
    c:run_for(2050)
    c:heal()
    c:run()
    assert.equal("OK", out[1].name)
    assert.equal(1, out[1].report.offset)   -- the offset of the first append
    local a = c:audit()
    assert.equal(0, #a.duplicated)
    assert.equal(2, c:partition("orders", 0).replicas[1].leo)
  end)

  -- librdkafka 2.0.2: a message timeout anywhere makes the idempotent
  -- producer drain and bump its epoch (rd_kafka_idemp_drain_epoch_bump),
  -- and the batches it still holds are numbered from sequence 0 again
  -- (rd_kafka_toppar_pid_change).  A batch the leader had appended, then
  -- answered with an error (here REQUEST_TIMED_OUT: its followers died), is
  -- such a batch: the leader takes the new epoch's sequence 0 as new.
  it("duplicates, even with enable.idempotence, a batch retried across an epoch bump", function()
    local c = insync.cluster{ brokers = 4, seed = 1, trace = true,
      config = { ["broker.session.timeout.ms"] = 3000, ["broker.heartbeat.interval.ms"] = 1000 } }
    c:create_topic("a", { replication_factor = 3, replicas = { { 1, 2, 3 } },
                          config = { ["min.insync.replicas"] = 2 } })
    c:create_topic("b", { replication_factor = 3, replicas = { { 4, 1, 2 } },
                          config = { ["min.insync.replicas"] = 2 } })
    c:run_for(100)
    local p = c:producer{ acks = "all", ["enable.idempotence"] = true,
                          ["message.timeout.ms"] = 8000, ["request.timeout.ms"] = 1000 }
    local out = {}
    local function send(topic, value)
      p:send({ topic = topic, value = value }, function(r, err)
        out[value] = { name = err and err.name or "OK", offset = r.offset, t = c:now() }
      end)
    end
    send("a", "a0"); c:run_for(100)
    c:isolate(4)                  -- b's leader: b1 will time out at t = 8200
    send("b", "b1"); c:run_for(1000)
    c:crash(2); c:crash(3)        -- a's followers: a1 is appended by 1 alone
    send("a", "a1"); c:run_for(7000)
    c:restart(2); c:restart(3); c:heal()
    c:run()
    assert.equal("_MSG_TIMED_OUT", out.b1.name)
    assert.equal("OK", out.a1.name)
    local bump = S.find(c:trace(), "epoch_bump")
    assert.equal(out.b1.t, bump.t)                -- the timeout bumped the epoch
    assert.same({ epoch = 1, records = 1 }, { epoch = bump.epoch, records = bump.records })
    local values = {}
    for _, e in ipairs(c:log("a", 0, 1)) do values[#values + 1] = e.value end
    assert.same({ "a0", "a1", "a1" }, values)    -- the first append, then the bumped retry
    assert.equal(2, out.a1.offset)
    local a = c:audit()
    assert.equal(1, #a.duplicated)
    assert.equal("a1", a.duplicated[1].value)
  end)

  it("has its batch appended at any sequence by a leader that lost all state for it (KIP-360)", function()
    local c = S.cluster{ rf = 1 }
    c:run_for(100)
    local p = c:producer{ ["enable.idempotence"] = true }
    local before = S.send(p, 2); c:run()
    assert.same({ OK = 2 }, S.count(before))
    -- power loss: nothing was flushed, the log and the producer state
    -- rebuilt from it are empty
    c:crash(1, { lose_unflushed = true }); c:restart(1); c:run_for(3000)
    assert.equal(0, c:partition("orders", 0).replicas[1].leo)
    -- sequence 2 from a producer id the broker has no state for: appended
    local out = S.send(p, 1, { prefix = "gap" }); c:run()
    assert.equal("OK", out[1].name)
    assert.equal(0, out[1].report.offset)
    -- and the state goes on from it
    local after = S.send(p, 1, { prefix = "next" }); c:run()
    assert.equal("OK", after[1].name)
    assert.equal(1, after[1].report.offset)
    -- the two records lost with the power are lost; the new ones are acked
    local a = c:audit()
    assert.equal(4, a.acked)
    assert.equal(0, a.failed)
    assert.equal(2, #a.lost)
    assert.equal("k1", a.lost[1].key)
    assert.equal("k2", a.lost[2].key)
    assert.same({}, a.uncommitted)
  end)

  it("has its batch appended at any sequence by a leader elected uncleanly without its batches (KIP-360)", function()
    local c = S.cluster{ config = { ["unclean.leader.election.enable"] = true } }
    local p = c:producer{ ["enable.idempotence"] = true }
    c:run_for(1000); c:crash(2); c:crash(3); c:run_for(12000)
    assert.equal("1", S.isr(c))
    local before = S.send(p, 5); c:run()
    assert.same({ OK = 5 }, S.count(before))
    c:crash(1); c:restart(2); c:run_for(15000)
    local part = c:partition("orders", 0)
    assert.equal(2, part.leader)
    assert.equal(0, part.replicas[2].leo)
    local out = S.send(p, 1, { prefix = "b" }); c:run()   -- sequence 5
    assert.equal("OK", out[1].name)
    assert.equal(0, out[1].report.offset)
    assert.equal(5, #c:audit().lost)
  end)

  it("is answered OUT_OF_ORDER_SEQUENCE_NUMBER for a sequence gap when the leader kept part of its state", function()
    -- flush.messages=3: every replica flushes after its third record, not
    -- after the fourth
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2, ["flush.messages"] = 3 } }
    c:run_for(100)
    local p = c:producer{ ["enable.idempotence"] = true }
    for i = 1, 4 do
      local out = S.send(p, 1, { prefix = "k" .. i .. "-" }); c:run()
      assert.equal("OK", out[1].name)
    end
    for b = 1, 3 do
      local r = c:partition("orders", 0).replicas[b]
      assert.equal(4, r.leo)
      assert.equal(3, r.flushed)
    end
    -- every replica loses power: sequences 0-2 survive, 3 is gone
    for b = 1, 3 do c:crash(b, { lose_unflushed = true }) end
    for b = 1, 3 do c:restart(b) end
    c:run_for(20000)
    local part = c:partition("orders", 0)
    assert.equal(3, part.replicas[part.leader].leo)
    local mark = #c:trace()
    S.send(p, 1, { prefix = "gap" }); c:run()   -- sequence 4 after 2
    -- the broker's answer (what the producer makes of it is its own business)
    local answered
    local trace = c:trace()
    for i = mark + 1, #trace do
      local e = trace[i]
      if e.event == "response" and e.error == insync.errors.OUT_OF_ORDER_SEQUENCE_NUMBER then
        answered = e
      end
    end
    assert.truthy(answered)
    assert.equal(3, c:partition("orders", 0).replicas[part.leader].leo)   -- not appended
    local lost = c:audit().lost
    assert.equal(1, #lost)
    assert.equal("k4-1", lost[1].key)
  end)

  it("fails for good on OUT_OF_ORDER_SEQUENCE_NUMBER for its oldest batch: queued sends purged, later ones refused", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2, ["flush.messages"] = 3 } }
    c:run_for(100)
    local fatal = {}
    local p = c:producer{ ["enable.idempotence"] = true, ["max.in.flight"] = 1, ["batch.num.messages"] = 1,
                          on_error = function(err) fatal[#fatal + 1] = err end }
    for i = 1, 4 do S.send(p, 1, { prefix = "k" .. i .. "-" }); c:run() end
    for b = 1, 3 do c:crash(b, { lose_unflushed = true }) end   -- the 4th is gone, 3 kept
    for b = 1, 3 do c:restart(b) end
    c:run_for(20000)
    local out = S.send(p, 3, { prefix = "gap" })   -- one request at a time: 2 and 3 wait
    c:run()
    local later = S.send(p, 1, { prefix = "later" }); c:run()
    assert.equal(1, #fatal)
    assert.equal("OUT_OF_ORDER_SEQUENCE_NUMBER", fatal[1].name)
    assert.is_true(fatal[1].fatal)
    assert.same({ "OUT_OF_ORDER_SEQUENCE_NUMBER", "possibly_persisted", true },
                { out[1].name, out[1].err.persisted, out[1].err.fatal })
    for i = 2, 3 do
      assert.same({ "_PURGE_QUEUE", "not_persisted", false },
                  { out[i].name, out[i].err.persisted, out[i].err.fatal })
    end
    assert.same({ "OUT_OF_ORDER_SEQUENCE_NUMBER", "not_persisted", true },
                { later[1].name, later[1].err.persisted, later[1].err.fatal })
    assert.equal(3, c:partition("orders", 0).hw)   -- none of them written
  end)

  it("returns nil and _QUEUE_FULL past queue.buffering.max.messages", function()
    local c = S.cluster{}
    local p = c:producer{ ["queue.buffering.max.messages"] = 2 }
    assert.truthy(p:send({ topic = "orders", value = "a" }))
    assert.truthy(p:send({ topic = "orders", value = "b" }))
    local id, err = p:send({ topic = "orders", value = "c" })
    assert.is_nil(id)
    assert.equal("_QUEUE_FULL", err.name)
    c:run()
    assert.truthy(p:send({ topic = "orders", value = "d" }))
  end)

  it("counts only values against queue.buffering.max.kbytes, as librdkafka does", function()
    local c = S.cluster{}
    local p = c:producer{ ["queue.buffering.max.kbytes"] = 1 }
    -- rd_kafka_curr_msgs_add counts the value: big keys pass
    assert.truthy(p:send({ topic = "orders", key = ("k"):rep(1000), value = ("v"):rep(500) }))
    assert.truthy(p:send({ topic = "orders", key = ("k"):rep(1000), value = ("v"):rep(500) }))
    local id, err = p:send({ topic = "orders", value = ("v"):rep(100) })   -- 1100 > 1024
    assert.is_nil(id)
    assert.equal("_QUEUE_FULL", err.name)
    assert.is_true(c:run())
    assert.equal(2, c:audit().acked)
  end)

  it("reports MSG_SIZE_TOO_LARGE through the callback for a record above message.max.bytes", function()
    local c = S.cluster{}
    local p = c:producer{ ["message.max.bytes"] = 1000 }
    local out = {}
    local function cb(r, err) out[#out + 1] = { r = r, err = err } end
    assert.truthy(p:send({ topic = "orders", key = "k", value = ("x"):rep(1000 - 36) }, cb))
    assert.truthy(p:send({ topic = "orders", value = ("x"):rep(1000 - 36) }, cb))
    assert.is_true(c:run())
    assert.equal("MSG_SIZE_TOO_LARGE", out[1].err.name)
    assert.is_nil(out[1].r.partition)   -- refused before the partitioner ran
    assert.equal("orders", out[1].r.topic)
    assert.equal("not_persisted", out[1].err.persisted)
    assert.equal("k", out[1].r.key)
    assert.is_nil(out[2].err)
    local a = c:audit()
    assert.same({ 2, 1, 1 }, { a.sent, a.acked, a.failed })
  end)

  -- librdkafka 2.0.2 keeps a missing topic's first records for
  -- topic.metadata.propagation.max.ms, then fails them with the broker's
  -- UNKNOWN_TOPIC_OR_PART; later sends fail at once with _UNKNOWN_TOPIC
  -- (rd_kafka_topic_set_notexists; spec/model/topic_metadata_spec.lua)
  it("reports UNKNOWN_TOPIC_OR_PART, _UNKNOWN_TOPIC and _UNKNOWN_PARTITION through the callback", function()
    local c = S.cluster{ config = { ["auto.create.topics.enable"] = false } }
    local p = c:producer{}
    local e1, e2, e3
    p:send({ topic = "nope", value = "x" }, function(r, err) e1 = { r, err } end)
    p:send({ topic = "orders", partition = 7, value = "x" }, function(r, err) e2 = { r, err } end)
    c:run()
    assert.equal("UNKNOWN_TOPIC_OR_PART", e1[2].name)
    assert.equal("nope", e1[1].topic)
    assert.equal("_UNKNOWN_PARTITION", e2[2].name)
    p:send({ topic = "nope", value = "x" }, function(r, err) e3 = { r, err } end)
    c:run()
    assert.equal("_UNKNOWN_TOPIC", e3[2].name)
    assert.equal("nope", e3[1].topic)
  end)

  it("sends each record to the topic it names, with long names made afresh for every send", function()
    -- names above 40 bytes are not interned on Lua 5.4: each send below
    -- names its topic with a new string, often at a freed one's address
    local c = insync.cluster{ brokers = 1 }
    local long = { ("a"):rep(60), ("b"):rep(60) }
    for _, name in ipairs(long) do
      c:create_topic(name, { partitions = 1, replication_factor = 1 })
    end
    local p = c:producer{}
    local got, want = {}, {}
    for i = 1, 40 do
      local letter = i % 2 == 1 and "a" or "b"
      want[i] = letter
      p:send({ topic = letter:rep(60), value = tostring(i) },
             function(r) got[i] = r.topic:sub(1, 1) end)
      collectgarbage()
    end
    assert.is_true(c:run())
    assert.same(want, got)
    assert.equal(20, c:partition(long[1], 0).hw)
    assert.equal(20, c:partition(long[2], 0).hw)
  end)

  it("takes headers as a map or as a list, and keeps msg.timestamp on the record", function()
    local c = S.cluster{}
    local p = c:producer{}
    local names = {}
    local function cb(r, err) names[#names + 1] = err and err.name or r.offset end
    p:send({ topic = "orders", value = "a", headers = { { "h", "1" }, { "h", "2" }, { "n" } },
             timestamp = 1700000000000 }, cb)
    p:send({ topic = "orders", value = "b", headers = { trace = "abc" } }, cb)
    p:send({ topic = "orders", value = "c", timestamp = 0 }, cb)   -- librdkafka: 0 is "now"
    c:run()
    assert.same({ 0, 1, 2 }, names)
    local log = c:log("orders", 0, 2)
    assert.equal(1700000000000, log[1].timestamp)
    assert.equal("a", log[1].value)
    assert.is_nil(log[2].timestamp)
    assert.equal("b", log[2].value)
    assert.is_nil(log[3].timestamp)
  end)

  it("hands back key, opaque, topic, partition and latency in the report", function()
    local c = S.cluster{}
    local p = c:producer{}
    local rep
    local marker = {}
    p:send({ topic = "orders", key = "order-42", value = "x", opaque = marker,
             headers = { trace = "abc" } }, function(r) rep = r end)
    c:run()
    assert.equal("orders", rep.topic)
    assert.equal(0, rep.partition)
    assert.equal("order-42", rep.key)
    assert.equal(marker, rep.opaque)
    assert.equal(0, rep.offset)
    assert.is_true(rep.latency_ms >= 5)     -- linger.ms 5 at least
    assert.truthy(insync.is_error(insync.error("REQUEST_TIMED_OUT")))
  end)
end)

describe("producer requests", function()
  local function producer_requests(c, node)
    local out = {}
    for _, e in ipairs(c:trace()) do
      if e.node == node and (e.event == "request" or e.event == "response" or e.event == "retry") then
        out[#out + 1] = e
      end
    end
    return out
  end

  it("with idempotence, sends a partition's next request only while fewer than 5 records are in flight", function()
    -- librdkafka's rd_kafka_toppar_producer_serve compares its limit of 5
    -- with the records in flight: a batch of 5 or more holds the next one
    local function max_inflight(batch)
      local c = insync.cluster{ brokers = 3, latency_ms = 5, trace = true }
      c:create_topic("t", { partitions = 1, replication_factor = 3 })
      local p = c:producer{ ["enable.idempotence"] = true, ["batch.num.messages"] = batch }
      c:run_for(1000)
      for _ = 1, 30 do
        for _ = 1, 10 do p:send({ topic = "t", partition = 0, value = "v" }) end
        c:run_for(1)
      end
      assert.is_true(c:run())
      assert.equal(300, c:audit().acked)
      local inflight, max = 0, 0
      for _, e in ipairs(producer_requests(c, "producer1")) do
        if e.event == "request" then inflight = inflight + 1 elseif e.event == "response" then inflight = inflight - 1 end
        if inflight > max then max = inflight end
      end
      return max
    end
    assert.equal(1, max_inflight(10))   -- batches of 5 records or more: one at a time
    assert.equal(5, max_inflight(1))    -- one record each: five
  end)

  it("keeps at most max.in.flight requests outstanding per broker", function()
    local c = S.cluster{ trace = true }
    c:run_for(100)
    local p = c:producer{ ["max.in.flight"] = 1, ["batch.num.messages"] = 1 }
    local out = S.send(p, 5); c:run()
    assert.same({ OK = 5 }, S.count(out))
    local inflight, max = 0, 0
    for _, e in ipairs(producer_requests(c, "producer1")) do
      if e.event == "request" then inflight = inflight + 1 elseif e.event == "response" then inflight = inflight - 1 end
      if inflight > max then max = inflight end
    end
    assert.equal(1, max)
    for i, o in ipairs(out) do assert.equal(i - 1, o.report.offset) end   -- in order
  end)

  it("retries a retriable error `retries` times, retry.backoff.ms apart, then reports it", function()
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    c:crash(2); c:crash(3); c:run_for(10000)
    local p = c:producer{ retries = 2, ["retry.backoff.ms"] = 250 }
    local out = S.send(p, 1); c:run()
    assert.equal("NOT_ENOUGH_REPLICAS", out[1].name)
    local reqs, retries = {}, 0
    for _, e in ipairs(producer_requests(c, "producer1")) do
      if e.event == "request" then reqs[#reqs + 1] = e.t end
      if e.event == "retry" then retries = retries + 1; assert.equal(19, e.error) end
    end
    assert.equal(3, #reqs)
    assert.equal(2, retries)
    assert.is_true(reqs[2] - reqs[1] >= 250 and reqs[3] - reqs[2] >= 250)
  end)

  it("retries NOT_LEADER_OR_FOLLOWER without counting it against retries, as librdkafka does", function()
    -- retries = 0: a counted retry would end the send at the first error.
    -- Leader 1 loses the controller and is replaced by 2; the send waits
    -- in 1's purgatory until 1 learns it no longer leads.
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    local p = c:producer{ retries = 0 }
    c:run_for(1000)
    c:cut(1, "controller"); c:run_for(12000)
    assert.equal(2, c:partition("orders", 0).leader)
    local out = S.send(p, 1); c:run_for(2000)
    c:heal(); c:run()
    assert.equal("OK", out[1].name)
    local not_leader
    for _, e in ipairs(producer_requests(c, "producer1")) do
      if e.event == "retry" and e.error == 6 then not_leader = e end
    end
    assert.truthy(not_leader, "the send was never answered NOT_LEADER_OR_FOLLOWER")
    assert.equal(0, not_leader.attempt)     -- uncounted: still the first attempt
    assert.same({ acked = 1, failed = 0, lost = 0 },
      { acked = c:audit().acked, failed = c:audit().failed, lost = #c:audit().lost })
  end)

  it("offers the consistent and random partitioners", function()
    local c = S.cluster{ partitions = 3 }
    local cons = c:producer{ partitioner = "consistent" }
    local got
    cons:send({ topic = "orders", key = "", value = "empty key" }, function(r) got = r.partition end)
    c:run()
    assert.equal(0, got)          -- consistent hashes an empty key too: crc32("") = 0
    local rnd = c:producer{ partitioner = "random" }   -- keyed: no stickiness
    local seen = {}
    for i = 1, 30 do
      rnd:send({ topic = "orders", key = "same", value = "v" .. i }, function(r) seen[r.partition] = true end)
    end
    c:run()
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.is_true(n > 1)
  end)
end)

describe("ordering", function()
  -- r1's request is lost on a lossy link (c:lossy: the connection stays up,
  -- which TCP never does; see connections_spec for c:drop), r2's arrives:
  -- r1 is retried after socket.timeout.ms and lands after r2 unless the
  -- producer is idempotent.
  local function lost_first_request(conf)
    local c = S.cluster{}
    c:run_for(100)
    conf["linger.ms"] = 0
    conf["socket.timeout.ms"] = 1000
    local p = c:producer(conf)
    S.send(p, 1, { prefix = "warm" }); c:run()
    local out = {}
    p:send({ topic = "orders", partition = 0, key = "r1", value = "1" }, function(r, e) out.r1 = e and e.name or r.offset end)
    c:run_for(0)            -- r1 is on the wire
    c:lossy(p, 1)
    c:run_for(1)            -- and lost
    c:heal()
    p:send({ topic = "orders", partition = 0, key = "r2", value = "2" }, function(r, e) out.r2 = e and e.name or r.offset end)
    assert.is_true(c:run())
    c:run_for(1000)
    local keys = {}
    for _, e in ipairs(c:log("orders", 0, 1)) do keys[#keys + 1] = e.key end
    return c:audit(), out, keys
  end

  it("reorders a retried batch behind a later one without idempotence (max.in.flight > 1)", function()
    local a, out, keys = lost_first_request{}
    assert.same({ "warm1", "r2", "r1" }, keys)
    assert.equal(1, #a.reordered)
    assert.equal("r1", a.reordered[1].key)   -- in the log after r2, sent before it
    assert.equal(2, a.reordered[1].offset)
    assert.equal(2, out.r1)
  end)

  it("keeps send order with enable.idempotence (the later batch waits: OUT_OF_ORDER_SEQUENCE_NUMBER, retried)", function()
    local a, out, keys = lost_first_request{ ["enable.idempotence"] = true }
    assert.same({ "warm1", "r1", "r2" }, keys)
    assert.equal(0, #a.reordered)
    assert.equal(1, out.r1)
    assert.equal(2, out.r2)
    assert.equal(0, #a.inconsistent)
  end)
end)
