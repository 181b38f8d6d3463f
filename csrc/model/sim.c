/**
 * @file sim.c
 * @brief The discrete-event core: one event queue (ordered by time, then
 * key, then insertion number, so equal times always fire in the order they
 * were scheduled: a list per ms for the near events, a binary heap for the
 * far ones, model.h's insync_heap_t) and one seeded PRNG (xoshiro256**
 * seeded by splitmix64).
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
 * others', as if it had one.  (t, key, seq) is kept as two words, t and
 * key << 32 | seq, and compared as one 128-bit number: no branch. */
static inline int qless(const insync_qev_t *x, const insync_qev_t *y) {
#ifdef __SIZEOF_INT128__
        return (((unsigned __int128)x->t << 64) | x->ord) <
               (((unsigned __int128)y->t << 64) | y->ord);
#else
        return x->t < y->t || (x->t == y->t && x->ord < y->ord);
#endif
}

/* The insertion number is 32 bits; before it would wrap, every queued
 * event is numbered again from 0 in its order, which leaves the lists and
 * the heap as they are.  A build may lower the limit to test that (the
 * sanitized one does); numbering again waits until the numbers used are
 * twice the events queued, so that it costs O(1) a push. */
#ifndef INSYNC_SIM_SEQ_MAX
#define INSYNC_SIM_SEQ_MAX UINT32_MAX
#endif

_Static_assert(INSYNC_SIM_NEAR >= 64 && INSYNC_SIM_NEAR <= 4096 &&
                       (INSYNC_SIM_NEAR & (INSYNC_SIM_NEAR - 1)) == 0,
               "the near horizon is a power of 2 that busy_words covers");

static void qpush(insync_qheap_t *h, const insync_qev_t *e) {
        if (h->n == h->cap) {
                size_t cap = h->cap ? h->cap * 2 : 64;
                insync_qev_t *v = realloc(h->v, cap * sizeof(*v));
                if (!v)
                        abort(); /* the simulation cannot continue sanely */
                h->v = v;
                h->cap = cap;
        }
        insync_qev_t *v = h->v;
        size_t i = h->n++;
        while (i > 0) {
                size_t up = (i - 1) / 2;
                if (!qless(e, &v[up]))
                        break;
                v[i] = v[up];
                i = up;
        }
        v[i] = *e;
}

/* Removes the top: the hole it leaves goes down along the smaller
 * children to a leaf, then the last event moves up from there into its
 * place (it belongs near the bottom: one comparison a level, not two). */
static void qpop(insync_qheap_t *h) {
        insync_qev_t *v = h->v;
        size_t n = --h->n;
        if (!n)
                return;
        size_t i = 0;
        for (;;) {
                size_t l = 2 * i + 1;
                if (l + 1 < n) {
                        l += qless(&v[l + 1], &v[l]);
                } else if (l >= n) {
                        break;
                }
                v[i] = v[l];
                i = l;
        }
        while (i > 0) {
                size_t up = (i - 1) / 2;
                if (!qless(&v[n], &v[up]))
                        break;
                v[i] = v[up];
                i = up;
        }
        v[i] = v[n];
        if (h->cap > 4096 && h->n < h->cap / 4) {
                /* a burst (a topic's creation tells every broker of every
                 * partition) leaves no high-water mark behind */
                insync_qev_t *s = realloc(h->v, h->cap / 2 * sizeof(*s));
                if (s) {
                        h->v = s;
                        h->cap /= 2;
                }
        }
}

static int qcmp(const void *x, const void *y) {
        const insync_qev_t *a = *(insync_qev_t *const *)x, *b = *(insync_qev_t *const *)y;
        return qless(a, b) ? -1 : qless(b, a);
}

static void renumber(insync_heap_t *h) {
        size_t n = h->nnear + h->far.n, k = 0;
        if (n > UINT32_MAX / 2)
                abort(); /* 2^31 queued events: more than any memory holds */
        insync_qev_t **all = malloc((n ? n : 1) * sizeof(*all));
        if (!all)
                abort();
        for (size_t ms = 0; ms < INSYNC_SIM_NEAR; ms++)
                if (h->busy[ms / 64] & ((uint64_t)1 << (ms % 64)))
                        for (uint32_t i = h->ms[ms].first; i; i = h->node[i].next)
                                all[k++] = &h->node[i].e;
        for (size_t i = 0; i < h->far.n; i++)
                all[k++] = &h->far.v[i];
        qsort(all, n, sizeof(*all), qcmp);
        for (size_t i = 0; i < n; i++)
                all[i]->ord = (all[i]->ord & ~(uint64_t)UINT32_MAX) | (uint32_t)i;
        free(all);
        h->seq = n;
}

