/**
 * @file audit.c
 * @brief What a durability checker counts, and the invariants the
 * randomized spec checks after every step.
 *
 * The log of record of a partition is its leader's log (as the controller
 * names the leader); when that leader's process is down, or the partition
 * offline, that of the first live ISR member, the replica a clean election
 * will pick (none alive: the leader's, or the first ISR member's; ISR
 * empty, ELR on: the first ELR member, else the last known leader).
 * Records in it below the HW are committed; those above are not yet, and a consumer sees them
 * once the HW catches up (with min.insync.replicas = RF, after a
 * failover, only when the ISR is whole again): they are not lost.
 * - lost: acknowledged, but not in that log;
 * - duplicated: below its HW more than once (one entry per extra copy);
 * - unexpected: reported as failed, yet below its HW;
 * - uncommitted: acknowledged, in it, but above the HW for now;
 * - reordered (Jepsen's checker): below its HW after a record the same
 *   producer sent later to the same partition;
 * - inconsistent (Jepsen's): acknowledged at an offset that holds another
 *   record, though the record is in the log elsewhere.
 * A failed record, an extra copy or a reordered one above the HW is in no
 * list: no consumer reads it, and the log may still be truncated under it;
 * once the HW covers it, it counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const insync_replica_t *committed(const insync_cluster_t *c,
                                         uint32_t gp) {
        const insync_cpart_t *cp = &c->cp[gp];
        if (cp->leader >= 1 && c->br[cp->leader].alive)
                return c->br[cp->leader].rep[gp];
        /* a dead leader's partition is served next by a live ISR member
         * (the one a clean election picks), once the controller notices */
        for (int i = 0; i < cp->rf; i++)
                if (insync_bit(cp->isr, cp->replicas[i]) &&
                    c->br[cp->replicas[i]].alive)
                        return c->br[cp->replicas[i]].rep[gp];
        if (cp->leader >= 1)
                return c->br[cp->leader].rep[gp];
        for (int i = 0; i < cp->rf; i++)
                if (insync_bit(cp->isr, cp->replicas[i]))
                        return c->br[cp->replicas[i]].rep[gp];
        /* ELR on, the ISR empty: the replica an ELR election would pick */
        for (int i = 0; i < cp->rf; i++)
                if (insync_bit(cp->elr, cp->replicas[i]))
                        return c->br[cp->replicas[i]].rep[gp];
        if (cp->last_leader >= 1)
                return c->br[cp->last_leader].rep[gp];
        return NULL;
}

static int add_item(insync_audit_t *a, uint32_t rec, int kind, int64_t offset) {
        if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 64;
                insync_audit_item_t *it = realloc(a->items, cap * sizeof(*it));
                if (!it)
                        return -1;
                a->items = it;
                a->cap = cap;
        }
        a->items[a->n].id = rec + 1;
        a->items[a->n].kind = kind;
        a->items[a->n].offset = offset;
        a->n++;
        return 0;
}

int insync_cluster_audit(const insync_cluster_t *c, insync_audit_t *a) {
        memset(a, 0, sizeof(*a));
        uint32_t n = c->recs.n;
        uint8_t *seen = calloc(n ? n : 1, 1);
        uint32_t *maxid = calloc((size_t)c->nprod + 1, sizeof(*maxid));
        if (!seen || !maxid) {
                free(seen);
                free(maxid);
                return -1;
        }
        for (uint32_t i = 0; i < n; i++) {
                int st = c->recs.rec[i].state & 0x0f;
                a->sent++;
                a->acked += st == INSYNC_REC_ACKED;
                a->failed += st == INSYNC_REC_FAILED;
                a->pending += st == INSYNC_REC_PENDING;
        }
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                const insync_replica_t *r = committed(c, gp);
                if (!r)
                        continue;
                memset(maxid, 0, ((size_t)c->nprod + 1) * sizeof(*maxid));
                for (int64_t o = 0; o < (int64_t)r->log.len; o++) {
                        uint32_t rec = r->log.ids[o];
                        int st = c->recs.rec[rec].state & 0x0f;
                        uint8_t pi = c->recs.prod[rec];
                        int kind = -1;
                        if (o >= r->hw) {
                                if (st == INSYNC_REC_ACKED && !seen[rec])
                                        kind = INSYNC_AUDIT_UNCOMMITTED;
                        } else {
                                /* reordered, duplicated and unexpected count
                                 * only committed copies: a consumer never
                                 * reads one above the HW, and truncation may
                                 * still remove it.  Copies sit in offset
                                 * order, so a committed extra copy has its
                                 * first one committed too. */
                                if (rec + 1 < maxid[pi] &&
                                    add_item(a, rec, INSYNC_AUDIT_REORDERED, o))
                                        goto nomem;
                                if (rec + 1 >= maxid[pi])
                                        maxid[pi] = rec + 1;
                                if (seen[rec])
                                        kind = INSYNC_AUDIT_DUPLICATED;
                                else if (st == INSYNC_REC_FAILED)
                                        kind = INSYNC_AUDIT_UNEXPECTED;
                        }
                        if (kind >= 0 && add_item(a, rec, kind, o))
                                goto nomem;
                        if (seen[rec] < UINT8_MAX)
                                seen[rec]++;
                }
        }
        for (uint32_t i = 0; i < n; i++) {
                const insync_rec_t *e = &c->recs.rec[i];
                if ((e->state & 0x0f) != INSYNC_REC_ACKED)
                        continue;
                if (!seen[i]) {
                        if (add_item(a, i, INSYNC_AUDIT_LOST, e->offset))
                                goto nomem;
                        continue;
                }
                if (e->offset < 0 || e->topic == UINT8_MAX)
                        continue;
                const insync_replica_t *r =
                        committed(c, c->topics[e->topic].gp0 + e->part);
                if (r && (e->offset >= (int64_t)r->log.len ||
                          r->log.ids[e->offset] != i))
                        if (add_item(a, i, INSYNC_AUDIT_INCONSISTENT, e->offset))
                                goto nomem;
        }
        free(seen);
        free(maxid);
        return 0;
