/**
 * @file broker.c
 * @brief A broker's life: start (register with the controller, then
 * heartbeat every broker.heartbeat.interval.ms), its periodic work (the ISR
 * expiration check every replica.lag.time.max.ms / 2, abandoned fetches),
 * controlled shutdown, process kill and power loss, and the metadata it
 * serves to producers.
 *
 * Controlled shutdown (BrokerServer.shutdown, BrokerLifecycleManager): the
 * broker enters PENDING_CONTROLLED_SHUTDOWN and heartbeats at once asking
 * to shut down (wantShutDown); it keeps running and answering while the
 * controller moves its leaderships away and takes it out of every ISR (the
 * metadata makes it a follower, which answers its waiting produce requests
 * NOT_LEADER_OR_FOLLOWER).  After the first reply it heartbeats again
 * 50 ms later, then every interval, until a reply says shouldShutDown;
 * then the socket server stops and LogManager.shutdown flushes every log
 * and writes the clean shutdown file.  If no such reply comes within
 * KafkaBroker.shutdown()'s 5 minutes, it stops anyway (still flushing).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define CS_TIMEOUT_MS 300000  /* KafkaBroker.shutdown(): Duration.ofMinutes(5) */
#define CS_SOON_MS 50         /* the heartbeat after the first pending reply */
/* BrokerLifecycleManager's resendExponentialBackoff (100 ms, doubling, at
 * most 30 s; its 2% jitter left out, to stay deterministic) */
#define REG_BACKOFF_MS 100
#define REG_BACKOFF_MAX_MS 30000

/* A registration: the controller takes it, or refuses it while the last
 * incarnation's session is valid; then it goes again after a backoff. */
static void send_register(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_REGISTER, b, 0);
        m->req = br->inc;
        m->offset = br->reg_prev;
        insync_net_send(c, m);
        insync_sim_at(c, insync_after(c->now, br->reg_backoff), INSYNC_EV_REGISTER,
                      (uint32_t)b, br->inc, NULL);
        br->reg_backoff = br->reg_backoff * 2 > REG_BACKOFF_MAX_MS
                                  ? REG_BACKOFF_MAX_MS
                                  : br->reg_backoff * 2;
}

static void send_heartbeat(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_HEARTBEAT, b, 0);
        m->req = br->inc;
        m->version = br->meta_seen;
        m->shut = br->shutting;
        insync_net_send(c, m);
}

/* The end of BrokerServer.shutdown: the socket server stops (whatever still
 * waits on this broker is reset), every log is flushed and the clean
 * shutdown file written. */
static void finish_shutdown(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        uint32_t inc = br->inc;
        for (uint32_t gp = 0; gp < c->ngp; gp++)
                if (br->rep[gp])
                        br->rep[gp]->log.flushed = br->rep[gp]->log.len;
        insync_trace_add(c, INSYNC_T_SHUTDOWN, b, -1, b, 1);
        insync_broker_stop(c, b, 0);
        br->clean_inc = inc;
}

static void schedule(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        int64_t half = c->conf.lag_ms / 2 > 0 ? c->conf.lag_ms / 2 : 1;
        insync_sim_at(c, insync_after(c->now, c->conf.heartbeat_ms), INSYNC_EV_HEARTBEAT,
                      (uint32_t)b, br->inc, NULL);
        insync_sim_at(c, insync_after(c->now, half), INSYNC_EV_ISR_CHECK, (uint32_t)b,
                      br->inc, NULL);
        br->fc_at = INSYNC_NEVER; /* armed by its first fetch (fetcher.c) */
        insync_broker_schedule_flush(c, b);
}

/* log.flush.interval.ms: every interval the broker fsyncs all its logs. */
void insync_broker_schedule_flush(insync_cluster_t *c, int b) {
        if (c->conf.flush_ms > 0 && c->conf.flush_ms < INSYNC_NEVER / 2)
                insync_sim_at(c, insync_after(c->now, c->conf.flush_ms), INSYNC_EV_FLUSH,
                              (uint32_t)b, c->br[b].inc, NULL);
}

void insync_broker_timer(insync_cluster_t *c, int type, int b, uint64_t inc) {
        insync_broker_t *br = &c->br[b];
        if (!br->alive || br->inc != inc)
                return;
        switch (type) {
        case INSYNC_EV_HEARTBEAT:
                send_heartbeat(c, b);
                insync_sim_at(c, insync_after(c->now, c->conf.heartbeat_ms),
                              INSYNC_EV_HEARTBEAT, (uint32_t)b, inc, NULL);
                break;
        case INSYNC_EV_CS_HEARTBEAT:
                if (br->shutting)
                        send_heartbeat(c, b);
                break;
        case INSYNC_EV_CS_DEADLINE:
                if (br->shutting)
                        finish_shutdown(c, b);
                break;
        case INSYNC_EV_REGISTER:
                if (!br->registered)
                        send_register(c, b);
                break;
        case INSYNC_EV_ISR_CHECK: {
                int64_t half = c->conf.lag_ms / 2 > 0 ? c->conf.lag_ms / 2 : 1;
                insync_partition_isr_check(c, b);
                insync_sim_at(c, insync_after(c->now, half), INSYNC_EV_ISR_CHECK,
                              (uint32_t)b, inc, NULL);
                break;
        }
        case INSYNC_EV_FLUSH:
                for (uint32_t gp = 0; gp < c->ngp; gp++)
                        if (br->rep[gp])
                                br->rep[gp]->log.flushed = br->rep[gp]->log.len;
                insync_broker_schedule_flush(c, b);
                break;
        case INSYNC_EV_FETCH_CHECK:
                if (c->now < br->fc_at)
                        break; /* a sooner one was armed since */
                br->fc_at = INSYNC_NEVER;
                insync_partition_fetch_check(c, b);
                break;
        default:
                break;
        }
}

