/**
 * @file producer.c
 * @brief The simulated producer, after librdkafka: per-partition batching
 * (linger.ms, batch.size, batch.num.messages), requests in flight per
 * broker connection, retries after retry.backoff.ms while the message has
 * time left (message.timeout.ms, else _MSG_TIMED_OUT), request.timeout.ms
 * (the broker's wait; the producer's own is socket.timeout.ms capped by the
 * first message's remaining message.timeout.ms, per librdkafka's
 * CONFIGURATION.md),
 * metadata refresh on leader errors, a refused connection (a dead leader
 * process) counted as no attempt since librdkafka sends nothing on it,
 * idempotence (producer id, epoch,
 * sequence; an epoch bump after a permanent failure, once nothing is in
 * flight, as librdkafka's idempotent producer drains and bumps), and each
 * message's persistence status (rd_kafka_message_status): not persisted
 * until an attempt may have reached the log.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define SCAN_MS 1000 /* librdkafka scans queued messages for timeouts every second */
#define RECONNECT_MS 100 /* librdkafka's reconnect.backoff.ms */
#define IDEMP_MAX_INFLIGHT 5 /* RD_KAFKA_IDEMP_MAX_INFLIGHT */
/* RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD: a v2 record's length, attributes,
 * timestamp and offset deltas, key and value lengths and header count, each
 * varint at its longest */
#define MSG_V2_MAX_OVERHEAD (5 + 1 + 10 + 5 + 5 + 5 + 5)

static void pump(insync_cluster_t *c, insync_producer_t *p, uint32_t gp);

static insync_producer_t *prod(insync_cluster_t *c, uint32_t i) {
        return i < (uint32_t)c->nprod ? c->prod[i] : NULL;
}

static void arm_scan(insync_cluster_t *c, insync_producer_t *p) {
        if (p->scan_armed)
                return;
        p->scan_armed = 1;
        insync_sim_at(c, insync_after(c->now, SCAN_MS), INSYNC_EV_SCAN, (uint32_t)p->index,
                      0, NULL);
}

/* The broker librdkafka 2.0.2 asks for metadata
 * (rd_kafka_broker_any_usable, rd_kafka_broker_weight_usable): one whose
 * connection is up, the least idle (the one last written to; librdkafka
 * counts idle seconds and draws among equals, the model takes the latest
 * send).  With none up, librdkafka connects to one (rd_kafka_connect_any):
 * the next broker in turn that has not refused a connection. */
static int metadata_broker(insync_cluster_t *c, insync_producer_t *p) {
        int best = 0;
        for (int b = 1; b <= c->nbrokers; b++)
                if (p->up[b] && (!best || p->last_send[b] > p->last_send[best]))
                        best = b;
        if (best)
                return best;
        for (int i = 0; i < c->nbrokers; i++) {
                int b = (int)(p->meta_next++ % (uint32_t)c->nbrokers) + 1;
                if (!p->down[b])
                        return b;
        }
        return (int)(p->meta_next++ % (uint32_t)c->nbrokers) + 1;
}

static void conn_fail(insync_cluster_t *c, insync_producer_t *p, int broker,
                      int err);

static void need_metadata(insync_cluster_t *c, insync_producer_t *p) {
        if (p->meta_pending)
                return;
        p->meta_pending = 1;
        /* a metadata request unanswered for socket.timeout.ms times out
         * like any request, and takes its connection down
         * (rd_kafka_broker_timeout_scan), so that another broker is asked */
        for (int br = 1; br <= c->nbrokers; br++)
                if (p->meta_wait[br] >= 0 &&
                    c->now - p->meta_wait[br] >= p->conf.socket_timeout_ms) {
                        p->meta_wait[br] = -1;
                        conn_fail(c, p, br, INSYNC_KERR__TIMED_OUT);
                }
        int b = metadata_broker(c, p);
        p->last_send[b] = c->now;
        if (p->meta_wait[b] < 0)
                p->meta_wait[b] = c->now;
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_META_REQ, p->node, b);
        insync_net_send(c, m);
        insync_sim_at(c, insync_after(c->now, p->conf.metadata_fast_ms), INSYNC_EV_META,
                      (uint32_t)p->index, 0, NULL);
}

/* Batches are reused through the producer's free list, with their ids'
 * memory: a producer that sends a record at a time makes and frees a batch
 * per record.  Not under AddressSanitizer, which should see every batch
 * freed. */
#define BATCH_FREE (INSYNC_ASAN ? 0 : 256)

static const insync_pbatch_t blank_batch;

#if BATCH_FREE
/* A freed producer's free batches, for the next producer that needs them
 * (explore makes a cluster and a producer per run); taken whole, exchanged
 * atomically: clusters may live in several threads.  The list's length is
 * in its head's n. */
static _Atomic(insync_pbatch_t *) spare_batches;
#endif

/* A new batch: all zero but for the ids' memory a reused one keeps. */
static insync_pbatch_t *batch_new(insync_producer_t *p) {
        insync_pbatch_t *b = p->bfree;
#if BATCH_FREE
        if (!b && (b = atomic_exchange(&spare_batches, NULL)) != NULL) {
                p->bfree = b;
                p->nbfree = b->n;
        }
#endif
        if (!b) {
                b = calloc(1, sizeof(*b));
                if (!b)
                        abort();
                return b;
        }
        p->bfree = b->next;
        p->nbfree--;
        uint32_t *ids = b->ids, cap = b->cap;
        *b = blank_batch;
        b->ids = ids;
        b->cap = cap;
        return b;
}

static void batch_destroy(insync_pbatch_t *b) {
        free(b->ids);
        free(b);
}

static void destroy_list(insync_pbatch_t *b) {
        while (b) {
                insync_pbatch_t *next = b->next;
                batch_destroy(b);
                b = next;
        }
}

static void batch_free(insync_producer_t *p, insync_pbatch_t *b) {
#if BATCH_FREE
        if (p->nbfree < BATCH_FREE) {
                b->next = p->bfree;
                p->bfree = b;
                p->nbfree++;
                return;
        }
#else
        (void)p;
#endif
        batch_destroy(b);
}

/* Completes every record of @p b and frees it. */
static void batch_done(insync_cluster_t *c, insync_producer_t *p,
                       insync_pbatch_t *b, int err, int64_t base, int persisted) {
        int fatal = err && err == p->fatal_err;
        for (uint32_t i = 0; i < b->n; i++)
                insync_complete(c, b->ids[i], err,
                                err || base < 0 ? -1 : base + (int64_t)i,
                                persisted, fatal);
        p->queued_bytes -= b->vbytes;
        p->queued -= b->n;
        batch_free(p, b);
}

