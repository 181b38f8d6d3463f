-- The LuaRocks package, tried as a new user would: the README's install
-- commands exactly as written, on a copy of the checkout, offline, then the
-- module loaded from where each one put it, on every supported Lua; `make
-- install`, `make rock`, `luarocks pack` and `luarocks test` the same way.
--
-- Offline: as root the commands run in a network namespace of their own
-- with only loopback up (unshare -n), so nothing can be downloaded; and the
-- LuaRocks configuration given to them lists no rock server.  Their "system
-- tree" is a directory under the copy (LUAROCKS_CONFIG), so the spec
-- installs nothing into the machine.
local helpers = require "helpers"
local insync = require "insync"
local sh = helpers.sh

local rockspecs = { "rockspec/insync-scm-1.rockspec", "rockspec/insync-0.2.0-1.rockspec" }

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

describe("the rockspecs", function()
  for _, rockspec in ipairs(rockspecs) do
    it(rockspec .. " lists every C source under csrc/ and every Lua module under lua/", function()
      local spec = helpers.read(rockspec)
      local out = sh("ls csrc/*/*.c lua/insync/*.lua")
      local n = 0
      for path in out:gmatch("%S+") do
        assert.truthy(spec:find('"' .. path .. '"', 1, true), path .. " is missing from " .. rockspec)
        n = n + 1
      end
      assert.is_true(n >= 3)
    end)
  end

  -- spec/install runs on Lua 5.4 (make test-install): load takes an env.
  local function read_rockspec(path)
    local env = {}
    assert(load(helpers.read(path), path, "t", env))()
    return env
  end

  it("are valid, need no rock but Lua, and the versioned one is the module's version at its git tag", function()
    for _, rockspec in ipairs(rockspecs) do
      local out, ok = sh("luarocks lint " .. rockspec)
      assert.is_true(ok, out)
      local r = read_rockspec(rockspec)
      assert.same({ "lua >= 5.1, < 5.5" }, r.dependencies)
      assert.equal("MIT", r.description.license)
    end
    assert.matches("MIT License", helpers.read("LICENSE"))
    local r = read_rockspec(rockspecs[2])
    assert.equal(insync._VERSION .. "-1", r.version)
    assert.equal("v" .. insync._VERSION, r.source.tag)
    assert.matches("^git%+https://", r.source.url)
  end)
end)

