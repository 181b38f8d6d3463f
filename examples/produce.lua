-- examples/produce.lua: the real producer against librdkafka's embedded mock
-- cluster, with acks=all and idempotence.  Shows a success report, a
-- NOT_ENOUGH_REPLICAS pushed by the mock cluster reaching the callback, and a
-- record that times out while its partition's leader is down.  Exits non-zero
-- if any of the three does not happen as claimed.
local insync = require "insync"

local mock = insync.mock{ brokers = 3 }
mock:create_topic("orders", 1, 3)          -- 1 partition, replication factor 3
mock:create_topic("refunds", 1, 3)
print("mock cluster: " .. mock:bootstrap_servers())

local p = insync.producer{
  ["bootstrap.servers"] = mock:bootstrap_servers(),
  acks = "all",
  ["enable.idempotence"] = true,
  retries = 1,                              -- one retry, then the error is the outcome
  ["retry.backoff.ms"] = 10,
  ["message.timeout.ms"] = 2000,            -- so that the last record times out quickly
  log_level = 0,                            -- quiet: the leader going down is the point
  on_error = function(err) print("  on_error: " .. tostring(err)) end,
}

local failures = 0
local function check(what, ok)
  print((ok and "  ok: " or "  NOT AS CLAIMED: ") .. what)
  if not ok then failures = failures + 1 end
end

local function send(msg)
  local got
  assert(p:send(msg, function(report, err) got = { report = report, err = err } end))
  -- librdkafka checks message timeouts about once a second, and a loaded
  -- machine slows it further: wait for the report itself, up to a minute.
  for _ = 1, 12 do
    if got then break end
    p:flush(5000)
  end
  if not got then error("no delivery report within 60 s for " .. msg.key) end
  local r, e = got.report, got.err
  print(("  report: topic=%s partition=%d offset=%s key=%s latency_ms=%.1f err=%s%s"):format(
    r.topic, r.partition, tostring(r.offset), tostring(r.key), r.latency_ms or -1,
    tostring(e), e and (" (" .. e.persisted .. ", retriable=" .. tostring(e.retriable) .. ")") or ""))
  return r, e
end

print("1. a record acknowledged by all in-sync replicas")
local r, e = send{ topic = "orders", key = "order-1", value = "paid" }
check("delivered at offset 0", e == nil and r.offset == 0)

print("2. the leader answers NOT_ENOUGH_REPLICAS to the send and to its one retry")
mock:push_errors("Produce", { "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS" })
e = select(2, send{ topic = "orders", key = "order-2", value = "paid" })
check("the callback gets NOT_ENOUGH_REPLICAS (19), retriable, not persisted",
  e and e.name == "NOT_ENOUGH_REPLICAS" and e.code == 19 and e.retriable
    and e.persisted == "not_persisted")

print("3. the partition's leader is down for longer than message.timeout.ms")
mock:set_leader("refunds", 0, 2)
mock:broker_down(2)
e = select(2, send{ topic = "refunds", key = "refund-1", value = "sent" })
check("the callback gets _MSG_TIMED_OUT", e and e.name == "_MSG_TIMED_OUT")
mock:broker_up(2)

p:close(1000)
mock:close()
os.exit(failures == 0 and 0 or 1)
