-- The differential check: each scenario of spec/kafka/scenarios.lua runs on
-- the model (insync.cluster) and on real Apache Kafka (insync.producer on
-- spec/kafka/cluster); the outcome of every send and the two audits (the
-- model's c:audit(), each tracking producer's p:audit() on Kafka), field by
-- field, must agree.  One line per scenario, "model vs kafka:
-- agree" or what differed, is printed as it runs and again at the end, and
-- written to build/kafka/differential.txt.
local engines = require "kafka.engines"
local scenarios = require "kafka.scenarios"
local real = require "kafka.real"

-- Tallies of outcomes plus the audit counts, for checking `expect`.
local function tally(result)
  local t = { lost = result.lost, duplicated = result.duplicated, unexpected = result.unexpected }
  for _, o in ipairs(result.outcomes) do t[o] = (t[o] or 0) + 1 end
  return t
end

describe("the differential check's comparison", function()
  it("names every kind of difference, folding runs of sends", function()
    local function result(outcomes, at, audit)
      local calls = {}
      for i = 1, #outcomes do calls[i] = 1 end
      local counts = { sent = #outcomes, acked = 0, failed = 0, pending = 0, lost = audit[1],
                       duplicated = audit[2], unexpected = audit[3], uncommitted = 0,
                       reordered = 0, inconsistent = 0 }
      for _, o in ipairs(outcomes) do
        if o == "ok" then counts.acked = counts.acked + 1 else counts.failed = counts.failed + 1 end
      end
      return { sent = #outcomes, outcomes = outcomes, at = at, calls = calls, audit = counts,
               lost = audit[1], duplicated = audit[2], unexpected = audit[3] }
    end
    local model = result({ "ok", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS", "ok", "ok" },
                         { "0:0", "-", "-", "0:1", "0:2" }, { 0, 0, 0 })
    local kafka = result({ "ok", "_MSG_TIMED_OUT", "_MSG_TIMED_OUT", "ok", "ok" },
                         { "0:0", "-", "-", "0:3", "0:4" }, { 1, 0, 2 })
    kafka.calls[1] = 2
    kafka.audit.reordered = 1
    assert.same({
      "sends 2-3: model NOT_ENOUGH_REPLICAS, kafka _MSG_TIMED_OUT",
      "sends 4-5: landed at model 0:1, kafka 0:3, ...",
      "send 1: 2 callbacks on kafka",
      "audit lost: model 0, kafka 1",
      "audit unexpected: model 0, kafka 2",
      "audit reordered: model 0, kafka 1",
    }, engines.diff(model, kafka, "model", "kafka"))
    assert.is_nil(engines.diff(model, model, "model", "kafka"))
    assert.equal("s: model vs kafka: agree", engines.line("s", nil))
  end)
end)

describe("the model against Apache Kafka (differential check)", function()
  local lines = {}
  setup(real.require_cluster)
  after_each(real.heal)
  teardown(function()
    print("# differential check, model vs kafka:")
    for _, line in ipairs(lines) do print("#   " .. line) end
    -- and in a file beside the cluster's logs
    local dir = os.getenv("INSYNC_KAFKA_DIR") or (require("helpers").top .. "/build/kafka")
    local f = io.open(dir .. "/differential.txt", "w")
    if f then
      f:write(table.concat(lines, "\n"), "\n")
      f:close()
      print("# (also in " .. dir .. "/differential.txt)")
    end
  end)

  for i, scenario in ipairs(scenarios) do
    it(scenario.name, function()
      local topic = real.name("diff-" .. i)
      local kafka = engines.kafka(scenario, topic)
      -- the model raising where Kafka ran is a difference, reported as one
      local ok, model = pcall(engines.model, scenario, topic)
      local d
      if ok then d = engines.diff(model, kafka, "model", "kafka")
      else d = { "the model raised: " .. tostring(model) } end
      local line = engines.line(scenario.name, d)
      if d and scenario.differs then
        line = line .. " (documented: " .. scenario.differs.why .. ")"
      end
      lines[#lines + 1] = line
      print("# " .. line)
      -- Kafka did what the scenario says Kafka does ...
      assert.same(scenario.expect, tally(kafka))
      if scenario.differs then
        -- ... and the model differs exactly as documented
        assert.same(scenario.differs.diff, d or {}, line)
      else
        -- ... and the model did the same, send by send
        assert.is_nil(d, line)
      end
    end)
  end
end)
