-- The model's files call each other one way: docs/design.md lists them in
-- layers, and each file may call only the files below it in that list.
-- The calls are read from the compiled objects (nm), not from the text.
local function sh(cmd)
  local f = assert(io.popen(cmd .. " 2>&1"))
  local out = f:read("*a")
  local ok, _, code = f:close()
  return out, ok == true or ok == 0 or code == 0
end

-- The files of the drawing in "The model's files, in layers", top first.
local function drawn_order()
  local f = assert(io.open("docs/design.md"))
  local text = f:read("*a")
  f:close()
  local section = text:match("## The model's files, in layers(.-)\n## ")
  assert(section, "docs/design.md has no section \"The model's files, in layers\"")
  local block = assert(section:match("```\n(.-)```"), "the section has no drawing")
  local order, rank = {}, {}
  for name in block:gmatch("\n  ([%w_]+)%.c ") do
    order[#order + 1] = name
    rank[name] = #order
  end
  return order, rank
end

-- file -> { callee file = "a symbol it calls there" }
local function calls()
  local dir = assert(sh("mktemp -d")):gsub("%s+$", "")
  local files = {}
  for path in assert(sh("ls csrc/model/*.c")):gmatch("[^\n]+") do
    local name = path:match("([%w_]+)%.c$")
    local out, ok = sh(("cc -std=gnu11 -c %s -o %s/%s.o"):format(path, dir, name))
    assert(ok, "cc " .. path .. ": " .. out)
    files[#files + 1] = name
  end
  local where = {}
  for _, name in ipairs(files) do
    for sym in sh(("nm --defined-only %s/%s.o"):format(dir, name)):gmatch(" T (insync_[%w_]+)") do
      where[sym] = name
    end
  end
  local graph = {}
  for _, name in ipairs(files) do
    graph[name] = {}
    for sym in sh(("nm -u %s/%s.o"):format(dir, name)):gmatch("U (insync_[%w_]+)") do
      local to = where[sym]
      if to and to ~= name then graph[name][to] = sym end
    end
  end
  sh("rm -rf " .. dir)
  return files, graph
end

describe("the model's files (docs/design.md, in layers)", function()
  local order, rank = drawn_order()
  local files, graph = calls()

  it("are all in the drawing, each once", function()
    local seen = {}
    for _, name in ipairs(order) do
      assert.is_nil(seen[name], name .. ".c is drawn twice")
      seen[name] = true
    end
    for _, name in ipairs(files) do
      assert.is_true(seen[name] ~= nil, "csrc/model/" .. name .. ".c is not in the drawing")
    end
    assert.are.equal(#files, #order)
  end)

  it("call only the files below them: no circle of calls", function()
    local up = {}
    for _, from in ipairs(files) do
      for to, sym in pairs(graph[from]) do
        if rank[to] and rank[from] and rank[to] <= rank[from] then
          up[#up + 1] = ("%s.c calls %s in %s.c, drawn above it"):format(from, sym, to)
        end
      end
    end
    table.sort(up)
    assert.are.same({}, up)
  end)

  it("are read from real calls (the dispatcher reaches every actor)", function()
    for _, actor in ipairs({ "broker", "controller", "partition", "producer", "topic" }) do
      assert.is_truthy(graph.dispatch[actor], "dispatch.c calls nothing in " .. actor .. ".c")
    end
  end)
end)
