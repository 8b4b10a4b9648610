/* crm-demo attribution section. The order export carries no marketing
 * touches, so the demo derives a deterministic synthetic touch history from
 * it (a few email / sms / push / display / search / direct touches before
 * each order, and some after the last one), then prints the credit per
 * channel under every model side by side, the Markov removal effects, and a
 * holdout uplift readout for a 10 % control group. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "demo_sections.h"

#define NCH 6
static const char *const channel_names[NCH] = { "email", "sms", "push", "display", "search",
                                                "direct" };
#define DIRECT 5u
#define SALT 2026u
#define DAY 86400

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Touches before each order (and one null journey per customer in four). */
static crm_touch *synth_touches(const crm_order *o, size_t n, size_t *nt)
{
    crm_touch *t = malloc((n * 5 + 1) * sizeof *t);
    if (!t)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (o[i].amount <= 0)
            continue;
        uint64_t h = mix(o[i].customer_id * 31 + (uint64_t)o[i].ts);
        int m = 1 + (int)(h % 4);
        for (int q = 0; q < m; q++) {
            uint64_t g = mix(h + (uint64_t)q);
            crm_touch x = { 0 };
            x.customer_id = o[i].customer_id;
            x.ts = o[i].ts - (int64_t)(1 + g % (20 * DAY));
            x.channel = (uint32_t)((g >> 20) % NCH);
            x.campaign = 100 * x.channel + (uint32_t)((g >> 40) % 3);
            x.kind = x.channel == 3 ? CRM_TOUCH_VIEW : CRM_TOUCH_CLICK;
            t[k++] = x;
        }
        if (h % 4 == 0) { /* a touch that does not convert (if nothing follows) */
            crm_touch x = { 0 };
            x.customer_id = o[i].customer_id;
            x.ts = o[i].ts + DAY;
            x.channel = (uint32_t)(h >> 33) % NCH;
            x.campaign = 100 * x.channel;
            x.kind = CRM_TOUCH_VIEW;
            t[k++] = x;
        }
    }
    *nt = k;
    return t;
}

static int demo_fail(void)
{
    fprintf(stderr, "crm-demo: %s\n", crm_last_error());
    return 1;
}

