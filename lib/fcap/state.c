/* Compact customer store of the frequency-cap engine.
 *
 * Customers live in one open-addressing table of 16-byte slots (load <= 0.85,
 * 0.83 when rebuilt; ids in order where they can be: fhome in fcap_int.h);
 * each slot points at its customer's events in
 * a byte pool, encoded as one canonical blob:
 *
 *   blob  = varint L (>= 1), body of L bytes
 *   body  = varint X, [u16 t0 >> 22], the hot parts of the events,
 *           then their cold parts, each in canonical event order
 *           (fcap__ev_cmp); t0 = the first event's time
 *   X     = 2 n: n >= 1 fixed hot records (4 n bytes), t0 >> 22 follows
 *           (little-endian: < 2^16 as times are <= CRM_FCAP_T_MAX)
 *           2 H + 1: H >= 1 bytes of wide hot records (no t0 field)
 *   fixed = u32 little-endian: dt | flags << 22 | (channel | category << 6) << 24
 *           dt = t - t of the previous event (< 2^22), first: t0 & (2^22 - 1)
 *   wide  = varint dt (first: t), u8 channel | category << 6, u8 flags
 *   cold  = head: LEB128 of min(ntags, 3) | has_cand << 2 | campaign << 3
 *           (a 66-bit number: first byte, then varint campaign >> 4 when
 *           that is not 0)
 *           [varint ntags - 3]  when the head's count is 3
 *           [varint zigzag(cand - first cand of the block)]  when has_cand
 *                                   (the first: the cand id itself)
 *           tags ascending: varint first, then varint (tag - previous - 1)
 *   flags = FEV_COUNTS | FEV_SENT (bits 2-7 of a wide record's byte zero)
 *
 * A block takes the fixed form exactly when every time gap after its first
 * event is below 2^22 s (48.5 days), else the wide one, so each event list
 * has one encoding. The decide path reads the hot parts of a customer
 * (times, channels, categories, flags: all that most checks need): fixed
 * records sit at known offsets (no chain of varint lengths; vector loads)
 * and the cold parts are read only when a campaign or tag cap or a send
 * needs them.
 * Varints are LEB128 and minimal, so a blob is a canonical function of the
 * customer's events: snapshots copy blobs verbatim. With the example rules
 * and a week of history an event takes about 7.5 bytes.
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

/* A varint of up to 8 bytes at *pp from one little-endian 64-bit load,
 * when 8 bytes are readable before end (trusted input): true with *v and
 * *pp advanced, else false (nothing read). */
static inline bool var_load8(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint8_t *p = *pp;
    if (end - p < 8)
        return false;
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t stop = ~w & UINT64_C(0x8080808080808080);
    if (!stop)
        return false;
    *pp = p + (__builtin_ctzll(stop) >> 3) + 1;
    w &= (stop ^ (stop - 1)) & UINT64_C(0x7f7f7f7f7f7f7f7f);
    w = (w & UINT64_C(0x007f007f007f007f)) | (w & UINT64_C(0x7f007f007f007f00)) >> 1;
    w = (w & UINT64_C(0x00003fff00003fff)) | (w & UINT64_C(0x3fff00003fff0000)) >> 2;
    *v = (w & UINT64_C(0x000000000fffffff)) | (w & UINT64_C(0x0fffffff00000000)) >> 4;
    return true;
#else
    (void)pp, (void)end, (void)v;
    return false;
#endif
}

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
    if (end && var_load8(pp, end, &v))
        return v;
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
    uint64_t v;
    return var_load8(pp, end, &v) ? v : get_var_n(pp, end);
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
 * staging room blob_encode and stage_extend use, and the 7 bytes
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

/* ---- hot records ------------------------------------------------------------------ */

#define HOT_FIX 4u                /* bytes of a fixed hot record */
#define HOT_BITS 22               /* its time gap field */
#define HOT_DT ((int64_t)1 << HOT_BITS) /* fixed records hold time gaps below this */
#define HOT_START INT64_C(-1)     /* "previous time" of a block's first event */

/* Do the events ev[0..n) (ascending in time) after an event at time pt
 * (HOT_START: ev[0] is the block's first) fit fixed hot records? */
static inline bool hot_fits(const fnew *ev, size_t n, int64_t pt)
{
    for (size_t i = 0; i < n; i++) {
        if (pt != HOT_START && ev[i].t - pt >= HOT_DT)
            return false;
        pt = ev[i].t;
    }
    return true;
}

/* Write one hot record at h: time gap dt (fixed form: < 2^22; the first
 * event's low 22 time bits), meta (channel | category << 6), FEV_ flags;
 * returns its end. Every hot record is written here. */
static inline uint8_t *hot_put(uint8_t *h, uint64_t dt, unsigned meta, unsigned flags, bool wide)
{
    if (wide) {
        h += crm__varint_put(h, dt);
        h[0] = (uint8_t)meta;
        h[1] = (uint8_t)flags;
        return h + 2;
    }
    uint32_t w = (uint32_t)dt | (uint32_t)flags << HOT_BITS | (uint32_t)meta << 24;
    h[0] = (uint8_t)w;
    h[1] = (uint8_t)(w >> 8);
    h[2] = (uint8_t)(w >> 16);
    h[3] = (uint8_t)(w >> 24);
    return h + 4;
}

/* The hot part of event e after an event at time pt (HOT_START: e is the
 * block's first), written at h (room: 12 bytes); returns its end. Every hot
 * part of an event is written here: blocks built from events (body_encode)
 * and blocks extended by sends (stage_append). */
static inline uint8_t *hot_ev(uint8_t *h, const fnew *e, int64_t pt, bool wide)
{
    uint64_t dt = pt != HOT_START ? (uint64_t)(e->t - pt)
                  : wide          ? (uint64_t)e->t
                                  : (uint64_t)e->t & (HOT_DT - 1);
    return hot_put(h, dt, e->channel | (unsigned)e->cat << 6, e->flags, wide);
}

/* The cold part of event e written at o (room: 32 + 5 ntags bytes) in a
 * block whose first cand id is *base (CRM_FCAP_NO_CAND: none yet, e's
 * becomes it); returns its end. Its head: min(ntags, 3) | has_cand << 2 |
 * campaign << 3 as a LEB128 number (up to 66 bits: the first byte holds the
 * campaign's low 4 bits, a varint campaign >> 4 follows when that is not 0). */
static inline __attribute__((always_inline)) uint8_t *cold_put(uint8_t *o, const fnew *e,
                                                               uint64_t *base)
{
    uint32_t nt = e->ntags;
    unsigned hc = e->cand != CRM_FCAP_NO_CAND;
    uint64_t camp = e->campaign;
    unsigned hd = (nt < 3 ? nt : 3) | hc << 2 | (unsigned)(camp & 15) << 3;
    if (camp < 16) {
        *o++ = (uint8_t)hd;
    } else {
        *o++ = (uint8_t)(hd | 0x80);
        o += var_put8(o, camp >> 4);
    }
    if (nt >= 3)
        o += var_put8(o, nt - 3);
    if (hc) {
        uint64_t b = *base;
        o += var_put8(o, zz(b == CRM_FCAP_NO_CAND ? e->cand : e->cand - b));
        if (b == CRM_FCAP_NO_CAND)
            *base = e->cand;
    }
    for (uint32_t j = 0; j < nt; j++)
        o += var_put8(o, j ? (uint64_t)(e->tags[j] - e->tags[j - 1] - 1) : e->tags[0]);
    return o;
}

