/* crm-demo segment section: marketers' rule-language segments over the
 * profile fields plus the RFM scores / segment and lifecycle stage bound by
 * name, with sizes, shares, pairwise overlaps, and what a typo reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_sections.h"

static const struct {
    const char *name, *expr;
} demo_rules[] = {
    {"vip_recent", "recency_days <= 30 and frequency >= 3 and monetary > 50000"},
    {"champions_or_low_r", "rfm_segment = \"champions\" or not (r >= 4)"},
    {"win_back", "stage in (at_risk, churned) and monetary between 10000 and 1000000"},
    {"new_high_value", "stage in (new, active) and m >= 4"},
};
#define N_RULES (sizeof demo_rules / sizeof demo_rules[0])

int demo_segment(const demo_input *in)
{
    size_t n = crm_profiles_count(in->profiles), words = (n + 63) / 64;
    crm_rfm_result *rfm = NULL;
    crm_lifecycle *life = NULL;
    crm_segment_env *env = NULL;
    crm_segment_program *prog = NULL;
    crm_segment_stats *stats = NULL;
    uint32_t *seg = malloc((n ? n : 1) * sizeof *seg), *stage = malloc((n ? n : 1) * sizeof *stage);
    uint64_t *bits = calloc(N_RULES * (words ? words : 1), sizeof *bits);
    const char *seg_names[64], *stage_names[CRM_LIFECYCLE_STAGES];
    int rc = 1;
    if (!seg || !stage || !bits) {
        fprintf(stderr, "crm-demo: out of memory\n");
        goto done;
    }
    if (crm_rfm_score(&rfm, in->profiles, NULL) != CRM_OK ||
        crm_lifecycle_build(&life, in->profiles, NULL, 0, NULL, NULL) != CRM_OK ||
        crm_lifecycle_count(life) != n)
        goto fail;
    /* RFM segment codes and lifecycle stages as categorical columns */
    size_t n_seg = crm_rfm_segment_count(rfm);
    if (n_seg > 64)
        n_seg = 64;
    for (size_t i = 0; i < n_seg; i++)
        seg_names[i] = crm_rfm_segment_name(rfm, i);
    for (int s = 0; s < CRM_LIFECYCLE_STAGES; s++)
        stage_names[s] = crm_lifecycle_stage_name(s);
    const uint16_t *seg16 = crm_rfm_segment(rfm);
    const uint8_t *st8 = crm_lifecycle_stage(life);
    for (size_t i = 0; i < n; i++) {
        seg[i] = seg16 ? seg16[i] : UINT32_MAX;
        stage[i] = st8[i];
    }
    if (crm_segment_env_new(&env, n) != CRM_OK ||
        crm_segment_env_bind_profiles(env, in->profiles) != CRM_OK ||
        crm_segment_env_bind(env, "r", CRM_SEGMENT_U8, crm_rfm_r(rfm)) != CRM_OK ||
        crm_segment_env_bind(env, "f", CRM_SEGMENT_U8, crm_rfm_f(rfm)) != CRM_OK ||
        crm_segment_env_bind(env, "m", CRM_SEGMENT_U8, crm_rfm_m(rfm)) != CRM_OK ||
        crm_segment_env_bind_categorical(env, "rfm_segment", seg, seg_names, n_seg) != CRM_OK ||
        crm_segment_env_bind_categorical(env, "stage", stage, stage_names,
                                         CRM_LIFECYCLE_STAGES) != CRM_OK)
        goto fail;

    printf("\nRule-language segments (%zu customers)\n", n);
    printf("  %-19s %9s %7s  %s\n", "segment", "customers", "share", "rule");
    const uint64_t *sets[N_RULES];
    for (size_t k = 0; k < N_RULES; k++) {
        uint64_t *b = bits + k * (words ? words : 1);
        sets[k] = b;
        if (crm_segment_compile(&prog, demo_rules[k].expr, strlen(demo_rules[k].expr), env,
                                NULL, NULL) != CRM_OK ||
            crm_segment_eval(b, words ? words : 1, prog, env) != CRM_OK)
            goto fail;
        crm_segment_program_free(prog);
        prog = NULL;
        uint64_t c = crm_segment_count(b, n);
        printf("  %-19s %9llu %6.1f%%  %s\n", demo_rules[k].name, (unsigned long long)c,
               n ? 100.0 * (double)c / (double)n : 0.0, demo_rules[k].expr);
    }
    if (crm_segment_stats_compute(&stats, sets, N_RULES, n) != CRM_OK)
        goto fail;
    const uint64_t *m = crm_segment_stats_matrix(stats);
    printf("\n  overlaps (customers in both)\n  %-19s", "");
    for (size_t j = 0; j < N_RULES; j++)
        printf(" %9.9s", demo_rules[j].name);
    printf("\n");
    for (size_t i = 0; i < N_RULES; i++) {
        printf("  %-19s", demo_rules[i].name);
        for (size_t j = 0; j < N_RULES; j++)
            printf(" %9llu", (unsigned long long)m[i * N_RULES + j]);
        printf("\n");
    }
    /* what a marketer's typo reports */
    const char *typo = "recency_days <= 30 and frequncy >= 3";
    size_t off;
    if (crm_segment_compile(&prog, typo, strlen(typo), env, NULL, &off) == CRM_ERULE)
        printf("\n  rule check: \"%s\"\n    -> %s\n", typo, crm_last_error());
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "crm-demo: %s\n", crm_last_error());
done:
    crm_segment_program_free(prog);
    crm_segment_stats_free(stats);
    crm_segment_env_free(env);
    crm_lifecycle_free(life);
    crm_rfm_free(rfm);
    free(seg);
    free(stage);
    free(bits);
    return rc;
}
