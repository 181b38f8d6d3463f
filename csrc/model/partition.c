/**
 * @file partition.c
 * @brief A partition's replication, as each broker runs it.
 *
 * Leader side (Partition.scala, ReplicaManager.scala, DelayedProduce.scala):
 * append with the min ISR check of appendRecordsToLeader, idempotent
 * duplicate and sequence checks (ProducerAppendInfo), follower fetch state
 * (updateFollowerFetchState / isCaughtUp), the HW rule of
 * maybeIncrementLeaderHW (minimum LEO over the maximal ISR and caught-up
 * eligible followers; no advance under min ISR since KAFKA-15583), ISR
 * shrink (maybeShrinkIsr) and expand (maybeExpandIsr) through
 * AlterPartition, the acks=all purgatory (checkEnoughReplicasReachOffset).
 *
 * Fetching (fetcher.c holds the fetchers and their sessions): the leader
 * answers one request for all the partitions a fetcher carries
 * (ReplicaManager.fetchMessages, readFromLog): each partition's follower
 * state is updated, its records read up to replica.fetch.max.bytes and
 * what is left of replica.fetch.response.max.bytes (the first partition
 * with records gets at least one batch); the request waits as one
 * DelayedFetch until replica.fetch.min.bytes are there or
 * replica.fetch.wait.max.ms has passed, and answers at once on an error or
 * a diverging epoch.  The follower applies each partition's outcome of the
 * response on its own (AbstractFetcherThread.processFetchRequest): records
 * appended, HW taken, a diverging epoch truncating the log to where the
 * leader's history parts from it (KIP-101, KIP-279, KIP-320, fetch v12+),
 * an error putting that partition alone into replica.fetch.backoff.ms.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const insync_topic_t *topic_of(const insync_cluster_t *c, uint32_t gp) {
        return &c->topics[c->cp[gp].topic];
}

/* min(min.insync.replicas, replication factor): effectiveMinIsr */
static int eff_min_isr(const insync_cluster_t *c, uint32_t gp) {
        int m = topic_of(c, gp)->min_isr;
        return m < c->cp[gp].rf ? m : c->cp[gp].rf;
}

static uint64_t maximal_isr(const insync_replica_t *r) {
        return r->isr | (r->pending ? r->pending_isr : 0);
}

/* UnifiedLog.append, leader and follower alike: flush once
 * unflushedMessages (LEO - recovery point) reaches flush.messages. */
static void maybe_flush(insync_cluster_t *c, uint32_t gp, insync_replica_t *r) {
        int64_t every = topic_of(c, gp)->flush_messages;
        if (every <= 0)
                every = c->conf.flush_messages;
        if ((int64_t)(r->log.len - r->log.flushed) >= every)
                insync_log_flush(&r->log, c->now);
}

static void produce_resp(insync_cluster_t *c, int b, int node, uint64_t req,
                         uint32_t gp, int err, int64_t base) {
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_PRODUCE_RESP, b, node);
        m->req = req;
        m->gp = gp;
        m->err = err;
        m->offset = base;
        insync_net_send(c, m);
}

/* DelayedProduce.tryComplete for every waiting request the HW now covers. */
static void complete_delayed(insync_cluster_t *c, int b, uint32_t gp,
                             insync_replica_t *r) {
        uint32_t i = 0;
        while (i < r->ndp && r->dp[i].end <= r->hw)
                i++;
        if (i == 0)
                return;
        int ok = eff_min_isr(c, gp) <= insync_popcount(maximal_isr(r));
        for (uint32_t k = 0; k < i; k++)
                produce_resp(c, b, r->dp[k].node, r->dp[k].req, gp,
                             ok ? 0 : INSYNC_KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                             r->dp[k].base);
        memmove(r->dp, r->dp + i, (r->ndp - i) * sizeof(*r->dp));
        r->ndp -= i;
}

static int is_caught_up(const insync_cluster_t *c, const insync_fstate_t *f,
                        uint32_t leo) {
        /* as now - caught_up <= lag_ms, without overflow at Long.MAX */
        return f->leo == (int64_t)leo || f->caught_up >= c->now - c->conf.lag_ms;
}

static int64_t rec_bytes(const insync_cluster_t *c, uint32_t id) {
        const insync_rec_t *e = &c->recs.rec[id];
        return 16 + (e->klen == INSYNC_NOLEN ? 0 : e->klen) +
               (e->vlen == INSYNC_NOLEN ? 0 : e->vlen);
}

static int64_t owed_bytes(insync_cluster_t *c, insync_fetcher_t *s,
                          int64_t enough);
static void respond(insync_cluster_t *c, insync_fetcher_t *s);

enum { NOTIFY_HW, NOTIFY_DATA, NOTIFY_RESIGN };

