/**
 * @file audit.h
 * @brief The audit of a tracking producer on real Kafka: every partition
 * of every topic it sent to is read back from the beginning with a
 * consumer (consumer.h), each record carrying this producer's header
 * (track.h) is fed, in offset order, to the checker shared with the model
 * (common/audit.h).  No lua.h.
 *
 * A consumer reads only below the high watermark (read_committed: below the
 * last stable offset), so every record it sees counts as committed and
 * uncommitted stays empty: what lies above the HW is out of its sight.  An
 * acknowledged record not read by the deadline is lost; when its
 * acknowledged offset is at or above its partition's high watermark then,
 * the item says so (above_hw): the partition was truncated below it (a
 * topic recreated, an unclean election), or it is not replicated yet.
 */
#ifndef INSYNC_RK_AUDIT_H
#define INSYNC_RK_AUDIT_H

#include <stddef.h>

#include "track.h"
#include "../common/audit.h"

/** insync_rk_audit's outcomes. */
enum {
        INSYNC_RK_AUDIT_OK = 0,
        INSYNC_RK_AUDIT_FAILED = -1,  /**< a runtime failure: *err, errbuf */
        INSYNC_RK_AUDIT_BADCONF = -2, /**< a bad consumer property: errbuf */
        INSYNC_RK_AUDIT_NOMEM = -3,   /**< memory exhausted */
};

/**
 * Audits what @p t tracked into @p a (free it with insync_audit_free).
 * @p conf: more consumer properties (key, value, ..., NULL; or NULL), set
 * after the producer's connection properties and fetch.wait.max.ms = 50.
 * Reads until every partition is at its end and every acknowledged record
 * was seen, or until @p timeout_ms passed (then, if some partition was not
 * read to its end, it fails with _TIMED_OUT: an audit that did not see the
 * whole log says nothing of what is missing).
 */
int insync_rk_audit(const insync_rk_track_t *t, const char *const *conf,
                    int timeout_ms, insync_audit_t *a, int *err, char *errbuf,
                    size_t size);

#endif
