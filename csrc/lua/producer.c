/**
 * @file producer.c
 * @brief insync.producer: librdkafka's producer behind the same send and
 * callback as the model (docs/errors.md).  The librdkafka side is
 * csrc/rdkafka/producer.c; this file turns its events into Lua values and
 * runs the callbacks.
 *
 * Callbacks (and opaques) wait in the userdata's uservalue, keyed by a small
 * integer slot that is the message's opaque in librdkafka.  Slots are
 * reused, so the callbacks stay a dense array.
 *
 * Callbacks run only in poll, flush and close, all of one call under a
 * single lua_pcall with a traceback handler (serve).  When one raises, the
 * event being handed out stays in C (p->rk.cur) with its remaining reports,
 * and the error is raised again once the C state is consistent.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <librdkafka/rdkafka.h>

#include "binding.h"
#include "ffi.h"
#include "../common/kerr.h"
#include "../rdkafka/audit.h"
#include "../rdkafka/conf.h"
#include "../rdkafka/fork.h"
#include "../rdkafka/producer.h"

#define INSYNC_PRODUCER_MT "insync.producer"

/**
 * The uservalue is one table, so that a send touches a single table:
 * positive integers: slot -> callback (a dense array, slots are reused);
 * strings: topic name -> lightuserdata rd_kafka_topic_t;
 * lightuserdata rd_kafka_topic_t -> topic name;
 * and at the negative integers below, the rest.
 */
enum {
        UV_OPAQUES = -1,  /**< table: slot -> opaque, when the send had one */
        UV_ON_ERROR = -2, /**< conf.on_error or nil */
        UV_ON_LOG = -3,   /**< conf.on_log or nil */
        UV_ON_STATS = -4, /**< conf.on_stats or nil */
        UV_LAST_TOPIC = -5, /**< the string of p->last_topic, or nil */
};

/** Upvalues shared by every method and metamethod. */
enum {
        UP_MT = 1,      /**< the metatable */
        UP_NAMES,       /**< msg's field names (insync_lua_msg_names) */
        UP_TRACEBACK,   /**< the message handler, made once */
        UP_SERVE,       /**< serve_protected, made once */
        UP_COUNT = UP_SERVE
};

/** Default bound of close() and of __close, in milliseconds. */
#define INSYNC_CLOSE_TIMEOUT_MS 10000
/** How long close() waits for the reports of what it purged. */
#define INSYNC_PURGE_WAIT_MS 5000

typedef struct insync_producer_s {
        insync_ffi_state_t ffi;  /**< first: what LuaJIT's FFI reads (ffi.h);
                                  *   ffi.busy is 1 while one of its
                                  *   callbacks runs, on either path */
        insync_rk_producer_t rk; /**< rk.rk == NULL: closed (or not yet open) */
        const char *last_topic;  /**< the bytes of the string the last send
                                  *   named its topic with, kept alive at
                                  *   UV_LAST_TOPIC (so no other string can
                                  *   have them), or NULL */
        rd_kafka_topic_t *last_rkt; /**< last_topic's handle */
        const void *tag;         /**< &producer_tag: see to_producer */
} insync_producer_t;

/* The address every producer's tag holds: this library's, unknown to any
 * other code that makes userdata. */
static const char producer_tag = 0;

/* The producer at index 1, open or closed; raises naming @p what if it is
 * something else. */
static insync_producer_t *to_producer(lua_State *L, const char *what) {
        /* A full userdata of a producer's size holding producer_tag's
         * address is one: only l_producer_new puts it there.  (Comparing
         * metatables cost a send and a poll(0) a tenth of their time on
         * Lua 5.4.)  The size is checked before the tag is read. */
        insync_producer_t *p = NULL;
        if (lua_type(L, 1) == LUA_TUSERDATA &&
            lua_rawlen(L, 1) == sizeof(insync_producer_t))
                p = lua_touserdata(L, 1);
        if (!p || p->tag != &producer_tag)
                luaL_error(L, "%s: self: expected %s, got %s", what,
                           INSYNC_PRODUCER_MT, luaL_typename(L, 1));
        return p;
}

static insync_producer_t *check_producer(lua_State *L, const char *what) {
        insync_producer_t *p = to_producer(L, what);
        if (!p->rk.rk)
                luaL_error(L, "%s: attempt to use a closed producer", what);
        if (insync_rk_producer_forked(&p->rk))
                luaL_error(L, "%s: this producer belongs to the process this "
                              "one was forked from; make a new producer "
                              "after fork",
                           what);
        return p;
}

