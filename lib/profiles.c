/*
 * Per-customer profiles (specs/segmentation.md, "Input and profiles").
 *
 * Build: one pass over the caller's orders aggregates into 32-byte slots
 * (dense, in first-seen order, one cache line each) found through a tagged
 * hash index, with the index bucket and the slot of each order prefetched
 * well ahead. When a customer's rows arrive in time order (the usual POS
 * export), its distinct-day count, previous day, rows on the last day and
 * second order day are exact after that pass. A customer seen out of order
 * (or whose days do not fit the slot's 16-bit day offsets) is flagged.
 * Slots are then sorted by customer id in place (the index memory serves
 * as the sort's scratch); if any customer was
 * flagged, a second pass (through a temporary index over the sorted slots)
 * buckets the days of flagged customers only, sorts them and recomputes
 * those fields. Finally the slots are split into columns.
 *
 * Mergeable tables also keep each customer's distinct purchase days (CSR)
 * and the customers whose rows are all refunds, which is exactly what a
 * merge of two partial tables needs.
 */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "crm/profiles.h"
#include "profiles_impl.h"

static const size_t options_size[] = {
    0, CRM__SIZE_THROUGH(crm_profiles_options, mergeable),
};

static const size_t summary_size[] = {
    0, CRM__SIZE_THROUGH(crm_population_summary, repeaters),
};

CRM_API crm_status crm_profiles_options_init(crm_profiles_options *opt,
                                             unsigned version)
{
    crm_status s = crm__options_init(opt, version, NULL, options_size, CRM_PROFILES_OPTIONS_VERSION,
                                     "crm_profiles_options");
    if (s)
        return s;
    return CRM_OK;
}

/* ---- table allocation ---------------------------------------------------- */

CRM_API void crm_profiles_free(crm_profiles *p)
{
    if (!p)
        return;
    void *cols[] = { p->customer_id, p->first_day, p->last_day, p->recency_days,
                     p->tenure_days, p->prev_day, p->second_day, p->frequency,
                     p->purchase_days, p->last_day_orders, p->monetary, p->gap_avg,
                     p->day_off, p->days, p->ro_id, p->ro_money };
    for (size_t i = 0; i < CRM__ARRAY_LEN(cols); i++)
        crm__free(cols[i]);
    crm__free(p);
}

/* A table with every column allocated for n rows (values undefined). */
static crm_status table_new(crm_profiles **out, size_t n, int64_t asof)
{
    crm_profiles *p = crm__malloc(sizeof *p);
    if (!p)
        return crm__fail(CRM_ENOMEM, "profiles: cannot allocate the table");
    memset(p, 0, sizeof *p);
    p->asof = asof;
    p->n = n;
    struct { void **col; size_t size; } cols[] = {
        { (void **)&p->customer_id, 8 }, { (void **)&p->monetary, 8 },
        { (void **)&p->gap_avg, 8 },     { (void **)&p->first_day, 4 },
        { (void **)&p->last_day, 4 },    { (void **)&p->recency_days, 4 },
        { (void **)&p->tenure_days, 4 }, { (void **)&p->prev_day, 4 },
        { (void **)&p->second_day, 4 },  { (void **)&p->frequency, 4 },
        { (void **)&p->purchase_days, 4 }, { (void **)&p->last_day_orders, 4 },
    };
    for (size_t i = 0; i < CRM__ARRAY_LEN(cols); i++) {
        crm_status s = crm__alloc_array(cols[i].col, n, cols[i].size, 0, "profiles column");
        if (s) {
            crm_profiles_free(p);
            return s;
        }
    }
    *out = p;
    return CRM_OK;
}

/* Derived columns and population totals from the stored ones. */
static crm_status table_finish(crm_profiles *p)
{
    int64_t revenue = 0, lifetime = 0;
    uint64_t orders = 0, repeaters = 0;
    for (size_t r = 0; r < p->n; r++) {
        p->recency_days[r] = (int32_t)(p->asof - p->last_day[r]);
        p->tenure_days[r] = (int32_t)(p->asof - p->first_day[r]);
        uint32_t f = p->frequency[r];
        int32_t span = p->last_day[r] - p->first_day[r];
        p->gap_avg[r] = f >= 2 ? (double)span / (double)(f - 1) : NAN;
        if (__builtin_add_overflow(revenue, p->monetary[r], &revenue))
            return crm__fail(CRM_EOVERFLOW,
                             "profiles: total revenue overflows int64 at customer %llu",
                             (unsigned long long)p->customer_id[r]);
        orders += f;
        if (f >= 2) {
            repeaters++;
            lifetime += span;
        }
    }
    p->revenue = revenue;
    p->orders = orders;
    p->repeaters = repeaters;
    p->lifetime_sum = lifetime;
    return CRM_OK;
}

/* ---- build: per-customer state --------------------------------------------- */

/*
 * A customer is a 32-byte slot (two to a cache line: the array is aligned
 * to 64 bytes) in a dense array in insertion order, found through a tagged
 * hash index; afterwards the slots are sorted by id in place and split into
 * columns. Days are kept as 16-bit offsets from base = max(0, asof - 65535).
 * A customer whose rows this summary cannot follow (a row out of time
 * order, a day before base, more than ROWS_MAX rows on its last day) is
 * flagged REDO; pass 2 then rebuilds its day fields from its rows, back
 * into the slot (REDO cleared) or, if they still do not fit, into a side
 * array (REDO kept).
 */
#define DAY_SPAN 65535
#define PDAYS_MASK ((UINT32_C(1) << 17) - 1) /* distinct days: <= DAY_SPAN + 1 */
#define ROWS_SHIFT 17
#define ROWS_MAX ((UINT32_C(1) << 14) - 1)  /* rows on the last day */
#define REDO (UINT32_C(1) << 31)

