-- Failures reach the callback as the shared error object.
local fixture = require "producer.fixture"

local function send_one(p, msg)
  local got
  assert(p:send(msg, function(report, err) got = { report = report, err = err } end))
  assert.equal(0, p:flush(20000))
  return got.report, got.err
end

describe("producer errors", function()
  local m
  before_each(function() m = fixture.cluster(3, "orders", 1, 3) end)
  after_each(function() m:close() end)

  it("delivers a pushed NOT_ENOUGH_REPLICAS as such when retries = 0", function()
    local p = fixture.producer(m, { acks = "all", retries = 0 })
    m:push_errors("Produce", { "NOT_ENOUGH_REPLICAS" })
    local report, err = send_one(p, { topic = "orders", key = "k", value = "v" })
    assert.equal(19, err.code)
    assert.equal("NOT_ENOUGH_REPLICAS", err.name)
    assert.is_true(err.retriable)
    assert.is_false(err.fatal)
    assert.equal("not_persisted", err.persisted)
    assert.is_nil(report.offset)
    assert.equal("k", report.key)
    assert.equal("NOT_ENOUGH_REPLICAS: " .. err.message, tostring(err))
    p:close()
  end)

  it("retries NOT_ENOUGH_REPLICAS until the record times out", function()
    local p = fixture.producer(m, { acks = "all", ["message.timeout.ms"] = 1500,
                                    ["retry.backoff.ms"] = 10 })
    local errs = {}
    for i = 1, 1000 do errs[i] = "NOT_ENOUGH_REPLICAS" end
    m:push_errors("Produce", errs)
    local _, err = send_one(p, { topic = "orders", value = "v" })
    assert.equal("_MSG_TIMED_OUT", err.name)
    assert.equal(-192, err.code)
    assert.is_true(err.retriable)
    assert.equal("not_persisted", err.persisted)
    m:clear_errors("Produce")
    p:close()
  end)

  it("times a record out when the partition's leader is down", function()
    local p = fixture.producer(m, { ["message.timeout.ms"] = 1500 })
    m:set_leader("orders", 0, 2)
    m:broker_down(2)
    local _, err = send_one(p, { topic = "orders", partition = 0, value = "v" })
    assert.equal("_MSG_TIMED_OUT", err.name)
    p:close()
    m:broker_up(2)
    local p2 = fixture.producer(m)
    local report, err2 = send_one(p2, { topic = "orders", partition = 0, value = "v" })
    assert.is_nil(err2)
    assert.equal(0, report.offset)
    p2:close()
  end)

  it("hands a fatal error to on_error, fails later sends with it at once, and does not hang", function()
    local seen = {}
    local p = fixture.producer(m, { ["enable.idempotence"] = true,
                                    on_error = function(err) seen[#seen + 1] = err end })
    local _, ok_err = send_one(p, { topic = "orders", value = "before" })
    assert.is_nil(ok_err)
    assert.is_true(p:test_fatal_error("OUT_OF_ORDER_SEQUENCE_NUMBER", "spec"))
    p:poll(100)
    local fatal
    for _, e in ipairs(seen) do if e.fatal then fatal = e end end
    assert.is_truthy(fatal, "on_error got no fatal error")
    assert.equal("OUT_OF_ORDER_SEQUENCE_NUMBER", fatal.name)
    assert.is_false(fatal.retriable)
    local report, err = send_one(p, { topic = "orders", key = "k", value = "after" })
    assert.is_true(err.fatal)
    assert.is_false(err.retriable)
    assert.equal("OUT_OF_ORDER_SEQUENCE_NUMBER", err.name)
    assert.equal("not_persisted", err.persisted)
    assert.equal("k", report.key)
    assert.is_nil(report.offset)
    assert.equal(0, p:close(5000))
  end)

  it("gives the sends queued at a fatal error their callbacks at once", function()
    local p = fixture.producer(m, { ["enable.idempotence"] = true, on_error = function() end })
    local _, ok_err = send_one(p, { topic = "orders", value = "before" })
    assert.is_nil(ok_err)
    m:broker_down(1); m:broker_down(2); m:broker_down(3)
    local errs = {}
    for i = 1, 3 do
      assert(p:send({ topic = "orders", value = "queued" }, function(_, e) errs[i] = e end))
    end
    p:test_fatal_error("OUT_OF_ORDER_SEQUENCE_NUMBER", "spec")
    assert.equal(0, p:flush(5000))
    for i = 1, 3 do
      assert.equal("_PURGE_QUEUE", errs[i].name)
      assert.equal("not_persisted", errs[i].persisted)
    end
    p:close(0)
    m:broker_up(1); m:broker_up(2); m:broker_up(3)
  end)

  it("reports a partition the topic does not have through the callback, as the model does", function()
    local p = fixture.producer(m)
    send_one(p, { topic = "orders", value = "learn the partition count" })
    local marker = {}
    local report, err = send_one(p, { topic = "orders", partition = 7, key = "k", value = "v",
                                      opaque = marker })
    assert.equal("_UNKNOWN_PARTITION", err.name)
    assert.equal("not_persisted", err.persisted)
    assert.equal("orders", report.topic)
    assert.equal(7, report.partition)
    assert.equal("k", report.key)
    assert.equal(marker, report.opaque)
    p:close()
  end)

  it("reports a record over message.max.bytes through the callback", function()
    local p = fixture.producer(m, { ["message.max.bytes"] = 1000 })
    local _, err = send_one(p, { topic = "orders", value = ("x"):rep(5000) })
    assert.equal("MSG_SIZE_TOO_LARGE", err.name)
    p:close()
  end)
end)
