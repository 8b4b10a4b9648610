/*
 * Fuzz target: crm_profiles_deserialize (the loader of profile partials),
 * then crm_profiles_serialize / crm_profiles_merge on what loaded.
 *
 * Input: byte 0 = mode, the rest = the blob.
 *   mode bit 0: before loading, set the blob's length field to the bytes
 *               given and recompute its CRC-32C, so mutations reach the
 *               payload checks instead of stopping at the checksum.
 *
 * Invariants (abort on violation):
 *   - the status is OK, ESTATE, EVERSION or EOVERFLOW; on failure the table
 *     pointer is NULL and there is a message;
 *   - a loaded table is canonical: serialising it gives back exactly the
 *     input bytes;
 *   - its columns hold what a built table guarantees (ascending ids, days in
 *     0..asof, recency/tenure consistent, counts in range);
 *   - a mergeable table merges with itself: same customers, frequencies and
 *     money doubled, distinct days unchanged (or CRM_EOVERFLOW).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm.h"
#include "../partial/blobutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME "fuzz_partial"
#include "fuzz_check.h"

static void check_columns(const crm_profiles *p)
{
    const size_t n = crm_profiles_count(p);
    const int64_t asof = crm_profiles_asof(p);
    CHECK(asof >= 0 && asof <= CRM_DAY_MAX, "asof %lld", (long long)asof);
    const uint64_t *id = crm_profiles_customer_id(p);
    const int32_t *first = crm_profiles_first_day(p), *last = crm_profiles_last_day(p);
    const int32_t *prev = crm_profiles_prev_day(p), *second = crm_profiles_second_day(p);
    const int32_t *rec = crm_profiles_recency_days(p), *ten = crm_profiles_tenure_days(p);
    const uint32_t *f = crm_profiles_frequency(p), *pd = crm_profiles_purchase_days(p);
    const uint32_t *lr = crm_profiles_last_day_orders(p);
    for (size_t r = 0; r < n; r++) {
        CHECK(r == 0 || id[r] > id[r - 1], "row %zu: ids not ascending", r);
        CHECK(0 <= first[r] && first[r] <= last[r] && last[r] <= asof, "row %zu: days", r);
        CHECK(rec[r] == asof - last[r] && ten[r] == asof - first[r], "row %zu: derived", r);
        CHECK(f[r] >= 1 && pd[r] >= 1 && pd[r] <= f[r], "row %zu: counts", r);
        CHECK(lr[r] >= 1 && lr[r] <= f[r], "row %zu: last_day_orders", r);
        CHECK(pd[r] == 1 ? prev[r] == -1 : (prev[r] >= first[r] && prev[r] < last[r]),
              "row %zu: prev_day", r);
        CHECK(f[r] == 1 ? second[r] == -1 : (second[r] >= first[r] && second[r] <= last[r]),
              "row %zu: second_day", r);
        size_t row;
        CHECK(crm_profiles_find(p, id[r], &row) == CRM_OK && row == r, "row %zu: find", r);
    }
    crm_population_summary s = {.version = CRM_POPULATION_SUMMARY_VERSION};
    CHECK(crm_profiles_summary(p, &s) == CRM_OK && s.customers == n, "summary");
}

static void check_self_merge(const crm_profiles *p)
{
    crm_profiles *m = NULL;
    crm_status s = crm_profiles_merge(&m, p, p);
    if (s != CRM_OK) {
        CHECK(s == CRM_EOVERFLOW && m == NULL, "self-merge: %d (%s)", s, crm_last_error());
        return;
    }
    const size_t n = crm_profiles_count(p);
    CHECK(crm_profiles_count(m) == n, "self-merge count");
    for (size_t r = 0; r < n; r++) {
        CHECK(crm_profiles_customer_id(m)[r] == crm_profiles_customer_id(p)[r], "id %zu", r);
        CHECK(crm_profiles_frequency(m)[r] == 2 * crm_profiles_frequency(p)[r], "freq %zu", r);
        CHECK(crm_profiles_monetary(m)[r] == 2 * crm_profiles_monetary(p)[r], "money %zu", r);
        CHECK(crm_profiles_purchase_days(m)[r] == crm_profiles_purchase_days(p)[r], "pd %zu", r);
        CHECK(crm_profiles_last_day_orders(m)[r] == 2 * crm_profiles_last_day_orders(p)[r],
              "last rows %zu", r);
    }
    crm_profiles_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len;
    uint8_t *blob = blob_fuzz_input(data, size, &len);
    CHECK(blob != NULL, "out of memory");
    crm_profiles *p = (crm_profiles *)(uintptr_t)1;
    crm_status s = crm_profiles_deserialize(&p, blob, len);
    if (s != CRM_OK) {
        CHECK_REFUSED(s, p);
        free(blob);
        return 0;
    }
    check_columns(p);
    void *again = NULL;
    size_t again_len = 0;
    CHECK(crm_profiles_serialize(&again, &again_len, p) == CRM_OK, "re-serialise");
    CHECK(again_len == len && memcmp(again, blob, len) == 0, "not canonical: %zu vs %zu bytes",
          again_len, len);
    crm_bytes_free(again);
    if (crm_profiles_is_mergeable(p))
        check_self_merge(p);
    crm_profiles_free(p);
    free(blob);
    return 0;
}
