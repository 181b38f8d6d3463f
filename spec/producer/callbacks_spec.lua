-- Callbacks run only inside poll, flush and close; one that raises
-- propagates with its traceback and the rest stay queued.
local fixture = require "producer.fixture"

describe("producer callbacks", function()
  local m
  before_each(function() m = fixture.cluster(1, "orders", 1, 1) end)
  after_each(function() m:close() end)

  it("run only inside poll/flush, never inside send", function()
    local p = fixture.producer(m, { ["linger.ms"] = 0 })
    local ran = 0
    for _ = 1, 10 do p:send({ topic = "orders", value = "x" }, function() ran = ran + 1 end) end
    -- librdkafka has long delivered them; nothing runs until we poll
    local t = os.clock() + 0.5
    repeat until os.clock() > t
    assert.equal(0, ran)
    assert.equal(0, p:flush(10000))
    assert.equal(10, ran)
    p:close()
  end)

  it("propagate a raising callback out of poll with its traceback, keeping the rest queued", function()
    local p = fixture.producer(m)
    local order = {}
    local function marker_raise() error("boom from callback") end
    for i = 1, 5 do
      p:send({ topic = "orders", value = tostring(i), opaque = i }, function(report)
        order[#order + 1] = report.opaque
        if report.opaque == 2 then marker_raise() end
      end)
    end
    -- wait until all five reports are in librdkafka's queue, then hand out
    local ok, err
    local deadline = os.time() + 10
    repeat ok, err = pcall(p.poll, p, 100) until not ok or os.time() > deadline
    assert.is_false(ok)
    assert.matches("boom from callback", err)
    assert.matches("stack traceback", err)
    assert.matches("marker_raise", err)
    assert.same({ 1, 2 }, order)
    assert.equal(3, p:outstanding())
    assert.equal(0, p:flush(10000))
    assert.same({ 1, 2, 3, 4, 5 }, order)
    p:close()
  end)

  it("pass a non-string error object through unchanged", function()
    local p = fixture.producer(m)
    local obj = { reason = "custom" }
    p:send({ topic = "orders", value = "x" }, function() error(obj) end)
    local ok, err = pcall(p.flush, p, 10000)
    assert.is_false(ok)
    assert.equal(obj, err)
    assert.equal(0, p:flush(1000))
    p:close()
  end)

  it("refuse poll, flush and close from inside a callback, but allow send", function()
    local p = fixture.producer(m)
    local inner = {}
    local second
    p:send({ topic = "orders", value = "x" }, function()
      inner.poll = select(2, pcall(p.poll, p, 0))
      inner.close = select(2, pcall(p.close, p))
      second = p:send({ topic = "orders", value = "y" }, function(r, e) inner.second = { r, e } end)
    end)
    assert.equal(0, p:flush(10000))
    assert.matches("poll: cannot be called from inside", inner.poll)
    assert.matches("close: cannot be called from inside", inner.close)
    assert.equal(2, second)
    assert.is_nil(inner.second[2])
    assert.equal(1, inner.second[1].offset)
    p:close()
  end)

  it("deliver logs to on_log and decoded statistics to on_stats", function()
    local logs, stats = {}, nil
    local p = fixture.producer(m, {
      debug = "msg",
      ["statistics.interval.ms"] = 100,
      on_log = function(level, facility, message)
        logs[#logs + 1] = { level = level, facility = facility, message = message }
      end,
      on_stats = function(t, json) stats = { t = t, json = json } end,
    })
    p:send({ topic = "orders", value = "x" }, function() end)
    assert.equal(0, p:flush(10000))
    local deadline = os.time() + 10
    while not stats and os.time() < deadline do p:poll(100) end
    assert.is_truthy(stats, "no statistics")
    assert.equal(p:name(), stats.t.name)
    assert.equal("producer", stats.t.type)
    assert.equal("string", type(stats.json))
    assert.is_true(#logs > 0)
    assert.equal("number", type(logs[1].level))
    assert.equal("string", type(logs[1].facility))
    p:close()
  end)

  it("deliver client errors to on_error", function()
    local errs = {}
    m:broker_down(1)
    local p = fixture.producer(m, { on_error = function(e) errs[#errs + 1] = e end })
    local deadline = os.time() + 10
    while #errs == 0 and os.time() < deadline do p:poll(100) end
    assert.is_true(#errs > 0)
    local names = {}
    for _, e in ipairs(errs) do names[e.name] = true; assert.is_false(e.fatal) end
    assert.is_truthy(names._TRANSPORT or names._ALL_BROKERS_DOWN)
    m:broker_up(1)
    p:close()
  end)
end)
