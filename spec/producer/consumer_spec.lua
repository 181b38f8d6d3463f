-- insync.consumer on librdkafka's embedded mock cluster: what the producer
-- sent comes back as it was sent, from the offset asked for; misuse raises
-- naming the argument, what goes wrong on the network comes back as error
-- objects.
local insync = require "insync"
local helpers = require "helpers"
local fixture = require "producer.fixture"

-- Reads until every assigned partition is at its end (20 s at most).
local function read_all(c)
  local all, errs = {}, {}
  local deadline = insync.monotonic() + 20
  repeat
    local recs, e = c:poll(100)
    for _, r in ipairs(recs) do all[#all + 1] = r end
    for _, x in ipairs(e or {}) do errs[#errs + 1] = x end
  until c:at_end() or insync.monotonic() > deadline
  assert.is_true(c:at_end(), "the partitions were not read to their end within 20 s")
  return all, errs
end

local function sent(p, msgs)
  local reports = {}
  for i, msg in ipairs(msgs) do
    assert(p:send(msg, function(r, err) assert(not err, tostring(err)); reports[i] = r end))
  end
  assert.equal(0, p:flush(10000))
  return reports
end

describe("insync.consumer", function()
  local m, p
  before_each(function()
    m = fixture.cluster(3, "t", 2, 3)
    p = fixture.producer(m)
  end)
  after_each(function()
    p:close()
    m:close()
  end)

  local function consumer(conf)
    local c = { ["bootstrap.servers"] = m:bootstrap_servers() }
    for k, v in pairs(conf or {}) do c[k] = v end
    return insync.consumer(c)
  end

  it("reads back keys, values, headers, timestamps, partitions and offsets as sent", function()
    local reports = sent(p, {
      { topic = "t", partition = 0, key = "k1", value = "v1", timestamp = 1700000000123,
        headers = { { "h", "1" }, { "h", "2" }, { "empty" } } },
      { topic = "t", partition = 1, value = "no key" },
      { topic = "t", partition = 1, key = "only key" },
      { topic = "t", partition = 0, key = "", value = "" },
    })
    local c = consumer()
    assert.is_true(c:assign{ { topic = "t", partition = 0 }, { topic = "t", partition = 1, offset = "beginning" } })
    local recs, errs = read_all(c)
    assert.same({}, errs)
    table.sort(recs, function(a, b)
      if a.partition ~= b.partition then return a.partition < b.partition end
      return a.offset < b.offset
    end)
    assert.equal(4, #recs)
    local r = recs[1]
    assert.same({ "t", 0, reports[1].offset, "k1", "v1", 1700000000123, "create" },
                { r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, r.timestamp_type })
    assert.same({ { "h", "1" }, { "h", "2" }, { "empty" } }, r.headers)
    assert.same({ "", "" }, { recs[2].key, recs[2].value })
    assert.equal(reports[4].offset, recs[2].offset)
    assert.same({ 1, nil, "no key" }, { recs[3].partition, recs[3].key, recs[3].value })
    assert.same({ "only key", nil }, { recs[4].key, recs[4].value })
    assert.is_nil(recs[3].headers)
    assert.equal(4, c:consumed())
    c:close()
  end)

  it("starts at an offset, or at the end", function()
    local msgs = {}
    for i = 1, 5 do msgs[i] = { topic = "t", partition = 0, value = "v" .. i } end
    sent(p, msgs)
    local c = consumer()
    assert.is_true(c:assign{ { topic = "t", partition = 0, offset = 3 } })
    local recs = read_all(c)
    assert.same({ "v4", "v5" }, { recs[1].value, recs[2].value })
    assert.same({ 3, 4 }, { recs[1].offset, recs[2].offset })
    -- at the end: only what is sent afterwards
    assert.is_true(c:assign{ { topic = "t", partition = 0, offset = "end" } })
    read_all(c)
    sent(p, { { topic = "t", partition = 0, value = "later" } })
    local deadline, got = insync.monotonic() + 20, {}
    while #got == 0 and insync.monotonic() < deadline do got = c:poll(100) end
    assert.same({ "later", 5 }, { got[1].value, got[1].offset })
    -- {} clears the assignment: nothing more comes
    assert.is_true(c:assign{})
    sent(p, { { topic = "t", partition = 0, value = "unassigned" } })
    assert.same({}, (c:poll(300)))
    c:close()
  end)

  it("returns at most max records per poll", function()
    local msgs = {}
    for i = 1, 30 do msgs[i] = { topic = "t", partition = 1, value = tostring(i) } end
    sent(p, msgs)
    local c = consumer()
    c:assign{ { topic = "t", partition = 1 } }
    local values, largest = {}, 0
    local deadline = insync.monotonic() + 20
    while #values < 30 and insync.monotonic() < deadline do
      local recs = c:poll(100, 7)
      largest = math.max(largest, #recs)
      for _, r in ipairs(recs) do values[#values + 1] = tonumber(r.value) end
    end
    assert.equal(7, largest)
    for i = 1, 30 do assert.equal(i, values[i]) end
    c:close()
  end)

  it("gives the low and high watermarks and the number of partitions", function()
    sent(p, { { topic = "t", partition = 1, value = "a" }, { topic = "t", partition = 1, value = "b" } })
    local c = consumer()
    assert.same({ 0, 2 }, { c:watermarks("t", 1) })
    assert.same({ 0, 0 }, { c:watermarks("t", 0) })
    assert.equal(2, c:partitions("t"))
    c:close()
  end)

  it("passes isolation.level through to librdkafka", function()
    sent(p, { { topic = "t", partition = 0, value = "committed" } })
    local c = consumer{ ["isolation.level"] = "read_committed" }
    c:assign{ { topic = "t", partition = 0 } }
    assert.equal("committed", read_all(c)[1].value)
    c:close()
    assert.matches("isolation.level", helpers.raises(insync.consumer,
      { ["bootstrap.servers"] = m:bootstrap_servers(), ["isolation.level"] = "sometimes" }))
  end)

  it("returns what goes wrong on the network as error objects, never raising", function()
    local c = insync.consumer{ ["bootstrap.servers"] = "127.0.0.1:1", log_level = 0 }
    local low, err = c:watermarks("t", 0, 200)
    assert.is_nil(low)
    assert.is_true(insync.is_error(err))
    local n, perr = c:partitions("t", 200)
    assert.is_nil(n)
    assert.is_true(insync.is_error(perr))
    c:close()
    -- a partition the topic does not have
    local c2 = consumer()
    c2:assign{ { topic = "t", partition = 7 } }
    local errs
    local deadline = insync.monotonic() + 20
    repeat
      local _, e = c2:poll(100)
      errs = e
    until errs or insync.monotonic() > deadline
    assert.is_table(errs, "no error object for a partition the topic lacks")
    assert.is_true(insync.is_error(errs[1]))
    assert.equal("_UNKNOWN_PARTITION", errs[1].name)
    assert.matches("t %[7%]", errs[1].message)
    c2:close()
  end)

  it("raises on misuse, naming the function and the argument", function()
    local c = consumer()
    assert.matches("consumer: conf: expected table, got nil", helpers.raises(insync.consumer))
    assert.matches("consumer: property 'no.such.thing'",
      helpers.raises(insync.consumer, { ["no.such.thing"] = 1 }))
    assert.matches("consumer: property 'fetch.wait.max.ms': expected string, number or boolean, got table",
      helpers.raises(insync.consumer, { ["fetch.wait.max.ms"] = {} }))
    assert.matches("assign: partitions: expected table, got string", helpers.raises(c.assign, c, "t"))
    assert.matches("assign: partitions%[1%]%.topic: expected string, got nil",
      helpers.raises(c.assign, c, { { partition = 0 } }))
    assert.matches("assign: partitions%[1%]%.partition: expected an integer >= 0, got number",
      helpers.raises(c.assign, c, { { topic = "t", partition = -1 } }))
    assert.matches("assign: partitions%[2%]%.offset: expected \"beginning\", \"end\" or an offset >= 0, got start",
      helpers.raises(c.assign, c, { { topic = "t", partition = 0 }, { topic = "t", partition = 1, offset = "start" } }))
    assert.matches("expected a topic name", helpers.raises(c.assign, c, { { topic = "a b", partition = 0 } }))
    assert.matches("poll: timeout_ms: expected number, got string", helpers.raises(c.poll, c, "1"))
    assert.matches("poll: max: expected an integer >= 1, got number", helpers.raises(c.poll, c, 0, 0))
    assert.matches("watermarks: partition: expected an integer >= 0, got no value",
      helpers.raises(c.watermarks, c, "t"))
    assert.matches("watermarks: topic: expected string, got no value", helpers.raises(c.watermarks, c))
    assert.matches("poll: self: expected insync.consumer, got table", helpers.raises(c.poll, {}))
    c:close()
    c:close()   -- idempotent
    assert.matches("poll: attempt to use a closed consumer", helpers.raises(c.poll, c))
    assert.matches("assign: attempt to use a closed consumer", helpers.raises(c.assign, c, {}))
    assert.equal("insync.consumer (closed)", tostring(c))
  end)

  it("is closed by the garbage collector and by a to-be-closed variable", function()
    local weak = setmetatable({}, { __mode = "v" })
    weak[1] = consumer()
    weak[1]:assign{ { topic = "t", partition = 0 } }
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
    if _VERSION == "Lua 5.4" then
      local c = assert(load([[
        local c = ...
        do local x <close> = c end
        return c
      ]]))(consumer())
      assert.equal("insync.consumer (closed)", tostring(c))
    end
  end)
end)
