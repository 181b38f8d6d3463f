-- Every time setting of the model is bounded to what Kafka's ConfigDef
-- accepts for it (an INT setting: at most Integer.MAX_VALUE; a LONG one:
-- Long.MAX_VALUE), and the virtual-time arithmetic saturates instead of
-- overflowing: the largest accepted values neither hang run nor wrap time.
local insync = require "insync"
local helpers = require "helpers"

local INT_MAX = 2147483647

local INT_KEYS = {
  "broker.session.timeout.ms", "broker.heartbeat.interval.ms",
  "replica.fetch.wait.max.ms", "replica.fetch.backoff.ms",
  "replica.socket.timeout.ms", "replica.fetch.max.bytes",
}
local LONG_KEYS = {
  "replica.lag.time.max.ms", "log.flush.interval.ms",
  "log.flush.interval.messages", "leader.imbalance.check.interval.seconds",
  "log.flush.scheduler.interval.ms", "log.initial.task.delay.ms",
  "replica.high.watermark.checkpoint.interval.ms",
}

describe("the model's time settings", function()
  it("refuses an INT setting above Integer.MAX_VALUE, naming it", function()
    for _, k in ipairs(INT_KEYS) do
      for _, v in ipairs({ math.huge, 2 ^ 40, INT_MAX + 1 }) do
        local err = helpers.raises(insync.cluster, { config = { [k] = v } })
        assert.is_not_nil(err, k .. " = " .. tostring(v) .. " was accepted")
        assert.matches('cluster: config%["' .. k:gsub("%.", "%%.") .. '"%]: expected', err)
        assert.is_true(#err < 200, err)
      end
    end
  end)

  it("refuses inf, -inf and nan for every integer setting as not an integer", function()
    for _, k in ipairs(LONG_KEYS) do
      for _, v in ipairs({ math.huge, -math.huge, 0 / 0, -1e300 }) do
        local err = helpers.raises(insync.cluster, { config = { [k] = v } })
        assert.is_not_nil(err, k .. " = " .. tostring(v) .. " was accepted")
        if v == -1e300 then
          assert.matches("expected at least [01], got %-1e%+300", err)
        else
          assert.matches("expected integer, got %-?[a-z]+$", err)
        end
      end
    end
    for _, v in ipairs({ math.huge, -math.huge, 0 / 0, -1e300, 1e300 }) do
      local err = helpers.raises(insync.cluster, { latency_ms = v })
      assert.matches("cluster: latency_ms: expected", err)
      assert.not_matches("format", err)
      assert.not_matches("%-9223372036854775808", err)
    end
  end)

  it("bounds latency_ms to an hour", function()
    assert.matches("cluster: latency_ms: expected at most 3600000",
      helpers.raises(insync.cluster, { latency_ms = 3600001 }))
    assert.matches("cluster: latency_ms: expected at most 3600000",
      helpers.raises(insync.cluster, { latency_ms = math.maxinteger or 2 ^ 53 }))
  end)

  it("acknowledges after the right latency at a latency_ms of minutes", function()
    -- a latency the producer's socket.timeout.ms (at most 300000) survives
    local c = insync.cluster{ brokers = 1, latency_ms = 120000, config = {
      ["broker.session.timeout.ms"] = 3600000 } }
    c:create_topic("t")
    local p = c:producer{ ["message.timeout.ms"] = 0, ["socket.timeout.ms"] = 300000,
                          ["request.timeout.ms"] = 900000 }
    local lat
    p:send({ topic = "t", value = "v" }, function(r, err) assert.is_nil(err); lat = r.latency_ms end)
    assert.is_true(c:run(10 * 86400000))
    -- a request and its response, two minutes each way
    assert.is_true(lat >= 2 * 120000 and lat < 86400000, tostring(lat))
    assert.is_true(c:now() >= 2 * 120000)
  end)

  it("runs to the end with every time setting at its largest accepted value", function()
    -- in a child under a watchdog: before the bounds run_for never returned
    local out, ok = helpers.run_lua_code([[
      local insync = require "insync"
      local LONG = math.maxinteger or 2^63
      local INT = 2147483647
      local c = insync.cluster{ brokers = 3, latency_ms = 3600000, config = {
        ["broker.session.timeout.ms"] = INT, ["broker.heartbeat.interval.ms"] = INT,
        ["replica.fetch.wait.max.ms"] = INT, ["replica.fetch.backoff.ms"] = INT,
        ["replica.socket.timeout.ms"] = INT, ["replica.lag.time.max.ms"] = LONG,
        ["log.flush.interval.ms"] = LONG, ["log.flush.interval.messages"] = LONG,
        ["leader.imbalance.check.interval.seconds"] = LONG,
        ["log.flush.scheduler.interval.ms"] = LONG, ["log.initial.task.delay.ms"] = LONG,
        ["replica.high.watermark.checkpoint.interval.ms"] = LONG },
        dirty_expire_centisecs = INT, dirty_writeback_centisecs = INT, disk_bytes_per_ms = 1 }
      c:create_topic("t", { partitions = 2, replication_factor = 3 })
      local p = c:producer{ ["message.timeout.ms"] = INT, ["linger.ms"] = 900000,
                            ["request.timeout.ms"] = 900000 }
      local reports = {}
      for i = 1, 5 do
        p:send({ topic = "t", value = "v" .. i }, function(r, err) reports[#reports + 1] = { r = r, err = err } end)
      end
      print("run_for", c:run_for(1000))
      print("run", c:run(1e300))
      for _, x in ipairs(reports) do
        print("report", x.err and x.err.name or "ok", x.r.latency_ms)
      end
      print("now", c:now())
      -- the C core bounds what it is given, whatever the Lua face let by
      local core = require "insync.core"
      local conf = { brokers = 3, default_partitions = 1, default_rf = 1, min_isr = 1,
                     fetch_max_bytes = 1048576, flush_messages = LONG }
      for _, k in ipairs({ "latency_ms", "lag_ms", "session_ms", "heartbeat_ms",
                           "fetch_wait_ms", "fetch_backoff_ms", "socket_timeout_ms",
                           "flush_ms", "imbalance_check_s", "flush_scheduler_ms",
                           "initial_task_delay_ms", "hw_checkpoint_ms", "dirty_expire_cs",
                           "dirty_writeback_cs", "disk_bytes_per_ms" }) do conf[k] = LONG end
      local raw = core.cluster_new(conf)
      print("raw run_for", raw:run_for(1000), raw:run_for(5000))
    ]], 60)
    assert.is_true(ok, out)
    assert.matches("run_for\t1000\n", out)
    assert.matches("run\ttrue\n", out)
    local n = 0
    for status, lat in out:gmatch("report\t(%S+)\t(%-?%d+)") do
      n = n + 1
      -- acknowledged, or failed when message.timeout.ms (Integer.MAX) ran out
      assert.is_true(status == "ok" or status == "_MSG_TIMED_OUT", out)
      assert.is_true(tonumber(lat) > 0 and tonumber(lat) <= 2147483647 + 2 * 3600000, out)
    end
    assert.equal(5, n, out)
    assert.matches("raw run_for\t1000\t6000\n", out)
  end)
end)
