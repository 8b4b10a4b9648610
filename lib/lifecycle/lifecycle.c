/*
 * Lifecycle stages, funnel and migration (specs/segmentation.md, "Lifecycle
 * stages").
 *
 * Every threshold test is done exactly on integers: with gap_eff =
 * max(span / (f - 1), MIN_GAP), "r <= K * gap_eff" is "r <= K * MIN_GAP or
 * r * (f - 1) <= K * span", where r, f, span are integers and K a double;
 * both products are exact in double for any realistic K (day counts are
 * below 2^19, frequency below 2^32), so a recency lying exactly on a
 * threshold is never moved by rounding.
 */
#include <math.h>

#include "core/blob.h"
#include "core/core.h"
#include "crm/lifecycle.h"

/* Per-row inputs of the classifier (kept for crm_lifecycle_explain). */
typedef struct lc_row {
    int32_t first;     /* first purchase day; leads: creation day */
    int32_t last, prev;
    uint32_t freq;     /* 0 for a lead */
    uint32_t last_rows;
} lc_row;

struct crm_lifecycle {
    int64_t asof;
    size_t n;
    crm_lifecycle_options opt;
    int p_mode;
    uint64_t params_id;
    uint64_t *customer_id;
    uint8_t *stage;
    lc_row *row;
    double *p_alive;   /* per row, p_mode only (NaN for leads) */
    crm_lifecycle_funnel funnel;
};

static const size_t options_size[] = {
    0, CRM__SIZE_THROUGH(crm_lifecycle_options, p_churned),
};
static const size_t explanation_size[] = {
    0, CRM__SIZE_THROUGH(crm_lifecycle_explanation, comeback_threshold),
};
static const size_t funnel_size[] = {
    0, CRM__SIZE_THROUGH(crm_lifecycle_funnel, second_purchase_conversion),
};
static const size_t migration_size[] = {
    0, CRM__SIZE_THROUGH(crm_lifecycle_migration, rates),
};

enum { FORMAT_VERSION = 1 };

static const char *const stage_names[CRM_LIFECYCLE_STAGES] = {
    "lead", "new", "churned_new", "active", "loyal", "at_risk", "churned", "reactivated",
};
static const char *const scenario_names[CRM_LIFECYCLE_STAGES] = {
    "welcome", "onboarding / second purchase", "first-order win-back", "retention",
    "loyalty", "churn prevention", "win-back", "re-engagement",
};
static const char *const rule_texts[] = {
    "contact created on or before asof with no order on or before asof",
    "frequency == 1 and recency_days <= NEW_DAYS",
    "frequency == 1 and recency_days > NEW_DAYS",
    "2 <= frequency < LOYAL_F and recency_days <= AT_RISK_K * gap_eff",
    "frequency >= LOYAL_F and recency_days <= AT_RISK_K * gap_eff",
    "frequency >= 2 and AT_RISK_K * gap_eff < recency_days <= CHURN_K * gap_eff",
    "frequency >= 2 and recency_days > CHURN_K * gap_eff",
    "would be active or loyal, and last_day - prev_day > the churn threshold before the "
    "last order",
    "2 <= frequency < LOYAL_F and P(alive) >= p_at_risk",
    "frequency >= LOYAL_F and P(alive) >= p_at_risk",
    "frequency >= 2 and p_churned <= P(alive) < p_at_risk",
    "frequency >= 2 and P(alive) < p_churned",
    "P(alive) >= p_at_risk, and last_day - prev_day > the churn threshold before the "
    "last order",
};

CRM_API const char *crm_lifecycle_stage_name(int stage)
{
    return stage >= 0 && stage < CRM_LIFECYCLE_STAGES ? stage_names[stage] : NULL;
}

CRM_API const char *crm_lifecycle_scenario_name(int stage)
{
    return stage >= 0 && stage < CRM_LIFECYCLE_STAGES ? scenario_names[stage] : NULL;
}

CRM_API const char *crm_lifecycle_rule_text(int rule)
{
    return rule >= 0 && rule < (int)CRM__ARRAY_LEN(rule_texts) ? rule_texts[rule] : NULL;
}

