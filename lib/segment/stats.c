/*
 * Rule-language segments: member counts and pairwise overlaps, and their
 * mergeable partial form (sums over disjoint customer partitions,
 * serialised with core/blob.h).
 */
#include "core/blob.h"
#include "segment/segment_int.h"

#define MAX_SEGMENTS 4096u
#define STATS_BLOB_VERSION 1u
#define SEGMENT_STATS_BLOB CRM__BLOB_SEGMENT_STATS

struct crm_segment_stats {
    size_t k;
    uint64_t customers;
    uint64_t *m; /* k * k, row-major, symmetric */
};

static uint64_t popcount64(uint64_t x)
{
    return (uint64_t)__builtin_popcountll(x);
}

CRM_API uint64_t crm_segment_count(const uint64_t *bits, size_t n)
{
    if (!bits)
        return 0;
    uint64_t c = 0;
    size_t full = n / 64;
    for (size_t w = 0; w < full; w++)
        c += popcount64(bits[w]);
    if (n % 64)
        c += popcount64(bits[full] & ((UINT64_C(1) << (n % 64)) - 1));
    return c;
}

static crm_status stats_alloc(crm_segment_stats **out, size_t k)
{
    crm_segment_stats *s = crm__malloc(sizeof *s);
    if (!s)
        return crm__fail(CRM_ENOMEM, "segment stats: cannot allocate");
    s->k = k;
    s->customers = 0;
    crm_status st = crm__alloc_array((void **)&s->m, k * k, sizeof *s->m, 1, "segment stats");
    if (st) {
        crm__free(s);
        return st;
    }
    *out = s;
    return CRM_OK;
}

CRM_API crm_status crm_segment_stats_compute(crm_segment_stats **out,
                                             const uint64_t *const *sets, size_t k, size_t n)
{
    static const char fn[] = "crm_segment_stats_compute";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!sets)
        return crm__fail(CRM_EINVAL, "%s: sets is NULL", fn);
    if (k < 1 || k > MAX_SEGMENTS)
        return crm__fail(CRM_EINVAL, "%s: k = %zu not in 1..%u", fn, k, MAX_SEGMENTS);
    for (size_t i = 0; i < k; i++)
        if (!sets[i])
            return crm__fail(CRM_EINVAL, "%s: sets[%zu] is NULL", fn, i);
    crm_segment_stats *s;
    crm_status st = stats_alloc(&s, k);
    if (st)
        return st;
    s->customers = n;
    size_t full = n / 64;
    uint64_t tail = n % 64 ? (UINT64_C(1) << (n % 64)) - 1 : 0;
    for (size_t i = 0; i < k; i++) {
        for (size_t j = i; j < k; j++) {
            const uint64_t *a = sets[i], *b = sets[j];
            uint64_t c = 0;
            for (size_t w = 0; w < full; w++)
                c += popcount64(a[w] & b[w]);
            if (tail)
                c += popcount64(a[full] & b[full] & tail);
            s->m[i * k + j] = s->m[j * k + i] = c;
        }
    }
    *out = s;
    return CRM_OK;
}

CRM_API void crm_segment_stats_free(crm_segment_stats *s)
{
    if (!s)
        return;
    crm__free(s->m);
    crm__free(s);
}

CRM_API size_t crm_segment_stats_segments(const crm_segment_stats *s)
{
    return s ? s->k : 0;
}

CRM_API uint64_t crm_segment_stats_customers(const crm_segment_stats *s)
{
    return s ? s->customers : 0;
}

CRM_API const uint64_t *crm_segment_stats_matrix(const crm_segment_stats *s)
{
    return s ? s->m : NULL;
}

