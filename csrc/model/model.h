/**
 * @file model.h
 * @brief The model's internal structures, shared by its files: a
 * discrete-event simulation of a KRaft Kafka cluster and librdkafka-like
 * producers, in virtual milliseconds.  Pure C11: no lua.h, no librdkafka.
 *
 * Node numbering (the network's matrix): 0 is the controller, 1..n the
 * brokers, n+1.. the producers.  Brokers are at most 63 so that an ISR is a
 * bit mask (bit b = broker b).
 *
 * Where the model follows Kafka, the comment names the Kafka source:
 * core/src/main/scala/kafka/cluster/Partition.scala (HW, ISR),
 * core/.../server/DelayedProduce.scala (acks=all purgatory),
 * core/.../server/ReplicaManager.scala (produce, fetch),
 * metadata/.../controller/ReplicationControlManager.java (KRaft fencing,
 * elections), and librdkafka's src/rdkafka_msg.c / rdkafka_request.c for the
 * producer.
 */
#ifndef INSYNC_MODEL_H
#define INSYNC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "../common/kerr.h"

/* 1 in a build under AddressSanitizer (gcc's macro, clang's feature):
 * the model then reuses no memory of its own, so that the sanitizer sees
 * every allocation freed. */
#if defined(__SANITIZE_ADDRESS__)
#define INSYNC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define INSYNC_ASAN 1
#endif
#endif
#ifndef INSYNC_ASAN
#define INSYNC_ASAN 0
#endif

#define INSYNC_MAX_BROKERS 64
#define INSYNC_MAX_NODES 256
#define INSYNC_NOLEN UINT32_MAX     /**< a nil key or value */
#define INSYNC_NEVER INT64_MAX

/** @p now + @p d for a delay d >= 0, saturated at INSYNC_NEVER (never
 * due): virtual time never overflows, however long a configured delay. */
static inline int64_t insync_after(int64_t now, int64_t d) {
        return d > INSYNC_NEVER - now ? INSYNC_NEVER : now + d;
}

/* librdkafka's local error numbers the model reports (not in kerr.h). */
#define INSYNC_KERR__UNKNOWN_TOPIC (-188)
#define INSYNC_KERR__UNKNOWN_PARTITION (-190)
#define INSYNC_KERR_INVALID_UPDATE_VERSION 95
#define INSYNC_KERR_INELIGIBLE_REPLICA 107

/* ---------------------------------------------------------------- sim.c */

typedef enum insync_evtype_e {
        INSYNC_EV_MSG = 1,      /**< p: a network message arrives */
        /* timers that run in broker a (a paused broker holds them:
         * dispatch.c's table says so of each) */
        INSYNC_EV_HEARTBEAT,    /**< a: broker, b: incarnation */
        INSYNC_EV_ISR_CHECK,    /**< a: broker, b: incarnation */
        INSYNC_EV_FETCH_CHECK,  /**< a: broker, b: incarnation */
        INSYNC_EV_FLUSH,        /**< a: broker, b: incarnation */
        INSYNC_EV_CS_HEARTBEAT, /**< a: broker, b: incarnation: one extra
                                     heartbeat during a controlled shutdown */
        INSYNC_EV_CS_DEADLINE,  /**< a: broker, b: incarnation: a controlled
                                     shutdown gives up waiting (5 minutes) */
        INSYNC_EV_REGISTER,     /**< a: broker, b: incarnation: registration
                                     again, if the controller refused it */
        INSYNC_EV_HW_CHECKPOINT,/**< a: broker, b: incarnation: the HW
                                     checkpoint file is written */
        INSYNC_EV_FETCH_WAIT,   /**< a: leader broker, b: fetcher key << 32 | parked gen */
        INSYNC_EV_FETCH_RETRY,  /**< a: follower broker, b: fetcher key << 32 | session */
        INSYNC_EV_DP_TIMEOUT,   /**< a: broker, b: gp: its purgatory's deadlines */
        /* the controller's */
        INSYNC_EV_SESSION,      /**< a: broker, b: heartbeat count */
        INSYNC_EV_BALANCE,      /**< the controller's leader balance check */
        INSYNC_EV_QUORUM,       /**< b: quorum generation: an election ends */
        /* the producers' */
        INSYNC_EV_LINGER,       /**< a: producer, b: pp << 32 | gen */
        INSYNC_EV_RETRY,        /**< a: producer, b: pp */
        INSYNC_EV_REQ_TIMEOUT,  /**< a: producer, b: request id */
        INSYNC_EV_SCAN,         /**< a: producer: message timeout scan */
        INSYNC_EV_META,         /**< a: producer: metadata refresh timer */
        INSYNC_EV__N            /**< the number of types, plus one */
} insync_evtype_t;

typedef struct insync_ev_s {
        int64_t t;      /**< virtual ms when it fires */
        uint32_t key;   /**< among equal t: 0 (every other event) first,
                             then a fetcher's events by its key (1 + its
                             index), so that a skipped idle fetcher's turn
                             is known without its events (fetcher.c) */
        uint64_t seq;   /**< insertion number: the tie-break after key */
        uint32_t type;  /**< insync_evtype_t */
        uint32_t a;
        uint64_t b;     /**< a timer's (a message's holds nothing) */
        void *p;        /**< a message's (a timer's holds nothing) */
} insync_ev_t;

/** An event as the queue keeps it (sim.c): 32 bytes, its order in two
 * words, (t, key << 32 | seq), compared as one 128-bit number. */
typedef struct insync_qev_s {
        uint64_t t;   /**< insync_ev_t.t (never negative) */
        uint64_t ord; /**< key << 32 | seq (seq: 32 bits, renumbered in
                           order when it would wrap) */
        uint64_t x;   /**< b, or p for a message (whose b is 0) */
        uint32_t a, type;
} insync_qev_t;

/** One min-heap of queued events. */
typedef struct insync_qheap_s {
        insync_qev_t *v;
        size_t n, cap;
} insync_qheap_t;