static void check_idle(lua_State *L, insync_producer_t *p, const char *what) {
        if (p->ffi.busy)
                luaL_error(L, "%s: cannot be called from inside one of this "
                              "producer's callbacks", what);
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------- */
/* Construction */

static int callback_field(const char *key) {
        if (strcmp(key, "on_error") == 0)
                return UV_ON_ERROR;
        if (strcmp(key, "on_log") == 0)
                return UV_ON_LOG;
        if (strcmp(key, "on_stats") == 0)
                return UV_ON_STATS;
        return 0;
}

/* core.producer(conf) */
static int l_producer_new(lua_State *L) {
        static const int events[] = {
                [-UV_ON_ERROR] = INSYNC_RK_EV_ERROR,
                [-UV_ON_LOG] = INSYNC_RK_EV_LOG,
                [-UV_ON_STATS] = INSYNC_RK_EV_STATS,
        };
        char errbuf[512], numbuf[64];
        int ev = 0, track = 0;
        lua_settop(L, 1);
        if (lua_type(L, 1) != LUA_TTABLE)
                return luaL_error(L, "producer: conf: expected table, got %s",
                                  luaL_typename(L, 1));
        /* Inert first: a closed producer until librdkafka says yes. */
        insync_producer_t *p = lua_newuserdata(L, sizeof(*p)); /* 2 */
        memset(p, 0, sizeof(*p));
        p->tag = &producer_tag;
        luaL_getmetatable(L, INSYNC_PRODUCER_MT);
        lua_setmetatable(L, 2);
        lua_newtable(L); /* 3 */
        lua_newtable(L);
        lua_rawseti(L, 3, UV_OPAQUES);
        lua_pushvalue(L, 3);
        insync_setuservalue(L, 2);

        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        lua_pushnil(L);
        while (lua_next(L, 1)) {
                if (lua_type(L, -2) != LUA_TSTRING) {
                        rd_kafka_conf_destroy(conf);
                        return luaL_error(L, "producer: configuration keys "
                                             "must be strings, got %s",
                                          luaL_typename(L, -2));
                }
                const char *key = lua_tostring(L, -2);
                if (strcmp(key, "track") == 0) {
                        if (lua_type(L, -1) != LUA_TBOOLEAN) {
                                rd_kafka_conf_destroy(conf);
                                return luaL_error(L, "producer: track: expected "
                                                     "boolean, got %s",
                                                  luaL_typename(L, -1));
                        }
                        track = lua_toboolean(L, -1);
                        lua_pop(L, 1);
                        continue;
                }
                int cb = callback_field(key);
                if (cb) {
                        if (lua_type(L, -1) != LUA_TFUNCTION) {
                                rd_kafka_conf_destroy(conf);
                                return luaL_error(L, "producer: %s: expected "
                                                     "function, got %s",
                                                  key, luaL_typename(L, -1));
                        }
                        lua_rawseti(L, 3, cb);
                        ev |= events[-cb];
                        continue;
                }
                const char *why = insync_rk_conf_unsupported(key);
                if (why) {
                        rd_kafka_conf_destroy(conf);
                        return luaL_error(L, "producer: property '%s': %s",
                                          insync_lua_show(L, -2), why);
                }
                const char *value = insync_lua_conf_value(L, -1, numbuf,
                                                          sizeof(numbuf));
                if (!value) {
                        rd_kafka_conf_destroy(conf);
                        const char *t = luaL_typename(L, -1);
                        return luaL_error(L, "producer: property '%s': expected "
                                             "string, number or boolean, got %s",
                                          insync_lua_show(L, -2), t);
                }
                if (insync_rk_conf_set(conf, key, value, errbuf,
                                       sizeof(errbuf))) {
                        rd_kafka_conf_destroy(conf);
                        return luaL_error(L, "producer: property '%s': %s",
                                          insync_lua_show(L, -2), errbuf);
                }
                lua_pop(L, 1);
        }
        /* Without a delivery report for each success, a callback would
         * never run and a flush never end: the one rule insync cannot keep
         * (librdkafka's resolved value, whatever spelling set it). */
        size_t vlen = sizeof(numbuf);
        if (rd_kafka_conf_get(conf, "delivery.report.only.error", numbuf,
                              &vlen) == RD_KAFKA_CONF_OK &&
            strcmp(numbuf, "true") == 0) {
                rd_kafka_conf_destroy(conf);
                return luaL_error(L, "producer: property "
                                     "'delivery.report.only.error': not "
                                     "supported (every send gets its "
                                     "callback)");
        }
        if (insync_rk_producer_init(&p->rk, conf, ev, errbuf, sizeof(errbuf)))
                return luaL_error(L, "producer: %s", errbuf);
        p->ffi.open = 1;
        p->ffi.fork_gen = p->rk.fork_gen;
        /* ffi.ready goes to 1 whenever the queue stops being empty: a
         * poll(0) with it at 0 has nothing to hand out. */
        insync_rk_producer_watch(&p->rk, &p->ffi.ready);
        /* what librdkafka queued before the watch (logs of rd_kafka_new)
         * set nothing: the first poll looks */
        p->ffi.ready = 1;
        if (track) {
                /* the tracked id rides in the message opaque's top half */
                if (sizeof(intptr_t) < 8)
                        return luaL_error(L, "producer: track: needs a 64-bit "
                                             "platform");
                p->rk.track = insync_rk_track_new(rd_kafka_conf(p->rk.rk));
                if (!p->rk.track)
                        return luaL_error(L, "producer: out of memory");
        }
        lua_settop(L, 2);
        return 1;
}

/* ---------------------------------------------------------------------- */
/* send */

/* insync_lua_each_header's callback: adds one header to librdkafka's list. */
static void add_header(void *ud, const char *name, size_t name_len,
                       const char *value, size_t value_len) {
        rd_kafka_header_add(ud, name, (ssize_t)name_len, value,
                            value ? (ssize_t)value_len : 0);
}

/* p:send(msg [, callback]) -> send number | nil, err */
static int l_send(lua_State *L) {
        insync_producer_t *p = check_producer(L, "send");
        if (lua_gettop(L) != 3)
                lua_settop(L, 3);
        int has_cb = !lua_isnil(L, 3);
        if (has_cb && lua_type(L, 3) != LUA_TFUNCTION)
                return luaL_error(L, "send: callback: expected function, got %s",
                                  luaL_typename(L, 3));
        insync_lua_msg_t m;
        insync_lua_read_msg(L, 2, lua_touserdata(L, lua_upvalueindex(UP_NAMES)), &m);
        insync_getuservalue(L, 1);
        const int uv = lua_gettop(L);
        const char *key = m.key, *value = m.value;
        size_t klen = m.key_len, vlen = m.value_len;
        int32_t partition = m.partition < 0 ? RD_KAFKA_PARTITION_UA
                                            : (int32_t)m.partition;
        int64_t timestamp = m.timestamp < 0 ? 0 : m.timestamp;
        int has_opaque = m.opaque != 0;

        /* The topic handle: the last send's when msg.topic is the very
         * same string, else looked up by name, made once per name. */
        const char *tname = m.topic;
        rd_kafka_topic_t *rkt = p->last_rkt;
        if (tname != p->last_topic) {
                lua_pushvalue(L, m.topic_idx); /* the string read: its bytes are tname */
                /* nothing here allocates now; should something come to,
                 * a __gc finalizer it runs may close the producer */
                insync_lua_check_open(L, p->rk.rk, "send", "producer");
                const int ts = lua_gettop(L);
                lua_pushvalue(L, ts);
                lua_rawget(L, uv);
                rkt = lua_touserdata(L, -1);
                lua_pop(L, 1);
                if (!rkt) {
                        insync_lua_check_topic(L, tname, m.topic_len);
                        char errbuf[256];
                        rkt = insync_rk_producer_topic(&p->rk, tname, errbuf,
                                                       sizeof(errbuf));
                        if (!rkt)
                                return luaL_error(L, "send: msg.topic: %s",
                                                  errbuf);
                        lua_pushvalue(L, ts);
                        lua_pushlightuserdata(L, rkt);
                        lua_rawset(L, uv);
                        lua_pushlightuserdata(L, rkt);
                        lua_pushvalue(L, ts);
                        lua_rawset(L, uv);
                }
                lua_rawseti(L, uv, UV_LAST_TOPIC);
                p->last_topic = tname;
                p->last_rkt = rkt;
        }

        rd_kafka_headers_t *hdrs = NULL;
        if (m.headers) {
                hdrs = rd_kafka_headers_new(8);
                insync_lua_each_header(L, m.headers, add_header, hdrs);
        }
        uint32_t tracked = 0;
        if (p->rk.track) {
                char hv[INSYNC_RK_TRACK_VALUE_MAX + 1];
                size_t hlen;
                tracked = insync_rk_track_add(p->rk.track, rkt, tname,
                                              partition, key, klen, hv, &hlen);
                if (!tracked) {
                        if (hdrs)
                                rd_kafka_headers_destroy(hdrs);
                        return luaL_error(L, "send: track: out of memory, or "
                                             "more sends or topics than a "
                                             "tracking producer keeps");
                }
                if (!hdrs)
                        hdrs = rd_kafka_headers_new(1);
                rd_kafka_header_add(hdrs, INSYNC_RK_TRACK_HEADER, -1, hv,
                                    (ssize_t)hlen);
        }
        /* A slot when there is something to hand back: the callback, or
         * an opaque for the report that on_error gets if the send fails. */
        int slot = 0;
        if (has_cb || has_opaque) {
                slot = insync_rk_producer_slot_get(&p->rk);
                if (slot < 0) {
                        if (hdrs)
                                rd_kafka_headers_destroy(hdrs);
                        if (tracked)
                                insync_rk_track_drop_last(p->rk.track);
                        return luaL_error(L, "send: out of memory");
                }
        }
        void *opaque = (void *)(intptr_t)(((uint64_t)tracked << 32) |
                                          ((uint64_t)slot << 1) |
                                          (uint64_t)has_opaque);
        rd_kafka_resp_err_t err;
        /* producev takes headers and a timestamp (NULL and 0: none, "now");
         * the plain rd_kafka_produce is cheaper for the common record. */
        if (hdrs || timestamp)
                err = rd_kafka_producev(
                        p->rk.rk, RD_KAFKA_V_RKT(rkt),
                        RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_VALUE((void *)value, vlen),
                        RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_OPAQUE(opaque),
                        RD_KAFKA_V_TIMESTAMP(timestamp),
                        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        else
                err = rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY,
                                       (void *)value, vlen, key, klen, opaque)
                              ? rd_kafka_last_error()
                              : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                /* Not accepted: no callback will run. */
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                if (slot)
                        insync_rk_producer_slot_put(&p->rk, slot);
                if (tracked)
                        insync_rk_track_drop_last(p->rk.track);
                lua_pushnil(L);
                insync_lua_push_error(L, err, NULL, INSYNC_NOT_PERSISTED, 0);
                return 2;
        }
        if (err) {
                /* Refused for good (_UNKNOWN_PARTITION, a fatal error...):
                 * accepted all the same, its callback gets the error on the
                 * next poll, as on the model. */
                int code = err, fatal = 0;
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                if (err == RD_KAFKA_RESP_ERR__FATAL) {
                        char buf[256];
                        int f = rd_kafka_fatal_error(p->rk.rk, buf, sizeof(buf));
                        fatal = 1;
                        if (f)
                                code = f;
                }
                if (insync_rk_producer_fail(&p->rk, (intptr_t)opaque, rkt,
                                            partition, code, fatal, key,
                                            klen)) {
                        if (slot)
                                insync_rk_producer_slot_put(&p->rk, slot);
                        return luaL_error(L, "send: out of memory");
                }
                p->ffi.ready = 1;
        }
        if (slot) {
                /* false: no callback, the slot only holds the opaque */
                if (has_cb)
                        lua_pushvalue(L, 3);
                else
                        lua_pushboolean(L, 0);
                lua_rawseti(L, uv, slot);
                if (has_opaque) {
                        lua_rawgeti(L, uv, UV_OPAQUES);
                        lua_pushvalue(L, m.opaque);
                        lua_rawseti(L, -2, slot);
                }
        }
        p->rk.outstanding++;
        lua_pushinteger(L, (lua_Integer)++p->rk.sent);
        return 1;
}

