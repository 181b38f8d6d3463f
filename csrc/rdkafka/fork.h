/**
 * @file fork.h
 * @brief Whether this process is a fork of the one that made a librdkafka
 * handle: one way for every handle insync makes (producer, consumer, mock
 * cluster).  A forked child must neither use nor destroy the parent's
 * handle (librdkafka's threads did not come along).  No lua.h.
 */
#ifndef INSYNC_RK_FORK_H
#define INSYNC_RK_FORK_H

/**
 * @returns how many times the process has forked between the first handle
 * and now, as seen from this process (a pthread_atfork child handler counts;
 * no system call, so it can be checked on every send).
 */
unsigned insync_rk_fork_generation(void);

/**
 * Starts counting forks (once per process: every librdkafka handle insync
 * makes calls it before rd_kafka_new) and @returns the generation now, to
 * be kept with the handle and compared with insync_rk_fork_generation().
 */
unsigned insync_rk_fork_watch(void);

#endif