typedef struct slot {
    uint64_t id;        /* key: first member (sorting) */
    int64_t monetary;
    uint32_t freq;
    uint32_t meta;      /* pdays | last_rows << ROWS_SHIFT | REDO */
    uint16_t first, second, last, prev; /* day - base; valid when freq (second: freq >= 2,
                                           prev: pdays >= 2) and not REDO */
} slot;

/* Day fields of a customer with orders, as the table stores them. */
typedef struct dayfields {
    int32_t first, second, last, prev; /* second, prev: -1 = none */
    uint32_t pdays, last_rows;
} dayfields;

/* Store exact fields f in s (f.first >= base, f.last_rows <= ROWS_MAX). */
static inline void slot_encode(slot *s, const dayfields *f, int32_t base)
{
    s->first = (uint16_t)(f->first - base);
    s->second = (uint16_t)(f->second - base); /* unused when -1 (freq < 2) */
    s->last = (uint16_t)(f->last - base);
    s->prev = (uint16_t)(f->prev - base);     /* unused when -1 (pdays < 2) */
    s->meta = f->pdays | f->last_rows << ROWS_SHIFT;
}

static inline dayfields slot_decode(const slot *s, int32_t base)
{
    uint32_t pdays = s->meta & PDAYS_MASK;
    return (dayfields){
        .first = base + s->first,
        .second = s->freq >= 2 ? base + s->second : -1,
        .last = base + s->last,
        .prev = pdays >= 2 ? base + s->prev : -1,
        .pdays = pdays,
        .last_rows = (s->meta >> ROWS_SHIFT) & ROWS_MAX,
    };
}

/*
 * Index of the slots: open addressing over 32-bit buckets holding
 * tag | (row + 1), 0 = empty. The low bits (log2 capacity of them) hold the
 * row (rows stay below capacity / 2), the bits above hold top bits of the
 * key's hash, so a probe past another customer's bucket almost never reads
 * that customer's slot, a cache miss nobody prefetched.
 */
typedef struct tagidx {
    uint32_t *bucket;
    size_t mask;      /* capacity - 1 */
    uint32_t rowmask; /* low bits of a bucket: row + 1 */
} tagidx;

typedef struct builder {
    const crm_order *orders;
    size_t n;
    int64_t asof;
    int32_t base;        /* day of slot day offset 0 */
    tagidx idx;
    void *raw;           /* the slot allocation; slots: its first 64-byte boundary */
    slot *slots;
    size_t cap, count;   /* slots allocated, customers */
    size_t redo;         /* customers flagged REDO */
} builder;

/* ---- build: the index ------------------------------------------------------ */

static inline uint32_t tag_of(uint64_t h, uint32_t rowmask)
{
    return (uint32_t)(h >> 32) & ~rowmask;
}

static crm_status tagidx_alloc(tagidx *m, size_t capacity)
{
    void *b;
    crm_status s = crm__alloc_array(&b, capacity, sizeof(uint32_t), 0, "hash index");
    if (s)
        return s;
    crm__advise_random(b, capacity * sizeof(uint32_t)); /* before the first touch */
    memset(b, 0, capacity * sizeof(uint32_t));
    m->bucket = b;
    m->mask = capacity - 1;
    m->rowmask = (uint64_t)capacity >= (UINT64_C(1) << 32) ? UINT32_MAX
                                                          : (uint32_t)(capacity - 1);
    return CRM_OK;
}

static void tagidx_free(tagidx *m)
{
    crm__free(m->bucket);
    m->bucket = NULL;
}

/* Bucket for row r of key hash h in m (r not yet in it). */
static void tagidx_put(tagidx *m, uint64_t h, size_t r)
{
    size_t i = (size_t)h & m->mask;
    while (m->bucket[i])
        i = (i + 1) & m->mask;
    m->bucket[i] = tag_of(h, m->rowmask) | (uint32_t)(r + 1);
}

/* Rebuild with twice the capacity from the keys of the first `count` slots. */
static crm_status tagidx_grow(tagidx *m, const slot *slots, size_t count)
{
    size_t capacity = (m->mask + 1) * 2;
    if (count >= UINT32_MAX - 1 || (uint64_t)capacity > (UINT64_C(1) << 33))
        return crm__fail(CRM_EOVERFLOW, "hash index: more than %u keys", UINT32_MAX - 2);
    tagidx g;
    crm_status s = tagidx_alloc(&g, capacity);
    if (s)
        return s;
    for (size_t r = 0; r < count; r++)
        tagidx_put(&g, crm__mix64(slots[r].id), r);
    tagidx_free(m);
    *m = g;
    return CRM_OK;
}

/* Row of key (hash h), or SIZE_MAX. */
static inline size_t tagidx_find(const tagidx *m, const slot *slots, uint64_t h, uint64_t key)
{
    uint32_t tag = tag_of(h, m->rowmask), tmask = ~m->rowmask;
    for (size_t i = (size_t)h & m->mask;; i = (i + 1) & m->mask) {
        uint32_t v = m->bucket[i];
        if (v == 0)
            return SIZE_MAX;
        if ((v & tmask) == tag && slots[(v & m->rowmask) - 1].id == key)
            return (v & m->rowmask) - 1;
    }
}

/* Row named by the first bucket on the probe path of hash h that is empty
 * or has its tag, + 1 (0: none). */
static inline uint32_t tagidx_candidate(const tagidx *m, uint64_t h)
{
    uint32_t tag = tag_of(h, m->rowmask), tmask = ~m->rowmask;
    for (size_t i = (size_t)h & m->mask;; i = (i + 1) & m->mask) {
        uint32_t v = m->bucket[i];
        if (v == 0 || (v & tmask) == tag)
            return v & m->rowmask;
    }
}

