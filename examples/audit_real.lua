-- The leader of a partition SIGKILLed under load on a real 3-broker Apache
-- Kafka, once with acks=1 and once with acks=all + min.insync.replicas=2;
-- each producer is made with track = true and, once its sends are done,
-- p:audit() reads the topic back and says what the cluster kept of what it
-- acknowledged.  Needs the cluster of spec/kafka/cluster: `make demo-kafka`
-- starts it, runs this and tears it down (under /tmp/insync-kafka.lock).
local insync = require "insync"

local script = (os.getenv("INSYNC_TOP") or ".") .. "/spec/kafka/cluster"

local function cluster(args)
  local f = assert(io.popen(script .. " " .. args .. " 2>&1"))
  local out = f:read("*a")
  local ok = f:close()
  if not ok then error(("spec/kafka/cluster %s failed:\n%s"):format(args, out)) end
  return (out:gsub("%s+$", ""))
end

local function leader_of(topic)
  return tonumber(cluster("isr " .. topic .. " 0"):match("^(-?%d+)"))
end

local function wait_isr(topic, n)
  for _ = 1, 600 do
    local line = cluster("isr " .. topic .. " 0")
    local leader, isr = line:match("^(-?%d+) ([%d,]*)$")
    local count = select(2, isr:gsub("%d+", ""))
    if tonumber(leader) >= 0 and count == n then return end
    os.execute("sleep 0.1")
  end
  error(topic .. ": the ISR never reached " .. n)
end

local run = tostring(os.time())

local function print_audit(a)
  print(("  audit: sent %d, acked %d, failed %d, pending %d"):format(a.sent, a.acked, a.failed, a.pending))
  for _, k in ipairs({ "lost", "duplicated", "unexpected", "uncommitted", "reordered", "inconsistent" }) do
    local list = a[k]
    local shown = {}
    for i = 1, math.min(#list, 3) do
      local e = list[i]
      shown[i] = ("%s@%d:%d%s"):format(e.key, e.partition or -1, e.offset or -1, e.above_hw and " (above the HW)" or "")
    end
    print(("  %-12s %d%s"):format(k, #list, #list > 0 and "  e.g. " .. table.concat(shown, ", ") or ""))
  end
end

local function leader_kill(name, acks, min_isr)
  local topic = ("audit-demo-%s-%s"):format(name, run)
  cluster(("topic %s 1 3 min.insync.replicas=%d"):format(topic, min_isr))
  wait_isr(topic, 3)
  local victim = leader_of(topic)
  local p = insync.producer{
    ["bootstrap.servers"] = cluster("bootstrap"), track = true, acks = acks,
    ["message.timeout.ms"] = 30000, ["linger.ms"] = 5, log_level = 0,
  }
  local n, failed = 0, 0
  local function load(seconds)
    local stop = insync.monotonic() + seconds
    while insync.monotonic() < stop do
      for _ = 1, 20 do
        n = n + 1
        p:send({ topic = topic, key = ("order-%d"):format(n), value = "paid" }, function(_, err)
          if err then failed = failed + 1 end
        end)
      end
      p:poll(1)
    end
  end
  load(2)
  cluster("kill " .. victim)                 -- SIGKILL: no controlled shutdown
  load(5)                                    -- through the failover
  cluster("restart " .. victim)
  load(1)
  p:flush(60000)
  print(("%s, min.insync.replicas=%d: broker %d (the leader) SIGKILLed under load, then restarted"):format(
    acks == "1" and "acks=1" or "acks=all", min_isr, victim))
  wait_isr(topic, 3)
  print_audit(assert(p:audit{ timeout_ms = 15000 }))
  p:close()
end

leader_kill("acks1", "1", 1)
leader_kill("acksall", "all", 2)
