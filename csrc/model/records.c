/**
 * @file records.c
 * @brief The record store: each sent record's key and value bytes are kept
 * once for the whole cluster, in 4 MiB chunks that never move; replica logs
 * and batches hold only 32-bit record indexes.  This is what keeps a stored
 * record-replica small.  A record sent with msg.timestamp keeps it in the
 * arena too, just before its key (INSYNC_REC_TS marks it): a record without
 * one costs nothing more.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define CHUNK ((uint32_t)1 << INSYNC_ARENA_CHUNK_BITS)

static int arena_put(insync_records_t *r, const int64_t *ts, const char *k,
                     size_t kl, const char *v, size_t vl, uint64_t *pos) {
        size_t tl = ts ? sizeof(*ts) : 0;
        size_t need = tl + kl + vl;
        if (need > CHUNK)
                return -1;
        if (r->nchunk == 0 || r->used + need > CHUNK) {
                if (r->nchunk == r->chunk_cap) {
                        uint32_t cap = r->chunk_cap ? r->chunk_cap * 2 : 16;
                        char **ch = realloc(r->chunk, cap * sizeof(*ch));
                        if (!ch)
                                return -1;
                        r->chunk = ch;
                        r->chunk_cap = cap;
                }
                /* the first chunk from malloc, touched page by page: a
                 * small cluster stays small */
                char *mem = r->nchunk ? insync_mem_grow(NULL, 0, CHUNK)
                                      : malloc(CHUNK);
                if (!mem)
                        return -1;
                r->chunk[r->nchunk++] = mem;
                r->arena_bytes += CHUNK;
                r->used = 0;
        }
        char *dst = r->chunk[r->nchunk - 1] + r->used;
        if (tl) {
                memcpy(dst, ts, tl);
                dst += tl;
        }
        if (kl)
                memcpy(dst, k, kl);
        if (vl)
                memcpy(dst + kl, v, vl);
        *pos = ((uint64_t)(r->nchunk - 1) << INSYNC_ARENA_CHUNK_BITS) | r->used;
        r->used += (uint32_t)need;
        return 0;
}

int insync_records_add(insync_records_t *r, const char *k, size_t kl,
                       const char *v, size_t vl, const int64_t *ts,
                       uint32_t *idx) {
        if (r->n == UINT32_MAX - 1)
                return -1;
        if (r->n == r->cap) {
                uint32_t cap = r->cap ? r->cap + r->cap / 2 : 1024;
                insync_rec_t *rec = insync_mem_grow(r->rec, (size_t)r->cap * sizeof(*rec),
                                                    (size_t)cap * sizeof(*rec));
                if (!rec)
                        return -1;
                r->rec = rec;
                uint8_t *prod = realloc(r->prod, cap);
                if (!prod)
                        return -1;
                r->prod = prod;
                r->cap = cap;
        }
        uint64_t pos = 0;
        if (arena_put(r, ts, k, k ? kl : 0, v, v ? vl : 0, &pos) != 0)
                return -1;
        insync_rec_t *e = &r->rec[r->n];
        e->data = pos | (ts ? INSYNC_REC_TS : 0);
        e->offset = -1;
        e->klen = k ? (uint32_t)kl : INSYNC_NOLEN;
        e->vlen = v ? (uint32_t)vl : INSYNC_NOLEN;
        e->enq = 0;
        e->part = INSYNC_PART_NONE;
        e->topic = 0;
        e->state = INSYNC_REC_PENDING;
        *idx = r->n++;
        return 0;
}

/* Where the key starts: after the timestamp, when the record has one. */
static const char *at(const insync_records_t *r, uint64_t data) {
        uint64_t pos = data & ~INSYNC_REC_TS;
        return r->chunk[pos >> INSYNC_ARENA_CHUNK_BITS] +
               (pos & (CHUNK - 1)) + (data & INSYNC_REC_TS ? sizeof(int64_t) : 0);
}

const char *insync_records_key(const insync_records_t *r, uint32_t i) {
        const insync_rec_t *e = &r->rec[i];
        return e->klen == INSYNC_NOLEN ? NULL : at(r, e->data);
}

const char *insync_records_value(const insync_records_t *r, uint32_t i) {
        const insync_rec_t *e = &r->rec[i];
        uint32_t kl = e->klen == INSYNC_NOLEN ? 0 : e->klen;
        return e->vlen == INSYNC_NOLEN ? NULL : at(r, e->data) + kl;
}

int insync_records_timestamp(const insync_records_t *r, uint32_t i,
                             int64_t *ts) {
        const insync_rec_t *e = &r->rec[i];
        if (!(e->data & INSYNC_REC_TS))
                return 0;
        memcpy(ts, at(r, e->data) - sizeof(*ts), sizeof(*ts));
        return 1;
}

void insync_records_free(insync_records_t *r) {
        for (uint32_t i = 0; i < r->nchunk; i++)
                if (i)
                        insync_mem_free(r->chunk[i], CHUNK);
                else
                        free(r->chunk[i]);
        free(r->chunk);
        insync_mem_free(r->rec, (size_t)r->cap * sizeof(*r->rec));
        free(r->prod);
        memset(r, 0, sizeof(*r));
}