/* ---- build: pass 1 --------------------------------------------------------- */

static crm_status check_ts(const crm_order *o, size_t i)
{
    if (CRM__UNLIKELY(o->ts < 0 || o->ts > CRM_TS_MAX))
        return crm__fail(CRM_EDATA, "orders[%zu].ts = %lld is outside [0, %lld]", i,
                         (long long)o->ts, (long long)CRM_TS_MAX);
    return CRM_OK;
}

static inline void slot_flag(size_t *redo, slot *s)
{
    if (!(s->meta & REDO))
        (*redo)++;
    s->meta |= REDO;
}

/* Fold one non-refund row on day base + rel into a slot, assuming time
 * order per customer; anything else flags it for pass 2. */
static inline void slot_add_day(size_t *redo, slot *s, int64_t rel)
{
    uint32_t f = s->freq;
    s->freq = f + 1;
    if (s->meta & REDO)
        return;
    if (CRM__UNLIKELY(rel < 0)) { /* rel <= DAY_SPAN: days are <= asof */
        slot_flag(redo, s);
        return;
    }
    uint16_t d = (uint16_t)rel;
    if (f == 0) {
        s->first = d;
        s->last = d;
        s->meta = 1 | UINT32_C(1) << ROWS_SHIFT;
    } else if (d > s->last) {
        s->prev = s->last;
        s->last = d;
        s->meta = ((s->meta & PDAYS_MASK) + 1) | UINT32_C(1) << ROWS_SHIFT;
    } else if (d == s->last && ((s->meta >> ROWS_SHIFT) & ROWS_MAX) < ROWS_MAX) {
        s->meta += UINT32_C(1) << ROWS_SHIFT;
    } else {
        slot_flag(redo, s);
        return;
    }
    if (f == 1)
        s->second = d;
}

/* Room for `cap` slots on a 64-byte boundary (count of them kept). realloc
 * remaps a large block rather than copying it, so the old and new blocks
 * are never resident together (a copy would be, at ~2x the slots). */
