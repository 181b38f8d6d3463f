/**
 * @file track.h
 * @brief What a producer made with `track = true` remembers of each send,
 * so that its audit (audit.h) can find the record again in Kafka.  No
 * lua.h.
 *
 * Each tracked send carries one header, INSYNC_RK_TRACK_HEADER, whose value
 * is this producer's instance (16 lowercase hex digits, random per
 * producer), a '-', and the send's number in decimal (1, 2, ...: what
 * p:send returned): "9f86d081884c7d65-42".  Records with equal keys and
 * values are told apart by it, and records of other producers ignored.
 *
 * Per send it keeps one 32-byte insync_rk_tracked_t, in chunks of
 * INSYNC_RK_TRACK_CHUNK entries (no copying as it grows, at most one chunk
 * unused), plus the key's bytes in chunks of INSYNC_RK_TRACK_KEYS bytes.
 */
#ifndef INSYNC_RK_TRACK_H
#define INSYNC_RK_TRACK_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#define INSYNC_RK_TRACK_HEADER "insync.id"
/** Longest header value: 16 hex digits, '-', 10 digits. */
#define INSYNC_RK_TRACK_VALUE_MAX 28
#define INSYNC_RK_TRACK_CHUNK 65536
#define INSYNC_RK_TRACK_KEYS (1u << 20)
/** Most tracked sends (ids are 32-bit) and most topics. */
#define INSYNC_RK_TRACK_MAX UINT32_MAX
#define INSYNC_RK_TRACK_TOPICS UINT16_MAX

typedef struct insync_rk_tracked_s {
        int64_t offset;     /**< where it was acknowledged; -1: not */
        uint64_t key_at;    /**< key chunk << 32 | position in it */
        uint32_t key_len;   /**< UINT32_MAX: no key */
        int32_t partition;  /**< as reported, else as asked; -1: unknown */
        int32_t err;        /**< the report's error; 0: none (yet) */
        uint16_t topic;     /**< index in topic_names */
        uint8_t state;      /**< insync_audit_state_t */
        uint8_t persisted;  /**< a failure's insync_persisted_t */
} insync_rk_tracked_t;

_Static_assert(sizeof(insync_rk_tracked_t) == 32, "32 bytes per tracked send");

typedef struct insync_rk_track_s {
        insync_rk_tracked_t **chunks; /**< n entries, chunk by chunk */
        size_t nchunks, capchunks;
        uint32_t n;                /**< tracked sends; ids 1..n */
        char **keys;               /**< key chunks (a key longer than a
                                    *   chunk has one of its own) */
        size_t nkeys, capkeys;
        uint32_t keys_used;        /**< bytes used in the last key chunk */
        uint32_t keys_size;        /**< its size */
        uint64_t key_bytes;        /**< bytes of key chunks allocated */
        char **topic_names;        /**< copies, by index */
        rd_kafka_topic_t **rkts;   /**< the producer's handle of each (only
                                    *   compared, never used) */
        size_t ntopics, captopics;
        size_t last_topic;         /**< index of the last send's topic */
        char instance[17];         /**< 16 hex digits, random */
        char **conf;               /**< the consumer's connection
                                    *   properties: key, value, ..., NULL */
} insync_rk_track_t;

/**
 * Starts tracking for a producer whose configuration is @p pconf: draws
 * the instance and keeps the properties a consumer of the same cluster
 * needs (bootstrap.servers, security.protocol, broker.address.family and
 * the sasl.* and ssl.* ones that differ from librdkafka's defaults).
 * @returns NULL on no memory.
 */
insync_rk_track_t *insync_rk_track_new(const rd_kafka_conf_t *pconf);

void insync_rk_track_free(insync_rk_track_t *t);

/**
 * Remembers a send to @p rkt (named @p topic), partition @p partition (-1:
 * the partitioner's), key @p key (NULL: none).  Writes its header value
 * into @p hdr (INSYNC_RK_TRACK_VALUE_MAX + 1 bytes) and its length in
 * @p hdr_len.  @returns the send's id (>= 1), or 0 when out of memory or
 * beyond the limits above.
 */
uint32_t insync_rk_track_add(insync_rk_track_t *t, rd_kafka_topic_t *rkt,
                             const char *topic, int32_t partition,
                             const char *key, size_t key_len, char *hdr,
                             size_t *hdr_len);

/** Forgets the last send (librdkafka did not take it: queue full). */
void insync_rk_track_drop_last(insync_rk_track_t *t);

/** Notes the report of send @p id. */
void insync_rk_track_report(insync_rk_track_t *t, uint32_t id,
                            int32_t partition, int64_t offset, int err,
                            int persisted);

static inline insync_rk_tracked_t *insync_rk_track_get(
        const insync_rk_track_t *t, uint32_t id) {
        uint32_t i = id - 1;
        return &t->chunks[i / INSYNC_RK_TRACK_CHUNK][i % INSYNC_RK_TRACK_CHUNK];
}

/** The key of an entry (NULL: none). */
const char *insync_rk_track_key(const insync_rk_track_t *t,
                                const insync_rk_tracked_t *e);

/**
 * @returns the id in header value @p v (@p len bytes) when it names one of
 * this producer's sends, else 0.
 */
uint32_t insync_rk_track_parse(const insync_rk_track_t *t, const void *v,
                               size_t len);

/** @returns the bytes the tracking holds (entries, keys, bookkeeping). */
uint64_t insync_rk_track_bytes(const insync_rk_track_t *t);

#endif
