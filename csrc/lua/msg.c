/**
 * @file msg.c
 * @brief Reading send's msg table, for both engines: one walk, one set of
 * checks, one wording of the errors, so that a script gets the same
 * answer from the model and from the real producer.
 *
 * msg is walked once with lua_next (a message has a few of its seven
 * fields: a lookup for each of the seven costs more), raw, telling the
 * fields apart by the addresses of their interned names: no hashing, no
 * string compare.  Strings and numbers are read as the walk meets them;
 * the values read stay on the stack: a __gc finalizer that changes msg
 * later in send changes nothing send uses.
 *
 * The rules (what each field must be, in the words of its error) are one
 * table, which insync.openresty checks msg by too (core.msg_rules()): it
 * checks in Lua because a call into this C from its request path costs
 * LuaJIT more than the checks themselves.
 */
#include <stdio.h>
#include <string.h>

#include "binding.h"

static const char *const field_names[INSYNC_MSG_NFIELDS] = {
        [INSYNC_MSG_TOPIC] = "topic",         [INSYNC_MSG_KEY] = "key",
        [INSYNC_MSG_VALUE] = "value",         [INSYNC_MSG_PARTITION] = "partition",
        [INSYNC_MSG_TIMESTAMP] = "timestamp", [INSYNC_MSG_HEADERS] = "headers",
        [INSYNC_MSG_OPAQUE] = "opaque",
};

/* What each field must be, in the words of its error, and the largest
 * value of a count (a count is an integer 0..max; 0: not a count). */
typedef struct msg_rule_s {
        const char *expected;
        lua_Integer max;
} msg_rule_t;

static const msg_rule_t rules[INSYNC_MSG_NFIELDS] = {
        [INSYNC_MSG_TOPIC] = {"string", 0},
        [INSYNC_MSG_KEY] = {"string or nil", 0},
        [INSYNC_MSG_VALUE] = {"string or nil", 0},
        [INSYNC_MSG_PARTITION] = {"a partition number (integer >= 0)", INT32_MAX},
        [INSYNC_MSG_TIMESTAMP] = {"milliseconds since the epoch (integer >= 0)",
                                  (lua_Integer)INT64_MAX},
        [INSYNC_MSG_HEADERS] = {"table", 0},
        [INSYNC_MSG_OPAQUE] = {NULL, 0}, /* anything */
};

/* msg.headers: { name = value, ... } or { {name, value}, ... }. */
enum { H_NAME, H_VALUE, H_PAIR_NAME, H_PAIR_VALUE, H_N };
static const struct header_rule_s {
        const char *where;    /* after "msg.headers" in the error */
        const char *expected;
} header_rules[H_N] = {
        [H_NAME] = {" (a name)", "string"},
        [H_VALUE] = {" (a value)", "string"},
        [H_PAIR_NAME] = {"[i][1]", "string"},
        [H_PAIR_VALUE] = {"[i][2]", "string or nil"},
};

/* core.msg_rules() -> { <field> = { expected = words [, max = n] }, ... }
 * with the header forms as fields "headers (a name)", "headers[i][1]"... */
static int l_msg_rules(lua_State *L) {
        lua_createtable(L, 0, INSYNC_MSG_NFIELDS + H_N);
        for (int f = 0; f < INSYNC_MSG_NFIELDS; f++) {
                if (!rules[f].expected)
                        continue;
                lua_createtable(L, 0, 2);
                lua_pushstring(L, rules[f].expected);
                lua_setfield(L, -2, "expected");
                if (rules[f].max) {
                        lua_pushinteger(L, rules[f].max);
                        lua_setfield(L, -2, "max");
                }
                lua_setfield(L, -2, field_names[f]);
        }
        for (int h = 0; h < H_N; h++) {
                lua_createtable(L, 0, 1);
                lua_pushstring(L, header_rules[h].expected);
                lua_setfield(L, -2, "expected");
                lua_pushfstring(L, "headers%s", header_rules[h].where);
                lua_insert(L, -2);
                lua_settable(L, -3);
        }
        return 1;
}

void insync_lua_open_msg(lua_State *L) {
        lua_pushcfunction(L, l_msg_rules);
        lua_setfield(L, -2, "msg_rules");
}