/* Ready queue kept in creation order, so a retry goes back in place.  A
 * new batch, the newest, goes after the tail: the walk from the head was
 * explore's most costly step while a leader was away and its queue grew. */
static void enqueue(insync_ppart_t *pp, insync_pbatch_t *b) {
        if (!pp->head || pp->tail->order < b->order) {
                b->next = NULL;
                if (pp->head)
                        pp->tail->next = b;
                else
                        pp->head = b;
                pp->tail = b;
                return;
        }
        insync_pbatch_t **at = &pp->head;
        while (*at && (*at)->order < b->order)
                at = &(*at)->next;
        b->next = *at;
        *at = b;
}

/* Takes the queue's first batch out. */
static insync_pbatch_t *dequeue(insync_ppart_t *pp) {
        insync_pbatch_t *b = pp->head;
        pp->head = b->next;
        if (!pp->head)
                pp->tail = NULL;
        b->next = NULL;
        return b;
}

static void close_batch(insync_cluster_t *c, insync_producer_t *p, uint32_t gp) {
        insync_ppart_t *pp = &p->pp[gp];
        insync_pbatch_t *b = pp->acc;
        if (!b)
                return;
        pp->acc = NULL;
        if (p->pid >= 0) {
                b->base_seq = pp->next_seq;
                b->pepoch = p->pepoch;
                pp->next_seq += (int32_t)b->n;
        }
        enqueue(pp, b);
        pump(c, p, gp);
}

static uint32_t req_alloc(insync_producer_t *p, insync_pbatch_t *b, int broker,
                          uint32_t gp, uint64_t *id) {
        uint32_t slot;
        if (p->nfree) {
                slot = p->reqfree[--p->nfree];
        } else {
                if (p->nreq == p->reqcap) {
                        uint32_t cap = p->reqcap ? p->reqcap * 2 : 64;
                        insync_preq_t *r = realloc(p->req, cap * sizeof(*r));
                        uint32_t *f = realloc(p->reqfree, cap * sizeof(*f));
                        if (!r || !f)
                                abort();
                        p->req = r;
                        p->reqfree = f;
                        p->reqcap = cap;
                }
                slot = p->nreq++;
        }
        p->reqgen++;
        insync_preq_t *q = &p->req[slot];
        q->batch = b;
        q->id = ((uint64_t)p->reqgen << 24) | slot;
        q->broker = broker;
        q->pp = (int)gp;
        q->conn = p->conn[broker];
        *id = q->id;
        return slot;
}

static void req_release(insync_producer_t *p, uint32_t slot) {
        insync_preq_t *q = &p->req[slot];
        insync_ppart_t *pp = &p->pp[q->pp];
        p->inflight[q->broker]--;
        if (q->batch) {
                pp->inflight -= (int)q->batch->n;
                q->batch->inflight = 0;
        }
        q->batch = NULL;
        p->reqfree[p->nfree++] = slot;
}

static insync_pbatch_t *req_take(insync_producer_t *p, uint64_t id,
                                 uint32_t *gp, int *broker) {
        uint32_t slot = (uint32_t)(id & 0xffffff);
        if (slot >= p->nreq || p->req[slot].id != id || !p->req[slot].batch)
                return NULL;
        insync_pbatch_t *b = p->req[slot].batch;
        *gp = (uint32_t)p->req[slot].pp;
        *broker = p->req[slot].broker;
        req_release(p, slot);
        return b;
}

static void send_batch(insync_cluster_t *c, insync_producer_t *p, uint32_t gp,
                       insync_pbatch_t *b) {
        insync_ppart_t *pp = &p->pp[gp];
        int leader = pp->leader;
        uint64_t id;
        uint32_t slot = req_alloc(p, b, leader, gp, &id);
        p->inflight[leader]++;
        pp->inflight += (int)b->n;
        b->inflight = 1;
        b->sent = 1;
        /* acks=0 after a refused connection: librdkafka writes nothing
         * until it has connected again, so the batch is done only once the
         * broker's machine accepted the connection */
        int connecting = p->conf.acks == 0 && p->down[leader];
        b->connecting = (uint8_t)connecting;
        p->last_send[leader] = c->now;
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_PRODUCE, p->node, leader);
        m->connect = connecting;
        m->conn = p->conn[leader];
        m->gp = gp;
        m->req = id;
        m->acks = p->conf.acks;
        m->timeout = p->conf.request_timeout_ms;
        m->pid = p->pid;
        m->prod_epoch = b->pepoch;
        m->base_seq = b->base_seq;
        memcpy(insync_net_ids(m, b->n), b->ids, (size_t)b->n * sizeof(*m->ids));
        m->nids = b->n;
        insync_trace_request(c, p->node, gp, leader, b->n, p->conf.acks);
        insync_net_send(c, m);
        if (p->conf.acks == 0 && !connecting) {
                /* acks=0: done once written to the connection. */
                req_release(p, slot);
                batch_done(c, p, b, 0, -1, INSYNC_PERSISTED);
                return;
        }
        /* librdkafka waits the lesser of socket.timeout.ms and the first
         * message's remaining message.timeout.ms; the broker enforces
         * request.timeout.ms (the request's Timeout field). */
        int64_t t = insync_after(c->now, p->conf.socket_timeout_ms);
        if (b->deadline < t)
                t = b->deadline > c->now ? b->deadline : c->now;
        insync_sim_at(c, t, INSYNC_EV_REQ_TIMEOUT, (uint32_t)p->index, id, NULL);
}

static void pump(insync_cluster_t *c, insync_producer_t *p, uint32_t gp) {
        insync_ppart_t *pp = &p->pp[gp];
        if (p->bump_pending || !pp->head)
                return;
        if (pp->leader < 1) {
                need_metadata(c, p);
                return;
        }
        /* rd_kafka_toppar_producer_serve: an idempotent producer's
         * partition that retries, or has a new leader, sends nothing until
         * what it has in flight has completed (rktp_eos.wait_drain) */
        if (pp->wait_drain) {
                if (pp->inflight)
                        return;
                pp->wait_drain = 0;
        }
        /* one request at a time opens a refused connection again */
        int cap = p->conf.acks == 0 && p->down[pp->leader] ? 1 : p->conf.max_in_flight;
        /* the idempotent producer: a request only while fewer than 5
         * records of the partition are in flight (rd_kafka_toppar_
         * producer_serve compares RD_KAFKA_IDEMP_MAX_INFLIGHT with the
         * records, not the requests, in flight) */
        while (pp->head && pp->head->not_before <= c->now &&
               p->inflight[pp->leader] < cap &&
               (p->pid < 0 || pp->inflight < IDEMP_MAX_INFLIGHT)) {
                send_batch(c, p, gp, dequeue(pp));
        }
        if (pp->head && pp->head->not_before > c->now && !pp->retry_armed) {
                pp->retry_armed = 1;
                insync_sim_at(c, pp->head->not_before, INSYNC_EV_RETRY,
                              (uint32_t)p->index, gp, NULL);
        }
}

