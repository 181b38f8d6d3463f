/**
 * @file net.c
 * @brief The network: every message takes its link's latency one way
 * (latency.c: latency_ms unless told otherwise); a cut link
 * (a one-way flag per ordered pair of nodes) drops what it carries, both at
 * sending and at arrival, so a cut also catches messages in flight.  A
 * request reaching a broker whose process is dead but whose machine is up
 * is answered by the OS with a connection reset; a machine without power
 * answers nothing (dispatch.c delivers, this file builds the reset).  The
 * network never calls the nodes: dispatch.c hands them what arrives.
 *
 * A producer talks to a broker over one TCP connection (librdkafka keeps
 * one per broker), which delivers a stream in order or not at all: once a
 * message of a connection is lost on a cut link, nothing more passes on
 * that connection, either way, even after the link heals.  The producer
 * finds out as librdkafka does, by a request timeout
 * (rd_kafka_broker_timeout_scan), and opens a new connection.  A lossy
 * link (c:lossy) loses single messages and keeps the connection: not what
 * TCP does, a fault for testing what a gap does.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Messages are reused through a short free list: a cluster sends and frees
 * one per hop, and malloc/free were a quarter of a small cluster's time
 * (bench/explore_bench.lua).  A message keeps its arrays' memory (ids,
 * batches, parts) through the list, so that a produce request or a fetch
 * response fills memory it already has.  Not under AddressSanitizer, which
 * should see every message freed. */
#define INSYNC_MSG_FREE (INSYNC_ASAN ? 0 : 256)

/* What a freed cluster leaves to the next one (explore makes and frees a
 * cluster per run): its free messages, with their memory, and its links'
 * array, cleared; each taken whole by the next cluster that needs it.  A
 * slot each, exchanged atomically: clusters may live in several threads. */
#if INSYNC_MSG_FREE
static _Atomic(insync_msg_t *) spare_msgs; /* the list's length in its head's nids */
static _Atomic(uint8_t *) spare_cut;

static uint8_t *spare_take_cut(void) { return atomic_exchange(&spare_cut, NULL); }
#else
static uint8_t *spare_take_cut(void) { return NULL; }
#endif

/* The links' state, cut[from * MAX_NODES + to] (64 KiB), is made at the
 * first fault on a link, and a heal clears only what was set since the
 * last one: explore makes a cluster per run and heals it after every
 * fault, and calloc'ing and clearing the whole array were 7% of its
 * instructions (callgrind; a smaller share of its time).  What was set
 * is kept after the array: the rows, and in each row the lowest and the
 * highest column. */
#define NLINKS ((size_t)INSYNC_MAX_NODES * INSYNC_MAX_NODES)
typedef struct links_set_s {
        uint64_t rows[INSYNC_MAX_NODES / 64];
        uint8_t lo[INSYNC_MAX_NODES], hi[INSYNC_MAX_NODES];
} links_set_t;
#define LINKS_BYTES (NLINKS + sizeof(links_set_t))

static links_set_t *links_set(const insync_cluster_t *c) {
        return (links_set_t *)(void *)(c->cut + NLINKS);
}

void insync_net_link(insync_cluster_t *c, int from, int to, int state) {
        if (!c->cut) {
                c->cut = spare_take_cut();
                if (!c->cut)
                        c->cut = calloc(LINKS_BYTES, 1);
                if (!c->cut)
                        abort();
        }
        c->cut[from * INSYNC_MAX_NODES + to] = (uint8_t)state;
        links_set_t *set = links_set(c);
        uint64_t bit = (uint64_t)1 << (from & 63);
        if (!(set->rows[from >> 6] & bit)) {
                set->rows[from >> 6] |= bit;
                set->lo[from] = set->hi[from] = (uint8_t)to;
        } else if (to < set->lo[from]) {
                set->lo[from] = (uint8_t)to;
        } else if (to > set->hi[from]) {
                set->hi[from] = (uint8_t)to;
        }
}

void insync_net_heal(insync_cluster_t *c) {
        if (!c->cut)
                return;
        links_set_t *set = links_set(c);
        for (int w = 0; w < INSYNC_MAX_NODES / 64; w++)
                for (uint64_t rows = set->rows[w]; rows; rows &= rows - 1) {
                        int from = w * 64 + __builtin_ctzll(rows);
                        uint8_t *row = c->cut + from * INSYNC_MAX_NODES;
                        for (int to = set->lo[from]; to <= set->hi[from]; to++)
                                row[to] = 0;
                }
        memset(set->rows, 0, sizeof(set->rows));
}

int insync_net_passes(const insync_cluster_t *c, int from, int to) {
        return !c->cut || !c->cut[from * INSYNC_MAX_NODES + to];
}

static int is_broker(const insync_cluster_t *c, int node) {
        return node >= 1 && node <= c->nbrokers;
}

