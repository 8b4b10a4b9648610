/* Helpers of the partial tests and fuzz target for editing libcrm blobs
 * (layout in lib/core/blob.h): little-endian fields and re-sealing the
 * checksum, with a bit-by-bit CRC-32C written independently of the
 * library's table-driven one. */
#ifndef CRM_TESTS_BLOBUTIL_H
#define CRM_TESTS_BLOBUTIL_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). */
static inline uint32_t blob_crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}

static inline uint64_t blob_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void blob_put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the trailing checksum of a blob of len >= 4 bytes. */
static inline void blob_reseal(uint8_t *b, size_t len)
{
    blob_put(b + len - 4, blob_crc32c(b, len - 4), 4);
}

#endif