static crm_status slots_reserve(builder *b, size_t cap)
{
    size_t off = b->raw ? (size_t)((char *)b->slots - (char *)b->raw) : 0;
    void *p = b->raw;
    crm_status st = crm__realloc_array(&p, cap + 2, sizeof(slot), "profiles slots");
    if (st)
        return st;
    char *at = (char *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
    if (at != (char *)p + off) /* moved to another alignment */
        memmove(at, (char *)p + off, b->count * sizeof(slot));
    crm__advise_random(p, (cap + 2) * sizeof(slot)); /* the pages not touched yet */
    b->raw = p;
    b->slots = (slot *)(void *)at;
    b->cap = cap;
    return CRM_OK;
}

/* Row of a new customer (key hash h), growing the slots and the index. */
static crm_status slot_new(builder *b, uint64_t h, uint64_t id, size_t *row)
{
    if (b->count == b->cap) {
        crm_status st = slots_reserve(b, b->cap * 2);
        if (st)
            return st;
    }
    if (b->count >= (b->idx.mask + 1) / 2) {
        crm_status st = tagidx_grow(&b->idx, b->slots, b->count);
        if (st)
            return st;
    }
    size_t r = b->count++;
    tagidx_put(&b->idx, h, r);
    b->slots[r] = (slot){ .id = id };
    *row = r;
    return CRM_OK;
}

/* Orders are visited through a ring of key hashes computed 2 * PREFETCH_D
 * orders ahead, when the key's bucket is prefetched; PREFETCH_D orders
 * ahead the slot its bucket names is prefetched. */
#define PREFETCH_D 16
#define RING 64 /* power of two > 2 * PREFETCH_D */
#define STREAM_AHEAD (2 * PREFETCH_D + 64) /* orders: 1.5 KiB past the hashing */

static inline uint64_t stage_hash(const crm_order *orders, uint64_t *ring, size_t i)
{
    uint64_t h = crm__mix64(orders[i].customer_id);
    ring[i % RING] = h;
    return h;
}

/* Hash and prefetch the first orders' buckets. */
static void pipeline_start(const tagidx *m, const crm_order *orders, size_t n, uint64_t *ring,
                           uint32_t *cand)
{
    for (size_t i = 0; i < n && i < 2 * PREFETCH_D; i++)
        crm__prefetch(&m->bucket[stage_hash(orders, ring, i) & m->mask]);
    memset(cand, 0, RING * sizeof *cand); /* the first PREFETCH_D orders: none */
}

/* Prefetch ahead of order i (at the top of its iteration); slots[0..count)
 * are the rows the index names. */
static inline void pipeline_step(const tagidx *m, const slot *slots, size_t count,
                                 const crm_order *orders, size_t n, uint64_t *ring,
                                 uint32_t *cand, size_t i)
{
    if (i + STREAM_AHEAD < n) /* the hardware does not keep up with this stream */
        crm__prefetch(&orders[i + STREAM_AHEAD]);
    if (i + 2 * PREFETCH_D < n)
        crm__prefetch(&m->bucket[stage_hash(orders, ring, i + 2 * PREFETCH_D) & m->mask]);
    if (i + PREFETCH_D < n) {
        uint32_t k = tagidx_candidate(m, ring[(i + PREFETCH_D) % RING]);
        if (k > count)
            k = 0;
        if (k)
            crm__prefetch(&slots[k - 1]);
        cand[(i + PREFETCH_D) % RING] = k;
    }
}

/* Row of order i's customer (key hash h): the candidate its prefetch found
 * when that slot holds the key (rows never move during a pass), else a
 * probe; SIZE_MAX when absent. */
static inline size_t pipeline_row(const tagidx *m, const slot *slots, const uint32_t *cand,
                                  size_t i, uint64_t h, uint64_t key)
{
    uint32_t k = cand[i % RING];
    if (k && slots[k - 1].id == key)
        return k - 1;
    return tagidx_find(m, slots, h, key);
}

/* Pass 1. The index, slot array and counters live in locals: stores to a
 * slot may alias the builder's size_t fields and would force reloads. */
static crm_status pass_one(builder *b)
{
    const crm_order *orders = b->orders;
    size_t n = b->n, count = b->count, redo = 0;
    int64_t asof = b->asof, base = b->base;
    tagidx idx = b->idx;
    slot *slots = b->slots;
    uint64_t ring[RING];
    uint32_t cand[RING];
    crm_status st = CRM_OK;
    pipeline_start(&idx, orders, n, ring, cand);
    for (size_t i = 0; i < n; i++) {
        pipeline_step(&idx, slots, count, orders, n, ring, cand, i);
        const crm_order *o = &orders[i];
        st = check_ts(o, i);
        if (st)
            break;
        int32_t day = (int32_t)((uint64_t)o->ts / CRM__SECONDS_PER_DAY); /* ts >= 0 */
        if (day > asof)
            continue;
        uint64_t h = ring[i % RING];
        size_t r = pipeline_row(&idx, slots, cand, i, h, o->customer_id);
        if (r == SIZE_MAX) {
            b->idx = idx;
            st = slot_new(b, h, o->customer_id, &r);
            idx = b->idx; /* moved when grown */
            slots = b->slots;
            count = b->count;
            if (st)
                break;
        }
        slot *s = &slots[r];
        if (CRM__UNLIKELY(__builtin_add_overflow(s->monetary, o->amount, &s->monetary))) {
            st = crm__fail(CRM_EOVERFLOW,
                           "orders[%zu]: monetary of customer %llu overflows int64", i,
                           (unsigned long long)o->customer_id);
            break;
        }
        if (o->amount < 0)
            continue;
        if (CRM__UNLIKELY(s->freq == UINT32_MAX)) {
            st = crm__fail(CRM_EOVERFLOW, "orders[%zu]: customer %llu has more than %u orders",
                           i, (unsigned long long)o->customer_id, UINT32_MAX);
            break;
        }
        slot_add_day(&redo, s, day - base);
    }
    b->redo = redo;
    return st;
}

/* Scratch bytes for the sort by id: buckets of ~1/256 of the slots of a
 * million customers finish by LSD passes inside the L2 cache. */
#define SORT_SCRATCH ((size_t)1 << 20)

/* ---- build: pass 2 (day lists) ------------------------------------------- */

/* Exact day fields of one customer from its day list (rows, with repeats);
 * then the list is sorted and reduced to its distinct days, front-packed. */
static dayfields fields_from_days(int32_t *days, size_t rows)
{
    dayfields e;
    crm__sort_i32(days, rows);
    e.last = days[rows - 1];
    e.last_rows = 0;
    for (size_t k = rows; k > 0 && days[k - 1] == e.last; k--)
        e.last_rows++;
    e.second = rows >= 2 ? days[1] : -1;
    size_t distinct = 0;
    for (size_t k = 0; k < rows; k++)
        if (distinct == 0 || days[distinct - 1] != days[k])
            days[distinct++] = days[k];
    e.first = days[0];
    e.pdays = (uint32_t)distinct;
    e.prev = distinct >= 2 ? days[distinct - 2] : -1;
    return e;
}

/* Customers whose day list pass 2 rebuilds. */
static inline bool needs_days(const slot *s, int all)
{
    return s->freq && (all || (s->meta & REDO));
}

/* Result of pass 2: the day fields that do not fit a slot (a day before
 * base, too many rows on the last day), in slot order, for the slots that
 * keep REDO; and (for mergeable tables) the distinct days of slot k at
 * days[start[k]]. */
typedef struct redone {
    dayfields *exact; /* room for every flagged customer; pages untouched unless used */
    size_t nexact;
    size_t *start;
    int32_t *days;
} redone;

static void redone_free(redone *r)
{
    crm__free(r->exact);
    crm__free(r->start);
    crm__free(r->days);
}

/*
 * Bucket the days of the customers that need them (all with orders when
 * `all`, else those flagged REDO) and compute their day fields. Runs on the
 * sorted slots, found through a temporary index (bucket, then slot, both
 * prefetched ahead).
 */
static crm_status pass_two(builder *b, int all, redone *out)
{
    size_t nslots = b->count, total = 0, nexact = 0, buckets = 1024;
    while (buckets < 2 * nslots)
        buckets <<= 1;
    tagidx idx;
    crm_status st = tagidx_alloc(&idx, buckets);
    if (st)
        return st;
    for (size_t r = 0; r < nslots; r++)
        tagidx_put(&idx, crm__mix64(b->slots[r].id), r);
    redone rd = { 0 };
    st = crm__alloc_array((void **)&rd.start, nslots, sizeof *rd.start, 0,
                          "profiles day offsets");
    if (st)
        goto done;
    for (size_t r = 0; r < nslots; r++) {
        rd.start[r] = total;
        if (needs_days(&b->slots[r], all)) {
            total += b->slots[r].freq;
            nexact++;
        }
    }
    st = crm__alloc_array((void **)&rd.days, total, sizeof *rd.days, 0, "profiles day lists");
    if (!st)
        st = crm__alloc_array((void **)&rd.exact, nexact, sizeof *rd.exact, 0,
                              "profiles day fields");
    if (st)
        goto done;
    /* start[r] runs ahead as a write cursor, then is rewound below. */
    uint64_t ring[RING];
    uint32_t cand[RING];
    pipeline_start(&idx, b->orders, b->n, ring, cand);
    for (size_t i = 0; i < b->n; i++) {
        pipeline_step(&idx, b->slots, nslots, b->orders, b->n, ring, cand, i);
        const crm_order *o = &b->orders[i];
        int64_t day = crm__day_of(o->ts);
        if (o->amount < 0 || day > b->asof)
            continue;
        size_t r = pipeline_row(&idx, b->slots, cand, i, ring[i % RING], o->customer_id);
        if (needs_days(&b->slots[r], all))
            rd.days[rd.start[r]++] = (int32_t)day;
    }
    for (size_t r = 0; r < nslots; r++) {
        slot *s = &b->slots[r];
        if (needs_days(s, all)) {
            rd.start[r] -= s->freq;
            dayfields f = fields_from_days(rd.days + rd.start[r], s->freq);
            if (f.first >= b->base && f.last_rows <= ROWS_MAX) {
                slot_encode(s, &f, b->base);
            } else {
                s->meta |= REDO;
                rd.exact[rd.nexact++] = f;
            }
        }
    }
done:
    tagidx_free(&idx);
    if (st) {
        redone_free(&rd);
        return st;
    }
    *out = rd;
    return CRM_OK;
}

/* ---- build: columns -------------------------------------------------------- */

/* Rows between two shrinks of the slot array while it is being emptied. */
#define SHRINK_STEP 16384

/*
 * Sorted slots -> columns, refund-only slots (freq == 0) skipped. Filled from
 * the last row down while the slot array is shrunk behind the cursor, so the
 * slots and the (not yet touched) column pages are never resident together:
 * the peak stays near max(slots, columns) instead of their sum.
 */
static void split_columns(crm_profiles *p, builder *b, size_t nslots, const redone *rd)
{
    size_t r = p->n, e = rd->nexact, live = nslots;
    for (size_t k = nslots; k-- > 0;) {
        const slot *s = &b->slots[k];
        if (s->freq) {
            r--;
            dayfields f = s->meta & REDO ? rd->exact[--e] : slot_decode(s, b->base);
            p->customer_id[r] = s->id;
            p->monetary[r] = s->monetary;
            p->frequency[r] = s->freq;
            p->first_day[r] = f.first;
            p->last_day[r] = f.last;
            p->purchase_days[r] = f.pdays;
            p->prev_day[r] = f.prev;
            p->last_day_orders[r] = f.last_rows;
            p->second_day[r] = f.second;
        }
        if (k % SHRINK_STEP == 0 && k > 0) {
            /* The pages of the slots done with go first (a heap block keeps
             * them resident through a shrink); shrinking cannot lose data,
             * and a failed shrink just keeps the block. */
            crm__advise_discard(&b->slots[k], (live - k) * sizeof(slot));
            live = k;
            size_t off = (size_t)((char *)b->slots - (char *)b->raw);
            void *smaller = crm__realloc(b->raw, off + k * sizeof(slot));
            if (smaller) {
                b->raw = smaller;
                b->slots = (slot *)(void *)((char *)smaller + off);
            }
        }
    }
}

/* Allocate the merge data of a table: day lists of `total` days and
 * `refund_only` refund-only customers. */
static crm_status merge_data_new(crm_profiles *p, size_t total, size_t refund_only)
{
    p->n_refund_only = refund_only;
    crm_status st = crm__alloc_array((void **)&p->day_off, p->n + 1, sizeof(size_t), 0,
                                     "profiles day offsets");
    if (!st)
        st = crm__alloc_array((void **)&p->days, total, sizeof(int32_t), 0,
                              "profiles day lists");
    if (!st)
        st = crm__alloc_array((void **)&p->ro_id, refund_only, sizeof(uint64_t), 0,
                              "profiles refund-only ids");
    if (!st)
        st = crm__alloc_array((void **)&p->ro_money, refund_only, sizeof(int64_t), 0,
                              "profiles refund-only sums");
    p->mergeable = 1;
    if (!st)
        p->day_off[0] = 0;
    return st;
}

/* Keep distinct-day lists (in table order) and refund-only customers; every
 * customer with orders has its distinct days in rd (pass 2 ran with `all`). */
static crm_status keep_merge_data(crm_profiles *p, builder *b, const redone *rd)
{
    size_t total = 0, nslots = b->count, e = 0;
    for (size_t k = 0; k < nslots; k++) {
        const slot *s = &b->slots[k];
        if (s->freq)
            total += s->meta & REDO ? rd->exact[e++].pdays : slot_decode(s, b->base).pdays;
    }
    crm_status st = merge_data_new(p, total, nslots - p->n);
    if (st)
        return st;
    size_t at = 0, row = 0, ro = 0;
    e = 0;
    for (size_t k = 0; k < nslots; k++) {
        const slot *s = &b->slots[k];
        if (s->freq == 0) {
            p->ro_id[ro] = s->id;
            p->ro_money[ro++] = s->monetary;
            continue;
        }
        size_t pdays = s->meta & REDO ? rd->exact[e++].pdays : slot_decode(s, b->base).pdays;
        memcpy(p->days + at, rd->days + rd->start[k], pdays * sizeof(int32_t));
        at += pdays;
        p->day_off[++row] = at;
    }
    return CRM_OK;
}

/*
 * 2 MiB pages for the columns of a large table: their first touch is most
 * of the split's cost, and one fault per 2 MiB beats 512. The split fills
 * nine columns (44 bytes per customer) from the last row down while the
 * slots shrink (32 bytes per customer); each column's current huge page
 * runs up to 2 MiB below the cursor, at most ~12.6 MiB beyond the rows
 * written plus the slots left (worst at 2^19 rows left). The three derived
 * columns (16 bytes per customer) are touched only afterwards, so when they
 * outweigh that, the peak stays the finished table.
 */
#define COLUMN_OVERSHOOT ((size_t)13 << 20)

static void advise_columns(crm_profiles *p)
{
    if (p->n < COLUMN_OVERSHOOT / 16)
        return;
    struct { void *col; size_t size; } cols[] = {
        { p->customer_id, 8 }, { p->monetary, 8 },   { p->gap_avg, 8 },
        { p->first_day, 4 },   { p->last_day, 4 },   { p->recency_days, 4 },
        { p->tenure_days, 4 }, { p->prev_day, 4 },   { p->second_day, 4 },
        { p->frequency, 4 },   { p->purchase_days, 4 }, { p->last_day_orders, 4 },
    };
    for (size_t i = 0; i < CRM__ARRAY_LEN(cols); i++)
        crm__advise_huge(cols[i].col, p->n * cols[i].size);
}

static crm_status assemble(crm_profiles **out, builder *b, size_t nslots, const redone *rd,
                           int mergeable)
{
    size_t kept = 0;
    for (size_t k = 0; k < nslots; k++)
        kept += b->slots[k].freq != 0;
    crm_profiles *p;
    crm_status st = table_new(&p, kept, b->asof);
    if (st)
        return st;
    advise_columns(p);
    if (mergeable) /* reads every slot: before split_columns empties them */
        st = keep_merge_data(p, b, rd);
    if (!st) {
        split_columns(p, b, nslots, rd);
        st = table_finish(p);
    }
    if (st) {
        crm_profiles_free(p);
        return st;
    }
    *out = p;
    return CRM_OK;
}

CRM_API crm_status crm_profiles_build(crm_profiles **out, const crm_order *orders,
                                      size_t n, int64_t asof,
                                      const crm_profiles_options *opt)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_profiles_build: out is NULL");
    *out = NULL;
    if (!orders && n)
        return crm__fail(CRM_EINVAL, "crm_profiles_build: orders is NULL and n = %zu", n);
    if (n > (size_t)PTRDIFF_MAX / sizeof(crm_order))
        return crm__fail(CRM_EOVERFLOW, "crm_profiles_build: n = %zu records overflow", n);
    if (asof < 0 || asof > CRM_DAY_MAX)
        return crm__fail(CRM_EINVAL, "crm_profiles_build: asof = %lld is outside [0, %lld]",
                         (long long)asof, (long long)CRM_DAY_MAX);
    crm_profiles_options o;
    crm_profiles_options_init(&o, CRM_PROFILES_OPTIONS_VERSION);
    crm_status st = crm__options_resolve(&o, opt, options_size, CRM_PROFILES_OPTIONS_VERSION,
                                         "crm_profiles_options");
    if (st)
        return st;

    builder b = { .orders = orders, .n = n, .asof = asof,
                  .base = asof > DAY_SPAN ? (int32_t)(asof - DAY_SPAN) : 0 };
    /* n / 4 buckets: load ~1/4 at 10 orders per customer. Fewer probes and
     * bucket lines shared by fewer customers beat a denser index (measured
     * 10 % faster than n / 8 at 1e7/1e6), and pass 1 (32 + 16 bytes per
     * customer) stays below the peak of the split into columns (~60). The
     * slots get room for as many customers as the index takes before it
     * grows: pages are touched only as customers arrive, all of them can
     * be 2 MiB pages, and the array moves (a transient second copy in the
     * peak) only when the index grows too. */
    size_t buckets = 1024;
    while (buckets < n / 4 && (uint64_t)buckets < (UINT64_C(1) << 32))
        buckets <<= 1;
    st = tagidx_alloc(&b.idx, buckets);
    if (!st)
        st = slots_reserve(&b, buckets / 2);
    if (!st)
        st = pass_one(&b);
    redone rd = { 0 };
    if (!st) {
        /* The index is done with: its first MiB is the sort's scratch. */
        size_t scratch = (b.idx.mask + 1) * sizeof(uint32_t);
        crm__sort_records_u64_scratch(b.slots, b.count, sizeof(slot), b.idx.bucket,
                                      scratch < SORT_SCRATCH ? scratch : SORT_SCRATCH);
    }
    tagidx_free(&b.idx);
    if (!st) {
        if (o.mergeable || b.redo)
            st = pass_two(&b, o.mergeable != 0, &rd);
        if (!st)
            st = assemble(out, &b, b.count, &rd, o.mergeable != 0);
    }
    redone_free(&rd);
    crm__free(b.raw);
    return st;
}

