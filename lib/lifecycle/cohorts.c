/*
 * Cohort retention by first-order month (specs/segmentation.md, "Lifecycle
 * stages" and its edge conventions).
 *
 * The table keeps each customer's distinct non-refund purchase months
 * (ascending, CSR by customer id), which is both what the matrix is counted
 * from and an exact partial: the union of two partials' month lists is the
 * partial of the union of their orders, whatever the partitioning.
 */
#include <math.h>

#include "core/blob.h"
#include "core/core.h"
#include "crm/lifecycle.h"

struct crm_lifecycle_cohorts {
    int64_t asof;
    int32_t asof_month;
    size_t n;          /* customers */
    uint64_t *id;      /* ascending */
    size_t *off;       /* n + 1 offsets into months */
    int32_t *months;   /* distinct purchase months per customer, ascending */
    /* finished matrix */
    size_t rows, cols;
    int32_t *cohort_month;
    uint64_t *size, *active;
    double *share;
};

enum { FORMAT_VERSION = 1 };

CRM_API void crm_lifecycle_cohorts_free(crm_lifecycle_cohorts *c)
{
    if (!c)
        return;
    void *p[] = { c->id, c->off, c->months, c->cohort_month, c->size, c->active, c->share };
    for (size_t i = 0; i < CRM__ARRAY_LEN(p); i++)
        crm__free(p[i]);
    crm__free(c);
}

/* A table for n customers and `total` months (lists to be filled). */
static crm_status table_new(crm_lifecycle_cohorts **out, int64_t asof, size_t n, size_t total)
{
    crm_lifecycle_cohorts *c = crm__malloc(sizeof *c);
    if (!c)
        return crm__fail(CRM_ENOMEM, "cohorts: cannot allocate the table");
    memset(c, 0, sizeof *c);
    c->asof = asof;
    c->asof_month = crm__month_of_day(asof);
    c->n = n;
    crm_status st = crm__alloc_array((void **)&c->id, n, sizeof(uint64_t), 0, "cohort ids");
    if (!st)
        st = crm__alloc_array((void **)&c->off, n + 1, sizeof(size_t), 0, "cohort offsets");
    if (!st)
        st = crm__alloc_array((void **)&c->months, total, sizeof(int32_t), 0, "cohort months");
    if (st) {
        crm_lifecycle_cohorts_free(c);
        return st;
    }
    c->off[0] = 0;
    *out = c;
    return CRM_OK;
}

/* Count the matrix from the month lists. */
static crm_status finish(crm_lifecycle_cohorts *c)
{
    if (c->n == 0)
        return CRM_OK;
    int32_t lo = INT32_MAX;
    for (size_t i = 0; i < c->n; i++)
        if (c->months[c->off[i]] < lo)
            lo = c->months[c->off[i]];
    size_t span = (size_t)(c->asof_month - lo) + 1;
    int32_t *row_of;
    crm_status st = crm__alloc_array((void **)&row_of, span, sizeof *row_of, 0, "cohort index");
    if (st)
        return st;
    for (size_t k = 0; k < span; k++)
        row_of[k] = -1;
    for (size_t i = 0; i < c->n; i++)
        row_of[c->months[c->off[i]] - lo] = 0;
    size_t rows = 0;
    for (size_t k = 0; k < span; k++)
        if (row_of[k] == 0)
            row_of[k] = (int32_t)rows++;
    c->rows = rows;
    c->cols = span;
    size_t cells;
    if (!crm__mul_size(rows, span, &cells))
        st = crm__fail(CRM_EOVERFLOW, "cohorts: %zu x %zu matrix overflows", rows, span);
    if (!st)
        st = crm__alloc_array((void **)&c->cohort_month, rows, sizeof(int32_t), 0,
                              "cohort months");
    if (!st)
        st = crm__alloc_array((void **)&c->size, rows, sizeof(uint64_t), 1, "cohort sizes");
    if (!st)
        st = crm__alloc_array((void **)&c->active, cells, sizeof(uint64_t), 1,
                              "cohort matrix");
    if (!st)
        st = crm__alloc_array((void **)&c->share, cells, sizeof(double), 0, "cohort shares");
    if (st) {
        crm__free(row_of);
        return st;
    }
    for (size_t k = 0; k < span; k++)
        if (row_of[k] >= 0)
            c->cohort_month[row_of[k]] = lo + (int32_t)k;
    for (size_t i = 0; i < c->n; i++) {
        int32_t first = c->months[c->off[i]];
        size_t r = (size_t)row_of[first - lo];
        c->size[r]++;
        uint64_t *cell = c->active + r * span;
        for (size_t j = c->off[i]; j < c->off[i + 1]; j++)
            cell[c->months[j] - first]++;
    }
    for (size_t r = 0; r < rows; r++) {
        size_t known = (size_t)(c->asof_month - c->cohort_month[r]) + 1;
        for (size_t k = 0; k < span; k++)
            c->share[r * span + k] =
                k < known ? (double)c->active[r * span + k] / (double)c->size[r] : NAN;
    }
    crm__free(row_of);
    return CRM_OK;
}

