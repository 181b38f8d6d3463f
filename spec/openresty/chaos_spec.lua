-- Chaos on nginx: insync.openresty (2 workers) producing to librdkafka's
-- mock cluster (in a process of its own) under wrk's load, while nginx is
-- reloaded (HUP), reloaded three times in quick succession, told to quit
-- (-s quit) or to stop (-s stop) in the middle of the load.  Counted, from
-- the topic read back with insync.consumer: every request answered 2xx has its record
-- there exactly once (0 lost, 0 duplicated), except what README.md lets go:
-- a record an exiting worker had to purge, which its callback was told
-- (_PURGE_QUEUE / _PURGE_INFLIGHT) and the worker's exit line counts.
-- Requests answered with an error or not at all (a closing worker's
-- connections) are allowed, counted and printed.
local nginx = require "openresty.nginx"

local THREADS, PER_THREAD = 4, 2500 -- requests per run: 10,000

local function start(name, topic, bootstrap, init)
  return nginx.start{
    name = name,
    workers = 2,
    http = ([[
  lua_shared_dict insync 1m;
  lua_shared_dict app 1m;
  init_worker_by_lua_block {
    require("insync.openresty").init{ shm = "insync", config = { ["bootstrap.servers"] = %q }, %s }
  }
  exit_worker_by_lua_block { require("openresty.app").exit() }
]]):format(bootstrap, init or ""),
    server = ([[
    set $topic %s;
    location = /content { content_by_lua_block { require("openresty.app").content() } }
    location = /log {
      content_by_lua_block { require("openresty.app").echo() }
      log_by_lua_block { require("openresty.app").log() }
    }
]]):format(topic),
  }
end

-- Runs wrk (Server:wrk: THREADS threads each send PER_THREAD requests with
-- ids <prefix><thread>-<i>, half /content, half /log, each with a
-- callback) and calls chaos(srv) once every thread has had half its
-- answers.  Returns wrk's summary and the ids answered 200.
local function load_with_chaos(srv, prefix, chaos)
  local res = srv:wrk{ threads = THREADS, n = PER_THREAD, prefix = prefix, timeout = 120,
                       paths = { "/content?cb=1", "/log?cb=1" }, during = chaos }
  assert(res.during_ran, "the load never reached its middle")
  return res, srv:answered_ids(prefix)
end

-- Reads the topic back and counts: lost (answered 200, not in the topic),
-- duplicated (in the topic more than once), and the rest; prints them.
local function count(name, srv, cluster, topic, res, ids)
  local copies, recs = nginx.read_keys(cluster.bootstrap, topic)
  local lost, duplicated = 0, 0
  for _, id in ipairs(ids) do
    if not copies[id] then lost = lost + 1 end
  end
  for _, n in pairs(copies) do
    if n > 1 then duplicated = duplicated + 1 end
  end
  local sum, cb = srv:exit_counts(), srv:callback_counts()
  local c = {
    answered_2xx = #ids, answered_error = res.bad or -1,
    unanswered = THREADS * PER_THREAD - (res.answered or 0),
    socket_errors = (res.connect or 0) + (res.read or 0) + (res.write or 0) + (res.timeout or 0),
    stored = #recs, lost = lost, duplicated = duplicated,
    sent = sum.sent or 0, delivered = sum.delivered or 0, failed = sum.failed or 0,
    purged = sum.purged or 0, workers_exited = sum.workers,
    -- refused before the worker's exit line, or after it (one line each)
    rejected = (sum.rejected or 0) + #srv:log_lines("insync%.openresty: worker %d+ refused a send after closing"),
    purge_callbacks = (cb._PURGE_QUEUE or 0) + (cb._PURGE_INFLIGHT or 0), ok_callbacks = cb.ok or 0,
    purged_inflight = cb._PURGE_INFLIGHT or 0,
    callbacks = 0,
  }
  for k, n in pairs(cb) do
    if not k:match("^dropped_") then c.callbacks = c.callbacks + n end
  end
  local keys = {}
  for k in pairs(c) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. c[k] end
  print(("chaos %s: %s"):format(name, table.concat(parts, " ")))
  return c
end

-- What every run must show.
local function assert_kept(c)
  assert.is_true(c.answered_2xx > 0, "no request was answered")
  assert.are.equal(0, c.duplicated)
  -- nothing is lost silently: a record acknowledged to its client is in
  -- the topic, or was purged and its callback told so, or (sent from the
  -- log phase after its worker closed the producer) refused to its caller
  assert.is_true(c.lost <= c.purge_callbacks + c.rejected,
    ("lost %d, purged with callback %d, rejected %d"):format(c.lost, c.purge_callbacks, c.rejected))
  -- every accepted send was accounted for by its worker, with one callback
  assert.are.equal(c.sent, c.delivered + c.failed + c.purged)
  assert.are.equal(c.sent, c.callbacks)
  -- every delivered record is in the topic; a record purged in flight
  -- (_PURGE_INFLIGHT: possibly persisted, the broker may have written it)
  -- may be there too, once (duplicated is 0)
  assert.is_true(c.stored >= c.delivered and c.stored <= c.delivered + c.purged_inflight,
    ("stored %d, delivered %d, purged in flight %d"):format(c.stored, c.delivered, c.purged_inflight))
