/*
 * Compact integer arrays in blobs (lib/core/blob.h buffers): LEB128
 * unsigned varints (7 bits per byte, low groups first, high bit = more),
 * plain or as the gaps of a strictly ascending sequence. Internal; the
 * byte layout is part of the blob formats that use it.
 */
#ifndef CRM_CORE_VARINT_H
#define CRM_CORE_VARINT_H

#include "core/blob.h"

/* One varint written at p (room for 10 bytes); returns its length. */
static inline size_t crm__varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* One varint of untrusted input at *off (bytes up to end): NULL and *off
 * past it, or what is wrong (truncated, more than 64 bits, not in its
 * shortest form) with *off unchanged. */
static inline const char *crm__varint_get(const uint8_t *p, size_t end, size_t *off, uint64_t *v)
{
    uint64_t x = 0;
    size_t o = *off;
    for (unsigned shift = 0;; shift += 7) {
        if (o >= end)
            return "truncated varint";
        uint8_t b = p[o++];
        if (shift == 63 && b > 1)
            return "varint exceeds 64 bits";
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift) /* one number, one encoding */
                return "varint not in its shortest form";
            break;
        }
    }
    *off = o;
    *v = x;
    return NULL;
}

/* n values as varints. */
void crm__wbuf_uvarints(crm__wbuf *w, const uint64_t *v, size_t n);
/* n strictly ascending values: v[0], then v[k] - v[k-1] - 1, as varints. */
void crm__wbuf_ascending_u64s(crm__wbuf *w, const uint64_t *v, size_t n);
/* The same for int64 values; v[0] zigzag-coded (small magnitudes stay short). */
void crm__wbuf_ascending_i64s(crm__wbuf *w, const int64_t *v, size_t n);
/* Readers of the above; false (r->err set, CRM_ESTATE naming `field` and
 * the byte offset) on truncation, a varint longer than 64 bits or not in
 * its shortest form (so every number has one encoding: blobs stay
 * canonical), or an ascending sequence that passes its type's range. */
bool crm__rbuf_uvarints(crm__rbuf *r, uint64_t *v, size_t n, const char *field);
bool crm__rbuf_ascending_u64s(crm__rbuf *r, uint64_t *v, size_t n, const char *field);
bool crm__rbuf_ascending_i64s(crm__rbuf *r, int64_t *v, size_t n, const char *field);

#endif
