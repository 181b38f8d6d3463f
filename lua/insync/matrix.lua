--- The durability matrix, measured: for each common producer/topic
-- configuration, the same fault campaign (insync.explore), the share of
-- runs that lose acknowledged records, lost and duplicated records per
-- 10,000, write availability while one broker is down, acknowledgement
-- latency and throughput.  `insync.matrix{...}`; see docs/explore.md.
-- @module insync.matrix

local explore = require "insync.explore"
local cluster = require "insync.cluster"

local M = {}
local fmt, concat, floor, sqrt = string.format, table.concat, math.floor, math.sqrt

--- The rows: the common durability table's five configurations (with the
-- words it gives them), plus RF 1 and the golden rule (idempotence on).
M.rows = {
  { name = "acks=0", acks = "0", rf = 3, min_isr = 1, claim = { loss = "High", throughput = "Maximum" } },
  { name = "acks=1", acks = "1", rf = 3, min_isr = 1, claim = { loss = "Medium", throughput = "High" } },
  { name = "acks=all, min.insync.replicas=1", acks = "all", rf = 3, min_isr = 1,
    claim = { loss = "Medium", throughput = "Medium" } },
  { name = "acks=all, min.insync.replicas=2", acks = "all", rf = 3, min_isr = 2,
    claim = { loss = "Low", throughput = "Medium" } },
  { name = "acks=all, min.insync.replicas=3", acks = "all", rf = 3, min_isr = 3,
    claim = { loss = "Minimal", throughput = "Lower" } },
  { name = "acks=all, RF 1", acks = "all", rf = 1, min_isr = 1 },
  { name = "acks=all, min.insync.replicas=2, idempotent", acks = "all", rf = 3, min_isr = 2, idempotence = true },
}

local OPTS = { profile = true, runs = true, seed = true, jobs = true, progress = true, rows = true,
               shrink = true }

local function bad(name, msg) error(fmt("matrix: %s: %s", name, msg), 4) end

local function producer_conf(row, extra)
  local p = { acks = row.acks, ["enable.idempotence"] = row.idempotence or false }
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

local function topic(row)
  return { replication_factor = row.rf, config = { ["min.insync.replicas"] = row.min_isr } }
end

-- Wilson's 95% interval for k successes in n.
local function wilson(k, n)
  if n == 0 then return 0, 1 end
  local z, p = 1.96, k / n
  local d = 1 + z * z / n
  local c = (p + z * z / (2 * n)) / d
  local h = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
  return math.max(0, c - h), math.min(1, c + h)
end

-- Write availability while one broker is down: broker b (each in turn)
-- killed from 10 to 40 virtual seconds while 10 records a second go out
-- with delivery.timeout.ms = 10000; the share of the sends made meanwhile
-- that were acknowledged.
local function availability(row, profile, seed)
  local sent, acked = 0, 0
  for b = 1, 3 do
    local c = cluster.new{ brokers = 3, seed = seed + b, profile = profile }
    c:create_topic("m", topic(row))
    local p = c:producer(producer_conf(row, { ["delivery.timeout.ms"] = 10000 }))
    for i = 1, 600 do
      local t = (i - 1) * 100
      if t > c:now() then c:run_for(t - c:now()) end
      if t == 10000 then c:crash(b) elseif t == 40000 then c:restart(b) end
      local during = t >= 10000 and t < 40000
      if during then sent = sent + 1 end
      p:send({ topic = "m", key = "k" .. (i % 10), value = "v" }, function(_, err)
        if during and not err then acked = acked + 1 end
      end)
    end
    c:run(3600000)
    c:close()
  end
  return sent > 0 and acked / sent or 1
end

