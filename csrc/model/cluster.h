/**
 * @file cluster.h
 * @brief The model's public face, used by the Lua binding: build a cluster,
 * create topics and producers, send, run virtual time, inject faults,
 * inspect, audit.  Pure C11.  Every function that can fail returns an
 * error code or NULL and leaves the cluster as it was.
 */
#ifndef INSYNC_CLUSTER_H
#define INSYNC_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "../common/audit.h"

typedef struct insync_cluster_s insync_cluster_t;

/** A latency distribution (one way, per message), in virtual ms. */
typedef enum insync_lat_kind_e {
        INSYNC_LAT_FIXED = 0,  /**< a ms (cluster-wide: latency_ms) */
        INSYNC_LAT_UNIFORM,    /**< uniform between a and b ms */
        INSYNC_LAT_LOGNORMAL,  /**< log-normal: median a ms, 99th percentile b ms */
} insync_lat_kind_t;

typedef struct insync_latency_s {
        int kind;              /**< insync_lat_kind_t */
        double a, b;           /**< see insync_lat_kind_t */
} insync_latency_t;

/** Cluster and broker configuration (Apache Kafka's names in comments). */
typedef struct insync_cconf_s {
        int brokers;              /**< 1..63 */
        uint64_t seed;            /**< every random choice comes from it */
        int64_t latency_ms;       /**< one-way latency between any two nodes */
        insync_latency_t latency; /**< its distribution (FIXED: latency_ms) */
        int64_t net_bytes_per_ms; /**< each broker's outbound network budget:
                                       a message leaves once the ones before it
                                       have (0: unlimited) */
        int trace;                /**< record a trace */
        int strict_min_isr;       /**< Kafka 3.7+: no HW advance under min ISR */
        int min_isr;              /**< min.insync.replicas (1) */
        int unclean;              /**< unclean.leader.election.enable (false) */
        int elr;                  /**< KIP-966 eligible leader replicas (false;
                                       Kafka 4.x enables them on new clusters) */
        int64_t lag_ms;           /**< replica.lag.time.max.ms (30000) */
        int64_t session_ms;       /**< broker.session.timeout.ms (9000) */
        int64_t heartbeat_ms;     /**< broker.heartbeat.interval.ms (2000) */
        int64_t fetch_wait_ms;    /**< replica.fetch.wait.max.ms (500) */
        int64_t fetch_max_bytes;  /**< replica.fetch.max.bytes (1048576) */
        int64_t fetch_response_max_bytes; /**< replica.fetch.response.max.bytes
                                       (10485760) */
        int64_t fetch_min_bytes;  /**< replica.fetch.min.bytes (1) */
        int num_fetchers;         /**< num.replica.fetchers (1), 1..16 */
        int skip_idle;            /**< skip idle fetch rounds (1); 0 steps
                                       through each, with the same outcome */
        int64_t fetch_backoff_ms; /**< replica.fetch.backoff.ms (1000) */
        int64_t socket_timeout_ms;/**< replica.socket.timeout.ms (30000) */
        int64_t flush_messages;   /**< log.flush.interval.messages (Long.MAX) */
        int64_t flush_ms;         /**< log.flush.interval.ms (Long.MAX: never);
                                       checked only by the flusher, below */
        int64_t flush_scheduler_ms; /**< log.flush.scheduler.interval.ms
                                       (Long.MAX: the flusher runs once) */
        int64_t initial_task_delay_ms; /**< log.initial.task.delay.ms (30000):
                                       the flusher's first run after start */
        int64_t hw_checkpoint_ms; /**< replica.high.watermark.checkpoint.interval.ms
                                       (5000) */
        int64_t dirty_expire_cs;  /**< the machine's vm.dirty_expire_centisecs
                                       (3000): page cache older than this is
                                       written back by the kernel flusher */
        int64_t dirty_writeback_cs; /**< vm.dirty_writeback_centisecs (500):
                                       the kernel flusher's period, 0: never */
        int64_t disk_bytes_per_ms;/**< every broker's disk write budget: a
                                       message carrying records is handled once
                                       they are written (0: unlimited) */
        int default_partitions;   /**< num.partitions (1) */
        int default_rf;           /**< default.replication.factor (1) */
        int auto_rebalance;       /**< auto.leader.rebalance.enable (true) */
        int64_t imbalance_check_s;/**< leader.imbalance.check.interval.seconds (300) */
        int controllers;          /**< KRaft controller quorum voters, 1..9 (1) */
        int64_t quorum_fetch_timeout_ms;  /**< controller.quorum.fetch.timeout.ms (2000) */
        int64_t quorum_election_timeout_ms; /**< controller.quorum.election.timeout.ms (1000) */
        int auto_create;          /**< auto.create.topics.enable (true) */
} insync_cconf_t;

