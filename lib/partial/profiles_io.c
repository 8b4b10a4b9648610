/*
 * Profile tables as bytes: the partial form of crm_profiles for scale-out
 * (docs/partial.md). One blob of kind CRM__BLOB_PROFILES (lib/core/blob.h).
 *
 * Payload, format version 1, little-endian:
 *   i64 asof
 *   u32 flags          bit 0: mergeable (day lists and refund-only follow)
 *   u32 reserved       0
 *   u64 n              customers (rows)
 *   u64 n_days         mergeable: sum of purchase_days; else 0
 *   u64 n_refund_only  mergeable: refund-only customers; else 0
 *   u64 customer_id[n] strictly ascending
 *   i64 monetary[n]
 *   u32 frequency[n]
 *   u32 last_day_orders[n]
 *   i32 second_day[n]
 *   u32 purchase_days[n]
 *   plain:     i32 first_day[n], i32 last_day[n], i32 prev_day[n]
 *   mergeable: i32 days[n_days]  (each row's distinct days, ascending; the
 *              first, last and previous days are read off them)
 *              u64 ro_id[n_refund_only] (ascending), i64 ro_money[...]
 * Derived columns (recency, tenure, gap_avg) and totals are recomputed.
 *
 * Loading checks everything a built table guarantees (ascending ids, days in
 * 0..asof, consistent counts), so a table from bytes is as good as a built
 * one; each violation is CRM_ESTATE naming the byte offset or the row.
 */
#include "core/blob.h"
#include "crm/partial.h"
#include "profiles_impl.h"

#define FLAG_MERGEABLE 1u
#define WHAT "profiles partial"

/* Bytes per row of the fixed columns (id, money, 4 x u32/i32). */
#define ROW_BYTES 32u
/* Extra bytes per row of a plain table (first, last, prev). */
#define PLAIN_ROW_BYTES 12u

static void put_i32s(crm__wbuf *w, const int32_t *v, size_t n)
{
    /* Same width and two's complement: the bits travel as u32. */
    crm__wbuf_u32s(w, (const uint32_t *)(const void *)v, n);
}

static bool get_i32s(crm__rbuf *r, int32_t *v, size_t n, const char *field)
{
    return crm__rbuf_u32s(r, (uint32_t *)(void *)v, n, field);
}

CRM_API crm_status crm_profiles_serialize(void **out, size_t *out_len, const crm_profiles *p)
{
    if (!out || !out_len)
        return crm__fail(CRM_EINVAL, "crm_profiles_serialize: %s is NULL",
                         out ? "out_len" : "out");
    *out = NULL;
    *out_len = 0;
    if (!p)
        return crm__fail(CRM_EINVAL, "crm_profiles_serialize: p is NULL");
    const int m = p->mergeable;
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, CRM__BLOB_PROFILES, CRM_PROFILES_BLOB_VERSION);
    crm__wbuf_i64(&w, p->asof);
    crm__wbuf_u32(&w, m ? FLAG_MERGEABLE : 0);
    crm__wbuf_u32(&w, 0);
    crm__wbuf_u64(&w, p->n);
    crm__wbuf_u64(&w, m ? p->day_off[p->n] : 0);
    crm__wbuf_u64(&w, m ? p->n_refund_only : 0);
    crm__wbuf_u64s(&w, p->customer_id, p->n);
    crm__wbuf_i64s(&w, p->monetary, p->n);
    crm__wbuf_u32s(&w, p->frequency, p->n);
    crm__wbuf_u32s(&w, p->last_day_orders, p->n);
    put_i32s(&w, p->second_day, p->n);
    crm__wbuf_u32s(&w, p->purchase_days, p->n);
    if (m) {
        put_i32s(&w, p->days, p->day_off[p->n]);
        crm__wbuf_u64s(&w, p->ro_id, p->n_refund_only);
        crm__wbuf_i64s(&w, p->ro_money, p->n_refund_only);
    } else {
        put_i32s(&w, p->first_day, p->n);
        put_i32s(&w, p->last_day, p->n);
        put_i32s(&w, p->prev_day, p->n);
    }
    return crm__blob_end(&w, out, out_len, "crm_profiles_serialize");
}

/* ---- loading ---------------------------------------------------------------- */

/* The counts of the header fit the bytes that remain (so no allocation is
 * driven by a forged count). */