/* ---- merge ----------------------------------------------------------------- */

/* Sorted union of two ascending distinct-day lists; returns its length. */
static size_t union_days(const int32_t *a, size_t na, const int32_t *b, size_t nb,
                         int32_t *out)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        int32_t v;
        if (j == nb || (i < na && a[i] < b[j]))
            v = a[i++];
        else if (i == na || b[j] < a[i])
            v = b[j++];
        else {
            v = a[i++];
            j++;
        }
        out[k++] = v;
    }
    return k;
}

/* Day of the second row of the union: the second smallest of the two
 * smallest rows of each side (second = -1 means "no second row"). */
static int32_t union_second(int32_t a1, int32_t a2, int32_t b1, int32_t b2)
{
    int32_t v[4] = { a1, a2 < 0 ? INT32_MAX : a2, b1, b2 < 0 ? INT32_MAX : b2 };
    int32_t lo = INT32_MAX, second = INT32_MAX;
    for (int k = 0; k < 4; k++) {
        if (v[k] < lo) {
            second = lo;
            lo = v[k];
        } else if (v[k] < second) {
            second = v[k];
        }
    }
    return second;
}

typedef struct side {
    const crm_profiles *t;
    size_t row, ro;   /* cursors into profile rows and refund-only rows */
} side;