int demo_attribution(const demo_input *in)
{
    size_t nt, nc = 0;
    crm_touch *touches = synth_touches(in->orders, in->n, &nt);
    crm_conversion *conv = malloc((in->n + 1) * sizeof *conv);
    if (!touches || !conv) {
        free(touches);
        free(conv);
        fprintf(stderr, "crm-demo: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < in->n; i++)
        if (in->orders[i].amount > 0)
            conv[nc++] = (crm_conversion){ in->orders[i].customer_id, in->orders[i].ts,
                                           (double)in->orders[i].amount / 100.0, 1.0 };
    int rc = 1;
    crm_attribution_credit *ev = NULL;
    crm_attribution_paths *paths = NULL;
    crm_attribution_markov *mk = NULL;
    crm_attribution_options o;
    crm_attribution_options_init(&o, CRM_ATTRIBUTION_OPTIONS_VERSION);
    o.direct_channel = DIRECT;
    if (crm_attribution_events_credit(&ev, touches, nt, conv, nc, NULL, &o) ||
        crm_attribution_paths_from_events(&paths, touches, nt, conv, nc, NULL)) {
        rc = demo_fail();
        goto out;
    }
    /* table channels are named by decimal id; map ids to rows */
    size_t tch = crm_attribution_paths_n_channels(paths);
    int64_t tix[NCH];
    for (unsigned c = 0; c < NCH; c++) {
        char name[8];
        snprintf(name, sizeof name, "%u", c);
        tix[c] = crm_attribution_paths_channel_index(paths, name);
    }
    o.direct_channel = tix[DIRECT];
    static const int path_models[] = { CRM_ATTRIBUTION_MARKOV, CRM_ATTRIBUTION_SHAPLEY,
                                       CRM_ATTRIBUTION_SHAPLEY_CR };
    double pc[3][NCH + 1] = { { 0 } }, tmp[NCH + 1];
    for (int m = 0; m < 3; m++) {
        if (tch > NCH || crm_attribution_paths_credit(paths, path_models[m], &o, tmp, NULL)) {
            rc = demo_fail();
            goto out;
        }
        for (unsigned c = 0; c < NCH; c++)
            pc[m][c] = tix[c] >= 0 ? tmp[tix[c]] : 0;
    }
    double un_c, un_v;
    crm_attribution_credit_unattributed(ev, &un_c, &un_v);
    printf("\nAttribution: conversions credited per channel (synthetic touches, "
           "%zu touches, %zu conversions, %.0f unattributed)\n", nt, nc, un_c);
    static const char *heads[] = { "first", "last", "linear", "position", "last-nd", "decay",
                                   "adsrv", "markov", "shapley", "shap-cr" };
    printf("  %-8s", "channel");
    for (int h = 0; h < 10; h++)
        printf(" %8s", heads[h]);
    printf("\n");
    size_t nid;
    const uint32_t *ids = crm_attribution_credit_ids(ev, CRM_ATTRIBUTION_BY_CHANNEL, &nid);
    for (unsigned c = 0; c < NCH; c++) {
        printf("  %-8s", channel_names[c]);
        for (int m = 1; m <= 7; m++) {
            const double *cv;
            crm_attribution_credit_get(ev, m, CRM_ATTRIBUTION_BY_CHANNEL, &cv, NULL);
            double v = 0;
            for (size_t i = 0; i < nid; i++)
                if (ids[i] == c)
                    v = cv[i];
            printf(" %8.1f", v);
        }
        for (int m = 0; m < 3; m++)
            printf(" %8.1f", pc[m][c]);
        printf("\n");
    }
    if (crm_attribution_markov_fit(&mk, paths, &o)) {
        rc = demo_fail();
        goto out;
    }
    const double *re = crm_attribution_markov_array(mk, CRM_ATTRIBUTION_RE, NULL);
    printf("  Markov order 1 (exact): P(conversion) = %.4f; removal effects:",
           crm_attribution_markov_p_conversion(mk));
    for (unsigned c = 0; c < NCH; c++)
        if (tix[c] >= 0)
            printf(" %s %.3f", channel_names[c], re[tix[c]]);
    printf("\n");
    uint32_t order;
    if (crm_attribution_choose_order(paths, 3, CRM_ATTRIBUTION_BIC, &order, NULL) == CRM_OK)
        printf("  Markov order chosen by BIC (1..3): %u\n", order);

    /* holdout readout: 10 % control by the spec's splitmix64 rule; outcomes
     * over the last 60 days before the snapshot, after a 60-day washout */
    size_t ncust = crm_profiles_count(in->profiles);
    const uint64_t *cust = crm_profiles_customer_id(in->profiles);
    uint8_t *ctl = malloc(ncust + 1);
    double *y = malloc((ncust + 1) * sizeof *y), *rev = malloc((ncust + 1) * sizeof *rev);
    double *yt = malloc((ncust + 1) * sizeof *yt), *yc = malloc((ncust + 1) * sizeof *yc);
    double *rt = malloc((ncust + 1) * sizeof *rt), *rcv = malloc((ncust + 1) * sizeof *rcv);
    if (!ctl || !y || !rev || !yt || !yc || !rt || !rcv) {
        fprintf(stderr, "crm-demo: out of memory\n");
    } else {
        int64_t end = (in->asof + 1) * DAY, stop = end - 120 * DAY;
        if (crm_attribution_in_control(cust, ncust, SALT, 0.1, ctl) ||
            crm_attribution_outcomes(cust, ncust, conv, nc, stop, 60, end, y, rev)) {
            rc = demo_fail();
        } else {
            size_t a = 0, b = 0;
            for (size_t i = 0; i < ncust; i++) {
                if (ctl[i]) {
                    yc[b] = y[i];
                    rcv[b++] = rev[i];
                } else {
                    yt[a] = y[i];
                    rt[a++] = rev[i];
                }
            }
            crm_attribution_uplift_result u, ur;
            u.version = ur.version = CRM_ATTRIBUTION_UPLIFT_RESULT_VERSION;
            if (crm_attribution_uplift(yt, a, yc, b, &u) ||
                crm_attribution_uplift(rt, a, rcv, b, &ur)) {
                rc = demo_fail();
            } else {
                printf("\nHoldout uplift (10 %% control, salt %u, 60-day washout; the sample "
                       "had no real holdout, so no lift is expected)\n", SALT);
                printf("  conversion rate: test %.4f (n=%zu) control %.4f (n=%zu) lift %+.4f "
                       "95%% CI [%+.4f, %+.4f] p=%.3f incremental conversions %+.1f\n",
                       u.mean_test, a, u.mean_control, b, u.lift, u.ci_low, u.ci_high,
                       u.p_value, u.incremental);
                printf("  revenue/customer: test %.2f control %.2f lift %+.2f 95%% CI "
                       "[%+.2f, %+.2f] p=%.3f incremental revenue %+.2f\n",
                       ur.mean_test, ur.mean_control, ur.lift, ur.ci_low, ur.ci_high,
                       ur.p_value, ur.incremental);
                rc = 0;
            }
        }
    }
    free(ctl);
    free(y);
    free(rev);
    free(yt);
    free(yc);
    free(rt);
    free(rcv);
out:
    crm_attribution_markov_free(mk);
    crm_attribution_paths_free(paths);
    crm_attribution_credit_free(ev);
    free(touches);
    free(conv);
    return rc;
}