/** Producer configuration (librdkafka's names in comments). */
typedef struct insync_pconf_s {
        int acks;                   /**< acks: -1, 0, 1 (-1) */
        int idempotence;            /**< enable.idempotence (false) */
        int64_t retries;            /**< retries (2147483647) */
        int64_t message_timeout_ms; /**< message.timeout.ms (300000), 0: none */
        int64_t request_timeout_ms; /**< request.timeout.ms (30000): the broker's wait */
        int64_t socket_timeout_ms;  /**< socket.timeout.ms (60000): the producer's wait */
        int64_t socket_max_fails;   /**< socket.max.fails (1): request timeouts on a
                                         connection that take it down; 0: none do */
        int64_t retry_backoff_ms;   /**< retry.backoff.ms (100) */
        int64_t linger_ms;          /**< linger.ms (5) */
        int64_t batch_size;         /**< batch.size bytes (1000000) */
        int64_t batch_num_messages; /**< batch.num.messages (10000) */
        int64_t max_in_flight;      /**< max.in.flight (1000000; 5 when idempotent) */
        int partitioner;            /**< insync_partitioner_t */
        int64_t queue_max_messages; /**< queue.buffering.max.messages (100000) */
        int64_t queue_max_kbytes;   /**< queue.buffering.max.kbytes (1048576) */
        int64_t sticky_ms;          /**< sticky.partitioning.linger.ms (10) */
        int64_t metadata_fast_ms;   /**< topic.metadata.refresh.fast.interval.ms (250) */
        int64_t metadata_refresh_ms;/**< topic.metadata.refresh.interval.ms (300000), -1: never */
        int64_t message_max_bytes;  /**< message.max.bytes (1000000) */
        int64_t propagation_max_ms; /**< topic.metadata.propagation.max.ms (30000) */
        int allow_auto_create;      /**< allow.auto.create.topics (true for a producer) */
} insync_pconf_t;

typedef enum insync_partitioner_e {
        INSYNC_PART_CONSISTENT_RANDOM = 0, /**< crc32(key) % n; nil or empty key: sticky */
        INSYNC_PART_CONSISTENT,            /**< crc32(key) % n (empty: 0); nil key: sticky */
        INSYNC_PART_RANDOM,                /**< random */
} insync_partitioner_t;

/** Most partitions of one topic, and partition replicas (partitions times
 * replication factor, over all topics) of one cluster: each replica costs
 * the model under 1 KB before it holds a record (docs/limits.md). */
#define INSYNC_MAX_PARTITIONS 10000
#define INSYNC_MAX_REPLICAS 50000

/* The configuration schema (config.c): every key the model takes, once.
 * The defaults, the bounds the model clamps to, the binding's readers, the
 * Lua side's validation and the reference in docs/configuration.md and
 * docs/limits.md all come from this one table, as librdkafka's properties
 * come from the table of rdkafka_conf.c. */

/** The type of a key's value. */
typedef enum insync_ktype_e {
        INSYNC_KT_INT = 0, /**< an integer, or a decimal string ("2") */
        INSYNC_KT_BOOL,    /**< true or false, or "true" or "false"; 1 or 0 */
        INSYNC_KT_NUM,     /**< a number or a numeric string, rounded down */
        INSYNC_KT_ENUM,    /**< one of the names of values */
} insync_ktype_t;

/** Where a key is given, and so which struct holds it. */
typedef enum insync_kscope_e {
        INSYNC_KS_CLUSTER = 0, /**< an option of insync.cluster{}: insync_cconf_t */
        INSYNC_KS_BROKER,      /**< a broker key, cluster{ config = ... }: insync_cconf_t */
        INSYNC_KS_PRODUCER,    /**< a key of c:producer{}: insync_pconf_t */
} insync_kscope_t;

/** A name an ENUM key takes and the value it stands for. */
typedef struct insync_kval_s {
        const char *name;
        int64_t value;
} insync_kval_t;

