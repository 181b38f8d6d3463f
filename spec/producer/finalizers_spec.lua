-- A __gc finalizer runs wherever the collector happens to run: inside any
-- binding function that allocates.  One that uses the same producer
-- (closes it, sends) must not make the function use freed memory.
local insync = require "insync"
local helpers = require "helpers"
local fixture = require "producer.fixture"

describe("insync.producer when a __gc finalizer uses the producer", function()
  -- Not on Lua 5.2: there a call is no GC check point (5.3's and LuaJIT's
  -- calls are) and send mostly allocates through no Lua API function that
  -- checks the GC (5.4's send does), so on 5.2 a finalizer runs inside send
  -- only by chance (in 1 send of 20, measured) and the spec cannot make it.
  local it_not_52 = _VERSION == "Lua 5.2" and function() end or it
  it_not_52("raises in send, instead of sending on a freed handle, when a finalizer closed it", function()
    for _, warm in ipairs({ false, true }) do   -- a new topic; a known one not the last
      local p = insync.producer{ ["bootstrap.servers"] = "127.0.0.1:1", ["message.timeout.ms"] = 1000,
                                     log_level = 0 }
      local a, b = { topic = "a", value = "x" }, { topic = "b", value = "x" }
      p:send(b)
      if warm then p:send(a); p:send(b) end
      local inside, insend, pre = false, false, {} -- luacheck: no unused
      local ok, err
      helpers.eager_gc(function()
        local keep = { helpers.finalizable(function() inside = insend; p:close(0) end) } -- luacheck: no unused
        keep = nil
        pre[1] = true   -- allocates with no GC check after it: send has the first
        insend = true
        ok, err = pcall(p.send, p, a)
        insend = false
      end)
      -- send reads msg once and allocates nothing after its check: the
      -- finalizer runs before it (send raises) or after (the send was
      -- accepted, then purged by close; on Lua 5.1 to 5.3 that can be at a
      -- GC step at the end of send); never on a freed handle
      if not ok then
        assert.is_false(ok)
        assert.matches("send: attempt to use a closed producer", err)
      else
        assert.equal("insync.producer (closed)", tostring(p))
        assert.matches("send: attempt to use a closed producer", helpers.raises(p.send, p, a))
      end
    end
  end)

  it("hands out every refused send while a finalizer adds refused sends", function()
    local p = insync.producer{ ["bootstrap.servers"] = "127.0.0.1:1", ["message.max.bytes"] = 1000,
                                   log_level = 0 }
    local big = { topic = "t", value = ("x"):rep(5000) }   -- refused at once
    local names = {}
    local cb = function(_, err) names[#names + 1] = err.name end
    for _ = 1, 16 do p:send(big, cb) end   -- the refused list is full (16)
    local fired = false
    helpers.eager_gc(function()
      local keep = { helpers.finalizable(function() fired = true; p:send(big, cb) end) } -- luacheck: no unused
      keep = nil
      p:poll(0)
    end)
    p:poll(0)
    assert.is_true(fired)
    assert.equal(17, #names)
    for _, n in ipairs(names) do assert.equal("MSG_SIZE_TOO_LARGE", n) end
    p:close(0)
  end)

  it("refuses __gc called by the script from inside a callback, as it refuses close", function()
    local m = fixture.cluster(1, "t", 1, 1)
    local p = fixture.producer(m)
    local n, errs = 0, {}
    local function cb()
      n = n + 1
      if n == 1 then
        errs[1] = select(2, pcall(p.close, p))
        errs[2] = select(2, pcall(getmetatable(p).__gc, p))
      end
    end
    for _ = 1, 50 do p:send({ topic = "t", value = "v" }, cb) end
    assert.equal(0, p:flush(10000))
    assert.equal(50, n)
    assert.matches("close: cannot be called from inside", errs[1])
    assert.matches("__gc: cannot be called from inside", errs[2])
    p:close()
    m:close()
  end)
end)
