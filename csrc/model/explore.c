/**
 * @file explore.c
 * @brief One run of insync.explore, in C: the sends at their virtual times,
 * the fault schedule with its skip rules, the final recovery and settling,
 * the reports tallied as they come (counts per error, a latency histogram)
 * and the audit counted.  No Lua callback per send, no Lua table per
 * report or per look at a broker: a search runs thousands of these.
 *
 * Every step goes through the model's public face (cluster.h), the calls
 * the replay script lua/insync/explore.lua writes make, in the same order
 * and at the same virtual times, and reports are taken off the queue when
 * the binding's run / run_for would hand them out (a report's latency is
 * measured when it is taken): the run is the one the script replays.
 * spec/model/explore_runner_spec.lua holds the two side by side.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

/* An entry of the run's timeline: a fault's start or end. */
typedef struct xop_s {
        int64_t t;
        int o;   /* at one moment: 1 ends, 2 starts (sends come after) */
        int fi;  /* the fault's index */
} xop_t;

/* The run's state. */
typedef struct xrun_s {
        insync_cluster_t *c;
        insync_xcase_t *x;
        insync_xresult_t *r;
        int nb;
        int down[64];   /* broker -> 1 + index of the fault that took it, 0 */
        int active[64]; /* per fault: 1 while it holds */
        char *err;
        size_t errlen;
        int nomem;
} xrun_t;

#define XMAX_FAULTS 64

static int op_cmp(const void *a, const void *b) {
        const xop_t *p = a, *q = b;
        if (p->t != q->t)
                return p->t < q->t ? -1 : 1;
        if (p->o != q->o)
                return p->o < q->o ? -1 : 1;
        return p->fi < q->fi ? -1 : p->fi > q->fi;
}

/* Adds one to @p value's count in a list; @p sorted keeps it sorted (a
 * binary search), else the list is searched from its end. */
static int count_add(insync_xcount_t **v, size_t *n, size_t *cap,
                     int64_t value, int sorted) {
        size_t lo = 0, hi = *n;
        if (sorted) {
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        if ((*v)[mid].value < value)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                if (lo < *n && (*v)[lo].value == value) {
                        (*v)[lo].n++;
                        return 0;
                }
        } else {
                for (size_t i = 0; i < *n; i++)
                        if ((*v)[i].value == value) {
                                (*v)[i].n++;
                                return 0;
                        }
                lo = *n;
        }
        if (*n == *cap) {
                size_t ncap = *cap ? *cap * 2 : 16;
                insync_xcount_t *nv = realloc(*v, ncap * sizeof(*nv));
                if (!nv)
                        return -1;
                *v = nv;
                *cap = ncap;
        }
        memmove(*v + lo + 1, *v + lo, (*n - lo) * sizeof(**v));
        (*v)[lo].value = value;
        (*v)[lo].n = 1;
        (*n)++;
        return 0;
}

/* Takes every queued report (and fatal error, which nobody is told of:
 * the search's producer has no on_error), as the binding's delivery does
 * between events. */
static void drain(xrun_t *s) {
        int producer, code;
        insync_report_t rep;
        while (insync_cluster_fatal_take(s->c, &producer, &code))
                ;
        while (insync_cluster_report_take(s->c, &rep)) {
                insync_xresult_t *r = s->r;
                r->taken++;
                if (rep.err) {
                        r->failed++;
                        if (count_add(&r->errors, &r->nerrors, &r->caperrors,
                                      rep.err, 0))
                                s->nomem = 1;
                } else {
                        r->acked++;
                        if (count_add(&r->latency, &r->nlatency, &r->caplatency,
                                      rep.latency_ms, 1))
                                s->nomem = 1;
                }
        }
}

/* c:run_for(ms): every event due until now + ms. */
static void run_for(xrun_t *s, int64_t ms) {
        int64_t until = insync_cluster_now(s->c) + ms;
        do
                drain(s);
        while (insync_cluster_step(s->c, until));
        drain(s);
}

/* c:run(ms): until every send is reported, ms at most. */
static void run_settle(xrun_t *s, int64_t ms) {
        int64_t until = insync_cluster_now(s->c) + ms;
        for (;;) {
                drain(s);
                if (insync_cluster_outstanding(s->c) == 0)
                        return;
                if (!insync_cluster_step(s->c, until)) {
                        drain(s);
                        return;
                }
        }
}

