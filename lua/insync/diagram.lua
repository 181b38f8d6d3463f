--- A scenario as a Mermaid sequence diagram, drawn from its trace and
-- audit: the producers, the leader and the followers as participants;
-- produce requests and responses with acks and error names; replication
-- (the fetches that carry records, and those that confirm them to the
-- leader); HW advances, ISR changes, crashes, restarts, elections and
-- truncations as notes; the acknowledged records the audit found lost, and
-- the extra copies it found duplicated, marked where it happened.
--
--     local diagram = require "insync.diagram"
--     local text = diagram.sequence(c:trace(), c:audit(), { from = 0, to = 20000 })
--
-- or `c:diagram{...}` on a cluster made with `trace = true`.  See
-- docs/pictures.md.
-- @module insync.diagram

local P = require "insync.picture"

local M = {}

local FN = "diagram"
local KEEP = 4          -- routine lines kept at each end of a folded run

local KNOWN = {
  from = P.int_opt(0), to = P.int_opt(0),
  topic = P.string_opt, partitions = P.partitions_opt, records = P.records_opt,
  max_lines = P.int_opt(20), fold = P.bool_opt, title = P.string_opt,
}

-- User data (keys, values, titles) made safe for a Mermaid label: no
-- ';', '#', '<', '>', newlines or quotes, at most `max` characters.
local function safe(s, max)
  s = tostring(s):gsub("[^%w%-%._/=:@,%+%(%) ]", "?")
  max = max or 24
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

