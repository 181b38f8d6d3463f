/**
 * @file consumer.c
 * @brief insync.consumer: librdkafka's consumer, without a group, reading
 * the partitions it is assigned.  The librdkafka side is
 * csrc/rdkafka/consumer.c; this file reads Lua arguments and turns records
 * into Lua tables.  It runs no callback: poll returns what it read.
 *
 * Misuse raises naming the argument; what happens on the network (an
 * unknown partition, no broker) comes back as error objects, never raised.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "binding.h"
#include "../common/kerr.h"
#include "../rdkafka/consumer.h"
#include "../rdkafka/producer.h" /* insync_rk_conf_set */

#define INSYNC_CONSUMER_MT "insync.consumer"

/** Default bound of poll's wait, of watermarks and of partitions. */
#define INSYNC_CONSUMER_POLL_MS 0
#define INSYNC_CONSUMER_QUERY_MS 5000
/** Default and largest number of records one poll returns. */
#define INSYNC_CONSUMER_POLL_MAX 500
#define INSYNC_CONSUMER_POLL_LIMIT 1000000

typedef struct insync_consumer_s {
        insync_rk_consumer_t rk; /**< rk.rk == NULL: closed (or not yet open) */
} insync_consumer_t;

/* The consumer at index 1, open or closed; raises naming @p what if it is
 * something else. */
static insync_consumer_t *to_consumer(lua_State *L, const char *what) {
        insync_consumer_t *c = lua_touserdata(L, 1);
        if (!c || !lua_getmetatable(L, 1) ||
            lua_topointer(L, -1) != lua_topointer(L, lua_upvalueindex(1)))
                luaL_error(L, "%s: self: expected %s, got %s", what,
                           INSYNC_CONSUMER_MT, luaL_typename(L, 1));
        lua_pop(L, 1);
        return c;
}

static insync_consumer_t *check_consumer(lua_State *L, const char *what) {
        insync_consumer_t *c = to_consumer(L, what);
        if (!c->rk.rk)
                luaL_error(L, "%s: attempt to use a closed consumer", what);
        if (insync_rk_consumer_forked(&c->rk))
                luaL_error(L, "%s: this consumer belongs to the process this "
                              "one was forked from; make a new consumer "
                              "after fork",
                           what);
        return c;
}

/* core.consumer(conf) */
static int l_consumer_new(lua_State *L) {
        char errbuf[512], numbuf[64];
        lua_settop(L, 1);
        if (lua_type(L, 1) != LUA_TTABLE)
                return luaL_error(L, "consumer: conf: expected table, got %s",
                                  luaL_typename(L, 1));
        /* Inert first: a closed consumer until librdkafka says yes. */
        insync_consumer_t *c = lua_newuserdata(L, sizeof(*c));
        memset(c, 0, sizeof(*c));
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_setmetatable(L, 2);

        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        lua_pushnil(L);
        while (lua_next(L, 1)) {
                if (lua_type(L, -2) != LUA_TSTRING) {
                        rd_kafka_conf_destroy(conf);
                        return luaL_error(L, "consumer: configuration keys "
                                             "must be strings, got %s",
                                          luaL_typename(L, -2));
                }
                const char *key = lua_tostring(L, -2);
                const char *value =
                        insync_lua_conf_value(L, -1, numbuf, sizeof(numbuf));
                if (!value) {
                        rd_kafka_conf_destroy(conf);
                        return luaL_error(L, "consumer: property '%s': expected "
                                             "string, number or boolean, got %s",
                                          key, luaL_typename(L, -1));
                }
                if (insync_rk_conf_set(conf, key, value, errbuf,
                                       sizeof(errbuf))) {
                        rd_kafka_conf_destroy(conf);
                        return luaL_error(L, "consumer: property '%s': %s", key,
                                          errbuf);
                }
                lua_pop(L, 1);
        }
        if (insync_rk_consumer_init(&c->rk, conf, errbuf, sizeof(errbuf)))
                return luaL_error(L, "consumer: %s", errbuf);
        lua_settop(L, 2);
        return 1;
}

