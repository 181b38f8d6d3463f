--- One partition of a scenario as an SVG timeline, drawn from its trace and
-- audit without any dependency: one lane per replica with its log end
-- offset (LEO) and high watermark (HW) over virtual time, leadership and
-- ISR membership as bands, down time shaded, faults as markers; above the
-- lanes, the producers' acknowledgements and the acknowledged records the
-- audit found lost.
--
--     local timeline = require "insync.timeline"
--     local svg = timeline.svg(c:trace(), c:audit(), { topic = "orders", partition = 0 })
--
-- or `c:timeline_svg{...}` on a cluster made with `trace = true`.  Every
-- mark is a `<g class="mark KIND">` (crash, restart, shutdown, pause,
-- resume, election, truncate, ack, error, lost), so a script can count
-- them.  Same trace, same bytes.  See docs/pictures.md.
-- @module insync.timeline

local P = require "insync.picture"

local M = {}

local FN = "timeline_svg"

local KNOWN = {
  topic = P.string_opt, partition = P.int_opt(0), from = P.int_opt(0), to = P.int_opt(0),
  width = P.int_opt(400, 10000), title = P.string_opt,
}

local function xml(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                          ['"'] = "&quot;", ["'"] = "&apos;" }))
end

-- Numbers printed with one decimal at most: same doubles, same bytes.
local function n(v)
  local s = ("%.1f"):format(v)
  s = s:gsub("%.0$", "")
  if s == "-0" then s = "0" end
  return s
end

local COLOR = {
  leader = "#f59e0b", isr = "#10b981", down = "#9ca3af", leo = "#2563eb", hw = "#059669",
  crash = "#dc2626", restart = "#16a34a", shutdown = "#6b7280", pause = "#7c3aed",
  election = "#f59e0b", truncate = "#ea580c", ack = "#16a34a", error = "#d97706", lost = "#dc2626",
}

local ELECTIONS = { election = "election", unclean_election = "UNCLEAN election",
                    elr_election = "election from the ELR", preferred_election = "preferred election" }

