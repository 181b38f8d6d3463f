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
 *
 * Storage.  A record appended is in the page cache: a process kill keeps it.
 * It reaches the disk by an fsync (UnifiedLog.flush: flush.messages on
 * append, in partition.c; the flusher LogManager.flushDirtyLogs, run
 * log.initial.task.delay.ms after start and then every
 * log.flush.scheduler.interval.ms, flushing each log whose last flush is
 * flush.ms old), by a clean shutdown, or by the kernel's own writeback:
 * the kernel flusher wakes every vm.dirty_writeback_centisecs from boot and
 * writes what has been dirty for vm.dirty_expire_centisecs (Linux's
 * wb_workfn -> wb_check_old_data_flush, dirty_expire_interval).  A power
 * loss keeps that much and cuts the rest: the log recovery of an unclean
 * start (LogLoader.recoverLog, LogSegment.recover) truncates at the first
 * batch that is not whole on disk.  Every load drops leader epochs that
 * start at the log end (LogLoader: leaderEpochCache.truncateFromEndAsyncFlush)
 * and takes the HW from the replication-offset-checkpoint file, written
 * every replica.high.watermark.checkpoint.interval.ms and at shutdown
 * (ReplicaManager.checkpointHighWatermarks), bounded by the log end
 * (Partition.createLogIfNotExists -> UnifiedLog.updateHighWatermark).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define CS_TIMEOUT_MS 300000  /* KafkaBroker.shutdown(): Duration.ofMinutes(5) */
#define CS_SOON_MS 50         /* the heartbeat after the first pending reply */
/* BrokerLifecycleManager: while STARTING or RECOVERY (registered, not yet
 * unfenced), the next heartbeat 10 ms after a reply */
#define STARTING_HB_MS 10
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
        /* ReplicaManager.shutdown(checkpointHW = true), LogManager.shutdown */
        for (uint32_t gp = 0; gp < c->ngp; gp++)
                if (br->rep[gp]) {
                        insync_log_flush(&br->rep[gp]->log, c->now);
                        br->rep[gp]->hw_ck = br->rep[gp]->hw;
                }
        insync_trace_add(c, INSYNC_T_SHUTDOWN, b, -1, b, 1);
        insync_broker_stop(c, b, 0);
        br->clean_inc = inc;
}

/* At a start: the log flusher (LogManager.startup schedules
 * "kafka-log-flusher" after log.initial.task.delay.ms, then every
 * log.flush.scheduler.interval.ms) and the HW checkpoint (ReplicaManager's
 * "highwatermark-checkpoint", at once and then every interval; at once
 * writes what the load read, so the model starts with the next one). */
static void schedule_storage(insync_cluster_t *c, int b) {
        insync_sim_at(c, insync_after(c->now, c->conf.initial_task_delay_ms),
                      INSYNC_EV_FLUSH, (uint32_t)b, c->br[b].inc, NULL);
        insync_sim_at(c, insync_after(c->now, c->conf.hw_checkpoint_ms),
                      INSYNC_EV_HW_CHECKPOINT, (uint32_t)b, c->br[b].inc, NULL);
}

/* The broker's own timers of @p b's incarnation are armed here, at its
 * start (its handlers below arm the next of each): the heartbeat, first at
 * @p hb_at, the ISR expiration check, the storage timers; the fetch check
 * is armed by its first fetch (fetcher.c).  @p created: the broker of a new
 * cluster, which starts registered, so the controller's session of it
 * starts too; armed between, in the order these events have always been
 * queued, since events due at one time fire in that order. */
static void schedule(insync_cluster_t *c, int b, int64_t hb_at, int created) {
        insync_broker_t *br = &c->br[b];
        int64_t half = c->conf.lag_ms / 2 > 0 ? c->conf.lag_ms / 2 : 1;
        insync_sim_at(c, hb_at, INSYNC_EV_HEARTBEAT, (uint32_t)b, br->inc, NULL);
        insync_sim_at(c, insync_after(c->now, half), INSYNC_EV_ISR_CHECK, (uint32_t)b,
                      br->inc, NULL);
        br->fc_at = INSYNC_NEVER; /* armed by its first fetch (fetcher.c) */
        if (created)
                insync_sim_at(c, c->conf.session_ms, INSYNC_EV_SESSION,
                              (uint32_t)b, 0, NULL);
        schedule_storage(c, b);
}

/* A broker of a new cluster: running, registered, its heartbeats
 * staggered so that brokers do not all heartbeat at once. */
void insync_broker_create(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        br->id = b;
        br->alive = 1;
        br->powered = 1;
        br->inc = 1;
        br->registered = 1;
        br->reg_inc = 1;
        br->hb_count = 0;
        br->disk_bytes_per_ms = c->conf.disk_bytes_per_ms;
        int64_t hb = c->conf.heartbeat_ms * b / (c->nbrokers + 1);
        schedule(c, b, hb > 0 ? hb : 1, 1);
}

