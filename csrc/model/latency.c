/**
 * @file latency.c
 * @brief How long a message takes on a link: fixed (latency_ms, the
 * default), uniform between two bounds, or log-normal given its median and
 * its 99th percentile, cluster-wide or per link.  Draws come from the
 * cluster's own latency PRNG (xoshiro256**, seeded from the cluster's
 * seed), apart from the one the rest of the model draws from, so a fixed
 * latency draws nothing and behaves as before.  A link keeps its order as
 * a TCP connection does: a message never arrives before one sent earlier on
 * the same link.
 *
 * A broker's outbound network may have a budget (net_bytes_per_ms): its
 * messages leave one after the other, each once its bytes (64 of header,
 * and per record 16 + key + value) have gone out, so a leader that must
 * send every record to each follower falls behind a producer faster than
 * its budget, and its followers with it.
 *
 * Same seed, same draws on every machine: the log-normal is sampled from a
 * table of 256 standard normal quantiles (written out below), scaled once
 * per distribution into whole microseconds; a draw of u microseconds takes
 * u / 1000 ms, plus one more with probability (u % 1000) / 1000, so the
 * mean stays right in whole virtual milliseconds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Phi^-1((i + 0.5) / 256), i = 0..255. */
static const double z256[256] = {
        -2.8856349124267573, -2.5205022171903591, -2.3352330400688128, -2.2065752165371291,
        -2.1065540881628135, -2.0240136237191582, -1.9533237077453942, -1.8912292378201079,
        -1.8356715369125431, -1.7852624904353231, -1.7390199717299037, -1.6962225050066093,
        -1.6563238653408072, -1.6189001435373589, -1.5836154758017882, -1.5501990407917605,
        -1.518429141152591, -1.4881218960233806, -1.459123025021593, -1.4313017591024757,
        -1.404546248158874, -1.3787600432219229, -1.3538593640751064, -1.3297709501812092,
        -1.3064303511275646, -1.2837805526081671, -1.2617708616359866, -1.2403559942306723,
        -1.2194953228462238, -1.1991522509932739, -1.1792936900106505, -1.1598896185252787,
        -1.140912709342313, -1.1223380117021662, -1.1041426792922295, -1.0863057362981008,
        -1.0688078752591983, -1.0516312816573357, -1.0347594810882446, -1.0181772056006682,
        -1.0018702763769824, -0.98582550040506112, -0.97003057917724067, -0.95447402776744261,
        -0.93914510289606212, -0.92403373880538786, -0.90913048994484691, -0.89442647961222388,
        -0.87991335381968094, -0.86558323975630835, -0.85142870830557127, -0.83744274014924525,
        -0.82361869505153307, -0.80995028396989233, -0.79643154368423297, -0.78305681367477409,
        -0.76982071501204097, -0.7567181310510781, -0.74374418974665413, -0.73089424742762854,
        -0.71816387388723057, -0.70554883866217555, -0.69304509838766348, -0.68064878512764648,
        -0.66835619559057891, -0.6561637811503791, -0.64406813860069256, -0.63206600157794679,
        -0.62015423259520741, -0.60832981563463184, -0.59658984925144531, -0.58493154014692739,
        -0.57335219717195252, -0.56184922572625673, -0.55042012252182748, -0.53906247068171875,
        -0.52777393514818027, -0.51655225837632135, -0.50539525629161941, -0.4943008144914709,
        -0.48326688467267276, -0.47229148126826082, -0.46137267827851303, -0.45050860628217826,
        -0.43969744961512003, -0.42893744370460862, -0.41822687254840912, -0.4075640663286797,
        -0.39694739915145472, -0.38637528690319967, -0.37584618521656105, -0.36535858753802314,
        -0.35491102329071739, -0.34450205612611962, -0.33413028225881958, -0.32379432887895426,
        -0.31349285263727555, -0.30322453819816619, -0.29298809685623339, -0.28278226521240257,
        -0.27260580390569994, -0.26245749639715543, -0.25233614780248953, -0.24224058377044752,
        -0.23216964940384519, -0.22212220822055745, -0.21209714115184913, -0.20209334557559613,
        -0.19210973438208001, -0.18214523507016814, -0.17219878887180792, -0.16226934990286976,
        -0.15235588433847252, -0.14245736961101607, -0.13257279362922775, -0.12270115401660611,
        -0.11284145736771416, -0.10299271852083793, -0.093153959845583292, -0.08332421054403627,
        -0.073502505964158749, -0.06368788692413288, -0.053879399046406255, -0.044076092100220454,
        -0.034277019351436594, -0.024481236918494055, -0.014687803133359817, -0.0048957779063424529,
        0.0048957779063424529, 0.014687803133359817, 0.024481236918494055, 0.034277019351436594,
        0.044076092100220454, 0.053879399046406255, 0.06368788692413288, 0.073502505964158749,
        0.08332421054403627, 0.093153959845583292, 0.10299271852083793, 0.11284145736771416,
        0.12270115401660611, 0.13257279362922775, 0.14245736961101607, 0.15235588433847252,
        0.16226934990286976, 0.17219878887180792, 0.18214523507016814, 0.19210973438208001,
        0.20209334557559613, 0.21209714115184913, 0.22212220822055745, 0.23216964940384519,
        0.24224058377044752, 0.25233614780248953, 0.26245749639715543, 0.27260580390569994,
        0.28278226521240257, 0.29298809685623339, 0.30322453819816619, 0.31349285263727555,
        0.32379432887895426, 0.33413028225881958, 0.34450205612611962, 0.35491102329071739,
        0.36535858753802314, 0.37584618521656105, 0.38637528690319967, 0.39694739915145472,
        0.4075640663286797, 0.41822687254840912, 0.42893744370460862, 0.43969744961512003,
        0.45050860628217826, 0.46137267827851303, 0.47229148126826082, 0.48326688467267276,
        0.4943008144914709, 0.50539525629161941, 0.51655225837632135, 0.52777393514818027,
        0.53906247068171875, 0.55042012252182748, 0.56184922572625673, 0.57335219717195252,
        0.58493154014692739, 0.59658984925144531, 0.60832981563463184, 0.62015423259520741,
        0.63206600157794679, 0.64406813860069256, 0.6561637811503791, 0.66835619559057891,
        0.68064878512764648, 0.69304509838766348, 0.70554883866217555, 0.71816387388723057,
        0.73089424742762854, 0.74374418974665413, 0.7567181310510781, 0.76982071501204097,
        0.78305681367477409, 0.79643154368423297, 0.80995028396989233, 0.82361869505153307,
        0.83744274014924525, 0.85142870830557127, 0.86558323975630835, 0.87991335381968094,
        0.89442647961222388, 0.90913048994484691, 0.92403373880538786, 0.93914510289606212,
        0.95447402776744261, 0.97003057917724067, 0.98582550040506112, 1.0018702763769824,
        1.0181772056006682, 1.0347594810882446, 1.0516312816573357, 1.0688078752591983,
        1.0863057362981008, 1.1041426792922295, 1.1223380117021662, 1.140912709342313,
        1.1598896185252787, 1.1792936900106505, 1.1991522509932739, 1.2194953228462238,
        1.2403559942306723, 1.2617708616359866, 1.2837805526081671, 1.3064303511275646,
        1.3297709501812092, 1.3538593640751064, 1.3787600432219229, 1.404546248158874,
        1.4313017591024757, 1.459123025021593, 1.4881218960233806, 1.518429141152591,
        1.5501990407917605, 1.5836154758017882, 1.6189001435373589, 1.6563238653408072,
        1.6962225050066093, 1.7390199717299037, 1.7852624904353231, 1.8356715369125431,
        1.8912292378201079, 1.9533237077453942, 2.0240136237191582, 2.1065540881628135,
        2.2065752165371291, 2.3352330400688128, 2.5205022171903591, 2.8856349124267573,
};