/** A near event in its ms's list (sim.c). */
typedef struct insync_qnode_s {
        insync_qev_t e;
        uint32_t next; /**< the next in its list, or the next free node;
                            0: none */
} insync_qnode_t;

#ifndef INSYNC_SIM_NEAR
#define INSYNC_SIM_NEAR 2048 /**< ms: the near events' horizon (a power of 2, at most 4096) */
#endif

/** The event queue.  An event due less than INSYNC_SIM_NEAR ms after it
 * was scheduled (a message, a linger, a fetch wait: nearly all of them) is
 * near: it joins the list of its ms (t modulo INSYNC_SIM_NEAR: every near
 * event is due within that many ms of now), in (key, seq) order, most
 * often at its end; a bitmap tells which ms have events.  An event due
 * later (a timeout, most of them never firing: a request is answered long
 * before its socket timeout) goes to the far heap.  The next event is the
 * smaller of the first near one and the far heap's top: the order is the
 * same as one heap's. */
typedef struct insync_heap_s {
        struct insync_qms_s {
                uint32_t first, last; /**< nodes */
                uint32_t last0;       /**< the last of key 0, 0: none */
        } *ms; /**< each ms's list, INSYNC_SIM_NEAR of them (allocated, not
                    cleared: an entry counts only while its busy bit is set) */
        uint64_t busy[INSYNC_SIM_NEAR / 64]; /**< bit per ms with events */
        uint64_t busy_words; /**< bit per word of busy that is not 0 */
        insync_qnode_t *node; /**< node[0] unused: 0 means none */
        uint32_t nnode, capnode, free; /**< nodes handed out, allocated; free list */
        size_t nnear;                  /**< near events queued */
        insync_qheap_t far;
        uint64_t seq; /**< next insertion number */
} insync_heap_t;

/* ------------------------------------------------------------ records.c */

typedef enum insync_recstate_e {
        INSYNC_REC_PENDING = 0, /**< accepted, callback not yet due */
        INSYNC_REC_ACKED = 1,   /**< delivered successfully */
        INSYNC_REC_FAILED = 2,  /**< delivered with an error */
} insync_recstate_t;

#define INSYNC_PART_NONE UINT16_MAX /* insync_rec_t.part: no partition */

/** One sent record, stored once for every replica that holds it. */
typedef struct insync_rec_s {
        uint64_t data;      /**< arena position of key bytes, then value bytes;
                                 with INSYNC_REC_TS, of the timestamp before them */
        int64_t offset;     /**< offset reported on success, -1 when unknown */
        uint32_t klen;      /**< key length, INSYNC_NOLEN for nil */
        uint32_t vlen;      /**< value length, INSYNC_NOLEN for nil */
        uint32_t enq;       /**< virtual ms when sent (latency_ms base) */
        uint16_t part;      /**< partition; INSYNC_PART_NONE: none (refused
                                 before the partitioner chose one) */
        uint8_t topic;      /**< topic index */
        uint8_t state;      /**< insync_recstate_t | (acks + 1) << 4 */
} insync_rec_t;

#define INSYNC_ARENA_CHUNK_BITS 22 /**< 4 MiB chunks; a record fits in one */
#define INSYNC_REC_TS ((uint64_t)1 << 63) /**< in data: a timestamp precedes the key */

typedef struct insync_records_s {
        insync_rec_t *rec;  /**< rec[i] is send id i + 1 */
        uint8_t *prod;      /**< prod[i]: index of the producer that sent it */
        uint32_t n, cap;
        char **chunk;       /**< key/value bytes, chunked so nothing moves */
        uint32_t nchunk, chunk_cap;
        uint32_t used;      /**< bytes used in the last chunk */
        uint64_t arena_bytes; /**< bytes allocated in chunks */
} insync_records_t;

/* ---------------------------------------------------------------- log.c */

/** A batch as it sits in a replica's log. */
typedef struct insync_lbatch_s {
        uint32_t base;     /**< first offset */
        uint32_t count;    /**< records; base + count <= log length */
        int32_t epoch;     /**< leader epoch that appended it */
        int32_t pid;       /**< producer id, -1 when not idempotent */
        int32_t base_seq;  /**< sequence of the first record */
        int32_t pepoch;    /**< producer epoch */
        int64_t t;         /**< virtual ms it was appended here (written to
                                the page cache): non-decreasing in a log */
} insync_lbatch_t;

typedef struct insync_epoch_s {
        int32_t epoch;     /**< leader epoch */
        uint32_t start;    /**< first offset written in it */
} insync_epoch_t;

#define INSYNC_PSTATE_BATCHES 5 /**< Kafka keeps the last 5 batches */

/** Per producer id, the last batches (ProducerStateManager). */
typedef struct insync_pstate_s {
        int32_t pid;
        int32_t pepoch;
        int n;                         /**< batches kept, <= 5 */
        int32_t first_seq[INSYNC_PSTATE_BATCHES];
        int32_t last_seq[INSYNC_PSTATE_BATCHES];
        uint32_t base[INSYNC_PSTATE_BATCHES]; /**< base offset of each */
} insync_pstate_t;

typedef struct insync_log_s {
        uint32_t *ids;        /**< ids[o] = record index at offset o */
        uint32_t len, cap;    /**< len = log end offset (LEO) */
        insync_lbatch_t *b;   /**< batches in offset order */
        uint32_t nb, bcap;
        insync_epoch_t *ep;   /**< leader epoch cache, epochs increasing */
        uint32_t nep, epcap;
        insync_pstate_t *ps;  /**< producer states */
        uint32_t nps, pscap;
        uint32_t flushed;     /**< offsets below were fsynced (Kafka's recovery
                                   point): they survive a power loss */
        int64_t last_flush;   /**< LocalLog.lastFlushTime: when the log was
                                   loaded or last flushed something */
} insync_log_t;

/* --------------------------------------------------------- partition.c */

typedef enum insync_role_e {
        INSYNC_ROLE_NONE = 0, INSYNC_ROLE_LEADER, INSYNC_ROLE_FOLLOWER,
} insync_role_t;