/* The producer and the broker at the ends of @p m, a produce request or
 * answer, and the generation of the connection it travels on (0: none).
 * A broker's answer names its request; the request knows its connection
 * (a request already given up on has none left). */
static insync_producer_t *conn_ends(const insync_cluster_t *c,
                                    const insync_msg_t *m, int *broker,
                                    uint32_t *conn) {
        if (m->type != INSYNC_M_PRODUCE && m->type != INSYNC_M_PRODUCE_RESP)
                return NULL;
        int pn = is_broker(c, m->from) ? m->to : m->from;
        *broker = is_broker(c, m->from) ? m->from : m->to;
        int pi = pn - c->nbrokers - 1;
        if (pi < 0 || pi >= c->nprod || !is_broker(c, *broker))
                return NULL;
        insync_producer_t *p = c->prod[pi];
        *conn = m->conn;
        if (!*conn) {
                uint32_t slot = (uint32_t)(m->req & 0xffffff);
                if (slot < p->nreq && p->req[slot].id == m->req && p->req[slot].batch)
                        *conn = p->req[slot].conn;
        }
        return *conn ? p : NULL;
}

/* Nothing passes on a connection that lost a message (TCP's stream is in
 * order); a FIN is the connection's end, and passes. */
static int conn_dead(const insync_cluster_t *c, const insync_msg_t *m) {
        if (!c->conn_broken_any)
                return 0;
        int b;
        uint32_t conn;
        insync_producer_t *p = conn_ends(c, m, &b, &conn);
        return p && !m->fin && conn <= p->conn_broken[b];
}

/* A message of the connection was lost: nothing more passes on it. */
static void conn_break(insync_cluster_t *c, const insync_msg_t *m) {
        int b;
        uint32_t conn;
        insync_producer_t *p = conn_ends(c, m, &b, &conn);
        if (p && conn > p->conn_broken[b]) {
                p->conn_broken[b] = conn;
                c->conn_broken_any = 1;
        }
}

/* Whether @p m is lost on its way: a cut link (which breaks a producer's
 * connection), a lossy one, or a connection already broken. */
static int lost(insync_cluster_t *c, const insync_msg_t *m) {
        uint8_t cut = c->cut ? c->cut[m->from * INSYNC_MAX_NODES + m->to] : 0;
        if (cut == INSYNC_LINK_CUT)
                conn_break(c, m);
        return cut || conn_dead(c, m);
}

/* What a reused message is cleared to, up to its kept memory.  Copied from
 * a constant, the clearing is a few vector stores: a memset of the same
 * size became a `rep stos`, slow to start on some processors (an AMD EPYC
 * spent 5% of explore's time on it). */
static const insync_msg_t blank;
#define CLEARED offsetof(insync_msg_t, ids_buf)

