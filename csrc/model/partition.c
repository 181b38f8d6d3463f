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
 * Follower side (AbstractFetcherThread): one fetch outstanding, carrying the
 * last fetched epoch; a diverging-epoch reply truncates the log to where
 * the leader's history parts from it (KIP-101, KIP-279, KIP-320, fetch v12+).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

insync_replica_t *insync_broker_replica(insync_cluster_t *c, int b,
                                        uint32_t gp) {
        if (b < 1 || b > c->nbrokers || gp >= c->ngp)
                return NULL;
        return c->br[b].rep[gp];
}

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
void insync_partition_maybe_flush(insync_cluster_t *c, uint32_t gp,
                                  insync_replica_t *r) {
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
                const insync_fstate_t *fs = &r->f[f];
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
        complete_delayed(c, b, gp, r);
        return 1;
}

static void send_alter(insync_cluster_t *c, int b, uint32_t gp,
                       insync_replica_t *r) {
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_ALTER_ISR, b, 0);
        m->gp = gp;
        m->epoch = r->epoch;
        m->pepoch = r->pepoch;
        m->isr = r->pending_isr;
        insync_net_send(c, m);
}

/* Fetch reply with records from @p offset, whole batches up to
 * replica.fetch.max.bytes (at least one batch). */
static void fetch_reply(insync_cluster_t *c, int b, int to, uint32_t gp,
                        insync_replica_t *r, uint64_t session, int64_t offset,
                        int err) {
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_FETCH_RESP, b, to);
        m->gp = gp;
        m->req = session;
        m->err = err;
        m->epoch = r->epoch;
        m->hw = r->hw;
        m->offset = offset;
        if (!err && offset >= 0 && offset < (int64_t)r->log.len) {
                const insync_log_t *l = &r->log;
                uint32_t first = insync_log_batch_at(l, (uint32_t)offset);
                uint32_t last = first;
                uint64_t bytes = 0;
                uint32_t n = 0;
                while (last < l->nb) {
                        const insync_lbatch_t *lb = &l->b[last];
                        uint32_t from = lb->base < offset ? (uint32_t)offset : lb->base;
                        for (uint32_t o = from; o < lb->base + lb->count; o++) {
                                const insync_rec_t *e = &c->recs.rec[l->ids[o]];
                                bytes += 16u + (e->klen == INSYNC_NOLEN ? 0 : e->klen) +
                                         (e->vlen == INSYNC_NOLEN ? 0 : e->vlen);
                        }
                        n += lb->base + lb->count - from;
                        last++;
                        if (bytes >= (uint64_t)c->conf.fetch_max_bytes)
                                break;
                }
                m->ids = malloc((size_t)n * sizeof(*m->ids));
                m->batches = malloc((size_t)(last - first) * sizeof(*m->batches));
                if (!m->ids || !m->batches)
                        abort();
                memcpy(m->ids, l->ids + offset, (size_t)n * sizeof(*m->ids));
                m->nids = n;
                m->nbatches = last - first;
                for (uint32_t i = first; i < last; i++) {
                        insync_lbatch_t lb = l->b[i];
                        if (lb.base < offset) {
                                uint32_t skip = (uint32_t)offset - lb.base;
                                lb.count -= skip;
                                lb.base_seq += (int32_t)skip;
                                lb.base = (uint32_t)offset;
                        }
                        m->batches[i - first] = lb;
                }
        }
        insync_net_send(c, m);
}

static void wake_parked(insync_cluster_t *c, int b, uint32_t gp,
                        insync_replica_t *r) {
        const insync_cpart_t *cp = &c->cp[gp];
        for (int i = 0; i < cp->rf; i++) {
                int f = cp->replicas[i];
                insync_fstate_t *fs = &r->f[f];
                if (f == b || !fs->parked || fs->leo >= (int64_t)r->log.len)
                        continue;
                fs->parked = 0;
                fetch_reply(c, b, f, gp, r, fs->parked_session, fs->leo, 0);
        }
}

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
                insync_partition_maybe_flush(c, gp, r);
                wake_parked(c, b, gp, r);
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
        insync_sim_at(c, insync_after(c->now, m->timeout), INSYNC_EV_DP_TIMEOUT, (uint32_t)b,
                      ((uint64_t)gp << 40) | d->id, NULL);
}

