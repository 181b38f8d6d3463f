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
 * once the HW covers it, it counts.  The classification itself is the
 * checker's (common/audit.c), shared with the real producer's audit.
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

/* The model's record states are the checker's. */
_Static_assert((int)INSYNC_REC_PENDING == (int)INSYNC_AUDIT_PENDING &&
                       (int)INSYNC_REC_ACKED == (int)INSYNC_AUDIT_ACKED &&
                       (int)INSYNC_REC_FAILED == (int)INSYNC_AUDIT_FAILED,
               "record states");

static void rec_info(const void *ud, uint32_t rec, int *state,
                     int64_t *acked_offset) {
        const insync_rec_t *e = &((const insync_cluster_t *)ud)->recs.rec[rec];
        *state = e->state & 0x0f;
        *acked_offset = e->topic == UINT8_MAX ? -1 : e->offset;
}

int insync_cluster_audit(const insync_cluster_t *c, insync_audit_t *a) {
        insync_audit_scan_t s;
        if (insync_audit_scan_init(&s, a, c->recs.n, (size_t)c->nprod + 1))
                return -1;
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                const insync_replica_t *r = committed(c, gp);
                if (!r)
                        continue;
                insync_audit_scan_partition(&s);
                for (int64_t o = 0; o < (int64_t)r->log.len; o++) {
                        uint32_t rec = r->log.ids[o];
                        const insync_rec_t *e = &c->recs.rec[rec];
                        int st = e->state & 0x0f;
                        if (insync_audit_scan_record(
                                    &s, rec, st, c->recs.prod[rec], o,
                                    st == INSYNC_REC_ACKED ? e->offset : -1,
                                    o < r->hw)) {
                                insync_audit_scan_free(&s);
                                insync_audit_free(a);
                                return -1;
                        }
                }
        }
        return insync_audit_scan_finish(&s, rec_info, c);
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
