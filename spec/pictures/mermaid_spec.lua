-- Mermaid's own parser reads every diagram insync draws: the examples',
-- those of 1,000 random scenarios of the invariant specs, with varied
-- options, and insync.explore's shrunk counterexamples; mermaid-cli renders a few in Debian's chromium.  Needs
-- `make mermaid` (build/mermaid: npm ci of tools/mermaid); `make test` and
-- `make test-pictures` run it.
local R = require "model.random_scenario"

local MERMAID = "build/mermaid"
local LUA = os.getenv("INSYNC_LUA") or "lua5.4"

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("rc=(%d+)%s*$")), (out:gsub("rc=%d+%s*$", ""))
end

local function fresh_dir(name)
  local dir = "build/pictures-spec/" .. name
  assert(sh(("rm -rf '%s' && mkdir -p '%s'"):format(dir, dir)) == 0)
  return dir
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Mermaid's parser on these files, all in one node process: the files it
-- read without error, and its complaints.
local function parse(files)
  local _, out = sh("node " .. MERMAID .. "/parse.mjs " .. table.concat(files, " "))
  local ok, bad = {}, {}
  for line in out:gmatch("[^\n]+") do
    local f = line:match("^ok (.*)$")
    if f then ok[#ok + 1] = f else bad[#bad + 1] = line end
  end
  return ok, bad
end

describe("Mermaid's parser", function()
  it("rejects a broken diagram (the check can fail)", function()
    local dir = fresh_dir("broken")
    write(dir .. "/broken.mmd", "sequenceDiagram\n    participant B1 as Broker 1\n    B1->>: no target\n")
    local ok, bad = parse{ dir .. "/broken.mmd" }
    assert.same({}, ok)
    assert.equal(1, #bad)
    assert.truthy(bad[1]:find("^error "), bad[1])
  end)

  it("reads the diagram of every example that replays the seed's claims", function()
    local dir = fresh_dir("examples")
    local _, list = sh("ls examples/0*.lua examples/1*.lua")
    local files, n = {}, 0
    for script in list:gmatch("[^\n]+") do
      n = n + 1
      local rc, out = sh(("INSYNC_PICTURES='%s' %s %s"):format(dir, LUA, script))
      assert.equal(0, rc, script .. ": " .. out)
      for name in out:gmatch("pictures: [^\n]*/([%w_]+)%.mmd and %.svg") do
        files[#files + 1] = dir .. "/" .. name .. ".mmd"
        local svg = assert(io.open(dir .. "/" .. name .. ".svg")):read("*a")
        assert.truthy(svg:find("</svg>\n$"), name)
      end
    end
    assert.is_true(n >= 10)
    assert.is_true(#files >= n)
    local ok, bad = parse(files)
    assert.same({}, bad)
    assert.equal(#files, #ok)
  end)

  it("reads the diagrams of 1,000 random scenarios, drawn with varied options", function()
    local dir = fresh_dir("random")
    local files, lost_marks = {}, 0
    for seed = 1, 1000 do
      local rnd = R.lcg(seed)
      local r = R.scenario(seed, { steps = 60, trace = true, power_loss = seed % 3 == 0,
                                   unclean = seed % 4 == 0, elr = seed % 5 == 0 })
      local c, kind = r.cluster, seed % 10
      local opts
      -- Mermaid's parser takes about a millisecond a line: the default
      -- bound (200 lines) one time in twenty, smaller ones otherwise.
      if seed % 20 == 0 then opts = nil
      elseif kind == 1 then opts = { fold = false, max_lines = 40 }
      elseif kind == 2 then
        local from = rnd(c:now())
        opts = { from = from, to = from + rnd(20000), max_lines = 40 }
      elseif kind == 3 then opts = { topic = "orders", partitions = { 0, 1 }, max_lines = 20 + rnd(30) }
      elseif kind == 4 and r.audit.lost[1] then
        local l = r.audit.lost[1]
        opts = { topic = l.topic, partitions = l.partition, records = { l }, max_lines = 60 }
      else opts = { max_lines = 20 + rnd(30), partitions = rnd(2), topic = "orders" } end
      local text = c:diagram(opts)
      if text:find("LOST offset", 1, true) or text:find("LOST %d+ records") then lost_marks = lost_marks + 1 end
      files[seed] = ("%s/%04d.mmd"):format(dir, seed)
      write(files[seed], text)
    end
    local ok, bad = parse(files)
    assert.same({}, bad)
    assert.equal(1000, #ok)
    assert.is_true(lost_marks > 20)   -- the scenarios lost acknowledged records, and the diagrams say so
  end)

  it("reads the diagram of each shrunk counterexample insync.explore finds", function()
    local insync = require "insync"
    local dir = fresh_dir("explore")
    local searches = {
      lost_acks1 = { producer = { acks = 1 }, invariants = { "lost" }, runs = 200 },
      duplicated = { producer = { acks = "all" }, invariants = { "duplicated" }, runs = 100 },
      unclean = { cluster = { config = { ["unclean.leader.election.enable"] = true } },
        topic = { config = { ["min.insync.replicas"] = 2 } }, producer = { acks = "all" },
        faults = { "kill", "pause", "partition", "isolate", "shutdown" }, invariants = { "lost" }, runs = 400 },
      power_loss = { topic = { config = { ["min.insync.replicas"] = 2 } }, producer = { acks = "all" },
        faults = { "power_loss" }, invariants = { "lost" }, runs = 200 },
    }
    local files = {}
    for name, opts in pairs(searches) do
      opts.seed, opts.progress = 1, false
      local r = insync.explore(opts)
      local text = r:diagram()
      assert(text, name .. ": the search found no counterexample to draw")
      assert.truthy(text:find("LOST") or text:find("DUPLICATED"), name)
      files[#files + 1] = dir .. "/" .. name .. ".mmd"
      write(files[#files], text)
    end
    local ok, bad = parse(files)
    assert.same({}, bad)
    assert.equal(4, #ok)
  end)
end)

describe("mermaid-cli", function()
  it("renders the acks=1 failover loss and the retry's duplicate in chromium", function()
    local dir = fresh_dir("render")
    assert.equal(0, (sh(("INSYNC_PICTURES='%s' %s examples/04_acks1_failover_loss.lua"):format(dir, LUA))))
    assert.equal(0, (sh(("INSYNC_PICTURES='%s' %s examples/10_idempotence.lua"):format(dir, LUA))))
    local md = {}
    for _, name in ipairs{ "04_acks1_failover_loss", "10_idempotence_off" } do
      md[#md + 1] = "```mermaid\n" .. assert(io.open(dir .. "/" .. name .. ".mmd")):read("*a") .. "```\n"
    end
    write(dir .. "/both.md", table.concat(md, "\n"))
    local rc, out = sh(("PUPPETEER_SKIP_DOWNLOAD=1 %s/node_modules/.bin/mmdc -p %s/puppeteer.json"
      .. " -i %s/both.md -o %s/out.md"):format(MERMAID, MERMAID, dir, dir))
    assert.equal(0, rc, out)
    local one = assert(io.open(dir .. "/out-1.svg")):read("*a")
    local two = assert(io.open(dir .. "/out-2.svg")):read("*a")
    assert.truthy(one:find("LOST offset 0 key=order-42 acks=1", 1, true))
    assert.truthy(two:find("DUPLICATED: offset 1 key=order-42", 1, true))
  end)
end)
