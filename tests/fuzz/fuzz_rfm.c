/*
 * Fuzz target: crm_rfm_partial_deserialize (the loader of RFM partials),
 * then serialise / merge / finalise what loaded.
 *
 * Input: byte 0 = mode, the rest = the blob.
 *   mode bit 0: before loading, set the blob's length field to the bytes
 *               given and recompute its CRC-32C, so mutations reach the
 *               payload checks instead of stopping at the checksum.
 *   mode bits 1-2: tie rule for the thresholds (3 = cut points on F).
 *
 * Invariants (abort on violation):
 *   - the status is OK, ESTATE or EVERSION; on failure the pointer is NULL;
 *   - a loaded partial is canonical: serialising it gives back the input
 *     (format version 2, the one written; a version-1 blob re-serialises
 *     into version-2 bytes that load and serialise back unchanged);
 *   - it merges with itself (customer count doubled for a histogram);
 *   - a histogram finalises into thresholds with at most 3 (N - 1) pending
 *     boundaries, and a ties partial is refused as a histogram.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm.h"
#include "../partial/blobutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, what) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "fuzz_rfm: %s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, \
                    #cond, what); \
            abort(); \
        } \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    uint8_t *blob = blob_fuzz_input(data, size, &len);
    if (!blob)
        return 0;
    const uint8_t mode = data[0];
    crm_rfm_partial *p = (crm_rfm_partial *)1;
    crm_status s = crm_rfm_partial_deserialize(&p, blob, len);
    if (s != CRM_OK) {
        CHECK(s == CRM_ESTATE || s == CRM_EVERSION, crm_last_error());
        CHECK(p == NULL, "pointer not cleared");
        free(blob);
        return 0;
    }
    void *out;
    size_t out_len;
    CHECK(crm_rfm_partial_serialize(&out, &out_len, p) == CRM_OK, crm_last_error());
    if (blob[6] == 2) { /* the version written: the same bytes */
        CHECK(out_len == len && memcmp(out, blob, len) == 0, "not canonical");
    } else { /* an older version loads into what reads back as itself */
        crm_rfm_partial *q = NULL;
        CHECK(crm_rfm_partial_deserialize(&q, out, out_len) == CRM_OK, crm_last_error());
        void *again;
        size_t again_len;
        CHECK(crm_rfm_partial_serialize(&again, &again_len, q) == CRM_OK, crm_last_error());
        CHECK(again_len == out_len && memcmp(again, out, out_len) == 0, "not stable");
        crm_bytes_free(again);
        crm_rfm_partial_free(q);
    }
    crm_bytes_free(out);
    crm_rfm_partial *m;
    s = crm_rfm_partial_merge(&m, p, p);
    CHECK(s == CRM_OK || s == CRM_EOVERFLOW, crm_last_error());
    crm_rfm_options o;
    crm_rfm_options_init(&o, CRM_RFM_OPTIONS_VERSION);
    static const int64_t cuts[] = { 2, 3, 5, 8 };
    uint32_t rule = (mode >> 1) & 3;
    if (rule == 3) {
        o.f_cuts = cuts;
        o.n_f_cuts = 4;
    } else {
        o.tie = rule;
    }
    crm_rfm_thresholds *th = NULL;
    s = crm_rfm_thresholds_new(&th, p, NULL, &o);
    if (s == CRM_OK) {
        CHECK(crm_rfm_thresholds_pending(th) <= 12, "pending");
        if (m)
            CHECK(crm_rfm_partial_count(m) == 2 * crm_rfm_partial_count(p), "merge count");
        crm_rfm_thresholds_free(th);
    } else {
        CHECK(s == CRM_EINVAL && th == NULL, crm_last_error()); /* a ties partial */
    }
    crm_rfm_partial_free(m);
    crm_rfm_partial_free(p);
    free(blob);
    return 0;
}
