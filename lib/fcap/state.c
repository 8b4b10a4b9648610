/* Compact customer store of the frequency-cap engine.
 *
 * Customers live in one open-addressing table of 16-byte slots (load <= 0.85,
 * 0.83 when rebuilt); each slot points at its customer's events in
 * a byte pool, encoded as one canonical blob:
 *
 *   blob  = varint L (>= 1), body of L bytes
 *   body  = varint H (>= 1), the hot parts of the events (H bytes), then
 *           their cold parts (the rest), each in canonical event order
 *           (fcap__ev_cmp)
 *   hot   = varint dt          t - t of the previous event (first: t)
 *           u8  channel | category << 6
 *           u8  flags | has_cand << 2 | min(ntags, 15) << 3   (bit 7 zero)
 *   cold  = [varint ntags - 15]  when the field is 15
 *           varint campaign
 *           [varint zigzag(cand - first cand of the block)]  when has_cand
 *                                   (the first: the cand id itself)
 *           tags ascending: varint first, then varint (tag - previous - 1)
 *
 * The decide path reads the hot parts of a customer (times, channels,
 * categories, flags: all that most checks need) at a few instructions an
 * event and the cold parts only when a campaign or tag cap or a send needs
 * them.
 * Varints are LEB128 and minimal, so a blob is a canonical function of the
 * customer's events: snapshots copy blobs verbatim. With the example rules
 * and a week of history an event takes about 8 bytes.
 *
 * cand ids of stored events are kept in an exact set of 64-id pages
 * (fpage); ALREADY_SENT needs "an event with this cand_id at time <= t",
 * so a hit that the customer's own events do not explain is confirmed by
 * a scan of all blobs (a cand_id reused across customers, or an event after
 * t: rare by construction).
 */
#include <stdlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/varint.h"
#include "fcap/fcap_int.h"

/* ---- varints ------------------------------------------------------------------ */

/* Trusted input (the pool) readable up to end (NULL when not known):
 * varints of 1-3 bytes (most fields) by tests; a longer one (the first time
 * and cand id of a block) from one little-endian 64-bit load when 8 bytes
 * are readable, else a loop. */
static inline uint64_t get_var_n(const uint8_t **pp, const uint8_t *end)
{
    const uint8_t *p = *pp;
    uint64_t v = p[0];
    if (v < 0x80) {
        *pp = p + 1;
        return v;
    }
    v = (v & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7;
    if (p[1] < 0x80) {
        *pp = p + 2;
        return v;
    }
    v |= (uint64_t)(p[2] & 0x7f) << 14;
    if (p[2] < 0x80) {
        *pp = p + 3;
        return v;
    }
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (end && end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t stop = ~w & UINT64_C(0x8080808080808080);
        if (stop) {
            *pp = p + (__builtin_ctzll(stop) >> 3) + 1;
            w &= (stop ^ (stop - 1)) & UINT64_C(0x7f7f7f7f7f7f7f7f);
            w = (w & UINT64_C(0x007f007f007f007f)) | (w & UINT64_C(0x7f007f007f007f00)) >> 1;
            w = (w & UINT64_C(0x00003fff00003fff)) | (w & UINT64_C(0x3fff00003fff0000)) >> 2;
            return (w & UINT64_C(0x000000000fffffff)) | (w & UINT64_C(0x0fffffff00000000)) >> 4;
        }
    }
#else
    (void)end;
#endif
    p += 3;
    unsigned sh = 21;
    uint8_t b;
    do {
        b = *p++;
        v |= (uint64_t)(b & 0x7f) << sh;
        sh += 7;
    } while ((b & 0x80) && sh < 70);
    *pp = p;
    return v;
}

/* Trusted input ending at end, a long varint likely (from one load when
 * 8 bytes are readable). */
static inline uint64_t get_var_w(const uint8_t **pp, const uint8_t *end)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint8_t *p = *pp;
    if (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t stop = ~w & UINT64_C(0x8080808080808080);
        if (stop) {
            *pp = p + (__builtin_ctzll(stop) >> 3) + 1;
            w &= (stop ^ (stop - 1)) & UINT64_C(0x7f7f7f7f7f7f7f7f);
            w = (w & UINT64_C(0x007f007f007f007f)) | (w & UINT64_C(0x7f007f007f007f00)) >> 1;
            w = (w & UINT64_C(0x00003fff00003fff)) | (w & UINT64_C(0x3fff00003fff0000)) >> 2;
            return (w & UINT64_C(0x000000000fffffff)) | (w & UINT64_C(0x0fffffff00000000)) >> 4;
        }
    }
#endif
    return get_var_n(pp, end);
}

static inline uint64_t get_var(const uint8_t **pp)
{
    return get_var_n(pp, NULL);
}

/* Trusted input ending at end. */
static inline uint64_t get_var_e(const uint8_t **pp, const uint8_t *end)
{
    return get_var_n(pp, end);
}

/* Untrusted input: bounds, minimal form, 64-bit range. */
static inline bool get_var_chk(const uint8_t *p, size_t end, size_t *off, uint64_t *v)
{
    size_t o = *off;
    if (o < end && p[o] < 0x80) { /* one byte: most fields */
        *v = p[o];
        *off = o + 1;
        return true;
    }
    if (end - o >= 3 && p[o + 1] < 0x80) { /* two bytes */
        if (!p[o + 1])
            return false;
        *v = (uint64_t)(p[o] & 0x7f) | (uint64_t)p[o + 1] << 7;
        *off = o + 2;
        return true;
    }
    if (end - o >= 4 && p[o + 1] >= 0x80 && p[o + 2] < 0x80) { /* three bytes */
        if (!p[o + 2])
            return false;
        *v = (uint64_t)(p[o] & 0x7f) | (uint64_t)(p[o + 1] & 0x7f) << 7 | (uint64_t)p[o + 2] << 14;
        *off = o + 3;
        return true;
    }
    return crm__varint_get(p, end, off, v) == NULL;
}

static inline uint64_t zz(uint64_t d)
{
    return (d << 1) ^ (uint64_t)((int64_t)d >> 63);
}

static inline uint64_t unzz(uint64_t z)
{
    return (z >> 1) ^ (UINT64_C(0) - (z & 1));
}

/* ---- events ---------------------------------------------------------------------- */

static int ev_qcmp(const void *a, const void *b)
{
    return fcap__ev_cmp(a, b);
}