/* ---- build ----------------------------------------------------------------------- */

/*
 * Build in three passes over the orders, no sort of the order rows:
 *  1. hash each kept order's customer to a slot (insertion order) and count
 *     its rows; remember the slot per order (4 bytes);
 *  2. scatter the months into per-slot runs (counting sort by slot);
 *  3. reduce each run to its distinct months (already ascending for
 *     chronological exports), then emit the slots in customer-id order.
 */
typedef struct cm_build {
    const crm_order *o;
    size_t n;
    int64_t asof;
    crm__u64idx idx;
    uint64_t *sid;   /* slot -> customer id */
    size_t *cnt;     /* slot -> rows, then write cursor */
    size_t cap;
    uint32_t *oslot; /* order -> slot, UINT32_MAX when not kept */
    int32_t *month_of; /* day -> month, days 0..asof */
} cm_build;

#define NOT_KEPT UINT32_MAX

static void build_free(cm_build *b)
{
    crm__u64idx_free(&b->idx);
    crm__free(b->sid);
    crm__free(b->cnt);
    crm__free(b->oslot);
    crm__free(b->month_of);
}

/* Slot of customer id, created when new. */
static crm_status slot_of(cm_build *b, uint64_t id, uint32_t *out)
{
    if (CRM__UNLIKELY(crm__u64idx_full(&b->idx))) {
        crm_status st = crm__u64idx_grow(&b->idx, b->sid, sizeof *b->sid);
        if (st)
            return st;
    }
    bool added;
    size_t r = crm__u64idx_upsert(&b->idx, id, b->sid, sizeof *b->sid, &added);
    if (added) {
        if (r == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 1024;
            crm_status st = crm__realloc_array((void **)&b->sid, cap, sizeof *b->sid,
                                               "cohort customers");
            if (!st)
                st = crm__realloc_array((void **)&b->cnt, cap, sizeof *b->cnt,
                                        "cohort counts");
            if (st)
                return st;
            b->cap = cap;
        }
        b->sid[r] = id;
        b->cnt[r] = 0;
    }
    b->cnt[r]++;
    *out = (uint32_t)r;
    return CRM_OK;
}

static crm_status pass_slots(cm_build *b, size_t *kept)
{
    crm_status st = crm__alloc_array((void **)&b->oslot, b->n, sizeof *b->oslot, 0,
                                     "cohort order slots");
    if (!st)
        st = crm__u64idx_init(&b->idx, b->n / 8 < 1024 ? 1024 : b->n / 8);
    *kept = 0;
    for (size_t i = 0; i < b->n && !st; i++) {
        const crm_order *o = &b->o[i];
        if (CRM__UNLIKELY(o->ts < 0 || o->ts > CRM_TS_MAX))
            return crm__fail(CRM_EDATA, "orders[%zu].ts = %lld is outside [0, %lld]", i,
                             (long long)o->ts, (long long)CRM_TS_MAX);
        b->oslot[i] = NOT_KEPT;
        if (o->amount < 0 || crm__day_of(o->ts) > b->asof)
            continue;
        st = slot_of(b, o->customer_id, &b->oslot[i]);
        ++*kept;
    }
    return st;
}

