-- Configuration: librdkafka's property names; misuse raises naming the key;
-- secrets never show.
local insync = require "insync"
local fixture = require "producer.fixture"
local helpers = require "helpers"

describe("producer configuration", function()
  it("raises on an unknown property with librdkafka's message and the key", function()
    local err = helpers.raises(insync.producer, { ["no.such.property"] = "1" })
    assert.matches("producer: property 'no.such.property': No such configuration property", err, 1, true)
  end)

  it("raises on a bad value with the key's name", function()
    local err = helpers.raises(insync.producer, { acks = "sometimes" })
    assert.matches("producer: property 'acks':", err, 1, true)
    err = helpers.raises(insync.producer, { ["linger.ms"] = -5 })
    assert.matches("producer: property 'linger.ms':", err, 1, true)
  end)

  it("refuses delivery.report.only.error, which would leave successful sends without their callback", function()
    for _, v in ipairs({ true, "true" }) do
      local err = helpers.raises(insync.producer, { ["bootstrap.servers"] = "127.0.0.1:1",
                                                    ["delivery.report.only.error"] = v })
      assert.matches("producer: property 'delivery.report.only.error': not supported", err, 1, true)
    end
    insync.producer{ ["bootstrap.servers"] = "127.0.0.1:1", ["delivery.report.only.error"] = false }:close(0)
  end)

  it("raises on wrong types, naming the argument", function()
    assert.matches("producer: conf: expected table, got string", helpers.raises(insync.producer, "x"))
    assert.matches("producer: property 'acks': expected string, number or boolean, got table",
      helpers.raises(insync.producer, { acks = {} }))
    assert.matches("producer: on_error: expected function, got string",
      helpers.raises(insync.producer, { on_error = "print" }))
    assert.matches("producer: configuration keys must be strings, got number",
      helpers.raises(insync.producer, { 1 }))
  end)

  it("takes numbers and booleans as librdkafka's strings", function()
    local p = insync.producer{ ["linger.ms"] = 7, ["enable.idempotence"] = false,
                               ["batch.num.messages"] = 1000.0 }
    p:close()
  end)

  it("never echoes a secret, in errors, logs or tostring", function()
    local secret = "hunter2-very-secret"
    local err = helpers.raises(insync.producer, { ["sasl.password"] = { secret } })
    assert.is_nil(err:find(secret, 1, true))
    err = helpers.raises(insync.producer, { ["sasl.password"] = secret, ["security.protocol"] = "bogus" })
    assert.matches("security.protocol", err)
    assert.is_nil(err:find(secret, 1, true))
    local logs = {}
    local p = insync.producer{
      ["sasl.password"] = secret, ["sasl.username"] = "u", ["ssl.key.password"] = secret,
      ["security.protocol"] = "sasl_plaintext", ["sasl.mechanism"] = "PLAIN",
      debug = "conf,generic",
      on_log = function(_, _, msg) logs[#logs + 1] = msg end,
    }
    p:poll(100)
    assert.is_true(#logs > 0)
    for _, line in ipairs(logs) do assert.is_nil(line:find(secret, 1, true)) end
    assert.is_nil(tostring(p):find(secret, 1, true))
    p:close()
  end)

  it("raises on misuse of send, naming the field", function()
    local m = fixture.cluster(1, "orders", 1, 1)
    local p = fixture.producer(m)
    assert.matches("send: msg: expected table, got nil", helpers.raises(p.send, p))
    assert.matches("send: msg.topic: expected string, got nil", helpers.raises(p.send, p, {}))
    assert.matches("send: msg.key: expected string or nil, got table",
      helpers.raises(p.send, p, { topic = "orders", key = {} }))
    assert.matches("send: msg.value: expected string or nil, got boolean",
      helpers.raises(p.send, p, { topic = "orders", value = true }))
    assert.matches("send: msg.partition: expected a partition number",
      helpers.raises(p.send, p, { topic = "orders", partition = -3 }))
    assert.matches("send: msg.partition: expected a partition number",
      helpers.raises(p.send, p, { topic = "orders", partition = 1.5 }))
    assert.matches("send: msg.timestamp: expected milliseconds",
      helpers.raises(p.send, p, { topic = "orders", timestamp = "now" }))
    assert.matches("send: msg.headers: expected table, got string",
      helpers.raises(p.send, p, { topic = "orders", headers = "h" }))
    assert.matches("send: msg.headers %(a value%): expected string, got number",
      helpers.raises(p.send, p, { topic = "orders", headers = { a = 1 } }))
    assert.matches("send: callback: expected function, got number",
      helpers.raises(p.send, p, { topic = "orders" }, 5))
    for _, call in ipairs({ "poll", "flush", "close" }) do
      assert.matches(call .. ": timeout_ms: expected number, got nan",
        helpers.raises(p[call], p, 0 / 0))
    end
    assert.truthy(p:send({ topic = "orders", partition = 2 / 2 - 1, value = "whole float" }))
    assert.equal(0, p:flush(10000))
    assert.equal(0, p:outstanding())
    p:close()
    m:close()
  end)
end)