static void pump_all(insync_cluster_t *c, insync_producer_t *p) {
        for (uint32_t gp = 0; gp < p->npp; gp++)
                pump(c, p, gp);
}

/* librdkafka's idempotent producer: after a permanent failure the
 * sequence has a gap; once nothing is in flight, bump the epoch and number
 * what is queued from 0 again. */
static void maybe_bump(insync_cluster_t *c, insync_producer_t *p) {
        if (!p->bump_pending || p->fatal_err)
                return;
        for (int b = 1; b <= c->nbrokers; b++)
                if (p->inflight[b])
                        return;
        p->bump_pending = 0;
        p->pepoch++;
        int64_t renumbered = 0;
        for (uint32_t gp = 0; gp < p->npp; gp++) {
                insync_ppart_t *pp = &p->pp[gp];
                pp->next_seq = 0;
                pp->acked_seq = 0;
                pp->err_seq = 0;
                for (insync_pbatch_t *b = pp->head; b; b = b->next) {
                        b->base_seq = pp->next_seq;
                        b->pepoch = p->pepoch;
                        pp->next_seq += (int32_t)b->n;
                        renumbered += b->n;
                }
        }
        insync_trace_add(c, INSYNC_T_EPOCH_BUMP, p->node, -1, p->pepoch,
                         renumbered);
        pump_all(c, p);
}

static int persisted_for(int err) {
        switch (err) {
        case INSYNC_KERR__TRANSPORT:
        case INSYNC_KERR__TIMED_OUT:
        case INSYNC_KERR_REQUEST_TIMED_OUT:
        case INSYNC_KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
                return INSYNC_POSSIBLY_PERSISTED;
        default:
                return INSYNC_NOT_PERSISTED;
        }
}

static int leader_error(int err) {
        switch (err) {
        case INSYNC_KERR__TRANSPORT:
        case INSYNC_KERR__TIMED_OUT:
        case INSYNC_KERR_NOT_LEADER_OR_FOLLOWER:
        case INSYNC_KERR_LEADER_NOT_AVAILABLE:
        case INSYNC_KERR_UNKNOWN_TOPIC_OR_PART:
        case INSYNC_KERR_FENCED_LEADER_EPOCH:
        case INSYNC_KERR_UNKNOWN_LEADER_EPOCH:
        case INSYNC_KERR_KAFKA_STORAGE_ERROR: /* REFRESH | RETRY */
                return 1;
        default:
                return 0;
        }
}

/* What librdkafka does with a produce error (rd_kafka_handle_Produce_error
 * with rd_kafka_err_action's defaults): fail the batch, retry it counting
 * the attempt against `retries`, or retry it without counting.  The errors
 * that say the metadata was stale (the broker no longer leads, or does not
 * know the partition) are retried without counting, even with retries=0,
 * until message.timeout.ms: librdkafka takes them for refused requests.
 * Not always so: an acks=all request appended before its leader moved is
 * answered NOT_LEADER_OR_FOLLOWER too, and its retry may duplicate it. */
enum { P_FAIL, P_RETRY, P_RETRY_UNCOUNTED };
static int produce_action(int err) {
        switch (err) {
        case INSYNC_KERR_NOT_LEADER_OR_FOLLOWER:
        case INSYNC_KERR_LEADER_NOT_AVAILABLE:
        case INSYNC_KERR_UNKNOWN_TOPIC_OR_PART:
                return P_RETRY_UNCOUNTED;
        case INSYNC_KERR__TRANSPORT:
        case INSYNC_KERR__TIMED_OUT:
        case INSYNC_KERR_REQUEST_TIMED_OUT:
        case INSYNC_KERR_NOT_ENOUGH_REPLICAS:
        case INSYNC_KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
        case INSYNC_KERR_KAFKA_STORAGE_ERROR:
                return P_RETRY;
        default:
                return P_FAIL;
        }
}

/* librdkafka's rd_kafka_idemp_set_fatal_error: the idempotent producer no
 * longer knows what the broker has.  Every later send fails with @p err at
 * once (rd_kafka_producev answers _FATAL), what waits in its queues is
 * purged (_PURGE_QUEUE), what is in flight completes as answered, and
 * on_error hears of it once (insync_cluster_fatal_take). */
static void set_fatal(insync_cluster_t *c, insync_producer_t *p, int err) {
        if (p->fatal_err)
                return;
        p->fatal_err = err;
        c->fatal_untold++;
        for (uint32_t gp = 0; gp < p->npp; gp++) {
                insync_ppart_t *pp = &p->pp[gp];
                while (pp->head) {
                        insync_pbatch_t *b = dequeue(pp);
                        batch_done(c, p, b, INSYNC_KERR__PURGE_QUEUE, -1, b->persisted);
                }
                if (pp->acc) {
                        insync_pbatch_t *b = pp->acc;
                        pp->acc = NULL;
                        batch_done(c, p, b, INSYNC_KERR__PURGE_QUEUE, -1, b->persisted);
                }
        }
}

int insync_cluster_fatal_take(insync_cluster_t *c, int *producer, int *err) {
        if (!c->fatal_untold)
                return 0;
        for (int i = 0; i < c->nprod; i++) {
                insync_producer_t *p = c->prod[i];
                if (p->fatal_err && !p->fatal_told) {
                        p->fatal_told = 1;
                        c->fatal_untold--;
                        *producer = i;
                        *err = p->fatal_err;
                        return 1;
                }
        }
        return 0;
}

/* rd_kafka_handle_idempotent_Produce_error: what the idempotent producer
 * makes of an error, before and instead of the common handling.  Sets
 * @p action and @p st; @returns 1 when the batch is done (delivered). */