void insync_lua_msg_names(lua_State *L) {
        insync_lua_msg_names_t *nm = lua_newuserdata(L, sizeof(*nm));
        lua_createtable(L, INSYNC_MSG_NFIELDS, 0);
        for (int f = 0; f < INSYNC_MSG_NFIELDS; f++) {
                lua_pushstring(L, field_names[f]);
                nm->name[f] = insync_strid(L, -1);
                lua_rawseti(L, -2, f + 1);
        }
        insync_setuservalue(L, -2); /* keeps the names alive */
}

/* The field a msg key names, or INSYNC_MSG_NFIELDS for another key. */
static int field_of(const insync_lua_msg_names_t *nm, const void *k) {
        /* the usual fields first, in the order a message most often has
         * them: fewer compares, fewer mispredicted exits */
        if (k == nm->name[INSYNC_MSG_TOPIC])
                return INSYNC_MSG_TOPIC;
        if (k == nm->name[INSYNC_MSG_VALUE])
                return INSYNC_MSG_VALUE;
        if (k == nm->name[INSYNC_MSG_KEY])
                return INSYNC_MSG_KEY;
        int f = INSYNC_MSG_NFIELDS - 1;
        while (f >= 0 && nm->name[f] != k)
                f--;
        return f < 0 ? INSYNC_MSG_NFIELDS : f;
}

/* Raises "send: msg.<field>: expected <rule>, got <type>" for the value
 * on the top of the stack. */
static void bad_field(lua_State *L, int f) {
        luaL_error(L, "send: msg.%s: expected %s, got %s", field_names[f],
                   rules[f].expected, luaL_typename(L, -1));
}

/* msg.partition and msg.timestamp: an integer from 0 to its rule's max; a
 * number that is not one is named by its value. */
static int64_t read_count(lua_State *L, int f) {
        lua_Integer v = insync_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
        if (v < 0 || v > rules[f].max) {
                if (lua_type(L, -1) == LUA_TNUMBER)
                        luaL_error(L, "send: msg.%s: expected %s, got %s",
                                   field_names[f], rules[f].expected,
                                   lua_tostring(L, -1));
                bad_field(L, f);
        }
        return (int64_t)v;
}

/* The bytes of a zigzag varint of n >= 0. */
static size_t varint_size(size_t n) {
        size_t v = n << 1, len = 1;
        while (v >= 0x80) {
                v >>= 7;
                len++;
        }
        return len;
}

/* A header's size in a v2 record (rd_kafka_header_add): name and value
 * with a varint length each. */
static void add_header_size(void *ud, const char *name, size_t name_len,
                            const char *value, size_t value_len) {
        (void)name;
        (void)value;
        *(size_t *)ud += varint_size(name_len) + name_len +
                         varint_size(value_len) + value_len;
}

