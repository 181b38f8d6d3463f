-- insync.openresty in production configurations, in Debian's nginx against
-- librdkafka's mock cluster in a process of its own: Prometheus metrics
-- (read by Prometheus's own text parser, Python's prometheus_client, which
-- .ci/pyvenv installs from PyPI), the same series in an nginx-lua-prometheus
-- registry, send_wait, several named producers, librdkafka's log in
-- nginx's error log, SASL/TLS settings passed through.
local nginx = require "openresty.nginx"
local read_file, read_keys, wait_for = nginx.read_file, nginx.read_keys, nginx.wait_for

local PYTHON = nginx.top .. "/build/pyvenv/bin/python"

-- Parses a text exposition with prometheus_client's parser: samples
-- (`name{a=x,b=y}` -> value, labels sorted), families (name -> type), and
-- raises with the parser's complaint when it refuses the text.
local function parse(text, where)
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, "wb"))
  f:write(text)
  f:close()
  local p = io.popen(("%s %s/spec/openresty/prom_parse.py < %s 2>&1; echo \"rc=$?\""):format(PYTHON, nginx.top, tmp))
  local out = p:read("a")
  p:close()
  os.remove(tmp)
  assert(out:match("rc=0%s*$"), "prometheus_client refused " .. where .. ":\n" .. out .. "\n" .. text)
  local samples, families = {}, {}
  for line in out:gmatch("[^\n]+") do
    local fname, ftype = line:match("^# FAMILY\t(%S+)\t(%S+)")
    if fname then
      families[fname] = ftype
    else
      local name, _, labels, value = line:match("^(%S+)\t(%S+)\t(%S*)\t(%S+)$")
      if name then samples[name .. "{" .. labels .. "}"] = tonumber(value) end
    end
  end
  return samples, families
end

local function scrape(srv, path)
  local status, body, headers = srv:get(path or "/metrics")
  assert.are.equal(200, status)
  local samples, families = parse(body, path or "/metrics")
  return samples, families, headers, body
end

