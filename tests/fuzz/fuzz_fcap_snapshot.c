/*
 * Fuzz target: crm_fcap_load (snapshot loader).
 *
 * Input: byte 0 selects the mode.
 *   0    the rest is a snapshot as stored (header, payload, CRC);
 *   else the rest is a snapshot payload: a valid header and CRC are put
 *        around it here, so mutations reach the payload parser.
 * Checks: the status is CRM_OK, CRM_ESTATE or CRM_EVERSION; a failure
 * leaves *out NULL and names a byte offset; an accepted snapshot saves back
 * to exactly the same bytes (the format is canonical), loads again, and the
 * engine survives a decide and a prune.
 */
#include "fcap_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t *buf;
    size_t len;
    if (data[0] == 0) {
        len = size - 1;
        buf = malloc(len ? len : 1);
        CHECK(buf != NULL, "oom");
        if (len)
            memcpy(buf, data + 1, len);
    } else {
        size_t pl = size - 1;
        len = 16 + pl + 4;
        buf = malloc(len);
        CHECK(buf != NULL, "oom");
        memcpy(buf, "CRMB", 4);
        fz_le(buf + 4, 40, 2);
        fz_le(buf + 6, 6, 2); /* snapshot format version */
        fz_le(buf + 8, pl, 8);
        if (pl)
            memcpy(buf + 16, data + 1, pl);
        fz_le(buf + 16 + pl, fz_crc32c(0, buf, 16 + pl), 4);
    }
    crm_fcap *f = (crm_fcap *)buf; /* must be overwritten */
    crm_status s = crm_fcap_load(&f, buf, len);
    if (s != CRM_OK) {
        CHECK(s == CRM_ESTATE || s == CRM_EVERSION || s == CRM_ENOMEM, "status %d", s);
        CHECK(f == NULL, "engine returned on failure");
        if (s == CRM_ESTATE)
            CHECK(strstr(crm_last_error(), "byte") != NULL, "no offset in: %s", crm_last_error());
        free(buf);
        return 0;
    }
    void *again;
    size_t alen;
    CHECK(crm_fcap_save(f, &again, &alen) == CRM_OK, "%s", crm_last_error());
    CHECK(alen == len && memcmp(again, buf, len) == 0, "save(load(x)) != x (%zu vs %zu bytes)",
          alen, len);
    crm_fcap *g = NULL;
    CHECK(crm_fcap_load(&g, again, alen) == CRM_OK, "%s", crm_last_error());
    crm_bytes_free(again);
    fz_decide_some(f);
    crm_status p = crm_fcap_prune(f, INT64_C(1717416000) + 100);
    CHECK(p == CRM_OK || p == CRM_EINVAL, "prune %d", p);
    crm_fcap_free(f);
    crm_fcap_free(g);
    free(buf);
    return 0;
}
