/* Shapley credit (specs/attribution.md, "Models"): the coverage game
 * v(S) = conversions of paths whose channel set is a subset of S, and the
 * per-journey conversion-rate game of Zhao et al. (2018). */
#include <math.h>
#include <stdlib.h>

#include "attribution/attr_internal.h"

#define SHAPLEY_MAX_SET 20

static int u32cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Key of a path: its channel set (sorted) or its first appearances in
 * order; returns the key length. `seen` is a zeroed nch-byte scratch left
 * zeroed on return. */
static size_t path_key(const uint32_t *s, size_t len, bool ordered, uint8_t *seen,
                       uint32_t *key)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (!seen[s[i]]) {
            seen[s[i]] = 1;
            key[k++] = s[i];
        }
    for (size_t i = 0; i < k; i++)
        seen[key[i]] = 0;
    if (!ordered)
        qsort(key, k, 4, u32cmp);
    return k;
}

/* Distinct keys with their conversions, value and nulls. */
typedef struct keyset {
    attr_seqset set;
    double *conv, *val, *nul;
    size_t cap;
} keyset;

static void keyset_free(keyset *k)
{
    attr_seqset_free(&k->set);
    crm__free(k->conv);
    crm__free(k->val);
    crm__free(k->nul);
}

static crm_status keyset_build(keyset *ks, const crm_attribution_paths *t, bool ordered,
                               uint32_t *key, uint8_t *seen)
{
    attr_seqset_init(&ks->set, 4);
    ks->conv = ks->val = ks->nul = NULL;
    size_t nr = t->rows.n;
    crm_status st = attr_seqset_reserve(&ks->set, nr, t->rows.pool_len);
    if (!st)
        st = crm__alloc_array((void **)&ks->conv, nr + 1, 8, 1, "shapley keys");
    if (!st)
        st = crm__alloc_array((void **)&ks->val, nr + 1, 8, 1, "shapley keys");
    if (!st)
        st = crm__alloc_array((void **)&ks->nul, nr + 1, 8, 1, "shapley keys");
    if (st)
        return st;
    for (size_t r = 0; r < nr; r++) {
        size_t len;
        const uint32_t *s = attr_seqset_at(&t->rows, r, &len);
        size_t k = path_key(s, len, ordered, seen, key);
        bool added;
        size_t i = attr_seqset_add(&ks->set, key, k, attr_hash_bytes(key, k * 4), &added);
        ks->conv[i] += t->conv[r];
        ks->val[i] += t->value[r];
        ks->nul[i] += t->nulls[r];
    }
    return CRM_OK;
}

/* Coverage game: v = sum of unanimity games u_T with dividends f(T), so
 * phi_i = sum over T containing i of f(T) / |T| (exact). */
static crm_status coverage(const keyset *ks, double *conv, double *value)
{
    for (size_t i = 0; i < ks->set.n; i++) {
        size_t k;
        const uint32_t *key = attr_seqset_at(&ks->set, i, &k);
        for (size_t q = 0; q < k; q++) {
            conv[key[q]] += ks->conv[i] / (double)k;
            value[key[q]] += ks->val[i] / (double)k;
        }
    }
    return CRM_OK;
}

static crm_status conversion_rate(const keyset *ks, double *conv, double *value)
{
    double *v = NULL, *wt = NULL;
    uint32_t sub[SHAPLEY_MAX_SET];
    crm_status st = crm__alloc_array((void **)&v, (size_t)1 << SHAPLEY_MAX_SET, 8, 0,
                                     "shapley values");
    if (!st)
        st = crm__alloc_array((void **)&wt, SHAPLEY_MAX_SET + 1, 8, 0, "shapley weights");
    for (size_t i = 0; i < ks->set.n && !st; i++) {
        if (!(ks->conv[i] > 0))
            continue;
        size_t m;
        const uint32_t *T = attr_seqset_at(&ks->set, i, &m);
        if (m > SHAPLEY_MAX_SET) {
            st = crm__fail(CRM_EDATA, "shapley_cr: a path has %zu distinct channels, at "
                           "most %d", m, SHAPLEY_MAX_SET);
            break;
        }
        size_t nsub = (size_t)1 << m;
        v[0] = 0;
        for (size_t mask = 1; mask < nsub; mask++) {
            size_t k = 0;
            for (size_t q = 0; q < m; q++)
                if (mask >> q & 1)
                    sub[k++] = T[q];
            size_t j = attr_seqset_find(&ks->set, sub, k, attr_hash_bytes(sub, k * 4));
            double d = j == SIZE_MAX ? 0 : ks->conv[j] + ks->nul[j];
            v[mask] = d > 0 ? ks->conv[j] / d : 0;
        }
        /* w(s) = s! (m - s - 1)! / m! */
        for (size_t s = 0; s < m; s++) {
            double w = 1.0 / (double)m;
            for (size_t a = 1; a <= s; a++)
                w *= (double)a / (double)(m - a);
            wt[s] = w;
        }
        double total = v[nsub - 1];
        for (size_t q = 0; q < m; q++) {
            double phi = 0;
            size_t bit = (size_t)1 << q;
            for (size_t mask = 0; mask < nsub; mask++)
                if (!(mask & bit))
                    phi += wt[__builtin_popcountll(mask)] * (v[mask | bit] - v[mask]);
            conv[T[q]] += phi / total * ks->conv[i];
            value[T[q]] += phi / total * ks->val[i];
        }
    }
    crm__free(v);
    crm__free(wt);
    return st;
}

crm_status attr_shapley_credit(const crm_attribution_paths *t, int model,
                               const crm_attribution_options *o, double *conv, double *value)
{
    size_t nch = t->names.n;
    uint32_t *key = NULL;
    uint8_t *seen = NULL;
    keyset ks;
    memset(&ks, 0, sizeof ks);
    size_t maxlen = 0;
    for (size_t r = 0; r < t->rows.n; r++)
        if (t->rows.off[r + 1] - t->rows.off[r] > maxlen)
            maxlen = (size_t)(t->rows.off[r + 1] - t->rows.off[r]);
    crm_status st = crm__alloc_array((void **)&key, maxlen + 1, 4, 0, "shapley key");
    if (!st)
        st = crm__alloc_array((void **)&seen, nch + 1, 1, 1, "shapley key");
    if (!st)
        st = keyset_build(&ks, t, model == CRM_ATTRIBUTION_SHAPLEY_CR && o->ordered, key, seen);
    if (!st)
        st = model == CRM_ATTRIBUTION_SHAPLEY ? coverage(&ks, conv, value)
                                              : conversion_rate(&ks, conv, value);
    keyset_free(&ks);
    crm__free(key);
    crm__free(seen);
    return st;
}
