/* Compressed purchase data: distinct (x, t_x, T) rows with customer counts,
 * the sufficient statistics of the purchase models (scale-out form). */
#include <stdlib.h>

#include "clv/clv_internal.h"
#include "core/blob.h"

#define COUNTS_BLOB_VERSION 1u

struct crm_clv_counts {
    size_t n;
    uint64_t total;
    double *x, *tx, *T;
    uint64_t *w;
};

typedef struct trip {
    double x, tx, T;
} trip;

static int trip_cmp(const trip *a, const trip *b)
{
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    if (a->tx != b->tx)
        return a->tx < b->tx ? -1 : 1;
    return (a->T > b->T) - (a->T < b->T);
}

static int trip_qcmp(const void *a, const void *b)
{
    return trip_cmp(a, b);
}

CRM_API void crm_clv_counts_free(crm_clv_counts *c)
{
    if (!c)
        return;
    crm__free(c->x);
    crm__free(c->tx);
    crm__free(c->T);
    crm__free(c->w);
    crm__free(c);
}

static crm_status counts_alloc(crm_clv_counts **out, size_t n, const char *fn)
{
    crm_clv_counts *c = crm__malloc(sizeof *c);
    if (!c)
        return crm__fail(CRM_ENOMEM, "%s: out of memory", fn);
    memset(c, 0, sizeof *c);
    size_t cap = n ? n : 1;
    crm_status s = crm__alloc_array((void **)&c->x, cap, sizeof(double), 0, "clv counts");
    if (!s)
        s = crm__alloc_array((void **)&c->tx, cap, sizeof(double), 0, "clv counts");
    if (!s)
        s = crm__alloc_array((void **)&c->T, cap, sizeof(double), 0, "clv counts");
    if (!s)
        s = crm__alloc_array((void **)&c->w, cap, sizeof(uint64_t), 0, "clv counts");
    if (s) {
        crm_clv_counts_free(c);
        return s;
    }
    *out = c;
    return CRM_OK;
}

/* Append a row, adding to the last one when equal (rows come sorted). */
static crm_status push(crm_clv_counts *c, const trip *t, uint64_t w)
{
    if (c->n && c->x[c->n - 1] == t->x && c->tx[c->n - 1] == t->tx && c->T[c->n - 1] == t->T) {
        if (__builtin_add_overflow(c->w[c->n - 1], w, &c->w[c->n - 1]))
            return crm__fail(CRM_EOVERFLOW, "clv counts: a count overflows uint64");
    } else {
        c->x[c->n] = t->x;
        c->tx[c->n] = t->tx;
        c->T[c->n] = t->T;
        c->w[c->n] = w;
        c->n++;
    }
    if (__builtin_add_overflow(c->total, w, &c->total))
        return crm__fail(CRM_EOVERFLOW, "clv counts: the customer total overflows uint64");
    return CRM_OK;
}

CRM_API crm_status crm_clv_counts_build(crm_clv_counts **out, const double *x,
                                        const double *t_x, const double *T, size_t n)
{
    static const char fn[] = "crm_clv_counts_build";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (n && (!x || !t_x || !T))
        return crm__fail(CRM_EINVAL, "%s: x, t_x or T is NULL", fn);
    crm_status s = crm__clv_check_rows(x, t_x, T, n, fn);
    if (s)
        return s;
    trip *t = NULL;
    s = crm__alloc_array((void **)&t, n ? n : 1, sizeof(trip), 0, "clv counts");
    if (s)
        return s;
    for (size_t i = 0; i < n; i++)
        t[i] = (trip){ x[i], t_x[i] + 0.0, T[i] + 0.0 };
    qsort(t, n, sizeof *t, trip_qcmp);
    crm_clv_counts *c = NULL;
    s = counts_alloc(&c, n, fn);
    for (size_t i = 0; i < n && !s; i++)
        s = push(c, &t[i], 1);
    crm__free(t);
    if (s) {
        crm_clv_counts_free(c);
        return s;
    }
    *out = c;
    return CRM_OK;
}

CRM_API crm_status crm_clv_counts_merge(crm_clv_counts **out, const crm_clv_counts *a,
                                        const crm_clv_counts *b)
{
    static const char fn[] = "crm_clv_counts_merge";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!a || !b)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn, a ? "b" : "a");
    crm_clv_counts *c = NULL;
    crm_status s = counts_alloc(&c, a->n + b->n, fn);
    size_t i = 0, j = 0;
    while (!s && (i < a->n || j < b->n)) {
        trip ta = { 0 }, tb = { 0 };
        if (i < a->n)
            ta = (trip){ a->x[i], a->tx[i], a->T[i] };
        if (j < b->n)
            tb = (trip){ b->x[j], b->tx[j], b->T[j] };
        if (j >= b->n || (i < a->n && trip_cmp(&ta, &tb) <= 0)) {
            s = push(c, &ta, a->w[i]);
            i++;
        } else {
            s = push(c, &tb, b->w[j]);
            j++;
        }
    }
    if (s) {
        crm_clv_counts_free(c);
        return s;
    }
    *out = c;
    return CRM_OK;
}