/* Something changed in partition gp that its followers' fetchers owe them
 * (@p what: records, else a HW, or the leader resigned): each such fetcher
 * lists it, and a parked request now completes if it has enough bytes
 * (DelayedFetch.tryComplete: a HW alone completes none) or the leader
 * resigned (DelayedFetch, case B). */
static void notify(insync_cluster_t *c, int b, uint32_t gp,
                   insync_replica_t *r, int what) {
        const insync_cpart_t *cp = &c->cp[gp];
        for (int i = 0; i < cp->rf; i++) {
                int f = cp->replicas[i];
                const insync_replica_t *fr = c->br[f].rep[gp];
                insync_fetcher_t *s = fr ? fr->fetcher : NULL;
                if (f == b || !s || s->leader != b)
                        continue;
                insync_fetcher_wake(c, s);
                insync_fetcher_mark(s, &r->f[i], gp);
                if (s->parked &&
                    (what == NOTIFY_RESIGN ||
                     (what == NOTIFY_DATA &&
                      owed_bytes(c, s, c->conf.fetch_min_bytes) >= c->conf.fetch_min_bytes)))
                        respond(c, s);
        }
}

/* Partition.maybeIncrementLeaderHW */
static int maybe_increment_hw(insync_cluster_t *c, int b, uint32_t gp,
                              insync_replica_t *r) {
        const insync_cpart_t *cp = &c->cp[gp];
        if (c->conf.strict_min_isr &&
            insync_popcount(r->isr) < eff_min_isr(c, gp))
                return 0;
        int64_t hw = r->log.len;
        uint64_t max = maximal_isr(r);
        for (int i = 0; i < cp->rf; i++) {
                int f = cp->replicas[i];
                if (f == b)
                        continue;
                const insync_fstate_t *fs = insync_fetcher_fstate(c, b, gp, r, i);
                int wait = insync_bit(max, f) ||
                           (is_caught_up(c, fs, r->log.len) && !c->br[f].fenced &&
                            !c->br[f].in_cs);
                if (fs->leo < hw && wait)
                        hw = fs->leo;
        }
        if (hw <= r->hw)
                return 0;
        r->hw = hw;
        insync_trace_add(c, INSYNC_T_HW, b, gp, hw, r->log.len);
        notify(c, b, gp, r, NOTIFY_HW);
        complete_delayed(c, b, gp, r);
        return 1;
}

static void send_alter(insync_cluster_t *c, int b, uint32_t gp,
                       insync_replica_t *r) {
        c->br[b].isr_dirty = 1;
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_ALTER_ISR, b, 0);
        m->gp = gp;
        m->epoch = r->epoch;
        m->pepoch = r->pepoch;
        m->isr = r->pending_isr;
        insync_net_send(c, m);
}

static void arm_dp(insync_cluster_t *c, int b, uint32_t gp, insync_replica_t *r,
                   int64_t t);

/* ProducerAppendInfo.inSequence: the next sequence, wrapping after
 * INT32_MAX. */
static int in_sequence(int32_t last, int32_t next) {
        return (int64_t)next == (int64_t)last + 1 ||
               (next == 0 && last == INT32_MAX);
}

