-- insync.matrix: the durability table measured with the same fault
-- campaign for every configuration; Lua table, Markdown and SVG.
local insync = require "insync"
local S = require "model.scenario"

local M   -- one measurement shared by the tests below (deterministic: seed 1)
local function matrix()
  M = M or insync.matrix{ runs = 100, seed = 1, progress = false }
  return M
end

local function row(m, name)
  for _, r in ipairs(m.rows) do if r.name == name then return r end end
end

describe("insync.matrix", function()
  it("orders loss as the common table does from acks=0 down to acks=all", function()
    local m = matrix()
    assert.equal(7, #m.rows)
    local a0, a1 = row(m, "acks=0"), row(m, "acks=1")
    local isr2 = row(m, "acks=all, min.insync.replicas=2")
    assert.is_true(a0.p_loss > a1.p_loss)
    assert.is_true(a1.p_loss > isr2.p_loss)
    assert.is_true(a1.lost_per_10k > isr2.lost_per_10k)
    for _, r in ipairs(m.rows) do
      assert.equal(100, r.runs)
      assert.is_true(r.p_loss_low <= r.p_loss and r.p_loss <= r.p_loss_high)
      assert.is_true(r.latency_p50 >= 1 and r.latency_p99 >= r.latency_p50)
      assert.is_true(r.throughput > 0)
    end
    assert.equal(1, a1.throughput_rel)
  end)

  it("measures write availability with one broker down: min.insync.replicas=3 and RF 1 refuse writes", function()
    local m = matrix()
    assert.equal(1, row(m, "acks=all, min.insync.replicas=2").availability)
    assert.is_true(row(m, "acks=all, min.insync.replicas=3").availability < 0.5)
    assert.is_true(row(m, "acks=all, RF 1").availability < 1)
    assert.is_true(row(m, "acks=all, RF 1").availability > row(m, "acks=all, min.insync.replicas=3").availability)
  end)

  it("keeps the shrunk schedule behind a row's losses, and its script replays it", function()
    local r = row(matrix(), "acks=1")
    assert.truthy(r.counterexample)
    assert.is_true(#r.counterexample >= 1)
    local chunk = assert((loadstring or load)(r.script))
    local quiet = _G.print
    _G.print = function() end
    local ok, a = pcall(chunk)
    _G.print = quiet
    assert(ok, a)
    assert.is_true(#a.lost > 0)
  end)

  it("writes a Markdown table and an SVG chart without dependencies", function()
    local m = matrix()
    local md = m:markdown()
    local lines = {}
    for l in md:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(2 + 7, #lines)
    assert.matches("^| configuration |", lines[1])
    assert.matches("^| acks=0 | ", lines[3])
    local svg = m:svg()
    assert.matches("^<svg xmlns=\"http://www.w3.org/2000/svg\"", svg)
    assert.matches("</svg>\n$", svg)
    local circles = 0
    for _ in svg:gmatch("<circle ") do circles = circles + 1 end
    assert.equal(7, circles)
    assert.truthy(svg:find("n=100", 1, true))
  end)

  it("is deterministic per seed", function()
    local a = insync.matrix{ runs = 20, seed = 3, progress = false,
                             rows = { require("insync.matrix").rows[2] } }
    local b = insync.matrix{ runs = 20, seed = 3, progress = false, rows = { require("insync.matrix").rows[2] } }
    assert.equal(a:markdown(), b:markdown())
    assert.equal(a:svg(), b:svg())
  end)

  it("raises on bad arguments, naming them", function()
    S.raises("matrix: opts: expected table", insync.matrix, 1)
    S.raises("matrix: unknown option 'run'", insync.matrix, { run = 1 })
    S.raises("matrix: profile: expected one of", insync.matrix, { profile = "moon" })
    S.raises("matrix: runs: expected an integer >= 1", insync.matrix, { runs = 0 })
    S.raises("matrix: rows: expected a non-empty list", insync.matrix, { rows = {} })
  end)
end)
