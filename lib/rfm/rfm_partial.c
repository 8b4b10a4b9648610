/*
 * RFM over partitioned data (scale-out). Round 1: exact histograms of the
 * raw values (recency, frequency, monetary) per partition, merged by adding
 * counts. Thresholds follow exactly from the merged histograms: rfm_r
 * quantiles are values at known positions; a rank rule's bin boundary b is
 * the position last_b, i.e. the key K_b there and how many of K_b's
 * customers (j_b, in customer order) fall at or before it. When j_b is less
 * than K_b's count, the rank rule split K_b over two bins and the boundary
 * also needs the j_b-th smallest id among K_b's customers: round 2 collects,
 * per partition, the smallest j_b such ids, merged by sorted union.
 *
 * A customer (key, id) is then in bins 1..b when key < K_b, or key == K_b
 * and id <= I_b; value rules are the same with I_b = UINT64_MAX.
 */
#include <stdlib.h>

#include "core/blob.h"
#include "core/varint.h"
#include "rfm/rfm_internal.h"

#define HIST 0
#define TIES 1
#define NB (CRM_RFM_BINS_MAX - 1)

typedef struct tie_entry {
    uint8_t dim, b;   /* dimension, boundary 1..N-1 */
    int64_t key;      /* K_b */
    uint64_t need;    /* j_b: ids wanted */
    size_t nids;
    uint64_t *ids;    /* ascending, at most need */
} tie_entry;

struct crm_rfm_partial {
    int kind;
    uint64_t n;            /* HIST: customers; TIES: ids held */
    size_t nv[3];          /* HIST: distinct raw values per dimension */
    int64_t *val[3];
    uint64_t *cnt[3];
    size_t nt;             /* TIES: entries */
    tie_entry *te;
};

struct crm_rfm_thresholds {
    crm_rfm_options opt;   /* resolved; cut arrays point into acut, map into `map` */
    crm_rfm_map *map;
    uint64_t n;
    uint32_t rule[3];
    size_t nb[3];          /* rank boundaries (N - 1) or 0 */
    int64_t bkey[3][NB];
    uint64_t bid[3][NB];   /* I_b, UINT64_MAX = the whole value */
    uint64_t bneed[3][NB]; /* j_b while pending, else 0 */
    uint64_t bcnt[3][NB];  /* customers of the whole with key K_b (pending only) */
    int64_t *acut[3];      /* ascending key-scale cuts (frozen form) */
    size_t nacut[3];
    size_t pending;
};

CRM_API void crm_rfm_partial_free(crm_rfm_partial *p)
{
    if (!p)
        return;
    for (int d = 0; d < 3; d++) {
        crm__free(p->val[d]);
        crm__free(p->cnt[d]);
    }
    for (size_t i = 0; i < p->nt; i++)
        crm__free(p->te[i].ids);
    crm__free(p->te);
    crm__free(p);
}

static crm_status partial_alloc(crm_rfm_partial **out, int kind)
{
    crm_rfm_partial *p = crm__malloc(sizeof *p);
    if (!p)
        return crm__fail(CRM_ENOMEM, "rfm partial: cannot allocate");
    memset(p, 0, sizeof *p);
    p->kind = kind;
    *out = p;
    return CRM_OK;
}

static crm_status hist_alloc(crm_rfm_partial *p, int d, size_t nv)
{
    p->nv[d] = nv;
    crm_status st = crm__alloc_array((void **)&p->val[d], nv, sizeof(int64_t), 0, "rfm histogram");
    if (!st)
        st = crm__alloc_array((void **)&p->cnt[d], nv, sizeof(uint64_t), 0, "rfm histogram");
    return st;
}

/* ---- round 1 ------------------------------------------------------------------ */

/* Histogram of dimension d of the n values in tmp (int64 bit patterns):
 * counting when their range is small (recency, frequency, most money),
 * else a radix sort. */
