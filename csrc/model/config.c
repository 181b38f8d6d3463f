/**
 * @file config.c
 * @brief The configuration schema: every key the model takes, once, with
 * its struct member, type, range, default and a line of doc, as
 * librdkafka's rdkafka_conf.c holds its properties in one table.  Defaults
 * are Apache Kafka's for brokers and topics, librdkafka's for the producer;
 * ranges are Kafka's ConfigDef bounds (an INT at Integer.MAX_VALUE, a LONG
 * at Long.MAX_VALUE, at least 1 where the model needs a positive value) and
 * librdkafka's.  The binding reads its tables through it, lua/insync/cluster.lua
 * validates with it (core.model_keys()), tools/config_doc.lua writes the
 * reference in docs/ from it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cluster.h"

#define INT_MAX_ 2147483647 /* Integer.MAX_VALUE: an INT of Kafka or librdkafka */
#define LONG_MAX_ INT64_MAX /* Long.MAX_VALUE: a LONG of Kafka */

#define ROW(scope, T, name, alias, topic, field, type, min, max, def, bound, \
            values, doc)                                                     \
        {name, alias, topic, scope, #field, offsetof(T, field),              \
         sizeof(((T *)0)->field), INSYNC_KT_##type, min, max, def, bound,    \
         values, doc}
/* An option of insync.cluster{}. */
#define CL(name, field, type, min, max, def, bound, doc)                      \
        ROW(INSYNC_KS_CLUSTER, insync_cconf_t, name, NULL, NULL, field, type, \
            min, max, def, bound, NULL, doc)
/* A broker key; @p topic its name in a topic's config (NULL: none). */
#define BR(name, topic, field, type, min, max, def, bound, doc)              \
        ROW(INSYNC_KS_BROKER, insync_cconf_t, name, NULL, topic, field, type, \
            min, max, def, bound, NULL, doc)
/* A producer key, @p alias its other name (NULL: none). */
#define PR(name, alias, field, type, min, max, def, bound, values, doc)         \
        ROW(INSYNC_KS_PRODUCER, insync_pconf_t, name, alias, NULL, field, type, \
            min, max, def, bound, values, doc)
#define BOUND 1 /* clamped into its range by insync_*conf_bound */

static const insync_kval_t acks_values[] = {
        {"all", -1}, {"-1", -1}, {"0", 0}, {"1", 1}, {NULL, 0},
};
static const insync_kval_t partitioner_values[] = {
        {"consistent_random", INSYNC_PART_CONSISTENT_RANDOM},
        {"consistent", INSYNC_PART_CONSISTENT},
        {"random", INSYNC_PART_RANDOM},
        {NULL, 0},
};

