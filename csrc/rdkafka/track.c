/**
 * @file track.c
 * @brief What a tracking producer remembers of each send (see track.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "track.h"
#include "../common/audit.h"

/* Is key a property the audit's consumer takes from the producer? */
static int connection_property(const char *key) {
        return strcmp(key, "bootstrap.servers") == 0 ||
               strcmp(key, "metadata.broker.list") == 0 ||
               strcmp(key, "security.protocol") == 0 ||
               strcmp(key, "broker.address.family") == 0 ||
               strncmp(key, "sasl.", 5) == 0 || strncmp(key, "ssl.", 4) == 0;
}

static const char *lookup(const char **dump, size_t n, const char *key) {
        for (size_t i = 0; i + 1 < n; i += 2)
                if (strcmp(dump[i], key) == 0)
                        return dump[i + 1];
        return NULL;
}

/* The connection properties of pconf that differ from the defaults. */
static char **connection_conf(const rd_kafka_conf_t *pconf) {
        rd_kafka_conf_t *fresh = rd_kafka_conf_new();
        size_t n = 0, nd = 0, k = 0;
        const char **dump = rd_kafka_conf_dump((rd_kafka_conf_t *)pconf, &n);
        const char **dflt = rd_kafka_conf_dump(fresh, &nd);
        char **out = calloc(n + 1, sizeof(*out));
        int ok = out != NULL;
        for (size_t i = 0; ok && i + 1 < n; i += 2) {
                if (!connection_property(dump[i]))
                        continue;
                const char *d = lookup(dflt, nd, dump[i]);
                if (d && strcmp(d, dump[i + 1]) == 0)
                        continue;
                out[k] = strdup(dump[i]);
                out[k + 1] = strdup(dump[i + 1]);
                ok = out[k] && out[k + 1];
                k += 2;
        }
        rd_kafka_conf_dump_free(dump, n);
        rd_kafka_conf_dump_free(dflt, nd);
        rd_kafka_conf_destroy(fresh);
        if (!ok && out) {
                for (size_t i = 0; i < k; i++)
                        free(out[i]);
                free(out);
                out = NULL;
        }
        return out;
}

insync_rk_track_t *insync_rk_track_new(const rd_kafka_conf_t *pconf) {
        insync_rk_track_t *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        uint64_t r;
        if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
                r = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^
                    (uint64_t)getpid() ^ (uint64_t)(uintptr_t)t;
        snprintf(t->instance, sizeof(t->instance), "%016llx",
                 (unsigned long long)r);
        t->conf = connection_conf(pconf);
        if (!t->conf) {
                free(t);
                return NULL;
        }
        return t;
}

void insync_rk_track_free(insync_rk_track_t *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->nchunks; i++)
                free(t->chunks[i]);
        free(t->chunks);
        for (size_t i = 0; i < t->nkeys; i++)
                free(t->keys[i]);
        free(t->keys);
        for (size_t i = 0; i < t->ntopics; i++)
                free(t->topic_names[i]);
        free(t->topic_names);
        free(t->rkts);
        for (size_t i = 0; t->conf[i]; i++)
                free(t->conf[i]);
        free(t->conf);
        free(t);
}

/* Grows *arr (of *cap elements of size sz) to hold one more than n. */
static int grow(void *arr, size_t *cap, size_t n, size_t sz) {
        if (n < *cap)
                return 0;
        size_t c = *cap ? *cap * 2 : 16;
        void *p = realloc(*(void **)arr, c * sz);
        if (!p)
                return -1;
        *(void **)arr = p;
        *cap = c;
        return 0;
}

/* The topic index of rkt, added on first use; -1 on no memory. */
static long topic_index(insync_rk_track_t *t, rd_kafka_topic_t *rkt,
                        const char *name) {
        if (t->ntopics && t->rkts[t->last_topic] == rkt)
                return (long)t->last_topic;
        for (size_t i = 0; i < t->ntopics; i++)
                if (t->rkts[i] == rkt)
                        return (long)(t->last_topic = i);
        if (t->ntopics >= INSYNC_RK_TRACK_TOPICS)
                return -1;
        if (grow(&t->rkts, &t->captopics, t->ntopics, sizeof(*t->rkts)))
                return -1;
        /* topic_names follows rkts' capacity */
        char **names = realloc(t->topic_names, t->captopics * sizeof(*names));
        if (!names)
                return -1;
        t->topic_names = names;
        if (!(names[t->ntopics] = strdup(name)))
                return -1;
        t->rkts[t->ntopics] = rkt;
        return (long)(t->last_topic = t->ntopics++);
}

