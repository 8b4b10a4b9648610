/*
 * Fuzz target: attribution path tables and credit partials.
 *
 * Input: byte 0 selects the entry point, the rest is its input:
 *   0: crm_attribution_paths_parse (';'-separated text, '>' paths); on
 *      success every path-table model runs and must credit exactly the
 *      table's total conversions (Shapley CR may fail with EDATA on paths of
 *      more than 20 channels), Markov P must equal conv / (conv + nulls),
 *      and the table must survive serialise -> deserialise unchanged;
 *   1: crm_attribution_paths_deserialize (any bytes);
 *   2: crm_attribution_credit_deserialize (any bytes), then merge with itself.
 * Any violation aborts.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "fuzz_attribution: %s:%d: check failed: %s (%s)\n", __FILE__, \
                    __LINE__, #cond, crm_last_error()); \
            abort(); \
        } \
    } while (0)

static void check_models(const crm_attribution_paths *t)
{
    size_t n = crm_attribution_paths_n_channels(t);
    double *c = malloc((n + 1) * sizeof *c), *v = malloc((n + 1) * sizeof *v);
    CHECK(c && v);
    double tc, tv, tn;
    CHECK(crm_attribution_paths_totals(t, &tc, &tv, &tn, NULL, NULL) == CRM_OK);
    static const int models[] = { 1, 2, 3, 4, 5, 8, 9, 10 };
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        crm_status s = crm_attribution_paths_credit(t, models[m], NULL, c, v);
        if (models[m] == CRM_ATTRIBUTION_MARKOV && !(tc + tn > 0)) {
            CHECK(s == CRM_EDATA);
            continue;
        }
        if (models[m] == CRM_ATTRIBUTION_SHAPLEY_CR && s == CRM_EDATA)
            continue;
        CHECK(s == CRM_OK);
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += c[i];
        bool markov_zero = models[m] == CRM_ATTRIBUTION_MARKOV && sum == 0;
        if (isfinite(tc) && tc < 1e12 && !markov_zero)
            CHECK(fabs(sum - tc) <= 1e-6 * (1 + tc));
    }
    if (tc + tn > 0 && tc + tn < 1e12) {
        crm_attribution_markov *m;
        CHECK(crm_attribution_markov_fit(&m, t, NULL) == CRM_OK);
        double p = crm_attribution_markov_p_conversion(m);
        CHECK(fabs(p - tc / (tc + tn)) <= 1e-9);
        crm_attribution_markov_free(m);
    }
    free(c);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    if (data[0] % 3 == 0) {
        crm_attribution_paths *t = NULL;
        crm_status s = crm_attribution_paths_parse(&t, (const char *)p, len, ';', ">");
        CHECK(s == CRM_OK || s == CRM_EDATA);
        if (s != CRM_OK) {
            CHECK(t == NULL);
            return 0;
        }
        check_models(t);
        void *b;
        size_t bl;
        CHECK(crm_attribution_paths_serialize(t, &b, &bl) == CRM_OK);
        crm_attribution_paths *u = NULL;
        CHECK(crm_attribution_paths_deserialize(&u, b, bl) == CRM_OK);
        CHECK(crm_attribution_paths_n_rows(u) == crm_attribution_paths_n_rows(t));
        crm_bytes_free(b);
        crm_attribution_paths_free(u);
        crm_attribution_paths_free(t);
    } else if (data[0] % 3 == 1) {
        crm_attribution_paths *t = NULL;
        crm_status s = crm_attribution_paths_deserialize(&t, p, len);
        CHECK(s == CRM_OK || s == CRM_ESTATE || s == CRM_EVERSION || s == CRM_EINVAL);
        if (s == CRM_OK)
            check_models(t);
        crm_attribution_paths_free(t);
    } else {
        crm_attribution_credit *c = NULL, *m = NULL;
        crm_status s = crm_attribution_credit_deserialize(&c, p, len);
        CHECK(s == CRM_OK || s == CRM_ESTATE || s == CRM_EVERSION || s == CRM_EINVAL);
        if (s == CRM_OK) {
            CHECK(crm_attribution_credit_merge(&m, c, c) == CRM_OK);
            crm_attribution_credit_free(m);
        }
        crm_attribution_credit_free(c);
    }
    return 0;
}