void insync_partition_produce(insync_cluster_t *c, int b, insync_msg_t *m) {
        uint32_t gp = m->gp;
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        int acks = m->acks;
        if (!r || r->role != INSYNC_ROLE_LEADER) {
                if (acks != 0)
                        produce_resp(c, b, m->from, m->req, gp,
                                     INSYNC_KERR_NOT_LEADER_OR_FOLLOWER, -1);
                else /* KafkaApis.handleProduceRequest: acks=0 and an
                      * error: closeConnection, so that the client
                      * refreshes its metadata */
                        insync_net_close(c, m);
                return;
        }
        /* appendRecordsToLeader: acks=all needs min.insync.replicas in ISR. */
        if (acks == -1 && insync_popcount(r->isr) < eff_min_isr(c, gp)) {
                produce_resp(c, b, m->from, m->req, gp,
                             INSYNC_KERR_NOT_ENOUGH_REPLICAS, -1);
                return;
        }
        int64_t base = -1;
        uint32_t n = m->nids;
        if (m->pid >= 0) {
                /* UnifiedLog.analyzeAndValidateProducerState: a duplicate of
                 * one of the last 5 batches (same producer epoch) is answered
                 * with its offset; then ProducerAppendInfo's checkProducerEpoch
                 * and checkSequence.  A producer id the log holds no batch of
                 * (never seen here, or its batches were truncated or lost with
                 * unflushed data: the state is rebuilt from the log) has
                 * NO_PRODUCER_EPOCH, and since KIP-360 any sequence is taken
                 * from it: the state starts from this batch. */
                insync_pstate_t *s = insync_log_pstate(&r->log, m->pid);
                int err = 0;
                if (s && m->prod_epoch < s->pepoch) {
                        err = INSYNC_KERR_INVALID_PRODUCER_EPOCH;
                } else if (s && m->prod_epoch == s->pepoch) {
                        int32_t last = m->base_seq + (int32_t)n - 1;
                        for (int i = 0; i < s->n; i++)
                                if (s->first_seq[i] == m->base_seq &&
                                    s->last_seq[i] == last)
                                        base = s->base[i];
                        if (base < 0 && !in_sequence(s->last_seq[s->n - 1],
                                                     m->base_seq))
                                err = INSYNC_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
                } else if (s && m->base_seq != 0) {
                        /* a new producer epoch starts at sequence 0 */
                        err = INSYNC_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
                }
                if (err) {
                        if (acks != 0)
                                produce_resp(c, b, m->from, m->req, gp, err, -1);
                        else
                                insync_net_close(c, m);
                        return;
                }
        }
        if (base < 0) {
                base = r->log.len;
                if (insync_log_append(&r->log, m->ids, n, r->epoch, m->pid,
                                      m->prod_epoch, m->base_seq, c->now))
                        abort();
                insync_trace_add(c, INSYNC_T_APPEND, b, gp, base, n);
                c->br[b].isr_dirty = 1;
                maybe_flush(c, gp, r);
                notify(c, b, gp, r, NOTIFY_DATA);
                maybe_increment_hw(c, b, gp, r);
        }
        if (acks == 0)
                return;
        uint32_t end = (uint32_t)base + n;
        if (acks == 1 || r->hw >= end) {
                int ok = acks == 1 ||
                         eff_min_isr(c, gp) <= insync_popcount(maximal_isr(r));
                produce_resp(c, b, m->from, m->req, gp,
                             ok ? 0 : INSYNC_KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                             base);
                return;
        }
        if (r->ndp == r->dpcap) {
                uint32_t cap = r->dpcap ? r->dpcap * 2 : 8;
                insync_dp_t *dp = realloc(r->dp, cap * sizeof(*dp));
                if (!dp)
                        abort();
                r->dp = dp;
                r->dpcap = cap;
        }
        insync_dp_t *d = &r->dp[r->ndp++];
        d->id = ++c->dp_id;
        d->req = m->req;
        d->node = m->from;
        d->base = (uint32_t)base;
        d->end = end;
        d->deadline = insync_after(c->now, m->timeout);
        arm_dp(c, b, gp, r, d->deadline);
}

/* One timer per partition for its purgatory, at its earliest deadline (a
 * timer per request fired long after most of them had completed). */
static void arm_dp(insync_cluster_t *c, int b, uint32_t gp, insync_replica_t *r,
                   int64_t t) {
        if (r->dp_timer >= c->now && r->dp_timer <= t)
                return;
        r->dp_timer = t;
        insync_sim_at(c, t, INSYNC_EV_DP_TIMEOUT, (uint32_t)b, gp, NULL);
}

/* The waiting produce requests whose request.timeout.ms has passed are
 * answered REQUEST_TIMED_OUT, in their order. */
void insync_partition_dp_timeout(insync_cluster_t *c, int b, uint64_t key) {
        uint32_t gp = (uint32_t)key;
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        if (!r || c->now < r->dp_timer)
                return;
        uint32_t keep = 0;
        int64_t next = INSYNC_NEVER;
        for (uint32_t i = 0; i < r->ndp; i++) {
                if (r->dp[i].deadline <= c->now) {
                        produce_resp(c, b, r->dp[i].node, r->dp[i].req, gp,
                                     INSYNC_KERR_REQUEST_TIMED_OUT, -1);
                        continue;
                }
                if (r->dp[i].deadline < next)
                        next = r->dp[i].deadline;
                r->dp[keep++] = r->dp[i];
        }
        r->ndp = keep;
        r->dp_timer = INSYNC_NEVER;
        if (next < INSYNC_NEVER)
                arm_dp(c, b, gp, r, next);
}

/* Partition.maybeExpandIsr / isFollowerInSync */
static void maybe_expand_isr(insync_cluster_t *c, int b, uint32_t gp,
                             insync_replica_t *r, int f, const insync_fstate_t *fs) {
        if (r->pending || insync_bit(r->isr, f))
                return;
        if (fs->leo >= r->hw && fs->leo >= (int64_t)r->epoch_start) {
                r->pending = 1;
                r->pending_isr = r->isr | ((uint64_t)1 << f);
                send_alter(c, b, gp, r);
        }
}

static insync_fout_t *owe(insync_fetcher_t *s) {
        if (s->nout == s->ocap) {
                uint32_t cap = s->ocap ? s->ocap * 2 : 4;
                insync_fout_t *v = realloc(s->out, cap * sizeof(*v));
                if (!v)
                        abort();
                s->out = v;
                s->ocap = cap;
        }
        insync_fout_t *o = &s->out[s->nout++];
        memset(o, 0, sizeof(*o));
        return o;
}

