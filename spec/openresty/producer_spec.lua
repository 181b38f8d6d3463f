-- insync.openresty in Debian's nginx (2 workers, lua-nginx-module on
-- OpenResty's LuaJIT), producing to librdkafka's mock cluster running in a
-- process of its own; the topics are read back with insync.consumer.
local nginx = require "openresty.nginx"
local read_keys, wait_for = nginx.read_keys, nginx.wait_for

local TOPICS = { "load", "reload", "purge", "phases", "callbacks", "full", "metrics", "latency" }

-- The generated nginx.conf: the app's handlers (spec/openresty/app.lua) on
-- every phase, insync.openresty made per worker in init_worker.
local function start(name, o)
  return nginx.start{
    name = name,
    workers = o.workers or 2,
    http = ([[
  lua_shared_dict insync 1m;
  lua_shared_dict app 1m;
  init_worker_by_lua_block {
    require("insync.openresty").init{
      shm = "insync",
      config = { ["bootstrap.servers"] = %q, %s },
      %s
    }
  }
  exit_worker_by_lua_block { require("openresty.app").exit() }
]]):format(o.bootstrap, o.config or "", o.init or ""),
    server = ([[
    set $topic %s;
    location = /content { content_by_lua_block { require("openresty.app").content() } }
    location = /log {
      content_by_lua_block { require("openresty.app").echo() }
      log_by_lua_block { require("openresty.app").log() }
    }
    location = /rewrite {
      rewrite_by_lua_block { require("openresty.app").rewrite() }
      content_by_lua_block { require("openresty.app").echo() }
    }
    location = /access {
      access_by_lua_block { require("openresty.app").access() }
      content_by_lua_block { require("openresty.app").echo() }
    }
    location = /nosend { content_by_lua_block { require("openresty.app").echo() } }
    location = /slow {
      content_by_lua_block { ngx.sleep(tonumber(ngx.var.arg_sleep)) require("openresty.app").echo() }
      log_by_lua_block { require("openresty.app").log() }
    }
    location = /parity { content_by_lua_block { require("openresty.app").parity() } }
    location = /badmsg { content_by_lua_block { require("insync.openresty").send({ topic = 42 }) } }
    location = /noop { return 200 "noop\n"; }
    location = /insync/metrics { content_by_lua_block { require("insync.openresty").serve_metrics() } }
    location = /app/counts { content_by_lua_block { require("openresty.app").counts() } }
]]):format(o.topic),
  }
end

local function counts(srv)
  local _, body = srv:get("/app/counts?all=1")
  local out = {}
  for k, v in (body or ""):gmatch("(%S+) (%d+)") do out[k] = tonumber(v) end
  return out
end

-- Each answered id in the topic exactly once, no key twice, the value the
-- phase its path sends from (odd request numbers /content, even /log).
local function assert_exactly_once(by_key, ids)
  for _, id in ipairs(ids) do
    assert(by_key[id] == 1, ("record %s: %d copies in the topic"):format(id, by_key[id] or 0))
  end
  for key, n in pairs(by_key) do
    assert(n == 1, ("record %s: %d copies in the topic"):format(key, n))
  end
end

local function assert_phases(recs)
  for _, r in ipairs(recs) do
    local n = tonumber(r.key:match("%-(%d+)$"))
    assert.are.equal(n % 2 == 1 and "content" or "log", r.value)
  end
end