static crm_status hist_of(crm_rfm_partial *p, int d, uint64_t *tmp, size_t n)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t v = (int64_t)tmp[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    uint64_t range = n ? (uint64_t)hi - (uint64_t)lo : 0;
    if (n && range < 4 * (uint64_t)n + 4096) {
        uint64_t *cnt;
        crm_status st = crm__alloc_array((void **)&cnt, (size_t)range + 1, sizeof *cnt, 1,
                                         "rfm histogram buffer");
        if (st)
            return st;
        for (size_t i = 0; i < n; i++)
            cnt[tmp[i] - (uint64_t)lo]++;
        size_t nv = 0;
        for (uint64_t k = 0; k <= range; k++)
            nv += cnt[k] != 0;
        st = hist_alloc(p, d, nv);
        for (uint64_t k = 0, j = 0; k <= range && !st; k++)
            if (cnt[k]) {
                p->val[d][j] = (int64_t)((uint64_t)lo + k);
                p->cnt[d][j++] = cnt[k];
            }
        crm__free(cnt);
        return st;
    }
    for (size_t i = 0; i < n; i++) /* order-preserving u64 of the value */
        tmp[i] ^= UINT64_C(1) << 63;
    crm__sort_u64(tmp, n);
    size_t nv = 0;
    for (size_t i = 0; i < n; i++)
        nv += i == 0 || tmp[i] != tmp[i - 1];
    crm_status st = hist_alloc(p, d, nv);
    if (st)
        return st;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || tmp[i] != tmp[i - 1]) {
            p->val[d][k] = (int64_t)(tmp[i] ^ (UINT64_C(1) << 63));
            p->cnt[d][k++] = 0;
        }
        p->cnt[d][k - 1]++;
    }
    return CRM_OK;
}

/* Round-1 partial of n customers given as columns. */
crm_status crm__rfm_hist_build(crm_rfm_partial **out, size_t n, const int32_t *rec,
                               const uint32_t *freq, const int64_t *mon)
{
    crm_rfm_partial *p = NULL;
    crm_status st = partial_alloc(&p, HIST);
    if (st)
        return st;
    p->n = n;
    uint64_t *tmp;
    st = crm__alloc_array((void **)&tmp, n, sizeof *tmp, 0, "rfm partial buffer");
    for (int d = 0; d < 3 && !st; d++) {
        for (size_t i = 0; i < n; i++)
            tmp[i] = d == 0 ? (uint64_t)(int64_t)rec[i]
                            : (d == 1 ? (uint64_t)freq[i] : (uint64_t)mon[i]);
        st = hist_of(p, d, tmp, n);
    }
    crm__free(tmp);
    if (st) {
        crm_rfm_partial_free(p);
        return st;
    }
    *out = p;
    return CRM_OK;
}

CRM_API crm_status crm_rfm_partial_new(crm_rfm_partial **out, const crm_profiles *profiles)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_new: out is NULL");
    *out = NULL;
    if (!profiles)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_new: profiles is NULL");
    return crm__rfm_hist_build(out, crm_profiles_count(profiles),
                               crm_profiles_recency_days(profiles),
                               crm_profiles_frequency(profiles), crm_profiles_monetary(profiles));
}

/* ---- merge ----------------------------------------------------------------------- */

static crm_status merge_hist(crm_rfm_partial *p, const crm_rfm_partial *a,
                             const crm_rfm_partial *b)
{
    if (__builtin_add_overflow(a->n, b->n, &p->n))
        return crm__fail(CRM_EOVERFLOW, "crm_rfm_partial_merge: customer count overflows");
    for (int d = 0; d < 3; d++) {
        crm_status st = hist_alloc(p, d, a->nv[d] + b->nv[d]);
        if (st)
            return st;
        size_t i = 0, j = 0, k = 0;
        while (i < a->nv[d] || j < b->nv[d]) {
            int from_a = j == b->nv[d] || (i < a->nv[d] && a->val[d][i] <= b->val[d][j]);
            int from_b = i == a->nv[d] || (j < b->nv[d] && b->val[d][j] <= a->val[d][i]);
            p->val[d][k] = from_a ? a->val[d][i] : b->val[d][j];
            p->cnt[d][k] = (from_a ? a->cnt[d][i++] : 0) + (from_b ? b->cnt[d][j++] : 0);
            k++;
        }
        p->nv[d] = k;
    }
    return CRM_OK;
}

static int same_entry(const tie_entry *x, const tie_entry *y)
{
    return x->dim == y->dim && x->b == y->b && x->key == y->key && x->need == y->need;
}