CRM_API crm_status crm_segment_stats_merge(crm_segment_stats **out, const crm_segment_stats *a,
                                           const crm_segment_stats *b)
{
    static const char fn[] = "crm_segment_stats_merge";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!a || !b)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn, a ? "b" : "a");
    if (a->k != b->k)
        return crm__fail(CRM_EINVAL, "%s: a has %zu segments, b %zu", fn, a->k, b->k);
    uint64_t customers;
    if (__builtin_add_overflow(a->customers, b->customers, &customers))
        return crm__fail(CRM_EOVERFLOW, "%s: customer count beyond uint64", fn);
    crm_segment_stats *s;
    crm_status st = stats_alloc(&s, a->k);
    if (st)
        return st;
    s->customers = customers;
    for (size_t i = 0; i < a->k * a->k; i++) {
        if (__builtin_add_overflow(a->m[i], b->m[i], &s->m[i])) {
            crm_segment_stats_free(s);
            return crm__fail(CRM_EOVERFLOW, "%s: cell %zu beyond uint64", fn, i);
        }
    }
    *out = s;
    return CRM_OK;
}

CRM_API crm_status crm_segment_stats_serialize(void **bytes, size_t *len,
                                               const crm_segment_stats *s)
{
    static const char fn[] = "crm_segment_stats_serialize";
    if (!bytes || !len || !s)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn,
                         !bytes ? "bytes" : !len ? "len" : "s");
    *bytes = NULL;
    *len = 0;
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, SEGMENT_STATS_BLOB, STATS_BLOB_VERSION);
    crm__wbuf_u64(&w, (uint64_t)s->k);
    crm__wbuf_u64(&w, s->customers);
    crm__wbuf_u64s(&w, s->m, s->k * s->k);
    return crm__blob_end(&w, bytes, len, "segment stats");
}

CRM_API crm_status crm_segment_stats_load(crm_segment_stats **out, const void *bytes, size_t len)
{
    static const char fn[] = "crm_segment_stats_load";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!bytes)
        return crm__fail(CRM_EINVAL, "%s: bytes is NULL", fn);
    crm__rbuf r;
    uint16_t version;
    crm_status st = crm__blob_open(&r, bytes, len, SEGMENT_STATS_BLOB, STATS_BLOB_VERSION,
                                   &version, "segment stats");
    if (st)
        return st;
    uint64_t k, customers;
    if (!crm__rbuf_u64(&r, &k, "k") || !crm__rbuf_u64(&r, &customers, "customers"))
        return crm__rbuf_finish(&r);
    if (k < 1 || k > MAX_SEGMENTS) {
        crm__rbuf_bad(&r, "segment count %llu not in 1..%u", (unsigned long long)k,
                      MAX_SEGMENTS);
        return crm__rbuf_finish(&r);
    }
    if (crm__rbuf_left(&r) != k * k * 8) {
        crm__rbuf_bad(&r, "%zu bytes left, a %llu x %llu matrix needs %llu",
                      crm__rbuf_left(&r), (unsigned long long)k, (unsigned long long)k,
                      (unsigned long long)(k * k * 8));
        return crm__rbuf_finish(&r);
    }
    crm_segment_stats *s;
    if ((st = stats_alloc(&s, (size_t)k)))
        return st;
    s->customers = customers;
    size_t mat_off = r.off;
    crm__rbuf_u64s(&r, s->m, (size_t)(k * k), "matrix");
    st = crm__rbuf_finish(&r);
    for (size_t i = 0; !st && i < k; i++) {
        for (size_t j = 0; !st && j < k; j++) {
            uint64_t v = s->m[i * k + j];
            bool ok = v == s->m[j * k + i] && v <= s->m[i * k + i] && v <= s->m[j * k + j] &&
                      v <= customers;
            if (!ok)
                st = crm__fail(CRM_ESTATE,
                               "segment stats byte %zu: cell (%zu, %zu) = %llu is inconsistent "
                               "(not symmetric, above a segment size or the customer count)",
                               mat_off + (i * (size_t)k + j) * 8, i, j, (unsigned long long)v);
        }
    }
    if (st) {
        crm_segment_stats_free(s);
        return st;
    }
    *out = s;
    return CRM_OK;
}
