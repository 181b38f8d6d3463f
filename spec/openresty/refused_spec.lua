-- insync.openresty in Debian's nginx (1 worker, lua-nginx-module on
-- OpenResty's LuaJIT): msgs producer:send would refuse raise in send, at
-- the caller's line; a record librdkafka refuses when the poll timer hands
-- it over reaches its callback with a report like any other.  No broker
-- listens: nothing here needs one.
local nginx = require "openresty.nginx"

describe("insync.openresty refusals", function()
  local srv

  setup(function()
    assert(nginx.available())
    srv = nginx.start{
      name = "refused",
      http = ([[
  init_worker_by_lua_block {
    require("insync.openresty").init{
      config = { ["bootstrap.servers"] = "127.0.0.1:%d", ["queue.buffering.max.kbytes"] = 1 },
      exit_timeout_ms = 0,
    }
  }
]]):format(nginx.free_port()),
      server = [[
    location = /misuse { content_by_lua_block { require("openresty.refused_app").misuse() } }
    location = /full { content_by_lua_block { require("openresty.refused_app").full() } }
    location = /outcomes { content_by_lua_block { require("openresty.refused_app").outcomes() } }
]],
    }
  end)

  teardown(function()
    if srv then srv:stop(10) end
  end)

  local function outcomes()
    local status, body = srv:get("/outcomes")
    assert.are.equal(200, status)
    local lines, metrics = {}, nil
    for line in body:gmatch("[^\n]+") do
      if line:find("^metrics|") then metrics = line:sub(9) else lines[#lines + 1] = line end
    end
    return lines, metrics
  end

  -- { [case] = { mine, theirs, where } } of the app's bad msgs (refused_app.lua)
  local function misuse()
    local status, body = srv:get("/misuse")
    assert.are.equal(200, status)
    local cases, n = {}, 0
    for i, mine, theirs, where in body:gmatch("(%d+)|([^|\n]*)|([^|\n]*)|([^|\n]*)\n") do
      cases[tonumber(i)] = { mine = mine, theirs = theirs, where = where }
      n = n + 1
      assert.truthy(where:find("refused_app%.lua:%d+: $"), where)
    end
    assert.are.equal(7, n)
    return cases
  end

  local function metrics()
    local _, m = outcomes()
    local t = {}
    for k, v in m:gmatch("([%a_]+) (%d+)") do t[k] = tonumber(v) end
    return t
  end

  it("raises in send, in producer:send's words, for a topic Kafka refuses or a timestamp past 2^63 - 1: nothing stays in flight", function()
    local before = metrics()
    local cases = misuse()
    -- these were accepted, then refused at hand-over with nobody told
    for i = 1, 3 do
      assert.are.equal(cases[i].where .. cases[i].theirs, cases[i].mine, "case " .. i)
    end
    assert.are.equal(cases[1].where .. "send: msg.topic: expected a topic name (1 to 249 of a-z A-Z 0-9 . _ -), "
      .. 'got "' .. ("t"):rep(60) .. '"...', cases[1].mine)
    assert.are.equal(cases[2].where .. "send: msg.timestamp: expected milliseconds since the epoch (integer >= 0), "
      .. "got 1e+300", cases[2].mine)
    -- only the app's one good msg was accepted; it waits for a broker
    nginx.sleep(0.1)
    local after = metrics()
    assert.are.equal(1, after.sent - before.sent)
    assert.are.equal(0, after.failed - before.failed)
    assert.are.equal(1, after.queue_depth - before.queue_depth)
  end)

  it("names the caller's line when a header is wrong", function()
    local cases = misuse()
    for i = 4, 7 do
      assert.truthy(cases[i].theirs:find("^send: msg%.headers"), cases[i].theirs)
      assert.are.equal(cases[i].where .. cases[i].theirs, cases[i].mine, "case " .. i)
    end
  end)

  it("hands a record librdkafka refuses at hand-over (_QUEUE_FULL) to its callback with a report, counted as failed", function()
    local before = metrics()
    assert.are.equal(200, (srv:get("/full")))
    local lines, after
    local deadline = nginx.now() + 10
    repeat
      nginx.sleep(0.05)
      lines, after = outcomes()
    until #lines > 0 or nginx.now() > deadline
    assert.are.same({
      "k2|_QUEUE_FULL|insync.report{topic=t key=k2 opaque=o2}|nil|nil|o2|totable t k2 o2 nil",
    }, lines)
    -- the first record waits in librdkafka for a broker; the second failed
    local m = {}
    for k, v in after:gmatch("([%a_]+) (%d+)") do m[k] = tonumber(v) end
    assert.are.equal(before.sent + 2, m.sent)
    assert.are.equal(before.failed + 1, m.failed)
    assert.are.equal(before.queue_depth + 1, m.queue_depth)
  end)
end)