static void ev_sort(fnew *v, size_t n)
{
    if (n > 24) {
        qsort(v, n, sizeof *v, ev_qcmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        fnew x = v[i];
        size_t j = i;
        for (; j > 0 && fcap__ev_cmp(&v[j - 1], &x) > 0; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* Bytes an encoding of n events with `ntags` tags in all can need (with the
 * staging room blob_encode and fcap__stage_extend use, and the 7 bytes
 * var_put8 may write past the end). */
static size_t enc_bound(size_t n, size_t ntags)
{
    return 32 + n * 38 + ntags * 5;
}

/* Bytes of varint v. */
static inline size_t var_size(uint64_t v)
{
    return (size_t)(70 - __builtin_clzll(v | 1)) / 7;
}

/* crm__varint_put that may write 8 bytes at p whatever the varint's length
 * (room: 10 bytes); a value of 2-8 bytes (a cand id delta is often 6) is
 * spread into its bytes by shifts instead of a loop. */
static inline size_t var_put8(uint8_t *p, uint64_t v)
{
    if (v < 0x80) {
        p[0] = (uint8_t)v;
        return 1;
    }
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (v < UINT64_C(1) << 56) {
        /* the inverse of get_var_n's packing: 7-bit groups into bytes */
        uint64_t x = (v & UINT64_C(0xfffffff)) | (v & UINT64_C(0x00fffffff0000000)) << 4;
        x = (x & UINT64_C(0x00003fff00003fff)) | (x & UINT64_C(0x0fffc0000fffc000)) << 2;
        x = (x & UINT64_C(0x007f007f007f007f)) | (x & UINT64_C(0x3f803f803f803f80)) << 1;
        unsigned n = (unsigned)(71 - __builtin_clzll(x)) >> 3; /* bytes: 2..8 */
        x |= UINT64_C(0x8080808080808080) & ((UINT64_C(1) << (8 * n - 8)) - 1);
        memcpy(p, &x, 8);
        return n;
    }
#endif
    return crm__varint_put(p, v);
}

/* The hot part of event e, after an event at time pt, written at h (room:
 * 12 bytes); returns its end. Every hot part is written here: blocks built
 * from events (body_encode) and blocks extended by sends (stage_append). */
static inline uint8_t *hot_put(uint8_t *h, const fnew *e, int64_t pt)
{
    h += crm__varint_put(h, (uint64_t)(e->t - pt));
    uint32_t nt = e->ntags;
    h[0] = (uint8_t)(e->channel | e->cat << 6);
    h[1] = (uint8_t)(e->flags | (unsigned)(e->cand != CRM_FCAP_NO_CAND) << 2 |
                     (nt < 15 ? nt : 15) << 3);
    return h + 2;
}

/* The cold part of event e written at o (room: 31 + 5 ntags bytes) in a
 * block whose first cand id is *base (CRM_FCAP_NO_CAND: none yet, e's
 * becomes it); returns its end. */
static inline __attribute__((always_inline)) uint8_t *cold_put(uint8_t *o, const fnew *e, uint64_t *base)
{
    uint32_t nt = e->ntags;
    if (nt >= 15)
        o += var_put8(o, nt - 15);
    o += var_put8(o, e->campaign);
    if (e->cand != CRM_FCAP_NO_CAND) {
        uint64_t b = *base;
        o += var_put8(o, zz(b == CRM_FCAP_NO_CAND ? e->cand : e->cand - b));
        if (b == CRM_FCAP_NO_CAND)
            *base = e->cand;
    }
    for (uint32_t j = 0; j < nt; j++)
        o += var_put8(o, j ? (uint64_t)(e->tags[j] - e->tags[j - 1] - 1) : e->tags[0]);
    return o;
}

/* Encode sorted events (tags sorted, unique): their hot parts at *hot and
 * cold parts at *cold (both advanced), continuing after an event at time pt
 * in a block whose first cand id is base (CRM_FCAP_NO_CAND: none yet; 0, NO_CAND
 * at the start). */
static void body_encode(uint8_t **hot, uint8_t **cold, const fnew *ev, size_t n, int64_t pt,
                        uint64_t base)
{
    uint8_t *h = *hot, *o = *cold;
    for (size_t i = 0; i < n; i++) {
        h = hot_put(h, &ev[i], pt);
        pt = ev[i].t;
        o = cold_put(o, &ev[i], &base);
    }
    *hot = h;
    *cold = o;
}

/* Write the blob header (varint L, varint H) at out; its length. */
static size_t blob_header(uint8_t *out, size_t hl, size_t cl)
{
    uint8_t hb[10];
    size_t k = crm__varint_put(hb, hl);
    size_t n = crm__varint_put(out, k + hl + cl);
    memcpy(out + n, hb, k);
    return n + k;
}

/* Encode sorted events (tags sorted, unique) as a blob at out (room:
 * enc_bound); its length. */
static size_t blob_encode(uint8_t *out, const fnew *ev, size_t n)
{
    uint8_t *h0 = out + 20, *c0 = out + 20 + 12 * n, *h = h0, *c = c0;
    body_encode(&h, &c, ev, n, 0, CRM_FCAP_NO_CAND);
    size_t hl = (size_t)(h - h0), cl = (size_t)(c - c0), k = blob_header(out, hl, cl);
    memmove(out + k, h0, hl);
    memmove(out + k + hl, c0, cl);
    return k + hl + cl;
}

/* The parts of a trusted blob at p: hot bytes [*h, *c), cold [*c, *end). */
static inline void blob_parts(const uint8_t *p, const uint8_t **h, const uint8_t **c,
                              const uint8_t **end)
{
    size_t L = (size_t)get_var(&p);
    *end = p + L;
    const uint8_t *q = p;
    size_t H = (size_t)get_var(&q);
    *h = q;
    *c = q + H;
}

/* Decode a trusted blob; returns n and ORs the events' flags into *flags.
 * ev / tags need room for L/4 events and L tags (L = body length). */
static size_t blob_decode(const uint8_t *p, fnew *ev, uint32_t *tags, unsigned *flags)
{
    const uint8_t *h, *c, *end;
    blob_parts(p, &h, &c, &end);
    const uint8_t *hend = c;
    size_t n = 0;
    int64_t pt = 0;
    uint64_t base = CRM_FCAP_NO_CAND;
    unsigned fl = 0;
    while (h < hend) {
        /* fields into locals first: stores through ev and tags may alias the
         * byte pointers, so interleaving them would serialise the reads */
        pt += (int64_t)get_var_e(&h, hend);
        unsigned b0 = h[0], b1 = h[1];
        h += 2;
        uint32_t nt = (b1 >> 3) & 15;
        if (nt == 15)
            nt += (uint32_t)get_var_e(&c, end);
        uint64_t camp = get_var_e(&c, end), cand = CRM_FCAP_NO_CAND;
        if (b1 & 4) {
            uint64_t d = unzz(get_var_e(&c, end));
            cand = base == CRM_FCAP_NO_CAND ? (base = d) : base + d;
        }
        uint32_t *tg0 = tags;
        if (nt) {
            uint32_t tg = (uint32_t)get_var_e(&c, end);
            tags[0] = tg;
            for (uint32_t j = 1; j < nt; j++) {
                tg += 1 + (uint32_t)get_var_e(&c, end);
                tags[j] = tg;
            }
            tags += nt;
        }
        fl |= b1;
        ev[n++] = (fnew){0, pt, camp, cand, tg0, nt, (uint8_t)(b0 & 63), (uint8_t)(b0 >> 6),
                         (uint8_t)(b1 & 3)};
    }
    *flags |= fl & 3;
    return n;
}

static inline void skip_var(const uint8_t **pp)
{
    const uint8_t *p = *pp;
    while (*p++ & 0x80)
        ;
    *pp = p;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FCAP_PEXT 1
static bool have_bmi2(void)
{
    static int cached = -1; /* benign race: every thread computes the same */
    if (cached < 0)
        cached = __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") ? 1 : 0;
    return cached == 1;
}
#endif

/* The 7-bit groups of the low bytes of x (a varint's bytes, up to 5). */
static inline __attribute__((always_inline)) uint64_t var_bits(uint64_t x, bool pext)
{
#ifdef FCAP_PEXT
    if (pext) {
        uint64_t d;
        __asm__("pextq %2, %1, %0" : "=r"(d) : "r"(x), "r"(UINT64_C(0x7f7f7f7f7f)));
        return d;
    }
#else
    (void)pext;
#endif
    x = (x & UINT64_C(0x007f007f007f007f)) | (x & UINT64_C(0x7f007f007f007f00)) >> 1;
    x = (x & UINT64_C(0x00003fff00003fff)) | (x & UINT64_C(0x3fff00003fff0000)) >> 2;
    return (x & UINT64_C(0x000000000fffffff)) | (x & UINT64_C(0x0fffffff00000000)) >> 4;
}

static inline __attribute__((always_inline)) bool view_decode(const uint8_t *p, fview *v,
                                                              size_t max, bool pext)
{
    const uint8_t *h, *c, *end;
    blob_parts(p, &h, &c, &end);
    const uint8_t *hend = c;
    size_t n = 0;
    int64_t pt = 0;
    /* the counted / sent masks are built here: reading the flag bytes back
     * with wide loads right after these byte stores would wait for them
     * (no store-to-load forwarding) */
    uint64_t cm = 0, sm = 0;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* branch-free while 8 bytes are readable: the time delta (<= 5 bytes:
     * times are < 2^35) and the two bytes after it from one load; an event
     * takes >= 3 hot bytes */
    const uint8_t *lim = end - h < 8 ? h : end - hend >= 7 ? hend : end - 7;
    /* below 3 * max hot bytes the count cannot reach max: no check */
    bool bounded = (size_t)(hend - h) <= 3 * max;
    while (h < lim) {
        if (!bounded && n == max)
            return false;
        uint64_t w;
        memcpy(&w, h, 8);
        uint64_t stop = ~w & UINT64_C(0x8080808080808080);
        unsigned len = (unsigned)(__builtin_ctzll(stop) >> 3) + 1;
        pt += (int64_t)var_bits(w & (stop ^ (stop - 1)), pext);
        uint64_t rest = w >> (8 * len);
        v->t[n] = pt;
        v->meta[n] = (uint8_t)rest;
        v->b1[n] = (uint8_t)(rest >> 8);
        cm |= ((rest >> 8) & 1) << n;
        sm |= ((rest >> 9) & 1) << n;
        h += len + 2;
        n++;
    }
#endif
    while (h < hend) {
        if (n == max)
            return false;
        pt += (int64_t)get_var_e(&h, hend);
        v->t[n] = pt;
        v->meta[n] = h[0];
        v->b1[n] = h[1];
        cm |= (uint64_t)(h[1] & 1) << n;
        sm |= (uint64_t)((h[1] >> 1) & 1) << n;
        h += 2;
        n++;
    }
    v->n = v->nstored = n;
    v->counted = cm;
    v->sent = sm;
    v->cold = c;
    v->end = end;
    v->hasc = false;
    return true;
}

#ifdef FCAP_PEXT
__attribute__((target("bmi,bmi2"))) static bool view_decode_bmi2(const uint8_t *p, fview *v,
                                                             size_t max)
{
    return view_decode(p, v, max, true);
}
#endif

static bool view_decode_plain(const uint8_t *p, fview *v, size_t max)
{
    return view_decode(p, v, max, false);
}

fcap__view_decode_fn fcap__view_decoder(void)
{
#ifdef FCAP_PEXT
    if (have_bmi2())
        return view_decode_bmi2;
#endif
    return view_decode_plain;
}

uint64_t fcap__view_base(const fview *v)
{
    const uint8_t *c = v->cold, *end = v->end;
    for (size_t i = 0; i < v->nstored; i++) {
        unsigned b1 = v->b1[i];
        uint32_t nt = (b1 >> 3) & 15;
        if (nt == 15)
            nt += (uint32_t)get_var_e(&c, end);
        skip_var(&c);
        if (b1 & 4)
            return unzz(get_var_e(&c, end));
        for (uint32_t j = 0; j < nt; j++)
            skip_var(&c);
    }
    return CRM_FCAP_NO_CAND;
}

void fcap__view_cold(fview *v)
{
    const uint8_t *c = v->cold, *end = v->end;
    uint64_t base = CRM_FCAP_NO_CAND, last = CRM_FCAP_NO_CAND;
    for (size_t i = 0; i < v->nstored; i++) {
        unsigned b1 = v->b1[i];
        uint32_t nt = (b1 >> 3) & 15;
        if (nt == 15)
            nt += (uint32_t)get_var_e(&c, end);
        uint64_t camp = c[0];
        if (camp < 0x80)
            c++;
        else
            camp = get_var_e(&c, end);
        last = CRM_FCAP_NO_CAND;
        if (b1 & 4) {
            uint64_t z = c[0];
            if (z < 0x80)
                c++;
            else
                z = get_var_e(&c, end);
            z = unzz(z);
            last = base == CRM_FCAP_NO_CAND ? (base = z) : base + z;
        }
        v->tagat[i] = (uint32_t)(c - v->cold);
        for (uint32_t j = 0; j < nt; j++)
            skip_var(&c);
        v->camp[i] = camp;
        v->ntag[i] = nt;
    }
    v->base = base;
    v->lastcand = last;
    v->hasc = true;
}

bool fcap__view_stored_tag(const fview *v, size_t i, uint32_t tag)
{
    const uint8_t *p = v->cold + v->tagat[i];
    uint64_t tg = 0;
    for (uint32_t j = 0; j < v->ntag[i]; j++) {
        tg = j ? tg + 1 + get_var(&p) : get_var(&p);
        if (tg >= tag)
            return tg == tag; /* ascending */
    }
    return false;
}

void fcap__view_stored_tags(const fview *v, size_t i, uint32_t *out)
{
    const uint8_t *p = v->cold + v->tagat[i];
    uint32_t tg = 0;
    for (uint32_t j = 0; j < v->ntag[i]; j++) {
        tg = j ? tg + 1 + (uint32_t)get_var(&p) : (uint32_t)get_var(&p);
        out[j] = tg;
    }
}

/* Length of the blob at p (prefix included) and of its body. */
static size_t blob_len(const uint8_t *p, size_t *body)
{
    const uint8_t *q = p;
    size_t L = (size_t)get_var(&q);
    if (body)
        *body = L;
    return (size_t)(q - p) + L;
}

const uint8_t *fcap__blob_at(const crm_fcap *f, uint64_t pos, size_t *len)
{
    const uint8_t *p = f->pool + FSLOT_OFF(pos);
    *len = blob_len(p, NULL);
    return p;
}

/* *p holds at least `need` items of `size` bytes afterwards; its contents
 * are dropped when it grows (scratch only). */
static crm_status grow_fresh(void **p, size_t *cap, size_t need, size_t size, const char *what)
{
    if (need <= *cap)
        return CRM_OK;
    size_t c = need + need / 2 + 16;
    crm__free(*p);
    *p = NULL;
    *cap = 0;
    crm_status st = crm__alloc_array(p, c, size, 0, what);
    if (!st)
        *cap = c;
    return st;
}

crm_status fcap__scratch_reserve(fscratch *s, size_t nev, size_t ntags, size_t nenc)
{
    crm_status st = grow_fresh((void **)&s->ev, &s->evcap, nev, sizeof *s->ev, "fcap events");
    if (!st)
        st = grow_fresh((void **)&s->tags, &s->tagcap, ntags, sizeof *s->tags, "fcap tags");
    if (!st)
        st = grow_fresh((void **)&s->enc, &s->enccap, nenc, 1, "fcap events");
    return st;
}

void fcap__scratch_free(fscratch *s)
{
    crm__free(s->ev);
    crm__free(s->tags);
    crm__free(s->enc);
    memset(s, 0, sizeof *s);
}

size_t fcap__decode_slot(const crm_fcap *f, size_t i, fscratch *s, unsigned *flags)
{
    unsigned fl = 0;
    size_t n = blob_decode(f->pool + FSLOT_OFF(f->slot[i].pos), s->ev, s->tags, &fl);
    if (flags)
        *flags = fl;
    return n;
}

size_t fcap__blob_check(const crm_fcap *f, const uint8_t *p, size_t avail, fscratch *s,
                        size_t *nev, const char **why, size_t *at)
{
    size_t off = 0;
    uint64_t L, H;
#define BAD(msg) \
    do { \
        *why = msg; \
        *at = o0; \
        return 0; \
    } while (0)
    size_t o0 = 0;
    if (!get_var_chk(p, avail, &off, &L) || L > avail - off)
        BAD("bad or truncated event block length");
    size_t end = off + (size_t)L;
    if (L == 0)
        BAD("empty event block");
    o0 = off;
    if (!get_var_chk(p, end, &off, &H) || H > end - off || H == 0)
        BAD("bad event block hot length");
    if (fcap__scratch_reserve(s, (size_t)L / 4 + 1, (size_t)L, 0)) {
        *why = NULL;
        return 0;
    }
    /* hot parts at off..hend, cold parts at co..end */
    size_t hend = off + (size_t)H, co = hend;
    int64_t pt = 0;
    uint64_t base = CRM_FCAP_NO_CAND;
    uint32_t *tags = s->tags;
    size_t n = 0;
    for (size_t i = 0; off < hend; i++, n++) {
        fnew *e = &s->ev[i];
        uint64_t v;
        size_t ev0 = off;
        o0 = off;
        if (!get_var_chk(p, hend, &off, &v) || v > (uint64_t)(CRM_FCAP_T_MAX - pt))
            BAD("bad event time");
        pt += (int64_t)v;
        e->t = pt;
        if (hend - off < 2)
            BAD("truncated event");
        uint8_t b0 = p[off], b1 = p[off + 1];
        off += 2;
        e->channel = b0 & 63;
        e->cat = (uint8_t)(b0 >> 6);
        e->flags = b1 & 3;
        if (e->channel >= f->r.n_channels || (b1 & 0x80))
            BAD("bad event channel or flags");
        o0 = co;
        uint64_t nt = (b1 >> 3) & 15;
        if (nt == 15) {
            if (!get_var_chk(p, end, &co, &v) || v > end - co)
                BAD("bad event tag count");
            nt += v;
        }
        if (!get_var_chk(p, end, &co, &e->campaign) || e->campaign > CRM_FCAP_ID_MAX)
            BAD("bad event campaign");
        if (b1 & 4) {
            if (!get_var_chk(p, end, &co, &v))
                BAD("bad event cand_id");
            uint64_t cd = base == CRM_FCAP_NO_CAND ? unzz(v) : base + unzz(v);
            if (cd > CRM_FCAP_ID_MAX)
                BAD("bad event cand_id");
            if (base == CRM_FCAP_NO_CAND)
                base = cd;
            e->cand = cd;
        } else {
            e->cand = CRM_FCAP_NO_CAND;
        }
        if (nt > (uint64_t)(end - co) || (size_t)(tags - s->tags) + nt > (size_t)L)
            BAD("bad event tag count");
        e->tags = tags;
        e->ntags = (uint32_t)nt;
        uint64_t tg = 0;
        for (uint32_t j = 0; j < nt; j++) {
            if (!get_var_chk(p, end, &co, &v))
                BAD("bad event tag");
            tg = j ? tg + 1 + v : v;
            if (v > UINT32_MAX || tg > UINT32_MAX)
                BAD("bad event tag");
            tags[j] = (uint32_t)tg;
        }
        tags += nt;
        if (i && fcap__ev_cmp(&s->ev[i - 1], e) > 0) {
            o0 = ev0;
            BAD("event out of canonical order");
        }
    }
    o0 = co;
    if (co != end)
        BAD("trailing bytes in an event block");
#undef BAD
    *nev = (size_t)n;
    return end;
}

/* ---- customer table -------------------------------------------------------------- */

size_t fcap__find(const crm_fcap *f, uint64_t id)
{
    return fcap__find_at(f, id, fcap__home(f->tcap, id));
}

size_t fcap__find_at(const crm_fcap *f, uint64_t id, size_t i)
{
    for (;;) {
        uint64_t k = f->slot[i].id1;
        if (k == id + 1)
            return i;
        if (!k)
            return SIZE_MAX;
        if (++i == f->tcap)
            i = 0;
    }
}

/* A zeroed array for random access (slot and page tables): huge pages are
 * asked for before it is touched (zeroing first would fault it in 4 KiB
 * pages, and every lookup would then miss the TLB). */
static crm_status alloc_table(void **p, size_t n, size_t size, const char *what)
{
    crm_status s = crm__alloc_array(p, n, size, 0, what);
    if (!s) {
        crm__advise_huge(*p, n * size);
        memset(*p, 0, n * size);
    }
    return s;
}

static size_t slot_insert(fslot *t, size_t cap, uint64_t id, uint64_t pos)
{
    size_t i = fcap__home(cap, id);
    while (t[i].id1)
        if (++i == cap)
            i = 0;
    t[i].id1 = id + 1;
    t[i].pos = pos;
    return i;
}

static size_t table_size(size_t n)
{
    return n + n / 5 + 16; /* load 0.83 */
}

/* Room for `more` new customers (rehash; unchanged on failure). */
static crm_status table_reserve(crm_fcap *f, size_t more)
{
    size_t want = f->ncust + more;
    if (want <= f->tcap / 20 * 17)
        return CRM_OK;
    size_t cap = want + want / 2 + 16;
    fslot *t;
    crm_status s = alloc_table((void **)&t, cap, sizeof *t, "fcap customers");
    if (s)
        return s;
    for (size_t i = 0; i < f->tcap; i++)
        if (f->slot[i].id1)
            slot_insert(t, cap, f->slot[i].id1 - 1, f->slot[i].pos);
    crm__free(f->slot);
    f->slot = t;
    f->tcap = cap;
    return CRM_OK;
}

/* ---- cand-id pages --------------------------------------------------------------- */

static inline size_t page_home(size_t cap, uint64_t key1)
{
    return fcap__home(cap, key1 ^ UINT64_C(0x5851F42D4C957F2D));
}

static const fpage *page_find(const crm_fcap *f, uint64_t key1)
{
    for (size_t i = page_home(f->pcap, key1);;) {
        const fpage *p = &f->page[i];
        if (p->key1 == key1)
            return p;
        if (!p->key1)
            return NULL;
        if (++i == f->pcap)
            i = 0;
    }
}

static void page_set(fpage *t, size_t cap, size_t *n, uint64_t key1, uint64_t bits)
{
    for (size_t i = page_home(cap, key1);;) {
        fpage *p = &t[i];
        if (p->key1 == key1) {
            p->bits |= bits;
            return;
        }
        if (!p->key1) {
            p->key1 = key1;
            p->bits = bits;
            ++*n;
            return;
        }
        if (++i == cap)
            i = 0;
    }
}

/* Pages are few when ids are dense: keep their table at load <= 0.7 (0.67
 * when rebuilt) so that a lookup of an absent page (every new candidate)
 * stays short. */
static size_t pages_size(size_t n)
{
    return n + n / 2 + 16;
}

static crm_status pages_make(fpage **t, size_t *cap, size_t n)
{
    *cap = pages_size(n);
    return alloc_table((void **)t, *cap, sizeof **t, "fcap cand ids");
}

crm_status fcap__pages_reserve(crm_fcap *f, size_t more)
{
    size_t want = f->npage + more;
    if (want <= f->pcap / 10 * 7)
        return CRM_OK;
    size_t cap = pages_size(want + want / 2), n = 0;
    fpage *t;
    crm_status s = alloc_table((void **)&t, cap, sizeof *t, "fcap cand ids");
    if (s)
        return s;
    for (size_t i = 0; i < f->pcap; i++)
        if (f->page[i].key1)
            page_set(t, cap, &n, f->page[i].key1, f->page[i].bits);
    crm__free(f->page);
    f->page = t;
    f->pcap = cap;
    return CRM_OK;
}

/* Add the cand ids at c, c + stride, ... (n of them; CRM_FCAP_NO_CAND
 * skipped) to a page table: one probe per run of ids in one page. */
static void pages_add_cands(fpage *t, size_t cap, size_t *np, uint64_t range[2],
                            const uint64_t *c, size_t stride, size_t n)
{
    uint64_t key1 = 0, bits = 0;
    for (size_t j = 0; j < n; j++, c = (const uint64_t *)((const char *)c + stride)) {
        if (*c == CRM_FCAP_NO_CAND)
            continue;
        if ((*c >> 6) + 1 != key1) {
            if (key1)
                page_set(t, cap, np, key1, bits);
            key1 = (*c >> 6) + 1;
            bits = 0;
            range[0] = key1 < range[0] ? key1 : range[0];
            range[1] = key1 > range[1] ? key1 : range[1];
            if (j + 8 < n) /* random pages (sends in random customer order) */
                crm__prefetch(
                    &t[page_home(cap, (*(const uint64_t *)((const char *)c + 8 * stride) >> 6) + 1)]);
        }
        bits |= UINT64_C(1) << (*c & 63);
    }
    if (key1)
        page_set(t, cap, np, key1, bits);
}

bool fcap__cand_maybe(const crm_fcap *f, uint64_t cand)
{
    uint64_t key1 = (cand >> 6) + 1;
    if (key1 < f->prange[0] || key1 > f->prange[1]) /* new ids are often above all stored */
        return false;
    const fpage *p = page_find(f, key1);
    return p && ((p->bits >> (cand & 63)) & 1);
}

bool fcap__blob_has_cand(const uint8_t *p, uint64_t cand, int64_t t)
{
    const uint8_t *h, *c, *end;
    blob_parts(p, &h, &c, &end);
    const uint8_t *hend = c;
    int64_t pt = 0;
    uint64_t base = CRM_FCAP_NO_CAND;
    while (h < hend) {
        pt += (int64_t)get_var(&h);
        if (pt > t)
            return false; /* events ascend in time */
        uint8_t b1 = h[1];
        h += 2;
        uint32_t nt = (b1 >> 3) & 15;
        if (nt == 15)
            nt += (uint32_t)get_var(&c);
        skip_var(&c);
        if (b1 & 4) {
            uint64_t d = unzz(get_var(&c));
            uint64_t cd = base == CRM_FCAP_NO_CAND ? (base = d) : base + d;
            if (cd == cand)
                return true;
        }
        for (uint32_t j = 0; j < nt; j++)
            skip_var(&c);
    }
    return false;
}

bool fcap__cand_sent(const crm_fcap *f, uint64_t cand, int64_t t)
{
    if (!fcap__cand_maybe(f, cand))
        return false;
    for (size_t i = 0; i < f->tcap; i++)
        if (f->slot[i].id1 && fcap__blob_has_cand(f->pool + FSLOT_OFF(f->slot[i].pos), cand, t))
            return true;
    return false;
}

static void pages_add_events(fpage *t, size_t cap, size_t *np, uint64_t range[2], const fnew *ev,
                             size_t m);

/* ---- pool ------------------------------------------------------------------------- */

/* The pool always has room for POOL_PAD bytes beyond poollen (blocks live
 * below it): a block's bytes may be read in 16-byte pieces (copy16). */
#define POOL_PAD 16

/* Pool region for a blob of len bytes that may grow by sends. */
static size_t region_for(size_t len)
{
    size_t c = len + len / 4 + 4;
    return c < FSLOT_MAXCAP ? c : FSLOT_MAXCAP - 1;
}

/* Room for `need` more pool bytes after poollen, growing the pool (blobs
 * and whatever lies beyond poollen keep their offsets); unchanged on
 * failure. */
static crm_status pool_grow(crm_fcap *f, size_t need)
{
    if (need <= f->poolcap - f->poollen)
        return CRM_OK;
    if (need > SIZE_MAX / 4 - f->poollen)
        return crm__fail(CRM_EOVERFLOW, "fcap: event pool too large");
    size_t want = f->poollen + need;
    size_t cap = want + want / 4 + 64;
    if (cap >= (size_t)1 << 40)
        return crm__fail(CRM_EOVERFLOW, "fcap: event pool above 2^40 bytes");
    size_t c2 = f->poolcap * 2 > cap ? f->poolcap * 2 : cap;
    if (c2 >= (size_t)1 << 40)
        c2 = cap;
    crm_status s = crm__realloc_array((void **)&f->pool, c2, 1, "fcap events");
    if (s)
        return s;
    crm__advise_huge(f->pool, c2);
    f->poolcap = c2;
    return CRM_OK;
}

/* Room for `need` more pool bytes: compact (dropping freed regions) or
 * grow. Blobs move, the state does not change; unchanged on failure.
 * Compacts when out of room with a quarter of the pool freed, or with half
 * of it freed in any case (else the regions that sends move blocks out of
 * pile up while a doubled pool still has room). */
static crm_status pool_room(crm_fcap *f, size_t need)
{
    if (need <= f->poolcap - f->poollen && f->garbage <= f->poollen / 2)
        return CRM_OK;
    size_t live = f->poollen - f->garbage;
    if (need > SIZE_MAX / 4 - live)
        return crm__fail(CRM_EOVERFLOW, "fcap: event pool too large");
    size_t want = live + need;
    size_t cap = want + want / 4 + 64;
    if (cap >= (size_t)1 << 40)
        return crm__fail(CRM_EOVERFLOW, "fcap: event pool above 2^40 bytes");
    if (f->garbage < f->poollen / 4) /* little to reclaim: grow in place */
        return pool_grow(f, need);
    uint8_t *np;
    crm_status s = crm__alloc_array((void **)&np, cap, 1, 0, "fcap events");
    if (s)
        return s;
    size_t at = 0;
    for (size_t i = 0; i < f->tcap; i++) {
        fslot *sl = &f->slot[i];
        if (!sl->id1)
            continue;
        size_t rc = FSLOT_CAP(sl->pos);
        const uint8_t *b = f->pool + FSLOT_OFF(sl->pos);
        memcpy(np + at, b, blob_len(b, NULL));
        sl->pos = (uint64_t)at | (uint64_t)rc << 40;
        at += rc;
    }
    crm__free(f->pool);
    f->pool = np;
    f->poolcap = cap;
    f->poollen = at;
    f->garbage = 0;
    return CRM_OK;
}

void fcap__pool_trim(crm_fcap *f)
{
    if (f->poolcap > f->poollen + 64 &&
        !crm__realloc_array((void **)&f->pool, f->poollen + 64, 1, "fcap events"))
        f->poolcap = f->poollen + 64;
}

/* ---- engine state ------------------------------------------------------------------ */

crm_status fcap__state_init(crm_fcap *f)
{
    f->prange[0] = UINT64_MAX; /* no page */
    f->prange[1] = 0;
    f->tcap = 16;
    f->pcap = 16;
    crm_status s = crm__alloc_array((void **)&f->slot, f->tcap, sizeof *f->slot, 1,
                                    "fcap customers");
    if (!s)
        s = crm__alloc_array((void **)&f->page, f->pcap, sizeof *f->page, 1, "fcap cand ids");
    return s;
}

void fcap__state_free(crm_fcap *f)
{
    crm__free(f->slot);
    crm__free(f->pool);
    crm__free(f->page);
    f->slot = NULL;
    f->pool = NULL;
    f->page = NULL;
}

size_t fcap__state_memory(const crm_fcap *f)
{
    return f->tcap * sizeof(fslot) + f->poolcap + f->pcap * sizeof(fpage);
}

crm_status fcap__reserve_load(crm_fcap *f, size_t ncust, size_t bytes)
{
    fslot *t;
    size_t cap = table_size(ncust);
    crm_status s = alloc_table((void **)&t, cap, sizeof *t, "fcap customers");
    if (s)
        return s;
    if ((s = crm__realloc_array((void **)&f->pool, bytes + 64, 1, "fcap events"))) {
        crm__free(t);
        return s;
    }
    crm__free(f->slot);
    f->slot = t;
    f->tcap = cap;
    f->poolcap = bytes + 64;
    crm__advise_huge(f->pool, f->poolcap);
    return CRM_OK;
}

crm_status fcap__put_loaded(crm_fcap *f, uint64_t id, const uint8_t *blob, size_t len,
                            size_t nev, const fnew *ev, uint64_t *pos)
{
    size_t ncand = 0;
    for (size_t i = 0; i < nev; i++)
        ncand += ev[i].cand != CRM_FCAP_NO_CAND;
    crm_status s = fcap__pages_reserve(f, ncand);
    if (s)
        return s;
    if (len >= FSLOT_MAXCAP)
        return crm__fail(CRM_EOVERFLOW, "fcap: customer %llu has too many events",
                         (unsigned long long)id);
    *pos = (uint64_t)f->poollen | (uint64_t)len << 40;
    memcpy(f->pool + f->poollen, blob, len);
    f->poollen += len;
    f->nevents += nev;
    pages_add_events(f->page, f->pcap, &f->npage, f->prange, ev, nev);
    return CRM_OK;
}

void fcap__index_loaded(crm_fcap *f, const fcref *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i + 16 < n)
            crm__prefetch(&f->slot[fcap__home(f->tcap, v[i + 16].id)]);
        slot_insert(f->slot, f->tcap, v[i].id, v[i].pos);
    }
    f->ncust += n;
}

/* ---- adding events (all-or-nothing) -------------------------------------------------- */


static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

uint32_t fcap__sort_unique(uint32_t *v, uint32_t n)
{
    if (n > 16) {
        qsort(v, n, sizeof *v, cmp_u32);
    } else {
        for (uint32_t i = 1; i < n; i++) {
            uint32_t x = v[i], j = i;
            for (; j > 0 && v[j - 1] > x; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
    }
    uint32_t m = n ? 1 : 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] != v[m - 1])
            v[m++] = v[i];
    return m;
}

void fcap__stage_free(fstage *st)
{
    crm__free(st->grp);
    crm__free(st->enc);
    memset(st, 0, sizeof *st);
}

/* Where to encode a blob of at most `bound` bytes (scratch included) for
 * customer slot (SIZE_MAX: new): into the stage buffer when it may replace
 * the stored blob in its region, else at the pool's tail, beyond the bytes
 * staged there (*tail), so that applying the stage copies nothing. The
 * first tail request of a stage may compact the pool; later ones only grow
 * it (the bytes staged at its tail must stay). */
static crm_status stage_out_slow(crm_fcap *f, fstage *st, size_t slot, size_t bound,
                                 uint8_t **out, bool *tail)
{
    crm_status s;
    if (st->ngrp == st->grpcap) {
        size_t c = st->grpcap * 2 + 16;
        if (c < st->hint / 64)
            c = st->hint / 64;
        if ((s = crm__realloc_array((void **)&st->grp, c, sizeof *st->grp, "fcap events")))
            return s;
        crm__advise_huge(st->grp, c * sizeof *st->grp);
        st->grpcap = c;
    }
    *tail = slot == SIZE_MAX || bound > FSLOT_CAP(f->slot[slot].pos);
    if (*tail) {
        size_t need = bound > SIZE_MAX / 2 ? bound : region_for(bound) + bound;
        /* (the first request may compact the pool: pool_room) */
        if ((s = st->pend ? pool_grow(f, st->pend + need) : pool_room(f, need)))
            return s;
        *out = f->pool + f->poollen + st->pend;
        return CRM_OK;
    }
    if (st->enclen + bound > st->enccap) {
        size_t c = (st->enclen + bound) * 2;
        if (c < st->hint) /* one allocation for the whole call (realloc copies) */
            c = st->hint;
        if ((s = crm__realloc_array((void **)&st->enc, c, 1, "fcap events")))
            return s;
        st->enccap = c;
    }
    *out = st->enc + st->enclen;
    return CRM_OK;
}

/* stage_out_slow with its usual case inline: room for the group, and in
 * the stage buffer or at the pool's tail. */
static inline __attribute__((always_inline)) crm_status
stage_out(crm_fcap *f, fstage *st, size_t slot, size_t bound, uint8_t **out, bool *tail)
{
    if (st->ngrp < st->grpcap && bound <= SIZE_MAX / 2) {
        if (slot != SIZE_MAX && bound <= FSLOT_CAP(f->slot[slot].pos)) {
            if (st->enclen + bound <= st->enccap) {
                *tail = false;
                *out = st->enc + st->enclen;
                return CRM_OK;
            }
        } else if (st->pend + region_for(bound) + bound <= f->poolcap - f->poollen &&
                   (st->pend || f->garbage <= f->poollen / 2)) { /* (else pool_room) */
            *tail = true;
            *out = f->pool + f->poollen + st->pend;
            return CRM_OK;
        }
    }
    return stage_out_slow(f, st, slot, bound, out, tail);
}

/* Record the blob of len bytes just encoded where stage_out said. */
static inline __attribute__((always_inline)) crm_status stage_push(const crm_fcap *f, fstage *st, uint64_t id, size_t slot, size_t len,
                             bool tail)
{
    if (len >= FSLOT_MAXCAP)
        return crm__fail(CRM_EOVERFLOW, "fcap: customer %llu has too many events",
                         (unsigned long long)id);
    fgroup *g = &st->grp[st->ngrp++];
    size_t cap = slot != SIZE_MAX ? FSLOT_CAP(f->slot[slot].pos) : 0;
    bool fits = slot != SIZE_MAX && len <= cap;
    *g = (fgroup){slot, id, tail ? f->poollen + st->pend : st->enclen, (uint32_t)len,
                  fits ? 0 : (uint32_t)region_for(len), tail};
    if (!fits) /* the replaced region (none for a new customer) */
        st->garbage += cap;
    if (slot == SIZE_MAX)
        st->newcust++;
    if (!tail) {
        st->enclen += len;
        st->need += g->region;
    } else if (fits) { /* copied into its region; its bytes here become garbage */
        st->pend += len;
        st->garbage += len;
    } else {
        st->pend += g->region;
    }
    return CRM_OK;
}

/* Copy n bytes from s to d in 16-byte pieces: reads up to 15 bytes past
 * s + n and writes up to 15 past d + n (the caller has them; d >= s + n). */
static inline void copy16(uint8_t *d, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
#ifdef __SSE2__
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        _mm_storeu_si128((__m128i *)(void *)(d + i), x);
#else
        uint64_t x, y;
        memcpy(&x, s + i, 8);
        memcpy(&y, s + i + 8, 8);
        memcpy(d + i, &x, 8);
        memcpy(d + i + 8, &y, 8);
#endif
    }
}

/* Stage customer id (at slot) as its stored block extended by add[0..k)
 * (canonical order, sorting after the stored events; tags sorted, unique):
 * the new block is written in one pass where stage_out says -- the old
 * header and hot parts, the new hot parts, the old cold parts, the new cold
 * parts, then the header is rewritten (moved in the rare case that its
 * length changes). co / eo: offsets of the stored block's cold part and end
 * from its start; pt / base: time of its last event, its first cand id. */
static inline __attribute__((always_inline)) crm_status stage_append(crm_fcap *f, fstage *st, uint64_t id, size_t slot, size_t co,
                               size_t eo, const fnew *add, size_t k, int64_t pt, uint64_t base)
{
    size_t ntags = 0;
    for (size_t i = 0; i < k; i++)
        ntags += add[i].ntags;
    uint8_t *out;
    bool tail;
    /* (+ 16: the pieces copy16 writes past the end) */
    crm_status s = stage_out(f, st, slot, eo + 16 + enc_bound(k, ntags), &out, &tail);
    if (s)
        return s;
    size_t off = FSLOT_OFF(f->slot[slot].pos); /* (the pool may have moved) */
    const uint8_t *b = f->pool + off, *q = b;
    skip_var(&q);
    skip_var(&q);
    size_t hd0 = (size_t)(q - b); /* the old header's length */
    /* (copy16 reads past the block's end: the pool has POOL_PAD bytes
     * beyond poollen) */
    copy16(out, b, co);
    uint8_t *h = out + co;
    for (size_t i = 0; i < k; i++) {
        h = hot_put(h, &add[i], pt);
        pt = add[i].t;
    }
    copy16(h, b + co, eo - co);
    uint8_t *c = h + (eo - co);
    for (size_t i = 0; i < k; i++)
        c = cold_put(c, &add[i], &base);
    size_t H = (size_t)(h - out) - hd0, body = (size_t)(c - out) - hd0;
    if (hd0 == 2 && H < 128 && body < 127) { /* short blocks: one byte each */
        out[0] = (uint8_t)(body + 1);
        out[1] = (uint8_t)H;
        return stage_push(f, st, id, slot, body + 2, tail);
    }
    size_t lh = var_size(H), L = lh + body, hd = var_size(L) + lh;
    if (hd != hd0) /* the header's length changed (a length passed 2^7k) */
        memmove(out + hd, out + hd0, body);
    crm__varint_put(out + crm__varint_put(out, L), H);
    return stage_push(f, st, id, slot, hd + body, tail);
}

crm_status fcap__stage_extend(crm_fcap *f, fstage *st, uint64_t id, size_t slot,
                              const fnew *add, size_t k, int64_t pt, uint64_t base)
{
    const uint8_t *p = f->pool + FSLOT_OFF(f->slot[slot].pos), *h, *c, *end;
    blob_parts(p, &h, &c, &end);
    return stage_append(f, st, id, slot, (size_t)(c - p), (size_t)(end - p), add, k, pt, base);
}

crm_status fcap__stage_sends(crm_fcap *f, fstage *st, uint64_t id, size_t slot, const fview *v,
                             const fnew *add, size_t k)
{
    const uint8_t *p = f->pool + FSLOT_OFF(f->slot[slot].pos);
    uint64_t base;
    if (v->hasc) {
        base = v->base;
    } else if ((v->b1[0] & 4) && (v->b1[0] & 0x78) != 0x78) {
        /* the first event has the block's first cand id, after its campaign
         * (the usual case: every event has one) */
        const uint8_t *c = v->cold;
        skip_var(&c);
        base = unzz(get_var_w(&c, v->end));
    } else {
        base = fcap__view_base(v);
    }
    size_t co = (size_t)(v->cold - p), eo = (size_t)(v->end - p);
    if (k == 1) /* the usual case, with the loops over the sends unrolled */
        return stage_append(f, st, id, slot, co, eo, add, 1, v->t[v->nstored - 1], base);
    return stage_append(f, st, id, slot, co, eo, add, k, v->t[v->nstored - 1], base);
}

crm_status fcap__stage_customer(crm_fcap *f, fstage *st, uint64_t id, size_t slot,
                                fnew *ev, size_t nold, size_t m)
{
    /* new events that sort after the stored ones (the usual case: sends and
     * fresh history come later in time) extend the stored blob: the old
     * body is copied and only they are encoded */
    bool app = slot != SIZE_MAX && nold > 0 && nold < m;
    for (size_t i = nold; app && i < m; i++)
        app = fcap__ev_cmp(&ev[i - 1], &ev[i]) <= 0;
    if (app) {
        uint64_t base = CRM_FCAP_NO_CAND;
        for (size_t i = 0; i < nold && base == CRM_FCAP_NO_CAND; i++)
            base = ev[i].cand;
        return fcap__stage_extend(f, st, id, slot, ev + nold, m - nold, ev[nold - 1].t, base);
    }
    ev_sort(ev, m);
    size_t ntags = 0;
    for (size_t i = 0; i < m; i++)
        ntags += ev[i].ntags;
    uint8_t *out;
    bool tail;
    crm_status s = stage_out(f, st, slot, enc_bound(m, ntags), &out, &tail);
    if (s)
        return s;
    return stage_push(f, st, id, slot, blob_encode(out, ev, m), tail);
}

/* The pages of the cand ids cand[0..n) (CRM_FCAP_NO_CAND: none) not in the
 * set, or more when a page's ids are not together: one probe per run of
 * ids in one page. */
static size_t pages_new(const crm_fcap *f, const uint64_t *cand, size_t n)
{
    size_t dp = 0;
    for (size_t i = 0; i < n; i++) {
        if (cand[i] == CRM_FCAP_NO_CAND || (i && cand[i] >> 6 == cand[i - 1] >> 6))
            continue;
        if (i + 8 < n && cand[i + 8] != CRM_FCAP_NO_CAND)
            crm__prefetch(&f->page[page_home(f->pcap, (cand[i + 8] >> 6) + 1)]);
        dp += !page_find(f, (cand[i] >> 6) + 1);
    }
    return dp;
}

crm_status fcap__stage_apply(crm_fcap *f, fstage *st, uint64_t *cand, size_t n,
                             crm__wbuf *log)
{
    /* the cand ids grouped by page, pages ascending (sends in random
     * customer order have them in random order): one probe of the page set
     * per page, to count the new pages (only when an upper bound would not
     * fit in the set as it is) and to add them */
    bool asc = true;
    size_t dp = 0; /* runs of ids in one page: at least the new pages */
    for (size_t i = 0; i < n; i++) {
        asc &= i == 0 || cand[i - 1] <= cand[i];
        dp += cand[i] != CRM_FCAP_NO_CAND && (i == 0 || (cand[i] ^ cand[i - 1]) >> 6);
    }
    crm_status s;
    if (!asc) { /* (page, cand id) pairs sorted by page (CRM_FCAP_NO_CAND last) */
        fcref *pp = NULL;
        if ((s = crm__alloc_array((void **)&pp, n, sizeof *pp, 0, "fcap events")))
            return s;
        for (size_t i = 0; i < n; i++)
            pp[i] = (fcref){cand[i] >> 6, cand[i]};
        if ((s = fcap__sort_pairs(pp, n))) {
            crm__free(pp);
            return s;
        }
        dp = 0;
        for (size_t i = 0; i < n; i++) {
            cand[i] = pp[i].pos;
            dp += cand[i] != CRM_FCAP_NO_CAND && (i == 0 || (cand[i] ^ cand[i - 1]) >> 6);
        }
        crm__free(pp);
    }
    if (f->npage + dp > f->pcap / 10 * 7)
        dp = pages_new(f, cand, n);
    /* capacity first (invisible), then the log, then the change */
    const fslot *table = f->slot;
    if ((s = table_reserve(f, st->newcust)))
        return s;
    if (f->slot != table) /* the table was rebuilt: slots moved */
        for (size_t i = 0; i < st->ngrp; i++)
            if (st->grp[i].slot != SIZE_MAX)
                st->grp[i].slot = fcap__find(f, st->grp[i].id);
    if ((s = st->pend ? pool_grow(f, st->pend + st->need + POOL_PAD)
                      : pool_room(f, st->need + POOL_PAD)) ||
        (s = fcap__pages_reserve(f, dp)))
        return s;
    if (log && (s = fcap__log_write(f, log)))
        return s;
    /* blobs staged at the pool's tail stay there; new regions for blobs in
     * the stage buffer follow them */
    size_t at = f->poollen + st->pend;
    for (size_t i = 0; i < st->ngrp; i++) {
        const fgroup *g = &st->grp[i];
        if (i + 16 < st->ngrp && st->grp[i + 16].slot != SIZE_MAX) /* (random slots) */
            __builtin_prefetch(&f->slot[st->grp[i + 16].slot], 1);
        uint64_t pos = (uint64_t)g->enc | (uint64_t)g->region << 40;
        if (!g->tail || !g->region) { /* its bytes are copied */
            const uint8_t *src = g->tail ? f->pool + g->enc : st->enc + g->enc;
            if (!g->region) {
                memcpy(f->pool + FSLOT_OFF(f->slot[g->slot].pos), src, g->len);
                continue;
            }
            memcpy(f->pool + at, src, g->len);
            pos = (uint64_t)at | (uint64_t)g->region << 40;
            at += g->region;
        }
        if (g->slot == SIZE_MAX) {
            slot_insert(f->slot, f->tcap, g->id, pos);
            f->ncust++;
        } else {
            f->slot[g->slot].pos = pos;
        }
    }
    f->poollen = at;
    f->garbage += st->garbage;
    pages_add_cands(f->page, f->pcap, &f->npage, f->prange, cand, sizeof *cand, n);
    f->nevents += n;
    f->seq++;
    return CRM_OK;
}

crm_status fcap__commit(crm_fcap *f, const fnew *v, size_t n, crm__wbuf *log)
{
    fcref *ord = NULL;
    uint64_t *cand = NULL;
    fscratch sc = {0};
    fstage st = {0};
    crm_status s = crm__alloc_array((void **)&ord, n + 1, sizeof *ord, 0, "fcap events");
    if (!s)
        s = crm__alloc_array((void **)&cand, n + 1, sizeof *cand, 0, "fcap events");
    if (s)
        goto out;
    bool sorted = true;
    for (size_t i = 0; i < n; i++) {
        ord[i] = (fcref){v[i].customer, i};
        cand[i] = v[i].cand;
        sorted &= i == 0 || v[i].customer >= v[i - 1].customer;
    }
    if (!sorted && (s = fcap__sort_pairs(ord, n)))
        goto out;
    for (size_t a = 0, b; a < n; a = b) {
        uint64_t id = ord[a].id;
        for (b = a + 1; b < n && ord[b].id == id; b++)
            ;
        if (a + 8 < n)
            crm__prefetch(&f->slot[fcap__home(f->tcap, ord[a + 8].id)]);
        size_t sl = fcap__find(f, id), L = 0, addtags = 0;
        if (sl != SIZE_MAX)
            (void)blob_len(f->pool + FSLOT_OFF(f->slot[sl].pos), &L);
        for (size_t i = a; i < b; i++)
            addtags += v[ord[i].pos].ntags;
        size_t k = b - a;
        if ((s = fcap__scratch_reserve(&sc, L / 4 + k + 1, L + addtags + 1, 0)))
            goto out;
        size_t m = sl != SIZE_MAX ? fcap__decode_slot(f, sl, &sc, NULL) : 0, m0 = m;
        uint32_t *tg = sc.tags + L;
        for (size_t i = a; i < b; i++) {
            fnew e = v[ord[i].pos];
            if (e.ntags)
                memcpy(tg, e.tags, e.ntags * sizeof *tg);
            e.ntags = fcap__sort_unique(tg, e.ntags);
            e.tags = tg;
            tg += e.ntags;
            sc.ev[m++] = e;
        }
        if ((s = fcap__stage_customer(f, &st, id, sl, sc.ev, m0, m)))
            goto out;
    }
    s = fcap__stage_apply(f, &st, cand, n, log);
out:
    crm__free(ord);
    crm__free(cand);
    fcap__scratch_free(&sc);
    fcap__stage_free(&st);
    return s;
}

/* ---- pruning ------------------------------------------------------------------------ */

/* Keep the events of sc.ev[0..m) with t > cut; returns the new count. */
static size_t keep_after(fnew *ev, size_t m, int64_t cut)
{
    size_t k = 0;
    for (size_t j = 0; j < m; j++)
        if (ev[j].t > cut)
            ev[k++] = ev[j];
    return k;
}

/* Add the cand ids of ev[0..m) to a page table (one probe per run of ids
 * in one page). */
static void pages_add_events(fpage *t, size_t cap, size_t *np, uint64_t range[2], const fnew *ev,
                             size_t m)
{
    if (m)
        pages_add_cands(t, cap, np, range, &ev[0].cand, sizeof *ev, m);
}

crm_status fcap__sort_pairs(fcref *v, size_t n)
{
    uint64_t vary = 0;
    for (size_t i = 1; i < n; i++)
        vary |= v[i].id ^ v[0].id;
    if (!vary)
        return CRM_OK;
    fcref *t = NULL;
    size_t *count = NULL;
    crm_status s = crm__alloc_array((void **)&t, n, sizeof *t, 0, "fcap sort");
    if (!s) {
        crm__advise_huge(t, n * sizeof *t);
        s = crm__alloc_array((void **)&count, 2048, sizeof *count, 0, "fcap sort");
    }
    if (s) {
        crm__free(t);
        return s;
    }
    /* LSD radix on the 11-bit digits where keys differ (ids usually span far
     * fewer than 64 bits: two passes for a million customers) */
    fcref *src = v, *dst = t;
    for (unsigned sh = 0; sh < 64 && (vary >> sh); sh += 11) {
        if (!((vary >> sh) & 2047))
            continue;
        memset(count, 0, 2048 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(src[i].id >> sh) & 2047]++;
        size_t sum = 0;
        for (size_t d = 0; d < 2048; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i].id >> sh) & 2047]++] = src[i];
        fcref *x = src;
        src = dst;
        dst = x;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
    crm__free(count);
    crm__free(t);
    return CRM_OK;
}

