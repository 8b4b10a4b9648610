/*
 * RFM scores (specs/segmentation.md, "RFM scores 1..N").
 *
 * Each dimension is scored on a key (the value on the rule's scale). Rank
 * rules sort (key, row) pairs: rows are in customer order, so the row is
 * the tie-breaker the spec asks for. When the keys span less than 2^32 the
 * pair is packed into one u64 (key - min) << 32 | row and radix-sorted;
 * otherwise (key, row) records are sorted by key and each run of equal
 * keys is re-sorted by row. Value rules (rfm_r, cut points) reduce to
 * ascending integer cuts on the key scale: bin = 1 + #{cuts <= key}.
 */
#include <math.h>
#include <stdlib.h>

#include "rfm/rfm_internal.h"

static const size_t options_size[] = {
    0, CRM__SIZE_THROUGH(crm_rfm_options, map),
};
static const size_t explanation_size[] = {
    0, CRM__SIZE_THROUGH(crm_rfm_explanation, hi),
};
static const size_t stats_size[] = {
    0, CRM__SIZE_THROUGH(crm_rfm_segment_stats, mean_monetary),
};

CRM_API crm_status crm_rfm_options_init(crm_rfm_options *opt, unsigned version)
{
    crm_status s = crm__options_init(opt, version, NULL, options_size, CRM_RFM_OPTIONS_VERSION,
                                     "crm_rfm_options");
    if (s)
        return s;
    opt->bins = 5;
    opt->tie = CRM_RFM_TIE_NTILE;
    return CRM_OK;
}

CRM_API void crm_rfm_free(crm_rfm_result *res)
{
    if (!res)
        return;
    void *cols[] = { res->id, res->rec, res->freq, res->mon, res->score[0], res->score[1],
                     res->score[2], res->seg, res->acut[0], res->acut[1], res->acut[2],
                     res->cuts[0], res->cuts[1], res->cuts[2], res->stats };
    for (size_t i = 0; i < CRM__ARRAY_LEN(cols); i++)
        crm__free(cols[i]);
    crm_rfm_map_free(res->map);
    crm__free(res);
}

/* ---- keys (crm__rfm_key, crm__rfm_r_reversed: rfm_internal.h) --------------- */

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)

/* Stable LSD radix sort of v[0..n) by bits [lo, hi) only (tmp: n values). */
static void radix_bits(uint64_t *v, uint64_t *tmp, size_t n, unsigned lo, unsigned hi)
{
    size_t count[RADIX_SIZE];
    for (unsigned shift = lo; shift < hi; shift += RADIX_BITS) {
        unsigned width = hi - shift < RADIX_BITS ? hi - shift : RADIX_BITS;
        uint64_t mask = (UINT64_C(1) << width) - 1;
        size_t buckets = (size_t)1 << width;
        memset(count, 0, buckets * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(v[i] >> shift) & mask]++;
        size_t sum = 0;
        for (size_t b = 0; b < buckets; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(v[i] >> shift) & mask]++] = v[i];
        memcpy(v, tmp, n * sizeof *v);
    }
}

/*
 * Rows in rank order, (key, row) ascending, into ord; keys[] (each row's key
 * on entry) is left sorted the same way. Usual case: (key - min) << 32 | row,
 * already in row order, sorted stably on the key bits only (one pass for
 * most frequency ranges).
 */
