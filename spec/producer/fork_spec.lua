-- After fork(), the child never destroys the parent's librdkafka state.
-- fork() needs LuaJIT's FFI, so the check runs as a LuaJIT program (whichever
-- interpreter runs this spec) with the LuaJIT build (make luajit).
local helpers = require "helpers"

describe("producer after fork", function()
  it("is refused and forgotten in the child, and keeps working in the parent", function()
    local top = helpers.top
    local so = top .. "/build/luajit/insync/core.so"
    assert(io.open(so, "rb"), "needs the LuaJIT build: make luajit")
    local out, ok = helpers.sh(("cd %s && LUA_PATH='lua/?.lua;lua/?/init.lua;;' "
      .. "LUA_CPATH='build/luajit/?.so;;' luajit spec/producer/fork_check.lua"):format(top))
    assert.is_true(ok, out)
    assert.matches("fork ok", out)
  end)
end)
