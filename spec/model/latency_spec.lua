-- Timing as production has it: every link's latency drawn from a
-- distribution (fixed, uniform, log-normal by median and p99), named
-- profiles, per-link settings; deterministic per seed; a link keeps its
-- order as a TCP connection does.
local insync = require "insync"
local S = require "model.scenario"

-- Acknowledgement latencies (virtual ms) of n acks=1 sends, one every 10 ms,
-- to the single partition of a 3-broker RF 3 topic; and the audit.
local function ack_latencies(opts, n, pconf)
  local c = insync.cluster(opts)
  c:create_topic("t", { replication_factor = 3 })
  local p = c:producer(pconf or { acks = 1, ["linger.ms"] = 0 })
  c:run_for(1000)   -- connected, metadata known
  local lat = {}
  for _ = 1, n do
    p:send({ topic = "t", value = "v" }, function(r, err)
      assert(not err, err and tostring(err))
      lat[#lat + 1] = r.latency_ms
    end)
    c:run_for(10)
  end
  c:run()
  table.sort(lat)
  return lat, c:audit(), c
end

local function distinct(list)
  local seen, n = {}, 0
  for _, v in ipairs(list) do
    if not seen[v] then seen[v], n = true, n + 1 end
  end
  return n
end

describe("latency", function()
  it("is 1 ms on every link by default and under the lan profile, with the same outcome to the event", function()
    local a, _, ca = ack_latencies({ seed = 5, trace = true }, 200)
    local b, _, cb = ack_latencies({ seed = 5, trace = true, profile = "lan" }, 200)
    assert.same(a, b)
    assert.equal(#ca:trace(), #cb:trace())
    assert.equal(2, a[1])       -- request and response, 1 ms each
    assert.equal(2, a[199])     -- (the first send also opens the connection)
  end)

  it("draws uniform latencies within their bounds", function()
    -- request and response, each 2..4 ms
    local lat = ack_latencies({ seed = 1, latency = { dist = "uniform", min_ms = 2, max_ms = 4 } }, 400)
    assert.is_true(lat[1] >= 4)
    assert.is_true(lat[396] <= 8)   -- (the first send also opens the connection)
    assert.is_true(distinct(lat) >= 4)
  end)

  it("draws log-normal latencies with their median and a long tail", function()
    local lat = ack_latencies({ seed = 1, latency = { dist = "lognormal", median_ms = 10, p99_ms = 50 } }, 1000)
    local p50, p99 = lat[500], lat[990]
    assert.is_true(p50 >= 18 and p50 <= 40, "p50 " .. p50)   -- two hops of median 10, in order
    assert.is_true(p99 >= 2 * p50, "p99 " .. p99)
  end)

  it("is deterministic per seed and differs between seeds", function()
    local o = { latency = "cross_az" }
    o.seed = 9
    local a = ack_latencies(o, 300)
    local b = ack_latencies(o, 300)
    o.seed = 10
    local c = ack_latencies(o, 300)
    assert.same(a, b)
    assert.are_not.same(a, c)
  end)

  it("keeps each link in order: no reordering without faults, even with max.in.flight unlimited", function()
    for _, prof in ipairs{ "datacenter", "cross_az", "overloaded" } do
      local _, audit = ack_latencies({ seed = 2, profile = prof }, 300,
        { acks = "all", ["linger.ms"] = 0, ["max.in.flight"] = 1000000 })
      assert.equal(0, #audit.reordered)
      assert.equal(0, #audit.duplicated)
      assert.equal(300, audit.acked)
    end
  end)

  it("orders the profiles by acknowledgement latency: datacenter < lan, cross_az < overloaded", function()
    local p50 = {}
    for _, prof in ipairs{ "lan", "datacenter", "cross_az", "overloaded" } do
      local lat = ack_latencies({ seed = 3, profile = prof }, 500, { acks = "all", ["linger.ms"] = 0 })
      p50[prof] = lat[250]
    end
    assert.is_true(p50.datacenter < p50.lan)
    assert.is_true(p50.cross_az < p50.overloaded)
    assert.is_true(p50.overloaded >= 5 * p50.lan)
  end)

  it("sets one link's latency, both ways", function()
    local c = insync.cluster{ seed = 1 }
    c:create_topic("t", { replication_factor = 3 })
    local p = c:producer{ acks = 1, ["linger.ms"] = 0 }
    c:latency(1, p, 50)           -- the leader and the producer: 50 ms each way
    c:run_for(1000)
    local got
    p:send({ topic = "t", value = "first: opens the connection" }, function() end)
    c:run()
    p:send({ topic = "t", value = "v" }, function(r) got = r.latency_ms end)
    c:run()
    assert.equal(100, got)
    local q = c:producer{ acks = 1, ["linger.ms"] = 0 }
    c:run_for(1000)
    q:send({ topic = "t", value = "first" }, function() end)
    c:run()
    q:send({ topic = "t", value = "v" }, function(r) got = r.latency_ms end)
    c:run()
    assert.equal(2, got)          -- another producer's link keeps 1 ms
  end)

  it("a broker's network budget: under a producer faster than it, followers fall behind and leave the ISR", function()
    local function load(budget)
      local c = insync.cluster{ network_bytes_per_ms = budget, trace = true,
                                config = { ["replica.lag.time.max.ms"] = 10000 } }
      c:create_topic("t", { replication_factor = 3 })
      local p = c:producer{ acks = 1 }
      local v = ("x"):rep(1000)   -- 100 records a second: some 100 KB/s in, 200 KB/s to the followers
      local lat = {}
      for _ = 1, 3000 do
        p:send({ topic = "t", value = v }, function(r) lat[#lat + 1] = r.latency_ms end)
        c:run_for(10)
      end
      assert.is_true(c:run())
      table.sort(lat)
      local shrunk = S.find(c:trace(), "isr_shrink")
      return lat[1500], shrunk, c:partition("t", 0)
    end
    local p50, shrunk, part = load(nil)
    assert.is_nil(shrunk)
    assert.equal(3, #part.isr)
    assert.is_true(p50 <= 10)
    p50, shrunk, part = load(50)          -- 50 KB/s out of each broker
    assert.truthy(shrunk)
    assert.is_true(#part.isr < 3)
    assert.is_true(p50 > 1000)            -- answers queue behind the replication traffic
    S.raises("cluster: network_bytes_per_ms: expected at least 1", insync.cluster, { network_bytes_per_ms = 0 })
  end)

  -- The disk budget: a produce request, or a fetch response on a follower,
  -- is handled once its broker's disk has written its records after what
  -- it had queued (csrc/model/latency.c).
  it("a broker's disk budget: a follower whose disk is slower than the produce rate falls behind and leaves the ISR", function()
    local function load(disk)
      local c = insync.cluster{ disk_bytes_per_ms = disk, trace = true,
                                config = { ["replica.lag.time.max.ms"] = 10000 } }
      c:create_topic("t", { replication_factor = 3 })
      local p = c:producer{ acks = "all" }
      local v = ("x"):rep(1000)   -- 100 records a second: some 100 KB/s to every replica's disk
      local lat = {}
      for _ = 1, 3000 do
        p:send({ topic = "t", value = v }, function(r) lat[#lat + 1] = r.latency_ms end)
        c:run_for(10)
      end
      assert.is_true(c:run())
      table.sort(lat)
      return lat[1500], S.find(c:trace(), "isr_shrink"), c:partition("t", 0)
    end
    local p50, shrunk, part = load(nil)
    assert.is_nil(shrunk)
    assert.is_true(p50 <= 10)
    assert.equal(3, #part.isr)
    p50, shrunk, part = load({ [3] = 1000 })     -- 1 MB/s: keeps up
    assert.is_nil(shrunk)
    assert.is_true(p50 <= 20)
    assert.equal(3, #part.isr)
    p50, shrunk, part = load({ [3] = 50 })       -- broker 3's disk: 50 KB/s
    assert.truthy(shrunk)
    assert.same({ 1, 2 }, part.isr)              -- 3 fell behind
    assert.is_true(part.replicas[3].leo < 3000)
    assert.is_true(p50 > 1000)                   -- acks=all waited for 3 until it left
    S.raises("cluster: disk_bytes_per_ms: expected at least 1", insync.cluster, { disk_bytes_per_ms = 0 })
    S.raises("cluster: disk_bytes_per_ms: expected broker ids 1..3 as keys, got 4",
             insync.cluster, { disk_bytes_per_ms = { [4] = 10 } })
    S.raises("cluster: disk_bytes_per_ms[2]: expected at least 1", insync.cluster,
             { disk_bytes_per_ms = { [2] = 0 } })
  end)

  it("explore takes a per-broker disk budget and its replay script keeps it", function()
    local r = insync.explore{ cluster = { disk_bytes_per_ms = { [1] = 100000, [3] = 50000 } },
                              topic = { replication_factor = 3 }, producer = { acks = 1 },
                              faults = { "kill", "power_loss" }, runs = 300, seed = 1 }
    assert.is_true(r.violations.lost > 0)
    local script = r:script()
    assert.truthy(script:find("disk_bytes_per_ms = { 100000, [3] = 50000 }", 1, true))
    local env = setmetatable({ print = function() end }, { __index = _G })
    local chunk = setfenv and setfenv(loadstring(script), env) or load(script, "replay", "t", env)
    local ok, printed = pcall(chunk)
    assert.is_true(ok, printed)
    assert.truthy(tostring(printed):match("lost [1-9]"))
  end)

  it("a disk budget every broker shares slows every append alike: nobody falls behind, acks wait", function()
    local c = insync.cluster{ disk_bytes_per_ms = 1 }
    c:create_topic("t", { replication_factor = 3 })
    local p = c:producer{ acks = "all", ["linger.ms"] = 0 }
    c:run_for(1000)
    local got
    -- 64 + 16 + 936 bytes = 1016 ms on the leader's disk, then as long on a follower's
    p:send({ topic = "t", value = ("x"):rep(936) }, function(r) got = r.latency_ms end)
    c:run()
    assert.is_true(got >= 2032 and got < 2032 + 600)
    assert.equal(3, #c:partition("t", 0).isr)
  end)

  it("raises on bad latencies, naming them", function()
    S.raises("cluster: profile: unknown profile 'moon'", insync.cluster, { profile = "moon" })
    S.raises("cluster: profile: give profile, latency or latency_ms", insync.cluster,
      { profile = "lan", latency_ms = 2 })
    S.raises("cluster: latency: dist: expected", insync.cluster, { latency = { dist = "normal" } })
    S.raises("cluster: latency: max_ms: expected at least min_ms", insync.cluster,
      { latency = { dist = "uniform", min_ms = 3, max_ms = 1 } })
    S.raises("cluster: latency: unknown key 'mean_ms'", insync.cluster,
      { latency = { dist = "lognormal", median_ms = 1, mean_ms = 2 } })
    S.raises("cluster: latency: expected 0 < median_ms <= p99_ms", insync.cluster,
      { latency = { dist = "lognormal", median_ms = 3, p99_ms = 2 } })
    S.raises("cluster: latency: p99_ms: expected a number", insync.cluster,
      { latency = { dist = "lognormal", median_ms = 3 } })
    local c = insync.cluster{}
    S.raises("latency: a: expected a broker id", c.latency, c, 9, 1, 3)
    S.raises("latency: spec: expected a number", c.latency, c, 1, 2, true)
  end)
end)
