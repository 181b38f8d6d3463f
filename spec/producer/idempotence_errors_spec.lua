-- librdkafka 2.0.2's idempotent producer against errors its mock cluster
-- injects: the rows of the model's error matrix (docs/kafka-semantics.md,
-- "Fidelity table") that the real client can show.  The model follows
-- rd_kafka_handle_idempotent_Produce_error (rdkafka_request.c); these
-- confirm what that function does with a real librdkafka.
local fixture = require "producer.fixture"

local function send_one(p, msg)
  local got
  assert(p:send(msg, function(report, err) got = { report = report, err = err } end))
  p:flush(20000)
  return got
end

describe("the idempotent producer (librdkafka)", function()
  local m
  before_each(function() m = fixture.cluster(3, "orders", 1, 3) end)
  after_each(function() m:close() end)

  it("takes OUT_OF_ORDER_SEQUENCE_NUMBER for its oldest unacknowledged batch as fatal", function()
    local p = fixture.producer(m, { ["enable.idempotence"] = true })
    assert.is_nil(send_one(p, { topic = "orders", value = "warm" }).err)
    m:push_errors("Produce", { "OUT_OF_ORDER_SEQUENCE_NUMBER" })
    local got = send_one(p, { topic = "orders", value = "v" })
    assert.equal("OUT_OF_ORDER_SEQUENCE_NUMBER", got.err.name)
    assert.equal("possibly_persisted", got.err.persisted)
    -- every later send is refused with the fatal error
    local later = send_one(p, { topic = "orders", value = "later" })
    assert.truthy(later.err)
    assert.is_true(later.err.fatal)
    p:close()
  end)

  it("takes DUPLICATE_SEQUENCE_NUMBER as a delivery", function()
    local p = fixture.producer(m, { ["enable.idempotence"] = true })
    assert.is_nil(send_one(p, { topic = "orders", value = "warm" }).err)
    m:push_errors("Produce", { "DUPLICATE_SEQUENCE_NUMBER" })
    local got = send_one(p, { topic = "orders", value = "v" })
    assert.is_nil(got.err)
    p:close()
  end)

  it("bumps its epoch and retries on UNKNOWN_PRODUCER_ID when nothing is unaccounted for", function()
    local p = fixture.producer(m, { ["enable.idempotence"] = true })
    assert.is_nil(send_one(p, { topic = "orders", value = "warm" }).err)
    m:push_errors("Produce", { "UNKNOWN_PRODUCER_ID" })
    local got = send_one(p, { topic = "orders", value = "v" })
    assert.is_nil(got.err)
    assert.is_nil(send_one(p, { topic = "orders", value = "after" }).err)
    p:close()
  end)
end)
