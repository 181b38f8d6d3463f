/**
 * @file ffi.h
 * @brief The producer's plain-C entry points for LuaJIT's FFI: the send and
 * delivery path that insync.producer takes on LuaJIT (lua/insync/ffi.lua),
 * which the JIT compiles, as lua-resty-core does for OpenResty's own
 * functions.  They run the same C as the Lua C API binding
 * (csrc/lua/producer.c): one core.  Whatever they do not handle (a closed
 * or forked producer, tracking, a refused send, an event other than delivery
 * reports) they hand back with a return value that tells the Lua side to
 * call the classic method, which checks, raises or serves as on every Lua.
 *
 * lua/insync/ffi.lua declares everything between the BEGIN and END lines
 * below with ffi.cdef: `make ffi-cdef` (tools/ffi_cdef.lua) copies them
 * there, and spec/core/ffi_cdef_spec.lua fails while the copy is stale.
 * No lua.h here.
 */
#ifndef INSYNC_FFI_H
#define INSYNC_FFI_H

#include <stddef.h>
#include <stdint.h>

/* BEGIN ffi.cdef */
/* The first member of every producer: what the Lua side reads directly. */
typedef struct insync_ffi_state_s {
        volatile int32_t ready;  /* 0: nothing can be waiting to be handed out */
        int32_t busy;            /* 1 while one of its callbacks runs */
        int32_t open;            /* 1 from creation to close */
        uint32_t fork_gen;       /* the fork generation it was made in */
        int32_t slot;            /* the slot insync_ffi_send took (0: none) */
        int32_t handed;          /* reports insync_ffi_take handed out */
        int32_t pos;             /* next report of the batch to dispatch */
        int32_t n;               /* reports in the batch */
} insync_ffi_state_t;

/* One delivery report, as insync_ffi_take hands it out. */
typedef struct insync_ffi_report_s {
        double offset;           /* < 0: none (a failure) */
        double latency_ms;       /* < 0: unknown */
        const char *key;         /* NULL: none; valid until the next take */
        size_t key_len;
        int32_t topic;           /* index of its topic (insync_ffi_topic_name) */
        int32_t partition;       /* < 0: unknown */
        int32_t slot;            /* 0: sent without callback nor opaque */
        int32_t err;             /* 0: delivered; else librdkafka's code */
        int32_t status;          /* rd_kafka_msg_status_t */
        int32_t has_opaque;      /* 1: the send had an opaque */
} insync_ffi_report_t;

/* Queues a record as send does; rkt is the topic handle a classic send made.
 * flags: 1 a callback, 2 an opaque.  Returns the send's number, with its slot
 * in s->slot; 0 when the classic send must do it (closed or forked
 * producer, tracking, partition < -1, librdkafka refused it). */
double insync_ffi_send(insync_ffi_state_t *s, void *rkt, const char *key,
                       size_t key_len, const char *value, size_t value_len,
                       int32_t partition, int32_t flags);

/* Fills up to max delivery reports from one event, waiting up to timeout_ms
 * for the first; s->handed counts them with the ones sent without callback
 * nor opaque that succeeded (not filled, but counted as handed out).  Each
 * filled one is counted by insync_ffi_handed.  Returns how many were filled;
 * 0: nothing more is ready; -1: the classic poll must serve what comes next
 * (an error, log or statistics event, a refused send, tracking, closed). */
int insync_ffi_take(insync_ffi_state_t *s, insync_ffi_report_t *out, int max,
                    int timeout_ms);

/* Counts a filled report as handed out (err: 0 delivered, else failed) and
 * gives its slot back, once its callback and opaque were taken. */
void insync_ffi_handed(insync_ffi_state_t *s, int32_t slot, int32_t err);

/* The name of topic number i of insync_ffi_report_t.topic. */
const char *insync_ffi_topic_name(insync_ffi_state_t *s, int32_t i);

/* Waits up to timeout_ms (at most 10) for librdkafka to deliver, as flush
 * does between two polls.  Returns the sends still outstanding. */
double insync_ffi_flush_wait(insync_ffi_state_t *s, int timeout_ms);

/* Accepted sends whose report has not been handed out yet. */
double insync_ffi_outstanding(insync_ffi_state_t *s);

/* Milliseconds on CLOCK_MONOTONIC. */
double insync_ffi_now_ms(void);

/* The process's fork generation now (compare with s->fork_gen). */
uint32_t insync_ffi_fork_gen(void);
/* END ffi.cdef */

#endif
