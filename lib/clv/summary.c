/* Model input from orders: per customer x, t_x, T, m_x (specs/clv.md,
 * "Summary from orders"). */
#include <stdlib.h>

#include "clv/clv_internal.h"

struct crm_clv_summary {
    size_t n;
    uint32_t unit;
    uint64_t *id;
    double *x, *tx, *T, *mx;
};

typedef struct row {
    uint64_t id;
    int64_t day;
    int64_t amount;
} row;

static const size_t opt_size[] = { 0, CRM__SIZE_THROUGH(crm_clv_summary_options,
                                                        merge_same_day) };

CRM_API crm_status crm_clv_summary_options_init(crm_clv_summary_options *opt,
                                                unsigned version)
{
    crm_clv_summary_options o = { .unit = CRM_CLV_UNIT_DAY,
                                  .merge_same_day = 1 };
    return crm__options_init(opt, version, &o, opt_size, CRM_CLV_SUMMARY_OPTIONS_VERSION,
                             "crm_clv_summary_options");
}

CRM_API void crm_clv_summary_free(crm_clv_summary *s)
{
    if (!s)
        return;
    crm__free(s->id);
    crm__free(s->x);
    crm__free(s->tx);
    crm__free(s->T);
    crm__free(s->mx);
    crm__free(s);
}

static int row_cmp(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    return (a->amount > b->amount) - (a->amount < b->amount);
}

static void sort_group(row *g, size_t k)
{
    size_t i = 1;
    while (i < k && row_cmp(&g[i - 1], &g[i]) <= 0)
        i++;
    if (i == k)
        return;
    if (k > 32) {
        qsort(g, k, sizeof *g, row_cmp);
        return;
    }
    for (; i < k; i++) {
        row v = g[i];
        size_t j = i;
        while (j > 0 && row_cmp(&g[j - 1], &v) > 0) {
            g[j] = g[j - 1];
            j--;
        }
        g[j] = v;
    }
}

CRM_API crm_status crm_clv_summary_build(crm_clv_summary **out, const crm_order *orders,
                                         size_t n, int64_t period_end,
                                         const crm_clv_summary_options *opt)
{
    static const char fn[] = "crm_clv_summary_build";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!orders && n)
        return crm__fail(CRM_EINVAL, "%s: orders is NULL and n = %zu", fn, n);
    if (period_end < 0 || period_end > CRM_DAY_MAX)
        return crm__fail(CRM_EINVAL, "%s: period_end = %lld is outside [0, %lld]", fn,
                         (long long)period_end, (long long)CRM_DAY_MAX);
    crm_clv_summary_options o;
    crm_clv_summary_options_init(&o, CRM_CLV_SUMMARY_OPTIONS_VERSION);
    crm_status st = crm__options_resolve(&o, opt, opt_size, CRM_CLV_SUMMARY_OPTIONS_VERSION,
                                         "crm_clv_summary_options");
    if (st)
        return st;
    if (o.unit != CRM_CLV_UNIT_DAY && o.unit != CRM_CLV_UNIT_WEEK)
        return crm__fail(CRM_EINVAL, "%s: unit = %u is not CRM_CLV_UNIT_DAY (1) or "
                                     "CRM_CLV_UNIT_WEEK (7)", fn, o.unit);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t ts = orders[i].ts;
        if (ts < 0 || ts > CRM_TS_MAX)
            return crm__fail(CRM_EDATA, "%s: orders[%zu].ts = %lld is outside [0, %lld]", fn,
                             i, (long long)ts, (long long)CRM_TS_MAX);
        if (orders[i].amount >= 0 && crm__day_of(ts) <= period_end)
            m++;
    }
    row *rows = NULL;
    st = crm__alloc_array((void **)&rows, m ? m : 1, sizeof(row), 0, "clv summary rows");
    if (st)
        return st;
    m = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t day = crm__day_of(orders[i].ts);
        if (orders[i].amount >= 0 && day <= period_end)
            rows[m++] = (row){ orders[i].customer_id, day, orders[i].amount };
    }
    crm__sort_records_u64(rows, m, sizeof(row));
    size_t nc = 0;
    for (size_t i = 0; i < m; i++)
        if (i == 0 || rows[i].id != rows[i - 1].id)
            nc++;
    crm_clv_summary *s = crm__malloc(sizeof *s);
    if (!s) {
        crm__free(rows);
        return crm__fail(CRM_ENOMEM, "%s: out of memory", fn);
    }
    memset(s, 0, sizeof *s);
    s->n = nc;
    s->unit = o.unit;
    size_t cap = nc ? nc : 1;
    st = crm__alloc_array((void **)&s->id, cap, sizeof(uint64_t), 0, "clv summary");
    if (!st)
        st = crm__alloc_array((void **)&s->x, cap, sizeof(double), 0, "clv summary");
    if (!st)
        st = crm__alloc_array((void **)&s->tx, cap, sizeof(double), 0, "clv summary");
    if (!st)
        st = crm__alloc_array((void **)&s->T, cap, sizeof(double), 0, "clv summary");
    if (!st)
        st = crm__alloc_array((void **)&s->mx, cap, sizeof(double), 0, "clv summary");
    const double unit = (double)o.unit;
    size_t c = 0;
    for (size_t i = 0; i < m && !st;) {
        size_t j = i + 1;
        while (j < m && rows[j].id == rows[i].id)
            j++;
        sort_group(rows + i, j - i);
        int64_t first = rows[i].day, last = rows[j - 1].day;
        int64_t total = 0, first_amt = 0;
        uint64_t occ = 0;
        for (size_t k = i; k < j; k++) {
            if (__builtin_add_overflow(total, rows[k].amount, &total)) {
                st = crm__fail(CRM_EOVERFLOW, "%s: the amounts of customer_id %llu overflow "
                                              "int64", fn, (unsigned long long)rows[i].id);
                break;
            }
            if (o.merge_same_day) {
                if (k == i || rows[k].day != rows[k - 1].day)
                    occ++;
                if (rows[k].day == first)
                    first_amt += rows[k].amount; /* cannot overflow: part of total */
            } else {
                occ++;
            }
        }
        if (!o.merge_same_day)
            first_amt = rows[i].amount;
        double xv = (double)(occ - 1);
        s->id[c] = rows[i].id;
        s->x[c] = xv;
        s->tx[c] = (double)(last - first) / unit;
        s->T[c] = (double)(period_end - first) / unit;
        s->mx[c] = occ > 1 ? (double)(total - first_amt) / xv : 0.0;
        c++;
        i = j;
    }
    crm__free(rows);
    if (st) {
        crm_clv_summary_free(s);
        return st;
    }
    *out = s;
    return CRM_OK;
}

CRM_API size_t crm_clv_summary_count(const crm_clv_summary *s)
{
    return s ? s->n : 0;
}

CRM_API uint32_t crm_clv_summary_unit(const crm_clv_summary *s)
{
    return s ? s->unit : 0;
}

CRM_API const uint64_t *crm_clv_summary_customer_id(const crm_clv_summary *s)
{
    return s ? s->id : NULL;
}

CRM_API const double *crm_clv_summary_x(const crm_clv_summary *s)
{
    return s ? s->x : NULL;
}

CRM_API const double *crm_clv_summary_t_x(const crm_clv_summary *s)
{
    return s ? s->tx : NULL;
}

CRM_API const double *crm_clv_summary_tenure(const crm_clv_summary *s)
{
    return s ? s->T : NULL;
}

CRM_API const double *crm_clv_summary_m_x(const crm_clv_summary *s)
{
    return s ? s->mx : NULL;
}
