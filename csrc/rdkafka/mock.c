/**
 * @file mock.c
 * @brief librdkafka's embedded mock cluster on a handle of its own.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "fork.h"
#include "mock.h"

/* Kafka's request types by ApiKey (the protocol's names, in the order of
 * org.apache.kafka.common.protocol.ApiKeys), as far as librdkafka 2.0.2
 * knows them. */
static const char *const api_names[] = {
        "Produce",                      /* 0 */
        "Fetch",                        /* 1 */
        "ListOffsets",                  /* 2 */
        "Metadata",                     /* 3 */
        "LeaderAndIsr",                 /* 4 */
        "StopReplica",                  /* 5 */
        "UpdateMetadata",               /* 6 */
        "ControlledShutdown",           /* 7 */
        "OffsetCommit",                 /* 8 */
        "OffsetFetch",                  /* 9 */
        "FindCoordinator",              /* 10 */
        "JoinGroup",                    /* 11 */
        "Heartbeat",                    /* 12 */
        "LeaveGroup",                   /* 13 */
        "SyncGroup",                    /* 14 */
        "DescribeGroups",               /* 15 */
        "ListGroups",                   /* 16 */
        "SaslHandshake",                /* 17 */
        "ApiVersions",                  /* 18 */
        "CreateTopics",                 /* 19 */
        "DeleteTopics",                 /* 20 */
        "DeleteRecords",                /* 21 */
        "InitProducerId",               /* 22 */
        "OffsetForLeaderEpoch",         /* 23 */
        "AddPartitionsToTxn",           /* 24 */
        "AddOffsetsToTxn",              /* 25 */
        "EndTxn",                       /* 26 */
        "WriteTxnMarkers",              /* 27 */
        "TxnOffsetCommit",              /* 28 */
        "DescribeAcls",                 /* 29 */
        "CreateAcls",                   /* 30 */
        "DeleteAcls",                   /* 31 */
        "DescribeConfigs",              /* 32 */
        "AlterConfigs",                 /* 33 */
        "AlterReplicaLogDirs",          /* 34 */
        "DescribeLogDirs",              /* 35 */
        "SaslAuthenticate",             /* 36 */
        "CreatePartitions",             /* 37 */
        "CreateDelegationToken",        /* 38 */
        "RenewDelegationToken",         /* 39 */
        "ExpireDelegationToken",        /* 40 */
        "DescribeDelegationToken",      /* 41 */
        "DeleteGroups",                 /* 42 */
        "ElectLeaders",                 /* 43 */
        "IncrementalAlterConfigs",      /* 44 */
        "AlterPartitionReassignments",  /* 45 */
        "ListPartitionReassignments",   /* 46 */
        "OffsetDelete",                 /* 47 */
        "DescribeClientQuotas",         /* 48 */
        "AlterClientQuotas",            /* 49 */
        "DescribeUserScramCredentials", /* 50 */
        "AlterUserScramCredentials",    /* 51 */
};

#define API_COUNT ((int)(sizeof(api_names) / sizeof(api_names[0])))

int insync_rk_api_key(const char *name) {
        for (int i = 0; i < API_COUNT; i++)
                if (strcmp(api_names[i], name) == 0)
                        return i;
        return -1;
}

/* File descriptors open in this process (/proc/self/fd), or 0 when it
 * cannot tell. */
static long open_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return 0;
        long n = 0;
        while (readdir(d))
                n++;
        closedir(d);
        return n > 3 ? n - 3 : 0; /* ".", ".." and the DIR's own */
}

/* A mock cluster takes about 8 descriptors and one listening socket per
 * broker; each broker a client talks to costs two more (both ends of the
 * connection).  librdkafka aborts when it runs out of them, so refuse
 * beforehand what the soft RLIMIT_NOFILE cannot hold. */
static int check_fds(int brokers, char *errbuf, size_t size) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
                return 0;
        long need = 16 + 3L * brokers, have = (long)rl.rlim_cur - open_fds();
        if (need <= have)
                return 0;
        snprintf(errbuf, size, "brokers: %d brokers need about %ld file "
                 "descriptors, %ld are left under the limit (RLIMIT_NOFILE "
                 "%ld, ulimit -n)",
                 brokers, need, have < 0 ? 0 : have, (long)rl.rlim_cur);
        return -1;
}

int insync_rk_mock_init(insync_rk_mock_t *m, int brokers, char *errbuf,
                        size_t size) {
        if (check_fds(brokers, errbuf, size))
                return -1;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        /* The handle only hosts the cluster: it has nothing to say. */
        rd_kafka_conf_set_log_cb(conf, NULL);
        m->fork_gen = insync_rk_fork_watch();
        m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, size);
        if (!m->rk) {
                rd_kafka_conf_destroy(conf);
                return -1;
        }
        m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
        if (!m->mc) {
                snprintf(errbuf, size, "cannot start a mock cluster of %d "
                         "brokers", brokers);
                rd_kafka_destroy(m->rk);
                m->rk = NULL;
                return -1;
        }
        m->brokers = brokers;
        return 0;
}

int insync_rk_mock_forked(const insync_rk_mock_t *m) {
        return m->rk && m->fork_gen != insync_rk_fork_generation();
}

void insync_rk_mock_destroy(insync_rk_mock_t *m) {
        if (m->rk && !insync_rk_mock_forked(m)) {
                rd_kafka_mock_cluster_destroy(m->mc);
                rd_kafka_destroy(m->rk);
        }
        m->mc = NULL;
        m->rk = NULL;
}
