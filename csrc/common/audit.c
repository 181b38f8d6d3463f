/**
 * @file audit.c
 * @brief The durability checker's classification (see audit.h), one copy
 * for the model's audit and the real producer's.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"

#define SEEN_AT_ACKED 0x80
#define SEEN_COUNT 0x7f

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
        a->items[a->n].above_hw = 0;
        a->n++;
        return 0;
}

void insync_audit_free(insync_audit_t *a) {
        free(a->items);
        memset(a, 0, sizeof(*a));
}

int insync_audit_scan_init(insync_audit_scan_t *s, insync_audit_t *a,
                           size_t nrec, size_t nprod) {
        memset(a, 0, sizeof(*a));
        s->a = a;
        s->nrec = nrec;
        s->nprod = nprod;
        s->seen = calloc(nrec ? nrec : 1, 1);
        s->maxid = calloc(nprod ? nprod : 1, sizeof(*s->maxid));
        if (!s->seen || !s->maxid) {
                insync_audit_scan_free(s);
                return -1;
        }
        return 0;
}

void insync_audit_scan_partition(insync_audit_scan_t *s) {
        memset(s->maxid, 0, (s->nprod ? s->nprod : 1) * sizeof(*s->maxid));
}

int insync_audit_scan_record(insync_audit_scan_t *s, uint32_t rec, int state,
                             unsigned prod, int64_t offset,
                             int64_t acked_offset, int committed) {
        insync_audit_t *a = s->a;
        int copies = s->seen[rec] & SEEN_COUNT;
        int kind = -1;
        if (!committed) {
                if (state == INSYNC_AUDIT_ACKED && !copies)
                        kind = INSYNC_AUDIT_UNCOMMITTED;
        } else {
                /* reordered, duplicated and unexpected count only committed
                 * copies: a consumer never reads one above the HW, and
                 * truncation may still remove it.  Copies sit in offset
                 * order, so a committed extra copy has its first one
                 * committed too. */
                if (rec + 1 < s->maxid[prod] &&
                    add_item(a, rec, INSYNC_AUDIT_REORDERED, offset))
                        return -1;
                if (rec + 1 >= s->maxid[prod])
                        s->maxid[prod] = rec + 1;
                if (copies)
                        kind = INSYNC_AUDIT_DUPLICATED;
                else if (state == INSYNC_AUDIT_FAILED)
                        kind = INSYNC_AUDIT_UNEXPECTED;
        }
        if (kind >= 0 && add_item(a, rec, kind, offset))
                return -1;
        if (copies < SEEN_COUNT)
                s->seen[rec]++;
        if (acked_offset >= 0 && offset == acked_offset)
                s->seen[rec] |= SEEN_AT_ACKED;
        return 0;
}

int insync_audit_scan_finish(insync_audit_scan_t *s, insync_audit_info_fn info,
                             const void *ud) {
        insync_audit_t *a = s->a;
        for (size_t i = 0; i < s->nrec; i++) {
                int st;
                int64_t off;
                info(ud, (uint32_t)i, &st, &off);
                a->sent++;
                a->acked += st == INSYNC_AUDIT_ACKED;
                a->failed += st == INSYNC_AUDIT_FAILED;
                a->pending += st == INSYNC_AUDIT_PENDING;
                if (st != INSYNC_AUDIT_ACKED)
                        continue;
                int kind = -1;
                if (!(s->seen[i] & SEEN_COUNT))
                        kind = INSYNC_AUDIT_LOST;
                else if (off >= 0 && !(s->seen[i] & SEEN_AT_ACKED))
                        kind = INSYNC_AUDIT_INCONSISTENT;
                if (kind >= 0 && add_item(a, (uint32_t)i, kind, off)) {
                        insync_audit_scan_free(s);
                        insync_audit_free(a);
                        return -1;
                }
        }
        insync_audit_scan_free(s);
        return 0;
}

void insync_audit_scan_free(insync_audit_scan_t *s) {
        free(s->seen);
        free(s->maxid);
        s->seen = NULL;
        s->maxid = NULL;
}
