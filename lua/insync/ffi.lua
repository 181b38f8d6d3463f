--- The LuaJIT path of insync.producer: `send`, `poll`, `flush` and `close`
-- through LuaJIT's FFI into the C core (csrc/lua/ffi.h), so that the JIT
-- compiles a loop of sends and the dispatch of the delivery reports, as
-- lua-resty-core does for OpenResty's own functions.  The C functions are
-- the ones the Lua C API binding (csrc/lua/producer.c) runs: one core, one
-- set of checks.  Anything this path does not take (a message with headers
-- or a timestamp, a topic's first send, a wrong argument, a closed or busy
-- producer, tracking, a full queue, an error event) goes to the classic
-- method, which checks, raises and serves as on every Lua.
--
-- Taken on LuaJIT unless the environment variable `INSYNC_FFI` is `off`
-- (or `0`) when insync is first required; on the other Luas, never.
-- `require("insync.ffi").active` tells which.  See docs/speed.md.
-- @module insync.ffi

local M = { active = false }

-- The declarations of csrc/lua/ffi.h, between its BEGIN and END lines,
-- copied by tools/ffi_cdef.lua (spec/core/ffi_cdef_spec.lua checks it).
-- BEGIN ffi_cdef: written by `make ffi-cdef` from csrc/lua/ffi.h; do not edit
M.cdef = [[
/* The first member of every producer: what the Lua side reads directly. */
typedef struct insync_ffi_state_s {
        volatile int32_t ready;  /* 0: nothing can be waiting to be handed out */
        int32_t busy;            /* 1 while one of its callbacks runs */
        int32_t open;            /* 1 from creation to close */
        uint32_t fork_gen;       /* the fork generation it was made in */
        int32_t slot;            /* the slot insync_ffi_send took (0: none) */
        int32_t handed;          /* reports insync_ffi_take handed out */
        int32_t pos;             /* next report of the batch to dispatch */
        int32_t n;               /* reports in the batch */
} insync_ffi_state_t;

/* One delivery report, as insync_ffi_take hands it out. */
typedef struct insync_ffi_report_s {
        double offset;           /* < 0: none (a failure) */
        double latency_ms;       /* < 0: unknown */
        const char *key;         /* NULL: none; valid until the next take */
        size_t key_len;
        int32_t topic;           /* index of its topic (insync_ffi_topic_name) */
        int32_t partition;       /* < 0: unknown */
        int32_t slot;            /* 0: sent without callback nor opaque */
        int32_t err;             /* 0: delivered; else librdkafka's code */
        int32_t status;          /* rd_kafka_msg_status_t */
        int32_t has_opaque;      /* 1: the send had an opaque */
} insync_ffi_report_t;

/* Queues a record as send does; rkt is the topic handle a classic send made.
 * flags: 1 a callback, 2 an opaque.  Returns the send's number, with its slot
 * in s->slot; 0 when the classic send must do it (closed or forked
 * producer, tracking, partition < -1, librdkafka refused it). */
double insync_ffi_send(insync_ffi_state_t *s, void *rkt, const char *key,
                       size_t key_len, const char *value, size_t value_len,
                       int32_t partition, int32_t flags);

/* Fills up to max delivery reports from one event, waiting up to timeout_ms
 * for the first; s->handed counts them with the ones sent without callback
 * nor opaque that succeeded (not filled, but counted as handed out).  Each
 * filled one is counted by insync_ffi_handed.  Returns how many were filled;
 * 0: nothing more is ready; -1: the classic poll must serve what comes next
 * (an error, log or statistics event, a refused send, tracking, closed). */
int insync_ffi_take(insync_ffi_state_t *s, insync_ffi_report_t *out, int max,
                    int timeout_ms);

/* Counts a filled report as handed out (err: 0 delivered, else failed) and
 * gives its slot back, once its callback and opaque were taken. */
void insync_ffi_handed(insync_ffi_state_t *s, int32_t slot, int32_t err);

/* The name of topic number i of insync_ffi_report_t.topic. */
const char *insync_ffi_topic_name(insync_ffi_state_t *s, int32_t i);

/* Waits up to timeout_ms (at most 10) for librdkafka to deliver, as flush
 * does between two polls.  Returns the sends still outstanding. */
double insync_ffi_flush_wait(insync_ffi_state_t *s, int timeout_ms);

/* Accepted sends whose report has not been handed out yet. */
double insync_ffi_outstanding(insync_ffi_state_t *s);

/* Milliseconds on CLOCK_MONOTONIC. */
double insync_ffi_now_ms(void);

/* The process's fork generation now (compare with s->fork_gen). */
uint32_t insync_ffi_fork_gen(void);
]]
-- END ffi_cdef

