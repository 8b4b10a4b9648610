/* LEB128 varint arrays for blobs (see varint.h). */
#include "core/varint.h"

#define CHUNK 4096 /* bytes encoded locally before each append */
#define SIGN (UINT64_C(1) << 63)

enum { PLAIN, ASC_U64, ASC_I64 };

/* The number written for v[i]: the value, or its gap above v[i - 1]
 * (the first of a signed sequence zigzagged: small magnitudes stay short). */
static uint64_t coded(const uint64_t *v, size_t i, int mode)
{
    if (mode == PLAIN)
        return v[i];
    if (i)
        return v[i] - v[i - 1] - 1; /* modular: the true gap for ascending values */
    return mode == ASC_I64 ? (v[0] << 1) ^ (uint64_t)((int64_t)v[0] >> 63) : v[0];
}

static void put_all(crm__wbuf *w, const uint64_t *v, size_t n, int mode)
{
    uint8_t buf[CHUNK];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (len > CHUNK - 10) {
            crm__wbuf_put(w, buf, len);
            len = 0;
        }
        len += crm__varint_put(buf + len, coded(v, i, mode));
    }
    crm__wbuf_put(w, buf, len);
}

void crm__wbuf_uvarints(crm__wbuf *w, const uint64_t *v, size_t n)
{
    put_all(w, v, n, PLAIN);
}

void crm__wbuf_ascending_u64s(crm__wbuf *w, const uint64_t *v, size_t n)
{
    put_all(w, v, n, ASC_U64);
}

void crm__wbuf_ascending_i64s(crm__wbuf *w, const int64_t *v, size_t n)
{
    put_all(w, (const uint64_t *)(const void *)v, n, ASC_I64);
}

static bool get_all(crm__rbuf *r, uint64_t *v, size_t n, int mode, const char *field)
{
    if (r->err)
        return false;
    size_t off = r->off;
    uint64_t prev = 0; /* order-preserving form of the previous value */
    for (size_t i = 0; i < n; i++) {
        size_t at = off;
        uint64_t x, u;
        const char *why = crm__varint_get(r->p, r->len, &off, &x);
        if (why) {
            r->off = at;
            return crm__rbuf_bad(r, "%s[%zu]: %s", field, i, why);
        }
        if (mode == PLAIN) {
            v[i] = x;
            continue;
        }
        if (i == 0) {
            u = mode == ASC_I64 ? ((x >> 1) ^ (0 - (x & 1))) ^ SIGN : x; /* unzigzag */
        } else if (__builtin_add_overflow(prev, x, &u) || __builtin_add_overflow(u, 1, &u)) {
            r->off = at;
            return crm__rbuf_bad(r, "%s[%zu]: ascending values pass their range", field, i);
        }
        prev = u;
        v[i] = mode == ASC_I64 ? u ^ SIGN : u;
    }
    r->off = off;
    return true;
}

bool crm__rbuf_uvarints(crm__rbuf *r, uint64_t *v, size_t n, const char *field)
{
    return get_all(r, v, n, PLAIN, field);
}

bool crm__rbuf_ascending_u64s(crm__rbuf *r, uint64_t *v, size_t n, const char *field)
{
    return get_all(r, v, n, ASC_U64, field);
}

bool crm__rbuf_ascending_i64s(crm__rbuf *r, int64_t *v, size_t n, const char *field)
{
    return get_all(r, (uint64_t *)(void *)v, n, ASC_I64, field);
}
