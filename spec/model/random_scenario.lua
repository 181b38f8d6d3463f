-- The random scenarios of the invariant specs (spec/model/invariants_spec.lua),
-- shared with the specs that draw them (spec/pictures): a deterministic PRNG
-- for the script's own choices, the faults, and the 3-broker scenario with
-- three producers.
local insync = require "insync"

local R = {}

local explore = require "insync.explore"

-- The library's deterministic PRNG (LuaJIT and 5.4 alike) for the script's own choices.
R.lcg = explore.rng

-- A controlled shutdown takes virtual time: the broker stays up until the
-- controller grants it, so a broker still shutting down is not restarted.
function R.stopped(c, b) return not c:broker(b).online end

-- Heal, resume the paused brokers, let the controlled shutdowns under way
-- finish, restart every broker that is down: the library's recovery, the
-- one insync.explore ends each run with.
function R.restart_down(c, _, nb) explore.recover(c, nb) end

function R.scenario(seed, opts)
  local rnd = R.lcg(seed)
  local c = insync.cluster{ brokers = 3, seed = seed, eligible_leader_replicas = opts.elr, trace = opts.trace,
                            config = { ["replica.lag.time.max.ms"] = 5000,
                                       ["broker.session.timeout.ms"] = 3000,
                                       ["broker.heartbeat.interval.ms"] = 1000,
                                       ["unclean.leader.election.enable"] = opts.unclean or false } }
  c:create_topic("orders", { partitions = 2, replication_factor = 3,
                             config = { ["min.insync.replicas"] = 2 } })
  local producers = {
    c:producer{ acks = "all", ["enable.idempotence"] = true, ["message.timeout.ms"] = 20000 },
    c:producer{ acks = "all", ["message.timeout.ms"] = 20000, ["socket.timeout.ms"] = 3000 },
    c:producer{ acks = 1, ["message.timeout.ms"] = 20000 },
  }
  local callbacks, sent = 0, 0
  local down = {}
  local violations = {}
  local idem = producers[1]
  for step = 1, opts.steps do
    local what = rnd(10)
    local b = 1 + rnd(3)
    if what <= 3 then
      for _ = 1, 1 + rnd(5) do
        local p = producers[1 + rnd(#producers)]
        local prefix = p == idem and "idem" or "s"
        local id = p:send({ topic = "orders", key = "k" .. rnd(50), value = prefix .. seed .. "-" .. step },
          function() callbacks = callbacks + 1 end)
        if id then sent = sent + 1 end
      end
    elseif what == 4 and not down[b] then
      c:crash(b, { lose_unflushed = opts.power_loss and rnd(2) == 0 })
      down[b] = true
    elseif what == 5 and down[b] and R.stopped(c, b) then
      c:restart(b); down[b] = nil
    elseif what == 6 and not down[b] and rnd(3) == 0 then
      c:shutdown(b); down[b] = true
    elseif what == 7 then
      local x = 1 + rnd(3)
      if x ~= b then c:drop(b, x) end
    elseif what == 8 then
      if rnd(2) == 0 then c:isolate(b) else c:cut(b, "controller") end
    elseif what == 9 then
      c:heal()
    end
    c:run_for(1 + rnd(3000))
    local v = c:check()
    if v then violations[#violations + 1] = ("seed %d step %d: %s"):format(seed, step, v) end
  end
  c:heal()
  R.restart_down(c, down, 3)
  local settled = c:run(600000)
  c:run_for(30000)
  local v = c:check()
  if v then violations[#violations + 1] = ("seed %d end: %s"):format(seed, v) end
  return { violations = violations, settled = settled, sent = sent, callbacks = callbacks,
           audit = c:audit(), cluster = c }
end

-- One random fault of the random-configuration runs: w picks it (5 to 11;
-- anything else does nothing), b is the broker it hits, down the brokers
-- it took down or paused.  With power_loss, a crash loses unflushed data
-- one time in three.
function R.fault(c, rnd, w, b, nb, ps, down, power_loss)
  if w == 5 and not down[b] then
    c:crash(b, power_loss and { lose_unflushed = rnd(3) == 0 } or nil); down[b] = true
  elseif w == 6 and down[b] and R.stopped(c, b) then c:restart(b); down[b] = nil
  elseif w == 7 and not down[b] then c:shutdown(b); down[b] = true
  elseif w == 8 then
    local x = rnd(nb + 2)
    if x ~= b then c:drop(b, x == nb + 1 and "controller" or (x == 0 and ps[1] or x)) end
  elseif w == 9 then c:isolate(rnd(2) == 0 and b or ps[1 + rnd(#ps)])
  elseif w == 10 then c:heal()
  elseif w == 11 then
    if c:broker(b).paused then c:resume(b); down[b] = nil
    elseif not down[b] then c:pause(b); down[b] = true end
  end
end


return R