static int idempotent_error(insync_cluster_t *c, insync_producer_t *p,
                            uint32_t gp, insync_pbatch_t *b, int err,
                            int *action, int *st) {
        insync_ppart_t *pp = &p->pp[gp];
        if (b->pepoch != p->pepoch) {
                /* sent under another epoch (rd_kafka_pid_eq fails): never
                 * retried across producer ids */
                *action = P_FAIL;
                *st = INSYNC_POSSIBLY_PERSISTED;
                return 0;
        }
        switch (err) {
        case INSYNC_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER: {
                int32_t r = b->base_seq - pp->acked_seq;
                if (r > 0) {
                        /* an earlier request failed and left a gap: no
                         * risk of a duplicate; retried uncounted behind
                         * it once the epoch is bumped
                         * (rd_kafka_idemp_drain_epoch_bump) */
                        *action = P_RETRY_UNCOUNTED;
                        *st = INSYNC_NOT_PERSISTED;
                        p->bump_pending = 1;
                } else {
                        /* the oldest unacknowledged request (r == 0:
                         * "sequence desynchronization") or an older one
                         * (r < 0: "rewound sequence number"): the broker's
                         * state and the producer's disagree; fatal */
                        *action = P_FAIL;
                        *st = INSYNC_POSSIBLY_PERSISTED;
                        set_fatal(c, p, err);
                }
                return 0;
        }
        case INSYNC_KERR_DUPLICATE_SEQUENCE_NUMBER:
                /* sent before and written: delivered, without an offset */
                pp->acked_seq = b->base_seq + (int32_t)b->n;
                pp->err_seq = pp->acked_seq;
                batch_done(c, p, b, 0, -1, INSYNC_PERSISTED);
                return 1;
        case INSYNC_KERR_UNKNOWN_PRODUCER_ID:
                if (!b->retries && pp->err_seq == b->base_seq) {
                        /* nothing unaccounted for: bump and retry */
                        *action = P_RETRY_UNCOUNTED;
                        *st = INSYNC_NOT_PERSISTED;
                        p->bump_pending = 1;
                } else {
                        *action = P_FAIL;
                        *st = INSYNC_POSSIBLY_PERSISTED;
                        set_fatal(c, p, err);
                }
                return 0;
        default:
                return 0;
        }
}

/* rd_kafka_handle_Produce_error, for one batch's failed attempt. */
static void batch_error(insync_cluster_t *c, insync_producer_t *p, uint32_t gp,
                        insync_pbatch_t *b, int err) {
        insync_ppart_t *pp = &p->pp[gp];
        int idemp = p->pid >= 0;
        int st = persisted_for(err);
        int action = produce_action(err);
        if (idemp && idempotent_error(c, p, gp, b, err, &action, &st))
                return;
        /* a retry that is not counted cannot duplicate: not persisted */
        if (action == P_RETRY_UNCOUNTED)
                st = INSYNC_NOT_PERSISTED;
        if (st > b->persisted)
                b->persisted = (uint8_t)st;
        int32_t next = b->base_seq + (int32_t)b->n;
        if (idemp) {
                if (action != P_FAIL) {
                        /* a retry: the next answer may be a success
                         * for this one's records if they may have been
                         * written (update_next_ack); drain the partition
                         * first (rd_kafka_idemp_drain_toppar) */
                        if (st == INSYNC_POSSIBLY_PERSISTED)
                                pp->acked_seq = next;
                        pp->wait_drain = 1;
                } else {
                        /* a permanent error leaves a gap: drain every
                         * partition, then bump the epoch
                         * (rd_kafka_idemp_drain_epoch_bump) */
                        p->bump_pending = 1;
                }
                pp->err_seq = next;
        }
        if (p->fatal_err && action != P_FAIL) {
                batch_done(c, p, b, INSYNC_KERR__PURGE_QUEUE, -1, b->persisted);
                return;
        }
        if (leader_error(err))
                need_metadata(c, p);
        int timed_out = c->now >= b->deadline;
        if (action != P_FAIL && !timed_out &&
            (action == P_RETRY_UNCOUNTED || (int64_t)b->retries < p->conf.retries)) {
                if (action == P_RETRY)
                        b->retries++;
                b->not_before = insync_after(c->now, p->conf.retry_backoff_ms);
                insync_trace_add(c, INSYNC_T_RETRY, p->node, gp, err, b->retries);
                enqueue(pp, b);
                pump(c, p, gp);
                return;
        }
        /* A message whose time ran out is failed by the queue scan,
         * which drains and bumps (rd_kafka_broker_toppar_msgq_scan); one
         * out of retries fails with no bump: the next request's
         * OUT_OF_ORDER_SEQUENCE_NUMBER then bumps, or is fatal if this one
         * may have been written (rd_kafka_retry_msgq) */
        if (idemp && timed_out)
                p->bump_pending = 1;
        /* librdkafka reports its own request timeout as a message timeout
         * (rd_kafka_handle_Produce_error's last step) */
        if (err == INSYNC_KERR__TIMED_OUT || (action != P_FAIL && timed_out))
                err = INSYNC_KERR__MSG_TIMED_OUT;
        batch_done(c, p, b, err, -1, b->persisted);
}

/* The leader's process is dead and its machine refused the connection
 * (or, for a connecting acks=0 request, did not answer it).  librdkafka
 * sends nothing on a connection it could not make: no attempt, no retry
 * counted, nothing possibly persisted.  The batch waits for a reconnect or
 * a new leader from the metadata, or times out (scan). */
static void not_sent(insync_cluster_t *c, insync_producer_t *p, uint32_t gp,
                     insync_pbatch_t *b) {
        need_metadata(c, p);
        b->not_before = insync_after(c->now, RECONNECT_MS);
        enqueue(&p->pp[gp], b);
        maybe_bump(c, p);
        pump(c, p, gp);
}

/* rd_kafka_broker_fail: the connection to @p broker is down (a request
 * timed out, or the broker or its OS closed it).  Every request in flight
 * on it fails with @p err (_TIMED_OUT or _TRANSPORT: retried, counted,
 * possibly persisted), in the order they were sent; what still answers on
 * it is ignored; the next request opens a new connection; and the
 * metadata is refreshed ("broker down"). */
static void conn_fail(insync_cluster_t *c, insync_producer_t *p, int broker,
                      int err) {
        uint32_t gen = p->conn[broker]++;
        p->up[broker] = 0;
        p->conn_timeouts[broker] = 0;
        p->meta_wait[broker] = -1;
        /* request ids, oldest first (ids grow with each request); the
         * retries below take new slots, so ids, not slots */
        uint32_t n = 0;
        uint64_t *v = malloc((size_t)(p->nreq ? p->nreq : 1) * sizeof(*v));
        if (!v)
                abort();
        for (uint32_t i = 0; i < p->nreq; i++) {
                const insync_preq_t *q = &p->req[i];
                if (!q->batch || q->broker != broker || q->conn != gen)
                        continue;
                uint32_t at = n++;
                while (at > 0 && v[at - 1] > q->id) {
                        v[at] = v[at - 1];
                        at--;
                }
                v[at] = q->id;
        }
        for (uint32_t i = 0; i < n; i++) {
                uint32_t gp;
                int br;
                insync_pbatch_t *b = req_take(p, v[i], &gp, &br);
                if (!b)
                        continue;
                insync_trace_add(c, INSYNC_T_RESPONSE, p->node, gp, err, -1);
                if (b->connecting)
                        not_sent(c, p, gp, b);
                else
                        batch_error(c, p, gp, b, err);
        }
        free(v);
        need_metadata(c, p);
        maybe_bump(c, p);
        pump_all(c, p);
}