/* Reads an entry's offset at the top: "beginning", "end" or a number >= 0. */
static int64_t check_offset(lua_State *L, int i) {
        if (lua_isnil(L, -1))
                return INSYNC_RK_FROM_BEGINNING;
        if (lua_type(L, -1) == LUA_TSTRING) {
                const char *s = lua_tostring(L, -1);
                if (strcmp(s, "beginning") == 0)
                        return INSYNC_RK_FROM_BEGINNING;
                if (strcmp(s, "end") == 0)
                        return INSYNC_RK_FROM_END;
        } else if (insync_isinteger(L, -1) && lua_tointeger(L, -1) >= 0) {
                return (int64_t)lua_tointeger(L, -1);
        }
        return luaL_error(L, "assign: partitions[%d].offset: expected "
                             "\"beginning\", \"end\" or an offset >= 0, got %s",
                          i, lua_type(L, -1) == LUA_TSTRING
                                     ? lua_tostring(L, -1)
                                     : luaL_typename(L, -1));
}

/* c:assign({ { topic =, partition =, offset = }, ... }) -> true | nil, err
 * Replaces the assignment; {} clears it. */
static int l_assign(lua_State *L) {
        insync_consumer_t *c = check_consumer(L, "assign");
        if (lua_type(L, 2) != LUA_TTABLE)
                return luaL_error(L, "assign: partitions: expected table, got %s",
                                  luaL_typename(L, 2));
        size_t n = lua_rawlen(L, 2);
        /* Read and checked into Lua-owned memory first: nothing to free
         * when an entry raises. */
        const char **topics = lua_newuserdata(L, (n ? n : 1) * sizeof(*topics));
        int32_t *parts = lua_newuserdata(L, (n ? n : 1) * sizeof(*parts));
        int64_t *offsets = lua_newuserdata(L, (n ? n : 1) * sizeof(*offsets));
        lua_createtable(L, (int)n, 0); /* keeps the topic names alive */
        int names = lua_gettop(L);
        for (size_t i = 0; i < n; i++) {
                lua_rawgeti(L, 2, (int)i + 1);
                if (lua_type(L, -1) != LUA_TTABLE)
                        return luaL_error(L, "assign: partitions[%d]: expected "
                                             "table, got %s",
                                          (int)i + 1, luaL_typename(L, -1));
                lua_getfield(L, -1, "topic");
                size_t len;
                if (lua_type(L, -1) != LUA_TSTRING)
                        return luaL_error(L, "assign: partitions[%d].topic: "
                                             "expected string, got %s",
                                          (int)i + 1, luaL_typename(L, -1));
                topics[i] = lua_tolstring(L, -1, &len);
                insync_lua_check_topic(L, topics[i], len);
                lua_rawseti(L, names, (int)i + 1);
                lua_getfield(L, -1, "partition");
                if (!insync_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
                    lua_tointeger(L, -1) > INT32_MAX)
                        return luaL_error(L, "assign: partitions[%d].partition: "
                                             "expected an integer >= 0, got %s",
                                          (int)i + 1, luaL_typename(L, -1));
                parts[i] = (int32_t)lua_tointeger(L, -1);
                lua_pop(L, 1);
                lua_getfield(L, -1, "offset");
                offsets[i] = check_offset(L, (int)i + 1);
                lua_pop(L, 2);
        }
        int err = insync_rk_consumer_assign(&c->rk, n, topics, parts, offsets);
        if (err) {
                lua_pushnil(L);
                insync_lua_push_error(L, err, NULL, INSYNC_NOT_PERSISTED, 0);
                return 2;
        }
        lua_pushboolean(L, 1);
        return 1;
}

/* insync_lua_... style walk of a record's headers into a list of pairs. */
static void push_headers(lua_State *L, rd_kafka_message_t *m) {
        rd_kafka_headers_t *hdrs;
        if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return;
        const char *name;
        const void *val;
        size_t size;
        lua_createtable(L, (int)rd_kafka_header_cnt(hdrs), 0);
        for (size_t i = 0;
             !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
                lua_createtable(L, 2, 0);
                lua_pushstring(L, name);
                lua_rawseti(L, -2, 1);
                if (val) {
                        lua_pushlstring(L, val, size);
                        lua_rawseti(L, -2, 2);
                }
                lua_rawseti(L, -2, (int)i + 1);
        }
        lua_setfield(L, -2, "headers");
}

/* Pushes record m; the name of m->rkt is at index tname. */
static void push_record(lua_State *L, rd_kafka_message_t *m, int tname) {
        lua_createtable(L, 0, 8);
        lua_pushvalue(L, tname);
        lua_setfield(L, -2, "topic");
        lua_pushinteger(L, m->partition);
        lua_setfield(L, -2, "partition");
        lua_pushinteger(L, (lua_Integer)m->offset);
        lua_setfield(L, -2, "offset");
        if (m->key) {
                lua_pushlstring(L, m->key, m->key_len);
                lua_setfield(L, -2, "key");
        }
        if (m->payload) {
                lua_pushlstring(L, m->payload, m->len);
                lua_setfield(L, -2, "value");
        }
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        if (tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) {
                lua_pushinteger(L, (lua_Integer)ts);
                lua_setfield(L, -2, "timestamp");
                lua_pushstring(L, tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME
                                          ? "create"
                                          : "log_append");
                lua_setfield(L, -2, "timestamp_type");
        }
        push_headers(L, m);
}

