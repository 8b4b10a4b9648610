/*
 * Versioned, checksummed byte blobs: the one wire format of every serialised
 * partial aggregate (scale-out) and engine snapshot (fcap). Internal.
 *
 * Layout, little-endian:
 *   0  "CRMB"          magic
 *   4  u16 kind        what the payload is (enum crm__blob_kind)
 *   6  u16 version     payload format version of that kind
 *   8  u64 length      payload bytes
 *   16 payload
 *   16+length u32      CRC-32C of bytes [0, 16 + length)
 *
 * Writers append to a growable buffer with a sticky error (check once at the
 * end); readers bounds-check every field and fail with the byte offset.
 */
#ifndef CRM_CORE_BLOB_H
#define CRM_CORE_BLOB_H

#include "core/core.h"

#define CRM__BLOB_HEADER 16u
#define CRM__BLOB_OVERHEAD 20u

/* Payload kinds. Values are frozen (they are in users' stored bytes). */
enum crm__blob_kind {
    CRM__BLOB_PROFILES = 1,
    /* rfm + segment: 10-19 */
    CRM__BLOB_RFM_HIST = 10, /* rfm round-1 partial (rfm uses 10-14) */
    CRM__BLOB_RFM_TIES = 11, /* rfm round-2 partial */
    CRM__BLOB_SEGMENT_STATS = 15, /* crm_segment_stats partial */
    /* lifecycle: 20-29 */
    CRM__BLOB_LIFECYCLE_FUNNEL = 20,
    CRM__BLOB_LIFECYCLE_COHORTS = 21,
    CRM__BLOB_LIFECYCLE_MIGRATION = 22,
    /* clv: 30-39 */
    CRM__BLOB_CLV_COUNTS = 30, /* crm_clv_counts */
    /* fcap: 40-49 */
    CRM__BLOB_FCAP = 40, /* crm_fcap snapshot */
    /* attribution: 50-59 */
    CRM__BLOB_ATTRIBUTION_PATHS = 50,
    CRM__BLOB_ATTRIBUTION_CREDIT = 51,
    /* partial: 60-69 */
};

/* ---- writing ------------------------------------------------------------- */

typedef struct crm__wbuf {
    uint8_t *p;
    size_t len, cap;
    crm_status err;   /* first failure (CRM_ENOMEM/CRM_EOVERFLOW), sticky */
    size_t start;     /* offset of the open blob's header */
} crm__wbuf;

/* Empty buffer (no allocation yet). */
void crm__wbuf_init(crm__wbuf *w);
/* Release the buffer (after a failure, or when not handing it out). */
void crm__wbuf_free(crm__wbuf *w);
/* Append n raw bytes. */
void crm__wbuf_put(crm__wbuf *w, const void *src, size_t n);
void crm__wbuf_u8(crm__wbuf *w, uint8_t v);
void crm__wbuf_u16(crm__wbuf *w, uint16_t v);
void crm__wbuf_u32(crm__wbuf *w, uint32_t v);
void crm__wbuf_u64(crm__wbuf *w, uint64_t v);
void crm__wbuf_i64(crm__wbuf *w, int64_t v);
/* IEEE-754 bits, so doubles round-trip exactly. */
void crm__wbuf_f64(crm__wbuf *w, double v);
/* Append n values of an array (little-endian hosts copy in one go). */
void crm__wbuf_u32s(crm__wbuf *w, const uint32_t *v, size_t n);
void crm__wbuf_u64s(crm__wbuf *w, const uint64_t *v, size_t n);
void crm__wbuf_i64s(crm__wbuf *w, const int64_t *v, size_t n);
void crm__wbuf_f64s(crm__wbuf *w, const double *v, size_t n);

/* Start a blob of `kind`/`version` at the end of the buffer. */
void crm__blob_begin(crm__wbuf *w, uint16_t kind, uint16_t version);
/* Close the open blob (length, CRC). On success hands the buffer to the
 * caller (*out, *out_len; free with crm_bytes_free) and returns CRM_OK; on
 * failure frees it, sets the last error naming `what` and returns the status. */
crm_status crm__blob_end(crm__wbuf *w, void **out, size_t *out_len, const char *what);

/* ---- reading ------------------------------------------------------------- */

typedef struct crm__rbuf {
    const uint8_t *p;
    size_t len;        /* end of the payload (offset of the CRC) */
    size_t off;        /* next byte to read (absolute offset in the blob) */
    const char *what;  /* name used in messages, e.g. "profiles partial" */
    crm_status err;    /* first failure, sticky (CRM_ESTATE) */
} crm__rbuf;

/*
 * Validate header, length and CRC of `len` bytes at `data` as a blob of
 * `kind` whose version is 1..max_version; on success position r at the
 * payload and store the version in *version. Errors (last error names
 * `what` and the byte offset): CRM_EINVAL (NULL data), CRM_ESTATE
 * (truncated, not a blob, other kind, length mismatch, checksum mismatch),
 * CRM_EVERSION (version newer than max_version, or 0).
 */
crm_status crm__blob_open(crm__rbuf *r, const void *data, size_t len, uint16_t kind,
                          uint16_t max_version, uint16_t *version, const char *what);

/* Each getter returns false (and sets r->err once, with the offset and
 * `field` in the last error) when fewer bytes remain than it needs. */
bool crm__rbuf_get(crm__rbuf *r, void *dst, size_t n, const char *field);
bool crm__rbuf_u8(crm__rbuf *r, uint8_t *v, const char *field);
bool crm__rbuf_u16(crm__rbuf *r, uint16_t *v, const char *field);
bool crm__rbuf_u32(crm__rbuf *r, uint32_t *v, const char *field);
bool crm__rbuf_u64(crm__rbuf *r, uint64_t *v, const char *field);
bool crm__rbuf_i64(crm__rbuf *r, int64_t *v, const char *field);
bool crm__rbuf_f64(crm__rbuf *r, double *v, const char *field);
bool crm__rbuf_u32s(crm__rbuf *r, uint32_t *v, size_t n, const char *field);
bool crm__rbuf_u64s(crm__rbuf *r, uint64_t *v, size_t n, const char *field);
bool crm__rbuf_i64s(crm__rbuf *r, int64_t *v, size_t n, const char *field);
bool crm__rbuf_f64s(crm__rbuf *r, double *v, size_t n, const char *field);
/* Fail (CRM_ESTATE, offset in the message) with a formatted reason, e.g. a
 * count that exceeds what the remaining bytes can hold; returns false. */
bool crm__rbuf_bad(crm__rbuf *r, const char *fmt, ...) CRM__PRINTF(2, 3);
/* Bytes left in the payload. */
static inline size_t crm__rbuf_left(const crm__rbuf *r)
{
    return r->len - r->off;
}
/* CRM_OK when the whole payload was consumed without error, else fails
 * with "trailing bytes" (CRM_ESTATE) or returns the sticky error. */
crm_status crm__rbuf_finish(crm__rbuf *r);

#endif /* CRM_CORE_BLOB_H */