/* ---------------------------------------------------------------------- */
/* Handing events out */

/* Pushes a report (report.c): the topic's name is at `topic`, the report
 * metatable at `mt`, the opaque at `opaque` (0: none); offset < 0,
 * partition < 0 or latency_us < 0: unknown. */
static void push_report(lua_State *L, int mt, int topic, int32_t partition,
                        int64_t offset, const void *key, size_t key_len,
                        int opaque, int64_t latency_us) {
        insync_lua_report_t r = {
                .partition = partition, .offset = offset,
                .key = key, .key_len = key_len, .opaque = opaque,
                .latency_ms = latency_us < 0 ? -1.0 : (double)latency_us / 1000.0,
        };
        r.topic = lua_tolstring(L, topic, &r.topic_len);
        insync_lua_push_report(L, mt, &r);
}

/*
 * Calls back for one report: the stack ends with callback, report, err.
 * The callback is false for a send made without one: then a success is
 * dropped, and a failure goes to on_error(err, report) or, without
 * on_error, to one line on stderr, so that no failure passes unseen.
 */
static void call_back(lua_State *L, int uv, int32_t partition) {
        if (lua_type(L, -3) == LUA_TFUNCTION) {
                lua_call(L, 2, 0);
                return;
        }
        if (lua_isnil(L, -1)) {
                lua_pop(L, 3);
                return;
        }
        lua_rawgeti(L, uv, UV_ON_ERROR);
        lua_replace(L, -4); /* on_error (or nil), report, err */
        insync_lua_undelivered(L, (int)partition);
}

