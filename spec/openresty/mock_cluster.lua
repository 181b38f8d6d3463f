-- A Kafka cluster in a process of its own for the nginx specs: librdkafka's
-- embedded mock cluster (insync.mock) with its topics (TOPICS: names
-- separated by commas).  Writes the bootstrap servers to FILE once the
-- topics exist, then sleeps until it is killed.  With RTT_MS, every broker
-- delays each of its responses by that much.
--     lua5.4 spec/openresty/mock_cluster.lua FILE TOPICS [PARTITIONS [BROKERS [RTT_MS]]]
local insync = require "insync"
local socket = require "socket"

local file, topics = arg[1], arg[2]
local partitions = tonumber(arg[3] or "3")
local brokers = tonumber(arg[4] or "3")
local rtt = tonumber(arg[5] or "0")
assert(file and topics, "usage: mock_cluster.lua FILE TOPICS [PARTITIONS [BROKERS]]")

local m = insync.mock{ brokers = brokers }
for topic in topics:gmatch("[^,]+") do
  m:create_topic(topic, partitions, math.min(3, brokers))
end
if rtt > 0 then m:broker_rtt(-1, rtt) end
local tmp = file .. ".tmp"
local f = assert(io.open(tmp, "w"))
f:write(m:bootstrap_servers(), "\n")
f:close()
assert(os.rename(tmp, file))
while true do socket.sleep(3600) end
