/**
 * @file conf.h
 * @brief librdkafka's judgement of producer configuration, for both
 * engines: the model checks a key it does not model with librdkafka's own
 * rd_kafka_conf_set, so that one configuration table drives both and a typo
 * raises on both with librdkafka's message.  No lua.h.
 */
#ifndef INSYNC_RK_CONF_H
#define INSYNC_RK_CONF_H

#include <stddef.h>

/**
 * Checks that librdkafka accepts @p value for property @p key, on a scratch
 * configuration made and freed here.  @returns 0, or -1 with librdkafka's
 * message in @p errbuf (never quoting a secret's value).
 */
int insync_rk_conf_check(const char *key, const char *value, char *errbuf,
                         size_t size);

/**
 * @returns why insync refuses property @p key although librdkafka knows it
 * (the transactional producer's keys: insync has no transactions), or NULL.
 */
const char *insync_rk_conf_unsupported(const char *key);

#endif
