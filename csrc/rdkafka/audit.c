/**
 * @file audit.c
 * @brief The audit of a tracking producer on real Kafka (see audit.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "consumer.h"

/* Partitions are numbered by slot: base[topic] + partition. */
typedef struct audit_parts_s {
        size_t *base;   /**< per topic: its first slot */
        int *count;     /**< per topic: its partitions */
        size_t n;       /**< slots */
        int64_t *high;  /**< per slot: high watermark at the end; -1 unknown */
} audit_parts_t;

static int64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline) {
        int64_t l = deadline - mono_ms();
        return l < 0 ? 0 : l > 2147483647 ? 2147483647 : (int)l;
}

static void info(const void *ud, uint32_t rec, int *state, int64_t *off) {
        const insync_rk_tracked_t *e = insync_rk_track_get(ud, rec + 1);
        *state = e->state;
        *off = e->state == INSYNC_AUDIT_ACKED ? e->offset : -1;
}

/* The topic index of a record's topic (the last one first). */
static long topic_of(const insync_rk_track_t *t, const char *name,
                     size_t *last) {
        if (*last < t->ntopics && strcmp(t->topic_names[*last], name) == 0)
                return (long)*last;
        for (size_t i = 0; i < t->ntopics; i++)
                if (strcmp(t->topic_names[i], name) == 0)
                        return (long)(*last = i);
        return -1;
}

static int fail(int code, const char *msg, int *err, char *errbuf,
                size_t size) {
        *err = code;
        snprintf(errbuf, size, "%s", msg);
        return INSYNC_RK_AUDIT_FAILED;
}

/* Makes the consumer: the producer's connection properties, then ours,
 * then the caller's. */
static int make_consumer(insync_rk_consumer_t *c, const insync_rk_track_t *t,
                         const char *const *conf, char *errbuf, size_t size) {
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        int bad = 0;
        for (size_t i = 0; !bad && t->conf[i]; i += 2)
                bad = rd_kafka_conf_set(rc, t->conf[i], t->conf[i + 1], errbuf,
                                        size) != RD_KAFKA_CONF_OK;
        if (!bad)
                bad = rd_kafka_conf_set(rc, "fetch.wait.max.ms", "50", errbuf,
                                        size) != RD_KAFKA_CONF_OK;
        for (size_t i = 0; !bad && conf && conf[i]; i += 2) {
                if (rd_kafka_conf_set(rc, conf[i], conf[i + 1], errbuf,
                                      size) != RD_KAFKA_CONF_OK) {
                        char msg[512];
                        snprintf(msg, sizeof(msg), "%s", errbuf);
                        snprintf(errbuf, size, "consumer: property '%s': %s",
                                 conf[i], msg);
                        rd_kafka_conf_destroy(rc);
                        return INSYNC_RK_AUDIT_BADCONF;
                }
        }
        if (bad) {
                rd_kafka_conf_destroy(rc);
                return INSYNC_RK_AUDIT_FAILED;
        }
        return insync_rk_consumer_init(c, rc, errbuf, size)
                       ? INSYNC_RK_AUDIT_FAILED
                       : INSYNC_RK_AUDIT_OK;
}

/* Finds the partitions of every topic and assigns them from the beginning. */
static int assign_all(insync_rk_consumer_t *c, const insync_rk_track_t *t,
                      audit_parts_t *pp, int64_t deadline, int *err,
                      char *errbuf, size_t size) {
        pp->base = calloc(t->ntopics + 1, sizeof(*pp->base));
        pp->count = calloc(t->ntopics + 1, sizeof(*pp->count));
        if (!pp->base || !pp->count)
                return INSYNC_RK_AUDIT_NOMEM;
        for (size_t i = 0; i < t->ntopics; i++) {
                int e;
                int n = insync_rk_consumer_partitions(
                        c, t->topic_names[i], left_ms(deadline), &e);
                if (n < 0 && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                        char msg[512];
                        snprintf(msg, sizeof(msg),
                                 "audit: the partitions of %s: %s",
                                 t->topic_names[i], rd_kafka_err2str(e));
                        return fail(e, msg, err, errbuf, size);
                }
                /* a topic that no longer exists has nothing to read */
                pp->base[i] = pp->n;
                pp->count[i] = n < 0 ? 0 : n;
                pp->n += (size_t)pp->count[i];
        }
        const char **topics = calloc(pp->n + 1, sizeof(*topics));
        int32_t *parts = calloc(pp->n + 1, sizeof(*parts));
        int64_t *offs = calloc(pp->n + 1, sizeof(*offs));
        pp->high = calloc(pp->n + 1, sizeof(*pp->high));
        int rc = INSYNC_RK_AUDIT_OK;
        if (!topics || !parts || !offs || !pp->high) {
                rc = INSYNC_RK_AUDIT_NOMEM;
        } else {
                for (size_t i = 0; i < t->ntopics; i++)
                        for (int p = 0; p < pp->count[i]; p++) {
                                size_t s = pp->base[i] + (size_t)p;
                                topics[s] = t->topic_names[i];
                                parts[s] = p;
                                offs[s] = INSYNC_RK_FROM_BEGINNING;
                                pp->high[s] = -1;
                        }
                int e = insync_rk_consumer_assign(c, pp->n, topics, parts,
                                                  offs);
                if (e)
                        rc = fail(e, "audit: assign", err, errbuf, size);
        }
        free(topics);
        free(parts);
        free(offs);
        return rc;
}