/* One partition of a fetch request at its leader (Partition.fetchRecords):
 * the epoch checks, the diverging epoch, the follower's state. */
static void fetch_part(insync_cluster_t *c, int b, insync_fetcher_t *s,
                       int full, const insync_freq_t *e) {
        uint32_t gp = e->gp;
        int f = s->follower;
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        int pos = gp < c->ngp ? insync_partition_pos(c, gp, f) : -1;
        if (!r || r->role != INSYNC_ROLE_LEADER || e->epoch != r->epoch || pos < 0) {
                insync_fout_t *o = owe(s);
                o->gp = gp;
                o->err = !r || r->role != INSYNC_ROLE_LEADER || pos < 0
                                 ? INSYNC_KERR_NOT_LEADER_OR_FOLLOWER
                         : e->epoch < r->epoch ? INSYNC_KERR_FENCED_LEADER_EPOCH
                                               : INSYNC_KERR_UNKNOWN_LEADER_EPOCH;
                return;
        }
        insync_fstate_t *fs = insync_fetcher_fstate(c, b, gp, r, pos);
        if (e->epoch2 >= 0) {
                int32_t ep;
                int64_t end;
                insync_log_end_for_epoch(&r->log, e->epoch2, &ep, &end);
                if (ep != e->epoch2 || end < e->offset) {
                        insync_fout_t *o = owe(s);
                        o->gp = gp;
                        o->diverging = 1;
                        o->epoch = r->epoch;
                        o->epoch2 = ep;
                        o->end = end;
                        o->hw = r->hw;
                        return;
                }
        }
        /* Partition.updateFollowerFetchState */
        int64_t leo = r->log.len;
        if (e->offset >= leo)
                fs->caught_up = c->now;
        else if (e->offset >= fs->last_fetch_leo && fs->last_fetch_t > fs->caught_up)
                fs->caught_up = fs->last_fetch_t;
        fs->leo = e->offset;
        if (e->offset != leo)
                c->br[b].isr_dirty = 1;
        fs->last_fetch_leo = leo;
        fs->last_fetch_t = c->now;
        fs->seen = 1;
        if (full)
                fs->hw_sent = -1;
        insync_trace_add(c, INSYNC_T_FETCH, b, gp, f, e->offset);
        maybe_expand_isr(c, b, gp, r, f, fs);
        maybe_increment_hw(c, b, gp, r);
        if (e->offset < leo || fs->hw_sent != r->hw)
                insync_fetcher_mark(s, fs, gp);
}

/* The bytes of records the fetcher's owed partitions hold, counted up to
 * @p enough. */
static int64_t owed_bytes(insync_cluster_t *c, insync_fetcher_t *s,
                          int64_t enough) {
        int64_t bytes = 0;
        for (uint32_t i = 0; i < s->ndirty && bytes < enough; i++) {
                uint32_t gp = s->dirty[i];
                insync_replica_t *r = insync_broker_replica(c, s->leader, gp);
                int pos = insync_partition_pos(c, gp, s->follower);
                if (!r || pos < 0 || !r->f || !r->f[pos].dirty)
                        continue;
                int64_t from = r->f[pos].leo;
                if (r->role != INSYNC_ROLE_LEADER)
                        return enough; /* an error answers at once */
                for (int64_t o = from < 0 ? (int64_t)r->log.len : from;
                     o < (int64_t)r->log.len && bytes < enough; o++)
                        bytes += rec_bytes(c, r->log.ids[o]);
        }
        return bytes;
}

/* Records of @p r from @p offset, whole batches up to @p limit bytes (one
 * batch at least with @p min_one: LocalLog.read), appended to the
 * response's ids and batches. */
static int64_t read_records(insync_cluster_t *c, insync_msg_t *m,
                            const insync_replica_t *r, int64_t offset,
                            int64_t limit, int min_one, insync_fout_t *o) {
        const insync_log_t *l = &r->log;
        o->ids_at = m->nids;
        o->batches_at = m->nbatches;
        if (offset < 0 || offset >= (int64_t)l->len)
                return 0;
        uint32_t first = insync_log_batch_at(l, (uint32_t)offset);
        uint32_t last = first, n = 0;
        int64_t bytes = 0;
        while (last < l->nb) {
                const insync_lbatch_t *lb = &l->b[last];
                uint32_t from = lb->base < offset ? (uint32_t)offset : lb->base;
                int64_t bb = 0;
                for (uint32_t k = from; k < lb->base + lb->count; k++)
                        bb += rec_bytes(c, l->ids[k]);
                if (bytes + bb > limit && !(min_one && last == first))
                        break;
                bytes += bb;
                n += lb->base + lb->count - from;
                last++;
        }
        if (!n)
                return 0;
        insync_net_ids(m, m->nids + n);
        insync_net_batches(m, m->nbatches + (last - first));
        memcpy(m->ids + m->nids, l->ids + offset, (size_t)n * sizeof(*m->ids));
        for (uint32_t i = first; i < last; i++) {
                insync_lbatch_t lb = l->b[i];
                if (lb.base < offset) {
                        uint32_t skip = (uint32_t)offset - lb.base;
                        lb.count -= skip;
                        lb.base_seq += (int32_t)skip;
                        lb.base = (uint32_t)offset;
                }
                m->batches[m->nbatches++] = lb;
        }
        m->nids += n;
        o->nids = n;
        o->nbatches = last - first;
        return bytes;
}

