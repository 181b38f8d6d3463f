-- The model's size limits: what it cannot hold in reasonable memory is
-- refused with an error naming the argument and the limit.
local insync = require "insync"
local helpers = require "helpers"

describe("the model's limits", function()
  it("refuses more than 10000 partitions in a topic", function()
    local c = insync.cluster{ brokers = 1 }
    for _, n in ipairs({ 10001, 65535, 2 ^ 31, math.huge }) do
      local err = helpers.raises(c.create_topic, c, "t", { partitions = n })
      assert.is_not_nil(err, tostring(n) .. " partitions were accepted")
      assert.matches("create_topic: partitions: expected", err)
    end
    assert.matches('cluster: config%["num.partitions"%]: expected at most 10000, got 65535',
      helpers.raises(insync.cluster, { config = { ["num.partitions"] = 65535 } }))
    c:create_topic("t", { partitions = 10000 })
    assert.equal(1, c:partition("t", 9999).assignment[1])   -- the last one exists
  end)

  it("refuses more than 50000 partition replicas in a cluster, and says how many", function()
    local c = insync.cluster{ brokers = 3 }
    for i = 1, 5 do c:create_topic("t" .. i, { partitions = 10000 }) end
    assert.matches("create_topic: partitions: 10000 partitions of 3 replicas would make "
      .. "80000 partition replicas in the cluster %(at most 50000%)",
      helpers.raises(c.create_topic, c, "u", { partitions = 10000, replication_factor = 3 }))
    assert.is_true(c:memory() < 400 * 1024 * 1024, tostring(c:memory()))
  end)
end)
