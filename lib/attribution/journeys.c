/* Journeys from events (specs/attribution.md, "Inputs"): per customer, a
 * conversion at T takes the touches t with prev_conv_ts < t <= T within the
 * post-click / post-view window; touches after the last conversion form one
 * null journey. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "attribution/attr_internal.h"

static const size_t jopt_size[] = {
    0, CRM__SIZE_THROUGH(crm_attribution_journey_options, no_reset),
    CRM__SIZE_THROUGH(crm_attribution_journey_options, by_campaign),
};

CRM_API crm_status crm_attribution_journey_options_init(crm_attribution_journey_options *opt,
                                                        unsigned version)
{
    crm_status s = crm__options_init(opt, version, NULL, jopt_size, CRM_ATTRIBUTION_JOURNEY_OPTIONS_VERSION,
                                     "crm_attribution_journey_options");
    if (s)
        return s;
    opt->click_window_days = 30;
    opt->view_window_days = 1;
    return CRM_OK;
}

crm_status attr_journey_resolve(crm_attribution_journey_options *o,
                                const crm_attribution_journey_options *in)
{
    crm_attribution_journey_options_init(o, CRM_ATTRIBUTION_JOURNEY_OPTIONS_VERSION);
    crm_status st = crm__options_resolve(o, in, jopt_size,
                                         CRM_ATTRIBUTION_JOURNEY_OPTIONS_VERSION,
                                         "crm_attribution_journey_options");
    if (st)
        return st;
    uint32_t w[2] = { o->click_window_days, o->view_window_days };
    for (int i = 0; i < 2; i++)
        if (w[i] > 90 && w[i] != CRM_ATTRIBUTION_WINDOW_INFINITE)
            return crm__fail(CRM_EINVAL,
                             "crm_attribution_journey_options.%s_window_days = %u not in 0..90",
                             i ? "view" : "click", w[i]);
    return CRM_OK;
}

/* Sort key of an event: customer, time, input position. */
typedef struct ev_key {
    uint64_t cust;
    int64_t ts;
    uint64_t idx;
} ev_key;

