/*
 * Scores straight from orders: RFM needs only last purchase day, frequency
 * and monetary per customer, so this path aggregates into a slim 24-byte
 * open-addressing table (one random access per order, prefetched a few
 * orders ahead) instead of building a full profile table. Same semantics
 * as crm_profiles_build() + crm_rfm_score() (specs/segmentation.md, "Input
 * and profiles"); tests check the two agree.
 */
#include "rfm/rfm_internal.h"

#define EMPTY INT32_MIN /* `last` of an unused entry */
#define AHEAD 16

typedef crm__rfm_entry entry; /* last: EMPTY marks an unused slot */

typedef struct table {
    entry *e;
    size_t mask, count;
} table;

static crm_status table_init(table *t, size_t cap)
{
    crm_status st = crm__alloc_array((void **)&t->e, cap, sizeof *t->e, 0, "rfm order table");
    if (st)
        return st;
    crm__advise_random(t->e, cap * sizeof *t->e);
    for (size_t i = 0; i < cap; i++)
        t->e[i].last = EMPTY;
    t->mask = cap - 1;
    t->count = 0;
    return CRM_OK;
}

static inline size_t table_home(const table *t, uint64_t id)
{
    return (size_t)crm__mix64(id) & t->mask;
}

static inline entry *table_slot(table *t, uint64_t id)
{
    size_t i = table_home(t, id);
    while (t->e[i].last != EMPTY && t->e[i].id != id)
        i = (i + 1) & t->mask;
    return &t->e[i];
}

static crm_status table_grow(table *t)
{
    table g;
    if (t->mask + 1 > SIZE_MAX / 2 / sizeof(entry))
        return crm__fail(CRM_EOVERFLOW, "rfm order table: too many customers");
    crm_status st = table_init(&g, (t->mask + 1) * 2);
    if (st)
        return st;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->e[i].last != EMPTY)
            *table_slot(&g, t->e[i].id) = t->e[i];
    g.count = t->count;
    crm__free(t->e);
    *t = g;
    return CRM_OK;
}

/* The hot loop. The table's base, mask and count live in locals (written
 * back when the table grows and at the end): held in registers, not
 * reloaded from *t after every store into an entry. */
static crm_status aggregate(table *t, const crm_order *orders, size_t n, int64_t asof)
{
    entry *base = t->e;
    size_t mask = t->mask, count = t->count;
    crm_status st = CRM_OK;
    for (size_t i = 0; i < n; i++) {
        if (i + AHEAD < n)
            crm__prefetch(&base[(size_t)crm__mix64(orders[i + AHEAD].customer_id) & mask]);
        const crm_order *o = &orders[i];
        if (CRM__UNLIKELY(o->ts < 0 || o->ts > CRM_TS_MAX)) {
            st = crm__fail(CRM_EDATA, "orders[%zu].ts = %lld is outside [0, %lld]", i,
                           (long long)o->ts, (long long)CRM_TS_MAX);
            break;
        }
        int64_t day = crm__day_of(o->ts);
        if (day > asof)
            continue;
        uint64_t id = o->customer_id;
        size_t h = (size_t)crm__mix64(id) & mask;
        while (base[h].last != EMPTY && base[h].id != id)
            h = (h + 1) & mask;
        entry *e = &base[h];
        if (e->last == EMPTY) {
            if (CRM__UNLIKELY(count + 1 > (mask + 1) / 2)) {
                t->count = count;
                st = table_grow(t);
                if (st)
                    break;
                base = t->e;
                mask = t->mask;
                e = table_slot(t, id);
            }
            *e = (entry){ .id = id, .last = -1 };
            count++;
        }
        if (CRM__UNLIKELY(__builtin_add_overflow(e->mon, o->amount, &e->mon))) {
            st = crm__fail(CRM_EOVERFLOW, "orders[%zu]: monetary of customer %llu overflows int64",
                           i, (unsigned long long)id);
            break;
        }
        if (o->amount < 0)
            continue;
        if (CRM__UNLIKELY(e->freq == UINT32_MAX)) {
            st = crm__fail(CRM_EOVERFLOW, "orders[%zu]: customer %llu has more than %u orders",
                           i, (unsigned long long)id, UINT32_MAX);
            break;
        }
        e->freq++;
        if ((int32_t)day > e->last)
            e->last = (int32_t)day;
    }
    t->count = count;
    return st;
}

crm_status crm__rfm_aggregate(crm__rfm_entry **buf, size_t *buf_cap, size_t *kept,
                              const crm_order *orders, size_t n, int64_t asof,
                              unsigned per_slot)
{
    size_t cap = 2048;
    while (cap < n / per_slot && cap < ((size_t)1 << 40))
        cap <<= 1;
    table t = { .e = *buf, .mask = cap - 1, .count = 0 };
    crm_status st;
    if (*buf_cap >= cap) { /* reuse: only the first cap slots, warm in cache */
        for (size_t i = 0; i < cap; i++)
            t.e[i].last = EMPTY;
    } else {
        st = table_init(&t, cap);
        if (st)
            return st;
        crm__free(*buf);
        *buf = t.e;
        *buf_cap = cap;
    }
    st = aggregate(&t, orders, n, asof);
    if (t.e != *buf) { /* grown: the old buffer is gone */
        *buf = t.e;
        *buf_cap = t.mask + 1;
    }
    if (st)
        return st;
    size_t k = 0; /* customers with a purchase, packed to the front */
    for (size_t i = 0; i <= t.mask; i++)
        if (t.e[i].last >= 0)
            t.e[k++] = t.e[i];
    *kept = k;
    return CRM_OK;
}

CRM_API crm_status crm_rfm_score_orders(crm_rfm_result **out, const crm_order *orders,
                                        size_t n, int64_t asof, const crm_rfm_options *opt)
{
    static const char fn[] = "crm_rfm_score_orders";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!orders && n)
        return crm__fail(CRM_EINVAL, "%s: orders is NULL and n = %zu", fn, n);
    if (asof < 0 || asof > CRM_DAY_MAX)
        return crm__fail(CRM_EINVAL, "%s: asof = %lld is outside [0, %lld]", fn,
                         (long long)asof, (long long)CRM_DAY_MAX);
    crm_rfm_options o;
    crm_status st = crm__rfm_resolve(fn, opt, &o);
    if (st)
        return st;
    entry *e = NULL;
    size_t cap = 0, kept = 0; /* ~8 orders per customer, load <= 1/2 */
    st = crm__rfm_aggregate(&e, &cap, &kept, orders, n, asof, 8);
    if (st) {
        crm__free(e);
        return st;
    }
    crm__sort_records_u64(e, kept, sizeof(entry));
    crm_rfm_result *res = NULL;
    st = crm__rfm_result_new(&res, kept, o.bins, asof);
    if (!st)
        crm__rfm_fill(res, e, kept);
    crm__free(e);
    if (st)
        return st;
    return crm__rfm_finish(out, res, &o);
}

void crm__rfm_fill(crm_rfm_result *res, const crm__rfm_entry *e, size_t n)
{
    for (size_t r = 0; r < n; r++) {
        res->id[r] = e[r].id;
        res->rec[r] = (int32_t)(res->asof - e[r].last);
        res->freq[r] = e[r].freq;
        res->mon[r] = e[r].mon;
    }
}
