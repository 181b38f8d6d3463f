/**
 * @file conf.c
 * @brief librdkafka's judgement of producer configuration (see conf.h).
 */
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "producer.h"

int insync_rk_conf_check(const char *key, const char *value, char *errbuf,
                         size_t size) {
        rd_kafka_conf_t *scratch = rd_kafka_conf_new();
        int rc = insync_rk_conf_set(scratch, key, value, errbuf, size);
        rd_kafka_conf_destroy(scratch);
        return rc;
}

const char *insync_rk_conf_unsupported(const char *key) {
        /* librdkafka takes them, and then a producer that never calls
         * rd_kafka_init_transactions() gets _STATE for every send. */
        if (strcmp(key, "transactional.id") == 0 ||
            strcmp(key, "transaction.timeout.ms") == 0)
                return "not supported: insync has no transactions yet "
                       "(a transactional producer needs init_transactions, "
                       "begin and commit, which insync does not offer)";
        return NULL;
}