/** The leader's view of one follower (Replica.scala's ReplicaState), by
 * the follower's position in the partition's replicas.  A fetch that
 * leaves the partition out (an incremental fetch session, KIP-227, omits
 * what did not change) updates it lazily: see fetcher.c. */
typedef struct insync_fstate_s {
        int64_t leo;            /**< last fetch offset, -1 unknown */
        int64_t caught_up;      /**< lastCaughtUpTimeMs */
        int64_t last_fetch_leo; /**< leader LEO at the previous fetch */
        int64_t last_fetch_t;   /**< time of the previous fetch */
        int64_t hw_sent;        /**< HW the last response told it, -1 none */
        uint8_t seen;           /**< a fetch of this leadership carried it */
        uint8_t dirty;          /**< in its fetcher's list of partitions
                                     with something to answer */
} insync_fstate_t;

/** A produce request waiting for the HW (DelayedProduce). */
typedef struct insync_dp_s {
        uint64_t id;       /**< for its timeout event */
        uint64_t req;      /**< producer's request id */
        int node;          /**< producer node */
        uint32_t base;     /**< base offset appended */
        uint32_t end;      /**< required offset: HW must reach it */
        int64_t deadline;  /**< its request.timeout.ms runs out */
} insync_dp_t;

/** One broker's replica of one partition. */
typedef struct insync_replica_s {
        insync_log_t log;
        int64_t hw;           /**< local high watermark, <= log.len */
        int role;             /**< insync_role_t */
        int leader;           /**< leader broker as last told, -1 none */
        int32_t epoch;        /**< leader epoch as last told, -1 none */
        int32_t pepoch;       /**< partition epoch as last told */
        uint64_t isr;         /**< ISR as last told (committed) */
        /* leader side */
        int pending;          /**< an AlterPartition is outstanding */
        uint64_t pending_isr; /**< the ISR it proposes */
        uint32_t epoch_start; /**< leader epoch start offset */
        insync_fstate_t *f;   /**< by position in the replicas (rf of them) */
        insync_dp_t *dp;      /**< purgatory, in append order */
        int64_t dp_timer;     /**< its DP_TIMEOUT is due then (0: none) */
        uint32_t ndp, dpcap;
        /* follower side */
        struct insync_fetcher_s *fetcher; /**< the fetcher it is in, or NULL */
        uint32_t fpos;        /**< its index in fetcher->parts */
        uint8_t in_chg;       /**< in fetcher->chg */
        uint8_t delayed;      /**< in backoff after an error, until delay_until */
        int64_t delay_until;
        int64_t hw_ck;        /**< the HW in this broker's replication-offset-
                                   checkpoint file: what a restart reads back */
} insync_replica_t;

/** One ReplicaFetcherThread: follower broker, leader broker, fetcher id
 * (AbstractFetcherManager.getFetcherId), with its fetch session (KIP-227).
 * Both ends of the session are here: the follower's partitions and the
 * leader's view of the session (what it owes, the parked request). */
typedef struct insync_fetcher_s {
        int follower, leader, id;
        uint32_t key;         /**< 1 + index in c->fl: its events' key */
        uint32_t session;     /**< bumped on a reset: older replies dropped */
        int full;             /**< the next request opens a new session */
        int fetching;         /**< a request is outstanding */
        int64_t fetch_sent;   /**< when it was sent */
        int retry_armed;      /**< a FETCH_RETRY timer is pending */
        uint32_t *parts;      /**< follower: partitions fetched (gp) */
        uint32_t nparts, pcap;
        uint32_t *chg;        /**< follower: partitions the next incremental
                                   request carries (changed since) */
        uint32_t nchg, ccap;
        uint32_t ndelayed;    /**< follower: partitions in backoff */
        /* leader side */
        uint32_t *dirty;      /**< partitions with data or a HW to answer */
        uint32_t ndirty, dcap;
        struct insync_fout_s *out; /**< errors and diverging epochs to answer */
        uint32_t nout, ocap;
        int parked;           /**< the request waits (DelayedFetch) */
        uint32_t parked_gen;  /**< matches the FETCH_WAIT timer */
        int64_t last_arrival; /**< when the last request arrived */
        uint32_t srv_session; /**< session of the request being answered */
        /* skipping idle periods */
        int dormant;          /**< idle since a0: no event of it is queued */
        int64_t a0;           /**< arrival of the request that went idle */
} insync_fetcher_t;

/** One partition's entry of a fetch request. */
typedef struct insync_freq_s {
        uint32_t gp;
        int32_t epoch;        /**< current leader epoch */
        int32_t epoch2;       /**< last fetched epoch, -1 none */
        int64_t offset;       /**< fetch offset */
} insync_freq_t;

/** One partition's entry of a fetch response (or an owed error). */
typedef struct insync_fout_s {
        uint32_t gp;
        int err;
        int diverging;        /**< truncate to epoch2 / end */
        int32_t epoch, epoch2;
        int64_t end, hw, offset;
        uint32_t ids_at, nids;        /**< in the message's ids */
        uint32_t batches_at, nbatches;/**< in the message's batches */
} insync_fout_t;

/* ---------------------------------------------------------------- cluster */

typedef struct insync_topic_s {
        char *name;
        int32_t hash;          /**< Java's String.hashCode of the name */
        int partitions;
        int rf;
        uint32_t gp0;          /**< global index of partition 0 */
        int min_isr;           /**< min.insync.replicas */
        int unclean;           /**< unclean.leader.election.enable */
        int64_t flush_messages;/**< flush.messages */
        int64_t flush_ms;      /**< flush.ms, < 0: the broker's */
        int wanted;            /**< its index in the cluster's wanted names (a
                                    producer sent to it before it existed), -1 */
} insync_topic_t;

