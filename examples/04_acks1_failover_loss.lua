-- acks=1 and a leader failover: the leader acknowledges before its followers
-- have the record, then dies; a follower takes over without it.  The
-- callback said OK, the audit says lost.
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local c = insync.cluster{ brokers = 3, trace = true }
c:create_topic("orders", { replication_factor = 3 })
c:run_for(100)
local p = c:producer{ acks = 1 }
c:drop(1, 2); c:drop(1, 3)        -- replication from broker 1 is slow...
local said = "?"
p:send({ topic = "orders", key = "order-42", value = "paid" }, function(report, err)
  said = err and err.name or ("OK at offset " .. report.offset)
end)
c:run()
c:crash(1)                        -- ...and broker 1 dies before it catches up
c:heal()
c:run_for(15000)
local part = c:partition("orders", 0)
local a = c:audit()
print("callback: " .. said)
print(("broker 1 crashed; new leader %d (epoch %d), HW %d"):format(part.leader, part.leader_epoch, part.hw))
for _, e in ipairs(a.lost) do
  print(("lost: %s/%d key=%s value=%s offset=%d"):format(e.topic, e.partition, e.key, e.value, e.offset))
end
pictures(c, "04_acks1_failover_loss")
os.exit(#a.lost == 1 and 0 or 1)