-- Throughput: 5,000 records of 100 bytes sent at once, no fault, with at
-- most 5 requests in flight (the Java producer's default): records
-- acknowledged per virtual second.
local function throughput(row, profile, seed)
  local c = cluster.new{ brokers = 3, seed = seed, profile = profile }
  c:create_topic("m", topic(row))
  local p = c:producer(producer_conf(row, { ["max.in.flight.requests.per.connection"] = 5 }))
  c:run_for(1000)
  local t0 = c:now()
  local value = ("x"):rep(100)
  local last = t0
  for i = 1, 5000 do
    p:send({ topic = "m", key = "k" .. (i % 10), value = value }, function() last = c:now() end)
  end
  c:run(3600000)
  c:close()
  return 5000 / math.max(1, last - t0) * 1000
end

local Result = {}
Result.__index = Result

local function pct(x) return fmt("%.1f%%", 100 * x) end

--- The matrix as a Markdown table.
function Result:markdown()
  local L = {
    "| configuration | runs losing acked records (95% CI) | lost / 10k acked | duplicated / 10k | "
      .. "availability, 1 broker down | ack p50 / p99 (ms) | throughput vs acks=1 | common claim (loss, throughput) |",
    "|---|---|---|---|---|---|---|---|",
  }
  for _, r in ipairs(self.rows) do
    L[#L + 1] = fmt("| %s | %s (%s-%s) of %d | %.1f | %.1f | %s | %d / %d | %.2f | %s |",
      r.name, pct(r.p_loss), pct(r.p_loss_low), pct(r.p_loss_high), r.runs, r.lost_per_10k, r.duplicated_per_10k,
      pct(r.availability), r.latency_p50, r.latency_p99, r.throughput_rel,
      r.claim and (r.claim.loss .. ", " .. r.claim.throughput) or "")
  end
  return concat(L, "\n") .. "\n"
end

local function esc(s) return (s:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")) end

--- The matrix as an SVG chart (no dependency): durability (runs without a
-- lost acknowledged record, with its 95% interval) against throughput
-- relative to acks=1, each configuration a labelled point with its run count.
function Result:svg()
  local W, H, L, R, T, B = 760, 520, 70, 250, 40, 60
  local pw, ph = W - L - R, H - T - B
  local xmax = 0
  for _, r in ipairs(self.rows) do if r.throughput_rel > xmax then xmax = r.throughput_rel end end
  xmax = math.max(1.2, math.ceil(xmax * 12) / 10)
  local function X(v) return L + pw * v / xmax end
  local function Y(v) return T + ph * (1 - v) end
  local o = {}
  local function w(...) o[#o + 1] = fmt(...) end
  w('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
    .. 'font-family="sans-serif" font-size="12">', W, H, W, H)
  w('<rect width="%d" height="%d" fill="white"/>', W, H)
  w('<text x="%d" y="22" font-size="15" font-weight="bold">%s (%s, %d runs a row)</text>',
    L, "Durability against throughput, measured", esc(self.profile), self.runs)
  -- quadrants: throughput of acks=1, half the runs losing
  w('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#bbb" stroke-dasharray="4 4"/>', X(1), T, X(1), T + ph)
  w('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#bbb" stroke-dasharray="4 4"/>', L, Y(0.5), L + pw, Y(0.5))
  w('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>', L, T, pw, ph)
  for i = 0, 10, 2 do
    local v = i / 10
    w('<text x="%d" y="%.1f" text-anchor="end">%d%%</text>', L - 6, Y(v) + 4, i * 10)
  end
  local step = xmax > 3 and 1 or 0.2
  local v = 0
  while v <= xmax + 1e-9 do
    w('<text x="%.1f" y="%d" text-anchor="middle">%.1f</text>', X(v), T + ph + 16, v)
    v = v + step
  end
  w('<text x="%.1f" y="%d" text-anchor="middle">throughput relative to acks=1 (5,000 records, 5 in flight)</text>',
    L + pw / 2, H - 18)
  w('<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">%s</text>',
    T + ph / 2, "runs without a lost acknowledged record")
  local colors = { "#d62728", "#ff7f0e", "#bcbd22", "#2ca02c", "#1f77b4", "#9467bd", "#17becf" }
  for i, r in ipairs(self.rows) do
    local col = colors[(i - 1) % #colors + 1]
    local x, y = X(r.throughput_rel), Y(1 - r.p_loss)
    w('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>',
      x, Y(1 - r.p_loss_high), x, Y(1 - r.p_loss_low), col)
    w('<circle cx="%.1f" cy="%.1f" r="5" fill="%s"><title>%s</title></circle>', x, y, col, esc(r.name))
    w('<text x="%.1f" y="%.1f" fill="%s">%d</text>', x + 7, y - 4, col, i)
    w('<text x="%d" y="%d" fill="%s">%d. %s</text>', L + pw + 16, T + 10 + (i - 1) * 34, col, i, esc(r.name))
    w('<text x="%d" y="%d" fill="#444">   %s lose, n=%d, avail. %s</text>', L + pw + 16, T + 24 + (i - 1) * 34,
      pct(r.p_loss), r.runs, pct(r.availability))
  end
  w('</svg>')
  return concat(o, "\n") .. "\n"
end

function Result.__tostring(m)
  local parts = {}
  for _, r in ipairs(m.rows) do parts[#parts + 1] = fmt("%s: %s lose", r.name, pct(r.p_loss)) end
  return fmt("matrix (%s, %d runs a row): %s", m.profile, m.runs, concat(parts, "; "))
end

--- Measures the matrix.
-- @tparam table opts `profile` ("lan"), `runs` (300 fault schedules a row),
-- `seed` (1), `jobs` (1), `progress`, `shrink` (true: each row's first loss
-- shrunk, with its replay script), `rows` (default M.rows)
-- @return the matrix: `rows`, `markdown()`, `svg()`
function M.matrix(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("matrix: opts: expected table, got " .. type(opts), 2) end
  for k in pairs(opts) do
    if not OPTS[k] then error(fmt("matrix: unknown option '%s'", tostring(k)), 2) end
  end
  local profile = opts.profile or "lan"
  if type(profile) ~= "string" or not cluster.profiles[profile] then
    bad("profile", fmt("expected one of lan, datacenter, cross_az, overloaded, got %s", tostring(profile)))
  end
  local runs = opts.runs or 300
  if type(runs) ~= "number" or runs ~= floor(runs) or runs < 1 then bad("runs", "expected an integer >= 1") end
  local seed = opts.seed or 1
  if type(seed) ~= "number" or seed ~= floor(seed) then bad("seed", "expected integer") end
  local rows = opts.rows or M.rows
  if type(rows) ~= "table" or #rows == 0 then bad("rows", "expected a non-empty list of rows") end
  local out = {}
  for i, row in ipairs(rows) do
    local r = explore.explore{
      cluster = { brokers = 3, profile = profile }, topic = topic(row),
      producer = producer_conf(row), invariants = { "lost" },
      runs = runs, seed = seed, jobs = opts.jobs, progress = opts.progress,
      shrink = opts.shrink ~= false, max_shrinks = 100 }
    local quiet = explore.explore{
      cluster = { brokers = 3, profile = profile }, topic = topic(row),
      producer = producer_conf(row), max_faults = 0, runs = 10, seed = seed, progress = false }
    local lo, hi = wilson(r.losing, r.runs)
    local acked = math.max(1, r.acked)
    out[i] = {
      name = row.name, acks = row.acks, rf = row.rf, min_insync_replicas = row.min_isr,
      idempotence = row.idempotence or false, claim = row.claim,
      runs = r.runs, losing = r.losing, p_loss = r.losing / r.runs, p_loss_low = lo, p_loss_high = hi,
      lost_per_10k = r.lost_records / acked * 10000, duplicated_per_10k = r.duplicated_records / acked * 10000,
      availability = availability(row, profile, seed),
      latency_p50 = quiet.latency_ms.p50 or 0, latency_p99 = quiet.latency_ms.p99 or 0,
      throughput = throughput(row, profile, seed),
      counterexample = r.shrunk and r.shrunk.schedule, script = r.shrunk and r:script(),
    }
  end
  local base
  for _, r in ipairs(out) do if r.acks == "1" and r.rf == 3 then base = r.throughput end end
  base = base or out[1].throughput
  for _, r in ipairs(out) do r.throughput_rel = r.throughput / base end
  return setmetatable({ rows = out, profile = profile, runs = runs, seed = seed }, Result)
end

return M
