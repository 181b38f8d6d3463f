--- The differential check's scenarios, written once and run against both
-- engines: the model (insync.cluster) and real Apache Kafka (insync.producer
-- on spec/kafka/cluster).  spec/kafka/engines.lua turns each step into the
-- engine's calls; spec/kafka/differential_spec.lua compares the outcomes.
--
-- A scenario: one topic on a 3-broker cluster, named producers (librdkafka
-- configuration; `bootstrap = WHO` gives a real producer that one broker as
-- bootstrap.servers, so the connection it keeps for metadata is known; the
-- model has no bootstrap and ignores it), and steps, in order:
--   { send = PRODUCER, n = N [, partition = P] [, wait = false] }
--       N sends to partition P (default 0), values unique per step; the step
--       waits for their callbacks unless wait = false (they stay in flight)
--   { stop = WHO }     controlled shutdown (SIGTERM; the model's shutdown)
--   { kill = WHO }     process kill (SIGKILL; the model's crash)
--   { pause = WHO }    a hung process (SIGSTOP; the model isolates it)
--   { resume = WHO }   SIGCONT (the model heals every cut)
--   { restart = WHO }  start again what a stop or kill took down
--   { isr = N }        wait until partition 0 has a leader and N in its ISR
--   { leader = true }  wait until partition 0 has a leader
--   { wait = true }    wait for every callback still outstanding
--   { callback = K }   wait until the scenario's K-th send has had its callback
--   { settle = MS }    let MS milliseconds pass (virtual in the model)
--   { create = true }  create the topic now (with `create_later = true` the
--                      scenario starts without it)
-- WHO: "leader" or "followers" (of partition 0, when the step runs),
-- "follower" (one of them), "down" (every broker a step took down or paused), or a
-- broker id.
--
-- `expect` is what Apache Kafka does (outcome tallies and audit counts),
-- checked on the real cluster so that two engines cannot agree on nonsense.
-- `differs` (rare) is a difference the model documents: the comparison
-- must find exactly `diff`, for the reason `why`.
--
-- What is compared: the outcome of every send ("ok" or the error name), where
-- each acknowledged send landed, and the two audits field by field (sent,
-- acked, failed, pending, lost, duplicated, unexpected, uncommitted,
-- reordered, inconsistent; on Kafka each producer is made with track = true
-- and its p:audit() reads the topic back).
-- Sends that are in flight during a fault are only compared where the
-- outcome does not depend on timing (an idempotent producer with a long
-- timeout must succeed either way).
local scenarios = {}

scenarios[#scenarios + 1] = {
  name = "acks=all, RF 3, min.insync.replicas=2: two followers stopped, then restarted",
  topic = { partitions = 1, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producers = {
    all = { acks = "all", retries = 0 },
    all_retry = { acks = "all", ["message.timeout.ms"] = 4000 },
    one = { acks = "1" },
  },
  steps = {
    { send = "all", n = 2 },
    { stop = "followers" },
    { isr = 1 },
    { send = "all", n = 3 },          -- NOT_ENOUGH_REPLICAS
    { send = "all_retry", n = 2 },    -- retried until _MSG_TIMED_OUT
    { send = "one", n = 2 },          -- acks=1: never checked against the floor
    { restart = "down" },
    { isr = 3 },
    { send = "all", n = 2 },          -- writes resume
  },
  expect = { ok = 6, NOT_ENOUGH_REPLICAS = 3, _MSG_TIMED_OUT = 2, lost = 0, duplicated = 0, unexpected = 0 },
}

scenarios[#scenarios + 1] = {
  name = "acks=all idempotent load, leader killed (SIGKILL) and restarted",
  topic = { partitions = 1, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producers = {
    idem = { acks = "all", ["enable.idempotence"] = true, ["message.timeout.ms"] = 60000 },
  },
  steps = {
    { send = "idem", n = 50 },
    { send = "idem", n = 50, wait = false },   -- in flight when the leader dies
    { kill = "leader" },
    { send = "idem", n = 50, wait = false },   -- sent during the failover
    { isr = 2 },
    { send = "idem", n = 50 },
    { restart = "down" },
    { isr = 3 },
    { send = "idem", n = 50 },
    { wait = true },
  },
  expect = { ok = 250, lost = 0, duplicated = 0, unexpected = 0 },
}

scenarios[#scenarios + 1] = {
  name = "min.insync.replicas = RF = 3: one follower stopped stops acks=all (common mistake 2)",
  topic = { partitions = 1, replication_factor = 3, config = { ["min.insync.replicas"] = 3 } },
  producers = {
    all = { acks = "all", retries = 0 },
    all_retry = { acks = "all", ["message.timeout.ms"] = 4000 },
    one = { acks = "1" },
  },
  steps = {
    { send = "all", n = 2 },
    { stop = "follower" },
    { isr = 2 },
    { send = "all", n = 2 },          -- NOT_ENOUGH_REPLICAS
    { send = "all_retry", n = 1 },    -- _MSG_TIMED_OUT
    { send = "one", n = 2 },          -- acks=1 goes on
    { restart = "down" },
    { isr = 3 },
    { send = "all", n = 2 },
  },
  expect = { ok = 6, NOT_ENOUGH_REPLICAS = 2, _MSG_TIMED_OUT = 1, lost = 0, duplicated = 0, unexpected = 0 },
}

scenarios[#scenarios + 1] = {
  name = "keys, headers and explicit partitions on 3 partitions, all brokers up",
  topic = { partitions = 3, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producers = {
    all = { acks = "all" },
    idem = { acks = "all", ["enable.idempotence"] = true },
  },
  steps = {
    { send = "all", n = 4, partition = 0, headers = { trace = "t-1" } },
    { send = "all", n = 4, partition = 1, headers = { a = "1", b = "2" } },
    { send = "idem", n = 4, partition = 2 },
  },
  expect = { ok = 12, lost = 0, duplicated = 0, unexpected = 0 },
}

scenarios[#scenarios + 1] = {
  name = "acks=1, RF 3: leader stopped (controlled shutdown) once its followers caught up",
  topic = { partitions = 1, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producers = {
    all = { acks = "all" },
    one = { acks = "1", ["message.timeout.ms"] = 60000 },
  },
  steps = {
    -- On real Kafka the followers of a new partition start fetching some
    -- hundreds of ms after the topic is created; the model's start at once.
    -- An acks=1 record acknowledged in that window and followed by a
    -- leader change is lost on Kafka and not in the model: a race, not a
    -- verdict, so the scenario first lets the followers catch up (an
    -- acks=all send proves they fetch; settle lets them copy the acks=1 tail).
    { send = "all", n = 1 },
    { send = "one", n = 20 },
    { settle = 1000 },
    { stop = "leader" },
    { isr = 2 },
    { send = "one", n = 20 },
    { restart = "down" },
    { isr = 3 },
    { send = "one", n = 20 },
  },
  expect = { ok = 61, lost = 0, duplicated = 0, unexpected = 0 },
}

scenarios[#scenarios + 1] = {
  name = "acks=all, min.insync.replicas=2: a hung follower (SIGSTOP) stalls writes until it is fenced",
  topic = { partitions = 1, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producers = {
    short = { acks = "all", ["message.timeout.ms"] = 1000 },
    all = { acks = "all" },
  },
  steps = {
    { send = "all", n = 2 },
    -- connected before the fault: a new producer whose bootstrap connection
    -- lands on the hung broker (the kernel still accepts) would time out
    -- before it ever sent, and nothing would reach the log
    { send = "short", n = 1 },
    { pause = "follower" },
    -- the leader appends, then waits for the hung follower, which stays in
    -- the ISR until it is fenced (broker.session.timeout.ms, 3 s): the
    -- producer gives up first, but the records are in the leader's log and
    -- are committed once the ISR shrinks
    { send = "short", n = 3 },
    { isr = 2 },
    { send = "all", n = 2 },
    { resume = "down" },
    { isr = 3 },
    { send = "all", n = 2 },
  },
  expect = { ok = 7, _MSG_TIMED_OUT = 3, lost = 0, duplicated = 0, unexpected = 3 },
}

scenarios[#scenarios + 1] = {
  name = "acks=all, min.insync.replicas=2: leader killed while a follower is down; the last in-sync replica leads",
  topic = { partitions = 1, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producers = {
    all = { acks = "all", retries = 0 },
    one = { acks = "1", ["message.timeout.ms"] = 60000 },
  },
  steps = {
    { send = "all", n = 3 },
    { stop = "follower" },
    { isr = 2 },
    { send = "all", n = 3 },          -- ISR {leader, follower}: still at the floor
    { kill = "leader" },
    { isr = 1 },                      -- the surviving follower leads alone
    { send = "all", n = 2 },          -- NOT_ENOUGH_REPLICAS
    { send = "one", n = 2 },          -- acks=1 goes on
    { restart = "down" },
    { isr = 3 },
    { send = "all", n = 2 },
  },
  -- every record acknowledged with acks=all before the kill was on the
  -- follower that took over: nothing is lost
  expect = { ok = 10, NOT_ENOUGH_REPLICAS = 2, lost = 0, duplicated = 0, unexpected = 0 },
}

-- acks=0 to a deposed leader.  The leader hangs (SIGSTOP) long enough to be
-- fenced; another broker leads; resumed, it follows.  The acks=0 producer
-- sent nothing meanwhile and still names it: its next record is refused
-- with NOT_LEADER_OR_FOLLOWER, which an acks=0 request cannot carry back,
-- so the broker closes the connection (KafkaApis.handleProduceRequest,
-- closeConnection).  librdkafka takes the close for a broker going down
-- (rd_kafka_broker_fail), asks for metadata and moves to the new leader:
-- one record lost, reported sent; the later ones are written.
-- The "broker down" refresh needs another connection that is up
-- (rd_kafka_metadata_refresh_topics skips it, "no usable brokers", when
-- there is none; later refreshes then wait for the 1 s timers and a random
-- reconnection, which may land on the old leader again and keep the stale
-- leader until its next close).  So the producer bootstraps from a follower:
-- that connection stays up, and the refresh goes there at once.
scenarios[#scenarios + 1] = {
  name = "acks=0 to a deposed leader: the broker closes the connection, the producer moves on",
  topic = { partitions = 1, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producers = {
    zero = { acks = "0", ["linger.ms"] = 0, bootstrap = "follower" },
  },
  steps = {
    { send = "zero", n = 3 },
    { settle = 1000 },
    { pause = "leader" },
    { isr = 2 },                      -- fenced, another leader elected
    { resume = "down" },
    { isr = 3 },                      -- back as a follower
    { settle = 1000 },
    { send = "zero", n = 1 },         -- to the old leader: refused, connection closed
    { settle = 2000 },                -- the producer refreshes its metadata
    { send = "zero", n = 3 },         -- to the new leader
    { settle = 1000 },
  },
  expect = { ok = 7, lost = 1, duplicated = 0, unexpected = 0 },
}

-- Eligible leader replicas (KIP-966, on by default for new Kafka 4
-- clusters; the model runs with eligible_leader_replicas = true here, see
-- engines.lua).  The follower that left the ISR last, while the ISR was
-- below min.insync.replicas, joined the ELR: it still has every committed
-- record, and after a controlled shutdown it stays eligible.  So when it
-- returns before the dead leader it is elected (cleanly, from the ELR), and
-- the acks=1 records only the dead leader had (never committed: strict min
-- ISR held the high watermark) are truncated away when that leader, back
-- from an unclean shutdown (SIGKILL) and so out of the ELR, follows: lost.
-- Without ELR (the model's default) the partition stays offline until the
-- old leader returns with those records, send 5 times out and nothing is
-- lost (spec/model/elr_spec.lua checks both).
scenarios[#scenarios + 1] = {
  name = "last in-sync replica killed; a follower that left the ISR earlier comes back first",
  topic = { partitions = 1, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producers = {
    all = { acks = "all" },
    one = { acks = "1", ["message.timeout.ms"] = 30000 },
  },
  steps = {
    { send = "all", n = 2 },
    { stop = "followers" },
    { isr = 1 },
    { send = "one", n = 2 },          -- acks=1: on the leader only
    { kill = "leader" },
    { settle = 4000 },                -- fenced (broker.session.timeout.ms 3 s)
    { restart = { down = 2 } },       -- the follower that left the ISR last
    -- elected from the ELR: waited for, not timed (a loaded machine takes
    -- longer to restart a broker and elect it than an idle one)
    { leader = true },
    { send = "one", n = 1 },          -- Kafka: the returned follower leads
    { restart = "down" },
    { isr = 3 },
    { send = "all", n = 2 },
  },
  expect = { ok = 7, lost = 2, duplicated = 0, unexpected = 0 },
}

-- An idempotent producer writes a record twice (librdkafka 2.0.2): a record
-- to partition 1, whose leader hangs, times out, and the producer bumps its
-- epoch once nothing is in flight (rd_kafka_idemp_drain_epoch_bump); the
-- record partition 0's leader had appended, then answered REQUEST_TIMED_OUT
-- (its followers hung) and NOT_ENOUGH_REPLICAS (once they were fenced),
-- goes out again from sequence 0 of the new epoch, and the leader takes it
-- as new.  Partition 1's leader is one of partition 0's followers (three
-- brokers, leaders spread).  The record to partition 0 is sent 2 s after
-- the other, before the followers are fenced (3 s), and so times out 2 s
-- after it: time for the followers, resumed, to rejoin the ISR.  The
-- followers are resumed on a condition, not a clock: once the record to
-- partition 1 has had its callback (its timeout: librdkafka checks message
-- timeouts once a second, later on a loaded machine), plus 700 ms for the
-- epoch bump, so the whole 2 s are left to partition 0's record however
-- late the timeout came.  (A fixed 8.7 s wait could resume them before the
-- timeout had fired, or eat into those 2 s.)
scenarios[#scenarios + 1] = {
  name = "idempotent producer: a batch retried across an epoch bump is written twice",
  topic = { partitions = 2, replication_factor = 3, config = { ["min.insync.replicas"] = 2 } },
  producers = {
    idem = { acks = "all", ["enable.idempotence"] = true, ["message.timeout.ms"] = 10000,
             ["request.timeout.ms"] = 1000 },
  },
  steps = {
    { send = "idem", n = 1 },
    { send = "idem", n = 1, partition = 1 },  -- a producer id, both leaders connected
    { pause = "followers" },
    { send = "idem", n = 1, partition = 1, wait = false },  -- times out at 10 s
    { settle = 2000 },
    { send = "idem", n = 1, wait = false },   -- appended by the leader alone
    { callback = 3 },                         -- send 3 timed out ...
    { settle = 700 },                         -- ... and the producer bumped its epoch
    { resume = "down" },
    { wait = true },
  },
  expect = { ok = 3, _MSG_TIMED_OUT = 1, lost = 0, duplicated = 1, unexpected = 0 },
}

-- librdkafka 2.0.2's topic states (rd_kafka_topic_set_notexists,
-- rd_kafka_topic_assign_uas, rd_kafka_msg_partitioner,
-- rd_kafka_topic_scan_all): records for a topic that does not exist wait
-- (UNKNOWN) and are delivered once it is created.
scenarios[#scenarios + 1] = {
  name = "a topic created while records wait for it",
  create_later = true,
  topic = { partitions = 1, replication_factor = 3 },
  producers = { all = { acks = "all" } },
  steps = {
    { send = "all", n = 5, wait = false },
    { settle = 1500 },
    { create = true },
    { wait = true },
    { send = "all", n = 2 },
  },
  expect = { ok = 7, lost = 0, duplicated = 0, unexpected = 0 },
}

-- ... and with no such topic, the waiting records fail with the broker's
-- UNKNOWN_TOPIC_OR_PART once topic.metadata.propagation.max.ms has passed;
-- later sends fail at once with _UNKNOWN_TOPIC until a scan (every second)
-- finds the topic created.
scenarios[#scenarios + 1] = {
  name = "a topic that does not exist: UNKNOWN_TOPIC_OR_PART after the propagation window, then _UNKNOWN_TOPIC",
  create_later = true,
  topic = { partitions = 1, replication_factor = 3 },
  producers = { p = { acks = "all", ["topic.metadata.propagation.max.ms"] = 2000 } },
  steps = {
    { send = "p", n = 3 },            -- UNKNOWN_TOPIC_OR_PART after about 2 s
    { send = "p", n = 2 },            -- _UNKNOWN_TOPIC at once
    { create = true },
    { settle = 2500 },                -- the topic scan finds it
    { send = "p", n = 2 },
  },
  expect = { UNKNOWN_TOPIC_OR_PART = 3, _UNKNOWN_TOPIC = 2, ok = 2, lost = 0, duplicated = 0, unexpected = 0 },
}

return scenarios