/* rd_kafka_handle_idempotent_Produce_success: an answer for a later
 * request also delivers earlier records that wait for a retry after an
 * error that left them possibly written (rd_kafka_dr_implicit_ack). */
static void implicit_ack(insync_cluster_t *c, insync_producer_t *p,
                         uint32_t gp, const insync_pbatch_t *b) {
        insync_ppart_t *pp = &p->pp[gp];
        while (pp->head && pp->head->pepoch == b->pepoch &&
               pp->head->base_seq < b->base_seq && pp->head->order < b->order) {
                insync_pbatch_t *e = dequeue(pp);
                batch_done(c, p, e, 0, -1, INSYNC_PERSISTED);
        }
        pp->acked_seq = b->base_seq + (int32_t)b->n;
        if (pp->err_seq < pp->acked_seq)
                pp->err_seq = pp->acked_seq;
}

static void topic_update(insync_cluster_t *c, insync_producer_t *p, uint32_t w,
                         int err, int t);

void insync_producer_recv(insync_cluster_t *c, insync_producer_t *p,
                          insync_msg_t *m) {
        if (m->type == INSYNC_M_META_RESP) {
                if (m->from >= 1 && m->from <= c->nbrokers) {
                        p->up[m->from] = 1;
                        p->meta_wait[m->from] = -1;
                }
                /* one answer for every partition the broker knows of */
                const insync_meta_t *v = m->parts;
                for (uint32_t gp = 0; gp < m->nparts && gp < p->npp; gp++) {
                        insync_ppart_t *pp = &p->pp[gp];
                        /* librdkafka 2.0.2 takes the answer as it comes: it
                         * has no leader epoch to compare
                         * (rd_kafka_topic_metadata_update; KIP-320's check
                         * came in a later release) */
                        if (v[gp].leader == pp->leader && v[gp].epoch == pp->epoch)
                                continue;
                        /* a new leader: the idempotent producer first waits
                         * for what the old one has in flight
                         * (rd_kafka_broker_op_serve, PARTITION_JOIN) */
                        if (p->pid >= 0 && pp->leader >= 1 && v[gp].leader != pp->leader)
                                pp->wait_drain = 1;
                        pp->epoch = v[gp].epoch;
                        pp->leader = v[gp].leader;
                        pump(c, p, gp);
                }
                return;
        }
        if (m->type == INSYNC_M_TOPIC_RESP) {
                topic_update(c, p, m->gp, m->err, m->leader);
                return;
        }
        if (m->type != INSYNC_M_PRODUCE_RESP)
                return;
        if (m->fin) {
                /* the broker (or its OS) closed the connection */
                if (m->conn == p->conn[m->from])
                        conn_fail(c, p, m->from, INSYNC_KERR__TRANSPORT);
                return;
        }
        if (m->from >= 1 && m->from <= c->nbrokers) {
                p->down[m->from] = (uint8_t)m->refused;
                p->up[m->from] = (uint8_t)!m->refused;
        }
        uint32_t gp;
        int broker;
        insync_pbatch_t *b = req_take(p, m->req, &gp, &broker);
        if (!b) {
                /* answered after its timeout; or the refusal of an acks=0
                 * request done when written, which leaves the leader to
                 * be looked up again */
                if (m->refused)
                        need_metadata(c, p);
                return;
        }
        if (m->connect) {
                /* connected again: the acks=0 request is written, done */
                batch_done(c, p, b, 0, -1, INSYNC_PERSISTED);
                pump_all(c, p);
                return;
        }
        if (m->refused) {
                insync_trace_add(c, INSYNC_T_RESPONSE, p->node, gp, m->err, -1);
                not_sent(c, p, gp, b);
                return;
        }
        insync_trace_add(c, INSYNC_T_RESPONSE, p->node, gp, m->err, m->offset);
        if (m->err == 0) {
                if (p->pid >= 0)
                        implicit_ack(c, p, gp, b);
                batch_done(c, p, b, 0, m->offset, INSYNC_PERSISTED);
        } else {
                batch_error(c, p, gp, b, m->err);
        }
        maybe_bump(c, p);
        pump(c, p, gp);
}

/* Fails queued (not in flight) batches whose message timeout passed. */
static int topics_scan(insync_cluster_t *c, insync_producer_t *p);

static void scan(insync_cluster_t *c, insync_producer_t *p) {
        p->scan_armed = 0;
        int open = p->npt ? topics_scan(c, p) : 0;
        for (uint32_t gp = 0; gp < p->npp; gp++) {
                insync_ppart_t *pp = &p->pp[gp];
                insync_pbatch_t **at = &pp->head, *prev = NULL;
                while (*at) {
                        insync_pbatch_t *b = *at;
                        if (b->deadline <= c->now) {
                                *at = b->next;
                                if (b == pp->tail)
                                        pp->tail = prev;
                                if (p->pid >= 0)
                                        p->bump_pending = 1;
                                batch_done(c, p, b, INSYNC_KERR__MSG_TIMED_OUT,
                                           -1, b->persisted);
                        } else {
                                prev = b;
                                at = &b->next;
                        }
                }
                if (pp->acc && pp->acc->deadline <= c->now) {
                        insync_pbatch_t *b = pp->acc;
                        pp->acc = NULL;
                        batch_done(c, p, b, INSYNC_KERR__MSG_TIMED_OUT, -1,
                                   b->persisted);
                }
        }
        maybe_bump(c, p);
        if (p->queued || open)
                arm_scan(c, p);
}