nomem:
        free(seen);
        free(maxid);
        insync_audit_free(a);
        return -1;
}

void insync_audit_free(insync_audit_t *a) {
        free(a->items);
        memset(a, 0, sizeof(*a));
}

int insync_cluster_check(const insync_cluster_t *c, char *err, size_t errlen) {
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                const insync_cpart_t *cp = &c->cp[gp];
                const insync_topic_t *t = &c->topics[cp->topic];
                /* One leader per epoch. */
                for (int i = 0; i < cp->rf; i++) {
                        int x = cp->replicas[i];
                        const insync_replica_t *rx = c->br[x].rep[gp];
                        if (!c->br[x].alive || rx->role != INSYNC_ROLE_LEADER)
                                continue;
                        for (int k = i + 1; k < cp->rf; k++) {
                                int y = cp->replicas[k];
                                const insync_replica_t *ry = c->br[y].rep[gp];
                                if (c->br[y].alive && ry->role == INSYNC_ROLE_LEADER &&
                                    ry->epoch == rx->epoch) {
                                        snprintf(err, errlen,
                                                 "one leader per epoch: %s/%d: brokers %d and %d both lead epoch %d",
                                                 t->name, cp->part, x, y, rx->epoch);
                                        return 1;
                                }
                        }
                }
                if (cp->leader < 1)
                        continue;
                const insync_replica_t *l = c->br[cp->leader].rep[gp];
                if (!c->br[cp->leader].alive || l->role != INSYNC_ROLE_LEADER ||
                    l->epoch != cp->epoch)
                        continue;
                /* HW never above an online ISR member's LEO. */
                for (int i = 0; i < cp->rf; i++) {
                        int x = cp->replicas[i];
                        if (!insync_bit(cp->isr, x) || !c->br[x].alive)
                                continue;
                        const insync_replica_t *rx = c->br[x].rep[gp];
                        if (l->hw > (int64_t)rx->log.len) {
                                snprintf(err, errlen,
                                         "hw: %s/%d: HW %lld above ISR member %d's LEO %u",
                                         t->name, cp->part, (long long)l->hw, x,
                                         rx->log.len);
                                return 1;
                        }
                }
        }
        /* Records acknowledged under acks=all and min.insync.replicas >= 2
         * keep their offset in the current leader's log. */
        for (uint32_t i = 0; i < c->recs.n; i++) {
                const insync_rec_t *e = &c->recs.rec[i];
                if ((e->state & 0x0f) != INSYNC_REC_ACKED || (e->state >> 4) != 0 ||
                    e->topic == UINT8_MAX || e->offset < 0)
                        continue;
                const insync_topic_t *t = &c->topics[e->topic];
                uint32_t gp = t->gp0 + e->part;
                const insync_cpart_t *cp = &c->cp[gp];
                int unclean = t->unclean < 0 ? c->conf.unclean : t->unclean;
                if (t->min_isr < 2 || unclean || cp->leader < 1)
                        continue;
                const insync_replica_t *l = c->br[cp->leader].rep[gp];
                if (!c->br[cp->leader].alive || l->role != INSYNC_ROLE_LEADER)
                        continue;
                if (e->offset >= (int64_t)l->log.len || l->log.ids[e->offset] != i) {
                        snprintf(err, errlen,
                                 "committed: %s/%d: acknowledged offset %lld no longer holds send %u",
                                 t->name, cp->part, (long long)e->offset, i + 1);
                        return 1;
                }
        }
        return 0;
}