/* Takes the callback and opaque of a report out of the uservalue (at uv)
 * and gives its slot back; pushes the callback and, if op has one, the
 * opaque.  @returns the opaque's index, or 0. */
static int take_callback(lua_State *L, insync_producer_t *p, int uv,
                         intptr_t op) {
        int slot = INSYNC_RK_OP_SLOT(op), opaque = 0;
        if (!slot) {
                lua_pushboolean(L, 0);
                return 0;
        }
        lua_rawgeti(L, uv, slot);
        lua_pushnil(L);
        lua_rawseti(L, uv, slot);
        if (op & 1) {
                lua_rawgeti(L, uv, UV_OPAQUES);
                lua_rawgeti(L, -1, slot);
                lua_pushnil(L);
                lua_rawseti(L, -3, slot);
                lua_remove(L, -2);
                opaque = lua_gettop(L);
        }
        insync_rk_producer_slot_put(&p->rk, slot);
        return opaque;
}

/* Pushes the name of topic rkt: send() keeps it in the uservalue (at uv)
 * under the handle, so that it is not hashed again for each report. */
static void push_topic_name(lua_State *L, int uv, rd_kafka_topic_t *rkt) {
        lua_pushlightuserdata(L, rkt);
        lua_rawget(L, uv);
        if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushstring(L, rd_kafka_topic_name(rkt));
        }
}

/* Pushes the error object of a failed delivery report: error @p code,
 * persisted status @p status; _FATAL and the producer's fatal error itself
 * are reported as the fatal error, flagged fatal. */
static void push_dr_error(lua_State *L, insync_producer_t *p, int code,
                          int status) {
        int fatal = 0;
        char buf[512];
        const char *msg = NULL;
        int fe = p->rk.rk ? rd_kafka_fatal_error(p->rk.rk, buf, sizeof(buf)) : 0;
        if (code == RD_KAFKA_RESP_ERR__FATAL) {
                fatal = 1;
                if (fe) {
                        code = fe;
                        msg = buf;
                }
        } else if (fe && code == fe) {
                /* the error that made the producer fail for good */
                fatal = 1;
        }
        insync_lua_push_error(L, code, msg, status, fatal);
}

/*
 * The body of serve(), run under its one lua_pcall: (producer, timeout_ms)
 * -> number of delivery reports handed out.  Callbacks run with lua_call:
 * every piece of C state (p->rk.cur and its position, outstanding, the slot
 * free list) is brought up to date before each call, so a callback that
 * raises leaves nothing to undo and the rest of the event for the next call.
 */
