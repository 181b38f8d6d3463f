-- lua-cjson is optional: only decoding the producer's statistics needs it.
local helpers = require "helpers"

describe("insync without lua-cjson", function()
  it("sends on both engines, and a producer given on_stats raises naming lua-cjson", function()
    local exe = helpers.sh("readlink /proc/$PPID/exe"):gsub("%s+$", "")
    local cdir = assert(os.getenv("INSYNC_CPATH"), "run through spec/run, which sets INSYNC_CPATH")
    local out, ok = helpers.sh(("cd %s && LUA_PATH=%q LUA_CPATH=%q %s spec/producer/without_cjson.lua")
      :format(helpers.top, package.path, cdir .. "/?.so", exe))
    assert.is_true(ok, out)
    assert.matches("check done", out)
    assert.matches("on_stats:\tfalse\t[^\n]*producer: on_stats: decoding the statistics needs lua%-cjson, " ..
      "which is not installed %(module 'cjson' not found", out)
    assert.matches("delivered:\t0\tnil", out)
    assert.matches("model:\t0", out)
  end)
end)
