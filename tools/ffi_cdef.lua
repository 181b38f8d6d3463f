-- Writes the declarations LuaJIT's FFI needs (M.cdef of lua/insync/ffi.lua)
-- from csrc/lua/ffi.h: the text between ffi.h's lines
--   /* BEGIN ffi.cdef */  and  /* END ffi.cdef */
-- goes, as it is, between ffi.lua's lines
--   -- BEGIN ffi_cdef ...  and  -- END ffi_cdef
--
--   make ffi-cdef                        rewrite lua/insync/ffi.lua
--   lua5.4 tools/ffi_cdef.lua --check    exit 1 when it is stale
--
-- Runs on any Lua, needs no build.  spec/core/ffi_cdef_spec.lua fails when
-- ffi.lua is not what this writes.  Also loaded by that spec: dofile
-- returns { render, update, HEADER, FILE }.

local M = {}

M.HEADER = "csrc/lua/ffi.h"
M.FILE = "lua/insync/ffi.lua"

local BEGIN_H, END_H = "/* BEGIN ffi.cdef */\n", "/* END ffi.cdef */"
local BEGIN_L = "-- BEGIN ffi_cdef: written by `make ffi-cdef` from csrc/lua/ffi.h; do not edit\n"
local END_L = "-- END ffi_cdef"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

--- The Lua text that goes between ffi.lua's markers, from ffi.h's text.
function M.render(header)
  local _, b = header:find(BEGIN_H, 1, true)
  local e = b and header:find(END_H, b + 1, true)
  assert(e, M.HEADER .. ": no lines " .. BEGIN_H:sub(1, -2) .. " ... " .. END_H)
  local block = header:sub(b + 1, e - 1)
  assert(block ~= "", M.HEADER .. ": no lines " .. BEGIN_H:sub(1, -2) .. " ... " .. END_H)
  assert(not block:find("]]", 1, true), M.HEADER .. ": the block holds ]]")
  return "M.cdef = [[\n" .. block .. "]]\n"
end

--- ffi.lua's text with the lines between its markers replaced by @p body.
function M.update(text, body)
  local _, e = text:find(BEGIN_L, 1, true)
  local s = e and text:find(END_L, e + 1, true)
  assert(s, M.FILE .. ": no lines " .. BEGIN_L:sub(1, -2) .. " ... " .. END_L)
  return text:sub(1, e) .. body .. text:sub(s)
end

local function main(check)
  local old = read(M.FILE)
  local new = M.update(old, M.render(read(M.HEADER)))
  if new == old then return end
  if check then
    io.stderr:write("ffi_cdef: " .. M.FILE .. " is stale (run make ffi-cdef)\n")
    os.exit(1)
  end
  local f = assert(io.open(M.FILE, "wb"))
  f:write(new)
  f:close()
  print("ffi_cdef: wrote " .. M.FILE)
end

if arg and arg[0] and arg[0]:match("ffi_cdef%.lua$") then
  main(arg[1] == "--check")
end

return M