static bool counts_fit(crm__rbuf *r, uint64_t n, uint64_t n_days, uint64_t n_ro, int m)
{
    const size_t left = crm__rbuf_left(r);
    const uint64_t per_row = ROW_BYTES + (m ? 0 : PLAIN_ROW_BYTES);
    if (n > left / per_row)
        return crm__rbuf_bad(r, "%llu customers need %llu bytes each, %zu bytes remain",
                             (unsigned long long)n, (unsigned long long)per_row, left);
    uint64_t rest = left - n * per_row;
    if (n_days > rest / 4)
        return crm__rbuf_bad(r, "%llu purchase days need more than the %llu bytes that remain",
                             (unsigned long long)n_days, (unsigned long long)rest);
    rest -= n_days * 4;
    if (n_ro > rest / 16)
        return crm__rbuf_bad(r, "%llu refund-only customers need more than the %llu bytes "
                             "that remain", (unsigned long long)n_ro, (unsigned long long)rest);
    return true;
}

static crm_status bad_row(size_t row, uint64_t id, const char *why)
{
    return crm__fail(CRM_ESTATE, WHAT ": row %zu (customer %llu): %s", row,
                     (unsigned long long)id, why);
}

/* Order-dependent fields of one row, given its first, last and previous
 * distinct day (checked by the caller). */
static const char *check_counts(const crm_profiles *p, size_t r)
{
    const uint32_t f = p->frequency[r], pd = p->purchase_days[r], lr = p->last_day_orders[r];
    const int32_t first = p->first_day[r], second = p->second_day[r];
    if (f == 0)
        return "frequency is 0";
    if (pd == 0 || pd > f)
        return "purchase_days is not in 1..frequency";
    if (lr == 0 || lr > f - (pd - 1))
        return "last_day_orders does not fit frequency and purchase_days";
    if (f == 1)
        return second == -1 ? NULL : "second_day must be -1 with one order";
    if (pd == 1)
        return lr == f && second == first ? NULL
                                          : "one purchase day but rows or second_day disagree";
    if (second == first)
        return f - lr >= pd ? NULL : "second_day on first_day needs two rows on that day";
    if (second < first || second > p->last_day[r])
        return "second_day is outside first_day..last_day";
    return NULL;
}

/* Plain table: first/last/prev stored; check them and the counts. */
static crm_status check_plain_rows(const crm_profiles *p)
{
    for (size_t r = 0; r < p->n; r++) {
        const int32_t first = p->first_day[r], last = p->last_day[r], prev = p->prev_day[r];
        const uint32_t pd = p->purchase_days[r];
        const char *why = NULL;
        if (first < 0 || first > last || last > p->asof)
            why = "first_day..last_day is not inside 0..asof";
        else if (pd > (uint32_t)(last - first) + 1)
            why = "more purchase days than days between first_day and last_day";
        else if (pd == 1 ? (prev != -1 || first != last)
                         : (pd >= 2 && (prev < first || prev >= last)))
            why = "prev_day disagrees with purchase_days";
        else if (pd == 2 && prev != first)
            why = "two purchase days but prev_day is not first_day";
        if (!why)
            why = check_counts(p, r);
        if (why)
            return bad_row(r, p->customer_id[r], why);
    }
    return CRM_OK;
}

/* Mergeable table: day lists give first/last/prev; offsets from counts. */
static crm_status check_mergeable_rows(crm_profiles *p, size_t n_days)
{
    size_t at = 0;
    for (size_t r = 0; r < p->n; r++) {
        const uint32_t pd = p->purchase_days[r];
        if (pd == 0 || pd > n_days - at)
            return bad_row(r, p->customer_id[r],
                           "purchase_days do not add up to the day list length");
        const int32_t *d = p->days + at;
        for (uint32_t k = 0; k < pd; k++)
            if (d[k] < 0 || d[k] > p->asof || (k > 0 && d[k] <= d[k - 1]))
                return bad_row(r, p->customer_id[r],
                               "purchase days are not ascending distinct days in 0..asof");
        at += pd;
        p->day_off[r + 1] = at;
        p->first_day[r] = d[0];
        p->last_day[r] = d[pd - 1];
        p->prev_day[r] = pd >= 2 ? d[pd - 2] : -1;
        const char *why = check_counts(p, r);
        if (!why && pd >= 2 && p->second_day[r] != d[0] && p->second_day[r] != d[1])
            why = "second_day is neither the first nor the second purchase day";
        if (why)
            return bad_row(r, p->customer_id[r], why);
    }
    if (at != n_days)
        return crm__fail(CRM_ESTATE, WHAT ": purchase_days add up to %zu, header says %zu",
                         at, n_days);
    return CRM_OK;
}

