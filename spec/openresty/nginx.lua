--- Test harness: Debian's nginx with its Lua module (lua-nginx-module on
-- OpenResty's LuaJIT), started by a spec on a free loopback port with its own
-- prefix (build/openresty/<name>/) and a generated nginx.conf.
--
--     local nginx = require "openresty.nginx"
--     local srv = nginx.start{ name = "smoke", workers = 2,
--       http = "init_worker_by_lua_block { ... }",
--       server = "location / { content_by_lua_block { ngx.say('hi') } }" }
--     local status, body = srv:get("/")
--     srv:stop()                 -- graceful (QUIT), waits for every process
--     srv:problems()             -- error.log lines at [error] or worse
--
-- Runs under the spec driver (Lua 5.4 with luasocket); nginx loads insync
-- from the checkout's lua/ and build/luajit/ (`make luajit` builds it).
local socket = require "socket"

local nginx = {}

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function run(cmd)
  local ok, how, code = os.execute(cmd)
  return ok == true or ok == 0, how, code
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- The checkout's top directory (absolute).
nginx.top = (function()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)/spec/openresty/[^/]*$") or "."
  local p = io.popen("cd " .. sh_quote(dir) .. " && pwd")
  local top = p:read("l")
  p:close()
  return top
end)()

nginx.binary = os.getenv("INSYNC_NGINX") or "/usr/sbin/nginx"

--- The directory holding ngx_http_lua_module.so and ndk_http_module.so.
nginx.modules = os.getenv("INSYNC_NGINX_MODULES") or "/usr/lib/nginx/modules"

--- True when Debian's nginx and its Lua module are installed and insync is
-- built for LuaJIT; otherwise false and the reason.
function nginx.available()
  if not read_file(nginx.binary) then return false, nginx.binary .. " is missing (apt-get install nginx-light)" end
  if not read_file(nginx.modules .. "/ngx_http_lua_module.so") then
    return false, "ngx_http_lua_module.so is missing (apt-get install libnginx-mod-http-lua)"
  end
  if not read_file(nginx.top .. "/build/luajit/insync/core.so") then
    return false, "build/luajit/insync/core.so is missing (make luajit)"
  end
  if not read_file(nginx.top .. "/build/lua5.4/insync/core.so") then
    return false, "build/lua5.4/insync/core.so is missing (make): the mock cluster runs on Lua 5.4"
  end
  return true
end