/* Pushes the error object of a failed message, with its topic and
 * partition when it has them. */
static void push_message_error(lua_State *L, rd_kafka_message_t *m) {
        const char *msg = m->payload ? rd_kafka_message_errstr(m) : NULL;
        insync_lua_push_error(L, m->err, msg, INSYNC_NOT_PERSISTED, 0);
        if (m->rkt) {
                lua_pushstring(L, rd_kafka_topic_name(m->rkt));
                lua_setfield(L, -2, "topic");
                lua_pushinteger(L, m->partition);
                lua_setfield(L, -2, "partition");
        }
}

/* c:poll([timeout_ms [, max]]) -> records [, errors]
 * Waits up to timeout_ms (default 0, -1: no bound) for the first record or
 * error, then takes what is already there, max (default 500) at most. */
static int l_poll(lua_State *L) {
        insync_consumer_t *c = check_consumer(L, "poll");
        int timeout = insync_lua_opt_timeout(L, 2, "poll",
                                             INSYNC_CONSUMER_POLL_MS);
        lua_Integer max = INSYNC_CONSUMER_POLL_MAX;
        if (!lua_isnoneornil(L, 3)) {
                if (!insync_isinteger(L, 3) || lua_tointeger(L, 3) < 1)
                        return luaL_error(L, "poll: max: expected an integer "
                                             ">= 1, got %s",
                                          luaL_typename(L, 3));
                max = lua_tointeger(L, 3);
                if (max > INSYNC_CONSUMER_POLL_LIMIT)
                        max = INSYNC_CONSUMER_POLL_LIMIT;
        }
        lua_settop(L, 1);
        lua_createtable(L, max < 64 ? (int)max : 64, 0); /* 2: records */
        lua_pushnil(L);                                   /* 3: errors */
        lua_pushnil(L);                                   /* 4: topic name */
        rd_kafka_topic_t *last_rkt = NULL;
        int n = 0, nerr = 0;
        rd_kafka_message_t *m;
        /* Each message is turned into Lua values before the next is taken,
         * and destroyed right after: a raise (out of memory) leaks one. */
        while (n + nerr < max && (m = insync_rk_consumer_next(&c->rk, timeout))) {
                timeout = 0;
                if (m->err) {
                        if (nerr == 0) {
                                lua_newtable(L);
                                lua_replace(L, 3);
                        }
                        push_message_error(L, m);
                        rd_kafka_message_destroy(m);
                        lua_rawseti(L, 3, ++nerr);
                        continue;
                }
                if (m->rkt != last_rkt) {
                        lua_pushstring(L, rd_kafka_topic_name(m->rkt));
                        lua_replace(L, 4);
                        last_rkt = m->rkt;
                }
                push_record(L, m, 4);
                rd_kafka_message_destroy(m);
                lua_rawseti(L, 2, ++n);
        }
        /* and those librdkafka gave its error callback meanwhile */
        char *reason;
        int code;
        while ((code = insync_rk_consumer_next_error(&c->rk, &reason))) {
                if (nerr == 0) {
                        lua_newtable(L);
                        lua_replace(L, 3);
                }
                insync_lua_push_error(L, code, reason, INSYNC_NOT_PERSISTED, 0);
                free(reason);
                lua_rawseti(L, 3, ++nerr);
        }
        lua_settop(L, nerr ? 3 : 2);
        return nerr ? 2 : 1;
}

/* c:at_end() -> true when every assigned partition is at its end */
static int l_at_end(lua_State *L) {
        insync_consumer_t *c = check_consumer(L, "at_end");
        lua_pushboolean(L, insync_rk_consumer_at_end(&c->rk));
        return 1;
}

static int32_t check_partition(lua_State *L, int arg, const char *what) {
        if (!insync_isinteger(L, arg) || lua_tointeger(L, arg) < 0 ||
            lua_tointeger(L, arg) > INT32_MAX)
                return luaL_error(L, "%s: partition: expected an integer >= 0, "
                                     "got %s",
                                  what, luaL_typename(L, arg));
        return (int32_t)lua_tointeger(L, arg);
}

