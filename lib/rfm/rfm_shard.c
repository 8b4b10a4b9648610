/*
 * The worker side of partitioned RFM scoring straight from orders. A shard
 * holds recency, frequency and monetary of the customers of one or more
 * customer-disjoint partitions, each aggregated in one pass over its orders
 * into its own hash table (a partition's table is small: it stays in cache,
 * which is what makes many small partitions cheaper than one big table).
 * Rows are kept in the order they come out of the tables; round 1 (value
 * histograms) and round 2 (tie ids) do not need id order, only the final
 * result is sorted by customer id.
 */
#include "rfm/rfm_internal.h"

/* Orders per hash slot when sizing a partition's table (load <= 1/2 with
 * ~8 orders per customer; the table grows when there are more customers). */
#define PER_SLOT 8

struct crm_rfm_shard {
    int64_t asof;
    size_t n, cap;
    uint64_t *id;
    int32_t *rec;
    uint32_t *freq;
    int64_t *mon;
    crm__rfm_entry *scratch; /* the hash table, reused by every add */
    size_t scratch_cap;
};

CRM_API void crm_rfm_shard_free(crm_rfm_shard *shard)
{
    if (!shard)
        return;
    crm__free(shard->id);
    crm__free(shard->rec);
    crm__free(shard->freq);
    crm__free(shard->mon);
    crm__free(shard->scratch);
    crm__free(shard);
}

CRM_API crm_status crm_rfm_shard_new(crm_rfm_shard **out, int64_t asof)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_shard_new: out is NULL");
    *out = NULL;
    if (asof < 0 || asof > CRM_DAY_MAX)
        return crm__fail(CRM_EINVAL, "crm_rfm_shard_new: asof = %lld is outside [0, %lld]",
                         (long long)asof, (long long)CRM_DAY_MAX);
    crm_rfm_shard *s = crm__malloc(sizeof *s);
    if (!s)
        return crm__fail(CRM_ENOMEM, "crm_rfm_shard_new: cannot allocate");
    memset(s, 0, sizeof *s);
    s->asof = asof;
    *out = s;
    return CRM_OK;
}

/* Room for `need` rows in every column; the shard is unchanged on failure
 * (a column that did grow only has spare capacity). */
static crm_status shard_reserve(crm_rfm_shard *s, size_t need)
{
    if (need <= s->cap)
        return CRM_OK;
    size_t cap = s->cap * 2 > need ? s->cap * 2 : need;
    crm_status st = crm__realloc_array((void **)&s->id, cap, sizeof *s->id, "rfm shard");
    if (!st)
        st = crm__realloc_array((void **)&s->rec, cap, sizeof *s->rec, "rfm shard");
    if (!st)
        st = crm__realloc_array((void **)&s->freq, cap, sizeof *s->freq, "rfm shard");
    if (!st)
        st = crm__realloc_array((void **)&s->mon, cap, sizeof *s->mon, "rfm shard");
    if (!st)
        s->cap = cap;
    return st;
}

CRM_API crm_status crm_rfm_shard_add(crm_rfm_shard *shard, const crm_order *orders, size_t n)
{
    if (!shard)
        return crm__fail(CRM_EINVAL, "crm_rfm_shard_add: shard is NULL");
    if (!orders && n)
        return crm__fail(CRM_EINVAL, "crm_rfm_shard_add: orders is NULL and n = %zu", n);
    size_t kept = 0;
    crm_status st = crm__rfm_aggregate(&shard->scratch, &shard->scratch_cap, &kept, orders, n,
                                       shard->asof, PER_SLOT);
    const crm__rfm_entry *e = shard->scratch;
    if (!st)
        st = shard_reserve(shard, shard->n + kept);
    if (!st) {
        size_t at = shard->n;
        for (size_t i = 0; i < kept; i++) {
            shard->id[at + i] = e[i].id;
            shard->rec[at + i] = (int32_t)(shard->asof - e[i].last);
            shard->freq[at + i] = e[i].freq;
            shard->mon[at + i] = e[i].mon;
        }
        shard->n += kept;
    }
    return st;
}

CRM_API size_t crm_rfm_shard_count(const crm_rfm_shard *shard)
{
    return shard ? shard->n : 0;
}

CRM_API crm_status crm_rfm_shard_partial(crm_rfm_partial **out, const crm_rfm_shard *shard)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_shard_partial: out is NULL");
    *out = NULL;
    if (!shard)
        return crm__fail(CRM_EINVAL, "crm_rfm_shard_partial: shard is NULL");
    return crm__rfm_hist_build(out, shard->n, shard->rec, shard->freq, shard->mon);
}

