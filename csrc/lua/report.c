/**
 * @file report.c
 * @brief The report a send's callback gets, built here and nowhere else,
 * for both engines (as errors.c builds every error object).
 *
 * A report is one userdata: its numbers and the bytes of its topic and key
 * in one allocation, read through __index.  A table with the same fields
 * costs a table, a hash part and a store per field, and was most of the
 * time a delivery took.  It reads like a table: report.topic, .partition,
 * .offset, .key, .opaque, .latency_ms (nil when unknown), tostring, pairs
 * (Lua 5.2 to 5.4; the pairs of 5.1 and LuaJIT takes tables only), and
 * fields may be set: they go to a table in the user value, made on the
 * first store and holding the opaque, and they shadow the built-in ones.
 * report:totable() gives a plain table (for JSON, or pairs on 5.1 and
 * LuaJIT).
 *
 * On LuaJIT, the FFI path (lua/insync/ffi.lua) makes the reports of the
 * real producer as plain tables with this same metatable: the fields it
 * has are read without a metamethod, the metamethods below serve the rest
 * (totable, tostring, a field it does not have), and a field set is
 * stored in the table itself.
 */
#include <string.h>

#include "binding.h"

#define INSYNC_REPORT_MT "insync.report"

typedef struct report_s {
        int64_t offset;         /**< < 0: unknown */
        double latency_ms;      /**< < 0: unknown */
        int32_t partition;      /**< < 0: unknown */
        uint32_t topic_len;
        uint32_t key_len;
        uint8_t has_key;
        uint8_t latency_int;    /**< latency_ms is pushed as an integer */
        uint8_t has_extra;      /**< the user value is the fields table */
        char bytes[];           /**< the topic's name, then the key */
} report_t;

void insync_lua_push_report_mt(lua_State *L) {
        luaL_getmetatable(L, INSYNC_REPORT_MT);
}

void insync_lua_push_report(lua_State *L, int mt, const insync_lua_report_t *f) {
        size_t kl = f->key ? f->key_len : 0;
        report_t *r = lua_newuserdata(L, sizeof(*r) + f->topic_len + kl);
        r->offset = f->offset;
        r->latency_ms = f->latency_ms;
        r->partition = f->partition;
        r->topic_len = (uint32_t)f->topic_len;
        r->key_len = (uint32_t)kl;
        r->has_key = f->key != NULL;
        r->latency_int = (uint8_t)f->latency_int;
        r->has_extra = 0;
        memcpy(r->bytes, f->topic, f->topic_len);
        if (kl)
                memcpy(r->bytes + f->topic_len, f->key, kl);
        lua_pushvalue(L, mt < 0 ? mt - 1 : mt);
        lua_setmetatable(L, -2);
        if (f->opaque) {
                lua_createtable(L, 0, 1);
                lua_pushvalue(L, f->opaque);
                lua_setfield(L, -2, "opaque");
                insync_setuservalue(L, -2);
                r->has_extra = 1;
        }
}

/* The built-in fields, by name; 0 for another name. */
enum { F_NONE, F_TOPIC, F_PARTITION, F_OFFSET, F_KEY, F_LATENCY, F_TOTABLE };
static const char *const field_names[] = {NULL, "topic", "partition", "offset",
                                          "key", "latency_ms"};

static int field_of(const char *k, size_t n) {
        switch (n) {
        case 3: return memcmp(k, "key", 3) == 0 ? F_KEY : F_NONE;
        case 5: return memcmp(k, "topic", 5) == 0 ? F_TOPIC : F_NONE;
        case 6: return memcmp(k, "offset", 6) == 0 ? F_OFFSET : F_NONE;
        case 7: return memcmp(k, "totable", 7) == 0 ? F_TOTABLE : F_NONE;
        case 9: return memcmp(k, "partition", 9) == 0 ? F_PARTITION : F_NONE;
        case 10: return memcmp(k, "latency_ms", 10) == 0 ? F_LATENCY : F_NONE;
        default: return F_NONE;
        }
}

/* Pushes built-in field f of r; @returns 0 (pushing nothing) when unknown. */
static int push_field(lua_State *L, const report_t *r, int f) {
        switch (f) {
        case F_TOPIC:
                lua_pushlstring(L, r->bytes, r->topic_len);
                return 1;
        case F_PARTITION:
                if (r->partition < 0)
                        return 0;
                lua_pushinteger(L, r->partition);
                return 1;
        case F_OFFSET:
                if (r->offset < 0)
                        return 0;
                lua_pushinteger(L, (lua_Integer)r->offset);
                return 1;
        case F_KEY:
                if (!r->has_key)
                        return 0;
                lua_pushlstring(L, r->bytes + r->topic_len, r->key_len);
                return 1;
        case F_LATENCY:
                if (r->latency_ms < 0)
                        return 0;
                if (r->latency_int)
                        lua_pushinteger(L, (lua_Integer)r->latency_ms);
                else
                        lua_pushnumber(L, r->latency_ms);
                return 1;
        default:
                return 0;
        }
}

/* The report at index 1: its report_t, or NULL for a table report. */
static report_t *check_report(lua_State *L) {
        report_t *r = lua_touserdata(L, 1);
        int same = 0;
        if ((r || lua_type(L, 1) == LUA_TTABLE) && lua_getmetatable(L, 1)) {
                luaL_getmetatable(L, INSYNC_REPORT_MT);
                same = lua_rawequal(L, -1, -2);
                lua_pop(L, 2);
        }
        if (!same)
                insync_lua_bad_self(L, "totable", INSYNC_REPORT_MT);
        return r;
}

