/**
 * @file dispatch.c
 * @brief Who handles what.  The step loop pops the events (sim.c) and hands
 * each to its actor; the two tables below say, for every event type and
 * every message type, which actor that is and whether it happens in a
 * broker, whose pause (SIGSTOP) holds it until the broker resumes.
 *
 * Calls run one way: the public face (cluster.c) and this loop call the
 * actors: broker.c, partition.c with its fetch sessions (fetcher.c),
 * controller.c, producer.c, topic.c; the actors call the services below
 * them: sim.c (timers, randomness), net.c (messages), latency.c, log.c,
 * records.c and the completion queue (completion.c), trace.c.  A service
 * never calls an actor; in the model only cluster.c calls this file (a
 * paused broker's resume, the cluster's end), and the binding runs time
 * through insync_cluster_step (docs/design.md draws the layers).
 *
 * The controller and a producer take their messages at one entry each
 * (insync_controller_recv, insync_producer_recv), whose switch is their
 * own state machine; a broker's are spread over its files, so the table
 * names each handler.
 */
#include <stdlib.h>

#include "model.h"

/* The actors. */
enum { A_BROKER = 1, A_CONTROLLER, A_PRODUCER };

/* ------------------------------------------------------------- messages */

static int is_broker(const insync_cluster_t *c, int node) {
        return node >= 1 && node <= c->nbrokers;
}

/* A produce request: a restarted broker serves no request before it is
 * unfenced and has caught up with the metadata (BrokerServer.startup);
 * a request on a new connection has the connection's setup answered. */
static void produce(insync_cluster_t *c, int to, insync_msg_t *m) {
        insync_broker_t *b = &c->br[to];
        if (m->connect && (b->fenced || b->meta_seen < c->meta_version)) {
                insync_net_reset(c, m);
                return;
        }
        if (m->connect)
                insync_net_accept(c, m);
        insync_partition_produce(c, to, m);
}

/* The controller's news of a partition, with the metadata version it
 * brings the broker to. */
static void pstate(insync_cluster_t *c, int to, insync_msg_t *m) {
        insync_broker_t *b = &c->br[to];
        if (m->version > b->meta_seen)
                b->meta_seen = m->version;
        insync_partition_apply_state(c, to, m->gp, m->leader, m->epoch,
                                     m->pepoch, m->isr);
}

typedef void (*at_broker_fn)(insync_cluster_t *c, int b, insync_msg_t *m);

/* Every message type: the actor it is addressed to; at a broker, its
 * handler, and whether it is a request that the OS of a live machine
 * answers with a connection reset when the broker's process is dead.
 * A message to a broker is held while the broker is paused. */
static const struct {
        unsigned char actor;
        unsigned char request;
        at_broker_fn at_broker;
} msg_route[] = {
        [INSYNC_M_PRODUCE] = {A_BROKER, 1, produce},
        [INSYNC_M_PRODUCE_RESP] = {A_PRODUCER, 0, NULL},
        [INSYNC_M_FETCH] = {A_BROKER, 1, insync_partition_fetch},
        [INSYNC_M_FETCH_RESP] = {A_BROKER, 0, insync_partition_fetch_resp},
        [INSYNC_M_HEARTBEAT] = {A_CONTROLLER, 0, NULL},
        [INSYNC_M_HEARTBEAT_RESP] = {A_BROKER, 0, insync_broker_heartbeat_resp},
        [INSYNC_M_REGISTER] = {A_CONTROLLER, 0, NULL},
        [INSYNC_M_ALTER_ISR] = {A_CONTROLLER, 0, NULL},
        [INSYNC_M_ALTER_ISR_RESP] = {A_BROKER, 0, insync_partition_alter_resp},
        [INSYNC_M_PSTATE] = {A_BROKER, 0, pstate},
        [INSYNC_M_META_REQ] = {A_BROKER, 0, insync_broker_meta_req},
        [INSYNC_M_META_RESP] = {A_PRODUCER, 0, NULL},
        [INSYNC_M_TOPIC_REQ] = {A_BROKER, 0, insync_topic_req},
        [INSYNC_M_TOPIC_RESP] = {A_PRODUCER, 0, NULL},
};

/* A message arrives at its node: the controller (0), a broker, or a
 * producer; net.c has already dropped what a cut link or a broken
 * connection loses. */
static void deliver(insync_cluster_t *c, const insync_ev_t *e) {
        insync_msg_t *m = e->p;
        if (!insync_net_arrives(c, m))
                return;
        int to = m->to;
        if (to == 0) {
                insync_controller_recv(c, m);
        } else if (is_broker(c, to)) {
                insync_broker_t *b = &c->br[to];
                if (!b->alive) {
                        if (b->powered && msg_route[m->type].request)
                                insync_net_reset(c, m);
                } else if (msg_route[m->type].at_broker) {
                        msg_route[m->type].at_broker(c, to, m);
                }
        } else {
                int pi = to - c->nbrokers - 1;
                if (pi >= 0 && pi < c->nprod)
                        insync_producer_recv(c, c->prod[pi], m);
        }
        insync_net_free(c, m);
}

