/**
 * @file audit.h
 * @brief The durability checker's classification, shared by both engines:
 * the model's c:audit() (csrc/model/audit.c) feeds it the log of record of
 * each of its partitions, the real producer's p:audit() (csrc/rdkafka/
 * audit.c) what a consumer reads back from Kafka.  Pure C: no lua.h, no
 * rdkafka.h.
 *
 * A scan walks each partition's log in offset order (one
 * insync_audit_scan_partition() per partition, then one
 * insync_audit_scan_record() per record of the engine's), then
 * insync_audit_scan_finish() names what was acknowledged and never seen.
 * - lost: acknowledged, never seen;
 * - duplicated: committed more than once (one item per extra copy);
 * - unexpected: reported as failed, yet committed;
 * - uncommitted: acknowledged, seen only above the high watermark;
 * - reordered (Jepsen's checker): committed after a record the same
 *   producer sent later to the same partition;
 * - inconsistent (Jepsen's): acknowledged at an offset that holds another
 *   record, though the record is in the log elsewhere.
 */
#ifndef INSYNC_AUDIT_H
#define INSYNC_AUDIT_H

#include <stddef.h>
#include <stdint.h>

typedef enum insync_audit_kind_e {
        INSYNC_AUDIT_LOST = 0, INSYNC_AUDIT_DUPLICATED, INSYNC_AUDIT_UNEXPECTED,
        INSYNC_AUDIT_UNCOMMITTED, INSYNC_AUDIT_REORDERED,
        INSYNC_AUDIT_INCONSISTENT,
} insync_audit_kind_t;

/** What the producer was told of a send. */
typedef enum insync_audit_state_e {
        INSYNC_AUDIT_PENDING = 0, /**< no report yet */
        INSYNC_AUDIT_ACKED = 1,   /**< delivered */
        INSYNC_AUDIT_FAILED = 2,  /**< reported with an error */
} insync_audit_state_t;

typedef struct insync_audit_item_s {
        uint32_t id;      /**< send id (record index + 1) */
        int kind;         /**< insync_audit_kind_t */
        int64_t offset;   /**< -1 when unknown */
        int above_hw;     /**< real Kafka only: a lost record acknowledged
                           *   at or above its partition's high watermark
                           *   at the end (truncated away, or not yet
                           *   replicated: a consumer cannot tell) */
} insync_audit_item_t;

typedef struct insync_audit_s {
        uint64_t sent, acked, failed, pending;
        insync_audit_item_t *items; /**< in the order found */
        size_t n, cap;
} insync_audit_t;

void insync_audit_free(insync_audit_t *a);

typedef struct insync_audit_scan_s {
        insync_audit_t *a;  /**< where items go */
        uint8_t *seen;      /**< per record: copies seen (bits 0-6, stops
                             *   at 127); bit 7: one at its acked offset */
        uint32_t *maxid;    /**< per producer: highest record index + 1
                             *   committed so far in this partition */
        size_t nrec;        /**< records 0..nrec-1 */
        size_t nprod;       /**< producers 0..nprod-1 */
} insync_audit_scan_t;

/** Begins a scan into @p a (zeroed here). @returns -1 on no memory. */
int insync_audit_scan_init(insync_audit_scan_t *s, insync_audit_t *a,
                           size_t nrec, size_t nprod);

/** Starts the next partition's log. */
void insync_audit_scan_partition(insync_audit_scan_t *s);

/**
 * Record @p rec (< nrec), sent by producer @p prod in state @p state, is at
 * @p offset of the log; it was acknowledged at @p acked_offset (-1: not
 * acknowledged); @p committed: below the log's high watermark.
 * @returns -1 on no memory.
 */
int insync_audit_scan_record(insync_audit_scan_t *s, uint32_t rec, int state,
                             unsigned prod, int64_t offset,
                             int64_t acked_offset, int committed);

/** What insync_audit_scan_finish asks of each record. */
typedef void (*insync_audit_info_fn)(const void *ud, uint32_t rec, int *state,
                                     int64_t *acked_offset);

/**
 * Counts sent, acked, failed and pending, and adds lost and inconsistent
 * items; frees the scan.  On failure (-1: no memory) @p a is freed too.
 */
int insync_audit_scan_finish(insync_audit_scan_t *s, insync_audit_info_fn info,
                             const void *ud);

/** Frees the scan (not the audit). Idempotent. */
void insync_audit_scan_free(insync_audit_scan_t *s);

#endif