/** One configuration key. */
typedef struct insync_key_s {
        const char *name;   /**< Kafka's or librdkafka's name (cluster: the option) */
        const char *alias;  /**< another name of the same key, or NULL */
        const char *topic;  /**< its name in a topic's config, or NULL when a
                                 topic cannot override it */
        int scope;          /**< insync_kscope_t */
        const char *field;  /**< the struct member, also its name in the table
                                 the Lua side hands the binding */
        size_t offset;      /**< of the member in its struct */
        size_t size;        /**< of the member: sizeof(int) or 8 */
        int type;           /**< insync_ktype_t */
        int64_t min, max;   /**< the values accepted */
        int64_t def;        /**< the value when not given (may be a sentinel
                                 outside [min, max], see doc) */
        int bound;          /**< the model clamps it into [min, max] whatever
                                 a caller passed: its arithmetic relies on it */
        const insync_kval_t *values; /**< ENUM: NULL-terminated, else NULL */
        const char *doc;    /**< one line for the reference */
} insync_key_t;

/** The keys, in the order of the reference; @p n gets their number. */
const insync_key_t *insync_keys(size_t *n);
/** The value of @p k in @p conf (the struct its scope names). */
int64_t insync_key_get(const void *conf, const insync_key_t *k);
void insync_key_set(void *conf, const insync_key_t *k, int64_t v);

void insync_cconf_defaults(insync_cconf_t *conf);
void insync_pconf_defaults(insync_pconf_t *conf);

/** Clamps each key the schema marks bound (the time settings and
 * latency_ms) into the range Kafka's or
 * librdkafka's configuration accepts for it (docs/limits.md), whatever a
 * caller passed: the model's arithmetic relies on these bounds. */
void insync_cconf_bound(insync_cconf_t *conf);
void insync_pconf_bound(insync_pconf_t *conf);

/** @returns NULL on memory exhaustion. */
insync_cluster_t *insync_cluster_new(const insync_cconf_t *conf);
void insync_cluster_free(insync_cluster_t *c);

/**
 * Creates a topic; @p assignment (partitions * rf broker ids, or NULL for
 * round robin) gives each partition's replicas in preference order.
 * @returns 0, or -1 with a message in @p err.
 */
int insync_cluster_create_topic(insync_cluster_t *c, const char *name,
                                int partitions, int rf, int min_isr,
                                int unclean, int64_t flush_messages,
                                int64_t flush_ms,
                                const int *assignment, char *err,
                                size_t errlen);
/** @returns the topic's index, or -1. */
int insync_cluster_topic(const insync_cluster_t *c, const char *name);
/** A topic name a producer sends to that the cluster does not have (yet):
 * @returns its wanted index w >= 0 (insync_cluster_send takes topic
 * -2 - w), or -1 on no memory. */
int insync_cluster_wanted_topic(insync_cluster_t *c, const char *name);
int insync_cluster_topic_partitions(const insync_cluster_t *c, int t);
/** @returns topic @p t's name (NULL when none): a topic may be created by
 * the model itself (auto.create.topics.enable). */
const char *insync_cluster_topic_name(const insync_cluster_t *c, int t);

/** @returns the producer's index, or -1 (too many nodes, no memory). */
int insync_cluster_producer(insync_cluster_t *c, const insync_pconf_t *conf);
/** The producer's network node. */
int insync_cluster_producer_node(const insync_cluster_t *c, int p);

/**
 * Accepts a record.  @p partition -1 lets the partitioner choose;
 * @p hdrs_size is the serialized size of its headers (the model keeps no
 * headers, only counts them against message.max.bytes);
 * @p timestamp (msg.timestamp, ms) may be NULL.
 * @returns 0 and the send id (1-based) in @p id; or an error code when the
 * record is refused at once (_QUEUE_FULL, or -1 for memory exhaustion).
 * A record over message.max.bytes, or for an unknown partition, is
 * accepted and completed with MSG_SIZE_TOO_LARGE or _UNKNOWN_PARTITION, as
 * librdkafka's producer reports them.  @p topic -2 - w names wanted topic w
 * (insync_cluster_wanted_topic): its records wait until the producer's
 * metadata finds it, or fail as librdkafka 2.0.2 fails them (topic.c).
 */
int insync_cluster_send(insync_cluster_t *c, int p, int topic, int partition,
                        const char *key, size_t klen, int has_key,
                        const char *value, size_t vlen, int has_value,
                        size_t hdrs_size, const int64_t *timestamp, uint32_t *id);

