-- Followers fetch as Kafka's ReplicaFetcherThreads do: one request per
-- (follower broker, leader broker, fetcher id) for all the partitions it
-- follows from that leader (AbstractFetcherThread.processFetchRequest,
-- AbstractFetcherManager.getFetcherId, KIP-227 fetch sessions).  And idle
-- fetch rounds skipped change nothing: the same run stepped through every
-- round (skip_idle = false) gives the same callbacks, audit, partitions and
-- trace.
local insync = require "insync"
local R = require "model.random_scenario"

-- Broker 2's log end offset of topic/partition.
local function leo(c, topic, part, b)
  return c:partition(topic, part).replicas[b].leo
end

-- Two partitions led by broker 1 and followed by 2 and 3 (one broker pair
-- per follower), and one led by 3 that broker 2 follows too.
local function pair_cluster()
  local c = insync.cluster{ brokers = 3, trace = true }
  c:create_topic("orders", { partitions = 2, replication_factor = 3, replicas = { { 1, 2, 3 }, { 1, 2, 3 } } })
  c:create_topic("other", { partitions = 1, replication_factor = 3, replicas = { { 3, 2, 1 } } })
  c:run_for(1000)
  return c
end

local function send_each(c)
  local p = c:producer{ acks = 1 }
  for _, tp in ipairs{ { "orders", 0 }, { "orders", 1 }, { "other", 0 } } do
    p:send({ topic = tp[1], partition = tp[2], value = "v" })
  end
  assert(c:run())
end