static void r_dirty(insync_cluster_t *c, insync_fetcher_t *s, uint32_t gp) {
        insync_replica_t *r = insync_broker_replica(c, s->leader, gp);
        int pos = insync_partition_pos(c, gp, s->follower);
        if (r && r->f && pos >= 0)
                r->f[pos].dirty = 1;
}

/* The response to the fetcher's request (ReplicaManager.readFromLog): the
 * errors and diverging epochs owed, then each owed partition's records and
 * HW within replica.fetch.max.bytes each and
 * replica.fetch.response.max.bytes in all. */
static void respond(insync_cluster_t *c, insync_fetcher_t *s) {
        int b = s->leader;
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_FETCH_RESP, b, s->follower);
        m->key = s->key;
        m->req = s->srv_session;
        s->parked = 0;
        uint32_t cap = s->nout + s->ndirty, n = 0;
        insync_fout_t *v = cap ? insync_net_parts(m, cap * sizeof(*v)) : NULL;
        for (uint32_t i = 0; i < s->nout; i++)
                v[n++] = s->out[i];
        s->nout = 0;
        int64_t left = c->conf.fetch_response_max_bytes;
        int min_one = 1;
        uint32_t keep = 0;
        for (uint32_t i = 0; i < s->ndirty; i++) {
                uint32_t gp = s->dirty[i];
                insync_replica_t *r = insync_broker_replica(c, b, gp);
                int pos = insync_partition_pos(c, gp, s->follower);
                if (!r || pos < 0 || !r->f || !r->f[pos].dirty)
                        continue;
                insync_fstate_t *fs = &r->f[pos];
                fs->dirty = 0;
                insync_fout_t *o = &v[n];
                memset(o, 0, sizeof(*o));
                o->gp = gp;
                if (r->role != INSYNC_ROLE_LEADER) {
                        o->err = INSYNC_KERR_NOT_LEADER_OR_FOLLOWER;
                        n++;
                        continue;
                }
                if (fs->leo < 0)
                        continue; /* not fetched in this leadership yet */
                o->epoch = r->epoch;
                o->hw = r->hw;
                o->offset = fs->leo;
                int64_t lim = c->conf.fetch_max_bytes < left ? c->conf.fetch_max_bytes
                                                             : left;
                int64_t got = read_records(c, m, r, fs->leo, lim, min_one, o);
                if (o->nids) {
                        min_one = 0;
                        left = left > got ? left - got : 0;
                }
                if (o->nids || fs->hw_sent != r->hw) {
                        fs->hw_sent = r->hw;
                        n++;
                }
                if (fs->leo + o->nids < (int64_t)r->log.len)
                        s->dirty[keep++] = gp; /* more than the limits let through */
        }
        s->ndirty = keep;
        for (uint32_t i = 0; i < keep; i++) /* flagged once the list is done: a
                                               partition listed twice is read once */
                r_dirty(c, s, s->dirty[i]);
        m->parts = v;
        m->nparts = n;
        insync_net_send(c, m);
}

/* Forgets what the leader owed the fetcher: a new session, or the leader
 * stopped. */
static void forget(insync_cluster_t *c, insync_fetcher_t *s) {
        for (uint32_t i = 0; i < s->ndirty; i++) {
                insync_replica_t *r = insync_broker_replica(c, s->leader, s->dirty[i]);
                int pos = insync_partition_pos(c, s->dirty[i], s->follower);
                if (r && r->f && pos >= 0)
                        r->f[pos].dirty = 0;
        }
        s->ndirty = 0;
        s->nout = 0;
}

/* ReplicaManager.fetchMessages for a follower's request: every partition
 * it carries, then an answer at once (enough bytes, an error, a diverging
 * epoch) or one DelayedFetch for the whole request. */
