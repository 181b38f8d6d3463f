-- One configuration table for both engines: the model (insync.cluster's
-- producers) takes every key librdkafka's producer takes, judged by
-- librdkafka itself, and ignores those it does not model; the transactional
-- keys raise on both until insync has transactions.
local insync = require "insync"
local helpers = require "helpers"

-- A production configuration: SASL over TLS, statistics, compression.
local function deployment()
  return {
    ["bootstrap.servers"] = "127.0.0.1:1",
    ["client.id"] = "orders-api",
    ["security.protocol"] = "SASL_SSL",
    ["sasl.mechanisms"] = "SCRAM-SHA-512",
    ["sasl.username"] = "orders",
    ["sasl.password"] = "from-the-environment",
    ["ssl.ca.location"] = "/etc/ssl/certs/ca-certificates.crt",
    ["ssl.endpoint.identification.algorithm"] = "https",
    ["statistics.interval.ms"] = 1000,
    ["compression.codec"] = "lz4",
    ["socket.keepalive.enable"] = true,
    ["enable.idempotence"] = true,
    acks = "all",
    ["linger.ms"] = 5,
  }
end

-- The message both engines raise for conf, without the position.
local function both_raise(conf)
  local c = insync.cluster{}
  local model = helpers.raises(c.producer, c, conf)
  local real = helpers.raises(insync.producer, conf)
  assert(model, "the model took it")
  assert(real, "the real producer took it")
  return (model:gsub("^[^:]*:%d+: ", "")), (real:gsub("^[^:]*:%d+: ", ""))
end

describe("one configuration for both engines", function()
  it("drives the model and the real producer with the same SASL/TLS, statistics and compression table", function()
    local c = insync.cluster{ brokers = 3 }
    c:create_topic("orders", { partitions = 1, replication_factor = 3 })
    local conf = deployment()
    conf.on_stats = function() end
    conf.on_log = function() end
    local mp = c:producer(conf)
    local got
    mp:send({ topic = "orders", key = "k", value = "v" }, function(report, err) got = { report.offset, err } end)
    c:run_for(1000)
    assert.are.same({ 0 }, got)     -- delivered at offset 0, no error: the SASL keys changed nothing
    local p = insync.producer(conf)
    assert.are.equal("insync.producer", tostring(p):match("^(%S+)"))
    p:close(0)
  end)

  it("raises on a typo with librdkafka's own message, on both engines alike", function()
    local model, real = both_raise({ ["securty.protocol"] = "SASL_SSL" })
    assert.are.equal("producer: property 'securty.protocol': No such configuration property: \"securty.protocol\"",
      model)
    assert.are.equal(model, real)
  end)

  it("raises on a value librdkafka refuses for a key the model does not model, as the real producer", function()
    local model, real = both_raise({ ["security.protocol"] = "bogus" })
    assert.matches("^producer: property 'security.protocol': Invalid value \"bogus\"", model)
    assert.are.equal(model, real)
    model = both_raise({ ["statistics.interval.ms"] = -1 })
    assert.matches("^producer: property 'statistics.interval.ms': .*outside allowed range", model)
    model = both_raise({ ["socket.keepalive.enable"] = {} })
    assert.are.equal("producer: property 'socket.keepalive.enable': expected string, number or boolean, got table",
      model)
  end)

  it("never shows a secret's value in the model's errors either", function()
    local secret = "hunter2-very-secret"
    local c = insync.cluster{}
    local err = helpers.raises(c.producer, c, { ["sasl.password"] = secret, ["security.protocol"] = "bogus" })
    assert.matches("security.protocol", err)
    assert.is_nil(err:find(secret, 1, true))
    err = helpers.raises(c.producer, c, { ["ssl.key.password"] = { secret } })
    assert.is_nil(err:find(secret, 1, true))
  end)

  it("refuses the transactional keys on both engines, until insync has transactions", function()
    for _, conf in ipairs({ { ["transactional.id"] = "orders-1" }, { ["transaction.timeout.ms"] = 60000 } }) do
      local key = next(conf)
      local model, real = both_raise(conf)
      local want = ("producer: property '%s': not supported: insync has no transactions yet"):format(key)
      assert.are.equal(want, model:sub(1, #want))
      assert.are.equal(model, real)
    end
  end)

  it("refuses delivery.report.only.error = true on both engines (every send gets its callback)", function()
    local model, real = both_raise({ ["delivery.report.only.error"] = true })
    assert.matches("not supported", model)
    assert.are.equal(model, real)
  end)

  it("reports which keys the model models; the others are accepted and ignored", function()
    local c = insync.cluster{}
    local keys = c:producer_keys()
    assert.are.same(keys, require("insync.cluster").modelled_producer_keys())
    local set = {}
    for _, k in ipairs(keys) do set[k] = true end
    for _, k in ipairs({ "acks", "enable.idempotence", "linger.ms", "retries", "message.timeout.ms",
      "max.in.flight.requests.per.connection", "queue.buffering.max.messages", "partitioner" }) do
      assert.is_true(set[k], k)
    end
    for k in pairs(deployment()) do
      if k ~= "acks" and k ~= "enable.idempotence" and k ~= "linger.ms" then
        assert.is_nil(set[k], k)
      end
    end
    local sorted = {}
    for i, k in ipairs(keys) do sorted[i] = k end
    table.sort(sorted)
    assert.are.same(sorted, keys)
  end)
end)
