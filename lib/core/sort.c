/*
 * In-place MSD radix sort (American flag sort) of fixed-size records keyed by
 * an unsigned integer of 4 or 8 bytes at offset 0. No allocation, so sorting
 * never fails; recursion depth is at most the key width in bytes. Given a
 * scratch buffer, a bucket that fits in it and whose keys differ in at most
 * LSD_MAX_PASSES low bytes is finished by LSD passes through the buffer
 * instead (stable scatters without the dependent loads of the in-place
 * cycles, and no insertion sort of the small runs at the bottom); other
 * buckets that fit are partitioned by one such scatter and a copy back.
 */
#include "core/core.h"

#define SMALL_SORT 48
#define MAX_RECORD 256
#define LSD_MAX_PASSES 3

typedef struct scratch {
    char *buf;
    size_t bytes;
} scratch;

static inline uint64_t key_at(const char *rec, unsigned key_bytes)
{
    if (key_bytes == 8) {
        uint64_t k;
        memcpy(&k, rec, 8);
        return k;
    }
    uint32_t k;
    memcpy(&k, rec, 4);
    return k;
}

static inline __attribute__((always_inline)) void
insertion_sort(char *base, size_t n, size_t size, unsigned key_bytes)
{
    char tmp[MAX_RECORD];
    for (size_t i = 1; i < n; i++) {
        uint64_t k = key_at(base + i * size, key_bytes);
        size_t j = i;
        if (key_at(base + (j - 1) * size, key_bytes) <= k)
            continue;
        memcpy(tmp, base + i * size, size);
        while (j > 0 && key_at(base + (j - 1) * size, key_bytes) > k) {
            memcpy(base + j * size, base + (j - 1) * size, size);
            j--;
        }
        memcpy(base + j * size, tmp, size);
    }
}

/* Records this far ahead of a digit's write cursor are prefetched: the top
 * level's cursors are 256 sequential streams the hardware cannot follow. */
#define CURSOR_PREFETCH 8

static void flag_sort(char *base, size_t n, size_t size, unsigned key_bytes, int byte,
                      const scratch *sc);

/* Bytes 0..byte of the keys that differ among the n records, as a bit mask
 * (bit b: byte b), from per-byte histograms into count[b]. */
static inline __attribute__((always_inline)) unsigned
lsd_histograms(const char *base, size_t n, size_t size, unsigned key_bytes, int byte,
               uint32_t (*count)[256])
{
    memset(count, 0, (size_t)(byte + 1) * sizeof *count);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = key_at(base + i * size, key_bytes);
        for (int b = 0; b <= byte; b++)
            count[b][(k >> (8 * b)) & 0xFF]++;
    }
    unsigned varying = 0;
    for (int b = 0; b <= byte; b++)
        if (count[b][(key_at(base, key_bytes) >> (8 * b)) & 0xFF] != n)
            varying |= 1u << b;
    return varying;
}

/* LSD radix sort of n records (n * size <= scratch) on the bytes in
 * `varying`, with their histograms in count. */
static inline __attribute__((always_inline)) void
lsd_sort(char *base, size_t n, size_t size, unsigned key_bytes, unsigned varying,
         uint32_t (*count)[256], char *tmp)
{
    char *src = base, *dst = tmp;
    for (int b = 0; varying; b++, varying >>= 1) {
        if (!(varying & 1))
            continue;
        uint32_t pos[256], at = 0;
        for (int d = 0; d < 256; d++) {
            pos[d] = at;
            at += count[b][d];
        }
        unsigned shift = (unsigned)b * 8;
        for (size_t i = 0; i < n; i++) {
            const char *r = src + i * size;
            unsigned d = (key_at(r, key_bytes) >> shift) & 0xFF;
            memcpy(dst + (size_t)pos[d]++ * size, r, size);
        }
        char *t = src;
        src = dst;
        dst = t;
    }
    if (src != base)
        memcpy(base, src, n * size);
}

/* One level of the sort; always inlined so that fixed record sizes get
 * constant-size copies. */
