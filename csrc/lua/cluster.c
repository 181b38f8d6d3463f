/**
 * @file cluster.c
 * @brief Lua binding of the model (csrc/model): the cluster and producer
 * userdata, send, run / run_for (which hand completed sends to their Lua
 * callbacks), faults, inspection, audit, trace.  Configuration keys are
 * rows of the model's schema (csrc/model/config.c): core.model_keys() hands
 * it to lua/insync/cluster.lua, which validates under Kafka's names and adds
 * the friendlier methods (create_topic, producer, trace_json) to the same
 * method table; cluster_new and _producer read the normalized table by it.
 *
 * Callbacks, opaques and topic names live in one state table S, the user
 * value of the cluster and of each producer: S[r] (r >= 1) is the callback
 * of run r, S[0] the opaques by send id, S[-1] topic names by topic index
 * + 1, S[-2] topic names of sends to unknown topics, S[-3] the cluster
 * userdata, S[-4] each producer's on_error by producer index + 1, S[-5]
 * the string the last send named a known topic with.  A run
 * is a stretch of consecutive send ids made with the same callback (C
 * keeps where each starts and how many of its reports are still due); a
 * script that passes one function to a million sends holds one reference,
 * not a million, and the collector has nothing to walk.  The C model
 * never calls Lua: it queues completions, and run / run_for deliver them
 * between events, so a raising callback unwinds no C state of the model.
 */
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "../common/kerr.h"
#include "../model/cluster.h"

#define INSYNC_CLUSTER_MT "insync.cluster"
#define INSYNC_MPRODUCER_MT "insync.cluster.producer"

#define S_OPAQUES 0
#define S_TOPICS (-1)
#define S_UNKNOWN (-2)
#define S_CLUSTER (-3)
#define S_ONERROR (-4)
#define S_LAST_TOPIC (-5)

#define DEFAULT_RUN_MS 86400000 /* run() without a limit: one virtual day */

/** Sends with one callback, consecutive ids (see above). */
typedef struct lrun_s {
        uint32_t first;         /**< first send id */
        uint32_t count;         /**< ids first .. first + count - 1 */
        uint32_t left;          /**< its reports not yet handed out, <= count */
        uint32_t key;           /**< S[key] holds the callback; 0: none */
        const void *fn;         /**< the callback's address (alive while left > 0) */
} lrun_t;

typedef struct lcluster_s {
        insync_cluster_t *c;    /**< NULL once closed */
        lrun_t *run;            /**< runs, by first id; run[head..n) live */
        uint32_t nrun, caprun, headrun;
        uint32_t next_key;      /**< next S key for a callback */
        uint32_t hint;          /**< the run the last report belonged to */
        const char *last_topic; /**< the bytes of S[-5], or NULL */
        uint64_t opaques;       /**< opaques held in S[0], not yet handed out */
        int last_topic_idx;
        int busy;               /**< C frames that hold pointers into the
                                 *   model across Lua code (a callback, a
                                 *   __gc finalizer run by an allocation) */
        insync_cluster_t *dead; /**< closed while busy: freed by the last
                                 *   release (c is NULL meanwhile) */
        insync_xresult_t xres;  /**< the last _explore's counts (C memory) */
} lcluster_t;

typedef struct lproducer_s {
        lcluster_t *lc;         /**< kept alive by the user value */
        int index;
} lproducer_t;

/* A type name for messages; a missing argument is "nil". */
static const char *tname(lua_State *L, int i) {
        return lua_isnone(L, i) ? "nil" : luaL_typename(L, i);
}

/* The userdata at index 1 when its metatable is @p mt, else NULL. */
static void *test_self(lua_State *L, const char *mt) {
        void *u = lua_touserdata(L, 1);
        if (!u || !lua_getmetatable(L, 1))
                return NULL;
        luaL_getmetatable(L, mt);
        int same = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        return same ? u : NULL;
}

/* The cluster at index 1, open; raises naming the method @p what. */
static lcluster_t *check_cluster(lua_State *L, const char *what) {
        lcluster_t *lc = test_self(L, INSYNC_CLUSTER_MT);
        if (!lc)
                insync_lua_bad_self(L, what, INSYNC_CLUSTER_MT);
        insync_lua_check_open(L, lc->c, what, "cluster");
        return lc;
}

static lproducer_t *check_producer(lua_State *L, const char *what) {
        lproducer_t *p = test_self(L, INSYNC_MPRODUCER_MT);
        if (!p)
                insync_lua_bad_self(L, what, INSYNC_MPRODUCER_MT);
        insync_lua_check_open(L, p->lc->c, what, "cluster");
        return p;
}

static lua_Integer check_int(lua_State *L, int i, const char *what) {
        if (!insync_isinteger(L, i))
                luaL_error(L, "%s: expected integer, got %s", what,
                           lua_type(L, i) == LUA_TNUMBER ? "a fraction"
                                                         : tname(L, i));
        return lua_tointeger(L, i);
}

static int opt_int_field(lua_State *L, int t, const char *k, lua_Integer def,
                         lua_Integer *out) {
        *out = def;
        lua_getfield(L, t, k);
        if (insync_isinteger(L, -1)) {
                *out = lua_tointeger(L, -1);
        } else if (lua_type(L, -1) == LUA_TNUMBER) {
                /* saturated (the model clamps each setting to its range);
                 * never a cast of a double that does not fit */
                lua_Number n = lua_tonumber(L, -1);
                *out = n != n          ? def
                       : n >= 9.2e18  ? (lua_Integer)INT64_MAX
                       : n <= -9.2e18 ? (lua_Integer)INT64_MIN
                                      : (lua_Integer)n;
        } else if (!lua_isnil(L, -1)) {
                lua_pop(L, 1);
                return luaL_error(L, "%s: expected number", k);
        }
        lua_pop(L, 1);
        return 0;
}

/* Reads each key of the schema in @p scope1 or @p scope2 from the table at
 * @p t, by its field name, into @p conf; a key not there keeps its value. */
static void read_keys(lua_State *L, int t, void *conf, int scope1, int scope2) {
        size_t n;
        const insync_key_t *k = insync_keys(&n);
        for (size_t i = 0; i < n; i++) {
                lua_Integer v;
                if (k[i].scope != scope1 && k[i].scope != scope2)
                        continue;
                opt_int_field(L, t, k[i].field,
                              (lua_Integer)insync_key_get(conf, &k[i]), &v);
                insync_key_set(conf, &k[i], (int64_t)v);
        }
}

static const char *const scope_names[] = {"cluster", "broker", "producer"};
static const char *const type_names[] = {"int", "bool", "number", "enum"};

/* core.model_keys() -> the schema (csrc/model/config.c), a list of
 * { name, alias, topic, scope, field, type, min, max, default, doc,
 * values = { {name, value}, ... } } in its order: what lua/insync/cluster.lua
 * validates with and tools/config_doc.lua documents. */
static int l_model_keys(lua_State *L) {
        size_t n;
        const insync_key_t *k = insync_keys(&n);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
                lua_createtable(L, 0, 11);
                lua_pushstring(L, k[i].name);
                lua_setfield(L, -2, "name");
                if (k[i].alias) {
                        lua_pushstring(L, k[i].alias);
                        lua_setfield(L, -2, "alias");
                }
                if (k[i].topic) {
                        lua_pushstring(L, k[i].topic);
                        lua_setfield(L, -2, "topic");
                }
                lua_pushstring(L, scope_names[k[i].scope]);
                lua_setfield(L, -2, "scope");
                lua_pushstring(L, k[i].field);
                lua_setfield(L, -2, "field");
                lua_pushstring(L, type_names[k[i].type]);
                lua_setfield(L, -2, "type");
                lua_pushinteger(L, (lua_Integer)k[i].min);
                lua_setfield(L, -2, "min");
                lua_pushinteger(L, (lua_Integer)k[i].max);
                lua_setfield(L, -2, "max");
                lua_pushinteger(L, (lua_Integer)k[i].def);
                lua_setfield(L, -2, "default");
                lua_pushstring(L, k[i].doc);
                lua_setfield(L, -2, "doc");
                if (k[i].values) {
                        lua_newtable(L);
                        for (int j = 0; k[i].values[j].name; j++) {
                                lua_createtable(L, 2, 0);
                                lua_pushstring(L, k[i].values[j].name);
                                lua_rawseti(L, -2, 1);
                                lua_pushinteger(L, (lua_Integer)k[i].values[j].value);
                                lua_rawseti(L, -2, 2);
                                lua_rawseti(L, -2, j + 1);
                        }
                        lua_setfield(L, -2, "values");
                }
                lua_rawseti(L, -2, (int)i + 1);
        }
        return 1;
}