/** The controller's record of a partition. */
typedef struct insync_cpart_s {
        int topic, part;
        int replicas[INSYNC_MAX_BROKERS]; /**< assignment order */
        int rf;
        int leader;          /**< -1: offline */
        int32_t epoch;       /**< leader epoch */
        int32_t pepoch;      /**< partition epoch */
        uint64_t isr;        /**< never empty once created (KRaft keeps the last
                                  member), unless ELR is on (KIP-966): then empty
                                  when the last member is fenced */
        uint64_t elr;        /**< eligible leader replicas: empty unless ELR is on
                                  and the ISR is below min ISR; never meets the ISR */
        int last_leader;     /**< lastKnownElr: the leader when the ISR became
                                  empty (ELR on), 0 when none */
} insync_cpart_t;

/** What a broker knows of a partition from the metadata it received. */
typedef struct insync_meta_s {
        int leader;
        int32_t epoch;
        int32_t pepoch;
} insync_meta_t;

typedef struct insync_broker_s {
        int id;
        int alive;            /**< process running */
        int paused;           /**< hung (SIGSTOP): alive, but handles nothing;
                                   what reaches it waits in held */
        int powered;          /**< machine on (power loss turns it off) */
        uint32_t inc;         /**< incarnation: timers of older ones are void */
        insync_replica_t **rep; /**< by global partition; NULL when not a replica */
        insync_meta_t *meta;  /**< metadata cache by global partition */
        int64_t fc_at;        /**< broker: its FETCH_CHECK is due then */
        int isr_dirty;        /**< an ISR expiry check may find something:
                                   some partition it leads has an ISR
                                   follower behind its log end, or an
                                   AlterPartition pending */
        uint32_t *gps;        /**< partitions it holds a replica of */
        uint32_t ngps, gpscap;
        /* controller's view */
        int fenced;           /**< controller: fenced */
        int registered;       /**< controller: this incarnation registered */
        uint64_t hb_count;    /**< controller: heartbeats received */
        uint64_t meta_seen;   /**< metadata version the broker holds */
        uint32_t clean_inc;   /**< broker: the incarnation that last stopped with a
                                   controlled shutdown (Kafka's clean shutdown
                                   file), 0 when the last stop was a crash */
        uint32_t reg_inc;     /**< controller: the incarnation last registered */
        int64_t last_contact; /**< controller: virtual ms of its last
                                   registration or heartbeat */
        int64_t reg_prev;     /**< broker: previousBrokerEpoch its
                                   registrations carry (-1: none) */
        int64_t reg_backoff;  /**< broker: wait before registering again */
        /* controlled shutdown (BrokerLifecycleManager, BrokerHeartbeatManager) */
        int shutting;         /**< broker: PENDING_CONTROLLED_SHUTDOWN: alive,
                                   heartbeats ask to shut down; 0 when not alive */
        int cs_replied;       /**< broker: a heartbeat reply came during it */
        int starting;         /**< broker: registering, or told it is still fenced
                                   (STARTING, RECOVERY): heartbeats every 10 ms */
        int in_cs;            /**< controller: CONTROLLED_SHUTDOWN: unfenced, but
                                   neither leader nor ISR member (not active);
                                   0 when fenced */
        uint64_t cs_offset;   /**< controller: metadata version that every active
                                   broker must report before it may stop */
        uint64_t hb_version;  /**< controller: metadata version in its last heartbeat */
        int64_t boot_ms;      /**< when the machine was last powered on: the
                                   kernel flusher wakes every
                                   dirty_writeback_centisecs from then */
        int64_t disk_free_us; /**< when its disk has written what was queued */
        int64_t disk_bytes_per_ms; /**< its disk write budget, 0: unlimited */
        uint64_t reg_version; /**< controller: metadata version of its registration
                                   record: unfenced once a heartbeat reports it */
        int64_t meta_lag_ms;  /**< extra delay of the metadata it receives */
} insync_broker_t;

/* ----------------------------------------------------------- producer.c */

typedef struct insync_pbatch_s {
        uint32_t *ids;         /**< record indexes, in send order */
        uint32_t n, cap;
        uint64_t bytes;        /**< key + value bytes */
        uint64_t vbytes;       /**< value bytes (queue.buffering.max.kbytes) */
        uint64_t order;        /**< creation number: queue order */
        int64_t deadline;      /**< message timeout, INSYNC_NEVER for none */
        int32_t base_seq;      /**< idempotence: sequence of ids[0] */
        int32_t pepoch;        /**< idempotence: producer epoch used */
        int64_t not_before;    /**< retry backoff */
        uint32_t retries;      /**< attempts after the first */
        uint8_t persisted;     /**< insync_persisted_t so far */
        uint8_t sent;          /**< ever sent */
        uint8_t inflight;      /**< a request carries it now */
        uint8_t connecting;    /**< acks=0: its request opens the connection */
        struct insync_pbatch_s *next; /**< queue link */
} insync_pbatch_t;

/** librdkafka's state of a topic (rd_kafka_topic_t.rkt_state) that a
 * producer sent to before the cluster had it. */
typedef enum insync_tstate_e {
        INSYNC_TOPIC_NONE = 0,  /**< never sent to */
        INSYNC_TOPIC_UNKNOWN,   /**< no answer yet, or "does not exist" within
                                     topic.metadata.propagation.max.ms */
        INSYNC_TOPIC_NOTEXISTS, /**< sends fail with _UNKNOWN_TOPIC at once */
        INSYNC_TOPIC_EXISTS,
} insync_tstate_t;

typedef struct insync_ptopic_s {
        int state;            /**< insync_tstate_t */
        int64_t ts_create;    /**< rkt_ts_create: the first send */
        uint32_t *ids;        /**< records waiting unassigned (the UA partition) */
        int64_t *sent;        /**< when each was sent (its message timeout) */
        uint32_t n, cap;
} insync_ptopic_t;

