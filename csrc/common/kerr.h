/**
 * @file kerr.h
 * @brief Kafka error codes and their classification, shared by both engines.
 *
 * The numbers are librdkafka's rd_kafka_resp_err_t values (positive: Kafka
 * protocol errors; negative: librdkafka's local errors), so that the model,
 * which must not include librdkafka, reports exactly what the real producer
 * would.  spec/core/errors_spec.lua checks every name here against librdkafka's
 * own rd_kafka_get_err_descs().  Pure C: no lua.h, no rdkafka.h.
 */
#ifndef INSYNC_KERR_H
#define INSYNC_KERR_H

typedef enum insync_kerr_e {
        INSYNC_KERR__PURGE_INFLIGHT = -151,
        INSYNC_KERR__PURGE_QUEUE = -152,
        INSYNC_KERR__FATAL = -150,
        INSYNC_KERR__QUEUE_FULL = -184,
        INSYNC_KERR__TIMED_OUT = -185,
        INSYNC_KERR__MSG_TIMED_OUT = -192,
        INSYNC_KERR__TRANSPORT = -195,
        INSYNC_KERR_NO_ERROR = 0,
        INSYNC_KERR_UNKNOWN_TOPIC_OR_PART = 3,
        INSYNC_KERR_LEADER_NOT_AVAILABLE = 5,
        INSYNC_KERR_NOT_LEADER_OR_FOLLOWER = 6,
        INSYNC_KERR_REQUEST_TIMED_OUT = 7,
        INSYNC_KERR_MSG_SIZE_TOO_LARGE = 10,
        INSYNC_KERR_NETWORK_EXCEPTION = 13,
        INSYNC_KERR_NOT_ENOUGH_REPLICAS = 19,
        INSYNC_KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
        INSYNC_KERR_INVALID_REQUIRED_ACKS = 21,
        INSYNC_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
        INSYNC_KERR_DUPLICATE_SEQUENCE_NUMBER = 46,
        INSYNC_KERR_INVALID_PRODUCER_EPOCH = 47,
        INSYNC_KERR_KAFKA_STORAGE_ERROR = 56,
        INSYNC_KERR_UNKNOWN_PRODUCER_ID = 59,
        INSYNC_KERR_FENCED_LEADER_EPOCH = 74,
        INSYNC_KERR_UNKNOWN_LEADER_EPOCH = 75,
} insync_kerr_t;

/** What librdkafka's rd_kafka_message_status() says of a failed record. */
typedef enum insync_persisted_e {
        INSYNC_NOT_PERSISTED = 0,      /**< RD_KAFKA_MSG_STATUS_NOT_PERSISTED */
        INSYNC_POSSIBLY_PERSISTED = 1, /**< RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED */
        INSYNC_PERSISTED = 2,          /**< RD_KAFKA_MSG_STATUS_PERSISTED */
} insync_persisted_t;

/**
 * @returns 1 when Kafka classifies @p code as retriable (a subclass of
 * org.apache.kafka.common.errors.RetriableException, or a transient local
 * librdkafka error such as _TRANSPORT or _MSG_TIMED_OUT), else 0.
 */
int insync_kerr_retriable(int code);

#endif