if not jit then return M end
local mode = os.getenv("INSYNC_FFI")
if mode == "off" or mode == "0" then return M end
local has_ffi, ffi = pcall(require, "ffi")
if not has_ffi then return M end

local core = require "insync.core"
local helpers = core.producer_ffi
local registry = debug.getregistry()
local mt = registry and registry["insync.producer"]
local methods = mt and mt.__index
local path = package.searchpath and package.searchpath("insync.core", package.cpath)
if not (helpers and type(methods) == "table" and path) then return M end

if not pcall(ffi.typeof, "insync_ffi_state_t") then ffi.cdef(M.cdef) end
local loaded, C = pcall(ffi.load, path)
-- The same library that require loaded (the same file, mapped once).
if not loaded or ffi.cast("void *", C.insync_ffi_send) ~= ffi.cast("void *", helpers.send_address()) then
  return M
end

-- The classic methods, kept on the metatable so that a second load of this
-- module (busted's insulation) wraps them, not the wrappers.
local classic = rawget(mt, "__insync_classic")
if not classic then
  classic = { send = methods.send, poll = methods.poll, flush = methods.flush, close = methods.close }
  rawset(mt, "__insync_classic", classic)
end
local classic_send, classic_poll, classic_flush, classic_close =
  classic.send, classic.poll, classic.flush, classic.close

local setmetatable, type, rawget, xpcall, error, tostring = setmetatable, type, rawget, xpcall, error, tostring
local floor, ceil = math.floor, math.ceil
local traceback = debug.traceback
local ffi_string = ffi.string
local report_mt = core.report_mt
local dr_error, undelivered = helpers.dr_error, helpers.undelivered
local take, handed, topic_name = C.insync_ffi_take, C.insync_ffi_handed, C.insync_ffi_topic_name
local fork_gen, now_ms = C.insync_ffi_fork_gen, C.insync_ffi_now_ms
local BATCH = 256
local INT_MAX = 2147483647
local UV_OPAQUES, UV_ON_ERROR = -1, -2   -- as in csrc/lua/producer.c

-- producer -> { s = its insync_ffi_state_t *, uv = its uservalue (callbacks
-- by slot, opaques, topic handles by name), buf = the batch, names = topic
-- names by index, rkts = topic handles by name as cdata (the JIT passes
-- no light userdata to C) }.  Weak both ways: the record is kept alive by
-- the producer's uservalue (uv[recs] = record), so that a callback that
-- holds its producer does not keep it from being collected (LuaJIT's weak
-- tables are not ephemerons), and close (a new uservalue) lets it go.
local recs = setmetatable({}, { __mode = "kv" })

--- Puts producer `p` (just made by insync.producer) on the FFI path.
function M.adopt(p)
  local uv = helpers.uservalue(p)
  local r = { s = ffi.cast("insync_ffi_state_t *", helpers.state(p)), uv = uv,
              buf = ffi.new("insync_ffi_report_t[?]", BATCH), names = {}, rkts = {} }
  uv[recs] = r
  recs[p] = r
end

-- Open, not inside one of its callbacks, in the process that made it.
local function usable(s)
  return s.open == 1 and s.busy == 0 and s.fork_gen == fork_gen()
end

-- A timeout as the classic methods read it (conf.c): nil -> dflt, < 0 ->
-- -1, else truncated and capped; false for one they must refuse.
local function timeout_of(t, dflt)
  if t == nil then return dflt end
  if type(t) ~= "number" or t ~= t then return false end
  if t < 0 then return -1 end
  return t > INT_MAX and INT_MAX or floor(t)
end

local function send(self, msg, cb)
  local r = recs[self]
  if r ~= nil and type(msg) == "table" then
    local topic = rawget(msg, "topic")
    local uv = r.uv
    local rkt = r.rkts[topic]
    if rkt == nil and type(topic) == "string" then
      -- uv[name]: the handle of a topic a classic send has checked and made
      local lud = uv[topic]
      if type(lud) == "userdata" then
        rkt = ffi.cast("void *", lud)
        r.rkts[topic] = rkt
      end
    end
    if rkt ~= nil and (cb == nil or type(cb) == "function")
        and rawget(msg, "headers") == nil and rawget(msg, "timestamp") == nil then
      local key, value, part = rawget(msg, "key"), rawget(msg, "value"), rawget(msg, "partition")
      local opaque = rawget(msg, "opaque")
      if part == nil then
        part = -1
      elseif type(part) ~= "number" or not (part >= 0 and part <= INT_MAX and part % 1 == 0) then
        part = nil
      end
      local tk, tv = type(key), type(value)
      if part and (tk == "string" or key == nil) and (tv == "string" or value == nil) then
        local s = r.s
        local n = C.insync_ffi_send(s, rkt, key, key and #key or 0, value, value and #value or 0,
          part, (cb and 1 or 0) + (opaque ~= nil and 2 or 0))
        if n > 0 then
          local slot = s.slot
          if slot ~= 0 then
            uv[slot] = cb or false
            if opaque ~= nil then uv[UV_OPAQUES][slot] = opaque end
          end
          return n
        end
      end
    end
  end
  return classic_send(self, msg, cb)
end

-- Hands out the rest of the batch, then batches from C until none is left,
-- waiting up to `timeout` for the first.  Returns the reports handed out,
-- and true when the classic poll must serve what comes next.
local function dispatch(self, r, timeout)
  local s, buf, names = r.s, r.buf, r.names
  local uv = r.uv
  local total = 0
  while true do
    local i, n = s.pos, s.n
    while i < n do
      -- first: a callback that raises leaves the rest for the next poll
      s.pos = i + 1
      local rep = buf[i]
      i = i + 1
      local slot, e = rep.slot, rep.err
      local cb, opaque = false, nil
      if slot ~= 0 then
        cb = uv[slot]
        uv[slot] = nil
        if rep.has_opaque ~= 0 then
          local ot = uv[UV_OPAQUES]
          opaque = ot[slot]
          ot[slot] = nil
        end
      end
      handed(s, slot, e)
      local ti = rep.topic
      local name = names[ti]
      if name == nil then
        name = ffi_string(topic_name(s, ti))
        names[ti] = name
      end
      local key = nil
      if rep.key ~= nil then key = ffi_string(rep.key, rep.key_len) end
      local part, off, lat = rep.partition, rep.offset, rep.latency_ms
      local report = setmetatable({ topic = name, partition = part >= 0 and part or nil,
        offset = off >= 0 and off or nil, key = key, latency_ms = lat >= 0 and lat or nil,
        opaque = opaque }, report_mt)
      if e == 0 then
        if cb then cb(report, nil) end
      else
        local err = dr_error(self, e, rep.status)
        if cb then cb(report, err) else undelivered(uv[UV_ON_ERROR], report, err, part) end
      end
    end
    local got = take(s, buf, BATCH, timeout)
    total = total + s.handed
    if got <= 0 then return total, got < 0 end
    timeout = 0
  end
end

-- As the classic serve: the error of a callback with its traceback.
local function handler(e)
  if type(e) == "string" or type(e) == "number" then return traceback(tostring(e), 2) end
  return e
end

-- Serves as the classic poll does, under one xpcall.
local function serve(self, r, timeout)
  local s = r.s
  s.busy = 1
  local ok, n, more = xpcall(dispatch, handler, self, r, timeout)
  s.busy = 0
  if not ok then
    s.ready = 1 -- the rest waits
    error(n, 0)
  end
  if more then
    -- an error, log or statistics event, or a refused send: the classic
    -- poll serves it and what follows it
    n = n + classic_poll(self, n == 0 and timeout or 0)
  end
  return n
end

local function poll(self, timeout)
  local r = recs[self]
  if r ~= nil then
    local s = r.s
    if (timeout == nil or timeout == 0) and usable(s) then
      if s.ready == 0 and s.pos >= s.n then return 0 end
      return serve(self, r, 0)
    end
    local t = timeout_of(timeout, 0)
    if t and usable(s) then return serve(self, r, t) end
  end
  return classic_poll(self, timeout)
end

-- As the classic flush: serves, then waits for librdkafka 10 ms at a time.
local function flush_ffi(self, r, timeout)
  local s = r.s
  local deadline = timeout < 0 and -1 or now_ms() + timeout
  serve(self, r, 0)
  local out = C.insync_ffi_outstanding(s)
  while out > 0 do
    local left = deadline < 0 and 10 or deadline - now_ms()
    if left <= 0 then break end
    C.insync_ffi_flush_wait(s, left > 10 and 10 or ceil(left))
    serve(self, r, 0)
    out = C.insync_ffi_outstanding(s)
  end
  return out
end

local function flush(self, timeout)
  local r = recs[self]
  local t = timeout_of(timeout, -1)
  if r ~= nil and t and usable(r.s) then return flush_ffi(self, r, t) end
  return classic_flush(self, timeout)
end

-- What comes in time is served here; the classic close then purges what
-- is left (serving the purged reports) and frees the producer.
local function close(self, timeout)
  local r = recs[self]
  local t = timeout_of(timeout, 10000)
  if r ~= nil and t and usable(r.s) then
    flush_ffi(self, r, t)
    return classic_close(self, 0)
  end
  return classic_close(self, timeout)
end

methods.send, methods.poll, methods.flush, methods.close = send, poll, flush, close
M.active = true
return M