/* Out of service: down, hung, shutting down or fenced. */
static int broker_out(const insync_cluster_t *c, int b) {
        int alive, fenced, powered, shutting, paused;
        insync_cluster_broker_info(c, b, &alive, &fenced, &powered, &shutting,
                                   &paused);
        return !alive || fenced || paused || shutting;
}

static int shutting_down(const insync_cluster_t *c, int b) {
        int alive, fenced, powered, shutting, paused;
        insync_cluster_broker_info(c, b, &alive, &fenced, &powered, &shutting,
                                   &paused);
        return shutting;
}

/* The brokers a fault on @p b takes out of service, into @p hit. */
static int affected(int nb, int kind, int b, int *hit) {
        int n = 0;
        if (kind == INSYNC_XF_PARTITION_MAJORITY) {
                for (int x = 1; x <= nb; x++)
                        if (x != b)
                                hit[n++] = x;
        } else if (kind != INSYNC_XF_DROP) {
                hit[n++] = b;
        }
        return n;
}

static int is_net(int kind) {
        return kind >= INSYNC_XF_ISOLATE;
}

/* Cuts what a network fault on @p b cuts. */
static void apply_net(xrun_t *s, int kind, int b) {
        insync_cluster_t *c = s->c;
        switch (kind) {
        case INSYNC_XF_ISOLATE:
                insync_cluster_isolate(c, b);
                break;
        case INSYNC_XF_PARTITION:
                for (int x = 1; x <= s->nb; x++)
                        if (x != b)
                                insync_cluster_cut(c, b, x, 1);
                insync_cluster_cut(c, b, 0, 1);
                break;
        case INSYNC_XF_PARTITION_MAJORITY:
                for (int x = 1; x <= s->nb; x++)
                        if (x != b) {
                                insync_cluster_cut(c, x, b, 1);
                                insync_cluster_cut(c, x, 0, 1);
                        }
                break;
        case INSYNC_XF_DROP:
                insync_cluster_cut(c, b,
                                   insync_cluster_producer_node(c, s->x->producer),
                                   0);
                break;
        default:
                break;
        }
}

/* A model call's failure, as the Lua method raises it: "what: message". */
static int fail(xrun_t *s, const char *what, const char *msg) {
        snprintf(s->err, s->errlen, "%s: %s", what, msg);
        return -1;
}

/* The start of fault @p fi. */
static int fault_start(xrun_t *s, int fi) {
        insync_xfault_t *f = &s->x->faults[fi];
        int b = f->broker;
        char msg[128];
        f->hit = 0;
        if (b == 0) {
                insync_pinfo_t pi;
                insync_cluster_partition_info(s->c, s->x->topics[0], 0, &pi);
                b = pi.leader >= 1 ? pi.leader : 0;
        }
        if (b == 0) {
                s->r->skipped++;
                return 0;
        }
        int hit[64], nhit = affected(s->nb, f->kind, b, hit);
        int out[64] = {0}, nout = 0;
        for (int x = 1; x <= s->nb; x++)
                if (s->down[x] || broker_out(s->c, x)) {
                        out[x] = 1;
                        nout++;
                }
        int ok = f->kind == INSYNC_XF_DROP || !out[b];
        for (int i = 0; i < nhit; i++)
                if (!out[hit[i]])
                        nout++;
        if (f->kind != INSYNC_XF_DROP && nout > s->x->max_down)
                ok = 0;
        if (!ok) {
                s->r->skipped++;
                return 0;
        }
        for (int i = 0; i < nhit; i++)
                s->down[hit[i]] = fi + 1;
        s->active[fi] = 1;
        f->hit = b;
        switch (f->kind) {
        case INSYNC_XF_KILL:
        case INSYNC_XF_POWER_LOSS:
                if (insync_cluster_crash(s->c, b, f->kind == INSYNC_XF_POWER_LOSS,
                                         msg, sizeof(msg)))
                        return fail(s, "crash", msg);
                break;
        case INSYNC_XF_SHUTDOWN:
                if (insync_cluster_shutdown(s->c, b, msg, sizeof(msg)))
                        return fail(s, "shutdown", msg);
                break;
        case INSYNC_XF_PAUSE:
                if (insync_cluster_pause(s->c, b, msg, sizeof(msg)))
                        return fail(s, "pause", msg);
                break;
        default:
                apply_net(s, f->kind, b);
                break;
        }
        return 0;
}