/* Sorted union of two ascending id lists, the first `need` ids. */
static crm_status merge_ids(tie_entry *t, const tie_entry *x, const tie_entry *y)
{
    size_t cap = x->nids + y->nids;
    if (cap > t->need)
        cap = (size_t)t->need;
    crm_status st = crm__alloc_array((void **)&t->ids, cap, sizeof *t->ids, 0, "rfm tie ids");
    if (st)
        return st;
    size_t i = 0, j = 0;
    while (t->nids < cap && (i < x->nids || j < y->nids)) {
        if (j == y->nids || (i < x->nids && x->ids[i] < y->ids[j]))
            t->ids[t->nids++] = x->ids[i++];
        else if (i == x->nids || y->ids[j] < x->ids[i])
            t->ids[t->nids++] = y->ids[j++];
        else { /* the same customer in two partitions: not customer-disjoint */
            t->ids[t->nids++] = x->ids[i++];
            j++;
        }
    }
    return CRM_OK;
}

static crm_status merge_ties(crm_rfm_partial *p, const crm_rfm_partial *a,
                             const crm_rfm_partial *b)
{
    if (a->nt != b->nt)
        return crm__fail(CRM_EINVAL,
                         "crm_rfm_partial_merge: ties partials of different thresholds (%zu vs "
                         "%zu boundaries)",
                         a->nt, b->nt);
    for (size_t i = 0; i < a->nt; i++)
        if (!same_entry(&a->te[i], &b->te[i]))
            return crm__fail(CRM_EINVAL,
                             "crm_rfm_partial_merge: ties partials of different thresholds "
                             "(boundary %zu differs)",
                             i);
    crm_status st = crm__alloc_array((void **)&p->te, a->nt, sizeof *p->te, 1, "rfm ties");
    if (st)
        return st;
    p->nt = a->nt;
    for (size_t i = 0; i < a->nt && !st; i++) {
        p->te[i] = a->te[i];
        p->te[i].ids = NULL;
        p->te[i].nids = 0;
        st = merge_ids(&p->te[i], &a->te[i], &b->te[i]);
        p->n += p->te[i].nids;
    }
    return st;
}

CRM_API crm_status crm_rfm_partial_merge(crm_rfm_partial **out, const crm_rfm_partial *a,
                                         const crm_rfm_partial *b)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_merge: out is NULL");
    *out = NULL;
    if (!a || !b)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_merge: %s is NULL", a ? "b" : "a");
    if (a->kind != b->kind)
        return crm__fail(CRM_EINVAL,
                         "crm_rfm_partial_merge: a histogram partial and a ties partial");
    crm_rfm_partial *p = NULL;
    crm_status st = partial_alloc(&p, a->kind);
    if (st)
        return st;
    st = a->kind == HIST ? merge_hist(p, a, b) : merge_ties(p, a, b);
    if (st) {
        crm_rfm_partial_free(p);
        return st;
    }
    *out = p;
    return CRM_OK;
}

CRM_API uint64_t crm_rfm_partial_count(const crm_rfm_partial *p)
{
    return p ? p->n : 0;
}

/* ---- bytes ------------------------------------------------------------------------ */

/* 1: fixed-width arrays; 2 (written): values and ids as varint gaps of
 * the ascending sequence, counts as varints (~2 bytes per distinct value
 * instead of 16, ~1-2 per tie id instead of 8). */
#define BLOB_VERSION 2

CRM_API crm_status crm_rfm_partial_serialize(void **out, size_t *out_len,
                                             const crm_rfm_partial *p)
{
    if (!out || !out_len)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_serialize: %s is NULL",
                         out ? "out_len" : "out");
    *out = NULL;
    *out_len = 0;
    if (!p)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_serialize: p is NULL");
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, p->kind == HIST ? CRM__BLOB_RFM_HIST : CRM__BLOB_RFM_TIES, BLOB_VERSION);
    crm__wbuf_u64(&w, p->n);
    if (p->kind == HIST) {
        for (int d = 0; d < 3; d++) {
            crm__wbuf_u64(&w, p->nv[d]);
            crm__wbuf_ascending_i64s(&w, p->val[d], p->nv[d]);
            crm__wbuf_uvarints(&w, p->cnt[d], p->nv[d]);
        }
    } else {
        crm__wbuf_u64(&w, p->nt);
        for (size_t i = 0; i < p->nt; i++) {
            const tie_entry *t = &p->te[i];
            crm__wbuf_u8(&w, t->dim);
            crm__wbuf_u8(&w, t->b);
            crm__wbuf_i64(&w, t->key);
            crm__wbuf_u64(&w, t->need);
            crm__wbuf_u64(&w, t->nids);
            crm__wbuf_ascending_u64s(&w, t->ids, t->nids);
        }
    }
    return crm__blob_end(&w, out, out_len, "rfm partial");
}

