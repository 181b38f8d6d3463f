/**
 * @file kerr.c
 * @brief Which Kafka errors are retriable.
 *
 * The protocol list follows clients/src/main/java/org/apache/kafka/common/
 * protocol/Errors.java: every error whose exception extends
 * RetriableException.  The local ones are librdkafka's transient errors.
 */
#include "kerr.h"

int insync_kerr_retriable(int code) {
        switch (code) {
        /* Kafka protocol errors backed by a RetriableException. */
        case 2:  /* CORRUPT_MESSAGE */
        case 3:  /* UNKNOWN_TOPIC_OR_PART */
        case 5:  /* LEADER_NOT_AVAILABLE */
        case 6:  /* NOT_LEADER_OR_FOLLOWER */
        case 7:  /* REQUEST_TIMED_OUT */
        case 13: /* NETWORK_EXCEPTION */
        case 14: /* COORDINATOR_LOAD_IN_PROGRESS */
        case 15: /* COORDINATOR_NOT_AVAILABLE */
        case 16: /* NOT_COORDINATOR */
        case 19: /* NOT_ENOUGH_REPLICAS */
        case 20: /* NOT_ENOUGH_REPLICAS_AFTER_APPEND */
        case 41: /* NOT_CONTROLLER */
        case 51: /* CONCURRENT_TRANSACTIONS */
        case 56: /* KAFKA_STORAGE_ERROR */
        case 70: /* FETCH_SESSION_ID_NOT_FOUND */
        case 71: /* INVALID_FETCH_SESSION_EPOCH */
        case 72: /* LISTENER_NOT_FOUND */
        case 74: /* FENCED_LEADER_EPOCH */
        case 75: /* UNKNOWN_LEADER_EPOCH */
        case 78: /* OFFSET_NOT_AVAILABLE */
        case 80: /* PREFERRED_LEADER_NOT_AVAILABLE */
        case 88: /* UNSTABLE_OFFSET_COMMIT */
        case 89: /* THROTTLING_QUOTA_EXCEEDED */
        /* librdkafka's transient local errors. */
        case INSYNC_KERR__TRANSPORT:
        case INSYNC_KERR__MSG_TIMED_OUT:
        case INSYNC_KERR__TIMED_OUT:
        case INSYNC_KERR__QUEUE_FULL:
                return 1;
        default:
                return 0;
        }
}