/** A producer's state for one partition. */
typedef struct insync_ppart_s {
        insync_pbatch_t *acc;  /**< open batch (accumulating) */
        insync_pbatch_t *head; /**< ready batches, ordered by order */
        insync_pbatch_t *tail; /**< the last of them, NULL when none */
        uint32_t linger_gen;   /**< matches the LINGER timer */
        int32_t next_seq;      /**< idempotence: next sequence to assign */
        int32_t acked_seq;     /**< idempotence: next sequence not yet acked
                                    (rktp_eos.next_ack_seq) */
        int32_t err_seq;       /**< idempotence: the sequence an error is
                                    expected at (rktp_eos.next_err_seq) */
        int wait_drain;        /**< idempotence: send nothing until what is
                                    in flight has completed (wait_drain) */
        int inflight;          /**< records in flight (rktp_msgs_inflight) */
        int leader;            /**< known leader, -1 unknown */
        int32_t epoch;         /**< its leader epoch, -1 unknown */
        int retry_armed;       /**< a RETRY timer is pending */
        int sticky;            /**< partition 0 only: keyless records go here */
        int64_t sticky_until;  /**< partition 0 only: until then */
} insync_ppart_t;

typedef struct insync_preq_s {
        insync_pbatch_t *batch; /**< NULL when the slot is free */
        uint64_t id;            /**< slot | gen << 24 */
        int broker;
        int pp;                 /**< producer partition index (gp) */
        uint32_t conn;          /**< the connection it was written on */
} insync_preq_t;

typedef struct insync_producer_s {
        int node;               /**< network node */
        int index;
        insync_pconf_t conf;
        int32_t pid;            /**< producer id, -1 when not idempotent */
        int32_t pepoch;         /**< producer epoch */
        int bump_pending;       /**< drain, then bump the epoch */
        insync_ppart_t *pp;     /**< by global partition */
        uint32_t npp;
        int inflight[INSYNC_MAX_BROKERS + 1]; /**< per broker connection */
        insync_preq_t *req;     /**< request slots */
        uint32_t nreq, reqcap;
        uint32_t *reqfree;      /**< free slot stack */
        uint32_t nfree;
        uint32_t reqgen;
        uint64_t queued;        /**< accepted, callback not yet due */
        uint64_t queued_bytes;  /**< their value bytes, as librdkafka counts
                                 *   queue.buffering.max.kbytes */
        uint64_t order;         /**< batch creation counter */
        insync_pbatch_t *bfree; /**< batches to reuse, with their ids'
                                 *   memory (producer.c) */
        uint32_t nbfree;
        int meta_pending;       /**< a refresh is in progress */
        int scan_armed;         /**< a SCAN timer is pending */
        uint8_t down[INSYNC_MAX_BROKERS + 1]; /**< the connection to the broker
                                 *   was refused and is not up again */
        uint32_t conn[INSYNC_MAX_BROKERS + 1]; /**< generation of the connection
                                 *   to each broker: a failed connection's
                                 *   requests are all failed, and what
                                 *   answers on it later is ignored */
        uint32_t conn_broken[INSYNC_MAX_BROKERS + 1]; /**< the newest generation
                                 *   that lost a message on the wire: nothing
                                 *   more passes on it, either way */
        uint8_t up[INSYNC_MAX_BROKERS + 1]; /**< the connection to the broker
                                 *   has answered and not failed since: it
                                 *   may be asked for metadata */
        int64_t last_send[INSYNC_MAX_BROKERS + 1]; /**< when a request last
                                 *   went to the broker */
        int64_t conn_timeouts[INSYNC_MAX_BROKERS + 1]; /**< requests timed out
                                 *   on the current connection
                                 *   (rkb_req_timeouts) */
        int64_t meta_wait[INSYNC_MAX_BROKERS + 1]; /**< when the oldest
                                 *   unanswered metadata request to the broker
                                 *   went out, -1: none */
        uint32_t meta_next;     /**< the broker to connect to next, with
                                 *   no connection up */
        insync_ptopic_t *pt;    /**< by the cluster's wanted topic index */
        uint32_t npt;
        int topic_rr;           /**< the broker the next topic query goes to */
        int fatal_err;          /**< the idempotent producer's fatal error, 0: none */
        int fatal_told;         /**< on_error has been handed fatal_err */
} insync_producer_t;

/* ---------------------------------------------------------------- net.c */

typedef enum insync_msgtype_e {
        INSYNC_M_PRODUCE = 1, INSYNC_M_PRODUCE_RESP, INSYNC_M_FETCH,
        INSYNC_M_FETCH_RESP, INSYNC_M_HEARTBEAT, INSYNC_M_HEARTBEAT_RESP,
        INSYNC_M_REGISTER, INSYNC_M_ALTER_ISR, INSYNC_M_ALTER_ISR_RESP,
        INSYNC_M_PSTATE, INSYNC_M_META_REQ, INSYNC_M_META_RESP,
        INSYNC_M_TOPIC_REQ,   /**< a Metadata request naming one wanted topic (gp) */
        INSYNC_M_TOPIC_RESP,  /**< err 0 and leader = topic index, or
                                   UNKNOWN_TOPIC_OR_PART */
        INSYNC_M__N           /**< the number of types, plus one */
} insync_msgtype_t;