/* A count read from the bytes, checked against what the rest can hold. */
static bool get_count(crm__rbuf *r, uint64_t *v, size_t item, const char *field)
{
    if (!crm__rbuf_u64(r, v, field))
        return false;
    if (*v > crm__rbuf_left(r) / item)
        return crm__rbuf_bad(r, "%s = %llu exceeds the remaining bytes", field,
                             (unsigned long long)*v);
    return true;
}

static crm_status load_hist(crm__rbuf *r, crm_rfm_partial *p, uint16_t version)
{
    for (int d = 0; d < 3; d++) {
        uint64_t nv;
        if (!get_count(r, &nv, version == 1 ? 16 : 2, "distinct values"))
            return r->err;
        crm_status st = hist_alloc(p, d, (size_t)nv);
        if (st)
            return st;
        size_t at = r->off;
        if (version == 1 ? !crm__rbuf_i64s(r, p->val[d], (size_t)nv, "values") ||
                               !crm__rbuf_u64s(r, p->cnt[d], (size_t)nv, "counts")
                         : !crm__rbuf_ascending_i64s(r, p->val[d], (size_t)nv, "values") ||
                               !crm__rbuf_uvarints(r, p->cnt[d], (size_t)nv, "counts"))
            return r->err;
        uint64_t sum = 0;
        for (size_t k = 0; k < nv; k++) {
            if (k && p->val[d][k] <= p->val[d][k - 1]) {
                r->off = at;
                crm__rbuf_bad(r, "dimension %d: value %zu not above the previous one", d, k);
                return r->err;
            }
            if (p->cnt[d][k] == 0 || __builtin_add_overflow(sum, p->cnt[d][k], &sum) ||
                (d == 0 && (p->val[d][k] < 0 || p->val[d][k] > INT32_MAX)) ||
                (d == 1 && (p->val[d][k] < 1 || p->val[d][k] > UINT32_MAX))) {
                r->off = at;
                crm__rbuf_bad(r, "dimension %d: value %zu or its count is out of range", d, k);
                return r->err;
            }
        }
        if (sum != p->n) {
            crm__rbuf_bad(r, "dimension %d counts %llu customers, the header %llu", d,
                          (unsigned long long)sum, (unsigned long long)p->n);
            return r->err;
        }
    }
    return CRM_OK;
}

static crm_status load_ties(crm__rbuf *r, crm_rfm_partial *p, uint16_t version)
{
    uint64_t nt, held = 0;
    if (!get_count(r, &nt, 26, "boundaries"))
        return r->err;
    crm_status st = crm__alloc_array((void **)&p->te, (size_t)nt, sizeof *p->te, 1, "rfm ties");
    if (st)
        return st;
    p->nt = (size_t)nt;
    for (size_t i = 0; i < nt; i++) {
        tie_entry *t = &p->te[i];
        uint64_t nids;
        if (!crm__rbuf_u8(r, &t->dim, "dim") || !crm__rbuf_u8(r, &t->b, "boundary") ||
            !crm__rbuf_i64(r, &t->key, "key") || !crm__rbuf_u64(r, &t->need, "need") ||
            !get_count(r, &nids, version == 1 ? 8 : 1, "ids"))
            return r->err;
        if (t->dim > 2 || t->b < 1 || t->b > NB || nids > t->need) {
            crm__rbuf_bad(r, "boundary %zu: dim %u, b %u or %llu ids out of range", i, t->dim,
                          t->b, (unsigned long long)nids);
            return r->err;
        }
        st = crm__alloc_array((void **)&t->ids, (size_t)nids, 8, 0, "rfm tie ids");
        if (st)
            return st;
        t->nids = (size_t)nids;
        if (version == 1 ? !crm__rbuf_u64s(r, t->ids, t->nids, "ids")
                         : !crm__rbuf_ascending_u64s(r, t->ids, t->nids, "ids"))
            return r->err;
        for (size_t k = 1; k < t->nids; k++)
            if (t->ids[k] <= t->ids[k - 1]) {
                crm__rbuf_bad(r, "boundary %zu: ids not ascending at %zu", i, k);
                return r->err;
            }
        held += nids;
    }
    if (held != p->n) {
        crm__rbuf_bad(r, "holds %llu ids, the header says %llu", (unsigned long long)held,
                      (unsigned long long)p->n);
        return r->err;
    }
    return CRM_OK;
}

