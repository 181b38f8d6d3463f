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
-- env (table of environment variables the workers see).
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
  table.sort(env)
  local user = ""
  local p = io.popen("id -u")
  if p:read("l") == "0" then user = "user root root;" end
  p:close()
  local t = nginx.top
  local conf = CONF:format(user, opts.workers or 1, prefix, prefix, opts.log_level or "info",
    nginx.modules, nginx.modules, table.concat(env, "\n") .. "\n" .. (opts.main or ""),
    prefix, prefix, prefix, prefix, prefix, t, t, t, t,
    opts.http or "", port, opts.server or "")
  local conf_path = prefix .. "/conf/nginx.conf"
  write_file(conf_path, conf)
  local srv = setmetatable({ name = opts.name, prefix = prefix, port = port, conf = conf_path }, Server)
  local ok = run(("%s -p %s -c %s -e %s >%s 2>&1"):format(sh_quote(nginx.binary), sh_quote(prefix .. "/"),
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

--- Reload (HUP): new workers start, old workers finish gracefully.
-- Returns once the old workers have exited (or `timeout` seconds passed:
-- then false).
function Server:reload(timeout)
  local old = self:workers()
  assert(self:signal("reload"), "nginx -s reload failed")
  local deadline = nginx.now() + (timeout or 30)
  while nginx.now() < deadline do
    local gone = true
    for _, pid in ipairs(old) do
      if nginx.alive(pid) then gone = false end
    end
    if gone then return true end
    nginx.sleep(0.05)
  end
  return false
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

--- Stops every server this process started and has not stopped.
function nginx.stop_all()
  for srv in pairs(running) do srv:stop(10) end
end

return nginx