static int serve_protected(lua_State *L) {
        insync_producer_t *p = lua_touserdata(L, 1);
        int wait = (int)lua_tointeger(L, 2);
        int uv = 3, tname = 4, mt = 5;
        int n = 0;
        rd_kafka_topic_t *last_rkt = NULL;
        rd_kafka_event_t *ev;
        lua_settop(L, 2);
        insync_getuservalue(L, 1);
        lua_pushnil(L); /* tname: the name of last_rkt */
        insync_lua_push_report_mt(L);

        /* First the sends librdkafka refused at once, oldest first. */
        const insync_rk_failed_t *fp;
        while ((fp = insync_rk_producer_next_failed(&p->rk))) {
                /* a copy: a __gc finalizer run by the pushes below may
                 * send, and a refused send grows the array */
                const insync_rk_failed_t fcopy = *fp, *f = &fcopy;
                p->rk.outstanding--;
                p->rk.undelivered++;
                n++;
                wait = 0;
                if (p->rk.track)
                        insync_rk_track_report(p->rk.track,
                                               INSYNC_RK_OP_TRACKED(f->opaque),
                                               f->partition, -1, f->err,
                                               INSYNC_NOT_PERSISTED);
                int opaque = take_callback(L, p, uv, f->opaque);
                push_topic_name(L, uv, f->rkt);
                push_report(L, mt, lua_gettop(L), f->partition, -1, f->key,
                            f->key_len, opaque, 0);
                lua_remove(L, -2); /* the topic name */
                if (opaque)
                        lua_remove(L, opaque);
                insync_lua_push_error(L, f->err, NULL, INSYNC_NOT_PERSISTED,
                                      f->fatal);
                call_back(L, uv, f->partition);
        }

        while ((ev = insync_rk_producer_next_event(&p->rk, wait))) {
                const rd_kafka_message_t *m;
                int nargs = 0;
                wait = 0;
                switch (rd_kafka_event_type(ev)) {
                case RD_KAFKA_EVENT_DR:
                        while ((m = rd_kafka_event_message_next(ev))) {
                                intptr_t op = (intptr_t)m->_private;
                                p->rk.outstanding--;
                                if (m->err)
                                        p->rk.undelivered++;
                                else
                                        p->rk.delivered++;
                                n++;
                                if (p->rk.track)
                                        insync_rk_track_report(
                                                p->rk.track,
                                                INSYNC_RK_OP_TRACKED(op),
                                                m->partition, m->offset, m->err,
                                                (int)rd_kafka_message_status(m));
                                if (!INSYNC_RK_OP_SLOT(op) && !m->err)
                                        continue; /* no callback: silent */
                                int opaque = take_callback(L, p, uv, op);
                                if (m->rkt != last_rkt) {
                                        push_topic_name(L, uv, m->rkt);
                                        lua_replace(L, tname);
                                        last_rkt = m->rkt;
                                }
                                push_report(L, mt, tname, m->partition,
                                            m->err ? -1 : m->offset, m->key,
                                            m->key_len, opaque,
                                            rd_kafka_message_latency(m));
                                if (opaque)
                                        lua_remove(L, opaque);
                                if (m->err) {
                                        push_dr_error(L, p, m->err,
                                                      (int)rd_kafka_message_status(m));
                                } else {
                                        lua_pushnil(L);
                                }
                                call_back(L, uv, m->partition);
                        }
                        break;
                case RD_KAFKA_EVENT_ERROR: {
                        int code = rd_kafka_event_error(ev);
                        int fatal = rd_kafka_event_error_is_fatal(ev);
                        char buf[512];
                        const char *msg = rd_kafka_event_error_string(ev);
                        if (fatal) {
                                int fe = rd_kafka_fatal_error(p->rk.rk, buf,
                                                              sizeof(buf));
                                if (fe) {
                                        code = fe;
                                        msg = buf;
                                }
                        }
                        lua_rawgeti(L, uv, UV_ON_ERROR);
                        insync_lua_push_error(L, code, msg,
                                              INSYNC_NOT_PERSISTED, fatal);
                        nargs = 1;
                        break;
                }
                case RD_KAFKA_EVENT_LOG: {
                        const char *fac = NULL, *str = NULL;
                        int level = 0;
                        rd_kafka_event_log(ev, &fac, &str, &level);
                        lua_rawgeti(L, uv, UV_ON_LOG);
                        lua_pushinteger(L, level);
                        lua_pushstring(L, fac ? fac : "");
                        lua_pushstring(L, str ? str : "");
                        nargs = 3;
                        break;
                }
                case RD_KAFKA_EVENT_STATS:
                        lua_rawgeti(L, uv, UV_ON_STATS);
                        lua_pushstring(L, rd_kafka_event_stats(ev));
                        nargs = 1;
                        break;
                default:
                        break;
                }
                insync_rk_producer_event_done(&p->rk);
                if (nargs) {
                        if (lua_isnil(L, -nargs - 1)) {
                                lua_pop(L, nargs + 1);
                                continue;
                        }
                        lua_call(L, nargs, 0);
                }
        }
        lua_pushinteger(L, n);
        return 1;
}

/**
 * Hands out events until none is left, waiting up to @p timeout_ms for the
 * first.  @returns the number of delivery reports handed out.  When a
 * callback raises, the event being handed out stays in C and the error is
 * raised again, with its traceback, from here.  The producer is at index 1.
 */
static int serve(lua_State *L, insync_producer_t *p, int timeout_ms) {
        int base = lua_gettop(L);
        /* Both made once (LuaJIT allocates for every lua_pushcfunction). */
        lua_pushvalue(L, lua_upvalueindex(UP_TRACEBACK));
        lua_pushvalue(L, lua_upvalueindex(UP_SERVE));
        lua_pushvalue(L, 1);
        lua_pushinteger(L, timeout_ms);
        p->ffi.busy = 1;
        /* cleared before the queue is read: what arrives after sets it */
        __atomic_store_n(&p->ffi.ready, 0, __ATOMIC_SEQ_CST);
        int rc = lua_pcall(L, 2, 1, base + 1);
        p->ffi.busy = 0;
        if (rc != LUA_OK) {
                p->ffi.ready = 1; /* the rest waits in C */
                return lua_error(L);
        }
        int n = (int)lua_tointeger(L, -1);
        lua_settop(L, base);
        return n;
}

/* Serves until nothing is outstanding or timeout_ms (-1: no bound) passed;
 * @returns what is still outstanding.  Waits in rd_kafka_flush, 10 ms at a
 * time: while it runs, librdkafka sends what lingers (linger.ms counts as
 * passed), as a flush must; with the event API it serves nothing itself,
 * so the reports are handed out in between. */
static int64_t flush(lua_State *L, insync_producer_t *p, int timeout_ms) {
        int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
        serve(L, p, 0);
        while (p->rk.outstanding > 0) {
                int64_t left = deadline < 0 ? 10 : deadline - now_ms();
                if (left <= 0)
                        break;
                rd_kafka_flush(p->rk.rk, left > 10 ? 10 : (int)left);
                serve(L, p, 0);
        }
        return p->rk.outstanding;
}

/* p:poll([timeout_ms]) -> number of delivery reports handed out */
static int l_poll(lua_State *L) {
        insync_producer_t *p = check_producer(L, "poll");
        int timeout = insync_lua_opt_timeout(L, 2, "poll", 0);
        check_idle(L, p, "poll");
        if (timeout == 0 && !p->ffi.ready) {
                /* nothing refused, nothing partly handed out, and the
                 * queue has not been filled since it was last emptied */
                lua_pushinteger(L, 0);
                return 1;
        }
        lua_settop(L, 1);
        lua_pushinteger(L, serve(L, p, timeout));
        return 1;
}

/* p:flush([timeout_ms]) -> sends still without their callback */
static int l_flush(lua_State *L) {
        insync_producer_t *p = check_producer(L, "flush");
        int timeout = insync_lua_opt_timeout(L, 2, "flush", -1);
        check_idle(L, p, "flush");
        lua_settop(L, 1);
        lua_pushinteger(L, (lua_Integer)flush(L, p, timeout));
        return 1;
}

