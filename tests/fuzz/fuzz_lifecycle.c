/*
 * Fuzz target: lifecycle partial blobs and stage / cohort building.
 *
 * Byte 0 selects what the rest is:
 *   0  a cohort partial blob: crm_lifecycle_cohorts_load; when accepted, it
 *      must serialise back to the same bytes and its matrix must be sane
 *      (k = 0 share is 1, shares in [0, 1], NaN exactly after the asof month)
 *   1  a funnel partial blob: crm_lifecycle_funnel_load; when accepted it
 *      round-trips and merges with itself to twice its counts
 *   2  a migration partial blob: same for crm_lifecycle_migration_load
 *   3+ compact orders (5 bytes each: customer byte, int16 day offset from
 *      asof 20000 - 700, int16 amount, negative = refund) followed by nothing:
 *      stages are built; funnel counts must add up to the row count, leads
 *      excluded; cohort sizes must add up to the profile count; the cohort
 *      merge of two halves of the rows must equal the whole.
 * Any violation aborts. Errors must be CRM_ESTATE / CRM_EVERSION for blobs.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "fuzz_lifecycle: %s:%d: check failed: %s (%s)\n", __FILE__, \
                    __LINE__, #cond, crm_last_error()); \
            abort(); \
        } \
    } while (0)

static void check_cohorts(const crm_lifecycle_cohorts *c)
{
    size_t rows = crm_lifecycle_cohorts_rows(c), cols = crm_lifecycle_cohorts_columns(c);
    int64_t asof = crm_lifecycle_cohorts_asof(c);
    const int32_t *month = crm_lifecycle_cohorts_month(c);
    const double *share = crm_lifecycle_cohorts_share(c);
    (void)asof;
    for (size_t r = 0; r < rows; r++) {
        CHECK(crm_lifecycle_cohorts_size(c)[r] > 0);
        CHECK(r == 0 || month[r] > month[r - 1]);
        CHECK(share[r * cols] == 1.0);
        size_t known = (size_t)(month[rows - 1] - month[r]) + 1; /* at least this many */
        for (size_t k = 0; k < cols; k++) {
            double v = share[r * cols + k];
            CHECK(isnan(v) || (v >= 0 && v <= 1));
            if (k < known)
                CHECK(!isnan(v));
        }
    }
}

static void blob_cohorts(const uint8_t *d, size_t n)
{
    crm_lifecycle_cohorts *c;
    crm_status st = crm_lifecycle_cohorts_load(&c, d, n);
    if (st) {
        CHECK(st == CRM_ESTATE || st == CRM_EVERSION || st == CRM_ENOMEM ||
              st == CRM_EOVERFLOW);
        CHECK(c == NULL);
        return;
    }
    check_cohorts(c);
    void *b;
    size_t len;
    CHECK(crm_lifecycle_cohorts_serialize(c, &b, &len) == CRM_OK);
    CHECK(len == n && memcmp(b, d, n) == 0);
    crm_bytes_free(b);
    crm_lifecycle_cohorts *m;
    CHECK(crm_lifecycle_cohorts_merge(&m, c, c) == CRM_OK); /* idempotent union */
    CHECK(crm_lifecycle_cohorts_rows(m) == crm_lifecycle_cohorts_rows(c));
    crm_lifecycle_cohorts_free(m);
    crm_lifecycle_cohorts_free(c);
}

static void blob_funnel(const uint8_t *d, size_t n)
{
    crm_lifecycle_funnel f, g;
    crm_status st = crm_lifecycle_funnel_load(d, n, &f);
    if (st) {
        CHECK(st == CRM_ESTATE || st == CRM_EVERSION);
        return;
    }
    CHECK(f.conversion_hits <= f.conversion_base);
    void *b;
    size_t len;
    CHECK(crm_lifecycle_funnel_serialize(&f, &b, &len) == CRM_OK);
    CHECK(len == n && memcmp(b, d, n) == 0);
    crm_bytes_free(b);
    st = crm_lifecycle_funnel_merge(&f, &f, &g);
    CHECK(st == CRM_OK || st == CRM_EOVERFLOW);
    if (st == CRM_OK)
        for (int s = 0; s < CRM_LIFECYCLE_STAGES; s++)
            CHECK(g.customers[s] == 2 * f.customers[s]);
}

