/**
 * @file completion.c
 * @brief The completion queue: a producer puts each send's outcome here
 * (insync_complete), in completion order; the binding takes them out as
 * reports (insync_cluster_report_take), and insync_cluster_step stops
 * after an event that completed one.
 */
#include <stdlib.h>

#include "model.h"

void insync_complete(insync_cluster_t *c, uint32_t rec, int err, int64_t offset,
                     int persisted, int fatal) {
        if (c->cq_n == c->cq_cap) {
                size_t cap = c->cq_cap ? c->cq_cap * 2 : 1024;
                insync_compl_t *q = realloc(c->cq, cap * sizeof(*q));
                if (!q)
                        abort();
                c->cq = q;
                c->cq_cap = cap;
        }
        insync_compl_t *q = &c->cq[c->cq_n++];
        q->rec = rec;
        q->err = err;
        q->offset = offset;
        q->persisted = (uint8_t)persisted;
        q->fatal = (uint8_t)fatal;
        insync_rec_t *e = &c->recs.rec[rec];
        e->state = (uint8_t)((e->state & 0xf0) | (err ? INSYNC_REC_FAILED : INSYNC_REC_ACKED));
        e->offset = err ? -1 : offset;
        c->outstanding--;
        if (c->trace.on && e->topic != UINT8_MAX &&
            e->part < c->topics[e->topic].partitions)
                insync_trace_add(c, INSYNC_T_DELIVERY,
                                 c->nbrokers + 1 + c->recs.prod[rec],
                                 c->topics[e->topic].gp0 + e->part, err, offset);
}

int insync_cluster_due(const insync_cluster_t *c) {
        return c->cq_head < c->cq_n || c->fatal_untold > 0;
}

/* The oldest undelivered report; @returns 0 when none. */
static int report_peek(const insync_cluster_t *c, insync_report_t *r) {
        if (c->cq_head >= c->cq_n)
                return 0;
        const insync_compl_t *q = &c->cq[c->cq_head];
        const insync_rec_t *e = &c->recs.rec[q->rec];
        r->id = q->rec + 1;
        r->err = q->err;
        r->offset = q->offset;
        r->persisted = q->persisted;
        r->fatal = q->fatal;
        r->topic = e->topic == UINT8_MAX ? -1 : e->topic;
        r->partition = e->part == INSYNC_PART_NONE ? -1 : e->part;
        r->producer = c->recs.prod[q->rec];
        /* enq keeps the low 32 bits of the send time: exact for a
         * latency below 2^32 ms (49 days of virtual time) */
        r->latency_ms = (int64_t)(uint32_t)((uint32_t)c->now - e->enq);
        return 1;
}

/* Drops the oldest report. */
static void report_pop(insync_cluster_t *c) {
        if (c->cq_head < c->cq_n)
                c->cq_head++;
        if (c->cq_head == c->cq_n)
                c->cq_head = c->cq_n = 0;
}

int insync_cluster_report_take(insync_cluster_t *c, insync_report_t *r) {
        if (!report_peek(c, r))
                return 0;
        const insync_rec_t *e = &c->recs.rec[r->id - 1];
        r->klen = e->klen == INSYNC_NOLEN ? 0 : e->klen;
        r->key = insync_records_key(&c->recs, r->id - 1);
        report_pop(c);
        return 1;
}
