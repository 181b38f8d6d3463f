-- A healthy cluster: RF=3, min.insync.replicas=2, acks=all.  Every send is
-- acknowledged once all three in-sync replicas have it.
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local c = insync.cluster{ brokers = 3, seed = 1, trace = true }
c:create_topic("orders", { partitions = 1, replication_factor = 3,
                           config = { ["min.insync.replicas"] = 2 } })
local p = c:producer{ acks = "all" }
local ok = 0
for i = 1, 10 do
  p:send({ topic = "orders", key = "order-" .. i, value = "paid" }, function(_, err)
    if not err then ok = ok + 1 end
  end)
end
c:run()
local part = c:partition("orders", 0)
print(("acks=all, ISR {%s}: %d/10 acknowledged in %d virtual ms"):format(
  table.concat(part.isr, ","), ok, c:now()))
print(("high watermark %d; LEO on brokers 1,2,3: %d %d %d"):format(part.hw,
  part.replicas[1].leo, part.replicas[2].leo, part.replicas[3].leo))
local a = c:audit()
print(("audit: %d sent, %d acked, %d lost"):format(a.sent, a.acked, #a.lost))
pictures(c, "01_healthy")
os.exit(ok == 10 and part.hw == 10 and #a.lost == 0 and 0 or 1)