--- The SVG timeline of one partition.
-- @tparam table trace the events, as `c:trace()` returns them
-- @tparam[opt] table audit as `c:audit()` returns it: its `lost` records are marked
-- @tparam[opt] table opts `topic` and `partition` (default: the first
-- partition with a lost record, else the first in the trace), `from`,
-- `to` (virtual ms; default: the partition's first and last event),
-- `width` (1200 pixels), `title`
-- @treturn string the SVG document
function M.svg(trace, audit, opts)
  trace, audit = P.check_inputs(FN, trace, audit)
  opts = P.check_opts(FN, opts, KNOWN)
  if opts.from and opts.to and opts.to <= opts.from then
    P.fail(FN, ("to: expected more than from (%d), got %d"):format(opts.from, opts.to))
  end
  local popts = { topic = opts.topic, partitions = opts.partition and { opts.partition } }
  local chosen = P.choose_partitions(FN, trace, audit, popts)
  local k = chosen[1]
  if k == nil then P.fail(FN, "trace: no partition in it (was the cluster made with trace = true?)") end
  local width = opts.width or 1200

  -- The replicas, and the span of time the partition was busy.
  local replica, t_first, t_last = {}, nil, 0
  for i = 1, #trace do
    local e = trace[i]
    if P.key(e) == k then
      if type(e.node) == "number" then replica[e.node] = true end
      if e.event == "fetch" then replica[e.follower] = true end
      if (e.event == "isr_shrink" or e.event == "isr_expand") then
        for _, b in ipairs(P.members(e.isr)) do replica[b] = true end
        for _, b in ipairs(P.members(e.removed or e.added)) do replica[b] = true end
      end
      if ELECTIONS[e.event] and e.leader > 0 then replica[e.leader] = true end
      t_first = t_first or e.t
      if e.event ~= "fetch" or i == 1 then t_last = e.t end
    end
  end
  local brokers = {}
  for b in pairs(replica) do brokers[#brokers + 1] = b end
  table.sort(brokers)
  local t0 = opts.from or 0
  local t1 = opts.to or math.max(t_last + math.max(1, math.floor((t_last - (t_first or 0)) / 20)), t0 + 1)

  -- State as the trace tells it, as steps and intervals.
  local leo, hw, down, lead, isr, marks = {}, {}, {}, {}, {}, {}
  for _, b in ipairs(brokers) do
    leo[b] = { { 0, 0 } }; hw[b] = { { 0, 0 } }; down[b] = {}; lead[b] = {}; isr[b] = {}
  end
  local down_since, lead_since, isr_since = {}, {}, {}
  local cur_isr = {}
  for _, b in ipairs(brokers) do cur_isr[b] = true; isr_since[b] = 0 end
  local function mark(kind, t, b, text) marks[#marks + 1] = { kind = kind, t = t, b = b, text = text } end
  local lost = P.by_partition(audit.lost)[k] or {}
  local ack_t, lost_t = {}, {}   -- per lost record: when acknowledged, when lost
  local cur_leo = {}
  local pending = {}
  local leader

  for i = 1, #trace do
    local e = trace[i]
    local ev, b = e.event, e.node
    local mine = P.key(e) == k
    if mine and (ev == "append") then
      cur_leo[b] = e.offset + e.count
      table.insert(leo[b], { e.t, cur_leo[b] })
    elseif mine and ev == "truncate" then
      cur_leo[b] = e.to
      table.insert(leo[b], { e.t, e.to })
      mark("truncate", e.t, b, ("Broker %d truncates to offset %d"):format(b, e.to))
      if b == leader then   -- the leader itself lost them (a power loss)
        for _, r in ipairs(lost) do
          if ack_t[r] and not lost_t[r] and r.offset >= e.to and r.offset < e.from then
            lost_t[r] = { e.t, b }
          end
        end
      end
    elseif mine and ev == "leader" then
      cur_leo[b] = e.leo
      table.insert(leo[b], { e.t, e.leo })
    elseif mine and ev == "hw" then
      table.insert(hw[b], { e.t, e.hw })
    elseif mine and ELECTIONS[ev] then
      if leader and lead_since[leader] then
        table.insert(lead[leader], { lead_since[leader], e.t }); lead_since[leader] = nil
      end
      leader = e.leader > 0 and e.leader or nil
      if leader then lead_since[leader] = e.t end
      mark("election", e.t, leader, ("%s: Broker %s leads, epoch %d"):format(ELECTIONS[ev],
        leader or "none", e.epoch))
      if leader then
        local l = cur_leo[leader] or 0
        for _, r in ipairs(lost) do
          if ack_t[r] and not lost_t[r] and r.offset >= l then lost_t[r] = { e.t, leader } end
        end
      end
    elseif mine and (ev == "isr_shrink" or ev == "isr_expand") then
      local now = {}
      for _, m in ipairs(P.members(e.isr)) do now[m] = true end
      for _, x in ipairs(brokers) do
        if cur_isr[x] and not now[x] then table.insert(isr[x], { isr_since[x], e.t }) end
        if now[x] and not cur_isr[x] then isr_since[x] = e.t end
      end
      cur_isr = now
    elseif mine and ev == "request" then
      if e.acks ~= 0 then
        local q = pending[b] or {}
        pending[b] = q
        q[#q + 1] = e.count
      end
    elseif mine and ev == "response" then
      local q = pending[b] or {}
      local count = table.remove(q, 1) or 1
      if e.error == 0 then
        mark("ack", e.t, nil, ("%s: offset %s acknowledged"):format(b, P.range(e.offset, count)))
        for _, r in ipairs(lost) do
          if not lost_t[r] and r.offset >= e.offset and r.offset < e.offset + count then ack_t[r] = e.t end
        end
      else
        mark("error", e.t, nil, ("%s: %s"):format(b, P.err_name(e.error)))
      end
    elseif mine and ev == "timeout" then
      table.remove(pending[b] or {}, 1)
    elseif replica[b] and P.key(e) == nil and (ev == "crash" or ev == "restart"
           or ev == "pause" or ev == "resume" or (ev == "shutdown")) then
      if ev == "crash" or ev == "pause" or (ev == "shutdown" and e.stopped == 1) then
        down_since[b] = down_since[b] or e.t
      elseif (ev == "restart" or ev == "resume") and down_since[b] then
        table.insert(down[b], { down_since[b], e.t }); down_since[b] = nil
      end
      local words = {
        crash = e.lose_unflushed == 1 and "crashes, losing unflushed writes" or "crashes",
        restart = "restarts", pause = "hangs (paused)", resume = "resumes",
        shutdown = e.stopped == 1 and "stops (controlled shutdown)" or "begins a controlled shutdown",
      }
      mark(ev, e.t, b, ("Broker %d %s"):format(b, words[ev]))
    end
  end
  local t_end = math.max(t1, trace[#trace] and trace[#trace].t or 0)
  for _, b in ipairs(brokers) do
    if down_since[b] then table.insert(down[b], { down_since[b], t_end }) end
    if lead_since[b] then table.insert(lead[b], { lead_since[b], t_end }) end
    if cur_isr[b] then table.insert(isr[b], { isr_since[b], t_end }) end
  end
  for _, r in ipairs(lost) do
    mark("lost", ack_t[r] or t1, nil, ("offset %d%s acknowledged, then lost%s"):format(r.offset,
      r.key ~= nil and (" (key " .. tostring(r.key) .. ")") or "",
      lost_t[r] and (" on Broker %d at t=%d"):format(lost_t[r][2], lost_t[r][1]) or ""))
  end

  -- Geometry.
  local L, R, TOP, ACK_H, LANE_H, GAP = 110, 20, 44, 44, 110, 12
  local W = width - L - R
  local lanes_top = TOP + ACK_H + GAP
  local height = lanes_top + #brokers * (LANE_H + GAP) + 30 + 46
  local max_off = 1
  for _, b in ipairs(brokers) do
    for _, s in ipairs(leo[b]) do if s[2] > max_off then max_off = s[2] end end
    for _, s in ipairs(hw[b]) do if s[2] > max_off then max_off = s[2] end end
  end
  local function x(t)
    if t < t0 then t = t0 elseif t > t1 then t = t1 end
    return L + (t - t0) * W / (t1 - t0)
  end
  local function visible(t) return t >= t0 and t <= t1 end
  local lane_y = {}
  for i, b in ipairs(brokers) do lane_y[b] = lanes_top + (i - 1) * (LANE_H + GAP) end
  local PLOT_TOP, PLOT_H = 26, LANE_H - 32
  local function y(b, off) return lane_y[b] + PLOT_TOP + PLOT_H - off * PLOT_H / max_off end

  local out = {}
  local function w(...) out[#out + 1] = table.concat({ ... }) end
  local title = opts.title or (("%s: replicas over virtual time, t=%d..%d ms%s"):format(k, t0, t1,
    #lost > 0 and (", %d acknowledged record%s lost"):format(#lost, #lost == 1 and "" or "s") or ""))
  w('<?xml version="1.0" encoding="UTF-8"?>')
  w('<svg xmlns="http://www.w3.org/2000/svg" width="', n(width), '" height="', n(height),
    '" viewBox="0 0 ', n(width), ' ', n(height), '" font-family="sans-serif" font-size="12">')
  w('<title>', xml(title), '</title>')
  w('<rect x="0" y="0" width="', n(width), '" height="', n(height), '" fill="#ffffff"/>')
  w('<text x="', n(L), '" y="22" font-size="15" font-weight="bold">', xml(title), '</text>')

  -- The acknowledgement lane.
  w('<g class="lane acks">')
  w('<rect x="', n(L), '" y="', n(TOP), '" width="', n(W), '" height="', n(ACK_H),
    '" fill="#f9fafb" stroke="#d1d5db"/>')
  w('<text x="8" y="', n(TOP + ACK_H / 2 + 4), '">producers</text>')
  w('</g>')

  -- The broker lanes: bands, LEO and HW.
  for _, b in ipairs(brokers) do
    local y0 = lane_y[b]
    w('<g class="lane broker" id="broker-', b, '">')
    w('<rect x="', n(L), '" y="', n(y0), '" width="', n(W), '" height="', n(LANE_H),
      '" fill="#ffffff" stroke="#d1d5db"/>')
    w('<text x="8" y="', n(y0 + LANE_H / 2), '" font-weight="bold">Broker ', b, '</text>')
    for _, iv in ipairs(down[b]) do
      if iv[2] >= t0 and iv[1] <= t1 then
        w('<rect class="band down" x="', n(x(iv[1])), '" y="', n(y0), '" width="',
          n(math.max(1, x(iv[2]) - x(iv[1]))), '" height="', n(LANE_H), '" fill="', COLOR.down,
          '" fill-opacity="0.35"><title>down t=', iv[1], '..', iv[2], '</title></rect>')
      end
    end
    for row, set in ipairs{ { "leader", lead[b] }, { "isr", isr[b] } } do
      for _, iv in ipairs(set[2]) do
        if iv[2] >= t0 and iv[1] <= t1 then
          w('<rect class="band ', set[1], '" x="', n(x(iv[1])), '" y="', n(y0 + 3 + (row - 1) * 10),
            '" width="', n(math.max(1, x(iv[2]) - x(iv[1]))), '" height="8" fill="',
            COLOR[set[1]], '"><title>', set[1] == "leader" and "leader" or "in the ISR", ' t=',
            iv[1], '..', iv[2], '</title></rect>')
        end
      end
    end
    for _, line in ipairs{ { "leo", leo[b], "" }, { "hw", hw[b], ' stroke-dasharray="5 3"' } } do
      local steps = line[2]
      local d = { "M", n(x(t0)), " ", n(y(b, 0)) }
      local last = 0
      for _, s in ipairs(steps) do
        if s[1] <= t1 then
          d[#d + 1] = " H" .. n(x(s[1])) .. " V" .. n(y(b, s[2]))
          last = s[2]
        end
      end
      d[#d + 1] = " H" .. n(x(t1))
      w('<path class="', line[1], '" d="', table.concat(d), '" fill="none" stroke="', COLOR[line[1]],
        '" stroke-width="2"', line[3], '><title>', line[1] == "leo" and "log end offset" or "high watermark",
        ', ', last, ' at the end</title></path>')
    end
    w('<text x="', n(L - 6), '" y="', n(y(b, max_off) + 4), '" text-anchor="end" fill="#6b7280">',
      max_off, '</text>')
    w('<text x="', n(L - 6), '" y="', n(y(b, 0) + 4), '" text-anchor="end" fill="#6b7280">0</text>')
    w('</g>')
  end

  -- A mark's shape centred on (px, py).
  local function shape(kind, px, py)
    local c = COLOR[kind]
    local cx, cy = n(px), n(py)
    if kind == "crash" then
      return ('<path d="M%s %s l12 12 M%s %s l-12 12" stroke="%s" stroke-width="3"/>')
        :format(n(px - 6), n(py - 6), n(px + 6), n(py - 6), c)
    elseif kind == "restart" or kind == "resume" then
      return ('<path d="M%s %s l6 10 h-12 z" fill="%s"/>'):format(cx, n(py - 5), c)
    elseif kind == "shutdown" or kind == "pause" then
      return ('<rect x="%s" y="%s" width="10" height="10" fill="%s"/>'):format(n(px - 5), n(py - 5), c)
    elseif kind == "election" then
      return ('<path d="M%s %s l7 7 l-7 7 l-7 -7 z" fill="%s" stroke="#92400e"/>'):format(cx, n(py - 7), c)
    elseif kind == "truncate" then
      return ('<path d="M%s %s l6 -10 h-12 z" fill="%s"/>'):format(cx, n(py + 5), c)
    elseif kind == "ack" or kind == "error" then
      return ('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>')
        :format(cx, n(py - 10), cx, n(py + 10), c)
    end
    return ('<circle cx="%s" cy="%s" r="7" fill="none" stroke="%s" stroke-width="3"/>'):format(cx, cy, c)
  end

  -- The marks, in trace order.
  for _, m in ipairs(marks) do
    if visible(m.t) then
      local cy
      if m.b and lane_y[m.b] then cy = lane_y[m.b] + LANE_H - 10
      elseif m.kind == "election" then cy = lanes_top - GAP / 2
      else cy = TOP + ACK_H / 2 end
      local extra = m.kind == "lost" and ('<text x="%s" y="%s" fill="%s" font-weight="bold">lost</text>')
        :format(n(x(m.t) + 9), n(cy - 8), COLOR.lost) or ""
      w('<g class="mark ', m.kind, '" data-t="', m.t, '"><title>t=', m.t, ' ', xml(m.text), '</title>',
        shape(m.kind, x(m.t), cy), extra, '</g>')
    end
  end
  for _, r in ipairs(lost) do
    local at = lost_t[r]
    if at and visible(at[1]) and lane_y[at[2]] then
      w('<line class="loss" x1="', n(x(at[1])), '" y1="', n(TOP), '" x2="', n(x(at[1])), '" y2="',
        n(lane_y[at[2]] + LANE_H), '" stroke="', COLOR.lost, '" stroke-dasharray="2 3"/>')
    end
  end

  -- The time axis.
  local axis_y = lanes_top + #brokers * (LANE_H + GAP)
  w('<g class="axis">')
  w('<line x1="', n(L), '" y1="', n(axis_y), '" x2="', n(L + W), '" y2="', n(axis_y), '" stroke="#374151"/>')
  local span = t1 - t0
  local step = 1
  while span / step > 10 do
    if span / (step * 2) <= 10 then step = step * 2
    elseif span / (step * 5) <= 10 then step = step * 5
    else step = step * 10 end
  end
  local first_tick = t0 + (step - t0 % step) % step
  for t = first_tick, t1, step do
    w('<line x1="', n(x(t)), '" y1="', n(axis_y), '" x2="', n(x(t)), '" y2="', n(axis_y + 5),
      '" stroke="#374151"/>')
    w('<text x="', n(x(t)), '" y="', n(axis_y + 18), '" text-anchor="middle">', t, '</text>')
  end
  w('<text x="', n(L + W), '" y="', n(axis_y + 30), '" text-anchor="end" fill="#6b7280">virtual ms</text>')
  w('</g>')

  -- The legend.
  local ly = axis_y + 46
  w('<g class="legend">')
  local lx = L
  local function label(text)
    w('<text x="', n(lx), '" y="', n(ly + 4), '">', xml(text), '</text>')
    lx = lx + 20 + 7 * #text
  end
  for _, it in ipairs{ { "leader", "leader" }, { "isr", "in the ISR" }, { "down", "down" } } do
    w('<rect x="', n(lx), '" y="', n(ly - 5), '" width="14" height="10" fill="', COLOR[it[1]], '"',
      it[1] == "down" and ' fill-opacity="0.35"' or "", '/>')
    lx = lx + 18
    label(it[2])
  end
  for _, it in ipairs{ { "leo", "LEO", "" }, { "hw", "HW", ' stroke-dasharray="5 3"' } } do
    w('<line x1="', n(lx), '" y1="', n(ly), '" x2="', n(lx + 16), '" y2="', n(ly), '" stroke="',
      COLOR[it[1]], '" stroke-width="2"', it[3], '/>')
    lx = lx + 20
    label(it[2])
  end
  for _, it in ipairs{ { "crash", "crash" }, { "restart", "restart" }, { "shutdown", "shutdown" },
                       { "pause", "pause" }, { "election", "election" }, { "truncate", "truncation" },
                       { "ack", "ack" }, { "error", "error" }, { "lost", "lost" } } do
    w(shape(it[1], lx + 6, ly))
    lx = lx + 16
    label(it[2])
  end
  w('</g>')
  w('</svg>')
  return table.concat(out, "\n") .. "\n"
end

return M