typedef struct insync_msg_s {
        int type;             /**< insync_msgtype_t */
        int from, to;         /**< nodes */
        int rst;              /**< a connection reset, not a reply */
        int refused;          /**< with rst: the connection was refused (the
                                   process was already dead), so the request
                                   never left the client */
        int diverging;        /**< fetch reply: truncate to epoch2/end */
        int shut;             /**< heartbeat: wantShutDown; its reply:
                                   shouldShutDown */
        int fenced;           /**< heartbeat (or registration) reply: the
                                   broker is still fenced */
        int connect;          /**< produce: sent on a new connection, whose
                                   setup is answered (acks=0 only); its
                                   reply: that answer, not Kafka's */
        int fin;              /**< the broker closed the connection (a FIN):
                                   every request on it fails */
        uint32_t conn;        /**< producer <-> broker: the producer's
                                   connection generation, 0 for others */
        uint32_t gp;          /**< global partition */
        int err;
        uint64_t req;         /**< request id / fetch session */
        int64_t offset;       /**< base offset / fetch offset */
        int64_t hw;
        int32_t epoch;        /**< leader epoch */
        int32_t epoch2;       /**< last fetched / diverging epoch */
        int64_t end;          /**< diverging end offset */
        int32_t pepoch;       /**< partition epoch */
        uint64_t isr;
        int leader;
        int acks;
        int64_t timeout;
        int32_t pid, prod_epoch, base_seq;
        uint64_t version;     /**< metadata version */
        uint32_t key;         /**< event key (fetcher's, 0 for others) */
        int full;             /**< fetch: opens a new session */
        uint32_t nids, nbatches, nparts;
        uint32_t *ids;        /**< records */
        insync_lbatch_t *batches;
        void *parts;          /**< fetch: insync_freq_t; reply: insync_fout_t */
        /* Not cleared when the message is reused (net.c): from here on.
         * The arrays' own memory, kept through the free list; ids, batches
         * and parts point into it (insync_net_ids, _batches, _parts) or at
         * memory of their own, freed with the message. */
        uint32_t *ids_buf;
        insync_lbatch_t *batches_buf;
        void *parts_buf;
        uint32_t ids_cap, batches_cap; /**< elements */
        size_t parts_cap;              /**< bytes */
        struct insync_msg_s *next_free; /**< in the cluster's free list */
} insync_msg_t;

/* ---------------------------------------------------------- trace.c */

typedef struct insync_trace_s {
        insync_trace_entry_t *e;
        size_t n, cap;
        int on;
} insync_trace_t;

/* ---------------------------------------------------------- completion */

typedef struct insync_compl_s {
        uint32_t rec;          /**< record index */
        int32_t err;           /**< 0 on success */
        int64_t offset;        /**< -1 unknown */
        uint8_t persisted;
        uint8_t fatal;
} insync_compl_t;

#define INSYNC_MAX_LAT 16  /**< latency distributions per cluster, [0] the default */

/** A latency distribution ready to draw from (latency.c). */
typedef struct insync_lat_s {
        int kind;               /**< insync_lat_kind_t */
        int64_t lo_us, hi_us;   /**< fixed: lo; uniform: lo..hi */
        int64_t *table;         /**< log-normal: 256 quantiles in us */
} insync_lat_t;

struct insync_cluster_s {
        insync_cconf_t conf;
        int64_t now;
        uint64_t rng[4];        /**< xoshiro256** state */
        insync_heap_t heap;
        insync_ev_t *held;      /**< events of paused brokers, in firing order
                                     (dispatch.c) */
        size_t nheld, heldcap;
        int nbrokers;
        insync_broker_t br[INSYNC_MAX_BROKERS + 1]; /**< by id, [0] unused */
        int nnodes;             /**< 1 + brokers + producers */
        uint8_t *cut;           /**< cut[from * MAX_NODES + to]: nothing passes;
                                     NULL until a link's first fault (net.c) */
        insync_topic_t *topics;
        int ntopics;
        insync_cpart_t *cp;     /**< controller state by global partition */
        uint32_t ngp;
        uint64_t meta_version;  /**< bumped on every controller change */
        uint32_t imbalanced;    /**< partitions whose leader is not their first
                                     replica (offline ones included) */
        int balance_scheduled;  /**< an INSYNC_EV_BALANCE is pending */
        int balance_soon;       /**< the last check hit its election limit: the
                                     next one runs 10 ms later, not an interval */
        uint32_t ctl_alive;     /**< bit i: controller i (1..voters) runs */
        int ctl_active;         /**< the active controller, 0 while none */
        int32_t ctl_epoch;      /**< Raft epoch of the active controller */
        uint64_t ctl_gen;       /**< voids election events of an older state */
        insync_producer_t **prod;
        int nprod;
        insync_records_t recs;
        insync_compl_t *cq;     /**< completion queue */
        size_t cq_head, cq_n, cq_cap;
        uint64_t outstanding;   /**< accepted sends not yet completed */
        int fatal_untold;       /**< producers whose fatal error on_error has not had */
        uint64_t dp_id;         /**< delayed produce ids */
        insync_trace_t trace;
        uint64_t msgs_alive;    /**< network messages allocated (in flight) */
        insync_msg_t *msg_free; /**< messages to reuse (net.c), at most
                                     INSYNC_MSG_FREE of them */
        int nmsg_free;
        int conn_broken_any;    /**< a producer's connection lost a message
                                     (net.c): until then, none is checked */
        insync_lat_t lat[INSYNC_MAX_LAT]; /**< [0] every link's, others per link */
        int nlat;
        uint8_t *lat_link;      /**< [from * MAX_NODES + to]: index in lat, 0 the
                                     default; NULL until a link has its own */
        int64_t *lat_last;      /**< [from * lat_dim + to]: last arrival, so a
                                     link keeps its order; NULL while fixed */
        int lat_dim;
        uint64_t lat_rng[4];    /**< the latency draws' own xoshiro256** */
        int64_t nic_free_us[INSYNC_MAX_BROKERS + 1]; /**< when each broker's
                                     outbound network is free again (us) */
        char **wanted;          /**< names producers sent to before they existed */
        int nwanted;
        insync_fetcher_t **fetchers; /**< [(f * 64 + l) * nf + id], NULL
                                     until used (fetcher.c) */
        insync_fetcher_t **fl;  /**< every fetcher, by key - 1 */
        uint32_t nfl, flcap;
        uint32_t cur_key;       /**< key of the event being handled (or last
                                     handled at now); UINT32_MAX between
                                     steps, when every event at now is done */
};

/* mem.c: big arrays (>= 4 MiB) mapped on huge pages where the system
 * allows; the caller passes the array's size to each call */
void *insync_mem_grow(void *p, size_t old, size_t n); /* realloc; p NULL: new */
void insync_mem_free(void *p, size_t n);

/* sim.c */
void insync_sim_at(insync_cluster_t *c, int64_t t, int type, uint32_t a,
                   uint64_t b, void *p);
