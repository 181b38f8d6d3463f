-- Misuse raises a short message that names the function (or method) and
-- the argument, on every public function: never Lua's "bad argument #1 to
-- '?'", a string.format complaint, an index of nil, or a megabyte echoed.
local insync = require "insync"
local helpers = require "helpers"

local BIG = ("x"):rep(1024 * 1024)

-- The message of fn(...)'s error, asserted short and free of the usual
-- unclear forms.
local function message(fn, ...)
  local err = helpers.raises(fn, ...)
  assert.is_not_nil(err, "did not raise")
  assert.is_true(#err <= 400, "too long: " .. #err .. " bytes: " .. err:sub(1, 200))
  for _, bad in ipairs({ "to '%?'", "'format'", "a nil value", "no integer representation",
                         "%-9223372036854775808" }) do
    assert.not_matches(bad, err)
  end
  return err
end

describe("messages of misuse", function()
  it("say 'expected integer' for inf, -inf and nan given as an integer option", function()
    for _, v in ipairs({ math.huge, -math.huge, 0 / 0 }) do
      assert.matches("cluster: brokers: expected integer, got %-?[a-z]+", message(insync.cluster, { brokers = v }))
      assert.matches("cluster: seed: expected integer", message(insync.cluster, { seed = v }))
      local c = insync.cluster{}
      assert.matches("create_topic: partitions: expected integer",
        message(c.create_topic, c, "t", { partitions = v }))
      assert.matches('producer: retries: expected integer', message(c.producer, c, { retries = v }))
      local m = insync.mock{ brokers = 1 }
      assert.matches("create_topic: partitions: expected an integer >= 1, got %-?[a-z]+",
        message(m.create_topic, m, "t", v))
      assert.matches("mock: brokers: expected an integer >= 1", message(insync.mock, { brokers = v }))
      m:close()
    end
    assert.matches("cluster: latency_ms: expected at least 0, got %-1e%+300",
      message(insync.cluster, { latency_ms = -1e300 }))
  end)

  it("name the method and the expected type for a wrong self, before any side effect", function()
    local c = insync.cluster{}
    local p = c:producer{}
    for _, self in ipairs({ false, 1, "s", {}, p }) do
      assert.matches("create_topic: self: expected insync.cluster, got",
        message(c.create_topic, self, "t"))
      assert.matches("producer: self: expected insync.cluster, got", message(c.producer, self, {}))
      assert.matches("trace_json: self: expected insync.cluster, got", message(c.trace_json, self, "x"))
      assert.matches("run: self: expected insync.cluster, got", message(c.run, self))
      assert.matches("now: self: expected insync.cluster, got", message(c.now, self))
    end
    assert.matches("send: self: expected insync.cluster.producer, got table", message(p.send, {}, { topic = "t" }))
    local m = insync.mock{ brokers = 1 }
    assert.matches("brokers: self: expected insync.mock, got nil", message(m.brokers))
    assert.matches("create_topic: self: expected insync.mock, got table", message(m.create_topic, {}, "t"))
    m:close()
    local rp = insync.producer{ ["bootstrap.servers"] = "127.0.0.1:1" }
    assert.matches("poll: self: expected insync.producer, got", message(rp.poll, c))
    rp:close(0)
  end)

  it("leave trace_json's file alone when the cluster is closed", function()
    local dir = helpers.tmpdir()
    local path = dir .. "/trace.json"
    local f = assert(io.open(path, "w")); f:write("keep me\n"); f:close()
    local c = insync.cluster{ trace = true }
    getmetatable(c).__gc(c)
    assert.matches("trace: attempt to use a closed cluster", message(c.trace_json, c, path))
    assert.equal("keep me\n", helpers.read(path))
    os.remove(path); os.remove(dir)
  end)

  it("cut a long value to 60 bytes and '...'", function()
    local c = insync.cluster{}
    local m = insync.mock{ brokers = 1 }
    local cases = {
      { "cluster: unknown option 'xxx", insync.cluster, { [BIG] = 1 } },
      { "cluster: config: unknown key 'xxx", insync.cluster, { config = { [BIG] = 1 } } },
      { "create_topic: unknown option 'xxx", c.create_topic, c, "t", { [BIG] = 1 } },
      { "producer: property 'xxx", c.producer, c, { [BIG] = 1 } },
      { "insync.errors: unknown error name 'xxx", function() return insync.errors[BIG] end },
      { "error: code: unknown error name 'xxx", insync.error, BIG },
      { "crash: opts: unknown option 'xxx", c.crash, c, 1, { [BIG] = true } },
      { "partition: topic: no topic 'xxx", c.partition, c, BIG, 0 },
      { "push_errors: request: unknown request type 'xxx", m.push_errors, m, BIG, {} },
      { "push_errors: unknown error name 'xxx", m.push_errors, m, "Produce", { BIG } },
      { "producer: property 'xxx", insync.producer, { [BIG] = "1" } },
      { "send: msg.topic: expected a topic name", c:producer{}.send, c:producer{}, { topic = BIG } },
      { "error: persisted: expected", insync.error, "NOT_ENOUGH_REPLICAS", nil, BIG },
    }
    for _, case in ipairs(cases) do
      local err = message(case[2], (table.unpack or unpack)(case, 3))
      assert.matches(case[1], err, 1, true)
      assert.not_matches(("x"):rep(61), err)
    end
    m:close()
  end)
end)
