-- One follower down: the controller fences it after broker.session.timeout.ms
-- (9 s), the ISR shrinks to two, and acks=all writes go on (2 >= min.insync.replicas).
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local c = insync.cluster{ brokers = 3, trace = true }
c:create_topic("orders", { replication_factor = 3, config = { ["min.insync.replicas"] = 2 } })
c:crash(3)
c:run_for(10000)
local p = c:producer{ acks = "all" }
local ok = 0
for i = 1, 5 do
  p:send({ topic = "orders", value = "v" .. i }, function(_, err) if not err then ok = ok + 1 end end)
end
c:run()
local part = c:partition("orders", 0)
print(("broker 3 crashed; 10 s later the ISR is {%s}"):format(table.concat(part.isr, ",")))
print(("acks=all with min.insync.replicas=2: %d/5 acknowledged, HW %d"):format(ok, part.hw))
pictures(c, "02_one_follower_down")
os.exit(ok == 5 and #part.isr == 2 and 0 or 1)
