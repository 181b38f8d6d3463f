-- send reads msg once, on both engines: a __gc finalizer that changes
-- msg.topic (or key, value) while send runs changes nothing send does, and
-- never files one topic under another's name for later sends.
local insync = require "insync"
local helpers = require "helpers"

-- Sends `msg` with a finalizer pending that, when it runs, points msg at
-- topic `other` and drops its key and value; returns what send returned.
local function send_while_finalizer_changes(p, msg, other)
  local pre, ok, err = {}, nil, nil   -- luacheck: ignore pre
  local cb, inside, insend = function() end, false, false
  helpers.eager_gc(function()
    local keep = { helpers.finalizable(function()   -- luacheck: ignore keep
      inside = insend
      msg.topic = other; msg.key = nil; msg.value = nil
      collectgarbage()   -- the strings send read, unless it keeps them
    end) }
    keep = nil
    pre[1] = true   -- luacheck: ignore pre (allocates with no GC check after it)
    insend = true
    ok, err = pcall(p.send, p, msg, cb)
    insend = false
  end)
  return ok, err, inside
end

-- The values of a topic of a mock cluster, read back with kcat.
local function values(m, topic)
  local out, ok = helpers.sh(("kcat -C -q -e -b %s -t %s -f '%%s\\n'")
    :format(m:bootstrap_servers(), topic))
  assert(ok, out)
  local list = {}
  for v in out:gmatch("[^\n]+") do list[#list + 1] = v end
  table.sort(list)
  return list
end

describe("send reads msg once", function()
  it("on the model: a topic changed by a finalizer is not filed under another name", function()
    local c = insync.cluster{ brokers = 1 }
    c:create_topic("a"); c:create_topic("b"); c:create_topic("z")
    local p = c:producer{}
    p:send({ topic = "z" })   -- the last topic is z: send looks the next one up
    local ok, err = send_while_finalizer_changes(p, { topic = "a", key = "k", value = "v" }, "b")
    assert.is_true(ok, err)
    local got = {}
    for i = 1, 3 do
      p:send({ topic = "b", value = "b" .. i }, function(r) got[#got + 1] = r.topic end)
    end
    assert.is_true(c:run())
    assert.same({ "b", "b", "b" }, got)
    -- one read: the record is (a, k, v) if the finalizer ran after it,
    -- (b, no key, no value) if before; never a mix, never lost
    local log_a, log_b = c:log("a", 0, 1), c:log("b", 0, 1)
    if #log_a == 1 then
      assert.equal("k", log_a[1].key)
      assert.equal("v", log_a[1].value)
      assert.equal(3, #log_b)
    else
      assert.equal(0, #log_a)
      assert.equal(4, #log_b)
      assert.is_nil(log_b[1].key)
      assert.is_nil(log_b[1].value)
    end
  end)

  it("on the real producer: later sends to the new name go to that topic", function()
    local m = insync.mock{ brokers = 1 }
    m:create_topic("a", 1, 1); m:create_topic("b", 1, 1)
    local p = insync.producer{ ["bootstrap.servers"] = m:bootstrap_servers(), log_level = 0 }
    local reports = {}
    local function cb(r, e) reports[#reports + 1] = { topic = r.topic, err = e, key = r.key } end
    p:send({ topic = "z" })   -- a topic handle that is not "a" is the last one
    local ok, err = send_while_finalizer_changes(p, { topic = "a", key = "k", value = "v" }, "b")
    assert.is_true(ok, err)
    for i = 1, 3 do p:send({ topic = "b", value = "b" .. i }, cb) end
    assert.equal(0, p:flush(10000))
    assert.equal(3, #reports)
    for _, r in ipairs(reports) do
      assert.is_nil(r.err)
      assert.equal("b", r.topic)
    end
    -- where the records are, not only what the reports say
    local in_a, in_b = values(m, "a"), values(m, "b")
    for _, v in ipairs(in_a) do assert.not_matches("^b%d", v) end
    assert.same({ "b1", "b2", "b3" }, { in_b[#in_b - 2], in_b[#in_b - 1], in_b[#in_b] })
    p:close()
    m:close()
  end)
end)
