/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). Every serialised
 * partial is checksummed on write and on load, so this runs over every byte
 * shipped between scale-out workers: on x86-64 CPUs with SSE4.2 it uses the
 * crc32 instruction (8 bytes per step), elsewhere slicing-by-8 tables.
 * Both give the same values as the bit-by-bit definition.
 */
#include <threads.h>

#include "core/core.h"

static uint32_t table[8][256];
static once_flag table_once = ONCE_FLAG_INIT;

static void build_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ UINT32_C(0x82F63B78) : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
}

/* Portable: one byte at a time until aligned, then 8 bytes per step.
 * Not static: tests/partial/test_crc32c.c checks it on any host. */
uint32_t crm__crc32c_tables(uint32_t crc, const unsigned char *p, size_t len);
uint32_t crm__crc32c_tables(uint32_t crc, const unsigned char *p, size_t len)
{
    call_once(&table_once, build_table);
    while (len && ((uintptr_t)p & 7)) {
        crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
        len--;
    }
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
              table[4][lo >> 24] ^ table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^
              table[0][p[7]];
    }
    while (len--)
        crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc,
                                                            const unsigned char *p,
                                                            size_t len)
{
    uint64_t c = crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}

static bool have_sse42(void)
{
    static int cached = -1; /* benign race: every thread computes the same */
    if (cached < 0)
        cached = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    return cached == 1;
}
#endif

uint32_t crm__crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (have_sse42())
        return ~crc_sse42(~crc, p, len);
#endif
    return ~crm__crc32c_tables(~crc, p, len);
}
