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
