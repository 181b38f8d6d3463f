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

  it("installs offline into a fresh tree, where Lua 5.4 loads it", function()
    local tmp = helpers.tmpdir()
    -- A copy, so the build leaves nothing in the checkout.
    local _, ok = sh(("cp -r csrc lua rockspec %s/"):format(tmp))
    assert.is_true(ok)
    local out
    out, ok = sh(("cd %s && luarocks --lua-version=5.4 make %s --tree %s/tree --deps-mode=none " ..
      "CFLAGS='-O2 -fPIC -fvisibility=hidden -Wall -Wextra -Werror'"):format(tmp, rockspec, tmp))
    assert.is_true(ok, out)
    out, ok = sh(("cd / && LUA_PATH='%s/tree/share/lua/5.4/?.lua;%s/tree/share/lua/5.4/?/init.lua' " ..
      "LUA_CPATH='%s/tree/lib/lua/5.4/?.so' lua5.4 -e 'local i = require \"insync\" " ..
      "print(i._VERSION, i.errors.NOT_ENOUGH_REPLICAS, package.searchpath(\"insync.core\", package.cpath))'")
      :format(tmp, tmp, tmp))
    assert.is_true(ok, out)
    assert.matches("^0%.1%.0\t19\t" .. tmp:gsub("%p", "%%%0") .. "/tree/lib/lua/5%.4/insync/core%.so", out)
    sh("rm -rf " .. tmp)
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
