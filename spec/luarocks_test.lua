-- `luarocks test`: run by LuaRocks with the Lua it was asked for
-- (`luarocks --lua-version=5.4 test`), in the checkout.  Builds the checkout
-- with `luarocks make` into a private tree under build/ (offline: no
-- dependency is fetched), then runs the installed busted with the same Lua
-- over the offline specs (spec/core, spec/model, spec/producer), or over the
-- specs named after `--`: `luarocks test -- spec/model/acks_spec.lua`.
local version = _VERSION:match("%d+%.%d+")
local i = -1
while arg[i - 1] do i = i - 1 end
local lua = arg[i]   -- the interpreter LuaRocks ran this script with

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function run(cmd)
  io.stdout:write("$ ", cmd, "\n")
  io.stdout:flush()
  local ok, how, code = os.execute(cmd)
  if ok == true or ok == 0 then return end   -- 5.2+: true; 5.1: 0
  io.stderr:write(("luarocks test: failed (%s %s): %s\n"):format(tostring(how), tostring(code), cmd))
  os.exit(1)
end

local rockspec = "rockspec/insync-scm-1.rockspec"
if not io.open(rockspec) then
  local p = io.popen("ls rockspec/insync-*.rockspec 2>/dev/null")
  rockspec = p:read("*l")
  p:close()
  assert(rockspec, "luarocks test: no rockspec under rockspec/ (run it in the checkout)")
end

local tree = "build/luarocks-test/" .. (jit and "luajit" or version)
-- LuaJIT's headers, where Debian's luajit2 keeps them, unless LuaRocks was
-- told where they are.
local extra = ""
if jit and io.open("/usr/include/luajit-2.1/lua.h") then
  extra = " LUA_INCDIR=/usr/include/luajit-2.1"
end
run(("luarocks --lua-version=%s make %s --tree %s --deps-mode=none%s >/dev/null")
  :format(version, q(rockspec), q(tree), extra))

local specs = {}
for _, a in ipairs(arg) do specs[#specs + 1] = q(a) end
if #specs == 0 then specs = { "spec/core", "spec/model", "spec/producer" } end
local share, lib = tree .. "/share/lua/" .. version, tree .. "/lib/lua/" .. version
-- busted --lua re-runs itself through a shell without quoting: the paths go
-- through the environment.
run(("LUA_PATH=%s LUA_CPATH=%s busted --lua=%s %s"):format(
  q(share .. "/?.lua;" .. share .. "/?/init.lua;spec/?.lua;;"), q(lib .. "/?.so;;"),
  q(lua), table.concat(specs, " ")))
