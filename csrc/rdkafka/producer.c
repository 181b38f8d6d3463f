/**
 * @file producer.c
 * @brief The librdkafka side of insync.producer (see producer.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fork.h"
#include "producer.h"

/* 1 when the value of configuration property @p key is a secret that must
 * never be echoed (passwords, keys, tokens, OAUTHBEARER config). */
static int conf_is_secret(const char *key) {
        static const char *const exact[] = {
                "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key",
                "ssl.keystore.password", "sasl.password", NULL,
        };
        for (int i = 0; exact[i]; i++)
                if (strcmp(key, exact[i]) == 0)
                        return 1;
        return strstr(key, "password") != NULL || strstr(key, "secret") != NULL ||
               strstr(key, "token") != NULL;
}

int insync_rk_conf_set(rd_kafka_conf_t *conf, const char *key,
                       const char *value, char *errbuf, size_t size) {
        if (rd_kafka_conf_set(conf, key, value, errbuf, size) ==
            RD_KAFKA_CONF_OK)
                return 0;
        /* librdkafka's message may quote the value: never for a secret. */
        if (conf_is_secret(key) && *value &&
            strstr(errbuf, value) != NULL)
                snprintf(errbuf, size,
                         "Invalid value for configuration property \"%s\" "
                         "(value not shown: it is a secret)",
                         key);
        /* it may quote a long name or value whole: cut */
        if (size > 90 && strlen(errbuf) > 90)
                memcpy(errbuf + 87, "...", 4);
        return -1;
}

int insync_rk_producer_init(insync_rk_producer_t *p, rd_kafka_conf_t *conf,
                            int events, char *errbuf, size_t size) {
        int log = (events & RD_KAFKA_EVENT_LOG) != 0;
        if (log && rd_kafka_conf_set(conf, "log.queue", "true", errbuf,
                                     size) != RD_KAFKA_CONF_OK) {
                rd_kafka_conf_destroy(conf);
                return -1;
        }
        rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | events);
        p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, size);
        if (!p->rk) {
                rd_kafka_conf_destroy(conf);
                return -1;
        }
        p->queue = rd_kafka_queue_get_main(p->rk);
        if (log)
                rd_kafka_set_log_queue(p->rk, NULL);
        p->fork_gen = insync_rk_fork_watch();
        p->next_slot = 1;
        return 0;
}

rd_kafka_event_t *insync_rk_producer_next_event(insync_rk_producer_t *p,
                                                int timeout_ms) {
        if (!p->cur && p->queue)
                p->cur = rd_kafka_queue_poll(p->queue, timeout_ms);
        return p->cur;
}

/* Runs in a librdkafka thread, with the queue locked: a store, nothing else
 * (librdkafka's rule for this callback).  librdkafka 2.0.2 calls it from
 * rd_kafka_q_io_event() when an op is enqueued on the empty queue
 * (rd_kafka_q_enq1: rkq_qlen == 1; rd_kafka_q_concat0 and _prepend0: qlen
 * was 0; src/rdkafka_queue.h), also for ops forwarded from the log queue,
 * and on a yield of the empty queue (harmless: one poll too many). */
static void on_queue_event(rd_kafka_t *rk, void *opaque) {
        (void)rk;
        __atomic_store_n((volatile int32_t *)opaque, 1, __ATOMIC_SEQ_CST);
}

void insync_rk_producer_watch(insync_rk_producer_t *p, volatile int32_t *flag) {
        rd_kafka_queue_cb_event_enable(p->queue, on_queue_event, (void *)flag);
        p->watched = 1;
}

void insync_rk_producer_event_done(insync_rk_producer_t *p) {
        if (p->cur) {
                rd_kafka_event_destroy(p->cur);
                p->cur = NULL;
        }
}

rd_kafka_topic_t *insync_rk_producer_topic(insync_rk_producer_t *p,
                                           const char *name, char *errbuf,
                                           size_t size) {
        if (p->ntopics == p->captopics) {
                size_t cap = p->captopics ? 2 * p->captopics : 8;
                rd_kafka_topic_t **t =
                        realloc(p->topics, cap * sizeof(*p->topics));
                if (!t) {
                        snprintf(errbuf, size, "out of memory");
                        return NULL;
                }
                p->topics = t;
                p->captopics = cap;
        }
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, name, NULL);
        if (!rkt) {
                snprintf(errbuf, size, "%s",
                         rd_kafka_err2str(rd_kafka_last_error()));
                return NULL;
        }
        p->topics[p->ntopics++] = rkt;
        return rkt;
}

