-- The LuaRocks package: complete, installable offline against Debian's
-- librdkafka, and loadable from where it was installed.
local helpers = require "helpers"
local sh = helpers.sh

local rockspec = "rockspec/insync-scm-1.rockspec"

describe("the rockspec", function()
  it("lists every C source under csrc/ and every Lua module under lua/", function()
    local spec = helpers.read(rockspec)
    local out = sh("ls csrc/*/*.c lua/insync/*.lua")
    local n = 0
    for path in out:gmatch("%S+") do
      assert.truthy(spec:find('"' .. path .. '"', 1, true), path .. " is missing from " .. rockspec)
      n = n + 1
    end
    assert.is_true(n >= 3)
  end)

  -- Installs a copy of the checkout into a fresh tree with LuaRocks (offline:
  -- no dependency is fetched) and loads it from there with `lua`.
  local function install_and_load(lua_version, lua, extra)
    local tmp = helpers.tmpdir()
    local _, ok = sh(("cp -r csrc lua rockspec %s/"):format(tmp))
    assert.is_true(ok)
    local out
    out, ok = sh(("cd %s && luarocks --lua-version=%s make %s --tree %s/tree --deps-mode=none %s " ..
      "CFLAGS='-O2 -fPIC -fvisibility=hidden -Wall -Wextra -Werror'"):format(tmp, lua_version, rockspec, tmp, extra))
    assert.is_true(ok, out)
    local share, lib = ("%s/tree/share/lua/%s"):format(tmp, lua_version), ("%s/tree/lib/lua/%s"):format(tmp, lua_version)
    out, ok = sh(("cd / && LUA_PATH='%s/?.lua;%s/?/init.lua' LUA_CPATH='%s/?.so' %s -e " ..
      "'local i = require \"insync\" print(i._VERSION, i.errors.NOT_ENOUGH_REPLICAS, package.loaded[\"insync.core\"] ~= nil)'")
      :format(share, share, lib, lua))
    sh("rm -rf " .. tmp)
    return out, ok
  end

  it("installs offline into a fresh tree, where Lua 5.4 loads it", function()
    local out, ok = install_and_load("5.4", "lua5.4", "")
    assert.is_true(ok, out)
    assert.equal("0.1.0\t19\ttrue", (out:gsub("%s+$", "")))
  end)

  it("installs offline for LuaJIT (Lua 5.1 ABI), where luajit loads it", function()
    local out, ok = install_and_load("5.1", "luajit", "LUA_INCDIR=/usr/include/luajit-2.1")
    assert.is_true(ok, out)
    assert.equal("0.1.0\t19\ttrue", (out:gsub("%s+$", "")))
  end)
end)

describe("the built module", function()
  for _, dir in ipairs { "build/lua5.4", "build/luajit" } do
    it(dir .. " exports only luaopen_insync_core and does not link liblua", function()
      local so = dir .. "/insync/core.so"
      local out, ok = sh("nm -D --defined-only " .. so .. " | awk '$2 == \"T\" {print $3}'")
      assert.is_true(ok, out)
      assert.equal("luaopen_insync_core", (out:gsub("%s+$", "")))
      out = sh("ldd " .. so)
      assert.matches("librdkafka", out)
      assert.is_nil(out:match("liblua"), out)
    end)
  end
end)
