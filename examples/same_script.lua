-- examples/same_script.lua: one sending script, two engines.  The same
-- function sends through the model (insync.cluster) and through the real
-- producer (librdkafka against its embedded mock cluster); both hand the
-- callbacks the same reports and the same error names.  Exits non-zero if
-- the two disagree.
local insync = require "insync"

-- Written once: sends three records and tells what each callback saw.
local function script(p, outcomes)
  for i = 1, 3 do
    assert(p:send({ topic = "orders", partition = 0, key = "order-" .. i, value = "paid" },
      function(report, err)
        outcomes[#outcomes + 1] = ("%s -> %s"):format(report.key,
          err and err.name or ("offset " .. report.offset))
      end))
  end
end

local config = { acks = "all", retries = 0 }

-- The model: three brokers, the ISR shrunk to one by two crashed followers.
local function on_model()
  local c = insync.cluster{ brokers = 3, seed = 7 }
  c:create_topic("orders", { partitions = 1, replication_factor = 3,
                             config = { ["min.insync.replicas"] = 2 } })
  local p = c:producer(config)
  local outcomes = {}
  script(p, outcomes)                  -- a healthy cluster first
  c:run()
  c:crash(2); c:crash(3)
  c:run_for(40000)                     -- past replica.lag.time.max.ms: ISR {1}
  script(p, outcomes)
  c:run()
  return outcomes
end

-- The real producer: the mock cluster has no ISR of its own, so the
-- leader's NOT_ENOUGH_REPLICAS answers are pushed by hand.
local function on_producer()
  local m = insync.mock{ brokers = 3 }
  m:create_topic("orders", 1, 3)
  local conf = { ["bootstrap.servers"] = m:bootstrap_servers() }
  for k, v in pairs(config) do conf[k] = v end
  local p = insync.producer(conf)
  local outcomes = {}
  script(p, outcomes)
  p:flush(10000)
  m:push_errors("Produce", { "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS" })
  script(p, outcomes)
  p:flush(10000)
  p:close()
  m:close()
  return outcomes
end

local model, real = on_model(), on_producer()
local same = #model == #real
for i = 1, math.max(#model, #real) do
  print(("  model: %-32s producer: %s"):format(model[i] or "-", real[i] or "-"))
  same = same and model[i] == real[i]
end
print(same and "the same script, the same outcomes on both engines"
           or "THE ENGINES DISAGREE")
os.exit(same and 0 or 1)