crm_status fcap__customers_by_id(const crm_fcap *f, fcref **out)
{
    fcref *v = NULL;
    crm_status s = crm__alloc_array((void **)&v, f->ncust + 1, sizeof *v, 0, "fcap customers");
    if (s)
        return s;
    size_t k = 0;
    for (size_t i = 0; i < f->tcap; i++)
        if (f->slot[i].id1)
            v[k++] = (fcref){f->slot[i].id1 - 1, f->slot[i].pos};
    if ((s = fcap__sort_pairs(v, k))) {
        crm__free(v);
        return s;
    }
    *out = v;
    return CRM_OK;
}

crm_status fcap__prune(crm_fcap *f, int64_t now, crm__wbuf *log)
{
    int64_t cut = now - f->horizon; /* events e <= cut can never matter again */
    fscratch sc = {0};
    fcref *ord = NULL;
    size_t live = 0, bytes = 0, maxL = 0;
    for (size_t i = 0; i < f->tcap; i++)
        if (f->slot[i].id1) {
            size_t L;
            (void)blob_len(f->pool + FSLOT_OFF(f->slot[i].pos), &L);
            if (L > maxL)
                maxL = L;
        }
    /* customers in id order: the rebuilt pool is then in the order snapshots
     * are written in */
    crm_status s = fcap__customers_by_id(f, &ord);
    if (!s)
        s = fcap__scratch_reserve(&sc, maxL / 4 + 1, maxL + 1, enc_bound(maxL / 4 + 1, maxL));
    if (s) {
        crm__free(ord);
        fcap__scratch_free(&sc);
        return s;
    }
    unsigned fl0 = 0;
    /* pass 1: sizes */
    for (size_t i = 0; i < f->ncust; i++) {
        size_t m = blob_decode(f->pool + FSLOT_OFF(ord[i].pos), sc.ev, sc.tags, &fl0);
        m = keep_after(sc.ev, m, cut);
        if (m) {
            live++;
            bytes += blob_encode(sc.enc, sc.ev, m);
        }
    }
    fslot *t = NULL;
    uint8_t *pool = NULL;
    fpage *pg = NULL;
    size_t tcap = table_size(live), pcap = 0, npage = 0;
    uint64_t prange[2] = {UINT64_MAX, 0};
    if ((s = alloc_table((void **)&t, tcap, sizeof *t, "fcap customers")) ||
        (s = crm__alloc_array((void **)&pool, bytes + 64, 1, 0, "fcap events")) ||
        (s = pages_make(&pg, &pcap, f->npage)) || (log && (s = fcap__log_write(f, log)))) {
        crm__free(t);
        crm__free(pool);
        crm__free(pg);
        crm__free(ord);
        fcap__scratch_free(&sc);
        return s;
    }
    /* pass 2: nothing fails below */
    size_t at = 0, nev = 0;
    for (size_t i = 0; i < f->ncust; i++) {
        size_t m = blob_decode(f->pool + FSLOT_OFF(ord[i].pos), sc.ev, sc.tags, &fl0);
        m = keep_after(sc.ev, m, cut);
        if (!m)
            continue;
        size_t len = blob_encode(sc.enc, sc.ev, m);
        memcpy(pool + at, sc.enc, len);
        slot_insert(t, tcap, ord[i].id, (uint64_t)at | (uint64_t)len << 40);
        at += len;
        nev += m;
        pages_add_events(pg, pcap, &npage, prange, sc.ev, m);
    }
    crm__free(ord);
    fcap__scratch_free(&sc);
    fcap__state_free(f);
    f->slot = t;
    f->tcap = tcap;
    f->ncust = live;
    f->pool = pool;
    f->poolcap = bytes + 64;
    f->poollen = at;
    f->garbage = 0;
    f->page = pg;
    f->pcap = pcap;
    f->npage = npage;
    f->prange[0] = prange[0];
    f->prange[1] = prange[1];
    f->nevents = nev;
    if (now > f->floor)
        f->floor = now;
    f->seq++;
    return CRM_OK;
}
