/**
 * @file controller.c
 * @brief The KRaft controller (ReplicationControlManager,
 * ClusterControlManager, PartitionChangeBuilder): broker registration and
 * heartbeats, fencing after broker.session.timeout.ms without a heartbeat,
 * AlterPartition, and leader elections.
 *
 * - Every change of a partition (fencing, AlterPartition, an election)
 *   goes through change(), PartitionChangeBuilder's rules, with or without
 *   KIP-966 eligible leader replicas (conf.elr).
 * - Fencing a broker removes it from every ISR, except that without ELR
 *   an ISR never becomes empty: its last member stays (so a clean election
 *   can wait for it).  A partition it led gets a new leader.
 * - Clean election: the first replica in assignment order that is in the
 *   ISR and not fenced.  Unclean (unclean.leader.election.enable): failing
 *   that, the first unfenced replica, which becomes the whole ISR.
 *   Otherwise the partition is offline (leader -1).
 * - Auto leader rebalance (auto.leader.rebalance.enable,
 *   QuorumController.maybeScheduleNextBalancePartitionLeaders,
 *   ReplicationControlManager.maybeBalancePartitionLeaders): after every
 *   controller event, while some partition's leader is not its first
 *   replica (offline ones too) and no check is pending, a check is
 *   scheduled leader.imbalance.check.interval.seconds later; it runs a
 *   preferred election on up to 1000 such partitions (the rest 10 ms
 *   later).  leader.imbalance.per.broker.percentage plays no part in
 *   KRaft (only the ZooKeeper controller read it).
 * - Every leader change bumps the leader epoch; every change bumps the
 *   partition epoch.  Changes go to every broker; a broker whose
 *   heartbeat shows it behind gets the whole state again (catching up the
 *   metadata log).
 * - A registered broker stays fenced until a heartbeat reports that it has
 *   replayed the metadata up to its own registration record
 *   (ReplicationControlManager.processBrokerHeartbeat: isCaughtUp is
 *   currentMetadataOffset >= registerBrokerRecordOffset;
 *   BrokerHeartbeatManager.calculateNextBrokerState unfences a FENCED
 *   broker only then).  The registration's reply makes the broker
 *   heartbeat at once, and every 10 ms while fenced
 *   (BrokerLifecycleManager in STARTING and RECOVERY).
 * - The quorum (KafkaRaftClient, QuorumController): conf.controllers
 *   voters, one of them active.  Nothing is decided without a majority
 *   running: while the active controller is gone, or a majority is down,
 *   requests to the controller find nobody (heartbeats, registrations and
 *   AlterPartition go unanswered, the brokers retry), nobody is fenced,
 *   no ISR changes, no leader is elected, and each broker keeps the
 *   metadata it last had.  A leader that loses its majority commits
 *   nothing more (and resigns, KAFKA-15489): the model makes it inactive
 *   at once.  When the active controller dies, the others notice after
 *   controller.quorum.fetch.timeout.ms without a fetch response, and one
 *   wins a vote a round trip later; when a majority comes back, the vote
 *   takes controller.quorum.election.timeout.ms and a round trip (the
 *   candidates' randomized timeouts and split votes are left out).  A
 *   single voter elects itself as it starts.  The new active controller
 *   gives every registered broker a fresh session
 *   (ClusterControlManager.activate touches each registration), so a
 *   failover alone fences nobody.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static void heard_from(insync_cluster_t *c, int b);

static int quorum_majority(const insync_cluster_t *c) {
        return c->conf.controllers / 2 + 1;
}

void insync_controller_init(insync_cluster_t *c) {
        c->ctl_alive = (uint32_t)(((uint64_t)1 << (c->conf.controllers + 1)) - 2);
        c->ctl_active = 1;
        c->ctl_epoch = 1;
}

/* An election ends @p delay ms from now, if a majority still runs then. */
static void schedule_election(insync_cluster_t *c, int64_t delay) {
        c->ctl_gen++;
        if (insync_popcount(c->ctl_alive) >= quorum_majority(c))
                insync_sim_at(c, insync_after(c->now, delay), INSYNC_EV_QUORUM, 0,
                              c->ctl_gen, NULL);
}

