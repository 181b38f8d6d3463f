-- Run by fork_spec.lua with LuaJIT (its FFI can fork): a producer and a mock
-- cluster made before fork().  The child must refuse to use them, close and
-- collect them without touching the parent's librdkafka state, and exit; the
-- parent must go on sending.  Exit status 0 when all of that holds.
local ffi = require "ffi"
ffi.cdef [[
int fork(void);
int waitpid(int pid, int *status, int options);
int poll(void *fds, unsigned long nfds, int timeout);
]]
local insync = require "insync"

local m = insync.mock{ brokers = 1 }
m:create_topic("t", 1, 1)
local p = insync.producer{ ["bootstrap.servers"] = m:bootstrap_servers() }
-- a consumer and a tracking producer, made before fork() too
local c = insync.consumer{ ["bootstrap.servers"] = m:bootstrap_servers() }
assert(c:assign{ { topic = "t", partition = 0 } })
local tp = insync.producer{ ["bootstrap.servers"] = m:bootstrap_servers(), track = true }

local function send(value)
  local report, err
  assert(p:send({ topic = "t", value = value }, function(r, e) report, err = r, e end))
  assert(p:flush(10000) == 0, "flush timed out")
  assert(err == nil, tostring(err))
  return report
end

assert(send("before").offset == 0)

local pid = ffi.C.fork()
if pid == 0 then
  local code = 0
  local ok, err = pcall(p.send, p, { topic = "t", value = "child" })
  if ok or not tostring(err):find("forked from", 1, true) then code = 2 end
  ok, err = pcall(m.push_errors, m, "Produce", { "NOT_ENOUGH_REPLICAS" })
  if ok or not tostring(err):find("forked from", 1, true) then code = 3 end
  if p:close() ~= 0 then code = 4 end
  ok, err = pcall(c.poll, c, 0)
  if ok or not tostring(err):find("forked from", 1, true) then code = 5 end
  ok, err = pcall(tp.audit, tp)
  if ok or not tostring(err):find("forked from", 1, true) then code = 6 end
  c:close()
  p, m, c, tp = nil, nil, nil, nil
  collectgarbage()
  collectgarbage()
  os.exit(code, true)   -- closes the Lua state: every __gc runs
end
assert(pid > 0, "fork failed")

local status = ffi.new("int[1]")
local waited = 0
while ffi.C.waitpid(pid, status, 1 --[[WNOHANG]]) == 0 do
  waited = waited + 10
  if waited > 20000 then error("the child did not exit within 20 s") end
  ffi.C.poll(nil, 0, 10)
end
local code = math.floor(status[0] / 256) % 256
if status[0] % 128 ~= 0 then error("the child died of signal " .. status[0] % 128) end
if code ~= 0 then error("the child exited with " .. code) end

assert(send("after").offset == 1, "the parent's producer is broken after the child exited")
-- the parent's consumer reads both records, its tracking producer audits
local values, deadline = {}, os.time() + 20
while #values < 2 and os.time() < deadline do
  for _, r in ipairs((c:poll(100))) do values[#values + 1] = r.value end
end
assert(values[1] == "before" and values[2] == "after", "the parent's consumer is broken after the child exited")
c:close()
assert(tp:send{ topic = "t", value = "tracked" })
assert(tp:flush(10000) == 0)
local a = assert(tp:audit{ timeout_ms = 20000 })
assert(a.acked == 1 and #a.lost == 0, "the parent's audit is broken after the child exited")
tp:close()
p:close()
m:close()
print("fork ok")