CRM_API crm_status crm_rfm_partial_deserialize(crm_rfm_partial **out, const void *data,
                                               size_t len)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_deserialize: out is NULL");
    *out = NULL;
    if (!data)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_deserialize: data is NULL");
    /* the kind is at byte 4: pick the reader by it (blob_open checks it) */
    uint16_t kind = len >= 6 ? (uint16_t)(((const uint8_t *)data)[4] |
                                          ((const uint8_t *)data)[5] << 8)
                             : 0;
    if (kind != CRM__BLOB_RFM_TIES)
        kind = CRM__BLOB_RFM_HIST;
    crm__rbuf r;
    uint16_t version;
    crm_status st = crm__blob_open(&r, data, len, kind, BLOB_VERSION, &version, "rfm partial");
    if (st)
        return st;
    crm_rfm_partial *p = NULL;
    st = partial_alloc(&p, kind == CRM__BLOB_RFM_HIST ? HIST : TIES);
    if (st)
        return st;
    if (!crm__rbuf_u64(&r, &p->n, "count"))
        st = r.err;
    if (!st)
        st = p->kind == HIST ? load_hist(&r, p, version) : load_ties(&r, p, version);
    if (!st)
        st = crm__rbuf_finish(&r);
    if (st) {
        crm_rfm_partial_free(p);
        return st;
    }
    *out = p;
    return CRM_OK;
}

/* ---- thresholds --------------------------------------------------------------------- */

CRM_API void crm_rfm_thresholds_free(crm_rfm_thresholds *th)
{
    if (!th)
        return;
    for (int d = 0; d < 3; d++)
        crm__free(th->acut[d]);
    crm_rfm_map_free(th->map);
    crm__free(th);
}

CRM_API size_t crm_rfm_thresholds_pending(const crm_rfm_thresholds *th)
{
    return th ? th->pending : 0;
}

/* Histogram of dimension d in key order (R of ntile: -recency, reversed). */
typedef struct view {
    const int64_t *val;
    const uint64_t *cnt;
    size_t nv;
    int neg;
} view;

static int64_t view_key(const view *v, size_t k)
{
    return v->neg ? -v->val[v->nv - 1 - k] : v->val[k];
}

static uint64_t view_cnt(const view *v, size_t k)
{
    return v->neg ? v->cnt[v->nv - 1 - k] : v->cnt[k];
}

/* Group holding 0-based position pos, and the customers before it. */
static size_t view_find(const view *v, uint64_t pos, uint64_t *before)
{
    uint64_t cum = 0;
    size_t k = 0;
    while (cum + view_cnt(v, k) <= pos)
        cum += view_cnt(v, k++);
    *before = cum;
    return k;
}

static crm_status dim_cuts(crm_rfm_thresholds *th, int d, const int64_t *c, size_t nc)
{
    crm_status st = crm__alloc_array((void **)&th->acut[d], nc, sizeof(int64_t), 0, "rfm cuts");
    if (st)
        return st;
    if (nc)
        memcpy(th->acut[d], c, nc * sizeof *c);
    th->nacut[d] = nc;
    return CRM_OK;
}

/* Thresholds of one dimension under a rule from its histogram view. */
static crm_status dim_rule(crm_rfm_thresholds *th, int d, const view *v)
{
    uint32_t N = th->opt.bins, rule = th->rule[d];
    uint64_t n = th->n;
    int64_t cuts[NB];
    if (n == 0)
        return dim_cuts(th, d, NULL, 0);
    uint64_t before;
    if (rule == CRM_RFM_TIE_RFM_R) {
        for (uint32_t j = 1; j < N; j++) {
            uint64_t h = (n - 1) * j, fl = h / N, rem = h % N;
            int64_t x0 = view_key(v, view_find(v, fl, &before));
            int64_t x1 = rem ? view_key(v, view_find(v, fl + 1, &before)) : 0;
            cuts[j - 1] = crm__rfm_r_cut(x0, x1, rem, N);
            th->bkey[d][j - 1] = cuts[j - 1] == INT64_MIN ? INT64_MIN : cuts[j - 1] - 1;
            th->bid[d][j - 1] = UINT64_MAX;
        }
        th->nb[d] = N - 1;
        return dim_cuts(th, d, cuts, N - 1);
    }
    int ntile = rule == CRM_RFM_TIE_NTILE;
    uint64_t last[CRM_RFM_BINS_MAX + 1];
    crm__rfm_bin_ends((size_t)n, N, ntile, last);
    for (uint32_t b = 1; b < N; b++) {
        size_t k = view_find(v, last[b] - 1, &before);
        uint64_t j = last[b] - before;
        th->bkey[d][b - 1] = view_key(v, k);
        th->bid[d][b - 1] = UINT64_MAX;
        th->bneed[d][b - 1] = j < view_cnt(v, k) ? j : 0;
        th->bcnt[d][b - 1] = view_cnt(v, k);
        th->pending += j < view_cnt(v, k);
    }
    th->nb[d] = N - 1;
    /* frozen cuts: the bin of each value's first customer */
    int64_t own[CRM_RFM_BINS_MAX + 1];
    int has[CRM_RFM_BINS_MAX + 1] = { 0 };
    uint64_t cum = 0;
    uint32_t b = 1;
    for (size_t k = 0; k < v->nv; k++) {
        while (cum + 1 > last[b])
            b++;
        own[b] = view_key(v, k);
        has[b] = 1;
        cum += view_cnt(v, k);
    }
    crm__rfm_frozen_cuts(own, has, N, cuts);
    return dim_cuts(th, d, cuts, N - 1);
}

