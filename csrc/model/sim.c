/**
 * @file sim.c
 * @brief The discrete-event core: one event queue (a binary heap ordered by
 * time, then insertion number, so equal times always fire in the order they
 * were scheduled) and one seeded PRNG (xoshiro256** seeded by splitmix64).
 * It knows no event's meaning: dispatch.c pops the events and hands each to
 * its actor.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Equal times fire by key (0, every event but a fetcher's, first; then
 * each fetcher's in the order of their keys), then in insertion order.  A
 * fetcher that sleeps through an idle period (fetcher.c) has no event
 * queued; the key tells where its turn at a given ms falls among the
 * others', as if it had one. */
static int ev_less(const insync_ev_t *x, const insync_ev_t *y) {
        if (x->t != y->t)
                return x->t < y->t;
        if (x->key != y->key)
                return x->key < y->key;
        return x->seq < y->seq;
}

void insync_sim_at(insync_cluster_t *c, int64_t t, int type, uint32_t a,
                   uint64_t b, void *p) {
        insync_sim_at_key(c, t, 0, type, a, b, p);
}

void insync_sim_at_key(insync_cluster_t *c, int64_t t, uint32_t key, int type,
                       uint32_t a, uint64_t b, void *p) {
        insync_heap_t *h = &c->heap;
        if (h->n == h->cap) {
                size_t cap = h->cap ? h->cap * 2 : 256;
                insync_ev_t *ev = realloc(h->ev, cap * sizeof(*ev));
                if (!ev)
                        abort(); /* the simulation cannot continue sanely */
                h->ev = ev;
                h->cap = cap;
        }
        insync_ev_t e = {t < c->now ? c->now : t, key, h->seq++, (uint32_t)type, a, b, p};
        size_t i = h->n++;
        while (i > 0) {
                size_t up = (i - 1) / 2;
                if (!ev_less(&e, &h->ev[up]))
                        break;
                h->ev[i] = h->ev[up];
                i = up;
        }
        h->ev[i] = e;
}

static insync_ev_t heap_pop(insync_heap_t *h) {
        insync_ev_t top = h->ev[0];
        insync_ev_t last = h->ev[--h->n];
        size_t i = 0;
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                const insync_ev_t *best = &last;
                if (l < h->n && ev_less(&h->ev[l], best)) {
                        m = l;
                        best = &h->ev[l];
                }
                if (r < h->n && ev_less(&h->ev[r], best))
                        m = r;
                if (m == i)
                        break;
                h->ev[i] = h->ev[m];
                i = m;
        }
        if (h->n)
                h->ev[i] = last;
        if (h->cap > 4096 && h->n < h->cap / 4) {
                /* a burst (a topic's creation tells every broker of every
                 * partition) leaves no high-water mark behind */
                insync_ev_t *ev = realloc(h->ev, h->cap / 2 * sizeof(*ev));
                if (ev) {
                        h->ev = ev;
                        h->cap /= 2;
                }
        }
        return top;
}

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

void insync_sim_seed(insync_cluster_t *c, uint64_t seed) {
        for (int i = 0; i < 4; i++)
                c->rng[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t insync_xoshiro(uint64_t s[4]) {
        uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return r;
}

uint64_t insync_sim_rand(insync_cluster_t *c) { return insync_xoshiro(c->rng); }

int insync_sim_pop(insync_cluster_t *c, int64_t until, insync_ev_t *e) {
        insync_heap_t *h = &c->heap;
        if (!h->n || h->ev[0].t > until)
                return 0;
        *e = heap_pop(h);
        return 1;
}

/* The queue itself; what its events point to is the dispatcher's
 * (insync_dispatch_free). */
void insync_sim_free(insync_cluster_t *c) {
        insync_heap_t *h = &c->heap;
        free(h->ev);
        memset(h, 0, sizeof(*h));
}