static const insync_key_t keys[] = {
        CL("brokers", brokers, INT, 1, 63, 3, 0,
           "brokers in the cluster, ids 1 to n (broker sets are 64-bit masks)"),
        CL("seed", seed, INT, INT64_MIN, LONG_MAX_, 1, 0,
           "every random choice comes from it: the same seed, the same run"),
        CL("latency_ms", latency_ms, INT, 0, 3600000, 1, BOUND,
           "one-way latency between any two nodes, virtual ms (or `latency`, `profile`)"),
        CL("network_bytes_per_ms", net_bytes_per_ms, INT, 1, LONG_MAX_, 0, 0,
           "each broker's outbound bytes per virtual ms, a message leaving once the ones before it have (not given: unlimited)"),
        CL("disk_bytes_per_ms", disk_bytes_per_ms, INT, 1, LONG_MAX_, 0, 0,
           "each broker's disk write bytes per virtual ms: a produce request or a follower's fetch answer waits for its records to be written; `{ [id] = n }` for some brokers (not given: unlimited)"),
        CL("dirty_expire_centisecs", dirty_expire_cs, INT, 0, INT_MAX_, 3000, BOUND,
           "Linux's vm.dirty_expire_centisecs on every broker's machine: page cache dirty this long is written back by the kernel flusher"),
        CL("dirty_writeback_centisecs", dirty_writeback_cs, INT, 0, INT_MAX_, 500, BOUND,
           "Linux's vm.dirty_writeback_centisecs: the kernel flusher wakes this often from boot (0: never; only fsyncs reach the disk)"),
        CL("trace", trace, BOOL, 0, 1, 0, 0,
           "record a trace (`c:trace()`, `c:trace_json(path)`, the pictures)"),
        CL("strict_min_isr", strict_min_isr, BOOL, 0, 1, 1, 0,
           "Kafka 3.7+ (KAFKA-15583): the HW does not advance while the ISR is below `min.insync.replicas`; false: the older rule"),
        CL("eligible_leader_replicas", elr, BOOL, 0, 1, 0, 0,
           "KIP-966 eligible leader replicas, as Kafka 4.x's new clusters have them (below)"),
        CL("controllers", controllers, INT, 1, 9, 1, BOUND,
           "voters of the KRaft controller quorum, one of them active (model.md, \"The controller quorum\")"),
        CL("skip_idle", skip_idle, BOOL, 0, 1, 1, 0,
           "skip idle fetch rounds where nothing observable changes; false steps through each, for comparison (docs/model.md)"),

        BR("min.insync.replicas", "min.insync.replicas", min_isr, INT, 1, INT_MAX_, 1, 0,
           "replicas in the ISR an acks=all record needs"),
        BR("replica.lag.time.max.ms", NULL, lag_ms, INT, 1, LONG_MAX_, 30000, BOUND,
           "a follower not caught up with the leader for this long leaves the ISR"),
        BR("unclean.leader.election.enable", "unclean.leader.election.enable", unclean, BOOL, 0, 1, 0, 0,
           "elect a replica outside the ISR when no ISR member is alive"),
        BR("broker.session.timeout.ms", NULL, session_ms, INT, 1, INT_MAX_, 9000, BOUND,
           "the controller fences a broker whose heartbeats stop for this long"),
        BR("broker.heartbeat.interval.ms", NULL, heartbeat_ms, INT, 1, INT_MAX_, 2000, BOUND,
           "a broker's heartbeat to the controller"),
        BR("replica.fetch.wait.max.ms", NULL, fetch_wait_ms, INT, 0, INT_MAX_, 500, BOUND,
           "the longest a leader holds a follower's fetch that finds nothing new"),
        BR("replica.fetch.max.bytes", NULL, fetch_max_bytes, INT, 1, INT_MAX_, 1048576, 0,
           "bytes of records one fetch answer carries (at least one record)"),
        BR("replica.fetch.response.max.bytes", NULL, fetch_response_max_bytes, INT, 1, INT_MAX_, 10485760, BOUND,
           "bytes of records one fetch answer carries over all its partitions (the first partition with records gets one batch at least)"),
        BR("replica.fetch.min.bytes", NULL, fetch_min_bytes, INT, 1, INT_MAX_, 1, BOUND,
           "bytes of records a leader waits for (up to `replica.fetch.wait.max.ms`) before it answers a fetch"),
        BR("num.replica.fetchers", NULL, num_fetchers, INT, 1, 16, 1, BOUND,
           "fetchers a follower broker runs per leader broker, each with one request for its partitions (docs/model.md)"),
        BR("replica.fetch.backoff.ms", NULL, fetch_backoff_ms, INT, 0, INT_MAX_, 1000, BOUND,
           "a follower's wait after a fetch that failed"),
        BR("replica.socket.timeout.ms", NULL, socket_timeout_ms, INT, 1, INT_MAX_, 30000, BOUND,
           "a follower gives up a fetch not answered within this"),
        BR("log.flush.interval.messages", "flush.messages", flush_messages, INT, 1, LONG_MAX_, LONG_MAX_, 0,
           "fsync a partition's log every this many records (Long.MAX_VALUE: no fsync)"),
        BR("log.flush.interval.ms", "flush.ms", flush_ms, INT, 1, LONG_MAX_, LONG_MAX_, BOUND,
           "the log flusher fsyncs a log whose last flush is this old (not given: log.flush.scheduler.interval.ms)"),
        BR("log.flush.scheduler.interval.ms", NULL, flush_scheduler_ms, INT, 1, LONG_MAX_, LONG_MAX_, BOUND,
           "how often the log flusher runs (Long.MAX_VALUE: once, log.initial.task.delay.ms after start)"),
        BR("log.initial.task.delay.ms", NULL, initial_task_delay_ms, INT, 0, LONG_MAX_, 30000, BOUND,
           "the log flusher's first run after a broker starts"),
        BR("replica.high.watermark.checkpoint.interval.ms", NULL, hw_checkpoint_ms, INT, 1, LONG_MAX_, 5000, BOUND,
           "how often the HW checkpoint a restarted broker reads back is written"),
        BR("num.partitions", NULL, default_partitions, INT, 1, INSYNC_MAX_PARTITIONS, 1, 0,
           "partitions of a topic created without `partitions`"),
        BR("default.replication.factor", NULL, default_rf, INT, 1, INT_MAX_, 1, 0,
           "replicas of a topic created without `replication_factor`"),
        BR("auto.leader.rebalance.enable", NULL, auto_rebalance, BOOL, 0, 1, 1, 0,
           "move leadership back to each partition's preferred replica (below)"),
        BR("leader.imbalance.check.interval.seconds", NULL, imbalance_check_s, INT, 1, LONG_MAX_, 300, BOUND,
           "how long after leadership leaves a preferred replica the controller checks (below)"),
        BR("controller.quorum.fetch.timeout.ms", NULL, quorum_fetch_timeout_ms, INT, 1, INT_MAX_, 2000, BOUND,
           "the other controllers' wait for the active one before an election"),
        BR("controller.quorum.election.timeout.ms", NULL, quorum_election_timeout_ms, INT, 1, INT_MAX_, 1000, BOUND,
           "an election once a majority of the controllers is back"),
        BR("auto.create.topics.enable", NULL, auto_create, BOOL, 0, 1, 1, 0,
           "a producer's metadata request for a missing topic creates it (`num.partitions`, `default.replication.factor`)"),

        PR("acks", "request.required.acks", acks, ENUM, -1, 1, -1, 0, acks_values,
           "replicas that must have a record before it is acknowledged: all (the ISR), 1 (the leader), 0 (none)"),
        PR("enable.idempotence", NULL, idempotence, BOOL, 0, 1, 0, 0, NULL,
           "producer id and sequence numbers (below); then acks must be all, at most 5 in flight, retries not 0"),
        PR("retries", "message.send.max.retries", retries, INT, 0, INT_MAX_, INT_MAX_, 0, NULL,
           "retries of a record whose request failed with a retriable error"),
        PR("delivery.timeout.ms", "message.timeout.ms", message_timeout_ms, INT, 0, INT_MAX_, 300000, BOUND, NULL,
           "a record not acknowledged within this fails with _MSG_TIMED_OUT (0: no limit)"),
        PR("request.timeout.ms", NULL, request_timeout_ms, INT, 1, 900000, 30000, BOUND, NULL,
           "the broker's wait for an acks=all record's replicas"),
        PR("socket.timeout.ms", NULL, socket_timeout_ms, INT, 10, 300000, 60000, BOUND, NULL,
           "the producer's own wait for an answer"),
        PR("socket.max.fails", NULL, socket_max_fails, INT, 0, 1000000, 1, BOUND, NULL,
           "request timeouts on one connection that take it down, failing every request in flight on it; 0: never"),
        PR("retry.backoff.ms", NULL, retry_backoff_ms, INT, 1, 300000, 100, BOUND, NULL,
           "wait before a retry"),
        PR("linger.ms", "queue.buffering.max.ms", linger_ms, NUM, 0, 900000, 5, BOUND, NULL,
           "how long a record waits for others to fill its batch"),
        PR("batch.size", NULL, batch_size, INT, 1, INT_MAX_, 1000000, 0, NULL,
           "bytes of a batch"),
        PR("batch.num.messages", NULL, batch_num_messages, INT, 1, 1000000, 10000, 0, NULL,
           "records of a batch"),
        PR("max.in.flight.requests.per.connection", "max.in.flight", max_in_flight, INT, 1, 1000000, 1000000, 0, NULL,
           "requests in flight to a broker (not given, with idempotence: 5; below)"),
        PR("partitioner", NULL, partitioner, ENUM, 0, 2, INSYNC_PART_CONSISTENT_RANDOM, 0, partitioner_values,
           "how a record without a partition gets one (below)"),
        PR("queue.buffering.max.messages", NULL, queue_max_messages, INT, 1, INT_MAX_, 100000, 0, NULL,
           "records a producer holds before `send` returns _QUEUE_FULL"),
        PR("queue.buffering.max.kbytes", NULL, queue_max_kbytes, INT, 1, INT_MAX_, 1048576, 0, NULL,
           "KB of records a producer holds before `send` returns _QUEUE_FULL"),
        PR("sticky.partitioning.linger.ms", NULL, sticky_ms, INT, 0, 900000, 10, BOUND, NULL,
           "how long records without a key keep one partition"),
        PR("topic.metadata.refresh.fast.interval.ms", NULL, metadata_fast_ms, INT, 1, 60000, 250, BOUND, NULL,
           "metadata refresh while a partition has no leader"),
        PR("topic.metadata.refresh.interval.ms", NULL, metadata_refresh_ms, INT, -1, 3600000, 300000, BOUND, NULL,
           "periodic metadata refresh (-1: never)"),
        PR("message.max.bytes", NULL, message_max_bytes, INT, 1000, 1000000000, 1000000, 0, NULL,
           "a record larger on the wire fails with MSG_SIZE_TOO_LARGE"),
        PR("topic.metadata.propagation.max.ms", NULL, propagation_max_ms, INT, 0, 3600000, 30000, BOUND, NULL,
           "how long records for a topic that does not exist yet wait for it (model.md)"),
        PR("allow.auto.create.topics", NULL, allow_auto_create, BOOL, 0, 1, 1, 0, NULL,
           "the producer's metadata requests let the brokers create a missing topic (librdkafka's default for a producer)"),
};

