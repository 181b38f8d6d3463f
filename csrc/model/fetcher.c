/**
 * @file fetcher.c
 * @brief Followers fetch as Kafka's ReplicaFetcherThreads do: a follower
 * broker runs num.replica.fetchers fetchers per leader broker, a partition
 * going to fetcher hash(topic, partition) % num.replica.fetchers
 * (AbstractFetcherManager.getFetcherId), and each fetcher has one
 * FetchRequest outstanding for all its partitions
 * (AbstractFetcherThread.maybeFetch / processFetchRequest).
 *
 * Fetch sessions (KIP-227, FetchSessionHandler / FetchSession): the first
 * request of a session is full (every partition), the next ones are
 * incremental: they carry only the partitions whose fetch state changed
 * since the last one, and the response only the partitions with records, a
 * new high watermark or an error.  The leader remembers the rest: in the
 * model it keeps, per fetcher, the list of partitions it owes something to
 * (dirty), so an idle partition costs nothing per fetch.  Kafka's leader
 * still updates every session partition's follower state at each fetch
 * (lastCaughtUpTimeMs); the model does it when the state is next read
 * (insync_fetcher_fstate): a partition left out of a fetch was caught up
 * at that fetch.
 *
 * Idle periods.  A fetcher with nothing to fetch and nothing owed repeats
 * one cycle: its request waits replica.fetch.wait.max.ms at the leader
 * (DelayedFetch), the empty response comes back, the next request goes
 * out.  Where that cycle is exactly periodic (fixed latency, no network
 * budget), the fetcher sleeps instead: no event of it stays queued, and
 * whatever would change its cycle (an append or HW change on one of its
 * partitions, a partition joining or leaving, a fault) wakes it first,
 * putting back the one event the cycle would have queued at that moment.
 * Equal times fire by key (sim.c), a fetcher's events with its own, so its
 * turn at a ms is known without its events.  Nothing observable differs
 * from stepping through every round (cluster option skip_idle = false):
 * spec/model/fetcher_spec.lua runs both and compares.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define NF_STRIDE (INSYNC_MAX_BROKERS + 1)

static void grow(uint32_t **v, uint32_t *cap, uint32_t n) {
        if (n < *cap)
                return;
        uint32_t nc = *cap ? *cap * 2 : 8;
        uint32_t *p = realloc(*v, nc * sizeof(*p));
        if (!p)
                abort(); /* the simulation cannot continue sanely */
        *v = p;
        *cap = nc;
}

/* AbstractFetcherManager.getFetcherId: Utils.abs(31 * topic.hashCode +
 * partition) % numFetchersPerBroker, in Java's int arithmetic. */
static int fetcher_id(const insync_cluster_t *c, uint32_t gp) {
        int nf = c->conf.num_fetchers;
        if (nf <= 1)
                return 0;
        const insync_cpart_t *cp = &c->cp[gp];
        uint32_t h = 31u * (uint32_t)c->topics[cp->topic].hash + (uint32_t)cp->part;
        int32_t v = (int32_t)h;
        uint32_t a = v == INT32_MIN ? 0 : (uint32_t)(v < 0 ? -v : v);
        return (int)(a % (uint32_t)nf);
}

static insync_fetcher_t *fetcher_get(insync_cluster_t *c, int f, int l,
                                     uint32_t gp) {
        int nf = c->conf.num_fetchers;
        if (!c->fetchers) {
                c->fetchers = calloc((size_t)NF_STRIDE * NF_STRIDE * (size_t)nf,
                                     sizeof(*c->fetchers));
                if (!c->fetchers)
                        abort();
        }
        int id = fetcher_id(c, gp);
        insync_fetcher_t **slot = &c->fetchers[((size_t)f * NF_STRIDE + (size_t)l) *
                                                       (size_t)nf + (size_t)id];
        if (*slot)
                return *slot;
        insync_fetcher_t *s = calloc(1, sizeof(*s));
        if (!s)
                abort();
        if (c->nfl == c->flcap) {
                uint32_t cap = c->flcap ? c->flcap * 2 : 16;
                insync_fetcher_t **v = realloc(c->fl, cap * sizeof(*v));
                if (!v)
                        abort();
                c->fl = v;
                c->flcap = cap;
        }
        c->fl[c->nfl++] = s;
        s->follower = f;
        s->leader = l;
        s->id = id;
        s->key = c->nfl;
        s->full = 1;
        s->last_arrival = -1;
        *slot = s;
        return s;
}

