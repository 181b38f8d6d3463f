-- A send without a callback that fails is never lost silently: on_error gets
-- (err, report), or without on_error one line goes to stderr.  A send
-- without a callback that succeeds stays silent.
local fixture = require "producer.fixture"
local helpers = require "helpers"

describe("a failed send without a callback", function()
  local m
  before_each(function() m = fixture.cluster(1, "orders", 1, 1) end)
  after_each(function() m:close() end)

  it("goes to on_error with the error and the report the callback would have got", function()
    local calls = {}
    local p = fixture.producer(m, { retries = 0,
      on_error = function(err, report) calls[#calls + 1] = { err = err, report = report } end })
    local marker = {}
    m:push_errors("Produce", { "NOT_ENOUGH_REPLICAS" })
    assert(p:send{ topic = "orders", partition = 0, key = "k", value = "v", opaque = marker })
    assert.equal(0, p:flush(20000))
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
    p:close()
  end)

  it("that librdkafka refuses at once goes to on_error too", function()
    local calls = {}
    local p = fixture.producer(m, {
      on_error = function(err, report) calls[#calls + 1] = { err = err, report = report } end })
    assert(p:send({ topic = "orders", value = "learn the partition count" }, function() end))
    assert.equal(0, p:flush(20000))
    assert(p:send{ topic = "orders", partition = 7, key = "k", value = "v", opaque = 42 })
    assert.equal(0, p:flush(20000))
    assert.equal(1, #calls)
    assert.equal("_UNKNOWN_PARTITION", calls[1].err.name)
    assert.equal(7, calls[1].report.partition)
    assert.equal(42, calls[1].report.opaque)
    p:close()
  end)

  it("leaves on_error alone when it succeeds, with or without an opaque", function()
    local calls = 0
    local p = fixture.producer(m, { on_error = function() calls = calls + 1 end })
    assert(p:send{ topic = "orders", value = "a" })
    assert(p:send{ topic = "orders", value = "b", opaque = "o" })
    assert.equal(0, p:flush(20000))
    assert.equal(0, p:outstanding())
    assert.equal(0, calls)
    p:close()
  end)

  it("propagates an on_error that raises with its traceback, keeping the rest queued", function()
    local seen = {}
    local p = fixture.producer(m, { retries = 0, ["linger.ms"] = 0,
      on_error = function(_, report)
        seen[#seen + 1] = report.key
        if #seen == 1 then error("boom from on_error") end
      end })
    m:push_errors("Produce", { "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS" })
    assert(p:send{ topic = "orders", partition = 0, key = "1", value = "v" })
    assert(p:send{ topic = "orders", partition = 0, key = "2", value = "v" })
    local ok, err = pcall(p.flush, p, 20000)
    assert.is_false(ok)
    assert.matches("boom from on_error", err)
    assert.matches("stack traceback", err)
    assert.same({ "1" }, seen)
    assert.equal(0, p:flush(20000))
    assert.same({ "1", "2" }, seen)
    p:close()
  end)

  it("without on_error writes one line to stderr, and a success writes none", function()
    local lines, out = helpers.insync_lines("spec/producer/undelivered_check.lua")
    assert.equal(1, #lines, out)
    assert.matches("^insync: undelivered record %(no callback, no on_error%): orders %[0%]: "
      .. "NOT_ENOUGH_REPLICAS: %S.*$", lines[1])
  end)
end)