void insync_partition_fetch(insync_cluster_t *c, int b, insync_msg_t *m) {
        if (m->key < 1 || m->key > c->nfl)
                return;
        insync_fetcher_t *s = c->fl[m->key - 1];
        if (s->leader != b || m->req != s->session)
                return; /* a request of a session the follower has left */
        if (m->full)
                forget(c, s);
        s->srv_session = m->req;
        s->parked = 0;
        const insync_freq_t *e = m->parts;
        for (uint32_t i = 0; i < m->nparts; i++)
                fetch_part(c, b, s, m->full, &e[i]);
        s->last_arrival = c->now; /* after: what it carries is not lazy */
        int64_t min = c->conf.fetch_min_bytes;
        if (s->nout || c->conf.fetch_wait_ms <= 0 || owed_bytes(c, s, min) >= min) {
                respond(c, s);
                return;
        }
        if (insync_fetcher_may_sleep(c, s)) {
                s->dormant = 1;
                s->a0 = c->now;
                return;
        }
        /* Not enough: the request waits (DelayedFetch) for records or
         * replica.fetch.wait.max.ms. */
        s->parked = 1;
        s->parked_gen++;
        insync_sim_at_key(c, insync_after(c->now, c->conf.fetch_wait_ms), s->key,
                          INSYNC_EV_FETCH_WAIT, (uint32_t)b,
                          ((uint64_t)s->key << 32) | s->parked_gen, NULL);
}

void insync_partition_fetch_wait(insync_cluster_t *c, int b, uint32_t key,
                                 uint32_t gen) {
        if (key < 1 || key > c->nfl)
                return;
        insync_fetcher_t *s = c->fl[key - 1];
        if (s->leader == b && s->parked && s->parked_gen == gen)
                respond(c, s);
}

void insync_partition_fetch_retry(insync_cluster_t *c, int b, uint32_t key,
                                  uint64_t session) {
        if (key < 1 || key > c->nfl)
                return;
        insync_fetcher_t *s = c->fl[key - 1];
        if (s->follower != b || s->session != session)
                return;
        s->retry_armed = 0;
        insync_fetcher_send(c, s);
}

/* A fetch with no answer for replica.socket.timeout.ms is abandoned: the
 * next request opens a new session.  Run when the broker's earliest
 * outstanding request may have timed out (NetworkClient's request
 * timeouts), then armed for the next one. */
void insync_partition_fetch_check(insync_cluster_t *c, int b) {
        int nf = c->conf.num_fetchers;
        if (!c->fetchers)
                return;
        insync_fetcher_t *first = NULL;
        for (int l = 1; l <= c->nbrokers; l++)
                for (int id = 0; id < nf; id++) {
                        insync_fetcher_t *s =
                                c->fetchers[((size_t)b * (INSYNC_MAX_BROKERS + 1) +
                                             (size_t)l) * (size_t)nf + (size_t)id];
                        if (!s || s->dormant || !s->fetching)
                                continue;
                        if (c->now - s->fetch_sent >= c->conf.socket_timeout_ms) {
                                s->session++;
                                s->fetching = 0;
                                s->full = 1;
                                insync_fetcher_send(c, s);
                                if (!s->fetching)
                                        continue;
                        }
                        if (!first || s->fetch_sent < first->fetch_sent)
                                first = s;
                }
        if (first)
                insync_fetcher_arm_check(c, first);
}

static void delay(insync_cluster_t *c, insync_fetcher_t *s, insync_replica_t *r) {
        if (r->delayed)
                return;
        r->delayed = 1;
        r->delay_until = insync_after(c->now, c->conf.fetch_backoff_ms);
        s->ndelayed++;
}

/* AbstractFetcherThread.processFetchRequest: each partition's outcome on
 * its own, then the next request. */