void insync_fetcher_free_all(insync_cluster_t *c) {
        for (uint32_t i = 0; i < c->nfl; i++) {
                insync_fetcher_t *s = c->fl[i];
                free(s->parts);
                free(s->chg);
                free(s->dirty);
                free(s->out);
                free(s);
        }
        free(c->fl);
        free(c->fetchers);
        c->fl = NULL;
        c->fetchers = NULL;
        c->nfl = c->flcap = 0;
}

/* The one-way latency of every link, when fixed and the same for all:
 * -1 otherwise (draws, or a network budget, make a cycle irregular). */
static int64_t fixed_latency(const insync_cluster_t *c) {
        if (c->lat_link || c->lat[0].kind != INSYNC_LAT_FIXED ||
            c->conf.net_bytes_per_ms > 0)
                return -1;
        return c->conf.latency_ms;
}

int insync_fetcher_may_sleep(const insync_cluster_t *c,
                             const insync_fetcher_t *s) {
        int64_t lat = fixed_latency(c);
        const insync_broker_t *f = &c->br[s->follower], *l = &c->br[s->leader];
        return c->conf.skip_idle && lat > 0 && c->conf.fetch_wait_ms > 0 &&
               c->conf.fetch_wait_ms + 2 * lat < c->conf.socket_timeout_ms &&
               f->alive && l->alive && !f->paused && !l->paused &&
               insync_net_passes(c, s->follower, s->leader) &&
               insync_net_passes(c, s->leader, s->follower) && !s->nchg &&
               !s->ndirty && !s->nout && !s->ndelayed && s->nparts;
}

/* Where a sleeping fetcher's cycle stands now: the index k of its last
 * request arrival at or before now that has happened (an event of the
 * fetcher at exactly now has happened when its key is below the one being
 * handled), and the phase within that cycle in half ms. */
static void cycle(const insync_cluster_t *c, const insync_fetcher_t *s,
                  int64_t *k, int64_t *ph2) {
        int64_t lat = c->conf.latency_ms, w = c->conf.fetch_wait_ms;
        int64_t p2 = 2 * (w + 2 * lat);
        int64_t d = c->now - s->a0;
        int64_t dd = d == 0 || s->key < c->cur_key ? 2 * d : 2 * d - 1;
        *k = dd / p2;
        *ph2 = dd - *k * p2;
}

static int64_t last_arrival(const insync_cluster_t *c,
                            const insync_fetcher_t *s) {
        if (!s->dormant)
                return s->last_arrival;
        int64_t k, ph2;
        cycle(c, s, &k, &ph2);
        return s->a0 + k * (c->conf.fetch_wait_ms + 2 * c->conf.latency_ms);
}

/* Puts back the event the cycle has queued now: the request parked at
 * the leader (its FETCH_WAIT), the empty response on its way, or the next
 * request on its way. */
