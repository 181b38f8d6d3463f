-- insync.openresty in Debian's nginx on real Apache Kafka: wrk load on a
-- handler that answers once its record is acknowledged (send_wait) and on
-- one that answers once it is queued (send, delivered before the worker
-- exits), the leader of partition 0 SIGKILLed half way.  acks=all,
-- min.insync.replicas=2, idempotence: every request answered 200 is read
-- back (insync.consumer) exactly once, and no record is in the log twice.
local real = require "kafka.real"
local nginx = require "openresty.nginx"

describe("insync.openresty under wrk on Apache Kafka, the partition leader killed mid-load", function()
  local srv

  setup(function()
    real.require_cluster()
    assert(nginx.available())
  end)

  teardown(function()
    if srv then srv:stop(90) end
    real.heal()
  end)

  it("reads back every request answered 200 exactly once: 0 lost, 0 duplicated", function()
    local topic = real.name("openresty-kill")
    real.topic(topic, 3, 3, { ["min.insync.replicas"] = 2 })
    for p = 0, 2 do real.wait_isr_is(topic, p, { 1, 2, 3 }) end
    local victim = real.isr(topic, 0)
    srv = nginx.start{
      name = "kafka-openresty",
      workers = 2,
      main = "worker_shutdown_timeout 90s;",
      http = ([[
  lua_shared_dict insync 1m;
  init_worker_by_lua_block {
    require("insync.openresty").init{
      shm = "insync",
      exit_timeout_ms = 60000,
      config = {
        ["bootstrap.servers"] = %q,
        acks = "all",
        ["enable.idempotence"] = true,
        ["message.timeout.ms"] = 60000,
        ["linger.ms"] = 5,
        ["statistics.interval.ms"] = 1000,
      },
    }
  }
  exit_worker_by_lua_block { require("insync.openresty").exit() }
]]):format(real.bootstrap()),
      server = ([[
    set $topic %s;
    location = /content { content_by_lua_block { require("openresty.app").content() } }
    location = /wait { content_by_lua_block { require("openresty.production_app").wait() } }
    location = /metrics { content_by_lua_block { require("insync.openresty").serve_prometheus() } }
]]):format(topic),
    }
    -- warm up: metadata and producer ids before the load
    for i = 1, 10 do assert.are.equal(200, (srv:get("/wait?id=warm-" .. i))) end
    local killed
    local r = srv:wrk{ threads = 4, n = 2000, prefix = "K", paths = { "/wait?timeout=50000", "/content" },
      during = function() real.kill(victim) killed = true end }
    assert.is_true(killed, "the leader was not killed during the load")
    assert.are.equal(8000, r.answered, r.output)
    assert.are.equal(0, r.bad, r.output)
    real.restart(victim)
    assert.is_true(srv:stop(90))
    -- the exit lines: everything sent was delivered, nothing failed or purged
    local sent, delivered, failed, purged = 0, 0, 0, 0
    for _, line in ipairs(srv:log_lines("insync%.openresty: worker %d+ exiting")) do
      sent = sent + tonumber(line:match("sent (%d+)"))
      delivered = delivered + tonumber(line:match("delivered (%d+)"))
      failed = failed + tonumber(line:match("failed (%d+)"))
      purged = purged + tonumber(line:match("purged (%d+)"))
    end
    assert.are.same({ 8010, 0, 0 }, { delivered, failed, purged })
    assert.are.equal(8010, sent)
    -- read back
    local ids = {}
    local p = io.popen("cat " .. srv.prefix .. "/wrk-K.ids.*")
    for id in p:lines() do ids[#ids + 1] = id end
    p:close()
    assert.are.equal(8000, #ids)
    local by_key = {}
    local records = real.consume(topic)
    for _, rec in ipairs(records) do by_key[rec.key] = (by_key[rec.key] or 0) + 1 end
    for key, n in pairs(by_key) do assert(n == 1, key .. " is in the log " .. n .. " times") end
    local lost = {}
    for _, id in ipairs(ids) do
      if by_key[id] ~= 1 then lost[#lost + 1] = id end
    end
    assert.are.same({}, lost)
    assert.are.equal(8010, #records)
    -- the killed broker's connections: librdkafka's line and its error
    -- event make one line, at [warn] at least
    assert.are.same({}, srv:log_lines("librdkafka%[default%]: _TRANSPORT:"))
    assert.is_true(#srv:log_lines("%[warn%].*librdkafka%[default%]: FAIL: _TRANSPORT: ") >= 1)
    print(("# openresty under wrk: %d requests answered 200 (half send_wait, half send), broker %d "
      .. "SIGKILLed half way; %d records read back, each once"):format(#ids, victim, #records))
  end)
end)
