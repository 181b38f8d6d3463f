-- Same seed and script: the same callbacks, audit and trace.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

local function scenario(seed)
  local c = S.cluster{ seed = seed, trace = true, partitions = 4,
                       topic_config = { ["min.insync.replicas"] = 2 } }
  local p = c:producer{ ["enable.idempotence"] = true }
  local log = {}
  for i = 1, 40 do
    p:send({ topic = "orders", value = "v" .. i }, function(r, err)   -- keyless: random partitions
      log[#log + 1] = ("%d %d %s %s"):format(c:now(), r.partition, tostring(r.offset), err and err.name or "OK")
    end)
  end
  c:run_for(3)
  c:crash(2)
  c:run_for(4000)
  c:cut(1, 3)
  c:run_for(20000)
  c:heal(); c:restart(2)
  c:run()
  c:run_for(5000)
  return c:trace(), log, c:audit()
end

local function same_trace(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    for k, v in pairs(a[i]) do if b[i][k] ~= v then return false end end
    for k, v in pairs(b[i]) do if a[i][k] ~= v then return false end end
  end
  return true
end

describe("determinism", function()
  it("gives identical traces, callbacks and audits for one seed", function()
    local t1, l1, a1 = scenario(7)
    local t2, l2, a2 = scenario(7)
    assert.is_true(#t1 > 100)
    assert.is_true(same_trace(t1, t2))
    assert.same(l1, l2)
    assert.same(a1, a2)
  end)

  it("lets the seed change the random choices", function()
    local _, l1 = scenario(7)
    local _, l2 = scenario(8)
    assert.are_not.same(l1, l2)
  end)

  it("traces the replication steps and writes them as JSON lines", function()
    local t = scenario(3)
    local seen = {}
    for _, e in ipairs(t) do seen[e.event] = true end
    for _, ev in ipairs({ "append", "fetch", "hw", "isr_shrink", "isr_expand", "fence", "election",
                          "request", "response", "crash", "restart", "leader", "follower" }) do
      assert.truthy(seen[ev], ev)
    end
    local c = S.cluster{ trace = true }
    local p = c:producer{}
    S.send(p, 2); c:run()
    local path = os.tmpname()
    local n = c:trace_json(path)
    local lines = {}
    for line in io.lines(path) do lines[#lines + 1] = line end
    os.remove(path)
    assert.equal(n, #lines)
    assert.truthy(lines[1]:match('^{"t":%d+,"event":"[a-z_]+","node":'))
    -- every line is a JSON object with the entry's fields
    local cjson = require "cjson"
    local entries = c:trace()
    for i, line in ipairs(lines) do
      assert.same(entries[i], cjson.decode(line))
    end
    local untraced = S.cluster{}
    assert.equal(0, #untraced:trace())
  end)
end)
