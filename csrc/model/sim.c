/**
 * @file sim.c
 * @brief The discrete-event core: one event queue (a binary heap ordered by
 * time, then insertion number, so equal times always fire in the order they
 * were scheduled), one seeded PRNG (xoshiro256** seeded by splitmix64), and
 * the dispatcher that hands each event to its subsystem.
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

static void dispatch(insync_cluster_t *c, const insync_ev_t *e) {
        switch (e->type) {
        case INSYNC_EV_MSG:
                insync_net_deliver(c, e->p);
                break;
        case INSYNC_EV_HEARTBEAT:
        case INSYNC_EV_ISR_CHECK:
        case INSYNC_EV_FETCH_CHECK:
        case INSYNC_EV_FLUSH:
        case INSYNC_EV_CS_HEARTBEAT:
        case INSYNC_EV_CS_DEADLINE:
        case INSYNC_EV_REGISTER:
        case INSYNC_EV_HW_CHECKPOINT:
                insync_broker_timer(c, (int)e->type, (int)e->a, e->b);
                break;
        case INSYNC_EV_SESSION:
                insync_controller_session(c, (int)e->a, e->b);
                break;
        case INSYNC_EV_BALANCE:
                insync_controller_balance(c);
                break;
        case INSYNC_EV_QUORUM:
                insync_controller_quorum_event(c, e->b);
                break;
        case INSYNC_EV_FETCH_WAIT:
                if (c->br[e->a].alive)
                        insync_partition_fetch_wait(c, (int)e->a,
                                                    (uint32_t)(e->b >> 32),
                                                    (uint32_t)e->b);
                break;
        case INSYNC_EV_FETCH_RETRY:
                if (c->br[e->a].alive)
                        insync_partition_fetch_retry(c, (int)e->a,
                                                     (uint32_t)(e->b >> 32),
                                                     e->b & 0xffffffffu);
                break;
        case INSYNC_EV_DP_TIMEOUT:
                if (c->br[e->a].alive)
                        insync_partition_dp_timeout(c, (int)e->a, e->b);
                break;
        default:
                insync_producer_timer(c, (int)e->type, e->a, e->b);
                break;
        }
}

/* The broker an event happens in: a message's receiver, a broker timer's
 * broker; 0 for the controller's and the producers' events. */
static int broker_of(const insync_cluster_t *c, const insync_ev_t *e) {
        if (e->type == INSYNC_EV_MSG) {
                int to = ((const insync_msg_t *)e->p)->to;
                return to >= 1 && to <= c->nbrokers ? to : 0;
        }
        return e->type >= INSYNC_EV_HEARTBEAT && e->type <= INSYNC_EV_DP_TIMEOUT
                       ? (int)e->a
                       : 0;
}

/* A paused broker's event waits, in order, until it resumes. */
static void hold(insync_cluster_t *c, const insync_ev_t *e) {
        if (c->nheld == c->heldcap) {
                size_t cap = c->heldcap ? c->heldcap * 2 : 64;
                insync_ev_t *v = realloc(c->held, cap * sizeof(*v));
                if (!v)
                        abort(); /* the simulation cannot continue sanely */
                c->held = v;
                c->heldcap = cap;
        }
        c->held[c->nheld++] = *e;
}

void insync_sim_release(insync_cluster_t *c, int b) {
        size_t keep = 0;
        for (size_t i = 0; i < c->nheld; i++) {
                const insync_ev_t *e = &c->held[i];
                if (broker_of(c, e) == b)
                        insync_sim_at_key(c, c->now, e->key, (int)e->type, e->a,
                                          e->b, e->p);
                else
                        c->held[keep++] = *e;
        }
        c->nheld = keep;
}

int insync_cluster_step(insync_cluster_t *c, int64_t until) {
        insync_heap_t *h = &c->heap;
        while (h->n && h->ev[0].t <= until) {
                insync_ev_t e = heap_pop(h);
                c->now = e.t;
                c->cur_key = e.key;
                int b = broker_of(c, &e);
                if (b && c->br[b].paused) {
                        hold(c, &e);
                        continue;
                }
                size_t before = c->cq_n;
                dispatch(c, &e);
                if (c->cq_n > before)
                        return 1;
        }
        if (until > c->now)
                c->now = until;
        c->cur_key = UINT32_MAX; /* every event at now has fired */
        return 0;
}

/* The messages among n events, never to be delivered. */
static void free_msgs(insync_cluster_t *c, const insync_ev_t *ev, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (ev[i].type == INSYNC_EV_MSG)
                        insync_net_free(c, ev[i].p);
}

void insync_sim_free(insync_cluster_t *c) {
        insync_heap_t *h = &c->heap;
        free_msgs(c, h->ev, h->n);
        free_msgs(c, c->held, c->nheld);
        free(h->ev);
        free(c->held);
        memset(h, 0, sizeof(*h));
        c->held = NULL;
        c->nheld = c->heldcap = 0;
}
