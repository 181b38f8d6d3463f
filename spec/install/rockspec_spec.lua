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
  local function install_and_load(lua_version, lua, extra, after)
    local tmp = helpers.tmpdir()
    local _, ok = sh(("cp -r csrc lua rockspec bin %s/"):format(tmp))
    assert.is_true(ok)
    local out
    out, ok = sh(("cd %s && luarocks --lua-version=%s make %s --tree %s/tree --deps-mode=none %s " ..
      "CFLAGS='-O2 -fPIC -fvisibility=hidden -Wall -Wextra -Werror'"):format(tmp, lua_version, rockspec, tmp, extra))
    assert.is_true(ok, out)
    local share, lib = ("%s/tree/share/lua/%s"):format(tmp, lua_version), ("%s/tree/lib/lua/%s"):format(tmp, lua_version)
    out, ok = sh(("cd / && LUA_PATH='%s/?.lua;%s/?/init.lua' LUA_CPATH='%s/?.so' %s -e " ..
      "'local i = require \"insync\" print(i._VERSION, i.errors.NOT_ENOUGH_REPLICAS, package.loaded[\"insync.core\"] ~= nil)'")
      :format(share, share, lib, lua))
    if after then after(tmp) end
    sh("rm -rf " .. tmp)
    return out, ok
  end

  it("installs offline into a fresh tree, where Lua 5.4 loads it and the insync command runs", function()
    local checked, help, golden, mistake
    local out, ok = install_and_load("5.4", "lua5.4", "", function(tmp)
      local bin = tmp .. "/tree/bin/insync"
      checked = helpers.read(bin) ~= nil
      -- as `eval $(luarocks path --tree TREE)` sets them: the tree's modules only
      bin = ("env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 LUA_PATH='%s/tree/share/lua/5.4/?.lua;" ..
        "%s/tree/share/lua/5.4/?/init.lua' LUA_CPATH='%s/tree/lib/lua/5.4/?.so' %s")
        :format(tmp, tmp, tmp, bin)
      help = { sh("cd / && " .. bin .. " check --help") }
      local ex = helpers.top
      golden = { sh(("cd / && %s check %s/examples/check/golden/producer.properties " ..
        "%s/examples/check/golden/topic.properties"):format(bin, ex, ex)) }
      mistake = { sh(("cd / && %s check %s/examples/check/mistake2-min-isr-equals-rf/producer.properties " ..
        "%s/examples/check/mistake2-min-isr-equals-rf/topic.properties"):format(bin, ex, ex)) }
    end)
    assert.is_true(ok, out)
    assert.equal("0.1.0\t19\ttrue", (out:gsub("%s+$", "")))
    assert.is_true(checked)
    assert.is_true(help[2], help[1])
    assert.matches("usage: insync check FILE", help[1])
    assert.is_true(golden[2], golden[1])
    assert.matches("INFO golden%-rule", golden[1])
    assert.is_false(mistake[2], mistake[1])
    assert.matches("ERROR min%-isr%-equals%-rf", mistake[1])
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