/* core.cluster_new(conf): conf holds validated, normalized values. */
static int l_cluster_new(lua_State *L) {
        insync_cconf_t conf;
        lua_Integer v;
        if (!lua_istable(L, 1))
                return luaL_error(L, "cluster: opts: expected table, got %s", tname(L, 1));
        insync_cconf_defaults(&conf);
        read_keys(L, 1, &conf, INSYNC_KS_CLUSTER, INSYNC_KS_BROKER);
        opt_int_field(L, 1, "lat_kind", conf.latency.kind, &v);
        conf.latency.kind = (int)v;
        lua_getfield(L, 1, "lat_a");
        conf.latency.a = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
        lua_getfield(L, 1, "lat_b");
        conf.latency.b = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
        lua_pop(L, 2);
        if (conf.latency.kind != INSYNC_LAT_FIXED) {
                char err[128];
                if (insync_latency_check(&conf.latency, err, sizeof(err)))
                        return luaL_error(L, "cluster: latency: %s", err);
        }
        if (conf.brokers < 1 || conf.brokers > 63)
                return luaL_error(L, "cluster: brokers: expected 1..63, got %d",
                                  conf.brokers);
        lcluster_t *lc = lua_newuserdata(L, sizeof(*lc));
        lc->c = NULL;
        lc->last_topic = NULL;
        lc->last_topic_idx = -1;
        lc->opaques = 0;
        lc->run = NULL;
        lc->nrun = lc->caprun = lc->headrun = 0;
        lc->next_key = 1;
        lc->hint = 0;
        lc->busy = 0;
        lc->dead = NULL;
        memset(&lc->xres, 0, sizeof(lc->xres));
        luaL_getmetatable(L, INSYNC_CLUSTER_MT);
        lua_setmetatable(L, -2);
        lua_createtable(L, 0, 5);
        lua_newtable(L);
        lua_rawseti(L, -2, S_OPAQUES);
        lua_newtable(L);
        lua_rawseti(L, -2, S_TOPICS);
        lua_newtable(L);
        lua_rawseti(L, -2, S_UNKNOWN);
        lua_newtable(L);
        lua_rawseti(L, -2, S_ONERROR);
        lua_pushvalue(L, -2);
        lua_rawseti(L, -2, S_CLUSTER); /* producers keep their cluster alive */
        insync_setuservalue(L, -2);
        lc->c = insync_cluster_new(&conf);
        if (!lc->c)
                return luaL_error(L, "cluster: out of memory");
        return 1;
}

static void cluster_free(lcluster_t *lc) {
        insync_cluster_free(lc->c ? lc->c : lc->dead);
        lc->c = lc->dead = NULL;
        free(lc->run);
        lc->run = NULL;
        lc->nrun = lc->caprun = lc->headrun = 0;
        insync_xresult_free(&lc->xres);
}

/* Marks @p lc used by a C frame that keeps model pointers over Lua code:
 * a close meanwhile only makes it closed (c NULL), the model stays until
 * release. */
static insync_cluster_t *acquire(lcluster_t *lc) {
        lc->busy++;
        return lc->c;
}

static void release(lcluster_t *lc) {
        if (--lc->busy == 0 && lc->dead)
                cluster_free(lc);
}

/* __gc and c:close(): idempotent; inside a callback (or a finalizer) of
 * one of its own methods, the model is freed when that method is done with
 * it, and the method raises "closed". */
static int cluster_close(lua_State *L, const char *what) {
        lcluster_t *lc = test_self(L, INSYNC_CLUSTER_MT);
        if (!lc)
                return insync_lua_bad_self(L, what, INSYNC_CLUSTER_MT);
        if (lc->busy) {
                if (lc->c)
                        lc->dead = lc->c;
                lc->c = NULL;
                return 0;
        }
        cluster_free(lc);
        return 0;
}

static int l_cluster_gc(lua_State *L) { return cluster_close(L, "__gc"); }

/* c:close(): the model's memory now rather than when the collector, which
 * does not see it, gets round to the cluster. */
static int l_cluster_close(lua_State *L) { return cluster_close(L, "close"); }

/* Pushes the state table of the userdata at @p i. */
static void push_state(lua_State *L, int i) {
        insync_getuservalue(L, i);
}

static int l_now(lua_State *L) {
        lua_pushinteger(L, (lua_Integer)insync_cluster_now(check_cluster(L, "now")->c));
        return 1;
}

static int l_outstanding(lua_State *L) {
        lua_pushinteger(L, (lua_Integer)insync_cluster_outstanding(check_cluster(L, "outstanding")->c));
        return 1;
}

/* ------------------------------------------------------------- delivery */

/* Pushes topic @p t's name from the names table at @p topics; a topic the
 * model created itself (auto.create.topics.enable) is named there first. */
static void topic_name(lua_State *L, const insync_cluster_t *c, int topics, int t) {
        lua_rawgeti(L, topics, t + 1);
        if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushstring(L, insync_cluster_topic_name(c, t));
                lua_pushvalue(L, -1);
                lua_rawseti(L, topics, t + 1);
        }
}

static void push_topic_name(lua_State *L, const insync_cluster_t *c, int state,
                            int topic, uint32_t id) {
        if (topic >= 0) {
                lua_rawgeti(L, state, S_TOPICS);
                topic_name(L, c, lua_gettop(L), topic);
        } else {
                lua_rawgeti(L, state, S_UNKNOWN);
                lua_rawgeti(L, -1, (lua_Integer)id);
        }
        lua_remove(L, -2);
}

/* The run holding send @p id (ids only grow, runs are sorted). */
static lrun_t *run_of(lcluster_t *lc, uint32_t id) {
        uint32_t lo = lc->headrun, hi = lc->nrun;
        if (lc->hint >= lo && lc->hint < hi && lc->run[lc->hint].first <= id &&
            (lc->hint + 1 == hi || lc->run[lc->hint + 1].first > id))
                return &lc->run[lc->hint];
        while (hi - lo > 1) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (lc->run[mid].first <= id)
                        lo = mid;
                else
                        hi = mid;
        }
        lc->hint = lo;
        return &lc->run[lo];
}

/* Drops the runs at the front whose reports are all handed out. */
static void runs_trim(lcluster_t *lc) {
        while (lc->headrun < lc->nrun && lc->run[lc->headrun].left == 0 &&
               lc->headrun + 1 < lc->nrun)
                lc->headrun++;
        if (lc->headrun > 1024 && lc->headrun * 2 > lc->nrun) {
                memmove(lc->run, lc->run + lc->headrun,
                        (lc->nrun - lc->headrun) * sizeof(*lc->run));
                lc->nrun -= lc->headrun;
                lc->hint = 0;
                lc->headrun = 0;
        }
}

/* The body of delivery, run under one lua_pcall (not one per callback):
 * deliver_all(cluster, state) calls every queued report's callback with
 * lua_call.  A report is taken off the queue before its callback runs, so
 * when one raises, the error unwinds to deliver()'s pcall and the rest stay
 * queued.  The callback of the current run and the last topic's name stay
 * in stack slots from one report to the next.  Without a callback a success
 * is dropped; a failure goes to the producer's on_error(err, report) or,
 * without one, to a line on stderr: no failure passes unseen.  First, a
 * producer's fatal error goes to its on_error(err), as the real producer's
 * client-level errors do, before the reports of the sends it failed. */