static crm_status rank_order(int64_t *keys, size_t n, uint64_t *ord)
{
    if (n == 0)
        return CRM_OK;
    int64_t lo = keys[0], hi = keys[0];
    for (size_t i = 1; i < n; i++) {
        if (keys[i] < lo)
            lo = keys[i];
        if (keys[i] > hi)
            hi = keys[i];
    }
    uint64_t span = (uint64_t)hi - (uint64_t)lo;
    if (span <= UINT32_MAX && n <= (size_t)UINT32_MAX + 1) {
        for (size_t i = 0; i < n; i++)
            ord[i] = ((uint64_t)keys[i] - (uint64_t)lo) << 32 | (uint64_t)i;
        unsigned bits = 0;
        while (bits < 32 && (span >> bits))
            bits++;
        if (bits) {
            uint64_t *tmp;
            crm_status st = crm__alloc_array((void **)&tmp, n, sizeof *tmp, 0, "rfm sort buffer");
            if (st)
                return st;
            radix_bits(ord, tmp, n, 32, 32 + bits);
            crm__free(tmp);
        }
        for (size_t i = 0; i < n; i++) {
            keys[i] = (int64_t)((ord[i] >> 32) + (uint64_t)lo);
            ord[i] &= UINT32_MAX;
        }
        return CRM_OK;
    }
    typedef struct rec {
        uint64_t k, row;
    } rec;
    rec *r;
    crm_status st = crm__alloc_array((void **)&r, n, sizeof *r, 0, "rfm sort records");
    if (st)
        return st;
    for (size_t i = 0; i < n; i++)
        r[i] = (rec){ (uint64_t)keys[i] ^ (UINT64_C(1) << 63), i };
    crm__sort_records_u64(r, n, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        ord[i] = r[i].row;
        keys[i] = (int64_t)(r[i].k ^ (UINT64_C(1) << 63));
    }
    for (size_t i = 0; i < n;) { /* equal keys: customer order */
        size_t j = i + 1;
        while (j < n && r[j].k == r[i].k)
            j++;
        if (j - i > 1)
            crm__sort_u64(ord + i, j - i);
        i = j;
    }
    crm__free(r);
    return CRM_OK;
}

/* ---- bins ------------------------------------------------------------------ */

/* dplyr ntile: 1-based rank r of len values into N bins. */
uint32_t crm__rfm_ntile_bin(uint64_t r, uint64_t len, uint32_t N)
{
    uint64_t L = (len + N - 1) / N, S = len / N, k = len % N, T = L * k;
    if (r <= T)
        return (uint32_t)((r + L - 1) / L);
    return (uint32_t)((r - T + S - 1) / S + k);
}

/* pandas qcut(rank(method="first"), N) in integers. */
uint32_t crm__rfm_qcut_bin(uint64_t r, uint64_t len, uint32_t N)
{
    if (len == 1)
        return 1;
    uint64_t num = (uint64_t)N * (r - 1), den = len - 1;
    uint64_t b = (num + den - 1) / den;
    return b < 1 ? 1 : (uint32_t)b;
}

uint32_t crm__rfm_cut_bin(const int64_t *cuts, size_t nc, int64_t key, uint32_t N)
{
    size_t lo = 0, hi = nc; /* #{cuts <= key} */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cuts[mid] <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo + 1 > N ? N : (uint32_t)(lo + 1);
}

static int64_t sat_inc(int64_t v)
{
    return v == INT64_MAX ? v : v + 1;
}

__extension__ typedef __int128 i128;

/* rfm_r: ceil(t_j), t_j = q_j + 1, q_j = R type-7 quantile at j/N of the
 * sorted keys: x0 + rem (x1 - x0) / N with x0, x1 the values at 0-based
 * positions floor(h), floor(h) + 1, h = (len - 1) j / N (exact: the
 * fraction has denominator N). */
int64_t crm__rfm_r_cut(int64_t x0, int64_t x1, uint64_t rem, uint32_t N)
{
    i128 add = 0;
    if (rem) {
        i128 d = (i128)x1 - x0;
        add = ((i128)rem * d + N - 1) / N;
    }
    i128 c = (i128)x0 + 1 + add;
    return c > INT64_MAX ? INT64_MAX : (int64_t)c;
}

static void rfm_r_cuts(const int64_t *sorted, size_t n, uint32_t N, int64_t *cuts)
{
    for (uint32_t j = 1; j < N; j++) {
        uint64_t h = (uint64_t)(n - 1) * j, fl = h / N, rem = h % N;
        cuts[j - 1] = crm__rfm_r_cut(sorted[fl], rem ? sorted[fl + 1] : 0, rem, N);
    }
}

/* Last rank of each bin 1..N under a rank rule (binary search on the
 * monotone bin formula), so the walk over ranks needs no division. */
void crm__rfm_bin_ends(size_t n, uint32_t N, int ntile, uint64_t *last)
{
    for (uint32_t b = 1; b <= N; b++) {
        uint64_t lo = 0, hi = n; /* largest r in [0, n] with r == 0 or bin(r) <= b */
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo + 1) / 2;
            uint32_t got = ntile ? crm__rfm_ntile_bin(mid, n, N) : crm__rfm_qcut_bin(mid, n, N);
            if (got <= b)
                lo = mid;
            else
                hi = mid - 1;
        }
        last[b] = lo;
    }
}

