--- Small helpers shared by the specs.
local helpers = {}

--- The checkout's top folder (specs run from it).
helpers.top = os.getenv("PWD") or "."

--- Runs a shell command; returns its output and whether it succeeded.
function helpers.sh(cmd)
  local f = assert(io.popen(cmd .. " 2>&1; echo \"::rc=$?\""))
  local out = f:read("*a")
  f:close()
  local rc = tonumber(out:match("::rc=(%d+)%s*$"))
  return out:gsub("::rc=%d+%s*$", ""), rc == 0
end

--- A fresh temporary folder.
function helpers.tmpdir()
  local out = helpers.sh("mktemp -d")
  return (out:gsub("%s+$", ""))
end

--- Reads a whole file.
function helpers.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

--- The message of the error raised by fn(...), or nil when it did not raise.
function helpers.raises(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then return nil end
  return tostring(err)
end

--- Runs a Lua script of the checkout in a child process of the interpreter
-- running the specs, with the same paths; returns its output (stdout and
-- stderr) and whether it succeeded.  With `seconds`, a watchdog
-- (timeout(1)) kills it after that long: a hang fails, it does not block.
function helpers.run_lua(script, seconds)
  local exe = helpers.sh("readlink /proc/$PPID/exe"):gsub("%s+$", "")
  return helpers.sh(("cd %s && LUA_PATH=%q LUA_CPATH=%q %s%s %s")
    :format(helpers.top, package.path, package.cpath,
            seconds and ("timeout -s KILL %d "):format(seconds) or "", exe, script))
end

--- Runs Lua source in a child process (as helpers.run_lua): for what may
-- crash the interpreter, which must not take the spec runner with it.
-- `seconds`: a watchdog, as in helpers.run_lua.
function helpers.run_lua_code(code, seconds)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local out, ok = helpers.run_lua(path, seconds)
  os.remove(path)
  return out, ok
end

--- Runs a check script (spec/*/undelivered_check.lua) in a child process,
-- asserts that it ran to its end (its last line prints "check done"), and
-- returns the lines it wrote that start with "insync:", then its whole output.
function helpers.insync_lines(script)
  local out, ok = helpers.run_lua(script)
  assert(ok, out)
  assert(out:match("check done"), out)
  local found = {}
  for line in out:gmatch("[^\n]+") do
    if line:match("^insync:") then found[#found + 1] = line end
  end
  return found, out
end

--- An object whose finalizer (`__gc`) calls fin: a table on Lua 5.4, a
-- newproxy userdata on LuaJIT (whose tables take no __gc).
function helpers.finalizable(fin)
  if newproxy then
    local u = newproxy(true)
    getmetatable(u).__gc = fin
    return u
  end
  return setmetatable({}, { __gc = fin })
end

--- Runs fn while every allocation's GC check runs a whole collection, so
-- that finalizers run inside whatever C function allocates next; the
-- collector's defaults come back afterwards, even when fn raises.
function helpers.eager_gc(fn)
  if jit then jit.off() end   -- compiled code checks the GC elsewhere
  if _VERSION == "Lua 5.4" then
    collectgarbage("incremental", 1, 1000, 40)
  elseif jit or _VERSION == "Lua 5.1" then
    collectgarbage("setpause", 0); collectgarbage("setstepmul", 0)   -- 0: no step limit
  else
    -- 5.2 and 5.3 take a step multiplier under 40 as 40: a large one instead
    collectgarbage("setpause", 0); collectgarbage("setstepmul", 1000000)
  end
  collectgarbage()
  local ok, err = pcall(fn)
  if _VERSION == "Lua 5.4" then
    collectgarbage("incremental", 200, 100, 13)
  else
    collectgarbage("setpause", 200); collectgarbage("setstepmul", 200)
  end
  if jit then jit.on() end
  collectgarbage()
  assert(ok, err)
end

--- Every record of `topic` from the beginning to the end of each partition,
-- read with insync.consumer (librdkafka in insync's core) from the cluster at
-- `bootstrap`, sorted by partition and offset: a list of { partition =,
-- offset =, key =, value =, timestamp =, headers = { name = value },
-- header_list = { {name, value}, ... } }.  Raises when the end of every
-- partition is not reached within `seconds` (60).
function helpers.read_topic(bootstrap, topic, seconds)
  local insync = require "insync"
  local c = insync.consumer{ ["bootstrap.servers"] = bootstrap, ["fetch.wait.max.ms"] = 50 }
  local n = assert(c:partitions(topic, 10000))
  local list = {}
  for p = 0, n - 1 do list[#list + 1] = { topic = topic, partition = p } end
  assert(c:assign(list))
  local records = {}
  local deadline = insync.monotonic() + (seconds or 60)
  repeat
    for _, m in ipairs((c:poll(100))) do
      local headers
      if m.headers then
        headers = {}
        for _, h in ipairs(m.headers) do headers[h[1]] = h[2] end
      end
      records[#records + 1] = {
        partition = m.partition, offset = m.offset, key = m.key, value = m.value,
        timestamp = m.timestamp, headers = headers, header_list = m.headers,
      }
    end
  until c:at_end() or insync.monotonic() > deadline
  local done = c:at_end()
  c:close()
  assert(done, topic .. ": not read to the end of every partition in time")
  table.sort(records, function(a, b)
    if a.partition ~= b.partition then return a.partition < b.partition end
    return a.offset < b.offset
  end)
  return records
end

--- Runs bin/insync with args on the interpreter running the specs, with
-- this process's module paths: its stdout, its stderr and its exit status.
function helpers.insync_command(args)
  local exe = helpers.sh("readlink /proc/$PPID/exe"):gsub("%s+$", "")
  local dir = helpers.tmpdir()
  local cmd = ("cd %s && LUA_PATH=%q LUA_CPATH=%q %s bin/insync %s >%s/out 2>%s/err; echo $?")
    :format(helpers.top, package.path, package.cpath, exe, args, dir, dir)
  local rc = tonumber((helpers.sh(cmd)))
  local out, err = helpers.read(dir .. "/out"), helpers.read(dir .. "/err")
  helpers.sh("rm -rf " .. dir)
  return out, err, rc
end

return helpers
