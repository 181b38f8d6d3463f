/**
 * @file controller.c
 * @brief The KRaft controller (ReplicationControlManager,
 * ClusterControlManager, PartitionChangeBuilder): broker registration and
 * heartbeats, fencing after broker.session.timeout.ms without a heartbeat,
 * AlterPartition, and leader elections.
 *
 * - Fencing a broker removes it from every ISR, except that an ISR never
 *   becomes empty: its last member stays (so a clean election can wait for
 *   it).  A partition it led gets a new leader.
 * - Clean election: the first replica in assignment order that is in the
 *   ISR and not fenced.  Unclean (unclean.leader.election.enable): failing
 *   that, the first unfenced replica, which becomes the whole ISR.
 *   Otherwise the partition is offline (leader -1).
 * - Every leader change bumps the leader epoch; every change bumps the
 *   partition epoch.  Changes go to every broker; a broker whose
 *   heartbeat shows it behind gets the whole state again (catching up the
 *   metadata log).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

static void send_state(insync_cluster_t *c, int b, uint32_t gp, int type) {
        const insync_cpart_t *cp = &c->cp[gp];
        insync_msg_t *m = insync_net_msg(c, type, 0, b);
        m->gp = gp;
        m->leader = cp->leader;
        m->epoch = cp->epoch;
        m->pepoch = cp->pepoch;
        m->isr = cp->isr;
        m->version = c->meta_version;
        insync_net_send(c, m);
}

void insync_controller_broadcast(insync_cluster_t *c, uint32_t gp) {
        c->meta_version++;
        for (int b = 1; b <= c->nbrokers; b++)
                send_state(c, b, gp, INSYNC_M_PSTATE);
}

void insync_controller_snapshot(insync_cluster_t *c, int b) {
        for (uint32_t gp = 0; gp < c->ngp; gp++)
                send_state(c, b, gp, INSYNC_M_PSTATE);
}

static int topic_unclean(const insync_cluster_t *c, uint32_t gp) {
        int u = c->topics[c->cp[gp].topic].unclean;
        return u < 0 ? c->conf.unclean : u;
}

int insync_controller_elect(insync_cluster_t *c, uint32_t gp, uint64_t exclude) {
        insync_cpart_t *cp = &c->cp[gp];
        int old = cp->leader, leader = -1, unclean = 0;
        for (int i = 0; i < cp->rf && leader < 0; i++) {
                int r = cp->replicas[i];
                if (insync_bit(cp->isr, r) && !c->br[r].fenced &&
                    !insync_bit(exclude, r))
                        leader = r;
        }
        if (leader < 0 && topic_unclean(c, gp)) {
                for (int i = 0; i < cp->rf && leader < 0; i++) {
                        int r = cp->replicas[i];
                        if (!c->br[r].fenced && !insync_bit(exclude, r))
                                leader = r;
                }
                if (leader >= 0) {
                        unclean = 1;
                        cp->isr = (uint64_t)1 << leader;
                }
        }
        if (leader != old || insync_bit(exclude, old)) {
                cp->leader = leader;
                cp->epoch++;
                insync_trace_add(c, unclean ? INSYNC_T_UNCLEAN_ELECTION
                                            : INSYNC_T_ELECTION,
                                 0, gp, leader, cp->epoch);
        }
        return leader;
}

void insync_controller_fence(insync_cluster_t *c, int b, int controlled) {
        insync_broker_t *br = &c->br[b];
        if (br->fenced)
                return;
        br->fenced = 1;
        insync_trace_add(c, controlled ? INSYNC_T_SHUTDOWN : INSYNC_T_FENCE, 0,
                         -1, b, 0);
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                insync_cpart_t *cp = &c->cp[gp];
                int changed = 0;
                if (insync_bit(cp->isr, b) && insync_popcount(cp->isr) > 1) {
                        cp->isr &= ~((uint64_t)1 << b);
                        insync_trace_add(c, INSYNC_T_ISR_SHRINK, 0, gp,
                                         (int64_t)1 << b, (int64_t)cp->isr);
                        changed = 1;
                }
                if (cp->leader == b) {
                        insync_controller_elect(c, gp, (uint64_t)1 << b);
                        changed = 1;
                }
                if (changed) {
                        cp->pepoch++;
                        insync_controller_broadcast(c, gp);
                }
        }
}

static void unfence(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        if (!br->fenced)
                return;
        br->fenced = 0;
        insync_trace_add(c, INSYNC_T_UNFENCE, 0, -1, b, 0);
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                insync_cpart_t *cp = &c->cp[gp];
                if (cp->leader >= 0)
                        continue;
                int replica = 0;
                for (int i = 0; i < cp->rf; i++)
                        replica |= cp->replicas[i] == b;
                if (!replica)
                        continue;
                if (insync_controller_elect(c, gp, 0) >= 0) {
                        cp->pepoch++;
                        insync_controller_broadcast(c, gp);
                }
        }
}

void insync_controller_session(insync_cluster_t *c, int b, uint64_t count) {
        insync_broker_t *br = &c->br[b];
        if (br->hb_count == count && !br->fenced)
                insync_controller_fence(c, b, 0);
}

static void heard_from(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        br->hb_count++;
        insync_sim_at(c, c->now + c->conf.session_ms, INSYNC_EV_SESSION,
                      (uint32_t)b, br->hb_count, NULL);
}

static void alter_partition(insync_cluster_t *c, insync_msg_t *m) {
        insync_cpart_t *cp = &c->cp[m->gp];
        int err = 0;
        if (m->from != cp->leader || m->epoch != cp->epoch)
                err = INSYNC_KERR_FENCED_LEADER_EPOCH;
        else if (m->pepoch != cp->pepoch)
                err = INSYNC_KERR_INVALID_UPDATE_VERSION;
        else
                for (int f = 1; f <= c->nbrokers; f++)
                        if (insync_bit(m->isr, f) && !insync_bit(cp->isr, f) &&
                            c->br[f].fenced)
                                err = INSYNC_KERR_INELIGIBLE_REPLICA;
        if (!err && m->isr != cp->isr && m->isr) {
                uint64_t old = cp->isr;
                cp->isr = m->isr;
                cp->pepoch++;
                if (old & ~m->isr)
                        insync_trace_add(c, INSYNC_T_ISR_SHRINK, 0, m->gp,
                                         (int64_t)(old & ~m->isr), (int64_t)m->isr);
                if (m->isr & ~old)
                        insync_trace_add(c, INSYNC_T_ISR_EXPAND, 0, m->gp,
                                         (int64_t)(m->isr & ~old), (int64_t)m->isr);
                insync_controller_broadcast(c, m->gp);
        }
        insync_msg_t *r = insync_net_msg(c, INSYNC_M_ALTER_ISR_RESP, 0, m->from);
        r->gp = m->gp;
        r->err = err;
        r->leader = cp->leader;
        r->epoch = cp->epoch;
        r->pepoch = cp->pepoch;
        r->isr = cp->isr;
        insync_net_send(c, r);
}

void insync_controller_recv(insync_cluster_t *c, insync_msg_t *m) {
        int b = m->from;
        if (b < 1 || b > c->nbrokers)
                return;
        insync_broker_t *br = &c->br[b];
        switch (m->type) {
        case INSYNC_M_REGISTER:
                if (m->req != br->inc || !br->alive)
                        return;
                /* A new incarnation: the old one is fenced first. */
                insync_controller_fence(c, b, 0);
                br->registered = 1;
                heard_from(c, b);
                unfence(c, b);
                insync_controller_snapshot(c, b);
                break;
        case INSYNC_M_HEARTBEAT: {
                if (m->req != br->inc || !br->registered)
                        return;
                heard_from(c, b);
                if (br->fenced)
                        unfence(c, b);
                insync_msg_t *r = insync_net_msg(c, INSYNC_M_HEARTBEAT_RESP, 0, b);
                r->version = c->meta_version;
                insync_net_send(c, r);
                if (m->version < c->meta_version)
                        insync_controller_snapshot(c, b);
                break;
        }
        case INSYNC_M_ALTER_ISR:
                alter_partition(c, m);
                break;
        default:
                break;
        }
}