int64_t insync_cluster_now(const insync_cluster_t *c);
/** Sends accepted whose callback is not yet due. */
uint64_t insync_cluster_outstanding(const insync_cluster_t *c);

/**
 * Fires events due at or before @p until, stopping early right after an
 * event that completed a send.  @returns 1 when it stopped for a
 * completion, else 0 with now == @p until.
 */
int insync_cluster_step(insync_cluster_t *c, int64_t until);

/** A completed send, in completion order. */
typedef struct insync_report_s {
        uint32_t id;        /**< send id */
        int err;            /**< 0 on success */
        int64_t offset;     /**< -1 when unknown or failed */
        int persisted;      /**< insync_persisted_t */
        int fatal;
        int topic, partition;
        int producer;       /**< index of the producer that sent it */
        int64_t latency_ms;
        const char *key;    /**< its key (insync_cluster_report_take), NULL for nil */
        size_t klen;
} insync_report_t;

/**
 * A producer's fatal error (idempotence: OUT_OF_ORDER_SEQUENCE_NUMBER for its
 * oldest unacknowledged batch), once per producer, for its on_error.
 * @returns 0 when no producer has one not yet taken.
 */
int insync_cluster_fatal_take(insync_cluster_t *c, int *producer, int *err);

/** Whether a report or a fatal error waits to be handed out. */
int insync_cluster_due(const insync_cluster_t *c);

/** Peeks at the oldest report with its key, and drops it; @returns 0 when
 * none. */
int insync_cluster_report_take(insync_cluster_t *c, insync_report_t *r);

const char *insync_cluster_key(const insync_cluster_t *c, uint32_t id,
                               size_t *len);
const char *insync_cluster_value(const insync_cluster_t *c, uint32_t id,
                                 size_t *len);
/** @returns 1 and the send's msg.timestamp in @p ts, or 0 when it had none. */
int insync_cluster_timestamp(const insync_cluster_t *c, uint32_t id,
                             int64_t *ts);

/* Faults.  Broker ids 1..n; nodes: 0 controller, brokers, producer nodes.
 * @returns 0, or -1 with a message in err. */
int insync_cluster_crash(insync_cluster_t *c, int b, int lose_unflushed,
                         char *err, size_t errlen);
int insync_cluster_restart(insync_cluster_t *c, int b, char *err,
                           size_t errlen);
int insync_cluster_shutdown(insync_cluster_t *c, int b, char *err,
                            size_t errlen);
int insync_cluster_pause(insync_cluster_t *c, int b, char *err, size_t errlen);
int insync_cluster_resume(insync_cluster_t *c, int b, char *err,
                          size_t errlen);
void insync_cluster_cut(insync_cluster_t *c, int from, int to, int both);
/** Makes the link from -> to lose each message, one by one, while the
 *  connections over it stay up (not what TCP does). */
void insync_cluster_lossy(insync_cluster_t *c, int from, int to);
/** Sets the latency of the link from -> to; @returns 0, or -1 with a message. */
int insync_cluster_link_latency(insync_cluster_t *c, int from, int to,
                                const insync_latency_t *l, char *err,
                                size_t errlen);
/** Checks a distribution's figures; @returns 0, or -1 with a message. */
int insync_latency_check(const insync_latency_t *l, char *err, size_t errlen);
/** Sets broker @p b's disk write budget (bytes/ms, 0: unlimited);
 * @returns 0, or -1 with a message. */
int insync_cluster_disk(insync_cluster_t *c, int b, int64_t bytes_per_ms,
                        char *err, size_t errlen);
void insync_cluster_isolate(insync_cluster_t *c, int node);
void insync_cluster_heal(insync_cluster_t *c);
int insync_cluster_brokers(const insync_cluster_t *c);

/** The controller's view of a partition. */
typedef struct insync_pinfo_s {
        int leader;       /**< -1 when offline */
        int32_t epoch;    /**< leader epoch */
        int32_t pepoch;   /**< partition epoch */
        uint64_t isr;     /**< bit per broker */
        uint64_t elr;     /**< eligible leader replicas (KIP-966), bit per broker */
        int last_leader;  /**< KIP-966 last known leader, 0 when none */
        int rf;
        int replicas[64];
        int64_t hw;       /**< the leader's HW (or -1 when offline) */
} insync_pinfo_t;

