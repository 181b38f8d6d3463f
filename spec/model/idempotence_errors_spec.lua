-- The idempotent producer's error handling, after librdkafka 2.0.2's
-- rd_kafka_handle_idempotent_Produce_error and rd_kafka_handle_Produce_error
-- (rdkafka_request.c) and rd_kafka_idemp_drain_epoch_bump
-- (rdkafka_idempotence.c).
local S = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenario.lua")

local function count(trace, event, err)
  local n = 0
  for _, e in ipairs(trace) do
    if e.event == event and (err == nil or e.error == err) then n = n + 1 end
  end
  return n
end

describe("the idempotent producer", function()
  it("bumps the epoch after OUT_OF_ORDER_SEQUENCE_NUMBER behind a gap, instead of retrying it until the gap times out", function()
    -- r1 lost on a lossy link (the connection stays up), r2 arrives with a
    -- sequence past the broker's: OUT_OF_ORDER_SEQUENCE_NUMBER with
    -- r2's base > next_ack_seq ("R2 failed"): retried uncounted, and the
    -- producer drains and bumps its epoch; r1 times out (socket.timeout.ms)
    -- and both go again, in order, under the new epoch
    local c = S.cluster{ trace = true }
    c:run_for(100)
    local p = c:producer{ ["enable.idempotence"] = true, ["linger.ms"] = 0,
                          ["socket.timeout.ms"] = 3000 }
    S.send(p, 1, { prefix = "warm" }); c:run()
    local r1 = S.send(p, 1, { prefix = "r1-" })
    c:run_for(0)
    c:lossy(p, 1)
    c:run_for(1)
    c:heal()
    local r2 = S.send(p, 1, { prefix = "r2-" })
    assert.is_true(c:run())
    local tr = c:trace()
    -- one OUT_OF_ORDER_SEQUENCE_NUMBER, not one every retry.backoff.ms
    -- (100 ms) for the 3 s until r1's request timed out
    assert.equal(1, count(tr, "retry", 45))   -- OUT_OF_ORDER_SEQUENCE_NUMBER
    assert.equal(1, count(tr, "epoch_bump"))
    assert.same({ "OK", "OK" }, { r1[1].name, r2[1].name })
    assert.equal(1, r1[1].report.offset)
    assert.equal(2, r2[1].report.offset)
    assert.equal(0, #c:audit().reordered)
  end)

  it("recovers from a leader isolated for 10 s without an OUT_OF_ORDER_SEQUENCE_NUMBER retry loop", function()
    -- Before the epoch bump on "R2 failed", the model's producer retried
    -- OUT_OF_ORDER_SEQUENCE_NUMBER every retry.backoff.ms (here 1751 times
    -- over 60 s) until the gap's batch came back.
    local c = S.cluster{ trace = true, seed = 2, partitions = 3,
                         topic_config = { ["min.insync.replicas"] = 2 } }
    c:run_for(100)
    local p = c:producer{ ["enable.idempotence"] = true }
    local out = {}
    for i = 1, 400 do
      out[i] = S.send(p, 1, { prefix = "k" .. i .. "-", partition = false })[1]
      c:run_for(50)
      if i == 50 then c:isolate(3) end
      if i == 60 then c:heal() end
    end
    assert.is_true(c:run())
    assert.is_true(count(c:trace(), "retry", 45) <= 5)   -- OUT_OF_ORDER_SEQUENCE_NUMBER
    assert.same({ OK = 400 }, S.count(out))
    local a = c:audit()
    assert.same({ 0, 0, 0 }, { #a.lost, #a.duplicated, #a.reordered })
  end)

  it("fails a batch out of retries without bumping the epoch: the next batch's OUT_OF_ORDER_SEQUENCE_NUMBER is then fatal", function()
    -- r1's requests are lost on the way (c:drop), twice: retries = 1 used
    -- up, r1 fails possibly persisted, and next_ack_seq moves past it
    -- (update_next_ack).  librdkafka does not bump the epoch for it
    -- (rd_kafka_toppar_retry_msgq leaves it in the request: no PERMANENT
    -- action).  r2 then carries the next sequence; the broker never got
    -- r1 and answers OUT_OF_ORDER_SEQUENCE_NUMBER at next_ack_seq
    -- (r == 0, "sequence desynchronization"): fatal.
    local c = S.cluster{}
    c:run_for(100)
    local fatal = {}
    local p = c:producer{ ["enable.idempotence"] = true, ["linger.ms"] = 0, retries = 1,
                          ["socket.timeout.ms"] = 1000,
                          on_error = function(err) fatal[#fatal + 1] = err end }
    S.send(p, 1, { prefix = "warm" }); c:run()
    c:drop(p, 1)
    local r1 = S.send(p, 1, { prefix = "r1-" })
    c:run_for(2500)
    c:heal()
    assert.same({ "_MSG_TIMED_OUT", "possibly_persisted" }, { r1[1].name, r1[1].err.persisted })
    local r2 = S.send(p, 1, { prefix = "r2-" })
    c:run()
    assert.same({ "OUT_OF_ORDER_SEQUENCE_NUMBER", true }, { r2[1].name, r2[1].err.fatal })
    assert.equal(1, #fatal)
    assert.equal(1, c:partition("orders", 0).hw)   -- only warm1
  end)

  it("retries a possibly written batch and takes a later success as its delivery too (rd_kafka_dr_implicit_ack)", function()
    -- answers lost: the timeout fails r1 and r2 together (possibly
    -- persisted); both are retried; the broker answers the duplicates with
    -- their offsets: delivered once each
    local c = S.cluster{}
    c:run_for(100)
    local p = c:producer{ ["enable.idempotence"] = true, ["linger.ms"] = 0,
                          ["socket.timeout.ms"] = 1000 }
    S.send(p, 1, { prefix = "warm" }); c:run()
    c:drop(1, p)
    local out = S.send(p, 4)
    c:run_for(50)
    c:heal()
    assert.is_true(c:run())
    assert.same({ OK = 4 }, S.count(out))
    for i, o in ipairs(out) do assert.equal(i, o.report.offset) end
    local a = c:audit()
    assert.equal(0, #a.duplicated)
    assert.equal(0, #a.lost)
  end)
end)