void insync_lua_read_msg(lua_State *L, int msg,
                         const insync_lua_msg_names_t *nm, insync_lua_msg_t *m) {
        if (lua_type(L, msg) != LUA_TTABLE)
                luaL_error(L, "send: msg: expected table, got %s",
                           lua_isnone(L, msg) ? "nil" : luaL_typename(L, msg));
        memset(m, 0, sizeof(*m));
        m->partition = m->timestamp = -1;
        int has_topic = 0;
        /* five kept fields of two slots each, and the walk's two */
        luaL_checkstack(L, 2 * 5 + 2, "send");
        lua_pushnil(L);
        while (lua_next(L, msg)) {
                int f = field_of(nm, insync_strid(L, -2));
                if (f < INSYNC_MSG_NFIELDS && lua_type(L, -2) != LUA_TSTRING)
                        f = INSYNC_MSG_NFIELDS; /* a light userdata, say */
                int ty = f < INSYNC_MSG_NFIELDS ? lua_type(L, -1) : LUA_TNIL;
                switch (f) {
                case INSYNC_MSG_TOPIC:
                        if (ty != LUA_TSTRING)
                                bad_field(L, f);
                        m->topic = lua_tolstring(L, -1, &m->topic_len);
                        m->topic_idx = lua_gettop(L);
                        has_topic = 1;
                        lua_pushvalue(L, -2); /* kept: see below */
                        continue;
                case INSYNC_MSG_KEY:
                case INSYNC_MSG_VALUE: {
                        if (ty != LUA_TSTRING)
                                bad_field(L, f);
                        size_t len;
                        const char *s = lua_tolstring(L, -1, &len);
                        if (f == INSYNC_MSG_KEY) {
                                m->key = s;
                                m->key_len = len;
                        } else {
                                m->value = s;
                                m->value_len = len;
                        }
                        lua_pushvalue(L, -2); /* kept: see below */
                        continue;
                }
                case INSYNC_MSG_PARTITION:
                        m->partition = read_count(L, f);
                        break;
                case INSYNC_MSG_TIMESTAMP:
                        m->timestamp = read_count(L, f);
                        break;
                case INSYNC_MSG_HEADERS:
                case INSYNC_MSG_OPAQUE:
                        /* kept where lua_next left it, a copy of its key
                         * above for the next step: two slots each */
                        if (f == INSYNC_MSG_HEADERS && ty != LUA_TTABLE)
                                bad_field(L, f);
                        *(f == INSYNC_MSG_HEADERS ? &m->headers : &m->opaque) =
                                lua_gettop(L);
                        lua_pushvalue(L, -2);
                        continue;
                }
                lua_pop(L, 1);
        }
        if (!has_topic) {
                lua_pushnil(L);
                bad_field(L, INSYNC_MSG_TOPIC);
        }
        if (m->headers)
                insync_lua_each_header(L, m->headers, add_header_size,
                                       &m->headers_size);
}

void insync_lua_check_topic(lua_State *L, const char *name, size_t len) {
        int ok = len >= 1 && len <= 249 && strcmp(name, ".") != 0 &&
                 strcmp(name, "..") != 0;
        for (size_t i = 0; ok && i < len; i++) {
                char ch = name[i];
                ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                     ch == '-';
        }
        if (ok)
                return;
        /* the name, quoted, its other bytes as \ddd, cut at 60 */
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addchar(&b, '"');
        for (size_t i = 0; i < len && i < 60; i++) {
                unsigned char ch = (unsigned char)name[i];
                if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
                        luaL_addchar(&b, (char)ch);
                } else {
                        char esc[8];
                        snprintf(esc, sizeof(esc), "\\%u", ch);
                        luaL_addstring(&b, esc);
                }
        }
        luaL_addstring(&b, len > 60 ? "\"..." : "\"");
        luaL_pushresult(&b);
        luaL_error(L, "send: msg.topic: expected a topic name (1 to 249 of "
                      "a-z A-Z 0-9 . _ -), got %s", lua_tostring(L, -1));
}

/* Raises "send: msg.headers<where>: expected <rule>, got <type>". */
static void bad_header(lua_State *L, int h, int idx) {
        luaL_error(L, "send: msg.headers%s: expected %s, got %s",
                   header_rules[h].where, header_rules[h].expected,
                   luaL_typename(L, idx));
}

void insync_lua_each_header(lua_State *L, int idx, insync_lua_header_fn fn,
                            void *ud) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
                size_t nl = 0, vl = 0;
                const char *n, *v;
                if (lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TTABLE) {
                        lua_rawgeti(L, -1, 1);
                        lua_rawgeti(L, -2, 2);
                        if (lua_type(L, -2) != LUA_TSTRING)
                                bad_header(L, H_PAIR_NAME, -2);
                        if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
                                bad_header(L, H_PAIR_VALUE, -1);
                        n = lua_tolstring(L, -2, &nl);
                        v = lua_isnil(L, -1) ? NULL : lua_tolstring(L, -1, &vl);
                        if (fn)
                                fn(ud, n, nl, v, vl);
                        lua_pop(L, 3);
                        continue;
                }
                if (lua_type(L, -2) != LUA_TSTRING)
                        bad_header(L, H_NAME, -2);
                if (lua_type(L, -1) != LUA_TSTRING)
                        bad_header(L, H_VALUE, -1);
                n = lua_tolstring(L, -2, &nl);
                v = lua_tolstring(L, -1, &vl);
                if (fn)
                        fn(ud, n, nl, v, vl);
                lua_pop(L, 1);
        }
}