/* The high watermark of slot s (asked once). */
static int64_t high_of(insync_rk_consumer_t *c, const insync_rk_track_t *t,
                       audit_parts_t *pp, size_t ti, int32_t part) {
        if (ti >= t->ntopics || part < 0 || part >= pp->count[ti])
                return -1;
        size_t s = pp->base[ti] + (size_t)part;
        if (pp->high[s] < 0) {
                int64_t low, high;
                if (!insync_rk_consumer_watermarks(c, t->topic_names[ti], part,
                                                   &low, &high, 5000))
                        pp->high[s] = high;
        }
        return pp->high[s];
}

int insync_rk_audit(const insync_rk_track_t *t, const char *const *conf,
                    int timeout_ms, insync_audit_t *a, int *err, char *errbuf,
                    size_t size) {
        int64_t deadline = mono_ms() + (timeout_ms < 0 ? 2147483647 : timeout_ms);
        insync_rk_consumer_t c;
        audit_parts_t pp;
        insync_audit_scan_t s;
        memset(&c, 0, sizeof(c));
        memset(&pp, 0, sizeof(pp));
        memset(&s, 0, sizeof(s));
        memset(a, 0, sizeof(*a));
        *err = 0;
        int rc = make_consumer(&c, t, conf, errbuf, size);
        if (rc == INSYNC_RK_AUDIT_FAILED)
                *err = RD_KAFKA_RESP_ERR__INVALID_ARG;
        if (rc == INSYNC_RK_AUDIT_OK)
                rc = assign_all(&c, t, &pp, deadline, err, errbuf, size);
        /* One producer, so the checker's per-producer order is kept per
         * partition slot: records interleave across partitions, each
         * partition's come in offset order. */
        if (rc == INSYNC_RK_AUDIT_OK &&
            insync_audit_scan_init(&s, a, t->n, pp.n ? pp.n : 1))
                rc = INSYNC_RK_AUDIT_NOMEM;
        uint64_t acked = 0, found = 0;
        for (uint32_t id = 1; rc == INSYNC_RK_AUDIT_OK && id <= t->n; id++)
                acked += insync_rk_track_get(t, id)->state == INSYNC_AUDIT_ACKED;
        size_t last = 0;
        int last_err = 0;
        char last_msg[256] = "";
        while (rc == INSYNC_RK_AUDIT_OK) {
                int ended = pp.n == 0 || insync_rk_consumer_at_end(&c);
                if (ended && found == acked)
                        break;
                int wait = left_ms(deadline);
                if (wait == 0) {
                        if (!ended) {
                                char msg[512];
                                snprintf(msg, sizeof(msg),
                                         "audit: the partitions were not read "
                                         "to their end within timeout_ms%s%s",
                                         last_err ? "; last consumer error: " : "",
                                         last_msg);
                                rc = fail(RD_KAFKA_RESP_ERR__TIMED_OUT, msg,
                                          err, errbuf, size);
                        }
                        break;
                }
                rd_kafka_message_t *m =
                        insync_rk_consumer_next(&c, wait > 100 ? 100 : wait);
                char *reason;
                int e;
                while ((e = insync_rk_consumer_next_error(&c, &reason))) {
                        last_err = e;
                        snprintf(last_msg, sizeof(last_msg), "%s",
                                 reason ? reason : rd_kafka_err2str(e));
                        free(reason);
                }
                if (!m)
                        continue;
                if (m->err) {
                        last_err = m->err;
                        snprintf(last_msg, sizeof(last_msg), "%s",
                                 rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                rd_kafka_headers_t *hdrs;
                const void *v;
                size_t vlen;
                uint32_t id = 0;
                long ti = topic_of(t, rd_kafka_topic_name(m->rkt), &last);
                if (ti >= 0 && m->partition < pp.count[ti] &&
                    !rd_kafka_message_headers(m, &hdrs) &&
                    !rd_kafka_header_get_last(hdrs, INSYNC_RK_TRACK_HEADER, &v,
                                              &vlen))
                        id = insync_rk_track_parse(t, v, vlen);
                if (id) {
                        const insync_rk_tracked_t *e = insync_rk_track_get(t, id);
                        int first = !(s.seen[id - 1] & 0x7f);
                        if (insync_audit_scan_record(
                                    &s, id - 1, e->state,
                                    (unsigned)(pp.base[ti] + (size_t)m->partition),
                                    m->offset,
                                    e->state == INSYNC_AUDIT_ACKED ? e->offset : -1,
                                    1))
                                rc = INSYNC_RK_AUDIT_NOMEM;
                        found += first && e->state == INSYNC_AUDIT_ACKED;
                }
                rd_kafka_message_destroy(m);
        }
        if (rc == INSYNC_RK_AUDIT_OK) {
                if (insync_audit_scan_finish(&s, info, t)) {
                        rc = INSYNC_RK_AUDIT_NOMEM;
                } else {
                        /* not read, at or above the high watermark: either
                         * truncated away or not replicated yet; a consumer
                         * cannot tell, so it stays lost, marked */
                        for (size_t i = 0; i < a->n; i++) {
                                insync_audit_item_t *it = &a->items[i];
                                if (it->kind != INSYNC_AUDIT_LOST)
                                        continue;
                                const insync_rk_tracked_t *e =
                                        insync_rk_track_get(t, it->id);
                                int64_t hw = high_of(&c, t, &pp, e->topic,
                                                     e->partition);
                                if (hw >= 0 && it->offset >= hw)
                                        it->above_hw = 1;
                        }
                }
        } else {
                insync_audit_scan_free(&s);
                insync_audit_free(a);
        }
        insync_rk_consumer_destroy(&c);
        free(pp.base);
        free(pp.count);
        free(pp.high);
        return rc;
}
