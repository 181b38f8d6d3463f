--- Handlers for spec/openresty/refused_spec.lua (on nginx's LuaJIT): msgs
-- insync.openresty.send must refuse, and records librdkafka refuses when the
-- timer hands them over.
local openresty = require "insync.openresty"

local app = {}

-- Sends msg from this file's line `app.line`; returns the error raised,
-- or "accepted".
local function try(msg)
  local ok, err = pcall(function()
    local id = openresty.send(msg) app.line = debug.getinfo(1, "l").currentline
    return id
  end)
  return ok and "accepted" or tostring(err)
end

--- content_by_lua: one line per bad msg: "i|<error of openresty.send>|<error
-- of producer:send>|<this file:line of the send>".
function app.misuse()
  local p = openresty.producer()
  local cases = {
    { topic = string.rep("t", 513) },
    { topic = "t", timestamp = 1e300 },
    { topic = "t", timestamp = 2 ^ 63 },
    { topic = "t", headers = { { 1, "v" } } },
    { topic = "t", headers = { { "n", 2 } } },
    { topic = "t", headers = { [true] = "v" } },
    { topic = "t", headers = { n = 1 } },
  }
  try({ topic = "t" })
  local where = debug.getinfo(1, "S").short_src .. ":" .. app.line .. ": "
  for i, msg in ipairs(cases) do
    local ok, theirs = pcall(p.send, p, msg)
    ngx.say(i, "|", try(msg), "|", ok and "accepted" or tostring(theirs), "|", where)
  end
end

local outcomes = {}

--- content_by_lua: two records of 800 bytes with queue.buffering.max.kbytes
-- = 1: librdkafka takes the first (no broker: it waits) and refuses the
-- second at hand-over; each callback records what it got.
function app.full()
  for i = 1, 2 do
    openresty.send({ topic = "t", key = "k" .. i, value = string.rep("x", 800), opaque = "o" .. i },
      function(report, err)
        local ok, t = pcall(function() return report:totable() end)
        outcomes[#outcomes + 1] = table.concat({ tostring(report.key), tostring(err and err.name),
          tostring(report), tostring(report.partition), tostring(report.latency_ms), tostring(report.opaque),
          ok and ("totable " .. tostring(t.topic) .. " " .. tostring(t.key) .. " " .. tostring(t.opaque)
            .. " " .. tostring(t.partition)) or ("totable raised " .. tostring(t)) }, "|")
      end)
  end
  ngx.say("sent")
end

--- content_by_lua: the callbacks' outcomes so far, one a line, and this
-- worker's metrics.
function app.outcomes()
  for _, o in ipairs(outcomes) do ngx.say(o) end
  local m = openresty.metrics()
  ngx.say("metrics|sent ", m.sent, " failed ", m.failed, " queue_depth ", m.queue_depth)
end

return app