/* 2.3263478740408408: Phi^-1(0.99). */
#define INSYNC_Z99 2.3263478740408408

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

int insync_latency_check(const insync_latency_t *l, char *err, size_t errlen) {
        switch (l->kind) {
        case INSYNC_LAT_FIXED:
                if (!(l->a >= 0 && l->a <= 86400000)) {
                        snprintf(err, errlen, "fixed latency: expected 0..86400000 ms");
                        return -1;
                }
                return 0;
        case INSYNC_LAT_UNIFORM:
                if (!(l->a >= 0 && l->b >= l->a && l->b <= 86400000)) {
                        snprintf(err, errlen, "uniform latency: expected 0 <= min_ms <= max_ms <= 86400000");
                        return -1;
                }
                return 0;
        case INSYNC_LAT_LOGNORMAL:
                if (!(l->a > 0 && l->b >= l->a && l->b <= 86400000)) {
                        snprintf(err, errlen, "log-normal latency: expected 0 < median_ms <= p99_ms <= 86400000");
                        return -1;
                }
                return 0;
        default:
                snprintf(err, errlen, "unknown latency distribution %d", l->kind);
                return -1;
        }
}

/* Fills d from l (checked): a table of microseconds for the log-normal. */
static int lat_make(insync_lat_t *d, const insync_latency_t *l) {
        memset(d, 0, sizeof(*d));
        d->kind = l->kind;
        if (l->kind == INSYNC_LAT_FIXED) {
                d->lo_us = (int64_t)llround(l->a * 1000.0);
        } else if (l->kind == INSYNC_LAT_UNIFORM) {
                d->lo_us = (int64_t)llround(l->a * 1000.0);
                d->hi_us = (int64_t)llround(l->b * 1000.0);
        } else {
                d->table = malloc(256 * sizeof(*d->table));
                if (!d->table)
                        return -1;
                double sigma = log(l->b / l->a) / INSYNC_Z99;
                for (int i = 0; i < 256; i++)
                        d->table[i] = (int64_t)llround(l->a * 1000.0 * exp(sigma * z256[i]));
        }
        return 0;
}