describe("installing as the README says, offline", function()
  local tmp, src, offline

  -- Runs cmd in the copy, offline, with the sandbox's LuaRocks configuration.
  local function run(cmd)
    return sh(("cd %s && HOME=%s/home LUAROCKS_CONFIG=%s/luarocks-config.lua %s sh -c %s 2>&1")
      :format(q(src), q(tmp), q(tmp), offline, q(cmd)))
  end

  -- Loads insync from tree (its share/ and lib/ for Lua version v) with the
  -- interpreter lua, and runs one send on the model: what it prints.
  local function load_from(tree, v, lua)
    local share, lib = ("%s/share/lua/%s"):format(tree, v), ("%s/lib/lua/%s"):format(tree, v)
    local script = [[
      local i = require "insync"
      local c = i.cluster{ brokers = 3 }
      c:create_topic("t", { replication_factor = 3 })
      local got
      c:producer{ acks = "all" }:send({ topic = "t", value = "v" }, function(r, err) got = { r.offset, err } end)
      c:run()
      print(i._VERSION, i.errors.NOT_ENOUGH_REPLICAS, got[1], got[2])]]
    return sh(("cd / && LUA_PATH=%s LUA_CPATH=%s %s -e %s 2>&1"):format(
      q(share .. "/?.lua;" .. share .. "/?/init.lua"), q(lib .. "/?.so"), lua, q(script)))
  end

  local function expect_loads(tree, v, lua)
    local out, ok = load_from(tree, v, lua)
    assert.is_true(ok, lua .. ": " .. out)
    assert.equal(insync._VERSION .. "\t19\t0\tnil", (out:gsub("%s+$", "")), lua)
  end

  setup(function()
    tmp = helpers.tmpdir()
    src = tmp .. "/insync"
    -- The checkout as git would give it (tracked and new files, not what
    -- .gitignore leaves out, so no build output), in a repository of its own.
    local out, ok = sh(("mkdir -p %s %s/home && git ls-files -co --exclude-standard -z | " ..
      "tar --null -T - -cf - | tar -xf - -C %s && cd %s && git init -q && git add -A && " ..
      "git -c user.name=spec -c user.email=spec@localhost commit -qm copy"):format(q(src), q(tmp), q(src), q(src)))
    assert(ok, out)
    local f = assert(io.open(tmp .. "/luarocks-config.lua", "w"))
    f:write(("rocks_trees = { { name = 'user', root = %q }, { name = 'system', root = %q } }\n")
      :format(tmp .. "/home/.luarocks", tmp .. "/system"))
    f:write("rocks_servers = {}\n")
    f:close()
    local _, netns = sh("unshare -n true")
    offline = netns and "unshare -n sh -c 'ip link set lo up 2>/dev/null; exec \"$@\"' sh" or ""
  end)

  teardown(function()
    if tmp then sh("rm -rf " .. q(tmp)) end
  end)

  -- The sh block of the README's "Installing" section, one command per
  -- line once the backslash continuations are joined, comments dropped.
  local function readme_commands()
    local readme = helpers.read("README.md")
    local section = assert(readme:match("\n## Installing\n(.-)\n## "), "README has no Installing section")
    local block = assert(section:match("```sh\n(.-)```"), "README's Installing section has no sh block")
    local cmds = {}
    for line in block:gsub("\\\n", " "):gmatch("[^\n]+") do
      line = line:gsub("%s+#.*$", "")
      if line:match("%S") then cmds[#cmds + 1] = line end
    end
    return cmds
  end

  it("follows every command of the README's Installing section, and each Lua loads what it installed", function()
    local cmds = readme_commands()
    assert.equal(3, #cmds, table.concat(cmds, "\n"))
    for _, cmd in ipairs(cmds) do
      local out, ok = run(cmd)
      assert.is_true(ok, cmd .. "\n" .. out)
      local v = assert(cmd:match("%-%-lua%-version=(%d%.%d)"), cmd)
      local tree = cmd:match("%-%-tree (%S+)")
      tree = tree and (src .. "/" .. tree) or (tmp .. "/system")
      expect_loads(tree, v, v == "5.1" and "luajit" or "lua" .. v)
    end
  end)

  it("installs for Lua 5.1, 5.2 and 5.3 too, as the README says any --lua-version from 5.1 to 5.4 works", function()
    for _, v in ipairs { "5.1", "5.2", "5.3" } do
      local cmd = ("luarocks --lua-version=%s make rockspec/insync-scm-1.rockspec --tree puc%s"):format(v, v)
      local out, ok = run(cmd)
      assert.is_true(ok, cmd .. "\n" .. out)
      expect_loads(src .. "/puc" .. v, v, "lua" .. v)
    end
  end)

  it("make install installs into LuaRocks' system tree, with the insync command", function()
    local out, ok = run("make install")
    assert.is_true(ok, out)
    expect_loads(tmp .. "/system", "5.4", "lua5.4")
    -- the command as `eval $(luarocks path)` would find it: the tree's modules only
    local tree = tmp .. "/system"
    local bin = ("env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 LUA_PATH=%s LUA_CPATH=%s %s"):format(
      q(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua"),
      q(tree .. "/lib/lua/5.4/?.so"), q(tree .. "/bin/insync"))
    out, ok = sh("cd / && " .. bin .. " check --help")
    assert.is_true(ok, out)
    assert.matches("usage: insync check FILE", out)
    local ex = helpers.top .. "/examples/check/"
    out, ok = sh(("cd / && %s check %sgolden/producer.properties %sgolden/topic.properties"):format(bin, ex, ex))
    assert.is_true(ok, out)
    assert.matches("INFO golden%-rule", out)
    out, ok = sh(("cd / && %s check %smistake2-min-isr-equals-rf/producer.properties " ..
      "%smistake2-min-isr-equals-rf/topic.properties"):format(bin, ex, ex))
    assert.is_false(ok, out)
    assert.matches("ERROR min%-isr%-equals%-rf", out)
  end)

  it("make rock packs a source rock offline, which installs, and luarocks pack makes a binary rock of it", function()
    local out, ok = run("make rock")
    assert.is_true(ok, out)
    out, ok = run("luarocks --lua-version=5.4 install build/rock/insync-scm-1.src.rock --tree fromrock")
    assert.is_true(ok, out)
    expect_loads(src .. "/fromrock", "5.4", "lua5.4")
    out, ok = run("cd build/rock && luarocks --lua-version=5.4 pack insync --tree ../../fromrock && ls *.rock")
    assert.is_true(ok, out)
    assert.matches("insync%-scm%-1%.linux%-[%w_]+%.rock", out)
  end)

  it("luarocks test builds the checkout and runs busted specs with it", function()
    local out, ok = run("luarocks --lua-version=5.4 test rockspec/insync-scm-1.rockspec -- spec/core")
    assert.is_true(ok, out)
    local passed, failed = out:match("(%d+) successes? / (%d+) failures?")
    assert.is_truthy(passed, out)
    assert.is_true(tonumber(passed) > 10, out)
    assert.equal("0", failed)
  end)
end)

describe("the built module", function()
  for _, dir in ipairs { "build/lua5.4", "build/luajit", "build/lua5.1", "build/lua5.2", "build/lua5.3" } do
    it(dir .. " exports only luaopen_insync_core and the FFI functions of csrc/lua/ffi.h, and does not link liblua",
      function()
      local so = dir .. "/insync/core.so"
      local out, ok = sh("nm -D --defined-only " .. so .. " | awk '$2 == \"T\" {print $3}'")
      assert.is_true(ok, out)
      local want = { "luaopen_insync_core" }
      local header = assert(io.open("csrc/lua/ffi.h")):read("*a")
      local seen = {}
      for name in header:gmatch("[%s%*](insync_ffi_[%w_]+)%(") do
        if not seen[name] then seen[name] = true; want[#want + 1] = name end
      end
      table.sort(want)
      assert.is_true(#want > 1)
      local got = {}
      for name in out:gmatch("%S+") do got[#got + 1] = name end
      table.sort(got)
      assert.same(want, got)
      out = sh("ldd " .. so)
      assert.matches("librdkafka", out)
      assert.is_nil(out:match("liblua"), out)
    end)
  end
end)
