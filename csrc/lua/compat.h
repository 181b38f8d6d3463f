/**
 * @file compat.h
 * @brief The few differences between the Lua APIs insync is built against
 * (Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT 2.1, whose API is 5.1's plus some of
 * 5.2's) that the bindings meet.  Small and targeted, in the manner of
 * LPeg's lptypes.h.  Included by the binding files only.
 */
#ifndef INSYNC_COMPAT_H
#define INSYNC_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

/* PUC-Rio Lua 5.1 lacks the 5.2 functions that LuaJIT 2.1 has; LuaJIT's
 * lua.h, unlike 5.1's, defines LUA_OK. */
#if LUA_VERSION_NUM < 502 && !defined(LUA_OK)
#  define INSYNC_LUA51 1
#endif

#if LUA_VERSION_NUM < 502
/* Lua 5.1 / LuaJIT */
#  ifndef LUA_OK
#    define LUA_OK 0
#  endif
#  define lua_rawlen(L, i) lua_objlen((L), (i))
#  define insync_getuservalue(L, i) lua_getfenv((L), (i))
#  define insync_setuservalue(L, i) lua_setfenv((L), (i))
#else
#  define insync_getuservalue(L, i) lua_getuservalue((L), (i))
#  define insync_setuservalue(L, i) lua_setuservalue((L), (i))
#endif

#ifdef INSYNC_LUA51
/* luaL_setfuncs of 5.2: the functions of l into the table below the nup
 * upvalues on the top of the stack, each closing over all of them; pops
 * the upvalues. */
static inline void insync_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
        luaL_checkstack(L, nup + 1, "too many upvalues");
        for (; l->name != NULL; l++) {
                for (int i = 0; i < nup; i++)
                        lua_pushvalue(L, -nup);
                lua_pushcclosure(L, l->func, nup);
                lua_setfield(L, -(nup + 2), l->name);
        }
        lua_pop(L, nup);
}
#  define luaL_setfuncs(L, l, nup) insync_setfuncs((L), (l), (nup))

/* luaL_traceback of 5.2, used only with L1 == L (a message handler): msg
 * (if any), then "stack traceback:" and one line per frame from level on,
 * through debug.traceback, which 5.1 has and formats the same way. */
static inline void insync_traceback(lua_State *L, lua_State *L1, const char *msg, int level) {
        (void)L1;
        lua_getfield(L, LUA_GLOBALSINDEX, "debug");
        if (lua_istable(L, -1))
                lua_getfield(L, -1, "traceback");
        else
                lua_pushnil(L);
        lua_remove(L, -2);
        if (!lua_isfunction(L, -1)) {     /* no debug library: the message alone */
                lua_pop(L, 1);
                lua_pushstring(L, msg != NULL ? msg : "");
                return;
        }
        if (msg != NULL)
                lua_pushstring(L, msg);
        else
                lua_pushnil(L);
        /* +1: the frame of debug.traceback itself */
        lua_pushinteger(L, level + 1);
        if (lua_pcall(L, 2, 1, 0) != 0 || !lua_isstring(L, -1)) {
                lua_pop(L, 1);
                lua_pushstring(L, msg != NULL ? msg : "");
        }
}
#  define luaL_traceback(L, L1, msg, level) insync_traceback((L), (L1), (msg), (level))
#endif

/* The identity of the string at index i, NULL if it is not a string: two
 * equal short strings are one interned object, so a key can be told apart
 * from a known name by address alone (msg.c).  lua_topointer gives it on
 * Lua 5.4 and LuaJIT, but NULL for any string on 5.1 to 5.3, where the
 * address of the string's bytes serves (a string key: no conversion). */
#if LUA_VERSION_NUM >= 504 || (LUA_VERSION_NUM < 502 && !defined(INSYNC_LUA51))
#  define insync_strid(L, i) lua_topointer((L), (i))
#else
static inline const void *insync_strid(lua_State *L, int i) {
        return lua_type(L, i) == LUA_TSTRING ? (const void *)lua_tostring(L, i) : NULL;
}
#endif

/* A number whose value is an integer in lua_Integer's range: 3, and on Lua
 * 5.4 also the float 3.0 (6 / 2), which lua_tointeger then converts. */
static inline int insync_isinteger(lua_State *L, int i) {
        if (lua_type(L, i) != LUA_TNUMBER)
                return 0;
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, i))
                return 1;
#endif
        lua_Number n = lua_tonumber(L, i);
        return n >= -0x1p63 && n < 0x1p63 && n == (lua_Number)(lua_Integer)n;
}

#endif
