/**
 * @file mock.h
 * @brief librdkafka's embedded mock cluster (rdkafka_mock.h) on a handle of
 * its own, and the names of Kafka's request types.  No lua.h.
 */
#ifndef INSYNC_RK_MOCK_H
#define INSYNC_RK_MOCK_H

#include <stddef.h>
#include <sys/types.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/** Most brokers of one mock cluster, and partitions of one of its topics:
 * librdkafka asserts (aborts the process) when it cannot allocate them or
 * runs out of file descriptors (docs/limits.md). */
#define INSYNC_RK_MOCK_MAX_BROKERS 64
#define INSYNC_RK_MOCK_MAX_PARTITIONS 10000

typedef struct insync_rk_mock_s {
        rd_kafka_t *rk;              /**< the handle the cluster needs;
                                      *   NULL before init and after destroy */
        rd_kafka_mock_cluster_t *mc; /**< NULL iff rk is NULL */
        unsigned fork_gen;           /**< insync_rk_fork_generation() when
                                      *   made: a forked child never uses
                                      *   or destroys them */
        int brokers;                 /**< broker ids are 1..brokers */
} insync_rk_mock_t;

/**
 * Starts a cluster of @p brokers brokers.  @p m must be zeroed.
 * @returns 0, or -1 with the reason in @p errbuf.
 */
int insync_rk_mock_init(insync_rk_mock_t *m, int brokers, char *errbuf,
                        size_t size);

/** @returns 1 when this process is a fork of the one that made the cluster. */
int insync_rk_mock_forked(const insync_rk_mock_t *m);

/** Stops the cluster (not in a forked child).  Idempotent. */
void insync_rk_mock_destroy(insync_rk_mock_t *m);

/**
 * @returns the ApiKey of Kafka request type @p name ("Produce" is 0,
 * "InitProducerId" 22), or -1 when the name is unknown.
 */
int insync_rk_api_key(const char *name);

#endif