describe("follower fetching per broker pair", function()
  it("one lost fetch response stalls every partition on that broker pair together, until replica.socket.timeout.ms", function()
    local c = pair_cluster()
    c:drop(1, 2)                       -- broker 1's answers to broker 2 are lost
    send_each(c)
    c:run_for(100)
    c:heal()
    local caught = {}
    local t0 = c:now()
    for _ = 1, 400 do                  -- 40 virtual s in 100 ms steps
      c:run_for(100)
      for _, tp in ipairs{ { "orders", 0 }, { "orders", 1 }, { "other", 0 } } do
        local k = tp[1] .. "/" .. tp[2]
        if not caught[k] and leo(c, tp[1], tp[2], 2) == 1 then caught[k] = c:now() - t0 end
      end
    end
    -- the pair 2 <- 3 was not hit: its partition arrived at once
    assert.is_true(caught["other/0"] <= 100)
    -- the pair 2 <- 1 waited for its lost response's timeout (30 s), both
    -- partitions together
    assert.is_true(caught["orders/0"] >= 29000 and caught["orders/0"] <= 31000, tostring(caught["orders/0"]))
    assert.equal(caught["orders/0"], caught["orders/1"])
    -- broker 3 fetches from 1 on its own pair: not stalled
    assert.equal(1, leo(c, "orders", 0, 3))
  end)

  it("a cut broker pair shrinks the ISR of its partitions together, and only theirs", function()
    local c = pair_cluster()
    c:drop(1, 2)
    send_each(c)
    c:run_for(46000)                   -- past replica.lag.time.max.ms (30 s)
    local shrinks = {}
    for _, e in ipairs(c:trace()) do
      if e.event == "isr_shrink" then
        shrinks[#shrinks + 1] = { t = e.t, topic = e.topic, partition = e.partition }
      end
    end
    assert.equal(2, #shrinks)
    assert.equal("orders", shrinks[1].topic)
    assert.equal("orders", shrinks[2].topic)
    assert.equal(shrinks[1].t, shrinks[2].t)
    assert.same({ 1, 3 }, c:partition("orders", 0).isr)
    assert.same({ 1, 3 }, c:partition("orders", 1).isr)
    assert.same({ 1, 2, 3 }, c:partition("other", 0).isr)
  end)

  it("an idle fetch carries no partition: the trace has no fetch entry while nothing changes", function()
    local c = pair_cluster()
    send_each(c)
    c:run_for(2000)
    local n = #c:trace()
    c:run_for(600000)                  -- ten idle minutes
    local fetches = 0
    for i = n + 1, #c:trace() do
      if c:trace()[i].event == "fetch" then fetches = fetches + 1 end
    end
    assert.equal(0, fetches)
    assert.same({ 1, 2, 3 }, c:partition("orders", 0).isr)
  end)

  it("splits a broker's partitions over num.replica.fetchers fetchers by hash(topic, partition)", function()
    -- with two fetchers per leader, a lost answer of one of them stalls
    -- only the partitions that hash to it
    local c = insync.cluster{ brokers = 3, config = { ["num.replica.fetchers"] = 2 } }
    local all = {}
    for part = 1, 8 do all[part] = { 1, 2, 3 } end
    c:create_topic("orders", { partitions = 8, replication_factor = 3, replicas = all })
    c:run_for(1200)                    -- the cut below falls between two empty answers
    local p = c:producer{ acks = 1 }
    c:drop(1, 2)
    p:send({ topic = "orders", partition = 0, value = "a" })   -- wakes partition 0's fetcher only
    assert(c:run())
    c:run_for(10)
    c:heal()
    for part = 0, 7 do p:send({ topic = "orders", partition = part, value = "b" }) end
    assert(c:run())
    c:run_for(2000)
    local behind, current = 0, 0
    for part = 0, 7 do
      if leo(c, "orders", part, 2) < c:partition("orders", part).replicas[1].leo then
        behind = behind + 1
      else
        current = current + 1
      end
    end
    assert.is_true(behind > 0 and current > 0, ("behind %d, current %d"):format(behind, current))
    c:run_for(40000)
    for part = 0, 7 do
      assert.equal(c:partition("orders", part).replicas[1].leo, leo(c, "orders", part, 2))
    end
  end)

  it("answers within replica.fetch.response.max.bytes: what does not fit comes in the next response", function()
    local function catch_up(config)
      local c = insync.cluster{ brokers = 2, trace = true, config = config }
      c:create_topic("orders", { partitions = 2, replication_factor = 2, replicas = { { 1, 2 }, { 1, 2 } } })
      c:run_for(1000)
      c:drop(1, 2)                     -- broker 2 falls behind on both
      local p = c:producer{ acks = 1 }
      for i = 1, 40 do p:send({ topic = "orders", partition = i % 2, value = ("x"):rep(100) }) end
      assert(c:run())
      local before = #c:trace()
      c:heal()
      c:run_for(40000)                 -- its fetch times out: a new session asks for both
      assert.equal(20, leo(c, "orders", 0, 2))
      assert.equal(20, leo(c, "orders", 1, 2))
      local t = {}
      for i = before + 1, #c:trace() do
        local e = c:trace()[i]
        if e.event == "append" and e.node == 2 then t[e.partition] = e.t end
      end
      return t
    end
    -- 20 records of 116 bytes a partition: both fit in one response of
    -- 10 MB, not in one of 3000 bytes
    local big = catch_up({})
    assert.equal(big[0], big[1])
    local small = catch_up({ ["replica.fetch.response.max.bytes"] = 3000 })
    assert.is_true(small[0] ~= small[1])
  end)
end)

-- Everything a user can observe of a run, as one string.
local function observe(c, reports)
  local t = {}
  for _, e in ipairs(c:trace()) do
    local row = {}
    for _, k in ipairs{ "t", "node", "event", "topic", "partition" } do row[#row + 1] = tostring(e[k]) end
    for k, v in pairs(e) do
      if k ~= "t" and k ~= "node" and k ~= "event" and k ~= "topic" and k ~= "partition" then
        row[#row + 1] = k .. "=" .. tostring(v)
      end
    end
    table.sort(row, function(a, b) return a < b end)
    t[#t + 1] = table.concat(row, " ")
  end
  t[#t + 1] = tostring(c:audit())
  for _, topic in ipairs{ "orders", "logs" } do
    for part = 0, 2 do
      local p = c:partition(topic, part)
      local r = {}
      for b = 1, 5 do
        local x = p.replicas[b]
        if x then r[#r + 1] = ("%d:%s/%s/%s/%s"):format(b, tostring(x.leo), tostring(x.hw), x.role, tostring(x.online)) end
      end
      t[#t + 1] = ("%s/%d leader %s epoch %s hw %s isr %s %s"):format(topic, part, tostring(p.leader),
        tostring(p.leader_epoch), tostring(p.hw), table.concat(p.isr, ","), table.concat(r, " "))
    end
  end
  t[#t + 1] = table.concat(reports, "\n")
  return table.concat(t, "\n")
end

-- A random run over 5 brokers and two topics: sends, idle stretches of up
-- to ten minutes, crashes, restarts, pauses, cuts, controlled shutdowns.
local function run(seed, skip, config)
  local rnd = R.lcg(seed)
  local c = insync.cluster{ brokers = 5, seed = seed, trace = true, skip_idle = skip, config = config }
  c:create_topic("orders", { partitions = 3, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } })
  c:create_topic("logs", { partitions = 3, replication_factor = 2 })
  local ps = { c:producer{ acks = "all", ["enable.idempotence"] = true }, c:producer{ acks = 1 } }
  local reports = {}
  local down, paused = {}, {}
  for step = 1, 40 do
    local what, b = rnd(12), 1 + rnd(5)
    if what <= 4 then
      for i = 1, 1 + rnd(6) do
        local p = ps[1 + rnd(2)]
        p:send({ topic = rnd(2) == 0 and "orders" or "logs", key = "k" .. rnd(20), value = step .. "-" .. i },
          function(r, err)
            reports[#reports + 1] = ("%d %s %s %s %s"):format(c:now(), r.topic, tostring(r.partition),
              tostring(r.offset), err and err.name or "OK")
          end)
      end
    elseif what == 5 and not down[b] and not paused[b] then
      c:crash(b, { lose_unflushed = rnd(3) == 0 }); down[b] = true
    elseif what == 6 and down[b] and not c:broker(b).online then
      c:restart(b); down[b] = nil
    elseif what == 7 and not down[b] and not paused[b] then
      c:pause(b); paused[b] = true
    elseif what == 8 and paused[b] then
      c:resume(b); paused[b] = nil
    elseif what == 9 then
      local x = 1 + rnd(5)
      if x ~= b then c:drop(b, x) end
    elseif what == 10 then
      c:heal()
    elseif what == 11 and not down[b] and not paused[b] and rnd(3) == 0 then
      c:shutdown(b); down[b] = true
    end
    c:run_for(rnd(4) == 0 and 1 + rnd(600000) or 1 + rnd(3000))
  end
  c:heal()
  for b in pairs(paused) do c:resume(b) end
  c:run(600000)
  for b = 1, 5 do if not c:broker(b).online then c:restart(b) end end
  c:run(600000)
  c:run_for(3600000)                   -- an idle hour at the end
  return observe(c, reports), #c:trace()
end

describe("skipping idle fetch rounds", function()
  local function compare(seed, config)
    local skipped, n = run(seed, true, config)
    local stepped = run(seed, false, config)
    assert.is_true(n > 100)
    if skipped ~= stepped then
      -- the first line that differs, not two pages of text
      local a, b = {}, {}
      for l in (skipped .. "\n"):gmatch("(.-)\n") do a[#a + 1] = l end
      for l in (stepped .. "\n"):gmatch("(.-)\n") do b[#b + 1] = l end
      for i = 1, math.max(#a, #b) do
        if a[i] ~= b[i] then
          error(("seed %d, line %d:\n skipped: %s\n stepped: %s"):format(seed, i, tostring(a[i]), tostring(b[i])))
        end
      end
    end
  end

  it("changes nothing observable: callbacks, audit, partitions and trace equal stepping through (12 random runs)", function()
    for seed = 1, 12 do compare(seed) end
  end)

  it("changes nothing observable with three fetchers a broker pair and byte limits (4 random runs)", function()
    for seed = 21, 24 do
      compare(seed, { ["num.replica.fetchers"] = 3, ["replica.fetch.min.bytes"] = 40,
                      ["replica.fetch.response.max.bytes"] = 60, ["replica.fetch.max.bytes"] = 30 })
    end
  end)
end)