void insync_fetcher_wake(insync_cluster_t *c, insync_fetcher_t *s) {
        if (!s->dormant)
                return;
        int64_t lat = c->conf.latency_ms, w = c->conf.fetch_wait_ms;
        int64_t k, ph2;
        cycle(c, s, &k, &ph2);
        int64_t ak = s->a0 + k * (w + 2 * lat);
        s->dormant = 0;
        s->last_arrival = ak;
        if (ph2 < 2 * w) {
                s->parked = 1;
                s->parked_gen++;
                s->fetch_sent = ak - lat;
                insync_sim_at_key(c, ak + w, s->key, INSYNC_EV_FETCH_WAIT,
                                  (uint32_t)s->leader,
                                  ((uint64_t)s->key << 32) | s->parked_gen, NULL);
        } else if (ph2 < 2 * (w + lat)) {
                insync_msg_t *m = insync_net_msg(c, INSYNC_M_FETCH_RESP, s->leader,
                                                 s->follower);
                m->key = s->key;
                m->req = s->session;
                s->fetch_sent = ak - lat;
                insync_sim_at_key(c, ak + w + lat, s->key, INSYNC_EV_MSG, 0, 0, m);
        } else {
                insync_msg_t *m = insync_net_msg(c, INSYNC_M_FETCH, s->follower,
                                                 s->leader);
                m->key = s->key;
                m->req = s->session;
                s->fetch_sent = ak + w + lat;
                insync_sim_at_key(c, ak + w + 2 * lat, s->key, INSYNC_EV_MSG, 0, 0,
                                  m);
        }
        insync_fetcher_arm_check(c, s);
}

void insync_fetcher_arm_check(insync_cluster_t *c, insync_fetcher_t *s) {
        insync_broker_t *br = &c->br[s->follower];
        int64_t t = insync_after(s->fetch_sent, c->conf.socket_timeout_ms);
        if (br->fc_at >= c->now && br->fc_at <= t)
                return;
        br->fc_at = t;
        insync_sim_at(c, t, INSYNC_EV_FETCH_CHECK, (uint32_t)s->follower, br->inc, NULL);
}

void insync_fetcher_wake_all(insync_cluster_t *c) {
        for (uint32_t i = 0; i < c->nfl; i++)
                insync_fetcher_wake(c, c->fl[i]);
}

void insync_fetcher_change(insync_fetcher_t *s, insync_replica_t *r,
                           uint32_t gp) {
        if (r->in_chg)
                return;
        grow(&s->chg, &s->ccap, s->nchg);
        s->chg[s->nchg++] = gp;
        r->in_chg = 1;
}

void insync_fetcher_mark(insync_fetcher_t *s, insync_fstate_t *fs, uint32_t gp) {
        if (fs->dirty)
                return;
        grow(&s->dirty, &s->dcap, s->ndirty);
        s->dirty[s->ndirty++] = gp;
        fs->dirty = 1;
}

/* AbstractFetcherManager.addFetcherForPartitions: the partition joins the
 * fetcher of its leader; the next request carries it. */
void insync_fetcher_add(insync_cluster_t *c, int f, insync_replica_t *r,
                        uint32_t gp) {
        if (r->leader < 1 || r->leader == f || r->fetcher)
                return;
        insync_fetcher_t *s = fetcher_get(c, f, r->leader, gp);
        insync_fetcher_wake(c, s);
        grow(&s->parts, &s->pcap, s->nparts);
        r->fetcher = s;
        r->fpos = s->nparts;
        s->parts[s->nparts++] = gp;
        r->delayed = 0;
        r->in_chg = 0;
        insync_fetcher_change(s, r, gp);
        insync_fetcher_send(c, s);
}

/* Partition.updateFollowerFetchState for the fetches that left the
 * partition out since it was last carried: an incremental fetch omits a
 * partition whose follower had all of it and whose leader had nothing new
 * to say (else it is in the request, or owed), so each such fetch found it
 * caught up. */
insync_fstate_t *insync_fetcher_fstate(insync_cluster_t *c, int b, uint32_t gp,
                                       insync_replica_t *r, int pos) {
        insync_fstate_t *fs = &r->f[pos];
        if (!fs->seen)
                return fs;
        const insync_replica_t *fr = c->br[c->cp[gp].replicas[pos]].rep[gp];
        const insync_fetcher_t *s = fr ? fr->fetcher : NULL;
        if (!s || s->leader != b || fr->delayed)
                return fs;
        int64_t la = last_arrival(c, s);
        if (la > fs->last_fetch_t) {
                if (la > fs->caught_up)
                        fs->caught_up = la;
                fs->last_fetch_leo = fs->leo;
                fs->last_fetch_t = la;
        }
        return fs;
}

