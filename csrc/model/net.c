/**
 * @file net.c
 * @brief The network: every message takes its link's latency one way
 * (latency.c: latency_ms unless told otherwise); a cut link
 * (a one-way flag per ordered pair of nodes) drops what it carries, both at
 * sending and at arrival, so a cut also catches messages in flight.  A
 * request reaching a broker whose process is dead but whose machine is up
 * is answered by the OS with a connection reset; a machine without power
 * answers nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

int insync_net_passes(const insync_cluster_t *c, int from, int to) {
        return !c->cut[from * INSYNC_MAX_NODES + to];
}

/* Messages are reused through a short free list: a cluster sends and frees
 * one per hop, and malloc/free were a quarter of a small cluster's time
 * (bench/explore_bench.lua).  Not under AddressSanitizer, which should see
 * every message freed. */
#if defined(__SANITIZE_ADDRESS__)
#define INSYNC_MSG_FREE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define INSYNC_MSG_FREE 0
#endif
#endif
#ifndef INSYNC_MSG_FREE
#define INSYNC_MSG_FREE 256
#endif

insync_msg_t *insync_net_msg(insync_cluster_t *c, int type, int from, int to) {
        insync_msg_t *m = c->msg_free;
        if (m) {
                c->msg_free = m->next_free;
                c->nmsg_free--;
                memset(m, 0, sizeof(*m));
        } else {
                m = calloc(1, sizeof(*m));
                if (!m)
                        abort();
        }
        m->type = type;
        m->from = from;
        m->to = to;
        c->msgs_alive++;
        return m;
}

void insync_net_free(insync_cluster_t *c, insync_msg_t *m) {
        free(m->ids);
        free(m->batches);
        free(m->parts);
        c->msgs_alive--;
        if (c->nmsg_free < INSYNC_MSG_FREE) {
                m->next_free = c->msg_free;
                c->msg_free = m;
                c->nmsg_free++;
        } else {
                free(m);
        }
}

void insync_net_free_all(insync_cluster_t *c) {
        while (c->msg_free) {
                insync_msg_t *m = c->msg_free;
                c->msg_free = m->next_free;
                free(m);
        }
        c->nmsg_free = 0;
}

void insync_net_send(insync_cluster_t *c, insync_msg_t *m) {
        if (!insync_net_passes(c, m->from, m->to)) {
                insync_trace_add(c, INSYNC_T_DROP, m->from, (int64_t)m->gp,
                                 m->to, m->type);
                insync_net_free(c, m);
                return;
        }
        insync_sim_at_key(c, insync_latency_arrival(c, m), m->key,
                          INSYNC_EV_MSG, 0, 0, m);
}

static int is_broker(const insync_cluster_t *c, int node) {
        return node >= 1 && node <= c->nbrokers;
}

static int is_request(int type) {
        return type == INSYNC_M_PRODUCE || type == INSYNC_M_FETCH;
}

/* The OS of a live machine resets connections to a dead process. */
static void reset_back(insync_cluster_t *c, insync_msg_t *m) {
        int type = m->type == INSYNC_M_PRODUCE ? INSYNC_M_PRODUCE_RESP
                                               : INSYNC_M_FETCH_RESP;
        insync_msg_t *r = insync_net_msg(c, type, m->to, m->from);
        r->rst = 1;
        r->refused = 1;
        r->err = INSYNC_KERR__TRANSPORT;
        r->gp = m->gp;
        r->req = m->req;
        r->epoch = m->epoch;
        r->key = m->key;
        insync_net_send(c, r);
}

/* A live process accepted the connection: the client learns it one
 * latency later, and only then has it written the request. */
static void connected_back(insync_cluster_t *c, insync_msg_t *m) {
        insync_msg_t *r = insync_net_msg(c, INSYNC_M_PRODUCE_RESP, m->to, m->from);
        r->connect = 1;
        r->gp = m->gp;
        r->req = m->req;
        insync_net_send(c, r);
}

void insync_net_deliver(insync_cluster_t *c, insync_msg_t *m) {
        if (!insync_net_passes(c, m->from, m->to)) {
                insync_trace_add(c, INSYNC_T_DROP, m->from, (int64_t)m->gp,
                                 m->to, m->type);
                insync_net_free(c, m);
                return;
        }
        int to = m->to;
        if (to == 0) {
                insync_controller_recv(c, m);
        } else if (is_broker(c, to)) {
                insync_broker_t *b = &c->br[to];
                if (!b->alive) {
                        if (b->powered && is_request(m->type))
                                reset_back(c, m);
                } else {
                        switch (m->type) {
                        case INSYNC_M_PRODUCE:
                                if (m->connect && (b->fenced ||
                                                   b->meta_seen < c->meta_version)) {
                                        /* a restarted broker serves no
                                         * request before it is unfenced
                                         * and has caught up with the
                                         * metadata (BrokerServer.startup) */
                                        reset_back(c, m);
                                        break;
                                }
                                if (m->connect)
                                        connected_back(c, m);
                                insync_partition_produce(c, to, m);
                                break;
                        case INSYNC_M_FETCH:
                                insync_partition_fetch(c, to, m);
                                break;
                        case INSYNC_M_FETCH_RESP:
                                insync_partition_fetch_resp(c, to, m);
                                break;
                        case INSYNC_M_PSTATE:
                                if (m->version > b->meta_seen)
                                        b->meta_seen = m->version;
                                insync_partition_apply_state(c, to, m->gp,
                                                             m->leader, m->epoch,
                                                             m->pepoch, m->isr);
                                break;
                        case INSYNC_M_ALTER_ISR_RESP:
                                insync_partition_alter_resp(c, to, m);
                                break;
                        case INSYNC_M_HEARTBEAT_RESP:
                                insync_broker_heartbeat_resp(c, to, m);
                                break;
                        case INSYNC_M_META_REQ:
                                insync_broker_meta_req(c, to, m);
                                break;
                        default:
                                break;
                        }
                }
        } else {
                int pi = to - c->nbrokers - 1;
                if (pi >= 0 && pi < c->nprod)
                        insync_producer_recv(c, c->prod[pi], m);
        }
        insync_net_free(c, m);
}

void insync_cluster_cut(insync_cluster_t *c, int from, int to, int both) {
        insync_fetcher_wake_all(c);
        c->cut[from * INSYNC_MAX_NODES + to] = 1;
        if (both)
                c->cut[to * INSYNC_MAX_NODES + from] = 1;
}

void insync_cluster_isolate(insync_cluster_t *c, int node) {
        for (int i = 0; i < INSYNC_MAX_NODES; i++)
                if (i != node)
                        insync_cluster_cut(c, node, i, 1);
}

void insync_cluster_heal(insync_cluster_t *c) {
        insync_fetcher_wake_all(c);
        memset(c->cut, 0, (size_t)INSYNC_MAX_NODES * INSYNC_MAX_NODES);
}
