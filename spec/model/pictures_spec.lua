-- The pictures of a scenario: c:diagram (Mermaid text) says what happened,
-- in order, and marks the lost and duplicated records where it happened;
-- c:timeline_svg is well-formed XML whose marks match the trace; both are
-- the same bytes for the same seed, and both can be drawn from a trace and
-- an audit alone (insync.diagram.sequence, insync.timeline.svg).  Mermaid's
-- own parser reads the diagrams in spec/pictures.
local insync = require "insync"
local diagram = require "insync.diagram"
local timeline = require "insync.timeline"
local S = require "model.scenario"
local R = require "model.random_scenario"

-- The acks=1 failover loss: the leader acknowledges, its fetch responses
-- are lost, it dies, broker 2 leads without the record.
local function acks1_loss()
  local c = insync.cluster{ brokers = 3, trace = true }
  c:create_topic("orders", { replication_factor = 3 })
  c:run_for(100)
  local p = c:producer{ acks = 1 }
  c:drop(1, 2); c:drop(1, 3)
  p:send({ topic = "orders", key = "order-42", value = "paid" }, function() end)
  c:run()
  c:crash(1)
  c:heal()
  c:run_for(15000)
  return c
end

-- The line numbers of the first line containing each text, in order; nil
-- for a text not found.
local function where(text, ...)
  local out, lines = {}, {}
  for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
  for i, want in ipairs{ ... } do
    for n, l in ipairs(lines) do
      if l:find(want, 1, true) then out[i] = n; break end
    end
  end
  return out, lines
end

local function body_lines(text)
  local _, lines = where(text)
  local n, inside = 0, false
  for _, l in ipairs(lines) do
    if inside and not l:match("^%s*participant ") then n = n + 1 end
    if l == "sequenceDiagram" then inside = true end
  end
  return n
end

