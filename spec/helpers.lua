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

return helpers