describe("insync.openresty in Debian's nginx with 2 workers, mock cluster in another process", function()
  local cluster
  local servers = {}

  setup(function()
    assert(nginx.available())
    cluster = nginx.mock_cluster("producer-cluster", TOPICS)
  end)

  teardown(function()
    for _, srv in ipairs(servers) do srv:stop(10) end
    if cluster then cluster.stop() end
  end)

  local function server(name, o)
    o.bootstrap = o.bootstrap or cluster.bootstrap
    local srv = start(name, o)
    servers[#servers + 1] = srv
    return srv
  end

  it("puts every one of 20,000 requests' records in the topic exactly once, half sent from content, half from log", function()
    local srv = server("load", { topic = "load" })
    local r = srv:wrk{ threads = 4, n = 5000, prefix = "L" }
    assert.are.equal(20000, r.answered, r.output)
    assert.are.equal(0, r.bad)
    assert.is_true(srv:stop())
    local ids = srv:answered_ids("L")
    assert.are.equal(20000, #ids)
    local by_key, recs = read_keys(cluster.bootstrap, "load")
    assert_exactly_once(by_key, ids)
    assert.are.equal(20000, #recs)
    assert_phases(recs)
    local c = srv:exit_counts()
    assert.are.equal(2, c.workers)
    assert.are.same({ 20000, 20000, 0, 0 }, { c.sent, c.delivered, c.failed, c.purged })
    assert.are.same({}, srv:problems())
  end)

  it("loses no record when nginx reloads (HUP) in the middle of 20,000 requests, and reports each", function()
    local srv = server("reload", { topic = "reload" })
    local old = srv:workers()
    local reloaded
    local r = srv:wrk{ threads = 4, n = 5000, prefix = "R", paths = { "/content?cb=1", "/log?cb=1" },
      during = function(s) reloaded = s:signal("reload") end }
    assert.is_true(reloaded)
    assert.is_true(nginx.wait_all_exit(old, 30))
    local new = srv:workers()
    assert.are.equal(2, #new)
    for _, pid in ipairs(new) do
      for _, o in ipairs(old) do assert.are_not.equal(o, pid) end
    end
    assert.are.equal(20000, r.answered, r.output)
    assert.are.equal(0, r.bad)
    assert.is_true(srv:stop())
    local ids = srv:answered_ids("R")
    assert.are.equal(20000, #ids)
    local by_key, recs = read_keys(cluster.bootstrap, "reload")
    assert_exactly_once(by_key, ids)
    assert_phases(recs)
    -- 2 workers before the reload, 2 after; each one's records were all
    -- delivered before it exited, and each delivery had its callback.
    local c = srv:exit_counts()
    assert.are.equal(4, c.workers)
    assert.are.equal(#recs, c.sent)
    assert.are.same({ #recs, 0, 0 }, { c.delivered, c.failed, c.purged })
    assert.are.same({ ok = #recs }, srv:callback_counts())
    assert.are.same({}, srv:problems())
  end)

  it("hands every record an exiting worker could not deliver to its callback as purged, and logs the counts", function()
    -- Nothing listens on this port: no record can be delivered.
    local srv = server("purge", { topic = "purge", bootstrap = "127.0.0.1:" .. nginx.free_port(),
      init = "exit_timeout_ms = 300" })
    for i = 1, 40 do
      local path = (i % 2 == 1 and "/content" or "/log") .. "?cb=1&id=P-" .. i
      assert.are.equal(200, (srv:get(path)))
    end
    assert.is_true(srv:reload())
    local c = srv:exit_counts()
    assert.are.equal(2, c.workers)
    assert.are.same({ 40, 0, 0, 40 }, { c.sent, c.delivered, c.failed, c.purged })
    local cb = srv:callback_counts()
    assert.are.equal(40, (cb._PURGE_QUEUE or 0) + (cb._PURGE_INFLIGHT or 0))
    assert.is_nil(cb.ok)
    assert.is_true(srv:stop())
  end)

  it("sends from the rewrite, access, content and log phases", function()
    local srv = server("phases", { topic = "phases" })
    local phases = { "rewrite", "access", "content", "log" }
    for i = 1, 100 do
      local phase = phases[(i - 1) % 4 + 1]
      local status, body = srv:get("/" .. phase .. "?id=" .. phase .. "-" .. i)
      assert.are.equal(200, status)
      assert.are.equal(phase .. "-" .. i .. "\n", body)
    end
    assert.is_true(srv:stop())
    local by_key, recs = read_keys(cluster.bootstrap, "phases")
    assert.are.equal(100, #recs)
    for _, r in ipairs(recs) do
      assert.are.equal(1, by_key[r.key])
      assert.are.equal(r.key:match("^(%a+)%-"), r.value)
    end
    assert.are.same({}, srv:problems())
  end)

  it("runs callbacks in the poll timer, where cosockets work; a raising callback is logged with its traceback and the others still run", function()
    local srv = server("callbacks", { topic = "callbacks" })
    for i = 1, 30 do
      assert.are.equal(200, (srv:get("/content?cosocket=1&id=C-" .. i)))
      assert.are.equal(200, (srv:get("/log?raise=1&id=X-" .. i)))
      assert.are.equal(200, (srv:get("/log?cb=1&id=K-" .. i)))
    end
    local c = wait_for("90 callbacks", 30, function()
      local c = counts(srv)
      return (c.ok or 0) >= 90 and c
    end)
    assert.are.same({ ok = 90, cosocket_ok = 30 }, c)
    local raised = srv:log_entries("delivery callback raised")
    assert.are.equal(30, #raised)
    for _, entry in ipairs(raised) do
      assert.truthy(entry:find("%[error%]"), entry)
      assert.truthy(entry:find("app.lua:%d+: boom for X%-%d+"), entry)
      assert.truthy(entry:find("stack traceback:", 1, true), entry)
    end
    -- Each worker publishes its counts every metrics_interval_ms (1 s).
    local errors, delivered
    wait_for("metrics of 90 deliveries", 30, function()
      local _, body = srv:get("/insync/metrics")
      errors, delivered = 0, 0
      for _, w in ipairs(require("cjson").decode(body).workers) do
        errors, delivered = errors + w.callback_errors, delivered + w.delivered
      end
      return delivered == 90
    end)
    assert.are.same({ 30, 90 }, { errors, delivered })
    assert.is_true(srv:stop())
    local by_key = read_keys(cluster.bootstrap, "callbacks")
    for i = 1, 30 do
      assert.are.same({ 1, 1, 1 }, { by_key["C-" .. i], by_key["X-" .. i], by_key["K-" .. i] })
    end
    for _, line in ipairs(srv:problems()) do
      assert.truthy(line:find("delivery callback raised", 1, true), line)
    end
  end)

  it("returns nil, _QUEUE_FULL at once when the local queue is full: the handler fails the request or drops and counts", function()
    local srv = server("full", { topic = "full", workers = 1, bootstrap = "127.0.0.1:" .. nginx.free_port(),
      config = '["queue.buffering.max.messages"] = 5', init = "exit_timeout_ms = 0" })
    local statuses = {}
    for i = 1, 8 do
      local status, body = srv:get("/content?id=F-" .. i)
      statuses[#statuses + 1] = status .. " " .. body:gsub("\n", "")
    end
    assert.are.same({ "200 F-1", "200 F-2", "200 F-3", "200 F-4", "200 F-5",
      "503 _QUEUE_FULL", "503 _QUEUE_FULL", "503 _QUEUE_FULL" }, statuses)
    for i = 1, 4 do assert.are.equal(200, (srv:get("/log?id=G-" .. i))) end
    local c = wait_for("4 dropped", 30, function()
      local c = counts(srv)
      return c.dropped__QUEUE_FULL == 4 and c
    end)
    assert.are.same({ dropped__QUEUE_FULL = 4 }, c)
    local _, body = srv:get("/insync/metrics")
    local w = require("cjson").decode(body).workers[1]
    assert.are.same({ 5, 7, 5 }, { w.sent, w.queue_full, w.queue_depth })
    assert.is_true(srv:stop())
    local e = srv:exit_counts()
    assert.are.same({ 5, 0, 5, 7 }, { e.sent, e.delivered, e.purged, e.queue_full })
  end)

  it("serves every worker's queue depth, sent, delivered, failed and librdkafka's statistics from a location", function()
    local srv = server("metrics", { topic = "metrics", config = '["statistics.interval.ms"] = 100',
      init = "metrics_interval_ms = 50" })
    for i = 1, 50 do assert.are.equal(200, (srv:get("/content?id=M-" .. i))) end
    local cjson = require "cjson"
    local m = wait_for("metrics of 50 deliveries with statistics", 30, function()
      local _, body = srv:get("/insync/metrics")
      local m = cjson.decode(body)
      local sent, delivered, stats = 0, 0, 0
      for _, w in ipairs(m.workers) do
        sent, delivered = sent + w.sent, delivered + w.delivered
        if type(w.stats) == "table" then stats = stats + 1 end
      end
      return #m.workers == 2 and delivered == 50 and stats == 2 and m
    end)
    local pids = srv:workers()
    table.sort(pids)
    local sent = 0
    for i, w in ipairs(m.workers) do
      assert.are.equal(pids[i], w.pid)
      assert.are.equal(i - 1, w.worker)
      assert.are.equal(0, w.queue_depth)
      assert.are.equal(0, w.failed)
      assert.are.equal("producer", w.stats.type)
      assert.is_number(w.stats.msg_cnt)
      sent = sent + w.sent
    end
    assert.are.equal(50, sent)
    assert.is_true(srv:stop())
    assert.are.same({}, srv:problems())
  end)

  it("does not make a request wait for the poll timer: p99 with a send stays within the interval of p99 without", function()
    local interval_ms = 200
    local srv = server("latency", { topic = "latency", init = "poll_interval_ms = " .. interval_ms })
    local without = srv:wrk{ threads = 2, n = 3000, prefix = "N", paths = { "/nosend" } }
    local with = srv:wrk{ threads = 2, n = 3000, prefix = "S", paths = { "/content" } }
    assert.are.same({ 6000, 6000 }, { without.answered, with.answered })
    assert.are.same({ 0, 0 }, { without.bad, with.bad })
    assert(with.p99_us < without.p99_us + interval_ms * 1000,
      ("p99 %d us with a send, %d us without"):format(with.p99_us, without.p99_us))
    assert.is_true(srv:stop())
    local c = srv:exit_counts()
    assert.are.same({ 6000, 6000 }, { c.sent, c.delivered })
    assert.are.same({}, srv:problems())
  end)
end)

describe("insync.openresty on a fast shutdown (nginx -s stop: no timers run)", function()
  local cluster
  local servers = {}

  setup(function()
    assert(nginx.available())
    cluster = nginx.mock_cluster("stop-cluster", { "stop" })
  end)

  teardown(function()
    for _, srv in ipairs(servers) do srv:stop(10) end
    if cluster then cluster.stop() end
  end)

  local function stop_fast(srv)
    local pids = srv:workers()
    pids[#pids + 1] = srv.pid
    assert.is_true(srv:signal("stop"))
    assert.is_true(nginx.wait_all_exit(pids, 30))
  end

  it("flushes in exit_worker_by_lua, so what was queued is delivered", function()
    local srv = start("stop-ok", { topic = "stop", bootstrap = cluster.bootstrap, init = "poll_interval_ms = 60000" })
    servers[#servers + 1] = srv
    for i = 1, 50 do assert.are.equal(200, (srv:get("/content?cb=1&id=S-" .. i))) end
    stop_fast(srv)
    local c = srv:exit_counts()
    assert.are.equal(2, #srv:log_lines("exiting %(exit_worker%)"))
    assert.are.same({ 50, 50, 0, 0 }, { c.sent, c.delivered, c.failed, c.purged })
    assert.are.same({ ok = 50 }, srv:callback_counts())
    local by_key = read_keys(cluster.bootstrap, "stop")
    for i = 1, 50 do assert.are.equal(1, by_key["S-" .. i]) end
    assert.are.same({}, srv:problems())
  end)

  it("purges what it could not deliver within exit_timeout_ms and hands each record to its callback", function()
    local srv = start("stop-purge", { topic = "stop", bootstrap = "127.0.0.1:" .. nginx.free_port(),
      init = "exit_timeout_ms = 200" })
    servers[#servers + 1] = srv
    for i = 1, 20 do assert.are.equal(200, (srv:get("/log?cb=1&id=D-" .. i))) end
    stop_fast(srv)
    local c = srv:exit_counts()
    assert.are.equal(2, #srv:log_lines("exiting %(exit_worker%)"))
    assert.are.same({ 20, 0, 0, 20 }, { c.sent, c.delivered, c.failed, c.purged })
    local cb = srv:callback_counts()
    assert.are.equal(20, (cb._PURGE_QUEUE or 0) + (cb._PURGE_INFLIGHT or 0))
  end)
end)

-- Starts a mock cluster of its own with opts.topic, then nginx on it
-- (start(name, opts)), runs body(srv, cluster), and stops both whatever happens.
local function with_own_cluster(name, opts, body, partitions, rtt_ms)
  local cluster = nginx.mock_cluster(name .. "-cluster", { opts.topic }, partitions, rtt_ms)
  local srv
  local ok, err = pcall(function()
    opts.bootstrap = cluster.bootstrap
    srv = start(name, opts)
    body(srv, cluster)
  end)
  if srv then srv:stop() end
  cluster.stop()
  assert(ok, err)
end

describe("insync.openresty, reload under load while every broker answers 100 ms late", function()
  it("hands each record not delivered before its worker exits to its callback: none lost, none reported twice", function()
    with_own_cluster("slow", { topic = "slow", init = "exit_timeout_ms = 50" }, function(srv, cluster)
      -- First let the workers learn the topic (two round trips of 100 ms)
      -- and deliver a few records: else a quick load can end, and the old
      -- workers exit, before any record of it could be delivered.
      local warm = 20
      for i = 1, warm do assert.are.equal(200, (srv:get("/content?cb=1&id=warm-" .. i))) end
      nginx.sleep(1)
      local old = srv:workers()
      local r = srv:wrk{ threads = 4, n = 5000, prefix = "W", paths = { "/content?cb=1", "/log?cb=1" },
        during = function(s) s:signal("reload") end }
      assert.are.equal(20000, r.answered, r.output)
      assert.are.equal(0, r.bad)
      assert.is_true(nginx.wait_all_exit(old, 30))
      assert.is_true(srv:stop())
      local c = srv:exit_counts()
      assert.are.equal(4, c.workers)
      assert.are.equal(c.sent, c.delivered + c.failed + c.purged)
      assert.are.equal(0, c.report)     -- "undelivered without report 0"
      assert.is_true(c.purged > 0, "no record was purged: the test did not test purging")
      assert.is_true(c.delivered > warm, "no record of the load was delivered")
      local cb = srv:callback_counts()
      assert.are.equal(c.delivered, cb.ok or 0)
      assert.are.equal(c.purged, (cb._PURGE_QUEUE or 0) + (cb._PURGE_INFLIGHT or 0))
      -- Per record: delivered (in the topic once), or reported failed once;
      -- a record purged while in flight may have been written all the same.
      local failed = {}
      for _, line in ipairs(srv:log_lines("app failed ")) do
        local key, name, persisted = line:match("app failed (%S+) (%S+) ([%a_]+)")
        assert.is_nil(failed[key], "reported twice: " .. key)
        failed[key] = { name = name, persisted = persisted }
      end
      local by_key = read_keys(cluster.bootstrap, "slow")
      for _, id in ipairs(srv:answered_ids("W")) do
        local f, n = failed[id], by_key[id] or 0
        assert(n <= 1, id .. " is in the topic " .. n .. " times")
        if not f then
          assert(n == 1, id .. ": neither delivered nor reported")
        elseif f.name == "_PURGE_QUEUE" then
          assert(n == 0, id .. ": purged from the queue, yet in the topic")
          assert.are.equal("not_persisted", f.persisted)
        else
          assert.are.equal("_PURGE_INFLIGHT", f.name)
          assert.are.equal("possibly_persisted", f.persisted)
        end
      end
    end, 3, 100)
  end)
end)

describe("insync.openresty when a request sends after its worker closed the producer", function()
  it("returns nil, _DESTROY at once, and the request still completes", function()
    with_own_cluster("late", { topic = "late", workers = 1, init = "exit_timeout_ms = 0" }, function(srv)
      local pids = { srv.pid, srv:workers()[1] }
      -- This request sleeps 1 s, then sends from its log phase; QUIT comes
      -- while it sleeps, and the worker closes its producer at once.
      local sock = require("socket").tcp()
      sock:settimeout(20)
      assert(sock:connect("127.0.0.1", srv.port))
      sock:send("GET /slow?sleep=1&id=late-1 HTTP/1.0\r\nHost: x\r\n\r\n")
      nginx.sleep(0.3)
      assert.is_true(srv:signal("quit"))
      local answer = sock:receive("*a")
      sock:close()
      assert.truthy(answer:find("^HTTP/1%.1 200"), answer)
      assert.truthy(answer:find("late%-1\n$"), answer)
      assert.is_true(nginx.wait_all_exit(pids, 30))
      -- The producer closed (and logged its counts) before the send.
      assert.are.equal(0, srv:exit_counts().sent)
      assert.are.same({ dropped__DESTROY = 1 }, srv:callback_counts())
    end)
  end)
end)

describe("insync.openresty misuse", function()
  it("refuses to make the producer in the master (init_by_lua): nginx does not start", function()
    assert(nginx.available())
    local ok, err = pcall(nginx.start, { name = "misuse-master", http = [[
  init_by_lua_block {
    require("insync.openresty").init{ config = { ["bootstrap.servers"] = "127.0.0.1:1" } }
  }
]] })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("insync.openresty.init: call it from init_worker_by_lua*, not from init",
      1, true), err)
  end)

  it("raises naming the argument: send before init, init outside init_worker, a bad option, a bad msg", function()
    local srv = nginx.start{ name = "misuse", http = [[
  init_worker_by_lua_block {
    local openresty = require "insync.openresty"
    local ok, err = pcall(openresty.init, { config = { ["bootstrap.servers"] = "127.0.0.1:1" }, poll_interval_ms = -1 })
    ngx.log(ngx.NOTICE, "bad option: ", err)
    ok, err = pcall(openresty.init, { config = "x" })
    ngx.log(ngx.NOTICE, "bad config: ", err)
    ok, err = pcall(openresty.init, { config = { ["bootstrap.servers"] = "127.0.0.1:1", on_error = "print" } })
    ngx.log(ngx.NOTICE, "bad on_error: ", err)
  }
]], server = [[
    location = /send { content_by_lua_block {
      local ok, err = pcall(require("insync.openresty").send, { topic = "t" })
      ngx.say(err)
    } }
    location = /init { content_by_lua_block {
      local ok, err = pcall(require("insync.openresty").init, { config = {} })
      ngx.say(err)
    } }
]] }
    local _, send_err = srv:get("/send")
    local _, init_err = srv:get("/init")
    srv:stop()
    assert.truthy(send_err:find("insync.openresty.send: no producer in this worker", 1, true), send_err)
    assert.truthy(init_err:find("call it from init_worker_by_lua*, not from content", 1, true), init_err)
    assert.are.equal(1, #srv:log_lines("bad option: .*poll_interval_ms: expected a number >= 0, got %-1"))
    assert.are.equal(1, #srv:log_lines("bad config: .*config: expected table, got string"))
    assert.are.equal(1, #srv:log_lines("bad on_error: .*config%.on_error: expected function, got string"))
  end)

  it("checks a msg as producer:send does, with the same error for each bad field", function()
    local srv = start("parity", { topic = "p", bootstrap = "127.0.0.1:" .. nginx.free_port(), workers = 1 })
    local status, body = srv:get("/parity")
    srv:stop()
    assert.are.equal(200, status)
    local n = 0
    for i, mine, theirs in body:gmatch("(%d+)|([^|\n]*)|([^|\n]*)\n") do
      n = n + 1
      assert.are.equal(theirs, mine, "case " .. i)
      assert.truthy(mine:find("^send: msg"), "case " .. i .. ": " .. mine)
    end
    assert.are.equal(16, n)
  end)

  it("raises naming the field when a send's msg is wrong: that request fails (500), the worker goes on", function()
    with_own_cluster("misuse-msg", { topic = "m", workers = 1 }, function(srv, cluster)
      local pid = srv:workers()[1]
      assert.are.equal(500, (srv:get("/badmsg")))
      assert.are.equal(200, (srv:get("/content?id=after")))
      assert.are.same({ pid }, srv:workers())
      assert.is_true(srv:stop())
      local lines = srv:log_lines("%[error%]")
      assert.are.equal(1, #lines)
      assert.truthy(lines[1]:find("send: msg.topic: expected string, got number", 1, true), lines[1])
      local by_key = read_keys(cluster.bootstrap, "m")
      assert.are.same({ after = 1 }, by_key)
    end)
  end)
end)
