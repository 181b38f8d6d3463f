/**
 * @file errors.c
 * @brief The error object of docs/errors.md, built here and nowhere else, and the
 * table of every librdkafka error name.
 */
#include <stdio.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "binding.h"
#include "../common/kerr.h"

#define INSYNC_ERROR_MT "insync.error"

static const char *const persisted_names[] = {
        "not_persisted", "possibly_persisted", "persisted",
};

const char *insync_lua_err_name(int code) {
        return rd_kafka_err2name((rd_kafka_resp_err_t)code);
}

static int error_tostring(lua_State *L) {
        lua_getfield(L, 1, "name");
        lua_pushliteral(L, ": ");
        lua_getfield(L, 1, "message");
        lua_concat(L, 3);
        return 1;
}

void insync_lua_push_error(lua_State *L, int code, const char *message,
                           int persisted, int fatal) {
        if (persisted < INSYNC_NOT_PERSISTED || persisted > INSYNC_PERSISTED)
                persisted = INSYNC_POSSIBLY_PERSISTED;
        lua_createtable(L, 0, 6);
        lua_pushinteger(L, code);
        lua_setfield(L, -2, "code");
        lua_pushstring(L, insync_lua_err_name(code));
        lua_setfield(L, -2, "name");
        lua_pushstring(L, message && *message
                                  ? message
                                  : rd_kafka_err2str((rd_kafka_resp_err_t)code));
        lua_setfield(L, -2, "message");
        lua_pushboolean(L, insync_kerr_retriable(code) && !fatal);
        lua_setfield(L, -2, "retriable");
        lua_pushboolean(L, fatal || code == INSYNC_KERR__FATAL);
        lua_setfield(L, -2, "fatal");
        lua_pushstring(L, persisted_names[persisted]);
        lua_setfield(L, -2, "persisted");
        luaL_getmetatable(L, INSYNC_ERROR_MT);
        lua_setmetatable(L, -2);
}

void insync_lua_check_open(lua_State *L, const void *handle, const char *what,
                           const char *type) {
        if (!handle)
                luaL_error(L, "%s: attempt to use a closed %s", what, type);
}

const char *insync_lua_show(lua_State *L, int idx) {
        if (idx < 0 && idx > LUA_REGISTRYINDEX)
                idx = lua_gettop(L) + idx + 1;
        size_t len;
        switch (lua_type(L, idx)) {
        case LUA_TSTRING: {
                const char *s = lua_tolstring(L, idx, &len);
                if (len <= INSYNC_SHOW_MAX) {
                        lua_pushvalue(L, idx);
                } else {
                        lua_pushlstring(L, s, INSYNC_SHOW_MAX);
                        lua_pushliteral(L, "...");
                        lua_concat(L, 2);
                }
                break;
        }
        case LUA_TNUMBER:
                lua_pushvalue(L, idx);
                lua_tolstring(L, -1, NULL); /* the copy becomes its text */
                break;
        default:
                lua_pushstring(L, lua_isnone(L, idx) ? "nil" : luaL_typename(L, idx));
        }
        return lua_tostring(L, -1);
}

int insync_lua_traceback(lua_State *L) {
        const char *msg = lua_tostring(L, 1);
        if (msg)
                luaL_traceback(L, L, msg, 1);
        return 1; /* the traceback, or the error object at 1 */
}

int insync_lua_bad_self(lua_State *L, const char *what, const char *type) {
        return luaL_error(L, "%s: self: expected %s, got %s", what, type,
                          lua_isnone(L, 1) ? "nil" : luaL_typename(L, 1));
}

