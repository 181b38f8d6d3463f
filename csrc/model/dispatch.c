/**
 * @file dispatch.c
 * @brief Who handles what.  The step loop pops the events (sim.c) and hands
 * each to its actor.  For every event type and every message type, this
 * file says which actor handles it (dispatch and deliver: one switch
 * each) and whether it happens in a broker, whose pause (SIGSTOP) holds it
 * until the broker resumes (the tables ev_in_broker and msg_kind).
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
 * own state machine; a broker's are spread over its files, so at_broker
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

/* Every message type: the actor it is addressed to (a message to a broker
 * is held while the broker is paused), and whether it is a request that
 * the OS of a live machine answers with a connection reset when the
 * broker's process is dead.  Its handler is in deliver, below. */
static const struct {
        unsigned char actor;
        unsigned char request;
} msg_kind[] = {
        [INSYNC_M_PRODUCE] = {A_BROKER, 1},
        [INSYNC_M_PRODUCE_RESP] = {A_PRODUCER, 0},
        [INSYNC_M_FETCH] = {A_BROKER, 1},
        [INSYNC_M_FETCH_RESP] = {A_BROKER, 0},
        [INSYNC_M_HEARTBEAT] = {A_CONTROLLER, 0},
        [INSYNC_M_HEARTBEAT_RESP] = {A_BROKER, 0},
        [INSYNC_M_REGISTER] = {A_CONTROLLER, 0},
        [INSYNC_M_ALTER_ISR] = {A_CONTROLLER, 0},
        [INSYNC_M_ALTER_ISR_RESP] = {A_BROKER, 0},
        [INSYNC_M_PSTATE] = {A_BROKER, 0},
        [INSYNC_M_META_REQ] = {A_BROKER, 0},
        [INSYNC_M_META_RESP] = {A_PRODUCER, 0},
        [INSYNC_M_TOPIC_REQ] = {A_BROKER, 0},
        [INSYNC_M_TOPIC_RESP] = {A_PRODUCER, 0},
};
_Static_assert(sizeof(msg_kind) / sizeof(msg_kind[0]) == INSYNC_M__N,
               "every message type has its row in msg_kind");