void insync_partition_dp_timeout(insync_cluster_t *c, int b, uint64_t key) {
        uint32_t gp = (uint32_t)(key >> 40);
        uint64_t id = key & (((uint64_t)1 << 40) - 1);
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        if (!r)
                return;
        for (uint32_t i = 0; i < r->ndp; i++) {
                if ((r->dp[i].id & (((uint64_t)1 << 40) - 1)) != id)
                        continue;
                produce_resp(c, b, r->dp[i].node, r->dp[i].req, gp,
                             INSYNC_KERR_REQUEST_TIMED_OUT, -1);
                memmove(r->dp + i, r->dp + i + 1,
                        (r->ndp - i - 1) * sizeof(*r->dp));
                r->ndp--;
                return;
        }
}

/* Partition.maybeExpandIsr / isFollowerInSync */
static void maybe_expand_isr(insync_cluster_t *c, int b, uint32_t gp,
                             insync_replica_t *r, int f) {
        const insync_fstate_t *fs = &r->f[f];
        if (r->pending || insync_bit(r->isr, f))
                return;
        if (fs->leo >= r->hw && fs->leo >= (int64_t)r->epoch_start) {
                r->pending = 1;
                r->pending_isr = r->isr | ((uint64_t)1 << f);
                send_alter(c, b, gp, r);
        }
}

void insync_partition_fetch(insync_cluster_t *c, int b, insync_msg_t *m) {
        uint32_t gp = m->gp;
        int f = m->from;
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        if (!r || r->role != INSYNC_ROLE_LEADER || m->epoch != r->epoch) {
                int err = !r || r->role != INSYNC_ROLE_LEADER
                                  ? INSYNC_KERR_NOT_LEADER_OR_FOLLOWER
                          : m->epoch < r->epoch ? INSYNC_KERR_FENCED_LEADER_EPOCH
                                                : INSYNC_KERR_UNKNOWN_LEADER_EPOCH;
                insync_msg_t *e = insync_net_msg(c, INSYNC_M_FETCH_RESP, b, f);
                e->gp = gp;
                e->req = m->req;
                e->err = err;
                insync_net_send(c, e);
                return;
        }
        insync_fstate_t *fs = &r->f[f];
        if (m->epoch2 >= 0) {
                int32_t e;
                int64_t end;
                insync_log_end_for_epoch(&r->log, m->epoch2, &e, &end);
                if (e != m->epoch2 || end < m->offset) {
                        insync_msg_t *d = insync_net_msg(c, INSYNC_M_FETCH_RESP, b, f);
                        d->gp = gp;
                        d->req = m->req;
                        d->diverging = 1;
                        d->epoch = r->epoch;
                        d->epoch2 = e;
                        d->end = end;
                        d->hw = r->hw;
                        insync_net_send(c, d);
                        return;
                }
        }
        /* Partition.updateFollowerFetchState */
        int64_t leo = r->log.len;
        if (m->offset >= leo)
                fs->caught_up = c->now;
        else if (m->offset >= fs->last_fetch_leo && fs->last_fetch_t > fs->caught_up)
                fs->caught_up = fs->last_fetch_t;
        fs->leo = m->offset;
        fs->last_fetch_leo = leo;
        fs->last_fetch_t = c->now;
        insync_trace_add(c, INSYNC_T_FETCH, b, gp, f, m->offset);
        maybe_expand_isr(c, b, gp, r, f);
        maybe_increment_hw(c, b, gp, r);
        if (m->offset < leo) {
                fs->parked = 0;
                fetch_reply(c, b, f, gp, r, m->req, m->offset, 0);
                return;
        }
        /* Nothing new: the fetch waits (DelayedFetch) for data or
         * replica.fetch.wait.max.ms. */
        fs->parked = 1;
        fs->parked_session = m->req;
        fs->parked_gen++;
        insync_sim_at(c, insync_after(c->now, c->conf.fetch_wait_ms), INSYNC_EV_FETCH_WAIT,
                      (uint32_t)b, ((uint64_t)gp << 32) | fs->parked_gen, NULL);
}

void insync_partition_fetch_wait(insync_cluster_t *c, int b, uint32_t gp,
                                 uint32_t gen) {
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        if (!r || r->role != INSYNC_ROLE_LEADER)
                return;
        const insync_cpart_t *cp = &c->cp[gp];
        for (int i = 0; i < cp->rf; i++) {
                insync_fstate_t *fs = &r->f[cp->replicas[i]];
                if (fs->parked && fs->parked_gen == gen) {
                        fs->parked = 0;
                        fetch_reply(c, b, cp->replicas[i], gp, r,
                                    fs->parked_session, fs->leo, 0);
                }
        }
}

