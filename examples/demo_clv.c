/* crm-demo CLV section: BG/NBD and Gamma-Gamma fits on the loaded orders
 * (weekly time unit), the P(alive) distribution and the top customers by
 * 52-week lifetime value (10 % a year, discounted weekly). */
#include <stdio.h>
#include <stdlib.h>

#include "demo_sections.h"

#define TOP 10

static const double *g_clv;

static int by_clv_desc(const void *a, const void *b)
{
    double x = g_clv[*(const size_t *)a], y = g_clv[*(const size_t *)b];
    return (x < y) - (x > y);
}

static void print_model(const char *name, const char *const *pn, const crm_clv_model *m)
{
    crm_clv_fit_info fi = { .version = CRM_CLV_FIT_INFO_VERSION };
    if (crm_clv_model_info(m, &fi))
        return;
    printf("  %-11s", name);
    for (uint32_t i = 0; i < fi.nparams; i++)
        printf(" %s = %.4g (se %.2g)", pn[i], fi.params[i], fi.se[i]);
    printf("\n  %-11s LL %.2f, %u iterations, %u of %u starts converged, n = %llu\n", "",
           fi.loglik, fi.iterations, fi.starts_converged, fi.starts,
           (unsigned long long)fi.n);
}

int demo_clv(const demo_input *in)
{
    static const char *const bg_names[] = { "r", "alpha", "a", "b" };
    static const char *const gg_names[] = { "p", "q", "gamma" };
    crm_clv_summary_options so;
    crm_clv_summary_options_init(&so, CRM_CLV_SUMMARY_OPTIONS_VERSION);
    so.unit = CRM_CLV_UNIT_WEEK;
    crm_clv_fit_options fo;
    crm_clv_fit_options_init(&fo, CRM_CLV_FIT_OPTIONS_VERSION);
    fo.unit = CRM_CLV_UNIT_WEEK;
    crm_clv_summary *s = NULL;
    crm_clv_model *bg = NULL, *gg = NULL;
    double *pa = NULL, *v = NULL;
    size_t *order = NULL;
    int rc = 1;
    if (crm_clv_summary_build(&s, in->orders, in->n, in->asof, &so))
        goto out;
    size_t n = crm_clv_summary_count(s);
    const double *x = crm_clv_summary_x(s), *tx = crm_clv_summary_t_x(s),
                 *T = crm_clv_summary_tenure(s), *mx = crm_clv_summary_m_x(s);
    const uint64_t *id = crm_clv_summary_customer_id(s);
    printf("\nLifetime value (BG/NBD + Gamma-Gamma, weeks; %zu customers)\n", n);
    if (crm_clv_fit(&bg, CRM_CLV_BGNBD, x, tx, T, n, &fo) || crm_clv_fit_spend(&gg, x, mx, n, &fo))
        goto out;
    print_model("BG/NBD", bg_names, bg);
    print_model("Gamma-Gamma", gg_names, gg);
    pa = malloc((n ? n : 1) * sizeof *pa);
    v = malloc((n ? n : 1) * sizeof *v);
    order = malloc((n ? n : 1) * sizeof *order);
    if (!pa || !v || !order) {
        fprintf(stderr, "crm-demo: out of memory\n");
        free(pa);
        free(v);
        free(order);
        crm_clv_model_free(bg);
        crm_clv_model_free(gg);
        crm_clv_summary_free(s);
        return 1;
    }
    if (crm_clv_p_alive(pa, bg, x, tx, T, n)
        || crm_clv_value(v, bg, gg, x, tx, T, mx, n, 52.0, 1.0, 0.0018))
        goto out;
    size_t hist[5] = { 0 };
    for (size_t i = 0; i < n; i++) {
        int b = (int)(pa[i] * 5.0);
        hist[b > 4 ? 4 : b]++;
    }
    printf("  P(alive):   ");
    for (int b = 0; b < 5; b++)
        printf(" %.1f-%.1f: %4.1f%%", b / 5.0, (b + 1) / 5.0,
               n ? 100.0 * (double)hist[b] / (double)n : 0.0);
    printf("\n  Top %d customers by 52-week CLV (10 %%/year):\n", TOP);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    g_clv = v;
    qsort(order, n, sizeof *order, by_clv_desc);
    printf("    %-14s %5s %8s %8s %7s %12s\n", "customer", "x", "t_x", "T", "P(alive)", "CLV");
    for (size_t k = 0; k < n && k < TOP; k++) {
        size_t i = order[k];
        printf("    %-14llu %5.0f %8.1f %8.1f %7.3f %12.2f\n", (unsigned long long)id[i], x[i],
               tx[i], T[i], pa[i], v[i] / 100.0);
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "crm-demo: %s\n", crm_last_error());
    free(pa);
    free(v);
    free(order);
    crm_clv_model_free(bg);
    crm_clv_model_free(gg);
    crm_clv_summary_free(s);
    return rc;
}
