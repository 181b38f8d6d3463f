--- The real Apache Kafka cluster that spec/kafka/cluster runs, seen from the
-- specs: faults, topics, ISR, and reading records back with insync.consumer
-- and a tracking producer's audit.
-- `make test-kafka` starts the cluster around the specs; by hand:
--     spec/kafka/cluster start
--     make && spec/run kafka lua5.4 build/lua5.4 spec/kafka
--     spec/kafka/cluster stop
local helpers = require "helpers"

local real = {}

local script = helpers.top .. "/spec/kafka/cluster"
real.nodes = { 1, 2, 3 }

--- Runs `spec/kafka/cluster ARGS`; raises with its output when it fails.
function real.cluster(args)
  local out, ok = helpers.sh(script .. " " .. args)
  if not ok then error(("spec/kafka/cluster %s failed:\n%s"):format(args, out), 2) end
  return (out:gsub("%s+$", ""))
end

function real.sleep(seconds)
  os.execute(("sleep %.3f"):format(seconds))
end

--- bootstrap.servers for the three brokers.
function real.bootstrap()
  return real.cluster("bootstrap")
end

--- The address of broker `id` alone: a bootstrap.servers that makes a
-- producer's first connection, the one it keeps, to that broker.
function real.address(id)
  local list = {}
  for a in real.bootstrap():gmatch("[^,]+") do list[#list + 1] = a end
  return assert(list[id], "no broker " .. tostring(id))
end

--- Raises a clear error when the cluster is not running (a spec run by
-- hand without `spec/kafka/cluster start`).
function real.require_cluster()
  local out = real.cluster("status")
  local st = real.status()
  for _, n in ipairs({ "controller", "1", "2", "3" }) do
    if st[n] ~= "running" then
      error("the Kafka cluster is not up (spec/kafka/cluster status):\n" .. out ..
            "\nstart it with spec/kafka/cluster start, or run make test-kafka", 2)
    end
  end
end

-- Topic names carry the run's start time, so the specs can run again on a
-- cluster that is already up (spec/kafka/cluster start, by hand).
local run_id = tostring(os.time())

--- A topic name unique to this run: real.name("orders") --> "orders-1795600000".
function real.name(base)
  return base .. "-" .. run_id
end

--- Creates a topic: real.topic("t", 3, 3, { ["min.insync.replicas"] = 2 }).
function real.topic(name, partitions, rf, config)
  local args = { "topic", name, partitions, rf }
  local keys = {}
  for k in pairs(config or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do args[#args + 1] = k .. "=" .. tostring(config[k]) end
  real.cluster(table.concat(args, " "))
end

--- Deletes a topic, waiting until the metadata no longer lists it.
function real.delete_topic(name)
  real.cluster("delete-topic " .. name)
end

--- The partition's leader (nil when none) and ISR (sorted list of broker
-- ids), from the metadata the brokers serve.
function real.isr(topic, partition)
  local line = real.cluster(("isr %s %d"):format(topic, partition))
  local leader, list = line:match("^(-?%d+) ([%d,]*)$")
  assert(leader, "unexpected isr output: " .. line)
  local isr = {}
  for id in list:gmatch("%d+") do isr[#isr + 1] = tonumber(id) end
  table.sort(isr)
  leader = tonumber(leader)
  return leader >= 0 and leader or nil, isr
end

--- Waits (60 s at most) until pred(leader, isr) holds; returns leader, isr.
-- Raises with the last state seen when it never does.
function real.wait_isr(topic, partition, pred, what)
  local leader, isr
  for _ = 1, 300 do
    local ok
    ok, leader, isr = pcall(real.isr, topic, partition)
    if ok and pred(leader, isr) then return leader, isr end
    real.sleep(0.2)
  end
  error(("%s[%d]: waited 60 s for %s; last leader %s isr {%s}"):format(
    topic, partition, what or "the ISR", tostring(leader),
    type(isr) == "table" and table.concat(isr, ",") or tostring(isr)), 2)
end

--- Waits until the ISR is exactly `ids` (any order).
function real.wait_isr_is(topic, partition, ids)
  local want = {}
  for i, id in ipairs(ids) do want[i] = id end
  table.sort(want)
  local key = table.concat(want, ",")
  return real.wait_isr(topic, partition, function(_, isr)
    return table.concat(isr, ",") == key
  end, "isr {" .. key .. "}")
end

--- Each node's state: { controller = "running", ["1"] = "paused", ["2"] = "down", ... }.
function real.status()
  local st = {}
  for node, state in real.cluster("status"):gmatch("(%w+): (%w+)") do st[node] = state end
  return st
end

-- Faults on one node (1, 2, 3 or "controller").
function real.stop(n) real.cluster("stop " .. n) end       -- SIGTERM, controlled shutdown
function real.kill(n) real.cluster("kill " .. n) end       -- SIGKILL
function real.pause(n) real.cluster("pause " .. n) end     -- SIGSTOP
function real.resume(n) real.cluster("resume " .. n) end   -- SIGCONT
function real.restart(n) real.cluster("restart " .. n) end -- start again, wait until it answers

--- Undoes every fault: resumes paused nodes and starts stopped ones, so the
-- next spec finds three brokers.  For teardown (finally / after_each).
function real.heal()
  for node, state in pairs(real.status()) do
    if state == "paused" then real.resume(node)
    elseif state == "down" then real.restart(node) end
  end
end

--- Every record of a topic, read from the beginning with insync.consumer
-- (committed records only: a consumer reads below the high watermark) until
-- every partition is at its end (60 s at most).  Each record:
-- { partition, offset, key, value, timestamp, headers = { k = v },
-- header_list = { { k, v }, ... } (in order, repeats kept) }.
-- Sorted by partition, then offset.
function real.consume(topic)
  return helpers.read_topic(real.bootstrap(), topic)
end

--- The audit of a tracking producer (made with track = true), as a
-- consumer of the cluster sees its records: raises when it cannot read the
-- log (the audit's error object, in words).
function real.audit(p, timeout_ms)
  local a, err = p:audit{ timeout_ms = timeout_ms or 20000 }
  if not a then error("audit: " .. tostring(err), 2) end
  return a
end

--- "lost 1, duplicated 2 (...)": the non-empty lists of an audit, for
-- assertion messages.
function real.audit_line(a)
  local parts = {}
  for _, k in ipairs({ "lost", "duplicated", "unexpected", "uncommitted", "reordered", "inconsistent" }) do
    if #a[k] > 0 then
      local ids = {}
      for i, e in ipairs(a[k]) do
        if i > 5 then ids[#ids + 1] = "..." break end
        ids[#ids + 1] = ("%s[%s]@%s"):format(e.key or e.id, tostring(e.partition), tostring(e.offset))
      end
      parts[#parts + 1] = ("%s %d (%s)"):format(k, #a[k], table.concat(ids, ", "))
    end
  end
  return ("sent %d, acked %d, failed %d, pending %d%s%s"):format(a.sent, a.acked, a.failed, a.pending,
    #parts > 0 and "; " or "", table.concat(parts, "; "))
end

--- An insync.producer on the cluster; `conf` adds to or overrides
-- bootstrap.servers.
function real.producer(conf)
  local insync = require "insync"
  local c = { ["bootstrap.servers"] = real.bootstrap() }
  for k, v in pairs(conf or {}) do c[k] = v end
  return insync.producer(c)
end

--- Sends each message of `msgs` on producer `p` and polls until every send
-- has had its callback (`timeout_s` seconds at most, default 60).  Returns
-- one result per message, in order: { report =, err =, calls = n }, where
-- calls counts the callbacks that send got.
function real.send_all(p, msgs, timeout_s)
  local results = {}
  for i, msg in ipairs(msgs) do
    local r = { calls = 0 }
    results[i] = r
    local id, err = p:send(msg, function(report, e)
      r.calls = r.calls + 1
      r.report, r.err = report, e
    end)
    assert(id, "send " .. i .. " was refused: " .. tostring(err))
  end
  real.wait_callbacks(p, results, timeout_s)
  return results
end

--- Polls `p` until every result has had a callback (timeout_s, default 60).
function real.wait_callbacks(p, results, timeout_s)
  local deadline = os.time() + (timeout_s or 60)
  while true do
    local pending = 0
    for _, r in ipairs(results) do if r.calls == 0 then pending = pending + 1 end end
    if pending == 0 then return end
    assert(os.time() <= deadline, pending .. " sends had no callback within the timeout")
    p:poll(100)
  end
end

--- The error name of a result, or "ok".
function real.outcome(r)
  return r.err and r.err.name or "ok"
end

--- Every record of `topic`, as a map from value to the list of
-- { partition, offset } it was read at.
function real.by_value(topic)
  local seen = {}
  for _, rec in ipairs(real.consume(topic)) do
    if rec.value then
      local list = seen[rec.value] or {}
      list[#list + 1] = rec
      seen[rec.value] = list
    end
  end
  return seen
end

--- Wall-clock milliseconds (for checking record timestamps).
function real.now_ms()
  local out = helpers.sh("date +%s%3N")
  return tonumber((out:gsub("%s+$", "")))
end

return real
