-- Debian's nginx with its Lua module loads insync (built for LuaJIT) in each
-- worker and answers with its version: the ground every OpenResty spec
-- stands on.
local nginx = require "openresty.nginx"

describe("insync inside Debian's nginx (lua-nginx-module, LuaJIT)", function()
  local srv

  setup(function()
    assert(nginx.available())
    srv = nginx.start{
      name = "smoke",
      workers = 2,
      http = [[
  init_worker_by_lua_block {
    insync = require "insync"
    ngx.log(ngx.NOTICE, "insync ", insync._VERSION, " loaded in worker ", ngx.worker.pid())
  }
]],
      server = [[
    location = /version {
      content_by_lua_block {
        ngx.say(insync._VERSION, " ", insync.librdkafka_version, " ", jit and jit.version or _VERSION)
      }
    }
]],
    }
  end)

  teardown(function()
    if srv then srv:stop() end
  end)

  it("answers with insync._VERSION and librdkafka's version from a worker", function()
    local lua_insync = require "insync"
    local status, body = srv:get("/version")
    assert.are.equal(200, status)
    local version, rdkafka, vm = body:match("^(%S+) (%S+) (.-)\n$")
    assert.are.equal(lua_insync._VERSION, version)
    assert.are.equal(lua_insync.librdkafka_version, rdkafka)
    assert.truthy(vm:find("^LuaJIT 2%.1"), vm)
  end)

  it("runs two workers, and each loaded insync in init_worker", function()
    local workers = srv:workers()
    table.sort(workers)
    local loaded
    local deadline = nginx.now() + 10
    repeat
      loaded = {}
      for _, line in ipairs(srv:log_lines("loaded in worker")) do
        loaded[#loaded + 1] = tonumber(line:match("loaded in worker (%d+)"))
      end
      if #loaded < 2 then nginx.sleep(0.05) end
    until #loaded >= 2 or nginx.now() > deadline
    table.sort(loaded)
    assert.are.equal(2, #workers)
    assert.are.same(workers, loaded)
  end)

  it("stops gracefully and leaves no [error], [crit], [alert] or [emerg] in error.log", function()
    assert.is_true(srv:stop())
    assert.are.same({}, srv:problems())
    assert.are.equal(0, #srv:log_lines("%[warn%]"))
  end)
end)
