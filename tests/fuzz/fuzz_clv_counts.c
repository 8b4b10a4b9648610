/*
 * Fuzz target: crm_clv_counts_deserialize (the loader of the clv scale-out
 * partial), then serialise / merge / log-likelihood on what loaded.
 *
 * Input: byte 0 = mode, the rest = the blob.
 *   mode bit 0: before loading, set the blob's length field to the bytes
 *               given and recompute its CRC-32C, so mutations reach the
 *               payload checks instead of stopping at the checksum.
 *
 * Invariants (abort on violation):
 *   - the status is OK, ESTATE, EVERSION or EOVERFLOW; on failure the table
 *     pointer is NULL and there is a message;
 *   - a loaded table is canonical: serialising it gives back the input;
 *   - its rows are valid purchase data in strictly ascending order;
 *   - merged with itself it has the same rows and doubled counts (or
 *     CRM_EOVERFLOW);
 *   - the BG/NBD log-likelihood of its rows at fixed parameters is finite.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm.h"
#include "../partial/blobutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME "fuzz_clv_counts"
#include "fuzz_check.h"

static void check_rows(const crm_clv_counts *c)
{
    size_t n = crm_clv_counts_rows(c);
    const double *x = crm_clv_counts_x(c), *tx = crm_clv_counts_t_x(c),
                 *T = crm_clv_counts_tenure(c);
    const uint64_t *w = crm_clv_counts_n(c);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(x[i] >= 0 && x[i] == floor(x[i]) && tx[i] >= 0 && tx[i] <= T[i] && w[i] >= 1,
              "row %zu invalid", i);
        CHECK(x[i] > 0 || tx[i] == 0, "row %zu: t_x without repeats", i);
        if (i)
            CHECK(x[i - 1] < x[i] || (x[i - 1] == x[i] && (tx[i - 1] < tx[i]
                  || (tx[i - 1] == tx[i] && T[i - 1] < T[i]))), "row %zu not ascending", i);
        total += w[i];
    }
    CHECK(total == crm_clv_counts_customers(c), "total");
    if (n) {
        const double p[4] = { 0.5, 3.0, 0.8, 2.5 };
        double ll;
        CHECK(crm_clv_loglik(&ll, NULL, CRM_CLV_BGNBD, p, x, tx, T, n) == CRM_OK && isfinite(ll),
              "loglik");
    }
}

static void check_self_merge(const crm_clv_counts *c)
{
    crm_clv_counts *m = NULL;
    crm_status s = crm_clv_counts_merge(&m, c, c);
    if (s != CRM_OK) {
        CHECK(s == CRM_EOVERFLOW && m == NULL, "self-merge: %d (%s)", s, crm_last_error());
        return;
    }
    size_t n = crm_clv_counts_rows(c);
    CHECK(crm_clv_counts_rows(m) == n, "self-merge rows");
    for (size_t i = 0; i < n; i++)
        CHECK(crm_clv_counts_n(m)[i] == 2 * crm_clv_counts_n(c)[i]
              && crm_clv_counts_tenure(m)[i] == crm_clv_counts_tenure(c)[i], "row %zu", i);
    crm_clv_counts_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len;
    uint8_t *blob = blob_fuzz_input(data, size, &len);
    CHECK(blob != NULL, "out of memory");
    crm_clv_counts *c = (crm_clv_counts *)(uintptr_t)1;
    crm_status s = crm_clv_counts_deserialize(&c, blob, len);
    if (s != CRM_OK) {
        CHECK_REFUSED(s, c);
        free(blob);
        return 0;
    }
    check_rows(c);
    void *again = NULL;
    size_t again_len = 0;
    CHECK(crm_clv_counts_serialize(c, &again, &again_len) == CRM_OK, "re-serialise");
    CHECK(again_len == len && memcmp(again, blob, len) == 0, "not canonical");
    crm_bytes_free(again);
    check_self_merge(c);
    crm_clv_counts_free(c);
    free(blob);
    return 0;
}