/* Refund-only money of customer id in s (advancing its cursor), or 0. */
static int64_t take_refund_only(side *s, uint64_t id)
{
    const crm_profiles *t = s->t;
    while (s->ro < t->n_refund_only && t->ro_id[s->ro] < id)
        s->ro++;
    if (s->ro < t->n_refund_only && t->ro_id[s->ro] == id)
        return t->ro_money[s->ro++];
    return 0;
}

/* Copy row r of table t into row w of p with its day list at days + *at. */
static void copy_row(crm_profiles *p, size_t w, const crm_profiles *t, size_t r, size_t *at)
{
    p->customer_id[w] = t->customer_id[r];
    p->monetary[w] = t->monetary[r];
    p->first_day[w] = t->first_day[r];
    p->last_day[w] = t->last_day[r];
    p->frequency[w] = t->frequency[r];
    p->purchase_days[w] = t->purchase_days[r];
    p->prev_day[w] = t->prev_day[r];
    p->last_day_orders[w] = t->last_day_orders[r];
    p->second_day[w] = t->second_day[r];
    size_t len = t->day_off[r + 1] - t->day_off[r];
    memcpy(p->days + *at, t->days + t->day_off[r], len * sizeof(int32_t));
    *at += len;
}

/* Row w of p = union of row ra of a and row rb of b (same customer). */
static crm_status combine_rows(crm_profiles *p, size_t w, const crm_profiles *a, size_t ra,
                               const crm_profiles *b, size_t rb, size_t *at)
{
    uint64_t id = a->customer_id[ra];
    p->customer_id[w] = id;
    if (__builtin_add_overflow(a->monetary[ra], b->monetary[rb], &p->monetary[w]))
        return crm__fail(CRM_EOVERFLOW, "merge: monetary of customer %llu overflows int64",
                         (unsigned long long)id);
    if (__builtin_add_overflow(a->frequency[ra], b->frequency[rb], &p->frequency[w]))
        return crm__fail(CRM_EOVERFLOW, "merge: customer %llu has more than %u orders",
                         (unsigned long long)id, UINT32_MAX);
    int32_t *d = p->days + *at;
    size_t len = union_days(a->days + a->day_off[ra], a->day_off[ra + 1] - a->day_off[ra],
                            b->days + b->day_off[rb], b->day_off[rb + 1] - b->day_off[rb], d);
    *at += len;
    p->first_day[w] = d[0];
    p->last_day[w] = d[len - 1];
    p->purchase_days[w] = (uint32_t)len;
    p->prev_day[w] = len >= 2 ? d[len - 2] : -1;
    uint32_t rows = 0;
    if (a->last_day[ra] == d[len - 1])
        rows += a->last_day_orders[ra];
    if (b->last_day[rb] == d[len - 1])
        rows += b->last_day_orders[rb];
    p->last_day_orders[w] = rows;
    p->second_day[w] = union_second(a->first_day[ra], a->second_day[ra], b->first_day[rb],
                                    b->second_day[rb]);
    return CRM_OK;
}