/** One replica's state. */
typedef struct insync_rinfo_s {
        int online;       /**< broker process running */
        int role;         /**< 0 none, 1 leader, 2 follower (its own view) */
        int64_t leo, hw, flushed;
        int64_t durable;  /**< offsets below survive a power loss now: the
                               flushed ones and those the kernel has written back */
        int64_t hw_checkpoint; /**< the HW in its replication-offset-checkpoint */
        int32_t epoch;    /**< leader epoch it knows */
} insync_rinfo_t;

int insync_cluster_partition_info(const insync_cluster_t *c, int topic,
                                  int part, insync_pinfo_t *out);
/** @returns 0 when broker @p b holds no replica of it. */
int insync_cluster_replica_info(const insync_cluster_t *c, int topic, int part,
                                int b, insync_rinfo_t *out);
/** Record id and leader epoch at @p offset of broker b's replica. */
int insync_cluster_log_entry(const insync_cluster_t *c, int topic, int part,
                             int b, int64_t offset, uint32_t *id,
                             int32_t *epoch);

/* The KRaft controller quorum (controller.c).  Controllers are 1..n;
 * the network's node 0 is whichever is active.
 * @returns 0, or -1 with a message in err. */
int insync_cluster_controller_crash(insync_cluster_t *c, int id, char *err,
                                    size_t errlen);
int insync_cluster_controller_restart(insync_cluster_t *c, int id, char *err,
                                      size_t errlen);
/** The quorum's state: voters, the active controller (0: none), its
 * epoch, and a bit per running controller. */
void insync_cluster_quorum_info(const insync_cluster_t *c, int *voters,
                                int *active, int *epoch, uint32_t *alive);

/** Broker state: alive, powered, fenced (as the controller sees it),
 * shutting (a controlled shutdown has begun and the process still runs). */
int insync_cluster_broker_info(const insync_cluster_t *c, int b, int *alive,
                               int *fenced, int *powered, int *shutting,
                               int *paused);

/* Audit: the kinds and the result are the checker's (common/audit.h). */
/** Fills @p a (free with insync_audit_free). @returns -1 on no memory. */
int insync_cluster_audit(const insync_cluster_t *c, insync_audit_t *a);
/** Topic and partition of a send id. */
void insync_cluster_send_info(const insync_cluster_t *c, uint32_t id,
                              int *topic, int *partition);
/** The acks setting (-1, 0, 1) the send was made with. */
int insync_cluster_send_acks(const insync_cluster_t *c, uint32_t id);

/**
 * Checks the replication invariants; @returns 0, or 1 with a description
 * in @p err: HW above an online ISR member's LEO, two brokers leading one
 * partition in one epoch, an acks=all record acknowledged under
 * min.insync.replicas >= 2 no longer at its offset in the leader's log.
 */
int insync_cluster_check(const insync_cluster_t *c, char *err, size_t errlen);

/* Trace. */
typedef enum insync_trace_kind_e {
        INSYNC_T_APPEND = 0, INSYNC_T_FETCH, INSYNC_T_HW, INSYNC_T_ISR_SHRINK,
        INSYNC_T_ISR_EXPAND, INSYNC_T_FENCE, INSYNC_T_UNFENCE,
        INSYNC_T_ELECTION, INSYNC_T_UNCLEAN_ELECTION, INSYNC_T_TRUNCATE,
        INSYNC_T_REQUEST, INSYNC_T_RESPONSE, INSYNC_T_RETRY, INSYNC_T_CRASH,
        INSYNC_T_RESTART, INSYNC_T_SHUTDOWN, INSYNC_T_DROP, INSYNC_T_LEADER,
        INSYNC_T_FOLLOWER, INSYNC_T_TIMEOUT, INSYNC_T_DELIVERY, INSYNC_T_ELR,
        INSYNC_T_ELR_ELECTION, INSYNC_T_PREFERRED_ELECTION, INSYNC_T_EPOCH_BUMP,
        INSYNC_T_PAUSE, INSYNC_T_RESUME, INSYNC_T__N,
} insync_trace_kind_t;

typedef struct insync_trace_entry_s {
        int64_t t;       /**< virtual ms */
        int64_t a, b;    /**< kind-specific, see insync_trace_fields() */
        int32_t gp;      /**< global partition, -1 when none */
        int16_t node;    /**< where it happened */
        uint8_t kind;    /**< insync_trace_kind_t */
        int8_t acks;     /**< request: the producer's acks (-1, 0, 1); else 0 */
} insync_trace_entry_t;