void insync_producer_timer(insync_cluster_t *c, int type, uint32_t a,
                           uint64_t b) {
        insync_producer_t *p = prod(c, a);
        if (!p)
                return;
        switch (type) {
        case INSYNC_EV_LINGER: {
                uint32_t gp = (uint32_t)(b >> 32);
                if (gp < p->npp && p->pp[gp].acc &&
                    p->pp[gp].linger_gen == (uint32_t)b)
                        close_batch(c, p, gp);
                break;
        }
        case INSYNC_EV_RETRY:
                if (b < p->npp) {
                        p->pp[b].retry_armed = 0;
                        pump(c, p, (uint32_t)b);
                }
                break;
        case INSYNC_EV_REQ_TIMEOUT: {
                uint32_t slot = (uint32_t)(b & 0xffffff);
                if (slot >= p->nreq || p->req[slot].id != b || !p->req[slot].batch)
                        break;
                insync_preq_t *q = &p->req[slot];
                int broker = q->broker;
                insync_trace_add(c, INSYNC_T_TIMEOUT, p->node, q->pp, broker, 0);
                if (q->batch->connecting) {
                        uint32_t gp;
                        insync_pbatch_t *bt = req_take(p, b, &gp, &broker);
                        p->down[broker] = 1;
                        not_sent(c, p, gp, bt);
                        break;
                }
                /* rd_kafka_broker_timeout_scan: the request fails with
                 * _TIMED_OUT; socket.max.fails (1) of them on one
                 * connection take it down, and all in flight with it
                 * (0: never) */
                if (p->conf.socket_max_fails > 0 &&
                    ++p->conn_timeouts[broker] >= p->conf.socket_max_fails) {
                        conn_fail(c, p, broker, INSYNC_KERR__TIMED_OUT);
                        break;
                }
                uint32_t gp;
                insync_pbatch_t *bt = req_take(p, b, &gp, &broker);
                batch_error(c, p, gp, bt, INSYNC_KERR__TIMED_OUT);
                maybe_bump(c, p);
                break;
        }
        case INSYNC_EV_SCAN:
                scan(c, p);
                break;
        case INSYNC_EV_META: {
                if (b == 1) {
                        /* topic.metadata.refresh.interval.ms: the periodic
                         * refresh that also moves a producer off a leader
                         * that lost its leadership without telling it. */
                        p->meta_pending = 0;
                        need_metadata(c, p);
                        insync_sim_at(c, insync_after(c->now, p->conf.metadata_refresh_ms),
                                      INSYNC_EV_META, (uint32_t)p->index, 1, NULL);
                        break;
                }
                p->meta_pending = 0;
                int again = 0;
                for (uint32_t gp = 0; gp < p->npp; gp++)
                        if ((p->pp[gp].head || p->pp[gp].acc) && p->pp[gp].leader < 1)
                                again = 1;
                if (again)
                        need_metadata(c, p);
                pump_all(c, p);
                break;
        }
        default:
                break;
        }
}

int insync_producer_grow(insync_cluster_t *c, insync_producer_t *p) {
        if (p->npp >= c->ngp)
                return 0;
        insync_ppart_t *pp = realloc(p->pp, c->ngp * sizeof(*pp));
        if (!pp)
                return -1;
        for (uint32_t i = p->npp; i < c->ngp; i++) {
                memset(&pp[i], 0, sizeof(pp[i]));
                pp[i].leader = -1;
                pp[i].epoch = -1;
                pp[i].sticky = -1;
        }
        p->pp = pp;
        p->npp = c->ngp;
        return 0;
}

/* The metadata says partition @p x has no leader (rd_kafka_topic_partition_
 * available false).  Before any metadata librdkafka partitions nothing yet
 * (the records wait unassigned); the model partitions at once, taking every
 * partition as available then. */
static int leaderless(const insync_producer_t *p, const insync_topic_t *t, int x) {
        const insync_ppart_t *pp = &p->pp[t->gp0 + (uint32_t)x];
        return pp->epoch >= 0 && pp->leader < 1;
}

/* rd_kafka_msg_partitioner_random: a second draw when the first lands on a
 * leaderless partition. */
static int random_partition(insync_cluster_t *c, const insync_producer_t *p,
                            const insync_topic_t *t) {
        uint64_t n = (uint64_t)t->partitions;
        int x = (int)(insync_sim_rand(c) % n);
        if (leaderless(p, t, x))
                x = (int)(insync_sim_rand(c) % n);
        return x;
}

/* rd_kafka_msg_partitioner: the random partitioner draws for each record;
 * a record without a key (or with an empty one, under consistent_random)
 * goes to the sticky partition, drawn again every
 * sticky.partitioning.linger.ms or once it has no known leader
 * (rd_kafka_msg_sticky_partition); a key goes by its CRC-32. */
static int choose_partition(insync_cluster_t *c, insync_producer_t *p,
                            const insync_topic_t *t, const char *key,
                            size_t klen, int has_key) {
        int part = p->conf.partitioner;
        if (part == INSYNC_PART_RANDOM)
                return random_partition(c, p, t);
        if (has_key && (klen > 0 || part == INSYNC_PART_CONSISTENT))
                return (int)(insync_crc32(key, klen) % (uint32_t)t->partitions);
        insync_ppart_t *s = &p->pp[t->gp0];
        if (s->sticky < 0 || c->now >= s->sticky_until || p->conf.sticky_ms <= 0 ||
            leaderless(p, t, s->sticky)) {
                s->sticky = random_partition(c, p, t);
                s->sticky_until = insync_after(c->now, p->conf.sticky_ms);
        }
        return s->sticky;
}

/* ------------------------------------------------- topics not yet known
 *
 * librdkafka 2.0.2 (rdkafka_topic.c, rdkafka_msg.c) for a topic the
 * producer sends to before the cluster has it:
 * - rd_kafka_topic_new creates it UNKNOWN and asks for its metadata; the
 *   partitioner (rd_kafka_msg_partitioner) keeps its records unassigned
 *   in the UA partition meanwhile.
 * - A Metadata answer "UNKNOWN_TOPIC_OR_PART" marks it non-existent
 *   (rd_kafka_topic_metadata_update, rd_kafka_topic_set_notexists) only
 *   once topic.metadata.propagation.max.ms has passed since it was
 *   created; then the waiting records fail with UNKNOWN_TOPIC_OR_PART
 *   (rd_kafka_topic_assign_uas with the answer's error), and every later
 *   send fails at once with _UNKNOWN_TOPIC (NOTEXISTS in the partitioner).
 * - An answer that has the topic makes it EXISTS: the waiting records are
 *   partitioned (an asked-for partition it lacks fails with
 *   _UNKNOWN_PARTITION) and sent as any.
 * - rd_kafka_topic_scan_all, every second: asks again for every topic
 *   UNKNOWN or without partitions (NOTEXISTS too, so a topic created
 *   later is found within a second), and fails the unassigned records
 *   whose message.timeout.ms passed (_MSG_TIMED_OUT).
 * - A Metadata request goes to one broker (the model takes them in turn),
 *   which answers from its own metadata: a broker that has not yet
 *   received the topic's records from the controller answers that it
 *   does not exist (the propagation that topic.metadata.propagation.max.ms
 *   allows for).
 * - With auto.create.topics.enable on the brokers (Kafka's default) and
 *   allow.auto.create.topics on the producer (librdkafka's default for a
 *   producer), the first query has the topic created (topic.c) and is
 *   answered LEADER_NOT_AVAILABLE; the next scan finds it. */

static int pt_grow(insync_cluster_t *c, insync_producer_t *p) {
        if (p->npt >= (uint32_t)c->nwanted)
                return 0;
        insync_ptopic_t *v = realloc(p->pt, (size_t)c->nwanted * sizeof(*v));
        if (!v)
                return -1;
        memset(v + p->npt, 0, ((size_t)c->nwanted - p->npt) * sizeof(*v));
        p->pt = v;
        p->npt = (uint32_t)c->nwanted;
        return 0;
}