/* removeFetcherForPartitions.  The leader's lazy view of it is brought up
 * to date first: later fetches no longer carry it. */
void insync_fetcher_remove(insync_cluster_t *c, insync_replica_t *r,
                           uint32_t gp) {
        insync_fetcher_t *s = r->fetcher;
        if (!s)
                return;
        insync_fetcher_wake(c, s);
        insync_replica_t *lr = insync_broker_replica(c, s->leader, gp);
        int pos = insync_partition_pos(c, gp, s->follower);
        if (lr && lr->role == INSYNC_ROLE_LEADER && pos >= 0)
                insync_fetcher_fstate(c, s->leader, gp, lr, pos);
        uint32_t last = s->parts[--s->nparts];
        if (r->fpos < s->nparts) {
                s->parts[r->fpos] = last;
                insync_replica_t *moved = c->br[s->follower].rep[last];
                moved->fpos = r->fpos;
        }
        if (r->delayed)
                s->ndelayed--;
        r->delayed = 0;
        r->in_chg = 0;
        r->fetcher = NULL;
}

static int64_t next_delay(insync_cluster_t *c, insync_fetcher_t *s) {
        int64_t next = INSYNC_NEVER;
        for (uint32_t i = 0; i < s->nparts && s->ndelayed; i++) {
                insync_replica_t *r = c->br[s->follower].rep[s->parts[i]];
                if (!r->delayed)
                        continue;
                if (r->delay_until <= c->now) {
                        r->delayed = 0;
                        s->ndelayed--;
                        insync_fetcher_change(s, r, s->parts[i]);
                } else if (r->delay_until < next) {
                        next = r->delay_until;
                }
        }
        return next;
}

/* AbstractFetcherThread.maybeFetch: one request for every partition not in
 * backoff: all of them when the session is new, else the changed ones. */
void insync_fetcher_send(insync_cluster_t *c, insync_fetcher_t *s) {
        insync_broker_t *br = &c->br[s->follower];
        if (s->fetching || !br->alive || s->dormant)
                return;
        int64_t next = s->ndelayed ? next_delay(c, s) : INSYNC_NEVER;
        if (s->nparts == s->ndelayed) {
                if (s->ndelayed && !s->retry_armed) {
                        s->retry_armed = 1;
                        insync_sim_at_key(c, next, s->key, INSYNC_EV_FETCH_RETRY,
                                          (uint32_t)s->follower,
                                          ((uint64_t)s->key << 32) | s->session, NULL);
                }
                s->nchg = 0;
                return;
        }
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_FETCH, s->follower, s->leader);
        uint32_t n = 0;
        uint32_t want = s->full ? s->nparts : s->nchg;
        insync_freq_t *e = want ? insync_net_parts(m, (size_t)want * sizeof(*e)) : NULL;
        for (uint32_t i = 0; i < want; i++) {
                uint32_t gp = s->full ? s->parts[i] : s->chg[i];
                insync_replica_t *r = br->rep[gp];
                if (!s->full) {
                        if (!r->in_chg || r->fetcher != s)
                                continue;
                        r->in_chg = 0;
                }
                if (r->delayed)
                        continue;
                e[n].gp = gp;
                e[n].epoch = r->epoch;
                e[n].epoch2 = insync_log_latest_epoch(&r->log);
                e[n].offset = r->log.len;
                n++;
        }
        if (s->full)
                for (uint32_t i = 0; i < s->nchg; i++) {
                        insync_replica_t *r = br->rep[s->chg[i]];
                        if (r && r->fetcher == s)
                                r->in_chg = 0;
                }
        s->nchg = 0;
        m->key = s->key;
        m->req = s->session;
        m->full = s->full;
        m->parts = e;
        m->nparts = n;
        s->full = 0;
        s->fetching = 1;
        s->fetch_sent = c->now;
        insync_fetcher_arm_check(c, s);
        insync_net_send(c, m);
}