static int deliver_all(lua_State *L) {
        lcluster_t *lc = lua_touserdata(L, 1);
        const int state = 2;
        const char *what = lua_touserdata(L, 3);
        insync_report_t r;
        lua_rawgeti(L, state, S_OPAQUES);
        const int opq = lua_gettop(L);
        lua_rawgeti(L, state, S_TOPICS);
        const int topics = lua_gettop(L);
        insync_lua_push_report_mt(L);
        const int mt = lua_gettop(L);
        lua_pushnil(L);
        const int fn = lua_gettop(L);     /* the callback of run cur_key */
        lua_pushnil(L);
        const int tslot = lua_gettop(L);  /* the name of topic cur_topic */
        uint32_t cur_key = 0;
        int cur_topic = -1;
        const char *tname = NULL; /* its bytes, kept alive at tslot */
        size_t tlen = 0;
        int producer, err;
        /* a callback (or a finalizer) may have closed the cluster: checked
         * before each use of the model after Lua code ran */
        while ((insync_lua_check_open(L, lc->c, what, "cluster"),
                insync_cluster_fatal_take(lc->c, &producer, &err))) {
                lua_rawgeti(L, state, S_ONERROR);
                lua_rawgeti(L, -1, producer + 1);
                if (lua_isnil(L, -1)) {
                        lua_settop(L, tslot);
                        continue;
                }
                insync_lua_push_error(L, err, NULL, INSYNC_NOT_PERSISTED, 1);
                lua_call(L, 1, 0);
                lua_settop(L, tslot);
        }
        while ((insync_lua_check_open(L, lc->c, what, "cluster"),
                insync_cluster_report_take(lc->c, &r))) {
                lrun_t *run = run_of(lc, r.id);
                uint32_t key = run->key;
                if (key && key != cur_key) {
                        lua_rawgeti(L, state, (lua_Integer)key);
                        lua_replace(L, fn);
                        cur_key = key;
                }
                if (--run->left == 0) {
                        if (key) {
                                lua_pushnil(L);
                                lua_rawseti(L, state, (lua_Integer)key);
                        }
                        runs_trim(lc);
                }
                int has_opaque = 0;
                if (lc->opaques) {
                        lua_rawgeti(L, opq, (lua_Integer)r.id);
                        has_opaque = !lua_isnil(L, -1);
                        if (has_opaque) {
                                lc->opaques--;
                                lua_pushnil(L);
                                lua_rawseti(L, opq, (lua_Integer)r.id);
                        } else {
                                lua_pop(L, 1);
                        }
                }
                if (!key && !r.err) {
                        lua_settop(L, tslot);
                        continue;
                }
                if (key) {
                        lua_pushvalue(L, fn);
                } else {
                        lua_rawgeti(L, state, S_ONERROR);
                        lua_rawgeti(L, -1, r.producer + 1);
                        lua_remove(L, -2);
                }
                if (has_opaque)
                        lua_insert(L, -2); /* fn, opaque */
                insync_lua_report_t f = {
                        .partition = r.partition, .offset = r.offset,
                        .key = r.key, .key_len = r.klen,
                        .opaque = has_opaque ? lua_gettop(L) : 0,
                        .latency_ms = (double)r.latency_ms, .latency_int = 1,
                };
                if (r.topic < 0) {
                        push_topic_name(L, lc->c, state, r.topic, r.id);
                        f.topic = lua_tolstring(L, -1, &f.topic_len);
                } else {
                        if (r.topic != cur_topic) {
                                topic_name(L, lc->c, topics, r.topic);
                                lua_replace(L, tslot);
                                cur_topic = r.topic;
                                tname = lua_tolstring(L, tslot, &tlen);
                        }
                        f.topic = tname;
                        f.topic_len = tlen;
                }
                insync_lua_push_report(L, mt, &f);
                if (r.topic < 0)
                        lua_replace(L, -2); /* over the name */
                if (has_opaque)
                        lua_replace(L, -2); /* over the opaque */
                if (r.err)
                        insync_lua_push_error(L, r.err, NULL, r.persisted, r.fatal);
                else
                        lua_pushnil(L);
                if (key)
                        lua_call(L, 2, 0);
                else
                        insync_lua_undelivered(L, r.partition);
        }
        return 0;
}

/* Hands every queued report to its callback.  @returns 0, or 1 with an
 * error (message with traceback) on the top of the stack. */
static int deliver(lua_State *L, lcluster_t *lc, int state, const char *what) {
        if (!insync_cluster_due(lc->c))
                return 0;
        lua_pushcfunction(L, insync_lua_traceback);
        int h = lua_gettop(L);
        lua_pushcfunction(L, deliver_all);
        lua_pushlightuserdata(L, lc);
        lua_pushvalue(L, state);
        lua_pushlightuserdata(L, (void *)what);
        /* a report's key points into the model while its callback's
         * arguments are made: a close meanwhile frees it after the pcall */
        acquire(lc);
        int rc = lua_pcall(L, 3, 0, h);
        release(lc);
        if (rc != LUA_OK)
                return 1;
        lua_settop(L, h - 1);
        return 0;
}

static int run_until(lua_State *L, lcluster_t *lc, int64_t ms, int settle,
                     const char *what) {
        /* virtual time saturates one short of "never", where events that
         * are never due wait */
        int64_t now = insync_cluster_now(lc->c);
        int64_t until = ms > INT64_MAX - 1 - now ? INT64_MAX - 1 : now + ms;
        push_state(L, 1);
        int state = lua_gettop(L);
        for (;;) {
                if (deliver(L, lc, state, what))
                        return lua_error(L);
                if (settle && insync_cluster_outstanding(lc->c) == 0)
                        return 1;
                if (!insync_cluster_step(lc->c, until)) {
                        if (deliver(L, lc, state, what))
                                return lua_error(L);
                        if (!settle || insync_cluster_outstanding(lc->c) == 0 ||
                            insync_cluster_now(lc->c) >= until)
                                return insync_cluster_outstanding(lc->c) == 0;
                }
        }
}

static int64_t check_ms(lua_State *L, int i, const char *what) {
        if (lua_type(L, i) != LUA_TNUMBER || !(lua_tonumber(L, i) >= 0))
                luaL_error(L, "%s: expected a number >= 0, got %s", what,
                           lua_type(L, i) != LUA_TNUMBER ? tname(L, i)
                           : lua_tonumber(L, i) < 0      ? "a negative number"
                                                         : "nan");
        lua_Number n = lua_tonumber(L, i);
        return n > 9e15 ? (int64_t)9e15 : (int64_t)n;
}

static int l_run_for(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "run_for");
        int64_t ms = check_ms(L, 2, "run_for: ms");
        lua_settop(L, 1);
        run_until(L, lc, ms, 0, "run_for");
        lua_pushinteger(L, (lua_Integer)insync_cluster_now(lc->c));
        return 1;
}

static int l_run(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "run");
        int64_t ms = lua_isnoneornil(L, 2) ? DEFAULT_RUN_MS
                                           : check_ms(L, 2, "run: max_ms");
        lua_settop(L, 1);
        int done = run_until(L, lc, ms, 1, "run");
        lua_pushboolean(L, done);
        return 1;
}

/* ---------------------------------------------------------------- topics */

/* c:_create_topic(name, partitions, rf, min_isr, unclean, flush, assignment,
 * flush_ms): flush_ms may be nil (the broker's) */
static int l_create_topic(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "create_topic");
        if (lua_type(L, 2) != LUA_TSTRING)
                return luaL_error(L, "create_topic: name: expected string, got %s",
                                  tname(L, 2));
        const char *name = lua_tostring(L, 2);
        int partitions = (int)check_int(L, 3, "create_topic: partitions");
        int rf = (int)check_int(L, 4, "create_topic: replication_factor");
        int min_isr = (int)check_int(L, 5, "create_topic: min.insync.replicas");
        int unclean = (int)check_int(L, 6, "create_topic: unclean.leader.election.enable");
        lua_Integer flush = check_int(L, 7, "create_topic: flush.messages");
        lua_Integer flush_ms = lua_isnoneornil(L, 9) ? -1 : check_int(L, 9, "create_topic: flush.ms");
        int *assign = NULL;
        char err[160];
        /* a replication factor out of 1..brokers: the model says so */
        if (lua_istable(L, 8) && partitions > 0 && rf > 0 &&
            partitions <= INSYNC_MAX_PARTITIONS && rf <= insync_cluster_brokers(lc->c)) {
                assign = malloc((size_t)partitions * (size_t)rf * sizeof(int));
                if (!assign)
                        return luaL_error(L, "create_topic: out of memory");
                for (int p = 0; p < partitions; p++) {
                        lua_rawgeti(L, 8, p + 1);
                        for (int i = 0; i < rf; i++) {
                                int b = 0;
                                if (lua_istable(L, -1)) {
                                        lua_rawgeti(L, -1, i + 1);
                                        b = (int)lua_tointeger(L, -1);
                                        lua_pop(L, 1);
                                }
                                if (b < 1 || b > insync_cluster_brokers(lc->c)) {
                                        free(assign);
                                        return luaL_error(
                                                L, "create_topic: replicas[%d][%d]: expected a broker id 1..%d",
                                                p + 1, i + 1, insync_cluster_brokers(lc->c));
                                }
                                for (int k = 0; k < i; k++)
                                        if (assign[p * rf + k] == b) {
                                                free(assign);
                                                return luaL_error(
                                                        L, "create_topic: replicas[%d]: broker %d twice",
                                                        p + 1, b);
                                        }
                                assign[p * rf + i] = b;
                        }
                        lua_pop(L, 1);
                }
        }
        int rc = insync_cluster_create_topic(lc->c, name, partitions, rf, min_isr,
                                             unclean, (int64_t)flush,
                                             (int64_t)flush_ms, assign,
                                             err, sizeof(err));
        free(assign);
        if (rc)
                return luaL_error(L, "create_topic: %s", err);
        int t = insync_cluster_topic(lc->c, name);
        push_state(L, 1);
        lua_rawgeti(L, -1, S_TOPICS);
        lua_pushstring(L, name);
        lua_rawseti(L, -2, t + 1);
        return 0;
}