static void ua_add(insync_producer_t *p, insync_ptopic_t *pt, uint32_t idx,
                   int64_t now) {
        (void)p;
        if (pt->n == pt->cap) {
                uint32_t cap = pt->cap ? pt->cap * 2 : 16;
                uint32_t *ids = realloc(pt->ids, cap * sizeof(*ids));
                if (!ids)
                        abort();
                pt->ids = ids;
                int64_t *sent = realloc(pt->sent, cap * sizeof(*sent));
                if (!sent)
                        abort();
                pt->sent = sent;
                pt->cap = cap;
        }
        pt->ids[pt->n] = idx;
        pt->sent[pt->n++] = now;
}

static void topic_query(insync_cluster_t *c, insync_producer_t *p, int w) {
        int b = 1 + p->topic_rr++ % c->nbrokers;
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_TOPIC_REQ, p->node, b);
        m->gp = (uint32_t)w;
        m->leader = p->conf.allow_auto_create; /* AllowAutoTopicCreation */
        insync_net_send(c, m);
}

/* Completes a waiting record with @p err. */
static void ua_fail(insync_cluster_t *c, insync_producer_t *p, uint32_t idx,
                    int err) {
        const insync_rec_t *e = &c->recs.rec[idx];
        insync_complete(c, idx, err, -1, INSYNC_NOT_PERSISTED, 0);
        p->queued--;
        p->queued_bytes -= e->vlen == INSYNC_NOLEN ? 0 : e->vlen;
}

static void place(insync_cluster_t *c, insync_producer_t *p,
                  const insync_topic_t *t, int partition, uint32_t idx,
                  const char *key, size_t klen, int has_key, uint64_t size,
                  uint64_t vsize, int64_t sent);

/* The answer of broker about wanted topic @p w: @p t its index, or
 * @p err UNKNOWN_TOPIC_OR_PART, or LEADER_NOT_AVAILABLE (the broker has
 * just had it created: it stays UNKNOWN, its records waiting for the next
 * scan, as librdkafka 2.0.2 was seen to do against Kafka 4.4.0). */
static void topic_update(insync_cluster_t *c, insync_producer_t *p, uint32_t w,
                         int err, int t) {
        if (w >= p->npt)
                return;
        insync_ptopic_t *pt = &p->pt[w];
        if (pt->state == INSYNC_TOPIC_NONE || pt->state == INSYNC_TOPIC_EXISTS)
                return;
        if (err == INSYNC_KERR_LEADER_NOT_AVAILABLE)
                return;
        if (err) {
                /* rd_kafka_topic_set_notexists */
                if (pt->state == INSYNC_TOPIC_NOTEXISTS ||
                    pt->ts_create + p->conf.propagation_max_ms - c->now > 0)
                        return;
                pt->state = INSYNC_TOPIC_NOTEXISTS;
                for (uint32_t i = 0; i < pt->n; i++)
                        ua_fail(c, p, pt->ids[i], err);
                pt->n = 0;
                return;
        }
        pt->state = INSYNC_TOPIC_EXISTS;
        const insync_topic_t *tp = &c->topics[t];
        for (uint32_t i = 0; i < pt->n; i++) {
                uint32_t idx = pt->ids[i];
                insync_rec_t *e = &c->recs.rec[idx];
                int part = e->part == INSYNC_PART_NONE ? -1 : e->part;
                if (part >= tp->partitions) {
                        ua_fail(c, p, idx, INSYNC_KERR__UNKNOWN_PARTITION);
                        continue;
                }
                int has_key = e->klen != INSYNC_NOLEN;
                size_t klen = has_key ? e->klen : 0;
                uint64_t vsize = e->vlen == INSYNC_NOLEN ? 0 : e->vlen;
                place(c, p, tp, part, idx, insync_records_key(&c->recs, idx), klen,
                      has_key, klen + vsize, vsize, pt->sent[i]);
        }
        pt->n = 0;
}

/* rd_kafka_topic_scan_all's part for these topics; @returns 1 while one
 * is still to be found. */
static int topics_scan(insync_cluster_t *c, insync_producer_t *p) {
        int open = 0;
        for (uint32_t w = 0; w < p->npt; w++) {
                insync_ptopic_t *pt = &p->pt[w];
                if (pt->state != INSYNC_TOPIC_UNKNOWN && pt->state != INSYNC_TOPIC_NOTEXISTS)
                        continue;
                open = 1;
                uint32_t keep = 0;
                for (uint32_t i = 0; i < pt->n; i++) {
                        if (p->conf.message_timeout_ms > 0 &&
                            insync_after(pt->sent[i], p->conf.message_timeout_ms) <= c->now) {
                                ua_fail(c, p, pt->ids[i], INSYNC_KERR__MSG_TIMED_OUT);
                        } else {
                                pt->sent[keep] = pt->sent[i];
                                pt->ids[keep++] = pt->ids[i];
                        }
                }
                pt->n = keep;
                topic_query(c, p, (int)w);
        }
        return open;
}

/* The record @p idx goes to its partition's open batch (the partitioner
 * chooses when @p partition < 0). */
static void place(insync_cluster_t *c, insync_producer_t *p,
                  const insync_topic_t *t, int partition, uint32_t idx,
                  const char *key, size_t klen, int has_key, uint64_t size,
                  uint64_t vsize, int64_t sent) {
        insync_rec_t *e = &c->recs.rec[idx];
        if (partition < 0)
                partition = choose_partition(c, p, t, key, klen, has_key);
        e->topic = (uint8_t)(t - c->topics);
        e->part = (uint16_t)partition;
        uint32_t gp = t->gp0 + (uint32_t)partition;
        insync_ppart_t *pp = &p->pp[gp];
        insync_pbatch_t *b = pp->acc;
        if (!b) {
                b = batch_new(p);
                b->order = ++p->order;
                b->deadline = p->conf.message_timeout_ms > 0
                                      ? insync_after(sent, p->conf.message_timeout_ms)
                                      : INSYNC_NEVER;
                b->pepoch = p->pepoch;
                pp->acc = b;
                pp->linger_gen++;
                insync_sim_at(c, insync_after(c->now, p->conf.linger_ms), INSYNC_EV_LINGER,
                              (uint32_t)p->index,
                              ((uint64_t)gp << 32) | pp->linger_gen, NULL);
        }
        if (b->n == b->cap) {
                uint32_t cap = b->cap ? b->cap * 2 : 16;
                uint32_t *ids = realloc(b->ids, cap * sizeof(*ids));
                if (!ids)
                        abort();
                b->ids = ids;
                b->cap = cap;
        }
        b->ids[b->n++] = idx;
        b->bytes += size;
        b->vbytes += vsize;
        if ((int64_t)b->n >= p->conf.batch_num_messages ||
            (int64_t)b->bytes >= p->conf.batch_size)
                close_batch(c, p, gp);
        arm_scan(c, p);
}