CRM_API crm_status crm_lifecycle_options_init(crm_lifecycle_options *opt, unsigned version)
{
    crm_lifecycle_options d = {
        .new_days = 90, .loyal_f = 4, .min_gap_days = 7,
        .at_risk_k = 2.0, .churn_k = 4.0, .p_at_risk = 0.5, .p_churned = 0.2,
    };
    return crm__options_init(opt, version, &d, options_size, CRM_LIFECYCLE_OPTIONS_VERSION,
                             "crm_lifecycle_options");
}

static crm_status check_options(const crm_lifecycle_options *o)
{
    if (o->loyal_f < 2)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_options.loyal_f = %u must be >= 2",
                         o->loyal_f);
    if (!(o->at_risk_k >= 0 && o->at_risk_k <= 1e9))
        return crm__fail(CRM_EINVAL, "crm_lifecycle_options.at_risk_k = %g is not in [0, 1e9]",
                         o->at_risk_k);
    if (!(o->churn_k >= o->at_risk_k && o->churn_k <= 1e9))
        return crm__fail(CRM_EINVAL,
                         "crm_lifecycle_options.churn_k = %g is not in [at_risk_k = %g, 1e9]",
                         o->churn_k, o->at_risk_k);
    if (!(o->p_at_risk >= 0 && o->p_at_risk <= 1))
        return crm__fail(CRM_EINVAL, "crm_lifecycle_options.p_at_risk = %g is not in [0, 1]",
                         o->p_at_risk);
    if (!(o->p_churned >= 0 && o->p_churned <= o->p_at_risk))
        return crm__fail(CRM_EINVAL,
                         "crm_lifecycle_options.p_churned = %g is not in [0, p_at_risk = %g]",
                         o->p_churned, o->p_at_risk);
    return CRM_OK;
}

static uint64_t mix_double(uint64_t h, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return crm__mix64(h ^ bits);
}

/* Fingerprint of the parameters that decide stages. */
static uint64_t params_fingerprint(const crm_lifecycle_options *o, int p_mode)
{
    uint64_t h = crm__mix64(((uint64_t)o->new_days << 32) ^ o->loyal_f);
    h = crm__mix64(h ^ ((uint64_t)o->min_gap_days << 1) ^ (uint64_t)p_mode);
    h = mix_double(h, o->at_risk_k);
    h = mix_double(h, o->churn_k);
    if (p_mode) {
        h = mix_double(h, o->p_at_risk);
        h = mix_double(h, o->p_churned);
    }
    return h;
}

/* ---- the classifier ---------------------------------------------------------- */

/* r <= k * max(span / (f - 1), min_gap), exactly (f >= 2). */
static inline bool within(int64_t r, double k, int64_t span, uint64_t f, uint32_t min_gap)
{
    return (double)r <= k * (double)min_gap ||
           (double)r * (double)(f - 1) <= k * (double)span;
}

/* Reactivation test of a would-be active/loyal customer. */
static inline bool reactivated(const crm_lifecycle_options *o, const lc_row *x)
{
    if (x->prev < 0)
        return false;
    int64_t gap = (int64_t)x->last - x->prev;
    uint64_t before = (uint64_t)x->freq - x->last_rows;
    if (before == 1)
        return gap > (int64_t)o->new_days;
    /* strict: gap > CHURN_K * gap_eff of the earlier orders */
    return !within(gap, o->churn_k, (int64_t)x->prev - x->first, before, o->min_gap_days);
}

/* Stage rule of one row; p is NaN in cadence mode. */
static int classify(const crm_lifecycle_options *o, int64_t asof, const lc_row *x, double p,
                    bool p_mode)
{
    if (x->freq == 0)
        return CRM_RULE_LEAD;
    int64_t r = asof - x->last;
    if (x->freq == 1)
        return r <= (int64_t)o->new_days ? CRM_RULE_NEW : CRM_RULE_CHURNED_NEW;
    bool loyal = x->freq >= o->loyal_f;
    if (p_mode) {
        if (p < o->p_churned)
            return CRM_RULE_P_CHURNED;
        if (p < o->p_at_risk)
            return CRM_RULE_P_AT_RISK;
        if (reactivated(o, x))
            return CRM_RULE_P_REACTIVATED;
        return loyal ? CRM_RULE_P_LOYAL : CRM_RULE_P_ACTIVE;
    }
    int64_t span = (int64_t)x->last - x->first;
    if (!within(r, o->at_risk_k, span, x->freq, o->min_gap_days))
        return within(r, o->churn_k, span, x->freq, o->min_gap_days) ? CRM_RULE_AT_RISK
                                                                     : CRM_RULE_CHURNED;
    if (reactivated(o, x))
        return CRM_RULE_REACTIVATED;
    return loyal ? CRM_RULE_LOYAL : CRM_RULE_ACTIVE;
}

