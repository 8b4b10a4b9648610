/*
 * Fuzz target: crm_fcap_replay (decision-log loader).
 *
 * Input: byte 0 selects the mode.
 *   0    the rest is a log as stored (framed records);
 *   else the rest is a list of chunks [u16 length][payload]; each payload is
 *        framed here with the right magic, length and CRC-32C, so mutations
 *        reach the record parser.
 * The log is replayed onto an engine with the example rules and a little
 * history. Checks: a failure is CRM_ESTATE with a byte offset (or
 * CRM_ENOMEM) and leaves the engine byte for byte as it was; a success,
 * replayed a second time, changes nothing (records already contained); the
 * engine then survives a decide.
 */
#include "fcap_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void snapshot(const crm_fcap *f, void **b, size_t *n)
{
    CHECK(crm_fcap_save(f, b, n) == CRM_OK, "%s", crm_last_error());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t *log;
    size_t len = 0;
    if (data[0] == 0) {
        log = malloc(size);
        CHECK(log != NULL, "oom");
        memcpy(log, data + 1, size - 1);
        len = size - 1;
    } else {
        log = malloc(size * 7 + 16);
        CHECK(log != NULL, "oom");
        size_t i = 1;
        while (i + 2 <= size) {
            size_t pl = (size_t)data[i] | (size_t)data[i + 1] << 8;
            i += 2;
            if (pl > size - i)
                pl = size - i;
            fz_le(log + len, 0x474C4346u, 4);
            fz_le(log + len + 4, pl, 4);
            fz_le(log + len + 8, fz_crc32c(0, data + i, pl), 4);
            memcpy(log + len + 12, data + i, pl);
            len += 12 + pl;
            i += pl;
        }
    }
    crm_fcap *f = fz_example_engine();
    static const uint32_t tags[] = {1};
    crm_fcap_event ev = {.customer_id = 1, .t = INT64_C(1717400000), .campaign_id = 3,
                         .cand_id = 5, .tag_off = 0, .tag_n = 1, .channel = 0,
                         .category = 1, .counts = -1};
    CHECK(crm_fcap_add_history(f, &ev, 1, tags, 1) == CRM_OK, "%s", crm_last_error());
    void *before, *after;
    size_t nb, na;
    snapshot(f, &before, &nb);
    crm_status s = crm_fcap_replay(f, log, len);
    snapshot(f, &after, &na);
    if (s != CRM_OK) {
        CHECK(s == CRM_ESTATE || s == CRM_ENOMEM, "status %d", s);
        if (s == CRM_ESTATE)
            CHECK(strstr(crm_last_error(), "byte") != NULL, "no offset in: %s", crm_last_error());
        CHECK(na == nb && memcmp(before, after, nb) == 0, "failed replay changed the engine");
    } else {
        void *twice;
        size_t nt;
        CHECK(crm_fcap_replay(f, log, len) == CRM_OK, "second replay: %s", crm_last_error());
        snapshot(f, &twice, &nt);
        CHECK(nt == na && memcmp(twice, after, na) == 0, "second replay changed the engine");
        crm_bytes_free(twice);
        fz_decide_some(f);
    }
    crm_bytes_free(before);
    crm_bytes_free(after);
    crm_fcap_free(f);
    free(log);
    return 0;
}