/* Refund-only customers: ascending, negative money, no profile row. */
static crm_status check_refund_only(const crm_profiles *p)
{
    size_t row = 0;
    for (size_t k = 0; k < p->n_refund_only; k++) {
        const uint64_t id = p->ro_id[k];
        if (k > 0 && id <= p->ro_id[k - 1])
            return crm__fail(CRM_ESTATE, WHAT ": refund-only customer %zu (%llu) is not "
                             "above the previous one", k, (unsigned long long)id);
        if (p->ro_money[k] >= 0)
            return crm__fail(CRM_ESTATE, WHAT ": refund-only customer %zu (%llu) has "
                             "non-negative money %lld", k, (unsigned long long)id,
                             (long long)p->ro_money[k]);
        while (row < p->n && p->customer_id[row] < id)
            row++;
        if (row < p->n && p->customer_id[row] == id)
            return crm__fail(CRM_ESTATE, WHAT ": refund-only customer %zu (%llu) also has "
                             "a profile row %zu", k, (unsigned long long)id, row);
    }
    return CRM_OK;
}

/* Read the columns into p (allocated for the header's counts) and check. */
static crm_status read_body(crm__rbuf *r, crm_profiles *p, size_t n_days)
{
    const size_t n = p->n;
    crm__rbuf_u64s(r, p->customer_id, n, "customer_id");
    crm__rbuf_i64s(r, p->monetary, n, "monetary");
    crm__rbuf_u32s(r, p->frequency, n, "frequency");
    crm__rbuf_u32s(r, p->last_day_orders, n, "last_day_orders");
    get_i32s(r, p->second_day, n, "second_day");
    crm__rbuf_u32s(r, p->purchase_days, n, "purchase_days");
    if (p->mergeable) {
        get_i32s(r, p->days, n_days, "days");
        crm__rbuf_u64s(r, p->ro_id, p->n_refund_only, "refund-only ids");
        crm__rbuf_i64s(r, p->ro_money, p->n_refund_only, "refund-only money");
    } else {
        get_i32s(r, p->first_day, n, "first_day");
        get_i32s(r, p->last_day, n, "last_day");
        get_i32s(r, p->prev_day, n, "prev_day");
    }
    crm_status st = crm__rbuf_finish(r);
    if (st)
        return st;
    for (size_t i = 1; i < n; i++)
        if (p->customer_id[i] <= p->customer_id[i - 1])
            return bad_row(i, p->customer_id[i], "customer ids are not strictly ascending");
    st = p->mergeable ? check_mergeable_rows(p, n_days) : check_plain_rows(p);
    if (!st && p->mergeable)
        st = check_refund_only(p);
    return st;
}

CRM_API crm_status crm_profiles_deserialize(crm_profiles **out, const void *data, size_t len)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_profiles_deserialize: out is NULL");
    *out = NULL;
    if (!data)
        return crm__fail(CRM_EINVAL, "crm_profiles_deserialize: data is NULL");
    crm__rbuf r;
    uint16_t version;
    crm_status st = crm__blob_open(&r, data, len, CRM__BLOB_PROFILES,
                                   CRM_PROFILES_BLOB_VERSION, &version, WHAT);
    if (st)
        return st;
    int64_t asof = 0;
    uint32_t flags = 0, reserved = 0;
    uint64_t n = 0, n_days = 0, n_ro = 0;
    crm__rbuf_i64(&r, &asof, "asof");
    if (!r.err && (asof < 0 || asof > CRM_DAY_MAX))
        crm__rbuf_bad(&r, "asof %lld is outside 0..%lld", (long long)asof,
                      (long long)CRM_DAY_MAX);
    crm__rbuf_u32(&r, &flags, "flags");
    crm__rbuf_u32(&r, &reserved, "reserved");
    if (!r.err && ((flags & ~FLAG_MERGEABLE) || reserved))
        crm__rbuf_bad(&r, "unknown flags %#x / reserved %#x", flags, reserved);
    const int m = (flags & FLAG_MERGEABLE) != 0;
    crm__rbuf_u64(&r, &n, "customer count");
    crm__rbuf_u64(&r, &n_days, "day count");
    crm__rbuf_u64(&r, &n_ro, "refund-only count");
    if (!r.err && !m && (n_days || n_ro))
        crm__rbuf_bad(&r, "a plain table carries %llu days and %llu refund-only customers",
                      (unsigned long long)n_days, (unsigned long long)n_ro);
    if (r.err || !counts_fit(&r, n, n_days, n_ro, m))
        return r.err;

    crm_profiles *p;
    st = crm__profiles_table_new(&p, (size_t)n, asof);
    if (st)
        return st;
    if (m)
        st = crm__profiles_merge_data_new(p, (size_t)n_days, (size_t)n_ro);
    if (!st)
        st = read_body(&r, p, (size_t)n_days);
    if (!st)
        st = crm__profiles_table_finish(p);
    if (st) {
        crm_profiles_free(p);
        return st;
    }
    *out = p;
    return CRM_OK;
}