/* p:close([timeout_ms]) -> how many sends had to be purged (0 if closed) */
static int l_close(lua_State *L) {
        insync_producer_t *p = to_producer(L, "close");
        if (!p->rk.rk || insync_rk_producer_forked(&p->rk)) {
                /* In a forked child: forget the parent's producer, free
                 * nothing of it, call nothing back. */
                insync_rk_producer_destroy(&p->rk);
                p->ffi.open = 0;
                lua_pushinteger(L, 0);
                return 1;
        }
        int timeout = insync_lua_opt_timeout(L, 2, "close", INSYNC_CLOSE_TIMEOUT_MS);
        check_idle(L, p, "close");
        lua_settop(L, 1);
        int64_t purged = flush(L, p, timeout);
        if (purged > 0) {
                /* What did not make it in time fails now, each with its
                 * own callback (_PURGE_QUEUE or _PURGE_INFLIGHT). */
                insync_rk_producer_purge(&p->rk);
                flush(L, p, INSYNC_PURGE_WAIT_MS);
        }
        insync_rk_producer_destroy(&p->rk);
        p->ffi.open = 0;
        p->last_topic = NULL;
        p->last_rkt = NULL;
        lua_newtable(L);
        insync_setuservalue(L, 1);
        lua_pushinteger(L, (lua_Integer)purged);
        return 1;
}

/* __close(p, err): Lua 5.4's to-be-closed variables. */
static int l_tbc_close(lua_State *L) {
        lua_settop(L, 1);
        return l_close(L);
}

/* __gc: calls no Lua, never waits without bound; what is undelivered is
 * purged and its callbacks dropped along with the producer. */
static int l_gc(lua_State *L) {
        insync_producer_t *p = to_producer(L, "__gc");
        /* the collector never finalizes a producer whose callback runs
         * (the call holds it): this is a script calling __gc itself */
        check_idle(L, p, "__gc");
        insync_rk_producer_destroy(&p->rk);
        p->ffi.open = 0;
        insync_rk_track_free(p->rk.track);
        p->rk.track = NULL;
        return 0;
}

static int l_tostring(lua_State *L) {
        insync_producer_t *p = to_producer(L, "tostring");
        if (p->rk.rk)
                lua_pushfstring(L, "insync.producer (%s)", rd_kafka_name(p->rk.rk));
        else
                lua_pushliteral(L, "insync.producer (closed)");
        return 1;
}

/* p:outstanding() -> accepted sends whose callback has not run yet */
static int l_outstanding(lua_State *L) {
        insync_producer_t *p = check_producer(L, "outstanding");
        lua_pushinteger(L, (lua_Integer)p->rk.outstanding);
        return 1;
}

/* p:counts() -> { sent, delivered, failed, outstanding }: accepted sends,
 * reports handed out without and with an error, sends whose report is
 * still due.  Counts every report, with or without a callback; also on a
 * closed producer. */
static int l_counts(lua_State *L) {
        insync_producer_t *p = to_producer(L, "counts");
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, (lua_Integer)p->rk.sent);
        lua_setfield(L, -2, "sent");
        lua_pushinteger(L, (lua_Integer)p->rk.delivered);
        lua_setfield(L, -2, "delivered");
        lua_pushinteger(L, (lua_Integer)p->rk.undelivered);
        lua_setfield(L, -2, "failed");
        lua_pushinteger(L, (lua_Integer)p->rk.outstanding);
        lua_setfield(L, -2, "outstanding");
        if (p->rk.track) {
                lua_pushinteger(L, (lua_Integer)p->rk.track->n);
                lua_setfield(L, -2, "tracked");
                lua_pushinteger(L, (lua_Integer)insync_rk_track_bytes(p->rk.track));
                lua_setfield(L, -2, "track_bytes");
        }
        return 1;
}

/* p:audit{ timeout_ms =, consumer = { ... } } -> audit | nil, err: reads
 * back what a tracking producer sent (csrc/rdkafka/audit.c); also on a
 * closed producer.  Serves no callback. */
static int l_audit(lua_State *L) {
        insync_producer_t *p = to_producer(L, "audit");
        if (insync_rk_producer_forked(&p->rk))
                return luaL_error(L, "audit: this producer belongs to the "
                                     "process this one was forked from");
        check_idle(L, p, "audit");
        if (!p->rk.track)
                return luaL_error(L, "audit: the producer was made without "
                                     "track = true");
        return insync_lua_audit(L, 2, p->rk.track);
}

/* p:name() -> librdkafka's client instance name, "rdkafka#producer-1" */
static int l_name(lua_State *L) {
        insync_producer_t *p = check_producer(L, "name");
        lua_pushstring(L, rd_kafka_name(p->rk.rk));
        return 1;
}

/* p:test_fatal_error(err_name_or_code [, reason]): librdkafka's own
 * rd_kafka_test_fatal_error(), to exercise fatal error handling. */
static int l_test_fatal_error(lua_State *L) {
        insync_producer_t *p = check_producer(L, "test_fatal_error");
        int code = insync_lua_check_errcode(L, 2, "test_fatal_error: err");
        if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TSTRING)
                return luaL_error(L, "test_fatal_error: reason: expected string, got %s",
                                  luaL_typename(L, 3));
        const char *reason = lua_isnoneornil(L, 3) ? "raised by test_fatal_error"
                                                   : lua_tostring(L, 3);
        rd_kafka_resp_err_t r = rd_kafka_test_fatal_error(
                p->rk.rk, (rd_kafka_resp_err_t)code, reason);
        lua_pushboolean(L, r == RD_KAFKA_RESP_ERR_NO_ERROR);
        return 1;
}

/* core.monotonic() -> seconds on CLOCK_MONOTONIC, for measuring real sends */
static int l_monotonic(lua_State *L) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
        return 1;
}

/* core.thread_cpu() -> CPU seconds of the calling thread alone (not
 * librdkafka's threads): what the Lua layer and the calls it makes cost. */
static int l_thread_cpu(lua_State *L) {
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
        return 1;
}

