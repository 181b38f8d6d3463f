-- Keys, values, headers and timestamps arrive as sent: read back with kcat.
local fixture = require "producer.fixture"

describe("producer round trip", function()
  it("keeps key, value, headers and timestamp", function()
    local m = fixture.cluster(3, "orders", 1, 3)
    local p = fixture.producer(m, { acks = "all" })
    local ts = 1700000000123
    p:send({ topic = "orders", key = "k1", value = "v1", timestamp = ts,
             headers = { trace = "abc" } }, function() end)
    p:send({ topic = "orders", key = "k2", value = "v2",
             headers = { { "h", "1" }, { "h", "2" } } }, function() end)
    assert.equal(0, p:flush(10000))
    p:close()
    local out = fixture.sh(("kcat -C -b %s -t orders -p 0 -o beginning -c 2 -e -q "
      .. "-f '%%k|%%s|%%T|%%h\\n' 2>&1"):format(m:bootstrap_servers()))
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal("k1|v1|" .. ts .. "|trace=abc", lines[1])
    assert.matches("^k2|v2|%d+|h=1,h=2$", lines[2])
    m:close()
  end)
end)