/* -------------------------------------------------------------- producer */

/* c:_producer(conf [, on_error]): conf normalized by cluster.lua. */
static int l_producer(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "producer");
        if (!lua_istable(L, 2))
                return luaL_error(L, "producer: conf: expected table, got %s", tname(L, 2));
        if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TFUNCTION)
                return luaL_error(L, "producer: on_error: expected function, got %s",
                                  tname(L, 3));
        insync_pconf_t conf;
        insync_pconf_defaults(&conf);
        read_keys(L, 2, &conf, INSYNC_KS_PRODUCER, INSYNC_KS_PRODUCER);
        lproducer_t *p = lua_newuserdata(L, sizeof(*p));
        p->lc = lc;
        p->index = -1;
        luaL_getmetatable(L, INSYNC_MPRODUCER_MT);
        lua_setmetatable(L, -2);
        push_state(L, 1);
        insync_setuservalue(L, -2);
        insync_lua_check_open(L, lc->c, "producer", "cluster");
        p->index = insync_cluster_producer(lc->c, &conf);
        if (p->index < 0)
                return luaL_error(L, "producer: too many nodes (at most %d in all)", 255);
        if (lua_type(L, 3) == LUA_TFUNCTION) {
                push_state(L, 1);
                lua_rawgeti(L, -1, S_ONERROR);
                lua_pushvalue(L, 3);
                lua_rawseti(L, -2, p->index + 1);
                lua_pop(L, 2);
        }
        return 1;
}

/* The index of the topic msg.topic names, its bytes at @p name; -1 when
 * unknown.  The last topic found is known again by the address of its
 * name, the string kept alive at S[-5]: no other string can have that
 * address then (a long string is not interned, so an equal name can be
 * another string, and a collected one's address another name's). */
static int lookup_topic(lua_State *L, lcluster_t *lc, int topic, const char *name,
                        size_t len) {
        if (name == lc->last_topic)
                return lc->last_topic_idx;
        insync_lua_check_topic(L, name, len);
        int t = insync_cluster_topic(lc->c, name);
        if (t >= 0) {
                push_state(L, 1);
                lua_pushvalue(L, topic); /* the string read: its bytes are name */
                lua_rawseti(L, -2, S_LAST_TOPIC);
                lua_pop(L, 1);
                lc->last_topic = name;
                lc->last_topic_idx = t;
        }
        return t;
}

/* p:send(msg [, callback]) -> id | nil, err.  Upvalue 1 is the msg field
 * names (insync_lua_msg_names), 2 the producer metatable.  msg is read by
 * insync_lua_read_msg, as insync.producer reads it; the model keeps no
 * headers (they change no outcome it simulates), only checks them. */
static int l_send(lua_State *L) {
        lproducer_t *p = lua_touserdata(L, 1);
        if (lua_gettop(L) != 3)
                lua_settop(L, 3);
        /* the metatable stays at 4, under what reading msg pushes; two
         * tables are the same table when their addresses are (cheaper
         * than lua_rawequal's general compare) */
        if (!p || !lua_getmetatable(L, 1) ||
            lua_topointer(L, 4) != lua_topointer(L, lua_upvalueindex(2)))
                p = check_producer(L, "send"); /* raises with the usual message */
        insync_lua_check_open(L, p->lc->c, "send", "cluster");
        lcluster_t *lc = p->lc;
        int cbt = lua_type(L, 3);
        if (cbt != LUA_TNIL && cbt != LUA_TFUNCTION)
                return luaL_error(L, "send: callback: expected function, got %s",
                                  tname(L, 3));
        insync_lua_msg_t m;
        insync_lua_read_msg(L, 2, lua_touserdata(L, lua_upvalueindex(1)), &m);
        const char *topic = m.topic;
        int partition = m.partition > 65535 ? 65535 : (int)m.partition;
        int t = lookup_topic(L, lc, m.topic_idx, topic, m.topic_len);
        insync_lua_check_open(L, lc->c, "send", "cluster");
        if (t < 0) {
                /* a topic the cluster does not have (yet): its records
                 * wait for it as librdkafka's do */
                int w = insync_cluster_wanted_topic(lc->c, topic);
                if (w < 0)
                        return luaL_error(L, "send: out of memory");
                t = -2 - w;
        }
        /* Room for one more run: once the model has accepted the send,
         * nothing may fail before its callback is recorded.  Made after
         * lookup_topic, which allocates: a __gc finalizer run there may
         * send, and use the room. */
        if (lc->nrun == lc->caprun) {
                uint32_t cap = lc->caprun ? lc->caprun * 2 : 64;
                lrun_t *r = realloc(lc->run, cap * sizeof(*r));
                if (!r)
                        return luaL_error(L, "send: out of memory");
                lc->run = r;
                lc->caprun = cap;
        }
        uint32_t id = 0;
        int rc = insync_cluster_send(lc->c, p->index, t, partition, m.key,
                                     m.key_len, m.key != NULL, m.value,
                                     m.value_len, m.value != NULL, m.headers_size,
                                     /* 0 is "now" to librdkafka: none */
                                     m.timestamp > 0 ? &m.timestamp : NULL, &id);
        if (rc == -1)
                return luaL_error(L, "send: out of memory");
        if (rc) {
                lua_pushnil(L);
                insync_lua_push_error(L, rc, NULL, INSYNC_NOT_PERSISTED, 0);
                return 2;
        }
        int state = 0; /* the state table's slot, pushed only when needed */
        /* Extend the last run when it has this callback, else start one. */
        lrun_t *last = lc->nrun > lc->headrun ? &lc->run[lc->nrun - 1] : NULL;
        int same_cb = 0;
        if (last && last->left > 0 && last->first + last->count == id) {
                /* S[key] keeps the last run's function alive, so its
                 * address cannot belong to another function now. */
                if (cbt != LUA_TFUNCTION)
                        same_cb = last->key == 0;
                else
                        same_cb = last->key && last->fn == lua_topointer(L, 3);
        }
        if (same_cb) {
                last->left++;
                last->count++;
        } else {
                lrun_t *r = &lc->run[lc->nrun++];
                r->first = id;
                r->count = 1;
                r->left = 1;
                r->key = 0;
                r->fn = NULL;
                if (cbt == LUA_TFUNCTION) {
                        r->fn = lua_topointer(L, 3);
                        r->key = lc->next_key++;
                        push_state(L, 1);
                        state = lua_gettop(L);
                        lua_pushvalue(L, 3);
                        lua_rawseti(L, state, (lua_Integer)r->key);
                }
        }
        if ((m.opaque || t < 0) && !state) {
                push_state(L, 1);
                state = lua_gettop(L);
        }
        if (m.opaque) {
                lc->opaques++;
                lua_rawgeti(L, state, S_OPAQUES);
                lua_pushvalue(L, m.opaque);
                lua_rawseti(L, -2, (lua_Integer)id);
                lua_pop(L, 1);
        }
        if (t < 0) {
                lua_rawgeti(L, state, S_UNKNOWN);
                lua_pushstring(L, topic);
                lua_rawseti(L, -2, (lua_Integer)id);
                lua_pop(L, 1);
        }
        lua_pushinteger(L, (lua_Integer)id);
        return 1;
}

/* ---------------------------------------------------------------- faults */