/* A near event joins the list of its ms, after the last one with a key no
 * greater than its own (its seq is the greatest): most often at the end,
 * or, when its key is 0, after the last of key 0 (a fetcher's events come
 * after those, a burst of key 0 never walks the list). */
static void near_push(insync_heap_t *h, const insync_qev_t *e) {
        uint32_t i = h->free;
        if (i) {
                h->free = h->node[i].next;
        } else {
                if (h->nnode + 1 >= h->capnode) {
                        uint32_t cap = h->capnode ? h->capnode * 2 : 64;
                        insync_qnode_t *v = realloc(h->node, cap * sizeof(*v));
                        if (!v)
                                abort(); /* the simulation cannot continue sanely */
                        h->node = v;
                        h->capnode = cap;
                }
                if (!h->ms) {
                        h->ms = malloc(INSYNC_SIM_NEAR * sizeof(*h->ms));
                        if (!h->ms)
                                abort();
                }
                i = ++h->nnode;
        }
        insync_qnode_t *v = h->node;
        v[i].e = *e;
        v[i].next = 0;
        size_t ms = e->t & (INSYNC_SIM_NEAR - 1);
        struct insync_qms_s *l = &h->ms[ms];
        int key0 = e->ord >> 32 == 0;
        h->nnear++;
        if (!(h->busy[ms / 64] & ((uint64_t)1 << (ms % 64)))) {
                l->first = l->last = i;
                l->last0 = key0 ? i : 0;
                h->busy[ms / 64] |= (uint64_t)1 << (ms % 64);
                h->busy_words |= (uint64_t)1 << (ms / 64);
                return;
        }
        uint32_t prev;
        if (v[l->last].e.ord <= e->ord) {
                prev = l->last;
        } else if (key0 ? !l->last0 : e->ord < v[l->first].e.ord) {
                /* first: the first of key 0, or of the smallest key */
                v[i].next = l->first;
                l->first = i;
                if (key0)
                        l->last0 = i;
                return;
        } else if (key0) {
                prev = l->last0;
        } else {
                prev = l->last0 ? l->last0 : l->first;
                while (v[v[prev].next].e.ord <= e->ord)
                        prev = v[prev].next;
        }
        v[i].next = v[prev].next;
        v[prev].next = i;
        if (prev == l->last)
                l->last = i;
        if (key0)
                l->last0 = i;
}

/* The first ms at or after now's with near events (there is one). */
static size_t near_first(const insync_heap_t *h, int64_t now) {
        size_t ms = (size_t)now & (INSYNC_SIM_NEAR - 1), w = ms / 64;
        uint64_t bits = h->busy[w] & (~(uint64_t)0 << (ms % 64));
        if (bits)
                return w * 64 + (size_t)__builtin_ctzll(bits);
        /* the next busy word after now's, else the first (past the wrap;
         * back at now's word, its bits from now's on are known clear) */
        uint64_t later = w + 1 < 64 ? h->busy_words & (~(uint64_t)0 << (w + 1)) : 0;
        w = (size_t)__builtin_ctzll(later ? later : h->busy_words);
        return w * 64 + (size_t)__builtin_ctzll(h->busy[w]);
}

/* After a burst (a topic's creation tells every broker of every
 * partition), the nodes move to a smaller array, list by list: no
 * high-water mark stays behind. */
static void near_compact(insync_heap_t *h) {
        uint32_t cap = 64;
        while (cap < 2 * (h->nnear + 1))
                cap *= 2;
        insync_qnode_t *w = malloc(cap * sizeof(*w)), *v = h->node;
        if (!w)
                return; /* keep the larger one */
        uint32_t k = 0;
        for (uint64_t words = h->busy_words; words; words &= words - 1) {
                size_t wi = (size_t)__builtin_ctzll(words);
                for (uint64_t bits = h->busy[wi]; bits; bits &= bits - 1) {
                        struct insync_qms_s *l =
                            &h->ms[wi * 64 + (size_t)__builtin_ctzll(bits)];
                        uint32_t last0 = 0, prev = 0;
                        for (uint32_t i = l->first; i; i = v[i].next) {
                                w[++k].e = v[i].e;
                                w[k].next = 0;
                                if (prev)
                                        w[prev].next = k;
                                else
                                        l->first = k;
                                if (i == l->last0)
                                        last0 = k;
                                prev = k;
                        }
                        l->last = prev;
                        l->last0 = last0;
                }
        }
        free(v);
        h->node = w;
        h->capnode = cap;
        h->nnode = k;
        h->free = 0;
}