/* ---- merging customer-disjoint tables ------------------------------------ */

/* Stored columns of a table (the derived ones are recomputed). */
#define N_STORED 9

static void stored_columns(const crm_profiles *p, void *col[N_STORED], unsigned width[N_STORED])
{
    void *c[N_STORED] = { p->customer_id, p->monetary, p->first_day, p->last_day,
                          p->frequency, p->purchase_days, p->prev_day, p->last_day_orders,
                          p->second_day };
    for (int i = 0; i < N_STORED; i++) {
        col[i] = c[i];
        width[i] = i < 2 ? 8 : 4;
    }
}

/* One input of the k-way merge: its columns and read cursor. */
typedef struct source {
    const crm_profiles *t;
    void *col[N_STORED];
    size_t row;
} source;

/* Rows [r0, r1) of s to rows [w, ...) of the output columns. */
static void copy_run(void *const out[N_STORED], const unsigned width[N_STORED], size_t w,
                     const source *s, size_t r0, size_t r1)
{
    for (int c = 0; c < N_STORED; c++) {
        if (r1 - r0 > 4) {
            memcpy((uint8_t *)out[c] + w * width[c], (const uint8_t *)s->col[c] + r0 * width[c],
                   (r1 - r0) * width[c]);
        } else if (width[c] == 8) {
            for (size_t r = r0; r < r1; r++)
                ((uint64_t *)out[c])[w + r - r0] = ((const uint64_t *)s->col[c])[r];
        } else {
            for (size_t r = r0; r < r1; r++)
                ((uint32_t *)out[c])[w + r - r0] = ((const uint32_t *)s->col[c])[r];
        }
    }
}

static uint64_t head_id(const source *s)
{
    return s->t->customer_id[s->row];
}

/* Min-heap of source indices by their next customer id. */
static void heap_down(size_t *h, size_t n, const source *src, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && head_id(&src[h[l]]) < head_id(&src[h[m]]))
            m = l;
        if (l + 1 < n && head_id(&src[h[l + 1]]) < head_id(&src[h[m]]))
            m = l + 1;
        if (m == i)
            return;
        size_t x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
}

/* k-way interleave of plain (or mixed) tables into p (allocated for the
 * sum of their rows). */
static crm_status interleave(crm_profiles *p, source *src, size_t *heap, size_t k)
{
    void *out[N_STORED];
    unsigned width[N_STORED];
    stored_columns(p, out, width);
    size_t n = 0;
    for (size_t i = 0; i < k; i++)
        if (src[i].t->n)
            heap[n++] = i;
    for (size_t i = n; i-- > 0;)
        heap_down(heap, n, src, i);
    size_t w = 0;
    while (n) {
        source *s = &src[heap[0]];
        /* the run of s lasts while its ids stay below every other head */
        uint64_t limit = UINT64_MAX;
        int bounded = 0;
        for (size_t c = 1; c <= 2 && c < n; c++)
            if (!bounded || head_id(&src[heap[c]]) < limit) {
                limit = head_id(&src[heap[c]]);
                bounded = 1;
            }
        if (bounded && head_id(s) == limit)
            return crm__fail(CRM_EINVAL,
                             "crm_profiles_merge_disjoint: customer %llu is in two tables "
                             "(partitions are not customer-disjoint: build them mergeable "
                             "and use crm_profiles_merge)",
                             (unsigned long long)limit);
        size_t end = s->row + 1;
        while (end < s->t->n && (!bounded || s->t->customer_id[end] < limit))
            end++;
        copy_run(out, width, w, s, s->row, end);
        w += end - s->row;
        s->row = end;
        if (s->row == s->t->n)
            heap[0] = heap[--n];
        heap_down(heap, n, src, 0);
    }
    return CRM_OK;
}