static lproducer_t *test_producer(lua_State *L, int i) {
        void *p = lua_touserdata(L, i);
        if (!p || !lua_getmetatable(L, i))
                return NULL;
        luaL_getmetatable(L, INSYNC_MPRODUCER_MT);
        int same = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        return same ? p : NULL;
}

static int check_broker_arg(lua_State *L, lcluster_t *lc, int i, const char *what) {
        int n = insync_cluster_brokers(lc->c);
        if (!insync_isinteger(L, i) || lua_tointeger(L, i) < 1 ||
            lua_tointeger(L, i) > n)
                luaL_error(L, "%s: expected a broker id 1..%d, got %s", what, n,
                           lua_type(L, i) == LUA_TNUMBER ? lua_tostring(L, i)
                                                         : tname(L, i));
        return (int)lua_tointeger(L, i);
}

/* A node: a broker id, "controller", or a producer of this cluster. */
static int check_node(lua_State *L, lcluster_t *lc, int i, const char *what) {
        if (lua_type(L, i) == LUA_TSTRING && strcmp(lua_tostring(L, i), "controller") == 0)
                return 0;
        if (lua_type(L, i) == LUA_TUSERDATA) {
                lproducer_t *p = test_producer(L, i);
                if (p && p->lc == lc)
                        return insync_cluster_producer_node(lc->c, p->index);
                luaL_error(L, "%s: expected a producer of this cluster", what);
        }
        if (insync_isinteger(L, i))
                return check_broker_arg(L, lc, i, what);
        return luaL_error(L, "%s: expected a broker id, \"controller\" or a producer, got %s",
                          what, tname(L, i));
}

static int l_crash(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "crash");
        int b = check_broker_arg(L, lc, 2, "crash: broker");
        int lose = 0;
        if (!lua_isnoneornil(L, 3)) {
                if (!lua_istable(L, 3))
                        return luaL_error(L, "crash: opts: expected table, got %s",
                                          tname(L, 3));
                lua_pushnil(L);
                while (lua_next(L, 3)) {
                        if (lua_type(L, -2) != LUA_TSTRING ||
                            strcmp(lua_tostring(L, -2), "lose_unflushed") != 0)
                                return luaL_error(L, "crash: opts: unknown option '%s'",
                                                  insync_lua_show(L, -2));
                        if (!lua_isboolean(L, -1))
                                return luaL_error(L, "crash: opts.lose_unflushed: expected boolean, got %s",
                                                  tname(L, -1));
                        lose = lua_toboolean(L, -1);
                        lua_pop(L, 1);
                }
        }
        char err[128];
        if (insync_cluster_crash(lc->c, b, lose, err, sizeof(err)))
                return luaL_error(L, "crash: %s", err);
        return 0;
}

/* c:NAME(broker) for the faults that take only a broker: fn's error is
 * raised as "NAME: <error>". */
typedef int (*broker_fault_fn)(insync_cluster_t *, int, char *, size_t);

static int broker_fault(lua_State *L, const char *name, broker_fault_fn fn) {
        lcluster_t *lc = check_cluster(L, name);
        char what[32], err[128];
        snprintf(what, sizeof(what), "%s: broker", name);
        int b = check_broker_arg(L, lc, 2, what);
        if (fn(lc->c, b, err, sizeof(err)))
                return luaL_error(L, "%s: %s", name, err);
        return 0;
}

static int l_restart(lua_State *L) {
        return broker_fault(L, "restart", insync_cluster_restart);
}

static int l_shutdown(lua_State *L) {
        return broker_fault(L, "shutdown", insync_cluster_shutdown);
}

static int l_pause(lua_State *L) {
        return broker_fault(L, "pause", insync_cluster_pause);
}

static int l_resume(lua_State *L) {
        return broker_fault(L, "resume", insync_cluster_resume);
}

/* c:crash_controller([id]) (default: the active one), c:restart_controller(id) */
static int controller_id(lua_State *L, lcluster_t *lc, const char *what) {
        int voters, active, epoch;
        uint32_t alive;
        insync_cluster_quorum_info(lc->c, &voters, &active, &epoch, &alive);
        if (lua_isnoneornil(L, 2) && active)
                return active;
        if (!insync_isinteger(L, 2) || lua_tointeger(L, 2) < 1 ||
            lua_tointeger(L, 2) > voters)
                return luaL_error(L, "%s: controller: expected a controller id 1..%d, got %s",
                                  what, voters,
                                  lua_type(L, 2) == LUA_TNUMBER ? lua_tostring(L, 2)
                                                                : tname(L, 2));
        return (int)lua_tointeger(L, 2);
}

static int l_crash_controller(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "crash_controller");
        int id = controller_id(L, lc, "crash_controller");
        char err[128];
        if (insync_cluster_controller_crash(lc->c, id, err, sizeof(err)))
                return luaL_error(L, "crash_controller: %s", err);
        lua_pushinteger(L, id);
        return 1;
}

static int l_restart_controller(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "restart_controller");
        if (lua_isnoneornil(L, 2))
                return luaL_error(L, "restart_controller: controller: expected a controller id, got nil");
        int id = controller_id(L, lc, "restart_controller");
        char err[128];
        if (insync_cluster_controller_restart(lc->c, id, err, sizeof(err)))
                return luaL_error(L, "restart_controller: %s", err);
        return 0;
}

/* c:quorum(): { voters, active (nil: none), epoch, alive = { ids } } */
static int l_quorum(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "quorum");
        int voters, active, epoch;
        uint32_t alive;
        insync_cluster_quorum_info(lc->c, &voters, &active, &epoch, &alive);
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, voters);
        lua_setfield(L, -2, "voters");
        if (active) {
                lua_pushinteger(L, active);
                lua_setfield(L, -2, "active");
        }
        lua_pushinteger(L, epoch);
        lua_setfield(L, -2, "epoch");
        lua_newtable(L);
        int n = 0;
        for (int i = 1; i <= voters; i++)
                if (alive & ((uint32_t)1 << i)) {
                        lua_pushinteger(L, i);
                        lua_rawseti(L, -2, ++n);
                }
        lua_setfield(L, -2, "alive");
        return 1;
}

static int l_cut(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "cut");
        int a = check_node(L, lc, 2, "cut: a");
        int b = check_node(L, lc, 3, "cut: b");
        if (a == b)
                return luaL_error(L, "cut: a and b are the same node");
        insync_cluster_cut(lc->c, a, b, 1);
        return 0;
}

static int l_drop(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "drop");
        int a = check_node(L, lc, 2, "drop: from");
        int b = check_node(L, lc, 3, "drop: to");
        if (a == b)
                return luaL_error(L, "drop: from and to are the same node");
        insync_cluster_cut(lc->c, a, b, 0);
        return 0;
}

/* c:lossy(from, to): single messages lost, the connections kept up. */
static int l_lossy(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "lossy");
        int a = check_node(L, lc, 2, "lossy: from");
        int b = check_node(L, lc, 3, "lossy: to");
        if (a == b)
                return luaL_error(L, "lossy: from and to are the same node");
        insync_cluster_lossy(lc->c, a, b);
        return 0;
}

/* c:_latency(a, b, kind, x, y): the link a -> b's distribution (checked
 * in lua/insync/cluster.lua, figures again here). */
static int l_latency(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "latency");
        int a = check_node(L, lc, 2, "latency: a");
        int b = check_node(L, lc, 3, "latency: b");
        if (a == b)
                return luaL_error(L, "latency: a and b are the same node");
        insync_latency_t l = {(int)luaL_checkinteger(L, 4), luaL_checknumber(L, 5),
                              luaL_optnumber(L, 6, 0)};
        char err[128];
        if (insync_cluster_link_latency(lc->c, a, b, &l, err, sizeof(err)))
                return luaL_error(L, "latency: %s", err);
        return 0;
}

/* c:_disk(b, bytes_per_ms): broker b's disk write budget (0: unlimited). */
static int l_disk(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "_disk");
        int b = (int)check_int(L, 2, "_disk: broker");
        lua_Integer rate = check_int(L, 3, "_disk: bytes_per_ms");
        char err[128];
        if (insync_cluster_disk(lc->c, b, (int64_t)rate, err, sizeof(err)))
                return luaL_error(L, "_disk: %s", err);
        return 0;
}

static int l_isolate(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "isolate");
        insync_cluster_isolate(lc->c, check_node(L, lc, 2, "isolate: node"));
        return 0;
}

