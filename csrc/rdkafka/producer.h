/**
 * @file producer.h
 * @brief The librdkafka side of insync.producer: one producer handle, its
 * main event queue, the event being handed out, the topic handles and the
 * free list of send slots.  No lua.h: the binding (csrc/lua/producer.c)
 * turns what is here into Lua values.
 *
 * Delivery reports, errors, logs and statistics all arrive as events on the
 * handle's main queue (rd_kafka_conf_set_events), which the binding polls
 * from the application's own thread.  No librdkafka callback ever runs
 * application code, so nothing unwinds a librdkafka frame.
 *
 * Every message carries as its opaque an integer, never a pointer: the slot
 * under which the binding keeps the callback and opaque, shifted left by one,
 * with bit 0 set when the send has an opaque value (0: neither); on a
 * tracking producer, bits 32-63 hold the send's tracked id (track.h).
 */
#ifndef INSYNC_RK_PRODUCER_H
#define INSYNC_RK_PRODUCER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <librdkafka/rdkafka.h>

#include "track.h"

/**
 * A send librdkafka refused at once for a reason other than a full queue
 * (_UNKNOWN_PARTITION, _UNKNOWN_TOPIC, _MSG_SIZE_TOO_LARGE, a fatal error):
 * it is accepted all the same and its report, with this error, is handed out
 * by the next poll, as the model does.
 */
typedef struct insync_rk_failed_s {
        intptr_t opaque;         /**< the message opaque it would have had */
        rd_kafka_topic_t *rkt;   /**< its topic (one of the producer's) */
        int32_t partition;       /**< as asked (-1: the partitioner's) */
        int err;                 /**< the error; for a fatal error, the
                                  *   underlying one, with fatal set */
        int fatal;               /**< 1 if err is the producer's fatal error */
        char *key;               /**< a copy of the key, or NULL */
        size_t key_len;          /**< its length */
} insync_rk_failed_t;

/** A message opaque's parts (see above). */
#define INSYNC_RK_OP_SLOT(op) ((int)(((uintptr_t)(op) >> 1) & 0x7fffffff))
#define INSYNC_RK_OP_TRACKED(op) ((uint32_t)((uint64_t)(uintptr_t)(op) >> 32))

typedef struct insync_rk_producer_s {
        rd_kafka_t *rk;           /**< NULL before init and after destroy */
        rd_kafka_queue_t *queue;  /**< rk's main queue; NULL iff rk is NULL */
        rd_kafka_event_t *cur;    /**< event partly handed out (a callback
                                   *   raised), resumed first; or NULL */
        unsigned fork_gen;        /**< insync_rk_fork_generation() when rk
                                   *   was made: if it differs, this is a
                                   *   forked child and rk is the parent's */
        rd_kafka_topic_t **topics; /**< every topic handle made by
                                    *   insync_rk_producer_topic() */
        size_t ntopics;           /**< used entries of topics */
        size_t captopics;         /**< allocated entries of topics */
        int *free_slots;          /**< slots given back, reused LIFO */
        size_t nfree;             /**< used entries of free_slots */
        size_t capfree;           /**< allocated entries of free_slots */
        int next_slot;            /**< lowest slot never handed out (>= 1) */
        insync_rk_failed_t *failed; /**< refused sends, FIFO from
                                     *   failed[failed_head] to
                                     *   failed[nfailed - 1] */
        size_t failed_head;       /**< next one to hand out */
        size_t nfailed;           /**< end of the used entries */
        size_t capfailed;         /**< allocated entries of failed */
        int64_t outstanding;      /**< accepted sends whose report has not
                                   *   been handed out yet */
        int64_t sent;             /**< accepted sends since creation */
        int64_t delivered;        /**< reports handed out without an error */
        int64_t undelivered;      /**< reports handed out with an error */
        int watched;              /**< insync_rk_producer_watch() was called */
        insync_rk_track_t *track; /**< what `track = true` remembers, or
                                   *   NULL; outlives destroy (the audit
                                   *   runs on a closed producer too) */
} insync_rk_producer_t;