/* Fill pending boundaries from a merged ties partial. */
static crm_status resolve_ties(crm_rfm_thresholds *th, const crm_rfm_partial *ties)
{
    size_t k = 0;
    for (int d = 0; d < 3; d++)
        for (size_t b = 0; b < th->nb[d]; b++) {
            if (!th->bneed[d][b])
                continue;
            tie_entry want = { .dim = (uint8_t)d, .b = (uint8_t)(b + 1),
                               .key = th->bkey[d][b], .need = th->bneed[d][b] };
            if (k >= ties->nt || !same_entry(&ties->te[k], &want))
                return crm__fail(CRM_EINVAL,
                                 "crm_rfm_thresholds_new: the ties partial belongs to other "
                                 "thresholds (boundary %zu)",
                                 k);
            const tie_entry *t = &ties->te[k++];
            if (t->nids < t->need)
                return crm__fail(CRM_ESTATE,
                                 "crm_rfm_thresholds_new: ties partial holds %zu ids for "
                                 "boundary %zu, needs %llu (a partition missing?)",
                                 t->nids, k - 1, (unsigned long long)t->need);
            th->bid[d][b] = t->ids[t->need - 1];
            th->bneed[d][b] = 0;
            th->pending--;
        }
    if (k != ties->nt)
        return crm__fail(CRM_EINVAL,
                         "crm_rfm_thresholds_new: the ties partial belongs to other thresholds");
    return CRM_OK;
}

static crm_status thresholds_build(crm_rfm_thresholds *th, const crm_rfm_partial *hist,
                                   const crm_rfm_partial *ties)
{
    const crm_rfm_options *o = &th->opt;
    const int64_t *uc[3] = { o->r_cuts, o->f_cuts, o->m_cuts };
    size_t nuc[3] = { o->n_r_cuts, o->n_f_cuts, o->n_m_cuts };
    crm_status st = CRM_OK;
    for (int d = 0; d < 3 && !st; d++) {
        th->rule[d] = nuc[d] ? CRM_RFM_RULE_CUTS : o->tie;
        if (nuc[d]) {
            st = dim_cuts(th, d, uc[d], nuc[d]);
            continue;
        }
        view v = { hist->val[d], hist->cnt[d], hist->nv[d],
                   d == 0 && !crm__rfm_r_reversed(th->rule[d]) };
        st = dim_rule(th, d, &v);
    }
    if (!st && th->pending && ties)
        st = resolve_ties(th, ties);
    if (st)
        return st;
    /* the options keep pointing at the thresholds' own copies */
    th->opt.r_cuts = th->rule[0] == CRM_RFM_RULE_CUTS ? th->acut[0] : NULL;
    th->opt.f_cuts = th->rule[1] == CRM_RFM_RULE_CUTS ? th->acut[1] : NULL;
    th->opt.m_cuts = th->rule[2] == CRM_RFM_RULE_CUTS ? th->acut[2] : NULL;
    if (th->opt.map && !th->opt.no_segments) {
        st = crm__rfm_map_copy(&th->map, th->opt.map);
        th->opt.map = th->map;
    } else {
        th->opt.map = NULL;
    }
    return st;
}