/* ---------------------------------------------------------------------- */
/* The entry points of LuaJIT's FFI (ffi.h, lua/insync/ffi.lua) */

#define INSYNC_FFI_EXPORT __attribute__((visibility("default")))

INSYNC_FFI_EXPORT double insync_ffi_send(insync_ffi_state_t *s, void *rkt,
                                         const char *key, size_t key_len,
                                         const char *value, size_t value_len,
                                         int32_t partition, int32_t flags) {
        insync_producer_t *p = (insync_producer_t *)s;
        if (!p->rk.rk || p->rk.track || !rkt || partition < -1 ||
            insync_rk_producer_forked(&p->rk))
                return 0;
        int has_cb = flags & 1, has_opaque = (flags >> 1) & 1, slot = 0;
        if (has_cb || has_opaque) {
                slot = insync_rk_producer_slot_get(&p->rk);
                if (slot < 0)
                        return 0;
        }
        /* the message opaque of l_send, without a tracked id */
        void *opaque = (void *)(intptr_t)(((uint64_t)slot << 1) |
                                          (uint64_t)has_opaque);
        if (rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, (void *)value,
                             value_len, key, key_len, opaque)) {
                /* a full queue or a refusal: l_send says which, at the
                 * same cost as here, and queues a refusal's report */
                if (slot)
                        insync_rk_producer_slot_put(&p->rk, slot);
                return 0;
        }
        s->slot = slot;
        p->rk.outstanding++;
        return (double)++p->rk.sent;
}

/* The index in p->rk.topics of a report's topic handle (or of the handle
 * of the same name), -1 if none. */
static int32_t topic_index(insync_producer_t *p, rd_kafka_topic_t *rkt) {
        for (size_t i = 0; i < p->rk.ntopics; i++)
                if (p->rk.topics[i] == rkt)
                        return (int32_t)i;
        const char *name = rd_kafka_topic_name(rkt);
        for (size_t i = 0; i < p->rk.ntopics; i++)
                if (strcmp(rd_kafka_topic_name(p->rk.topics[i]), name) == 0)
                        return (int32_t)i;
        return -1;
}

INSYNC_FFI_EXPORT int insync_ffi_take(insync_ffi_state_t *s,
                                      insync_ffi_report_t *out, int max,
                                      int timeout_ms) {
        insync_producer_t *p = (insync_producer_t *)s;
        s->handed = s->pos = s->n = 0;
        /* -1 with ready at 1: the classic poll that follows must serve */
        if (!p->rk.rk || p->rk.track || max < 1 ||
            p->rk.failed_head < p->rk.nfailed ||
            insync_rk_producer_forked(&p->rk)) {
                s->ready = 1;
                return -1;
        }
        /* cleared before the queue is read: what arrives after sets it */
        __atomic_store_n(&s->ready, 0, __ATOMIC_SEQ_CST);
        rd_kafka_topic_t *last_rkt = NULL;
        int32_t last_topic = -1;
        int n = 0, wait = timeout_ms;
        for (;;) {
                /* p->rk.cur: the event the last batch came from, resumed
                 * (its keys stayed valid until now) or destroyed here */
                rd_kafka_event_t *ev = insync_rk_producer_next_event(&p->rk, wait);
                const rd_kafka_message_t *m;
                wait = 0;
                if (!ev)
                        return 0;
                if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_DR) {
                        s->ready = 1;
                        return -1;
                }
                while (n < max && (m = rd_kafka_event_message_next(ev))) {
                        intptr_t op = (intptr_t)m->_private;
                        s->handed++;
                        if (!INSYNC_RK_OP_SLOT(op) && !m->err) {
                                /* no callback: silent */
                                p->rk.outstanding--;
                                p->rk.delivered++;
                                continue;
                        }
                        insync_ffi_report_t *r = &out[n++];
                        int64_t lat = rd_kafka_message_latency(m);
                        if (m->rkt != last_rkt) {
                                last_rkt = m->rkt;
                                last_topic = topic_index(p, m->rkt);
                        }
                        r->offset = m->err ? -1.0 : (double)m->offset;
                        r->latency_ms = lat < 0 ? -1.0 : (double)lat / 1000.0;
                        r->key = m->key;
                        r->key_len = m->key_len;
                        r->topic = last_topic;
                        r->partition = m->partition;
                        r->slot = INSYNC_RK_OP_SLOT(op);
                        r->err = m->err;
                        r->status = m->err ? (int32_t)rd_kafka_message_status(m) : 0;
                        r->has_opaque = (int32_t)(op & 1);
                }
                if (n) {
                        s->n = n;
                        return n;
                }
                insync_rk_producer_event_done(&p->rk);
        }
}

INSYNC_FFI_EXPORT void insync_ffi_handed(insync_ffi_state_t *s, int32_t slot,
                                          int32_t err) {
        insync_producer_t *p = (insync_producer_t *)s;
        p->rk.outstanding--;
        if (err)
                p->rk.undelivered++;
        else
                p->rk.delivered++;
        if (slot)
                insync_rk_producer_slot_put(&p->rk, slot);
}

INSYNC_FFI_EXPORT const char *insync_ffi_topic_name(insync_ffi_state_t *s,
                                                    int32_t i) {
        insync_producer_t *p = (insync_producer_t *)s;
        if (i < 0 || (size_t)i >= p->rk.ntopics)
                return "";
        return rd_kafka_topic_name(p->rk.topics[i]);
}

INSYNC_FFI_EXPORT double insync_ffi_flush_wait(insync_ffi_state_t *s,
                                               int timeout_ms) {
        insync_producer_t *p = (insync_producer_t *)s;
        if (p->rk.rk && !insync_rk_producer_forked(&p->rk) && timeout_ms > 0)
                rd_kafka_flush(p->rk.rk, timeout_ms > 10 ? 10 : timeout_ms);
        return (double)p->rk.outstanding;
}

