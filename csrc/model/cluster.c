/**
 * @file cluster.c
 * @brief The cluster as a whole, the top of the model's calls: creation,
 * faults (brokers, links, latency, disks) and inspection.  Topics are
 * created in topic.c, producers in producer.c, the completion queue the
 * binding drains is completion.c's, and time runs in dispatch.c
 * (insync_cluster_step).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

insync_cluster_t *insync_cluster_new(const insync_cconf_t *conf) {
        insync_cluster_t *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->conf = *conf;
        insync_cconf_bound(&c->conf);
        conf = &c->conf;
        insync_latency_init(c);
        if (insync_latency_setup(c)) {
                free(c);
                return NULL;
        }
        c->nbrokers = conf->brokers;
        c->nnodes = 1 + conf->brokers;
        c->trace.on = conf->trace;
        insync_sim_seed(c, conf->seed);
        insync_controller_init(c);
        for (int b = 1; b <= c->nbrokers; b++)
                insync_broker_create(c, b);
        return c;
}

static void free_replica(insync_replica_t *r) {
        if (!r)
                return;
        insync_log_free(&r->log);
        free(r->f);
        free(r->dp);
        free(r);
}

void insync_cluster_free(insync_cluster_t *c) {
        if (!c)
                return;
        insync_dispatch_free(c);
        insync_net_free_all(c);
        insync_fetcher_free_all(c);
        for (int b = 1; b <= c->nbrokers; b++) {
                for (uint32_t gp = 0; gp < c->ngp; gp++)
                        free_replica(c->br[b].rep ? c->br[b].rep[gp] : NULL);
                free(c->br[b].rep);
                free(c->br[b].gps);
                free(c->br[b].meta);
        }
        for (int t = 0; t < c->ntopics; t++)
                free(c->topics[t].name);
        free(c->topics);
        for (int w = 0; w < c->nwanted; w++)
                free(c->wanted[w]);
        free(c->wanted);
        free(c->cp);
        for (int i = 0; i < c->nprod; i++)
                insync_producer_free(c->prod[i]);
        free(c->prod);
        insync_records_free(&c->recs);
        free(c->cq);
        insync_trace_free(&c->trace);
        free(c->cut);
        insync_latency_free(c);
        free(c);
}

int insync_cluster_producer_node(const insync_cluster_t *c, int p) {
        return p >= 0 && p < c->nprod ? c->prod[p]->node : -1;
}

int64_t insync_cluster_now(const insync_cluster_t *c) { return c->now; }

uint64_t insync_cluster_outstanding(const insync_cluster_t *c) {
        return c->outstanding;
}

int insync_cluster_brokers(const insync_cluster_t *c) { return c->nbrokers; }

const char *insync_cluster_key(const insync_cluster_t *c, uint32_t id,
                               size_t *len) {
        if (id < 1 || id > c->recs.n)
                return NULL;
        const insync_rec_t *e = &c->recs.rec[id - 1];
        *len = e->klen == INSYNC_NOLEN ? 0 : e->klen;
        return insync_records_key(&c->recs, id - 1);
}

const char *insync_cluster_value(const insync_cluster_t *c, uint32_t id,
                                 size_t *len) {
        if (id < 1 || id > c->recs.n)
                return NULL;
        const insync_rec_t *e = &c->recs.rec[id - 1];
        *len = e->vlen == INSYNC_NOLEN ? 0 : e->vlen;
        return insync_records_value(&c->recs, id - 1);
}

int insync_cluster_timestamp(const insync_cluster_t *c, uint32_t id,
                             int64_t *ts) {
        if (id < 1 || id > c->recs.n)
                return 0;
        return insync_records_timestamp(&c->recs, id - 1, ts);
}

void insync_cluster_send_info(const insync_cluster_t *c, uint32_t id,
                              int *topic, int *partition) {
        const insync_rec_t *e = &c->recs.rec[id - 1];
        *topic = e->topic == UINT8_MAX ? -1 : e->topic;
        *partition = e->part == INSYNC_PART_NONE ? -1 : e->part;
}

int insync_cluster_send_acks(const insync_cluster_t *c, uint32_t id) {
        return (c->recs.rec[id - 1].state >> 4) - 1;
}

/* ---------------------------------------------------------------- faults */

static int check_broker(const insync_cluster_t *c, int b, char *err,
                        size_t errlen) {
        if (b < 1 || b > c->nbrokers) {
                snprintf(err, errlen, "no broker %d (brokers are 1..%d)", b,
                         c->nbrokers);
                return -1;
        }
        return 0;
}

int insync_cluster_crash(insync_cluster_t *c, int b, int lose_unflushed,
                         char *err, size_t errlen) {
        if (check_broker(c, b, err, errlen))
                return -1;
        if (!c->br[b].alive) {
                snprintf(err, errlen, "broker %d is already down", b);
                return -1;
        }
        insync_fetcher_wake_all(c);
        insync_trace_add(c, INSYNC_T_CRASH, b, -1, lose_unflushed, 0);
        if (c->br[b].paused) {
                /* killed while hung: what waited for it meets a dead
                 * process, as anything sent to it from now on */
                c->br[b].paused = 0;
                insync_dispatch_release(c, b);
        }
        insync_broker_stop(c, b, lose_unflushed);
        if (c->br[b].powered)
                insync_net_broker_closed(c, b);
        return 0;
}