CRM_API crm_status crm_clv_counts_serialize(const crm_clv_counts *c, void **bytes, size_t *len)
{
    if (!c || !bytes || !len)
        return crm__fail(CRM_EINVAL, "crm_clv_counts_serialize: NULL argument");
    *bytes = NULL;
    *len = 0;
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, CRM__BLOB_CLV_COUNTS, COUNTS_BLOB_VERSION);
    crm__wbuf_u64(&w, c->n);
    crm__wbuf_f64s(&w, c->x, c->n);
    crm__wbuf_f64s(&w, c->tx, c->n);
    crm__wbuf_f64s(&w, c->T, c->n);
    crm__wbuf_u64s(&w, c->w, c->n);
    return crm__blob_end(&w, bytes, len, "clv counts");
}

CRM_API crm_status crm_clv_counts_deserialize(crm_clv_counts **out, const void *bytes,
                                              size_t len)
{
    static const char fn[] = "crm_clv_counts_deserialize";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    crm__rbuf r;
    uint16_t ver;
    crm_status s = crm__blob_open(&r, bytes, len, CRM__BLOB_CLV_COUNTS, COUNTS_BLOB_VERSION,
                                  &ver, "clv counts");
    if (s)
        return s;
    uint64_t n = 0;
    if (!crm__rbuf_u64(&r, &n, "row count"))
        return r.err;
    if (n > crm__rbuf_left(&r) / 32) {
        crm__rbuf_bad(&r, "row count %llu exceeds the payload", (unsigned long long)n);
        return r.err;
    }
    crm_clv_counts *c = NULL;
    s = counts_alloc(&c, (size_t)n, fn);
    if (s)
        return s;
    double *col[3] = { c->x, c->tx, c->T };
    uint64_t *wt = c->w;
    size_t off = r.off;
    if (crm__rbuf_f64s(&r, col[0], n, "x") && crm__rbuf_f64s(&r, col[1], n, "t_x")
        && crm__rbuf_f64s(&r, col[2], n, "T") && crm__rbuf_u64s(&r, wt, n, "counts")) {
        for (size_t i = 0; i < n; i++) {
            trip t = { c->x[i], c->tx[i], c->T[i] };
            int bad_row = !(t.x >= 0.0 && t.x <= 1e12 && t.x == floor(t.x) && t.T >= 0.0
                            && t.T <= 1e12 && t.tx >= 0.0 && t.tx <= t.T
                            && (t.x > 0.0 || t.tx == 0.0));
            if (bad_row || wt[i] == 0) {
                r.off = off + i * 8;
                crm__rbuf_bad(&r, "row %zu is not a valid (x, t_x, T) with a count >= 1", i);
                break;
            }
            if (i > 0) {
                trip p = { c->x[i - 1], c->tx[i - 1], c->T[i - 1] };
                if (trip_cmp(&p, &t) >= 0) {
                    r.off = off + i * 8;
                    crm__rbuf_bad(&r, "row %zu is not after row %zu (rows must be distinct "
                                      "and ascending)", i, i - 1);
                    break;
                }
            }
            if (__builtin_add_overflow(c->total, wt[i], &c->total)) {
                crm__rbuf_bad(&r, "the counts overflow uint64");
                break;
            }
        }
    }
    s = r.err ? r.err : crm__rbuf_finish(&r);
    if (s) {
        crm_clv_counts_free(c);
        return s;
    }
    c->n = (size_t)n;
    *out = c;
    return CRM_OK;
}

CRM_API size_t crm_clv_counts_rows(const crm_clv_counts *c)
{
    return c ? c->n : 0;
}

CRM_API uint64_t crm_clv_counts_customers(const crm_clv_counts *c)
{
    return c ? c->total : 0;
}

CRM_API const double *crm_clv_counts_x(const crm_clv_counts *c)
{
    return c ? c->x : NULL;
}

CRM_API const double *crm_clv_counts_t_x(const crm_clv_counts *c)
{
    return c ? c->tx : NULL;
}

CRM_API const double *crm_clv_counts_tenure(const crm_clv_counts *c)
{
    return c ? c->T : NULL;
}

CRM_API const uint64_t *crm_clv_counts_n(const crm_clv_counts *c)
{
    return c ? c->w : NULL;
}

CRM_API crm_status crm_clv_fit_counts(crm_clv_model **out, int kind, const crm_clv_counts *c,
                                      const crm_clv_fit_options *opt)
{
    static const char fn[] = "crm_clv_fit_counts";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!c)
        return crm__fail(CRM_EINVAL, "%s: c is NULL", fn);
    double *w = NULL;
    crm_status s = crm__alloc_array((void **)&w, c->n ? c->n : 1, sizeof(double), 0,
                                    "clv weights");
    if (s)
        return s;
    for (size_t i = 0; i < c->n; i++)
        w[i] = (double)c->w[i];
    s = crm__clv_fit_rows(out, kind, c->x, c->tx, c->T, w, c->n, opt, fn);
    crm__free(w);
    return s;
}