static const uint8_t rule_stage[] = {
    CRM_STAGE_LEAD,    CRM_STAGE_NEW,     CRM_STAGE_CHURNED_NEW, CRM_STAGE_ACTIVE,
    CRM_STAGE_LOYAL,   CRM_STAGE_AT_RISK, CRM_STAGE_CHURNED,     CRM_STAGE_REACTIVATED,
    CRM_STAGE_ACTIVE,  CRM_STAGE_LOYAL,   CRM_STAGE_AT_RISK,     CRM_STAGE_CHURNED,
    CRM_STAGE_REACTIVATED,
};

/* ---- leads --------------------------------------------------------------------- */

typedef struct lead {
    uint64_t id;   /* key: first member (crm__sort_records_u64) */
    int64_t day;
} lead;

/*
 * Leads of the contacts: created on or before asof, no profile; one per id
 * (earliest date). Sorted by id into *out (caller frees), count in *n_out.
 */
static crm_status collect_leads(const crm_contact *c, size_t n, int64_t asof,
                                const uint64_t *pid, size_t np, lead **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < n; i++)
        if (CRM__UNLIKELY(c[i].created_ts < 0 || c[i].created_ts > CRM_TS_MAX))
            return crm__fail(CRM_EDATA, "contacts[%zu].created_ts = %lld is outside [0, %lld]",
                             i, (long long)c[i].created_ts, (long long)CRM_TS_MAX);
    lead *l;
    crm_status st = crm__alloc_array((void **)&l, n, sizeof *l, 0, "lifecycle leads");
    if (st)
        return st;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = crm__day_of(c[i].created_ts);
        if (d <= asof) /* the earliest date of an id decides; later ones are moot */
            l[m++] = (lead){ c[i].customer_id, d };
    }
    crm__sort_records_u64(l, m, sizeof *l);
    size_t k = 0, j = 0;
    for (size_t i = 0; i < m; i++) {
        if (k && l[k - 1].id == l[i].id) {
            if (l[i].day < l[k - 1].day)
                l[k - 1].day = l[i].day;
            continue;
        }
        while (j < np && pid[j] < l[i].id)
            j++;
        if (j < np && pid[j] == l[i].id)
            continue; /* has a profile */
        l[k++] = l[i];
    }
    *out = l;
    *n_out = k;
    return CRM_OK;
}

/* ---- build ----------------------------------------------------------------------- */

CRM_API void crm_lifecycle_free(crm_lifecycle *t)
{
    if (!t)
        return;
    crm__free(t->customer_id);
    crm__free(t->stage);
    crm__free(t->row);
    crm__free(t->p_alive);
    crm__free(t);
}

static crm_status table_new(crm_lifecycle **out, size_t n, int p_mode)
{
    crm_lifecycle *t = crm__malloc(sizeof *t);
    if (!t)
        return crm__fail(CRM_ENOMEM, "lifecycle: cannot allocate the table");
    memset(t, 0, sizeof *t);
    t->n = n;
    crm_status st = crm__alloc_array((void **)&t->customer_id, n, sizeof(uint64_t), 0,
                                     "lifecycle ids");
    if (!st)
        st = crm__alloc_array((void **)&t->stage, n, 1, 0, "lifecycle stages");
    if (!st)
        st = crm__alloc_array((void **)&t->row, n, sizeof(lc_row), 0, "lifecycle rows");
    if (!st && p_mode)
        st = crm__alloc_array((void **)&t->p_alive, n, sizeof(double), 0, "lifecycle p_alive");
    if (st) {
        crm_lifecycle_free(t);
        return st;
    }
    *out = t;
    return CRM_OK;
}

