/**
 * @file config.c
 * @brief Defaults: Apache Kafka's for brokers and topics, librdkafka's for
 * the producer.  Validation of names and types is in lua/insync/cluster.lua;
 * these are the values a key that is not given takes.
 */
#include <stdint.h>

#include "cluster.h"

void insync_cconf_defaults(insync_cconf_t *conf) {
        conf->brokers = 3;
        conf->seed = 1;
        conf->latency_ms = 1;
        conf->latency.kind = INSYNC_LAT_FIXED;
        conf->latency.a = 1;
        conf->latency.b = 0;
        conf->net_bytes_per_ms = 0;
        conf->trace = 0;
        conf->strict_min_isr = 1;
        conf->min_isr = 1;
        conf->unclean = 0;
        conf->elr = 0;
        conf->lag_ms = 30000;
        conf->session_ms = 9000;
        conf->heartbeat_ms = 2000;
        conf->fetch_wait_ms = 500;
        conf->fetch_max_bytes = 1048576;
        conf->fetch_response_max_bytes = 10485760;
        conf->fetch_min_bytes = 1;
        conf->num_fetchers = 1;
        conf->skip_idle = 1;
        conf->fetch_backoff_ms = 1000;
        conf->socket_timeout_ms = 30000;
        conf->flush_messages = INT64_MAX;
        conf->flush_ms = INT64_MAX;
        conf->default_partitions = 1;
        conf->default_rf = 1;
        conf->auto_rebalance = 1;
        conf->imbalance_check_s = 300;
}

void insync_pconf_defaults(insync_pconf_t *conf) {
        conf->acks = -1;
        conf->idempotence = 0;
        conf->retries = 2147483647;
        conf->message_timeout_ms = 300000;
        conf->request_timeout_ms = 30000;
        conf->socket_timeout_ms = 60000;
        conf->retry_backoff_ms = 100;
        conf->linger_ms = 5;
        conf->batch_size = 1000000;
        conf->batch_num_messages = 10000;
        conf->max_in_flight = 1000000;
        conf->partitioner = INSYNC_PART_CONSISTENT_RANDOM;
        conf->queue_max_messages = 100000;
        conf->queue_max_kbytes = 1048576;
        conf->sticky_ms = 10;
        conf->metadata_fast_ms = 250;
        conf->metadata_refresh_ms = 300000;
        conf->message_max_bytes = 1000000;
}

#define INT_MAX_MS 2147483647 /* an INT setting of Kafka or librdkafka */
#define MAX_LATENCY_MS 3600000

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) {
        return v < lo ? lo : v > hi ? hi : v;
}

void insync_cconf_bound(insync_cconf_t *conf) {
        conf->latency_ms = clamp(conf->latency_ms, 0, MAX_LATENCY_MS);
        conf->lag_ms = clamp(conf->lag_ms, 1, INT64_MAX);
        conf->session_ms = clamp(conf->session_ms, 1, INT_MAX_MS);
        conf->heartbeat_ms = clamp(conf->heartbeat_ms, 1, INT_MAX_MS);
        conf->fetch_wait_ms = clamp(conf->fetch_wait_ms, 0, INT_MAX_MS);
        conf->fetch_backoff_ms = clamp(conf->fetch_backoff_ms, 0, INT_MAX_MS);
        conf->fetch_max_bytes = clamp(conf->fetch_max_bytes, 1, INT_MAX_MS);
        conf->fetch_response_max_bytes =
                clamp(conf->fetch_response_max_bytes, 1, INT_MAX_MS);
        conf->fetch_min_bytes = clamp(conf->fetch_min_bytes, 1, INT_MAX_MS);
        conf->num_fetchers = (int)clamp(conf->num_fetchers, 1, 16);
        conf->socket_timeout_ms = clamp(conf->socket_timeout_ms, 1, INT_MAX_MS);
        conf->flush_ms = clamp(conf->flush_ms, 1, INT64_MAX);
        conf->imbalance_check_s = clamp(conf->imbalance_check_s, 1, INT64_MAX);
}

void insync_pconf_bound(insync_pconf_t *conf) {
        conf->message_timeout_ms = clamp(conf->message_timeout_ms, 0, INT_MAX_MS);
        conf->request_timeout_ms = clamp(conf->request_timeout_ms, 1, 900000);
        conf->socket_timeout_ms = clamp(conf->socket_timeout_ms, 10, 300000);
        conf->retry_backoff_ms = clamp(conf->retry_backoff_ms, 1, 300000);
        conf->linger_ms = clamp(conf->linger_ms, 0, 900000);
        conf->sticky_ms = clamp(conf->sticky_ms, 0, 900000);
        conf->metadata_fast_ms = clamp(conf->metadata_fast_ms, 1, 60000);
        conf->metadata_refresh_ms = clamp(conf->metadata_refresh_ms, -1, 3600000);
}