/* All inputs mergeable, k >= 2: exact pairwise merges in a balanced tree. */
static crm_status merge_tree(crm_profiles **out, const crm_profiles *const *parts, size_t k)
{
    const size_t half = k / 2;
    crm_profiles *sub[2] = { NULL, NULL };
    const crm_profiles *side[2] = { parts[0], parts[half] };
    crm_status st = CRM_OK;
    if (half >= 2)
        st = merge_tree(&sub[0], parts, half);
    if (!st && k - half >= 2)
        st = merge_tree(&sub[1], parts + half, k - half);
    for (int i = 0; i < 2; i++)
        if (sub[i])
            side[i] = sub[i];
    if (!st)
        st = crm_profiles_merge(out, side[0], side[1]);
    crm_profiles_free(sub[0]);
    crm_profiles_free(sub[1]);
    return st;
}

/* A mergeable copy of one mergeable table: its merge with an empty one. */
static crm_status copy_mergeable(crm_profiles **out, const crm_profiles *t)
{
    crm_profiles_options opt;
    crm_profiles_options_init(&opt, CRM_PROFILES_OPTIONS_VERSION);
    opt.mergeable = 1;
    crm_profiles *empty = NULL;
    crm_status st = crm_profiles_build(&empty, NULL, 0, t->asof, &opt);
    if (!st)
        st = crm_profiles_merge(out, t, empty);
    crm_profiles_free(empty);
    return st;
}

CRM_API crm_status crm_profiles_merge_disjoint(crm_profiles **out,
                                               const crm_profiles *const *parts, size_t k)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_profiles_merge_disjoint: out is NULL");
    *out = NULL;
    if (!parts || k == 0)
        return crm__fail(CRM_EINVAL, "crm_profiles_merge_disjoint: no tables (parts %s, k = %zu)",
                         parts ? "given" : "NULL", k);
    size_t rows = 0;
    int all_mergeable = 1;
    for (size_t i = 0; i < k; i++) {
        if (!parts[i])
            return crm__fail(CRM_EINVAL, "crm_profiles_merge_disjoint: parts[%zu] is NULL", i);
        if (parts[i]->asof != parts[0]->asof)
            return crm__fail(CRM_EINVAL,
                             "crm_profiles_merge_disjoint: parts[%zu].asof = %lld differs from "
                             "parts[0].asof = %lld",
                             i, (long long)parts[i]->asof, (long long)parts[0]->asof);
        if (rows > SIZE_MAX - parts[i]->n)
            return crm__fail(CRM_EOVERFLOW, "crm_profiles_merge_disjoint: row count overflows");
        rows += parts[i]->n;
        all_mergeable &= parts[i]->mergeable != 0;
    }
    if (all_mergeable) /* exact whatever the overlap */
        return k == 1 ? copy_mergeable(out, parts[0]) : merge_tree(out, parts, k);
    source *src;
    size_t *heap;
    crm_status st = crm__alloc_array((void **)&src, k, sizeof *src, 0, "merge sources");
    if (st)
        return st;
    st = crm__alloc_array((void **)&heap, k, sizeof *heap, 0, "merge heap");
    if (st) {
        crm__free(src);
        return st;
    }
    for (size_t i = 0; i < k; i++) {
        unsigned width[N_STORED];
        src[i].t = parts[i];
        src[i].row = 0;
        stored_columns(parts[i], src[i].col, width);
    }
    crm_profiles *p = NULL;
    st = crm__profiles_table_new(&p, rows, parts[0]->asof);
    if (!st)
        st = interleave(p, src, heap, k);
    if (!st)
        st = crm__profiles_table_finish(p);
    crm__free(src);
    crm__free(heap);
    if (st) {
        crm_profiles_free(p);
        return st;
    }
    *out = p;
    return CRM_OK;
}
