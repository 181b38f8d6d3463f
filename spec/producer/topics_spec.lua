-- One producer, several topics: each record lands in the topic its msg names,
-- whether the name is the same string as the last send's or a new one, short
-- or long, and fields that are not a record's are ignored.
local fixture = require "producer.fixture"

describe("producer topics", function()
  local m
  local long = ("a-topic-name-longer-than-forty-characters-"):rep(2)
  before_each(function()
    m = fixture.cluster(1, "orders", 1, 1)
    m:create_topic("payments", 1, 1)
    m:create_topic(long, 1, 1)
  end)
  after_each(function() m:close() end)

  it("sends each record to the topic its msg names, offsets counted per topic", function()
    local p = fixture.producer(m)
    local seen = {}
    local names = { "orders", "payments", long }
    for i = 1, 30 do
      -- a fresh string each time (built at run time), and runs of the same one
      local base = names[math.floor((i - 1) / 2) % 3 + 1]
      local topic = (base .. "#"):sub(1, #base)
      assert(p:send({ topic = topic, value = tostring(i), [1] = "ignored", extra = true },
        function(report, err)
          assert(err == nil, tostring(err))
          seen[#seen + 1] = { topic = report.topic, offset = report.offset, want = base }
        end))
    end
    assert.equal(0, p:flush(20000))
    assert.equal(30, #seen)
    local next_offset = {}
    for _, s in ipairs(seen) do
      assert.equal(s.want, s.topic)
      local want = next_offset[s.topic] or 0
      assert.equal(want, s.offset)
      next_offset[s.topic] = want + 1
    end
    assert.same({ orders = 10, payments = 10, [long] = 10 }, next_offset)
    p:close()
  end)

  it("still names a missing or wrong topic field", function()
    local p = fixture.producer(m)
    assert.matches("send: msg.topic: expected string, got nil",
      tostring(select(2, pcall(p.send, p, { value = "v" }))))
    assert.matches("send: msg.topic: expected string, got number",
      tostring(select(2, pcall(p.send, p, { topic = 1, value = "v" }))))
    assert.matches("send: msg.value: expected string or nil, got table",
      tostring(select(2, pcall(p.send, p, { topic = "orders", value = {} }))))
    p:close()
  end)
end)
