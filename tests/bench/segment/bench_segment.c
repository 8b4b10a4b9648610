/*
 * Rule-evaluation benchmark: a profile table from in-memory synthetic orders
 * (tests/gen; not timed), then the spec's three-clause expression
 * "recency_days <= 30 and frequency >= 3 and monetary > 500000" evaluated
 * into a bitset (best of `reps` runs, ns per customer), a wider expression
 * with a categorical `in` list and a caller column, and the overlap stats of
 * three segments. Peak memory: what the FIRST evaluation adds beyond the
 * table and the output bitset.
 * usage: bench_segment ORDERS CUSTOMERS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "crm/crm.h"
#include "gen.h"

static double run(const char *label, const char *expr, crm_segment_env *env, uint64_t *bits,
                  size_t words, size_t n, int reps)
{
    crm_segment_program *prog = NULL;
    if (crm_segment_compile(&prog, expr, strlen(expr), env, NULL, NULL) != CRM_OK) {
        fprintf(stderr, "compile failed: %s\n", crm_last_error());
        exit(1);
    }
    double best = 1e30;
    long peak = -1;
    for (int rep = 0; rep < reps; rep++) {
        if (rep == 0)
            bench_peak_reset();
        double t0 = bench_now();
        if (crm_segment_eval(bits, words, prog, env) != CRM_OK) {
            fprintf(stderr, "eval failed: %s\n", crm_last_error());
            exit(1);
        }
        double dt = bench_now() - t0;
        if (rep == 0)
            peak = bench_peak_added();
        if (dt < best)
            best = dt;
    }
    char name[256];
    snprintf(name, sizeof name, "segment eval %s (%zu tests, %llu members)", label,
             crm_segment_program_tests(prog),
             (unsigned long long)crm_segment_count(bits, n));
    bench_report(name, "customer", best, n, peak, n, "customer");
    crm_segment_program_free(prog);
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: bench_segment ORDERS CUSTOMERS\n", stderr);
        return 2;
    }
    gen_params p = gen_defaults();
    p.orders = (size_t)atof(argv[1]);
    p.customers = (size_t)atof(argv[2]);
    p.seed = 42;
    size_t no;
    crm_order *o = gen_orders(&p, &no);
    crm_profiles *prof = NULL;
    if (!o || crm_profiles_build(&prof, o, no, p.end_day, NULL) != CRM_OK) {
        fprintf(stderr, "setup failed: %s\n", crm_last_error());
        return 1;
    }
    free(o);
    size_t n = crm_profiles_count(prof), words = (n + 63) / 64;
    uint8_t *score = malloc(n ? n : 1);
    uint32_t *stage = malloc((n ? n : 1) * sizeof *stage);
    uint64_t *b1 = calloc(words + 1, 8), *b2 = calloc(words + 1, 8), *b3 = calloc(words + 1, 8);
    if (!score || !stage || !b1 || !b2 || !b3)
        return 1;
    const uint32_t *freq = crm_profiles_frequency(prof);
    for (size_t i = 0; i < n; i++) {
        score[i] = (uint8_t)(1 + (crm_profiles_customer_id(prof)[i] * 2654435761u >> 7) % 5);
        stage[i] = freq[i] >= 4 ? 3 : freq[i] >= 2 ? 2 : (uint32_t)(i % 2);
    }
    static const char *const names[] = {"new", "churned_new", "active", "loyal"};
    crm_segment_env *env = NULL;
    if (crm_segment_env_new(&env, n) || crm_segment_env_bind_profiles(env, prof) ||
        crm_segment_env_bind(env, "r", CRM_SEGMENT_U8, score) ||
        crm_segment_env_bind_categorical(env, "stage", stage, names, 4)) {
        fprintf(stderr, "bind failed: %s\n", crm_last_error());
        return 1;
    }
    char label[64];
    snprintf(label, sizeof label, "three-clause n=%zu", n);
    run(label, "recency_days <= 30 and frequency >= 3 and monetary > 500000", env, b1, words,
        n, 7);
    snprintf(label, sizeof label, "six-clause n=%zu", n);
    run(label,
        "(stage in (active, loyal) and not r between 1 and 2) or (gap_avg < 20.5 and "
        "tenure_days >= 365 and purchase_days != 1)",
        env, b2, words, n, 7);
    snprintf(label, sizeof label, "single n=%zu", n);
    run(label, "r >= 4", env, b3, words, n, 7);
    /* a pasted list of 1000 customer ids: sorted-set lookup, not 1000 passes */
    char *list = malloc(1000 * 24 + 64);
    if (!list)
        return 1;
    size_t len = (size_t)sprintf(list, "customer_id in (");
    const uint64_t *ids = crm_profiles_customer_id(prof);
    for (size_t i = 0; i < 1000 && n; i++)
        len += (size_t)sprintf(list + len, "%s%llu", i ? ", " : "",
                               (unsigned long long)ids[(i * 7919) % n]);
    sprintf(list + len, ")");
    uint64_t *b4 = calloc(words + 1, 8);
    if (!b4)
        return 1;
    snprintf(label, sizeof label, "in-list of 1000 ids n=%zu", n);
    run(label, list, env, b4, words, n, 3);
    free(list);
    free(b4);

    const uint64_t *sets[3] = {b1, b2, b3};
    double best = 1e30;
    for (int rep = 0; rep < 7; rep++) {
        crm_segment_stats *st = NULL;
        double t0 = bench_now();
        if (crm_segment_stats_compute(&st, sets, 3, n) != CRM_OK)
            return 1;
        double dt = bench_now() - t0;
        crm_segment_stats_free(st);
        if (dt < best)
            best = dt;
    }
    char name[128];
    snprintf(name, sizeof name, "segment overlaps k=3 n=%zu", n);
    bench_report(name, "customer", best, n, -1, n, "customer");
    crm_segment_env_free(env);
    crm_profiles_free(prof);
    free(score);
    free(stage);
    free(b1);
    free(b2);
    free(b3);
    return 0;
}
