-- `insync matrix` and `insync explore`, run as child processes of the
-- interpreter running the specs, and the pictures of an explore result
-- (result:diagram(), result:timeline_svg()).
local helpers = require "helpers"
local explore = require "insync.explore"

-- bin/insync with args, on the interpreter running the specs: stdout,
-- stderr and the exit status.
local insync = helpers.insync_command
local exe = helpers.sh("readlink /proc/$PPID/exe"):gsub("%s+$", "")   -- this interpreter

local function slurp(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local EX = "examples/check/golden/"

describe("insync matrix", function()
  it("prints the Markdown table and writes the same table and the SVG chart", function()
    local dir = helpers.tmpdir()
    local out, err, rc = insync(("matrix --runs 5 --seed 2 --svg %s/m.svg --markdown %s/m.md"):format(dir, dir))
    assert.equal(0, rc, out .. err)
    local md = slurp(dir .. "/m.md")
    assert.truthy(md and out:find(md, 1, true), "the table written is the table printed")
    local rows = select(2, md:gsub("\n| acks", "%0"))
    assert.equal(7, rows)
    assert.matches("| acks=all, min.insync.replicas=2 | ", md, 1, true)
    assert.matches("profile lan, 5 runs per configuration, seed 2", out, 1, true)
    local svg = slurp(dir .. "/m.svg")
    assert.matches("<svg .*</svg>", svg)
    assert.matches("</svg>%s*$", svg)
    helpers.sh("rm -rf " .. dir)
  end)

  it("answers --help with 0 and bad options with 2, naming the option", function()
    local out, _, rc = insync("matrix --help")
    assert.equal(0, rc)
    assert.matches("usage: insync matrix", out)
    local _, err
    _, err, rc = insync("matrix --profile moon")
    assert.equal(2, rc)
    assert.matches("--profile", err, 1, true)
    _, err, rc = insync("matrix --runs 0")
    assert.equal(2, rc)
    assert.matches("--runs", err, 1, true)
    _, err, rc = insync("matrix extra")
    assert.equal(2, rc)
    assert.matches('unexpected argument "extra"', err, 1, true)
  end)
end)

describe("insync explore", function()
  it("finds nothing on the golden-rule files: exit 0, nothing written", function()
    local dir = helpers.tmpdir()
    -- every fault kind but power_loss: a power loss without fsync may lose
    -- acks=all records whatever the settings (Kafka flushes nothing by
    -- default); the golden rule is about brokers failing one at a time
    local out, err, rc = insync(("explore %sproducer.properties %stopic.properties --runs 10 " ..
      "--faults kill,shutdown,pause,isolate,partition,partition_majority,drop --script %s/s.lua")
      :format(EX, EX, dir))
    assert.equal(0, rc, out .. err)
    assert.matches("10 runs, 0 violating", out, 1, true)
    assert.matches("--script: nothing written, no run violated", out, 1, true)
    assert.is_nil(slurp(dir .. "/s.lua"))
    helpers.sh("rm -rf " .. dir)
  end)

  it("flags override the files: acks=1 violates, exit 1, script, diagram and timeline written", function()
    local dir = helpers.tmpdir()
    local out, err, rc = insync(("explore %sproducer.properties %stopic.properties --acks 1 --idempotence off " ..
      "--runs 30 --seed 3 --script %s/s.lua --diagram %s/d.mmd --svg %s/t.svg"):format(EX, EX, dir, dir, dir))
    assert.equal(1, rc, out .. err)
    local n, v = out:match("explore: (%d+) runs, (%d+) violating")
    assert.equal("30", n)
    assert.is_true(tonumber(v) > 0)
    assert.matches("counterexample %(", out)
    assert.matches("\n  schedule:", out)
    assert.matches("\nsequenceDiagram\n", slurp(dir .. "/d.mmd"))
    assert.matches("<svg .*</svg>", slurp(dir .. "/t.svg"))
    -- the replay script runs on its own and shows the violation again
    local script = slurp(dir .. "/s.lua")
    assert.matches("acks", script)
    local replay = helpers.sh(("cd %s && LUA_PATH=%q LUA_CPATH=%q %s %s/s.lua 2>&1; echo rc=$?")
      :format(helpers.top, package.path, package.cpath, exe, dir))
    assert.matches("^audit: sent %d+", replay)
    assert.matches("rc=0%s*$", replay)   -- its assert holds: the violation replays
    helpers.sh("rm -rf " .. dir)
  end)

  it("answers --help with 0 and usage errors with 2, saying what is wrong", function()
    local out, _, rc = insync("explore --help")
    assert.equal(0, rc)
    assert.matches("usage: insync explore", out)
    local cases = {
      { "explore --faults kill,bogus", "unknown fault kind 'bogus'" },
      { "explore --acks 2", "--acks" },
      { "explore --acks 1 --idempotence on", "enable.idempotence=true with acks=1" },
      { "explore --max-faults many", "--max-faults" },
      { "explore no/such/file.properties", "no/such/file.properties" },
      { "explore --profile moon", "--profile" },
    }
    for _, c in ipairs(cases) do
      local _, err, code = insync(c[1])
      assert.equal(2, code, c[1])
      assert.matches(c[2], err, 1, true)
    end
  end)
end)

-- The records the diagram's LOST notes name (not the messages lost in the network).
local function lost_marked(diagram)
  local n = 0
  for line in diagram:gmatch("[^\n]+") do
    local k = line:match("LOST (%d+) records, offsets")
    if k then
      n = n + tonumber(k)
    elseif line:match("LOST offset %d+") then
      n = n + 1
    end
  end
  return n
end

describe("explore result pictures", function()
  local r
  setup(function()
    r = explore.explore{ producer = { acks = "1" }, invariants = { "lost" }, runs = 40, seed = 1, progress = false }
  end)

  it("the diagram marks every acknowledged record the counterexample lost", function()
    assert.is_table(r.shrunk, "acks=1 loses records in 30 runs")
    local lost = #r.shrunk.audit.lost
    assert.is_true(lost > 0)
    local d = r:diagram()
    assert.matches("\nsequenceDiagram\n", d)
    assert.equal(lost, lost_marked(d))
  end)

  it("draws the timeline of the same run, and re-runs it with a trace when the result holds none", function()
    local svg = r:timeline_svg()
    assert.matches("<svg .*</svg>", svg)
    local d = r:diagram()
    r.shrunk.trace = nil
    assert.equal(d, r:diagram())
    assert.is_table(r.shrunk.trace)
    assert.equal(svg, r:timeline_svg())
  end)

  it("returns nil when no run violated", function()
    local none = explore.explore{ producer = { acks = "all" }, topic = { config = { ["min.insync.replicas"] = 2 } },
                                  max_faults = 0, runs = 3, progress = false }
    assert.is_nil(none.first)
    assert.is_nil(none:diagram())
    assert.is_nil(none:timeline_svg())
  end)
end)

describe("insync check --diagram --svg", function()
  it("draws the first finding's evidence: acks=1's run, with every lost record marked", function()
    local dir = helpers.tmpdir()
    local files = "examples/check/mistake3-acks1/producer.properties examples/check/mistake3-acks1/topic.properties"
    local json = insync("check " .. files .. " --json")
    local lost = tonumber(json:match('"lost": (%d+)'))
    assert.is_true(lost > 0)
    local out, err, rc = insync(("check %s --diagram %s/c.mmd --svg %s/c.svg"):format(files, dir, dir))
    assert.equal(1, rc, out .. err)
    local d = slurp(dir .. "/c.mmd")
    assert.matches("\nsequenceDiagram\n", d)
    assert.equal(lost, lost_marked(d))
    assert.matches("<svg .*</svg>", slurp(dir .. "/c.svg"))
    helpers.sh("rm -rf " .. dir)
  end)

  it("writes nothing and says so when no finding has evidence", function()
    local dir = helpers.tmpdir()
    local out, err, rc = insync(("check %sproducer.properties %stopic.properties --no-evidence --diagram %s/c.mmd")
      :format(EX, EX, dir))
    assert.equal(0, rc, out .. err)
    assert.matches("nothing written", err, 1, true)
    assert.is_nil(slurp(dir .. "/c.mmd"))
    helpers.sh("rm -rf " .. dir)
  end)
end)