-- Runs xmllint (Debian's libxml2-utils) on an SVG text: its exit status and output.
local function xmllint(svg, args)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(svg)
  f:close()
  local p = assert(io.popen(("xmllint %s %s 2>&1; echo \"rc=$?\""):format(args, path)))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  return tonumber(out:match("rc=(%d+)%s*$")), out:gsub("rc=%d+%s*$", "")
end

-- The marks of an SVG timeline by kind, as an XML parser reads them.
local function marks(svg)
  local rc, out = xmllint(svg, "--xpath \"//*[local-name()='g'][starts-with(@class,'mark ')]/@class\"")
  assert(rc == 0, out)
  local n = {}
  for kind in out:gmatch('class="mark (%w+)"') do n[kind] = (n[kind] or 0) + 1 end
  return n
end

describe("the trace", function()
  it("gives each produce request the producer's acks", function()
    local c = S.cluster{ trace = true }
    local seen = {}
    for _, acks in ipairs{ 0, 1, "all" } do
      S.send(c:producer{ acks = acks }, 1)
      c:run()
    end
    for _, e in ipairs(c:trace()) do
      if e.event == "request" then seen[#seen + 1] = e.acks end
    end
    assert.same({ 0, 1, -1 }, seen)
  end)
end)

describe("c:diagram", function()
  it("draws the acks=1 failover loss: ack, crash, election, then LOST over the new leader", function()
    local text = acks1_loss():diagram()
    assert.truthy(text:match("^%-%-%-\ntitle: \"orders/0: 1 acknowledged record lost\"\n%-%-%-\nsequenceDiagram\n"))
    local at = where(text, "participant P1 as producer1", "participant B1 as Broker 1",
      "participant B3 as Broker 3",
      "P1->>B1: t=107 Produce acks=1, 1 record",
      "B1->>B1: t=108 append offset 0",
      "B1-xB2: t=108 Fetch response LOST in the network",
      "B1-->>P1: t=109 OK, offset 0 (acks=1) - LATER LOST: 1 of these",
      "Note over B1: t=109 CRASH: Broker 1 dies",
      "Note over B1,B3: t=9000 ISR shrinks: Broker 1 out, ISR {2,3}",
      "Note over B2: t=9000 election: Broker 2 leads, epoch 1",
      "Note over B2: t=9000 LOST offset 0 key=order-42 acks=1: acknowledged, "
        .. "but new leader Broker 2's log ends at offset 0")
    for i = 1, 11 do assert.is_number(at[i], "line " .. i .. " missing:\n" .. text) end
    for i = 2, 11 do assert.is_true(at[i] > at[i - 1], "out of order:\n" .. text) end
    assert.truthy(text:find("Left out: 4 fetches that brought nothing new", 1, true))
  end)

  it("marks records a power loss took from the only replica at the leader's truncation", function()
    local c = S.cluster{ trace = true, rf = 1 }
    S.send(c:producer{ acks = "all" }, 5)
    c:run()
    c:crash(1, { lose_unflushed = true })
    c:restart(1)
    c:run_for(5000)
    assert.equal(5, #c:audit().lost)
    local at = where(c:diagram(), "OK, offset 0..4 (acks=all) - LATER LOST: 5 of these",
      "CRASH: Broker 1 dies, losing what it had not flushed", "truncates offsets 0..4 (log end 5 to 0)",
      "LOST 5 records, offsets 0..4: acknowledged, but the leader Broker 1's log lost them")
    assert.same({ at[1], at[1] + 1, at[1] + 2, at[1] + 4 }, at)   -- + 3: the red ground begins
  end)

  it("names the error a produce request got, with its acks", function()
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    c:crash(2); c:crash(3)
    c:run_for(10000)
    S.send(c:producer{ acks = "all", retries = 0 }, 1)
    c:run()
    local text = c:diagram()
    assert.truthy(text:find("-->>P1: t=%d+ NOT_ENOUGH_REPLICAS %(acks=all%)"), text)
    assert.truthy(text:find("Note over P1: t=%d+ callback: NOT_ENOUGH_REPLICAS"), text)
    assert.truthy(text:find("participant B2 as Broker 2", 1, true), text)   -- down since t=0, still drawn
  end)

  it("marks the extra copy a retry without idempotence wrote", function()
    local c = S.cluster{ trace = true }
    c:run_for(100)
    local p = c:producer{ acks = "all", ["socket.timeout.ms"] = 2000 }
    c:drop(1, p)
    S.send(p, 1)
    c:run_for(2100)
    c:heal()
    c:run()
    assert.equal(1, #c:audit().duplicated)
    local at = where(c:diagram(), "title: \"orders/0: 1 duplicate\"", "B1->>B1: t=2458 append offset 1",
      "Note over B1: DUPLICATED: offset 1 key=k1 acks=all is an extra copy")
    assert.same({ 2, at[2], at[2] + 2 }, at)     -- the note right after the append, on its coloured ground
  end)

  it("keeps to the window, the chosen records and max_lines, and says what it left out", function()
    local c = acks1_loss()
    local early = c:diagram{ to = 108 }
    assert.falsy(early:find("CRASH", 1, true))
    assert.truthy(early:find("steps outside the window", 1, true))
    local late = c:diagram{ from = 9000 }
    assert.falsy(late:find("Produce", 1, true))
    assert.truthy(late:find("LOST offset 0", 1, true))

    local r = R.scenario(7, { steps = 60, trace = true })
    local d = r.cluster:diagram()
    assert.is_true(body_lines(d) <= 200)
    assert.truthy(d:find("routine steps folded", 1, true))
    for _, n in ipairs{ 20, 57, 120 } do
      local small = r.cluster:diagram{ max_lines = n }
      assert.is_true(body_lines(small) <= n, ("max_lines %d, got %d"):format(n, body_lines(small)))
      assert.truthy(small:find("CUT at max_lines=" .. n, 1, true))
    end
    -- every event drawn, nothing folded: more lines than the folded default
    assert.is_true(body_lines(r.cluster:diagram{ fold = false, max_lines = 100000 }) > body_lines(d))

    -- one record: its appends and replication, not the other records'
    local lost = r.audit.lost[1]
    local one = r.cluster:diagram{ topic = lost.topic, partitions = lost.partition, records = { lost } }
    for line in one:gmatch("[^\n]+") do
      local a, b = line:match("append offset (%d+)%.%.(%d+)")
      if a then assert.is_true(tonumber(a) <= lost.offset and lost.offset <= tonumber(b), line) end
      local o = line:match("append offset (%d+)$") or line:match("append offset (%d+) ")
      if o then assert.equal(lost.offset, tonumber(o), line) end
    end
    assert.truthy(one:find("LOST offset " .. lost.offset, 1, true) or one:find("offsets", 1, true))
  end)

  it("marks every lost record, past a cut too (20 random scenarios)", function()
    local total, kept = 0, 0
    for seed = 41, 60 do
      local r = R.scenario(seed, { steps = 60, trace = true })
      for _, max in ipairs{ 200, 60 } do
        local d = r.cluster:diagram{ max_lines = max }
        local n = 0
        for line in d:gmatch("[^\n]+") do
          local k = line:match("LOST (%d+) records")
          if k then n = n + tonumber(k) elseif line:match("LOST offset %d+") then n = n + 1 end
        end
        assert.equal(#r.audit.lost, n, ("seed %d max_lines %d:\n%s"):format(seed, max, d))
        assert.is_true(body_lines(d) <= max)
        if d:find("marks after it kept", 1, true) then kept = kept + 1 end
      end
      total = total + #r.audit.lost
    end
    assert.is_true(total > 0)
    assert.is_true(kept > 0)   -- some were cut before their marks
  end)

  it("is drawn the same from the trace and audit read back from JSON", function()
    local cjson = require "cjson"
    local c = acks1_loss()
    local path = os.tmpname()
    c:trace_json(path)
    local trace = {}
    for line in io.lines(path) do trace[#trace + 1] = cjson.decode(line) end
    os.remove(path)
    local audit = cjson.decode(cjson.encode(c:audit()))
    assert.equal(1, #audit.lost)
    assert.equal(c:diagram(), diagram.sequence(trace, audit))
    assert.equal(c:timeline_svg(), timeline.svg(trace, audit))
  end)

  it("raises on bad arguments, naming them", function()
    local c = acks1_loss()
    local t, a = c:trace(), c:audit()
    S.raises("diagram: unknown option 'form'", c.diagram, c, { form = 1 })
    S.raises("diagram: from: expected integer, got string", c.diagram, c, { from = "0" })
    S.raises("diagram: to: expected at least from (10), got 5", c.diagram, c, { from = 10, to = 5 })
    S.raises("diagram: max_lines: expected at least 20, got 3", c.diagram, c, { max_lines = 3 })
    S.raises("diagram: fold: expected boolean, got number", c.diagram, c, { fold = 1 })
    S.raises("diagram: partitions[1]: expected a partition number, got a fraction", c.diagram, c,
      { partitions = { 0.5 } })
    S.raises("diagram: partitions: orders/3 is not in the trace", c.diagram, c, { partitions = 3 })
    S.raises("diagram: topic: 'payments' is not in the trace", c.diagram, c, { topic = "payments" })
    S.raises("diagram: records[1]: expected an offset or an audit record, got string", c.diagram, c,
      { records = { "x" } })
    S.raises("diagram: opts: expected table, got string", c.diagram, c, "all")
    S.raises("diagram: trace: expected a list of trace events, got nil", diagram.sequence, nil, a)
    S.raises("diagram: trace[2]: expected a trace event", diagram.sequence, { t[1], { x = 1 } }, a)
    S.raises("diagram: audit: expected the table c:audit() returns, got string", diagram.sequence, t, "a")
    S.raises("diagram: audit.lost[1]: expected a record", diagram.sequence, t, { lost = { 3 } })
    local two = S.cluster{ trace = true, partitions = 2 }
    S.send(two:producer{ acks = 1 }, 2, { partition = false })
    two:run()
    S.raises("diagram: records: offsets of one partition", two.diagram, two, { records = { 0 } })
    S.raises("timeline_svg: unknown option 'partitions'", c.timeline_svg, c, { partitions = 0 })
    S.raises("timeline_svg: width: expected at least 400, got 10", c.timeline_svg, c, { width = 10 })
    S.raises("timeline_svg: to: expected more than from (5), got 5", c.timeline_svg, c, { from = 5, to = 5 })
    S.raises("timeline_svg: trace: no partition in it", timeline.svg, {}, nil)
    local untraced = S.cluster{}
    S.send(untraced:producer{}, 1)
    untraced:run()
    S.raises("diagram: trace: empty (was the cluster made with trace = true?)", untraced.diagram, untraced)
  end)
end)

describe("c:timeline_svg", function()
  it("is well-formed XML with a lane per replica", function()
    local svg = acks1_loss():timeline_svg()
    local rc, out = xmllint(svg, "--noout")
    assert.equal(0, rc, out)
    rc, out = xmllint(svg, "--xpath \"count(//*[local-name()='g'][@class='lane broker'])\"")
    assert.equal(0, rc, out)
    assert.equal(3, tonumber(out))
  end)

  it("marks as many crashes, elections and lost records as the trace and audit hold (20 random scenarios)", function()
    local crashes, elections, lost = 0, 0, 0
    for seed = 41, 60 do
      local r = R.scenario(seed, { steps = 60, trace = true, power_loss = seed % 2 == 0 })
      local c = r.cluster
      for _, p in ipairs{ 0, 1 } do
        local got = marks(c:timeline_svg{ topic = "orders", partition = p, to = c:now() })
        local want = { crash = 0, election = 0, lost = 0 }
        for _, e in ipairs(c:trace()) do
          if e.event == "crash" then want.crash = want.crash + 1 end
          if e.topic == "orders" and e.partition == p and (e.event == "election" or
             e.event == "unclean_election" or e.event == "elr_election" or e.event == "preferred_election") then
            want.election = want.election + 1
          end
        end
        for _, e in ipairs(r.audit.lost) do
          if e.partition == p then want.lost = want.lost + 1 end
        end
        for kind, n in pairs(want) do
          assert.equal(n, got[kind] or 0, ("seed %d partition %d: %s marks"):format(seed, p, kind))
        end
        crashes, elections, lost = crashes + want.crash, elections + want.election, lost + want.lost
      end
    end
    -- the scenarios had something to mark
    assert.is_true(crashes > 0 and elections > 40 and lost > 0)
  end)
end)

describe("the pictures", function()
  it("are byte-identical for the same seed, and differ for another", function()
    local function draw(seed)
      local r = R.scenario(seed, { steps = 60, trace = true, power_loss = true })
      return r.cluster:diagram(), r.cluster:timeline_svg()
    end
    local d1, s1 = draw(83)
    local d2, s2 = draw(83)
    local d3, s3 = draw(84)
    assert.equal(d1, d2)
    assert.equal(s1, s2)
    assert.not_equal(d1, d3)
    assert.not_equal(s1, s3)
  end)
end)