void insync_partition_fetch_resp(insync_cluster_t *c, int b, insync_msg_t *m) {
        if (m->key < 1 || m->key > c->nfl)
                return;
        insync_fetcher_t *s = c->fl[m->key - 1];
        if (s->follower != b || m->from != s->leader || m->req != s->session ||
            !s->fetching)
                return;
        s->fetching = 0;
        if (m->err || m->rst) {
                /* the request failed as a whole: every partition backs off,
                 * the session is gone (FetchSessionHandler.handleError) */
                s->full = 1;
                s->retry_armed = 1;
                insync_sim_at_key(c, insync_after(c->now, c->conf.fetch_backoff_ms),
                                  s->key, INSYNC_EV_FETCH_RETRY, (uint32_t)b,
                                  ((uint64_t)s->key << 32) | s->session, NULL);
                return;
        }
        const insync_fout_t *v = m->parts;
        for (uint32_t i = 0; i < m->nparts; i++) {
                const insync_fout_t *o = &v[i];
                uint32_t gp = o->gp;
                insync_replica_t *r = insync_broker_replica(c, b, gp);
                if (!r || r->fetcher != s || r->role != INSYNC_ROLE_FOLLOWER ||
                    r->leader != m->from || r->delayed)
                        continue;
                insync_log_t *l = &r->log;
                if (o->err) {
                        delay(c, s, r);
                        continue;
                }
                if (o->diverging) {
                        int64_t to;
                        if (o->epoch2 < 0) {
                                to = r->hw;
                        } else {
                                int32_t e;
                                int64_t end;
                                insync_log_end_for_epoch(l, o->epoch2, &e, &end);
                                to = e < 0 ? r->hw : (end < o->end ? end : o->end);
                        }
                        int32_t before = insync_log_latest_epoch(l);
                        uint32_t old = l->len;
                        if (to < (int64_t)l->len) {
                                insync_trace_add(c, INSYNC_T_TRUNCATE, b, gp, l->len, to);
                                if (r->hw > to)
                                        r->hw = to;
                        }
                        insync_log_truncate(l, to < (int64_t)l->len ? (uint32_t)to : l->len);
                        if (l->len == old && insync_log_latest_epoch(l) == before)
                                delay(c, s, r); /* nothing changed: not in a loop */
                        else
                                insync_fetcher_change(s, r, gp);
                        continue;
                }
                if (o->offset != (int64_t)l->len)
                        continue; /* not what this partition asked for */
                uint32_t k = 0;
                const uint32_t *ids = m->ids + o->ids_at;
                for (uint32_t j = 0; j < o->nbatches; j++) {
                        const insync_lbatch_t *lb = &m->batches[o->batches_at + j];
                        if (lb->base != l->len)
                                break;
                        if (insync_log_append(l, ids + k, lb->count, lb->epoch,
                                              lb->pid, lb->pepoch, lb->base_seq,
                                              c->now))
                                abort();
                        k += lb->count;
                }
                if (o->nbatches) {
                        insync_trace_add(c, INSYNC_T_APPEND, b, gp, o->offset, k);
                        maybe_flush(c, gp, r);
                }
                /* UnifiedLog.maybeUpdateHighWatermark: the leader's HW,
                 * bounded by the log end, lower too (a new leader's HW may
                 * lag the old one's) */
                int64_t hw = o->hw < (int64_t)l->len ? o->hw : (int64_t)l->len;
                if (hw != r->hw) {
                        r->hw = hw;
                        insync_trace_add(c, INSYNC_T_HW, b, gp, hw, l->len);
                }
                insync_fetcher_change(s, r, gp);
        }
        insync_fetcher_send(c, s);
}

/* Partition.maybeShrinkIsr over the broker's partitions, run every
 * replica.lag.time.max.ms / 2 by one scheduled task per broker
 * (ReplicaManager.startup: "isr-expiration"). */
void insync_partition_isr_check(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        if (!br->isr_dirty)
                return; /* every ISR follower was at the log end, none moved */
        int dirty = 0;
        for (uint32_t i = 0; i < br->ngps; i++) {
                uint32_t gp = br->gps[i];
                insync_replica_t *r = br->rep[gp];
                if (!r || r->role != INSYNC_ROLE_LEADER)
                        continue;
                if (r->pending) {
                        /* AlterPartitionManager keeps asking until answered. */
                        send_alter(c, b, gp, r);
                        dirty = 1;
                        continue;
                }
                uint64_t out = 0;
                const insync_cpart_t *cp = &c->cp[gp];
                for (int k = 0; k < cp->rf; k++) {
                        int f = cp->replicas[k];
                        /* a follower at the log end is caught up, whatever
                         * its lazy times say: read them only otherwise */
                        if (f == b || !insync_bit(r->isr, f) ||
                            r->f[k].leo == (int64_t)r->log.len)
                                continue;
                        dirty = 1;
                        if (!is_caught_up(c, insync_fetcher_fstate(c, b, gp, r, k),
                                          r->log.len))
                                out |= (uint64_t)1 << f;
                }
                if (out) {
                        r->pending = 1;
                        r->pending_isr = r->isr & ~out;
                        send_alter(c, b, gp, r);
                }
        }
        br->isr_dirty = dirty;
}

void insync_partition_alter_resp(insync_cluster_t *c, int b, insync_msg_t *m) {
        insync_replica_t *r = insync_broker_replica(c, b, m->gp);
        if (!r)
                return;
        if (m->err) {
                /* Refused (a fenced or shutting-down follower, no quorum):
                 * Kafka's leader evaluates every partition of a fetch
                 * session at each fetch (IncrementalFetchContext.
                 * foreachPartition -> updateFollowerFetchState ->
                 * maybeExpandIsr), so the expansion is tried again at the
                 * follower's next fetch: that fetch carries the partition. */
                uint64_t added = r->pending_isr & ~r->isr;
                r->pending = 0;
                for (int f = 1; f <= c->nbrokers && added; f++) {
                        insync_replica_t *fr = c->br[f].rep[m->gp];
                        if (!insync_bit(added, f) || !fr || !fr->fetcher ||
                            fr->fetcher->leader != b)
                                continue;
                        insync_fetcher_change(fr->fetcher, fr, m->gp);
                        insync_fetcher_wake(c, fr->fetcher);
                }
                return;
        }
        insync_partition_apply_state(c, b, m->gp, m->leader, m->epoch,
                                     m->pepoch, m->isr);
}