-- Offsets as compact ranges: "0..4, 7".
local function ranges(offsets)
  table.sort(offsets)
  local parts, i = {}, 1
  while i <= #offsets do
    local j = i
    while j < #offsets and offsets[j + 1] <= offsets[j] + 1 do j = j + 1 end
    parts[#parts + 1] = offsets[i] == offsets[j] and tostring(offsets[i])
      or ("%d..%d"):format(offsets[i], offsets[j])
    i = j + 1
  end
  return table.concat(parts, ", ")
end

local function record_words(list)
  if #list == 1 then
    local r = list[1]
    local who = r.key ~= nil and (" key=" .. safe(r.key)) or
                (r.value ~= nil and (" value=" .. safe(r.value)) or "")
    return ("offset %d%s%s"):format(r.offset, who, r.acks and (" acks=" .. (r.acks == -1 and "all" or r.acks)) or "")
  end
  local offs = {}
  for i, r in ipairs(list) do offs[i] = r.offset end
  return ("%d records, offsets %s"):format(#list, ranges(offs))
end

local function acks_word(a)
  if a == nil then return nil end
  return a == -1 and "all" or tostring(a)
end

local function set_list(mask)
  return "{" .. table.concat(P.members(mask), ",") .. "}"
end

local function plural(n, one, many)
  return ("%d %s"):format(n, n == 1 and one or (many or one .. "s"))
end

--- The Mermaid `sequenceDiagram` text of a scenario.
-- @tparam table trace the events, as `c:trace()` returns them (or read
-- back from `c:trace_json`)
-- @tparam[opt] table audit as `c:audit()` returns it: its `lost` and
-- `duplicated` records are marked
-- @tparam[opt] table opts `from`, `to` (virtual ms, inclusive), `topic`,
-- `partitions` (a number or a list; default: the partitions with lost or
-- duplicated records, else all), `records` (offsets or audit records of
-- one partition: only what carries them, and every fault, is drawn),
-- `max_lines` (200), `fold` (true: empty fetches and follower HW updates
-- left out, long routine runs summarised), `title`
-- @treturn string the diagram, ending in a newline
function M.sequence(trace, audit, opts)
  trace, audit = P.check_inputs(FN, trace, audit)
  opts = P.check_opts(FN, opts, KNOWN)
  if opts.from and opts.to and opts.to < opts.from then
    P.fail(FN, ("to: expected at least from (%d), got %d"):format(opts.from, opts.to))
  end
  if #trace == 0 then P.fail(FN, "trace: empty (was the cluster made with trace = true?)") end
  local chosen, want, all = P.choose_partitions(FN, trace, audit, opts)
  if opts.records and #chosen ~= 1 then
    P.fail(FN, "records: offsets of one partition: choose it with topic and partitions")
  end
  local max_lines = opts.max_lines or 200
  local fold = opts.fold ~= false
  local multi = #chosen > 1
  local nb = P.brokers(trace)

  -- The brokers that hold a replica of a chosen partition.
  local replica = {}
  for i = 1, #trace do
    local e = trace[i]
    local k = P.key(e)
    if k and want[k] then
      if e.event == "leader" or e.event == "follower" or e.event == "append"
         or e.event == "truncate" or e.event == "hw" then
        if type(e.node) == "number" then replica[e.node] = true end
      end
      if e.event == "isr_shrink" or e.event == "isr_expand" then
        for _, b in ipairs(P.members(e.isr)) do replica[b] = true end
        for _, b in ipairs(P.members(e.removed or e.added)) do replica[b] = true end
      end
    end
  end
  if next(replica) == nil then for b = 1, nb do replica[b] = true end end

  local items = {}           -- { t, line, routine, cat, lo, hi, ... }
  local used_p, used_b = {}, {}
  local left = { fetch = 0, hw = 0, callback = 0, control = 0, other = 0,
                 window = 0, partition = 0 }

  local function pid(node) used_p[node] = true; return "P" .. node:match("(%d+)$") end
  local function bid(b) used_b[b] = true; return "B" .. b end
  local function where(k) return multi and (" " .. k) or "" end
  local function add(it)
    items[#items + 1] = it
    return it
  end
  local function note_all(t, text, routine, cat)
    return add{ t = t, note_all = true, text = text, routine = routine, cat = cat }
  end

  -- Per partition state, as the trace tells it.
  local role, follows, leo, lastfetch, pending, leader_hw = {}, {}, {}, {}, {}, {}
  local function st(tbl, k) tbl[k] = tbl[k] or {}; return tbl[k] end

  local lost = P.by_partition(audit.lost)
  local dups = P.by_partition(audit.duplicated)
  local lost_state = {}       -- record -> { ack = item, placed = bool }
  local dup_item = {}         -- record -> the leader append item that wrote it

  -- Marks the acknowledged records of partition k from offset `from` (up
  -- to `to`, exclusive) that the audit found lost, where it happened:
  -- @a why says how.
  local function place_lost(e, k, b, from, to, why)
    local hit = {}
    for _, r in ipairs(lost[k] or {}) do
      local s = lost_state[r]
      if s and s.ack and not s.placed and r.offset >= from and (not to or r.offset < to) then
        s.placed = true
        hit[#hit + 1] = r
      end
    end
    if #hit > 0 then
      add{ t = e.t, over = bid(b), lost = true,
           text = ("LOST %s: acknowledged, but %s%s"):format(record_words(hit), why, where(k)) }
    end
  end
  local cur_leader = {}       -- partition -> the leader the controller elected last

  local drop_seen = {}        -- "from>to:type" -> the item of the first such drop
  -- An error, retry or timeout a producer already met since the last
  -- fault, election or ISR change is routine: a storm of them folds.
  local met = {}
  local function again(node, what)
    local key = node .. " " .. what
    if met[key] then return true end
    met[key] = true
    return false
  end
  local STORM = { response = true, retry = true, timeout = true, delivery = true, drop = true,
                  request = true, append = true, fetch = true, hw = true }

  for i = 1, #trace do
    local e = trace[i]
    local ev, k = e.event, P.key(e)
    local node = e.node
    if k and not want[k] then
      left.partition = left.partition + 1
    elseif k == nil and type(node) == "number" and not replica[node] then
      left.partition = left.partition + 1
    elseif ev == "request" then
      local it = add{ t = e.t, from = pid(node), to = bid(e.to), routine = true, cat = "request",
                      count = e.count, acks = e.acks, k = k,
                      text = ("Produce acks=%s, %s%s"):format(acks_word(e.acks) or "?",
                        plural(e.count, "record"), where(k)) }
      if e.acks ~= 0 then table.insert(st(pending, node .. " " .. k), it) end
    elseif ev == "response" then
      local q = st(pending, node .. " " .. k)
      local req = table.remove(q, 1)
      local count = req and req.count or 1
      local it
      if e.error == 0 then
        it = { t = e.t, cat = "response", routine = true, req = req,
               lo = e.offset, hi = e.offset + count,
               text = ("OK, offset %s%s"):format(P.range(e.offset, count), where(k)) }
        for _, r in ipairs(lost[k] or {}) do
          local s = lost_state[r] or {}
          lost_state[r] = s
          if not s.placed and r.offset >= e.offset and r.offset < e.offset + count then s.ack = it end
        end
      else
        local name = P.err_name(e.error)
        it = { t = e.t, cat = "error " .. name, req = req, routine = again(node, name),
               text = ("%s%s"):format(name, where(k)) }
      end
      if req then
        it.from, it.to, it.reply = req.to, pid(node), true
        req.resp = it
      else
        it.over = pid(node)
        it.text = "response: " .. it.text
      end
      add(it)
    elseif ev == "append" then
      local b = node
      st(leo, k)[b] = e.offset + e.count
      if st(role, k)[b] == "leader" then
        local it = add{ t = e.t, from = bid(b), to = bid(b), routine = true, cat = "append",
                        lo = e.offset, hi = e.offset + e.count,
                        text = ("append offset %s%s"):format(P.range(e.offset, e.count), where(k)) }
        for _, r in ipairs(dups[k] or {}) do
          if r.offset >= e.offset and r.offset < e.offset + e.count then dup_item[r] = it end
        end
      else
        local l = st(follows, k)[b]
        add{ t = e.t, from = l and bid(l) or bid(b), to = bid(b), routine = true, cat = "replicate",
             lo = e.offset, hi = e.offset + e.count,
             text = ("%s %s (fetch response)%s"):format(e.count == 1 and "record" or "records",
               P.range(e.offset, e.count), where(k)) }
      end
    elseif ev == "fetch" then
      local lf = st(lastfetch, k)
      local last = lf[e.follower]
      lf[e.follower] = e.offset
      if (last == nil and e.offset > 0) or (last ~= nil and e.offset ~= last) then
        add{ t = e.t, from = bid(e.follower), to = bid(node), routine = true, cat = "fetch",
             lo = last or 0, hi = e.offset,
             text = ("Fetch from offset %d%s"):format(e.offset, where(k)) }
      else
        left.fetch = left.fetch + 1
      end
    elseif ev == "hw" then
      if st(role, k)[node] == "leader" then
        local h = st(leader_hw, k)
        add{ t = e.t, over = bid(node), routine = true, cat = "hw",
             lo = h[node] or 0, hi = e.hw,
             text = ("HW %d%s"):format(e.hw, where(k)) }
        h[node] = e.hw
      else
        left.hw = left.hw + 1
      end
    elseif ev == "leader" then
      st(role, k)[node] = "leader"
      st(leo, k)[node] = e.leo
    elseif ev == "follower" then
      st(role, k)[node] = "follower"
      st(follows, k)[node] = e.leader
    elseif ev == "isr_shrink" or ev == "isr_expand" then
      local who = P.members(ev == "isr_shrink" and e.removed or e.added)
      note_all(e.t, ("ISR %s: %s %s, ISR %s%s"):format(
        ev == "isr_shrink" and "shrinks" or "expands",
        plural(#who, "Broker", "Brokers"):gsub("^%d+ ", "") .. " " .. table.concat(who, ","),
        ev == "isr_shrink" and "out" or "back in", set_list(e.isr), where(k)))
    elseif ev == "elr" then
      note_all(e.t, ("ELR %s, ISR %s%s"):format(set_list(e.elr), set_list(e.isr), where(k)))
    elseif ev == "election" or ev == "unclean_election" or ev == "elr_election"
           or ev == "preferred_election" then
      local kind = ({ election = "election", unclean_election = "UNCLEAN election",
                      elr_election = "election from the ELR",
                      preferred_election = "preferred election" })[ev]
      if e.leader and e.leader > 0 then
        add{ t = e.t, over = bid(e.leader),
             text = ("%s: Broker %d leads, epoch %d%s"):format(kind, e.leader, e.epoch, where(k)) }
        lastfetch[k] = {}
        cur_leader[k] = e.leader
        local l = st(leo, k)[e.leader] or 0
        place_lost(e, k, e.leader, l, nil, ("new leader Broker %d's log ends at offset %d"):format(e.leader, l))
      else
        cur_leader[k] = nil
      note_all(e.t, ("%s: no leader, the partition is offline%s"):format(kind, where(k)))
      end
    elseif ev == "truncate" then
      st(leo, k)[node] = e.to
      add{ t = e.t, over = bid(node),
           text = ("truncates offsets %d..%d (log end %d to %d)%s"):format(e.to, e.from - 1, e.from,
             e.to, where(k)) }
      if cur_leader[k] == node then     -- the leader itself lost them (a power loss)
        place_lost(e, k, node, e.to, e.from, ("the leader Broker %d's log lost them"):format(node))
      end
    elseif ev == "retry" then
      add{ t = e.t, over = pid(node), routine = again(node, "retry " .. e.error), cat = "retry",
           text = ("retry %d after %s%s"):format(e.attempt, P.err_name(e.error), where(k)) }
    elseif ev == "timeout" then
      local q = st(pending, node .. " " .. k)
      for j, r in ipairs(q) do
        if r.to == "B" .. e.broker then table.remove(q, j); break end
      end
      add{ t = e.t, over = pid(node), routine = again(node, "timeout " .. e.broker), cat = "timeout",
           text = ("request to Broker %d timed out%s"):format(e.broker, where(k)) }
    elseif ev == "delivery" then
      if e.error == 0 then
        left.callback = left.callback + 1
      else
        local last = items[#items]
        if last and last.delivery and last.t == e.t and last.err == e.error and last.over == pid(node) then
          last.n = last.n + 1
        else
          add{ t = e.t, over = pid(node), delivery = true, err = e.error, n = 1, k = k,
               cat = "failed callback", routine = again(node, "callback " .. e.error) }
        end
      end
    elseif ev == "drop" then
      local to = P.node_name(e.to, nb)
      local from = node
      local function who(x)
        if type(x) == "number" then return replica[x] and bid(x) end
        if type(x) == "string" and x:match("^producer%d+$") then return pid(x) end
      end
      local a, b = who(from), who(to)
      if a and b then
        local key = a .. ">" .. b .. ":" .. e.type
        local first = drop_seen[key]
        if first then
          first.n = first.n + 1
          first.t2 = e.t
        else
          drop_seen[key] = add{ t = e.t, from = a, to = b, drop = true, n = 1, type = e.type,
                                text_k = where(k) }
        end
      else
        left.control = left.control + 1
      end
    elseif ev == "crash" or ev == "restart" or ev == "shutdown" or ev == "pause"
           or ev == "resume" then
      local text = ({
        crash = e.lose_unflushed == 1 and "CRASH: Broker %d dies, losing what it had not flushed"
                or "CRASH: Broker %d dies",
        restart = "Broker %d restarts",
        shutdown = e.stopped == 1 and "Broker %d stops (controlled shutdown)"
                   or "Broker %d begins a controlled shutdown",
        pause = "Broker %d hangs (paused)", resume = "Broker %d resumes",
      })[ev]:format(node)
      add{ t = e.t, over = bid(node), text = text }
    elseif ev == "fence" or ev == "unfence" then
      if replica[e.broker] then
        add{ t = e.t, over = bid(e.broker),
             text = ("the controller %s Broker %d"):format(ev == "fence" and "fences" or "unfences", e.broker) }
      end
    elseif ev == "epoch_bump" then
      add{ t = e.t, over = pid(node),
           text = ("producer epoch %d: %s sent again from sequence 0"):format(e.epoch,
             plural(e.records, "record")) }
    else
      left.other = left.other + 1
    end
    if ev ~= "drop" and items[#items] and not items[#items].routine and not items[#items].drop then
      drop_seen = {}   -- a drop after something else happened is drawn again
    end
    if not STORM[ev] then met = {} end
  end

  -- Lost records no election explains: marked at the end.
  local last_t = #trace > 0 and trace[#trace].t or 0
  for _, k in ipairs(chosen) do
    local rest = {}
    for _, r in ipairs(lost[k] or {}) do
      local s = lost_state[r]
      if not (s and s.placed) then rest[#rest + 1] = r end
    end
    if #rest > 0 then
      note_all(last_t, ("LOST %s: acknowledged, not in the log at the end%s")
        :format(record_words(rest), where(k))).lost = true
    end
  end
  -- The acknowledgements of lost records, and the appends of extra copies.
  for _, s in pairs(lost_state) do
    if s.ack then s.ack.later_lost = (s.ack.later_lost or 0) + 1; s.ack.routine = false end
  end
  local dup_notes = {}
  for _, k in ipairs(chosen) do
    for _, r in ipairs(dups[k] or {}) do
      local it = dup_item[r]
      if it then
        it.routine = false
        dup_notes[it] = dup_notes[it] or {}
        table.insert(dup_notes[it], r)
      end
    end
  end
  -- A request belongs with its response: both drawn or neither.
  for _, it in ipairs(items) do
    if it.resp and not it.resp.routine then it.routine = false end
  end

  -- Selection: the window and the chosen records.
  local rec_list
  if opts.records then
    rec_list = {}
    for o in pairs(opts.records) do rec_list[#rec_list + 1] = o end
    table.sort(rec_list)
  end
  local function carries(it)
    if not it.lo then return true end
    for _, o in ipairs(rec_list) do
      if o >= it.lo and o < it.hi then return true end
    end
    return false
  end
  local keep = {}
  for _, it in ipairs(items) do
    local inside = (not opts.from or it.t >= opts.from) and (not opts.to or it.t <= opts.to)
    local ok = inside
    if ok and rec_list then
      if it.cat == "request" then ok = it.resp ~= nil and carries(it.resp)
      else ok = carries(it) end
    end
    if ok then keep[#keep + 1] = it
    elseif not inside then left.window = left.window + 1 end
  end

  -- Participants, in a fixed order: producers, then brokers.
  local parts = {}
  local plist, blist = {}, {}
  for p in pairs(used_p) do plist[#plist + 1] = tonumber(p:match("(%d+)$")) end
  for b in pairs(used_b) do blist[#blist + 1] = b end
  for b in pairs(replica) do if not used_b[b] then blist[#blist + 1] = b end end
  table.sort(plist); table.sort(blist)
  for _, n in ipairs(plist) do parts[#parts + 1] = ("participant P%d as producer%d"):format(n, n) end
  for _, b in ipairs(blist) do parts[#parts + 1] = ("participant B%d as Broker %d"):format(b, b) end
  local span = #blist == 0 and "P" .. (plist[1] or 1)
    or (#blist == 1 and "B" .. blist[1] or ("B%d,B%d"):format(blist[1], blist[#blist]))
  if #plist == 0 and #blist == 0 then
    parts[1] = "participant B1 as Broker 1"
    span = "B1"
  end

  local DROP = { "Produce", "Produce response", "Fetch", "Fetch response", "heartbeat",
                 "heartbeat response", "registration", "AlterPartition", "AlterPartition response",
                 "LeaderAndIsr", "Metadata request", "Metadata response" }

  local function render(it)
    local body
    if it.delivery then
      body = ("callback: %s %s"):format(it.n > 1 and (it.n .. " x") or "", P.err_name(it.err))
      body = body:gsub("  ", " ")
      return ("Note over %s: t=%d %s"):format(it.over, it.t, body)
    elseif it.drop then
      body = ("%s LOST in the network%s%s"):format(DROP[it.type] or ("message type " .. it.type),
        it.n > 1 and (", x" .. it.n .. " until t=" .. it.t2) or "", it.text_k)
      return ("%s-x%s: t=%d %s"):format(it.from, it.to, it.t, body)
    end
    body = it.text
    if it.reply and it.req and it.req.acks then body = body .. " (acks=" .. acks_word(it.req.acks) .. ")" end
    if it.later_lost then body = body .. (" - LATER LOST: %d of these"):format(it.later_lost) end
    if it.note_all then return ("Note over %s: t=%d %s"):format(span, it.t, body) end
    if it.over then return ("Note over %s: t=%d %s"):format(it.over, it.t, body) end
    return ("%s%s%s: t=%d %s"):format(it.from, it.reply and "-->>" or "->>", it.to, it.t, body)
  end

  -- A lost record's note on a red ground, an extra copy's on an orange one.
  local function lines_of(it)
    if it.lines then return it.lines end
    local out = { render(it) }
    if it.lost then out = { "rect rgb(254, 226, 226)", out[1], "end" } end
    for _, r in ipairs(dup_notes[it] or {}) do
      out[#out + 1] = "rect rgb(255, 237, 213)"
      out[#out + 1] = ("Note over %s: DUPLICATED: %s is an extra copy"):format(it.to, record_words{ r })
      out[#out + 1] = "end"
    end
    it.lines = out
    return out
  end

  local function summary(run, a, b)
    local n, cats, order = 0, {}, {}
    for i = a, b do
      local c = run[i].cat or "other"
      if not cats[c] then cats[c] = 0; order[#order + 1] = c end
      cats[c] = cats[c] + 1
      n = n + 1
    end
    local names = { request = { "produce request" }, response = { "OK response" },
                    append = { "leader append" }, replicate = { "replication fetch", "replication fetches" },
                    fetch = { "confirming fetch", "confirming fetches" }, hw = { "HW advance" },
                    retry = { "retry", "retries" }, timeout = { "request timeout" } }
    local words = {}
    for _, c in ipairs(order) do
      local nm = names[c] or { (c:gsub("^error ", "")) .. (c:match("^error ") and " response" or "") }
      words[#words + 1] = plural(cats[c], nm[1], nm[2])
    end
    return ("Note over %s: ... %d routine steps folded, t=%d..%d: %s"):format(span, n, run[a].t,
      run[b].t, table.concat(words, ", "))
  end

  -- The body as groups of lines (an item's lines stay together), and
  -- their number of lines.
  local function build(keep_n)
    local groups, n, run = {}, 0, {}
    local function put(g) groups[#groups + 1] = g; n = n + #g end
    local function put_item(it)
      local g = lines_of(it)
      g.mark = it.lost or it.later_lost ~= nil or dup_notes[it] ~= nil   -- kept past a cut
      put(g)
    end
    local function flush()
      if fold and #run > 2 * keep_n + 2 then
        for i = 1, keep_n do put_item(run[i]) end
        put{ summary(run, keep_n + 1, #run - keep_n) }
        for i = #run - keep_n + 1, #run do put_item(run[i]) end
      else
        for _, it in ipairs(run) do put_item(it) end
      end
      run = {}
    end
    for _, it in ipairs(keep) do
      if it.routine then run[#run + 1] = it
      else
        flush()
        put_item(it)
      end
    end
    flush()
    return groups, n
  end

  -- Within max_lines: fold harder (one routine line kept at each end of a
  -- run, then none), then cut the end.
  local groups, nlines = build(KEEP)
  if fold and nlines > max_lines - 1 then groups, nlines = build(1) end
  if fold and nlines > max_lines - 1 then groups, nlines = build(0) end
  local body = {}
  if nlines <= max_lines - 1 then
    for _, g in ipairs(groups) do for _, l in ipairs(g) do body[#body + 1] = l end end
  else
    -- Cut: the lines up to the bound, less room for the marks of lost and
    -- duplicated records further on, which are kept after the cut note.
    local room = max_lines - 2       -- the last two: the cut note, the left-out note
    local msuf = { [#groups + 1] = 0 }
    for gi = #groups, 1, -1 do msuf[gi] = msuf[gi + 1] + (groups[gi].mark and #groups[gi] or 0) end
    local cut_at = #groups + 1
    for gi, g in ipairs(groups) do
      if #body + #g + msuf[gi + 1] > room then cut_at = gi; break end
      for _, l in ipairs(g) do body[#body + 1] = l end
    end
    local tail, more, t = {}, 0, nil
    for gi = cut_at, #groups do
      local g = groups[gi]
      if g.mark and #body + #tail + #g <= room then
        for _, l in ipairs(g) do tail[#tail + 1] = l end
      else
        more = more + #g
        t = t or g[1]:match("t=(%d+)") or (g[2] or ""):match("t=(%d+)")
      end
    end
    body[#body + 1] = ("Note over %s: CUT at max_lines=%d: %d more lines from t=%s on left out%s"
      .. " (narrow with from, to, partitions or records)"):format(span, max_lines, more, t or "?",
      #tail > 0 and ", the lost and duplicated records' marks after it kept" or "")
    for _, l in ipairs(tail) do body[#body + 1] = l end
  end

  -- What was left out, said once at the end.
  local out_words = {}
  if fold then
    if left.fetch > 0 then
      out_words[#out_words + 1] = plural(left.fetch, "fetch that brought nothing new",
                                         "fetches that brought nothing new")
    end
    if left.hw > 0 then out_words[#out_words + 1] = plural(left.hw, "follower HW update") end
  end
  if left.callback > 0 then
    out_words[#out_words + 1] = plural(left.callback, "OK callback") .. " (drawn as their responses)"
  end
  if left.control > 0 then
    out_words[#out_words + 1] = plural(left.control, "controller message") .. " lost in the network"
  end
  if left.window > 0 then out_words[#out_words + 1] = plural(left.window, "step") .. " outside the window" end
  if left.partition > 0 then
    out_words[#out_words + 1] = plural(left.partition, "event") .. " of other partitions or brokers"
  end

  if #out_words > 0 then
    body[#body + 1] = ("Note over %s: Left out: %s"):format(span, table.concat(out_words, ", "))
  end

  local title = opts.title
  if not title then
    local nlost, ndup = 0, 0
    for _, k in ipairs(chosen) do
      nlost = nlost + #(lost[k] or {})
      ndup = ndup + #(dups[k] or {})
    end
    title = table.concat(chosen, ", ")
    if #chosen == 0 then title = "no partition" end
    if #chosen < #all then title = title .. (" (%d of %d partitions)"):format(#chosen, #all) end
    if nlost > 0 then title = title .. ": " .. plural(nlost, "acknowledged record") .. " lost" end
    if ndup > 0 then title = title .. (nlost > 0 and ", " or ": ") .. plural(ndup, "duplicate") end
    if opts.from or opts.to then
      title = title .. (", t=%s..%s ms"):format(opts.from or 0, opts.to or last_t)
    end
  end
  local out = { "---", "title: \"" .. safe(title, 120) .. "\"", "---", "sequenceDiagram" }
  for _, l in ipairs(parts) do out[#out + 1] = "    " .. l end
  for _, l in ipairs(body) do out[#out + 1] = "    " .. l end
  return table.concat(out, "\n") .. "\n"
end

return M
