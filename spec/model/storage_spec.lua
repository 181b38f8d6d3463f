-- Process kill, power loss, controlled shutdown, flushing.
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

local function all_down(opts)
  local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2, ["flush.messages"] = opts.flush } }
  c:run_for(100)
  local p = c:producer{ acks = "all" }
  local out = S.send(p, 5); c:run()
  assert.same({ OK = 5 }, S.count(out))
  for b = 1, 3 do c:crash(b, { lose_unflushed = opts.power_loss }) end
  c:run_for(1000)
  for b = 1, 3 do c:restart(b) end
  c:run_for(15000)
  return c
end

describe("storage", function()
  it("keeps what is in the page cache across a process kill of every broker", function()
    local c = all_down{ power_loss = false }
    local a = c:audit()
    assert.equal(0, #a.lost)
    assert.equal(5, c:partition("orders", 0).hw)
  end)

  it("loses acknowledged acks=all records when every broker loses power without fsync", function()
    local c = all_down{ power_loss = true }
    local a = c:audit()
    assert.equal(5, #a.lost)
    for b = 1, 3 do assert.equal(0, c:partition("orders", 0).replicas[b].leo) end
  end)

  it("keeps flushed records through a power loss (flush.messages=1)", function()
    local c = all_down{ power_loss = true, flush = 1 }
    assert.equal(0, #c:audit().lost)
    assert.equal(5, c:partition("orders", 0).replicas[1].flushed)
  end)

  it("a power loss of one broker loses nothing when the others have the records", function()
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 5); c:run()
    c:crash(1, { lose_unflushed = true })
    c:run_for(10000)
    c:restart(1); c:run_for(5000)
    assert.equal(0, #c:audit().lost)
    assert.equal(5, c:partition("orders", 0).replicas[1].leo)   -- refetched
    assert.equal("1,2,3", S.isr(c))
  end)

  it("a controlled shutdown moves leadership first, then flushes and stops", function()
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all" }
    S.send(p, 3); c:run()
    local t0 = c:now()
    c:shutdown(1)
    c:run_for(10)                              -- one heartbeat round trip
    local part = c:partition("orders", 0)
    assert.equal(2, part.leader)               -- no session timeout
    assert.equal("2,3", S.isr(c))
    -- still running until the controller grants the shutdown
    assert.is_true(c:broker(1).online)
    assert.is_true(c:broker(1).shutting_down)
    local out = S.send(p, 2, { prefix = "after" })
    c:run()
    assert.same({ OK = 2 }, S.count(out))
    while c:broker(1).online do c:run_for(100) end
    assert.is_false(c:broker(1).shutting_down)
    assert.equal(3, c:partition("orders", 0).replicas[1].flushed)
    -- granted once the other brokers have reported the new metadata in a
    -- heartbeat (every broker.heartbeat.interval.ms, 2 s)
    assert.is_true(c:now() - t0 < 2000 + 500)
    assert.truthy(S.find(c:trace(), "shutdown", { broker = 1, stopped = 0 }))
    assert.truthy(S.find(c:trace(), "shutdown", { broker = 1, stopped = 1 }))
  end)

  it("a process kill resets the producer's connections at once (retry to the new leader)", function()
    local c = S.cluster{ trace = true, topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    c:drop(1, 3)                      -- a request waits in broker 1's purgatory
    local p = c:producer{ acks = "all" }
    local out = S.send(p, 1)
    c:run_for(50)
    c:crash(1)
    c:heal()
    c:run()
    assert.equal("OK", out[1].name)
    local retry = S.find(c:trace(), "retry")
    assert.truthy(retry)
    assert.equal(-195, retry.error)   -- _TRANSPORT
  end)
end)

describe("log.flush.interval.ms", function()
  it("flushes every interval: a power loss after it keeps the records, one before it loses them", function()
    local function run(wait)
      local c = S.cluster{ config = { ["log.flush.interval.ms"] = 1000 },
                           topic_config = { ["min.insync.replicas"] = 2 } }
      c:run_for(1500)                  -- just after a flush
      local p = c:producer{ acks = "all" }
      S.send(p, 3); c:run()
      c:run_for(wait)
      for b = 1, 3 do c:crash(b, { lose_unflushed = true }) end
      for b = 1, 3 do c:restart(b) end
      c:run_for(15000)
      return #c:audit().lost
    end
    assert.equal(3, run(0))            -- crashed before the next flush
    assert.equal(0, run(1000))         -- a flush came first
  end)
end)

-- Past a few hundred thousand records the record store, the records and
-- the logs outgrow malloc and move to mappings of their own (csrc/model/mem.c):
-- nothing may change for the records in them.
describe("a large run", function()
  it("names every one of 200,000 lost records with its own key and value", function()
    local n = 200000
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all", ["queue.buffering.max.messages"] = n }
    local acked = 0
    local cb = function(_, err) if not err then acked = acked + 1 end end
    local pad = ("x"):rep(90)
    for i = 1, n do p:send({ topic = "orders", key = "k" .. i, value = "v" .. i .. pad }, cb) end
    assert(c:run())
    assert.equal(n, acked)
    for b = 1, 3 do c:crash(b, { lose_unflushed = true }) end
    c:run_for(1000)
    local a = c:audit()
    assert.equal(n, #a.lost)
    local seen, wrong = {}, 0
    for _, e in ipairs(a.lost) do
      local i = tonumber(e.key:match("^k(%d+)$"))
      if not i or seen[i] or e.value ~= "v" .. i .. pad then wrong = wrong + 1 end
      if i then seen[i] = true end
    end
    assert.equal(0, wrong)
  end)

  it("keeps 1,100,000 records in order in every replica's log, through a failover", function()
    local n = 1100000
    local c = S.cluster{ topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ acks = "all", ["queue.buffering.max.messages"] = n }
    local msg = { topic = "orders", partition = 0 }
    local send = p.send
    for _ = 1, n do send(p, msg) end
    assert(c:run())
    c:crash(1)                               -- the leader
    c:run_for(15000)
    c:restart(1)
    c:run_for(15000)
    local part = c:partition("orders", 0)
    assert.equal(n, part.hw)
    for b = 1, 3 do assert.equal(n, part.replicas[b].leo) end
    local a = c:audit()
    assert.equal(n, a.acked)
    assert.equal(0, #a.lost + #a.duplicated + #a.unexpected + #a.reordered)
  end)
end)