/* The shard's rows as (unsorted) result columns keyed by th's rules. */
static void shard_view(crm_rfm_result *v, const crm_rfm_shard *s, const crm_rfm_thresholds *th)
{
    memset(v, 0, sizeof *v);
    v->n = s->n;
    v->bins = crm__rfm_th_bins(th);
    v->asof = s->asof;
    v->id = s->id;
    v->rec = s->rec;
    v->freq = s->freq;
    v->mon = s->mon;
    memcpy(v->rule, crm__rfm_th_rules(th), sizeof v->rule);
}

CRM_API crm_status crm_rfm_shard_ties(crm_rfm_partial **out, const crm_rfm_shard *shard,
                                      const crm_rfm_thresholds *th)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_shard_ties: out is NULL");
    *out = NULL;
    if (!shard || !th)
        return crm__fail(CRM_EINVAL, "crm_rfm_shard_ties: %s is NULL", shard ? "th" : "shard");
    crm_rfm_result v;
    shard_view(&v, shard, th);
    return crm__rfm_ties_build(out, &v, th, 0);
}

typedef struct keyed {
    uint64_t id;
    uint64_t row;
} keyed;

CRM_API crm_status crm_rfm_shard_score(crm_rfm_result **out, const crm_rfm_shard *shard,
                                       const crm_rfm_thresholds *th)
{
    static const char fn[] = "crm_rfm_shard_score";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!shard || !th)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn, shard ? "th" : "shard");
    size_t n = shard->n;
    crm_status st = crm__rfm_score_check(fn, th, n);
    if (st)
        return st;
    keyed *order;
    st = crm__alloc_array((void **)&order, n, sizeof *order, 0, "rfm shard order");
    if (st)
        return st;
    for (size_t i = 0; i < n; i++)
        order[i] = (keyed){ shard->id[i], i };
    crm__sort_records_u64(order, n, sizeof *order);
    for (size_t i = 1; i < n; i++)
        if (order[i].id == order[i - 1].id) {
            unsigned long long id = (unsigned long long)order[i].id;
            crm__free(order);
            return crm__fail(CRM_EDATA,
                             "%s: customer %llu is in two partitions added to the shard "
                             "(partitions must be customer-disjoint)",
                             fn, id);
        }
    crm_rfm_result *res;
    st = crm__rfm_result_new(&res, n, crm__rfm_th_bins(th), shard->asof);
    if (!st)
        for (size_t r = 0; r < n; r++) {
            size_t i = (size_t)order[r].row;
            res->id[r] = shard->id[i];
            res->rec[r] = shard->rec[i];
            res->freq[r] = shard->freq[i];
            res->mon[r] = shard->mon[i];
        }
    crm__free(order);
    if (st)
        return st;
    return crm__rfm_score_with(out, res, th);
}

CRM_API crm_status crm_rfm_shard_cells(uint64_t *cells, int64_t *revenue, size_t n_cells,
                                       const crm_rfm_shard *shard, const crm_rfm_thresholds *th)
{
    static const char fn[] = "crm_rfm_shard_cells";
    if (!cells || !shard || !th)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn,
                         !cells ? "cells" : (!shard ? "shard" : "th"));
    size_t N = crm__rfm_th_bins(th);
    if (n_cells != N * N * N)
        return crm__fail(CRM_EINVAL, "%s: n_cells = %zu, the thresholds have %zu^3 = %zu cells",
                         fn, n_cells, N, N * N * N);
    crm_status st = crm__rfm_score_check(fn, th, shard->n);
    if (st)
        return st;
    crm_rfm_result v;
    shard_view(&v, shard, th);
    uint64_t tmp[CRM_RFM_BINS_MAX * CRM_RFM_BINS_MAX * CRM_RFM_BINS_MAX];
    int64_t rev[CRM_RFM_BINS_MAX * CRM_RFM_BINS_MAX * CRM_RFM_BINS_MAX];
    memset(tmp, 0, n_cells * sizeof *tmp);
    memset(rev, 0, n_cells * sizeof *rev);
    st = crm__rfm_cell_counts(tmp, revenue ? rev : NULL, &v, th);
    if (st)
        return st;
    memcpy(cells, tmp, n_cells * sizeof *tmp);
    if (revenue)
        memcpy(revenue, rev, n_cells * sizeof *rev);
    return CRM_OK;
}
