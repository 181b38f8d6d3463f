-- Callbacks run inside run / run_for, exactly once; a raising callback
-- propagates with its traceback and the other reports stay queued.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

describe("callbacks", function()
  it("run exactly once per accepted send, in virtual time", function()
    local c = S.cluster{}
    local p = c:producer{}
    local out = S.send(p, 50)
    assert.equal(50, c:outstanding())
    assert.is_nil(out[1].done)             -- nothing runs before run()
    assert.is_true(c:run())
    for _, o in ipairs(out) do assert.equal(1, o.done) end
    assert.equal(0, c:outstanding())
    c:run_for(60000)
    for _, o in ipairs(out) do assert.equal(1, o.done) end
  end)

  it("propagate an error out of run with a traceback, keeping the rest queued", function()
    local c = S.cluster{}
    local p = c:producer{}
    local calls = 0
    for i = 1, 3 do
      p:send({ topic = "orders", partition = 0, value = "v" .. i }, function()
        calls = calls + 1
        if calls == 1 then error("boom in callback") end
      end)
    end
    local ok, err = pcall(c.run, c)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("boom in callback", 1, true))
    assert.truthy(tostring(err):find("traceback", 1, true))
    assert.equal(1, calls)
    assert.is_true(c:run())                -- the other two are delivered now
    assert.equal(3, calls)
  end)

  it("may send from inside a callback; run waits for those too", function()
    local c = S.cluster{}
    local p = c:producer{}
    local second
    p:send({ topic = "orders", value = "a" }, function()
      p:send({ topic = "orders", value = "b" }, function(r) second = r end)
    end)
    assert.is_true(c:run())
    assert.equal(1, second.offset)
  end)

  it("run(max_ms) returns false when sends are still waiting", function()
    local c = S.cluster{}
    local p = c:producer{}
    c:isolate(p)
    S.send(p, 1)
    assert.is_false(c:run(1000))
    assert.equal(1000, c:now())
  end)
end)

describe("lifetime", function()
  it("a producer keeps its cluster alive after the script drops the cluster", function()
    local p, got
    do
      local c = S.cluster{}
      p = c:producer{}
    end
    collectgarbage(); collectgarbage()
    p:send({ topic = "orders", value = "still here" }, function(r) got = r end)
    collectgarbage()
    assert.is_true(p:cluster():run())
    assert.equal(0, got.offset)
  end)
end)

describe("callback bookkeeping", function()
  it("hands each report to its own send's callback, whatever the mix of shared, fresh and no callbacks", function()
    local c = S.cluster{ partitions = 3 }
    local p = c:producer{ ["queue.buffering.max.messages"] = 10000 }
    local shared_f, shared_g = {}, {}
    local function f(r) shared_f[#shared_f + 1] = r.key end
    local function g(r) shared_g[#shared_g + 1] = r.key end
    local fresh = {}
    local expect_f, expect_g = {}, {}
    for i = 1, 3000 do
      local key = "k" .. i
      local m = i % 7
      if m == 0 or m == 1 or m == 2 then
        p:send({ topic = "orders", key = key, value = "v" }, f); expect_f[#expect_f + 1] = key
      elseif m == 3 then
        p:send({ topic = "orders", key = key, value = "v" }, g); expect_g[#expect_g + 1] = key
      elseif m == 4 then
        p:send({ topic = "orders", key = key, value = "v" })
      else
        p:send({ topic = "orders", key = key, value = "v" }, function(r) fresh[r.key] = (fresh[r.key] or 0) + 1 end)
      end
      if i % 1000 == 0 then c:run_for(3) end   -- some delivered while more are sent
    end
    assert.is_true(c:run())
    table.sort(shared_f); table.sort(expect_f); table.sort(shared_g); table.sort(expect_g)
    assert.same(expect_f, shared_f)
    assert.same(expect_g, shared_g)
    local n = 0
    for k, v in pairs(fresh) do
      n = n + 1
      assert.equal(1, v, k)
      local i = tonumber(k:sub(2))
      assert.truthy(i % 7 == 5 or i % 7 == 6)
    end
    assert.equal(856, n)
  end)
end)