/* LogManager.flushDirtyLogs: each log whose last flush is flush.ms old. */
static void flush_dirty_logs(insync_cluster_t *c, int b) {
        insync_broker_t *br = &c->br[b];
        for (uint32_t gp = 0; gp < c->ngp; gp++) {
                insync_replica_t *r = br->rep[gp];
                if (!r)
                        continue;
                int64_t ms = c->topics[c->cp[gp].topic].flush_ms;
                if (ms < 0)
                        ms = c->conf.flush_ms;
                if (c->now - r->log.last_flush >= ms)
                        insync_log_flush(&r->log, c->now);
        }
}

uint32_t insync_broker_durable(const insync_cluster_t *c, int b,
                               const insync_replica_t *r) {
        const insync_broker_t *br = &c->br[b];
        uint32_t d = r->log.flushed;
        if (!br->powered)
                return r->log.len; /* what is left is what was on disk */
        int64_t every = c->conf.dirty_writeback_cs * 10;
        if (every <= 0 || c->now - br->boot_ms < every)
                return d;
        /* the kernel flusher's last wake, and what was dirty long enough
         * then (and at every wake before) */
        int64_t wake = br->boot_ms + (c->now - br->boot_ms) / every * every;
        uint32_t wb = insync_log_len_at(&r->log, wake - c->conf.dirty_expire_cs * 10);
        return wb > d ? wb : d;
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
                if (br->shutting || br->starting)
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
                flush_dirty_logs(c, b);
                /* a period of Long.MAX: the first run is the only one */
                if (c->conf.flush_scheduler_ms < INSYNC_NEVER / 2)
                        insync_sim_at(c, insync_after(c->now, c->conf.flush_scheduler_ms),
                                      INSYNC_EV_FLUSH, (uint32_t)b, inc, NULL);
                break;
        case INSYNC_EV_HW_CHECKPOINT:
                for (uint32_t gp = 0; gp < c->ngp; gp++)
                        if (br->rep[gp])
                                br->rep[gp]->hw_ck = br->rep[gp]->hw;
                insync_sim_at(c, insync_after(c->now, c->conf.hw_checkpoint_ms),
                              INSYNC_EV_HW_CHECKPOINT, (uint32_t)b, inc, NULL);
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
        if (!br->powered)
                br->boot_ms = c->now;
        insync_fetcher_wake_all(c);
        br->alive = 1;
        br->powered = 1;
        br->inc++;
        /* the logs are loaded: LocalLog's lastFlushTime starts now */
        for (uint32_t gp = 0; gp < c->ngp; gp++)
                if (br->rep[gp])
                        br->rep[gp]->log.last_flush = c->now;
        br->meta_seen = 0;
        br->registered = 0;
        br->shutting = 0;
        br->starting = 1;
        schedule(c, b, insync_after(c->now, c->conf.heartbeat_ms), 0);
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
                if (power_loss) {
                        uint32_t d = insync_broker_durable(c, b, r);
                        if (d < r->log.len) {
                                insync_trace_add(c, INSYNC_T_TRUNCATE, b, gp,
                                                 r->log.len, d);
                                insync_log_truncate(&r->log, d);
                        }
                        r->log.flushed = r->log.len; /* all of it is on disk */
                }
                /* the next load: epochs from the log end dropped, the HW
                 * from its checkpoint */
                insync_log_truncate(&r->log, r->log.len);
                r->hw = r->hw_ck < (int64_t)r->log.len ? r->hw_ck : r->log.len;
        }
        br->alive = 0;
        br->shutting = 0;
        br->starting = 0;
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

/* BrokerHeartbeatResponseEvent (or the registration's reply): while
 * fenced after a start, heartbeat again 10 ms later; in
 * PENDING_CONTROLLED_SHUTDOWN, as below. */
void insync_broker_heartbeat_resp(insync_cluster_t *c, int b, insync_msg_t *m) {
        insync_broker_t *br = &c->br[b];
        if (br->starting && !br->shutting) {
                if (!m->fenced)
                        br->starting = 0;
                else
                        insync_sim_at(c, insync_after(c->now, STARTING_HB_MS),
                                      INSYNC_EV_CS_HEARTBEAT, (uint32_t)b, br->inc, NULL);
        }
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
                memcpy(insync_net_parts(m, c->ngp * sizeof(insync_meta_t)),
                       c->br[b].meta, c->ngp * sizeof(insync_meta_t));
                m->nparts = c->ngp;
        }
        insync_net_send(c, m);
}