/* Starts the process: a new incarnation registers with the controller. */
void insync_broker_start(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        insync_fetcher_wake_all(c);
        br->alive = 1;
        br->powered = 1;
        br->inc++;
        br->meta_seen = 0;
        br->registered = 0;
        br->shutting = 0;
        schedule(c, b);
        /* previousBrokerEpoch: known only after a clean shutdown; the
         * marker is gone once the broker has started */
        br->reg_prev = br->clean_inc ? (int64_t)br->clean_inc : -1;
        br->clean_inc = 0;
        br->reg_backoff = REG_BACKOFF_MS;
        send_register(c, b);
}

void insync_broker_stop(insync_cluster_t *c, int b, int power_loss) {
        insync_broker_t *br = &c->br[b];
        insync_fetcher_wake_all(c);
        for (uint32_t i = 0; i < c->nfl; i++) {
                insync_fetcher_t *s = c->fl[i];
                if (s->leader == b && s->parked) {
                        /* the process's connections are reset; a machine
                         * without power answers nothing */
                        s->parked = 0;
                        if (!power_loss) {
                                insync_msg_t *m = insync_net_msg(c, INSYNC_M_FETCH_RESP,
                                                                 b, s->follower);
                                m->rst = 1;
                                m->err = INSYNC_KERR__TRANSPORT;
                                m->key = s->key;
                                m->req = s->srv_session;
                                insync_net_send(c, m);
                        }
                }
                if (s->follower == b) {
                        s->session++;
                        s->fetching = 0;
                        s->full = 1;
                        s->retry_armed = 0;
                }
        }
        for (uint32_t k = 0; k < br->ngps; k++) {
                uint32_t gp = br->gps[k];
                insync_replica_t *r = br->rep[gp];
                if (!r)
                        continue;
                insync_partition_resign(c, b, gp, power_loss ? 2 : 1);
                insync_fetcher_remove(c, r, gp);
                r->role = INSYNC_ROLE_NONE;
                r->pending = 0;
                if (power_loss && r->log.flushed < r->log.len) {
                        insync_trace_add(c, INSYNC_T_TRUNCATE, b, gp,
                                         r->log.len, r->log.flushed);
                        insync_log_truncate(&r->log, r->log.flushed);
                }
                if (r->hw > (int64_t)r->log.len)
                        r->hw = r->log.len;
        }
        br->alive = 0;
        br->shutting = 0;
        br->powered = !power_loss;
        br->inc++;
}

/* BeginControlledShutdownEvent: a broker the controller has not yet
 * registered in this incarnation skips it and stops at once. */
void insync_broker_begin_shutdown(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        insync_trace_add(c, INSYNC_T_SHUTDOWN, b, -1, b, 0);
        if (!br->registered) {
                finish_shutdown(c, b);
                return;
        }
        br->shutting = 1;
        br->cs_replied = 0;
        send_heartbeat(c, b);
        insync_sim_at(c, insync_after(c->now, CS_TIMEOUT_MS), INSYNC_EV_CS_DEADLINE,
                      (uint32_t)b, br->inc, NULL);
}

/* BrokerHeartbeatResponseEvent in PENDING_CONTROLLED_SHUTDOWN. */
void insync_broker_heartbeat_resp(insync_cluster_t *c, int b, insync_msg_t *m) {
        insync_broker_t *br = &c->br[b];
        if (!br->shutting)
                return;
        if (m->shut) {
                finish_shutdown(c, b);
                return;
        }
        if (!br->cs_replied) {
                br->cs_replied = 1;
                insync_sim_at(c, insync_after(c->now, CS_SOON_MS), INSYNC_EV_CS_HEARTBEAT,
                              (uint32_t)b, br->inc, NULL);
        }
}

/* Metadata request: this broker's view of every partition, in one
 * response (insync_meta_t per partition in parts). */
void insync_broker_meta_req(insync_cluster_t *c, int b, insync_msg_t *req) {
        insync_msg_t *m = insync_net_msg(c, INSYNC_M_META_RESP, b, req->from);
        if (c->ngp) {
                insync_meta_t *v = malloc(c->ngp * sizeof(*v));
                if (!v)
                        abort();
                memcpy(v, c->br[b].meta, c->ngp * sizeof(*v));
                m->parts = v;
                m->nparts = c->ngp;
        }
        insync_net_send(c, m);
}