void insync_partition_send_fetch(insync_cluster_t *c, int b, uint32_t gp) {
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        if (!r || r->role != INSYNC_ROLE_FOLLOWER || r->leader < 1 ||
            r->leader == b)
                return;
        /* applyLocalFollowersDelta: in controlled shutdown, a replica out
         * of the ISR stops fetching. */
        if (c->br[b].shutting && !insync_bit(r->isr, b))
                return;
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_FETCH, b, r->leader);
        m->gp = gp;
        m->req = r->session;
        m->offset = r->log.len;
        m->epoch = r->epoch;
        m->epoch2 = insync_log_latest_epoch(&r->log);
        r->fetching = 1;
        r->fetch_sent = c->now;
        insync_net_send(c, m);
}

void insync_partition_fetch_retry(insync_cluster_t *c, int b, uint32_t gp,
                                  uint64_t session) {
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        if (r && r->role == INSYNC_ROLE_FOLLOWER &&
            (r->session & 0xffffffffu) == session && !r->fetching)
                insync_partition_send_fetch(c, b, gp);
}

/* A fetch with no answer for replica.socket.timeout.ms is abandoned. */
void insync_partition_fetch_check(insync_cluster_t *c, int b) {
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                insync_replica_t *r = c->br[b].rep[gp];
                if (r && r->role == INSYNC_ROLE_FOLLOWER && r->fetching &&
                    c->now - r->fetch_sent >= c->conf.socket_timeout_ms) {
                        r->session++;
                        r->fetching = 0;
                        insync_partition_send_fetch(c, b, gp);
                }
        }
}

void insync_partition_fetch_resp(insync_cluster_t *c, int b, insync_msg_t *m) {
        uint32_t gp = m->gp;
        insync_replica_t *r = insync_broker_replica(c, b, gp);
        if (!r || r->role != INSYNC_ROLE_FOLLOWER || m->req != r->session ||
            m->from != r->leader)
                return;
        r->fetching = 0;
        if (m->err) {
                insync_sim_at(c, insync_after(c->now, c->conf.fetch_backoff_ms),
                              INSYNC_EV_FETCH_RETRY, (uint32_t)b,
                              ((uint64_t)gp << 32) | (r->session & 0xffffffffu),
                              NULL);
                return;
        }
        insync_log_t *l = &r->log;
        if (m->diverging) {
                int64_t to;
                if (m->epoch2 < 0) {
                        to = r->hw;
                } else {
                        int32_t e;
                        int64_t end;
                        insync_log_end_for_epoch(l, m->epoch2, &e, &end);
                        to = e < 0 ? r->hw : (end < m->end ? end : m->end);
                }
                int32_t before = insync_log_latest_epoch(l);
                uint32_t old = l->len;
                if (to < (int64_t)l->len) {
                        insync_trace_add(c, INSYNC_T_TRUNCATE, b, gp, l->len, to);
                        if (r->hw > to)
                                r->hw = to;
                }
                insync_log_truncate(l, to < (int64_t)l->len ? (uint32_t)to : l->len);
                if (l->len == old && insync_log_latest_epoch(l) == before) {
                        /* Nothing changed: ask again after the backoff
                         * rather than in a loop. */
                        insync_sim_at(c, insync_after(c->now, c->conf.fetch_backoff_ms),
                                      INSYNC_EV_FETCH_RETRY, (uint32_t)b,
                                      ((uint64_t)gp << 32) | (r->session & 0xffffffffu),
                                      NULL);
                        return;
                }
                insync_partition_send_fetch(c, b, gp);
                return;
        }
        uint32_t k = 0;
        for (uint32_t i = 0; i < m->nbatches; i++) {
                const insync_lbatch_t *lb = &m->batches[i];
                if (lb->base != l->len)
                        break;
                if (insync_log_append(l, m->ids + k, lb->count, lb->epoch,
                                      lb->pid, lb->pepoch, lb->base_seq, c->now))
                        abort();
                k += lb->count;
        }
        if (m->nbatches) {
                insync_trace_add(c, INSYNC_T_APPEND, b, gp, m->offset, k);
                insync_partition_maybe_flush(c, gp, r);
        }
        /* UnifiedLog.maybeUpdateHighWatermark: the leader's HW, bounded by
         * the log end, lower too (a new leader's HW may lag the old one's) */
        int64_t hw = m->hw < (int64_t)l->len ? m->hw : (int64_t)l->len;
        if (hw != r->hw) {
                r->hw = hw;
                insync_trace_add(c, INSYNC_T_HW, b, gp, hw, l->len);
        }
        insync_partition_send_fetch(c, b, gp);
}