/* Encode sorted events (tags sorted, unique): their hot parts at *hot (fixed
 * or wide records) and cold parts at *cold (both advanced), continuing after
 * an event at time pt (HOT_START at the start of a block) in a block whose
 * first cand id is base (CRM_FCAP_NO_CAND: none yet). */
static void body_encode(uint8_t **hot, uint8_t **cold, const fnew *ev, size_t n, int64_t pt,
                        uint64_t base, bool wide)
{
    uint8_t *h = *hot, *o = *cold;
    for (size_t i = 0; i < n; i++) {
        h = hot_ev(h, &ev[i], pt, wide);
        pt = ev[i].t;
        o = cold_put(o, &ev[i], &base);
    }
    *hot = h;
    *cold = o;
}

/* Write the blob header at out: varint L, varint X (fixed form: 2 n; wide:
 * 2 hl + 1), in the fixed form u16 t0 >> 22 (t0: the first event's time);
 * hl / cl: bytes of the hot / cold parts. Its length. */
static size_t blob_header(uint8_t *out, bool wide, size_t n, int64_t t0, size_t hl, size_t cl)
{
    uint8_t hb[20];
    size_t k = crm__varint_put(hb, wide ? 2 * (uint64_t)hl + 1 : 2 * (uint64_t)n);
    if (!wide) {
        uint64_t th = (uint64_t)t0 >> HOT_BITS; /* < 2^16: times <= CRM_FCAP_T_MAX */
        hb[k] = (uint8_t)th;
        hb[k + 1] = (uint8_t)(th >> 8);
        k += 2;
    }
    size_t m = crm__varint_put(out, k + hl + cl);
    memcpy(out + m, hb, k);
    return m + k;
}

/* Encode sorted events (tags sorted, unique; n >= 1) as a blob at out
 * (room: enc_bound); its length. */
static size_t blob_encode(uint8_t *out, const fnew *ev, size_t n)
{
    bool wide = !hot_fits(ev, n, HOT_START);
    uint8_t *h0 = out + 20, *c0 = out + 20 + 12 * n, *h = h0, *c = c0;
    body_encode(&h, &c, ev, n, HOT_START, CRM_FCAP_NO_CAND, wide);
    size_t hl = (size_t)(h - h0), cl = (size_t)(c - c0);
    size_t k = blob_header(out, wide, n, ev[0].t, hl, cl);
    memmove(out + k, h0, hl);
    memmove(out + k + hl, c0, cl);
    return k + hl + cl;
}

/* The parts of a trusted blob. */
typedef struct bparts {
    const uint8_t *h, *c, *end; /* hot part [h, c), cold part [c, end) */
    size_t n;                   /* fixed form: number of events (wide: 0) */
    int64_t t0;                 /* fixed form: first time & ~(2^22 - 1) (wide: 0) */
    bool wide;
} bparts;

static inline __attribute__((always_inline)) void blob_parts(const uint8_t *p, bparts *b)
{
    size_t L, x;
    if (((p[0] | p[1]) & 0x80) == 0) { /* both one byte: blocks below 128 bytes */
        L = p[0];
        x = p[1];
        b->end = p + 1 + L;
        p += 2;
    } else {
        L = (size_t)get_var(&p);
        b->end = p + L;
        x = (size_t)get_var(&p);
    }
    b->wide = x & 1;
    b->n = b->wide ? 0 : x >> 1;
    b->t0 = 0;
    if (!b->wide) {
        b->t0 = (int64_t)((uint64_t)p[0] | (uint64_t)p[1] << 8) << HOT_BITS;
        p += 2;
    }
    b->h = p;
    b->c = p + (b->wide ? x >> 1 : HOT_FIX * (x >> 1));
}

/* Fixed hot record i of the hot part at h. */
static inline uint32_t hot_fix(const uint8_t *h, size_t i)
{
    const uint8_t *r = h + HOT_FIX * i;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t w;
    memcpy(&w, r, 4);
    return w;
#else
    return (uint32_t)r[0] | (uint32_t)r[1] << 8 | (uint32_t)r[2] << 16 | (uint32_t)r[3] << 24;
#endif
}

/* A walk over the hot records of a trusted blob (either form). */
typedef struct hcur {
    const uint8_t *h, *hend;
    size_t i, n;
    int64_t t; /* time of the event just read */
    bool wide;
} hcur;

static inline void hot_begin(hcur *k, const bparts *b)
{
    *k = (hcur){b->h, b->c, 0, b->n, b->t0, b->wide};
}

/* The next event: false at the end, else its time in k->t, its channel |
 * category << 6 in *meta, its FEV_ flags in *fl. */
static inline bool hot_next(hcur *k, unsigned *meta, unsigned *fl)
{
    if (k->wide) {
        if (k->h >= k->hend)
            return false;
        k->t += (int64_t)get_var_e(&k->h, k->hend);
        *meta = k->h[0];
        *fl = k->h[1];
        k->h += 2;
        return true;
    }
    if (k->i == k->n)
        return false;
    uint32_t w = hot_fix(k->h, k->i++);
    k->t += (int64_t)(w & (HOT_DT - 1));
    *meta = w >> 24;
    *fl = (w >> HOT_BITS) & 3;
    return true;
}

/* Read the head of an event's cold part (trusted): campaign, has-cand, tag
 * count (the varint of counts >= 3 included). */
static inline uint64_t cold_head(const uint8_t **cp, const uint8_t *end, unsigned *hc,
                                 uint32_t *nt)
{
    const uint8_t *c = *cp;
    unsigned b = *c++;
    uint64_t camp = (b >> 3) & 15;
    if (b & 0x80)
        camp |= get_var_e(&c, end) << 4;
    *hc = (b >> 2) & 1;
    *nt = b & 3;
    if (*nt == 3)
        *nt += (uint32_t)get_var_e(&c, end);
    *cp = c;
    return camp;
}

/* The cand id of an event whose cold part has one, read at *cp (trusted,
 * up to end): a zigzag delta from the block's first cand id *base, or that
 * first id itself (*base CRM_FCAP_NO_CAND: set here). */
static inline uint64_t cold_cand(const uint8_t **cp, const uint8_t *end, uint64_t *base)
{
    uint64_t d = unzz(get_var_e(cp, end));
    return *base == CRM_FCAP_NO_CAND ? (*base = d) : *base + d;
}

/* Decode a trusted blob; returns n and ORs the events' flags into *flags.
 * ev / tags need room for L/4 events and L tags (L = body length). */