static int l_heal(lua_State *L) {
        insync_cluster_heal(check_cluster(L, "heal")->c);
        return 0;
}

/* ------------------------------------------------------------- explore */

static const char *const xkind_names[INSYNC_XF__N] = {
        "kill", "power_loss", "shutdown", "pause", "isolate", "partition",
        "partition_majority", "drop",
};
static const char *const xaudit_names[6] = {
        "lost", "duplicated", "unexpected", "uncommitted", "reordered",
        "inconsistent",
};

/* t[k] without metamethods: no Lua code runs while _explore reads its
 * arguments (a __index could close the cluster). */
static void xfield(lua_State *L, int t, const char *k) {
        lua_pushstring(L, k);
        lua_rawget(L, t < 0 ? t - 1 : t);
}

static lua_Integer xint_field(lua_State *L, int t, const char *k, lua_Integer min) {
        xfield(L, t, k);
        if (!insync_isinteger(L, -1) || lua_tointeger(L, -1) < min)
                luaL_error(L, "_explore: %s: expected integer >= %d", k, (int)min);
        lua_Integer v = lua_tointeger(L, -1);
        lua_pop(L, 1);
        return v;
}

/* Adds the counts of @p v to the table at @p t: t[key] += n, the key an
 * error's name (@p names) or a number. */
static void xcounts_add(lua_State *L, int t, const insync_xcount_t *v, size_t n,
                        int names) {
        for (size_t i = 0; i < n; i++) {
                if (names)
                        lua_pushstring(L, insync_lua_err_name((int)v[i].value));
                else
                        lua_pushinteger(L, (lua_Integer)v[i].value);
                lua_pushvalue(L, -1);
                lua_rawget(L, t);
                lua_Integer had = lua_tointeger(L, -1);
                lua_pop(L, 1);
                lua_pushinteger(L, had + (lua_Integer)v[i].n);
                lua_rawset(L, t);
        }
}

/* The sends a run made in C, as one run of sends without a callback, so
 * that a report still due reaches run / run_for as a callback-less send's
 * does.  @returns -1 on no memory. */
static int xruns_record(lcluster_t *lc, const insync_xresult_t *r) {
        if (!r->sent)
                return 0;
        if (lc->nrun == lc->caprun) {
                uint32_t cap = lc->caprun ? lc->caprun * 2 : 64;
                lrun_t *n = realloc(lc->run, cap * sizeof(*n));
                if (!n)
                        return -1;
                lc->run = n;
                lc->caprun = cap;
        }
        lrun_t *run = &lc->run[lc->nrun++];
        run->first = r->first_id;
        run->count = (uint32_t)r->sent;
        run->left = (uint32_t)(r->sent - (r->taken < r->sent ? r->taken : r->sent));
        run->key = 0;
        run->fn = NULL;
        runs_trim(lc);
        return 0;
}

/* c:_explore(p, plan, case [, into]): one run of insync.explore
 * (csrc/model/explore.c), for lua/insync/explore.lua; not part of the
 * documented API.  plan: { topics = { names }, rate, keys (false: none),
 * duration_ms, max_down }; case: { records, faults = { { t_ms, fault,
 * args = { broker (or "leader"), for_ms } }, ... } sorted by t_ms,
 * end_ms (optional) }.  Returns { acked, failed, skipped, end_ms,
 * applied = { the faults applied, broker resolved }, and the audit's item
 * counts by kind (lost, duplicated, ...) }; the failed
 * sends per error name and the acked ones per latency_ms are added to
 * into.errors and into.latency, or returned as errors and latency. */
static int l_explore(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "_explore");
        lproducer_t *p = test_producer(L, 2);
        if (!p || p->lc != lc)
                return luaL_error(L, "_explore: producer: expected a producer of this cluster");
        luaL_checktype(L, 3, LUA_TTABLE);
        luaL_checktype(L, 4, LUA_TTABLE);
        int into = lua_istable(L, 5) ? 5 : 0;
        if (into) {
                xfield(L, into, "errors");
                xfield(L, into, "latency");
                if (!lua_istable(L, -2) || !lua_istable(L, -1))
                        return luaL_error(L, "_explore: into: expected { errors = {}, latency = {} }");
                lua_pop(L, 2);
        }
        lua_Integer records = xint_field(L, 4, "records", 0);
        xfield(L, 4, "end_ms");
        lua_Integer end_ms = insync_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        xfield(L, 4, "faults");
        lua_replace(L, 4); /* the case's faults, in its place */
        lua_pop(L, 1);
        luaL_checktype(L, 4, LUA_TTABLE);
        int nb = insync_cluster_brokers(lc->c);

        insync_xcase_t x;
        int topics[64];
        insync_xfault_t faults[64];
        memset(&x, 0, sizeof(x));
        x.producer = p->index;
        x.records = records;
        x.end_ms = end_ms;
        xfield(L, 3, "topics");
        int nt = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
        if (nt < 1 || nt > 64)
                return luaL_error(L, "_explore: plan.topics: expected 1..64 topic names");
        for (int i = 0; i < nt; i++) {
                lua_rawgeti(L, -1, i + 1);
                const char *name = lua_tostring(L, -1);
                topics[i] = name ? insync_cluster_topic(lc->c, name) : -1;
                if (topics[i] < 0)
                        return luaL_error(L, "_explore: plan.topics[%d]: no such topic", i + 1);
                lua_pop(L, 1);
        }
        lua_pop(L, 1);
        x.topics = topics;
        x.ntopics = nt;
        xfield(L, 3, "rate");
        x.rate = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (!(x.rate > 0))
                return luaL_error(L, "_explore: plan.rate: expected a number > 0");
        xfield(L, 3, "keys");
        int nokeys = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
        lua_pop(L, 1);
        x.keys = nokeys ? 0 : xint_field(L, 3, "keys", 1);
        x.duration_ms = xint_field(L, 3, "duration_ms", 0);
        x.max_down = (int)xint_field(L, 3, "max_down", 0);
        int nf = (int)lua_rawlen(L, 4);
        if (nf > 64)
                return luaL_error(L, "_explore: faults: at most 64");
        for (int i = 0; i < nf; i++) {
                insync_xfault_t *f = &faults[i];
                lua_rawgeti(L, 4, i + 1);
                int ft = lua_gettop(L);
                if (!lua_istable(L, ft))
                        return luaL_error(L, "_explore: faults[%d]: expected table", i + 1);
                f->t_ms = xint_field(L, ft, "t_ms", 0);
                xfield(L, ft, "fault");
                const char *kind = lua_tostring(L, -1);
                f->kind = -1;
                for (int k = 0; kind && k < INSYNC_XF__N; k++)
                        if (strcmp(kind, xkind_names[k]) == 0)
                                f->kind = k;
                if (f->kind < 0)
                        return luaL_error(L, "_explore: faults[%d].fault: unknown kind", i + 1);
                xfield(L, ft, "args");
                if (!lua_istable(L, -1))
                        return luaL_error(L, "_explore: faults[%d].args: expected table", i + 1);
                int at = lua_gettop(L);
                f->for_ms = xint_field(L, at, "for_ms", 0);
                xfield(L, at, "broker");
                if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "leader") == 0)
                        f->broker = 0;
                else if (insync_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
                         lua_tointeger(L, -1) <= nb)
                        f->broker = (int)lua_tointeger(L, -1);
                else
                        return luaL_error(L, "_explore: faults[%d].args.broker: expected 1..%d or \"leader\"",
                                          i + 1, nb);
                lua_settop(L, ft - 1);
        }
        x.faults = faults;
        x.nfaults = nf;

        /* the result's lists belong to the cluster userdata until the
         * next run or its __gc: nothing leaks when making a table raises */
        insync_xresult_t *r = &lc->xres;
        char err[192];
        /* reading the tables can run Lua code (__index) that closes it */
        insync_lua_check_open(L, lc->c, "_explore", "cluster");
        insync_xresult_free(r);
        int rc = insync_explore_run(lc->c, &x, r, err, sizeof(err));
        if (xruns_record(lc, r))
                return luaL_error(L, "_explore: out of memory");
        if (rc)
                return luaL_error(L, "%s", err);
        /* a finalizer run by the tables made below may close the cluster:
         * its model, and the counts read here, stay until release */
        acquire(lc);
        lua_createtable(L, 0, 12);
        int res = lua_gettop(L);
        lua_pushinteger(L, (lua_Integer)r->acked);
        lua_setfield(L, res, "acked");
        lua_pushinteger(L, (lua_Integer)r->failed);
        lua_setfield(L, res, "failed");
        lua_pushinteger(L, r->skipped);
        lua_setfield(L, res, "skipped");
        lua_pushinteger(L, (lua_Integer)r->end_ms);
        lua_setfield(L, res, "end_ms");
        for (int k = 0; k < 6; k++) {
                lua_pushinteger(L, (lua_Integer)r->audit[k]);
                lua_setfield(L, res, xaudit_names[k]);
        }
        lua_createtable(L, nf, 0);
        int n = 0;
        for (int i = 0; i < nf; i++) {
                if (!faults[i].hit)
                        continue;
                lua_createtable(L, 0, 3);
                lua_pushinteger(L, (lua_Integer)faults[i].t_ms);
                lua_setfield(L, -2, "t_ms");
                lua_pushstring(L, xkind_names[faults[i].kind]);
                lua_setfield(L, -2, "fault");
                lua_createtable(L, 0, 2);
                lua_pushinteger(L, faults[i].hit);
                lua_setfield(L, -2, "broker");
                lua_pushinteger(L, (lua_Integer)faults[i].for_ms);
                lua_setfield(L, -2, "for_ms");
                lua_setfield(L, -2, "args");
                lua_rawseti(L, -2, ++n);
        }
        lua_setfield(L, res, "applied");
        if (into) {
                xfield(L, into, "errors");
                xfield(L, into, "latency");
        } else {
                lua_newtable(L);
                lua_pushvalue(L, -1);
                lua_setfield(L, res, "errors");
                lua_newtable(L);
                lua_pushvalue(L, -1);
                lua_setfield(L, res, "latency");
        }
        xcounts_add(L, res + 1, r->errors, r->nerrors, 1);
        xcounts_add(L, res + 2, r->latency, r->nlatency, 0);
        release(lc);
        lua_settop(L, res);
        return 1;
}