const char *insync_trace_kind_name(int kind);
/** Names of fields a and b for @p kind (NULL when unused). */
void insync_trace_fields(int kind, const char **a, const char **b);
size_t insync_cluster_trace_len(const insync_cluster_t *c);
const insync_trace_entry_t *insync_cluster_trace_get(const insync_cluster_t *c,
                                                     size_t i);
/** Topic index and partition of a global partition index. */
void insync_cluster_gp(const insync_cluster_t *c, int32_t gp, int *topic,
                       int *part);
/** Bytes the model holds (records, logs, queues). */
uint64_t insync_cluster_memory(const insync_cluster_t *c);

/* One run of insync.explore (explore.c): the sends, the fault schedule,
 * the final recovery and settling, tallied in C.  The same steps as the
 * replay script lua/insync/explore.lua writes, through this API only. */

/** The fault kinds of a schedule. */
typedef enum insync_xkind_e {
        INSYNC_XF_KILL = 0, INSYNC_XF_POWER_LOSS, INSYNC_XF_SHUTDOWN,
        INSYNC_XF_PAUSE, INSYNC_XF_ISOLATE, INSYNC_XF_PARTITION,
        INSYNC_XF_PARTITION_MAJORITY, INSYNC_XF_DROP, INSYNC_XF__N,
} insync_xkind_t;

/** One fault of a schedule. */
typedef struct insync_xfault_s {
        int64_t t_ms;    /**< when it starts, virtual ms */
        int64_t for_ms;  /**< how long it lasts */
        int kind;        /**< insync_xkind_t */
        int broker;      /**< 1..brokers; 0: the leader of the first topic's
                              partition 0 when it starts */
        int hit;         /**< out: the broker it hit, 0 when skipped */
} insync_xfault_t;

/** A run: producer @p producer of the cluster sends record i (1-based) at
 * floor((i - 1) * 1000 / rate) ms to topics[(i - 1) % ntopics], key
 * "k<i % keys>" (none when keys is 0), value "r<i>". */
typedef struct insync_xcase_s {
        int producer;
        const int *topics;    /**< topic indices, round robin */
        int ntopics;
        int64_t records;
        double rate;          /**< records per virtual second, > 0 */
        int64_t keys;         /**< distinct keys; 0: no key */
        int64_t duration_ms;  /**< the final recovery starts then */
        int max_down;         /**< brokers out of service at once, at most */
        insync_xfault_t *faults; /**< sorted by t_ms (stable) */
        int nfaults;
        int64_t end_ms;       /**< the final recovery starts at
                                   max(duration_ms, end_ms, the last step) */
} insync_xcase_t;

/** A count per distinct value (an error code, a latency in ms). */
typedef struct insync_xcount_s {
        int64_t value;
        uint64_t n;
} insync_xcount_t;

/** What a run gave. */
typedef struct insync_xresult_s {
        uint64_t acked, failed;   /**< reports: without and with an error */
        uint64_t taken;           /**< reports taken off the queue */
        uint32_t first_id;        /**< the first send's id (0: none sent) */
        uint64_t sent;            /**< sends the model accepted */
        int skipped;              /**< faults skipped (target out of
                                       service, or max_down reached) */
        int64_t end_ms;           /**< when the final recovery started: a
                                       skipped fault's start after the last
                                       send and duration_ms delays it, and a
                                       replay without that fault must wait
                                       as long */
        uint64_t audit[6];        /**< items per insync_audit_kind_t */
        insync_xcount_t *errors;  /**< failed reports per error code */
        size_t nerrors, caperrors;
        insync_xcount_t *latency; /**< acked reports per latency_ms, sorted */
        size_t nlatency, caplatency;
} insync_xresult_t;

/**
 * Runs @p x on @p c (its topics and producer made, nothing sent yet):
 * at one moment fault ends, then fault starts, then the send; a fault
 * whose broker is out of service (taken by a fault, down, hung, shutting
 * down or fenced), or that would take more than max_down brokers out, is
 * skipped (a drop only when no leader); ending a network fault heals and
 * applies the others again.  At duration_ms: heal, resume, let controlled
 * shutdowns finish, restart; run until every send is reported (one virtual
 * hour at most) and up to 30 s more until each partition is calm; audit.
 * @returns 0, or -1 with a message in @p err (@p r is filled either way;
 * free it with insync_xresult_free).
 */
int insync_explore_run(insync_cluster_t *c, insync_xcase_t *x,
                       insync_xresult_t *r, char *err, size_t errlen);
void insync_xresult_free(insync_xresult_t *r);

#endif
