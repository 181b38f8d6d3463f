-- A __gc finalizer runs wherever the collector happens to run: inside any
-- binding function that allocates.  One that uses the same cluster (sends,
-- runs, crashes a broker) must not corrupt what the function was doing.
local insync = require "insync"
local helpers = require "helpers"

describe("the model when a __gc finalizer uses the cluster", function()
  it("keeps every send whose finalizers send from inside send", function()
    local c = insync.cluster{ brokers = 1 }
    c:create_topic("a"); c:create_topic("b")
    local p = c:producer{}
    local K = 64   -- one run each: the run array (64) fills from inside send
    local total, inside, insend, delivered = 0, 0, false, 0
    local cbs = {}
    for i = 1, K do cbs[i] = function() delivered = delivered + 1 end end
    local function fin()
      total = total + 1
      if insend then inside = inside + 1 end
      p:send({ topic = "a" }, cbs[total])   -- a new callback each: a new run
    end
    local msg, cb, pre = { topic = "b" }, function() delivered = delivered + 1 end, {} -- luacheck: no unused
    helpers.eager_gc(function()
      local keep = {} -- luacheck: no unused (keeps them until keep = nil)
      for i = 1, K do keep[i] = helpers.finalizable(fin) end
      keep = nil -- luacheck: no unused
      pre[1] = true   -- allocates with no GC check after it: send has the first
      insend = true
      p:send(msg, cb)
      insend = false
    end)
    -- send reads msg once and allocates nothing after that: the
    -- finalizers run around it (inside counts those that ran in it)
    assert.equal(K, total, "the finalizers did not run: the spec tests nothing")
    assert.is_true(inside == 0 or inside == K)
    assert.is_true(c:run())
    assert.equal(K + 1, delivered)
    assert.equal(K + 1, c:audit().acked)
  end)

  it("gives c:trace() entries that are right while a finalizer adds to the trace", function()
    local c = insync.cluster{ brokers = 3, trace = true }
    c:create_topic("t", { partitions = 3, replication_factor = 3 })
    local p = c:producer{}
    for _ = 1, 50 do p:send({ topic = "t", value = "x" }) end
    c:run()
    local first = c:trace()[1]
    local calls, fin = 0, nil
    fin = function()
      calls = calls + 1
      if calls == 2 then   -- inside c:trace()'s loop
        for _ = 1, 2000 do p:send({ topic = "t", value = "x" }) end
        c:run_for(5000)
      else
        helpers.finalizable(fin)   -- garbage for the next cycle
      end
    end
    local tr
    helpers.eager_gc(function()
      local keep = { helpers.finalizable(fin) } -- luacheck: no unused
      keep = nil
      tr = c:trace()
    end)
    assert.is_true(calls >= 2, "the finalizer did not run inside c:trace()")
    assert.same(first, tr[1])
  end)

  it("ends c:log() where the log ends when a finalizer truncates it", function()
    for _, when in ipairs({ 1, 2 }) do
      -- where the collector steps differs between Luas (on 5.2 c:log() can
      -- meet no step): a few tries, each on a fresh cluster
      local c, calls, log
      for _ = 1, 10 do
        c = insync.cluster{ brokers = 1 }
        c:create_topic("t", { partitions = 1, replication_factor = 1 })
        local p = c:producer{}
        for i = 1, 5 do p:send({ topic = "t", key = "k" .. i, value = "v" .. i }) end
        c:run()
        calls = 0
        local fin
        fin = function()
          calls = calls + 1
          if calls == when then c:crash(1, { lose_unflushed = true }) else helpers.finalizable(fin) end
        end
        helpers.eager_gc(function()
          local keep = { helpers.finalizable(fin) } -- luacheck: no unused
          keep = nil
          log = c:log("t", 0, 1)
        end)
        if calls >= when then break end
      end
      assert.is_true(calls >= when, "the finalizer did not run inside c:log() in 10 tries")
      assert.equal(0, c:partition("t", 0).replicas[1].leo)
      for i, e in ipairs(log) do assert.equal("k" .. i, e.key) end   -- no stale entries
    end
  end)
end)