static int ev_cmp(const void *a, const void *b)
{
    const ev_key *x = a, *y = b;
    if (x->cust != y->cust)
        return x->cust < y->cust ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static bool ev_sorted(const ev_key *k, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (ev_cmp(&k[i - 1], &k[i]) > 0)
            return false;
    return true;
}

crm_status attr_check_conversions(const crm_conversion *convs, size_t nc)
{
    for (size_t i = 0; i < nc; i++) {
        const crm_conversion *c = &convs[i];
        if (c->ts < 0 || c->ts > CRM_TS_MAX)
            return crm__fail(CRM_EDATA, "conversions[%zu].ts = %lld is outside [0, %lld]", i,
                             (long long)c->ts, (long long)CRM_TS_MAX);
        if (!isfinite(c->value) || c->value < 0)
            return crm__fail(CRM_EDATA, "conversions[%zu].value = %g is not finite and >= 0",
                             i, c->value);
        if (!isfinite(c->weight) || !(c->weight > 0))
            return crm__fail(CRM_EDATA, "conversions[%zu].weight = %g is not finite and > 0",
                             i, c->weight);
    }
    return CRM_OK;
}

static crm_status validate(const crm_touch *touches, size_t nt, const crm_conversion *convs,
                           size_t nc)
{
    for (size_t i = 0; i < nt; i++) {
        const crm_touch *t = &touches[i];
        if (t->ts < 0 || t->ts > CRM_TS_MAX)
            return crm__fail(CRM_EDATA, "touches[%zu].ts = %lld is outside [0, %lld]", i,
                             (long long)t->ts, (long long)CRM_TS_MAX);
        if (t->kind > CRM_TOUCH_CLICK)
            return crm__fail(CRM_EDATA, "touches[%zu].kind = %u is not view (0) or click (1)",
                             i, t->kind);
    }
    return attr_check_conversions(convs, nc);
}

static bool eligible(const crm_touch *t, int64_t T, const crm_attribution_journey_options *o)
{
    uint32_t w = t->kind == CRM_TOUCH_CLICK ? o->click_window_days : o->view_window_days;
    if (w == 0)
        return false;
    if (w == CRM_ATTRIBUTION_WINDOW_INFINITE)
        return true;
    return T - t->ts <= (int64_t)w * CRM__SECONDS_PER_DAY;
}

crm_status attr_journeys(const crm_touch *touches, size_t nt,
                         const crm_conversion *convs, size_t nc,
                         const crm_attribution_journey_options *o,
                         attr_journey_fn fn, void *ctx)
{
    if (nt >= UINT32_MAX || nc >= UINT32_MAX)
        return crm__fail(CRM_EOVERFLOW, "attribution: more than 2^32 - 2 events");
    crm_status st = validate(touches, nt, convs, nc);
    if (st)
        return st;
    ev_key *tk = NULL, *ck = NULL;
    uint32_t *buf = NULL;
    if ((st = crm__alloc_array((void **)&tk, nt + 1, sizeof *tk, 0, "touch keys")) ||
        (st = crm__alloc_array((void **)&ck, nc + 1, sizeof *ck, 0, "conversion keys")) ||
        (st = crm__alloc_array((void **)&buf, nt + 1, 4, 0, "journey buffer")))
        goto out;
    for (size_t i = 0; i < nt; i++)
        tk[i] = (ev_key){ touches[i].customer_id, touches[i].ts, i };
    for (size_t i = 0; i < nc; i++)
        ck[i] = (ev_key){ convs[i].customer_id, convs[i].ts, i };
    if (!ev_sorted(tk, nt))
        qsort(tk, nt, sizeof *tk, ev_cmp);
    if (!ev_sorted(ck, nc))
        qsort(ck, nc, sizeof *ck, ev_cmp);
    size_t i = 0, j = 0;
    while ((i < nt || j < nc) && st == CRM_OK) {
        uint64_t cust;
        if (i < nt && (j >= nc || tk[i].cust <= ck[j].cust))
            cust = tk[i].cust;
        else
            cust = ck[j].cust;
        size_t ti = i, cj = j;
        while (i < nt && tk[i].cust == cust)
            i++;
        while (j < nc && ck[j].cust == cust)
            j++;
        /* touches tk[ti..i), conversions ck[cj..j) in time order */
        size_t lo = ti; /* first touch after the previous conversion */
        for (size_t c = cj; c < j && st == CRM_OK; c++) {
            int64_t T = ck[c].ts;
            size_t hi = lo;
            while (hi < i && tk[hi].ts <= T)
                hi++;
            size_t from = o->no_reset ? ti : lo;
            size_t k = 0;
            for (size_t q = from; q < hi; q++)
                if (tk[q].ts <= T && eligible(&touches[tk[q].idx], T, o))
                    buf[k++] = (uint32_t)tk[q].idx;
            st = fn(ctx, buf, k, (size_t)ck[c].idx);
            lo = hi;
        }
        if (st == CRM_OK && lo < i) {
            size_t k = 0;
            for (size_t q = lo; q < i; q++)
                buf[k++] = (uint32_t)tk[q].idx;
            st = fn(ctx, buf, k, SIZE_MAX);
        }
    }
out:
    crm__free(tk);
    crm__free(ck);
    crm__free(buf);
    return st;
}

/* ---- path table from events ---------------------------------------------- */

typedef struct pe_ctx {
    crm_attribution_paths *t;
    const crm_touch *touches;
    const crm_conversion *convs;
    uint32_t *seq;
    bool by_campaign;
} pe_ctx;

static crm_status pe_journey(void *vctx, const uint32_t *touch, size_t k, size_t conv)
{
    pe_ctx *c = vctx;
    crm_status st = attr_paths_reserve(c->t, 1, k, k, k * 12 + 64);
    if (st)
        return st;
    for (size_t q = 0; q < k; q++) {
        char name[16];
        const crm_touch *x = &c->touches[touch[q]];
        int len = snprintf(name, sizeof name, "%u", c->by_campaign ? x->campaign : x->channel);
        c->seq[q] = attr_paths_channel(c->t, name, (size_t)len);
    }
    if (conv == SIZE_MAX)
        attr_paths_put(c->t, c->seq, k, 0.0, 0.0, 1.0);
    else
        attr_paths_put(c->t, c->seq, k, c->convs[conv].weight, c->convs[conv].value, 0.0);
    return CRM_OK;
}

CRM_API crm_status crm_attribution_paths_from_events(
    crm_attribution_paths **out, const crm_touch *touches, size_t n_touches,
    const crm_conversion *conversions, size_t n_conversions,
    const crm_attribution_journey_options *opt)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_from_events: out is NULL");
    *out = NULL;
    if ((!touches && n_touches) || (!conversions && n_conversions))
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_from_events: NULL records");
    crm_attribution_journey_options o;
    crm_status st = attr_journey_resolve(&o, opt);
    if (st)
        return st;
    pe_ctx c = { NULL, touches, conversions, NULL, o.by_campaign != 0 };
    if ((st = attr_paths_alloc(&c.t)) ||
        (st = crm__alloc_array((void **)&c.seq, n_touches + 1, 4, 0, "path buffer")))
        goto out;
    st = attr_journeys(touches, n_touches, conversions, n_conversions, &o, pe_journey, &c);
out:
    crm__free(c.seq);
    if (st) {
        crm_attribution_paths_free(c.t);
        return st;
    }
    *out = c.t;
    return CRM_OK;
}
