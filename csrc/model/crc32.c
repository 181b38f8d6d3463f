/**
 * @file crc32.c
 * @brief CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib and
 * librdkafka's rd_crc32), which librdkafka's consistent and
 * consistent_random partitioners take modulo the partition count
 * (rd_kafka_msg_partitioner_consistent{,_random} in src/rdkafka_msg.c), so
 * a key lands on the partition the real producer would pick.
 */
#include "model.h"

uint32_t insync_crc32(const void *data, size_t len) {
        const unsigned char *p = data;
        uint32_t crc = 0xFFFFFFFFu;
        for (size_t i = 0; i < len; i++) {
                crc ^= p[i];
                for (int k = 0; k < 8; k++)
                        crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return crc ^ 0xFFFFFFFFu;
}