/** insync_sim_at with an ordering key (a fetcher's events). */
void insync_sim_at_key(insync_cluster_t *c, int64_t t, uint32_t key, int type,
                       uint32_t a, uint64_t b, void *p);
uint64_t insync_sim_rand(insync_cluster_t *c);

/** One step of xoshiro256** over the state @p s (sim.c): the model's
 * random streams (c->rng, and the latencies' own c->lat_rng) share it. */
uint64_t insync_xoshiro(uint64_t s[4]);
void insync_sim_seed(insync_cluster_t *c, uint64_t seed);
/** Pops the next event into @p e when one is due at or before @p until;
 * @returns 0 when none is. */
int insync_sim_pop(insync_cluster_t *c, int64_t until, insync_ev_t *e);
/** Hands every queued event to @p each (may be NULL), then frees the queue. */
void insync_sim_free(insync_cluster_t *c,
                     void (*each)(insync_cluster_t *, const insync_ev_t *));
/** The bytes the event queue holds besides the cluster's own struct. */
size_t insync_sim_memory(const insync_cluster_t *c);

/* dispatch.c: the step loop (insync_cluster_step, cluster.h) */
void insync_dispatch_release(insync_cluster_t *c, int b); /* b's held events, due now */
/** Frees the messages still queued or held, then the queue. */
void insync_dispatch_free(insync_cluster_t *c);

/* net.c */
insync_msg_t *insync_net_msg(insync_cluster_t *c, int type, int from, int to);
void insync_net_send(insync_cluster_t *c, insync_msg_t *m);
/** A message's arrival: @returns 0 when a cut link, a lossy one or a
 * broken connection lost it (traced and freed), else 1. */
int insync_net_arrives(insync_cluster_t *c, insync_msg_t *m);
/** A connection reset for request @p m (its sender learns it one latency
 * later). */
void insync_net_reset(insync_cluster_t *c, insync_msg_t *m);
/** A produce request's new connection accepted (its answer, acks=0). */
void insync_net_accept(insync_cluster_t *c, insync_msg_t *m);
void insync_net_free(insync_cluster_t *c, insync_msg_t *m);
void insync_net_free_all(insync_cluster_t *c); /* the free list and the links, at the cluster's end */
/** Room for @p n record ids in @p m->ids (kept: realloc's growth), for
 * @p n batches in @p m->batches, for @p bytes in @p m->parts (not kept):
 * the message's own memory, reused with the message. */
uint32_t *insync_net_ids(insync_msg_t *m, uint32_t n);
insync_lbatch_t *insync_net_batches(insync_msg_t *m, uint32_t n);
void *insync_net_parts(insync_msg_t *m, size_t bytes);
int insync_net_passes(const insync_cluster_t *c, int from, int to);
/* the values of cut[]: nothing passes (and a producer's connection breaks),
 * or single messages are lost (c:lossy) */
#define INSYNC_LINK_CUT 1
#define INSYNC_LINK_LOSSY 2
/** The link @p from -> @p to in state @p state (INSYNC_LINK_*). */
void insync_net_link(insync_cluster_t *c, int from, int to, int state);
/** Every link passes again. */
void insync_net_heal(insync_cluster_t *c);
void insync_net_close(insync_cluster_t *c, const insync_msg_t *m);
void insync_net_broker_closed(insync_cluster_t *c, int b);

/* latency.c */
void insync_latency_init(insync_cluster_t *c);
int insync_latency_setup(insync_cluster_t *c); /* -1: no memory */
void insync_latency_free(insync_cluster_t *c);
/** When message m, sent now, arrives: its broker's network budget, then its
 * link's latency. */
int64_t insync_latency_arrival(insync_cluster_t *c, const insync_msg_t *m);
/** Whether link from -> to may get distribution @p l: @returns 0, or -1
 * with a message in @p err. */
int insync_latency_link_check(const insync_cluster_t *c, int from, int to,
                              const insync_latency_t *l, char *err,
                              size_t errlen);
/** Gives the link it (checked); @returns 0, or -1 on no memory. */
int insync_latency_link(insync_cluster_t *c, int from, int to,
                        const insync_latency_t *l, char *err, size_t errlen);

/* records.c */
int insync_records_add(insync_records_t *r, const char *k, size_t kl,
                       const char *v, size_t vl, const int64_t *ts,
                       uint32_t *idx);
/** @returns 1 and the record's msg.timestamp in @p ts, or 0 without one. */
int insync_records_timestamp(const insync_records_t *r, uint32_t i,
                             int64_t *ts);
const char *insync_records_key(const insync_records_t *r, uint32_t i);
const char *insync_records_value(const insync_records_t *r, uint32_t i);
void insync_records_free(insync_records_t *r);

/* log.c */
int insync_log_append(insync_log_t *l, const uint32_t *ids, uint32_t n,
                      int32_t epoch, int32_t pid, int32_t pepoch,
                      int32_t base_seq, int64_t now);
/** UnifiedLog.flush: fsyncs up to the LEO; when that flushed anything, the
 * recovery point and lastFlushTime move. */
void insync_log_flush(insync_log_t *l, int64_t now);
/** The length of the prefix whose batches were appended at or before @p t. */
uint32_t insync_log_len_at(const insync_log_t *l, int64_t t);
void insync_log_truncate(insync_log_t *l, uint32_t len);
void insync_log_assign_epoch(insync_log_t *l, int32_t epoch, uint32_t start);
int32_t insync_log_latest_epoch(const insync_log_t *l);
void insync_log_end_for_epoch(const insync_log_t *l, int32_t epoch,
                              int32_t *out_epoch, int64_t *out_end);
insync_pstate_t *insync_log_pstate(insync_log_t *l, int32_t pid);
void insync_log_free(insync_log_t *l);
uint32_t insync_log_batch_at(const insync_log_t *l, uint32_t offset);

/* fetcher.c */
void insync_fetcher_add(insync_cluster_t *c, int f, insync_replica_t *r,
                        uint32_t gp);
