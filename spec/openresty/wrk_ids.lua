-- wrk script (runs in wrk's own LuaJIT).  Each thread, on its one
-- connection, sends requests numbered <prefix><thread>-<i>, alternating
-- between the paths given (default /content and /log), each with
-- id=<that id> added to its query, until N of them have been answered.  The body of each 200
-- answer (the server echoes the id) goes to <marker>.ids.<thread>; a request
-- lost with its connection (an exiting worker closes it) gets no answer and
-- is not counted.  Half way it writes <marker>.half.<thread> (to reload
-- under load), at the end <marker>.<thread>, then stops.  wrk itself sleeps
-- for its whole -d, so the driver (Server:wrk in spec/openresty/nginx.lua)
-- sends it SIGINT once every marker is there.  done() prints one line for
-- the driver.
--     wrk -t4 -c4 -d600s -s wrk_ids.lua URL -- N PREFIX MARKER [PATH...]
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

-- Per thread; globals so that done() can read them with thread:get().
answered, bad = 0, 0

local n, prefix, marker, paths, ids
local sent = 0

function init(args)
  n = tonumber(args[1])
  prefix = args[2]
  marker = args[3]
  paths = {}
  for i = 4, #args do paths[#paths + 1] = args[i] end
  if #paths == 0 then paths = { "/content", "/log" } end
  ids = assert(io.open(marker .. ".ids." .. tid, "w"))
end

function request()
  sent = sent + 1
  local path = paths[(sent - 1) % #paths + 1]
  local sep = path:find("?", 1, true) and "&" or "?"
  return wrk.format("GET", path .. sep .. "id=" .. prefix .. tid .. "-" .. sent)
end

local function touch(path, text)
  local f = io.open(path, "w")
  if f then f:write(text or "") f:close() end
end

function response(status, _, body)
  if answered >= n then return end
  answered = answered + 1
  if status == 200 then ids:write(body) else bad = bad + 1 end
  if answered == math.floor(n / 2) then touch(marker .. ".half." .. tid) end
  if answered == n then
    ids:close()
    touch(marker .. "." .. tid, answered .. " " .. bad .. "\n")
    wrk.thread:stop()
  end
end

function done(summary, latency)
  local total, nbad = 0, 0
  for _, t in ipairs(threads) do
    total = total + (t:get("answered") or 0)
    nbad = nbad + (t:get("bad") or 0)
  end
  local e = summary.errors
  io.write(("insync-wrk answered=%d bad=%d connect=%d read=%d write=%d status=%d timeout=%d "
    .. "p50_us=%d p99_us=%d max_us=%d duration_us=%d\n"):format(total, nbad, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max, summary.duration))
end
