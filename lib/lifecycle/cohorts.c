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

typedef struct cm_rec {
    uint64_t id;    /* key: first member (crm__sort_records_u64) */
    int32_t month;
    int32_t pad;
} cm_rec;

/* Sort the months of one customer's records and pack its distinct months
 * into out (ascending); returns how many. */
static size_t distinct_months(const cm_rec *g, size_t len, int32_t *scratch, int32_t *out)
{
    for (size_t k = 0; k < len; k++)
        scratch[k] = g[k].month;
    crm__sort_i32(scratch, len);
    size_t m = 0;
    for (size_t k = 0; k < len; k++)
        if (m == 0 || out[m - 1] != scratch[k])
            out[m++] = scratch[k];
    return m;
}

/* Records of the non-refund orders on or before asof, sorted by id. */
static crm_status collect(const crm_order *o, size_t n, int64_t asof, cm_rec **out, size_t *m_out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (CRM__UNLIKELY(o[i].ts < 0 || o[i].ts > CRM_TS_MAX))
            return crm__fail(CRM_EDATA, "orders[%zu].ts = %lld is outside [0, %lld]", i,
                             (long long)o[i].ts, (long long)CRM_TS_MAX);
        m += o[i].amount >= 0 && crm__day_of(o[i].ts) <= asof;
    }
    cm_rec *rec;
    crm_status st = crm__alloc_array((void **)&rec, m, sizeof *rec, 0, "cohort records");
    if (st)
        return st;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = crm__day_of(o[i].ts);
        if (o[i].amount >= 0 && d <= asof)
            rec[k++] = (cm_rec){ o[i].customer_id, crm__month_of_day(d), 0 };
    }
    crm__sort_records_u64(rec, m, sizeof *rec);
    *out = rec;
    *m_out = m;
    return CRM_OK;
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
    cm_rec *rec = NULL;
    size_t m = 0;
    crm_status st = collect(orders, n, asof, &rec, &m);
    if (st)
        return st;
    size_t customers = 0, longest = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m && rec[j].id == rec[i].id)
            j++;
        customers++;
        if (j - i > longest)
            longest = j - i;
        i = j;
    }
    int32_t *scratch = NULL;
    crm_lifecycle_cohorts *c = NULL;
    st = crm__alloc_array((void **)&scratch, longest, sizeof *scratch, 0, "cohort scratch");
    if (!st)
        st = table_new(&c, asof, customers, m);
    if (!st) {
        size_t at = 0, w = 0;
        for (size_t i = 0; i < m;) {
            size_t j = i + 1;
            while (j < m && rec[j].id == rec[i].id)
                j++;
            c->id[w] = rec[i].id;
            at += distinct_months(rec + i, j - i, scratch, c->months + at);
            c->off[++w] = at;
            i = j;
        }
        st = finish(c);
    }
    crm__free(scratch);
    crm__free(rec);
    if (st) {
        crm_lifecycle_cohorts_free(c);
        return st;
    }
    *out = c;
    return CRM_OK;
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
