/**
 * @file conf.c
 * @brief What the bindings of librdkafka handles (producer, consumer) read
 * the same way (configuration values and timeouts), and core.conf_check and
 * core.conf_unsupported: librdkafka's view of a configuration key, for the
 * model's producer (lua/insync/cluster.lua).
 */
#include <stdio.h>

#include "../rdkafka/conf.h"
#include "binding.h"

const char *insync_lua_conf_value(lua_State *L, int idx, char *buf,
                                  size_t size) {
        switch (lua_type(L, idx)) {
        case LUA_TSTRING:
                return lua_tostring(L, idx);
        case LUA_TBOOLEAN:
                return lua_toboolean(L, idx) ? "true" : "false";
        case LUA_TNUMBER:
                if (insync_isinteger(L, idx))
                        snprintf(buf, size, "%lld",
                                 (long long)lua_tointeger(L, idx));
                else
                        snprintf(buf, size, "%.17g",
                                 (double)lua_tonumber(L, idx));
                return buf;
        default:
                return NULL;
        }
}

int insync_lua_opt_timeout(lua_State *L, int arg, const char *what, int dflt) {
        /* one lua_type: this runs in every poll(0) */
        int ty = lua_type(L, arg);
        if (ty == LUA_TNONE || ty == LUA_TNIL)
                return dflt;
        if (ty != LUA_TNUMBER)
                return luaL_error(L, "%s: timeout_ms: expected number, got %s",
                                  what, lua_typename(L, ty));
        lua_Number t = lua_tonumber(L, arg);
        if (t != t)
                return luaL_error(L, "%s: timeout_ms: expected number, got nan",
                                  what);
        if (t < 0)
                return -1;
        return t > 2147483647.0 ? 2147483647 : (int)t;
}

/* core.conf_check(key, value) -> true | nil, librdkafka's message */
static int l_conf_check(lua_State *L) {
        char errbuf[512], numbuf[64];
        const char *key = luaL_checkstring(L, 1);
        const char *value = insync_lua_conf_value(L, 2, numbuf, sizeof(numbuf));
        if (!value) {
                lua_pushnil(L);
                lua_pushfstring(L, "expected string, number or boolean, got %s",
                                luaL_typename(L, 2));
                return 2;
        }
        if (insync_rk_conf_check(key, value, errbuf, sizeof(errbuf))) {
                lua_pushnil(L);
                lua_pushstring(L, errbuf);
                return 2;
        }
        lua_pushboolean(L, 1);
        return 1;
}

/* core.conf_unsupported(key) -> why | nil */
static int l_conf_unsupported(lua_State *L) {
        const char *why = insync_rk_conf_unsupported(luaL_checkstring(L, 1));
        if (why)
                lua_pushstring(L, why);
        else
                lua_pushnil(L);
        return 1;
}

void insync_lua_open_conf(lua_State *L) {
        lua_pushcfunction(L, l_conf_check);
        lua_setfield(L, -2, "conf_check");
        lua_pushcfunction(L, l_conf_unsupported);
        lua_setfield(L, -2, "conf_unsupported");
}
