/**
 * @file trace.c
 * @brief The trace: when enabled, every replication step (append, fetch,
 * HW advance, ISR change, fencing, election, truncation, request,
 * response, retry, ...) is kept as a fixed-size entry in a growable array,
 * in the order it happened.  Same seed and script, same trace.
 */
#include <stdlib.h>

#include "model.h"

static const char *const kind_names[INSYNC_T__N] = {
        "append", "fetch", "hw", "isr_shrink", "isr_expand", "fence",
        "unfence", "election", "unclean_election", "truncate", "request",
        "response", "retry", "crash", "restart", "shutdown", "drop",
        "leader", "follower", "timeout", "delivery", "elr", "elr_election",
        "preferred_election", "epoch_bump", "pause", "resume",
};

/* Names of fields a and b, by kind. */
static const char *const field_names[INSYNC_T__N][2] = {
        {"offset", "count"},        /* append: first offset, records */
        {"follower", "offset"},     /* fetch: at the leader */
        {"hw", "leo"},              /* hw */
        {"removed", "isr"},         /* isr_shrink: bit masks */
        {"added", "isr"},           /* isr_expand: bit masks */
        {"broker", NULL},           /* fence */
        {"broker", NULL},           /* unfence */
        {"leader", "epoch"},        /* election */
        {"leader", "epoch"},        /* unclean_election */
        {"from", "to"},             /* truncate: LEO before, after */
        {"to", "count"},            /* request: producer -> broker, records;
                                       and acks, see insync_trace_request() */
        {"error", "offset"},        /* response */
        {"error", "attempt"},       /* retry */
        {"lose_unflushed", NULL},   /* crash */
        {NULL, NULL},               /* restart */
        {"broker", "stopped"},      /* shutdown: 0 begins, 1 the process stops */
        {"to", "type"},             /* drop */
        {"epoch", "leo"},           /* leader */
        {"leader", "epoch"},        /* follower */
        {"broker", NULL},           /* timeout */
        {"error", "offset"},        /* delivery */
        {"elr", "isr"},             /* elr: bit masks, after a change */
        {"leader", "epoch"},        /* elr_election: leader from the ELR */
        {"leader", "epoch"},        /* preferred_election: auto leader rebalance */
        {"epoch", "records"},       /* epoch_bump: the producer's new epoch,
                                       records to send under it from seq 0 */
        {NULL, NULL},               /* pause: the broker hangs */
        {NULL, NULL},               /* resume */
};

const char *insync_trace_kind_name(int kind) {
        return kind >= 0 && kind < INSYNC_T__N ? kind_names[kind] : "?";
}

void insync_trace_fields(int kind, const char **a, const char **b) {
        *a = *b = NULL;
        if (kind >= 0 && kind < INSYNC_T__N) {
                *a = field_names[kind][0];
                *b = field_names[kind][1];
        }
}

static insync_trace_entry_t *trace_add(insync_cluster_t *c, int kind, int node,
                                       int64_t gp, int64_t a, int64_t b) {
        insync_trace_t *t = &c->trace;
        if (!t->on)
                return NULL;
        if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 1024;
                insync_trace_entry_t *e = realloc(t->e, cap * sizeof(*e));
                if (!e) {
                        t->on = 0; /* out of memory: stop tracing, keep running */
                        return NULL;
                }
                t->e = e;
                t->cap = cap;
        }
        insync_trace_entry_t *e = &t->e[t->n++];
        e->t = c->now;
        e->a = a;
        e->b = b;
        e->gp = (int32_t)gp;
        e->node = (int16_t)node;
        e->kind = (uint8_t)kind;
        e->acks = 0;
        return e;
}

void insync_trace_add(insync_cluster_t *c, int kind, int node, int64_t gp,
                      int64_t a, int64_t b) {
        trace_add(c, kind, node, gp, a, b);
}

void insync_trace_request(insync_cluster_t *c, int node, int64_t gp,
                          int64_t leader, int64_t count, int acks) {
        insync_trace_entry_t *e = trace_add(c, INSYNC_T_REQUEST, node, gp, leader, count);
        if (e)
                e->acks = (int8_t)acks;
}

void insync_trace_free(insync_trace_t *t) {
        free(t->e);
        t->e = NULL;
        t->n = t->cap = 0;
}

size_t insync_cluster_trace_len(const insync_cluster_t *c) {
        return c->trace.n;
}

const insync_trace_entry_t *insync_cluster_trace_get(const insync_cluster_t *c,
                                                     size_t i) {
        return i < c->trace.n ? &c->trace.e[i] : NULL;
}