/* own[b] / has[b]: largest key whose first customer is in bin b. */
void crm__rfm_frozen_cuts(const int64_t *own, const int *has, uint32_t N, int64_t *cuts)
{
    int64_t u = own[1]; /* bin 1 always holds rank 1 */
    for (uint32_t k = 1; k < N; k++) {
        if (has[k])
            u = own[k];
        cuts[k - 1] = sat_inc(u);
    }
}

/* Rank rules: scores by walking the ranks, and the ascending cuts u_b + 1,
 * u_b = largest key in bins 1..b, a key split over two bins counting in the
 * bin of its first customer (an empty bin takes the previous one's). */
static void rank_scores(const int64_t *sorted, const uint64_t *ord, size_t n, uint32_t N,
                        int ntile, int rev, uint8_t *out, int64_t *cuts)
{
    uint64_t last[CRM_RFM_BINS_MAX + 1];
    int64_t own[CRM_RFM_BINS_MAX + 1];
    int has[CRM_RFM_BINS_MAX + 1] = { 0 };
    crm__rfm_bin_ends(n, N, ntile, last);
    uint32_t b = 1;
    for (size_t r = 0; r < n; r++) {
        while (r + 1 > last[b])
            b++;
        out[ord[r]] = (uint8_t)(rev ? N + 1 - b : b);
        if (r == 0 || sorted[r - 1] != sorted[r]) {
            own[b] = sorted[r];
            has[b] = 1;
        }
    }
    crm__rfm_frozen_cuts(own, has, N, cuts);
}

typedef struct scorer {
    crm_rfm_result *res;
    int64_t *keys;
    uint64_t *ord;
} scorer;

crm_status crm__rfm_set_cuts(crm_rfm_result *res, int d, const int64_t *acut, size_t nc)
{
    crm_status st = crm__alloc_array((void **)&res->acut[d], nc, sizeof(int64_t), 0, "rfm cuts");
    if (!st)
        st = crm__alloc_array((void **)&res->cuts[d], nc, sizeof(int64_t), 0, "rfm cuts");
    if (st)
        return st;
    res->nacut[d] = res->ncuts[d] = nc;
    if (nc)
        memcpy(res->acut[d], acut, nc * sizeof *acut);
    int rev = d == CRM_RFM_DIM_R && res->rule[d] != CRM_RFM_RULE_CUTS && crm__rfm_r_reversed(res->rule[d]);
    for (size_t j = 0; j < nc; j++) /* reversed R: cuts on -recency, 1 - a, ascending */
        res->cuts[d][j] = rev ? 1 - acut[nc - 1 - j] : acut[j];
    return CRM_OK;
}

static crm_status score_dim(scorer *sc, int d, const int64_t *user_cuts, size_t n_user)
{
    crm_rfm_result *res = sc->res;
    size_t n = res->n;
    uint32_t N = res->bins;
    uint8_t *out = res->score[d];
    for (size_t i = 0; i < n; i++)
        sc->keys[i] = crm__rfm_key(res, d, i);
    int rev = d == CRM_RFM_DIM_R && crm__rfm_r_reversed(res->rule[d]);
    if (res->rule[d] == CRM_RFM_RULE_CUTS) {
        for (size_t i = 0; i < n; i++)
            out[i] = (uint8_t)crm__rfm_cut_bin(user_cuts, n_user, sc->keys[i], N);
        return crm__rfm_set_cuts(res, d, user_cuts, n_user);
    }
    if (n == 0)
        return crm__rfm_set_cuts(res, d, NULL, 0);
    crm_status st = rank_order(sc->keys, n, sc->ord);
    if (st)
        return st;
    int64_t acut[CRM_RFM_BINS_MAX];
    if (res->rule[d] == CRM_RFM_TIE_RFM_R) {
        rfm_r_cuts(sc->keys, n, N, acut);
        for (size_t r = 0; r < n; r++) {
            uint32_t b = crm__rfm_cut_bin(acut, N - 1, sc->keys[r], N);
            out[sc->ord[r]] = (uint8_t)(rev ? N + 1 - b : b);
        }
    } else {
        rank_scores(sc->keys, sc->ord, n, N, res->rule[d] == CRM_RFM_TIE_NTILE, rev, out, acut);
    }
    return crm__rfm_set_cuts(res, d, acut, N - 1);
}