/* Distinct months of one ascending-or-not run, packed in place; its length. */
static size_t distinct_run(int32_t *v, size_t len)
{
    for (size_t k = 1; k < len; k++)
        if (v[k] < v[k - 1]) {
            crm__sort_i32(v, len);
            break;
        }
    size_t m = 0;
    for (size_t k = 0; k < len; k++)
        if (m == 0 || v[m - 1] != v[k])
            v[m++] = v[k];
    return m;
}

typedef struct cm_order_rec {
    uint64_t id;  /* key: first member (crm__sort_records_u64) */
    uint64_t slot;
} cm_order_rec;

/* Runs of distinct months per slot -> table in customer-id order. */
static crm_status emit(cm_build *b, const size_t *off, int32_t *runs, crm_lifecycle_cohorts **out)
{
    size_t ns = b->idx.count, total = 0;
    cm_order_rec *ord;
    crm_status st = crm__alloc_array((void **)&ord, ns, sizeof *ord, 0, "cohort id order");
    if (st)
        return st;
    for (size_t r = 0; r < ns; r++) {
        b->cnt[r] = distinct_run(runs + off[r], off[r + 1] - off[r]);
        total += b->cnt[r];
        ord[r] = (cm_order_rec){ b->sid[r], r };
    }
    crm__sort_records_u64(ord, ns, sizeof *ord);
    crm_lifecycle_cohorts *c;
    st = table_new(&c, b->asof, ns, total);
    if (!st) {
        size_t at = 0;
        for (size_t w = 0; w < ns; w++) {
            size_t r = (size_t)ord[w].slot;
            c->id[w] = ord[w].id;
            memcpy(c->months + at, runs + off[r], b->cnt[r] * sizeof(int32_t));
            at += b->cnt[r];
            c->off[w + 1] = at;
        }
        st = finish(c);
        if (st)
            crm_lifecycle_cohorts_free(c);
        else
            *out = c;
    }
    crm__free(ord);
    return st;
}

static crm_status build(cm_build *b, crm_lifecycle_cohorts **out)
{
    size_t kept;
    crm_status st = pass_slots(b, &kept);
    if (!st)
        st = crm__alloc_array((void **)&b->month_of, (size_t)b->asof + 1, sizeof(int32_t), 0,
                              "cohort month table");
    if (st)
        return st;
    b->month_of[0] = 0; /* 1970-01; each first of a month starts the next */
    for (int64_t d = 1; d <= b->asof; d++) {
        int32_t y, m, md;
        crm__civil_from_days(d, &y, &m, &md);
        b->month_of[d] = md == 1 ? b->month_of[d - 1] + 1 : b->month_of[d - 1];
    }
    size_t ns = b->idx.count;
    size_t *off;
    int32_t *runs = NULL;
    st = crm__alloc_array((void **)&off, ns + 1, sizeof *off, 0, "cohort offsets");
    if (!st)
        st = crm__alloc_array((void **)&runs, kept, sizeof *runs, 0, "cohort month runs");
    if (!st) {
        off[0] = 0;
        for (size_t r = 0; r < ns; r++) {
            off[r + 1] = off[r] + b->cnt[r];
            b->cnt[r] = off[r]; /* write cursor */
        }
        for (size_t i = 0; i < b->n; i++) {
            uint32_t r = b->oslot[i];
            if (r != NOT_KEPT)
                runs[b->cnt[r]++] = b->month_of[crm__day_of(b->o[i].ts)];
        }
        crm__free(b->oslot); /* no longer needed: lower the peak */
        b->oslot = NULL;
        st = emit(b, off, runs, out);
    }
    crm__free(off);
    crm__free(runs);
    return st;
}

CRM_API crm_status crm_lifecycle_cohorts_build(crm_lifecycle_cohorts **out,
                                               const crm_order *orders, size_t n,
                                               int64_t asof)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_cohorts_build: out is NULL");
    *out = NULL;
    if (!orders && n)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_cohorts_build: orders is NULL and n = %zu",
                         n);
    if (asof < 0 || asof > CRM_DAY_MAX)
        return crm__fail(CRM_EINVAL,
                         "crm_lifecycle_cohorts_build: asof = %lld is outside [0, %lld]",
                         (long long)asof, (long long)CRM_DAY_MAX);
    if (n >= UINT32_MAX)
        return crm__fail(CRM_EOVERFLOW, "crm_lifecycle_cohorts_build: n = %zu orders", n);
    cm_build b = { .o = orders, .n = n, .asof = asof };
    crm_status st = build(&b, out);
    build_free(&b);
    return st;
}