void insync_controller_quorum_event(insync_cluster_t *c, uint64_t gen) {
        if (gen != c->ctl_gen || c->ctl_active ||
            insync_popcount(c->ctl_alive) < quorum_majority(c))
                return;
        int id = 1;
        while (!(c->ctl_alive & ((uint32_t)1 << id)))
                id++;
        c->ctl_active = id;
        c->ctl_epoch++;
        /* ClusterControlManager.activate: a new BrokerHeartbeatManager,
         * every registration touched now */
        for (int b = 1; b <= c->nbrokers; b++)
                if (c->br[b].reg_inc)
                        heard_from(c, b);
        insync_controller_maybe_schedule_balance(c);
}

static int check_controller(const insync_cluster_t *c, int id, char *err,
                            size_t errlen) {
        if (id < 1 || id > c->conf.controllers) {
                snprintf(err, errlen, "expected a controller id 1..%d, got %d",
                         c->conf.controllers, id);
                return -1;
        }
        return 0;
}

int insync_cluster_controller_crash(insync_cluster_t *c, int id, char *err,
                                    size_t errlen) {
        if (check_controller(c, id, err, errlen))
                return -1;
        uint32_t bit = (uint32_t)1 << id;
        if (!(c->ctl_alive & bit)) {
                snprintf(err, errlen, "controller %d is already down", id);
                return -1;
        }
        c->ctl_alive &= ~bit;
        int rtt = (int)(2 * c->conf.latency_ms);
        if (id == c->ctl_active) {
                c->ctl_active = 0;
                schedule_election(c, c->conf.quorum_fetch_timeout_ms + rtt);
        } else if (c->ctl_active &&
                   insync_popcount(c->ctl_alive) < quorum_majority(c)) {
                c->ctl_active = 0;
                c->ctl_gen++;
        }
        return 0;
}

int insync_cluster_controller_restart(insync_cluster_t *c, int id, char *err,
                                      size_t errlen) {
        if (check_controller(c, id, err, errlen))
                return -1;
        uint32_t bit = (uint32_t)1 << id;
        if (c->ctl_alive & bit) {
                snprintf(err, errlen, "controller %d is running", id);
                return -1;
        }
        int had_majority = insync_popcount(c->ctl_alive) >= quorum_majority(c);
        c->ctl_alive |= bit;
        /* an election already under way keeps its time */
        if (!c->ctl_active && !had_majority)
                schedule_election(c, c->conf.controllers == 1
                                             ? 0
                                             : c->conf.quorum_election_timeout_ms +
                                                       2 * c->conf.latency_ms);
        return 0;
}

void insync_cluster_quorum_info(const insync_cluster_t *c, int *voters,
                                int *active, int *epoch, uint32_t *alive) {
        *voters = c->conf.controllers;
        *active = c->ctl_active;
        *epoch = c->ctl_epoch;
        *alive = c->ctl_alive;
}

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

static void snapshot(insync_cluster_t *c, int b) {
        for (uint32_t gp = 0; gp < c->ngp; gp++)
                send_state(c, b, gp, INSYNC_M_PSTATE);
}

static int topic_unclean(const insync_cluster_t *c, uint32_t gp) {
        int u = c->topics[c->cp[gp].topic].unclean;
        return u < 0 ? c->conf.unclean : u;
}

/* effectiveMinIsr: min(min.insync.replicas, replication factor) */
static int eff_min_isr(const insync_cluster_t *c, uint32_t gp) {
        int m = c->topics[c->cp[gp].topic].min_isr;
        return m < c->cp[gp].rf ? m : c->cp[gp].rf;
}

/* isAcceptableLeader: unfenced and not in controlled shutdown */
static int acceptable(const insync_cluster_t *c, int r, uint64_t exclude) {
        return r >= 1 && !c->br[r].fenced && !c->br[r].in_cs &&
               !insync_bit(exclude, r);
}

static void trace_isr(insync_cluster_t *c, uint32_t gp, uint64_t old,
                      uint64_t isr) {
        if (old & ~isr)
                insync_trace_add(c, INSYNC_T_ISR_SHRINK, 0, gp,
                                 (int64_t)(old & ~isr), (int64_t)isr);
        if (isr & ~old)
                insync_trace_add(c, INSYNC_T_ISR_EXPAND, 0, gp,
                                 (int64_t)(isr & ~old), (int64_t)isr);
}