static void blob_migration(const uint8_t *d, size_t n)
{
    crm_lifecycle_migration m, g;
    crm_status st = crm_lifecycle_migration_load(d, n, &m);
    if (st) {
        CHECK(st == CRM_ESTATE || st == CRM_EVERSION);
        return;
    }
    void *b;
    size_t len;
    CHECK(crm_lifecycle_migration_serialize(&m, &b, &len) == CRM_OK);
    CHECK(len == n && memcmp(b, d, n) == 0);
    crm_bytes_free(b);
    st = crm_lifecycle_migration_merge(&m, &m, &g);
    CHECK(st == CRM_OK || st == CRM_EOVERFLOW);
}

static void orders(const uint8_t *d, size_t n)
{
    const int64_t asof = 20000;
    size_t m = n / 5;
    crm_order *o = malloc((m ? m : 1) * sizeof *o);
    crm_contact *c = malloc((m ? m : 1) * sizeof *c);
    CHECK(o && c);
    for (size_t i = 0; i < m; i++) {
        const uint8_t *p = d + 5 * i;
        int16_t off = (int16_t)(p[1] | (p[2] << 8)), amount = (int16_t)(p[3] | (p[4] << 8));
        int64_t day = asof - 700 + (off % 800 + 800) % 800;
        o[i] = (crm_order){ p[0], day * 86400 + p[0] * 337, amount };
        c[i] = (crm_contact){ (uint64_t)p[0] + (p[1] & 1) * 256, day * 86400 };
    }
    crm_profiles *prof;
    CHECK(crm_profiles_build(&prof, o, m, asof, NULL) == CRM_OK);
    crm_lifecycle *t;
    CHECK(crm_lifecycle_build(&t, prof, c, m, NULL, NULL) == CRM_OK);
    crm_lifecycle_funnel f = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
    CHECK(crm_lifecycle_get_funnel(t, &f) == CRM_OK);
    uint64_t total = 0;
    for (int s = 0; s < CRM_LIFECYCLE_STAGES; s++)
        total += f.customers[s];
    CHECK(total == crm_lifecycle_count(t));
    CHECK(total - f.customers[CRM_STAGE_LEAD] == crm_profiles_count(prof));
    crm_lifecycle_migration mig = { .version = CRM_LIFECYCLE_MIGRATION_VERSION };
    CHECK(crm_lifecycle_get_migration(t, t, &mig) == CRM_OK);
    for (int r = 0; r < CRM_LIFECYCLE_STAGES; r++) /* same day: diagonal */
        for (int k = 0; k < CRM_LIFECYCLE_STAGES; k++)
            CHECK(r == k || mig.counts[r][k] == 0);
    crm_lifecycle_cohorts *whole, *a, *b, *ab;
    CHECK(crm_lifecycle_cohorts_build(&whole, o, m, asof) == CRM_OK);
    CHECK(crm_lifecycle_cohorts_build(&a, o, m / 2, asof) == CRM_OK);
    CHECK(crm_lifecycle_cohorts_build(&b, o + m / 2, m - m / 2, asof) == CRM_OK);
    CHECK(crm_lifecycle_cohorts_merge(&ab, b, a) == CRM_OK);
    check_cohorts(whole);
    size_t rows = crm_lifecycle_cohorts_rows(whole), cols = crm_lifecycle_cohorts_columns(whole);
    CHECK(rows == crm_lifecycle_cohorts_rows(ab) && cols == crm_lifecycle_cohorts_columns(ab));
    uint64_t sizes = 0;
    for (size_t r = 0; r < rows; r++)
        sizes += crm_lifecycle_cohorts_size(whole)[r];
    CHECK(sizes == crm_profiles_count(prof));
    CHECK(rows == 0 || memcmp(crm_lifecycle_cohorts_active(whole),
                              crm_lifecycle_cohorts_active(ab),
                              rows * cols * sizeof(uint64_t)) == 0);
    crm_lifecycle_cohorts_free(whole);
    crm_lifecycle_cohorts_free(a);
    crm_lifecycle_cohorts_free(b);
    crm_lifecycle_cohorts_free(ab);
    crm_lifecycle_free(t);
    crm_profiles_free(prof);
    free(o);
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0]) {
    case 0:
        blob_cohorts(data + 1, size - 1);
        break;
    case 1:
        blob_funnel(data + 1, size - 1);
        break;
    case 2:
        blob_migration(data + 1, size - 1);
        break;
    default:
        orders(data + 1, size - 1);
        break;
    }
    return 0;
}