insync_msg_t *insync_net_msg(insync_cluster_t *c, int type, int from, int to) {
        insync_msg_t *m = c->msg_free;
#if INSYNC_MSG_FREE
        if (!m && (m = atomic_exchange(&spare_msgs, NULL)) != NULL) {
                c->msg_free = m;
                c->nmsg_free = (int)m->nids;
        }
#endif
        if (m) {
                c->msg_free = m->next_free;
                c->nmsg_free--;
                memcpy(m, &blank, CLEARED);
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

/* @p buf (of *@p cap elements of @p size) grown to hold @p n at least,
 * by doubling; what it held is kept. */
static void *room(void *buf, uint32_t *cap, uint32_t n, size_t size) {
        if (n <= *cap)
                return buf;
        uint32_t nc = *cap ? *cap : 16;
        while (nc < n)
                nc = nc > UINT32_MAX / 2 ? n : nc * 2;
        buf = realloc(buf, (size_t)nc * size);
        if (!buf)
                abort();
        *cap = nc;
        return buf;
}

uint32_t *insync_net_ids(insync_msg_t *m, uint32_t n) {
        m->ids_buf = room(m->ids_buf, &m->ids_cap, n, sizeof(*m->ids));
        return m->ids = m->ids_buf;
}

insync_lbatch_t *insync_net_batches(insync_msg_t *m, uint32_t n) {
        m->batches_buf = room(m->batches_buf, &m->batches_cap, n, sizeof(*m->batches));
        return m->batches = m->batches_buf;
}

void *insync_net_parts(insync_msg_t *m, size_t bytes) {
        if (bytes > m->parts_cap) {
                free(m->parts_buf);
                m->parts_buf = malloc(bytes);
                if (!m->parts_buf)
                        abort();
                m->parts_cap = bytes;
        }
        return m->parts = m->parts_buf;
}

static void msg_destroy(insync_msg_t *m) {
        free(m->ids_buf);
        free(m->batches_buf);
        free(m->parts_buf);
        free(m);
}

void insync_net_free(insync_cluster_t *c, insync_msg_t *m) {
        if (m->ids && m->ids != m->ids_buf)
                free(m->ids);
        if (m->batches && m->batches != m->batches_buf)
                free(m->batches);
        if (m->parts && m->parts != m->parts_buf)
                free(m->parts);
        c->msgs_alive--;
        if (c->nmsg_free < INSYNC_MSG_FREE) {
                m->next_free = c->msg_free;
                c->msg_free = m;
                c->nmsg_free++;
        } else {
                msg_destroy(m);
        }
}

static void destroy_list(insync_msg_t *m) {
        while (m) {
                insync_msg_t *next = m->next_free;
                msg_destroy(m);
                m = next;
        }
}

#if INSYNC_MSG_FREE
/* The spares go with the module (lua_close unloads it): nothing is left
 * for a leak checker to find. */
__attribute__((destructor)) static void spare_free(void) {
        destroy_list(atomic_exchange(&spare_msgs, NULL));
        free(atomic_exchange(&spare_cut, NULL));
}
#endif

void insync_net_free_all(insync_cluster_t *c) {
#if INSYNC_MSG_FREE
        if (c->msg_free) {
                c->msg_free->nids = (uint32_t)c->nmsg_free;
                destroy_list(atomic_exchange(&spare_msgs, c->msg_free));
                c->msg_free = NULL;
        }
        if (c->cut) {
                insync_net_heal(c);
                free(atomic_exchange(&spare_cut, c->cut));
                c->cut = NULL;
        }
#endif
        destroy_list(c->msg_free);
        c->msg_free = NULL;
        c->nmsg_free = 0;
}

void insync_net_send(insync_cluster_t *c, insync_msg_t *m) {
        if (lost(c, m)) {
                insync_trace_add(c, INSYNC_T_DROP, m->from, (int64_t)m->gp,
                                 m->to, m->type);
                insync_net_free(c, m);
                return;
        }
        insync_sim_at_key(c, insync_latency_arrival(c, m), m->key,
                          INSYNC_EV_MSG, 0, 0, m);
}

/* The OS of a live machine resets connections to a dead process; a
 * restarted broker not yet serving resets them too (dispatch.c). */
void insync_net_reset(insync_cluster_t *c, insync_msg_t *m) {
        int type = m->type == INSYNC_M_PRODUCE ? INSYNC_M_PRODUCE_RESP
                                               : INSYNC_M_FETCH_RESP;
        insync_msg_t *r = insync_net_msg(c, type, m->to, m->from);
        r->rst = 1;
        r->refused = 1;
        r->err = INSYNC_KERR__TRANSPORT;
        r->gp = m->gp;
        r->req = m->req;
        r->epoch = m->epoch;
        r->conn = m->conn;
        r->key = m->key;
        insync_net_send(c, r);
}

/* The broker closes the connection @p m came on (KafkaApis.closeConnection):
 * it reads nothing more from it, and the producer learns of it one
 * latency later, as a FIN. */
void insync_net_close(insync_cluster_t *c, const insync_msg_t *m) {
        conn_break(c, m);
        insync_msg_t *r = insync_net_msg(c, INSYNC_M_PRODUCE_RESP, m->to, m->from);
        r->fin = 1;
        r->err = INSYNC_KERR__TRANSPORT;
        r->conn = m->conn;
        r->gp = m->gp;
        insync_net_send(c, r);
}

/* A killed process's sockets are closed by its OS: each producer's
 * connection to broker @p b gets a FIN (a machine without power sends
 * none, and its connections die only by timeout). */
void insync_net_broker_closed(insync_cluster_t *c, int b) {
        for (int i = 0; i < c->nprod; i++) {
                insync_producer_t *p = c->prod[i];
                if (!p->inflight[b])
                        continue;
                insync_msg_t *r = insync_net_msg(c, INSYNC_M_PRODUCE_RESP, b, p->node);
                r->fin = 1;
                r->err = INSYNC_KERR__TRANSPORT;
                r->conn = p->conn[b];
                insync_net_send(c, r);
        }
}

/* A live process accepted the connection: the client learns it one
 * latency later, and only then has it written the request. */
void insync_net_accept(insync_cluster_t *c, insync_msg_t *m) {
        insync_msg_t *r = insync_net_msg(c, INSYNC_M_PRODUCE_RESP, m->to, m->from);
        r->connect = 1;
        r->gp = m->gp;
        r->req = m->req;
        r->conn = m->conn;
        insync_net_send(c, r);
}

int insync_net_arrives(insync_cluster_t *c, insync_msg_t *m) {
        if (lost(c, m)) {
                insync_trace_add(c, INSYNC_T_DROP, m->from, (int64_t)m->gp,
                                 m->to, m->type);
                insync_net_free(c, m);
                return 0;
        }
        return 1;
}
