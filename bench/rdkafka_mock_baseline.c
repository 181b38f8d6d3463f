/**
 * @file rdkafka_mock_baseline.c
 * @brief The C baseline of the producer benchmarks: librdkafka used directly.
 *
 *     build/bench/rdkafka_mock_baseline [N [PARTITIONS [VALUE_BYTES [BOOTSTRAP]]]]
 *
 * Starts librdkafka's embedded mock cluster of 3 brokers on its own handle,
 * creates topic "bench" with PARTITIONS partitions (default 3) and
 * replication factor 3, and sends N records (default 1000000) of VALUE_BYTES
 * bytes (default 100) with acks=all through a second handle (or, given
 * BOOTSTRAP, to that cluster, whose topic "bench" exists), counting
 * delivery reports in a dr_msg_cb served by rd_kafka_poll().  When the local
 * queue is full it polls and retries, as an application would.
 *
 * Prints one "key=value" per line (cpu_seconds: the whole process;
 * main_thread_cpu_seconds: the sending thread alone, without librdkafka's
 * threads); the last line is msgs_per_sec=<n>, so
 * that any benchmark can run it and read its rate.  Exits non-zero unless
 * every record was reported delivered without error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static long delivered; /**< delivery reports without error */
static long failed;    /**< delivery reports with an error */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m,
                      void *opaque) {
        (void)rk;
        (void)opaque;
        if (m->err)
                failed++;
        else
                delivered++;
}

static double thread_cpu_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
        char errstr[256];
        if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
                fprintf(stderr, "%s: %s\n", k, errstr);
                exit(2);
        }
}

int main(int argc, char **argv) {
        long n = argc > 1 ? atol(argv[1]) : 1000000;
        int partitions = argc > 2 ? atoi(argv[2]) : 3;
        size_t vlen = argc > 3 ? (size_t)atol(argv[3]) : 100;
        char errstr[512];
        char *value = malloc(vlen ? vlen : 1);
        memset(value, 'x', vlen);

        const char *bootstrap = argc > 4 ? argv[4] : NULL;
        rd_kafka_t *mrk = NULL;
        rd_kafka_mock_cluster_t *mc = NULL;
        if (!bootstrap) {
                /* The mock cluster lives on a handle of its own, as
                 * insync.mock's. */
                rd_kafka_conf_t *mconf = rd_kafka_conf_new();
                rd_kafka_conf_set_log_cb(mconf, NULL);
                mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr,
                                   sizeof(errstr));
                if (!mrk) {
                        fprintf(stderr, "mock handle: %s\n", errstr);
                        return 2;
                }
                mc = rd_kafka_mock_cluster_new(mrk, 3);
                if (!mc ||
                    rd_kafka_mock_topic_create(mc, "bench", partitions, 3)) {
                        fprintf(stderr, "mock cluster: cannot start\n");
                        return 2;
                }
                bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
        }

        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        set(conf, "bootstrap.servers", bootstrap);
        set(conf, "acks", "all");
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
                                      sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "producer: %s\n", errstr);
                return 2;
        }
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "bench", NULL);

        double t0 = now_s();
        clock_t c0 = clock();
        double m0 = thread_cpu_s();
        for (long i = 0; i < n; i++) {
                while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA,
                                        RD_KAFKA_MSG_F_COPY, value, vlen, NULL,
                                        0, NULL) == -1) {
                        if (rd_kafka_last_error() !=
                            RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                                fprintf(stderr, "produce: %s\n",
                                        rd_kafka_err2str(rd_kafka_last_error()));
                                return 1;
                        }
                        rd_kafka_poll(rk, 1);
                }
                rd_kafka_poll(rk, 0);
        }
        while (delivered + failed < n)
                rd_kafka_poll(rk, 100);
        double secs = now_s() - t0;
        double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
        double main_cpu = thread_cpu_s() - m0;

        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        if (mc) {
                rd_kafka_mock_cluster_destroy(mc);
                rd_kafka_destroy(mrk);
        }
        free(value);

        printf("messages=%ld\n", n);
        printf("delivered=%ld\n", delivered);
        printf("failed=%ld\n", failed);
        printf("seconds=%.3f\n", secs);
        printf("cpu_seconds=%.3f\n", cpu);
        printf("main_thread_cpu_seconds=%.3f\n", main_cpu);
        printf("msgs_per_sec=%.0f\n", (double)n / secs);
        return failed == 0 && delivered == n ? 0 : 1;
}