/* A message at live broker @p to: the handler of each A_BROKER type. */
static void at_broker(insync_cluster_t *c, int to, insync_msg_t *m) {
        insync_broker_t *b = &c->br[to];
        switch (m->type) {
        case INSYNC_M_PRODUCE:
                if (m->connect && (b->fenced || b->meta_seen < c->meta_version)) {
                        /* a restarted broker serves no request before it is
                         * unfenced and has caught up with the metadata
                         * (BrokerServer.startup) */
                        insync_net_reset(c, m);
                        break;
                }
                if (m->connect)
                        insync_net_accept(c, m);
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
                insync_partition_apply_state(c, to, m->gp, m->leader, m->epoch,
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
        case INSYNC_M_TOPIC_REQ:
                insync_topic_req(c, to, m);
                break;
        default:
                break;
        }
}

/* A message arrives at its node: the controller (0), a broker, or a
 * producer; net.c has already dropped what a cut link or a broken
 * connection loses.  The controller and a producer take every message at
 * one entry, whose switch is their own state machine. */
static void deliver(insync_cluster_t *c, insync_msg_t *m) {
        if (!insync_net_arrives(c, m))
                return;
        int to = m->to;
        if (to == 0) {
                insync_controller_recv(c, m);
        } else if (is_broker(c, to)) {
                insync_broker_t *b = &c->br[to];
                if (!b->alive) {
                        if (b->powered && msg_kind[m->type].request)
                                insync_net_reset(c, m);
                } else {
                        at_broker(c, to, m);
                }
        } else {
                int pi = to - c->nbrokers - 1;
                if (pi >= 0 && pi < c->nprod)
                        insync_producer_recv(c, c->prod[pi], m);
        }
        insync_net_free(c, m);
}

/* --------------------------------------------------------------- events */

/* Every event type (model.h says what its a and b carry): whether it
 * happens in broker a, so that a paused broker holds it.  A message
 * happens in its receiver (msg_kind).  Its handler is in dispatch, below. */
static const unsigned char ev_in_broker[] = {
        [INSYNC_EV_MSG] = 0,
        [INSYNC_EV_HEARTBEAT] = 1,
        [INSYNC_EV_ISR_CHECK] = 1,
        [INSYNC_EV_FETCH_CHECK] = 1,
        [INSYNC_EV_FLUSH] = 1,
        [INSYNC_EV_CS_HEARTBEAT] = 1,
        [INSYNC_EV_CS_DEADLINE] = 1,
        [INSYNC_EV_REGISTER] = 1,
        [INSYNC_EV_HW_CHECKPOINT] = 1,
        [INSYNC_EV_FETCH_WAIT] = 1,
        [INSYNC_EV_FETCH_RETRY] = 1,
        [INSYNC_EV_DP_TIMEOUT] = 1,
        [INSYNC_EV_SESSION] = 0,
        [INSYNC_EV_BALANCE] = 0,
        [INSYNC_EV_QUORUM] = 0,
        [INSYNC_EV_LINGER] = 0,
        [INSYNC_EV_RETRY] = 0,
        [INSYNC_EV_REQ_TIMEOUT] = 0,
        [INSYNC_EV_SCAN] = 0,
        [INSYNC_EV_META] = 0,
};
_Static_assert(sizeof(ev_in_broker) == INSYNC_EV__N,
               "every event type has its row in ev_in_broker");

/* Each event type's actor: a message to its receiver, a broker's timers
 * to broker.c, fetch and purgatory timers to partition.c (a dead broker's
 * are void), the controller's to controller.c, the producers' to
 * producer.c. */
static void dispatch(insync_cluster_t *c, const insync_ev_t *e) {
        switch (e->type) {
        case INSYNC_EV_MSG:
                deliver(c, e->p);
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
        case INSYNC_EV_SESSION:
                insync_controller_session(c, (int)e->a, e->b);
                break;
        case INSYNC_EV_BALANCE:
                insync_controller_balance(c);
                break;
        case INSYNC_EV_QUORUM:
                insync_controller_quorum_event(c, e->b);
                break;
        case INSYNC_EV_LINGER:
        case INSYNC_EV_RETRY:
        case INSYNC_EV_REQ_TIMEOUT:
        case INSYNC_EV_SCAN:
        case INSYNC_EV_META:
                insync_producer_timer(c, (int)e->type, e->a, e->b);
                break;
        default:
                break;
        }
}

/* ------------------------------------------------------ paused brokers */

/* The broker an event happens in, 0 for none: a message's receiver when
 * the message is a broker's, a broker timer's broker. */
static int broker_of(const insync_cluster_t *c, const insync_ev_t *e) {
        if (e->type == INSYNC_EV_MSG) {
                const insync_msg_t *m = e->p;
                return msg_kind[m->type].actor == A_BROKER && is_broker(c, m->to)
                               ? m->to
                               : 0;
        }
        return ev_in_broker[e->type] ? (int)e->a : 0;
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
                dispatch(c, &e);
                if (c->cq_n > before)
                        return 1;
        }
        if (until > c->now)
                c->now = until;
        c->cur_key = UINT32_MAX; /* every event at now has fired */
        return 0;
}

/* A message never to be delivered. */
static void free_msg(insync_cluster_t *c, const insync_ev_t *e) {
        if (e->type == INSYNC_EV_MSG)
                insync_net_free(c, e->p);
}

void insync_dispatch_free(insync_cluster_t *c) {
        insync_sim_free(c, free_msg);
        for (size_t i = 0; i < c->nheld; i++)
                free_msg(c, &c->held[i]);
        free(c->held);
        c->held = NULL;
        c->nheld = c->heldcap = 0;
}