static size_t blob_decode(const uint8_t *p, fnew *ev, uint32_t *tags, unsigned *flags)
{
    bparts bp;
    blob_parts(p, &bp);
    const uint8_t *c = bp.c, *end = bp.end;
    hcur k;
    hot_begin(&k, &bp);
    size_t n = 0;
    uint64_t base = CRM_FCAP_NO_CAND;
    unsigned fl = 0, meta, efl, hc;
    while (hot_next(&k, &meta, &efl)) {
        /* fields into locals first: stores through ev and tags may alias the
         * byte pointers, so interleaving them would serialise the reads */
        uint32_t nt;
        uint64_t camp = cold_head(&c, end, &hc, &nt), cand = CRM_FCAP_NO_CAND;
        if (hc)
            cand = cold_cand(&c, end, &base);
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
        fl |= efl;
        ev[n++] = (fnew){0, k.t, camp, cand, tg0, nt, (uint8_t)(meta & 63), (uint8_t)(meta >> 6),
                         (uint8_t)efl};
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

static inline void view_finish(fview *v, const bparts *b, size_t n, uint64_t cm, uint64_t sm)
{
    v->n = v->nstored = n;
    v->counted = cm;
    v->sent = sm;
    v->cold = b->c;
    v->end = b->end;
    v->hasc = false;
    v->wide = b->wide;
}

/* Any block, a record at a time (the wide form: rare, gaps >= 2^22 s). */
static bool view_decode_any(const uint8_t *p, fview *v, size_t max)
{
    bparts bp, *b = &bp;
    blob_parts(p, b);
    hcur k;
    hot_begin(&k, b);
    size_t n = 0;
    uint64_t cm = 0, sm = 0;
    unsigned meta, fl;
    while (hot_next(&k, &meta, &fl)) {
        if (n == max)
            return false;
        v->t[n] = k.t;
        v->meta[n] = (uint8_t)meta;
        v->b1[n] = (uint8_t)fl;
        cm |= (uint64_t)(fl & 1) << n;
        sm |= (uint64_t)(fl >> 1) << n;
        n++;
    }
    view_finish(v, b, n, cm, sm);
    return true;
}

/* The start of the fixed-record decoders: false when done (a wide block
 * decoded, or more than max events: *ok tells), else *b holds the parts of
 * a fixed block of at most max events. */
static inline __attribute__((always_inline)) bool view_fixed(const uint8_t *p, fview *v,
                                                             size_t max, bparts *b, bool *ok)
{
    blob_parts(p, b);
    if (b->wide) { /* (parsed again there: b stays in registers here) */
        *ok = view_decode_any(p, v, max);
        return false;
    }
    *ok = false;
    return b->n <= max;
}

/* Portable: fixed records by independent loads (no chain of varint
 * lengths), the counted / sent masks built in registers (reading the flag
 * bytes back with wide loads right after the byte stores would wait for
 * them: no store-to-load forwarding). */
static bool view_decode_plain(const uint8_t *p, fview *v, size_t max)
{
    bparts b;
    bool ok;
    if (!view_fixed(p, v, max, &b, &ok))
        return ok;
    size_t n = b.n;
    int64_t t = b.t0;
    uint64_t cm = 0, sm = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t w = hot_fix(b.h, i);
        t += (int64_t)(w & (HOT_DT - 1));
        v->t[i] = t;
        v->meta[i] = (uint8_t)(w >> 24);
        v->b1[i] = (uint8_t)((w >> HOT_BITS) & 3);
        cm |= (uint64_t)((w >> HOT_BITS) & 1) << i;
        sm |= (uint64_t)((w >> (HOT_BITS + 1)) & 1) << i;
    }
    view_finish(v, &b, n, cm, sm);
    return true;
}

#if defined(__x86_64__) && (defined(__GNUC__) && __GNUC__ >= 8 || defined(__clang__))
#define FCAP_X86 1
#include <immintrin.h>

enum { ISA_PLAIN, ISA_AVX2, ISA_AVX512 };

static int cpu_isa(void)
{
    static int cached = -1; /* benign race: every thread computes the same */
    if (cached < 0)
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl")
                     ? ISA_AVX512
                 : __builtin_cpu_supports("avx2") ? ISA_AVX2
                                                  : ISA_PLAIN;
    return cached;
}

/* AVX-512: 16 fixed records from one masked load; the masks from two bit
 * tests, meta and flag bytes by narrowing, the times by a 3-step prefix sum
 * of the gaps in 64-bit lanes (8 at a time). */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static bool
view_decode_avx512(const uint8_t *p, fview *v, size_t max)
{
    bparts b;
    bool ok;
    if (!view_fixed(p, v, max, &b, &ok))
        return ok;
    size_t n = b.n;
    const __m512i zero = _mm512_setzero_si512(), low = _mm512_set1_epi32((int)(HOT_DT - 1));
    const __m512i cbit = _mm512_set1_epi32(1 << HOT_BITS), sbit = _mm512_set1_epi32(2 << HOT_BITS);
    const __m512i last = _mm512_set1_epi64(7);
    __m512i carry = _mm512_set1_epi64(b.t0);
    uint64_t cm = 0, sm = 0;
    for (size_t i = 0; i < n; i += 16) {
        size_t r = n - i < 16 ? n - i : 16;
        __mmask16 k = (__mmask16)((1u << r) - 1);
        __m512i x = _mm512_maskz_loadu_epi32(k, b.h + HOT_FIX * i);
        cm |= (uint64_t)_mm512_test_epi32_mask(x, cbit) << i;
        sm |= (uint64_t)_mm512_test_epi32_mask(x, sbit) << i;
        /* i <= 48 (n <= 64): 16 bytes and 16 times of room */
        _mm_storeu_si128((__m128i *)(void *)&v->meta[i],
                         _mm512_cvtepi32_epi8(_mm512_srli_epi32(x, 24)));
        _mm_storeu_si128((__m128i *)(void *)&v->b1[i],
                         _mm_and_si128(_mm512_cvtepi32_epi8(_mm512_srli_epi32(x, HOT_BITS)),
                                       _mm_set1_epi8(3)));
        __m512i g = _mm512_and_si512(x, low);
        for (size_t h = 0; h < r; h += 8) {
            __m512i d = _mm512_cvtepu32_epi64(h ? _mm512_extracti64x4_epi64(g, 1)
                                                : _mm512_castsi512_si256(g));
            d = _mm512_add_epi64(d, _mm512_alignr_epi64(d, zero, 7));
            d = _mm512_add_epi64(d, _mm512_alignr_epi64(d, zero, 6));
            d = _mm512_add_epi64(d, _mm512_alignr_epi64(d, zero, 4));
            d = _mm512_add_epi64(d, carry);
            _mm512_storeu_si512(&v->t[i + h], d);
            carry = _mm512_permutexvar_epi64(last, d);
        }
    }
    view_finish(v, &b, n, cm, sm);
    return true;
}

/* Times from 4 gaps (32-bit lanes of g) after *carry: a 2-step prefix sum in
 * 64-bit lanes, stored at t; *carry becomes the last. */
__attribute__((target("avx2"))) static inline void avx2_times(__m128i g, __m256i *carry,
                                                              int64_t *t)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i d = _mm256_cvtepu32_epi64(g);
    d = _mm256_add_epi64(d, _mm256_blend_epi32(_mm256_permute4x64_epi64(d, 0x90), zero, 0x03));
    d = _mm256_add_epi64(d, _mm256_blend_epi32(_mm256_permute4x64_epi64(d, 0x40), zero, 0x0f));
    d = _mm256_add_epi64(d, *carry);
    _mm256_storeu_si256((__m256i *)(void *)t, d);
    *carry = _mm256_permute4x64_epi64(d, 0xff);
}

/* AVX2: 8 fixed records per masked load; the masks from the sign bits of
 * the flag bits shifted up, meta and flag bytes gathered by two shuffles. */
