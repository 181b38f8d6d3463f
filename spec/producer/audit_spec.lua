-- p:audit() of a producer made with track = true, on librdkafka's embedded
-- mock cluster: it reads back, with insync.consumer, every partition the
-- producer wrote to and says, in the shape of the model's c:audit(), what
-- happened to each send.  A second mock cluster holding a log written by
-- hand (records copied, dropped, reordered, with the producer's own
-- insync.id headers) stands for a log that lost or gained records; the
-- audit is pointed at it with opts.consumer.
local insync = require "insync"
local helpers = require "helpers"
local fixture = require "producer.fixture"

local KINDS = { "lost", "duplicated", "unexpected", "uncommitted", "reordered", "inconsistent" }

-- The number of entries of each kind, for one assertion.
local function counts(a)
  local c = { sent = a.sent, acked = a.acked, failed = a.failed, pending = a.pending }
  for _, k in ipairs(KINDS) do c[k] = #a[k] end
  return c
end

local function clean(sent, acked, failed, pending)
  local c = { sent = sent, acked = acked, failed = failed or 0, pending = pending or 0 }
  for _, k in ipairs(KINDS) do c[k] = 0 end
  return c
end

-- Every record of topic t on cluster m, read with a consumer, in offset
-- order per partition.
local function read_back(m, topic, partitions)
  local c = insync.consumer{ ["bootstrap.servers"] = m:bootstrap_servers() }
  local list = {}
  for p = 0, partitions - 1 do list[#list + 1] = { topic = topic, partition = p } end
  c:assign(list)
  local all, deadline = {}, insync.monotonic() + 20
  repeat
    for _, r in ipairs((c:poll(100))) do all[#all + 1] = r end
  until c:at_end() or insync.monotonic() > deadline
  assert.is_true(c:at_end())
  c:close()
  return all
end

describe("p:audit() of a tracking producer", function()
  local m, p
  before_each(function()
    m = fixture.cluster(3, "t", 3, 3)
  end)
  after_each(function()
    if p then p:close() end
    p = nil
    m:close()
  end)

  it("finds every acknowledged record once, telling equal values apart", function()
    p = fixture.producer(m, { track = true })
    local ids = {}
    for i = 1, 300 do
      ids[i] = p:send({ topic = "t", key = "same", value = "same" }, function(_, err) assert.is_nil(err) end)
    end
    assert.equal(0, p:flush(10000))
    local a = assert(p:audit{ timeout_ms = 20000 })
    assert.same(clean(300, 300), counts(a))
    -- the header: this producer's instance, '-', the send's number
    local seen, instance = {}, nil
    for _, r in ipairs(read_back(m, "t", 3)) do
      assert.equal(1, #r.headers)
      assert.equal("insync.id", r.headers[1][1])
      local inst, n = r.headers[1][2]:match("^(%x+)%-(%d+)$")
      assert.equal(16, #inst)
      instance = instance or inst
      assert.equal(instance, inst)
      seen[tonumber(n)] = (seen[tonumber(n)] or 0) + 1
    end
    for i = 1, 300 do assert.equal(1, seen[ids[i]], "send " .. i) end
  end)

  it("keeps the application's headers, the insync.id header last", function()
    p = fixture.producer(m, { track = true })
    p:send{ topic = "t", partition = 1, value = "v", headers = { { "a", "1" }, { "a", "2" } } }
    assert.equal(0, p:flush(10000))
    local r = read_back(m, "t", 3)[1]
    assert.same({ "a", "1" }, r.headers[1])
    assert.same({ "a", "2" }, r.headers[2])
    assert.equal("insync.id", r.headers[3][1])
  end)

  it("counts failed and pending sends; a record refused by the broker is not in the log", function()
    p = fixture.producer(m, { track = true, retries = 0 })
    m:push_errors("Produce", { "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS" })
    local outcomes = {}
    for i = 1, 4 do
      p:send({ topic = "t", partition = 0, value = "v" .. i }, function(_, err)
        outcomes[i] = err and err.name or "ok"
      end)
      assert.equal(0, p:flush(10000))
    end
    assert.same({ "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS", "ok", "ok" }, outcomes)
    -- two more, whose reports have not been handed out yet
    p:send{ topic = "t", partition = 0, value = "v5" }
    p:send{ topic = "t", partition = 0, value = "v6" }
    local a = assert(p:audit{ timeout_ms = 20000 })
    assert.same(clean(6, 2, 2, 2), counts(a))
    assert.equal(0, p:flush(10000))
    assert.same(clean(6, 4, 2, 0), counts(assert(p:audit{ timeout_ms = 20000 })))
  end)

  it("names the records a retry without idempotence wrote twice as duplicated", function()
    -- The leader answers 3 s late; librdkafka gives up on the request after
    -- socket.timeout.ms (checked once a second) and sends the batch again:
    -- the mock had appended it already.
    m:close()
    m = fixture.cluster(1, "t", 1, 1)
    p = fixture.producer(m, { track = true, ["enable.idempotence"] = false, ["max.in.flight"] = 1,
                              ["socket.timeout.ms"] = 500, ["message.timeout.ms"] = 60000,
                              log_level = 0 })
    local reports = {}
    p:send({ topic = "t", value = "warm-up" }, function(_, err) assert.is_nil(err) end)
    assert.equal(0, p:flush(10000))
    m:broker_rtt(1, 3000)
    for i = 1, 3 do
      p:send({ topic = "t", value = "v" .. i }, function(r, err)
        assert.is_nil(err)
        reports[i] = r
      end)
    end
    local t0 = insync.monotonic()
    while insync.monotonic() - t0 < 4 do p:poll(100) end
    m:broker_rtt(1, 0)
    assert.equal(0, p:flush(60000))
    local a = assert(p:audit{ timeout_ms = 20000 })
    assert.equal(4, a.acked)
    assert.same({}, a.lost)
    assert.is_true(#a.duplicated >= 3, "no retry wrote the batch twice")
    for _, d in ipairs(a.duplicated) do
      assert.is_true(d.id >= 2 and d.id <= 4)
      assert.equal("t", d.topic)
      assert.equal(0, d.partition)
    end
    -- every copy after the first is a duplicate, and nothing was acknowledged
    -- at an offset that holds another record
    assert.same({}, a.inconsistent)
    for i = 1, 3 do assert.is_true(reports[i].offset >= 4) end
  end)

  it("names what a log lacks, repeats or reorders: lost, duplicated, reordered, unexpected, inconsistent", function()
    p = fixture.producer(m, { track = true, retries = 0 })
    local reports = {}
    for i = 1, 5 do
      p:send({ topic = "t", partition = 0, key = "k" .. i, value = "v" .. i }, function(r) reports[i] = r end)
    end
    assert.equal(0, p:flush(10000))
    m:push_errors("Produce", { "NOT_ENOUGH_REPLICAS" })
    local failed
    p:send({ topic = "t", partition = 0, key = "k6", value = "v6" }, function(_, err) failed = err end)
    assert.equal(0, p:flush(10000))
    assert.equal("NOT_ENOUGH_REPLICAS", failed.name)
    for i = 1, 5 do assert.equal(i - 1, reports[i].offset) end
    local header = read_back(m, "t", 3)[1].headers[1][2]
    local instance = header:match("^(%x+)%-")
    -- The other log: 1, 3, 2, 5, 5, 6 (4 missing).
    local other = insync.mock{ brokers = 1 }
    other:create_topic("t", 3, 1)
    local w = insync.producer{ ["bootstrap.servers"] = other:bootstrap_servers(), ["max.in.flight"] = 1 }
    for _, n in ipairs({ 1, 3, 2, 5, 5, 6 }) do
      w:send{ topic = "t", partition = 0, key = "k" .. n, value = "v" .. n,
              headers = { { "insync.id", instance .. "-" .. n } } }
      assert.equal(0, w:flush(10000))
    end
    w:close()
    local a = assert(p:audit{ timeout_ms = 3000, consumer = { ["bootstrap.servers"] = other:bootstrap_servers() } })
    other:close()
    assert.same({ sent = 6, acked = 5, failed = 1, pending = 0, lost = 1, duplicated = 1, unexpected = 1,
                  uncommitted = 0, reordered = 1, inconsistent = 2 }, counts(a))
    -- below the high watermark (6): nothing will bring it back
    assert.same({ topic = "t", partition = 0, key = "k4", offset = 3, id = 4 }, a.lost[1])
    assert.same({ topic = "t", partition = 0, key = "k5", offset = 4, id = 5 }, a.duplicated[1])
    assert.same({ topic = "t", partition = 0, key = "k2", offset = 2, id = 2 }, a.reordered[1])
    assert.same({ topic = "t", partition = 0, key = "k6", offset = 5, id = 6, error = "NOT_ENOUGH_REPLICAS" },
                a.unexpected[1])
    -- 2 and 3, acknowledged at 1 and 2 (the offsets given), found at 2 and 1
    assert.same({ 1, 2 }, { a.inconsistent[1].offset, a.inconsistent[1].id })
    assert.same({ 2, 3 }, { a.inconsistent[2].offset, a.inconsistent[2].id })
  end)

  it("calls an acknowledged record missing beyond the high watermark lost, saying so", function()
    p = fixture.producer(m, { track = true })
    for i = 1, 3 do p:send{ topic = "t", partition = 2, value = "v" .. i } end
    assert.equal(0, p:flush(10000))
    local header = read_back(m, "t", 3)[1].headers[1][2]
    -- the other log holds only the first record: its high watermark is 1
    local other = insync.mock{ brokers = 1 }
    other:create_topic("t", 3, 1)
    local w = insync.producer{ ["bootstrap.servers"] = other:bootstrap_servers() }
    w:send{ topic = "t", partition = 2, value = "v1", headers = { { "insync.id", header:gsub("%-%d+$", "-1") } } }
    assert.equal(0, w:flush(10000))
    w:close()
    local a = assert(p:audit{ timeout_ms = 2000, consumer = { ["bootstrap.servers"] = other:bootstrap_servers() } })
    other:close()
    assert.same({ sent = 3, acked = 3, failed = 0, pending = 0, lost = 2, duplicated = 0, unexpected = 0,
                  uncommitted = 0, reordered = 0, inconsistent = 0 }, counts(a))
    -- truncated away or not replicated yet: a consumer cannot tell, and
    -- the audit says where it stands
    assert.same({ 1, true }, { a.lost[1].offset, a.lost[1].above_hw })
    assert.same({ 2, true }, { a.lost[2].offset, a.lost[2].above_hw })
  end)

  it("audits a closed producer, and ignores records of other producers", function()
    local other = fixture.producer(m, { track = true })
    other:send{ topic = "t", partition = 0, value = "not mine" }
    other:send{ topic = "t", partition = 0, value = "not mine either", headers = { { "insync.id", "x-1" } } }
    assert.equal(0, other:flush(10000))
    other:close()
    p = fixture.producer(m, { track = true })
    p:send{ topic = "t", partition = 0, value = "mine" }
    p:close()
    assert.same(clean(1, 1), counts(assert(p:audit{ timeout_ms = 20000 })))
    assert.same(clean(2, 2), counts(assert(other:audit{ timeout_ms = 20000 })))
  end)

  it("returns an error object, never raising, when it cannot read the log to its end", function()
    p = fixture.producer(m, { track = true })
    p:send{ topic = "t", partition = 0, value = "v" }
    assert.equal(0, p:flush(10000))
    local a, err = p:audit{ timeout_ms = 500, consumer = { ["bootstrap.servers"] = "127.0.0.1:1", log_level = 0 } }
    assert.is_nil(a)
    assert.is_true(insync.is_error(err))
  end)

  it("keeps at most 48 bytes per tracked send, plus its key", function()
    -- nothing is delivered (no broker): only what tracking holds is measured
    p = insync.producer{ ["bootstrap.servers"] = "127.0.0.1:1", track = true, log_level = 0,
                         on_error = function() end,   -- the purge at close: 300000 failures
                         ["queue.buffering.max.messages"] = 1000000 }
    local n = 300000
    for i = 1, n do p:send{ topic = "t", key = "key-" .. (i % 10), value = "v" } end
    local c = p:counts()
    assert.equal(n, c.tracked)
    assert.is_true(c.track_bytes <= n * (48 + 5), ("%d bytes for %d sends"):format(c.track_bytes, n))
    p:close(0)
  end)

  it("raises on misuse, naming the function and the argument", function()
    local plain = fixture.producer(m)
    assert.matches("audit: the producer was made without track = true", helpers.raises(plain.audit, plain))
    plain:close()
    assert.matches("producer: track: expected boolean, got string",
      helpers.raises(insync.producer, { ["bootstrap.servers"] = m:bootstrap_servers(), track = "yes" }))
    p = fixture.producer(m, { track = true })
    assert.matches("audit: opts: expected table, got number", helpers.raises(p.audit, p, 5))
    assert.matches("audit: opts: unknown option 'timeout'", helpers.raises(p.audit, p, { timeout = 5 }))
    assert.matches("audit: timeout_ms: expected number, got string", helpers.raises(p.audit, p, { timeout_ms = "5" }))
    assert.matches("audit: opts.consumer: expected table, got string", helpers.raises(p.audit, p, { consumer = "x" }))
    assert.matches("audit: opts.consumer: property 'no.such.thing'",
      helpers.raises(p.audit, p, { consumer = { ["no.such.thing"] = 1 } }))
    local inside
    p:send({ topic = "t", value = "v" }, function() inside = helpers.raises(p.audit, p) end)
    assert.equal(0, p:flush(10000))
    assert.matches("audit: cannot be called from inside one of this producer's callbacks", inside)
  end)
end)
