/**
 * @file log.c
 * @brief A replica's log: record indexes by offset, the batches they came
 * in, the leader epoch cache (epoch -> start offset, Kafka's
 * LeaderEpochFileCache) and the producer state (last 5 batches per producer
 * id, Kafka's ProducerStateManager).  Truncation cuts all of them and
 * rebuilds the producer state from the batches that remain.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int grow(void **p, uint32_t *cap, uint32_t need, size_t size) {
        if (need <= *cap)
                return 0;
        uint32_t c = *cap ? *cap : 16;
        while (c < need)
                c = c + c / 2 + 1;
        void *q = insync_mem_grow(*p, (size_t)*cap * size, (size_t)c * size);
        if (!q)
                return -1;
        *p = q;
        *cap = c;
        return 0;
}

void insync_log_assign_epoch(insync_log_t *l, int32_t epoch, uint32_t start) {
        if (l->nep && l->ep[l->nep - 1].epoch >= epoch)
                return;
        /* LeaderEpochFileCache.assign drops entries that start at or after
         * the new one: an epoch that wrote nothing is superseded. */
        while (l->nep && l->ep[l->nep - 1].start >= start)
                l->nep--;
        if (grow((void **)&l->ep, &l->epcap, l->nep + 1, sizeof(*l->ep)))
                abort();
        l->ep[l->nep].epoch = epoch;
        l->ep[l->nep].start = start;
        l->nep++;
}

int32_t insync_log_latest_epoch(const insync_log_t *l) {
        return l->nep ? l->ep[l->nep - 1].epoch : -1;
}

/* LeaderEpochFileCache.endOffsetFor: the largest epoch <= @p epoch that the
 * cache knows, and where it ends (the start of the next epoch, or the LEO
 * for the latest). */
void insync_log_end_for_epoch(const insync_log_t *l, int32_t epoch,
                              int32_t *out_epoch, int64_t *out_end) {
        *out_epoch = -1;
        *out_end = -1;
        if (epoch < 0 || l->nep == 0)
                return;
        if (l->ep[l->nep - 1].epoch == epoch) {
                *out_epoch = epoch;
                *out_end = l->len;
                return;
        }
        uint32_t higher = l->nep;
        for (uint32_t i = 0; i < l->nep; i++)
                if (l->ep[i].epoch > epoch) {
                        higher = i;
                        break;
                }
        if (higher == l->nep)
                return; /* unknown epoch beyond ours: undefined */
        /* The floor entry's epoch, or the requested one when none is lower
         * (Kafka answers with the requested epoch then). */
        *out_epoch = higher > 0 ? l->ep[higher - 1].epoch : epoch;
        *out_end = l->ep[higher].start;
}

insync_pstate_t *insync_log_pstate(insync_log_t *l, int32_t pid) {
        for (uint32_t i = 0; i < l->nps; i++)
                if (l->ps[i].pid == pid)
                        return &l->ps[i];
        return NULL;
}

static void pstate_update(insync_log_t *l, const insync_lbatch_t *b) {
        if (b->pid < 0)
                return;
        insync_pstate_t *s = insync_log_pstate(l, b->pid);
        if (!s) {
                if (grow((void **)&l->ps, &l->pscap, l->nps + 1, sizeof(*l->ps)))
                        abort();
                s = &l->ps[l->nps++];
                memset(s, 0, sizeof(*s));
                s->pid = b->pid;
                s->pepoch = b->pepoch;
        }
        if (b->pepoch != s->pepoch) {
                s->pepoch = b->pepoch;
                s->n = 0;
        }
        if (s->n == INSYNC_PSTATE_BATCHES) {
                memmove(s->first_seq, s->first_seq + 1, 4 * sizeof(int32_t));
                memmove(s->last_seq, s->last_seq + 1, 4 * sizeof(int32_t));
                memmove(s->base, s->base + 1, 4 * sizeof(uint32_t));
                s->n--;
        }
        s->first_seq[s->n] = b->base_seq;
        s->last_seq[s->n] = b->base_seq + (int32_t)b->count - 1;
        s->base[s->n] = b->base;
        s->n++;
}

int insync_log_append(insync_log_t *l, const uint32_t *ids, uint32_t n,
                      int32_t epoch, int32_t pid, int32_t pepoch,
                      int32_t base_seq, int64_t now) {
        if (n == 0)
                return 0;
        if (grow((void **)&l->ids, &l->cap, l->len + n, sizeof(*l->ids)) ||
            grow((void **)&l->b, &l->bcap, l->nb + 1, sizeof(*l->b)))
                return -1;
        memcpy(l->ids + l->len, ids, (size_t)n * sizeof(*ids));
        insync_lbatch_t *b = &l->b[l->nb++];
        b->base = l->len;
        b->count = n;
        b->epoch = epoch;
        b->pid = pid;
        b->pepoch = pepoch;
        b->base_seq = base_seq;
        b->t = now;
        insync_log_assign_epoch(l, epoch, l->len);
        l->len += n;
        pstate_update(l, b);
        return 0;
}

void insync_log_truncate(insync_log_t *l, uint32_t len) {
        if (len >= l->len) {
                /* UnifiedLog.truncateTo: even then, drop epoch entries that
                 * start at the LEO (an epoch this broker led without
                 * writing), which would otherwise diverge forever. */
                while (l->nep && l->ep[l->nep - 1].start >= l->len)
                        l->nep--;
                return;
        }
        l->len = len;
        while (l->nb && l->b[l->nb - 1].base >= len)
                l->nb--;
        if (l->nb && l->b[l->nb - 1].base + l->b[l->nb - 1].count > len)
                l->b[l->nb - 1].count = len - l->b[l->nb - 1].base;
        /* LeaderEpochFileCache.truncateFromEnd */
        while (l->nep && l->ep[l->nep - 1].start >= len)
                l->nep--;
        if (l->flushed > len)
                l->flushed = len;
        /* Rebuild producer state from what is left. */
        l->nps = 0;
        for (uint32_t i = 0; i < l->nb; i++)
                pstate_update(l, &l->b[i]);
}

void insync_log_flush(insync_log_t *l, int64_t now) {
        /* UnifiedLog.flush(offset): only when the flush offset is past the
         * recovery point; then LocalLog.markFlushed moves it and the last
         * flush time. */
        if (l->len > l->flushed) {
                l->flushed = l->len;
                l->last_flush = now;
        }
}

uint32_t insync_log_len_at(const insync_log_t *l, int64_t t) {
        /* batch times never decrease: the last batch appended by t */
        uint32_t lo = 0, hi = l->nb;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (l->b[mid].t <= t)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo ? l->b[lo - 1].base + l->b[lo - 1].count : 0;
}

uint32_t insync_log_batch_at(const insync_log_t *l, uint32_t offset) {
        /* a follower mostly fetches from the last batch: no search then */
        if (l->nb && l->b[l->nb - 1].base <= offset)
                return l->nb - 1;
        uint32_t lo = 0, hi = l->nb;
        while (hi - lo > 1) {
                uint32_t mid = (lo + hi) / 2;
                if (l->b[mid].base <= offset)
                        lo = mid;
                else
                        hi = mid;
        }
        return lo;
}

void insync_log_free(insync_log_t *l) {
        insync_mem_free(l->ids, (size_t)l->cap * sizeof(*l->ids));
        insync_mem_free(l->b, (size_t)l->bcap * sizeof(*l->b));
        insync_mem_free(l->ep, (size_t)l->epcap * sizeof(*l->ep));
        insync_mem_free(l->ps, (size_t)l->pscap * sizeof(*l->ps));
        memset(l, 0, sizeof(*l));
}