/* Copies a key; @returns its key_at, or UINT64_MAX on no memory. */
static uint64_t keep_key(insync_rk_track_t *t, const char *key, size_t len) {
        if (!t->nkeys || t->keys_size - t->keys_used < len) {
                uint32_t size = len > INSYNC_RK_TRACK_KEYS ? (uint32_t)len
                                                           : INSYNC_RK_TRACK_KEYS;
                if (grow(&t->keys, &t->capkeys, t->nkeys, sizeof(*t->keys)))
                        return UINT64_MAX;
                char *chunk = malloc(size ? size : 1);
                if (!chunk)
                        return UINT64_MAX;
                t->keys[t->nkeys++] = chunk;
                t->keys_used = 0;
                t->keys_size = size;
                t->key_bytes += size;
        }
        uint64_t at = ((uint64_t)(t->nkeys - 1) << 32) | t->keys_used;
        memcpy(t->keys[t->nkeys - 1] + t->keys_used, key, len);
        t->keys_used += (uint32_t)len;
        return at;
}

uint32_t insync_rk_track_add(insync_rk_track_t *t, rd_kafka_topic_t *rkt,
                             const char *topic, int32_t partition,
                             const char *key, size_t key_len, char *hdr,
                             size_t *hdr_len) {
        if (t->n == INSYNC_RK_TRACK_MAX || key_len >= UINT32_MAX)
                return 0;
        long ti = topic_index(t, rkt, topic);
        if (ti < 0)
                return 0;
        if (t->n == t->nchunks * INSYNC_RK_TRACK_CHUNK) {
                if (grow(&t->chunks, &t->capchunks, t->nchunks,
                         sizeof(*t->chunks)))
                        return 0;
                insync_rk_tracked_t *c =
                        malloc(INSYNC_RK_TRACK_CHUNK * sizeof(*c));
                if (!c)
                        return 0;
                t->chunks[t->nchunks++] = c;
        }
        uint64_t at = 0;
        if (key && (at = keep_key(t, key, key_len)) == UINT64_MAX)
                return 0;
        uint32_t id = ++t->n;
        insync_rk_tracked_t *e = insync_rk_track_get(t, id);
        e->offset = -1;
        e->key_at = at;
        e->key_len = key ? (uint32_t)key_len : UINT32_MAX;
        e->partition = partition;
        e->err = 0;
        e->topic = (uint16_t)ti;
        e->state = INSYNC_AUDIT_PENDING;
        e->persisted = 0;
        *hdr_len = (size_t)snprintf(hdr, INSYNC_RK_TRACK_VALUE_MAX + 1,
                                    "%s-%u", t->instance, id);
        return id;
}

void insync_rk_track_drop_last(insync_rk_track_t *t) {
        if (!t->n)
                return;
        insync_rk_tracked_t *e = insync_rk_track_get(t, t->n);
        if (e->key_len != UINT32_MAX && t->nkeys &&
            (e->key_at >> 32) == t->nkeys - 1 &&
            (uint32_t)e->key_at + e->key_len == t->keys_used)
                t->keys_used -= e->key_len;
        t->n--;
}

void insync_rk_track_report(insync_rk_track_t *t, uint32_t id,
                            int32_t partition, int64_t offset, int err,
                            int persisted) {
        if (id < 1 || id > t->n)
                return;
        insync_rk_tracked_t *e = insync_rk_track_get(t, id);
        if (partition >= 0)
                e->partition = partition;
        e->offset = err ? -1 : offset;
        e->err = err;
        e->state = err ? INSYNC_AUDIT_FAILED : INSYNC_AUDIT_ACKED;
        e->persisted = (uint8_t)persisted;
}

const char *insync_rk_track_key(const insync_rk_track_t *t,
                                const insync_rk_tracked_t *e) {
        if (e->key_len == UINT32_MAX)
                return NULL;
        return t->keys[e->key_at >> 32] + (uint32_t)e->key_at;
}

uint32_t insync_rk_track_parse(const insync_rk_track_t *t, const void *v,
                               size_t len) {
        const char *s = v;
        if (!s || len < 18 || len > INSYNC_RK_TRACK_VALUE_MAX ||
            memcmp(s, t->instance, 16) != 0 || s[16] != '-')
                return 0;
        uint64_t id = 0;
        for (size_t i = 17; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return 0;
                id = id * 10 + (uint64_t)(s[i] - '0');
        }
        return id >= 1 && id <= t->n ? (uint32_t)id : 0;
}

uint64_t insync_rk_track_bytes(const insync_rk_track_t *t) {
        uint64_t b = sizeof(*t);
        b += (uint64_t)t->nchunks * INSYNC_RK_TRACK_CHUNK *
             sizeof(insync_rk_tracked_t);
        b += t->capchunks * sizeof(*t->chunks);
        b += t->key_bytes + t->capkeys * sizeof(*t->keys);
        b += t->captopics * (sizeof(*t->rkts) + sizeof(*t->topic_names));
        for (size_t i = 0; i < t->ntopics; i++)
                b += strlen(t->topic_names[i]) + 1;
        return b;
}