/* ---- segments -------------------------------------------------------------- */

static crm_status segment_stats(crm_rfm_result *res)
{
    const crm_rfm_map *map = res->map;
    size_t L = map->nlabels, N = res->bins;
    crm_status st = crm__alloc_array((void **)&res->seg, res->n, sizeof *res->seg, 0,
                                     "rfm segment column");
    if (!st)
        st = crm__alloc_array((void **)&res->stats, L, sizeof *res->stats, 1, "rfm segment stats");
    if (st)
        return st;
    uint64_t rec_sum[CRM_RFM_BOXES_MAX + 1] = { 0 };
    for (size_t i = 0; i < res->n; i++) {
        size_t c = ((size_t)(res->score[0][i] - 1) * N + (res->score[1][i] - 1)) * N +
                   (res->score[2][i] - 1);
        uint16_t code = map->cells[c];
        res->seg[i] = code;
        crm_rfm_segment_stats *s = &res->stats[code];
        s->customers++;
        s->orders += res->freq[i];
        rec_sum[code] += (uint64_t)res->rec[i];
        if (__builtin_add_overflow(s->revenue, res->mon[i], &s->revenue))
            return crm__fail(CRM_EOVERFLOW,
                             "crm_rfm_score: revenue of segment \"%s\" overflows int64 at "
                             "customer %llu",
                             map->names[code], (unsigned long long)res->id[i]);
    }
    for (size_t l = 0; l < L; l++) {
        crm_rfm_segment_stats *s = &res->stats[l];
        s->version = CRM_RFM_SEGMENT_STATS_VERSION;
        double c = (double)s->customers;
        s->share = res->n ? c / (double)res->n : NAN;
        s->mean_recency = s->customers ? (double)rec_sum[l] / c : NAN;
        s->mean_frequency = s->customers ? (double)s->orders / c : NAN;
        s->mean_monetary = s->customers ? (double)s->revenue / c : NAN;
    }
    return CRM_OK;
}

/* ---- entry points ---------------------------------------------------------- */

static crm_status check_cuts(const char *fn, char dim, const int64_t *cuts, size_t n)
{
    if (n && !cuts)
        return crm__fail(CRM_EINVAL, "%s: %c_cuts is NULL with %zu cut points", fn, dim, n);
    for (size_t j = 1; j < n; j++)
        if (cuts[j] < cuts[j - 1])
            return crm__fail(CRM_EINVAL,
                             "%s: %c_cuts[%zu] = %lld is below %c_cuts[%zu] = %lld (cuts must "
                             "be non-decreasing)",
                             fn, dim, j, (long long)cuts[j], dim, j - 1,
                             (long long)cuts[j - 1]);
    return CRM_OK;
}

crm_status crm__rfm_resolve(const char *fn, const crm_rfm_options *opt, crm_rfm_options *o)
{
    crm_rfm_options_init(o, CRM_RFM_OPTIONS_VERSION);
    crm_status st = crm__options_resolve(o, opt, options_size, CRM_RFM_OPTIONS_VERSION,
                                         "crm_rfm_options");
    if (st)
        return st;
    if (o->bins < CRM_RFM_BINS_MIN || o->bins > CRM_RFM_BINS_MAX)
        return crm__fail(CRM_EINVAL, "%s: bins = %u is outside %d..%d", fn, o->bins,
                         CRM_RFM_BINS_MIN, CRM_RFM_BINS_MAX);
    if (o->tie > CRM_RFM_TIE_RFM_R)
        return crm__fail(CRM_EINVAL, "%s: tie = %u is not a crm_rfm_tie", fn, o->tie);
    if (o->map && !o->no_segments && o->map->bins != o->bins)
        return crm__fail(CRM_EINVAL, "%s: the segment map is for bins = %u, scores use %u",
                         fn, o->map->bins, o->bins);
    if ((st = check_cuts(fn, 'r', o->r_cuts, o->n_r_cuts)) ||
        (st = check_cuts(fn, 'f', o->f_cuts, o->n_f_cuts)) ||
        (st = check_cuts(fn, 'm', o->m_cuts, o->n_m_cuts)))
        return st;
    return CRM_OK;
}

