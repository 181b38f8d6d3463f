-- enable.idempotence prevents duplicates on retry: a produce request is
-- appended, but its answer is lost; the producer retries.  Without
-- idempotence the broker appends the record again; with it the broker
-- recognises the batch's sequence and answers with the original offset.
local insync = require "insync"
local pictures = dofile((arg[0]:gsub("[^/]*$", "")) .. "lib/pictures.lua")

local function run(idempotent)
  local c = insync.cluster{ brokers = 3, trace = true }
  c:create_topic("orders", { replication_factor = 3, config = { ["min.insync.replicas"] = 2 } })
  c:run_for(100)
  local p = c:producer{ acks = "all", ["enable.idempotence"] = idempotent,
                        ["socket.timeout.ms"] = 2000 }
  local offset
  c:drop(1, p)                       -- answers from the leader are lost
  p:send({ topic = "orders", key = "order-42", value = "paid" }, function(report, err)
    offset = not err and report.offset
  end)
  c:run_for(2100)                    -- the first answer never came; a retry is on its way
  c:heal()
  c:run()
  c:run_for(1000)
  pictures(c, "10_idempotence_" .. (idempotent and "on" or "off"))
  return offset, #c:audit().duplicated, #c:log("orders", 0, 1)
end

local o1, d1, n1 = run(false)
local o2, d2, n2 = run(true)
print(("enable.idempotence=false: acknowledged at offset %s, %d records in the log, %d duplicated"):format(o1, n1, d1))
print(("enable.idempotence=true:  acknowledged at offset %s, %d record in the log, %d duplicated"):format(o2, n2, d2))
os.exit(d1 == 1 and d2 == 0 and n2 == 1 and 0 or 1)