/* report:totable(): a plain table of every field, the set ones included. */
static int report_totable(lua_State *L) {
        const report_t *r = check_report(L);
        lua_createtable(L, 0, 6);
        if (!r) {
                lua_pushnil(L);
                while (lua_next(L, 1)) {
                        lua_pushvalue(L, -2);
                        lua_insert(L, -2);
                        lua_rawset(L, -4);
                }
                return 1;
        }
        for (int f = F_TOPIC; f <= F_LATENCY; f++)
                if (push_field(L, r, f))
                        lua_setfield(L, -2, field_names[f]);
        if (r->has_extra) {
                insync_getuservalue(L, 1);
                lua_pushnil(L);
                while (lua_next(L, -2)) {
                        lua_pushvalue(L, -2);
                        lua_insert(L, -2);
                        lua_rawset(L, -5);
                }
                lua_pop(L, 1);
        }
        return 1;
}

static int report_index(lua_State *L) {
        const report_t *r = check_report(L);
        if (r && r->has_extra) {
                insync_getuservalue(L, 1);
                lua_pushvalue(L, 2);
                lua_rawget(L, -2);
                if (!lua_isnil(L, -1))
                        return 1;
                lua_pop(L, 2);
        }
        if (lua_type(L, 2) != LUA_TSTRING)
                return 0;
        size_t n;
        const char *k = lua_tolstring(L, 2, &n);
        int f = field_of(k, n);
        if (f == F_TOTABLE) {
                lua_pushcfunction(L, report_totable);
                return 1;
        }
        return r ? push_field(L, r, f) : 0; /* a table has what it has */
}

/* report.k = v: kept in the fields table, which shadows the built-ins. */
static int report_newindex(lua_State *L) {
        report_t *r = check_report(L);
        if (lua_isnil(L, 2) || (lua_type(L, 2) == LUA_TNUMBER &&
                                lua_tonumber(L, 2) != lua_tonumber(L, 2)))
                return luaL_error(L, "report: key: expected a field name, got %s",
                                  insync_lua_show(L, 2));
        if (!r) {
                lua_settop(L, 3);
                lua_rawset(L, 1);
                return 0;
        }
        if (!r->has_extra) {
                lua_newtable(L);
                insync_setuservalue(L, 1);
                r->has_extra = 1;
        }
        insync_getuservalue(L, 1);
        lua_insert(L, 2);
        lua_rawset(L, 2);
        return 0;
}

/* The iterator of pairs(report): next over the table of report:totable(). */
static int table_next(lua_State *L) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 2);
        if (lua_next(L, 1))
                return 2;
        lua_pushnil(L);
        return 1;
}

static int report_pairs(lua_State *L) {
        lua_settop(L, 1);
        report_totable(L);
        lua_pushcfunction(L, table_next);
        lua_replace(L, 1);
        lua_pushnil(L);
        return 3;
}

/* "insync.report{topic=t partition=0 offset=41 key=k latency_ms=3 opaque=...}" */
static int report_tostring(lua_State *L) {
        lua_settop(L, 1);
        report_totable(L);
        lua_pushliteral(L, "insync.report{");
        int n = 1;
        for (int f = F_TOPIC; f <= F_LATENCY + 1; f++) {
                const char *name = f <= F_LATENCY ? field_names[f] : "opaque";
                lua_getglobal(L, "tostring");
                lua_getfield(L, 2, name);
                if (lua_isnil(L, -1)) {
                        lua_pop(L, 2);
                        continue;
                }
                lua_call(L, 1, 1);
                lua_pushfstring(L, "%s%s=", n > 1 ? " " : "", name);
                lua_insert(L, -2);
                n += 2;
        }
        lua_pushliteral(L, "}");
        lua_concat(L, n + 1);
        return 1;
}

/* core.report_new(topic, partition, key, opaque): the report of a record
 * no engine took (insync.openresty's, refused before librdkafka had it):
 * partition nil or < 0 unknown, offset and latency_ms unknown. */
static int l_report_new(lua_State *L) {
        insync_lua_report_t f;
        memset(&f, 0, sizeof(f));
        if (lua_type(L, 1) != LUA_TSTRING)
                return luaL_error(L, "report_new: topic: expected string, got %s",
                                  lua_isnone(L, 1) ? "nil" : luaL_typename(L, 1));
        if (!lua_isnoneornil(L, 2) && !insync_isinteger(L, 2))
                return luaL_error(L, "report_new: partition: expected integer or nil, got %s",
                                  luaL_typename(L, 2));
        if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TSTRING)
                return luaL_error(L, "report_new: key: expected string or nil, got %s",
                                  luaL_typename(L, 3));
        f.topic = lua_tolstring(L, 1, &f.topic_len);
        f.partition = lua_isnoneornil(L, 2) ? -1 : (int32_t)lua_tointeger(L, 2);
        if (!lua_isnoneornil(L, 3))
                f.key = lua_tolstring(L, 3, &f.key_len);
        f.opaque = lua_isnoneornil(L, 4) ? 0 : 4;
        f.offset = -1;
        f.latency_ms = -1;
        insync_lua_push_report_mt(L);
        insync_lua_push_report(L, -1, &f);
        return 1;
}

void insync_lua_open_report(lua_State *L) {
        static const luaL_Reg mt[] = {{"__index", report_index},
                                      {"__newindex", report_newindex},
                                      {"__pairs", report_pairs},
                                      {"__tostring", report_tostring},
                                      {NULL, NULL}};
        if (luaL_newmetatable(L, INSYNC_REPORT_MT))
                luaL_setfuncs(L, mt, 0);
        lua_setfield(L, -2, "report_mt");
        lua_pushcfunction(L, l_report_new);
        lua_setfield(L, -2, "report_new");
}