/* Score res (columns filled) with options o. */
static crm_status score_all(crm_rfm_result *res, const crm_rfm_options *o)
{
    size_t n = res->n;
    const int64_t *cuts[3] = { o->r_cuts, o->f_cuts, o->m_cuts };
    size_t ncuts[3] = { o->n_r_cuts, o->n_f_cuts, o->n_m_cuts };
    scorer sc = { .res = res };
    crm_status st = CRM_OK;
    for (int d = 0; d < 3 && !st; d++) {
        res->rule[d] = ncuts[d] ? CRM_RFM_RULE_CUTS : o->tie;
        st = crm__alloc_array((void **)&res->score[d], n, 1, 0, "rfm score column");
    }
    if (!st)
        st = crm__alloc_array((void **)&sc.keys, n, sizeof *sc.keys, 0, "rfm keys");
    if (!st)
        st = crm__alloc_array((void **)&sc.ord, n, sizeof *sc.ord, 0, "rfm rank order");
    for (int d = 0; d < 3 && !st; d++)
        st = score_dim(&sc, d, cuts[d], ncuts[d]);
    crm__free(sc.keys);
    crm__free(sc.ord);
    if (st)
        return st;
    return crm__rfm_segments(res, o);
}

crm_status crm__rfm_segments(crm_rfm_result *res, const crm_rfm_options *o)
{
    if (o->no_segments)
        return CRM_OK;
    crm_status st = o->map ? crm__rfm_map_copy(&res->map, o->map)
                           : crm__rfm_map_default(&res->map, res->bins);
    if (!st && res->map)
        st = segment_stats(res);
    return st;
}

crm_status crm__rfm_result_new(crm_rfm_result **out, size_t n, uint32_t bins, int64_t asof)
{
    crm_rfm_result *res = crm__malloc(sizeof *res);
    if (!res)
        return crm__fail(CRM_ENOMEM, "rfm: cannot allocate the result");
    memset(res, 0, sizeof *res);
    res->n = n;
    res->bins = bins;
    res->asof = asof;
    crm_status st = crm__alloc_array((void **)&res->id, n, sizeof *res->id, 0, "rfm column");
    if (!st)
        st = crm__alloc_array((void **)&res->rec, n, sizeof *res->rec, 0, "rfm column");
    if (!st)
        st = crm__alloc_array((void **)&res->freq, n, sizeof *res->freq, 0, "rfm column");
    if (!st)
        st = crm__alloc_array((void **)&res->mon, n, sizeof *res->mon, 0, "rfm column");
    if (st) {
        crm_rfm_free(res);
        return st;
    }
    *out = res;
    return CRM_OK;
}

crm_status crm__rfm_result_of(crm_rfm_result **out, const crm_profiles *profiles,
                              uint32_t bins)
{
    size_t n = crm_profiles_count(profiles);
    crm_rfm_result *res;
    crm_status st = crm__rfm_result_new(&res, n, bins, crm_profiles_asof(profiles));
    if (st)
        return st;
    if (n) {
        memcpy(res->id, crm_profiles_customer_id(profiles), n * sizeof *res->id);
        memcpy(res->rec, crm_profiles_recency_days(profiles), n * sizeof *res->rec);
        memcpy(res->freq, crm_profiles_frequency(profiles), n * sizeof *res->freq);
        memcpy(res->mon, crm_profiles_monetary(profiles), n * sizeof *res->mon);
    }
    *out = res;
    return CRM_OK;
}

crm_status crm__rfm_finish(crm_rfm_result **out, crm_rfm_result *res, const crm_rfm_options *o)
{
    crm_status st = score_all(res, o);
    if (st) {
        crm_rfm_free(res);
        return st;
    }
    *out = res;
    return CRM_OK;
}