int insync_rk_producer_fail(insync_rk_producer_t *p, intptr_t opaque,
                            rd_kafka_topic_t *rkt, int32_t partition, int err,
                            int fatal, const char *key, size_t key_len) {
        if (p->nfailed == p->capfailed) {
                size_t cap = p->capfailed ? 2 * p->capfailed : 16;
                insync_rk_failed_t *f =
                        realloc(p->failed, cap * sizeof(*p->failed));
                if (!f)
                        return -1;
                p->failed = f;
                p->capfailed = cap;
        }
        char *k = NULL;
        if (key) {
                k = malloc(key_len ? key_len : 1);
                if (!k)
                        return -1;
                memcpy(k, key, key_len);
        }
        insync_rk_failed_t *f = &p->failed[p->nfailed++];
        f->opaque = opaque;
        f->rkt = rkt;
        f->partition = partition;
        f->err = err;
        f->fatal = fatal;
        f->key = k;
        f->key_len = key_len;
        return 0;
}

const insync_rk_failed_t *insync_rk_producer_next_failed(
        insync_rk_producer_t *p) {
        /* The previous one handed out is done with: free its key. */
        if (p->failed_head > 0) {
                free(p->failed[p->failed_head - 1].key);
                p->failed[p->failed_head - 1].key = NULL;
        }
        if (p->failed_head == p->nfailed) {
                p->failed_head = p->nfailed = 0;
                return NULL;
        }
        return &p->failed[p->failed_head++];
}

int insync_rk_producer_slot_get(insync_rk_producer_t *p) {
        if (p->nfree)
                return p->free_slots[--p->nfree];
        /* Make sure the slot can be given back without allocating. */
        if ((size_t)p->next_slot > p->capfree) {
                size_t cap = p->capfree ? 2 * p->capfree : 1024;
                int *f = realloc(p->free_slots, cap * sizeof(*f));
                if (!f)
                        return -1;
                p->free_slots = f;
                p->capfree = cap;
        }
        return p->next_slot++;
}

void insync_rk_producer_slot_put(insync_rk_producer_t *p, int slot) {
        p->free_slots[p->nfree++] = slot;
}

int insync_rk_producer_forked(const insync_rk_producer_t *p) {
        return p->rk && p->fork_gen != insync_rk_fork_generation();
}

void insync_rk_producer_purge(insync_rk_producer_t *p) {
        if (p->rk)
                rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE |
                                              RD_KAFKA_PURGE_F_INFLIGHT |
                                              RD_KAFKA_PURGE_F_NON_BLOCKING);
}

void insync_rk_producer_destroy(insync_rk_producer_t *p) {
        if (p->rk && !insync_rk_producer_forked(p)) {
                rd_kafka_event_t *ev;
                insync_rk_producer_purge(p);
                insync_rk_producer_event_done(p);
                while ((ev = rd_kafka_queue_poll(p->queue, 0)))
                        rd_kafka_event_destroy(ev);
                if (p->watched)
                        rd_kafka_queue_cb_event_enable(p->queue, NULL, NULL);
                for (size_t i = 0; i < p->ntopics; i++)
                        rd_kafka_topic_destroy(p->topics[i]);
                rd_kafka_queue_destroy(p->queue);
                rd_kafka_destroy(p->rk);
        }
        /* In a forked child the handle, its threads' state and its events
         * belong to the parent: only our own C memory is freed. */
        for (size_t i = 0; i < p->nfailed; i++)
                free(p->failed[i].key);
        free(p->failed);
        p->failed = NULL;
        p->failed_head = p->nfailed = p->capfailed = 0;
        free(p->topics);
        free(p->free_slots);
        p->rk = NULL;
        p->queue = NULL;
        p->cur = NULL;
        p->topics = NULL;
        p->ntopics = p->captopics = 0;
        p->watched = 0;
        p->free_slots = NULL;
        p->nfree = p->capfree = 0;
}