static crm_status check_p_alive(const double *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(p[i] >= 0 && p[i] <= 1))
            return crm__fail(CRM_EDATA, "p_alive[%zu] = %g is not in [0, 1]", i, p[i]);
    return CRM_OK;
}

/* Fill the rows (profiles and leads interleaved by id), stages and funnel. */
static crm_status fill(crm_lifecycle *t, const crm_profiles *p, const lead *leads,
                       size_t nl, const double *pa)
{
    const uint64_t *id = crm_profiles_customer_id(p);
    const int32_t *first = crm_profiles_first_day(p), *last = crm_profiles_last_day(p);
    const int32_t *prev = crm_profiles_prev_day(p), *second = crm_profiles_second_day(p);
    const uint32_t *freq = crm_profiles_frequency(p), *lrows = crm_profiles_last_day_orders(p);
    const int64_t *money = crm_profiles_monetary(p);
    size_t np = crm_profiles_count(p);
    const crm_lifecycle_options *o = &t->opt;
    crm_lifecycle_funnel *f = &t->funnel;
    bool p_mode = t->p_mode != 0;
    int64_t conv_cut = t->asof - (int64_t)o->new_days;
    size_t i = 0, j = 0;
    for (size_t w = 0; w < t->n; w++) {
        lc_row *x = &t->row[w];
        if (j < nl && (i == np || leads[j].id < id[i])) {
            t->customer_id[w] = leads[j].id;
            *x = (lc_row){ .first = (int32_t)leads[j].day, .last = -1, .prev = -1 };
            j++;
            t->stage[w] = CRM_STAGE_LEAD;
            if (p_mode)
                t->p_alive[w] = NAN;
            f->customers[CRM_STAGE_LEAD]++;
            continue;
        }
        t->customer_id[w] = id[i];
        *x = (lc_row){ first[i], last[i], prev[i], freq[i], lrows[i] };
        double pv = p_mode ? pa[i] : NAN;
        if (p_mode)
            t->p_alive[w] = pv;
        uint8_t s = rule_stage[classify(o, t->asof, x, pv, p_mode)];
        t->stage[w] = s;
        f->customers[s]++;
        if (CRM__UNLIKELY(__builtin_add_overflow(f->revenue[s], money[i], &f->revenue[s])))
            return crm__fail(CRM_EOVERFLOW, "lifecycle: revenue of stage %s overflows int64 "
                             "at customer %llu", stage_names[s], (unsigned long long)id[i]);
        if (first[i] <= conv_cut) {
            f->conversion_base++;
            f->conversion_hits += second[i] >= 0 && second[i] - first[i] <= (int64_t)o->new_days;
        }
        i++;
    }
    return CRM_OK;
}

static void funnel_finish(crm_lifecycle_funnel *f)
{
    f->valid = 0;
    f->second_purchase_conversion = NAN;
    if (f->conversion_base) {
        f->valid |= CRM_FUNNEL_HAS_CONVERSION;
        f->second_purchase_conversion =
            (double)f->conversion_hits / (double)f->conversion_base;
    }
}