/* The end of fault @p fi (when it started). */
static int fault_end(xrun_t *s, int fi) {
        insync_xfault_t *f = &s->x->faults[fi];
        int b = f->hit, done = 1;
        char msg[128];
        if (!s->active[fi])
                return 0;
        switch (f->kind) {
        case INSYNC_XF_KILL:
        case INSYNC_XF_POWER_LOSS:
                if (insync_cluster_restart(s->c, b, msg, sizeof(msg)))
                        return fail(s, "restart", msg);
                break;
        case INSYNC_XF_SHUTDOWN:
                /* still shutting down: the final recovery restarts it */
                if (shutting_down(s->c, b))
                        done = 0;
                else if (insync_cluster_restart(s->c, b, msg, sizeof(msg)))
                        return fail(s, "restart", msg);
                break;
        case INSYNC_XF_PAUSE:
                if (insync_cluster_resume(s->c, b, msg, sizeof(msg)))
                        return fail(s, "resume", msg);
                break;
        default:
                s->active[fi] = 0;
                insync_cluster_heal(s->c);
                for (int i = 0; i < s->x->nfaults; i++)
                        if (s->active[i] && is_net(s->x->faults[i].kind))
                                apply_net(s, s->x->faults[i].kind,
                                          s->x->faults[i].hit);
                break;
        }
        if (done) {
                int hit[64], nhit = affected(s->nb, f->kind, b, hit);
                s->active[fi] = 0;
                for (int i = 0; i < nhit; i++)
                        s->down[hit[i]] = 0;
        }
        return 0;
}

/* Writes @p c and the decimal digits of @p v (>= 0) into @p buf (room for
 * 21 bytes); @returns the length.  What snprintf "%c%lld" writes, without
 * its cost on a path taken for every send. */
static int tag(char *buf, char c, int64_t v) {
        char tmp[20];
        int n = 0, len = 0;
        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v > 0);
        buf[len++] = c;
        while (n > 0)
                buf[len++] = tmp[--n];
        return len;
}

/* Sends record @p i. */
static int send_one(xrun_t *s, int64_t i) {
        const insync_xcase_t *x = s->x;
        char key[24], value[24];
        int klen = 0, vlen;
        uint32_t id;
        if (x->keys > 0)
                klen = tag(key, 'k', i % x->keys);
        vlen = tag(value, 'r', i);
        int rc = insync_cluster_send(s->c, x->producer,
                                     x->topics[(i - 1) % x->ntopics], -1, key,
                                     (size_t)klen, x->keys > 0, value,
                                     (size_t)vlen, 1, 0, NULL, &id);
        if (rc == -1)
                return fail(s, "send", "out of memory");
        if (rc == 0) { /* else refused at once, as p:send's nil, err */
                if (!s->r->first_id)
                        s->r->first_id = id;
                s->r->sent++;
        }
        return 0;
}

/* Heal, resume, let the controlled shutdowns under way finish, restart. */
static int recover(xrun_t *s) {
        char msg[128];
        insync_cluster_heal(s->c);
        for (int b = 1; b <= s->nb; b++) {
                int alive, fenced, powered, shutting, paused;
                insync_cluster_broker_info(s->c, b, &alive, &fenced, &powered,
                                           &shutting, &paused);
                if (paused) {
                        if (insync_cluster_resume(s->c, b, msg, sizeof(msg)))
                                return fail(s, "resume", msg);
                        insync_cluster_broker_info(s->c, b, &alive, &fenced,
                                                   &powered, &shutting, &paused);
                }
                while (shutting) {
                        run_for(s, 100);
                        insync_cluster_broker_info(s->c, b, &alive, &fenced,
                                                   &powered, &shutting, &paused);
                }
                if (!alive && insync_cluster_restart(s->c, b, msg, sizeof(msg)))
                        return fail(s, "restart", msg);
        }
        return 0;
}

static int popcount64(uint64_t v) {
        int n = 0;
        for (; v; v &= v - 1)
                n++;
        return n;
}