/* Leaves the leader role: waiting produce requests are answered (mode 0:
 * NOT_LEADER_OR_FOLLOWER), reset (1: the process died) or dropped (2: the
 * machine lost power).  In mode 0 a parked fetch that carries the partition
 * completes, with NOT_LEADER_OR_FOLLOWER for it (DelayedFetch, case B);
 * the broker's stop handles the fetches in modes 1 and 2. */
void insync_partition_resign(insync_cluster_t *c, int b, uint32_t gp,
                             int mode) {
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        if (!r || r->role != INSYNC_ROLE_LEADER)
                return;
        for (uint32_t i = 0; i < r->ndp && mode != 2; i++) {
                insync_msg_t *m = insync_net_msg(c, INSYNC_M_PRODUCE_RESP, b,
                                                 r->dp[i].node);
                m->req = r->dp[i].req;
                m->gp = gp;
                m->err = mode == 0 ? INSYNC_KERR_NOT_LEADER_OR_FOLLOWER
                                   : INSYNC_KERR__TRANSPORT;
                m->rst = mode == 1;
                m->offset = -1;
                insync_net_send(c, m);
        }
        r->ndp = 0;
        r->pending = 0;
        if (mode != 0)
                return;
        r->role = INSYNC_ROLE_NONE; /* what the answers below read */
        notify(c, b, gp, r, NOTIFY_RESIGN);
        r->role = INSYNC_ROLE_LEADER;
}

/* A partition state from the controller (KRaft metadata): become leader or
 * follower for a new leader epoch, or take a new ISR. */
void insync_partition_apply_state(insync_cluster_t *c, int b, uint32_t gp,
                                  int leader, int32_t epoch, int32_t pepoch,
                                  uint64_t isr) {
        insync_meta_t *mc = &c->br[b].meta[gp];
        if (epoch > mc->epoch || (epoch == mc->epoch && pepoch >= mc->pepoch)) {
                mc->leader = leader;
                mc->epoch = epoch;
                mc->pepoch = pepoch;
        }
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        if (!r || epoch < r->epoch ||
            (epoch == r->epoch && pepoch < r->pepoch && r->role != INSYNC_ROLE_NONE))
                return;
        if (leader == b) {
                c->br[b].isr_dirty = 1;
                if (r->role == INSYNC_ROLE_LEADER && r->epoch == epoch) {
                        r->isr = isr;
                        r->pepoch = pepoch;
                        r->pending = 0;
                        maybe_increment_hw(c, b, gp, r);
                        complete_delayed(c, b, gp, r);
                        return;
                }
                /* Partition.makeLeader; ReplicaFetcherManager stops fetching it */
                insync_fetcher_remove(c, r, gp);
                r->role = INSYNC_ROLE_LEADER;
                r->leader = b;
                r->epoch = epoch;
                r->pepoch = pepoch;
                r->isr = isr;
                r->pending = 0;
                insync_log_assign_epoch(&r->log, epoch, r->log.len);
                r->epoch_start = r->log.len;
                const insync_cpart_t *cp = &c->cp[gp];
                for (int i = 0; i < cp->rf; i++) {
                        insync_fstate_t *fs = &r->f[i];
                        memset(fs, 0, sizeof(*fs));
                        fs->leo = -1;
                        fs->last_fetch_leo = -1;
                        fs->hw_sent = -1;
                        fs->caught_up = insync_bit(isr, cp->replicas[i])
                                                ? c->now
                                                : -c->conf.lag_ms - 1;
                }
                if (r->hw > (int64_t)r->log.len)
                        r->hw = r->log.len;
                insync_trace_add(c, INSYNC_T_LEADER, b, gp, epoch, r->log.len);
                maybe_increment_hw(c, b, gp, r);
                return;
        }
        if (r->role == INSYNC_ROLE_LEADER)
                insync_partition_resign(c, b, gp, 0);
        /* applyLocalFollowersDelta: in controlled shutdown, a replica out
         * of the ISR stops fetching. */
        int fetch = leader >= 1 && !(c->br[b].shutting && !insync_bit(isr, b));
        if (r->role != INSYNC_ROLE_FOLLOWER || r->epoch != epoch ||
            r->leader != leader) {
                /* Partition.makeFollower, then the fetcher of the new
                 * leader (AbstractFetcherManager.addFetcherForPartitions) */
                insync_fetcher_remove(c, r, gp);
                r->role = INSYNC_ROLE_FOLLOWER;
                r->leader = leader;
                r->epoch = epoch;
                r->pepoch = pepoch;
                r->isr = isr;
                insync_trace_add(c, INSYNC_T_FOLLOWER, b, gp, leader, epoch);
                if (fetch)
                        insync_fetcher_add(c, b, r, gp);
                return;
        }
        r->isr = isr;
        r->pepoch = pepoch;
        if (!fetch)
                insync_fetcher_remove(c, r, gp);
}