/* Refund-only customers of the union: those refund-only in one side and
 * absent from the other side's profiles (money summed when in both). */
static crm_status merge_refund_only(crm_profiles *p, const crm_profiles *a,
                                    const crm_profiles *b)
{
    size_t i = 0, j = 0, k = 0, ra = 0, rb = 0;
    while (i < a->n_refund_only || j < b->n_refund_only) {
        uint64_t id;
        int64_t money = 0;
        if (j == b->n_refund_only || (i < a->n_refund_only && a->ro_id[i] < b->ro_id[j])) {
            id = a->ro_id[i];
            money = a->ro_money[i++];
        } else if (i == a->n_refund_only || b->ro_id[j] < a->ro_id[i]) {
            id = b->ro_id[j];
            money = b->ro_money[j++];
        } else {
            id = a->ro_id[i];
            if (__builtin_add_overflow(a->ro_money[i], b->ro_money[j], &money))
                return crm__fail(CRM_EOVERFLOW,
                                 "merge: monetary of customer %llu overflows int64",
                                 (unsigned long long)id);
            i++;
            j++;
        }
        /* Skip ids that have a profile on either side: folded into that row. */
        while (ra < a->n && a->customer_id[ra] < id)
            ra++;
        while (rb < b->n && b->customer_id[rb] < id)
            rb++;
        if ((ra < a->n && a->customer_id[ra] == id) || (rb < b->n && b->customer_id[rb] == id))
            continue;
        p->ro_id[k] = id;
        p->ro_money[k++] = money;
    }
    p->n_refund_only = k;
    return CRM_OK;
}

static size_t union_count(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        if (j == nb || (i < na && a[i] < b[j]))
            i++;
        else if (i == na || b[j] < a[i])
            j++;
        else {
            i++;
            j++;
        }
        k++;
    }
    return k;
}

static crm_status merge_rows(crm_profiles *p, const crm_profiles *a, const crm_profiles *b)
{
    side sa = { a, 0, 0 }, sb = { b, 0, 0 };
    size_t at = 0;
    for (size_t w = 0; w < p->n; w++) {
        int from_a = sb.row == b->n ||
                     (sa.row < a->n && a->customer_id[sa.row] <= b->customer_id[sb.row]);
        int from_b = sa.row == a->n ||
                     (sb.row < b->n && b->customer_id[sb.row] <= a->customer_id[sa.row]);
        crm_status st = CRM_OK;
        if (from_a && from_b)
            st = combine_rows(p, w, a, sa.row++, b, sb.row++, &at);
        else if (from_a)
            copy_row(p, w, a, sa.row++, &at);
        else
            copy_row(p, w, b, sb.row++, &at);
        if (st)
            return st;
        /* Money of the customer's refund-only rows on the other side. */
        int64_t extra = take_refund_only(&sa, p->customer_id[w]) +
                        take_refund_only(&sb, p->customer_id[w]);
        if (__builtin_add_overflow(p->monetary[w], extra, &p->monetary[w]))
            return crm__fail(CRM_EOVERFLOW, "merge: monetary of customer %llu overflows int64",
                             (unsigned long long)p->customer_id[w]);
        p->day_off[w + 1] = at;
    }
    return CRM_OK;
}

