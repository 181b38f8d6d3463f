-- Common mistake 2: min.insync.replicas = replication.factor (both 3).  Any
-- one follower failure stops every acks=all write.
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local c = insync.cluster{ brokers = 3, trace = true }
c:create_topic("orders", { replication_factor = 3, config = { ["min.insync.replicas"] = 3 } })
c:crash(3)
c:run_for(10000)
local p = c:producer{ acks = "all", ["message.timeout.ms"] = 10000 }
local errs = {}
for i = 1, 3 do
  p:send({ topic = "orders", value = "v" .. i }, function(_, err) errs[#errs + 1] = err and err.name or "OK" end)
end
c:run()
print(("RF=3, min.insync.replicas=3, broker 3 down: ISR {%s}"):format(
  table.concat(c:partition("orders", 0).isr, ",")))
print("acks=all sends: " .. table.concat(errs, ", "))
local refusals = 0
for _, e in ipairs(c:trace()) do
  if e.event == "retry" then
    if e.error ~= insync.errors.NOT_ENOUGH_REPLICAS then os.exit(1) end
    refusals = refusals + 1
  end
end
print(("(refused with NOT_ENOUGH_REPLICAS %d times, retried until message.timeout.ms)"):format(refusals))
pictures(c, "06_mistake_min_isr_equals_rf")
for _, e in ipairs(errs) do if e ~= "_MSG_TIMED_OUT" then os.exit(1) end end
os.exit(#errs == 3 and 0 or 1)