/* Partition.maybeShrinkIsr, run every replica.lag.time.max.ms / 2. */
void insync_partition_isr_check(insync_cluster_t *c, int b) {
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                insync_replica_t *r = c->br[b].rep[gp];
                if (!r || r->role != INSYNC_ROLE_LEADER)
                        continue;
                if (r->pending) {
                        /* AlterPartitionManager keeps asking until answered. */
                        send_alter(c, b, gp, r);
                        continue;
                }
                uint64_t out = 0;
                for (int f = 1; f <= c->nbrokers; f++)
                        if (f != b && insync_bit(r->isr, f) &&
                            !is_caught_up(c, &r->f[f], r->log.len))
                                out |= (uint64_t)1 << f;
                if (out) {
                        r->pending = 1;
                        r->pending_isr = r->isr & ~out;
                        send_alter(c, b, gp, r);
                }
        }
}

void insync_partition_alter_resp(insync_cluster_t *c, int b, insync_msg_t *m) {
        insync_replica_t *r = insync_broker_replica(c, b, m->gp);
        if (!r)
                return;
        if (m->err) {
                r->pending = 0;
                return;
        }
        insync_partition_apply_state(c, b, m->gp, m->leader, m->epoch,
                                     m->pepoch, m->isr);
}

/* Leaves the leader role: waiting produce requests and parked fetches are
 * answered (mode 0: NOT_LEADER_OR_FOLLOWER), reset (1: the process died)
 * or dropped (2: the machine lost power). */
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
        for (int f = 1; f <= c->nbrokers; f++) {
                insync_fstate_t *fs = &r->f[f];
                if (!fs->parked)
                        continue;
                fs->parked = 0;
                if (mode != 2)
                        fetch_reply(c, b, f, gp, r, fs->parked_session, -1,
                                    mode == 0 ? INSYNC_KERR_NOT_LEADER_OR_FOLLOWER
                                              : INSYNC_KERR__TRANSPORT);
        }
        r->pending = 0;
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
                if (r->role == INSYNC_ROLE_LEADER && r->epoch == epoch) {
                        r->isr = isr;
                        r->pepoch = pepoch;
                        r->pending = 0;
                        maybe_increment_hw(c, b, gp, r);
                        complete_delayed(c, b, gp, r);
                        return;
                }
                /* Partition.makeLeader */
                r->session++;
                r->fetching = 0;
                r->role = INSYNC_ROLE_LEADER;
                r->leader = b;
                r->epoch = epoch;
                r->pepoch = pepoch;
                r->isr = isr;
                r->pending = 0;
                insync_log_assign_epoch(&r->log, epoch, r->log.len);
                r->epoch_start = r->log.len;
                for (int f = 0; f <= INSYNC_MAX_BROKERS; f++) {
                        insync_fstate_t *fs = &r->f[f];
                        memset(fs, 0, sizeof(*fs));
                        fs->leo = -1;
                        fs->last_fetch_leo = -1;
                        fs->caught_up = insync_bit(isr, f) ? c->now : -c->conf.lag_ms - 1;
                }
                if (r->hw > (int64_t)r->log.len)
                        r->hw = r->log.len;
                insync_trace_add(c, INSYNC_T_LEADER, b, gp, epoch, r->log.len);
                maybe_increment_hw(c, b, gp, r);
                return;
        }
        if (r->role == INSYNC_ROLE_LEADER)
                insync_partition_resign(c, b, gp, 0);
        if (r->role != INSYNC_ROLE_FOLLOWER || r->epoch != epoch ||
            r->leader != leader) {
                /* Partition.makeFollower */
                r->role = INSYNC_ROLE_FOLLOWER;
                r->leader = leader;
                r->epoch = epoch;
                r->pepoch = pepoch;
                r->isr = isr;
                r->session++;
                r->fetching = 0;
                insync_trace_add(c, INSYNC_T_FOLLOWER, b, gp, leader, epoch);
                insync_partition_send_fetch(c, b, gp);
                return;
        }
        r->isr = isr;
        r->pepoch = pepoch;
}