/* --------------------------------------------------------------- events */

static void broker_timer(insync_cluster_t *c, const insync_ev_t *e) {
        insync_broker_timer(c, (int)e->type, (int)e->a, e->b);
}

static void fetch_wait(insync_cluster_t *c, const insync_ev_t *e) {
        if (c->br[e->a].alive)
                insync_partition_fetch_wait(c, (int)e->a, (uint32_t)(e->b >> 32),
                                            (uint32_t)e->b);
}

static void fetch_retry(insync_cluster_t *c, const insync_ev_t *e) {
        if (c->br[e->a].alive)
                insync_partition_fetch_retry(c, (int)e->a, (uint32_t)(e->b >> 32),
                                             e->b & 0xffffffffu);
}

static void dp_timeout(insync_cluster_t *c, const insync_ev_t *e) {
        if (c->br[e->a].alive)
                insync_partition_dp_timeout(c, (int)e->a, e->b);
}

static void session(insync_cluster_t *c, const insync_ev_t *e) {
        insync_controller_session(c, (int)e->a, e->b);
}

static void balance(insync_cluster_t *c, const insync_ev_t *e) {
        (void)e;
        insync_controller_balance(c);
}

static void quorum(insync_cluster_t *c, const insync_ev_t *e) {
        insync_controller_quorum_event(c, e->b);
}

static void producer_timer(insync_cluster_t *c, const insync_ev_t *e) {
        insync_producer_timer(c, (int)e->type, e->a, e->b);
}

/* Every event type (model.h says what its a and b carry): its handler,
 * which names the actor, and whether it happens in broker a (a paused
 * broker holds it).  A message happens in its receiver (msg_route). */
static const struct {
        void (*fn)(insync_cluster_t *c, const insync_ev_t *e);
        unsigned char in_broker;
} ev_route[] = {
        [INSYNC_EV_MSG] = {deliver, 0},
        [INSYNC_EV_HEARTBEAT] = {broker_timer, 1},
        [INSYNC_EV_ISR_CHECK] = {broker_timer, 1},
        [INSYNC_EV_FETCH_CHECK] = {broker_timer, 1},
        [INSYNC_EV_FLUSH] = {broker_timer, 1},
        [INSYNC_EV_CS_HEARTBEAT] = {broker_timer, 1},
        [INSYNC_EV_CS_DEADLINE] = {broker_timer, 1},
        [INSYNC_EV_REGISTER] = {broker_timer, 1},
        [INSYNC_EV_HW_CHECKPOINT] = {broker_timer, 1},
        [INSYNC_EV_FETCH_WAIT] = {fetch_wait, 1},
        [INSYNC_EV_FETCH_RETRY] = {fetch_retry, 1},
        [INSYNC_EV_DP_TIMEOUT] = {dp_timeout, 1},
        [INSYNC_EV_SESSION] = {session, 0},
        [INSYNC_EV_BALANCE] = {balance, 0},
        [INSYNC_EV_QUORUM] = {quorum, 0},
        [INSYNC_EV_LINGER] = {producer_timer, 0},
        [INSYNC_EV_RETRY] = {producer_timer, 0},
        [INSYNC_EV_REQ_TIMEOUT] = {producer_timer, 0},
        [INSYNC_EV_SCAN] = {producer_timer, 0},
        [INSYNC_EV_META] = {producer_timer, 0},
};

/* ------------------------------------------------------ paused brokers */

/* The broker an event happens in, 0 for none: a message's receiver when
 * the message is a broker's, a broker timer's broker. */
static int broker_of(const insync_cluster_t *c, const insync_ev_t *e) {
        if (e->type == INSYNC_EV_MSG) {
                const insync_msg_t *m = e->p;
                return msg_route[m->type].actor == A_BROKER && is_broker(c, m->to)
                               ? m->to
                               : 0;
        }
        return ev_route[e->type].in_broker ? (int)e->a : 0;
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

void insync_dispatch_release(insync_cluster_t *c, int b) {
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

/* ------------------------------------------------------------ the loop */

int insync_cluster_step(insync_cluster_t *c, int64_t until) {
        insync_ev_t e;
        while (insync_sim_pop(c, until, &e)) {
                c->now = e.t;
                c->cur_key = e.key;
                int b = broker_of(c, &e);
                if (b && c->br[b].paused) {
                        hold(c, &e);
                        continue;
                }
                size_t before = c->cq_n;
                ev_route[e.type].fn(c, &e);
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

void insync_dispatch_free(insync_cluster_t *c) {
        free_msgs(c, c->heap.ev, c->heap.n);
        free_msgs(c, c->held, c->nheld);
        free(c->held);
        c->held = NULL;
        c->nheld = c->heldcap = 0;
        insync_sim_free(c);
}