/* A new producer: its first metadata refresh timer is armed here, as all
 * its timers are. */
int insync_cluster_producer(insync_cluster_t *c, const insync_pconf_t *conf) {
        if (c->nnodes >= INSYNC_MAX_NODES || c->nprod >= UINT8_MAX)
                return -1;
        insync_producer_t **v = realloc(c->prod, (size_t)(c->nprod + 1) * sizeof(*v));
        if (!v)
                return -1;
        c->prod = v;
        insync_producer_t *p = calloc(1, sizeof(*p));
        if (!p)
                return -1;
        p->conf = *conf;
        insync_pconf_bound(&p->conf);
        conf = &p->conf;
        p->index = c->nprod;
        p->node = c->nnodes;
        p->pid = conf->idempotence ? 1000 + p->index : -1;
        for (int b = 0; b <= INSYNC_MAX_BROKERS; b++) {
                p->conn[b] = 1; /* 0 marks a message on no connection */
                p->meta_wait[b] = -1;
        }
        if (insync_producer_grow(c, p)) {
                free(p);
                return -1;
        }
        c->prod[c->nprod++] = p;
        c->nnodes++;
        if (conf->metadata_refresh_ms > 0)
                insync_sim_at(c, insync_after(c->now, conf->metadata_refresh_ms), INSYNC_EV_META,
                              (uint32_t)p->index, 1, NULL);
        return p->index;
}

int insync_cluster_send(insync_cluster_t *c, int pi, int topic, int partition,
                        const char *key, size_t klen, int has_key,
                        const char *value, size_t vlen, int has_value,
                        size_t hdrs_size, const int64_t *timestamp, uint32_t *id) {
        insync_producer_t *p = c->prod[pi];
        uint64_t size = (has_key ? klen : 0) + (has_value ? vlen : 0);
        /* rd_kafka_curr_msgs_add counts the value's bytes only */
        uint64_t vsize = has_value ? vlen : 0;
        /* As rd_kafka_producev and rd_kafka_msg_new0 check: a fatal
         * error first, then the size a record may take on the wire (the v2
         * record's most overhead, key, value, headers) against
         * message.max.bytes, then the queue's limits */
        int refused = p->fatal_err;
        if (!refused && MSG_V2_MAX_OVERHEAD + size + hdrs_size >
                                (uint64_t)p->conf.message_max_bytes)
                refused = INSYNC_KERR_MSG_SIZE_TOO_LARGE;
        if (!refused &&
            (p->queued >= (uint64_t)p->conf.queue_max_messages ||
             p->queued_bytes + vsize > (uint64_t)p->conf.queue_max_kbytes * 1024))
                return INSYNC_KERR__QUEUE_FULL;
        if (insync_producer_grow(c, p) || pt_grow(c, p))
                return -1;
        uint32_t idx;
        if (insync_records_add(&c->recs, has_key ? key : NULL, klen,
                               has_value ? value : NULL, vlen, timestamp, &idx))
                return -1;
        insync_rec_t *e = &c->recs.rec[idx];
        c->recs.prod[idx] = (uint8_t)p->index;
        e->enq = (uint32_t)c->now;
        e->state = (uint8_t)(INSYNC_REC_PENDING | ((p->conf.acks + 1) << 4));
        *id = idx + 1;
        c->outstanding++;
        p->queued++;
        p->queued_bytes += vsize;
        e->topic = topic < 0 ? UINT8_MAX : (uint8_t)topic;
        if (partition >= 0 && partition < INSYNC_PART_NONE)
                e->part = (uint16_t)partition; /* asked for, maybe unknown */
        int w = topic <= -2 ? -2 - topic : topic >= 0 ? c->topics[topic].wanted : -1;
        if (!refused && w >= 0 && w < (int)p->npt &&
            (topic < 0 || p->pt[w].state != INSYNC_TOPIC_EXISTS)) {
                /* rd_kafka_msg_partitioner by the topic's state: UNKNOWN
                 * waits in the UA partition, NOTEXISTS fails at once */
                insync_ptopic_t *pt = &p->pt[w];
                if (pt->state == INSYNC_TOPIC_NOTEXISTS) {
                        refused = INSYNC_KERR__UNKNOWN_TOPIC;
                } else {
                        ua_add(p, pt, idx, c->now);
                        if (pt->state == INSYNC_TOPIC_NONE) {
                                /* rd_kafka_topic_new: created UNKNOWN, its
                                 * metadata asked for at once */
                                pt->state = INSYNC_TOPIC_UNKNOWN;
                                pt->ts_create = c->now;
                                topic_query(c, p, w);
                        }
                        arm_scan(c, p);
                        return 0;
                }
        }
        if (!refused && topic < 0)
                refused = INSYNC_KERR__UNKNOWN_TOPIC;
        if (!refused && partition >= c->topics[topic].partitions)
                refused = INSYNC_KERR__UNKNOWN_PARTITION;
        if (refused) {
                insync_complete(c, idx, refused, -1, INSYNC_NOT_PERSISTED,
                                refused == p->fatal_err);
                p->queued--;
                p->queued_bytes -= vsize;
                return 0;
        }
        const insync_topic_t *t = &c->topics[topic];
        place(c, p, t, partition, idx, key, klen, has_key, size, vsize, c->now);
        return 0;
}

#if BATCH_FREE
/* The spares go with the module (lua_close unloads it): nothing is left
 * for a leak checker to find. */
__attribute__((destructor)) static void spare_free(void) {
        destroy_list(atomic_exchange(&spare_batches, NULL));
}
#endif

void insync_producer_free(insync_producer_t *p) {
        for (uint32_t gp = 0; gp < p->npp; gp++) {
                insync_ppart_t *pp = &p->pp[gp];
                if (pp->acc)
                        batch_destroy(pp->acc);
                for (insync_pbatch_t *b = pp->head, *n; b; b = n) {
                        n = b->next;
                        batch_destroy(b);
                }
        }
        for (uint32_t i = 0; i < p->nreq; i++)
                if (p->req[i].batch)
                        batch_destroy(p->req[i].batch);
#if BATCH_FREE
        if (p->bfree) {
                p->bfree->n = p->nbfree;
                destroy_list(atomic_exchange(&spare_batches, p->bfree));
                p->bfree = NULL;
        }
#endif
        destroy_list(p->bfree);
        for (uint32_t w = 0; w < p->npt; w++) {
                free(p->pt[w].ids);
                free(p->pt[w].sent);
        }
        free(p->pt);
        free(p->pp);
        free(p->req);
        free(p->reqfree);
        free(p);
}