/*
 * One partition change, as PartitionChangeBuilder.build(): the ISR becomes
 * @p target, the leader is kept or chosen again, and with KIP-966 eligible
 * leader replicas (conf.elr; Kafka 4.1+ turns them on for new clusters)
 * the ELR and the last known leader follow.
 * - Without ELR an ISR never becomes empty: for an empty @p target it
 *   keeps its members, so that a clean election can wait for the last.
 *   With ELR it may become empty.
 * - ELR (maybePopulateTargetElr): while the target ISR is below the
 *   effective min ISR, the members that leave the ISR join the ELR: under
 *   strict min ISR the HW could not pass them, so they hold every
 *   committed record.  Members of @p unclean (re-registered after an
 *   unclean shutdown: their unflushed tail may be gone) are dropped from
 *   it; at min ISR or above the ELR is empty.
 * - Election (electAnyLeader): the current leader if still valid; else
 *   the first replica in assignment order that is in the ISR, or, when the
 *   ISR is empty, in the ELR; else, with ISR and ELR empty, the last known
 *   leader (lastKnownElr; KAFKA-19522: only if it is up); else, with
 *   unclean.leader.election.enable, any replica.  @p exclude may not lead
 *   (being fenced, or shut down uncleanly).  A leader from the ELR leaves
 *   it and becomes the whole ISR (a clean election: the rest of the ELR
 *   stays); the last known leader or an unclean choice becomes the whole
 *   ISR and empties the ELR (unclean elections).
 * - lastKnownElr (maybeUpdateLastKnownLeader): the leader at the moment
 *   the ISR became empty; cleared once the partition has a leader.
 * - @p preferred (Election.PREFERRED, electPreferredLeader): the first
 *   replica in assignment order leads if it is a valid leader (in the ISR,
 *   or in the ELR when the ISR is empty; acceptable); else as above,
 *   never unclean.
 * @returns 1 when anything changed (the caller bumps the partition epoch
 * and broadcasts).
 */
static int change(insync_cluster_t *c, uint32_t gp, uint64_t target,
                  uint64_t exclude, uint64_t unclean, int preferred) {
        insync_cpart_t *cp = &c->cp[gp];
        uint64_t old_isr = cp->isr, old_elr = cp->elr;
        int old = cp->leader, old_last = cp->last_leader;
        if (!target && !c->conf.elr)
                target = old_isr;
        uint64_t isr = target, elr = 0;
        if (c->conf.elr && insync_popcount(target) < eff_min_isr(c, gp))
                elr = (cp->elr | cp->isr) & ~target & ~unclean;
#define VALID(r) ((insync_bit(isr, r) || (!isr && insync_bit(elr, r))) && \
                  acceptable(c, r, exclude))
        int leader = -1, kind = INSYNC_T_ELECTION, pref = cp->replicas[0];
        if (preferred && VALID(pref)) {
                leader = pref;
                kind = INSYNC_T_PREFERRED_ELECTION;
        }
        if (leader < 0 && old >= 1 && VALID(old))
                leader = old;
        for (int i = 0; i < cp->rf && leader < 0; i++)
                if (VALID(cp->replicas[i]))
                        leader = cp->replicas[i];
#undef VALID
        if (leader < 0 && !isr && !elr && acceptable(c, cp->last_leader, exclude)) {
                leader = cp->last_leader;
                kind = INSYNC_T_UNCLEAN_ELECTION;
        }
        if (leader < 0 && !preferred && topic_unclean(c, gp)) {
                for (int i = 0; i < cp->rf && leader < 0; i++)
                        if (acceptable(c, cp->replicas[i], exclude))
                                leader = cp->replicas[i];
                if (leader >= 0)
                        kind = INSYNC_T_UNCLEAN_ELECTION;
        }
        if (leader != old && leader >= 1) {
                if (insync_bit(elr, leader)) {
                        isr = (uint64_t)1 << leader;
                        elr &= ~isr;
                        kind = INSYNC_T_ELR_ELECTION;
                } else if (kind == INSYNC_T_UNCLEAN_ELECTION) {
                        isr = (uint64_t)1 << leader;
                        elr = 0;
                }
        }
        if (isr != old_isr && !isr)
                cp->last_leader = old >= 1 ? old : 0;
        else if (leader >= 1)
                cp->last_leader = 0;
        cp->isr = isr;
        cp->elr = elr;
        trace_isr(c, gp, old_isr, isr);
        if (elr != old_elr)
                insync_trace_add(c, INSYNC_T_ELR, 0, gp, (int64_t)elr,
                                 (int64_t)isr);
        if (leader != old) {
                if (old == pref)
                        c->imbalanced++;
                else if (leader == pref)
                        c->imbalanced--;
                cp->leader = leader;
                cp->epoch++;
                insync_trace_add(c, kind, 0, gp, leader, cp->epoch);
        }
        return isr != old_isr || elr != old_elr || leader != old ||
               cp->last_leader != old_last;
}