void insync_latency_init(insync_cluster_t *c) {
        uint64_t x = c->conf.seed ^ 0x6c6174656e6379ULL; /* "latency" */
        for (int i = 0; i < 4; i++)
                c->lat_rng[i] = splitmix64(&x);
        c->nlat = 1;
}

int insync_latency_setup(insync_cluster_t *c) {
        insync_latency_t l = c->conf.latency;
        if (l.kind == INSYNC_LAT_FIXED)
                l.a = (double)c->conf.latency_ms;
        return lat_make(&c->lat[0], &l);
}

void insync_latency_free(insync_cluster_t *c) {
        for (int i = 0; i < c->nlat; i++)
                free(c->lat[i].table);
        free(c->lat_link);
        free(c->lat_last);
}

int insync_latency_link_check(const insync_cluster_t *c, int from, int to,
                              const insync_latency_t *l, char *err,
                              size_t errlen) {
        if (insync_latency_check(l, err, errlen))
                return -1;
        if (from < 0 || to < 0 || from >= INSYNC_MAX_NODES || to >= INSYNC_MAX_NODES) {
                snprintf(err, errlen, "no such node");
                return -1;
        }
        if (c->nlat >= INSYNC_MAX_LAT) {
                snprintf(err, errlen, "at most %d latency distributions per cluster",
                         INSYNC_MAX_LAT - 1);
                return -1;
        }
        return 0;
}

int insync_latency_link(insync_cluster_t *c, int from, int to,
                        const insync_latency_t *l, char *err, size_t errlen) {
        if (!c->lat_link) {
                c->lat_link = calloc((size_t)INSYNC_MAX_NODES * INSYNC_MAX_NODES, 1);
                if (!c->lat_link) {
                        snprintf(err, errlen, "out of memory");
                        return -1;
                }
        }
        if (lat_make(&c->lat[c->nlat], l)) {
                snprintf(err, errlen, "out of memory");
                return -1;
        }
        c->lat_link[from * INSYNC_MAX_NODES + to] = (uint8_t)c->nlat;
        c->nlat++;
        return 0;
}

/* The last arrival time on from -> to, grown to hold the nodes in use. */
static int64_t *last_arrival(insync_cluster_t *c, int from, int to) {
        int need = from > to ? from + 1 : to + 1;
        if (need > c->lat_dim) {
                int dim = need < c->nnodes ? c->nnodes : need;
                int64_t *v = calloc((size_t)dim * (size_t)dim, sizeof(*v));
                if (!v)
                        abort(); /* the simulation cannot continue sanely */
                for (int i = 0; i < c->lat_dim; i++)
                        memcpy(v + (size_t)i * (size_t)dim,
                               c->lat_last + (size_t)i * (size_t)c->lat_dim,
                               (size_t)c->lat_dim * sizeof(*v));
                free(c->lat_last);
                c->lat_last = v;
                c->lat_dim = dim;
        }
        return &c->lat_last[(size_t)from * (size_t)c->lat_dim + (size_t)to];
}

