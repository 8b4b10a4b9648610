/*
 * Attribution benchmark. Journeys come from a seeded first-order chain over
 * 12 channels (mean length ~8); the path table combines equal paths. Each
 * step reports the best of 3 runs (ns per touch of the distinct-path table)
 * and the peak memory the first run adds beyond the table.
 * usage: bench_attribution JOURNEYS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "crm/crm.h"
#include "gen.h"

#define NCH 12
#define EXIT 0.16 /* exit (conversion + null) probability per step */

static crm_attribution_paths *gen_table(size_t journeys, size_t *touches)
{
    gen_rng r;
    gen_rng_seed(&r, 2026);
    double P[NCH][NCH + 2];
    for (int i = 0; i < NCH; i++) {
        double s = 0;
        for (int j = 0; j < NCH + 2; j++)
            s += P[i][j] = 0.2 + gen_rng_unit(&r) * (j == i ? 0.3 : 1.0);
        /* exit (conv + null) EXIT of the mass: mean length 1 / EXIT */
        double ex = P[i][NCH] + P[i][NCH + 1];
        double scale = (1 - EXIT) / (s - ex);
        for (int j = 0; j < NCH; j++)
            P[i][j] *= scale;
        double conv = EXIT * (0.1 + 0.3 * gen_rng_unit(&r));
        P[i][NCH] = conv;
        P[i][NCH + 1] = EXIT - conv;
    }
    size_t cap = journeys * 10 + 64, n = 0;
    uint32_t *ch = malloc(cap * 4);
    uint64_t *off = malloc((journeys + 1) * 8);
    double *conv = malloc(journeys * 8), *val = malloc(journeys * 8), *nul = malloc(journeys * 8);
    if (!ch || !off || !conv || !val || !nul)
        return NULL;
    off[0] = 0;
    for (size_t j = 0; j < journeys; j++) {
        int s = (int)(gen_rng_next(&r) % NCH);
        for (;;) {
            if (n == cap) {
                cap *= 2;
                ch = realloc(ch, cap * 4);
                if (!ch)
                    return NULL;
            }
            ch[n++] = (uint32_t)s;
            double u = gen_rng_unit(&r), acc = 0;
            int k = 0;
            for (; k < NCH + 1; k++) {
                acc += P[s][k];
                if (u < acc)
                    break;
            }
            if (k >= NCH) {
                conv[j] = k == NCH;
                nul[j] = k != NCH;
                val[j] = conv[j] * (5 + 50 * gen_rng_unit(&r));
                break;
            }
            s = k;
        }
        off[j + 1] = n;
    }
    const char *names[NCH] = { "email", "sms", "push", "display", "search", "social",
                               "affiliate", "direct", "video", "print", "radio", "app" };
    crm_attribution_paths *t = NULL;
    double t0 = bench_now();
    bench_peak_reset();
    if (crm_attribution_paths_from_arrays(&t, NCH, names, journeys, off, ch, conv, val, nul)) {
        fprintf(stderr, "%s\n", crm_last_error());
        return NULL;
    }
    double dt = bench_now() - t0;
    long peak = bench_peak_added();
    const uint64_t *o;
    crm_attribution_paths_columns(t, &o, NULL, NULL, NULL, NULL);
    *touches = (size_t)o[crm_attribution_paths_n_rows(t)];
    char name[128];
    snprintf(name, sizeof name, "attribution table build: %zu journeys -> %zu paths", journeys,
             crm_attribution_paths_n_rows(t));
    bench_report(name, "journey-touch", dt, n, peak, crm_attribution_paths_n_rows(t), "path");
    free(ch);
    free(off);
    free(conv);
    free(val);
    free(nul);
    return t;
}

typedef int (*step_fn)(const crm_attribution_paths *t, int arg);

static int heuristic(const crm_attribution_paths *t, int model)
{
    double c[NCH], v[NCH];
    return crm_attribution_paths_credit(t, model, NULL, c, v);
}

static int markov(const crm_attribution_paths *t, int order)
{
    crm_attribution_options o;
    crm_attribution_options_init(&o, CRM_ATTRIBUTION_OPTIONS_VERSION);
    o.order = (uint32_t)(order % 10);
    o.threads = (uint32_t)(order / 10 ? order / 10 : 1);
    crm_attribution_markov *m;
    int s = crm_attribution_markov_fit(&m, t, &o);
    crm_attribution_markov_free(m);
    return s;
}

static int choose(const crm_attribution_paths *t, int crit)
{
    uint32_t k;
    return crm_attribution_choose_order(t, 4, crit, &k, NULL);
}

static void step(const char *what, const crm_attribution_paths *t, size_t touches, step_fn fn,
                 int arg)
{
    double best = 1e30;
    long peak = -1;
    for (int rep = 0; rep < 3; rep++) {
        if (rep == 0)
            bench_peak_reset();
        double t0 = bench_now();
        if (fn(t, arg)) {
            fprintf(stderr, "%s failed: %s\n", what, crm_last_error());
            exit(1);
        }
        double dt = bench_now() - t0;
        if (rep == 0)
            peak = bench_peak_added();
        if (dt < best)
            best = dt;
    }
    char name[160];
    snprintf(name, sizeof name, "attribution %s (%.3f s)", what, best);
    bench_report(name, "touch", best, touches, peak, crm_attribution_paths_n_rows(t), "path");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: bench_attribution JOURNEYS\n", stderr);
        return 2;
    }
    size_t journeys = (size_t)atof(argv[1]), touches = 0;
    crm_attribution_paths *t = gen_table(journeys, &touches);
    if (!t)
        return 1;
    static const char *hn[] = { "", "first_touch", "last_touch", "linear", "position_based",
                                "last_non_direct" };
    for (int m = 1; m <= 5; m++)
        step(hn[m], t, touches, heuristic, m);
    for (int k = 1; k <= 4; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "markov order %d", k);
        step(nm, t, touches, markov, k);
    }
    step("markov order 3, 2 threads", t, touches, markov, 23);
    step("markov order 4, 2 threads", t, touches, markov, 24);
    step("shapley", t, touches, heuristic, CRM_ATTRIBUTION_SHAPLEY);
    step("shapley_cr", t, touches, heuristic, CRM_ATTRIBUTION_SHAPLEY_CR);
    step("choose_order bic 1..4", t, touches, choose, CRM_ATTRIBUTION_BIC);
    step("choose_order heldout 1..4", t, touches, choose, CRM_ATTRIBUTION_HELDOUT);
    crm_attribution_paths_free(t);
    return 0;
}