/** Event kinds the binding subscribes to (librdkafka's RD_KAFKA_EVENT_*). */
#define INSYNC_RK_EV_ERROR RD_KAFKA_EVENT_ERROR
#define INSYNC_RK_EV_LOG RD_KAFKA_EVENT_LOG
#define INSYNC_RK_EV_STATS RD_KAFKA_EVENT_STATS

/**
 * Sets @p key to @p value on @p conf.  On failure writes into @p errbuf
 * librdkafka's message (or, for a secret key, a message that does not
 * contain the value) and returns -1; else 0.
 */
int insync_rk_conf_set(rd_kafka_conf_t *conf, const char *key,
                       const char *value, char *errbuf, size_t size);

/**
 * Creates the producer from @p conf (always consumed, even on failure),
 * subscribing to delivery reports plus the kinds in @p events.  @p p must be
 * zeroed.  @returns 0, or -1 with the reason in @p errbuf.
 */
int insync_rk_producer_init(insync_rk_producer_t *p, rd_kafka_conf_t *conf,
                            int events, char *errbuf, size_t size);

/**
 * @returns the event to hand out next: the one left partly handed out, else
 * the next on the queue, waiting up to @p timeout_ms (-1: no bound) for one;
 * NULL when there is none.  The event stays p->cur until
 * insync_rk_producer_event_done().
 */
rd_kafka_event_t *insync_rk_producer_next_event(insync_rk_producer_t *p,
                                                int timeout_ms);

/**
 * Makes librdkafka set *@p flag to 1 (from its own thread) whenever an
 * event is queued on the empty main queue (rd_kafka_queue_cb_event_enable),
 * so that a poll that finds it at 0, having set it to 0 itself before it
 * last emptied the queue, knows without asking librdkafka that nothing is
 * waiting.  *@p flag must outlive the handle or insync_rk_producer_destroy.
 */
void insync_rk_producer_watch(insync_rk_producer_t *p, volatile int32_t *flag);

/** Destroys p->cur. */
void insync_rk_producer_event_done(insync_rk_producer_t *p);

/**
 * @returns the topic handle for @p name, made on first use and kept until
 * destroy; NULL with the reason in @p errbuf when librdkafka refuses it.
 */
rd_kafka_topic_t *insync_rk_producer_topic(insync_rk_producer_t *p,
                                           const char *name, char *errbuf,
                                           size_t size);

/**
 * Queues the report of a send librdkafka refused (see insync_rk_failed_t),
 * copying @p key.  @returns 0, or -1 when memory is exhausted.
 */
int insync_rk_producer_fail(insync_rk_producer_t *p, intptr_t opaque,
                            rd_kafka_topic_t *rkt, int32_t partition, int err,
                            int fatal, const char *key, size_t key_len);

/**
 * @returns the oldest refused send not yet handed out, removed from the
 * queue (valid until the next call here), or NULL.  Its key is freed by the
 * next call.
 */
const insync_rk_failed_t *insync_rk_producer_next_failed(
        insync_rk_producer_t *p);

/** @returns a free slot (>= 1), or -1 when memory is exhausted. */
int insync_rk_producer_slot_get(insync_rk_producer_t *p);

/** Gives @p slot back; it is reused by a later send. */
void insync_rk_producer_slot_put(insync_rk_producer_t *p, int slot);

/** @returns 1 when this process is a fork of the one that made the handle. */
int insync_rk_producer_forked(const insync_rk_producer_t *p);

/**
 * Purges every undelivered message (queued and in flight) so that its
 * delivery report (_PURGE_QUEUE, _PURGE_INFLIGHT) is queued at once.
 */
void insync_rk_producer_purge(insync_rk_producer_t *p);

/**
 * Frees everything, handing nothing out: purges what is undelivered, drops
 * the queued events, destroys topic handles, queue and handle.  In a forked
 * child it forgets the parent's librdkafka state instead of destroying it
 * (its threads do not exist here).  Idempotent; never calls back.
 */
void insync_rk_producer_destroy(insync_rk_producer_t *p);

#endif