CRM_API crm_status crm_rfm_score(crm_rfm_result **out, const crm_profiles *profiles,
                                 const crm_rfm_options *opt)
{
    static const char fn[] = "crm_rfm_score";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!profiles)
        return crm__fail(CRM_EINVAL, "%s: profiles is NULL", fn);
    crm_rfm_options o;
    crm_status st = crm__rfm_resolve(fn, opt, &o);
    if (st)
        return st;
    crm_rfm_result *res;
    st = crm__rfm_result_of(&res, profiles, o.bins);
    if (st)
        return st;
    return crm__rfm_finish(out, res, &o);
}

CRM_API crm_status crm_rfm_score_columns(crm_rfm_result **out, const uint64_t *customer_id,
                                         const int32_t *recency_days,
                                         const uint32_t *frequency, const int64_t *monetary,
                                         size_t n, const crm_rfm_options *opt)
{
    static const char fn[] = "crm_rfm_score_columns";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (n && (!customer_id || !recency_days || !frequency || !monetary))
        return crm__fail(CRM_EINVAL, "%s: a column is NULL with n = %zu", fn, n);
    crm_rfm_options o;
    crm_status st = crm__rfm_resolve(fn, opt, &o);
    if (st)
        return st;
    for (size_t i = 0; i < n; i++) {
        if (i && customer_id[i] <= customer_id[i - 1])
            return crm__fail(CRM_EDATA,
                             "%s: customer_id[%zu] = %llu is not above customer_id[%zu] = %llu "
                             "(ids must be strictly ascending)",
                             fn, i, (unsigned long long)customer_id[i], i - 1,
                             (unsigned long long)customer_id[i - 1]);
        if (recency_days[i] < 0)
            return crm__fail(CRM_EDATA, "%s: recency_days[%zu] = %d is negative", fn, i,
                             recency_days[i]);
    }
    crm_rfm_result *res;
    st = crm__rfm_result_new(&res, n, o.bins, -1);
    if (st)
        return st;
    if (n) {
        memcpy(res->id, customer_id, n * sizeof *res->id);
        memcpy(res->rec, recency_days, n * sizeof *res->rec);
        memcpy(res->freq, frequency, n * sizeof *res->freq);
        memcpy(res->mon, monetary, n * sizeof *res->mon);
    }
    return crm__rfm_finish(out, res, &o);
}

/* ---- getters ---------------------------------------------------------------- */

CRM_API size_t crm_rfm_count(const crm_rfm_result *res)
{
    return res ? res->n : 0;
}

CRM_API uint32_t crm_rfm_bins(const crm_rfm_result *res)
{
    return res ? res->bins : 0;
}

CRM_API int64_t crm_rfm_asof(const crm_rfm_result *res)
{
    return res ? res->asof : -1;
}

#define RFM_COLUMN(type, name, member) \
    CRM_API const type *crm_rfm_##name(const crm_rfm_result *res) \
    { \
        return res ? res->member : NULL; \
    }

RFM_COLUMN(uint64_t, customer_id, id)
RFM_COLUMN(int32_t, recency_days, rec)
RFM_COLUMN(uint32_t, frequency, freq)
RFM_COLUMN(int64_t, monetary, mon)
RFM_COLUMN(uint8_t, r, score[0])
RFM_COLUMN(uint8_t, f, score[1])
RFM_COLUMN(uint8_t, m, score[2])
RFM_COLUMN(uint16_t, segment, seg)

CRM_API const crm_rfm_map *crm_rfm_result_map(const crm_rfm_result *res)
{
    return res ? res->map : NULL;
}

CRM_API size_t crm_rfm_segment_count(const crm_rfm_result *res)
{
    return res && res->map ? res->map->nlabels : 0;
}

CRM_API const char *crm_rfm_segment_name(const crm_rfm_result *res, size_t code)
{
    return res ? crm_rfm_map_label(res->map, code) : NULL;
}

CRM_API const int64_t *crm_rfm_cuts(const crm_rfm_result *res, int dim, size_t *n)
{
    if (n)
        *n = 0;
    if (!res || !n || dim < 0 || dim > 2)
        return NULL;
    *n = res->ncuts[dim];
    return res->cuts[dim];
}