__attribute__((target("avx2"))) static bool view_decode_avx2(const uint8_t *p, fview *v,
                                                             size_t max)
{
    bparts b;
    bool ok;
    if (!view_fixed(p, v, max, &b, &ok))
        return ok;
    size_t n = b.n;
    const __m256i low = _mm256_set1_epi32((int)(HOT_DT - 1)), three = _mm256_set1_epi32(3);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    /* per 128-bit lane: meta bytes of its 4 records, then their flag bytes */
    const __m256i gather = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, -1, -1, -1, -1, -1, -1, -1,
                                            -1, 0, 4, 8, 12, 1, 5, 9, 13, -1, -1, -1, -1, -1, -1,
                                            -1, -1);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 3, 6, 7);
    __m256i carry = _mm256_set1_epi64x(b.t0);
    uint64_t cm = 0, sm = 0;
    for (size_t i = 0; i < n; i += 8) {
        int r = (int)(n - i < 8 ? n - i : 8);
        __m256i x = _mm256_maskload_epi32((const int *)(const void *)(b.h + HOT_FIX * i),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32(r), lane));
        cm |= (uint64_t)(unsigned)_mm256_movemask_ps(
                  _mm256_castsi256_ps(_mm256_slli_epi32(x, 31 - HOT_BITS)))
              << i;
        sm |= (uint64_t)(unsigned)_mm256_movemask_ps(
                  _mm256_castsi256_ps(_mm256_slli_epi32(x, 30 - HOT_BITS)))
              << i;
        __m256i mf = _mm256_or_si256(
            _mm256_srli_epi32(x, 24),
            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(x, HOT_BITS), three), 8));
        __m128i bytes = _mm256_castsi256_si128(
            _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(mf, gather), order));
        /* i <= 56 (n <= 64): 8 bytes and 8 times of room */
        _mm_storel_epi64((__m128i *)(void *)&v->meta[i], bytes);
        _mm_storeh_pd((double *)(void *)&v->b1[i], _mm_castsi128_pd(bytes));
        __m256i g = _mm256_and_si256(x, low);
        avx2_times(_mm256_castsi256_si128(g), &carry, &v->t[i]);
        if (r > 4)
            avx2_times(_mm256_extracti128_si256(g, 1), &carry, &v->t[i + 4]);
    }
    view_finish(v, &b, n, cm, sm);
    return true;
}
#endif

fcap__view_decode_fn fcap__view_decoder(void)
{
    /* CRM_FCAP_DECODER=portable or avx2 (read per call: the tests switch
     * it) selects a decoder below the best this CPU has */
    const char *e = getenv("CRM_FCAP_DECODER");
#ifdef FCAP_X86
    int isa = cpu_isa();
    if (e && !strcmp(e, "avx2") && isa >= ISA_AVX2)
        isa = ISA_AVX2;
    else if (e && !strcmp(e, "portable"))
        isa = ISA_PLAIN;
    return isa == ISA_AVX512 ? view_decode_avx512
           : isa == ISA_AVX2 ? view_decode_avx2
                             : view_decode_plain;
#else
    (void)e;
    return view_decode_plain;
#endif
}

/* The first cand id of v's stored events (CRM_FCAP_NO_CAND: none), without
 * decoding the cold columns. */
