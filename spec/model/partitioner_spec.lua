-- The model's partitioner against librdkafka's own: the same keys, sent by
-- the real producer to librdkafka's mock cluster and by the model's
-- producer, land on the same partitions.
local insync = require "insync"

describe("partitioner", function()
  it("matches librdkafka's consistent_random for the same keys", function()
    local keys = {}
    for i = 1, 200 do keys[i] = "key-" .. i .. "-" .. (i * 7919) % 1000 end

    local m = insync.mock{ brokers = 3 }
    m:create_topic("orders", 6, 3)
    local real = insync.producer{ ["bootstrap.servers"] = m:bootstrap_servers() }
    local real_part = {}
    for i = 1, #keys do
      real:send({ topic = "orders", key = keys[i], value = "v" }, function(r, err)
        assert.is_nil(err)
        real_part[keys[i]] = r.partition
      end)
    end
    assert.equal(0, real:flush(30000))
    real:close()
    m:close()

    local c = insync.cluster{ brokers = 3 }
    c:create_topic("orders", { partitions = 6, replication_factor = 3 })
    local p = c:producer{}
    local model_part = {}
    for i = 1, #keys do
      p:send({ topic = "orders", key = keys[i], value = "v" }, function(r) model_part[keys[i]] = r.partition end)
    end
    assert.is_true(c:run())
    local spread = {}
    for i = 1, #keys do
      assert.equal(real_part[keys[i]], model_part[keys[i]], keys[i])
      spread[model_part[keys[i]]] = true
    end
    local n = 0
    for _ in pairs(spread) do n = n + 1 end
    assert.equal(6, n)
  end)
end)