const insync_key_t *insync_keys(size_t *n) {
        *n = sizeof(keys) / sizeof(keys[0]);
        return keys;
}

int64_t insync_key_get(const void *conf, const insync_key_t *k) {
        const char *p = (const char *)conf + k->offset;
        if (k->size == sizeof(int)) {
                int v;
                memcpy(&v, p, sizeof(v));
                return v;
        }
        int64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

void insync_key_set(void *conf, const insync_key_t *k, int64_t v) {
        char *p = (char *)conf + k->offset;
        if (k->size == sizeof(int)) {
                int i = v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int)v;
                memcpy(p, &i, sizeof(i));
        } else {
                memcpy(p, &v, sizeof(v)); /* seed: uint64_t, the same bits */
        }
}

static void defaults(void *conf, int scope1, int scope2) {
        size_t n;
        const insync_key_t *k = insync_keys(&n);
        for (size_t i = 0; i < n; i++)
                if (k[i].scope == scope1 || k[i].scope == scope2)
                        insync_key_set(conf, &k[i], k[i].def);
}

void insync_cconf_defaults(insync_cconf_t *conf) {
        memset(conf, 0, sizeof(*conf));
        defaults(conf, INSYNC_KS_CLUSTER, INSYNC_KS_BROKER);
        conf->latency.kind = INSYNC_LAT_FIXED; /* latency_ms */
        conf->latency.a = 1;
        conf->latency.b = 0;
}

void insync_pconf_defaults(insync_pconf_t *conf) {
        memset(conf, 0, sizeof(*conf));
        defaults(conf, INSYNC_KS_PRODUCER, INSYNC_KS_PRODUCER);
}

static void bound(void *conf, int scope1, int scope2) {
        size_t n;
        const insync_key_t *k = insync_keys(&n);
        for (size_t i = 0; i < n; i++) {
                if (!k[i].bound || (k[i].scope != scope1 && k[i].scope != scope2))
                        continue;
                int64_t v = insync_key_get(conf, &k[i]);
                insync_key_set(conf, &k[i], v < k[i].min   ? k[i].min
                                            : v > k[i].max ? k[i].max
                                                           : v);
        }
}

void insync_cconf_bound(insync_cconf_t *conf) {
        bound(conf, INSYNC_KS_CLUSTER, INSYNC_KS_BROKER);
}

void insync_pconf_bound(insync_pconf_t *conf) {
        bound(conf, INSYNC_KS_PRODUCER, INSYNC_KS_PRODUCER);
}