/* Takes the first event of ms's list. */
static void near_pop(insync_heap_t *h, size_t ms) {
        insync_qnode_t *v = h->node;
        struct insync_qms_s *l = &h->ms[ms];
        uint32_t first = l->first;
        if (first == l->last) {
                h->busy[ms / 64] &= ~((uint64_t)1 << (ms % 64));
                if (!h->busy[ms / 64])
                        h->busy_words &= ~((uint64_t)1 << (ms / 64));
        } else {
                l->first = v[first].next;
                if (first == l->last0)
                        l->last0 = 0;
        }
        v[first].next = h->free;
        h->free = first;
        h->nnear--;
        if (h->capnode > 4096 && h->nnear < h->capnode / 8)
                near_compact(h);
}

void insync_sim_at(insync_cluster_t *c, int64_t t, int type, uint32_t a,
                   uint64_t b, void *p) {
        insync_sim_at_key(c, t, 0, type, a, b, p);
}

void insync_sim_at_key(insync_cluster_t *c, int64_t t, uint32_t key, int type,
                       uint32_t a, uint64_t b, void *p) {
        insync_heap_t *h = &c->heap;
        if (h->seq > INSYNC_SIM_SEQ_MAX && h->seq > 2 * (h->nnear + h->far.n))
                renumber(h);
        if (t < c->now)
                t = c->now;
        insync_qev_t e = {(uint64_t)t, (uint64_t)key << 32 | h->seq++,
                          type == INSYNC_EV_MSG ? (uint64_t)(uintptr_t)p : b, a,
                          (uint32_t)type};
        if (t - c->now < INSYNC_SIM_NEAR)
                near_push(h, &e);
        else
                qpush(&h->far, &e);
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
        const insync_qev_t *top = NULL;
        size_t ms = 0;
        if (h->nnear) {
                ms = near_first(h, c->now);
                top = &h->node[h->ms[ms].first].e;
        }
        int far = h->far.n && (!top || qless(&h->far.v[0], top));
        if (far)
                top = &h->far.v[0];
        if (!top || (int64_t)top->t > until)
                return 0;
        e->t = (int64_t)top->t;
        e->key = (uint32_t)(top->ord >> 32);
        e->seq = (uint32_t)top->ord;
        e->type = top->type;
        e->a = top->a;
        e->b = top->x; /* what each type reads of b and p: no branch */
        e->p = (void *)(uintptr_t)top->x;
        if (far)
                qpop(&h->far);
        else
                near_pop(h, ms);
        return 1;
}

static void each_of(insync_cluster_t *c, const insync_qev_t *q,
                    void (*each)(insync_cluster_t *, const insync_ev_t *)) {
        insync_ev_t e = {(int64_t)q->t, (uint32_t)(q->ord >> 32), (uint32_t)q->ord,
                         q->type, q->a, q->x, (void *)(uintptr_t)q->x};
        each(c, &e);
}

/* Every queued event, to @p each (the dispatcher frees the messages among
 * them), then the queue itself, left empty. */
void insync_sim_free(insync_cluster_t *c,
                     void (*each)(insync_cluster_t *, const insync_ev_t *)) {
        insync_heap_t *h = &c->heap;
        while (h->busy_words) {
                size_t w = (size_t)__builtin_ctzll(h->busy_words);
                size_t ms = w * 64 + (size_t)__builtin_ctzll(h->busy[w]);
                for (uint32_t i = h->ms[ms].first; each && i; i = h->node[i].next)
                        each_of(c, &h->node[i].e, each);
                h->busy[w] &= h->busy[w] - 1;
                if (!h->busy[w])
                        h->busy_words &= h->busy_words - 1;
        }
        for (size_t i = 0; each && i < h->far.n; i++)
                each_of(c, &h->far.v[i], each);
        free(h->node);
        free(h->ms);
        free(h->far.v);
        h->node = NULL;
        h->ms = NULL;
        h->nnode = h->capnode = h->free = 0;
        h->nnear = 0;
        memset(&h->far, 0, sizeof(h->far));
        h->seq = 0;
}

/* The bytes the queue holds besides the cluster's own struct. */
size_t insync_sim_memory(const insync_cluster_t *c) {
        return (c->heap.ms ? INSYNC_SIM_NEAR * sizeof(*c->heap.ms) : 0) +
               c->heap.capnode * sizeof(insync_qnode_t) +
               c->heap.far.cap * sizeof(insync_qev_t);
}
