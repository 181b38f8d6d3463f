-- Common mistake 3: acks=1 for financial data.  Payments acknowledged by
-- the leader alone vanish when it fails before its followers copy them:
-- silent data loss.  The same run with acks=all loses nothing.
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local function run(acks)
  local c = insync.cluster{ brokers = 3, trace = true }
  c:create_topic("payments", { replication_factor = 3, config = { ["min.insync.replicas"] = 2 } })
  c:run_for(100)
  c:drop(1, 2); c:drop(1, 3)     -- replication from the leader lags behind
  local p = c:producer{ acks = acks }
  local ok = 0
  for i = 1, 20 do
    p:send({ topic = "payments", key = "payment-" .. i, value = "100.00 EUR" },
      function(_, err) if not err then ok = ok + 1 end end)
  end
  c:run_for(1000)                -- the leader has appended; followers do not have it yet
  c:crash(1)
  c:heal()
  c:run(120000)
  c:run_for(10000)
  pictures(c, "07_mistake_acks1_financial_acks" .. acks)
  return ok, #c:audit().lost
end

local ok1, lost1 = run(1)
local okall, lostall = run("all")
print(("acks=1:   %2d/20 acknowledged, %2d of them lost after the leader crashed"):format(ok1, lost1))
print(("acks=all: %2d/20 acknowledged, %2d of them lost after the leader crashed"):format(okall, lostall))
os.exit(lost1 > 0 and lostall == 0 and okall == 20 and 0 or 1)
