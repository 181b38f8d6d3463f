-- Configuration under Kafka's and librdkafka's names, validated; misuse
-- raises naming the argument.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")
local insync = require "insync"

local raises = S.raises

describe("configuration", function()
  it("takes Kafka's broker defaults", function()
    local c = insync.cluster{}
    c:create_topic("t")
    local part = c:partition("t", 0)
    assert.same({ 1 }, part.assignment)       -- num.partitions 1, default.replication.factor 1
  end)

  it("raises on an unknown key, a wrong type, a bad value", function()
    raises("cluster: config: unknown key 'min.insync.replica'", insync.cluster,
      { config = { ["min.insync.replica"] = 2 } })
    raises('cluster: config["min.insync.replicas"]: expected integer, got table', insync.cluster,
      { config = { ["min.insync.replicas"] = {} } })
    raises('cluster: config["min.insync.replicas"]: expected at least 1, got 0', insync.cluster,
      { config = { ["min.insync.replicas"] = 0 } })
    raises('cluster: config["unclean.leader.election.enable"]: expected boolean', insync.cluster,
      { config = { ["unclean.leader.election.enable"] = 1 } })
    raises("cluster: brokers: expected at most 63", insync.cluster, { brokers = 64 })
    raises("cluster: unknown option 'broker'", insync.cluster, { broker = 3 })
    local c = insync.cluster{ config = { ["min.insync.replicas"] = "2" } }   -- properties are strings
    raises("create_topic: replication_factor: 4 is larger than the number of brokers (3)",
      c.create_topic, c, "t", { replication_factor = 4 })
    raises('create_topic: config["min.insync.replicas"]: expected at least 1, got 0',
      c.create_topic, c, "t", { config = { ["min.insync.replicas"] = 0 } })
    raises("create_topic: config: unknown key 'retention.mss'", c.create_topic, c, "t",
      { config = { ["retention.mss"] = 1 } })
    raises("create_topic: name: expected a topic name (1 to 249 of a-z A-Z 0-9 . _ -), got number",
      c.create_topic, c, 42)
    for _, bad in ipairs({ "", "a b", "t\0x", ".", "..", ("a"):rep(250), "caf\195\169" }) do
      raises("create_topic: name: expected a topic name", c.create_topic, c, bad)
    end
    c:create_topic(("a"):rep(249)); c:create_topic("Orders.v1_eu-2")
    c:create_topic("t", { replication_factor = 3 })
    raises("create_topic: topic 't' already exists", c.create_topic, c, "t")
  end)

  it("takes librdkafka's producer names and aliases, and its idempotence rules", function()
    local c = S.cluster{}
    raises("producer: property 'ack': No such configuration property", c.producer, c, { ack = 1 })
    raises('producer: acks: expected "all", "-1", "0", "1"', c.producer, c, { acks = 2 })
    raises("producer: linger.ms: expected a number", c.producer, c, { ["linger.ms"] = -1 })
    raises('producer: acks: must be "all" when enable.idempotence is true', c.producer, c,
      { ["enable.idempotence"] = true, acks = 1 })
    raises("producer: max.in.flight.requests.per.connection: must be at most 5", c.producer, c,
      { ["enable.idempotence"] = true, ["max.in.flight.requests.per.connection"] = 6 })
    assert.truthy(c:producer{ ["request.required.acks"] = -1, ["queue.buffering.max.ms"] = 1,
                               ["message.timeout.ms"] = 1000, ["bootstrap.servers"] = "x:9092" })
  end)

  it("raises on misuse of every method, naming the argument", function()
    local c = S.cluster{}
    local p = c:producer{}
    raises("send: msg: expected table, got string", p.send, p, "hello")
    raises("send: msg.topic: expected string, got nil", p.send, p, { value = "x" })
    raises("send: msg.key: expected string or nil, got number", p.send, p, { topic = "orders", key = 1 })
    raises("send: msg.value: expected string or nil, got table", p.send, p, { topic = "orders", value = {} })
    raises("send: msg.partition: expected a partition number (integer >= 0), got -1", p.send, p, { topic = "orders", partition = -1 })
    raises("send: msg.headers: expected table", p.send, p, { topic = "orders", headers = "h" })
    raises("send: msg.headers (a value): expected string, got number", p.send, p,
      { topic = "orders", headers = { h = 1 } })
    raises("send: msg.headers (a name): expected string, got number", p.send, p,
      { topic = "orders", headers = { "h" } })
    raises("send: msg.headers[i][1]: expected string, got nil", p.send, p,
      { topic = "orders", headers = { {} } })
    raises("send: msg.headers[i][2]: expected string or nil, got number", p.send, p,
      { topic = "orders", headers = { { "h", 2 } } })
    raises("send: msg.timestamp: expected milliseconds since the epoch (integer >= 0), got -1",
      p.send, p, { topic = "orders", timestamp = -1 })
    raises("send: msg.timestamp: expected milliseconds since the epoch (integer >= 0), got string",
      p.send, p, { topic = "orders", timestamp = "now" })
    raises("send: callback: expected function, got number", p.send, p, { topic = "orders" }, 5)
    raises("run_for: ms: expected a number >= 0, got nil", c.run_for, c, nil)
    raises("run_for: ms: expected a number >= 0, got a negative number", c.run_for, c, -1)
    raises("run: max_ms: expected a number >= 0, got string", c.run, c, "x")
    raises("crash: broker: expected a broker id 1..3, got 4", c.crash, c, 4)
    raises("crash: opts.lose_unflushed: expected boolean", c.crash, c, 1, { lose_unflushed = "yes" })
    raises("crash: opts: unknown option 'lose_unflused'", c.crash, c, 1, { lose_unflused = true })
    raises("restart: broker 1 is running", c.restart, c, 1)
    c:crash(1)
    raises("crash: broker 1 is already down", c.crash, c, 1)
    raises("shutdown: broker 1 is already down", c.shutdown, c, 1)
    raises("shutdown: broker: expected a broker id 1..3, got nil", c.shutdown, c)
    raises('cut: a: expected a broker id, "controller" or a producer, got nil', c.cut, c)
    raises("cut: b: expected a broker id 1..3, got 9", c.cut, c, 1, 9)
    raises("drop: from and to are the same node", c.drop, c, 2, 2)
    raises("isolate: node: expected a broker id", c.isolate, c, {})
    raises("partition: topic: no topic 'nope'", c.partition, c, "nope", 0)
    raises("partition: partition: expected 0..0, got 1", c.partition, c, "orders", 1)
    raises("log: broker: expected a broker id 1..3", c.log, c, "orders", 0, 0)
    raises("trace_json: path: expected string, got nil", c.trace_json, c)
    local other = S.cluster{}
    raises("cut: a: expected a producer of this cluster", other.cut, other, p, 1)
  end)

  it("takes a float with a whole value (6 / 2) where it takes an integer, and refuses nan", function()
    -- Lua 5.4 has float and integer numbers: 6 / 2 is the float 3.0
    local c = insync.cluster{ brokers = 6 / 2, config = { ["replica.lag.time.max.ms"] = 3e4 } }
    c:create_topic("t", { partitions = 4 / 2, replication_factor = 3.0,
                          config = { ["min.insync.replicas"] = 4 / 2 } })
    local p = c:producer{ retries = 1e3, ["linger.ms"] = 2.5 }
    local part
    assert.truthy(p:send({ topic = "t", partition = 2 / 2, value = "x" }, function(r) part = r.partition end))
    c:crash(6 / 3)
    assert.is_true(c:run())
    assert.equal(1, part)
    assert.equal(2, #c:partition("t", 2 / 2).isr)
    raises("create_topic: partitions: expected integer, got a fraction", c.create_topic, c, "u",
      { partitions = 1.5 })
    raises("send: msg.partition: expected a partition number (integer >= 0), got 0.5", p.send, p,
      { topic = "t", partition = 0.5 })
    local nan = 0 / 0
    raises("run_for: ms: expected a number >= 0, got nan", c.run_for, c, nan)
    raises("run: max_ms: expected a number >= 0, got nan", c.run, c, nan)
    raises("producer: linger.ms: expected a number 0..900000", c.producer, c, { ["linger.ms"] = nan })
    raises("create_topic: partitions: expected integer", c.create_topic, c, "v", { partitions = nan })
  end)
end)