CRM_API crm_status crm_rfm_explain(const crm_rfm_result *res, size_t row, int dim,
                                   crm_rfm_explanation *out)
{
    if (!res || !out)
        return crm__fail(CRM_EINVAL, "crm_rfm_explain: %s is NULL", res ? "out" : "res");
    crm_status st = crm__check_version(out->version, CRM_RFM_EXPLANATION_VERSION,
                                       "crm_rfm_explanation");
    if (st)
        return st;
    if (row >= res->n)
        return crm__fail(CRM_EINVAL, "crm_rfm_explain: row %zu is outside 0..%zu", row,
                         res->n);
    if (dim < 0 || dim > 2)
        return crm__fail(CRM_EINVAL, "crm_rfm_explain: dim = %d is not a crm_rfm_dim", dim);
    uint32_t N = res->bins, rule = res->rule[dim];
    int rev = dim == CRM_RFM_DIM_R && rule != CRM_RFM_RULE_CUTS && crm__rfm_r_reversed(rule);
    const uint8_t *score = res->score[dim];
    crm_rfm_explanation e = { .version = CRM_RFM_EXPLANATION_VERSION };
    e.score = score[row];
    e.bin = rev ? N + 1 - e.score : e.score;
    e.rule = rule;
    e.value = dim == CRM_RFM_DIM_R ? res->rec[row]
                                   : (dim == CRM_RFM_DIM_F ? (int64_t)res->freq[row] : res->mon[row]);
    e.key = crm__rfm_key(res, dim, row);
    e.count = res->n;
    uint64_t below = 0, before = 0, in_bin = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < res->n; i++) {
        int64_t k = crm__rfm_key(res, dim, i);
        uint32_t b = rev ? N + 1 - score[i] : score[i];
        below += k < e.key || (k == e.key && i < row);
        before += b < e.bin;
        if (b == e.bin) {
            in_bin++;
            lo = k < lo ? k : lo;
            hi = k > hi ? k : hi;
        }
    }
    e.rank = below + 1;
    e.rank_lo = before + 1;
    e.rank_hi = before + in_bin;
    if (rule == CRM_RFM_RULE_CUTS || rule == CRM_RFM_TIE_RFM_R) {
        const int64_t *a = res->acut[dim];
        size_t nc = res->nacut[dim];
        uint32_t b = e.bin;
        lo = b > 1 ? a[b - 2] : INT64_MIN;
        hi = (b - 1 < nc && b < N) ? a[b - 1] - 1 : INT64_MAX;
    }
    e.lo = lo;
    e.hi = hi;
    return crm__versioned_out(out, &e, explanation_size, CRM_RFM_EXPLANATION_VERSION,
                              "crm_rfm_explanation");
}

CRM_API crm_status crm_rfm_segment_summary(const crm_rfm_result *res, size_t code,
                                         crm_rfm_segment_stats *out)
{
    if (!res || !out)
        return crm__fail(CRM_EINVAL, "crm_rfm_segment_stats: %s is NULL", res ? "out" : "res");
    crm_status st = crm__check_version(out->version, CRM_RFM_SEGMENT_STATS_VERSION,
                                       "crm_rfm_segment_stats");
    if (st)
        return st;
    if (!res->map)
        return crm__fail(CRM_EINVAL, "crm_rfm_segment_stats: the result has no segments");
    if (code >= res->map->nlabels)
        return crm__fail(CRM_EINVAL, "crm_rfm_segment_stats: code %zu is outside 0..%zu", code,
                         res->map->nlabels - 1);
    return crm__versioned_out(out, &res->stats[code], stats_size,
                              CRM_RFM_SEGMENT_STATS_VERSION, "crm_rfm_segment_stats");
}

CRM_API crm_status crm_rfm_options_frozen(const crm_rfm_result *from, crm_rfm_options *opt)
{
    if (!from || !opt)
        return crm__fail(CRM_EINVAL, "crm_rfm_options_frozen: %s is NULL",
                         from ? "opt" : "from");
    crm_rfm_options_init(opt, CRM_RFM_OPTIONS_VERSION);
    opt->bins = from->bins;
    opt->r_cuts = from->cuts[0];
    opt->n_r_cuts = from->ncuts[0];
    opt->f_cuts = from->cuts[1];
    opt->n_f_cuts = from->ncuts[1];
    opt->m_cuts = from->cuts[2];
    opt->n_m_cuts = from->ncuts[2];
    opt->map = from->map;
    opt->no_segments = from->map == NULL;
    return CRM_OK;
}
