-- On LuaJIT, insync.producer sends and hands out reports through the FFI
-- (lua/insync/ffi.lua) unless INSYNC_FFI=off; on the other Luas, never.
-- What a user sees is the same on both paths: the other producer specs run
-- on both (make test-luajit runs them a second time with INSYNC_FFI=off).
local core = require "insync.core"
local fast = require "insync.ffi"
local fixture = require "producer.fixture"
local helpers = require "helpers"

local forced_off = os.getenv("INSYNC_FFI") == "off" or os.getenv("INSYNC_FFI") == "0"

describe("the FFI path", function()
  it("is taken on LuaJIT unless INSYNC_FFI=off, and never on the other Luas", function()
    assert.equal(jit ~= nil and not forced_off, fast.active)
  end)

  it("is turned off by INSYNC_FFI=off in the environment", function()
    -- a LuaJIT with the same LUA_PATH and LUA_CPATH (spec/run sets them)
    local lua = jit and (os.getenv("LUAJIT") or "luajit") or "lua5.4"
    local script = "io.write(tostring(require('insync.ffi').active))"
    local on = helpers.sh(("INSYNC_FFI= %s -e %q"):format(lua, script))
    local off = helpers.sh(("INSYNC_FFI=off %s -e %q"):format(lua, script))
    assert.equal(jit and "true" or "false", on)
    assert.equal("false", off)
  end)

  it("delivers every send with its report, in order per partition, and counts them", function()
    local m = fixture.cluster(3, "orders", 2, 3)
    local p = fixture.producer(m, { acks = "all" })
    local got, last = {}, {}
    local n = 300
    for i = 1, n do
      local msg = { topic = "orders", key = i % 5 == 0 and ("k" .. i) or nil, value = "v" .. i,
                    partition = i % 2, opaque = i % 3 == 0 and { i = i } or nil }
      assert.equal(i, p:send(msg, function(report, err)
        assert.is_nil(err)
        got[#got + 1] = report
        -- offsets grow by one per partition, in send order
        local before = last[report.partition]
        assert.equal(before and before + 1 or 0, report.offset)
        last[report.partition] = report.offset
      end))
      if i % 50 == 0 then p:poll(0) end
    end
    assert.equal(0, p:flush(20000))
    assert.equal(n, #got)
    assert.same({ sent = n, delivered = n, failed = 0, outstanding = 0 }, p:counts())
    -- nothing left: poll(0) hands out nothing
    assert.equal(0, p:poll(0))
    p:close()
    m:close()
    -- reports outlive their producer and read as the classic ones
    local keyed, withopaque
    for _, r in ipairs(got) do
      if r.key and not keyed then keyed = r end
      if r.opaque and not withopaque then withopaque = r end
    end
    assert.equal(core.report_mt, getmetatable(keyed))
    assert.equal("orders", keyed.topic)
    assert.matches("^k%d+$", keyed.key)
    assert.is_true(keyed.latency_ms > 0)
    assert.equal(0, withopaque.opaque.i % 3)
    assert.same({ topic = "orders", partition = keyed.partition, offset = keyed.offset,
                  key = keyed.key, latency_ms = keyed.latency_ms, opaque = keyed.opaque }, keyed:totable())
    assert.matches("^insync%.report{topic=orders partition=%d offset=%d+ key=k%d+ latency_ms=", tostring(keyed))
  end)

  it("hands out with poll(0) alone what librdkafka queued while the producer was made", function()
    -- poll(0) skips librdkafka while nothing has arrived on the empty queue;
    -- the log lines of rd_kafka_new arrive before it is watched
    local m = fixture.cluster(1, "orders", 1, 1)
    local logs = 0
    local p = fixture.producer(m, { debug = "conf", on_log = function() logs = logs + 1 end })
    local deadline = os.time() + 10
    while logs == 0 and os.time() < deadline do
      p:poll(0)
      os.execute("sleep 0.05")
    end
    assert.is_true(logs > 0, "no log line handed out by poll(0)")
    p:close()
    m:close()
  end)

  it("lets a producer dropped unclosed be collected, though its pending callbacks hold it", function()
    local m = fixture.cluster(1, "orders", 1, 1)
    local seen = setmetatable({}, { __mode = "k" })
    do
      local p = fixture.producer(m, { on_error = function() end })
      -- the first send makes the topic's handle, the second takes the FFI path
      assert(p:send({ topic = "orders", value = "a" }, function() return p end))
      assert(p:send({ topic = "orders", value = "b" }, function() return p end))
      seen[p] = true
    end
    for _ = 1, 4 do collectgarbage() end
    assert.is_nil(next(seen))
    m:close()
  end)

  it("hands a failure made without a callback to on_error, with its report", function()
    local m = fixture.cluster(1, "orders", 1, 1)
    local seen = {}
    local p = fixture.producer(m, { ["message.timeout.ms"] = 1500,
      on_error = function(err, report) seen[#seen + 1] = { err = err, report = report } end })
    assert(p:send({ topic = "orders", value = "first" }, function() end))
    assert.equal(0, p:flush(10000))
    m:broker_down(1)
    assert(p:send({ topic = "orders", key = "lost", value = "v" }))
    assert.equal(0, p:flush(15000))
    p:close()
    m:close()
    local found
    for _, s in ipairs(seen) do if s.report then found = s end end
    assert.is_truthy(found, "on_error got no report")
    assert.equal("_MSG_TIMED_OUT", found.err.name)
    assert.equal("lost", found.report.key)
    assert.is_nil(found.report.offset)
  end)

  it("resumes after a raising callback with the rest of the batch, then serves classic events", function()
    local m = fixture.cluster(1, "orders", 1, 1)
    local p = fixture.producer(m, { ["linger.ms"] = 50 })
    local order = {}
    for i = 1, 40 do
      assert(p:send({ topic = "orders", value = "v", opaque = i }, function(report)
        order[#order + 1] = report.opaque
        if report.opaque == 10 then error("ten") end
      end))
    end
    local ok, err
    local deadline = os.time() + 10
    repeat ok, err = pcall(p.poll, p, 100) until not ok or os.time() > deadline
    assert.is_false(ok)
    assert.matches("ten", err)
    assert.equal(30, p:outstanding())
    assert.equal(0, p:flush(10000))
    for i = 1, 40 do assert.equal(i, order[i]) end
    p:close()
    m:close()
  end)
end)
