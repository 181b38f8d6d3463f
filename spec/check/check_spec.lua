-- insync.check: the three common mistakes and the golden rule, what a Kafka engineer
-- adds, and the model's evidence for each finding it can show.
local insync = require "insync"
local evidence = require "insync.evidence"
local helpers = require "helpers"

local function ids(findings)
  local out = {}
  for _, f in ipairs(findings) do out[#out + 1] = f.severity .. " " .. f.id end
  table.sort(out)
  return out
end

local function find(findings, id)
  for _, f in ipairs(findings) do
    if f.id == id then return f end
  end
end

local GOLDEN_TOPIC = { ["replication.factor"] = 3, ["min.insync.replicas"] = 2 }

-- Runs a finding's replay script in a child process; returns its output
-- and whether it exited 0 (its claim held).
local function replay(script)
  local dir = helpers.tmpdir()
  local path = dir .. "/evidence.lua"
  local f = assert(io.open(path, "w"))
  f:write(script)
  f:close()
  local out, ok = helpers.run_lua(path)
  helpers.sh("rm -rf " .. dir)
  return out, ok
end

describe("insync.check", function()
  describe("the common mistakes and the golden rule", function()
    it("passes the golden rule (RF 3, min.insync.replicas 2, acks=all) with no error, and shows it", function()
      local fs = insync.check{ producer = { acks = "all" }, topic = GOLDEN_TOPIC }
      assert.same({ "info golden-rule" }, ids(fs))
      local ev = fs[1].evidence
      assert.equal(200, ev.audit.sent)
      assert.equal(200, ev.audit.acked)
      assert.equal(0, ev.audit.lost)
      assert.equal("crash", ev.schedule[2].fault)   -- the leader died mid-stream
    end)

    it("mistake 1: acks=all with replication.factor=1 is an error; a power loss loses what was acknowledged", function()
      local fs = insync.check{ producer = { acks = "all" }, topic = { ["replication.factor"] = 1 } }
      local f = find(fs, "acks-all-rf-1")
      assert.equal("error", f.severity)
      assert.equal(5, f.evidence.audit.acked)
      assert.equal(5, f.evidence.audit.lost)
      -- with acks=1 the same replication factor is flagged under its own id
      fs = insync.check{ producer = { acks = "1" }, topic = { ["replication.factor"] = 1 }, accept_loss = true }
      assert.equal("error", find(fs, "rf-1").severity)
    end)

    it("mistake 2: min.insync.replicas = RF is an error; one broker down fails every acks=all send", function()
      local fs = insync.check{ producer = { acks = "all" },
                               topic = { ["replication.factor"] = 3, ["min.insync.replicas"] = 3 } }
      assert.same({ "error min-isr-equals-rf" }, ids(fs))
      local a = fs[1].evidence.audit
      assert.equal(5, a.sent)
      assert.equal(0, a.acked)
      assert.equal(5, a.failed)
      assert.is_true(a.retried.NOT_ENOUGH_REPLICAS > 0)   -- refused by the leader, retried
      assert.equal(5, a.errors._MSG_TIMED_OUT)
    end)

    it("mistake 3: acks=1 is an error for data that must not be lost; a leader failure loses what it acked", function()
      local fs = insync.check{ producer = { acks = 1 }, topic = GOLDEN_TOPIC }
      local f = find(fs, "acks-1")
      assert.equal("error", f.severity)
      assert.equal(20, f.evidence.audit.acked)
      assert.is_true(f.evidence.audit.lost > 0)
      -- the same run with acks=all (the golden rule's producer) loses nothing
      local setup = {}
      for k, v in pairs(f.evidence.setup) do setup[k] = v end
      setup.producer = { acks = "all" }
      local counts = evidence.play(setup, f.evidence.schedule)
      assert.equal(20, counts.acked)
      assert.equal(0, counts.lost)
      -- data whose loss is acceptable: info, and no error left
      fs = insync.check{ producer = { acks = 1 }, topic = GOLDEN_TOPIC, accept_loss = true }
      assert.equal("info", find(fs, "acks-1").severity)
    end)

    it("acks=0 is flagged as acks-0 and loses acknowledged records in the same run", function()
      local fs = insync.check{ producer = { acks = "0" }, topic = GOLDEN_TOPIC }
      local f = find(fs, "acks-0")
      assert.equal("error", f.severity)
      assert.is_true(f.evidence.audit.lost > 0)
      assert.is_nil(find(fs, "idempotence-off"))   -- acks=0 never retries
    end)
  end)

  describe("what a Kafka engineer adds", function()
    local cases = {
      { "acks=all with min.insync.replicas=1 (the default)",
        { producer = { acks = "all" }, topic = { ["replication.factor"] = 3 } },
        { "warning min-isr-1" } },
      { "unclean leader election on",
        { producer = {}, topic = { ["replication.factor"] = 3, ["min.insync.replicas"] = 2,
                                   ["unclean.leader.election.enable"] = "true" } },
        { "error unclean-leader-election" } },
      { "idempotence off with retries (Java)",
        { producer = { ["enable.idempotence"] = false }, topic = GOLDEN_TOPIC },
        { "info golden-rule", "warning idempotence-off" } },
      { "librdkafka's defaults: idempotence off",
        { client = "librdkafka", producer = {}, topic = GOLDEN_TOPIC },
        { "info golden-rule", "warning idempotence-off" } },
      { "librdkafka with idempotence on",
        { client = "librdkafka", producer = { ["enable.idempotence"] = "true" }, topic = GOLDEN_TOPIC },
        { "info golden-rule" } },
      { "retries=0 (Java: also turns the default idempotence off, so no duplicate finding)",
        { producer = { retries = 0 }, topic = GOLDEN_TOPIC },
        { "info golden-rule", "warning retries-0" } },
      { "explicit idempotence with acks=1: the producer refuses to start",
        { producer = { ["enable.idempotence"] = true, acks = "1" }, topic = GOLDEN_TOPIC },
        { "error acks-1", "error idempotence-conflict" } },
      { "Java delivery.timeout.ms below linger.ms + request.timeout.ms",
        { producer = { ["delivery.timeout.ms"] = 30000, ["linger.ms"] = 5 }, topic = GOLDEN_TOPIC },
        { "error delivery-timeout-too-short", "info golden-rule" } },
      { "Java delivery.timeout.ms equal to linger.ms + request.timeout.ms is accepted",
        { producer = { ["delivery.timeout.ms"] = 30005, ["linger.ms"] = 5 }, topic = GOLDEN_TOPIC },
        { "info golden-rule" } },
      { "librdkafka message.timeout.ms not above linger.ms",
        { client = "librdkafka", producer = { ["message.timeout.ms"] = 100, ["linger.ms"] = 100,
          ["enable.idempotence"] = true }, topic = GOLDEN_TOPIC },
        { "error delivery-timeout-too-short", "info golden-rule", "warning delivery-timeout-below-failover" } },
      { "more than 5 in flight turns the Java default idempotence off",
        { producer = { ["max.in.flight.requests.per.connection"] = 10 }, topic = GOLDEN_TOPIC },
        { "info golden-rule", "warning idempotence-off", "warning max-in-flight-idempotence" } },
      { "more than 5 in flight with explicit idempotence",
        { producer = { ["max.in.flight"] = 6, ["enable.idempotence"] = true }, client = "librdkafka",
          topic = GOLDEN_TOPIC },
        { "error idempotence-conflict", "info golden-rule" } },
      { "replication factor above the brokers",
        { producer = {}, topic = GOLDEN_TOPIC, cluster = { brokers = 2 } },
        { "error rf-above-brokers", "info golden-rule" } },
      { "the broker's defaults count when the topic does not say",
        { producer = {}, cluster = { ["default.replication.factor"] = 3, ["min.insync.replicas"] = 3 } },
        { "error min-isr-equals-rf" } },
      { "no replication factor given",
        { producer = {} },
        { "info replication-factor-unknown" } },
      { "two replicas and min.insync.replicas 2",
        { producer = {}, topic = { ["replication.factor"] = 2, ["min.insync.replicas"] = 2 } },
        { "error min-isr-equals-rf" } },
      { "two replicas and min.insync.replicas 1",
        { producer = {}, topic = { ["replication.factor"] = 2, ["min.insync.replicas"] = 1 } },
        { "warning min-isr-1" } },
      { "RF 5 with min.insync.replicas 4 follows the golden rule",
        { producer = {}, topic = { ["replication.factor"] = 5, ["min.insync.replicas"] = 4 } },
        { "info golden-rule" } },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        assert.same(c[3], ids(insync.check(c[2])))
      end)
    end

    it("min.insync.replicas above RF: Kafka 3.7+ caps it at RF (the source, not a blanket failure)", function()
      -- Partition.effectiveMinIsr (KAFKA-15583) takes min(min.insync.replicas,
      -- replication factor): with every replica in sync acks=all succeeds;
      -- one broker down halts writes as min.insync.replicas = RF would.
      local fs = insync.check{ producer = {}, topic = { ["replication.factor"] = 3, ["min.insync.replicas"] = 4 } }
      assert.same({ "error min-isr-above-rf" }, ids(fs))
      assert.equal(0, fs[1].evidence.audit.acked)
      local counts = evidence.play(fs[1].evidence.setup, { { t_ms = 100, fault = "send", args = { 5 } } })
      assert.equal(5, counts.acked)
    end)

    it("with two replicas, fixes toward three rather than to the other mistake", function()
      for _, m in ipairs { 1, 2 } do
        local fs = insync.check{ producer = {}, topic = { ["replication.factor"] = 2, ["min.insync.replicas"] = m },
                                 evidence = false }
        assert.matches("^replication.factor=3 with min.insync.replicas=2", fs[1].fix)
      end
    end)

    it("shows duplicates for idempotence off, and none for the same schedule with it on", function()
      local f = find(insync.check{ producer = { ["enable.idempotence"] = false }, topic = GOLDEN_TOPIC },
        "idempotence-off")
      assert.equal(1, f.evidence.audit.duplicated)
      local setup = {}
      for k, v in pairs(f.evidence.setup) do setup[k] = v end
      setup.producer = {}
      for k, v in pairs(f.evidence.setup.producer) do setup.producer[k] = v end
      setup.producer["enable.idempotence"] = true
      setup.producer["max.in.flight"] = 5
      assert.equal(0, evidence.play(setup, f.evidence.schedule).duplicated)
    end)

    it("shows acknowledged records lost by an unclean election and by min.insync.replicas=1", function()
      local u = find(insync.check{ producer = {}, topic = { ["replication.factor"] = 3,
        ["min.insync.replicas"] = 2, ["unclean.leader.election.enable"] = true } }, "unclean-leader-election")
      assert.is_true(u.evidence.audit.lost > 0)
      local m = find(insync.check{ producer = {}, topic = { ["replication.factor"] = 3 } }, "min-isr-1")
      assert.is_true(m.evidence.audit.lost > 0)
      -- min.insync.replicas=2 on the same schedule: refused while the ISR is
      -- the leader alone, nothing acknowledged is lost
      local setup = {}
      for k, v in pairs(m.evidence.setup) do setup[k] = v end
      setup.min_insync_replicas = 2
      assert.equal(0, evidence.play(setup, m.evidence.schedule).lost)
    end)

    it("shows retries=0 failing sends on a leader failure that retries ride out", function()
      local f = find(insync.check{ producer = { retries = 0 }, topic = GOLDEN_TOPIC }, "retries-0")
      assert.is_true(f.evidence.audit.failed > 0)
      local setup = {}
      for k, v in pairs(f.evidence.setup) do setup[k] = v end
      setup.producer = { retries = 2147483647 }
      assert.equal(0, evidence.play(setup, f.evidence.schedule).failed)
    end)

    it("shows a delivery timeout shorter than a failover failing sends that a longer one keeps", function()
      local fs = insync.check{ client = "librdkafka", producer = { ["message.timeout.ms"] = 8000,
        ["enable.idempotence"] = true }, topic = GOLDEN_TOPIC }
      local f = find(fs, "delivery-timeout-below-failover")
      assert.equal("warning", f.severity)
      assert.equal(10, f.evidence.audit.failed)
      assert.equal(10, f.evidence.audit.errors._MSG_TIMED_OUT)
      local setup = {}
      for k, v in pairs(f.evidence.setup) do setup[k] = v end
      setup.producer = { ["enable.idempotence"] = true, ["delivery.timeout.ms"] = 30000 }
      assert.equal(10, evidence.play(setup, f.evidence.schedule).acked)
      assert.is_nil(find(insync.check{ client = "librdkafka", producer = { ["message.timeout.ms"] = 15000 },
        topic = GOLDEN_TOPIC, evidence = false }, "delivery-timeout-below-failover"))
    end)

    it("marks what the model cannot show as advice, not proof", function()
      local f = find(insync.check{ producer = { ["delivery.timeout.ms"] = 1000 }, topic = GOLDEN_TOPIC },
        "delivery-timeout-too-short")
      assert.is_nil(f.evidence)
      assert.is_true(f.advice)
      assert.matches("^advice, not proof", f.note)
      assert.matches("configureDeliveryTimeout", f.explanation)
    end)

    it("drops the evidence, saying so, when the standard run does not show it with these settings", function()
      -- fsync after every record: the power loss of the only replica loses nothing
      local f = find(insync.check{ producer = {}, topic = { ["replication.factor"] = 1, ["flush.messages"] = 1 } },
        "acks-all-rf-1")
      assert.equal("error", f.severity)
      assert.is_nil(f.evidence)
      assert.is_true(f.advice)
      assert.matches("did not show it with these settings", f.note)
    end)

    it("skips the model with evidence = false", function()
      local f = insync.check{ producer = { acks = "1" }, topic = GOLDEN_TOPIC, evidence = false }
      assert.is_nil(find(f, "acks-1").evidence)
      assert.is_true(find(f, "acks-1").advice)
    end)

    it("lists errors first, then warnings, then info", function()
      local fs = insync.check{ producer = { ["max.in.flight.requests.per.connection"] = 10,
        ["delivery.timeout.ms"] = 1 }, topic = GOLDEN_TOPIC, evidence = false }
      local sev = {}
      for _, f in ipairs(fs) do sev[#sev + 1] = f.severity end
      assert.same({ "error", "warning", "warning", "warning", "info" }, sev)
    end)
  end)

  describe("evidence", function()
    local configs = {
      { producer = { acks = "all" }, topic = GOLDEN_TOPIC },
      { producer = { acks = "all" }, topic = { ["replication.factor"] = 1 } },
      { producer = { acks = "all" }, topic = { ["replication.factor"] = 3, ["min.insync.replicas"] = 3 } },
      { producer = { acks = "1" }, topic = GOLDEN_TOPIC },
      { client = "librdkafka", producer = { retries = 0, acks = 1 },
        topic = { ["replication.factor"] = 3, ["unclean.leader.election.enable"] = true } },
    }
    it("every finding's script, run on its own, reproduces the audit and its claim", function()
      local n = 0
      for _, input in ipairs(configs) do
        for _, f in ipairs(insync.check(input)) do
          if f.evidence then
            local out, ok = replay(f.evidence.script)
            assert.is_true(ok, f.id .. ": " .. out)
            local a = f.evidence.audit
            assert.matches(("sent=%d acked=%d failed=%d lost=%d duplicated=%d"):format(
              a.sent, a.acked, a.failed, a.lost, a.duplicated), out, 1, true)
            n = n + 1
          end
        end
      end
      assert.equal(8, n)
    end)

    it("plays a schedule from elsewhere (a search, say) on given settings", function()
      local setup = { brokers = 3, replication_factor = 3, min_insync_replicas = 2,
                      producer = { acks = "1" } }
      local counts, script = evidence.play(setup, {
        { t_ms = 100, fault = "drop", args = { 1, 2 } },
        { t_ms = 100, fault = "drop", args = { 1, 3 } },
        { t_ms = 100, fault = "send", args = { 10 } },
        { t_ms = 1100, fault = "crash", args = { 1 } },
        { t_ms = 1100, fault = "heal" },
      })
      assert.equal(10, counts.acked)
      assert.equal(10, counts.lost)
      assert.matches("c:crash%(1%)", script)
      -- deterministic: the same schedule gives the same counts
      local again = evidence.play(setup, {
        { t_ms = 100, fault = "drop", args = { 1, 2 } },
        { t_ms = 100, fault = "drop", args = { 1, 3 } },
        { t_ms = 100, fault = "send", args = { 10 } },
        { t_ms = 1100, fault = "crash", args = { 1 } },
        { t_ms = 1100, fault = "heal" },
      })
      assert.same(counts, again)
    end)

    it("raises on a bad schedule, naming the step", function()
      local setup = { brokers = 3, replication_factor = 3, min_insync_replicas = 2, producer = {} }
      assert.matches("schedule%[2%]%.fault: unknown fault 'explode'", helpers.raises(evidence.play, setup,
        { { t_ms = 0, fault = "send" }, { t_ms = 1, fault = "explode" } }))
      assert.matches("schedule%[2%]: expected", helpers.raises(evidence.play, setup,
        { { t_ms = 5, fault = "send" }, { t_ms = 1, fault = "heal" } }))
      assert.matches("setup.producer: expected table", helpers.raises(evidence.play,
        { brokers = 3, replication_factor = 3, min_insync_replicas = 2 }, {}))
    end)
  end)

  describe("misuse", function()
    it("raises naming the option, the section and the key", function()
      assert.matches("check: expected a table, got string", helpers.raises(insync.check, "acks=all"))
      assert.matches("check: unknown option 'produce'", helpers.raises(insync.check, { produce = {} }))
      assert.matches('check: producer%["acks"%]: acks: expected all, %-1, 0 or 1, got "2"',
        helpers.raises(insync.check, { producer = { acks = 2 } }))
      assert.matches("check: topic%[\"min.insync.replica\"%]: unknown topic setting 'min.insync.replica'",
        helpers.raises(insync.check, { topic = { ["min.insync.replica"] = 2 } }))
      assert.matches('check: client: expected "java" or "librdkafka", got go',
        helpers.raises(insync.check, { client = "go" }))
    end)

    it("accepts the client's other settings without checking them", function()
      local fs = insync.check{ producer = { ["key.serializer"] = "x", ["buffer.memory"] = 1 },
                               topic = GOLDEN_TOPIC, evidence = false }
      assert.same({ "info golden-rule" }, ids(fs))
    end)
  end)
end)