void insync_lua_undelivered(lua_State *L, int partition) {
        if (!lua_isnil(L, -3)) {
                lua_insert(L, -2); /* on_error, err, report */
                lua_call(L, 2, 0);
                return;
        }
        int top = lua_gettop(L);
        lua_getfield(L, top - 1, "topic");
        lua_getfield(L, top, "name");
        lua_getfield(L, top, "message");
        fprintf(stderr,
                "insync: undelivered record (no callback, no on_error): "
                "%s [%d]: %s: %s\n",
                lua_tostring(L, -3), partition, lua_tostring(L, -2),
                lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
        lua_settop(L, top - 3);
}

/* Kafka 2.6 renamed NOT_LEADER_FOR_PARTITION (6) to NOT_LEADER_OR_FOLLOWER;
 * librdkafka 2.0.2 still reports the old name.  Both look the code up. */
#define INSYNC_ALIAS_NOT_LEADER "NOT_LEADER_OR_FOLLOWER"

/* A real error name, not one of librdkafka's _BEGIN/_END range markers. */
static int is_error_name(const struct rd_kafka_err_desc *d) {
        return d->name && strcmp(rd_kafka_err2name(d->code), d->name) == 0;
}

/* Looks a name up in librdkafka's list; returns 1 and sets *code if found. */
static int errcode_by_name(const char *name, int *code) {
        const struct rd_kafka_err_desc *descs;
        size_t n;
        if (strcmp(name, INSYNC_ALIAS_NOT_LEADER) == 0) {
                *code = INSYNC_KERR_NOT_LEADER_OR_FOLLOWER;
                return 1;
        }
        rd_kafka_get_err_descs(&descs, &n);
        for (size_t i = 0; i < n; i++) {
                if (is_error_name(&descs[i]) && strcmp(descs[i].name, name) == 0) {
                        *code = (int)descs[i].code;
                        return 1;
                }
        }
        return 0;
}

int insync_lua_check_errcode(lua_State *L, int arg, const char *what) {
        int code = 0;
        if (lua_type(L, arg) == LUA_TNUMBER) {
                if (!insync_isinteger(L, arg) || lua_tointeger(L, arg) < INT32_MIN ||
                    lua_tointeger(L, arg) > INT32_MAX)
                        luaL_error(L, "%s: expected an error name or code, got %s",
                                   what, insync_lua_show(L, arg));
                return (int)lua_tointeger(L, arg);
        }
        if (lua_type(L, arg) != LUA_TSTRING)
                luaL_error(L, "%s: expected an error name or code, got %s",
                           what, luaL_typename(L, arg));
        if (!errcode_by_name(lua_tostring(L, arg), &code))
                luaL_error(L, "%s: unknown error name '%s'", what,
                           insync_lua_show(L, arg));
        return code;
}

/* core.error(name_or_code [, message [, persisted [, fatal]]]) */
static int l_error(lua_State *L) {
        int code = insync_lua_check_errcode(L, 1, "error: code");
        if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TSTRING)
                return luaL_error(L, "error: message: expected string or nil, got %s",
                                  luaL_typename(L, 2));
        const char *message = lua_tostring(L, 2);
        int persisted = INSYNC_NOT_PERSISTED;
        if (!lua_isnoneornil(L, 3)) {
                const char *s = lua_type(L, 3) == LUA_TSTRING ? lua_tostring(L, 3) : "";
                for (persisted = INSYNC_PERSISTED; persisted >= INSYNC_NOT_PERSISTED &&
                                                   strcmp(s, persisted_names[persisted]) != 0;
                     persisted--)
                        ;
                if (persisted < INSYNC_NOT_PERSISTED)
                        return luaL_error(L, "error: persisted: expected \"not_persisted\", "
                                             "\"possibly_persisted\" or \"persisted\", got %s",
                                          insync_lua_show(L, 3));
        }
        int fatal = lua_toboolean(L, 4);
        insync_lua_push_error(L, code, message, persisted, fatal);
        return 1;
}

/* core.error_codes(): a fresh table, every librdkafka error name -> code,
 * plus Kafka's NOT_LEADER_OR_FOLLOWER. */
static int l_error_codes(lua_State *L) {
        const struct rd_kafka_err_desc *descs;
        size_t n;
        rd_kafka_get_err_descs(&descs, &n);
        lua_createtable(L, 0, (int)n + 1);
        for (size_t i = 0; i < n; i++) {
                if (!is_error_name(&descs[i]))
                        continue;
                lua_pushinteger(L, descs[i].code);
                lua_setfield(L, -2, descs[i].name);
        }
        lua_pushinteger(L, INSYNC_KERR_NOT_LEADER_OR_FOLLOWER);
        lua_setfield(L, -2, INSYNC_ALIAS_NOT_LEADER);
        return 1;
}

void insync_lua_open_errors(lua_State *L) {
        static const luaL_Reg mt[] = {{"__tostring", error_tostring},
                                      {NULL, NULL}};
        static const luaL_Reg fns[] = {{"error", l_error},
                                       {"error_codes", l_error_codes},
                                       {NULL, NULL}};
        if (luaL_newmetatable(L, INSYNC_ERROR_MT))
                luaL_setfuncs(L, mt, 0);
        lua_setfield(L, -2, "error_mt");
        luaL_setfuncs(L, fns, 0);
}