CRM_API crm_status crm_rfm_thresholds_new(crm_rfm_thresholds **out,
                                          const crm_rfm_partial *hist,
                                          const crm_rfm_partial *ties,
                                          const crm_rfm_options *opt)
{
    static const char fn[] = "crm_rfm_thresholds_new";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!hist)
        return crm__fail(CRM_EINVAL, "%s: hist is NULL", fn);
    if (hist->kind != HIST || (ties && ties->kind != TIES))
        return crm__fail(CRM_EINVAL, "%s: hist must be a round-1 partial, ties a round-2 one", fn);
    crm_rfm_thresholds *th = crm__malloc(sizeof *th);
    if (!th)
        return crm__fail(CRM_ENOMEM, "%s: cannot allocate", fn);
    memset(th, 0, sizeof *th);
    crm_status st = crm__rfm_resolve(fn, opt, &th->opt);
    th->n = hist->n;
    if (!st)
        st = thresholds_build(th, hist, ties);
    if (st) {
        crm_rfm_thresholds_free(th);
        return st;
    }
    *out = th;
    return CRM_OK;
}

/* ---- round 2 --------------------------------------------------------------------- */

/* Round-2 partial of the customers of cols (rule[] set to th's): per
 * pending boundary the smallest `need` ids at its key. `ascending`: cols
 * are in id order (stop at the need-th), else all are collected, sorted. */
crm_status crm__rfm_ties_build(crm_rfm_partial **out, const crm_rfm_result *cols,
                               const crm_rfm_thresholds *th, int ascending)
{
    crm_rfm_partial *p = NULL;
    crm_status st = partial_alloc(&p, TIES);
    if (!st)
        st = crm__alloc_array((void **)&p->te, th->pending, sizeof *p->te, 1, "rfm ties");
    for (int d = 0; d < 3 && !st; d++) {
        tie_entry *t = &p->te[p->nt];
        size_t k = 0, have[NB] = { 0 };
        for (size_t b = 0; b < th->nb[d]; b++)
            if (th->bneed[d][b])
                t[k++] = (tie_entry){ .dim = (uint8_t)d, .b = (uint8_t)(b + 1),
                                      .key = th->bkey[d][b], .need = th->bneed[d][b] };
        if (!k)
            continue;
        p->nt += k;
        /* room: the partition cannot hold more customers at K_b than the
         * whole (an ascending table needs only the first `need`) */
        for (size_t j = 0; j < k && !st; j++) {
            uint64_t cap = th->bcnt[d][t[j].b - 1];
            if (cap > cols->n)
                cap = cols->n;
            if (ascending && cap > t[j].need)
                cap = t[j].need;
            have[j] = (size_t)cap;
            st = crm__alloc_array((void **)&t[j].ids, have[j], 8, 0, "rfm tie ids");
        }
        int more = 0; /* more customers at K_b than the whole has */
        for (size_t i = 0; i < cols->n && !st; i++) { /* one pass: collect */
            int64_t key = crm__rfm_key(cols, d, i);
            for (size_t j = 0; j < k; j++)
                if (key == t[j].key) {
                    if (t[j].nids < have[j])
                        t[j].ids[t[j].nids++] = cols->id[i];
                    else
                        more |= !ascending;
                }
        }
        if (more && !st)
            st = crm__fail(CRM_EINVAL,
                           "rfm ties: the partition has more customers with a split value "
                           "than the thresholds' population (thresholds of other data?)");
        for (size_t j = 0; j < k && !st; j++) {
            if (!ascending)
                crm__sort_u64(t[j].ids, t[j].nids);
            if (t[j].nids > t[j].need)
                t[j].nids = (size_t)t[j].need; /* the rest cannot matter */
            p->n += t[j].nids;
        }
    }
    if (st) {
        crm_rfm_partial_free(p);
        return st;
    }
    *out = p;
    return CRM_OK;
}

CRM_API crm_status crm_rfm_partial_ties(crm_rfm_partial **out, const crm_profiles *profiles,
                                        const crm_rfm_thresholds *th)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_ties: out is NULL");
    *out = NULL;
    if (!profiles || !th)
        return crm__fail(CRM_EINVAL, "crm_rfm_partial_ties: %s is NULL",
                         profiles ? "th" : "profiles");
    crm_rfm_result *cols; /* the partition's columns, keyed by th's rules */
    crm_status st = crm__rfm_result_of(&cols, profiles, th->opt.bins);
    if (st)
        return st;
    memcpy(cols->rule, th->rule, sizeof cols->rule);
    st = crm__rfm_ties_build(out, cols, th, 1); /* table order: ascending ids */
    crm_rfm_free(cols);
    return st;
}