INSYNC_FFI_EXPORT double insync_ffi_outstanding(insync_ffi_state_t *s) {
        return (double)((insync_producer_t *)s)->rk.outstanding;
}

INSYNC_FFI_EXPORT double insync_ffi_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

INSYNC_FFI_EXPORT uint32_t insync_ffi_fork_gen(void) {
        return insync_rk_fork_generation();
}

/* The Lua C API helpers of the FFI path, in core.producer_ffi. */

static insync_producer_t *ffi_producer(lua_State *L, const char *what) {
        insync_producer_t *p = lua_touserdata(L, 1);
        int same = 0;
        if (p && lua_getmetatable(L, 1)) {
                luaL_getmetatable(L, INSYNC_PRODUCER_MT);
                same = lua_rawequal(L, -1, -2);
                lua_pop(L, 2);
        }
        if (!same)
                insync_lua_bad_self(L, what, INSYNC_PRODUCER_MT);
        return p;
}

/* state(p) -> light userdata: the producer's insync_ffi_state_t */
static int l_ffi_state(lua_State *L) {
        lua_pushlightuserdata(L, &ffi_producer(L, "state")->ffi);
        return 1;
}

/* uservalue(p) -> the table of callbacks, opaques and topic handles */
static int l_ffi_uservalue(lua_State *L) {
        ffi_producer(L, "uservalue");
        insync_getuservalue(L, 1);
        return 1;
}

/* dr_error(p, code, status) -> the error object of a failed report */
static int l_ffi_dr_error(lua_State *L) {
        insync_producer_t *p = ffi_producer(L, "dr_error");
        push_dr_error(L, p, (int)lua_tointeger(L, 2), (int)lua_tointeger(L, 3));
        return 1;
}

/* undelivered(on_error, report, err, partition): as call_back does for a
 * failed send made without a callback */
static int l_ffi_undelivered(lua_State *L) {
        int partition = (int)lua_tointeger(L, 4);
        lua_settop(L, 3);
        insync_lua_undelivered(L, partition);
        return 0;
}

/* layout() -> { sizes and offsets of ffi.h's structs }, for the spec that
 * checks ffi.cdef's declarations against this compiler's */
static int l_ffi_layout(lua_State *L) {
        lua_createtable(L, 0, 6);
        lua_pushinteger(L, (lua_Integer)sizeof(insync_ffi_state_t));
        lua_setfield(L, -2, "state");
        lua_pushinteger(L, (lua_Integer)offsetof(insync_ffi_state_t, n));
        lua_setfield(L, -2, "state.n");
        lua_pushinteger(L, (lua_Integer)sizeof(insync_ffi_report_t));
        lua_setfield(L, -2, "report");
        lua_pushinteger(L, (lua_Integer)offsetof(insync_ffi_report_t, key_len));
        lua_setfield(L, -2, "report.key_len");
        lua_pushinteger(L, (lua_Integer)offsetof(insync_ffi_report_t, has_opaque));
        lua_setfield(L, -2, "report.has_opaque");
        return 1;
}

/* send_address() -> light userdata: insync_ffi_send, for the Lua side to
 * check that the library it loaded is this one */
static int l_ffi_send_address(lua_State *L) {
        double (*fn)(insync_ffi_state_t *, void *, const char *, size_t,
                     const char *, size_t, int32_t, int32_t) = insync_ffi_send;
        void *addr;
        memcpy(&addr, &fn, sizeof(addr));
        lua_pushlightuserdata(L, addr);
        return 1;
}

void insync_lua_open_producer(lua_State *L) {
        static const luaL_Reg methods[] = {
                {"send", l_send},
                {"poll", l_poll},
                {"flush", l_flush},
                {"close", l_close},
                {"outstanding", l_outstanding},
                {"counts", l_counts},
                {"audit", l_audit},
                {"name", l_name},
                {"test_fatal_error", l_test_fatal_error},
                {NULL, NULL},
        };
        static const luaL_Reg meta[] = {
                {"__gc", l_gc},
                {"__close", l_tbc_close},
                {"__tostring", l_tostring},
                {NULL, NULL},
        };
        if (luaL_newmetatable(L, INSYNC_PRODUCER_MT)) {
                int mt = lua_gettop(L);
                insync_lua_msg_names(L);
                int names = lua_gettop(L);
                for (int i = 0; i < 2; i++) {
                        if (i == 0)
                                lua_pushvalue(L, mt);
                        else
                                lua_newtable(L); /* the methods */
                        lua_pushvalue(L, mt);
                        lua_pushvalue(L, names);
                        lua_pushcfunction(L, insync_lua_traceback);
                        lua_pushcfunction(L, serve_protected);
                        luaL_setfuncs(L, i == 0 ? meta : methods, UP_COUNT);
                        if (i == 0)
                                lua_pop(L, 1);
                }
                lua_setfield(L, mt, "__index");
                lua_pop(L, 1); /* the names */
                lua_pushliteral(L, INSYNC_PRODUCER_MT);
                lua_setfield(L, mt, "__name");
        }
        lua_pop(L, 1);
        lua_pushcfunction(L, l_producer_new);
        lua_setfield(L, -2, "producer");
        lua_pushcfunction(L, l_monotonic);
        lua_setfield(L, -2, "monotonic");
        lua_pushcfunction(L, l_thread_cpu);
        lua_setfield(L, -2, "thread_cpu");
        static const luaL_Reg ffi_helpers[] = {
                {"state", l_ffi_state},
                {"uservalue", l_ffi_uservalue},
                {"dr_error", l_ffi_dr_error},
                {"undelivered", l_ffi_undelivered},
                {"send_address", l_ffi_send_address},
                {"layout", l_ffi_layout},
                {NULL, NULL},
        };
        lua_newtable(L);
        luaL_setfuncs(L, ffi_helpers, 0);
        lua_setfield(L, -2, "producer_ffi");
}
