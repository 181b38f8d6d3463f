-- close, __gc and __close: one idempotent close; nothing blocks without bound.
local fixture = require "producer.fixture"
local helpers = require "helpers"

describe("producer lifecycle", function()
  local m
  before_each(function() m = fixture.cluster(1, "orders", 1, 1) end)
  after_each(function() m:close() end)

  it("closes once; a second close is a no-op", function()
    local p = fixture.producer(m)
    local got
    p:send({ topic = "orders", value = "x" }, function(r, e) got = { r, e } end)
    assert.equal(0, p:close())
    assert.is_nil(got[2])
    assert.equal(0, got[1].offset)
    assert.equal(0, p:close())
    assert.equal("insync.producer (closed)", tostring(p))
  end)

  it("raises on use after close, naming the call", function()
    local p = fixture.producer(m)
    p:close()
    assert.matches("send: attempt to use a closed producer",
      helpers.raises(p.send, p, { topic = "orders" }))
    assert.matches("poll: attempt to use a closed producer", helpers.raises(p.poll, p))
    assert.matches("flush: attempt to use a closed producer", helpers.raises(p.flush, p))
  end)

  it("raises when self is not a producer, naming the call, whatever it is instead", function()
    local p = fixture.producer(m)
    local core = require "insync.core"
    -- a table, userdata of other kinds (a file, the mock cluster) and a
    -- light userdata that points at the producer's own memory
    local others = { {}, io.stdout, m, core.producer_ffi.state(p), 42 }
    local msg = { topic = "orders", value = "x" }
    for _, self in ipairs(others) do
      local kind = type(self)
      assert.matches("send: self: expected insync.producer, got " .. kind,
        helpers.raises(p.send, self, msg, function() end))
      assert.matches("poll: self: expected insync.producer, got " .. kind, helpers.raises(p.poll, self, 0))
      assert.matches("flush: self: expected insync.producer, got " .. kind, helpers.raises(p.flush, self, 0))
      assert.matches("counts: self: expected insync.producer, got " .. kind, helpers.raises(p.counts, self))
      assert.matches("close: self: expected insync.producer, got " .. kind, helpers.raises(p.close, self))
    end
    -- the producer itself is still whole
    local got
    assert.is_number(p:send(msg, function(r, e) got = { r, e } end))
    assert.equal(0, p:flush(10000))
    assert.is_nil(got[2])
    assert.equal("orders", got[1].topic)
    p:close()
  end)

  it("on close, purges what cannot be delivered in time, each with its callback", function()
    local p = fixture.producer(m)
    m:broker_down(1)
    local errs = {}
    for _ = 1, 3 do
      p:send({ topic = "orders", value = "x" }, function(_, e) errs[#errs + 1] = e end)
    end
    assert.equal(3, p:close(200))
    assert.equal(3, #errs)
    for _, e in ipairs(errs) do assert.matches("^_PURGE_", e.name) end
    m:broker_up(1)
  end)

  it("collects a producer with outstanding sends without calling back or blocking", function()
    m:broker_down(1)
    local called = false
    do
      local p = fixture.producer(m)
      for _ = 1, 100 do p:send({ topic = "orders", value = "x" }, function() called = true end) end
    end
    local t0 = os.time()
    collectgarbage(); collectgarbage()
    assert.is_false(called)
    assert.is_true(os.time() - t0 < 10)
    m:broker_up(1)
  end)

  if _VERSION == "Lua 5.4" then
    it("closes a to-be-closed producer at the end of its scope", function()
      local got
      local run = assert(load([[
        local fixture, m, cb = ...
        local p <close> = fixture.producer(m)
        p:send({ topic = "orders", value = "x" }, cb)
        return p
      ]]))
      local p = run(fixture, m, function(r, e) got = { r, e } end)
      assert.equal("insync.producer (closed)", tostring(p))
      assert.is_nil(got[2])
      assert.equal(0, got[1].offset)
    end)
  end
end)