CRM_API crm_status crm_lifecycle_build(crm_lifecycle **out, const crm_profiles *profiles,
                                       const crm_contact *contacts, size_t n_contacts,
                                       const double *p_alive,
                                       const crm_lifecycle_options *opt)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_build: out is NULL");
    *out = NULL;
    if (!profiles)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_build: profiles is NULL");
    if (!contacts && n_contacts)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_build: contacts is NULL and n_contacts = %zu",
                         n_contacts);
    crm_lifecycle_options o;
    crm_lifecycle_options_init(&o, CRM_LIFECYCLE_OPTIONS_VERSION);
    crm_status st = crm__options_resolve(&o, opt, options_size, CRM_LIFECYCLE_OPTIONS_VERSION,
                                         "crm_lifecycle_options");
    if (!st)
        st = check_options(&o);
    size_t np = crm_profiles_count(profiles);
    if (!st && p_alive)
        st = check_p_alive(p_alive, np);
    if (st)
        return st;
    int64_t asof = crm_profiles_asof(profiles);
    lead *leads;
    size_t nl;
    st = collect_leads(contacts, n_contacts, asof, crm_profiles_customer_id(profiles), np,
                       &leads, &nl);
    if (st)
        return st;
    crm_lifecycle *t = NULL;
    st = table_new(&t, np + nl, p_alive != NULL);
    if (!st) {
        t->asof = asof;
        t->opt = o;
        t->p_mode = p_alive != NULL;
        t->params_id = params_fingerprint(&o, t->p_mode);
        t->funnel.version = CRM_LIFECYCLE_FUNNEL_VERSION;
        t->funnel.asof = asof;
        t->funnel.params_id = t->params_id;
        st = fill(t, profiles, leads, nl, p_alive);
        funnel_finish(&t->funnel);
        if (st)
            crm_lifecycle_free(t);
        else
            *out = t;
    }
    crm__free(leads);
    return st;
}

/* ---- accessors ----------------------------------------------------------------- */

CRM_API size_t crm_lifecycle_count(const crm_lifecycle *t)
{
    return t ? t->n : 0;
}

CRM_API int64_t crm_lifecycle_asof(const crm_lifecycle *t)
{
    return t ? t->asof : -1;
}

CRM_API const uint64_t *crm_lifecycle_customer_id(const crm_lifecycle *t)
{
    return t ? t->customer_id : NULL;
}

CRM_API const uint8_t *crm_lifecycle_stage(const crm_lifecycle *t)
{
    return t ? t->stage : NULL;
}

/* Row of id in an ascending id column, or SIZE_MAX. */
static size_t find_row(const uint64_t *ids, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id ? lo : SIZE_MAX;
}

CRM_API crm_status crm_lifecycle_find(const crm_lifecycle *t, uint64_t customer_id, size_t *row)
{
    if (!t || !row)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_find: %s is NULL", t ? "row" : "t");
    size_t r = find_row(t->customer_id, t->n, customer_id);
    if (r == SIZE_MAX)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_find: no customer %llu",
                         (unsigned long long)customer_id);
    *row = r;
    return CRM_OK;
}

/* max(span / (f - 1), min_gap) for display. */
static double gap_eff_of(int64_t span, uint64_t f, uint32_t min_gap)
{
    double g = (double)span / (double)(f - 1);
    return g > (double)min_gap ? g : (double)min_gap;
}

CRM_API crm_status crm_lifecycle_explain(const crm_lifecycle *t, uint64_t customer_id,
                                         crm_lifecycle_explanation *out)
{
    if (!t || !out)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_explain: %s is NULL", t ? "out" : "t");
    crm_status st = crm__check_version(out->version, CRM_LIFECYCLE_EXPLANATION_VERSION,
                                       "crm_lifecycle_explanation");
    if (st)
        return st;
    size_t w = find_row(t->customer_id, t->n, customer_id);
    if (w == SIZE_MAX)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_explain: no customer %llu",
                         (unsigned long long)customer_id);
    const lc_row *x = &t->row[w];
    const crm_lifecycle_options *o = &t->opt;
    crm_lifecycle_explanation e = {
        .version = CRM_LIFECYCLE_EXPLANATION_VERSION, .customer_id = customer_id,
        .asof = t->asof, .created_day = -1, .frequency = x->freq, .recency_days = -1,
        .first_day = -1, .last_day = -1, .prev_day = -1, .new_days = o->new_days,
        .loyal_f = o->loyal_f, .min_gap_days = o->min_gap_days, .gap_avg = NAN,
        .gap_eff = NAN, .at_risk_days = NAN, .churn_days = NAN, .p_alive = NAN,
        .p_at_risk = t->p_mode ? o->p_at_risk : NAN,
        .p_churned = t->p_mode ? o->p_churned : NAN, .comeback_gap = -1,
        .comeback_threshold = NAN,
    };
    double pv = t->p_mode ? t->p_alive[w] : NAN;
    e.rule = classify(o, t->asof, x, pv, t->p_mode != 0);
    e.stage = rule_stage[e.rule];
    if (x->freq == 0) {
        e.created_day = x->first;
    } else {
        e.recency_days = (int32_t)(t->asof - x->last);
        e.first_day = x->first;
        e.last_day = x->last;
        e.prev_day = x->prev;
        e.orders_before = x->freq - x->last_rows;
    }
    if (x->freq >= 2) {
        int64_t span = (int64_t)x->last - x->first;
        e.gap_avg = (double)span / (double)(x->freq - 1);
        e.gap_eff = gap_eff_of(span, x->freq, o->min_gap_days);
        e.at_risk_days = o->at_risk_k * e.gap_eff;
        e.churn_days = o->churn_k * e.gap_eff;
        e.p_alive = pv;
    }
    if (x->prev >= 0) {
        e.comeback_gap = x->last - x->prev;
        e.comeback_threshold =
            e.orders_before == 1
                ? (double)o->new_days
                : o->churn_k * gap_eff_of((int64_t)x->prev - x->first, e.orders_before,
                                          o->min_gap_days);
    }
    return crm__versioned_out(out, &e, explanation_size, CRM_LIFECYCLE_EXPLANATION_VERSION,
                              "crm_lifecycle_explanation");
}