/* Led, its ISR whole, its HW at the leader's log end: every partition of
 * the case's topics. */
static int calm(const xrun_t *s) {
        for (int t = 0; t < s->x->ntopics; t++) {
                int tp = s->x->topics[t];
                int np = insync_cluster_topic_partitions(s->c, tp);
                for (int p = 0; p < np; p++) {
                        insync_pinfo_t pi;
                        insync_rinfo_t ri;
                        insync_cluster_partition_info(s->c, tp, p, &pi);
                        if (pi.leader < 1 ||
                            popcount64(pi.isr & ~(uint64_t)1) != pi.rf ||
                            !insync_cluster_replica_info(s->c, tp, p, pi.leader, &ri) ||
                            pi.hw != ri.leo)
                                return 0;
                }
        }
        return 1;
}

/* Every report, then up to 30 virtual seconds until each partition is
 * calm. */
static void settle(xrun_t *s) {
        run_settle(s, 3600000);
        for (int i = 0; i < 30; i++) {
                if (calm(s))
                        return;
                run_for(s, 1000);
        }
}

static int64_t send_time(const insync_xcase_t *x, int64_t i) {
        return (int64_t)floor((double)((i - 1) * 1000) / x->rate);
}

int insync_explore_run(insync_cluster_t *c, insync_xcase_t *x,
                       insync_xresult_t *r, char *err, size_t errlen) {
        memset(r, 0, sizeof(*r));
        xrun_t s;
        memset(&s, 0, sizeof(s));
        s.c = c;
        s.x = x;
        s.r = r;
        s.nb = insync_cluster_brokers(c);
        s.err = err;
        s.errlen = errlen;
        if (x->nfaults > XMAX_FAULTS || x->nfaults < 0)
                return fail(&s, "explore", "too many faults");
        if (x->ntopics < 1 || !(x->rate > 0))
                return fail(&s, "explore", "no topic, or no rate");
        xop_t ops[2 * XMAX_FAULTS];
        int nops = 0;
        for (int fi = 0; fi < x->nfaults; fi++) {
                insync_xfault_t *f = &x->faults[fi];
                f->hit = 0;
                ops[nops++] = (xop_t){f->t_ms, 2, fi};
                if (f->t_ms + f->for_ms < x->duration_ms)
                        ops[nops++] = (xop_t){f->t_ms + f->for_ms, 1, fi};
        }
        qsort(ops, (size_t)nops, sizeof(*ops), op_cmp);
        int k = 0;
        int64_t i = 1;
        for (;;) {
                const xop_t *op = k < nops ? &ops[k] : NULL;
                int has_send = i <= x->records;
                int64_t ts = has_send ? send_time(x, i) : 0;
                if (!op && !has_send)
                        break;
                int use_op = op && (!has_send || op->t <= ts);
                int64_t t = use_op ? op->t : ts;
                int64_t now = insync_cluster_now(c);
                if (t > now)
                        run_for(&s, t - now);
                int rc;
                if (!use_op)
                        rc = send_one(&s, i++);
                else if (op->o == 2)
                        rc = fault_start(&s, ops[k++].fi);
                else
                        rc = fault_end(&s, ops[k++].fi);
                if (rc)
                        return -1;
                if (s.nomem)
                        return fail(&s, "explore", "out of memory");
        }
        int64_t now = insync_cluster_now(c);
        int64_t end = x->duration_ms > x->end_ms ? x->duration_ms : x->end_ms;
        if (end > now)
                run_for(&s, end - now);
        r->end_ms = insync_cluster_now(c);
        if (recover(&s))
                return -1;
        settle(&s);
        if (s.nomem)
                return fail(&s, "explore", "out of memory");
        insync_audit_t a;
        if (insync_cluster_audit(c, &a))
                return fail(&s, "audit", "out of memory");
        for (size_t j = 0; j < a.n; j++)
                if (a.items[j].kind >= 0 && a.items[j].kind < 6)
                        r->audit[a.items[j].kind]++;
        insync_audit_free(&a);
        return 0;
}

void insync_xresult_free(insync_xresult_t *r) {
        free(r->errors);
        free(r->latency);
        r->errors = r->latency = NULL;
        r->nerrors = r->caperrors = r->nlatency = r->caplatency = 0;
}
