/**
 * @file binding.h
 * @brief What the binding files share: the module's registration functions
 * and the one constructor of error objects.  Only files under csrc/lua/
 * include lua.h.
 */
#ifndef INSYNC_BINDING_H
#define INSYNC_BINDING_H

#include <stddef.h>
#include <stdint.h>

#include "../compat.h"

/** Each adds its functions to the module table on the top of the stack. */
void insync_lua_open_errors(lua_State *L);
void insync_lua_open_report(lua_State *L);
void insync_lua_open_cluster(lua_State *L);
/** core.proc: fork, pipes and isatty for insync.explore's jobs. */
void insync_lua_open_proc(lua_State *L);
void insync_lua_open_producer(lua_State *L);
void insync_lua_open_mock(lua_State *L);
void insync_lua_open_consumer(lua_State *L);
void insync_lua_open_conf(lua_State *L);

/**
 * @returns the string librdkafka gets for the configuration value at
 * @p idx (a string as is, a boolean as "true"/"false", a number in decimal,
 * written into @p buf), or NULL for any other type.
 */
const char *insync_lua_conf_value(lua_State *L, int idx, char *buf,
                                  size_t size);

struct insync_rk_track_s;

/**
 * p:audit(opts) of a tracking producer whose tracking is @p t; @p opts is
 * the stack index of the options (none or nil: the defaults).  Pushes the
 * audit, or nil and an error object (audit.c).
 */
int insync_lua_audit(lua_State *L, int opts, const struct insync_rk_track_s *t);

struct insync_audit_s;
struct insync_audit_item_s;
/** Pushes the table of one audited record (an entry of lost, duplicated...). */
typedef void (*insync_lua_audit_entry_fn)(lua_State *L, void *ud,
                                          const struct insync_audit_item_s *it);
/**
 * Pushes an audit in the shape c:audit() and p:audit() share: sent, acked,
 * failed, pending, and a list per kind (lost, duplicated, unexpected,
 * uncommitted, reordered, inconsistent) of the tables @p entry pushes
 * (audit.c).
 */
void insync_lua_push_audit(lua_State *L, const struct insync_audit_s *a,
                           insync_lua_audit_entry_fn entry, void *ud);

/**
 * Reads an optional timeout in milliseconds at @p arg: @p dflt when absent,
 * -1 (no bound) when negative, clamped to INT_MAX; raises "WHAT:
 * timeout_ms: expected number, got ..." otherwise (conf.c).
 */
int insync_lua_opt_timeout(lua_State *L, int arg, const char *what, int dflt);

/**
 * Pushes the error object of docs/errors.md: { code, name, message, retriable,
 * fatal, persisted } with the shared metatable (__tostring gives
 * "NAME: message").  @p message may be NULL: librdkafka's description of
 * @p code is used.  @p persisted is an insync_persisted_t.  Never raises
 * except on memory exhaustion.
 */
void insync_lua_push_error(lua_State *L, int code, const char *message,
                           int persisted, int fatal);

/**
 * Raises "<what>: attempt to use a closed <type>" when @p handle is NULL.
 * A method calls it after every return from Lua code that can close its
 * object: a callback, or an allocation (which may run a __gc finalizer
 * that calls close or __gc), before it touches the object again.
 */
void insync_lua_check_open(lua_State *L, const void *handle, const char *what,
                           const char *type);

/**
 * Raises "<what>: self: expected <type>, got <type of arg 1>": the one
 * wording of a method called on something else, before any side effect.
 */
int insync_lua_bad_self(lua_State *L, const char *what, const char *type);

/** How many bytes of a value a message shows before "...". */
#define INSYNC_SHOW_MAX 60

/**
 * Pushes and returns the value at @p idx as an error message shows it: a
 * string cut to INSYNC_SHOW_MAX bytes and "...", a number as Lua writes
 * it, anything else by its type name (no __tostring runs).
 */
const char *insync_lua_show(lua_State *L, int idx);

/** The fields of send's msg (msg.c). */
enum {
        INSYNC_MSG_TOPIC,
        INSYNC_MSG_KEY,
        INSYNC_MSG_VALUE,
        INSYNC_MSG_PARTITION,
        INSYNC_MSG_TIMESTAMP,
        INSYNC_MSG_HEADERS,
        INSYNC_MSG_OPAQUE,
        INSYNC_MSG_NFIELDS
};

