/* Shared by the fcap fuzz targets: a CRC-32C written here (the library's is
 * internal), the example rules of specs/fcap.md and a few candidates. */
#ifndef FCAP_FUZZ_COMMON_H
#define FCAP_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm.h"

#define CHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
            abort(); \
        } \
    } while (0)

static inline uint32_t fz_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static inline void fz_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static crm_fcap_cap fz_caps[5];
static crm_fcap_quiet fz_quiet[1];

static inline crm_fcap *fz_example_engine(void)
{
    crm_fcap_rules r;
    crm_fcap_rules_init(&r, CRM_FCAP_RULES_VERSION);
    crm_fcap_cap b = {.channels = CRM_FCAP_ALL_CHANNELS, .categories = CRM_FCAP_ALL_CATEGORIES,
                      .key = CRM_FCAP_KEY_ANY};
    for (int i = 0; i < 5; i++)
        fz_caps[i] = b;
    fz_caps[0].limit = 6, fz_caps[0].sliding = 1, fz_caps[0].window = 604800;
    fz_caps[1].scope = CRM_FCAP_SCOPE_TAG, fz_caps[1].limit = 4, fz_caps[1].sliding = 1,
    fz_caps[1].window = 604800, fz_caps[1].channels = 1;
    fz_caps[2].scope = CRM_FCAP_SCOPE_CATEGORY, fz_caps[2].key = 0, fz_caps[2].limit = 1,
    fz_caps[2].window = 86400;
    fz_caps[3].scope = CRM_FCAP_SCOPE_CAMPAIGN, fz_caps[3].limit = 1, fz_caps[3].sliding = 1,
    fz_caps[3].window = 604800;
    fz_caps[4].scope = CRM_FCAP_SCOPE_CHANNEL, fz_caps[4].key = 7, fz_caps[4].limit = 1,
    fz_caps[4].window = CRM_FCAP_WINDOW_MONTH;
    fz_quiet[0] = (crm_fcap_quiet){.start = 75600, .end = 32400,
                                   .channels = CRM_FCAP_ALL_CHANNELS, .categories = 7};
    r.caps = fz_caps;
    r.n_caps = 5;
    r.quiet = fz_quiet;
    r.n_quiet = 1;
    r.sim_gap = 3600;
    r.sim_max = 2;
    r.prefer_preferred = 1;
    crm_fcap *f = NULL;
    CHECK(crm_fcap_new(&f, &r) == CRM_OK, "%s", crm_last_error());
    return f;
}

/* Decide a few fixed candidates; any status is fine but must not crash. */
static inline void fz_decide_some(crm_fcap *f)
{
    static const uint32_t tags[] = {1, 2};
    crm_fcap_candidate c[3];
    memset(c, 0, sizeof c);
    for (int i = 0; i < 3; i++) {
        c[i].cand_id = 1000000 + (uint64_t)i;
        c[i].customer_id = (uint64_t)i;
        c[i].t = INT64_C(1717416000) + i;
        c[i].campaign_id = (uint64_t)i % 2;
        c[i].category = (uint8_t)(i % 4);
        c[i].value = 1.0;
        c[i].consent = CRM_FCAP_ALL_CHANNELS;
        c[i].preferred = -1;
        c[i].n_channels = 2;
        c[i].channels[0] = 0;
        c[i].channels[1] = (uint8_t)(1 + i);
        c[i].tag_off = 0;
        c[i].tag_n = (uint32_t)(i % 3);
    }
    crm_fcap_decision d[3];
    crm_status s = crm_fcap_decide(f, c, 3, tags, 2, d);
    CHECK(s == CRM_OK || s == CRM_EDATA, "decide status %d: %s", s, crm_last_error());
}

#endif