CRM_API crm_status crm_profiles_merge(crm_profiles **out, const crm_profiles *a,
                                      const crm_profiles *b)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_profiles_merge: out is NULL");
    *out = NULL;
    if (!a || !b)
        return crm__fail(CRM_EINVAL, "crm_profiles_merge: table %s is NULL", a ? "b" : "a");
    if (!a->mergeable || !b->mergeable)
        return crm__fail(CRM_EINVAL,
                         "crm_profiles_merge: table %s was built without options.mergeable",
                         a->mergeable ? "b" : "a");
    if (a->asof != b->asof)
        return crm__fail(CRM_EINVAL, "crm_profiles_merge: asof differs (%lld vs %lld)",
                         (long long)a->asof, (long long)b->asof);
    size_t n = union_count(a->customer_id, a->n, b->customer_id, b->n);
    size_t days = a->day_off[a->n] + b->day_off[b->n];
    crm_profiles *p;
    crm_status st = table_new(&p, n, a->asof);
    if (st)
        return st;
    st = merge_data_new(p, days, a->n_refund_only + b->n_refund_only);
    if (!st)
        st = merge_rows(p, a, b);
    if (!st)
        st = merge_refund_only(p, a, b);
    if (!st)
        st = table_finish(p);
    if (st) {
        crm_profiles_free(p);
        return st;
    }
    *out = p;
    return CRM_OK;
}

/* ---- accessors ------------------------------------------------------------- */

CRM_API size_t crm_profiles_count(const crm_profiles *p)
{
    return p ? p->n : 0;
}

CRM_API int64_t crm_profiles_asof(const crm_profiles *p)
{
    return p ? p->asof : -1;
}

CRM_API int crm_profiles_is_mergeable(const crm_profiles *p)
{
    return p ? p->mergeable : 0;
}

#define CRM__COLUMN(type, name) \
    CRM_API const type *crm_profiles_##name(const crm_profiles *p) \
    { \
        return p ? p->name : NULL; \
    }

CRM__COLUMN(uint64_t, customer_id)
CRM__COLUMN(int32_t, first_day)
CRM__COLUMN(int32_t, last_day)
CRM__COLUMN(int32_t, recency_days)
CRM__COLUMN(uint32_t, frequency)
CRM__COLUMN(int64_t, monetary)
CRM__COLUMN(int32_t, tenure_days)
CRM__COLUMN(double, gap_avg)
CRM__COLUMN(uint32_t, purchase_days)
CRM__COLUMN(int32_t, prev_day)
CRM__COLUMN(uint32_t, last_day_orders)
CRM__COLUMN(int32_t, second_day)

/* num / den, or null (NaN, bit clear) when den == 0. */
static double ratio(double num, double den, uint32_t bit, uint32_t *valid)
{
    if (den == 0)
        return NAN;
    *valid |= bit;
    return num / den;
}

CRM_API crm_status crm_profiles_summary(const crm_profiles *p, crm_population_summary *out)
{
    if (!p || !out)
        return crm__fail(CRM_EINVAL, "crm_profiles_summary: %s is NULL", p ? "out" : "p");
    crm_population_summary s = { .version = CRM_POPULATION_SUMMARY_VERSION };
    s.customers = p->n;
    s.orders = p->orders;
    s.revenue = p->revenue;
    s.repeaters = p->repeaters;
    s.arpu = ratio((double)p->revenue, (double)p->n, CRM_SUMMARY_HAS_ARPU, &s.valid);
    s.mean_frequency = ratio((double)p->orders, (double)p->n,
                             CRM_SUMMARY_HAS_MEAN_FREQUENCY, &s.valid);
    s.average_check = ratio((double)p->revenue, (double)p->orders,
                            CRM_SUMMARY_HAS_AVERAGE_CHECK, &s.valid);
    s.mean_lifetime = ratio((double)p->lifetime_sum, (double)p->repeaters,
                            CRM_SUMMARY_HAS_MEAN_LIFETIME, &s.valid);
    return crm__versioned_out(out, &s, summary_size, CRM_POPULATION_SUMMARY_VERSION,
                              "crm_population_summary");
}

CRM_API crm_status crm_profiles_find(const crm_profiles *p, uint64_t customer_id, size_t *row)
{
    if (!p || !row)
        return crm__fail(CRM_EINVAL, "crm_profiles_find: %s is NULL", p ? "row" : "p");
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->customer_id[mid] < customer_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->n || p->customer_id[lo] != customer_id)
        return crm__fail(CRM_EINVAL, "crm_profiles_find: no customer %llu",
                         (unsigned long long)customer_id);
    *row = lo;
    return CRM_OK;
}

/* ---- internal entry points (profiles_impl.h) ------------------------------ */

crm_status crm__profiles_table_new(crm_profiles **out, size_t n, int64_t asof)
{
    return table_new(out, n, asof);
}

crm_status crm__profiles_merge_data_new(crm_profiles *p, size_t days, size_t refund_only)
{
    return merge_data_new(p, days, refund_only);
}

crm_status crm__profiles_table_finish(crm_profiles *p)
{
    return table_finish(p);
}