/* ---- funnel ------------------------------------------------------------------------ */

CRM_API crm_status crm_lifecycle_get_funnel(const crm_lifecycle *t, crm_lifecycle_funnel *out)
{
    if (!t || !out)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_get_funnel: %s is NULL", t ? "out" : "t");
    return crm__versioned_out(out, &t->funnel, funnel_size, CRM_LIFECYCLE_FUNNEL_VERSION,
                              "crm_lifecycle_funnel");
}

/* Exact u64 / i64 sums of n counters; false on overflow. */
static bool add_u64s(uint64_t *out, const uint64_t *a, const uint64_t *b, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (__builtin_add_overflow(a[k], b[k], &out[k]))
            return false;
    return true;
}

static bool add_i64s(int64_t *out, const int64_t *a, const int64_t *b, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (__builtin_add_overflow(a[k], b[k], &out[k]))
            return false;
    return true;
}

/* Common checks of the two partial inputs of a merge. */
static crm_status check_pair(const void *a, const void *b, const void *out, unsigned version,
                             const char *fn)
{
    if (!a || !b || !out)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn, !a ? "a" : !b ? "b" : "out");
    unsigned va = *(const unsigned *)a, vb = *(const unsigned *)b;
    if (va != version || vb != version)
        return crm__fail(CRM_EVERSION, "%s: input %s has version %u, need %u", fn,
                         va != version ? "a" : "b", va != version ? va : vb, version);
    return CRM_OK;
}

CRM_API crm_status crm_lifecycle_funnel_merge(const crm_lifecycle_funnel *a,
                                              const crm_lifecycle_funnel *b,
                                              crm_lifecycle_funnel *out)
{
    const char *fn = "crm_lifecycle_funnel_merge";
    crm_status st = check_pair(a, b, out, CRM_LIFECYCLE_FUNNEL_VERSION, fn);
    if (st)
        return st;
    if (a->asof != b->asof || a->params_id != b->params_id)
        return crm__fail(CRM_EINVAL, "%s: the funnels differ in %s", fn,
                         a->asof != b->asof ? "asof" : "stage parameters (params_id)");
    crm_lifecycle_funnel f = *a;
    if (!add_u64s(f.customers, a->customers, b->customers, CRM_LIFECYCLE_STAGES) ||
        !add_i64s(f.revenue, a->revenue, b->revenue, CRM_LIFECYCLE_STAGES) ||
        !add_u64s(&f.conversion_base, &a->conversion_base, &b->conversion_base, 1) ||
        !add_u64s(&f.conversion_hits, &a->conversion_hits, &b->conversion_hits, 1))
        return crm__fail(CRM_EOVERFLOW, "%s: a sum overflows 64 bits", fn);
    funnel_finish(&f);
    *out = f;
    return CRM_OK;
}

