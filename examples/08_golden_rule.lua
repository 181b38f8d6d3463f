-- The golden rule: replication.factor=3, min.insync.replicas=2, acks=all.
-- One broker fails at the worst moment (the leader, mid-stream): writes go on
-- after the failover, and nothing acknowledged is lost.
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local c = insync.cluster{ brokers = 3, trace = true }
c:create_topic("orders", { partitions = 3, replication_factor = 3,
                           config = { ["min.insync.replicas"] = 2 } })
local p = c:producer{ acks = "all", ["enable.idempotence"] = true }
local ok, failed = 0, 0
local function send(i)
  p:send({ topic = "orders", key = "order-" .. i, value = "paid" },
    function(_, err) if err then failed = failed + 1 else ok = ok + 1 end end)
end
for i = 1, 100 do send(i) end
c:run_for(8)
c:crash(c:partition("orders", 0).leader)
for i = 101, 200 do send(i) end
c:run()
c:run_for(5000)
local a = c:audit()
print(("RF=3, min.insync.replicas=2, acks=all, idempotent; leader of partition 0 crashed mid-stream"))
print(("%d acknowledged, %d failed, %d lost, %d duplicated, finished at %d virtual ms"):format(
  ok, failed, #a.lost, #a.duplicated, c:now()))
pictures(c, "08_golden_rule", { partitions = 0 }, { partition = 0 })
os.exit(ok == 200 and #a.lost == 0 and #a.duplicated == 0 and 0 or 1)
