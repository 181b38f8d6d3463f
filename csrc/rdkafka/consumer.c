/**
 * @file consumer.c
 * @brief The librdkafka side of insync.consumer (see consumer.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "fork.h"

/* Sets key to value unless the application set it.  librdkafka's
 * assign needs a group.id even though the consumer never joins the group
 * (it never subscribes) nor commits to it. */
static int conf_default(rd_kafka_conf_t *conf, const char *key,
                        const char *value, char *errbuf, size_t size) {
        char buf[256];
        size_t len = sizeof(buf);
        /* rd_kafka_conf_get gives defaults too: compare with a fresh conf */
        rd_kafka_conf_t *fresh = rd_kafka_conf_new();
        char dflt[256];
        size_t dlen = sizeof(dflt);
        int set = rd_kafka_conf_get(conf, key, buf, &len) == RD_KAFKA_CONF_OK &&
                  rd_kafka_conf_get(fresh, key, dflt, &dlen) == RD_KAFKA_CONF_OK &&
                  strcmp(buf, dflt) != 0;
        rd_kafka_conf_destroy(fresh);
        if (set)
                return 0;
        return rd_kafka_conf_set(conf, key, value, errbuf, size) ==
                               RD_KAFKA_CONF_OK
                       ? 0
                       : -1;
}

/* librdkafka's error callback: runs inside rd_kafka_consumer_poll, on the
 * application's thread; keeps the error for the binding. */
static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
        insync_rk_consumer_t *c = opaque;
        (void)rk;
        if (c->nerrors == c->caperrors) {
                if (c->err_head > 0) { /* reuse the handed-out front */
                        memmove(c->errors, c->errors + c->err_head,
                                (c->nerrors - c->err_head) * sizeof(*c->errors));
                        c->nerrors -= c->err_head;
                        c->err_head = 0;
                } else {
                        size_t cap = c->caperrors ? 2 * c->caperrors : 8;
                        insync_rk_cerror_t *e =
                                realloc(c->errors, cap * sizeof(*e));
                        if (!e) {
                                c->errors_dropped++;
                                return;
                        }
                        c->errors = e;
                        c->caperrors = cap;
                }
        }
        c->errors[c->nerrors].err = err;
        c->errors[c->nerrors].reason = reason ? strdup(reason) : NULL;
        c->nerrors++;
}

int insync_rk_consumer_next_error(insync_rk_consumer_t *c, char **reason) {
        if (c->err_head == c->nerrors) {
                c->err_head = c->nerrors = 0;
                return 0;
        }
        insync_rk_cerror_t *e = &c->errors[c->err_head++];
        *reason = e->reason;
        return e->err;
}

int insync_rk_consumer_init(insync_rk_consumer_t *c, rd_kafka_conf_t *conf,
                            char *errbuf, size_t size) {
        if (conf_default(conf, "enable.auto.commit", "false", errbuf, size) ||
            conf_default(conf, "enable.auto.offset.store", "false", errbuf,
                         size) ||
            conf_default(conf, "enable.partition.eof", "true", errbuf, size) ||
            conf_default(conf, "group.id", "insync.consumer", errbuf, size)) {
                rd_kafka_conf_destroy(conf);
                return -1;
        }
        rd_kafka_conf_set_error_cb(conf, on_error);
        rd_kafka_conf_set_opaque(conf, c);
        unsigned gen = insync_rk_fork_watch();
        c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, size);
        if (!c->rk) {
                rd_kafka_conf_destroy(conf);
                return -1;
        }
        /* errors and logs come with the records */
        rd_kafka_poll_set_consumer(c->rk);
        c->fork_gen = gen;
        return 0;
}

int insync_rk_consumer_assign(insync_rk_consumer_t *c, size_t n,
                              const char *const *topics, const int32_t *parts,
                              const int64_t *offsets) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new((int)(n ? n : 1));
        for (size_t i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(l, topics[i], parts[i])
                        ->offset = offsets[i];
        rd_kafka_resp_err_t err = rd_kafka_assign(c->rk, n ? l : NULL);
        if (err) {
                rd_kafka_topic_partition_list_destroy(l);
                return err;
        }
        for (int i = 0; i < l->cnt; i++)
                l->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (c->assigned)
                rd_kafka_topic_partition_list_destroy(c->assigned);
        c->assigned = n ? l : NULL;
        if (!n)
                rd_kafka_topic_partition_list_destroy(l);
        return 0;
}

/* Marks (topic, partition) at its end or not. */
static void note_end(insync_rk_consumer_t *c, const rd_kafka_message_t *m,
                     int at_end) {
        if (!c->assigned || !m->rkt)
                return;
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
                c->assigned, rd_kafka_topic_name(m->rkt), m->partition);
        if (tp)
                tp->err = at_end ? RD_KAFKA_RESP_ERR__PARTITION_EOF
                                 : RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_message_t *insync_rk_consumer_next(insync_rk_consumer_t *c,
                                            int timeout_ms) {
        rd_kafka_message_t *m;
        while ((m = rd_kafka_consumer_poll(c->rk, timeout_ms))) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if (!m->err) {
                                c->consumed++;
                                note_end(c, m, 0);
                        }
                        return m;
                }
                note_end(c, m, 1);
                rd_kafka_message_destroy(m);
                timeout_ms = 0;
        }
        return NULL;
}

int insync_rk_consumer_at_end(const insync_rk_consumer_t *c) {
        if (!c->assigned || c->assigned->cnt == 0)
                return 0;
        for (int i = 0; i < c->assigned->cnt; i++)
                if (c->assigned->elems[i].err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        return 0;
        return 1;
}

int insync_rk_consumer_watermarks(insync_rk_consumer_t *c, const char *topic,
                                  int32_t partition, int64_t *low,
                                  int64_t *high, int timeout_ms) {
        return rd_kafka_query_watermark_offsets(c->rk, topic, partition, low,
                                                high, timeout_ms);
}

int insync_rk_consumer_partitions(insync_rk_consumer_t *c, const char *topic,
                                  int timeout_ms, int *err) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, topic, NULL);
        if (!rkt) {
                *err = rd_kafka_last_error();
                return -1;
        }
        const struct rd_kafka_metadata *md = NULL;
        int n = -1;
        *err = rd_kafka_metadata(c->rk, 0, rkt, &md, timeout_ms);
        if (!*err) {
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        n = md->topics[0].partition_cnt;
                else
                        *err = md->topic_cnt == 1
                                       ? md->topics[0].err
                                       : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        return n;
}

int insync_rk_consumer_forked(const insync_rk_consumer_t *c) {
        return c->rk && c->fork_gen != insync_rk_fork_generation();
}

void insync_rk_consumer_destroy(insync_rk_consumer_t *c) {
        if (c->rk && !insync_rk_consumer_forked(c)) {
                rd_kafka_consumer_close(c->rk);
                rd_kafka_destroy(c->rk);
        }
        /* In a forked child the handle belongs to the parent: only our own
         * C memory is freed. */
        if (c->assigned)
                rd_kafka_topic_partition_list_destroy(c->assigned);
        c->assigned = NULL;
        c->rk = NULL;
        for (size_t i = c->err_head; i < c->nerrors; i++)
                free(c->errors[i].reason);
        free(c->errors);
        c->errors = NULL;
        c->err_head = c->nerrors = c->caperrors = 0;
}
