/* Helpers of the partial tests and fuzz target for editing libcrm blobs
 * (layout in lib/core/blob.h): little-endian fields and re-sealing the
 * checksum, with a bit-by-bit CRC-32C written independently of the
 * library's table-driven one. */
#ifndef CRM_TESTS_BLOBUTIL_H
#define CRM_TESTS_BLOBUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* Fuzz input -> blob to load: a malloc'ed copy of data[1..size) (*len bytes;
 * free() it). If data[0] is odd and the blob has room for the header and
 * checksum (>= 20 bytes), its payload-length field (offset 8) is set to match
 * and the checksum re-sealed, so the mutations reach the payload decoder
 * instead of stopping at the checksum. NULL if size < 1 or out of memory. */
static inline uint8_t *blob_fuzz_input(const uint8_t *data, size_t size, size_t *len)
{
    if (size < 1)
        return NULL;
    *len = size - 1;
    uint8_t *blob = malloc(*len ? *len : 1);
    if (!blob)
        return NULL;
    if (*len)
        memcpy(blob, data + 1, *len);
    if ((data[0] & 1) && *len >= 20) {
        blob_put(blob + 8, *len - 20, 8);
        blob_reseal(blob, *len);
    }
    return blob;
}

#endif