/* ------------------------------------------------------------ inspection */

static int check_topic(lua_State *L, lcluster_t *lc, int i, const char *what) {
        if (lua_type(L, i) != LUA_TSTRING)
                luaL_error(L, "%s: topic: expected string, got %s", what,
                           tname(L, i));
        int t = insync_cluster_topic(lc->c, lua_tostring(L, i));
        if (t < 0)
                luaL_error(L, "%s: topic: no topic '%s'", what, insync_lua_show(L, i));
        return t;
}

static int check_part(lua_State *L, lcluster_t *lc, int t, int i, const char *what) {
        int n = insync_cluster_topic_partitions(lc->c, t);
        if (!insync_isinteger(L, i) || lua_tointeger(L, i) < 0 ||
            lua_tointeger(L, i) >= n)
                luaL_error(L, "%s: partition: expected 0..%d, got %s", what, n - 1,
                           lua_type(L, i) == LUA_TNUMBER ? lua_tostring(L, i)
                                                         : tname(L, i));
        return (int)lua_tointeger(L, i);
}

static void push_isr(lua_State *L, uint64_t isr) {
        lua_newtable(L);
        int n = 0;
        for (int b = 1; b < 64; b++)
                if ((isr >> b) & 1) {
                        lua_pushinteger(L, b);
                        lua_rawseti(L, -2, ++n);
                }
}

static const char *const role_names[] = {"none", "leader", "follower"};

static int l_partition(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "partition");
        int t = check_topic(L, lc, 2, "partition");
        int p = check_part(L, lc, t, 3, "partition");
        insync_pinfo_t pi;
        insync_cluster_t *c = acquire(lc); /* tables made below may run a
                                            * finalizer that closes it */
        insync_cluster_partition_info(c, t, p, &pi);
        lua_createtable(L, 0, 8);
        if (pi.leader >= 1) {
                lua_pushinteger(L, pi.leader);
                lua_setfield(L, -2, "leader");
                lua_pushinteger(L, (lua_Integer)pi.hw);
                lua_setfield(L, -2, "hw");
        }
        lua_pushinteger(L, pi.epoch);
        lua_setfield(L, -2, "leader_epoch");
        lua_pushinteger(L, pi.pepoch);
        lua_setfield(L, -2, "partition_epoch");
        push_isr(L, pi.isr);
        lua_setfield(L, -2, "isr");
        push_isr(L, pi.elr);
        lua_setfield(L, -2, "elr");
        if (pi.last_leader >= 1) {
                lua_pushinteger(L, pi.last_leader);
                lua_setfield(L, -2, "last_known_leader");
        }
        lua_createtable(L, pi.rf, 0);
        for (int i = 0; i < pi.rf; i++) {
                lua_pushinteger(L, pi.replicas[i]);
                lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "assignment");
        lua_newtable(L);
        for (int i = 0; i < pi.rf; i++) {
                insync_rinfo_t ri;
                insync_cluster_replica_info(c, t, p, pi.replicas[i], &ri);
                lua_createtable(L, 0, 8);
                lua_pushinteger(L, (lua_Integer)ri.leo);
                lua_setfield(L, -2, "leo");
                lua_pushinteger(L, (lua_Integer)ri.hw);
                lua_setfield(L, -2, "hw");
                lua_pushinteger(L, (lua_Integer)ri.flushed);
                lua_setfield(L, -2, "flushed");
                lua_pushinteger(L, (lua_Integer)ri.durable);
                lua_setfield(L, -2, "durable");
                lua_pushinteger(L, (lua_Integer)ri.hw_checkpoint);
                lua_setfield(L, -2, "hw_checkpoint");
                lua_pushboolean(L, ri.online);
                lua_setfield(L, -2, "online");
                lua_pushstring(L, role_names[ri.role]);
                lua_setfield(L, -2, "role");
                lua_pushinteger(L, ri.epoch);
                lua_setfield(L, -2, "leader_epoch");
                lua_rawseti(L, -2, pi.replicas[i]);
        }
        lua_setfield(L, -2, "replicas");
        release(lc);
        return 1;
}

static void push_entry(lua_State *L, insync_cluster_t *c, int state, uint32_t id,
                       int64_t offset) {
        int topic, part;
        size_t len;
        insync_cluster_send_info(c, id, &topic, &part);
        lua_createtable(L, 0, 6);
        push_topic_name(L, c, state, topic, id);
        lua_setfield(L, -2, "topic");
        lua_pushinteger(L, part);
        lua_setfield(L, -2, "partition");
        const char *k = insync_cluster_key(c, id, &len);
        if (k) {
                lua_pushlstring(L, k, len);
                lua_setfield(L, -2, "key");
        }
        const char *v = insync_cluster_value(c, id, &len);
        if (v) {
                lua_pushlstring(L, v, len);
                lua_setfield(L, -2, "value");
        }
        if (offset >= 0) {
                lua_pushinteger(L, (lua_Integer)offset);
                lua_setfield(L, -2, "offset");
        }
        int64_t ts;
        if (insync_cluster_timestamp(c, id, &ts)) {
                lua_pushinteger(L, (lua_Integer)ts);
                lua_setfield(L, -2, "timestamp");
        }
        lua_pushinteger(L, (lua_Integer)id);
        lua_setfield(L, -2, "id");
        lua_pushinteger(L, insync_cluster_send_acks(c, id));
        lua_setfield(L, -2, "acks");
}

struct audit_ctx {
        insync_cluster_t *c;
        int state; /* stack index of the cluster's state table */
};

static void push_audit_entry(lua_State *L, void *ud, const insync_audit_item_t *it) {
        const struct audit_ctx *x = ud;
        push_entry(L, x->c, x->state, it->id, it->offset);
}

static int l_audit(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "audit");
        insync_audit_t a;
        if (insync_cluster_audit(lc->c, &a))
                return luaL_error(L, "audit: out of memory");
        push_state(L, 1);
        struct audit_ctx x = {acquire(lc), lua_gettop(L)};
        insync_lua_push_audit(L, &a, push_audit_entry, &x);
        insync_audit_free(&a);
        release(lc);
        return 1;
}

