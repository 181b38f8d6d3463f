-- A send without a callback that fails is never lost silently: the
-- producer's on_error gets (err, report), or without on_error one line goes
-- to stderr, as with insync.producer.  A success without a callback stays
-- silent.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")
local helpers = require "helpers"

-- A partition whose ISR is down to {1, 2} under min.insync.replicas = 3.
local function short_isr()
  local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 3 } }
  c:crash(3)
  c:run_for(60000)
  assert.same({ 1, 2 }, c:partition("orders", 0).isr)
  return c
end

describe("a failed send without a callback", function()
  it("goes to on_error with the error and the report the callback would have got", function()
    local c = short_isr()
    local calls = {}
    local p = c:producer{ retries = 0,
      on_error = function(err, report) calls[#calls + 1] = { err = err, report = report } end }
    local marker = {}
    assert(p:send{ topic = "orders", partition = 0, key = "k", value = "v", opaque = marker })
    assert.is_true(c:run())
    assert.equal(1, #calls)
    local err, report = calls[1].err, calls[1].report
    assert.equal("NOT_ENOUGH_REPLICAS", err.name)
    assert.equal(19, err.code)
    assert.equal("not_persisted", err.persisted)
    assert.equal("orders", report.topic)
    assert.equal(0, report.partition)
    assert.equal("k", report.key)
    assert.equal(marker, report.opaque)
    assert.is_nil(report.offset)
    assert.equal(1, c:audit().failed)
  end)

  it("that the model refuses at once goes to on_error too", function()
    local c = S.cluster{ config = { ["auto.create.topics.enable"] = false } }
    local calls = {}
    local p = c:producer{ on_error = function(err, report) calls[#calls + 1] = { err, report } end }
    assert(p:send{ topic = "orders", partition = 7, value = "v", opaque = 42 })
    assert(p:send{ topic = "nope", value = "v" })
    c:run()
    assert.equal(2, #calls)
    assert.equal("_UNKNOWN_PARTITION", calls[1][1].name)
    assert.equal(7, calls[1][2].partition)
    assert.equal(42, calls[1][2].opaque)
    -- a missing topic's first record waits topic.metadata.propagation.max.ms
    -- (librdkafka 2.0.2), then fails with the broker's answer
    assert.equal("UNKNOWN_TOPIC_OR_PART", calls[2][1].name)
    assert.equal("nope", calls[2][2].topic)
  end)

  it("is only for sends without a callback, of that producer; successes stay silent", function()
    local c = short_isr()
    local mine, other, cb = 0, 0, 0
    local p = c:producer{ retries = 0, on_error = function() mine = mine + 1 end }
    local q = c:producer{ retries = 0, on_error = function() other = other + 1 end }
    p:send({ topic = "orders", value = "v" }, function(_, err) assert(err); cb = cb + 1 end)
    p:send{ topic = "orders", value = "w" }
    c:run_for(1000)
    assert.equal(1, cb)
    assert.equal(1, mine)
    c:restart(3)
    c:run_for(60000)
    assert.same({ 1, 2, 3 }, c:partition("orders", 0).isr)
    p:send{ topic = "orders", value = "x" }
    p:send{ topic = "orders", value = "y", opaque = "o" }
    assert.is_true(c:run())
    assert.equal(1, cb)
    assert.equal(1, mine)      -- the successes added nothing
    assert.equal(0, other)
    local a = c:audit()
    assert.equal(2, a.acked)
    assert.equal(2, a.failed)
    assert.is_truthy(q)
  end)

  it("propagates an on_error that raises with its traceback, keeping the rest queued", function()
    local c = S.cluster{}
    local seen = {}
    local p = c:producer{ on_error = function(_, report)
      seen[#seen + 1] = report.key
      if #seen == 1 then error("boom from on_error") end
    end }
    p:send{ topic = "orders", partition = 9, key = "1" }
    p:send{ topic = "orders", partition = 9, key = "2" }
    local ok, err = pcall(c.run, c)
    assert.is_false(ok)
    assert.matches("boom from on_error", err)
    assert.matches("stack traceback", err)
    assert.same({ "1" }, seen)
    assert.is_true(c:run())
    assert.same({ "1", "2" }, seen)
  end)

  it("raises on an on_error that is not a function, naming it", function()
    local c = S.cluster{}
    assert.matches("producer: on_error: expected function, got string",
      helpers.raises(c.producer, c, { on_error = "print" }))
  end)

  it("without on_error writes one line to stderr, and a success writes none", function()
    local lines, out = helpers.insync_lines("spec/model/undelivered_check.lua")
    assert.equal(1, #lines, out)
    assert.equal("insync: undelivered record (no callback, no on_error): orders [4]: "
      .. "_UNKNOWN_PARTITION: Local: Unknown partition", lines[1])
  end)
end)