/* handleBrokerUncleanShutdown: a broker that registers again without a
 * clean shutdown leaves every ISR and ELR, and may not lead meanwhile. */
static void unclean_shutdown(insync_cluster_t *c, int b) {
        uint64_t bit = (uint64_t)1 << b;
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                insync_cpart_t *cp = &c->cp[gp];
                if (!((cp->isr | cp->elr) & bit))
                        continue;
                if (change(c, gp, cp->isr & ~bit, bit, bit, 0)) {
                        cp->pepoch++;
                        insync_controller_broadcast(c, gp);
                }
        }
}

int insync_controller_elect(insync_cluster_t *c, uint32_t gp, uint64_t exclude) {
        change(c, gp, c->cp[gp].isr, exclude, 0, 0);
        return c->cp[gp].leader;
}

static void fence(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        if (br->fenced)
                return;
        br->fenced = 1;
        br->in_cs = 0; /* a fenced broker leaves controlled shutdown */
        insync_trace_add(c, INSYNC_T_FENCE, 0, -1, b, 0);
        uint64_t bit = (uint64_t)1 << b;
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                insync_cpart_t *cp = &c->cp[gp];
                if (!((cp->isr & bit) || cp->leader == b))
                        continue;
                if (change(c, gp, cp->isr & ~bit, bit, 0, 0)) {
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
        if (c->ctl_active && br->hb_count == count && !br->fenced) {
                fence(c, b);
                insync_controller_maybe_schedule_balance(c);
        }
}

#define MAX_ELECTIONS_PER_IMBALANCE 1000 /* ReplicationControlManager */

void insync_controller_maybe_schedule_balance(insync_cluster_t *c) {
        if (c->balance_scheduled || !c->conf.auto_rebalance || !c->imbalanced)
                return;
        int64_t s = c->conf.imbalance_check_s;
        int64_t delay = c->balance_soon ? 10
                        : s < INSYNC_NEVER / 2000 ? s * 1000 : INSYNC_NEVER / 2;
        c->balance_scheduled = 1;
        insync_sim_at(c, insync_after(c->now, delay), INSYNC_EV_BALANCE, 0, 0, NULL);
}

/* maybeBalancePartitionLeaders: a preferred election for each partition
 * whose leader is not its first replica, at most 1000 at a time. */
void insync_controller_balance(insync_cluster_t *c) {
        int changed = 0;
        c->balance_scheduled = 0;
        if (!c->ctl_active)
                return; /* the next active controller schedules its own */
        for (uint32_t gp = 0; gp < c->ngp && c->imbalanced &&
                              changed < MAX_ELECTIONS_PER_IMBALANCE; gp++) {
                insync_cpart_t *cp = &c->cp[gp];
                if (cp->leader == cp->replicas[0])
                        continue;
                if (change(c, gp, cp->isr, 0, 0, 1)) {
                        cp->pepoch++;
                        insync_controller_broadcast(c, gp);
                        changed++;
                }
        }
        c->balance_soon = changed >= MAX_ELECTIONS_PER_IMBALANCE;
        insync_controller_maybe_schedule_balance(c);
}

static int has_leaderships(const insync_cluster_t *c, int b) {
        for (uint32_t gp = 0; gp < c->ngp; gp++)
                if (c->cp[gp].leader == b)
                        return 1;
        return 0;
}

/* BrokerHeartbeatManager.lowestActiveOffset: the oldest metadata an active
 * broker (unfenced, not in controlled shutdown) reported. */
static uint64_t lowest_active(const insync_cluster_t *c) {
        uint64_t low = UINT64_MAX;
        for (int b = 1; b <= c->nbrokers; b++) {
                const insync_broker_t *br = &c->br[b];
                if (br->registered && !br->fenced && !br->in_cs &&
                    br->hb_version < low)
                        low = br->hb_version;
        }
        return low;
}

/* A heartbeat with wantShutDown (calculateNextBrokerState, then
 * handleBrokerInControlledShutdown or handleBrokerFenced).
 * @returns shouldShutDown. */
static int controlled_shutdown(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        if (br->fenced)
                return 1;
        if (!br->in_cs) {
                if (!has_leaderships(c, b)) {
                        fence(c, b);
                        return 1;
                }
                br->in_cs = 1;
                uint64_t bit = (uint64_t)1 << b;
                for (uint32_t gp = 0; gp < c->ngp; gp++) {
                        insync_cpart_t *cp = &c->cp[gp];
                        if (!((cp->isr & bit) || cp->leader == b))
                                continue;
                        if (change(c, gp, cp->isr & ~bit, 0, 0, 0)) {
                                cp->pepoch++;
                                insync_controller_broadcast(c, gp);
                        }
                }
                br->cs_offset = c->meta_version;
                return 0;
        }
        if (has_leaderships(c, b) || lowest_active(c) < br->cs_offset)
                return 0;
        fence(c, b);
        return 1;
}

static void heard_from(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        br->last_contact = c->now;
        br->hb_count++;
        insync_sim_at(c, insync_after(c->now, c->conf.session_ms), INSYNC_EV_SESSION,
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
                            (c->br[f].fenced || c->br[f].in_cs))
                                err = INSYNC_KERR_INELIGIBLE_REPLICA;
        if (!err && m->isr != cp->isr && m->isr && change(c, m->gp, m->isr, 0, 0, 0)) {
                cp->pepoch++;
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
        if (b < 1 || b > c->nbrokers || !c->ctl_active)
                return;
        insync_broker_t *br = &c->br[b];
        switch (m->type) {
        case INSYNC_M_REGISTER:
                if (m->req != br->inc || !br->alive || br->registered)
                        return;
                /* ClusterControlManager.registerBroker refuses a new
                 * incarnation (DuplicateBrokerRegistrationException) while
                 * the last one's session is valid (hasValidSession): a
                 * broker restarted within broker.session.timeout.ms waits,
                 * its partitions led by the dead incarnation meanwhile */
                if (br->reg_inc && !br->fenced &&
                    c->now - br->last_contact <= c->conf.session_ms)
                        return;
                /* A new incarnation: the old one is fenced first. */
                fence(c, b);
                /* ClusterControlManager.registerBroker: the previous broker
                 * epoch (m->offset) is the last one registered only after a
                 * clean shutdown; else it lost whatever was unflushed. */
                if (c->conf.elr && br->reg_inc && m->offset != (int64_t)br->reg_inc)
                        unclean_shutdown(c, b);
                br->reg_inc = (uint32_t)m->req;
                br->registered = 1;
                br->hb_version = m->version;
                heard_from(c, b);
                /* fenced until it has replayed the metadata up to its
                 * registration record (processBrokerHeartbeat) */
                br->reg_version = c->meta_version;
                snapshot(c, b);
                {
                        insync_msg_t *r = insync_net_msg(c, INSYNC_M_HEARTBEAT_RESP, 0, b);
                        r->version = c->meta_version;
                        r->fenced = 1;
                        insync_net_send(c, r);
                }
                break;
        case INSYNC_M_HEARTBEAT: {
                if (m->req != br->inc || !br->registered)
                        return;
                heard_from(c, b);
                br->hb_version = m->version;
                int shut = 0;
                if (m->shut)
                        shut = controlled_shutdown(c, b);
                else if (br->fenced && m->version >= br->reg_version)
                        unfence(c, b);
                insync_msg_t *r = insync_net_msg(c, INSYNC_M_HEARTBEAT_RESP, 0, b);
                r->version = c->meta_version;
                r->shut = shut;
                r->fenced = br->fenced;
                insync_net_send(c, r);
                if (m->version < c->meta_version)
                        snapshot(c, b);
                break;
        }
        case INSYNC_M_ALTER_ISR:
                alter_partition(c, m);
                break;
        default:
                break;
        }
        /* after every controller write event */
        insync_controller_maybe_schedule_balance(c);
}
