/**
 * @file fork.c
 * @brief The fork generation (see fork.h).
 */
#include <pthread.h>

#include "fork.h"

/* Counts forks in the child; process-wide by nature.  glibc unregisters the
 * handler when this object is unloaded. */
static volatile unsigned fork_generation;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) {
        fork_generation++;
}

static void watch_forks(void) {
        pthread_atfork(NULL, NULL, on_fork_child);
}

unsigned insync_rk_fork_generation(void) {
        return fork_generation;
}

unsigned insync_rk_fork_watch(void) {
        pthread_once(&fork_once, watch_forks);
        return fork_generation;
}
