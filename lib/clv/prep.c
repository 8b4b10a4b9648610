/* Validation of model input rows and their de-duplicated form: evaluators
 * compute logs and special functions once per distinct value of x, t_x and
 * T, and only cheap arithmetic per customer. */
#include "clv/clv_internal.h"

crm_status crm__clv_check_x(const double *x, size_t n, const char *fn)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (!(v >= 0.0 && v <= 1e12 && v == floor(v)))
            return crm__fail(CRM_EDATA, "%s: x[%zu] = %g is not an integer in [0, 1e12]", fn,
                             i, v);
    }
    return CRM_OK;
}

crm_status crm__clv_check_rows(const double *x, const double *tx, const double *T, size_t n,
                               const char *fn)
{
    crm_status s = crm__clv_check_x(x, n, fn);
    if (s)
        return s;
    for (size_t i = 0; i < n; i++) {
        if (!(T[i] >= 0.0 && T[i] <= 1e12))
            return crm__fail(CRM_EDATA, "%s: T[%zu] = %g is not in [0, 1e12]", fn, i, T[i]);
        if (!(tx[i] >= 0.0 && tx[i] <= T[i]))
            return crm__fail(CRM_EDATA, "%s: t_x[%zu] = %g is not in [0, T[%zu] = %g]", fn, i,
                             tx[i], i, T[i]);
        if (x[i] == 0.0 && tx[i] != 0.0)
            return crm__fail(CRM_EDATA, "%s: t_x[%zu] = %g but x[%zu] = 0 (t_x must be 0)",
                             fn, i, tx[i], i);
    }
    return CRM_OK;
}

static void uniq_free(crm__clv_uniq *u)
{
    crm__free(u->v);
    crm__free(u->idx);
    memset(u, 0, sizeof *u);
}

static crm_status uniq_build(crm__clv_uniq *u, const double *col, size_t n)
{
    memset(u, 0, sizeof *u);
    crm__u64idx m;
    size_t cap = 256;
    uint64_t *keys = NULL;
    crm_status s = crm__alloc_array((void **)&u->idx, n ? n : 1, sizeof(uint32_t), 0,
                                    "clv index");
    if (!s)
        s = crm__alloc_array((void **)&keys, cap, sizeof(uint64_t), 0, "clv values");
    if (!s)
        s = crm__u64idx_init(&m, cap);
    if (s) {
        crm__free(keys);
        uniq_free(u);
        return s;
    }
    for (size_t i = 0; i < n && !s; i++) {
        double v = col[i] + 0.0; /* -0 -> +0 */
        uint64_t k;
        memcpy(&k, &v, sizeof k);
        bool added;
        size_t r = crm__u64idx_upsert(&m, k, keys, sizeof(uint64_t), &added);
        if (added) {
            keys[r] = k;
            if (m.count == cap) {
                s = crm__realloc_array((void **)&keys, cap * 2, sizeof(uint64_t),
                                       "clv values");
                if (!s)
                    cap *= 2;
            }
            if (!s && crm__u64idx_full(&m))
                s = crm__u64idx_grow(&m, keys, sizeof(uint64_t));
        }
        u->idx[i] = (uint32_t)r;
    }
    u->nv = m.count;
    crm__u64idx_free(&m);
    if (s) {
        crm__free(keys);
        uniq_free(u);
        return s;
    }
    u->v = (double *)(void *)keys; /* same bits, reinterpreted */
    return CRM_OK;
}

static void pairs_free(crm__clv_pairs *q)
{
    crm__free(q->idx);
    crm__free(q->x);
    crm__free(q->tau);
    crm__free(q->val);
    memset(q, 0, sizeof *q);
}