CRM_API crm_status crm_lifecycle_funnel_serialize(const crm_lifecycle_funnel *f, void **bytes,
                                                  size_t *len)
{
    if (!f || !bytes || !len)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_funnel_serialize: %s is NULL",
                         !f ? "f" : !bytes ? "bytes" : "len");
    *bytes = NULL;
    *len = 0;
    if (f->version != CRM_LIFECYCLE_FUNNEL_VERSION)
        return crm__fail(CRM_EVERSION, "crm_lifecycle_funnel.version %u, need %u", f->version,
                         CRM_LIFECYCLE_FUNNEL_VERSION);
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, CRM__BLOB_LIFECYCLE_FUNNEL, FORMAT_VERSION);
    crm__wbuf_i64(&w, f->asof);
    crm__wbuf_u64(&w, f->params_id);
    crm__wbuf_u64s(&w, f->customers, CRM_LIFECYCLE_STAGES);
    crm__wbuf_i64s(&w, f->revenue, CRM_LIFECYCLE_STAGES);
    crm__wbuf_u64(&w, f->conversion_base);
    crm__wbuf_u64(&w, f->conversion_hits);
    return crm__blob_end(&w, bytes, len, "lifecycle funnel partial");
}

CRM_API crm_status crm_lifecycle_funnel_load(const void *bytes, size_t len,
                                             crm_lifecycle_funnel *out)
{
    if (!bytes || !out)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_funnel_load: %s is NULL",
                         bytes ? "out" : "bytes");
    crm__rbuf r;
    uint16_t v;
    crm_status st = crm__blob_open(&r, bytes, len, CRM__BLOB_LIFECYCLE_FUNNEL, FORMAT_VERSION, &v,
                                   "lifecycle funnel partial");
    if (st)
        return st;
    crm_lifecycle_funnel f = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
    crm__rbuf_i64(&r, &f.asof, "asof");
    crm__rbuf_u64(&r, &f.params_id, "params_id");
    crm__rbuf_u64s(&r, f.customers, CRM_LIFECYCLE_STAGES, "customers");
    crm__rbuf_i64s(&r, f.revenue, CRM_LIFECYCLE_STAGES, "revenue");
    crm__rbuf_u64(&r, &f.conversion_base, "conversion_base");
    crm__rbuf_u64(&r, &f.conversion_hits, "conversion_hits");
    st = crm__rbuf_finish(&r);
    if (!st && f.conversion_hits > f.conversion_base)
        st = crm__fail(CRM_ESTATE, "lifecycle funnel partial: conversion_hits %llu > base %llu",
                       (unsigned long long)f.conversion_hits,
                       (unsigned long long)f.conversion_base);
    if (st)
        return st;
    funnel_finish(&f);
    *out = f;
    return CRM_OK;
}

/* ---- migration ------------------------------------------------------------------ */

#define MIG_ROWS (CRM_LIFECYCLE_STAGES + 1)

static void migration_finish(crm_lifecycle_migration *m)
{
    m->valid_rows = 0;
    for (int r = 0; r < MIG_ROWS; r++) {
        uint64_t total = 0;
        for (int c = 0; c < CRM_LIFECYCLE_STAGES; c++)
            total += m->counts[r][c];
        if (total)
            m->valid_rows |= 1u << r;
        for (int c = 0; c < CRM_LIFECYCLE_STAGES; c++)
            m->rates[r][c] = total ? (double)m->counts[r][c] / (double)total : NAN;
    }
}

CRM_API crm_status crm_lifecycle_get_migration(const crm_lifecycle *from,
                                               const crm_lifecycle *to,
                                               crm_lifecycle_migration *out)
{
    if (!from || !to || !out)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_get_migration: %s is NULL",
                         !from ? "from" : !to ? "to" : "out");
    crm_status st = crm__check_version(out->version, CRM_LIFECYCLE_MIGRATION_VERSION,
                                       "crm_lifecycle_migration");
    if (st)
        return st;
    if (to->asof < from->asof)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_get_migration: to (day %lld) is before "
                         "from (day %lld)", (long long)to->asof, (long long)from->asof);
    crm_lifecycle_migration m;
    memset(&m, 0, sizeof m);
    m.version = CRM_LIFECYCLE_MIGRATION_VERSION;
    m.from_asof = from->asof;
    m.to_asof = to->asof;
    m.params_id = crm__mix64(from->params_id ^ crm__mix64(to->params_id));
    size_t i = 0;
    for (size_t w = 0; w < to->n; w++) {
        uint64_t id = to->customer_id[w];
        while (i < from->n && from->customer_id[i] < id)
            i++;
        int r = i < from->n && from->customer_id[i] == id ? from->stage[i] : CRM_MIGRATION_NONE;
        m.counts[r][to->stage[w]]++;
    }
    migration_finish(&m);
    return crm__versioned_out(out, &m, migration_size, CRM_LIFECYCLE_MIGRATION_VERSION,
                              "crm_lifecycle_migration");
}