--- A free TCP port on 127.0.0.1 (the kernel's choice).
function nginx.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

--- Sleeps `s` seconds.
nginx.sleep = socket.sleep
nginx.now = socket.gettime

--- Is process `pid` alive (and not a zombie)?
function nginx.alive(pid)
  if not pid then return false end
  local stat = read_file("/proc/" .. pid .. "/stat")
  if not stat then return false end
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

--- Child pids of `pid` (nginx's workers, once the master runs).
function nginx.children(pid)
  local out = {}
  local text = read_file("/proc/" .. pid .. "/task/" .. pid .. "/children") or ""
  for c in text:gmatch("%d+") do out[#out + 1] = tonumber(c) end
  return out
end

local running = {}

local Server = {}
Server.__index = Server

local CONF = [[
%s
worker_processes %d;
daemon on;
master_process on;
pid %s/logs/nginx.pid;
error_log %s/logs/error.log %s;
load_module %s/ndk_http_module.so;
load_module %s/ngx_http_lua_module.so;
%s
events {
  worker_connections 1024;
}
http {
  access_log off;
  client_body_temp_path %s/tmp/body;
  proxy_temp_path %s/tmp/proxy;
  fastcgi_temp_path %s/tmp/fastcgi;
  uwsgi_temp_path %s/tmp/uwsgi;
  scgi_temp_path %s/tmp/scgi;
  lua_package_path "%s/lua/?.lua;%s/lua/?/init.lua;%s/spec/?.lua;;";
  lua_package_cpath "%s/build/luajit/?.so;;";
%s
  server {
    listen 127.0.0.1:%d;
%s
  }
}
]]

--- Starts nginx.  Options:
-- name (required: the prefix is build/openresty/<name>), workers (default 1),
-- main (directives for the main context), http (for the http block),
-- server (for the one server block), log_level (default "info"),
-- env (table of environment variables the workers see), or instead of all
-- that conf (the whole nginx.conf text: it must keep the pid file in
-- logs/nginx.pid under the prefix, and port must say where it listens);
-- cmd_env (environment variables for the nginx command).
-- Returns a Server; raises with error.log's text when nginx does not start.
function nginx.start(opts)
  assert(type(opts.name) == "string", "nginx.start: name: expected string")
  local prefix = nginx.top .. "/build/openresty/" .. opts.name
  run("rm -rf " .. sh_quote(prefix))
  assert(run("mkdir -p " .. sh_quote(prefix .. "/logs") .. " " .. sh_quote(prefix .. "/conf")
    .. " " .. sh_quote(prefix .. "/tmp")))
  local port = opts.port or nginx.free_port()
  local env = {}
  for k, v in pairs(opts.env or {}) do
    env[#env + 1] = ("env %s=%s;"):format(k, v)
  end
  -- INSYNC_FFI=off in the specs' environment: the workers take the classic
  -- path too (nginx passes them no variable it is not told to)
  local ffi_mode = os.getenv("INSYNC_FFI")
  if ffi_mode and ffi_mode ~= "" and not (opts.env or {}).INSYNC_FFI then
    env[#env + 1] = ("env INSYNC_FFI=%s;"):format(ffi_mode)
  end
  table.sort(env)
  local user = ""
  local p = io.popen("id -u")
  if p:read("l") == "0" then user = "user root root;" end
  p:close()
  local conf = opts.conf
  if not conf then
    local t = nginx.top
    conf = CONF:format(user, opts.workers or 1, prefix, prefix, opts.log_level or "info",
      nginx.modules, nginx.modules, table.concat(env, "\n") .. "\n" .. (opts.main or ""),
      prefix, prefix, prefix, prefix, prefix, t, t, t, t,
      opts.http or "", port, opts.server or "")
  end
  local conf_path = prefix .. "/conf/nginx.conf"
  write_file(conf_path, conf)
  local srv = setmetatable({ name = opts.name, prefix = prefix, port = port, conf = conf_path }, Server)
  local vars = {}
  for k, v in pairs(opts.cmd_env or {}) do vars[#vars + 1] = k .. "=" .. sh_quote(v) .. " " end
  local ok = run(("%s%s -p %s -c %s -e %s >%s 2>&1"):format(table.concat(vars), sh_quote(nginx.binary), sh_quote(prefix .. "/"),
    sh_quote(conf_path), sh_quote(prefix .. "/logs/error.log"), sh_quote(prefix .. "/logs/stderr.log")))
  if not ok then
    error(("nginx did not start (%s):\n%s%s"):format(conf_path, read_file(prefix .. "/logs/stderr.log") or "",
      read_file(prefix .. "/logs/error.log") or ""), 2)
  end
  -- daemon on: the master has bound the port before the command returned;
  -- the pid file can lag a moment behind.
  local deadline = nginx.now() + 10
  repeat
    srv.pid = tonumber(read_file(prefix .. "/logs/nginx.pid") or "")
    if srv.pid then break end
    nginx.sleep(0.02)
  until nginx.now() > deadline
  assert(srv.pid, "nginx: no pid file in " .. prefix .. "/logs")
  running[srv] = true
  -- Wait for the workers to exist (init_worker runs in them).
  deadline = nginx.now() + 10
  while #nginx.children(srv.pid) < (opts.workers or 1) and nginx.now() < deadline do
    nginx.sleep(0.02)
  end
  return srv
end

--- One HTTP/1.0 request on a fresh connection; returns status, body,
-- headers (lower-case names), or nil and the socket error.
function Server:request(method, path, body, timeout)
  local c = socket.tcp()
  c:settimeout(timeout or 10)
  local ok, err = c:connect("127.0.0.1", self.port)
  if not ok then return nil, err end
  local req = ("%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"):format(method, path)
  if body then req = req .. ("Content-Length: %d\r\n"):format(#body) end
  c:send(req .. "\r\n" .. (body or ""))
  local line
  line, err = c:receive("*l")
  if not line then c:close() return nil, err end
  local status = tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
  local headers = {}
  while true do
    local h = c:receive("*l")
    if not h or h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.*)$")
    if k then headers[k:lower()] = v end
  end
  local rest, e2, partial = c:receive("*a")
  c:close()
  return status, rest or partial or "", headers, e2
end

--- GET `path`: status, body, headers.
function Server:get(path, timeout)
  return self:request("GET", path, nil, timeout)
end

--- "http://127.0.0.1:port" .. path
function Server:url(path)
  return ("http://127.0.0.1:%d%s"):format(self.port, path or "/")
end

--- The worker pids right now.
function Server:workers()
  return nginx.children(self.pid)
end

--- Sends a signal to the master: "reload" (HUP), "quit", "stop", "reopen".
function Server:signal(sig)
  return run(("%s -p %s -c %s -s %s >>%s 2>&1"):format(sh_quote(nginx.binary), sh_quote(self.prefix .. "/"),
    sh_quote(self.conf), sig, sh_quote(self.prefix .. "/logs/stderr.log")))
end

--- Waits up to `timeout` seconds (default 30) for every pid in `pids` to
-- exit; true when they have.
function nginx.wait_all_exit(pids, timeout)
  local deadline = nginx.now() + (timeout or 30)
  while nginx.now() < deadline do
    local gone = true
    for _, pid in ipairs(pids) do
      if nginx.alive(pid) then gone = false end
    end
    if gone then return true end
    nginx.sleep(0.05)
  end
  return false
end

--- Reload (HUP): new workers start, old workers finish gracefully.
-- Returns once the old workers have exited (or `timeout` seconds passed:
-- then false).  An old worker waits for its clients' open connections: a
-- client that stays connected without sending keeps it (see Server:wrk).
function Server:reload(timeout)
  local old = self:workers()
  assert(self:signal("reload"), "nginx -s reload failed")
  return nginx.wait_all_exit(old, timeout)
end

--- Graceful stop (QUIT); after `timeout` seconds (default 30) a fast stop,
-- then SIGKILL.  Idempotent; returns true when nginx exited gracefully.
function Server:stop(timeout)
  if not running[self] then return self.graceful end
  running[self] = nil
  local procs = { self.pid }
  for _, w in ipairs(self:workers()) do procs[#procs + 1] = w end
  local function wait(secs)
    local deadline = nginx.now() + secs
    while nginx.now() < deadline do
      local any = false
      for _, pid in ipairs(procs) do
        if nginx.alive(pid) then any = true end
      end
      if not any then return true end
      nginx.sleep(0.05)
    end
    return false
  end
  if nginx.alive(self.pid) then self:signal("quit") end
  self.graceful = wait(timeout or 30)
  if not self.graceful then
    self:signal("stop")
    if not wait(5) then
      for _, pid in ipairs(procs) do run("kill -9 " .. pid .. " 2>/dev/null") end
      wait(5)
    end
  end
  return self.graceful
end

--- error.log's whole text.
function Server:log()
  return read_file(self.prefix .. "/logs/error.log") or ""
end

--- error.log lines matching the Lua pattern `pat`.
function Server:log_lines(pat)
  local out = {}
  for line in self:log():gmatch("[^\n]+") do
    if line:find(pat) then out[#out + 1] = line end
  end
  return out
end

--- error.log entries (one per timestamp: a traceback spans several lines)
-- matching the Lua pattern `pat`.
function Server:log_entries(pat)
  local out = {}
  local text = "\n" .. self:log()
  local starts = {}
  for pos in text:gmatch("()\n%d%d%d%d/%d%d/%d%d %d%d:%d%d:%d%d ") do starts[#starts + 1] = pos end
  starts[#starts + 1] = #text + 1
  for i = 1, #starts - 1 do
    local entry = text:sub(starts[i] + 1, starts[i + 1] - 1)
    if entry:find(pat) then out[#out + 1] = entry end
  end
  return out
end

--- error.log lines at level error, crit, alert or emerg.
function Server:problems()
  local out = {}
  for line in self:log():gmatch("[^\n]+") do
    if line:find("%[error%]") or line:find("%[crit%]") or line:find("%[alert%]") or line:find("%[emerg%]") then
      out[#out + 1] = line
    end
  end
  return out
end

--- Starts `cmd` (a shell command) in the background with its output in
-- `out`; returns its pid.
function nginx.spawn(cmd, out)
  local p = io.popen(("exec 3>&1; (%s) >%s 2>&1 </dev/null & echo $!"):format(cmd, sh_quote(out or "/dev/null")))
  local pid = tonumber(p:read("l"))
  p:close()
  return pid
end

--- Sends signal `sig` ("TERM", "INT", "KILL", ...) to `pid`.
function nginx.kill(pid, sig)
  return run(("kill -%s %d 2>/dev/null"):format(sig or "TERM", pid))
end

--- Waits up to `secs` seconds for `pid` to end; true when it has.
function nginx.wait_exit(pid, secs)
  local deadline = nginx.now() + (secs or 10)
  while nginx.alive(pid) do
    if nginx.now() > deadline then return false end
    nginx.sleep(0.02)
  end
  return true
end

--- Runs wrk with spec/openresty/wrk_ids.lua against this server: `threads`
-- connections (one per wrk thread), each sending exactly `n` requests with
-- ids <prefix><thread>-<i> on `paths` in turn (default /content, /log).
-- `during(srv)`, when given, runs once (in this process) while the load is
-- on, once every thread has had half its answers; it must not wait long (a
-- wrk thread that has finished keeps its connection open until wrk ends).
-- When nginx is gone after it, wrk is stopped at once (its threads would
-- wait for answers that cannot come).  Returns the parsed summary:
-- answered, bad, connect, read, write, status, timeout, p50_us, p99_us,
-- max_us, duration_us, output (wrk's text) and, with `during`, during_ran.
function Server:wrk(o)
  local marker = self.prefix .. "/wrk-" .. o.prefix
  run("rm -f " .. sh_quote(marker) .. ".*")
  local out = self.prefix .. "/logs/wrk-" .. o.prefix .. ".out"
  local args = { tostring(o.n), o.prefix, marker }
  for _, path in ipairs(o.paths or {}) do args[#args + 1] = path end
  for i, a in ipairs(args) do args[i] = sh_quote(a) end
  local pid = nginx.spawn(("exec wrk -t%d -c%d -d%ds -s %s %s -- %s"):format(o.threads, o.threads,
    o.timeout or 600, sh_quote(nginx.top .. "/spec/openresty/wrk_ids.lua"), sh_quote(self:url("/")),
    table.concat(args, " ")), out)
  local deadline = nginx.now() + (o.timeout or 600)
  local during = o.during
  while nginx.alive(pid) and nginx.now() < deadline do
    local finished = 0
    for t = 1, o.threads do
      if read_file(marker .. "." .. t) then finished = finished + 1 end
    end
    if finished == o.threads then break end
    if during then
      local half = 0
      for t = 1, o.threads do
        if read_file(marker .. ".half." .. t) then half = half + 1 end
      end
      if half == o.threads then
        during(self)
        during = nil
      end
    elseif o.during and not nginx.alive(self.pid) then
      break
    end
    nginx.sleep(0.05)
  end
  nginx.kill(pid, "INT")
  nginx.wait_exit(pid, 30)
  local text = read_file(out) or ""
  local res = { output = text, during_ran = o.during and during == nil }
  local line = text:match("insync%-wrk ([^\n]*)")
  if line then
    for k, v in line:gmatch("([%w_]+)=(%d+)") do res[k] = tonumber(v) end
  end
  return res
end

--- The ids the Server:wrk run with `prefix` got a 200 answer for.
function Server:answered_ids(prefix)
  local ids, t = {}, 1
  while true do
    local text = read_file(self.prefix .. "/wrk-" .. prefix .. ".ids." .. t)
    if not text then return ids end
    for id in text:gmatch("[^\n]+") do ids[#ids + 1] = id end
    t = t + 1
  end
end

--- The sums of the "name N" counts of every worker's exit line
-- ("insync.openresty: worker N exiting (...): sent N, delivered N, ..."),
-- and workers, the number of such lines.
function Server:exit_counts()
  local sum, lines = {}, self:log_lines("insync%.openresty: worker %d+ exiting")
  for _, line in ipairs(lines) do
    for k, v in line:gmatch("([%a_]+) (%d+)") do sum[k] = (sum[k] or 0) + tonumber(v) end
  end
  sum.workers = #lines
  return sum
end

--- The sums of the test app's "app callbacks: name=N ..." exit lines
-- (spec/openresty/app.lua).
function Server:callback_counts()
  local cb = {}
  for _, line in ipairs(self:log_lines("app callbacks:")) do
    for k, v in line:gmatch("([%w_]+)=(%d+)") do cb[k] = (cb[k] or 0) + tonumber(v) end
  end
  return cb
end

--- Starts librdkafka's mock cluster (spec/openresty/mock_cluster.lua) in a
-- Lua 5.4 process of its own, with `topics` (a list; `partitions` each,
-- default 3) on 3 brokers, each delaying its responses by `rtt_ms` (default
-- 0).  Returns { bootstrap = "host:port,...", pid = n, stop = fn }.
function nginx.mock_cluster(name, topics, partitions, rtt_ms)
  local dir = nginx.top .. "/build/openresty/" .. name
  assert(run("mkdir -p " .. sh_quote(dir)))
  local file = dir .. "/bootstrap"
  os.remove(file)
  local t = nginx.top
  local cmd = ("LUA_PATH=%s LUA_CPATH=%s exec lua5.4 %s %s %s %d 3 %d"):format(
    sh_quote(t .. "/lua/?.lua;" .. t .. "/lua/?/init.lua;;"), sh_quote(t .. "/build/lua5.4/?.so;;"),
    sh_quote(t .. "/spec/openresty/mock_cluster.lua"), sh_quote(file), sh_quote(table.concat(topics, ",")), partitions or 3, rtt_ms or 0)
  local pid = nginx.spawn(cmd, dir .. "/mock_cluster.out")
  local deadline = nginx.now() + 20
  local bootstrap
  repeat
    bootstrap = read_file(file)
    if bootstrap then break end
    nginx.sleep(0.05)
  until nginx.now() > deadline or not nginx.alive(pid)
  local cluster = { pid = pid, bootstrap = bootstrap and bootstrap:match("%S+") }
  function cluster.stop()
    if nginx.alive(pid) then
      nginx.kill(pid, "TERM")
      if not nginx.wait_exit(pid, 10) then nginx.kill(pid, "KILL") end
    end
  end
  if not cluster.bootstrap then
    cluster.stop()
    error("mock cluster did not start: " .. (read_file(dir .. "/mock_cluster.out") or ""), 2)
  end
  return cluster
end

--- The content of the file at `path`, or nil when it cannot be read.
nginx.read_file = read_file

--- Calls `fn` until it returns a true value, which it returns; raises
-- "timed out waiting for WHAT" after `secs` seconds (default 10).
function nginx.wait_for(what, secs, fn)
  local deadline = nginx.now() + (secs or 10)
  repeat
    local v = fn()
    if v then return v end
    nginx.sleep(0.05)
  until nginx.now() > deadline
  error("timed out waiting for " .. what, 2)
end

--- { key = number of records with that key } of `topic`, and its records
-- (nginx.read_topic).
function nginx.read_keys(bootstrap, topic)
  local recs = nginx.read_topic(bootstrap, topic)
  local by_key = {}
  for _, r in ipairs(recs) do by_key[r.key] = (by_key[r.key] or 0) + 1 end
  return by_key, recs
end

--- Every record of `topic` from the beginning to the current end, read with
-- insync.consumer: a list of { key =, value =, partition =, offset = }, a
-- record without a key with key "".
function nginx.read_topic(bootstrap, topic)
  local out = require("helpers").read_topic(bootstrap, topic)
  for _, r in ipairs(out) do r.key = r.key or "" end
  return out
end

--- Stops every server this process started and has not stopped.
function nginx.stop_all()
  for srv in pairs(running) do srv:stop(10) end
end

return nginx
