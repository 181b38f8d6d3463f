/**
 * @file consumer.h
 * @brief The librdkafka side of insync.consumer: a consumer without a group
 * that reads the partitions it is assigned, from the offsets it is told.
 * No lua.h: the binding (csrc/lua/consumer.c) turns what is here into Lua
 * values; the real producer's audit (csrc/rdkafka/audit.c) reads with it.
 *
 * Errors and partition ends arrive on the consumer queue with the records
 * (rd_kafka_poll_set_consumer), polled from the application's own thread.
 * librdkafka hands some errors (a partition the topic lacks, brokers down)
 * to an error callback instead: insync's, in C, run by that same poll,
 * keeps them in a FIFO for the binding.  No librdkafka callback runs
 * application code.
 */
#ifndef INSYNC_RK_CONSUMER_H
#define INSYNC_RK_CONSUMER_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

/** Where an assigned partition starts (librdkafka's logical offsets). */
#define INSYNC_RK_FROM_BEGINNING RD_KAFKA_OFFSET_BEGINNING
#define INSYNC_RK_FROM_END RD_KAFKA_OFFSET_END

/** An error librdkafka gave the error callback. */
typedef struct insync_rk_cerror_s {
        int err;
        char *reason; /**< a copy, or NULL */
} insync_rk_cerror_t;

typedef struct insync_rk_consumer_s {
        rd_kafka_t *rk;           /**< NULL before init and after destroy */
        unsigned fork_gen;        /**< insync_rk_fork_generation() when rk
                                   *   was made (see producer.h) */
        rd_kafka_topic_partition_list_t *assigned; /**< the assignment, or
                                   *   NULL; each entry's err is
                                   *   RD_KAFKA_RESP_ERR__PARTITION_EOF
                                   *   while that partition is at its end
                                   *   (no record since its last EOF) */
        int64_t consumed;         /**< records handed out since creation */
        insync_rk_cerror_t *errors; /**< from the error callback, FIFO from
                                     *   errors[err_head] to errors[nerrors-1] */
        size_t err_head, nerrors, caperrors;
        int64_t errors_dropped;   /**< errors memory could not hold */
} insync_rk_consumer_t;

/**
 * Creates the consumer from @p conf (always consumed, even on failure).
 * @p c must stay where it is until destroy (librdkafka's error callback
 * gets its address).  Unless @p conf sets them: enable.auto.commit and enable.auto.offset.store
 * false (it never commits: it has no group), enable.partition.eof true
 * (insync_rk_consumer_at_end needs the ends), group.id "insync.consumer"
 * (librdkafka's assign needs one; the consumer never joins it: it does not
 * subscribe, and commits nothing).  @p c must be zeroed.
 * @returns 0, or -1 with the reason in @p errbuf.
 */
int insync_rk_consumer_init(insync_rk_consumer_t *c, rd_kafka_conf_t *conf,
                            char *errbuf, size_t size);

/**
 * Replaces the assignment with @p n partitions: @p topics[i], @p parts[i],
 * starting at @p offsets[i] (>= 0, or INSYNC_RK_FROM_BEGINNING /
 * INSYNC_RK_FROM_END); n = 0 clears it.  @returns librdkafka's error code
 * (0: assigned).
 */
int insync_rk_consumer_assign(insync_rk_consumer_t *c, size_t n,
                              const char *const *topics, const int32_t *parts,
                              const int64_t *offsets);

/**
 * @returns the next record or error of the consumer queue, waiting up to
 * @p timeout_ms for it, or NULL.  Partition ends (_PARTITION_EOF) are noted
 * for insync_rk_consumer_at_end and never returned.  The caller destroys
 * what it gets with rd_kafka_message_destroy.
 */
rd_kafka_message_t *insync_rk_consumer_next(insync_rk_consumer_t *c,
                                            int timeout_ms);

/**
 * @returns the oldest error the error callback kept, removed (its reason is
 * the caller's to free), or 0 when there is none.
 */
int insync_rk_consumer_next_error(insync_rk_consumer_t *c, char **reason);

/** @returns 1 when every assigned partition is at its end (0 if none). */
int insync_rk_consumer_at_end(const insync_rk_consumer_t *c);

/**
 * The low and high watermarks of a partition, asked of its leader
 * (rd_kafka_query_watermark_offsets).  @returns librdkafka's error code.
 */
int insync_rk_consumer_watermarks(insync_rk_consumer_t *c, const char *topic,
                                  int32_t partition, int64_t *low,
                                  int64_t *high, int timeout_ms);

/**
 * @returns the number of partitions of @p topic from the cluster's
 * metadata, or -1 with librdkafka's error code in @p err.
 */
int insync_rk_consumer_partitions(insync_rk_consumer_t *c, const char *topic,
                                  int timeout_ms, int *err);

/** @returns 1 when this process is a fork of the one that made the handle. */
int insync_rk_consumer_forked(const insync_rk_consumer_t *c);

/**
 * Closes the consumer (rd_kafka_consumer_close: it has no group to leave,
 * so it does not wait) and frees everything; in a forked child it only
 * forgets the parent's handle.  Idempotent.
 */
void insync_rk_consumer_destroy(insync_rk_consumer_t *c);

#endif
