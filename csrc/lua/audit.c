/**
 * @file audit.c
 * @brief The audit's Lua shape, which c:audit() (csrc/lua/cluster.c) and
 * p:audit() share; p:audit() of a tracking producer: reads its options,
 * runs the audit on real Kafka (csrc/rdkafka/audit.c) and returns it.
 */
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "../common/kerr.h"
#include "../rdkafka/audit.h"

/* Default bound of an audit, in milliseconds. */
#define INSYNC_AUDIT_TIMEOUT_MS 10000

static void push_entry(lua_State *L, void *ud, const insync_audit_item_t *it) {
        const insync_rk_track_t *t = ud;
        const insync_rk_tracked_t *e = insync_rk_track_get(t, it->id);
        lua_createtable(L, 0, 6);
        lua_pushstring(L, t->topic_names[e->topic]);
        lua_setfield(L, -2, "topic");
        if (e->partition >= 0) {
                lua_pushinteger(L, e->partition);
                lua_setfield(L, -2, "partition");
        }
        const char *k = insync_rk_track_key(t, e);
        if (k) {
                lua_pushlstring(L, k, e->key_len);
                lua_setfield(L, -2, "key");
        }
        if (it->offset >= 0) {
                lua_pushinteger(L, (lua_Integer)it->offset);
                lua_setfield(L, -2, "offset");
        }
        lua_pushinteger(L, (lua_Integer)it->id);
        lua_setfield(L, -2, "id");
        if (e->err) {
                lua_pushstring(L, insync_lua_err_name(e->err));
                lua_setfield(L, -2, "error");
        }
        if (it->above_hw) {
                lua_pushboolean(L, 1);
                lua_setfield(L, -2, "above_hw");
        }
}

/* Reads opts.consumer into a NULL-terminated key, value list held by a
 * userdata pushed on the stack (its strings stay on the stack). */
static const char *const *read_consumer_conf(lua_State *L, int opts) {
        lua_getfield(L, opts, "consumer");
        int cc = lua_gettop(L);
        if (lua_isnil(L, cc))
                return NULL;
        if (lua_type(L, cc) != LUA_TTABLE)
                luaL_error(L, "audit: opts.consumer: expected table, got %s",
                           luaL_typename(L, cc));
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, cc)) {
                n++;
                lua_pop(L, 1);
        }
        const char **kv = lua_newuserdata(L, (2 * n + 1) * sizeof(*kv));
        lua_newtable(L); /* keeps the value strings alive */
        int keep = lua_gettop(L);
        size_t i = 0;
        char numbuf[64];
        lua_pushnil(L);
        while (lua_next(L, cc)) {
                if (lua_type(L, -2) != LUA_TSTRING)
                        luaL_error(L, "audit: opts.consumer: configuration keys "
                                      "must be strings, got %s",
                                   luaL_typename(L, -2));
                const char *v = insync_lua_conf_value(L, -1, numbuf, sizeof(numbuf));
                if (!v)
                        luaL_error(L, "audit: opts.consumer: property '%s': "
                                      "expected string, number or boolean, "
                                      "got %s",
                                   lua_tostring(L, -2), luaL_typename(L, -1));
                lua_pushstring(L, v);
                kv[i] = lua_tostring(L, -3);
                kv[i + 1] = lua_tostring(L, -1);
                lua_rawseti(L, keep, (int)i + 2);
                lua_pop(L, 1);
                i += 2;
        }
        kv[i] = NULL;
        return kv;
}

void insync_lua_push_audit(lua_State *L, const insync_audit_t *a,
                           insync_lua_audit_entry_fn entry, void *ud) {
        static const char *const kinds[] = {"lost", "duplicated", "unexpected",
                                            "uncommitted", "reordered",
                                            "inconsistent"};
        lua_createtable(L, 0, 10);
        int res = lua_gettop(L);
        lua_pushinteger(L, (lua_Integer)a->sent);
        lua_setfield(L, res, "sent");
        lua_pushinteger(L, (lua_Integer)a->acked);
        lua_setfield(L, res, "acked");
        lua_pushinteger(L, (lua_Integer)a->failed);
        lua_setfield(L, res, "failed");
        lua_pushinteger(L, (lua_Integer)a->pending);
        lua_setfield(L, res, "pending");
        for (int k = 0; k < 6; k++)
                lua_newtable(L);
        int n[6] = {0};
        for (size_t i = 0; i < a->n; i++) {
                int k = a->items[i].kind;
                entry(L, ud, &a->items[i]);
                lua_rawseti(L, res + 1 + k, ++n[k]);
        }
        for (int k = 5; k >= 0; k--)
                lua_setfield(L, res, kinds[k]);
}

int insync_lua_audit(lua_State *L, int opts, const insync_rk_track_t *t) {
        int timeout = INSYNC_AUDIT_TIMEOUT_MS;
        const char *const *conf = NULL;
        if (!lua_isnoneornil(L, opts)) {
                if (lua_type(L, opts) != LUA_TTABLE)
                        return luaL_error(L, "audit: opts: expected table, got %s",
                                          luaL_typename(L, opts));
                static const char *const known[] = {"timeout_ms", "consumer",
                                                    NULL};
                lua_pushnil(L);
                while (lua_next(L, opts)) {
                        int ok = 0;
                        for (int k = 0; known[k]; k++)
                                ok |= lua_type(L, -2) == LUA_TSTRING &&
                                      strcmp(lua_tostring(L, -2), known[k]) == 0;
                        if (!ok)
                                return luaL_error(
                                        L, "audit: opts: unknown option '%s' "
                                           "(timeout_ms, consumer)",
                                        lua_type(L, -2) == LUA_TSTRING
                                                ? lua_tostring(L, -2)
                                                : luaL_typename(L, -2));
                        lua_pop(L, 1);
                }
                lua_getfield(L, opts, "timeout_ms");
                timeout = insync_lua_opt_timeout(L, lua_gettop(L), "audit",
                                                 INSYNC_AUDIT_TIMEOUT_MS);
                lua_pop(L, 1);
                conf = read_consumer_conf(L, opts);
        }
        insync_audit_t a;
        char errbuf[512];
        int err = 0;
        int rc = insync_rk_audit(t, conf, timeout, &a, &err, errbuf,
                                 sizeof(errbuf));
        if (rc == INSYNC_RK_AUDIT_NOMEM)
                return luaL_error(L, "audit: out of memory");
        if (rc == INSYNC_RK_AUDIT_BADCONF)
                return luaL_error(L, "audit: opts.%s", errbuf);
        if (rc != INSYNC_RK_AUDIT_OK) {
                lua_pushnil(L);
                insync_lua_push_error(L, err, errbuf, INSYNC_NOT_PERSISTED, 0);
                return 2;
        }
        /* as c:audit() does: only memory exhaustion raises from here */
        insync_lua_push_audit(L, &a, push_entry, (void *)t);
        insync_audit_free(&a);
        return 1;
}