/* Exact open-addressing map of (x, tau) -> pair index. */
static crm_status pairs_build(crm__clv_pairs *q, const double *x, const double *tau, size_t n)
{
    memset(q, 0, sizeof *q);
    size_t cap = 64;
    while (cap < 2 * n)
        cap <<= 1;
    uint32_t *tab = NULL;
    crm_status s = crm__alloc_array((void **)&tab, cap, sizeof(uint32_t), 1, "clv pairs");
    if (!s)
        s = crm__alloc_array((void **)&q->idx, n ? n : 1, sizeof(uint32_t), 0, "clv pairs");
    if (!s)
        s = crm__alloc_array((void **)&q->x, n ? n : 1, sizeof(double), 0, "clv pairs");
    if (!s)
        s = crm__alloc_array((void **)&q->tau, n ? n : 1, sizeof(double), 0, "clv pairs");
    if (s) {
        crm__free(tab);
        pairs_free(q);
        return s;
    }
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        double a = x[i], b = tau[i] + 0.0;
        uint64_t ka, kb;
        memcpy(&ka, &a, 8);
        memcpy(&kb, &b, 8);
        size_t h = (size_t)crm__mix64(ka ^ crm__mix64(kb)) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            uint32_t e = tab[h];
            if (e == 0) {
                q->x[np] = a;
                q->tau[np] = b;
                tab[h] = (uint32_t)(++np);
                q->idx[i] = (uint32_t)(np - 1);
                break;
            }
            if (q->x[e - 1] == a && q->tau[e - 1] == b) {
                q->idx[i] = e - 1;
                break;
            }
        }
    }
    crm__free(tab);
    q->np = np;
    s = crm__alloc_array((void **)&q->val, 5 * (np ? np : 1), sizeof(double), 0, "clv pairs");
    if (s)
        pairs_free(q);
    return s;
}

void crm__clv_data_free(crm__clv_data *d)
{
    pairs_free(&d->pt);
    pairs_free(&d->pT);
    uniq_free(&d->ux);
    uniq_free(&d->ut);
    uniq_free(&d->uT);
    crm__free(d->cnt);
    crm__free(d->scratch);
    crm__free(d->scr2);
    memset(d, 0, sizeof *d);
}

crm_status crm__clv_data_init(crm__clv_data *d, const double *x, const double *tx,
                              const double *T, const double *w, size_t n, int pairs)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->x = x;
    d->tx = tx;
    d->T = T;
    d->w = w;
    crm_status s = uniq_build(&d->ux, x, n);
    if (!s)
        s = uniq_build(&d->ut, tx, n);
    if (!s)
        s = uniq_build(&d->uT, T, n);
    if (!s && pairs)
        s = pairs_build(&d->pt, x, tx, n);
    if (!s && pairs)
        s = pairs_build(&d->pT, x, T, n);
    if (!s)
        s = crm__alloc_array((void **)&d->scratch, 4 * (d->ut.nv + d->uT.nv + 1),
                             sizeof(double), 0, "clv scratch");
    if (!s)
        s = crm__alloc_array((void **)&d->scr2, 8 * (d->ux.nv ? d->ux.nv : 1),
                             sizeof(double), 0, "clv scratch");
    if (!s)
        s = crm__alloc_array((void **)&d->cnt, d->ux.nv ? d->ux.nv : 1, sizeof(double), 1,
                             "clv counts");
    if (s) {
        crm__clv_data_free(d);
        return s;
    }
    double sx = 0.0, sT = 0.0, sw = 0.0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        d->cnt[d->ux.idx[i]] += wi;
        sx += wi * x[i];
        sT += wi * T[i];
        sw += wi;
    }
    d->wsum = sw;
    d->mean_x = sw > 0.0 ? sx / sw : 0.0;
    d->mean_T = sw > 0.0 ? sT / sw : 0.0;
    return CRM_OK;
}

crm_status crm__clv_cache_init(crm__clv_cache *c, size_t n)
{
    size_t cap = 64;
    while (cap < 2 * n && cap < ((size_t)1 << 17))
        cap <<= 1;
    memset(c, 0, sizeof *c);
    crm_status s = crm__alloc_array((void **)&c->kx, cap, sizeof(double), 0, "clv cache");
    if (!s)
        s = crm__alloc_array((void **)&c->kt, cap, sizeof(double), 0, "clv cache");
    if (!s)
        s = crm__alloc_array((void **)&c->val, cap, sizeof(double), 0, "clv cache");
    if (s) {
        crm__clv_cache_free(c);
        return s;
    }
    for (size_t i = 0; i < cap; i++)
        c->kx[i] = -1.0; /* x >= 0: never a key */
    c->mask = cap - 1;
    return CRM_OK;
}

void crm__clv_cache_free(crm__clv_cache *c)
{
    crm__free(c->kx);
    crm__free(c->kt);
    crm__free(c->val);
    memset(c, 0, sizeof *c);
}
