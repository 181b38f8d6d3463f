--- Handlers for spec/openresty/production_spec.lua (on nginx's LuaJIT): a
-- request carries ?id=<id>, its record's key.
local openresty = require "insync.openresty"

local app = {}

local function args()
  return ngx.req.get_uri_args()
end

--- content_by_lua: send_wait, then 200 and the id with the record's
-- partition and offset, or 503 and the error's name and persisted.
-- ?timeout=<ms> (default 10000), ?p=<producer name>.
function app.wait()
  local a = args()
  local h = a.p and openresty.get(a.p)
  local msg = { topic = ngx.var.topic, key = a.id, value = "wait", opaque = a.id }
  local timeout = tonumber(a.timeout or "10000")
  local report, err
  if h then report, err = h:send_wait(msg, timeout) else report, err = openresty.send_wait(msg, timeout) end
  if not report then
    ngx.status = 503
    ngx.say(err.name, " ", err.persisted)
    return
  end
  if report.opaque ~= a.id or report.key ~= a.id then
    ngx.status = 500
    ngx.say("wrong report: ", tostring(report))
    return
  end
  ngx.say(a.id)
end

--- content_by_lua: sends through producer ?p= (default: the default one)
-- to ?topic= (default $topic), ?partition= when given; 200 and the id, or
-- 503 and the error's name.
function app.send()
  local a = args()
  local msg = { topic = a.topic or ngx.var.topic, key = a.id, value = a.p or "default",
    partition = tonumber(a.partition) }
  local id, err
  if a.p then id, err = openresty.get(a.p):send(msg) else id, err = openresty.send(msg) end
  if not id then
    ngx.status = 503
    ngx.say(err.name)
    return
  end
  ngx.say(a.id)
end

--- content_by_lua: the misuses of send_wait and of the named producers,
-- one "what|error" line each.
function app.misuse()
  local function try(what, f, ...)
    local ok, err = pcall(f, ...)
    ngx.say(what, "|", ok and "no error" or tostring(err):gsub("^[^:]*:%d+: ", ""))
  end
  try("timeout", openresty.send_wait, { topic = "t" }, -1)
  try("msg", openresty.send_wait, { topic = 42 }, 100)
  try("get", openresty.get, "nosuch")
  try("getname", openresty.get, 42)
  -- each error names the line of the call
  local here = debug.getinfo(1, "S").short_src
  local function where(what, f)   -- f calls the API (no tail call) on the line that calls where
    local line = debug.getinfo(2, "l").currentline
    local ok, err = pcall(f)
    ngx.say(what, "|", ok and "no error" or (tostring(err):find(here .. ":" .. line .. ": ", 1, true)
      and "names the line" or tostring(err)))
  end
  local h = openresty.get("default")
  where("send_wait msg", function() local r = openresty.send_wait({ topic = 42 }, 100) return r end)
  where("send_wait timeout", function() local r = openresty.send_wait({ topic = "t" }, "x") return r end)
  where("h:send_wait msg", function() local r = h:send_wait({ topic = "t", key = 1 }, 100) return r end)
  where("h:send_wait timeout", function() local r = h:send_wait({ topic = "t" }, -5) return r end)
  where("h:send msg", function() local r = h:send({ topic = "t", headers = { { 1, "v" } } }) return r end)
  where("h:send cb", function() local r = h:send({ topic = "t" }, 5) return r end)
  where("send msg", function() local r = openresty.send({ topic = "bad topic" }) return r end)
end

--- log_by_lua: send_wait may not wait here; the error is logged.
function app.wait_in_log()
  local ok, err = pcall(openresty.send_wait, { topic = ngx.var.topic, key = "log" }, 100)
  ngx.log(ngx.NOTICE, "send_wait in log: ", ok and "no error" or tostring(err))
end

return app