static uint64_t view_base(const fview *v)
{
    const uint8_t *c = v->cold, *end = v->end;
    for (size_t i = 0; i < v->nstored; i++) {
        unsigned hc;
        uint32_t nt;
        (void)cold_head(&c, end, &hc, &nt);
        if (hc) /* (the block's first cand id: absolute, a long varint) */
            return unzz(get_var_w(&c, end));
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
        unsigned hc;
        uint32_t nt;
        uint64_t camp = cold_head(&c, end, &hc, &nt);
        last = CRM_FCAP_NO_CAND;
        if (hc)
            last = cold_cand(&c, end, &base);
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
    const uint8_t *p = fcap__blob_ptr(f, pos);
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
    size_t n = blob_decode(fcap__blob_ptr(f, f->slot[i].pos), s->ev, s->tags, &fl);
    if (flags)
        *flags = fl;
    return n;
}

size_t fcap__blob_check(const crm_fcap *f, const uint8_t *p, size_t avail, fscratch *s,
                        size_t *nev, const char **why, size_t *at)
{
    size_t off = 0;
    uint64_t L;
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
    uint64_t X, H, th = 0;
    if (!get_var_chk(p, end, &off, &X) || X < 2)
        BAD("bad event block hot length");
    bool wide = X & 1;
    size_t ox = o0; /* the hot length's offset */
    if (!wide) { /* fixed records: their count, then the first time's high bits */
        o0 = off;
        if (end - off < 2 || (th = (uint64_t)p[off] | (uint64_t)p[off + 1] << 8) >
                                 (uint64_t)(CRM_FCAP_T_MAX >> HOT_BITS))
            BAD("bad event block first time");
        off += 2;
        o0 = ox;
        if ((X >> 1) > (end - off) / HOT_FIX)
            BAD("bad event block hot length");
        H = HOT_FIX * (X >> 1);
    } else if ((H = X >> 1) > end - off) {
        BAD("bad event block hot length");
    }
    if (fcap__scratch_reserve(s, (size_t)L / 4 + 1, (size_t)L, 0)) {
        *why = NULL;
        return 0;
    }
    /* hot parts at off..hend, cold parts at co..end */
    size_t hend = off + (size_t)H, co = hend;
    int64_t pt = (int64_t)(th << HOT_BITS);
    uint64_t base = CRM_FCAP_NO_CAND;
    uint32_t *tags = s->tags;
    size_t n = 0;
    bool gap = false; /* a gap >= 2^22 s: needs the wide form */
    for (size_t i = 0; off < hend; i++, n++) {
        fnew *e = &s->ev[i];
        uint64_t v;
        size_t ev0 = off;
        o0 = off;
        unsigned meta, fl;
        if (wide) {
            if (!get_var_chk(p, hend, &off, &v) || v > (uint64_t)(CRM_FCAP_T_MAX - pt))
                BAD("bad event time");
            gap |= i && v >= (uint64_t)HOT_DT;
            if (hend - off < 2)
                BAD("truncated event");
            meta = p[off];
            fl = p[off + 1];
            off += 2;
        } else { /* hend - off >= 4 */
            uint32_t w = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
                         (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
            off += 4;
            v = w & (HOT_DT - 1);
            if (v > (uint64_t)(CRM_FCAP_T_MAX - pt))
                BAD("bad event time");
            meta = w >> 24;
            fl = (w >> HOT_BITS) & 3;
        }
        pt += (int64_t)v;
        e->t = pt;
        e->channel = meta & 63;
        e->cat = (uint8_t)(meta >> 6);
        e->flags = fl & 3;
        if (e->channel >= f->r.n_channels || fl > 3)
            BAD("bad event channel or flags");
        o0 = co;
        if (co >= end)
            BAD("bad event campaign");
        unsigned hd = p[co++];
        e->campaign = (hd >> 3) & 15;
        if (hd & 0x80) {
            if (!get_var_chk(p, end, &co, &v) || !v || v > CRM_FCAP_ID_MAX >> 4)
                BAD("bad event campaign");
            e->campaign |= v << 4;
        }
        uint64_t nt = hd & 3;
        if (nt == 3) {
            o0 = co;
            if (!get_var_chk(p, end, &co, &v) || v > end - co)
                BAD("bad event tag count");
            nt += v;
        }
        o0 = co;
        if (hd & 4) {
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
    o0 = ox;
    if (wide && !gap)
        BAD("wide event block whose time gaps fit fixed records");
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
    return fcap__find_at(f, id, fcap__home(f, id));
}

/* Linear probing in the ring of slots lo .. hi - 1 of t from slot i: the
 * first slot holding id1, or the first empty one before it (id1 = 0: the
 * first empty one); *hit: it holds id1. */
static inline __attribute__((always_inline)) size_t probe(const fslot *t, size_t lo, size_t hi,
                                                          size_t i, uint64_t id1, bool *hit)
{
    uint64_t k;
    while ((k = t[i].id1) != id1 && k)
        if (++i == hi)
            i = lo;
    *hit = k == id1;
    return i;
}

size_t fcap__find_at(const crm_fcap *f, uint64_t id, size_t i)
{
    bool hit;
    if (i < f->tcap) { /* the ordered part, then the overflow part */
        i = probe(f->slot, 0, f->tcap, i, id + 1, &hit);
        if (hit)
            return i;
        i = fcap__ov_home(f, id);
    }
    if (!f->nov)
        return SIZE_MAX;
    i = probe(f->slot, f->tcap, f->tcap + f->ocap, i, id + 1, &hit);
    return hit ? i : SIZE_MAX;
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

/* Insert id into the ordered part (cap slots, home model h) of table t. */
static void slot_insert(fslot *t, size_t cap, const fhome *h, uint64_t id, uint64_t pos)
{
    size_t i = fcap__home_run(h, id);
    if (i == SIZE_MAX) /* (no model: every id) */
        i = fcap__hash_home(cap, id);
    bool hit;
    i = probe(t, 0, cap, i, 0, &hit);
    t[i].id1 = id + 1;
    t[i].pos = pos;
}

/* Insert id into the overflow part. */
static void ov_insert(crm_fcap *f, uint64_t id, uint64_t pos)
{
    bool hit;
    size_t i = probe(f->slot, f->tcap, f->tcap + f->ocap, fcap__ov_home(f, id), 0, &hit);
    f->slot[i].id1 = id + 1;
    f->slot[i].pos = pos;
    f->nov++;
}

/* Overflow slots of a table built for n customers. */
static size_t ov_size(size_t n)
{
    return n / 32 + 16;
}

static size_t table_size(size_t n)
{
    return n + n / 5 + 16; /* load 0.83 */
}

static void home_free(fhome *h)
{
    crm__free(h->st);
    *h = (fhome){.lo = UINT64_MAX};
}

/* Ids for home_build: n 64-bit words `stride` bytes apart from p, each an
 * id, or (slots) an id + 1 with 0 for none (fslot.id1). */
typedef struct idsrc {
    const void *p;
    size_t stride, n;
    bool slots;
} idsrc;

/* Calls `body` with `id` set to each id of the nsrc sources at src. */
#define FOR_IDS(src, nsrc, body) \
    for (size_t j_ = 0; j_ < (nsrc); j_++) \
        for (size_t i_ = 0; i_ < (src)[j_].n; i_++) { \
            uint64_t id = *(const uint64_t *)(const void *)((const char *)(src)[j_].p + \
                                                            i_ * (src)[j_].stride); \
            if ((src)[j_].slots && !id--) \
                continue; \
            body; \
        }

/* The home model (see fhome) of a table of cap >= n + 1 slots holding the
 * n ids of the sources src[0 .. nsrc) (any order). Without memory, or for
 * a table too large for 32-bit slot numbers, there is no model: every id
 * is then hashed (slower for sorted batches, nothing else changes). */
static void home_build(fhome *h, size_t cap, const idsrc *src, size_t nsrc, size_t n)
{
    __extension__ typedef unsigned __int128 u128;
    *h = (fhome){.lo = UINT64_MAX};
    if (n == 0 || cap > UINT32_MAX || cap <= n)
        return;
    uint64_t lo = UINT64_MAX, hi = 0;
    FOR_IDS(src, nsrc, {
        lo = id < lo ? id : lo;
        hi = id > hi ? id : hi;
    });
    /* about 4 customers per bucket */
    uint64_t span = hi - lo, target = n / 4 + 1;
    unsigned sh = 0;
    while ((span >> sh) >= target)
        sh++;
    size_t nb = (size_t)(span >> sh) + 1;
    uint32_t *st = crm__malloc((nb + 1) * sizeof *st); /* (nb <= n / 4 + 1) */
    if (!st)
        return;
    memset(st, 0, (nb + 1) * sizeof *st);
    FOR_IDS(src, nsrc, st[((id - lo) >> sh) + 1]++); /* st[b + 1] = customers in bucket b */
    /* st[b] = slots before bucket b's run: customers in buckets < b, times
     * (cap - 1) / n rounded down (a bucket of c >= 1 customers gets >= c
     * slots, as cap - 1 >= n) */
    u128 scale = ((u128)(cap - 1) << 32) / n;
    uint64_t before = 0;
    for (size_t b = 0; b <= nb; b++) {
        before += st[b];
        st[b] = (uint32_t)(((u128)before * scale) >> 32);
    }
    *h = (fhome){.lo = lo, .span = span, .mask = sh ? UINT64_MAX >> (64 - sh) : 0, .sh = sh,
                 .nb = nb, .st = st};
}

/* Rebuild the table for its customers and the n new ids at ids (stride
 * bytes apart; not inserted: the model counts them, their slots are taken
 * in the ordered part). */
static crm_status table_rebuild(crm_fcap *f, const void *ids, size_t stride, size_t n)
{
    size_t want = f->ncust + n, cap = table_size(want), ocap = ov_size(want);
    fslot *t = NULL;
    crm_status s = alloc_table((void **)&t, cap + ocap, sizeof *t, "fcap customers");
    if (s)
        return s;
    idsrc src[2] = {{f->slot, sizeof *f->slot, f->tcap + f->ocap, true}, {ids, stride, n, false}};
    fhome h;
    home_build(&h, cap, src, 2, want);
    for (size_t i = 0; i < f->tcap + f->ocap; i++)
        if (f->slot[i].id1)
            slot_insert(t, cap, &h, f->slot[i].id1 - 1, f->slot[i].pos);
    crm__free(f->slot);
    home_free(&f->hm);
    f->slot = t;
    f->tcap = cap;
    f->ocap = ocap;
    f->nov = 0;
    f->hm = h;
    f->tgen++;
    return CRM_OK;
}

/* Room for `more` customers in the overflow part (its slots rehashed into
 * a larger one; unchanged on failure). */
static crm_status ov_reserve(crm_fcap *f, size_t more)
{
    size_t want = f->nov + more;
    if (want <= f->ocap / 10 * 7)
        return CRM_OK;
    size_t ocap = want + want / 2 + 16; /* (<= 3 B per customer below 1/8) */
    fslot *old = NULL;
    crm_status s = crm__alloc_array((void **)&old, f->nov + 1, sizeof *old, 0,
                                    "fcap customers");
    if (!s)
        s = crm__realloc_array((void **)&f->slot, f->tcap + ocap, sizeof *f->slot,
                               "fcap customers");
    if (s) {
        crm__free(old);
        return s;
    }
    size_t k = 0;
    for (size_t i = f->tcap; i < f->tcap + f->ocap; i++)
        if (f->slot[i].id1)
            old[k++] = f->slot[i];
    memset(f->slot + f->tcap, 0, ocap * sizeof *f->slot);
    f->ocap = ocap;
    f->nov = 0;
    for (size_t i = 0; i < k; i++)
        ov_insert(f, old[i].id1 - 1, old[i].pos);
    crm__free(old);
    f->tgen++;
    return CRM_OK;
}

/* Room for the stage's new customers (the groups of slot SIZE_MAX): in
 * the overflow part while its customers stay within 1/8 of all (*ordered
 * = false), else the table is rebuilt with a model counting them and they
 * go to the ordered part (*ordered = true). Slots may move (f->tgen); the
 * state is unchanged; unchanged on failure. */
static crm_status table_room(crm_fcap *f, const fstage *st, bool *ordered)
{
    *ordered = false;
    if (!st->newcust)
        return CRM_OK;
    if ((f->nov + st->newcust) * 8 <= f->ncust + st->newcust)
        return ov_reserve(f, st->newcust);
    uint64_t *ids = NULL;
    crm_status s = crm__alloc_array((void **)&ids, st->newcust + 1, sizeof *ids, 0,
                                    "fcap customers");
    if (s)
        return s;
    size_t k = 0;
    for (size_t i = 0; i < st->ngrp; i++)
        if (st->grp[i].slot == SIZE_MAX)
            ids[k++] = st->grp[i].id;
    s = table_rebuild(f, ids, sizeof *ids, k);
    crm__free(ids);
    *ordered = !s;
    return s;
}

/* ---- cand-id pages --------------------------------------------------------------- */

static const fpage *page_find(const crm_fcap *f, uint64_t key1)
{
    for (size_t i = fcap__page_home(f->pcap, key1);;) {
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
    for (size_t i = fcap__page_home(cap, key1);;) {
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
            if (j + 8 < n) { /* random pages (sends in random customer order) */
                uint64_t ahead = *(const uint64_t *)(const void *)((const char *)c + 8 * stride);
                crm__prefetch(&t[fcap__page_home(cap, (ahead >> 6) + 1)]);
            }
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
    bparts bp;
    blob_parts(p, &bp);
    const uint8_t *c = bp.c;
    hcur k;
    hot_begin(&k, &bp);
    uint64_t base = CRM_FCAP_NO_CAND;
    unsigned meta, fl, hc;
    while (hot_next(&k, &meta, &fl)) {
        if (k.t > t)
            return false; /* events ascend in time */
        uint32_t nt;
        (void)cold_head(&c, bp.end, &hc, &nt);
        if (hc && cold_cand(&c, bp.end, &base) == cand)
            return true;
        for (uint32_t j = 0; j < nt; j++)
            skip_var(&c);
    }
    return false;
}

bool fcap__cand_sent(const crm_fcap *f, uint64_t cand, int64_t t)
{
    if (!fcap__cand_maybe(f, cand))
        return false;
    for (size_t i = 0; i < f->tcap + f->ocap; i++)
        if (f->slot[i].id1 && fcap__blob_has_cand(fcap__blob_ptr(f, f->slot[i].pos), cand, t))
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

/* Capacity for n bytes with room to grow: n + n / 4 + 64. */
static size_t grown(size_t n)
{
    return n + n / 4 + 64;
}

/* A pool block at least this large grows by an extension (fcap__pool_at)
 * rather than by a realloc that may move it (CRM_FCAP_POOL_EXT_MIN, read
 * per growth, sets another size: the tests use small pools). */
static size_t pool_ext_min(void)
{
    const char *e = getenv("CRM_FCAP_POOL_EXT_MIN");
    return e ? (size_t)strtoull(e, NULL, 10) : (size_t)4 << 20;
}

/* Pool bytes free from offset o (poollen + the bytes staged beyond it) to
 * the end of the part that holds o: the extension, else the pool block
 * (none below an extension: only a failed stage leaves one there unused,
 * and pool_room drops it). */
static size_t pool_free_at(const crm_fcap *f, size_t o)
{
    if (!f->ext)
        return f->poolcap - o;
    return o >= f->extbase ? f->extbase + f->extcap - o : 0;
}

static void pool_ext_free(crm_fcap *f)
{
    crm__free(f->ext);
    f->ext = NULL;
    f->extbase = SIZE_MAX;
    f->extcap = 0;
}

/* Room for `need` more pool bytes after poollen, of which the first `keep`
 * are already written (staged blobs), growing the pool: the extension, or
 * one is made beyond the kept bytes, or a small pool block is
 * reallocated. Blobs and whatever lies beyond poollen keep their offsets;
 * unchanged on failure. */
static crm_status pool_grow(crm_fcap *f, size_t need, size_t keep)
{
    size_t o = f->poollen + keep; /* the tail: bytes from here on are free */
    if (need - keep <= pool_free_at(f, o))
        return CRM_OK;
    if (need > SIZE_MAX / 4 - f->poollen)
        return crm__fail(CRM_EOVERFLOW, "fcap: event pool too large");
    size_t want = f->poollen + need;
    size_t cap = grown(want);
    if (cap >= (size_t)1 << 40)
        return crm__fail(CRM_EOVERFLOW, "fcap: event pool above 2^40 bytes");
    crm_status s;
    if (f->ext && o < f->extbase) /* (pool_room drops an unused one first) */
        return crm__fail(CRM_ESTATE, "fcap: event pool tail below its extension");
    if (f->ext) {
        size_t ec = grown(want - f->extbase);
        if (ec < 2 * f->extcap)
            ec = 2 * f->extcap;
        if ((s = crm__realloc_array((void **)&f->ext, ec, 1, "fcap events")))
            return s;
        crm__advise_huge(f->ext, ec);
        f->extcap = ec;
        return CRM_OK;
    }
    size_t base = o; /* (the pool block keeps POOL_PAD beyond it) */
    if (f->poolcap >= pool_ext_min() && f->poolcap - base >= POOL_PAD) {
        size_t ec = grown(need - keep);
        if (ec < f->poolcap / 2)
            ec = f->poolcap / 2;
        if ((s = crm__alloc_array((void **)&f->ext, ec, 1, 0, "fcap events")))
            return s;
        crm__advise_huge(f->ext, ec);
        f->extbase = base;
        f->extcap = ec;
        return CRM_OK;
    }
    size_t c2 = f->poolcap * 2 > cap ? f->poolcap * 2 : cap;
    if (c2 >= (size_t)1 << 40)
        c2 = cap;
    if ((s = crm__realloc_array((void **)&f->pool, c2, 1, "fcap events")))
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
    if (f->ext && f->poollen <= f->extbase) /* no blob in it (a stage failed) */
        pool_ext_free(f);
    if (need <= pool_free_at(f, f->poollen) && f->garbage <= f->poollen / 2)
        return CRM_OK;
    size_t live = f->poollen - f->garbage;
    if (need > SIZE_MAX / 4 - live)
        return crm__fail(CRM_EOVERFLOW, "fcap: event pool too large");
    size_t cap = grown(live + need);
    if (cap >= (size_t)1 << 40)
        return crm__fail(CRM_EOVERFLOW, "fcap: event pool above 2^40 bytes");
    if (f->garbage < f->poollen / 4) /* little to reclaim: grow in place */
        return pool_grow(f, need, 0);
    uint8_t *np;
    crm_status s = crm__alloc_array((void **)&np, cap, 1, 0, "fcap events");
    if (s)
        return s;
    size_t at = 0;
    for (size_t i = 0; i < f->tcap + f->ocap; i++) {
        fslot *sl = &f->slot[i];
        if (!sl->id1)
            continue;
        size_t rc = FSLOT_CAP(sl->pos);
        const uint8_t *b = fcap__blob_ptr(f, sl->pos);
        memcpy(np + at, b, blob_len(b, NULL));
        sl->pos = (uint64_t)at | (uint64_t)rc << 40;
        at += rc;
    }
    crm__free(f->pool);
    pool_ext_free(f);
    f->pool = np;
    f->poolcap = cap;
    f->poollen = at;
    f->garbage = 0;
    return CRM_OK;
}

void fcap__pool_trim(crm_fcap *f)
{
    if (!f->ext && f->poolcap > f->poollen + 64 &&
        !crm__realloc_array((void **)&f->pool, f->poollen + 64, 1, "fcap events"))
        f->poolcap = f->poollen + 64;
}

/* ---- engine state ------------------------------------------------------------------ */

crm_status fcap__state_init(crm_fcap *f)
{
    f->prange[0] = UINT64_MAX; /* no page */
    f->prange[1] = 0;
    f->tcap = 16;
    f->hm = (fhome){.lo = UINT64_MAX}; /* no model */
    f->ocap = f->nov = 0;
    f->pcap = 16;
    pool_ext_free(f); /* no pool extension (ext is NULL) */
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
    home_free(&f->hm);
    pool_ext_free(f);
    f->slot = NULL;
    f->pool = NULL;
    f->page = NULL;
}

size_t fcap__state_memory(const crm_fcap *f)
{
    size_t model = f->hm.st ? (f->hm.nb + 1) * sizeof *f->hm.st : 0;
    return (f->tcap + f->ocap) * sizeof(fslot) + model + f->poolcap + f->extcap +
           f->pcap * sizeof(fpage);
}

crm_status fcap__reserve_load(crm_fcap *f, size_t ncust, size_t bytes)
{
    fslot *t;
    size_t cap = table_size(ncust), ocap = ov_size(ncust);
    crm_status s = alloc_table((void **)&t, cap + ocap, sizeof *t, "fcap customers");
    if (s)
        return s;
    pool_ext_free(f); /* (a new engine has none) */
    if ((s = crm__realloc_array((void **)&f->pool, bytes + 64, 1, "fcap events"))) {
        crm__free(t);
        return s;
    }
    crm__free(f->slot);
    home_free(&f->hm); /* (fcap__index_loaded makes the new one) */
    f->slot = t;
    f->tcap = cap;
    f->ocap = ocap;
    f->nov = 0;
    f->tgen++;
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
    memcpy(fcap__pool_at(f, f->poollen), blob, len);
    f->poollen += len;
    f->nevents += nev;
    pages_add_events(f->page, f->pcap, &f->npage, f->prange, ev, nev);
    return CRM_OK;
}

void fcap__index_loaded(crm_fcap *f, const fcref *v, size_t n)
{
    home_free(&f->hm);
    idsrc src = {v, sizeof *v, n, false};
    home_build(&f->hm, f->tcap, &src, 1, n);
    for (size_t i = 0; i < n; i++) { /* (in id order: in slot order but for hashed ids) */
        if (i + 16 < n)
            crm__prefetch(&f->slot[fcap__home(f, v[i + 16].id)]);
        slot_insert(f->slot, f->tcap, &f->hm, v[i].id, v[i].pos);
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
        if ((s = st->pend ? pool_grow(f, st->pend + need, st->pend) : pool_room(f, need)))
            return s;
        *out = fcap__pool_at(f, f->poollen + st->pend);
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
        } else if (region_for(bound) + bound <= pool_free_at(f, f->poollen + st->pend) &&
                   (st->pend || f->garbage <= f->poollen / 2)) { /* (else pool_room) */
            *tail = true;
            *out = fcap__pool_at(f, f->poollen + st->pend);
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
 * (canonical order, sorting after the stored events; tags sorted, unique),
 * in the stored block's form (wide, or fixed when add fits it: hot_fits):
 * the new block is written in one pass where stage_out says -- the old
 * header and hot parts, the new hot parts, the old cold parts, the new cold
 * parts, then the header is rewritten (moved in the rare case that its
 * length changes). co / eo: offsets of the stored block's cold part and end
 * from its start; pt / base: time of its last event, its first cand id. */
static inline __attribute__((always_inline)) crm_status
stage_append(crm_fcap *f, fstage *st, uint64_t id, size_t slot, size_t co, size_t eo,
             const fnew *add, size_t k, int64_t pt, uint64_t base, bool wide)
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
    const uint8_t *b = fcap__pool_at(f, off), *q = b;
    skip_var(&q);
    uint64_t x0 = get_var(&q);
    size_t ex = wide ? 0 : 2; /* the fixed form's first-time bytes */
    size_t hd0 = (size_t)(q - b) + ex; /* the old header's length */
    /* (copy16 reads past the block's end: the pool has POOL_PAD bytes
     * beyond poollen) */
    copy16(out, b, co);
    uint8_t *h = out + co;
    for (size_t i = 0; i < k; i++) {
        h = hot_ev(h, &add[i], pt, wide);
        pt = add[i].t;
    }
    copy16(h, b + co, eo - co);
    uint8_t *c = h + (eo - co);
    for (size_t i = 0; i < k; i++)
        c = cold_put(c, &add[i], &base);
    size_t body = (size_t)(c - out) - hd0; /* hot and cold parts */
    uint64_t x = wide ? 2 * (uint64_t)((size_t)(h - out) - hd0) + 1 : x0 + 2 * k;
    if (hd0 == 2 + ex && x < 128 && 1 + ex + body < 128) { /* short blocks: one byte each */
        out[0] = (uint8_t)(1 + ex + body);
        out[1] = (uint8_t)x;
        return stage_push(f, st, id, slot, hd0 + body, tail);
    }
    size_t lx = var_size(x), L = lx + ex + body, hd = var_size(L) + lx + ex;
    uint8_t th[2] = {out[hd0 - 2], out[hd0 - 1]}; /* (fixed form) */
    if (hd != hd0) /* the header's length changed (a length passed 2^7k) */
        memmove(out + hd, out + hd0, body);
    size_t m = crm__varint_put(out, L);
    m += crm__varint_put(out + m, x);
    if (!wide)
        memcpy(out + m, th, 2);
    return stage_push(f, st, id, slot, hd + body, tail);
}

/* stage_append for a fixed block whose extension has a gap of 2^22 s or
 * more: the block is rewritten with wide records (rare: no prune, or
 * windows over 48 days). */
static crm_status stage_rewide(crm_fcap *f, fstage *st, uint64_t id, size_t slot,
                               const fnew *add, size_t k, int64_t pt, uint64_t base)
{
    size_t blen, ntags = 0;
    (void)fcap__blob_at(f, f->slot[slot].pos, &blen);
    for (size_t i = 0; i < k; i++)
        ntags += add[i].ntags;
    uint8_t *out;
    bool tail;
    /* (the stored records take up to 7/4 of their bytes when wide) */
    crm_status s = stage_out(f, st, slot, 3 * blen + 40 + enc_bound(k, ntags), &out, &tail);
    if (s)
        return s;
    bparts bp; /* (the pool may have moved) */
    blob_parts(fcap__blob_ptr(f, f->slot[slot].pos), &bp);
    size_t L = (size_t)(bp.end - bp.h), ohl = (size_t)(bp.c - bp.h), ocl = (size_t)(bp.end - bp.c);
    /* the hot parts (stored ones rewritten, then the new ones) and the new
     * cold parts are encoded past the final blob's end, then moved down:
     * header, hot, old cold, new cold */
    uint8_t *nh0 = out + L + 40, *nh = nh0, *nc0 = nh0 + 2 * ohl + 12 * k, *nc = nc0;
    hcur hk;
    hot_begin(&hk, &bp);
    int64_t t = 0;
    unsigned meta, fl;
    while (hot_next(&hk, &meta, &fl)) {
        nh = hot_put(nh, (uint64_t)(hk.t - t), meta, fl, true);
        t = hk.t;
    }
    body_encode(&nh, &nc, add, k, pt, base, true);
    size_t nhl = (size_t)(nh - nh0), ncl = (size_t)(nc - nc0);
    size_t hd = blob_header(out, true, 0, 0, nhl, ocl + ncl);
    memmove(out + hd, nh0, nhl);
    memcpy(out + hd + nhl, bp.c, ocl);
    memmove(out + hd + nhl + ocl, nc0, ncl);
    return stage_push(f, st, id, slot, hd + nhl + ocl + ncl, tail);
}

/* Stage customer id (at slot) as its stored block (cold part at offset co,
 * end at eo from its start; wide: its form) extended by add[0..k)
 * (canonical order, sorting after the stored events; tags sorted, unique);
 * pt / base: time of its last stored event and its first cand id
 * (CRM_FCAP_NO_CAND if none). A fixed block that add does not fit is
 * rewritten wide. The state is not changed (as fcap__stage_customer). */
static inline __attribute__((always_inline)) crm_status
stage_extend(crm_fcap *f, fstage *st, uint64_t id, size_t slot, size_t co, size_t eo, bool wide,
             const fnew *add, size_t k, int64_t pt, uint64_t base)
{
    if (!wide && !hot_fits(add, k, pt))
        return stage_rewide(f, st, id, slot, add, k, pt, base);
    if (k == 1 && !wide) /* the usual case: loops over the sends unrolled, fixed form */
        return stage_append(f, st, id, slot, co, eo, add, 1, pt, base, false);
    return stage_append(f, st, id, slot, co, eo, add, k, pt, base, wide);
}

crm_status fcap__stage_sends(crm_fcap *f, fstage *st, uint64_t id, size_t slot, const fview *v,
                             const fnew *add, size_t k)
{
    const uint8_t *p = fcap__blob_ptr(f, f->slot[slot].pos);
    return stage_extend(f, st, id, slot, (size_t)(v->cold - p), (size_t)(v->end - p), v->wide,
                        add, k, v->t[v->nstored - 1], v->hasc ? v->base : view_base(v));
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
        const uint8_t *p = fcap__blob_ptr(f, f->slot[slot].pos);
        bparts bp;
        blob_parts(p, &bp);
        return stage_extend(f, st, id, slot, (size_t)(bp.c - p), (size_t)(bp.end - p), bp.wide,
                            ev + nold, m - nold, ev[nold - 1].t, base);
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
            crm__prefetch(&f->page[fcap__page_home(f->pcap, (cand[i + 8] >> 6) + 1)]);
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
    uint64_t gen = f->tgen;
    bool ordered;
    if ((s = table_room(f, st, &ordered)))
        return s;
    if (f->tgen != gen) /* slots moved */
        for (size_t i = 0; i < st->ngrp; i++)
            if (st->grp[i].slot != SIZE_MAX)
                st->grp[i].slot = fcap__find(f, st->grp[i].id);
    if ((s = st->pend ? pool_grow(f, st->pend + st->need + POOL_PAD, st->pend)
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
            const uint8_t *src = g->tail ? fcap__pool_at(f, g->enc) : st->enc + g->enc;
            if (!g->region) {
                memcpy(fcap__blob_ptr(f, f->slot[g->slot].pos), src, g->len);
                continue;
            }
            memcpy(fcap__pool_at(f, at), src, g->len);
            pos = (uint64_t)at | (uint64_t)g->region << 40;
            at += g->region;
        }
        if (g->slot == SIZE_MAX) {
            if (ordered)
                slot_insert(f->slot, f->tcap, &f->hm, g->id, pos);
            else
                ov_insert(f, g->id, pos);
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
            crm__prefetch(&f->slot[fcap__home(f, ord[a + 8].id)]);
        size_t sl = fcap__find(f, id), L = 0, addtags = 0;
        if (sl != SIZE_MAX)
            (void)blob_len(fcap__blob_ptr(f, f->slot[sl].pos), &L);
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
    uint64_t prev1 = 0;
    bool sorted = true; /* (the table keeps ids in order where it can) */
    for (size_t i = 0; i < f->tcap + f->ocap; i++)
        if (f->slot[i].id1) {
            sorted &= f->slot[i].id1 > prev1;
            prev1 = f->slot[i].id1;
            v[k++] = (fcref){f->slot[i].id1 - 1, f->slot[i].pos};
        }
    if (!sorted && (s = fcap__sort_pairs(v, k))) {
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
    for (size_t i = 0; i < f->tcap + f->ocap; i++)
        if (f->slot[i].id1) {
            size_t L;
            (void)blob_len(fcap__blob_ptr(f, f->slot[i].pos), &L);
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
    /* pass 1: sizes; ord keeps the customers that stay */
    for (size_t i = 0; i < f->ncust; i++) {
        size_t m = blob_decode(fcap__blob_ptr(f, ord[i].pos), sc.ev, sc.tags, &fl0);
        m = keep_after(sc.ev, m, cut);
        if (m) {
            ord[live++] = ord[i];
            bytes += blob_encode(sc.enc, sc.ev, m);
        }
    }
    fslot *t = NULL;
    uint8_t *pool = NULL;
    fpage *pg = NULL;
    size_t tcap = table_size(live), ocap = ov_size(live), pcap = 0, npage = 0;
    uint64_t prange[2] = {UINT64_MAX, 0};
    fhome hm;
    idsrc src = {ord, sizeof *ord, live, false};
    home_build(&hm, tcap, &src, 1, live);
    if ((s = alloc_table((void **)&t, tcap + ocap, sizeof *t, "fcap customers")) ||
        (s = crm__alloc_array((void **)&pool, bytes + 64, 1, 0, "fcap events")) ||
        (s = pages_make(&pg, &pcap, f->npage)) || (log && (s = fcap__log_write(f, log)))) {
        crm__free(t);
        crm__free(pool);
        crm__free(pg);
        crm__free(ord);
        home_free(&hm);
        fcap__scratch_free(&sc);
        return s;
    }
    /* pass 2: nothing fails below */
    size_t at = 0, nev = 0;
    for (size_t i = 0; i < live; i++) {
        size_t m = blob_decode(fcap__blob_ptr(f, ord[i].pos), sc.ev, sc.tags, &fl0);
        m = keep_after(sc.ev, m, cut);
        size_t len = blob_encode(sc.enc, sc.ev, m);
        memcpy(pool + at, sc.enc, len);
        slot_insert(t, tcap, &hm, ord[i].id, (uint64_t)at | (uint64_t)len << 40);
        at += len;
        nev += m;
        pages_add_events(pg, pcap, &npage, prange, sc.ev, m);
    }
    crm__free(ord);
    fcap__scratch_free(&sc);
    fcap__state_free(f);
    f->slot = t;
    f->tcap = tcap;
    f->ocap = ocap;
    f->nov = 0;
    f->tgen++;
    f->hm = hm;
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