/* A message's size on the wire and on disk: 64 bytes of header, and per
 * record 16 + key + value. */
static uint64_t msg_bytes(const insync_cluster_t *c, const insync_msg_t *m) {
        uint64_t bytes = 64;
        for (uint32_t i = 0; i < m->nids; i++) {
                const insync_rec_t *e = &c->recs.rec[m->ids[i]];
                bytes += 16u + (e->klen == INSYNC_NOLEN ? 0 : e->klen) +
                         (e->vlen == INSYNC_NOLEN ? 0 : e->vlen);
        }
        return bytes;
}

/* The moment (ms) m has left its broker's network interface. */
static int64_t departure(insync_cluster_t *c, const insync_msg_t *m) {
        int b = m->from;
        if (c->conf.net_bytes_per_ms <= 0 || b < 1 || b > c->nbrokers)
                return c->now;
        uint64_t bytes = msg_bytes(c, m);
        int64_t start = c->now * 1000;
        if (c->nic_free_us[b] > start)
                start = c->nic_free_us[b];
        int64_t end = start + (int64_t)(bytes * 1000 / (uint64_t)c->conf.net_bytes_per_ms);
        c->nic_free_us[b] = end;
        return (end + 999) / 1000;
}

/* The disk budget: a produce request, or a fetch response to a follower,
 * arriving at @p t is handled once its records are written, after what its
 * broker's disk had queued before it (in the order they were sent).  A
 * write ends in the millisecond its last byte is written: the backlog is
 * kept in microseconds, so writes far below a millisecond each add up. */
static int64_t disk_done(insync_cluster_t *c, const insync_msg_t *m, int64_t t) {
        int b = m->to;
        if (b < 1 || b > c->nbrokers || c->br[b].disk_bytes_per_ms <= 0 ||
            m->nids == 0 ||
            (m->type != INSYNC_M_PRODUCE && m->type != INSYNC_M_FETCH_RESP) ||
            t >= INSYNC_NEVER / 2000)
                return t;
        insync_broker_t *br = &c->br[b];
        int64_t start = t * 1000;
        if (br->disk_free_us > start)
                start = br->disk_free_us;
        uint64_t us = msg_bytes(c, m) * 1000 / (uint64_t)br->disk_bytes_per_ms;
        if (us >= (uint64_t)(INSYNC_NEVER - start))
                return INSYNC_NEVER; /* beyond any horizon: never done */
        br->disk_free_us = start + (int64_t)us;
        int64_t done = br->disk_free_us / 1000;
        return done > t ? done : t;
}

int64_t insync_latency_arrival(insync_cluster_t *c, const insync_msg_t *m) {
        int from = m->from, to = m->to;
        int64_t now = departure(c, m);
        const insync_lat_t *d = &c->lat[0];
        if (c->lat_link) {
                uint8_t k = c->lat_link[from * INSYNC_MAX_NODES + to];
                if (k)
                        d = &c->lat[k];
        }
        if (d == &c->lat[0] && d->kind == INSYNC_LAT_FIXED)
                return disk_done(c, m, insync_after(now, c->conf.latency_ms)); /* no draw */
        int64_t us;
        uint64_t r = insync_xoshiro(c->lat_rng);
        if (d->kind == INSYNC_LAT_FIXED)
                us = d->lo_us;
        else if (d->kind == INSYNC_LAT_UNIFORM)
                us = d->lo_us + (int64_t)((r >> 28) % (uint64_t)(d->hi_us - d->lo_us + 1));
        else
                us = d->table[(r >> 20) & 255];
        int64_t ms = us / 1000;
        if ((int64_t)((r & 0xfffff) % 1000) < us % 1000)
                ms++;
        int64_t *last = last_arrival(c, from, to);
        int64_t t = insync_after(now, ms);
        if (t < *last)
                t = *last;
        t = disk_done(c, m, t);
        *last = t;
        return t;
}