/* ---- merge ----------------------------------------------------------------------- */

/* Sorted union of two ascending distinct lists; returns its length. */
static size_t union_i32(const int32_t *a, size_t na, const int32_t *b, size_t nb, int32_t *out)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        if (j == nb || (i < na && a[i] < b[j]))
            out[k++] = a[i++];
        else if (i == na || b[j] < a[i])
            out[k++] = b[j++];
        else {
            out[k++] = a[i++];
            j++;
        }
    }
    return k;
}

CRM_API crm_status crm_lifecycle_cohorts_merge(crm_lifecycle_cohorts **out,
                                               const crm_lifecycle_cohorts *a,
                                               const crm_lifecycle_cohorts *b)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_cohorts_merge: out is NULL");
    *out = NULL;
    if (!a || !b)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_cohorts_merge: %s is NULL", a ? "b" : "a");
    if (a->asof != b->asof)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_cohorts_merge: asof differs (%lld vs %lld)",
                         (long long)a->asof, (long long)b->asof);
    size_t n = 0;
    for (size_t i = 0, j = 0; i < a->n || j < b->n; n++) {
        if (j == b->n || (i < a->n && a->id[i] < b->id[j]))
            i++;
        else if (i == a->n || b->id[j] < a->id[i])
            j++;
        else {
            i++;
            j++;
        }
    }
    crm_lifecycle_cohorts *c;
    crm_status st = table_new(&c, a->asof, n, a->off[a->n] + b->off[b->n]);
    if (st)
        return st;
    size_t i = 0, j = 0, at = 0;
    for (size_t w = 0; w < n; w++) {
        bool ta = j == b->n || (i < a->n && a->id[i] <= b->id[j]);
        bool tb = i == a->n || (j < b->n && b->id[j] <= a->id[i]);
        const int32_t *ma = ta ? a->months + a->off[i] : NULL;
        const int32_t *mb = tb ? b->months + b->off[j] : NULL;
        size_t la = ta ? a->off[i + 1] - a->off[i] : 0;
        size_t lb = tb ? b->off[j + 1] - b->off[j] : 0;
        c->id[w] = ta ? a->id[i] : b->id[j];
        at += union_i32(ma, la, mb, lb, c->months + at);
        c->off[w + 1] = at;
        i += ta;
        j += tb;
    }
    st = finish(c);
    if (st) {
        crm_lifecycle_cohorts_free(c);
        return st;
    }
    *out = c;
    return CRM_OK;
}

/* ---- serialisation ------------------------------------------------------------ */

CRM_API crm_status crm_lifecycle_cohorts_serialize(const crm_lifecycle_cohorts *c, void **bytes,
                                                   size_t *len)
{
    if (!c || !bytes || !len)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_cohorts_serialize: %s is NULL",
                         !c ? "c" : !bytes ? "bytes" : "len");
    *bytes = NULL;
    *len = 0;
    size_t total = c->off[c->n];
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, CRM__BLOB_LIFECYCLE_COHORTS, FORMAT_VERSION);
    crm__wbuf_i64(&w, c->asof);
    crm__wbuf_u64(&w, c->n);
    crm__wbuf_u64(&w, total);
    crm__wbuf_u64s(&w, c->id, c->n);
    for (size_t i = 0; i < c->n; i++)
        crm__wbuf_u32(&w, (uint32_t)(c->off[i + 1] - c->off[i]));
    crm__wbuf_u32s(&w, (const uint32_t *)(const void *)c->months, total);
    return crm__blob_end(&w, bytes, len, "lifecycle cohort partial");
}