/* c:log(topic, partition, broker): that replica's records. */
static int l_log(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "log");
        int t = check_topic(L, lc, 2, "log");
        int p = check_part(L, lc, t, 3, "log");
        int b = check_broker_arg(L, lc, 4, "log: broker");
        insync_rinfo_t ri;
        if (!insync_cluster_replica_info(lc->c, t, p, b, &ri))
                return luaL_error(L, "log: broker %d holds no replica of %s/%d", b,
                                  lua_tostring(L, 2), p);
        push_state(L, 1);
        int state = lua_gettop(L);
        insync_cluster_t *c = acquire(lc);
        lua_createtable(L, (int)ri.leo, 0);
        for (int64_t o = 0; o < ri.leo; o++) {
                uint32_t id;
                int32_t epoch;
                if (!insync_cluster_log_entry(c, t, p, b, o, &id, &epoch))
                        break; /* truncated meanwhile (by a __gc finalizer) */
                push_entry(L, c, state, id, o);
                lua_pushinteger(L, epoch);
                lua_setfield(L, -2, "leader_epoch");
                lua_rawseti(L, -2, (int)o + 1);
        }
        release(lc);
        return 1;
}

static int l_broker(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "broker");
        int b = check_broker_arg(L, lc, 2, "broker: id");
        int alive, fenced, powered, shutting, paused;
        insync_cluster_broker_info(lc->c, b, &alive, &fenced, &powered, &shutting,
                                   &paused);
        lua_createtable(L, 0, 6);
        lua_pushinteger(L, b);
        lua_setfield(L, -2, "id");
        lua_pushboolean(L, alive);
        lua_setfield(L, -2, "online");
        lua_pushboolean(L, fenced);
        lua_setfield(L, -2, "fenced");
        lua_pushboolean(L, powered);
        lua_setfield(L, -2, "powered");
        lua_pushboolean(L, shutting);
        lua_setfield(L, -2, "shutting_down");
        lua_pushboolean(L, paused);
        lua_setfield(L, -2, "paused");
        return 1;
}

static int l_check(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "check");
        char err[256];
        if (insync_cluster_check(lc->c, err, sizeof(err))) {
                lua_pushstring(L, err);
                return 1;
        }
        lua_pushnil(L);
        return 1;
}

static int l_memory(lua_State *L) {
        lua_pushinteger(L, (lua_Integer)insync_cluster_memory(check_cluster(L, "memory")->c));
        return 1;
}

static void push_node(lua_State *L, insync_cluster_t *c, int node) {
        int n = insync_cluster_brokers(c);
        if (node == 0)
                lua_pushliteral(L, "controller");
        else if (node >= 1 && node <= n)
                lua_pushinteger(L, node);
        else if (node < 0)
                lua_pushliteral(L, "client");
        else
                lua_pushfstring(L, "producer%d", node - n);
}

/* c:trace(): every entry as { t, event, node, topic, partition, ... }. */
static int l_trace(lua_State *L) {
        lcluster_t *lc = check_cluster(L, "trace");
        push_state(L, 1);
        int state = lua_gettop(L);
        insync_cluster_t *c = acquire(lc);
        size_t n = insync_cluster_trace_len(c);
        lua_createtable(L, n > 0x7fffffff ? 0x7fffffff : (int)n, 0);
        for (size_t i = 0; i < n; i++) {
                /* a copy: making the tables below can run a __gc
                 * finalizer, whose sends may grow the trace */
                const insync_trace_entry_t ecopy = *insync_cluster_trace_get(c, i);
                const insync_trace_entry_t *e = &ecopy;
                const char *fa, *fb;
                insync_trace_fields(e->kind, &fa, &fb);
                lua_createtable(L, 0, 7);
                lua_pushinteger(L, (lua_Integer)e->t);
                lua_setfield(L, -2, "t");
                lua_pushstring(L, insync_trace_kind_name(e->kind));
                lua_setfield(L, -2, "event");
                push_node(L, c, e->node);
                lua_setfield(L, -2, "node");
                int topic, part;
                insync_cluster_gp(c, e->gp, &topic, &part);
                if (topic >= 0) {
                        push_topic_name(L, c, state, topic, 0);
                        lua_setfield(L, -2, "topic");
                        lua_pushinteger(L, part);
                        lua_setfield(L, -2, "partition");
                }
                if (fa) {
                        lua_pushinteger(L, (lua_Integer)e->a);
                        lua_setfield(L, -2, fa);
                }
                if (fb) {
                        lua_pushinteger(L, (lua_Integer)e->b);
                        lua_setfield(L, -2, fb);
                }
                if (e->kind == INSYNC_T_REQUEST) {
                        lua_pushinteger(L, e->acks);
                        lua_setfield(L, -2, "acks");
                }
                lua_rawseti(L, -2, (int)i + 1);
        }
        release(lc);
        return 1;
}

static int l_tostring(lua_State *L) {
        lcluster_t *lc = test_self(L, INSYNC_CLUSTER_MT);
        if (!lc)
                return insync_lua_bad_self(L, "__tostring", INSYNC_CLUSTER_MT);
        if (!lc->c)
                lua_pushliteral(L, "insync.cluster (closed)");
        else
                lua_pushfstring(L, "insync.cluster (%d brokers, t=%d ms)",
                                insync_cluster_brokers(lc->c),
                                (int)insync_cluster_now(lc->c));
        return 1;
}

/* p:cluster(): the cluster this producer belongs to. */
static int l_producer_cluster(lua_State *L) {
        check_producer(L, "cluster");
        push_state(L, 1);
        lua_rawgeti(L, -1, S_CLUSTER);
        return 1;
}

static int l_producer_tostring(lua_State *L) {
        lproducer_t *p = test_self(L, INSYNC_MPRODUCER_MT);
        if (!p)
                return insync_lua_bad_self(L, "__tostring", INSYNC_MPRODUCER_MT);
        lua_pushfstring(L, "insync.cluster.producer (producer%d)", p->index + 1);
        return 1;
}

void insync_lua_open_cluster(lua_State *L) {
        static const luaL_Reg methods[] = {
                {"now", l_now},
                {"run_for", l_run_for},
                {"run", l_run},
                {"outstanding", l_outstanding},
                {"_create_topic", l_create_topic},
                {"_producer", l_producer},
                {"crash", l_crash},
                {"restart", l_restart},
                {"shutdown", l_shutdown},
                {"pause", l_pause},
                {"resume", l_resume},
                {"cut", l_cut},
                {"drop", l_drop},
                {"lossy", l_lossy},
                {"isolate", l_isolate},
                {"_latency", l_latency},
                {"_disk", l_disk},
                {"heal", l_heal},
                {"crash_controller", l_crash_controller},
                {"restart_controller", l_restart_controller},
                {"quorum", l_quorum},
                {"partition", l_partition},
                {"audit", l_audit},
                {"log", l_log},
                {"broker", l_broker},
                {"check", l_check},
                {"memory", l_memory},
                {"trace", l_trace},
                {"_explore", l_explore},
                {"close", l_cluster_close},
                {NULL, NULL},
        };
        static const luaL_Reg pmethods[] = {
                {"cluster", l_producer_cluster},
                {NULL, NULL},
        };
        if (luaL_newmetatable(L, INSYNC_CLUSTER_MT)) {
                lua_pushcfunction(L, l_cluster_gc);
                lua_setfield(L, -2, "__gc");
                lua_pushcfunction(L, l_cluster_close); /* Lua 5.4's <close> */
                lua_setfield(L, -2, "__close");
                lua_pushcfunction(L, l_tostring);
                lua_setfield(L, -2, "__tostring");
                lua_newtable(L);
                luaL_setfuncs(L, methods, 0);
                lua_setfield(L, -2, "__index");
        }
        lua_getfield(L, -1, "__index");
        lua_setfield(L, -3, "cluster_methods");
        lua_pop(L, 1);
        if (luaL_newmetatable(L, INSYNC_MPRODUCER_MT)) {
                lua_pushcfunction(L, l_producer_tostring);
                lua_setfield(L, -2, "__tostring");
                lua_newtable(L);
                luaL_setfuncs(L, pmethods, 0);
                insync_lua_msg_names(L);
                lua_pushvalue(L, -3); /* the metatable */
                lua_pushcclosure(L, l_send, 2);
                lua_setfield(L, -2, "send");
                lua_setfield(L, -2, "__index");
        }
        lua_getfield(L, -1, "__index");
        lua_setfield(L, -3, "cluster_producer_methods");
        lua_pop(L, 1);
        lua_pushcfunction(L, l_cluster_new);
        lua_setfield(L, -2, "cluster_new");
        lua_pushcfunction(L, l_model_keys);
        lua_setfield(L, -2, "model_keys");
}