/** The field names as one Lua state interned them (their addresses). */
typedef struct insync_lua_msg_names_s {
        const void *name[INSYNC_MSG_NFIELDS];
} insync_lua_msg_names_t;

/** Pushes a userdata insync_lua_msg_names_t that keeps its names alive:
 * make it an upvalue of send. */
void insync_lua_msg_names(lua_State *L);

/** What send read from msg. */
typedef struct insync_lua_msg_s {
        const char *topic;      /**< always set */
        size_t topic_len;
        int topic_idx;          /**< stack index of msg.topic itself: the one
                                 *   read, even if Lua code run since (a __gc
                                 *   finalizer) changed msg */
        const char *key;        /**< NULL: none */
        size_t key_len;
        const char *value;      /**< NULL: none */
        size_t value_len;
        int64_t partition;      /**< -1: none; else 0..INT32_MAX */
        int64_t timestamp;      /**< -1: none */
        int headers;            /**< stack index of msg.headers (checked); 0: none */
        size_t headers_size;    /**< their serialized size, as librdkafka
                                 *   counts it against message.max.bytes */
        int opaque;             /**< stack index of msg.opaque; 0: none */
} insync_lua_msg_t;

/**
 * Reads msg at stack index @p msg into @p m, raising "send: msg.<field>:
 * expected ..., got ..." for a wrong field.  msg is read once: topic, key,
 * value, headers and opaque stay on the stack (two slots each), so the
 * strings stay valid and the same whatever Lua code runs later (a __gc
 * finalizer that changes or empties msg).
 */
void insync_lua_read_msg(lua_State *L, int msg, const insync_lua_msg_names_t *nm,
                         insync_lua_msg_t *m);

/**
 * Raises "send: msg.topic: expected a topic name (...), got ..." unless
 * msg.topic (@p name, @p len bytes) is a name Kafka allows (Topic.validate:
 * 1 to 249 of a-z A-Z 0-9 . _ -, not "." or "..").  Both engines call it
 * once per new name, not on every send.
 */
void insync_lua_check_topic(lua_State *L, const char *name, size_t len);

/** Called for each header: @p value is NULL for a header without one. */
typedef void (*insync_lua_header_fn)(void *ud, const char *name, size_t name_len,
                                     const char *value, size_t value_len);

/**
 * Walks msg.headers at @p idx: { name = value, ... } or { {name, value},
 * ... } (order kept, names may repeat, a nil value), calling @p fn (NULL:
 * only checks).  Raises naming the bad part; insync_lua_read_msg has
 * already checked msg.headers, so a later walk does not raise.
 */
void insync_lua_each_header(lua_State *L, int idx, insync_lua_header_fn fn,
                            void *ud);

/** What a send's report holds (report.c). */
typedef struct insync_lua_report_s {
        const char *topic;      /**< the topic's name */
        size_t topic_len;
        int32_t partition;      /**< < 0: unknown */
        int64_t offset;         /**< < 0: unknown (a failure) */
        const char *key;        /**< NULL: none */
        size_t key_len;
        int opaque;             /**< stack index of the opaque; 0: none */
        double latency_ms;      /**< < 0: unknown */
        int latency_int;        /**< push latency_ms as an integer */
} insync_lua_report_t;

/** Pushes the report metatable, whose index insync_lua_push_report takes
 * (kept on the stack over a batch of reports: one lookup, not one each). */
void insync_lua_push_report_mt(lua_State *L);

/**
 * Pushes the report a send's callback gets: one userdata read like a table
 * (report.topic ... report.latency_ms, tostring, pairs on Lua 5.4,
 * report:totable()).  @p mt is the index of insync_lua_push_report_mt's
 * table.  Never raises except on memory exhaustion.
 */
void insync_lua_push_report(lua_State *L, int mt, const insync_lua_report_t *r);

/**
 * A failed send made without a callback, so that no failure passes unseen:
 * the stack ends with on_error (or nil), the report and the error object.
 * Calls on_error(err, report) (an error it raises propagates), or without
 * one writes one line to stderr.  Pops the three.
 */
void insync_lua_undelivered(lua_State *L, int partition);

/** librdkafka's name for @p code ("NOT_ENOUGH_REPLICAS", "_MSG_TIMED_OUT"). */
const char *insync_lua_err_name(int code);

/**
 * Reads an error name ("NOT_ENOUGH_REPLICAS") or code at @p arg; raises
 * naming @p what when it is neither a known name nor a number.
 */
int insync_lua_check_errcode(lua_State *L, int arg, const char *what);

#endif