int insync_cluster_disk(insync_cluster_t *c, int b, int64_t bytes_per_ms,
                        char *err, size_t errlen) {
        if (check_broker(c, b, err, errlen))
                return -1;
        if (bytes_per_ms < 0) {
                snprintf(err, errlen, "expected at least 0 bytes/ms");
                return -1;
        }
        c->br[b].disk_bytes_per_ms = bytes_per_ms;
        return 0;
}

/* A hung process (SIGSTOP, a long GC pause): alive, connected, answering
 * nothing.  Messages to it and its own timers wait; on resume they run in
 * their order, at once.  The controller fences it when its heartbeats stop. */
int insync_cluster_pause(insync_cluster_t *c, int b, char *err, size_t errlen) {
        if (check_broker(c, b, err, errlen))
                return -1;
        if (!c->br[b].alive) {
                snprintf(err, errlen, "broker %d is down", b);
                return -1;
        }
        if (c->br[b].paused) {
                snprintf(err, errlen, "broker %d is already paused", b);
                return -1;
        }
        insync_fetcher_wake_all(c);
        insync_trace_add(c, INSYNC_T_PAUSE, b, -1, 0, 0);
        c->br[b].paused = 1;
        return 0;
}

int insync_cluster_resume(insync_cluster_t *c, int b, char *err,
                          size_t errlen) {
        if (check_broker(c, b, err, errlen))
                return -1;
        if (!c->br[b].paused) {
                snprintf(err, errlen, "broker %d is not paused", b);
                return -1;
        }
        insync_fetcher_wake_all(c);
        insync_trace_add(c, INSYNC_T_RESUME, b, -1, 0, 0);
        c->br[b].paused = 0;
        insync_dispatch_release(c, b);
        return 0;
}

int insync_cluster_restart(insync_cluster_t *c, int b, char *err,
                           size_t errlen) {
        if (check_broker(c, b, err, errlen))
                return -1;
        if (c->br[b].alive) {
                snprintf(err, errlen,
                         c->br[b].shutting
                                 ? "broker %d is still running (its controlled "
                                   "shutdown has not finished)"
                                 : "broker %d is running",
                         b);
                return -1;
        }
        insync_trace_add(c, INSYNC_T_RESTART, b, -1, 0, 0);
        insync_broker_start(c, b);
        return 0;
}

/* Controlled shutdown: only begins here (broker.c, controller.c).  The
 * broker stays up while the controller moves its leaderships away and
 * takes it out of the ISRs, then flushes its logs and stops. */
int insync_cluster_shutdown(insync_cluster_t *c, int b, char *err,
                            size_t errlen) {
        if (check_broker(c, b, err, errlen))
                return -1;
        if (!c->br[b].alive) {
                snprintf(err, errlen, "broker %d is already down", b);
                return -1;
        }
        if (c->br[b].shutting) {
                snprintf(err, errlen, "broker %d is already shutting down", b);
                return -1;
        }
        if (c->br[b].paused) {
                snprintf(err, errlen, "broker %d is paused (resume it first)", b);
                return -1;
        }
        insync_fetcher_wake_all(c);
        insync_broker_begin_shutdown(c, b);
        return 0;
}

/* The network's faults: a cut link carries nothing (net.c). */
void insync_cluster_cut(insync_cluster_t *c, int from, int to, int both) {
        insync_fetcher_wake_all(c);
        insync_net_link(c, from, to, INSYNC_LINK_CUT);
        if (both)
                insync_net_link(c, to, from, INSYNC_LINK_CUT);
}

void insync_cluster_lossy(insync_cluster_t *c, int from, int to) {
        insync_net_link(c, from, to, INSYNC_LINK_LOSSY);
}

void insync_cluster_isolate(insync_cluster_t *c, int node) {
        for (int i = 0; i < INSYNC_MAX_NODES; i++)
                if (i != node)
                        insync_cluster_cut(c, node, i, 1);
}

void insync_cluster_heal(insync_cluster_t *c) {
        insync_fetcher_wake_all(c);
        insync_net_heal(c);
}

int insync_cluster_link_latency(insync_cluster_t *c, int from, int to,
                                const insync_latency_t *l, char *err,
                                size_t errlen) {
        if (insync_latency_link_check(c, from, to, l, err, errlen))
                return -1;
        insync_fetcher_wake_all(c); /* their cycles were for the old latency */
        return insync_latency_link(c, from, to, l, err, errlen);
}

/* ------------------------------------------------------------ inspection */

void insync_cluster_gp(const insync_cluster_t *c, int32_t gp, int *topic,
                       int *part) {
        if (gp < 0 || (uint32_t)gp >= c->ngp) {
                *topic = -1;
                *part = -1;
                return;
        }
        *topic = c->cp[gp].topic;
        *part = c->cp[gp].part;
}