end

describe("insync.openresty under chaos, on the mock cluster", function()
  local cluster

  setup(function()
    assert(nginx.available())
    cluster = nginx.mock_cluster("chaos-cluster", { "chaos_hup", "chaos_hups", "chaos_quit", "chaos_stop" })
  end)

  teardown(function()
    nginx.stop_all()
    if cluster then cluster.stop() end
  end)

  it("keeps every acknowledged record exactly once when nginx reloads (HUP) under load", function()
    local srv = start("chaos-hup", "chaos_hup", cluster.bootstrap)
    local old = srv:workers()
    local res, ids = load_with_chaos(srv, "H", function(s) assert.is_true(s:signal("reload")) end)
    assert.is_true(nginx.wait_all_exit(old, 60))
    assert.is_true(srv:stop())
    local c = count("hup", srv, cluster, "chaos_hup", res, ids)
    assert_kept(c)
    assert.are.equal(THREADS * PER_THREAD, c.answered_2xx)   -- a reload drops no request
    assert.are.equal(0, c.lost)
    assert.are.equal(4, c.workers_exited)
  end)

  it("keeps every acknowledged record exactly once through three quick HUPs under load", function()
    local srv = start("chaos-hups", "chaos_hups", cluster.bootstrap)
    local old = srv:workers()
    local res, ids = load_with_chaos(srv, "Q", function(s)
      for _ = 1, 3 do
        assert.is_true(s:signal("reload"))
        nginx.sleep(0.1)
      end
    end)
    assert.is_true(nginx.wait_all_exit(old, 60))
    assert.is_true(srv:stop())
    local c = count("quick-hups", srv, cluster, "chaos_hups", res, ids)
    assert_kept(c)
    assert.are.equal(0, c.lost)
    assert.is_true(c.workers_exited >= 4)
  end)

  it("keeps every acknowledged record exactly once when nginx quits (-s quit) mid-load", function()
    local srv = start("chaos-quit", "chaos_quit", cluster.bootstrap)
    local procs = srv:workers()
    procs[#procs + 1] = srv.pid
    local res, ids = load_with_chaos(srv, "U", function(s) assert.is_true(s:signal("quit")) end)
    assert.is_true(nginx.wait_all_exit(procs, 60))
    local c = count("quit", srv, cluster, "chaos_quit", res, ids)
    assert_kept(c)
    assert.are.equal(0, c.lost)   -- the healthy cluster takes it all before exit_timeout_ms
    assert.are.equal(2, c.workers_exited)
  end)

  it("loses no acknowledged record without its callback when nginx stops (-s stop) mid-load", function()
    local srv = start("chaos-stop", "chaos_stop", cluster.bootstrap)
    local procs = srv:workers()
    procs[#procs + 1] = srv.pid
    local res, ids = load_with_chaos(srv, "S", function(s) assert.is_true(s:signal("stop")) end)
    assert.is_true(nginx.wait_all_exit(procs, 60))
    local c = count("stop", srv, cluster, "chaos_stop", res, ids)
    -- -s stop runs no timers: exit_worker_by_lua flushes up to
    -- exit_timeout_ms, then purges, each purged record told to its callback
    assert_kept(c)
    assert.are.equal(2, c.workers_exited)
  end)
end)

describe("insync.openresty under chaos, brokers answering 300 ms late", function()
  it("hands each acknowledged record it could not deliver before -s stop to its callback as purged", function()
    local cluster = nginx.mock_cluster("chaos-slow-cluster", { "chaos_slow" }, 3, 300)
    local ok, err = pcall(function()
      -- the workers flush 100 ms on exit, less than one broker round trip
      local srv = start("chaos-slow", "chaos_slow", cluster.bootstrap, "exit_timeout_ms = 100")
      local procs = srv:workers()
      procs[#procs + 1] = srv.pid
      local res, ids = load_with_chaos(srv, "W", function(s) assert.is_true(s:signal("stop")) end)
      assert.is_true(nginx.wait_all_exit(procs, 60))
      local c = count("stop-slow", srv, cluster, "chaos_slow", res, ids)
      assert_kept(c)
      assert.is_true(c.purged > 0, "nothing was purged: the spec tests nothing")
      assert.are.equal(c.purged, c.purge_callbacks)
    end)
    nginx.stop_all()
    cluster.stop()
    assert(ok, err)
  end)
end)
