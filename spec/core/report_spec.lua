-- The report a send's callback gets: one object for both engines, read
-- like a table (fields, tostring, pairs, totable), fields may be set.
local insync = require "insync"
local fixture = require "producer.fixture"

-- The reports of two sends on the model: one keyed with an opaque, one bare.
local function model_reports()
  local c = insync.cluster{ brokers = 3, seed = 7 }
  c:create_topic("orders", { partitions = 2, replication_factor = 3 })
  local p = c:producer{ acks = "all" }
  local got = {}
  p:send({ topic = "orders", partition = 1, key = "k\0ey", value = "v", opaque = { n = 1 } },
    function(report, err) got[1] = { report, err } end)
  p:send({ topic = "orders", partition = 0, value = "v" },
    function(report, err) got[2] = { report, err } end)
  assert.is_true(c:run(60000))
  -- reports outlive their cluster
  c, p = nil, nil -- luacheck: no unused
  collectgarbage()
  collectgarbage()
  return got[1][1], got[2][1], got[1][2]
end

describe("a report", function()
  it("carries topic, partition, offset, key, opaque and latency as fields", function()
    local r, bare, err = model_reports()
    assert.is_nil(err)
    assert.equal("orders", r.topic)
    assert.equal(1, r.partition)
    assert.equal(0, r.offset)
    assert.equal("k\0ey", r.key)                 -- bytes, not a C string
    assert.equal(1, r.opaque.n)
    assert.is_true(r.latency_ms >= 0)
    assert.is_nil(bare.key)
    assert.is_nil(bare.opaque)
    assert.is_nil(r.no_such_field)
    assert.is_nil(r[1])
  end)

  it("turns into a plain table with totable, and iterates with pairs on Lua 5.2 to 5.4", function()
    local r = model_reports()
    local t = r:totable()
    assert.equal("table", type(t))
    assert.same({ topic = "orders", partition = 1, offset = 0, key = "k\0ey",
                  opaque = r.opaque, latency_ms = r.latency_ms }, t)
    if _VERSION ~= "Lua 5.1" then   -- the pairs of 5.1 and LuaJIT takes tables only
      local seen = {}
      for k, v in pairs(r) do seen[k] = v end
      assert.same(t, seen)
    end
  end)

  it("keeps fields a callback sets, over the built-in ones", function()
    local r = model_reports()
    r.seen_by = "audit"
    r.opaque = "replaced"
    r.offset = 99
    assert.equal("audit", r.seen_by)
    assert.equal("replaced", r.opaque)
    assert.equal(99, r.offset)
    assert.equal("audit", r:totable().seen_by)
    assert.equal(99, r:totable().offset)
  end)

  it("reads in tostring", function()
    local r, bare = model_reports()
    assert.matches("^insync%.report{topic=orders partition=0 offset=0 latency_ms=%d+}$", tostring(bare))
    assert.matches("opaque=table: ", tostring(r))
  end)

  it("is the same object from the real producer, with a fractional latency and no offset on failure", function()
    local m = fixture.cluster(1, "orders", 1, 1)
    local p = fixture.producer(m, { ["message.timeout.ms"] = 2000 })
    local got = {}
    assert(p:send({ topic = "orders", key = "k", value = "v", opaque = "o" },
      function(report, err) got[1] = { report, err } end))
    assert.equal(0, p:flush(10000))
    m:broker_down(1)
    assert(p:send({ topic = "orders", partition = 0, value = "v" },
      function(report, err) got[2] = { report, err } end))
    p:flush(10000)
    p:close()
    m:close()
    local ok, bad = got[1][1], got[2][1]
    assert.equal(getmetatable(model_reports()), getmetatable(ok))
    assert.same({ "orders", 0, 0, "k", "o" }, { ok.topic, ok.partition, ok.offset, ok.key, ok.opaque })
    assert.is_true(ok.latency_ms > 0)
    assert.equal("_MSG_TIMED_OUT", got[2][2].name)
    assert.is_nil(bad.offset)
    assert.equal(0, bad.partition)
  end)
end)