/* ---- scoring a partition ------------------------------------------------------------- */

/* Score 1..N of a customer (key, id) in dimension d. */
static inline uint32_t th_score(const crm_rfm_thresholds *th, int d, int64_t key, uint64_t id)
{
    uint32_t N = th->opt.bins, bin;
    if (th->rule[d] == CRM_RFM_RULE_CUTS)
        return crm__rfm_cut_bin(th->acut[d], th->nacut[d], key, N);
    bin = 1; /* branch-free: keys are in random order */
    for (size_t b = 0; b < th->nb[d]; b++)
        bin += (uint32_t)(key > th->bkey[d][b]) |
               ((uint32_t)(key == th->bkey[d][b]) & (uint32_t)(id > th->bid[d][b]));
    return d == 0 && crm__rfm_r_reversed(th->rule[d]) ? N + 1 - bin : bin;
}

/* Score res (columns filled, id order) with th; frees res on failure. */
crm_status crm__rfm_score_with(crm_rfm_result **out, crm_rfm_result *res,
                               const crm_rfm_thresholds *th)
{
    crm_status st = CRM_OK;
    memcpy(res->rule, th->rule, sizeof res->rule);
    for (int d = 0; d < 3 && !st; d++) {
        st = crm__alloc_array((void **)&res->score[d], res->n, 1, 0, "rfm score column");
        if (!st)
            st = crm__rfm_set_cuts(res, d, th->acut[d], th->nacut[d]);
        for (size_t i = 0; i < res->n && !st; i++)
            res->score[d][i] = (uint8_t)th_score(th, d, crm__rfm_key(res, d, i), res->id[i]);
    }
    if (!st)
        st = crm__rfm_segments(res, &th->opt);
    if (st) {
        crm_rfm_free(res);
        return st;
    }
    *out = res;
    return CRM_OK;
}

crm_status crm__rfm_cell_counts(uint64_t *cells, int64_t *revenue, const crm_rfm_result *cols,
                                const crm_rfm_thresholds *th)
{
    size_t N = th->opt.bins;
    for (size_t i = 0; i < cols->n; i++) {
        size_t r = th_score(th, 0, crm__rfm_key(cols, 0, i), cols->id[i]);
        size_t f = th_score(th, 1, crm__rfm_key(cols, 1, i), cols->id[i]);
        size_t m = th_score(th, 2, crm__rfm_key(cols, 2, i), cols->id[i]);
        size_t c = ((r - 1) * N + f - 1) * N + m - 1;
        cells[c]++;
        if (revenue && __builtin_add_overflow(revenue[c], cols->mon[i], &revenue[c]))
            return crm__fail(CRM_EOVERFLOW,
                             "rfm cell revenue overflows int64 at customer %llu (R %zu F %zu "
                             "M %zu)",
                             (unsigned long long)cols->id[i], r, f, m);
    }
    return CRM_OK;
}

/* Common argument checks of the scoring entry points. */
crm_status crm__rfm_score_check(const char *fn, const crm_rfm_thresholds *th, size_t n)
{
    if (th->pending)
        return crm__fail(CRM_EINVAL,
                         "%s: %zu boundaries still need the round-2 ties partial", fn,
                         th->pending);
    if (n > th->n)
        return crm__fail(CRM_EINVAL, "%s: the partition has %zu customers, the thresholds %llu",
                         fn, n, (unsigned long long)th->n);
    return CRM_OK;
}

uint32_t crm__rfm_th_bins(const crm_rfm_thresholds *th)
{
    return th->opt.bins;
}

const uint32_t *crm__rfm_th_rules(const crm_rfm_thresholds *th)
{
    return th->rule;
}

CRM_API crm_status crm_rfm_score_thresholds(crm_rfm_result **out, const crm_profiles *profiles,
                                            const crm_rfm_thresholds *th)
{
    static const char fn[] = "crm_rfm_score_thresholds";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!profiles || !th)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn, profiles ? "th" : "profiles");
    crm_status st = crm__rfm_score_check(fn, th, crm_profiles_count(profiles));
    if (st)
        return st;
    crm_rfm_result *res;
    st = crm__rfm_result_of(&res, profiles, th->opt.bins);
    if (st)
        return st;
    return crm__rfm_score_with(out, res, th);
}