local function sum(samples, prefix)
  local n = 0
  for k, v in pairs(samples) do
    if k:sub(1, #prefix) == prefix then n = n + v end
  end
  return n
end

local LOCATIONS = [[
    set $topic %s;
    location = /send { content_by_lua_block { require("openresty.production_app").send() } }
    location = /wait { content_by_lua_block { require("openresty.production_app").wait() } }
    location = /misuse { content_by_lua_block { require("openresty.production_app").misuse() } }
    location = /log_wait {
      content_by_lua_block { ngx.say("ok") }
      log_by_lua_block { require("openresty.production_app").wait_in_log() }
    }
    location = /nosend { content_by_lua_block { ngx.say(ngx.var.arg_id) } }
    location = /metrics { content_by_lua_block { require("insync.openresty").serve_prometheus() } }
    location = /insync/metrics { content_by_lua_block { require("insync.openresty").serve_metrics(ngx.var.arg_p) } }
]]

-- nginx with `inits` (the init_worker_by_lua code making the producers).
local function start(name, o)
  return nginx.start{
    name = name,
    workers = o.workers or 2,
    main = o.main,
    cmd_env = o.cmd_env,
    log_level = o.log_level,
    http = ([[
  lua_shared_dict insync 1m;
  %s
  init_worker_by_lua_block {
    local openresty = require "insync.openresty"
    %s
  }
  exit_worker_by_lua_block { require("insync.openresty").exit() }
]]):format(o.http or "", o.inits),
    server = LOCATIONS:format(o.topic or "t") .. (o.server or ""),
  }
end

describe("insync.openresty in production configurations", function()
  local clusters, servers = {}, {}

  setup(function()
    assert(nginx.available())
    assert(read_file(PYTHON), "build/pyvenv is missing: run .ci/pyvenv (make test-openresty does)")
  end)

  teardown(function()
    for _, srv in ipairs(servers) do srv:stop(10) end
    for _, c in ipairs(clusters) do c.stop() end
  end)

  local function cluster(name, topics, partitions, rtt_ms)
    local c = nginx.mock_cluster(name, topics, partitions, rtt_ms)
    clusters[#clusters + 1] = c
    return c
  end

  local function server(name, o)
    local srv = start(name, o)
    servers[#servers + 1] = srv
    return srv
  end

  describe("Prometheus metrics", function()
    it("serves the text format 0.0.4 that Prometheus's parser reads: records by producer, topic and error; "
      .. "librdkafka's queue, RTT and retries; counters that go on across a reload", function()
      local c = cluster("prom-cluster", { "pa", "pb" })
      local dead = "127.0.0.1:" .. nginx.free_port()
      local srv = server("prom", { topic = "pa", inits = ([[
    openresty.init{ shm = "insync", metrics_interval_ms = 100, exit_timeout_ms = 200,
      config = { ["bootstrap.servers"] = %q, ["statistics.interval.ms"] = 100 } }
    openresty.init{ name = "audit", exit_timeout_ms = 200,
      config = { ["bootstrap.servers"] = %q, ["statistics.interval.ms"] = 100 } }
    openresty.init{ name = "nowhere", exit_timeout_ms = 200,
      config = { ["bootstrap.servers"] = %q, ["queue.buffering.max.messages"] = 2 } }
]]):format(c.bootstrap, c.bootstrap, dead) })
      for i = 1, 30 do assert.are.equal(200, (srv:get("/send?id=a" .. i))) end
      for i = 1, 20 do assert.are.equal(200, (srv:get("/send?p=audit&topic=pb&id=b" .. i))) end
      assert.are.equal(200, (srv:get("/send?id=bad&partition=99")))
      -- 1 worker would take 2 and refuse 2; with 2 workers, each takes 2
      local refused = 0
      for i = 1, 8 do
        local status = srv:get("/send?p=nowhere&id=n" .. i)
        if status == 503 then refused = refused + 1 end
      end
      -- librdkafka's statistics of both producers in both workers name the 3 brokers
      local function every_broker_seen(s)
        for b = 1, 3 do
          for _, p in ipairs({ "default", "audit" }) do
            for w = 0, 1 do
              if not s[("insync_broker_rtt_p99_seconds{broker=%d,producer=%s,worker=%d}"):format(b, p, w)] then
                return false
              end
            end
          end
        end
        return true
      end
      local s, families, headers, text
      wait_for("every delivery and librdkafka's statistics in the metrics", 30, function()
        s, families, headers, text = scrape(srv)
        return s['insync_records_delivered_total{producer=default}'] == 30
          and s['insync_records_delivered_total{producer=audit}'] == 20
          and s['insync_records_failed_total{error=_UNKNOWN_PARTITION,producer=default,topic=pa}'] == 1
          and sum(s, "insync_broker_requests_total{broker=") > 0
          and s['insync_rdkafka_queue_messages{producer=default}'] == 0
          and every_broker_seen(s)
          and (s['insync_client_errors_total{error=_TRANSPORT,producer=nowhere}'] or 0) >= 1
      end)
      assert.are.equal("text/plain; version=0.0.4; charset=utf-8", headers["content-type"])
      assert.truthy(text:find("# TYPE insync_records_sent_total counter\n", 1, true))
      assert.truthy(text:find("# HELP insync_records_sent_total ", 1, true))
      -- prometheus_client names a counter's family without _total
      assert.are.equal("counter", families.insync_records_sent)
      assert.are.equal("counter", families.insync_broker_request_retries)
      assert.are.equal("gauge", families.insync_queue_depth)
      assert.are.equal("gauge", families.insync_broker_rtt_avg_seconds)
      assert.are.equal(31, s['insync_records_sent_total{producer=default,topic=pa}'])
      assert.are.equal(20, s['insync_records_sent_total{producer=audit,topic=pb}'])
      -- each worker takes 2 (queue.buffering.max.messages) of the requests
      -- it gets, refuses the rest: 2 to 4 in all, as nginx spreads them
      local accepted = 8 - refused
      assert(accepted >= 2 and accepted <= 4, accepted .. " accepted")
      assert.are.equal(accepted, s['insync_records_sent_total{producer=nowhere,topic=pa}'])
      assert.are.equal(refused, s['insync_records_refused_total{error=_QUEUE_FULL,producer=nowhere,topic=pa}'])
      assert.are.same({ 0, 0 }, { s['insync_queue_depth{producer=default}'],
        s['insync_queue_depth{producer=audit}'] })
      assert.are.equal(accepted, s['insync_queue_depth{producer=nowhere}'])
      -- librdkafka's statistics: each of the 3 brokers, each worker
      for b = 1, 3 do
        for _, p in ipairs({ "default", "audit" }) do
          assert.is_number(s[("insync_broker_request_retries_total{broker=%d,producer=%s}"):format(b, p)])
          assert.is_number(s[("insync_broker_requests_total{broker=%d,producer=%s}"):format(b, p)])
          assert.is_number(s[("insync_broker_up{broker=%d,producer=%s}"):format(b, p)])
          for w = 0, 1 do
            assert.is_number(s[("insync_broker_rtt_p99_seconds{broker=%d,producer=%s,worker=%d}"):format(b, p, w)])
          end
        end
      end
      assert.is_true(sum(s, "insync_broker_requests_total{") > 0)
      assert.are.equal(0, s['insync_rdkafka_queue_messages{producer=default}'])
      -- a reload: the old workers' counts stay in the counters, the 4
      -- records nobody could deliver are purged and counted as failed
      assert.is_true(srv:reload())
      s = scrape(srv)
      assert.are.equal(31, s['insync_records_sent_total{producer=default,topic=pa}'])
      assert.are.equal(30, s['insync_records_delivered_total{producer=default}'])
      assert.are.equal(20, s['insync_records_delivered_total{producer=audit}'])
      assert.are.equal(accepted, sum(s, "insync_records_failed_total{error=_PURGE_"))
      assert.are.equal(refused, s['insync_records_refused_total{error=_QUEUE_FULL,producer=nowhere,topic=pa}'])
      assert.are.equal(0, s['insync_queue_depth{producer=nowhere}'])
      assert.is_true(sum(s, "insync_broker_requests_total{") > 0)
      assert.is_true(srv:stop())
      assert.are.same({ 30, 20 }, { #nginx.read_topic(c.bootstrap, "pa"), #nginx.read_topic(c.bootstrap, "pb") })
    end)

    it("registers the same series in an nginx-lua-prometheus registry, which counts across a reload", function()
      local c = cluster("registry-cluster", { "r" })
      -- no shm: the registry is the only place every worker's counts meet
      local srv = server("registry", { topic = "r", http = "lua_shared_dict prometheus_metrics 1m;",
        workers = 1, inits = ([[
    prometheus = require("openresty.registry_shape").init("prometheus_metrics")
    prometheus:init_worker()
    openresty.init{ metrics_interval_ms = 100,
      config = { ["bootstrap.servers"] = %q, ["statistics.interval.ms"] = 100 } }
    openresty.prometheus(prometheus)
]]):format(c.bootstrap), server = [[
    location = /registry { content_by_lua_block { prometheus:collect() } }
]] })
      for i = 1, 40 do assert.are.equal(200, (srv:get("/send?id=r" .. i))) end
      local mine, theirs
      wait_for("40 deliveries in both", 30, function()
        mine = scrape(srv)
        theirs = scrape(srv, "/registry")
        return mine['insync_records_delivered_total{producer=default}'] == 40
          and theirs['insync_records_delivered_total{producer=default}'] == 40
          and sum(theirs, "insync_broker_requests_total{") > 0
      end)
      -- the same names and labels; the registry's counters equal ours
      for k in pairs(theirs) do
        if k:find("^insync_") then assert.is_not_nil(mine[k], k) end
      end
      assert.are.equal(40, theirs['insync_records_sent_total{producer=default,topic=r}'])
      assert.are.equal(0, theirs['insync_queue_depth{producer=default}'])
      assert.are.equal(0, theirs['nginx_metric_errors_total{}'])
      assert.is_true(srv:reload())
      for i = 41, 50 do assert.are.equal(200, (srv:get("/send?id=r" .. i))) end
      wait_for("50 deliveries in the registry after the reload", 30, function()
        theirs = scrape(srv, "/registry")
        return theirs['insync_records_delivered_total{producer=default}'] == 50
      end)
      assert.are.equal(50, theirs['insync_records_sent_total{producer=default,topic=r}'])
      assert.are.equal(0, theirs['nginx_metric_errors_total{}'])
      assert.is_true(srv:stop())
      assert.are.same({}, srv:problems())
    end)
  end)

  describe("send_wait", function()
    it("answers 4,000 requests under wrk only once each record is acknowledged: each answered record read back once",
      function()
        local c = cluster("wait-cluster", { "w" })
        local srv = server("wait", { topic = "w", inits = ([[
    openresty.init{ shm = "insync", config = { ["bootstrap.servers"] = %q, acks = "all",
      ["enable.idempotence"] = true, ["linger.ms"] = 1 } }
]]):format(c.bootstrap) })
        local r = srv:wrk{ threads = 4, n = 1000, prefix = "W", paths = { "/wait" } }
        assert.are.equal(4000, r.answered, r.output)
        assert.are.equal(0, r.bad)
        local ids = srv:answered_ids("W")
        assert.are.equal(4000, #ids)
        -- answered means acknowledged: the records are there before nginx stops
        local by_key, recs = read_keys(c.bootstrap, "w")
        for _, id in ipairs(ids) do assert(by_key[id] == 1, id .. ": " .. tostring(by_key[id]) .. " copies") end
        assert.are.equal(4000, #recs)
        -- each worker publishes its counts every metrics_interval_ms (1 s):
        -- the last ones can reach the shm after wrk has its answers
        local s = wait_for("4,000 deliveries in the metrics", 30, function()
          local m = scrape(srv)
          return m['insync_records_delivered_total{producer=default}'] == 4000 and m
        end)
        assert.are.same({ 4000, 0 }, { s['insync_records_delivered_total{producer=default}'],
          s['insync_send_wait_timeouts_total{producer=default}'] })
        assert.is_true(srv:stop())
        assert.are.same({}, srv:problems())
      end)

    it("yields the request, not the worker: one worker answers other requests while a send_wait waits", function()
      -- every broker answers 2 s late: the wait lasts several seconds
      local c = cluster("yield-cluster", { "y" }, 1, 2000)
      local srv = server("yield", { topic = "y", workers = 1, inits = ([[
    openresty.init{ config = { ["bootstrap.servers"] = %q } }
]]):format(c.bootstrap) })
      local socket = require "socket"
      local waiting = socket.tcp()
      waiting:settimeout(30)
      assert(waiting:connect("127.0.0.1", srv.port))
      waiting:send("GET /wait?id=slow-1&timeout=60000 HTTP/1.0\r\nHost: x\r\n\r\n")
      local others = 0
      for i = 1, 10 do
        local status, body = srv:get("/nosend?id=other-" .. i)
        if status == 200 and body == "other-" .. i .. "\n" then others = others + 1 end
      end
      waiting:settimeout(0)
      local early = waiting:receive("*l")
      assert.is_nil(early, "send_wait answered before the cluster could acknowledge")
      assert.are.equal(10, others)
      waiting:settimeout(60)
      local answer = waiting:receive("*a")
      waiting:close()
      assert.truthy(answer:find("^HTTP/1%.1 200"), answer)
      assert.truthy(answer:find("slow%-1\n$"), answer)
      assert.is_true(srv:stop())
    end)

    it("returns _TIMED_OUT after timeout_ms; the record may still be delivered, and its outcome is counted", function()
      local c = cluster("timeout-cluster", { "to" }, 1, 500)
      local srv = server("timeout", { topic = "to", workers = 1, inits = ([[
    openresty.init{ shm = "insync", metrics_interval_ms = 100, config = { ["bootstrap.servers"] = %q } }
]]):format(c.bootstrap) })
      local status, body = srv:get("/wait?id=late-1&timeout=100")
      assert.are.same({ 503, "_TIMED_OUT possibly_persisted\n" }, { status, body })
      local s = wait_for("the late record's delivery", 30, function()
        local s = scrape(srv)
        return s['insync_records_delivered_total{producer=default}'] == 1 and s
      end)
      assert.are.equal(1, s['insync_send_wait_timeouts_total{producer=default}'])
      assert.are.same({ ["late-1"] = 1 }, (read_keys(c.bootstrap, "to")))
      assert.is_true(srv:stop())
    end)

    it("raises naming the argument, and where a request cannot wait (the log phase)", function()
      local srv = server("wait-misuse", { workers = 1, inits = [[
    openresty.init{ config = { ["bootstrap.servers"] = "127.0.0.1:1" }, exit_timeout_ms = 0 }
]] })
      local _, body = srv:get("/misuse")
      assert.are.equal(table.concat({
        "timeout|insync.openresty.send_wait: timeout_ms: expected a number >= 0, got -1",
        "msg|send: msg.topic: expected string, got number",
        "get|insync.openresty.get: name: no producer named 'nosuch' in this worker (made: default)",
        "getname|insync.openresty.get: name: expected string, got number",
        "send_wait msg|names the line", "send_wait timeout|names the line", "h:send_wait msg|names the line",
        "h:send_wait timeout|names the line", "h:send msg|names the line", "h:send cb|names the line",
        "send msg|names the line", "" }, "\n"), body)
      assert.are.equal(200, (srv:get("/log_wait")))
      wait_for("the log phase's error", 10, function()
        return #srv:log_lines("send_wait in log: .*send_wait: cannot wait in the log phase") == 1
      end)
      assert.is_true(srv:stop())
    end)
  end)

  describe("several named producers", function()
    it("sends through each to its own cluster, and drains each on reload: every record once, in its cluster", function()
      local a = cluster("named-a", { "n" })
      local b = cluster("named-b", { "n" })
      local srv = server("named", { topic = "n", inits = ([[
    openresty.init{ shm = "insync", config = { ["bootstrap.servers"] = %q } }
    openresty.init{ name = "b", config = { ["bootstrap.servers"] = %q, ["linger.ms"] = 20 } }
]]):format(a.bootstrap, b.bootstrap) })
      local old = srv:workers()
      local r = srv:wrk{ threads = 4, n = 2000, prefix = "N", paths = { "/send", "/send?p=b" },
        during = function(s) s:signal("reload") end }
      assert.are.equal(8000, r.answered, r.output)
      assert.are.equal(0, r.bad)
      assert.is_true(nginx.wait_all_exit(old, 30))
      assert.is_true(srv:stop())
      local in_a, recs_a = read_keys(a.bootstrap, "n")
      local in_b, recs_b = read_keys(b.bootstrap, "n")
      for _, id in ipairs(srv:answered_ids("N")) do
        local n = tonumber(id:match("%-(%d+)$"))
        local mine, other = in_a, in_b
        if n % 2 == 0 then mine, other = in_b, in_a end
        assert(mine[id] == 1, id .. ": " .. tostring(mine[id]) .. " copies in its cluster")
        assert(other[id] == nil, id .. " is in the other cluster")
      end
      -- a request lost with its connection in the reload is sent again under
      -- the next number: its record may be there, unanswered, but only once
      assert.is_true(#recs_a + #recs_b >= 8000)
      for key, n in pairs(in_a) do
        assert(n == 1 and tonumber(key:match("%-(%d+)$")) % 2 == 1, key .. " in cluster a")
      end
      for key, n in pairs(in_b) do
        assert(n == 1 and tonumber(key:match("%-(%d+)$")) % 2 == 0, key .. " in cluster b")
      end
      -- each producer of each worker (2 before the reload, 2 after) logged its exit
      local lines_b = srv:log_lines("exiting %(graceful%): producer b: sent %d+, delivered")
      local lines_all = srv:log_lines("insync.openresty: worker %d+ exiting %(graceful%)")
      assert.are.same({ 4, 8 }, { #lines_b, #lines_all })
      local sent, delivered = 0, 0
      for _, line in ipairs(lines_b) do
        sent = sent + tonumber(line:match("sent (%d+)"))
        delivered = delivered + tonumber(line:match("delivered (%d+)"))
      end
      assert.are.same({ #recs_b, #recs_b }, { sent, delivered })
      assert.are.same({}, srv:problems())
    end)

    it("refuses a second producer of the same name and unknown options", function()
      local srv = server("named-misuse", { workers = 1, inits = [[
    openresty.init{ config = { ["bootstrap.servers"] = "127.0.0.1:1" }, exit_timeout_ms = 0 }
    local ok, err = pcall(openresty.init, { name = "x", config = { ["bootstrap.servers"] = "127.0.0.1:1" } })
    ok, err = pcall(openresty.init, { name = "x", config = { ["bootstrap.servers"] = "127.0.0.1:1" } })
    ngx.log(ngx.NOTICE, "twice: ", err)
    ok, err = pcall(openresty.init, { name = "bad name", config = {} })
    ngx.log(ngx.NOTICE, "bad name: ", err)
    ok, err = pcall(openresty.init, { name = "y", config = {}, poll_interval = 5 })
    ngx.log(ngx.NOTICE, "unknown: ", err)
    ok, err = pcall(openresty.init, { name = "z", config = { ["transactional.id"] = "t1" } })
    ngx.log(ngx.NOTICE, "transactional: ", err)
]] })
      assert.is_true(srv:stop())
      assert.are.equal(1, #srv:log_lines("twice: .*init: name: a producer named 'x' already exists in this worker"))
      assert.are.equal(1,
        #srv:log_lines('bad name: .*init: name: expected a name of letters, digits, _ . %-, got "bad name"'))
      assert.are.equal(1, #srv:log_lines("unknown: .*init: unknown option 'poll_interval'"))
      assert.are.equal(1, #srv:log_lines("transactional: .*init: producer: property 'transactional.id': not supported"))
    end)
  end)

  describe("logging", function()
    it("writes librdkafka's log to nginx's error log at its level, each connection failure once", function()
      local port = nginx.free_port()
      local srv = server("logging", { workers = 1, inits = ([[
    openresty.init{ shm = "insync", metrics_interval_ms = 100, exit_timeout_ms = 0,
      config = { ["bootstrap.servers"] = "127.0.0.1:%d", ["reconnect.backoff.ms"] = 100,
        ["reconnect.backoff.max.ms"] = 100 } }
    openresty.init{ name = "noconf", exit_timeout_ms = 0, config = { } }
]]):format(port) })
      local connect = "Connect to ipv4#127.0.0.1:" .. port .. " failed"
      wait_for("a connection failure counted", 30, function()
        local s = scrape(srv)
        return (s['insync_client_errors_total{error=_TRANSPORT,producer=default}'] or 0) >= 1
      end)
      assert.is_true(srv:stop())
      -- one line per failure, at [error] (librdkafka's level 3); the error
      -- event with the same text is counted, and named in that line
      local lines = srv:log_lines(connect)
      assert.is_true(#lines >= 1)
      for _, line in ipairs(lines) do
        assert.truthy(line:find("%[error%].*librdkafka%[default%]: FAIL: "), line)
      end
      -- librdkafka's line and its error event make one line
      assert.are.same({}, srv:log_lines("librdkafka%[default%]: _TRANSPORT:"))
      assert.is_true(#srv:log_lines("librdkafka%[default%]: FAIL: _TRANSPORT: .*" .. connect) >= 1)
      -- librdkafka's level 5 (notice) is nginx's notice
      assert.are.equal(1,
        #srv:log_lines("%[notice%].*librdkafka%[noconf%]: CONFWARN: .*No `bootstrap.servers` configured"))
      -- an error event librdkafka does not log itself: one line, [warn]
      assert.is_true(#srv:log_lines("%[warn%].*librdkafka%[default%]: _ALL_BROKERS_DOWN: 1/1 brokers are down") >= 1)
    end)
    it("writes a lost connection, which librdkafka logs at info, as one [warn] line naming the error", function()
      local c = nginx.mock_cluster("lost-cluster", { "lost" }, 1)
      local srv = server("lost", { topic = "lost", workers = 1, inits = ([[
    openresty.init{ shm = "insync", metrics_interval_ms = 100, exit_timeout_ms = 0,
      config = { ["bootstrap.servers"] = %q } }
]]):format(c.bootstrap) })
      local ok, err = pcall(function()
        assert.are.equal(200, (srv:get("/wait?id=before")))
        c.stop()
        wait_for("the lost connections counted", 30, function()
          local s = scrape(srv)
          return (s['insync_client_errors_total{error=_TRANSPORT,producer=default}'] or 0) >= 1
        end)
      end)
      c.stop()
      assert(ok, err)
      assert.is_true(srv:stop())
      local lines = srv:log_lines("Disconnected")
      assert.is_true(#lines >= 1)
      assert.are.same({}, srv:log_lines("librdkafka%[default%]: _TRANSPORT:"))
      local merged = srv:log_lines("%[warn%].*librdkafka%[default%]: FAIL: _TRANSPORT: .*Disconnected")
      assert.is_true(#merged >= 1, table.concat(lines, "\n"))
    end)
  end)

  describe("SASL/TLS", function()
    it("passes security.protocol, sasl.* and ssl.* to librdkafka, the secret from the environment, never logged",
      function()
        local c = cluster("sasl-cluster", { "s" })
        local secret = "s3cr3t-from-env"
        local srv = server("sasl", { workers = 1, main = "env KAFKA_SASL_PASSWORD;",
          cmd_env = { KAFKA_SASL_PASSWORD = secret }, log_level = "debug", inits = ([[
    openresty.init{ exit_timeout_ms = 0, config = {
      ["bootstrap.servers"] = %q,
      ["security.protocol"] = "SASL_SSL",
      ["sasl.mechanisms"] = "SCRAM-SHA-512",
      ["sasl.username"] = "orders",
      ["sasl.password"] = os.getenv("KAFKA_SASL_PASSWORD"),
      ["ssl.ca.location"] = "/etc/ssl/certs/ca-certificates.crt",
      debug = "security,conf",
    } }
]]):format(c.bootstrap) })
        -- the brokers speak plaintext: the TLS handshake fails, logged by librdkafka
        wait_for("the failed TLS handshake in the log", 30, function()
          return #srv:log_lines("librdkafka%[default%]: FAIL: .*sasl_ssl://") > 0
        end)
        assert.is_true(srv:stop())
        assert.is_nil(srv:log():find(secret, 1, true))
        assert.is_true(#srv:log_lines("%[debug%].*librdkafka%[default%]: ") > 0)
      end)
  end)
end)
