--- The handlers the nginx specs load (from spec/, on nginx's LuaJIT): a
-- request carries ?id=<id>; its record's key is that id, its value the
-- phase that sent it.  Callback outcomes are counted per worker in the
-- lua_shared_dict "app" and logged when the worker exits.
local openresty = require "insync.openresty"

local app = {}

local counts = {}   -- this worker's callback outcomes: ok, <error name>, cosocket_ok, ...

local function count(what, n)
  counts[what] = (counts[what] or 0) + (n or 1)
  local dict = ngx.shared.app
  if dict then dict:incr(what, n or 1, 0) end
end

--- The callback each send gets: counts its outcome.  With ?raise=1 it
-- raises; with ?cosocket=1 it first makes a request to this nginx through a
-- cosocket (which yields).
local function callback_for(args)
  local raise, cosocket = args.raise == "1", args.cosocket == "1"
  local port = ngx.var.server_port
  return function(report, err)
    if cosocket then
      local sock = ngx.socket.tcp()
      sock:settimeout(5000)
      local ok, e = sock:connect("127.0.0.1", tonumber(port))
      if ok then
        sock:send("GET /noop HTTP/1.0\r\nHost: x\r\n\r\n")
        local line = sock:receive("*l")
        sock:close()
        if line and line:find(" 200 ") then count("cosocket_ok") else count("cosocket_bad") end
      else
        count("cosocket_bad")
        ngx.log(ngx.WARN, "cosocket: ", e)
      end
    end
    count(err and err.name or "ok")
    if err then
      ngx.log(ngx.NOTICE, "app failed ", tostring(report.key), " ", err.name, " ", err.persisted)
    end
    if raise then error("boom for " .. tostring(report.key)) end
  end
end

local function send(phase)
  local args = ngx.req.get_uri_args()
  local cb
  if args.cb == "1" or args.raise == "1" or args.cosocket == "1" then cb = callback_for(args) end
  return openresty.send({ topic = ngx.var.topic, key = args.id, value = phase }, cb)
end

--- content_by_lua: sends, then answers with the id (503 and the error's
-- name when the send was refused: the "fail the request" choice).
function app.content()
  local id, err = send("content")
  if not id then
    ngx.status = 503
    ngx.say(err.name)
    return
  end
  ngx.say(ngx.var.arg_id)
end

--- content_by_lua for a request that sends from its log phase.
function app.echo()
  ngx.say(ngx.var.arg_id)
end

--- log_by_lua: sends after the response went out (the "drop and count"
-- choice: a refused send is counted, the request is already answered).
function app.log()
  local id, err = send("log")
  if not id then count("dropped_" .. err.name) end
end

--- rewrite_by_lua: sends, then lets the request go on.
function app.rewrite()
  if not send("rewrite") then return ngx.exit(503) end
end

--- access_by_lua: sends, then lets the request go on.
function app.access()
  if not send("access") then return ngx.exit(503) end
end

--- content_by_lua: this worker's app counts as "name value" lines, all
-- workers' (the shared dict) with ?all=1.
function app.counts()
  local src = counts
  if ngx.var.arg_all == "1" then
    src = {}
    for _, k in ipairs(ngx.shared.app:get_keys(0)) do src[k] = ngx.shared.app:get(k) end
  end
  local keys = {}
  for k in pairs(src) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do ngx.say(k, " ", src[k]) end
end

--- content_by_lua: runs bad messages through insync.openresty.send and
-- through the producer's own send; one line per case: "i|<error>|<error>".
function app.parity()
  local p = openresty.producer()
  local cases = {
    "x", {}, { topic = 1 }, { topic = "t", key = 1 }, { topic = "t", value = {} },
    { topic = "t", partition = -1 }, { topic = "t", partition = 1.5 }, { topic = "t", partition = 2 ^ 31 },
    { topic = "t", partition = "1" }, { topic = "t", timestamp = -1 }, { topic = "t", timestamp = "x" },
    { topic = "t", headers = "x" }, { topic = "t", headers = { { 1, "v" } } },
    { topic = "t", headers = { { "n", 2 } } }, { topic = "t", headers = { [true] = "v" } },
    { topic = "t", headers = { n = 1 } },
  }
  local function strip(e) return (tostring(e):gsub("^[^:]*:%d+: ", "")) end
  for i, msg in ipairs(cases) do
    local ok1, e1 = pcall(openresty.send, msg)
    local ok2, e2 = pcall(p.send, p, msg)
    ngx.say(i, "|", ok1 and "accepted" or strip(e1), "|", ok2 and "accepted" or strip(e2))
  end
end

--- exit_worker_by_lua: closes the producer (when its timer has not) and logs
-- this worker's callback counts.
function app.exit()
  openresty.exit()
  local parts = {}
  for k, v in pairs(counts) do parts[#parts + 1] = k .. "=" .. v end
  table.sort(parts)
  ngx.log(ngx.NOTICE, "app callbacks: ", table.concat(parts, " "))
end

return app