void insync_fetcher_remove(insync_cluster_t *c, insync_replica_t *r,
                           uint32_t gp);
void insync_fetcher_change(insync_fetcher_t *s, insync_replica_t *r,
                           uint32_t gp);
void insync_fetcher_send(insync_cluster_t *c, insync_fetcher_t *s);
/** The leader's view of follower position @p pos, brought up to date with
 * the fetches that left the partition out. */
insync_fstate_t *insync_fetcher_fstate(insync_cluster_t *c, int b, uint32_t gp,
                                       insync_replica_t *r, int pos);
void insync_fetcher_mark(insync_fetcher_t *s, insync_fstate_t *fs, uint32_t gp);
void insync_fetcher_wake(insync_cluster_t *c, insync_fetcher_t *s);
void insync_fetcher_wake_all(insync_cluster_t *c);
/** Makes sure the follower's FETCH_CHECK comes by @p s's request's
 * replica.socket.timeout.ms. */
void insync_fetcher_arm_check(insync_cluster_t *c, insync_fetcher_t *s);
int insync_fetcher_may_sleep(const insync_cluster_t *c,
                             const insync_fetcher_t *s);
void insync_fetcher_free_all(insync_cluster_t *c);

/** Broker @p b's replica of global partition @p gp, NULL when it holds none
 * (or b or gp is out of range). */
static inline insync_replica_t *insync_broker_replica(insync_cluster_t *c,
                                                      int b, uint32_t gp) {
        if (b < 1 || b > c->nbrokers || gp >= c->ngp)
                return NULL;
        return c->br[b].rep[gp];
}

/** Broker @p b's position in partition @p gp's replicas, -1 when none. */
static inline int insync_partition_pos(const insync_cluster_t *c, uint32_t gp,
                                       int b) {
        const insync_cpart_t *cp = &c->cp[gp];
        for (int i = 0; i < cp->rf; i++)
                if (cp->replicas[i] == b)
                        return i;
        return -1;
}

/* partition.c */
void insync_partition_produce(insync_cluster_t *c, int b, insync_msg_t *m);
void insync_partition_fetch(insync_cluster_t *c, int b, insync_msg_t *m);
void insync_partition_fetch_resp(insync_cluster_t *c, int b, insync_msg_t *m);
void insync_partition_fetch_wait(insync_cluster_t *c, int b, uint32_t key,
                                 uint32_t gen);
void insync_partition_dp_timeout(insync_cluster_t *c, int b, uint64_t id);
void insync_partition_isr_check(insync_cluster_t *c, int b);
void insync_partition_apply_state(insync_cluster_t *c, int b, uint32_t gp,
                                  int leader, int32_t epoch, int32_t pepoch,
                                  uint64_t isr);
void insync_partition_alter_resp(insync_cluster_t *c, int b, insync_msg_t *m);
void insync_partition_fetch_retry(insync_cluster_t *c, int b, uint32_t key,
                                  uint64_t session);
void insync_partition_fetch_check(insync_cluster_t *c, int b);
void insync_partition_resign(insync_cluster_t *c, int b, uint32_t gp,
                             int reset);

/* broker.c */
void insync_broker_timer(insync_cluster_t *c, int type, int b, uint64_t inc);
void insync_broker_start(insync_cluster_t *c, int b);
/** A broker of a new cluster, running and registered, its timers armed. */
void insync_broker_create(insync_cluster_t *c, int b);
void insync_broker_stop(insync_cluster_t *c, int b, int power_loss);
/** What of replica @p r on broker @p b a power loss now would leave:
 * the flushed prefix, or more where the kernel has written back. */
uint32_t insync_broker_durable(const insync_cluster_t *c, int b,
                               const insync_replica_t *r);
void insync_broker_meta_req(insync_cluster_t *c, int b, insync_msg_t *m);
void insync_broker_begin_shutdown(insync_cluster_t *c, int b);
void insync_broker_heartbeat_resp(insync_cluster_t *c, int b, insync_msg_t *m);

/* controller.c */
void insync_controller_recv(insync_cluster_t *c, insync_msg_t *m);
void insync_controller_session(insync_cluster_t *c, int b, uint64_t count);
void insync_controller_broadcast(insync_cluster_t *c, uint32_t gp);
int insync_controller_elect(insync_cluster_t *c, uint32_t gp,
                            uint64_t exclude);
void insync_controller_maybe_schedule_balance(insync_cluster_t *c);
void insync_controller_balance(insync_cluster_t *c);
void insync_controller_init(insync_cluster_t *c);
void insync_controller_quorum_event(insync_cluster_t *c, uint64_t gen);

/* producer.c */
void insync_producer_recv(insync_cluster_t *c, insync_producer_t *p,
                          insync_msg_t *m);
void insync_producer_timer(insync_cluster_t *c, int type, uint32_t a,
                           uint64_t b);
void insync_producer_free(insync_producer_t *p);
/** Makes room for partitions created since; @returns -1 on no memory. */
int insync_producer_grow(insync_cluster_t *c, insync_producer_t *p);

/* topic.c */
void insync_topic_req(insync_cluster_t *c, int b, insync_msg_t *m);

/* crc32.c: for the partitioner (producer.c) */
uint32_t insync_crc32(const void *data, size_t len);

/* trace.c */
void insync_trace_add(insync_cluster_t *c, int kind, int node, int64_t gp,
                      int64_t a, int64_t b);
/** A request entry, with the producer's acks. */
void insync_trace_request(insync_cluster_t *c, int node, int64_t gp,
                          int64_t leader, int64_t count, int acks);
void insync_trace_free(insync_trace_t *t);

/* completion.c: a send's outcome, for the binding's report */
void insync_complete(insync_cluster_t *c, uint32_t rec, int err, int64_t offset,
                     int persisted, int fatal);

static inline int insync_bit(uint64_t m, int b) {
        return b >= 0 && b < 64 ? (int)((m >> b) & 1) : 0;
}
static inline int insync_popcount(uint64_t m) { return __builtin_popcountll(m); }

#endif
