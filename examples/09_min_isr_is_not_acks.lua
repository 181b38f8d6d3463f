-- min.insync.replicas is a floor on the ISR, not a count of acks: with three
-- in the ISR and min.insync.replicas=2, acks=all waits for all three, here
-- until a lagging follower leaves the ISR (replica.lag.time.max.ms, 30 s).
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local c = insync.cluster{ brokers = 3, trace = true }
c:create_topic("orders", { replication_factor = 3, config = { ["min.insync.replicas"] = 2 } })
c:run_for(100)
c:drop(1, 3)                      -- broker 3 still fetches, but gets nothing
local p = c:producer{ acks = "all", ["request.timeout.ms"] = 60000 }
local latency
p:send({ topic = "orders", value = "x" }, function(report, err) latency = not err and report.latency_ms end)
c:run()
print(("ISR was {1,2,3}; broker 2 had the record within 3 ms, broker 3 never did"))
print(("acks=all answered after %.1f virtual s, once broker 3 left the ISR {%s}"):format(
  (latency or 0) / 1000, table.concat(c:partition("orders", 0).isr, ",")))
pictures(c, "09_min_isr_is_not_acks")
os.exit(latency and latency >= 30000 and 0 or 1)
