-- The declarations insync.ffi gives LuaJIT's ffi.cdef are csrc/lua/ffi.h's:
-- the text between its BEGIN and END lines, written into lua/insync/ffi.lua
-- by tools/ffi_cdef.lua (make ffi-cdef), the same types and functions,
-- with the layout the C compiler gave the structs.  A change to ffi.h
-- without make ffi-cdef fails here, not as memory read at the wrong offset.
local fast = require "insync.ffi"
local core = require "insync.core"
local gen = dofile("tools/ffi_cdef.lua")

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("*a")
  f:close()
  return s
end

-- The declarations of ffi.h, comments and blank space folded away.
local function declarations(text)
  text = text:gsub("/%*.-%*/", " "):gsub("%s+", " ")
  return (text:gsub("^ ", ""):gsub(" $", ""))
end

local header = read("csrc/lua/ffi.h")
local block = header:match("/%* BEGIN ffi%.cdef %*/\n(.-)/%* END ffi%.cdef %*/")

-- The function names declared in a declaration text.
local function functions(decl)
  local names = {}
  for name in decl:gmatch("([%w_]+) ?%(") do
    if name:match("^insync_ffi_") then names[#names + 1] = name end
  end
  return names
end

describe("insync.ffi's ffi.cdef", function()
  it("is what make ffi-cdef writes from csrc/lua/ffi.h (else run make ffi-cdef)", function()
    local text = read(gen.FILE)
    assert.are.equal(gen.update(text, gen.render(header)), text,
                     gen.FILE .. " is stale: run make ffi-cdef")
  end)

  it("is csrc/lua/ffi.h's block, declaration for declaration", function()
    assert.is_string(block, "no BEGIN/END ffi.cdef lines in csrc/lua/ffi.h")
    assert.equal(declarations(block), declarations(fast.cdef))
    -- both declare the same entry points, each once
    local names = functions(declarations(block))
    assert.is_true(#names >= 8)
    assert.same(names, functions(declarations(fast.cdef)))
  end)

  it("declares every function ffi.h declares outside the block too: none is left out", function()
    local outside = header:gsub("/%* BEGIN ffi%.cdef %*/.-/%* END ffi%.cdef %*/", "")
    assert.same({}, functions(declarations(outside)))
  end)

  it("gives the structs the layout the C compiler gave them, and finds every function in core.so", function()
    local ok, ffi = pcall(require, "ffi")
    if not ok then
      -- the PUC-Rio Luas have no FFI: the text comparison above is the check
      assert.is_nil(rawget(_G, "jit"))
      return
    end
    if not pcall(ffi.typeof, "insync_ffi_state_t") then ffi.cdef(fast.cdef) end
    local c = core.producer_ffi.layout()
    assert.equal(c.state, ffi.sizeof("insync_ffi_state_t"))
    assert.equal(c["state.n"], ffi.offsetof("insync_ffi_state_t", "n"))
    assert.equal(c.report, ffi.sizeof("insync_ffi_report_t"))
    assert.equal(c["report.key_len"], ffi.offsetof("insync_ffi_report_t", "key_len"))
    assert.equal(c["report.has_opaque"], ffi.offsetof("insync_ffi_report_t", "has_opaque"))
    local lib = ffi.load(package.searchpath("insync.core", package.cpath))
    for _, name in ipairs(functions(declarations(block))) do
      assert.is_true(pcall(function() return lib[name] end), name .. " not exported by core.so")
    end
  end)
end)
