-- Common mistake 1: acks=all with replication.factor=1.  There is one copy;
-- acks=all cannot wait for a replica that does not exist.  Kafka does not
-- fsync by default, so a power loss takes the acknowledged records along.
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local c = insync.cluster{ brokers = 3, trace = true }
c:create_topic("orders", { replication_factor = 1 })
local p = c:producer{ acks = "all" }
local ok = 0
for i = 1, 5 do
  p:send({ topic = "orders", value = "v" .. i }, function(_, err) if not err then ok = ok + 1 end end)
end
c:run()
local leader = c:partition("orders", 0).leader
c:crash(leader, { lose_unflushed = true })
c:restart(leader)
c:run_for(5000)
local a = c:audit()
print(("RF=1, acks=all: %d/5 acknowledged"):format(ok))
print(("broker %d lost power and came back: %d acknowledged records lost"):format(leader, #a.lost))
pictures(c, "05_mistake_rf1")
os.exit(ok == 5 and #a.lost == 5 and 0 or 1)
