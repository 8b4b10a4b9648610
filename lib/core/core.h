/*
 * Internal helpers shared by every libcrm module. Not installed, not part of
 * the ABI. Names use the semi-private crm__ prefix.
 */
#ifndef CRM_CORE_H
#define CRM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crm/common.h"

#if defined(__GNUC__) || defined(__clang__)
#define CRM__PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CRM__LIKELY(x) __builtin_expect(!!(x), 1)
#define CRM__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define CRM__PRINTF(a, b)
#define CRM__LIKELY(x) (x)
#define CRM__UNLIKELY(x) (x)
#endif

/* Hint that *p will be read soon. GCC 12 can drop __builtin_prefetch as
 * dead code inside larger loops, so x86 gets a volatile instruction. */
static inline void crm__prefetch(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#elif defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

#define CRM__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Bytes of T up to and including member m: the size a struct version knew. */
#define CRM__SIZE_THROUGH(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

/* ---- errors (error.c) ---------------------------------------------------- */

/* Record a formatted message as this thread's last error; return status. */
crm_status crm__fail(crm_status status, const char *fmt, ...) CRM__PRINTF(2, 3);

/* ---- memory (alloc.c) ---------------------------------------------------- */

void *crm__malloc(size_t size);
void *crm__realloc(void *ptr, size_t size);
void crm__free(void *ptr);
/* a * b into *out; false on overflow. */
static inline bool crm__mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
/* Allocate n * size bytes (zeroed when zero != 0) into *out; on failure sets
 * the last error naming `what` and returns CRM_EOVERFLOW or CRM_ENOMEM. */
crm_status crm__alloc_array(void **out, size_t n, size_t size, int zero,
                            const char *what);
/* Ask the kernel for huge pages (crm__advise_huge) for a large block
 * that will be accessed at random (hash tables, per-customer slots): in a VM
 * a TLB miss costs a nested page walk. Advice only; never fails. */
void crm__advise_random(void *ptr, size_t bytes);
/* Huge pages for a block of >= 2 MiB (the block's first touch then costs
 * one fault per 2 MiB instead of 512; the caller accepts that a touched
 * page makes up to 2 MiB resident). The advice covers the whole pages the
 * block spans, so the block's mapping is not split and a block grown by
 * realloc keeps growing in place (mremap). */
void crm__advise_huge(void *ptr, size_t bytes);
/* The contents of the whole pages inside [ptr, ptr + bytes) are dead: they
 * stop counting as resident (and read as zero if touched again). For the
 * tail of a block the caller still owns and will only shrink or free: a
 * heap allocator keeps such pages resident after a shrink or free. Advice
 * only; never fails. */
void crm__advise_discard(void *ptr, size_t bytes);
/* Resize *ptr to n * size bytes; *ptr unchanged on failure. */
crm_status crm__realloc_array(void **ptr, size_t n, size_t size,
                              const char *what);

/* ---- versioned structs (alloc.c) ----------------------------------------- */

/*
 * Resolve caller options: `out` already holds the defaults of the current
 * version; copy from `in` (may be NULL) only the bytes its version knew.
 * sizes[v] = size of version v (sizes[0] unused), v in 1..max_version.
 */
crm_status crm__options_resolve(void *out, const void *in, const size_t *sizes,
                                unsigned max_version, const char *type_name);
/* Body of every public `crm_X_options_init(opt, version)`: fail CRM_EINVAL
 * if opt is NULL (message "<type_name>_init: opt is NULL"), check `version`
 * against 1..max_version, then fill the sizes[version] bytes the caller's
 * version knows: copied from `defaults` (a current-version struct), or zeroed
 * if defaults is NULL; finally set opt->version = version. Callers that pass
 * NULL assign their own defaults afterwards. */
crm_status crm__options_init(void *opt, unsigned version, const void *defaults,
                             const size_t *sizes, unsigned max_version,
                             const char *type_name);
/* Check `version` against 1..max_version; message names type_name. */
crm_status crm__check_version(unsigned version, unsigned max_version,
                              const char *type_name);
/* Copy a filled current-version output struct `full` into the caller's
 * struct `out` whose first member is its version, writing only the bytes its
 * version knew. */
crm_status crm__versioned_out(void *out, const void *full, const size_t *sizes,
                              unsigned max_version, const char *type_name);

/* ---- hashing ------------------------------------------------------------- */

/* splitmix64 finaliser: a fast, well-mixed, stable 64-bit hash. */
static inline uint64_t crm__mix64(uint64_t x)
{
    x += UINT64_C(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

/* CRC-32C (Castagnoli) of buf, continuing from crc (0 to start). */
uint32_t crm__crc32c(uint32_t crc, const void *buf, size_t len);

/* ---- u64 -> row index map (hashidx.c) ------------------------------------ */

/*
 * Open-addressing index over a caller-owned array of records whose first
 * member is a uint64_t key (stride bytes apart). Buckets hold row + 1
 * (0 = empty), so the map costs 4 bytes per bucket and at most 8 bytes per
 * key at the maximum load of 1/2. Rows are numbered in insertion order.
 */
typedef struct crm__u64idx {
    uint32_t *bucket;
    size_t mask;   /* capacity - 1, capacity a power of two */
    size_t count;  /* keys stored */
} crm__u64idx;

crm_status crm__u64idx_init(crm__u64idx *m, size_t expected);
void crm__u64idx_free(crm__u64idx *m);
/* Rebuild with twice the capacity from rows[0..count). */
crm_status crm__u64idx_grow(crm__u64idx *m, const void *rows, size_t stride);

static inline const uint64_t *crm__u64idx_key(const void *rows, size_t stride,
                                              size_t row)
{
    return (const uint64_t *)(const void *)((const char *)rows + row * stride);
}

/* Bucket position to start probing key at. */
static inline size_t crm__u64idx_home(const crm__u64idx *m, uint64_t key)
{
    return (size_t)crm__mix64(key) & m->mask;
}

/* Row of key probing from bucket `start` (its home), or SIZE_MAX when absent. */
static inline size_t crm__u64idx_find_at(const crm__u64idx *m, size_t start, uint64_t key,
                                         const void *rows, size_t stride)
{
    for (size_t i = start;; i = (i + 1) & m->mask) {
        uint32_t b = m->bucket[i];
        if (b == 0)
            return SIZE_MAX;
        if (*crm__u64idx_key(rows, stride, b - 1) == key)
            return b - 1;
    }
}

/* Row of key, or SIZE_MAX when absent. */
static inline size_t crm__u64idx_find(const crm__u64idx *m, uint64_t key,
                                      const void *rows, size_t stride)
{
    return crm__u64idx_find_at(m, crm__u64idx_home(m, key), key, rows, stride);
}

/* Row of key, probing from bucket `start` (its home position); when absent,
 * claims row m->count for it (the caller must then write the key at that
 * row) and sets *added. The caller grows the map (crm__u64idx_grow) before
 * count reaches capacity / 2. */
static inline size_t crm__u64idx_upsert_at(crm__u64idx *m, size_t start, uint64_t key,
                                           const void *rows, size_t stride, bool *added)
{
    size_t i = start;
    for (;; i = (i + 1) & m->mask) {
        uint32_t b = m->bucket[i];
        if (b == 0)
            break;
        if (*crm__u64idx_key(rows, stride, b - 1) == key) {
            *added = false;
            return b - 1;
        }
    }
    m->bucket[i] = (uint32_t)(m->count + 1);
    *added = true;
    return m->count++;
}

/* crm__u64idx_upsert_at from the key's home bucket. */
static inline size_t crm__u64idx_upsert(crm__u64idx *m, uint64_t key, const void *rows,
                                        size_t stride, bool *added)
{
    return crm__u64idx_upsert_at(m, crm__u64idx_home(m, key), key, rows, stride, added);
}

static inline bool crm__u64idx_full(const crm__u64idx *m)
{
    return m->count >= (m->mask + 1) / 2;
}

/* ---- sorting (sort.c) ---------------------------------------------------- */

/* Sort records of `size` bytes (size <= 256) whose first member is a
 * uint64_t key, ascending by key, in place (MSD radix, no extra memory). */
void crm__sort_records_u64(void *rows, size_t n, size_t size);
/* The same, faster, with a scratch buffer of `bytes` bytes (buckets of
 * records that fit in it are finished by LSD passes through it); any size
 * works, a few hundred KiB (more than rows / 256 of the records) suits
 * large sorts. */
void crm__sort_records_u64_scratch(void *rows, size_t n, size_t size, void *buf,
                                   size_t bytes);
/* Sort int32 values ascending in place (radix for large n). */
void crm__sort_i32(int32_t *v, size_t n);
/* Sort uint64 values ascending in place. */
void crm__sort_u64(uint64_t *v, size_t n);

/* ---- time (timeutil.c) --------------------------------------------------- */

#define CRM__SECONDS_PER_DAY INT64_C(86400)

/* floor(ts / 86400) for any int64. */
static inline int64_t crm__day_of(int64_t ts)
{
    int64_t d = ts / CRM__SECONDS_PER_DAY;
    return (ts % CRM__SECONDS_PER_DAY < 0) ? d - 1 : d;
}

/* Proleptic Gregorian civil date of a day number (day 0 = 1970-01-01). */
void crm__civil_from_days(int64_t day, int32_t *year, int32_t *month,
                          int32_t *mday);
/* Day number of a civil date. */
int64_t crm__days_from_civil(int32_t year, int32_t month, int32_t mday);
/* Months since 1970-01: year * 12 + month - 1 - 1970 * 12. */
int32_t crm__month_of_day(int64_t day);

#endif /* CRM_CORE_H */
