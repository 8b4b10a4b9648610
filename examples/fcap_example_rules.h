/* The example rule set of specs/fcap.md as C structs (shared by the fcap
 * examples): <= 6 messages a week, <= 4 emails a week per sender tag, one
 * promo a local day, each campaign once a week, one call a month, at most 2
 * channels within an hour, no marketing 21:00-09:00 local, service exempt. */
#ifndef FCAP_EXAMPLE_RULES_H
#define FCAP_EXAMPLE_RULES_H

#include "crm/crm.h"

enum { CH_EMAIL, CH_SMS, CH_PUSH, CH_TELEGRAM, CH_VIBER, CH_WHATSAPP, CH_SOCIAL_ADS, CH_CALL };
static const char *const FCAP_CHANNEL[] = {"email", "sms", "push", "telegram", "viber",
                                           "whatsapp", "social_ads", "call"};
static const char *const FCAP_CAP_ID[] = {"all_week", "email_sender_week", "promo_day",
                                          "campaign_once", "call_month"};

static inline crm_status fcap_example_engine(crm_fcap **out)
{
    static crm_fcap_cap caps[5];
    static crm_fcap_quiet quiet[1];
    crm_fcap_rules r;
    crm_fcap_rules_init(&r, CRM_FCAP_RULES_VERSION);
    const crm_fcap_cap base = {.channels = CRM_FCAP_ALL_CHANNELS,
                               .categories = CRM_FCAP_ALL_CATEGORIES, .key = CRM_FCAP_KEY_ANY};
    for (int i = 0; i < 5; i++)
        caps[i] = base;
    caps[0].limit = 6, caps[0].sliding = 1, caps[0].window = 604800;
    caps[1].scope = CRM_FCAP_SCOPE_TAG, caps[1].limit = 4, caps[1].sliding = 1,
    caps[1].window = 604800, caps[1].channels = 1u << CH_EMAIL;
    caps[2].scope = CRM_FCAP_SCOPE_CATEGORY, caps[2].key = CRM_FCAP_PROMO, caps[2].limit = 1,
    caps[2].window = 86400;
    caps[3].scope = CRM_FCAP_SCOPE_CAMPAIGN, caps[3].limit = 1, caps[3].sliding = 1,
    caps[3].window = 604800;
    caps[4].scope = CRM_FCAP_SCOPE_CHANNEL, caps[4].key = CH_CALL, caps[4].limit = 1,
    caps[4].window = CRM_FCAP_WINDOW_MONTH;
    quiet[0] = (crm_fcap_quiet){.start = 21 * 3600, .end = 9 * 3600,
                                .channels = CRM_FCAP_ALL_CHANNELS,
                                .categories = (1u << CRM_FCAP_PROMO) | (1u << CRM_FCAP_CONTENT) |
                                              (1u << CRM_FCAP_TRIGGER)};
    r.caps = caps;
    r.n_caps = 5;
    r.quiet = quiet;
    r.n_quiet = 1;
    r.sim_gap = 3600;
    r.sim_max = 2;
    r.prefer_preferred = 1;
    return crm_fcap_new(out, &r);
}

/* "CAP:all_week" etc. into buf (>= 48 bytes). */
static inline const char *fcap_reason_name(uint8_t code, uint16_t arg, char *buf)
{
    static const char *const plain[] = {"OK", "ALREADY_SENT", "NO_CONSENT", "QUIET_HOURS", "",
                                        "SIMULTANEOUS", "", "OUTRANKED:SIMULTANEOUS"};
    if (code == CRM_FCAP_CAP || code == CRM_FCAP_OUTRANKED_CAP) {
        snprintf(buf, 48, "%s%s", code == CRM_FCAP_CAP ? "CAP:" : "OUTRANKED:",
                 arg < 5 ? FCAP_CAP_ID[arg] : "?");
        return buf;
    }
    return code < 8 ? plain[code] : "?";
}

#endif
