/* Versioned, checksummed byte blobs (see blob.h for the layout). */
#include <stdarg.h>
#include <stdio.h>

#include "core/blob.h"

static const uint8_t blob_magic[4] = {'C', 'R', 'M', 'B'};

/* ---- little-endian scalars ------------------------------------------------ */

static void le_store(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_load(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static bool host_is_le(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ---- writing --------------------------------------------------------------- */

void crm__wbuf_init(crm__wbuf *w)
{
    memset(w, 0, sizeof *w);
}

void crm__wbuf_free(crm__wbuf *w)
{
    crm__free(w->p);
    crm__wbuf_init(w);
}

/* Make room for n more bytes; returns the write position or NULL. */
static uint8_t *wbuf_room(crm__wbuf *w, size_t n)
{
    if (w->err)
        return NULL;
    if (n > SIZE_MAX - w->len) {
        w->err = CRM_EOVERFLOW;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap = cap > SIZE_MAX / 2 ? w->len + n : cap * 2;
        uint8_t *p = crm__realloc(w->p, cap);
        if (!p) {
            w->err = CRM_ENOMEM;
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    uint8_t *at = w->p + w->len;
    w->len += n;
    return at;
}

void crm__wbuf_put(crm__wbuf *w, const void *src, size_t n)
{
    uint8_t *at = wbuf_room(w, n);
    if (at && n)
        memcpy(at, src, n);
}

static void wbuf_le(crm__wbuf *w, uint64_t v, unsigned bytes)
{
    uint8_t *at = wbuf_room(w, bytes);
    if (at)
        le_store(at, v, bytes);
}

void crm__wbuf_u8(crm__wbuf *w, uint8_t v) { wbuf_le(w, v, 1); }
void crm__wbuf_u16(crm__wbuf *w, uint16_t v) { wbuf_le(w, v, 2); }
void crm__wbuf_u32(crm__wbuf *w, uint32_t v) { wbuf_le(w, v, 4); }
void crm__wbuf_u64(crm__wbuf *w, uint64_t v) { wbuf_le(w, v, 8); }
void crm__wbuf_i64(crm__wbuf *w, int64_t v) { wbuf_le(w, (uint64_t)v, 8); }

void crm__wbuf_f64(crm__wbuf *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    wbuf_le(w, bits, 8);
}

/* n elements of `width` bytes: one copy on little-endian hosts. */
static void wbuf_array(crm__wbuf *w, const void *v, size_t n, unsigned width)
{
    size_t bytes;
    if (!crm__mul_size(n, width, &bytes)) {
        if (!w->err)
            w->err = CRM_EOVERFLOW;
        return;
    }
    uint8_t *at = wbuf_room(w, bytes);
    if (!at || !bytes)
        return;
    if (host_is_le()) {
        memcpy(at, v, bytes);
        return;
    }
    const uint8_t *src = v;
    for (size_t i = 0; i < n; i++) {
        uint64_t x;
        if (width == 4) {
            uint32_t y;
            memcpy(&y, src + i * 4, 4);
            x = y;
        } else {
            memcpy(&x, src + i * 8, 8);
        }
        le_store(at + i * width, x, width);
    }
}

void crm__wbuf_u32s(crm__wbuf *w, const uint32_t *v, size_t n) { wbuf_array(w, v, n, 4); }
void crm__wbuf_u64s(crm__wbuf *w, const uint64_t *v, size_t n) { wbuf_array(w, v, n, 8); }
void crm__wbuf_i64s(crm__wbuf *w, const int64_t *v, size_t n) { wbuf_array(w, v, n, 8); }
void crm__wbuf_f64s(crm__wbuf *w, const double *v, size_t n) { wbuf_array(w, v, n, 8); }

void crm__blob_begin(crm__wbuf *w, uint16_t kind, uint16_t version)
{
    w->start = w->len;
    crm__wbuf_put(w, blob_magic, sizeof blob_magic);
    crm__wbuf_u16(w, kind);
    crm__wbuf_u16(w, version);
    crm__wbuf_u64(w, 0); /* length, filled by crm__blob_end */
}

crm_status crm__blob_end(crm__wbuf *w, void **out, size_t *out_len, const char *what)
{
    if (!w->err) {
        le_store(w->p + w->start + 8, w->len - w->start - CRM__BLOB_HEADER, 8);
        uint32_t crc = crm__crc32c(0, w->p + w->start, w->len - w->start);
        crm__wbuf_u32(w, crc);
    }
    if (w->err) {
        crm_status st = w->err;
        crm__wbuf_free(w);
        return crm__fail(st, "%s: %s while serialising", what,
                         st == CRM_ENOMEM ? "out of memory" : "size overflow");
    }
    *out = w->p;
    *out_len = w->len;
    w->p = NULL; /* ownership passes to the caller */
    crm__wbuf_init(w);
    return CRM_OK;
}

CRM_API void crm_bytes_free(void *bytes)
{
    crm__free(bytes);
}

/* ---- reading --------------------------------------------------------------- */

crm_status crm__blob_open(crm__rbuf *r, const void *data, size_t len, uint16_t kind,
                          uint16_t max_version, uint16_t *version, const char *what)
{
    memset(r, 0, sizeof *r);
    r->what = what;
    if (!data && len)
        return crm__fail(CRM_EINVAL, "%s: bytes are NULL", what);
    const uint8_t *p = data;
    if (len < CRM__BLOB_HEADER)
        return r->err = crm__fail(CRM_ESTATE,
                                  "%s: truncated at byte %zu: a blob header needs %u bytes",
                                  what, len, CRM__BLOB_HEADER);
    if (memcmp(p, blob_magic, sizeof blob_magic) != 0)
        return r->err = crm__fail(CRM_ESTATE,
                                  "%s: not a libcrm blob (bad magic at byte 0)", what);
    uint16_t k = (uint16_t)le_load(p + 4, 2), v = (uint16_t)le_load(p + 6, 2);
    if (k != kind)
        return r->err = crm__fail(CRM_ESTATE,
                                  "%s: blob kind %u at byte 4 is not the expected kind %u",
                                  what, (unsigned)k, (unsigned)kind);
    if (v == 0 || v > max_version)
        return r->err = crm__fail(CRM_EVERSION,
                                  "%s: format version %u at byte 6 is not supported: this "
                                  "libcrm %s reads versions 1..%u (upgrade libcrm)",
                                  what, (unsigned)v, CRM_PROJECT_VERSION,
                                  (unsigned)max_version);
    uint64_t plen = le_load(p + 8, 8);
    size_t avail = len - CRM__BLOB_HEADER;
    if (avail < 4 || plen > avail - 4)
        return r->err = crm__fail(CRM_ESTATE,
                                  "%s: truncated at byte %zu: header at byte 8 announces %llu "
                                  "payload bytes + 4 checksum bytes, %zu present",
                                  what, len, (unsigned long long)plen, avail);
    if (plen < avail - 4)
        return r->err = crm__fail(CRM_ESTATE,
                                  "%s: %zu unexpected bytes after the checksum at byte %llu",
                                  what, avail - 4 - (size_t)plen,
                                  (unsigned long long)(CRM__BLOB_HEADER + plen + 4));
    size_t end = CRM__BLOB_HEADER + (size_t)plen;
    uint32_t want = (uint32_t)le_load(p + end, 4);
    uint32_t got = crm__crc32c(0, p, end);
    if (want != got)
        return r->err = crm__fail(CRM_ESTATE,
                                  "%s: checksum mismatch at byte %zu (stored %08x, computed "
                                  "%08x over bytes 0..%zu): the bytes are corrupted",
                                  what, end, (unsigned)want, (unsigned)got, end);
    r->p = p;
    r->len = end;
    r->off = CRM__BLOB_HEADER;
    if (version)
        *version = v;
    return CRM_OK;
}

bool crm__rbuf_bad(crm__rbuf *r, const char *fmt, ...)
{
    if (r->err)
        return false;
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    r->err = crm__fail(CRM_ESTATE, "%s: %s at byte %zu", r->what, reason, r->off);
    return false;
}

/* Claim n bytes; NULL (and the error) when fewer remain. */
static const uint8_t *rbuf_take(crm__rbuf *r, size_t n, const char *field)
{
    if (r->err)
        return NULL;
    if (n > r->len - r->off) {
        r->err = crm__fail(CRM_ESTATE,
                           "%s: truncated at byte %zu reading %s (%zu bytes needed, %zu left)",
                           r->what, r->off, field, n, r->len - r->off);
        return NULL;
    }
    const uint8_t *at = r->p + r->off;
    r->off += n;
    return at;
}

bool crm__rbuf_get(crm__rbuf *r, void *dst, size_t n, const char *field)
{
    const uint8_t *at = rbuf_take(r, n, field);
    if (at && n)
        memcpy(dst, at, n);
    return at != NULL;
}

#define RBUF_SCALAR(name, type, bytes)                                        \
    bool crm__rbuf_##name(crm__rbuf *r, type *v, const char *field)           \
    {                                                                         \
        const uint8_t *at = rbuf_take(r, bytes, field);                       \
        if (at)                                                               \
            *v = (type)le_load(at, bytes);                                    \
        return at != NULL;                                                    \
    }
RBUF_SCALAR(u8, uint8_t, 1)
RBUF_SCALAR(u16, uint16_t, 2)
RBUF_SCALAR(u32, uint32_t, 4)
RBUF_SCALAR(u64, uint64_t, 8)
RBUF_SCALAR(i64, int64_t, 8)
#undef RBUF_SCALAR

bool crm__rbuf_f64(crm__rbuf *r, double *v, const char *field)
{
    uint64_t bits;
    if (!crm__rbuf_u64(r, &bits, field))
        return false;
    memcpy(v, &bits, sizeof *v);
    return true;
}

static bool rbuf_array(crm__rbuf *r, void *v, size_t n, unsigned width, const char *field)
{
    size_t bytes;
    if (!crm__mul_size(n, width, &bytes) || bytes > r->len - r->off)
        return crm__rbuf_bad(r, "%zu %s need more bytes than remain (%zu)", n, field,
                             r->len - r->off);
    const uint8_t *at = rbuf_take(r, bytes, field);
    if (!at || !bytes)
        return at != NULL;
    if (host_is_le()) {
        memcpy(v, at, bytes);
        return true;
    }
    uint8_t *dst = v;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = le_load(at + i * width, width);
        if (width == 4) {
            uint32_t y = (uint32_t)x;
            memcpy(dst + i * 4, &y, 4);
        } else {
            memcpy(dst + i * 8, &x, 8);
        }
    }
    return true;
}

bool crm__rbuf_u32s(crm__rbuf *r, uint32_t *v, size_t n, const char *f) { return rbuf_array(r, v, n, 4, f); }
bool crm__rbuf_u64s(crm__rbuf *r, uint64_t *v, size_t n, const char *f) { return rbuf_array(r, v, n, 8, f); }
bool crm__rbuf_i64s(crm__rbuf *r, int64_t *v, size_t n, const char *f) { return rbuf_array(r, v, n, 8, f); }
bool crm__rbuf_f64s(crm__rbuf *r, double *v, size_t n, const char *f) { return rbuf_array(r, v, n, 8, f); }

crm_status crm__rbuf_finish(crm__rbuf *r)
{
    if (r->err)
        return r->err;
    if (r->off != r->len)
        return r->err = crm__fail(CRM_ESTATE, "%s: %zu unread payload bytes at byte %zu",
                                  r->what, r->len - r->off, r->off);
    return CRM_OK;
}