CRM_API crm_status crm_lifecycle_migration_merge(const crm_lifecycle_migration *a,
                                                 const crm_lifecycle_migration *b,
                                                 crm_lifecycle_migration *out)
{
    const char *fn = "crm_lifecycle_migration_merge";
    crm_status st = check_pair(a, b, out, CRM_LIFECYCLE_MIGRATION_VERSION, fn);
    if (st)
        return st;
    if (a->from_asof != b->from_asof || a->to_asof != b->to_asof ||
        a->params_id != b->params_id)
        return crm__fail(CRM_EINVAL, "%s: the matrices differ in %s", fn,
                         a->params_id == b->params_id ? "their days"
                                                      : "stage parameters (params_id)");
    crm_lifecycle_migration m = *a;
    if (!add_u64s(&m.counts[0][0], &a->counts[0][0], &b->counts[0][0],
                  MIG_ROWS * CRM_LIFECYCLE_STAGES))
        return crm__fail(CRM_EOVERFLOW, "%s: a count overflows 64 bits", fn);
    migration_finish(&m);
    *out = m;
    return CRM_OK;
}

CRM_API crm_status crm_lifecycle_migration_serialize(const crm_lifecycle_migration *m,
                                                     void **bytes, size_t *len)
{
    if (!m || !bytes || !len)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_migration_serialize: %s is NULL",
                         !m ? "m" : !bytes ? "bytes" : "len");
    *bytes = NULL;
    *len = 0;
    if (m->version != CRM_LIFECYCLE_MIGRATION_VERSION)
        return crm__fail(CRM_EVERSION, "crm_lifecycle_migration.version %u, need %u",
                         m->version, CRM_LIFECYCLE_MIGRATION_VERSION);
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, CRM__BLOB_LIFECYCLE_MIGRATION, FORMAT_VERSION);
    crm__wbuf_i64(&w, m->from_asof);
    crm__wbuf_i64(&w, m->to_asof);
    crm__wbuf_u64(&w, m->params_id);
    crm__wbuf_u64s(&w, &m->counts[0][0], MIG_ROWS * CRM_LIFECYCLE_STAGES);
    return crm__blob_end(&w, bytes, len, "lifecycle migration partial");
}

CRM_API crm_status crm_lifecycle_migration_load(const void *bytes, size_t len,
                                                crm_lifecycle_migration *out)
{
    if (!bytes || !out)
        return crm__fail(CRM_EINVAL, "crm_lifecycle_migration_load: %s is NULL",
                         bytes ? "out" : "bytes");
    crm__rbuf r;
    uint16_t v;
    crm_status st = crm__blob_open(&r, bytes, len, CRM__BLOB_LIFECYCLE_MIGRATION, FORMAT_VERSION, &v,
                                   "lifecycle migration partial");
    if (st)
        return st;
    crm_lifecycle_migration m;
    memset(&m, 0, sizeof m);
    m.version = CRM_LIFECYCLE_MIGRATION_VERSION;
    crm__rbuf_i64(&r, &m.from_asof, "from_asof");
    crm__rbuf_i64(&r, &m.to_asof, "to_asof");
    crm__rbuf_u64(&r, &m.params_id, "params_id");
    crm__rbuf_u64s(&r, &m.counts[0][0], MIG_ROWS * CRM_LIFECYCLE_STAGES, "counts");
    st = crm__rbuf_finish(&r);
    if (st)
        return st;
    migration_finish(&m);
    *out = m;
    return CRM_OK;
}