/* Read and validate the payload into a new table (lists only). */
static bool read_payload(crm__rbuf *r, crm_lifecycle_cohorts **out, crm_status *st)
{
    int64_t asof;
    uint64_t n, total;
    if (!crm__rbuf_i64(r, &asof, "asof") || !crm__rbuf_u64(r, &n, "customers") ||
        !crm__rbuf_u64(r, &total, "months"))
        return false;
    if (asof < 0 || asof > CRM_DAY_MAX)
        return crm__rbuf_bad(r, "asof = %lld is outside [0, %lld]", (long long)asof,
                             (long long)CRM_DAY_MAX);
    size_t left = crm__rbuf_left(r);
    if (n > left / 12 || total > (left - 12 * n) / 4 || total < n)
        return crm__rbuf_bad(r, "%llu customers and %llu months do not fit the %zu bytes left",
                             (unsigned long long)n, (unsigned long long)total, left);
    crm_lifecycle_cohorts *c;
    *st = table_new(&c, asof, (size_t)n, (size_t)total);
    if (*st)
        return false;
    *out = c;
    if (!crm__rbuf_u64s(r, c->id, c->n, "ids"))
        return false;
    for (size_t i = 0; i < c->n; i++) {
        uint32_t k;
        if (!crm__rbuf_u32(r, &k, "month count"))
            return false;
        if (k == 0 || k > total - c->off[i])
            return crm__rbuf_bad(r, "customer %zu: %u months", i, k);
        if (i && c->id[i] <= c->id[i - 1])
            return crm__rbuf_bad(r, "customer ids not ascending at %zu", i);
        c->off[i + 1] = c->off[i] + k;
    }
    if (c->off[c->n] != total)
        return crm__rbuf_bad(r, "month counts add up to %zu, not %llu", c->off[c->n],
                             (unsigned long long)total);
    if (!crm__rbuf_u32s(r, (uint32_t *)(void *)c->months, c->off[c->n], "months"))
        return false;
    for (size_t i = 0; i < c->n; i++)
        for (size_t j = c->off[i]; j < c->off[i + 1]; j++)
            if (c->months[j] < 0 || c->months[j] > c->asof_month ||
                (j > c->off[i] && c->months[j] <= c->months[j - 1]))
                return crm__rbuf_bad(r, "customer %zu: month %d out of order or range", i,
                                     (int)c->months[j]);
    return true;
}

CRM_API crm_status crm_lifecycle_cohorts_load(crm_lifecycle_cohorts **out, const void *bytes,
                                              size_t len)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_cohorts_load: out is NULL");
    *out = NULL;
    if (!bytes)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_cohorts_load: bytes is NULL");
    crm__rbuf r;
    uint16_t v;
    crm_status st = crm__blob_open(&r, bytes, len, CRM__BLOB_LIFECYCLE_COHORTS, FORMAT_VERSION,
                                   &v, "lifecycle cohort partial");
    if (st)
        return st;
    crm_lifecycle_cohorts *c = NULL;
    if (!read_payload(&r, &c, &st) && !st)
        st = r.err ? r.err : CRM_ESTATE;
    if (!st)
        st = crm__rbuf_finish(&r);
    if (!st)
        st = finish(c);
    if (st) {
        crm_lifecycle_cohorts_free(c);
        return st;
    }
    *out = c;
    return CRM_OK;
}

/* ---- accessors ----------------------------------------------------------------- */

CRM_API int64_t crm_lifecycle_cohorts_asof(const crm_lifecycle_cohorts *c)
{
    return c ? c->asof : -1;
}

CRM_API size_t crm_lifecycle_cohorts_rows(const crm_lifecycle_cohorts *c)
{
    return c ? c->rows : 0;
}

CRM_API size_t crm_lifecycle_cohorts_columns(const crm_lifecycle_cohorts *c)
{
    return c ? c->cols : 0;
}

CRM_API const int32_t *crm_lifecycle_cohorts_month(const crm_lifecycle_cohorts *c)
{
    return c ? c->cohort_month : NULL;
}

CRM_API const uint64_t *crm_lifecycle_cohorts_size(const crm_lifecycle_cohorts *c)
{
    return c ? c->size : NULL;
}

CRM_API const uint64_t *crm_lifecycle_cohorts_active(const crm_lifecycle_cohorts *c)
{
    return c ? c->active : NULL;
}

CRM_API const double *crm_lifecycle_cohorts_share(const crm_lifecycle_cohorts *c)
{
    return c ? c->share : NULL;
}
