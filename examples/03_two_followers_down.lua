-- Two followers down: the ISR is the leader alone.  acks=all is refused with
-- NOT_ENOUGH_REPLICAS (retried until message.timeout.ms), while acks=1 goes on.
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local c = insync.cluster{ brokers = 3, trace = true }
c:create_topic("orders", { replication_factor = 3, config = { ["min.insync.replicas"] = 2 } })
c:crash(2); c:crash(3)
c:run_for(10000)
local strict = c:producer{ acks = "all", retries = 0 }
local relaxed = c:producer{ acks = 1 }
local all_err, one_err = "?", "?"
strict:send({ topic = "orders", value = "a" }, function(_, err) all_err = err and err.name or "OK" end)
relaxed:send({ topic = "orders", value = "b" }, function(_, err) one_err = err and err.name or "OK" end)
c:run()
print(("ISR {%s}, min.insync.replicas=2"):format(table.concat(c:partition("orders", 0).isr, ",")))
print("acks=all -> " .. all_err)
print("acks=1   -> " .. one_err)
pictures(c, "03_two_followers_down")
os.exit(all_err == "NOT_ENOUGH_REPLICAS" and one_err == "OK" and 0 or 1)