static inline __attribute__((always_inline)) void
flag_sort_body(char *base, size_t n, size_t size, unsigned key_bytes, int byte,
               const scratch *sc)
{
    if (n > SMALL_SORT && byte >= 0 && byte < LSD_MAX_PASSES + 1 && n * size <= sc->bytes &&
        n <= UINT32_MAX) {
        uint32_t count[LSD_MAX_PASSES + 1][256];
        unsigned varying = lsd_histograms(base, n, size, key_bytes, byte, count);
        if ((unsigned)__builtin_popcount(varying) <= LSD_MAX_PASSES) {
            lsd_sort(base, n, size, key_bytes, varying, count, sc->buf);
            return;
        }
    }
    while (n > SMALL_SORT && byte >= 0) {
        size_t count[256] = { 0 };
        unsigned shift = (unsigned)byte * 8;
        for (size_t i = 0; i < n; i++)
            count[(key_at(base + i * size, key_bytes) >> shift) & 0xFF]++;
        size_t head[256], tail[256], pos = 0, widest = 0;
        for (int d = 0; d < 256; d++) {
            head[d] = pos;
            pos += count[d];
            tail[d] = pos;
            if (count[d] > widest)
                widest = count[d];
        }
        if (widest < n && n * size <= sc->bytes) {
            /* Fits the scratch: a stable scatter there and a copy back
             * (no dependent loads), then the same recursion. */
            for (size_t i = 0; i < n; i++) {
                const char *r = base + i * size;
                unsigned d = (key_at(r, key_bytes) >> shift) & 0xFF;
                memcpy(sc->buf + head[d]++ * size, r, size);
            }
            memcpy(base, sc->buf, n * size);
        } else if (widest < n) {
            char tmp[MAX_RECORD], swap[MAX_RECORD];
            for (int d = 0; d < 256; d++) {
                while (head[d] < tail[d]) {
                    char *slot = base + head[d] * size;
                    unsigned dd = (key_at(slot, key_bytes) >> shift) & 0xFF;
                    if ((int)dd == d) {
                        head[d]++;
                        continue;
                    }
                    /* Carry the misplaced record around its cycle. */
                    memcpy(tmp, slot, size);
                    while ((int)dd != d) {
                        char *dst = base + head[dd]++ * size;
                        if (head[dd] + CURSOR_PREFETCH < tail[dd])
                            crm__prefetch(dst + CURSOR_PREFETCH * size);
                        unsigned nd = (key_at(dst, key_bytes) >> shift) & 0xFF;
                        memcpy(swap, dst, size);
                        memcpy(dst, tmp, size);
                        memcpy(tmp, swap, size);
                        dd = nd;
                    }
                    memcpy(slot, tmp, size);
                    head[d]++;
                }
            }
        }
        if (widest < n) {
            if (byte > 0) {
                size_t start = 0;
                for (int d = 0; d < 256; d++) {
                    if (count[d] > 1)
                        flag_sort(base + start * size, count[d], size, key_bytes, byte - 1,
                                  sc);
                    start += count[d];
                }
            }
            return;
        }
        byte--; /* every key shares this byte: look at the next one */
    }
    insertion_sort(base, n, size, key_bytes);
}

static void flag_sort(char *base, size_t n, size_t size, unsigned key_bytes, int byte,
                      const scratch *sc)
{
    switch (size) {
    case 4: flag_sort_body(base, n, 4, key_bytes, byte, sc); break;
    case 8: flag_sort_body(base, n, 8, key_bytes, byte, sc); break;
    case 16: flag_sort_body(base, n, 16, key_bytes, byte, sc); break;
    case 24: flag_sort_body(base, n, 24, key_bytes, byte, sc); break;
    case 32: flag_sort_body(base, n, 32, key_bytes, byte, sc); break;
    case 40: flag_sort_body(base, n, 40, key_bytes, byte, sc); break;
    case 48: flag_sort_body(base, n, 48, key_bytes, byte, sc); break;
    case 64: flag_sort_body(base, n, 64, key_bytes, byte, sc); break;
    default: flag_sort_body(base, n, size, key_bytes, byte, sc); break;
    }
}

/* Highest byte in which any key differs from the first: digits above it are
 * common to all records and need no pass. */
static int top_byte(const char *base, size_t n, size_t size, unsigned key_bytes)
{
    if (n < 2)
        return -1;
    uint64_t first = key_at(base, key_bytes), diff = 0;
    for (size_t i = 1; i < n; i++)
        diff |= key_at(base + i * size, key_bytes) ^ first;
    if (!diff)
        return -1;
    return (63 - __builtin_clzll(diff)) / 8;
}

static void sort_keyed(void *rows, size_t n, size_t size, unsigned key_bytes,
                       const scratch *sc)
{
    int byte = top_byte(rows, n, size, key_bytes);
    if (byte >= 0)
        flag_sort(rows, n, size, key_bytes, byte, sc);
}

static const scratch no_scratch = { NULL, 0 };

void crm__sort_records_u64(void *rows, size_t n, size_t size)
{
    sort_keyed(rows, n, size, 8, &no_scratch);
}

void crm__sort_records_u64_scratch(void *rows, size_t n, size_t size, void *buf,
                                   size_t bytes)
{
    scratch sc = { buf, buf ? bytes : 0 };
    sort_keyed(rows, n, size, 8, &sc);
}

void crm__sort_u64(uint64_t *v, size_t n)
{
    sort_keyed(v, n, sizeof *v, 8, &no_scratch);
}

void crm__sort_i32(int32_t *v, size_t n)
{
    /* Flip the sign bit so signed order equals unsigned order. */
    uint32_t *u = (uint32_t *)(void *)v;
    for (size_t i = 0; i < n; i++)
        u[i] ^= UINT32_C(0x80000000);
    sort_keyed(u, n, sizeof *u, 4, &no_scratch);
    for (size_t i = 0; i < n; i++)
        u[i] ^= UINT32_C(0x80000000);
}
