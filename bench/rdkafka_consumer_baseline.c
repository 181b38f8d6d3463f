/**
 * @file rdkafka_consumer_baseline.c
 * @brief The C baseline of the consumer benchmark: librdkafka's consumer
 * used directly, as insync.consumer uses it.
 *
 *     build/bench/rdkafka_consumer_baseline BOOTSTRAP TOPIC PARTITIONS N
 *
 * Assigns partitions 0..PARTITIONS-1 of TOPIC from the beginning (no group
 * join, no commits, as insync.consumer) and polls with
 * rd_kafka_consumer_poll() until it has read N records, touching each
 * record's key, value and headers as a reader would (their lengths are
 * summed).  Prints one "key=value" per line (main_thread_cpu_seconds: the
 * polling thread alone, without librdkafka's threads); the last line is
 * msgs_per_sec=<n>.  Exits non-zero unless N records were read without a
 * consumer error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <librdkafka/rdkafka.h>

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
        if (argc != 5) {
                fprintf(stderr, "usage: %s BOOTSTRAP TOPIC PARTITIONS N\n",
                        argv[0]);
                return 2;
        }
        const char *topic = argv[2];
        int partitions = atoi(argv[3]);
        long n = atol(argv[4]);
        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        set(conf, "bootstrap.servers", argv[1]);
        set(conf, "group.id", "insync.consumer");
        set(conf, "enable.auto.commit", "false");
        set(conf, "enable.auto.offset.store", "false");
        set(conf, "enable.partition.eof", "true");
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr,
                                      sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "consumer: %s\n", errstr);
                return 2;
        }
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(partitions);
        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;

        double t0 = now_s();
        double m0 = thread_cpu_s();
        if (rd_kafka_assign(rk, l)) {
                fprintf(stderr, "assign failed\n");
                return 2;
        }
        long got = 0, errors = 0;
        unsigned long long bytes = 0;
        while (got < n && now_s() - t0 < 300) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        /* as insync.consumer: noted, not counted */
                } else if (m->err) {
                        errors++;
                } else {
                        rd_kafka_headers_t *h;
                        got++;
                        bytes += m->len + m->key_len;
                        if (!rd_kafka_message_headers(m, &h))
                                bytes += rd_kafka_header_cnt(h);
                }
                rd_kafka_message_destroy(m);
        }
        double secs = now_s() - t0;
        double main_cpu = thread_cpu_s() - m0;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);

        printf("messages=%ld\n", got);
        printf("errors=%ld\n", errors);
        printf("bytes=%llu\n", bytes);
        printf("seconds=%.3f\n", secs);
        printf("main_thread_cpu_seconds=%.3f\n", main_cpu);
        printf("msgs_per_sec=%.0f\n", (double)got / secs);
        return got == n && errors == 0 ? 0 : 1;
}