static const char *check_topic_arg(lua_State *L, int arg, const char *what) {
        size_t len;
        if (lua_type(L, arg) != LUA_TSTRING)
                luaL_error(L, "%s: topic: expected string, got %s", what,
                           luaL_typename(L, arg));
        const char *t = lua_tolstring(L, arg, &len);
        insync_lua_check_topic(L, t, len);
        return t;
}

/* c:watermarks(topic, partition [, timeout_ms]) -> low, high | nil, err */
static int l_watermarks(lua_State *L) {
        insync_consumer_t *c = check_consumer(L, "watermarks");
        const char *topic = check_topic_arg(L, 2, "watermarks");
        int32_t part = check_partition(L, 3, "watermarks");
        int timeout = insync_lua_opt_timeout(L, 4, "watermarks",
                                             INSYNC_CONSUMER_QUERY_MS);
        int64_t low, high;
        int err = insync_rk_consumer_watermarks(&c->rk, topic, part, &low,
                                                &high, timeout);
        if (err) {
                lua_pushnil(L);
                insync_lua_push_error(L, err, NULL, INSYNC_NOT_PERSISTED, 0);
                return 2;
        }
        lua_pushinteger(L, (lua_Integer)low);
        lua_pushinteger(L, (lua_Integer)high);
        return 2;
}

/* c:partitions(topic [, timeout_ms]) -> count | nil, err */
static int l_partitions(lua_State *L) {
        insync_consumer_t *c = check_consumer(L, "partitions");
        const char *topic = check_topic_arg(L, 2, "partitions");
        int timeout = insync_lua_opt_timeout(L, 3, "partitions",
                                             INSYNC_CONSUMER_QUERY_MS);
        int err;
        int n = insync_rk_consumer_partitions(&c->rk, topic, timeout, &err);
        if (n < 0) {
                lua_pushnil(L);
                insync_lua_push_error(L, err, NULL, INSYNC_NOT_PERSISTED, 0);
                return 2;
        }
        lua_pushinteger(L, n);
        return 1;
}

/* c:close(): idempotent; also __close and __gc.  In a forked child it
 * forgets the parent's consumer. */
static int l_close(lua_State *L) {
        insync_consumer_t *c = to_consumer(L, "close");
        insync_rk_consumer_destroy(&c->rk);
        return 0;
}

static int l_tbc_close(lua_State *L) {
        lua_settop(L, 1);
        return l_close(L);
}

static int l_tostring(lua_State *L) {
        insync_consumer_t *c = to_consumer(L, "tostring");
        if (c->rk.rk)
                lua_pushfstring(L, "insync.consumer (%s)", rd_kafka_name(c->rk.rk));
        else
                lua_pushliteral(L, "insync.consumer (closed)");
        return 1;
}

/* c:name() -> librdkafka's client instance name */
static int l_name(lua_State *L) {
        insync_consumer_t *c = check_consumer(L, "name");
        lua_pushstring(L, rd_kafka_name(c->rk.rk));
        return 1;
}

/* c:consumed() -> records handed out since creation (also when closed) */
static int l_consumed(lua_State *L) {
        insync_consumer_t *c = to_consumer(L, "consumed");
        lua_pushinteger(L, (lua_Integer)c->rk.consumed);
        return 1;
}

void insync_lua_open_consumer(lua_State *L) {
        static const luaL_Reg methods[] = {
                {"assign", l_assign},
                {"poll", l_poll},
                {"at_end", l_at_end},
                {"watermarks", l_watermarks},
                {"partitions", l_partitions},
                {"close", l_close},
                {"name", l_name},
                {"consumed", l_consumed},
                {NULL, NULL},
        };
        static const luaL_Reg meta[] = {
                {"__gc", l_close},
                {"__close", l_tbc_close},
                {"__tostring", l_tostring},
                {NULL, NULL},
        };
        if (luaL_newmetatable(L, INSYNC_CONSUMER_MT)) {
                int mt = lua_gettop(L);
                lua_pushvalue(L, mt);
                luaL_setfuncs(L, meta, 1);
                lua_newtable(L);
                lua_pushvalue(L, mt);
                luaL_setfuncs(L, methods, 1);
                lua_setfield(L, mt, "__index");
                lua_pushliteral(L, INSYNC_CONSUMER_MT);
                lua_setfield(L, mt, "__name");
        }
        lua_pushcclosure(L, l_consumer_new, 1);
        lua_setfield(L, -2, "consumer");
}