static int gp_of(const insync_cluster_t *c, int topic, int part, uint32_t *gp) {
        if (topic < 0 || topic >= c->ntopics || part < 0 ||
            part >= c->topics[topic].partitions)
                return 0;
        *gp = c->topics[topic].gp0 + (uint32_t)part;
        return 1;
}

int insync_cluster_partition_info(const insync_cluster_t *c, int topic,
                                  int part, insync_pinfo_t *out) {
        uint32_t gp;
        if (!gp_of(c, topic, part, &gp))
                return 0;
        const insync_cpart_t *cp = &c->cp[gp];
        out->leader = cp->leader;
        out->epoch = cp->epoch;
        out->pepoch = cp->pepoch;
        out->isr = cp->isr;
        out->elr = cp->elr;
        out->last_leader = cp->last_leader;
        out->rf = cp->rf;
        for (int i = 0; i < cp->rf; i++)
                out->replicas[i] = cp->replicas[i];
        out->hw = -1;
        if (cp->leader >= 1) {
                const insync_replica_t *r = c->br[cp->leader].rep[gp];
                out->hw = r->hw;
        }
        return 1;
}

int insync_cluster_replica_info(const insync_cluster_t *c, int topic, int part,
                                int b, insync_rinfo_t *out) {
        uint32_t gp;
        if (!gp_of(c, topic, part, &gp) || b < 1 || b > c->nbrokers ||
            !c->br[b].rep[gp])
                return 0;
        const insync_replica_t *r = c->br[b].rep[gp];
        out->online = c->br[b].alive;
        out->role = r->role;
        out->leo = r->log.len;
        out->hw = r->hw;
        out->flushed = r->log.flushed;
        out->durable = insync_broker_durable(c, b, r);
        out->hw_checkpoint = r->hw_ck < (int64_t)r->log.len ? r->hw_ck : r->log.len;
        out->epoch = r->epoch;
        return 1;
}

int insync_cluster_log_entry(const insync_cluster_t *c, int topic, int part,
                             int b, int64_t offset, uint32_t *id,
                             int32_t *epoch) {
        uint32_t gp;
        if (!gp_of(c, topic, part, &gp) || b < 1 || b > c->nbrokers ||
            !c->br[b].rep[gp])
                return 0;
        const insync_log_t *l = &c->br[b].rep[gp]->log;
        if (offset < 0 || offset >= (int64_t)l->len)
                return 0;
        *id = l->ids[offset] + 1;
        *epoch = l->b[insync_log_batch_at(l, (uint32_t)offset)].epoch;
        return 1;
}

int insync_cluster_broker_info(const insync_cluster_t *c, int b, int *alive,
                               int *fenced, int *powered, int *shutting,
                               int *paused) {
        if (b < 1 || b > c->nbrokers)
                return 0;
        *alive = c->br[b].alive;
        *paused = c->br[b].paused;
        *shutting = c->br[b].shutting;
        *fenced = c->br[b].fenced;
        *powered = c->br[b].powered;
        return 1;
}

uint64_t insync_cluster_memory(const insync_cluster_t *c) {
        uint64_t m = sizeof(*c) + (uint64_t)c->recs.cap * (sizeof(insync_rec_t) + 1) +
                     c->recs.arena_bytes + c->cq_cap * sizeof(insync_compl_t) +
                     insync_sim_memory(c) +
                     c->msgs_alive * sizeof(insync_msg_t) +
                     c->trace.cap * sizeof(insync_trace_entry_t);
        m += (uint64_t)c->ngp * sizeof(insync_cpart_t);
        for (uint32_t i = 0; i < c->nfl; i++) {
                const insync_fetcher_t *s = c->fl[i];
                m += sizeof(*s) + sizeof(void *) +
                     4u * ((uint64_t)s->pcap + s->ccap + s->dcap) +
                     (uint64_t)s->ocap * sizeof(insync_fout_t);
        }
        if (c->fetchers)
                m += (uint64_t)(INSYNC_MAX_BROKERS + 1) * (INSYNC_MAX_BROKERS + 1) *
                     (uint64_t)c->conf.num_fetchers * sizeof(void *);
        for (int b = 1; b <= c->nbrokers; b++) {
                /* each broker's replica table and metadata cache */
                m += (uint64_t)c->ngp * (sizeof(void *) + sizeof(insync_meta_t)) +
                     (uint64_t)c->br[b].gpscap * 4;
                for (uint32_t gp = 0; gp < c->ngp; gp++) {
                        const insync_replica_t *r = c->br[b].rep[gp];
                        if (!r)
                                continue;
                        m += sizeof(*r) + (uint64_t)c->cp[gp].rf * sizeof(insync_fstate_t) +
                             (uint64_t)r->log.cap * 4 +
                             (uint64_t)r->log.bcap * sizeof(insync_lbatch_t) +
                             (uint64_t)r->log.epcap * sizeof(insync_epoch_t) +
                             (uint64_t)r->log.pscap * sizeof(insync_pstate_t) +
                             (uint64_t)r->dpcap * sizeof(insync_dp_t);
                }
        }
        return m;
}
