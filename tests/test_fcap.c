/*
 * Tests of the frequency-cap engine (include/crm/fcap.h, specs/fcap.md).
 *
 * - hand-worked cases for every reason code and the retry_at rule, with the
 *   example rules of the spec (expected strings worked out by hand);
 * - a brute-force reference decider written here from the spec (O(n^2)
 *   scans of a flat event list, its own calendar code) compared with the
 *   engine on random rule sets and workloads;
 * - properties: input order, batch-by-batch == one run, re-deciding before
 *   retry_at rejects again, snapshot + log replay == live state (bytes),
 *   range snapshots partition the state;
 * - corruption / truncation of snapshots and logs at every byte;
 * - argument errors and an OOM sweep.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- the example rules of the spec ------------------------------------------ */

enum { EMAIL, SMS, PUSH, TELEGRAM, VIBER, WHATSAPP, SOCIAL_ADS, CALL };
static const char *const CH_NAMES[] = {"email", "sms", "push", "telegram", "viber",
                                       "whatsapp", "social_ads", "call"};
enum { PROMO, CONTENT, TRIGGER, SERVICE };
enum { TAG_A = 1, TAG_B = 2, TAG_SUMMER = 3 }; /* sender:a, sender:b, season:summer */

static const char *const EX_CAP_IDS[] = {"all_week", "email_sender_week", "promo_day",
                                         "campaign_once", "call_month"};

static crm_fcap_cap ex_caps[5];
static crm_fcap_quiet ex_quiet[1];

static void example_rules(crm_fcap_rules *r)
{
    assert_int_equal(crm_fcap_rules_init(r, CRM_FCAP_RULES_VERSION), CRM_OK);
    memset(ex_caps, 0, sizeof ex_caps);
    crm_fcap_cap base = {.channels = CRM_FCAP_ALL_CHANNELS, .categories = CRM_FCAP_ALL_CATEGORIES,
                         .key = CRM_FCAP_KEY_ANY};
    for (int i = 0; i < 5; i++)
        ex_caps[i] = base;
    ex_caps[0].scope = CRM_FCAP_SCOPE_GLOBAL, ex_caps[0].limit = 6, ex_caps[0].sliding = 1,
    ex_caps[0].window = 604800;
    ex_caps[1].scope = CRM_FCAP_SCOPE_TAG, ex_caps[1].limit = 4, ex_caps[1].sliding = 1,
    ex_caps[1].window = 604800, ex_caps[1].channels = 1u << EMAIL;
    ex_caps[2].scope = CRM_FCAP_SCOPE_CATEGORY, ex_caps[2].key = PROMO, ex_caps[2].limit = 1,
    ex_caps[2].window = 86400;
    ex_caps[3].scope = CRM_FCAP_SCOPE_CAMPAIGN, ex_caps[3].limit = 1, ex_caps[3].sliding = 1,
    ex_caps[3].window = 604800;
    ex_caps[4].scope = CRM_FCAP_SCOPE_CHANNEL, ex_caps[4].key = CALL, ex_caps[4].limit = 1,
    ex_caps[4].window = CRM_FCAP_WINDOW_MONTH;
    ex_quiet[0] = (crm_fcap_quiet){.start = 21 * 3600, .end = 9 * 3600,
                                   .channels = CRM_FCAP_ALL_CHANNELS,
                                   .categories = (1u << PROMO) | (1u << CONTENT) | (1u << TRIGGER)};
    r->caps = ex_caps;
    r->n_caps = 5;
    r->quiet = ex_quiet;
    r->n_quiet = 1;
    r->sim_gap = 3600;
    r->sim_max = 2;
    r->prefer_preferred = 1;
    /* service: capped false, counts false, requires_consent true (the defaults) */
}

static crm_fcap *example_engine(void)
{
    crm_fcap_rules r;
    example_rules(&r);
    crm_fcap *f = NULL;
    assert_int_equal(crm_fcap_new(&f, &r), CRM_OK);
    return f;
}

/* 2024-06-03 12:00:00 UTC, a Monday. */
#define DAY0 INT64_C(1717372800)
#define T0 (DAY0 + 43200)

/* ---- building rows ------------------------------------------------------------- */

typedef struct rows {
    crm_fcap_event ev[64];
    size_t nev;
    crm_fcap_candidate c[32];
    size_t nc;
    uint32_t tags[512];
    size_t nt;
} rows;

static uint32_t put_tags(rows *r, unsigned mask)
{
    uint32_t off = (uint32_t)r->nt;
    for (uint32_t t = 0; t < 32; t++)
        if ((mask >> t) & 1)
            r->tags[r->nt++] = t;
    return off;
}

static void hist(rows *r, uint64_t cust, int64_t t, unsigned ch, uint64_t camp, unsigned cat,
                 unsigned tagmask, int counts, uint64_t cand)
{
    crm_fcap_event *e = &r->ev[r->nev++];
    memset(e, 0, sizeof *e);
    e->customer_id = cust;
    e->t = t;
    e->channel = (uint8_t)ch;
    e->campaign_id = camp;
    e->category = (uint8_t)cat;
    e->counts = (int8_t)counts;
    e->cand_id = cand;
    e->tag_off = put_tags(r, tagmask);
    e->tag_n = (uint32_t)(r->nt - e->tag_off);
}

/* channels: up to 4 ids, terminated by -1 */
static crm_fcap_candidate *cand(rows *r, uint64_t id, uint64_t cust, int64_t t, uint64_t camp,
                                unsigned cat, int64_t prio, double value, const int *chs)
{
    crm_fcap_candidate *c = &r->c[r->nc++];
    memset(c, 0, sizeof *c);
    c->cand_id = id;
    c->customer_id = cust;
    c->t = t;
    c->campaign_id = camp;
    c->category = (uint8_t)cat;
    c->priority = prio;
    c->value = value;
    c->consent = CRM_FCAP_ALL_CHANNELS;
    c->preferred = -1;
    for (int i = 0; chs[i] >= 0; i++)
        c->channels[c->n_channels++] = (uint8_t)chs[i];
    c->tag_off = (uint32_t)r->nt;
    return c;
}

static void cand_tags(rows *r, crm_fcap_candidate *c, unsigned mask)
{
    c->tag_off = put_tags(r, mask);
    c->tag_n = (uint32_t)(r->nt - c->tag_off);
}

/* "SEND|REJECT,channel,reason,retry_at,detail" in the spec's words. */
static const char *reason_str(uint8_t code, uint16_t arg, const char *const *cap_ids, char *buf)
{
    switch (code) {
    case CRM_FCAP_OK: return "OK";
    case CRM_FCAP_ALREADY_SENT: return "ALREADY_SENT";
    case CRM_FCAP_NO_CONSENT: return "NO_CONSENT";
    case CRM_FCAP_QUIET_HOURS: return "QUIET_HOURS";
    case CRM_FCAP_SIMULTANEOUS: return "SIMULTANEOUS";
    case CRM_FCAP_OUTRANKED_SIMULTANEOUS: return "OUTRANKED:SIMULTANEOUS";
    case CRM_FCAP_CAP: sprintf(buf, "CAP:%s", cap_ids[arg]); return buf;
    case CRM_FCAP_OUTRANKED_CAP: sprintf(buf, "OUTRANKED:%s", cap_ids[arg]); return buf;
    default: return "?";
    }
}

static void format_decision(const crm_fcap_decision *d, const char *const *cap_ids, char *out)
{
    char rb[64], retry[32] = "";
    if (d->retry_at != CRM_FCAP_NEVER)
        sprintf(retry, "%lld", (long long)d->retry_at);
    int n = sprintf(out, "%u,%s,%s,%s,%s,", d->rank, d->send ? "SEND" : "REJECT",
                    d->send ? CH_NAMES[d->channel] : "",
                    d->send ? "" : reason_str(d->reason, d->reason_arg, cap_ids, rb), retry);
    for (unsigned j = 0; j < d->n_tried; j++)
        n += sprintf(out + n, "%s%s:%s", j ? ";" : "", CH_NAMES[d->tried[j]],
                     reason_str(d->detail[j], d->detail_arg[j], cap_ids, rb));
}

/* Decide r's candidates on a fresh example engine loaded with r's history;
 * compare each decision with want[i]. */
static void expect_decisions(crm_fcap *f, rows *r, const char *const *want)
{
    if (r->nev)
        assert_int_equal(crm_fcap_add_history(f, r->ev, r->nev, r->tags, r->nt), CRM_OK);
    r->nev = 0;
    crm_fcap_decision d[32];
    assert_int_equal(crm_fcap_decide(f, r->c, r->nc, r->tags, r->nt, d), CRM_OK);
    for (size_t i = 0; i < r->nc; i++) {
        char got[512];
        format_decision(&d[i], EX_CAP_IDS, got);
        if (strcmp(got, want[i]) != 0)
            fail_msg("candidate %zu (cand_id %llu):\n got  %s\n want %s", i,
                     (unsigned long long)r->c[i].cand_id, got, want[i]);
        assert_int_equal(d[i].cand_id, r->c[i].cand_id);
    }
    r->nc = 0;
}

#define CH(...) ((const int[]){__VA_ARGS__, -1})

/* The decide path's block decoders, picked with CRM_FCAP_DECODER: the best
 * this CPU has (AVX-512, AVX2 or portable), AVX2 (when the CPU has it) and
 * the portable one. */
static const char *const DECODERS[] = {"best", "avx2", "portable"};
#define NDECODERS 3

static void use_decoder(int d)
{
    assert_int_equal(setenv("CRM_FCAP_DECODER", DECODERS[d], 1), 0);
}
#define NOC CRM_FCAP_NO_CAND

/* ---- hand-worked cases ---------------------------------------------------------- */

static void test_already_sent(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    hist(&r, 1, T0 - 10, EMAIL, 5, CONTENT, 0, -1, 100);
    hist(&r, 1, T0 + 10, EMAIL, 6, SERVICE, 0, -1, 101); /* in the future of T0 */
    cand(&r, 100, 1, T0, 7, CONTENT, 1, 1, CH(EMAIL, SMS));
    cand(&r, 101, 1, T0, 8, CONTENT, 1, 1, CH(EMAIL)); /* same channel email: passes sim */
    const char *want[] = {"1,REJECT,,ALREADY_SENT,,email:ALREADY_SENT;sms:ALREADY_SENT",
                          "2,SEND,email,,,email:OK"};
    expect_decisions(f, &r, want);
    /* deciding the sent candidate again: ALREADY_SENT (idempotent re-delivery) */
    cand(&r, 101, 1, T0 + 20, 8, CONTENT, 1, 1, CH(SMS));
    const char *want2[] = {"1,REJECT,,ALREADY_SENT,,sms:ALREADY_SENT"};
    expect_decisions(f, &r, want2);
    /* the cand_id of another customer's event counts too (the engine's id
     * set, then a scan of every customer); one only in the future does not */
    rows r2 = {0};
    hist(&r2, 7, T0 - 5, SMS, 9, PROMO, 0, -1, 300);
    hist(&r2, 8, T0 + 50, SMS, 9, PROMO, 0, -1, 301);
    cand(&r2, 300, 1, T0 + 30, 7, SERVICE, 1, 1, CH(PUSH));
    cand(&r2, 301, 2, T0 + 30, 7, SERVICE, 1, 1, CH(PUSH));
    const char *want3[] = {"1,REJECT,,ALREADY_SENT,,push:ALREADY_SENT", "1,SEND,push,,,push:OK"};
    expect_decisions(f, &r2, want3);
    crm_fcap_free(f);
}

/* ALREADY_SENT after a snapshot load and after a prune (the cand-id set is
 * rebuilt both times, with the range of its pages: ids at both ends). */
static void test_already_sent_after_load_and_prune(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    hist(&r, 1, T0 - 100, EMAIL, 5, CONTENT, 0, -1, 5);
    hist(&r, 2, T0 - 90, SMS, 5, CONTENT, 0, -1, 100000);
    hist(&r, 3, T0 - 40 * 86400, SMS, 5, CONTENT, 0, -1, 7); /* pruned below */
    assert_int_equal(crm_fcap_add_history(f, r.ev, r.nev, r.tags, r.nt), CRM_OK);
    r.nev = 0;
    void *b;
    size_t n;
    assert_int_equal(crm_fcap_save(f, &b, &n), CRM_OK);
    crm_fcap *g = NULL;
    assert_int_equal(crm_fcap_load(&g, b, n), CRM_OK);
    crm_bytes_free(b);
    for (int round = 0; round < 2; round++) {
        crm_fcap *e = round ? f : g;
        if (round)
            assert_int_equal(crm_fcap_prune(f, T0 - 50), CRM_OK);
        cand(&r, 5, 1, T0, 7, SERVICE, 1, 1, CH(PUSH));
        cand(&r, 100000, 2, T0, 7, SERVICE, 1, 1, CH(PUSH));
        cand(&r, 7, 3, T0, 7, SERVICE, 1, 1, CH(PUSH));
        const char *want[] = {"1,REJECT,,ALREADY_SENT,,push:ALREADY_SENT",
                              "1,REJECT,,ALREADY_SENT,,push:ALREADY_SENT",
                              round ? "1,SEND,push,,,push:OK"
                                    : "1,REJECT,,ALREADY_SENT,,push:ALREADY_SENT"};
        expect_decisions(e, &r, want);
    }
    crm_fcap_free(f);
    crm_fcap_free(g);
}

static void test_no_consent(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    crm_fcap_candidate *c = cand(&r, 1, 1, T0, 1, CONTENT, 1, 1, CH(EMAIL, SMS));
    c->consent = 1u << SMS;
    c = cand(&r, 2, 2, T0, 1, SERVICE, 1, 1, CH(PUSH)); /* service still needs consent */
    c->consent = 1u << SMS;
    const char *want[] = {"1,SEND,sms,,,email:NO_CONSENT;sms:OK",
                          "1,REJECT,,NO_CONSENT,,push:NO_CONSENT"};
    expect_decisions(f, &r, want);
    crm_fcap_free(f);

    /* requires_consent false for service: the check is skipped */
    crm_fcap_rules ru;
    example_rules(&ru);
    ru.requires_consent[SERVICE] = 0;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_OK);
    c = cand(&r, 3, 2, T0, 1, SERVICE, 1, 1, CH(PUSH));
    c->consent = 0;
    const char *want2[] = {"1,SEND,push,,,push:OK"};
    expect_decisions(f, &r, want2);
    crm_fcap_free(f);
}

static void test_quiet_hours(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    /* UTC 19:30 = 22:30 at +03:00: quiet until 09:00 local = 06:00 UTC next day */
    int64_t t = DAY0 + 19 * 3600 + 1800;
    crm_fcap_candidate *c = cand(&r, 1, 1, t, 1, PROMO, 1, 1, CH(EMAIL, PUSH));
    c->utc_offset_min = 180;
    c = cand(&r, 2, 1, t, 2, SERVICE, 0, 1, CH(SMS)); /* not listed: not quiet */
    c->utc_offset_min = 180;
    /* UTC 00:00 = 03:00 local, +03:00: quiet until 06:00 UTC the same day */
    c = cand(&r, 3, 2, DAY0, 1, TRIGGER, 0, 1, CH(PUSH));
    c->utc_offset_min = 180;
    /* 08:59:59 local at -05:00 is quiet; 09:00 is not */
    c = cand(&r, 4, 3, DAY0 + 13 * 3600 + 3599, 1, CONTENT, 0, 1, CH(PUSH));
    c->utc_offset_min = -300;
    c = cand(&r, 5, 4, DAY0 + 14 * 3600, 1, CONTENT, 0, 1, CH(PUSH));
    c->utc_offset_min = -300;
    /* 21:00 local exactly is quiet (start inclusive) */
    c = cand(&r, 6, 5, DAY0 + 21 * 3600, 1, CONTENT, 0, 1, CH(PUSH));
    char w1[128], w3[128], w4[128], w6[128];
    sprintf(w1, "1,REJECT,,QUIET_HOURS,%lld,email:QUIET_HOURS;push:QUIET_HOURS",
            (long long)(DAY0 + 86400 + 6 * 3600));
    sprintf(w3, "1,REJECT,,QUIET_HOURS,%lld,push:QUIET_HOURS", (long long)(DAY0 + 6 * 3600));
    sprintf(w4, "1,REJECT,,QUIET_HOURS,%lld,push:QUIET_HOURS", (long long)(DAY0 + 14 * 3600));
    sprintf(w6, "1,REJECT,,QUIET_HOURS,%lld,push:QUIET_HOURS",
            (long long)(DAY0 + 86400 + 9 * 3600));
    const char *want[] = {w1, "2,SEND,sms,,,sms:OK", w3, w4, "1,SEND,push,,,push:OK", w6};
    expect_decisions(f, &r, want);
    crm_fcap_free(f);

    /* 00:00-24:00 is always quiet: no retry; start == end never quiet;
     * "24:00" end: retry at local midnight; the first listed interval wins */
    crm_fcap_rules ru;
    crm_fcap_rules_init(&ru, CRM_FCAP_RULES_VERSION);
    crm_fcap_quiet q[3] = {
        {.start = 0, .end = 86400, .channels = 1u << SMS, .categories = 0xF},
        {.start = 5 * 3600, .end = 5 * 3600, .channels = CRM_FCAP_ALL_CHANNELS, .categories = 0xF},
        {.start = 10 * 3600, .end = 86400, .channels = CRM_FCAP_ALL_CHANNELS, .categories = 0xF}};
    ru.quiet = q;
    ru.n_quiet = 3;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_OK);
    cand(&r, 10, 1, DAY0 + 5 * 3600, 1, CONTENT, 0, 1, CH(SMS, PUSH));
    cand(&r, 11, 2, T0, 1, CONTENT, 0, 1, CH(PUSH, SMS));
    char w11[128];
    sprintf(w11, "1,REJECT,,QUIET_HOURS,%lld,push:QUIET_HOURS;sms:QUIET_HOURS",
            (long long)(DAY0 + 86400));
    const char *want2[] = {"1,SEND,push,,,sms:QUIET_HOURS;push:OK", w11};
    expect_decisions(f, &r, want2);
    crm_fcap_free(f);
}

static void test_cap_sliding(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    /* 6 counted events in the last week (the oldest 6 days ago); one exactly
     * a week old (does not count) */
    hist(&r, 1, T0 - 604800, SMS, 99, CONTENT, 0, -1, NOC);
    for (int i = 0; i < 6; i++)
        hist(&r, 1, T0 - (6 - i) * 86400, i % 2 ? SMS : PUSH, 10 + i, CONTENT, 0, -1, NOC);
    /* not counted: service by category, and a row with counts = 0 */
    hist(&r, 1, T0 - 100, SMS, 30, SERVICE, 0, -1, NOC);
    hist(&r, 1, T0 - 200, SMS, 31, CONTENT, 0, 0, NOC);
    cand(&r, 1, 1, T0, 1, CONTENT, 1, 1, CH(EMAIL));
    char w[128];
    sprintf(w, "1,REJECT,,CAP:all_week,%lld,email:CAP:all_week", (long long)(T0 - 6 * 86400 + 604800));
    const char *want[] = {w};
    expect_decisions(f, &r, want);
    /* at retry_at - 1 it still fails, at retry_at the oldest left the window */
    cand(&r, 2, 1, T0 + 86400 - 1, 1, CONTENT, 1, 1, CH(EMAIL));
    sprintf(w, "1,REJECT,,CAP:all_week,%lld,email:CAP:all_week", (long long)(T0 + 86400));
    const char *want2[] = {w};
    expect_decisions(f, &r, want2);
    cand(&r, 3, 1, T0 + 86400, 1, CONTENT, 1, 1, CH(EMAIL));
    const char *want3[] = {"1,SEND,email,,,email:OK"};
    expect_decisions(f, &r, want3);
    crm_fcap_free(f);

    /* campaign *: the j-th oldest rule with limit 1: a campaign sent twice
     * (n = 2, j = 2): the newer event + W */
    f = example_engine();
    hist(&r, 2, T0 - 5000, SMS, 7, CONTENT, 0, -1, NOC);
    hist(&r, 2, T0 - 90000, SMS, 7, CONTENT, 0, -1, NOC);
    cand(&r, 4, 2, T0, 7, CONTENT, 1, 1, CH(SMS));
    cand(&r, 5, 2, T0, 8, CONTENT, 0, 1, CH(SMS));
    sprintf(w, "1,REJECT,,CAP:campaign_once,%lld,sms:CAP:campaign_once",
            (long long)(T0 - 5000 + 604800));
    const char *want4[] = {w, "2,SEND,sms,,,sms:OK"};
    expect_decisions(f, &r, want4);
    crm_fcap_free(f);
}

static void test_cap_tag_any(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    /* 4 email sends from sender:b this week (days apart: no simultaneity),
     * for customers 1 and 2 */
    for (int i = 0; i < 4; i++) {
        hist(&r, 1, T0 - (5 - i) * 86400, EMAIL, 20 + i, CONTENT, 1u << TAG_B, -1, NOC);
        hist(&r, 2, T0 - (5 - i) * 86400, EMAIL, 20 + i, CONTENT, 1u << TAG_B, -1, NOC);
    }
    /* tags a (passes) and b (4 + 1 > 4 fails): the cap fails on email only */
    crm_fcap_candidate *c = cand(&r, 1, 1, T0, 1, CONTENT, 3, 1, CH(EMAIL, SMS));
    cand_tags(&r, c, (1u << TAG_A) | (1u << TAG_B));
    c = cand(&r, 2, 1, T0, 2, CONTENT, 2, 1, CH(EMAIL));
    cand_tags(&r, c, 1u << TAG_A);
    /* 4 history + 2 sends of this batch = 6: all_week lost to the batch */
    cand(&r, 3, 1, T0, 3, CONTENT, 1, 1, CH(EMAIL));
    c = cand(&r, 4, 2, T0, 4, CONTENT, 1, 1, CH(EMAIL));
    cand_tags(&r, c, 1u << TAG_B);
    char w3[160], w4[160];
    sprintf(w3, "3,REJECT,,OUTRANKED:all_week,%lld,email:OUTRANKED:all_week",
            (long long)(T0 - 5 * 86400 + 604800));
    sprintf(w4, "1,REJECT,,CAP:email_sender_week,%lld,email:CAP:email_sender_week",
            (long long)(T0 - 5 * 86400 + 604800));
    const char *want[] = {"1,SEND,sms,,,email:CAP:email_sender_week;sms:OK",
                          "2,SEND,email,,,email:OK", w3, w4};
    expect_decisions(f, &r, want);
    crm_fcap_free(f);
}

static void test_cap_calendar_day(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    /* 2024-06-02 22:00 UTC is 2024-06-03 01:00 at +03:00: the same local day
     * as T0 (15:00 local), so promo_day fails; at UTC it is the day before */
    hist(&r, 1, DAY0 - 7200, SMS, 50, PROMO, 0, -1, NOC);
    hist(&r, 2, DAY0 - 7200, SMS, 50, PROMO, 0, -1, NOC);
    crm_fcap_candidate *c = cand(&r, 1, 1, T0, 1, PROMO, 1, 1, CH(EMAIL));
    c->utc_offset_min = 180;
    cand(&r, 2, 2, T0, 1, PROMO, 1, 1, CH(EMAIL));
    char w[160];
    /* next period: local midnight 2024-06-04 00:00 +03:00 = 2024-06-03 21:00 UTC */
    sprintf(w, "1,REJECT,,CAP:promo_day,%lld,email:CAP:promo_day", (long long)(DAY0 + 75600));
    const char *want[] = {w, "1,SEND,email,,,email:OK"};
    expect_decisions(f, &r, want);
    crm_fcap_free(f);
}

static void test_cap_month(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    int64_t jun1 = INT64_C(1717200000); /* 2024-06-01 00:00 UTC */
    /* at -03:00: 02:00 UTC is 2024-05-31 23:00 local (May): does not count;
     * 04:00 UTC is June 1st 01:00 local: counts */
    hist(&r, 1, jun1 + 2 * 3600, CALL, 60, CONTENT, 0, -1, NOC);
    hist(&r, 2, jun1 + 4 * 3600, CALL, 60, CONTENT, 0, -1, NOC);
    crm_fcap_candidate *c = cand(&r, 1, 1, T0, 1, CONTENT, 1, 1, CH(CALL));
    c->utc_offset_min = -180;
    c = cand(&r, 2, 2, T0, 1, CONTENT, 1, 1, CH(CALL, SMS));
    c->utc_offset_min = -180;
    c = cand(&r, 3, 3, T0, 1, CONTENT, 1, 1, CH(CALL));
    c->utc_offset_min = -180;
    c->consent = 1u << CALL;
    c = cand(&r, 4, 2, T0 + 86400, 2, CONTENT, 1, 1, CH(CALL));
    c->utc_offset_min = -180;
    char w[160];
    /* July 1st 00:00 at -03:00 = 2024-07-01 03:00 UTC */
    sprintf(w, "1,REJECT,,CAP:call_month,%lld,call:CAP:call_month", (long long)INT64_C(1719802800));
    const char *want[] = {"1,SEND,call,,,call:OK", "1,SEND,sms,,,call:CAP:call_month;sms:OK",
                          "1,SEND,call,,,call:OK", w};
    expect_decisions(f, &r, want);
    crm_fcap_free(f);
}

static void test_simultaneous(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    hist(&r, 1, T0 - 1000, EMAIL, 1, CONTENT, 0, -1, NOC);
    hist(&r, 1, T0 - 2000, SMS, 2, CONTENT, 0, -1, NOC);
    hist(&r, 1, T0 - 3000, SMS, 3, CONTENT, 0, -1, NOC);
    hist(&r, 1, T0 - 500, PUSH, 4, SERVICE, 0, -1, NOC); /* not counted */
    cand(&r, 1, 1, T0, 10, CONTENT, 2, 1, CH(PUSH));
    cand(&r, 2, 1, T0, 11, CONTENT, 1, 1, CH(SMS));
    char w[160];
    /* S = {email (T0-1000), sms (T0-2000)}: the 1st smallest last time + G */
    sprintf(w, "1,REJECT,,SIMULTANEOUS,%lld,push:SIMULTANEOUS", (long long)(T0 - 2000 + 3600));
    const char *want[] = {w, "2,SEND,sms,,,sms:OK"};
    expect_decisions(f, &r, want);
    crm_fcap_free(f);
}

static void test_outranked(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    /* two promos: the higher priority one takes the day */
    cand(&r, 1, 1, T0, 1, PROMO, 1, 9, CH(EMAIL));
    cand(&r, 2, 1, T0, 2, PROMO, 2, 0, CH(EMAIL));
    char w[160];
    sprintf(w, "2,REJECT,,OUTRANKED:promo_day,%lld,email:OUTRANKED:promo_day",
            (long long)(DAY0 + 86400));
    const char *want[] = {w, "1,SEND,email,,,email:OK"};
    expect_decisions(f, &r, want);
    crm_fcap_free(f);

    /* simultaneity lost to a higher-ranked send of the same batch; value and
     * then cand_id break priority ties */
    f = example_engine();
    hist(&r, 2, T0 - 100, EMAIL, 1, CONTENT, 0, -1, NOC);
    cand(&r, 20, 2, T0, 10, CONTENT, 5, 2.5, CH(SMS));
    cand(&r, 21, 2, T0, 11, CONTENT, 5, 2.25, CH(PUSH));
    cand(&r, 19, 2, T0, 12, CONTENT, 5, 2.25, CH(EMAIL));
    /* S = {sms (T0), email (T0, sent in this batch)}: T0 + G */
    sprintf(w, "3,REJECT,,OUTRANKED:SIMULTANEOUS,%lld,push:OUTRANKED:SIMULTANEOUS",
            (long long)(T0 + 3600));
    const char *want2[] = {"1,SEND,sms,,,sms:OK", w, "2,SEND,email,,,email:OK"};
    expect_decisions(f, &r, want2);
    crm_fcap_free(f);
}

/* A batch split over two decide calls at the same t: the earlier call's
 * send is a send of the batch (OUTRANKED), a history event at t is not
 * (CAP). Customer 1's stored block has four events, two, 50 (more than one
 * vector of records) or five with a gap of 2^22 s (wide records), each with
 * each block decoder (DECODERS), so that every path of
 * the block decoders meets the sent flag. */
static void test_batch_split_calls(void **state)
{
    (void)state;
    for (int variant = 0; variant < 15; variant++) {
        /* variants 0..4 with each block decoder */
        use_decoder(variant / 5);
        crm_fcap *f = example_engine();
        rows r = {0};
        if (variant % 5 == 4) /* a gap of 2^22 s: a block of wide records */
            hist(&r, 1, T0 - 3 * 86400 - (INT64_C(1) << 22), SMS, 9, CONTENT, 0, -1, NOC);
        for (int k = 1; k <= 3; k++) {
            if (variant % 5 != 3)
                hist(&r, 1, T0 - k * 86400, SMS, (uint64_t)(10 + k), CONTENT, 0, -1, NOC);
            hist(&r, 2, T0 - k * 86400, SMS, (uint64_t)(10 + k), CONTENT, 0, -1, NOC);
        }
        if (variant % 5 == 3) /* the send, 100 s after it, in the decoder's tail loop */
            hist(&r, 1, T0 - 100, SMS, 0, CONTENT, 0, -1, NOC);
        if (variant % 5 == 2)
            for (int k = 0; k < 50; k++) /* not counted: no cap sees them */
                hist(&r, 1, T0 - 4 * 86400 - k * 3600, PUSH, 7, CONTENT, 0, 0, NOC);
        if (variant % 5 == 1)
            hist(&r, 1, T0, EMAIL, 1, PROMO, 0, -1, NOC);
        else
            cand(&r, 1, 1, T0, 1, PROMO, 1, 9, CH(EMAIL));
        cand(&r, 3, 2, T0, 3, CONTENT, 1, 1, CH(EMAIL));
        const char *want1[] = {"1,SEND,email,,,email:OK", "1,SEND,email,,,email:OK"};
        expect_decisions(f, &r, variant % 5 == 1 ? want1 + 1 : want1);
        cand(&r, 2, 1, T0, 2, PROMO, 2, 0, CH(EMAIL));
        char w[160];
        sprintf(w, "1,REJECT,,%s:promo_day,%lld,email:%s:promo_day",
                variant % 5 == 1 ? "CAP" : "OUTRANKED", (long long)(DAY0 + 86400),
                variant % 5 == 1 ? "CAP" : "OUTRANKED");
        const char *want2[] = {w};
        expect_decisions(f, &r, want2);
        crm_fcap_free(f);
    }
    use_decoder(0);
}

static void test_override_service_preferred(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    for (int i = 0; i < 6; i++)
        hist(&r, 1, T0 - (6 - i) * 86400, SMS, 10 + i, CONTENT, 0, -1, NOC);
    /* override skips caps; its send counts (content counts) */
    crm_fcap_candidate *c = cand(&r, 1, 1, T0, 1, CONTENT, 3, 1, CH(EMAIL));
    c->override = 1;
    /* service: not capped, and its send does not count */
    cand(&r, 2, 1, T0, 2, SERVICE, 2, 1, CH(PUSH));
    cand(&r, 3, 1, T0, 3, CONTENT, 1, 1, CH(EMAIL));
    char w[160];
    /* 6 history + the override's send = 7 (the service send is not counted):
     * fails even without this batch; n = 7, j = 2: the 2nd oldest + W */
    sprintf(w, "3,REJECT,,CAP:all_week,%lld,email:CAP:all_week",
            (long long)(T0 - 5 * 86400 + 604800));
    const char *want[] = {"1,SEND,email,,,email:OK", "2,SEND,push,,,push:OK", w};
    expect_decisions(f, &r, want);
    /* quiet hours are not skipped by override */
    c = cand(&r, 4, 2, DAY0 + 22 * 3600, 1, CONTENT, 1, 1, CH(EMAIL));
    c->override = 1;
    sprintf(w, "1,REJECT,,QUIET_HOURS,%lld,email:QUIET_HOURS", (long long)(DAY0 + 86400 + 9 * 3600));
    const char *want2[] = {w};
    expect_decisions(f, &r, want2);
    /* preferred channel moved to the front (prefer_preferred_channel) */
    c = cand(&r, 5, 3, T0, 1, CONTENT, 1, 1, CH(EMAIL, SMS, PUSH));
    c->preferred = PUSH;
    c = cand(&r, 6, 4, T0, 1, CONTENT, 1, 1, CH(EMAIL, SMS));
    c->preferred = CALL; /* not in the list: order unchanged */
    c->consent = 1u << SMS;
    const char *want3[] = {"1,SEND,push,,,push:OK", "1,SEND,sms,,,email:NO_CONSENT;sms:OK"};
    expect_decisions(f, &r, want3);
    crm_fcap_free(f);
}

static void test_limit_zero_and_retry_min(void **state)
{
    (void)state;
    crm_fcap_rules ru;
    crm_fcap_rules_init(&ru, CRM_FCAP_RULES_VERSION);
    crm_fcap_cap caps[2] = {
        {.scope = CRM_FCAP_SCOPE_CHANNEL, .key = SMS, .limit = 0, .window = 60, .sliding = 1,
         .channels = CRM_FCAP_ALL_CHANNELS, .categories = 0xF},
        /* calendar week, Sunday start, UTC periods */
        {.scope = CRM_FCAP_SCOPE_GLOBAL, .key = CRM_FCAP_KEY_ANY, .limit = 1, .window = 604800,
         .tz_utc = 1, .channels = CRM_FCAP_ALL_CHANNELS, .categories = 0xF}};
    ru.caps = caps;
    ru.n_caps = 2;
    ru.week_sunday = 1;
    crm_fcap *f;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_OK);
    const char *ids[] = {"no_sms", "week"};
    rows r = {0};
    hist(&r, 1, DAY0 - 86400, EMAIL, 1, CONTENT, 0, -1, NOC); /* Sunday 2024-06-02 */
    hist(&r, 2, DAY0 - 2 * 86400, EMAIL, 1, CONTENT, 0, -1, NOC); /* Saturday */
    cand(&r, 1, 1, T0, 1, CONTENT, 1, 1, CH(SMS, EMAIL));
    cand(&r, 2, 2, T0, 1, CONTENT, 1, 1, CH(SMS, EMAIL));
    assert_int_equal(crm_fcap_add_history(f, r.ev, r.nev, r.tags, r.nt), CRM_OK);
    crm_fcap_decision d[2];
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_OK);
    char got[256], w[256];
    format_decision(&d[0], ids, got);
    /* limit 0: no retry for sms; the week (Sunday 2024-06-02 .. ) ends 2024-06-09 00:00 UTC */
    sprintf(w, "1,REJECT,,CAP:no_sms,%lld,sms:CAP:no_sms;email:CAP:week",
            (long long)(DAY0 + 6 * 86400));
    assert_string_equal(got, w);
    format_decision(&d[1], ids, got);
    assert_string_equal(got, "1,SEND,email,,,sms:CAP:no_sms;email:OK");
    crm_fcap_free(f);
}

/* ---- the brute-force reference (written from the spec) --------------------------- */

typedef struct xev {
    uint64_t cust, camp, cand;
    int64_t t;
    int ch, cat, counts, batch_send;
    unsigned tags; /* bit mask of tag ids < 32 */
} xev;

typedef struct xworld {
    const crm_fcap_rules *ru;
    xev *ev;
    size_t nev, cap;
} xworld;

static int64_t xfloordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* H. Hinnant's civil-from-days / days-from-civil, written out here. */
static void x_civil(int64_t z, int64_t *y, int64_t *m)
{
    z += 719468;
    int64_t era = xfloordiv(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t x_days(int64_t y, int64_t m)
{
    y -= m <= 2;
    int64_t era = xfloordiv(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t x_index(const crm_fcap_rules *ru, const crm_fcap_cap *k, int64_t x, int64_t off)
{
    int64_t o = k->tz_utc ? 0 : off;
    if (k->window == 0) {
        int64_t y, m;
        x_civil(xfloordiv(x + o, 86400), &y, &m);
        return 12 * y + m - 1;
    }
    int64_t a = ru->week_sunday ? 259200 : 345600;
    return xfloordiv(x + o - a, k->window);
}

static int64_t x_next_start(const crm_fcap_rules *ru, const crm_fcap_cap *k, int64_t t, int64_t off)
{
    int64_t o = k->tz_utc ? 0 : off;
    int64_t idx = x_index(ru, k, t, off) + 1;
    if (k->window == 0) {
        int64_t y = xfloordiv(idx, 12), m = idx - 12 * y + 1;
        return x_days(y, m) * 86400 - o;
    }
    int64_t a = ru->week_sunday ? 259200 : 345600;
    return idx * k->window + a - o;
}

static bool x_bit(uint64_t mask, int b)
{
    return (mask >> b) & 1;
}

/* Count matching events for cap k (tag = tag for tag scope); fills times. */
static int x_count(const xworld *w, const crm_fcap_cap *k, const crm_fcap_candidate *c,
                   unsigned ctags, int ch, int tag, int64_t t, bool excl, int64_t *times)
{
    int n = 0;
    int64_t off = 60 * (int64_t)c->utc_offset_min;
    for (size_t i = 0; i < w->nev; i++) {
        const xev *e = &w->ev[i];
        if (e->cust != c->customer_id || !e->counts || e->t > t)
            continue;
        if (excl && e->batch_send && e->t == t)
            continue;
        if (!x_bit(k->channels, e->ch) || !x_bit(k->categories, e->cat))
            continue;
        bool any = k->key == -1;
        bool in = true;
        switch (k->scope) {
        case 1: in = e->ch == (any ? ch : k->key); break;
        case 2: in = e->camp == (any ? c->campaign_id : (uint64_t)k->key); break;
        case 3: in = e->cat == (any ? c->category : k->key); break;
        case 4: in = (e->tags >> tag) & 1; break;
        }
        (void)ctags;
        if (!in)
            continue;
        if (k->sliding ? !(t - k->window < e->t) : x_index(w->ru, k, e->t, off) != x_index(w->ru, k, t, off))
            continue;
        times[n++] = e->t;
    }
    return n;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Does cap k fail? retry when asked. Tag * walks the tags ascending. */
static bool x_cap_fails(const xworld *w, const crm_fcap_cap *k, const crm_fcap_candidate *c,
                        unsigned ctags, int ch, int64_t t, bool excl, int64_t *retry)
{
    int64_t times[4096];
    int tags_to_check[33], nt = 0;
    if (k->scope == 4) {
        if (k->key == -1) {
            for (int b = 0; b < 32; b++)
                if ((ctags >> b) & 1)
                    tags_to_check[nt++] = b;
        } else {
            tags_to_check[nt++] = (int)k->key;
        }
    } else {
        tags_to_check[nt++] = 0;
    }
    for (int i = 0; i < nt; i++) {
        int n = x_count(w, k, c, ctags, ch, tags_to_check[i], t, excl, times);
        if (n + 1 <= k->limit)
            continue;
        if (k->limit == 0)
            *retry = -1;
        else if (k->sliding) {
            qsort(times, (size_t)n, sizeof *times, cmp64);
            int j = n - (int)k->limit + 1;
            *retry = times[j - 1] + k->window;
        } else {
            *retry = x_next_start(w->ru, k, t, 60 * (int64_t)c->utc_offset_min);
        }
        return true;
    }
    return false;
}

static bool x_applies(const crm_fcap_cap *k, const crm_fcap_candidate *c, unsigned ctags, int ch)
{
    if (!x_bit(k->channels, ch) || !x_bit(k->categories, c->category))
        return false;
    bool any = k->key == -1;
    switch (k->scope) {
    case 1: return any || k->key == ch;
    case 2: return any || (uint64_t)k->key == c->campaign_id;
    case 3: return any || k->key == c->category;
    case 4: return any ? ctags != 0 : ((ctags >> k->key) & 1);
    default: return true;
    }
}

static bool x_sim_fails(const xworld *w, const crm_fcap_candidate *c, int ch, int64_t t, bool excl,
                        int64_t *retry)
{
    const crm_fcap_rules *ru = w->ru;
    int64_t lasts[64];
    int ns = 0;
    bool in_s = false;
    for (int q = 0; q < 64; q++) {
        int64_t last = -1;
        for (size_t i = 0; i < w->nev; i++) {
            const xev *e = &w->ev[i];
            if (e->cust != c->customer_id || !e->counts || e->ch != q || e->t > t ||
                !(t - ru->sim_gap < e->t) || (excl && e->batch_send && e->t == t))
                continue;
            if (e->t > last)
                last = e->t;
        }
        if (last >= 0) {
            lasts[ns++] = last;
            in_s |= q == ch;
        }
    }
    if (in_s || ns < (int)ru->sim_max)
        return false;
    qsort(lasts, (size_t)ns, sizeof *lasts, cmp64);
    *retry = lasts[ns - (int)ru->sim_max] + ru->sim_gap;
    return true;
}

static unsigned x_tagmask(const crm_fcap_candidate *c, const uint32_t *tags)
{
    unsigned m = 0;
    for (uint32_t i = 0; i < c->tag_n; i++)
        m |= 1u << tags[c->tag_off + i];
    return m;
}

static uint8_t x_check(const xworld *w, const crm_fcap_candidate *c, const uint32_t *tags, int ch,
                       int64_t *retry, uint16_t *arg)
{
    const crm_fcap_rules *ru = w->ru;
    int64_t t = c->t;
    *retry = -1;
    *arg = 0;
    for (size_t i = 0; i < w->nev; i++)
        if (w->ev[i].cand == c->cand_id && w->ev[i].t <= t)
            return CRM_FCAP_ALREADY_SENT;
    if (ru->requires_consent[c->category] && !x_bit(c->consent, ch))
        return CRM_FCAP_NO_CONSENT;
    int64_t s = ((t + 60 * (int64_t)c->utc_offset_min) % 86400 + 86400) % 86400;
    for (size_t i = 0; i < ru->n_quiet; i++) {
        const crm_fcap_quiet *q = &ru->quiet[i];
        if (!x_bit(q->channels, ch) || !x_bit(q->categories, c->category))
            continue;
        bool quiet = (q->start < q->end && q->start <= s && s < q->end) ||
                     (q->start > q->end && (s >= q->start || s < q->end));
        if (!quiet)
            continue;
        *arg = (uint16_t)i;
        if (!(q->start == 0 && q->end == 86400)) {
            /* the first time after t whose local second of day is end */
            int64_t d = q->end - s;
            while (d <= 0)
                d += 86400;
            *retry = t + d;
        }
        return CRM_FCAP_QUIET_HOURS;
    }
    if (!ru->capped[c->category] || c->override)
        return CRM_FCAP_OK;
    unsigned ctags = x_tagmask(c, tags);
    for (size_t i = 0; i < ru->n_caps; i++) {
        const crm_fcap_cap *k = &ru->caps[i];
        if (!x_applies(k, c, ctags, ch))
            continue;
        if (x_cap_fails(w, k, c, ctags, ch, t, false, retry)) {
            int64_t dummy;
            *arg = (uint16_t)i;
            return x_cap_fails(w, k, c, ctags, ch, t, true, &dummy) ? CRM_FCAP_CAP
                                                                   : CRM_FCAP_OUTRANKED_CAP;
        }
    }
    if (ru->sim_max && x_sim_fails(w, c, ch, t, false, retry)) {
        int64_t dummy;
        return x_sim_fails(w, c, ch, t, true, &dummy) ? CRM_FCAP_SIMULTANEOUS
                                                      : CRM_FCAP_OUTRANKED_SIMULTANEOUS;
    }
    return CRM_FCAP_OK;
}

static void x_add(xworld *w, xev e)
{
    if (w->nev == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->ev = realloc(w->ev, w->cap * sizeof *w->ev);
    }
    w->ev[w->nev++] = e;
}

static void x_add_history(xworld *w, const crm_fcap_event *ev, size_t n, const uint32_t *tags)
{
    for (size_t i = 0; i < n; i++) {
        unsigned m = 0;
        for (uint32_t j = 0; j < ev[i].tag_n; j++)
            m |= 1u << tags[ev[i].tag_off + j];
        int counts = ev[i].counts < 0 ? w->ru->counts[ev[i].category] : ev[i].counts;
        x_add(w, (xev){ev[i].customer_id, ev[i].campaign_id, ev[i].cand_id, ev[i].t,
                       ev[i].channel, ev[i].category, counts, 0, m});
    }
}

/* Reference decide: batches by t, then customers, ranking, fallback. */
static void x_decide(xworld *w, const crm_fcap_candidate *c, size_t n, const uint32_t *tags,
                     crm_fcap_decision *out)
{
    bool *done = calloc(n, 1);
    for (;;) {
        /* the earliest undecided t, the smallest customer in it */
        size_t first = SIZE_MAX;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && (first == SIZE_MAX || c[i].t < c[first].t ||
                             (c[i].t == c[first].t && c[i].customer_id < c[first].customer_id)))
                first = i;
        if (first == SIZE_MAX)
            break;
        int64_t t = c[first].t;
        uint64_t cust = c[first].customer_id;
        for (uint32_t rank = 1;; rank++) {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < n; i++) {
                if (done[i] || c[i].t != t || c[i].customer_id != cust)
                    continue;
                if (best == SIZE_MAX || c[i].priority > c[best].priority ||
                    (c[i].priority == c[best].priority &&
                     (c[i].value > c[best].value ||
                      (c[i].value == c[best].value && c[i].cand_id < c[best].cand_id))))
                    best = i;
            }
            if (best == SIZE_MAX)
                break;
            done[best] = true;
            const crm_fcap_candidate *k = &c[best];
            crm_fcap_decision *d = &out[best];
            memset(d, 0, sizeof *d);
            memset(d->detail, CRM_FCAP_NOT_TRIED, sizeof d->detail);
            d->cand_id = k->cand_id;
            d->rank = rank;
            d->channel = CRM_FCAP_NO_CHANNEL;
            d->retry_at = -1;
            int order[16], no = 0;
            bool pref_in = false;
            for (int j = 0; j < k->n_channels; j++)
                pref_in |= k->channels[j] == k->preferred;
            if (w->ru->prefer_preferred && k->preferred >= 0 && pref_in)
                order[no++] = k->preferred;
            for (int j = 0; j < k->n_channels; j++)
                if (!(w->ru->prefer_preferred && pref_in && k->channels[j] == k->preferred))
                    order[no++] = k->channels[j];
            for (int j = 0; j < no; j++) {
                int64_t retry;
                uint16_t arg;
                uint8_t r = x_check(w, k, tags, order[j], &retry, &arg);
                d->tried[j] = (uint8_t)order[j];
                d->detail[j] = r;
                d->detail_arg[j] = arg;
                d->n_tried = (uint8_t)(j + 1);
                if (j == 0) {
                    d->reason = r;
                    d->reason_arg = arg;
                }
                if (r == CRM_FCAP_OK) {
                    d->send = 1;
                    d->channel = (uint8_t)order[j];
                    d->reason = 0;
                    d->reason_arg = 0;
                    d->retry_at = -1;
                    x_add(w, (xev){k->customer_id, k->campaign_id, k->cand_id, t, order[j],
                                   k->category, w->ru->counts[k->category], 1,
                                   x_tagmask(k, tags)});
                    break;
                }
                if (retry >= 0 && (d->retry_at < 0 || retry < d->retry_at))
                    d->retry_at = retry;
            }
        }
    }
    free(done);
}

static void assert_same_decision(const crm_fcap_decision *a, const crm_fcap_decision *b,
                                 const char *what, size_t i)
{
    char x[512], y[512];
    static const char *const ids[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};
    format_decision(a, ids, x);
    format_decision(b, ids, y);
    if (strcmp(x, y) != 0 || a->cand_id != b->cand_id || a->reason_arg != b->reason_arg ||
        memcmp(a->detail_arg, b->detail_arg, sizeof a->detail_arg) != 0)
        fail_msg("%s: candidate %zu (cand_id %llu):\n engine    %s\n reference %s", what, i,
                 (unsigned long long)a->cand_id, x, y);
}

/* ---- random workloads ------------------------------------------------------------- */

typedef struct workload {
    crm_fcap_rules ru;
    crm_fcap_cap caps[8];
    crm_fcap_quiet quiet[16];
    crm_fcap_event *ev;
    size_t nev;
    crm_fcap_candidate *c;
    size_t nc;
    uint32_t *tags;
    size_t nt;
} workload;

static uint64_t rnd_mask(test_rng *g, unsigned bits)
{
    return test_rng_next(g) & ((UINT64_C(1) << bits) - 1);
}

static void gen_workload(test_rng *g, workload *w, size_t ncust, size_t nev, size_t nc)
{
    memset(w, 0, sizeof *w);
    crm_fcap_rules *ru = &w->ru;
    crm_fcap_rules_init(ru, CRM_FCAP_RULES_VERSION);
    unsigned nch = (unsigned)test_rng_range(g, 2, 5);
    ru->n_channels = nch;
    size_t ncap = (size_t)test_rng_range(g, 0, 6);
    static const int64_t windows[] = {60, 600, 3600, 7200, 86400, 604800, 0, 3 * 86400};
    for (size_t i = 0; i < ncap; i++) {
        crm_fcap_cap *k = &w->caps[i];
        memset(k, 0, sizeof *k);
        k->scope = (uint8_t)test_rng_range(g, 0, 4);
        k->limit = test_rng_range(g, 0, 9) == 0 ? 0 : test_rng_range(g, 1, 3);
        k->window = windows[test_rng_range(g, 0, 7)];
        k->sliding = k->window == 0 ? 0 : (uint8_t)test_rng_range(g, 0, 1);
        k->tz_utc = (uint8_t)test_rng_range(g, 0, 1);
        k->channels = test_rng_range(g, 0, 2) ? CRM_FCAP_ALL_CHANNELS : rnd_mask(g, nch);
        k->categories = test_rng_range(g, 0, 2) ? 0xF : (uint8_t)rnd_mask(g, 4);
        int64_t hi = k->scope == 1 ? nch - 1 : k->scope == 2 ? 3 : k->scope == 3 ? 3 : 3;
        k->key = test_rng_range(g, 0, 1) ? CRM_FCAP_KEY_ANY : test_rng_range(g, 0, hi);
    }
    ru->caps = w->caps;
    ru->n_caps = ncap;
    size_t nq = (size_t)test_rng_range(g, 0, 2);
    for (size_t i = 0; i < nq; i++) {
        crm_fcap_quiet *q = &w->quiet[i];
        memset(q, 0, sizeof *q);
        int which = (int)test_rng_range(g, 0, 9);
        q->start = which == 0 ? 0 : (int32_t)(test_rng_range(g, 0, 47) * 1800);
        q->end = which == 0 ? 86400 : (int32_t)(test_rng_range(g, 0, 48) * 1800);
        q->channels = test_rng_range(g, 0, 1) ? CRM_FCAP_ALL_CHANNELS : rnd_mask(g, nch);
        q->categories = test_rng_range(g, 0, 1) ? 0xF : (uint8_t)rnd_mask(g, 4);
    }
    ru->quiet = w->quiet;
    ru->n_quiet = nq;
    if (test_rng_range(g, 0, 3)) {
        ru->sim_max = (uint32_t)test_rng_range(g, 1, 3);
        ru->sim_gap = test_rng_range(g, 1, 3) * 1800;
    }
    for (int c = 0; c < 4; c++) {
        if (test_rng_range(g, 0, 5) == 0)
            ru->capped[c] ^= 1;
        if (test_rng_range(g, 0, 5) == 0)
            ru->counts[c] ^= 1;
        if (test_rng_range(g, 0, 5) == 0)
            ru->requires_consent[c] = 0;
    }
    ru->prefer_preferred = (uint8_t)test_rng_range(g, 0, 1);
    ru->week_sunday = (uint8_t)test_rng_range(g, 0, 1);

    int64_t base = INT64_C(1717200000) + test_rng_range(g, -40, 40) * 86400; /* around June 2024 */
    w->tags = calloc((nev + nc) * 5 + 1, sizeof *w->tags);
    w->ev = calloc(nev + 1, sizeof *w->ev);
    w->c = calloc(nc + 1, sizeof *w->c);
    int32_t offs[16];
    uint64_t consent[16];
    int16_t pref[16];
    static const int32_t offchoice[] = {0, 180, -300, 330, -720, 840, 60, -180};
    for (size_t i = 0; i < ncust && i < 16; i++) {
        offs[i] = offchoice[test_rng_range(g, 0, 7)];
        consent[i] = test_rng_range(g, 0, 2) ? CRM_FCAP_ALL_CHANNELS : rnd_mask(g, nch);
        pref[i] = test_rng_range(g, 0, 1) ? -1 : (int16_t)test_rng_range(g, 0, nch - 1);
    }
    for (size_t i = 0; i < nev; i++) {
        crm_fcap_event *e = &w->ev[w->nev++];
        e->customer_id = (uint64_t)test_rng_range(g, 0, (int64_t)ncust - 1) * 7919;
        e->t = base - test_rng_range(g, 0, 40 * 86400);
        e->campaign_id = (uint64_t)test_rng_range(g, 0, 3);
        e->cand_id = test_rng_range(g, 0, 4) ? CRM_FCAP_NO_CAND : (uint64_t)test_rng_range(g, 0, 4 * nc + 10);
        e->channel = (uint8_t)test_rng_range(g, 0, nch - 1);
        e->category = (uint8_t)test_rng_range(g, 0, 3);
        e->counts = (int8_t)test_rng_range(g, -1, 1);
        e->tag_off = (uint32_t)w->nt;
        /* 0-4 tags (duplicates allowed): stored tag counts of 3 and more too */
        e->tag_n = (uint32_t)test_rng_range(g, 0, 4);
        for (uint32_t j = 0; j < e->tag_n; j++)
            w->tags[w->nt++] = (uint32_t)test_rng_range(g, 0, 3);
    }
    /* a few distinct batch times: many same-t collisions */
    int64_t tpick[6];
    for (int i = 0; i < 6; i++)
        tpick[i] = base + test_rng_range(g, 0, 5 * 86400);
    for (size_t i = 0; i < nc; i++) {
        crm_fcap_candidate *c = &w->c[w->nc++];
        size_t cu = (size_t)test_rng_range(g, 0, (int64_t)ncust - 1);
        c->cand_id = 4 * i + (uint64_t)test_rng_range(g, 0, 3);
        c->customer_id = cu * 7919;
        c->t = test_rng_range(g, 0, 3) ? tpick[test_rng_range(g, 0, 5)] : base + test_rng_range(g, 0, 5 * 86400);
        c->campaign_id = (uint64_t)test_rng_range(g, 0, 3);
        c->category = (uint8_t)test_rng_range(g, 0, 3);
        c->priority = test_rng_range(g, 0, 2);
        static const double vals[] = {0.0, -0.0, 1.5, 2.727, -3.0, 1e300};
        c->value = vals[test_rng_range(g, 0, 5)];
        c->consent = consent[cu % 16];
        c->preferred = pref[cu % 16];
        c->utc_offset_min = offs[cu % 16];
        c->override = test_rng_range(g, 0, 9) == 0;
        uint64_t used = 0;
        int nchs = (int)test_rng_range(g, 1, nch);
        for (int j = 0; j < nchs; j++) {
            int ch;
            do
                ch = (int)test_rng_range(g, 0, nch - 1);
            while ((used >> ch) & 1);
            used |= UINT64_C(1) << ch;
            c->channels[c->n_channels++] = (uint8_t)ch;
        }
        c->tag_off = (uint32_t)w->nt;
        c->tag_n = (uint32_t)test_rng_range(g, 0, 2);
        for (uint32_t j = 0; j < c->tag_n; j++)
            w->tags[w->nt++] = (uint32_t)test_rng_range(g, 0, 3);
    }
    /* history rows carrying the cand_id of a candidate (re-delivery) */
    for (size_t i = 0; i < w->nev; i++)
        if (w->ev[i].cand_id != CRM_FCAP_NO_CAND && test_rng_range(g, 0, 1) && nc)
            w->ev[i].cand_id = w->c[test_rng_range(g, 0, (int64_t)nc - 1)].cand_id;
}

static void free_workload(workload *w)
{
    free(w->ev);
    free(w->c);
    free(w->tags);
}

static void reference_decide(const workload *w, crm_fcap_decision *out)
{
    xworld x = {.ru = &w->ru};
    x_add_history(&x, w->ev, w->nev, w->tags);
    x_decide(&x, w->c, w->nc, w->tags, out);
    free(x.ev);
}

static void assert_same_state(const crm_fcap *a, const crm_fcap *b);

/* f saves to a snapshot that loads (the loader checks every block's
 * canonical form) into the same state. */
static void expect_canonical_state(const crm_fcap *f, uint64_t seed, int round)
{
    void *b;
    size_t bn;
    assert_int_equal(crm_fcap_save(f, &b, &bn), CRM_OK);
    crm_fcap *back = NULL;
    if (crm_fcap_load(&back, b, bn) != CRM_OK)
        fail_msg("seed %llu round %d: %s", (unsigned long long)seed, round, crm_last_error());
    crm_bytes_free(b);
    assert_same_state(f, back);
    crm_fcap_free(back);
}

#define RR_FUTURE 1u  /* a third of the history rows lie after the candidates' times */
#define RR_MANY_QUIET 2u /* 10..16 quiet intervals, many on at once */
#define RR_GAPS 4u /* history rows about 2^22 s (48.5 days) apart, and the state after
                      decide saved, loaded and compared (canonical blocks of either form) */

/* Random workloads against the reference: `rounds` rounds of 1..maxcust
 * customers, nev_lo..nev_hi history rows, 1..30 candidates, variations
 * `opts` (RR_*). Counts into reasons[8]; returns decisions compared
 * (*sends: sent). */
static size_t reference_rounds(uint64_t seed, int rounds, int64_t maxcust, int64_t nev_lo,
                               int64_t nev_hi, unsigned opts, size_t *sends, size_t reasons[8])
{
    bool future = opts & RR_FUTURE;
    test_rng g = {seed};
    size_t compared = 0;
    for (int round = 0; round < rounds; round++) {
        workload w;
        size_t ncust = (size_t)test_rng_range(&g, 1, maxcust);
        gen_workload(&g, &w, ncust, (size_t)test_rng_range(&g, nev_lo, nev_hi),
                     (size_t)test_rng_range(&g, 1, 30));
        for (size_t i = 0; future && i < w.nev; i++)
            if (test_rng_range(&g, 0, 2) == 0)
                w.ev[i].t = INT64_C(1717200000) + test_rng_range(&g, -40, 46) * 86400 +
                            test_rng_range(&g, 0, 86399);
        /* gaps around 2^22 s: blocks in the wide form, and sends long after
         * the stored events (a fixed block extended becomes wide) */
        for (size_t i = 0; (opts & RR_GAPS) && i < w.nev; i++) {
            int64_t k = test_rng_range(&g, 0, 3);
            if (k)
                w.ev[i].t -= k * ((INT64_C(1) << 22) + test_rng_range(&g, -3, 3) *
                                                          test_rng_range(&g, 0, 86400));
        }
        if (opts & RR_MANY_QUIET) {
            w.ru.n_quiet = (size_t)test_rng_range(&g, 10, 16);
            for (size_t i = 0; i < w.ru.n_quiet; i++) {
                crm_fcap_quiet *q = &w.quiet[i];
                memset(q, 0, sizeof *q);
                q->start = (int32_t)(test_rng_range(&g, 0, 47) * 1800);
                q->end = (int32_t)(test_rng_range(&g, 0, 48) * 1800);
                q->channels = rnd_mask(&g, w.ru.n_channels);
                q->categories = (uint8_t)rnd_mask(&g, 4);
            }
        }
        crm_fcap *f;
        assert_int_equal(crm_fcap_new(&f, &w.ru), CRM_OK);
        assert_int_equal(crm_fcap_add_history(f, w.ev, w.nev, w.tags, w.nt), CRM_OK);
        crm_fcap_decision *got = calloc(w.nc, sizeof *got), *want = calloc(w.nc, sizeof *want);
        assert_int_equal(crm_fcap_decide(f, w.c, w.nc, w.tags, w.nt, got), CRM_OK);
        reference_decide(&w, want);
        if (opts & RR_GAPS) {
            /* the same candidates twice more, about 2^22 s later and then within
             * two hours of that (new cand ids): the sends extend the blocks
             * across gaps near the fixed form's limit, and the last call's
             * checks see the times they were stored with */
            crm_fcap_candidate *c2 = malloc(w.nc * sizeof *c2);
            crm_fcap_decision *got2 = calloc(w.nc, sizeof *got2),
                              *want2 = calloc(w.nc, sizeof *want2);
            xworld x = {.ru = &w.ru};
            x_add_history(&x, w.ev, w.nev, w.tags);
            x_decide(&x, w.c, w.nc, w.tags, want2);
            int64_t dt = (INT64_C(1) << 22) + test_rng_range(&g, -2, 2);
            for (int pass = 1; pass <= 2; pass++) {
                expect_canonical_state(f, seed, round);
                for (size_t i = 0; i < w.nc; i++) {
                    c2[i] = w.c[i];
                    c2[i].t += dt;
                    c2[i].cand_id += (uint64_t)pass << 40;
                }
                assert_int_equal(crm_fcap_decide(f, c2, w.nc, w.tags, w.nt, got2), CRM_OK);
                x_decide(&x, c2, w.nc, w.tags, want2);
                for (size_t i = 0; i < w.nc; i++) {
                    char what[80];
                    snprintf(what, sizeof what, "seed %llu round %d, call %d",
                             (unsigned long long)seed, round, pass + 1);
                    assert_same_decision(&got2[i], &want2[i], what, i);
                }
                dt += test_rng_range(&g, 0, 7200);
            }
            expect_canonical_state(f, seed, round);
            free(x.ev);
            free(c2);
            free(got2);
            free(want2);
        }
        for (size_t i = 0; i < w.nc; i++) {
            char what[64];
            snprintf(what, sizeof what, "seed %llu round %d", (unsigned long long)seed, round);
            assert_same_decision(&got[i], &want[i], what, i);
            compared++;
            *sends += got[i].send;
            for (unsigned j = 0; j < got[i].n_tried; j++)
                reasons[got[i].detail[j] & 7]++;
        }
        free(got);
        free(want);
        crm_fcap_free(f);
        free_workload(&w);
    }
    return compared;
}

/* Customers with more events than the decide fast path's 64-event masks
 * (the records path), and history after the decision times (the window's
 * upper end; sends that do not sort after the stored events rebuild the
 * block instead of extending it). */
static void test_reference_wide_and_future(void **state)
{
    (void)state;
    size_t sends = 0, reasons[8] = {0};
    size_t n = reference_rounds(99, 60, 2, 50, 120, RR_FUTURE, &sends, reasons);
    n += reference_rounds(4242, 200, 6, 0, 40, RR_FUTURE, &sends, reasons);
    assert_true(sends > n / 10 && sends < n);
    assert_true(reasons[CRM_FCAP_CAP] > 0 && reasons[CRM_FCAP_SIMULTANEOUS] > 0);
}

/* Many quiet intervals on at once (the per-call list of intervals on at a
 * time overflows and the checks scan them all). */
static void test_reference_many_quiet(void **state)
{
    (void)state;
    size_t sends = 0, reasons[8] = {0};
    size_t n = reference_rounds(777, 200, 4, 0, 30, RR_MANY_QUIET, &sends, reasons);
    assert_true(reasons[CRM_FCAP_QUIET_HOURS] > n / 10 && sends > 0);
}

/* Time gaps of about 2^22 s: the fixed and the wide block forms, blocks
 * turning wide when extended, each state saved and loaded (the loader
 * checks the canonical form); with the decoder for this CPU and with the
 * others (DECODERS). */
static void test_reference_gaps(void **state)
{
    (void)state;
    for (int d = 0; d < NDECODERS; d++) {
        use_decoder(d);
        size_t sends = 0, reasons[8] = {0};
        size_t n = reference_rounds(31337, 150, 5, 0, 40, RR_GAPS, &sends, reasons);
        n += reference_rounds(8, 40, 2, 50, 120, RR_GAPS | RR_FUTURE, &sends, reasons);
        n += reference_rounds(9, 40, 2, 50, 120, RR_GAPS, &sends, reasons);
        assert_true(sends > n / 10 && sends < n);
    }
    use_decoder(0);
}

/* The reference workloads with the other block decoders (for CPUs without
 * AVX-512, without AVX2). */
static void test_reference_decoders(void **state)
{
    (void)state;
    for (int d = 1; d < NDECODERS; d++) {
        use_decoder(d);
        size_t sends = 0, reasons[8] = {0};
        size_t n = reference_rounds(20240604, 200, 6, 0, 40, 0, &sends, reasons);
        n += reference_rounds(99, 30, 2, 50, 120, RR_FUTURE, &sends, reasons);
        assert_true(sends > n / 10 && sends < n);
    }
    use_decoder(0);
}

static void test_reference_random(void **state)
{
    (void)state;
    size_t sends = 0, reasons[8] = {0};
    size_t compared = reference_rounds(20240603, 400, 6, 0, 40, 0, &sends, reasons);
    /* the workloads exercise every reason */
    for (int r = 0; r < 8; r++)
        if (reasons[r] == 0)
            fail_msg("reason %d never occurred in %zu decisions", r, compared);
    assert_true(sends > compared / 10 && sends < compared);
}

/* Input order does not matter; batch by batch (sends fed back as history)
 * equals one run. */
static void test_order_and_batches(void **state)
{
    (void)state;
    test_rng g = {777};
    for (int round = 0; round < 150; round++) {
        workload w;
        gen_workload(&g, &w, (size_t)test_rng_range(&g, 1, 5), 30, 25);
        crm_fcap *f;
        crm_fcap_decision *one = calloc(w.nc, sizeof *one), *two = calloc(w.nc, sizeof *two);
        assert_int_equal(crm_fcap_new(&f, &w.ru), CRM_OK);
        assert_int_equal(crm_fcap_add_history(f, w.ev, w.nev, w.tags, w.nt), CRM_OK);
        assert_int_equal(crm_fcap_decide(f, w.c, w.nc, w.tags, w.nt, one), CRM_OK);
        crm_fcap_free(f);
        /* shuffled candidates and history */
        size_t *perm = malloc(w.nc * sizeof *perm);
        for (size_t i = 0; i < w.nc; i++)
            perm[i] = i;
        for (size_t i = w.nc; i > 1; i--) {
            size_t j = (size_t)test_rng_range(&g, 0, (int64_t)i - 1), t = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = t;
        }
        crm_fcap_candidate *sc = malloc(w.nc * sizeof *sc);
        for (size_t i = 0; i < w.nc; i++)
            sc[i] = w.c[perm[i]];
        crm_fcap_event *sh = malloc((w.nev + 1) * sizeof *sh);
        for (size_t i = 0; i < w.nev; i++)
            sh[i] = w.ev[w.nev - 1 - i];
        assert_int_equal(crm_fcap_new(&f, &w.ru), CRM_OK);
        assert_int_equal(crm_fcap_add_history(f, sh, w.nev, w.tags, w.nt), CRM_OK);
        assert_int_equal(crm_fcap_decide(f, sc, w.nc, w.tags, w.nt, two), CRM_OK);
        for (size_t i = 0; i < w.nc; i++)
            assert_same_decision(&two[i], &one[perm[i]], "shuffled", i);
        crm_fcap_free(f);
        /* batch by batch: one decide call per distinct t, sends of earlier
         * batches fed back as plain history into a fresh engine each time */
        crm_fcap_event *hist_all = malloc((w.nev + w.nc + 1) * sizeof *hist_all);
        memcpy(hist_all, w.ev, w.nev * sizeof *hist_all);
        size_t nh = w.nev;
        int64_t prev = INT64_MIN;
        for (;;) {
            int64_t t = INT64_MAX;
            for (size_t i = 0; i < w.nc; i++)
                if (w.c[i].t > prev && w.c[i].t < t)
                    t = w.c[i].t;
            if (t == INT64_MAX)
                break;
            prev = t;
            crm_fcap_candidate *b = malloc(w.nc * sizeof *b);
            size_t *bi = malloc(w.nc * sizeof *bi), nb = 0;
            for (size_t i = 0; i < w.nc; i++)
                if (w.c[i].t == t) {
                    bi[nb] = i;
                    b[nb++] = w.c[i];
                }
            crm_fcap_decision *d = calloc(nb, sizeof *d);
            assert_int_equal(crm_fcap_new(&f, &w.ru), CRM_OK);
            assert_int_equal(crm_fcap_add_history(f, hist_all, nh, w.tags, w.nt), CRM_OK);
            assert_int_equal(crm_fcap_decide(f, b, nb, w.tags, w.nt, d), CRM_OK);
            for (size_t i = 0; i < nb; i++) {
                assert_same_decision(&d[i], &one[bi[i]], "batch by batch", bi[i]);
                if (d[i].send) {
                    const crm_fcap_candidate *c = &b[i];
                    hist_all[nh++] = (crm_fcap_event){
                        .customer_id = c->customer_id, .t = c->t, .campaign_id = c->campaign_id,
                        .cand_id = c->cand_id, .tag_off = c->tag_off, .tag_n = c->tag_n,
                        .channel = d[i].channel, .category = c->category, .counts = -1};
                }
            }
            crm_fcap_free(f);
            free(b);
            free(bi);
            free(d);
        }
        free(hist_all);
        free(perm);
        free(sc);
        free(sh);
        free(one);
        free(two);
        free_workload(&w);
    }
}

/* Re-deciding a rejected candidate at any time in [t, retry_at) with the
 * events as they were rejects again. */
static void test_retry_lower_bound(void **state)
{
    (void)state;
    test_rng g = {4242};
    size_t checked = 0;
    for (int round = 0; round < 300; round++) {
        workload w;
        gen_workload(&g, &w, 2, 30, 12);
        /* history in the past of every candidate, so that nothing new
         * appears between t and retry_at */
        int64_t tmin = INT64_MAX;
        for (size_t i = 0; i < w.nc; i++)
            if (w.c[i].t < tmin)
                tmin = w.c[i].t;
        for (size_t i = 0; i < w.nev; i++)
            if (w.ev[i].t > tmin)
                w.ev[i].t = tmin;
        for (size_t i = 0; i < w.nc; i++) {
            crm_fcap *f;
            assert_int_equal(crm_fcap_new(&f, &w.ru), CRM_OK);
            assert_int_equal(crm_fcap_add_history(f, w.ev, w.nev, w.tags, w.nt), CRM_OK);
            crm_fcap_decision d;
            crm_fcap_candidate c = w.c[i];
            c.t = tmin;
            void *snap;
            size_t len;
            assert_int_equal(crm_fcap_save(f, &snap, &len), CRM_OK);
            assert_int_equal(crm_fcap_decide(f, &c, 1, w.tags, w.nt, &d), CRM_OK);
            crm_fcap_free(f);
            if (d.send || d.retry_at == CRM_FCAP_NEVER) {
                crm_bytes_free(snap);
                continue;
            }
            assert_true(d.retry_at > c.t);
            int64_t probes[3] = {c.t, d.retry_at - 1, c.t + (d.retry_at - c.t) / 2};
            for (int p = 0; p < 3; p++) {
                assert_int_equal(crm_fcap_load(&f, snap, len), CRM_OK);
                crm_fcap_candidate c2 = c;
                c2.t = probes[p];
                crm_fcap_decision d2;
                assert_int_equal(crm_fcap_decide(f, &c2, 1, w.tags, w.nt, &d2), CRM_OK);
                if (d2.send)
                    fail_msg("round %d cand %llu: sent at %lld before retry_at %lld", round,
                             (unsigned long long)c.cand_id, (long long)probes[p],
                             (long long)d.retry_at);
                crm_fcap_free(f);
                checked++;
            }
            crm_bytes_free(snap);
        }
        free_workload(&w);
    }
    assert_true(checked > 100);
}

/* ---- persistence -------------------------------------------------------------------- */

static void snap_of(const crm_fcap *f, void **b, size_t *n)
{
    assert_int_equal(crm_fcap_save(f, b, n), CRM_OK);
}

static void assert_same_state(const crm_fcap *a, const crm_fcap *b)
{
    void *x, *y;
    size_t nx, ny;
    snap_of(a, &x, &nx);
    snap_of(b, &y, &ny);
    assert_int_equal(nx, ny);
    assert_memory_equal(x, y, nx);
    crm_bytes_free(x);
    crm_bytes_free(y);
}

/* f saved and loaded back gives the same state. */
static void assert_reloads_same(const crm_fcap *f)
{
    void *b;
    size_t nb;
    snap_of(f, &b, &nb);
    crm_fcap *back;
    assert_int_equal(crm_fcap_load(&back, b, nb), CRM_OK);
    assert_same_state(f, back);
    crm_bytes_free(b);
    crm_fcap_free(back);
}

/* One candidate per customer (processed in input order): reversed input
 * gives the same decisions and the same state as input sorted by customer. */
static void test_singletons_any_order(void **state)
{
    (void)state;
    test_rng g = {4242};
    for (int round = 0; round < 100; round++) {
        workload w;
        gen_workload(&g, &w, 16, 60, 40);
        if (round & 1) { /* dense customer ids (0..15; else multiples of 7919) */
            for (size_t i = 0; i < w.nev; i++)
                w.ev[i].customer_id /= 7919;
            for (size_t i = 0; i < w.nc; i++)
                w.c[i].customer_id /= 7919;
        }
        /* keep the first candidate of each customer, sorted by customer */
        crm_fcap_candidate *c = calloc(w.nc + 1, sizeof *c), *r = calloc(w.nc + 1, sizeof *r);
        size_t m = 0;
        for (size_t i = 0; i < w.nc; i++) {
            size_t k = 0;
            while (k < m && c[k].customer_id < w.c[i].customer_id)
                k++;
            if (k < m && c[k].customer_id == w.c[i].customer_id)
                continue;
            memmove(&c[k + 1], &c[k], (m - k) * sizeof *c);
            c[k] = w.c[i];
            m++;
        }
        for (size_t i = 0; i < m; i++)
            r[i] = c[m - 1 - i];
        crm_fcap_decision *one = calloc(m + 1, sizeof *one), *two = calloc(m + 1, sizeof *two);
        crm_fcap *a, *b;
        assert_int_equal(crm_fcap_new(&a, &w.ru), CRM_OK);
        assert_int_equal(crm_fcap_new(&b, &w.ru), CRM_OK);
        assert_int_equal(crm_fcap_add_history(a, w.ev, w.nev, w.tags, w.nt), CRM_OK);
        assert_int_equal(crm_fcap_add_history(b, w.ev, w.nev, w.tags, w.nt), CRM_OK);
        assert_int_equal(crm_fcap_decide(a, c, m, w.tags, w.nt, one), CRM_OK);
        assert_int_equal(crm_fcap_decide(b, r, m, w.tags, w.nt, two), CRM_OK);
        for (size_t i = 0; i < m; i++)
            assert_same_decision(&two[m - 1 - i], &one[i], "reversed singletons", i);
        assert_same_state(a, b);
        crm_fcap_free(a);
        crm_fcap_free(b);
        free(one);
        free(two);
        free(c);
        free(r);
        free_workload(&w);
    }
}

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/test_fcap.XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
    }
    char *p = buf[k++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void test_snapshot_and_log(void **state)
{
    (void)state;
    test_rng g = {99};
    for (int round = 0; round < 30; round++) {
        workload w;
        gen_workload(&g, &w, 6, 40, 40);
        crm_fcap *live;
        assert_int_equal(crm_fcap_new(&live, &w.ru), CRM_OK);
        assert_int_equal(crm_fcap_set_userdata(live, "names", 5), CRM_OK);
        size_t half = w.nev / 2;
        assert_int_equal(crm_fcap_add_history(live, w.ev, half, w.tags, w.nt), CRM_OK);
        const char *snap = tmp_path("snap.bin"), *log = tmp_path("log.bin");
        unlink(log);
        assert_int_equal(crm_fcap_save_file(live, snap), CRM_OK);
        assert_int_equal(crm_fcap_log_attach(live, log, round % 2), CRM_OK);
        assert_int_equal(crm_fcap_add_history(live, w.ev + half, w.nev - half, w.tags, w.nt),
                         CRM_OK);
        assert_int_equal(crm_fcap_set_userdata(live, "names2", 6), CRM_OK); /* logged too */
        crm_fcap_decision *d = calloc(w.nc, sizeof *d);
        size_t h = w.nc / 2;
        assert_int_equal(crm_fcap_decide(live, w.c, h, w.tags, w.nt, d), CRM_OK);
        int64_t tmin = INT64_MAX;
        for (size_t i = h; i < w.nc; i++)
            if (w.c[i].t < tmin)
                tmin = w.c[i].t;
        if (tmin != INT64_MAX && round % 3 == 0)
            assert_int_equal(crm_fcap_prune(live, tmin), CRM_OK);
        assert_int_equal(crm_fcap_decide(live, w.c + h, w.nc - h, w.tags, w.nt, d + h), CRM_OK);
        assert_int_equal(crm_fcap_log_detach(live), CRM_OK);

        crm_fcap *back;
        assert_int_equal(crm_fcap_load_file(&back, snap), CRM_OK);
        assert_int_equal(crm_fcap_replay_file(back, log), CRM_OK);
        assert_same_state(live, back);
        assert_int_equal(crm_fcap_sequence(back), crm_fcap_sequence(live));
        assert_int_equal(crm_fcap_events(back), crm_fcap_events(live));
        assert_int_equal(crm_fcap_customers(back), crm_fcap_customers(live));
        size_t ul;
        const void *u = crm_fcap_userdata(back, &ul);
        assert_int_equal(ul, 6);
        assert_memory_equal(u, "names2", 6);
        /* replaying again is a no-op (records already contained) */
        assert_int_equal(crm_fcap_replay_file(back, log), CRM_OK);
        assert_same_state(live, back);
        /* the restored engine decides like the live one */
        crm_fcap_candidate c = w.c[0];
        c.cand_id = 1u << 30;
        c.t += 3600;
        {
            crm_fcap_decision a, b;
            crm_status s1 = crm_fcap_decide(live, &c, 1, w.tags, w.nt, &a);
            crm_status s2 = crm_fcap_decide(back, &c, 1, w.tags, w.nt, &b);
            assert_int_equal(s1, s2);
            if (!s1)
                assert_same_decision(&a, &b, "restored", 0);
        }
        /* range snapshots partition the state */
        void *lo, *hi, *all;
        size_t nlo, nhi, nall;
        uint64_t cut = 3 * 7919;
        assert_int_equal(crm_fcap_save_range(live, 0, cut - 1, &lo, &nlo), CRM_OK);
        assert_int_equal(crm_fcap_save_range(live, cut, UINT64_MAX, &hi, &nhi), CRM_OK);
        crm_fcap *a, *b;
        assert_int_equal(crm_fcap_load(&a, lo, nlo), CRM_OK);
        assert_int_equal(crm_fcap_load(&b, hi, nhi), CRM_OK);
        assert_int_equal(crm_fcap_events(a) + crm_fcap_events(b), crm_fcap_events(live));
        assert_int_equal(crm_fcap_customers(a) + crm_fcap_customers(b), crm_fcap_customers(live));
        snap_of(live, &all, &nall);
        assert_true(nlo + nhi > nall);
        crm_bytes_free(lo);
        crm_bytes_free(hi);
        crm_bytes_free(all);
        crm_fcap_free(a);
        crm_fcap_free(b);
        crm_fcap_free(back);
        crm_fcap_free(live);
        free(d);
        free_workload(&w);
    }
}

static void read_whole(const char *path, uint8_t **p, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    *p = malloc((size_t)sz + 1);
    *n = fread(*p, 1, (size_t)sz, fp);
    fclose(fp);
}

static bool offset_in_message(void)
{
    return strstr(crm_last_error(), "byte") != NULL;
}

static void snapshot_refused(void *ctx, const uint8_t *buf, size_t n, size_t at, uint8_t mask)
{
    (void)ctx;
    (void)mask;
    if (at == BLOB_CUT) {
        crm_fcap *x = (crm_fcap *)1;
        assert_int_equal(crm_fcap_load(&x, buf, n), CRM_ESTATE);
        assert_null(x);
        assert_true(offset_in_message());
    } else {
        crm_fcap *x = NULL;
        crm_status s = crm_fcap_load(&x, buf, n);
        if (s != CRM_ESTATE && s != CRM_EVERSION)
            fail_msg("flipped snapshot byte %zu: status %d", at, s);
        assert_null(x);
    }
}

static void test_corruption_every_byte(void **state)
{
    (void)state;
    test_rng g = {5};
    workload w;
    gen_workload(&g, &w, 3, 12, 10);
    crm_fcap *f;
    assert_int_equal(crm_fcap_new(&f, &w.ru), CRM_OK);
    assert_int_equal(crm_fcap_add_history(f, w.ev, 6, w.tags, w.nt), CRM_OK);
    void *snap;
    size_t slen;
    snap_of(f, &snap, &slen);
    const char *log = tmp_path("corrupt.log");
    unlink(log);
    assert_int_equal(crm_fcap_log_attach(f, log, 0), CRM_OK);
    assert_int_equal(crm_fcap_add_history(f, w.ev + 6, w.nev - 6, w.tags, w.nt), CRM_OK);
    crm_fcap_decision d[16];
    assert_int_equal(crm_fcap_decide(f, w.c, w.nc, w.tags, w.nt, d), CRM_OK);
    assert_int_equal(crm_fcap_prune(f, 0), CRM_OK);
    crm_fcap_free(f);
    uint8_t *lg;
    size_t llen;
    read_whole(log, &lg, &llen);
    assert_true(llen > 40);

    crm_fcap *base;
    assert_int_equal(crm_fcap_load(&base, snap, slen), CRM_OK);
    void *base_bytes;
    size_t base_len;
    snap_of(base, &base_bytes, &base_len);
    uint8_t *buf = malloc(slen > llen ? slen : llen);
    /* snapshot: every truncation and every flipped byte is refused */
    blob_damage_sweep(snap, slen, 1, 1, BLOB_FLIP_ROTATING, snapshot_refused, NULL);
    /* log: truncation anywhere inside a record and any flipped byte fail
     * with the byte offset, and leave the engine untouched */
    for (size_t cut = 1; cut < llen; cut++) {
        crm_status s = crm_fcap_replay(base, lg, cut);
        if (s == CRM_OK)
            continue; /* a cut exactly between records is a valid shorter log */
        assert_int_equal(s, CRM_ESTATE);
        assert_true(offset_in_message());
        void *now;
        size_t nn;
        snap_of(base, &now, &nn);
        if (nn != base_len || memcmp(now, base_bytes, nn) != 0) {
            /* a valid prefix was applied: start again from the snapshot */
            crm_fcap_free(base);
            assert_int_equal(crm_fcap_load(&base, snap, slen), CRM_OK);
            crm_status s2 = crm_fcap_replay(base, lg, cut);
            assert_int_equal(s2, CRM_ESTATE);
            crm_bytes_free(now);
            snap_of(base, &now, &nn);
        }
        crm_bytes_free(now);
    }
    for (size_t i = 0; i < llen; i++) {
        memcpy(buf, lg, llen);
        buf[i] ^= 0x5A;
        crm_status s = crm_fcap_replay(base, buf, llen);
        if (s != CRM_ESTATE)
            fail_msg("flipped log byte %zu: status %d", i, s);
        assert_true(offset_in_message());
        void *now;
        size_t nn;
        snap_of(base, &now, &nn);
        assert_int_equal(nn, base_len);
        assert_memory_equal(now, base_bytes, nn);
        crm_bytes_free(now);
    }
    free(buf);
    free(lg);
    crm_bytes_free(snap);
    crm_bytes_free(base_bytes);
    crm_fcap_free(base);
    free_workload(&w);
}

/* ---- pruning and memory ----------------------------------------------------------- */

static void test_prune(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    assert_int_equal(crm_fcap_horizon(f), 31 * 86400); /* month > week */
    rows r = {0};
    hist(&r, 1, T0 - 40 * 86400, EMAIL, 1, CONTENT, 0, -1, 500);
    hist(&r, 1, T0 - 31 * 86400, EMAIL, 1, CONTENT, 0, -1, NOC); /* e <= now - H: pruned */
    hist(&r, 1, T0 - 31 * 86400 + 1, EMAIL, 1, CONTENT, 0, -1, NOC);
    hist(&r, 2, T0 - 50 * 86400, EMAIL, 1, CONTENT, 0, -1, NOC);
    assert_int_equal(crm_fcap_add_history(f, r.ev, r.nev, r.tags, r.nt), CRM_OK);
    assert_int_equal(crm_fcap_events(f), 4);
    assert_int_equal(crm_fcap_customers(f), 2);
    assert_int_equal(crm_fcap_prune(f, T0), CRM_OK);
    assert_int_equal(crm_fcap_events(f), 1);
    assert_int_equal(crm_fcap_customers(f), 1);
    /* decisions before the prune time are refused, naming the candidate */
    r.nc = 0;
    cand(&r, 7, 1, T0 - 1, 1, CONTENT, 1, 1, CH(EMAIL));
    crm_fcap_decision d;
    assert_int_equal(crm_fcap_decide(f, r.c, 1, r.tags, r.nt, &d), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "cand_id 7"));
    assert_int_equal(crm_fcap_prune(f, T0 - 1), CRM_EINVAL);
    /* the pruned cand id is forgotten (idempotency lasts the horizon) */
    r.c[0].t = T0;
    r.c[0].cand_id = 500;
    assert_int_equal(crm_fcap_decide(f, r.c, 1, r.tags, r.nt, &d), CRM_OK);
    assert_int_equal(d.send, 1);
    crm_fcap_free(f);
}

/* The compact store: events added one call at a time (blocks rewritten in
 * place, moved, the pool compacted, the customer table and the cand-id set
 * grown) give the same state as one call in any order; prune and reload
 * keep it; every stored cand id (spread over 2^63) is ALREADY_SENT. */
/* Snapshots of a and b equal except for the sequence number (the count of
 * calls) and hence the checksum. */
static void assert_same_events(const crm_fcap *a, const crm_fcap *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    snap_of(a, (void **)&x, &nx);
    snap_of(b, (void **)&y, &ny);
    assert_int_equal(nx, ny);
    uint8_t sa[8], sb[8];
    for (int i = 0; i < 8; i++) {
        sa[i] = (uint8_t)(crm_fcap_sequence(a) >> (8 * i));
        sb[i] = (uint8_t)(crm_fcap_sequence(b) >> (8 * i));
    }
    size_t at = 16;
    while (at + 8 <= nx && (memcmp(x + at, sa, 8) != 0 || memcmp(y + at, sb, 8) != 0))
        at++;
    assert_true(at + 8 <= nx);
    memset(x + at, 0, 8);
    memset(y + at, 0, 8);
    assert_memory_equal(x, y, nx - 4);
    crm_bytes_free(x);
    crm_bytes_free(y);
}

static void test_store_growth(void **state)
{
    (void)state;
    test_rng g = {77};
    enum { NCUST = 60, PER = 30, N = NCUST * PER };
    static crm_fcap_event ev[N];
    static const uint32_t tags[] = {3, 1, 3, 9, 70000, 2};
    for (size_t i = 0; i < N; i++) {
        crm_fcap_event *e = &ev[i];
        memset(e, 0, sizeof *e);
        e->customer_id = test_rng_range(&g, 0, 3) ? 1000 + i % NCUST : (i % NCUST) << 40;
        e->t = T0 - (int64_t)test_rng_range(&g, 0, 40 * 86400);
        e->campaign_id = test_rng_range(&g, 0, 1) ? (uint64_t)test_rng_range(&g, 0, 5)
                                                 : test_rng_next(&g) >> 1;
        e->cand_id = test_rng_range(&g, 0, 4) ? test_rng_next(&g) >> 1
                     : test_rng_range(&g, 0, 1) ? 5000 + i : CRM_FCAP_NO_CAND;
        e->channel = (uint8_t)test_rng_range(&g, 0, 7);
        e->category = (uint8_t)test_rng_range(&g, 0, 3);
        e->counts = (int8_t)((int)test_rng_range(&g, 0, 2) - 1);
        e->tag_off = (uint32_t)test_rng_range(&g, 0, 6);
        e->tag_n = (uint32_t)test_rng_range(&g, 0, 6 - e->tag_off);
    }
    crm_fcap *one = example_engine(), *all = example_engine(), *rev = example_engine();
    for (size_t i = 0; i < N; i++)
        assert_int_equal(crm_fcap_add_history(one, &ev[i], 1, tags, 6), CRM_OK);
    assert_int_equal(crm_fcap_add_history(all, ev, N, tags, 6), CRM_OK);
    for (size_t i = N; i-- > 0;)
        assert_int_equal(crm_fcap_add_history(rev, &ev[i], 1, tags, 6), CRM_OK);
    assert_int_equal(crm_fcap_events(one), N);
    assert_same_events(one, all);
    assert_same_state(one, rev);
    /* every stored cand id is ALREADY_SENT at T0 for a new customer */
    rows r = {0};
    crm_fcap_decision d[32];
    for (size_t i = 0; i < N; i++) {
        if (ev[i].cand_id == CRM_FCAP_NO_CAND)
            continue;
        cand(&r, ev[i].cand_id, 999999, T0, 1, SERVICE, 1, 1, CH(PUSH));
        assert_int_equal(crm_fcap_decide(all, r.c, 1, r.tags, r.nt, d), CRM_OK);
        assert_int_equal(d[0].reason, CRM_FCAP_ALREADY_SENT);
        r.nc = 0;
    }
    cand(&r, 4999, 999999, T0, 1, SERVICE, 1, 1, CH(PUSH)); /* a neighbour of stored ids */
    assert_int_equal(crm_fcap_decide(all, r.c, 1, r.tags, r.nt, d), CRM_OK);
    assert_int_equal(d[0].send, 1);
    r.nc = 0;
    /* prune: events e <= T0 - 31 days go, the rest stays equal */
    size_t keep = 0;
    for (size_t i = 0; i < N; i++)
        keep += ev[i].t > T0 - 31 * 86400;
    assert_int_equal(crm_fcap_prune(one, T0), CRM_OK);
    assert_int_equal(crm_fcap_prune(rev, T0), CRM_OK);
    assert_int_equal(crm_fcap_events(one), keep);
    assert_same_state(one, rev);
    assert_reloads_same(one);
    crm_fcap_free(one);
    crm_fcap_free(all);
    crm_fcap_free(rev);
}

/* Customer ids of many layouts, added as the table grows, after a load
 * and in small batches (the table keeps ids in order where it can: see
 * fhome in lib/fcap/fcap_int.h): every customer is found again (a second
 * event joins its customer: the count does not grow), the state equals
 * the one of all events added at once, and decisions agree. Layouts: dense,
 * stride 3, random 63-bit, one far outlier then ids counting up, spread
 * ids then a crowd inside the first spread bucket, even then odd ids,
 * descending, next to CRM_FCAP_ID_MAX. */
static uint64_t layout_id(int layout, size_t i, size_t half)
{
    test_rng g = {i * 7919 + (uint64_t)layout};
    uint64_t r = test_rng_next(&g);
    switch (layout) {
    case 0: return i;
    case 1: return 1000 + 3 * i;
    case 2: return r >> 1;
    case 3: return i == 0 ? UINT64_C(1) << 62 : i;
    case 4: return i < half ? (uint64_t)i << 20 : i - half + 1;
    case 5: return i < half ? 2 * i : 2 * (i - half) + 1;
    case 6: return 1000000 - i;
    default: return CRM_FCAP_ID_MAX - i;
    }
}

static void test_id_layouts(void **state)
{
    (void)state;
    enum { N = 3000, HALF = N / 2, LAYOUTS = 8 };
    static crm_fcap_event ev[2 * N];
    static crm_fcap_candidate c[N + 1];
    static crm_fcap_decision d1[N + 1], d2[N + 1];
    static const uint32_t tags[] = {1, 2};
    for (int layout = 0; layout < LAYOUTS; layout++) {
        for (size_t i = 0; i < 2 * N; i++) /* event i and N + i: customer i */
            ev[i] = (crm_fcap_event){.customer_id = layout_id(layout, i % N, HALF),
                                     .t = T0 - 3600 - (int64_t)(i / N) * 60 - (int64_t)(i % 50),
                                     .campaign_id = i % 5, .cand_id = CRM_FCAP_NO_CAND,
                                     .channel = (uint8_t)(i % 3), .counts = -1,
                                     .tag_off = (uint32_t)(i % 2), .tag_n = 1};
        crm_fcap *ref = example_engine(), *f = example_engine(), *g;
        assert_int_equal(crm_fcap_add_history(ref, ev, 2 * N, tags, 2), CRM_OK);
        /* the first half in batches of 97 (the table grows), then saved and
         * loaded (the table is built at once), then the second half in
         * batches of 50, then every customer's second event, in reverse */
        for (size_t a = 0; a < HALF; a += 97)
            assert_int_equal(crm_fcap_add_history(f, ev + a, a + 97 < HALF ? 97 : HALF - a,
                                                  tags, 2), CRM_OK);
        void *b;
        size_t nb;
        snap_of(f, &b, &nb);
        assert_int_equal(crm_fcap_load(&g, b, nb), CRM_OK);
        crm_bytes_free(b);
        crm_fcap_free(f);
        for (size_t a = HALF; a < N; a += 50)
            assert_int_equal(crm_fcap_add_history(g, ev + a, a + 50 < N ? 50 : N - a, tags, 2),
                             CRM_OK);
        assert_int_equal(crm_fcap_customers(g), N);
        for (size_t a = 2 * N; a > N; a -= 60) {
            size_t k = a - N < 60 ? a - N : 60;
            assert_int_equal(crm_fcap_add_history(g, ev + a - k, k, tags, 2), CRM_OK);
            assert_int_equal(crm_fcap_customers(g), N);
        }
        assert_int_equal(crm_fcap_events(g), 2 * N);
        assert_same_events(ref, g);
        assert_reloads_same(g);
        /* a candidate per customer and one for a new customer, by id */
        for (size_t i = 0; i <= N; i++)
            c[i] = (crm_fcap_candidate){.cand_id = i, .customer_id = i < N
                                            ? layout_id(layout, i, HALF) : CRM_FCAP_ID_MAX - N,
                                        .t = T0, .campaign_id = 9, .consent =
                                            CRM_FCAP_ALL_CHANNELS, .preferred = -1,
                                        .n_channels = 2, .channels = {0, 1}, .tag_n = 1};
        assert_int_equal(crm_fcap_decide(ref, c, N + 1, tags, 2, d1), CRM_OK);
        assert_int_equal(crm_fcap_decide(g, c, N + 1, tags, 2, d2), CRM_OK);
        assert_memory_equal(d1, d2, sizeof d1);
        assert_same_events(ref, g);
        crm_fcap_free(ref);
        crm_fcap_free(g);
    }
}

/* Engines whose pool grows by an extension (CRM_FCAP_POOL_EXT_MIN=64:
 * from the first growth on) against one whose pool is reallocated: the
 * same decisions, events and snapshot bytes after growth, sends moving
 * blocks to the tail, compaction and prune; a decide failing after it
 * staged blocks leaves the engine as it was, and the next one matches. */
static void ext_mode(bool on)
{
    if (on)
        assert_int_equal(setenv("CRM_FCAP_POOL_EXT_MIN", "64", 1), 0);
    else
        assert_int_equal(unsetenv("CRM_FCAP_POOL_EXT_MIN"), 0);
}

static void test_pool_extension(void **state)
{
    (void)state;
    enum { N = 1500, DAYS = 7 };
    static crm_fcap_event ev[3 * N];
    static crm_fcap_candidate c[N];
    static crm_fcap_decision d1[N], d2[N];
    static const uint32_t tags[] = {1, 2, 3};
    crm_fcap *ref = example_engine(), *f = example_engine();
    for (size_t i = 0; i < 3 * N; i++)
        ev[i] = (crm_fcap_event){.customer_id = 7 * (i % N),
                                 .t = T0 - 3600 - (int64_t)(i % 97) * 600,
                                 .campaign_id = i % 7, .cand_id = (UINT64_C(1) << 40) + i,
                                 .channel = (uint8_t)(i % 4), .counts = -1,
                                 .tag_off = (uint32_t)(i % 3), .tag_n = 1};
    for (size_t a = 0; a < 3 * N; a += 250) { /* the pools grow */
        ext_mode(true);
        assert_int_equal(crm_fcap_add_history(f, ev + a, 250, tags, 3), CRM_OK);
        ext_mode(false);
        assert_int_equal(crm_fcap_add_history(ref, ev + a, 250, tags, 3), CRM_OK);
    }
    assert_same_events(ref, f);
    assert_same_state(ref, f);
    for (int day = 0; day < DAYS; day++) {
        for (size_t i = 0; i < N; i++)
            c[i] = (crm_fcap_candidate){.cand_id = (uint64_t)day * N + i, .customer_id = 7 * i,
                                        .t = T0 + day * 86400 + (int64_t)(i % 5) * 60,
                                        .campaign_id = 10 + (uint64_t)((i + (size_t)day) % 4),
                                        .category = (uint8_t)(i % 3), .priority = (int64_t)(i % 2),
                                        .consent = CRM_FCAP_ALL_CHANNELS, .preferred = -1,
                                        .n_channels = 2, .channels = {(uint8_t)(i % 4), 5},
                                        .tag_off = (uint32_t)(i % 3), .tag_n = 1};
        if (day == 2) { /* the last customer's two rows disagree: refused after
                           the others' sends were staged */
            void *b;
            size_t nb;
            crm_fcap *before;
            snap_of(f, &b, &nb);
            assert_int_equal(crm_fcap_load(&before, b, nb), CRM_OK);
            crm_bytes_free(b);
            c[N - 2].customer_id = c[N - 1].customer_id;
            c[N - 1].utc_offset_min = 60;
            ext_mode(true);
            assert_int_equal(crm_fcap_decide(f, c, N, tags, 3, d2), CRM_EDATA);
            ext_mode(false);
            assert_same_state(before, f);
            crm_fcap_free(before);
            c[N - 2].customer_id = 7 * (N - 2);
            c[N - 1].utc_offset_min = 0;
        }
        ext_mode(true);
        assert_int_equal(crm_fcap_decide(f, c, N, tags, 3, d2), CRM_OK);
        ext_mode(false);
        assert_int_equal(crm_fcap_decide(ref, c, N, tags, 3, d1), CRM_OK);
        assert_memory_equal(d1, d2, sizeof d1);
        assert_same_events(ref, f);
        assert_same_state(ref, f);
        if (day == 1 || day == DAYS - 1) { /* prune makes one pool block again */
            ext_mode(true);
            assert_int_equal(crm_fcap_prune(f, T0 + day * 86400), CRM_OK);
            ext_mode(false);
            assert_int_equal(crm_fcap_prune(ref, T0 + day * 86400), CRM_OK);
            assert_same_state(ref, f);
        }
    }
    assert_reloads_same(f);
    crm_fcap_free(ref);
    crm_fcap_free(f);
}

/* Snapshot format versions other than 6 are refused with CRM_EVERSION (the
 * blob is re-sealed with a correct CRC-32C so only the version differs). */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static void test_snapshot_versions(void **state)
{
    (void)state;
    crm_fcap *f = example_engine();
    rows r = {0};
    hist(&r, 1, T0 - 10, EMAIL, 5, CONTENT, 0, -1, 100);
    assert_int_equal(crm_fcap_add_history(f, r.ev, r.nev, r.tags, r.nt), CRM_OK);
    uint8_t *b;
    size_t n;
    snap_of(f, (void **)&b, &n);
    assert_int_equal(b[6] | b[7] << 8, 6);
    for (unsigned v = 1; v <= 7; v++) {
        if (v == 6)
            continue;
        b[6] = (uint8_t)v;
        uint32_t c = crc32c_bitwise(b, n - 4);
        for (int i = 0; i < 4; i++)
            b[n - 4 + i] = (uint8_t)(c >> (8 * i));
        crm_fcap *g = (crm_fcap *)1;
        assert_int_equal(crm_fcap_load(&g, b, n), CRM_EVERSION);
        assert_null(g);
        char want[32];
        snprintf(want, sizeof want, "version %u", v);
        assert_non_null(strstr(crm_last_error(), want));
    }
    crm_bytes_free(b);
    crm_fcap_free(f);
}

/* ---- block forms (docs/fcap.md, "Event blocks") ---------------------------------- */

/* LEB128, written here from the format text. */
static size_t leb(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        o[n++] = (uint8_t)(v | 0x80);
    o[n++] = (uint8_t)v;
    return n;
}

static size_t le32(uint8_t *o, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        o[i] = (uint8_t)(v >> (8 * i));
    return 4;
}

/* The blob of two counted CONTENT email events at t0 and t0 + gap, campaign
 * 5, no cand id, no tags: fixed records when gap < 2^22, else wide ones
 * (wide = 1 forces wide records: not canonical when gap < 2^22). */
static size_t two_event_blob(uint8_t *out, int64_t t0, int64_t gap, int wide)
{
    uint8_t body[64];
    size_t n = 0;
    const unsigned meta = EMAIL | CONTENT << 6, fl = 1 /* counted */;
    if (!wide) {
        n += leb(body + n, 2 * 2);                         /* two fixed records */
        body[n++] = (uint8_t)(t0 >> 22);                   /* first time, bits 22.. */
        body[n++] = (uint8_t)(t0 >> 30);
        n += le32(body + n, (uint32_t)(t0 & 0x3FFFFF) | fl << 22 | meta << 24);
        n += le32(body + n, (uint32_t)gap | fl << 22 | meta << 24);
    } else {
        uint8_t hot[32];
        size_t h = leb(hot, (uint64_t)t0);
        hot[h++] = (uint8_t)meta;
        hot[h++] = (uint8_t)fl;
        h += leb(hot + h, (uint64_t)gap);
        hot[h++] = (uint8_t)meta;
        hot[h++] = (uint8_t)fl;
        n += leb(body + n, 2 * h + 1);
        memcpy(body + n, hot, h);
        n += h;
    }
    body[n++] = 5 << 3; /* cold: campaign 5, no cand, no tags */
    body[n++] = 5 << 3;
    size_t k = leb(out, n);
    memcpy(out + k, body, n);
    return k + n;
}

/* Snapshot of the one customer 1 with events at t0 and t0 + gap; its blob
 * must end the payload. */
static void expect_two_event_blob(int64_t t0, int64_t gap, int wide)
{
    crm_fcap *f = example_engine();
    rows r = {0};
    hist(&r, 1, t0, EMAIL, 5, CONTENT, 0, 1, NOC);
    hist(&r, 1, t0 + gap, EMAIL, 5, CONTENT, 0, 1, NOC);
    assert_int_equal(crm_fcap_add_history(f, r.ev, r.nev, r.tags, r.nt), CRM_OK);
    r.nev = 0;
    uint8_t *b, want[64];
    size_t n, wn = two_event_blob(want, t0, gap, wide);
    snap_of(f, (void **)&b, &n);
    assert_true(n > wn + 12);
    assert_memory_equal(b + n - 4 - wn, want, wn);
    assert_int_equal(b[n - 4 - wn - 8], 1); /* the customer id before it */
    crm_bytes_free(b);
    /* the times as decoded (both decoders): campaign 5 at the next 12:00 UTC
     * after the later event is capped until that event + 1 week */
    int64_t t1 = t0 + gap, tc = t1 + ((43200 - t1 % 86400) % 86400 + 86400) % 86400;
    for (int d = 0; d < NDECODERS && tc + 604800 <= CRM_FCAP_T_MAX; d++) {
        use_decoder(d);
        cand(&r, 900 + (uint64_t)d, 1, tc, 5, CONTENT, 1, 1, CH(EMAIL));
        char w[128];
        sprintf(w, "1,REJECT,,CAP:campaign_once,%lld,email:CAP:campaign_once",
                (long long)(t1 + 604800));
        const char *want2[] = {w};
        expect_decisions(f, &r, want2);
    }
    use_decoder(0);
    crm_fcap_free(f);
}

/* Fixed records while every gap is below 2^22 s, wide ones from 2^22 s on;
 * first times with high bits 0, 255, 256 and above 2^32 s up to the
 * largest time; a fixed block
 * extended by a send 2^22 s later turns wide (one 2^22 - 1 s later stays
 * fixed); a wide block whose gaps fit fixed records is refused by the
 * loader at the byte of its hot length. */
static void test_block_forms(void **state)
{
    (void)state;
    const int64_t G = INT64_C(1) << 22;
    expect_two_event_blob(T0 - G, G - 1, 0);
    expect_two_event_blob(T0 - G, G, 1);
    expect_two_event_blob(1000, G - 1, 0); /* high bits 0 */
    expect_two_event_blob((INT64_C(255) << 22) + 77, 5, 0); /* 255: the high byte 0 */
    expect_two_event_blob((INT64_C(256) << 22) + 77, 5, 0); /* 256: the low byte 0 */
    expect_two_event_blob(CRM_FCAP_T_MAX - 4 * 604800 - G, G - 1, 0); /* above 2^32 */
    expect_two_event_blob(CRM_FCAP_T_MAX - G + 1, G - 1, 0);
    expect_two_event_blob(0, CRM_FCAP_T_MAX, 1);

    for (int d = 0; d < NDECODERS; d++) {
        use_decoder(d);
        for (int64_t gap = G - 1; gap <= G; gap++) {
            /* stored: T0 - gap - 2^22 + 1 and T0 - gap (fixed); a send at T0 */
            crm_fcap *f = example_engine();
            rows r = {0};
            int64_t t1 = T0 - gap;
            hist(&r, 1, t1 - (G - 1), EMAIL, 5, CONTENT, 0, 1, NOC);
            hist(&r, 1, t1, EMAIL, 5, CONTENT, 0, 1, NOC);
            cand(&r, 500, 1, T0, 6, CONTENT, 1, 1, CH(EMAIL));
            const char *want[] = {"1,SEND,email,,,email:OK"};
            expect_decisions(f, &r, want);
            uint8_t *b;
            size_t n;
            snap_of(f, (void **)&b, &n);
            /* hand-built: the three events, the send counted and sent (flags
             * 3), cold: campaign 6 with a cand id (head 6 << 3 | 4), zigzag(500) */
            uint8_t want_blob[64], body[48], hot[32];
            size_t bn = 0, h = 0;
            const unsigned meta = EMAIL | CONTENT << 6;
            int64_t t0 = t1 - (G - 1), ts[3] = {t0, t1, T0};
            unsigned fl[3] = {1, 1, 3};
            if (gap < G) {
                bn += leb(body, 2 * 3);
                body[bn++] = (uint8_t)(t0 >> 22);
                body[bn++] = (uint8_t)(t0 >> 30);
                for (int i = 0; i < 3; i++)
                    bn += le32(body + bn, (uint32_t)(i ? ts[i] - ts[i - 1] : t0 & (G - 1)) |
                                              fl[i] << 22 | meta << 24);
            } else {
                for (int i = 0; i < 3; i++) {
                    h += leb(hot + h, (uint64_t)(i ? ts[i] - ts[i - 1] : t0));
                    hot[h++] = (uint8_t)meta;
                    hot[h++] = (uint8_t)fl[i];
                }
                bn += leb(body, 2 * h + 1);
                memcpy(body + bn, hot, h);
                bn += h;
            }
            body[bn++] = 5 << 3;
            body[bn++] = 5 << 3;
            body[bn++] = 6 << 3 | 4;
            bn += leb(body + bn, 1000);
            size_t wn = leb(want_blob, bn);
            memcpy(want_blob + wn, body, bn);
            wn += bn;
            assert_memory_equal(b + n - 4 - wn, want_blob, wn);
            crm_fcap *g = NULL;
            assert_int_equal(crm_fcap_load(&g, b, n), CRM_OK);
            crm_bytes_free(b);
            /* the stored times as decoded: campaign 6 was sent at T0, so at
             * T0 + 604799 it is capped until T0 + 604800; ALREADY_SENT for 500 */
            for (int e = 0; e < 2; e++) {
                crm_fcap *x = e ? g : f;
                cand(&r, 501, 1, T0 + 604799, 6, CONTENT, 1, 1, CH(EMAIL));
                cand(&r, 500, 1, T0 + 5, 7, CONTENT, 1, 1, CH(EMAIL));
                char w[128];
                sprintf(w, "1,REJECT,,CAP:campaign_once,%lld,email:CAP:campaign_once",
                        (long long)(T0 + 604800));
                const char *want2[] = {w, "1,REJECT,,ALREADY_SENT,,email:ALREADY_SENT"};
                expect_decisions(x, &r, want2);
            }
            crm_fcap_free(g);
            crm_fcap_free(f);
        }
    }
    use_decoder(0);

    /* history added later, 2^22 - 1 and 2^22 s after a stored event: the
     * stored block is extended (fixed, then rewritten wide) */
    for (int64_t gap = G - 1; gap <= G; gap++) {
        crm_fcap *f = example_engine();
        rows r = {0};
        hist(&r, 1, T0 - G - 5, EMAIL, 5, CONTENT, 0, 1, NOC);
        assert_int_equal(crm_fcap_add_history(f, r.ev, r.nev, r.tags, r.nt), CRM_OK);
        r.nev = 0;
        hist(&r, 1, T0 - G - 5 + gap, EMAIL, 5, CONTENT, 0, 1, NOC);
        assert_int_equal(crm_fcap_add_history(f, r.ev, r.nev, r.tags, r.nt), CRM_OK);
        uint8_t *b, want[64];
        size_t n, wn = two_event_blob(want, T0 - G - 5, gap, gap == G);
        snap_of(f, (void **)&b, &n);
        assert_memory_equal(b + n - 4 - wn, want, wn);
        crm_bytes_free(b);
        crm_fcap_free(f);
    }

    /* the loader: customer 1's fixed blob (gap 2^22 - 1) replaced by wide
     * records of the same events is refused at the byte of its hot length */
    crm_fcap *f = example_engine();
    rows r = {0};
    hist(&r, 1, T0 - G, EMAIL, 5, CONTENT, 0, 1, NOC);
    hist(&r, 1, T0 - 1, EMAIL, 5, CONTENT, 0, 1, NOC);
    assert_int_equal(crm_fcap_add_history(f, r.ev, r.nev, r.tags, r.nt), CRM_OK);
    uint8_t *b, fixed[64], wide[64];
    size_t n, fn = two_event_blob(fixed, T0 - G, G - 1, 0),
              wn = two_event_blob(wide, T0 - G, G - 1, 1);
    snap_of(f, (void **)&b, &n);
    assert_memory_equal(b + n - 4 - fn, fixed, fn);
    size_t at = n - 4 - fn, m = at + wn + 4; /* the blob's offset in the snapshot */
    uint8_t *forged = malloc(m);
    memcpy(forged, b, at);
    memcpy(forged + at, wide, wn);
    for (int i = 0; i < 8; i++) /* payload length */
        forged[8 + i] = (uint8_t)((uint64_t)(m - 20) >> (8 * i));
    uint32_t c = crc32c_bitwise(forged, m - 4);
    for (int i = 0; i < 4; i++)
        forged[m - 4 + i] = (uint8_t)(c >> (8 * i));
    crm_fcap *g = (crm_fcap *)1;
    assert_int_equal(crm_fcap_load(&g, forged, m), CRM_ESTATE);
    assert_null(g);
    char want[96];
    snprintf(want, sizeof want, "wide event block whose time gaps fit fixed records at byte %zu",
             at + 1);
    if (!strstr(crm_last_error(), want))
        fail_msg("got: %s\nwant: ...%s", crm_last_error(), want);
    free(forged);
    crm_bytes_free(b);
    crm_fcap_free(f);
}

/* ---- errors ------------------------------------------------------------------------- */

/* Every range a candidate row is checked against, just inside (accepted)
 * and just outside (CRM_EDATA naming the row) each bound: decide checks the
 * common row with a few combined range tests before the detailed ones, so
 * a bound it gets wrong lets a bad row through here. */
typedef void (*cand_edit)(crm_fcap_candidate *c);
#define EDIT(name, body) \
    static void name(crm_fcap_candidate *c) \
    { \
        body; \
    }
EDIT(ok_plain, (void)c)
EDIT(ok_ids, c->cand_id = c->customer_id = c->campaign_id = CRM_FCAP_ID_MAX)
EDIT(bad_cand, c->cand_id = CRM_FCAP_ID_MAX + 1)
EDIT(bad_cust, c->customer_id = CRM_FCAP_ID_MAX + 1)
EDIT(bad_camp, c->campaign_id = UINT64_MAX)
EDIT(ok_tmax, c->t = CRM_FCAP_T_MAX)
EDIT(bad_tmax, c->t = CRM_FCAP_T_MAX + 1)
EDIT(bad_tneg, c->t = -1)
EDIT(bad_tmin, c->t = INT64_MIN)
EDIT(bad_floor, c->t = T0 - 101) /* the prune time is T0 - 100 */
EDIT(ok_floor, c->t = T0 - 100)
EDIT(ok_big, c->value = 1.7e308)
EDIT(ok_neg, c->value = -1.7e308)
EDIT(bad_inf, c->value = INFINITY)
EDIT(bad_ninf, c->value = -INFINITY)
EDIT(bad_nan, c->value = NAN)
EDIT(ok_cat3, c->category = 3; c->override = 1)
EDIT(bad_cat, c->category = 4)
EDIT(bad_cat255, c->category = 255)
EDIT(bad_ovr, c->override = 2)
EDIT(bad_ovr128, c->override = 128)
EDIT(ok_utc_lo, c->utc_offset_min = -720)
EDIT(ok_utc_hi, c->utc_offset_min = 840)
EDIT(bad_utc_lo, c->utc_offset_min = -721)
EDIT(bad_utc_hi, c->utc_offset_min = 841)
EDIT(bad_utc_max, c->utc_offset_min = INT32_MAX)
EDIT(bad_utc_min, c->utc_offset_min = INT32_MIN)
EDIT(ok_pref_hi, c->preferred = 7)
EDIT(bad_pref_hi, c->preferred = 8)
EDIT(bad_pref_lo, c->preferred = -2)
EDIT(bad_pref_min, c->preferred = INT16_MIN)
EDIT(ok_nch8, c->n_channels = 8; for (int j = 0; j < 8; j++) c->channels[j] = (uint8_t)(7 - j))
EDIT(bad_nch15, c->n_channels = 15; for (int j = 0; j < 15; j++) c->channels[j] = (uint8_t)(j % 8))
EDIT(bad_nch0, c->n_channels = 0)
EDIT(bad_nch16, c->n_channels = 16)
EDIT(bad_nch255, c->n_channels = 255)
EDIT(ok_ch7, c->channels[0] = 7)
EDIT(bad_ch8, c->channels[1] = 8)
EDIT(bad_ch64, c->channels[1] = 64)
EDIT(bad_ch65, c->channels[0] = 65)
EDIT(bad_ch255, c->channels[1] = 255)
EDIT(bad_dup, c->channels[1] = c->channels[0])
EDIT(bad_dup64, c->channels[0] = 64; c->channels[1] = 0) /* 64 aliases bit 0 */
EDIT(ok_one, c->n_channels = 1; c->channels[1] = 200) /* (an unused entry is not read) */
EDIT(ok_one7, c->n_channels = 1; c->channels[0] = 7)
EDIT(bad_one8, c->n_channels = 1; c->channels[0] = 8)
EDIT(bad_one64, c->n_channels = 1; c->channels[0] = 64)
EDIT(ok_three, c->n_channels = 3; c->channels[2] = 7)
EDIT(bad_three8, c->n_channels = 3; c->channels[2] = 8)
EDIT(bad_three_dup0, c->n_channels = 3; c->channels[2] = c->channels[0])
EDIT(bad_three_dup1, c->n_channels = 3; c->channels[2] = c->channels[1])
EDIT(bad_three_64, c->n_channels = 3; c->channels[2] = 64 + c->channels[0])
EDIT(ok_tags, c->tag_off = 2; c->tag_n = 1)
EDIT(ok_notags, c->tag_off = 3; c->tag_n = 0)
EDIT(bad_tag_off, c->tag_off = 4; c->tag_n = 0)
EDIT(bad_tag_n, c->tag_off = 0; c->tag_n = 4)
EDIT(bad_tag_end, c->tag_off = 2; c->tag_n = 2)
EDIT(bad_tag_wrap, c->tag_off = 2; c->tag_n = UINT32_MAX)
EDIT(bad_tag_wrap2, c->tag_off = UINT32_MAX; c->tag_n = 2)
#undef EDIT

static void test_candidate_bounds(void **state)
{
    (void)state;
    static const struct {
        cand_edit edit;
        bool ok;
    } cases[] = {
        {ok_plain, 1},      {ok_ids, 1},        {bad_cand, 0},      {bad_cust, 0},
        {bad_camp, 0},      {ok_tmax, 1},       {bad_tmax, 0},      {bad_tneg, 0},
        {bad_tmin, 0},      {bad_floor, 0},     {ok_floor, 1},      {ok_big, 1},
        {ok_neg, 1},        {bad_inf, 0},       {bad_ninf, 0},      {bad_nan, 0},
        {ok_cat3, 1},       {bad_cat, 0},       {bad_cat255, 0},    {bad_ovr, 0},
        {bad_ovr128, 0},    {ok_utc_lo, 1},     {ok_utc_hi, 1},     {bad_utc_lo, 0},
        {bad_utc_hi, 0},    {bad_utc_max, 0},   {bad_utc_min, 0},   {ok_pref_hi, 1},
        {bad_pref_hi, 0},   {bad_pref_lo, 0},   {bad_pref_min, 0},  {ok_nch8, 1},       {bad_nch15, 0},
        {bad_nch0, 0},      {bad_nch16, 0},     {bad_nch255, 0},    {ok_ch7, 1},
        {bad_ch8, 0},       {bad_ch64, 0},      {bad_ch65, 0},      {bad_ch255, 0},
        {bad_dup, 0},       {bad_dup64, 0},     {ok_one, 1},        {ok_one7, 1},
        {bad_one8, 0},      {bad_one64, 0},     {ok_three, 1},      {bad_three8, 0},
        {bad_three_dup0, 0}, {bad_three_dup1, 0}, {bad_three_64, 0}, {ok_tags, 1},
        {ok_notags, 1},
        {bad_tag_off, 0},   {bad_tag_n, 0},     {bad_tag_end, 0},   {bad_tag_wrap, 0},
        {bad_tag_wrap2, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        crm_fcap *f = example_engine();
        assert_int_equal(crm_fcap_prune(f, T0 - 100), CRM_OK);
        rows r = {0};
        put_tags(&r, 7); /* tags 0, 1, 2: n_tags = 3 */
        /* the edited row second, after a valid one of another customer */
        cand(&r, 1, 1, T0, 1, CONTENT, 1, 1, CH(EMAIL));
        crm_fcap_candidate *c = cand(&r, 2, 2, T0, 1, CONTENT, 1, 1, CH(EMAIL, SMS));
        c->tag_off = 0;
        c->tag_n = 1;
        cases[k].edit(c);
        crm_fcap_decision d[2];
        crm_status s = crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d);
        if (cases[k].ok) {
            if (s != CRM_OK)
                fail_msg("case %zu: %s", k, crm_last_error());
        } else {
            if (s != CRM_EDATA)
                fail_msg("case %zu: status %d, want CRM_EDATA", k, (int)s);
            assert_non_null(strstr(crm_last_error(), "candidates[1]"));
            assert_int_equal(crm_fcap_events(f), 0);
        }
        crm_fcap_free(f);
    }
    /* fallback lists of 15 (the most) and 16 distinct channels, with 64
     * channels; the byte after the row is a free channel */
    crm_fcap_rules ru;
    example_rules(&ru);
    ru.n_channels = 64;
    crm_fcap *f;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_OK);
    for (unsigned nch = 15; nch <= 16; nch++) {
        rows r = {0};
        cand(&r, 1, 1, T0, 1, CONTENT, 1, 1, CH(EMAIL));
        crm_fcap_candidate *c = cand(&r, 2, 2, T0, 1, CONTENT, 1, 1, CH(EMAIL));
        c->n_channels = (uint8_t)nch;
        for (unsigned j = 0; j < 15; j++)
            c->channels[j] = (uint8_t)(40 + j);
        r.c[2].cand_id = 20;
        crm_fcap_decision d[2];
        assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d),
                         nch == 15 ? CRM_OK : CRM_EDATA);
    }
    crm_fcap_free(f);
}

static void test_errors(void **state)
{
    (void)state;
    crm_fcap_rules ru;
    assert_int_equal(crm_fcap_rules_init(NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_fcap_rules_init(&ru, 0), CRM_EVERSION);
    assert_int_equal(crm_fcap_rules_init(&ru, CRM_FCAP_RULES_VERSION + 1), CRM_EVERSION);
    crm_fcap *f = (crm_fcap *)1;
    assert_int_equal(crm_fcap_new(NULL, &ru), CRM_EINVAL);
    assert_int_equal(crm_fcap_new(&f, NULL), CRM_EINVAL);
    assert_null(f);
    example_rules(&ru);
    ru.version = 9;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_EVERSION);
    /* bad rules name the item */
    struct {
        void (*edit)(crm_fcap_rules *);
        const char *msg;
    } bad[] = {
        {NULL, NULL},
    };
    (void)bad;
    example_rules(&ru);
    ex_caps[2].window = -5;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_ERULE);
    assert_non_null(strstr(crm_last_error(), "caps[2].window"));
    example_rules(&ru);
    ex_caps[1].scope = 9;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_ERULE);
    example_rules(&ru);
    ex_caps[3].limit = -1;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_ERULE);
    example_rules(&ru);
    ex_caps[3].sliding = 1, ex_caps[3].window = CRM_FCAP_WINDOW_MONTH;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_ERULE);
    example_rules(&ru);
    ex_caps[4].key = 8; /* channel 8 of 8 */
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_ERULE);
    example_rules(&ru);
    ex_quiet[0].end = 86401;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_ERULE);
    assert_non_null(strstr(crm_last_error(), "quiet[0]"));
    example_rules(&ru);
    ru.sim_gap = 0;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_ERULE);
    example_rules(&ru);
    ru.n_channels = 65;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_ERULE);
    example_rules(&ru);
    ru.caps = NULL;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_EINVAL);

    f = example_engine();
    rows r = {0};
    hist(&r, 1, -1, EMAIL, 1, CONTENT, 0, -1, NOC);
    assert_int_equal(crm_fcap_add_history(f, r.ev, 1, r.tags, r.nt), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "events[0]"));
    r.ev[0].t = T0;
    r.ev[0].channel = 8;
    assert_int_equal(crm_fcap_add_history(f, r.ev, 1, r.tags, r.nt), CRM_EDATA);
    r.ev[0].channel = 0;
    r.ev[0].tag_n = 5;
    assert_int_equal(crm_fcap_add_history(f, r.ev, 1, r.tags, r.nt), CRM_EDATA);
    assert_int_equal(crm_fcap_add_history(NULL, r.ev, 1, r.tags, r.nt), CRM_EINVAL);
    assert_int_equal(crm_fcap_add_history(f, NULL, 1, NULL, 0), CRM_EINVAL);
    assert_int_equal(crm_fcap_events(f), 0);

    crm_fcap_decision d[4];
    cand(&r, 10, 1, T0, 1, CONTENT, 1, 1, CH(EMAIL, EMAIL));
    assert_int_equal(crm_fcap_decide(f, r.c, 1, r.tags, r.nt, d), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "candidates[0] (cand_id 10)"));
    assert_non_null(strstr(crm_last_error(), "repeated"));
    r.nc = 0;
    cand(&r, 11, 1, T0, 1, CONTENT, 1, 1, CH(EMAIL, 9));
    assert_int_equal(crm_fcap_decide(f, r.c, 1, r.tags, r.nt, d), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "not a channel"));
    r.nc = 0;
    cand(&r, 12, 1, T0, 1, CONTENT, 1, 1, CH(EMAIL));
    cand(&r, 13, 1, T0, 1, CONTENT, 1, 1, CH(SMS))->utc_offset_min = 60;
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "cand_id 13"));
    assert_non_null(strstr(crm_last_error(), "disagree"));
    r.c[1].utc_offset_min = 0;
    r.c[1].cand_id = 12;
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "already used"));
    r.c[1].cand_id = 13;
    r.c[1].value = NAN;
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_EDATA);
    r.c[1].value = 1;
    r.c[1].utc_offset_min = 900;
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_EDATA);
    r.c[1].utc_offset_min = 0;
    r.c[1].n_channels = 0;
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_EDATA);
    r.c[1].n_channels = 1;
    r.c[1].category = 4;
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_EDATA);
    r.c[1].category = 1;
    r.c[1].cand_id = UINT64_MAX;
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_EDATA);
    r.c[1].cand_id = 13;
    r.c[1].preferred = 8;
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_EDATA);
    r.c[1].preferred = -1;
    r.c[1].campaign_id = 2;
    assert_int_equal(crm_fcap_decide(NULL, r.c, 2, r.tags, r.nt, d), CRM_EINVAL);
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, NULL), CRM_EINVAL);
    assert_int_equal(crm_fcap_decide(f, NULL, 0, NULL, 0, NULL), CRM_OK);
    assert_int_equal(crm_fcap_events(f), 0); /* nothing recorded by failed calls */
    assert_int_equal(crm_fcap_decide(f, r.c, 2, r.tags, r.nt, d), CRM_OK);
    assert_int_equal(crm_fcap_events(f), 2);

    /* persistence argument errors */
    void *b;
    size_t n;
    assert_int_equal(crm_fcap_save(NULL, &b, &n), CRM_EINVAL);
    assert_int_equal(crm_fcap_save(f, NULL, &n), CRM_EINVAL);
    assert_int_equal(crm_fcap_save_range(f, 5, 4, &b, &n), CRM_EINVAL);
    crm_fcap *x;
    assert_int_equal(crm_fcap_load(&x, NULL, 0), CRM_EINVAL);
    assert_int_equal(crm_fcap_load(NULL, "x", 1), CRM_EINVAL);
    assert_int_equal(crm_fcap_load(&x, "CRMB", 4), CRM_ESTATE);
    assert_int_equal(crm_fcap_load_file(&x, "/nonexistent/dir/snap"), CRM_ESTATE);
    assert_non_null(strstr(crm_last_error(), "/nonexistent/dir/snap"));
    assert_int_equal(crm_fcap_save_file(f, "/nonexistent/dir/snap"), CRM_ESTATE);
    assert_int_equal(crm_fcap_save_file(NULL, "x"), CRM_EINVAL);
    assert_int_equal(crm_fcap_log_attach(f, "/nonexistent/dir/log", 0), CRM_ESTATE);
    assert_int_equal(crm_fcap_log_attach(NULL, "x", 0), CRM_EINVAL);
    assert_int_equal(crm_fcap_log_detach(NULL), CRM_EINVAL);
    assert_int_equal(crm_fcap_log_detach(f), CRM_OK);
    assert_int_equal(crm_fcap_replay(NULL, "", 0), CRM_EINVAL);
    assert_int_equal(crm_fcap_replay(f, "", 0), CRM_OK);
    assert_int_equal(crm_fcap_replay_file(f, "/nonexistent/log"), CRM_ESTATE);
    assert_int_equal(crm_fcap_prune(NULL, 0), CRM_EINVAL);
    assert_int_equal(crm_fcap_set_userdata(NULL, "", 0), CRM_EINVAL);
    assert_int_equal(crm_fcap_set_userdata(f, NULL, 3), CRM_EINVAL);
    assert_int_equal(crm_fcap_set_userdata(f, NULL, 0), CRM_OK);
    assert_null(crm_fcap_userdata(f, &n));
    assert_int_equal(n, 0);
    assert_int_equal(crm_fcap_events(NULL), 0);
    assert_int_equal(crm_fcap_customers(NULL), 0);
    assert_int_equal(crm_fcap_memory(NULL), 0);
    assert_true(crm_fcap_memory(f) > 0);
    assert_int_equal(crm_fcap_horizon(NULL), 0);
    assert_int_equal(crm_fcap_sequence(NULL), 0);
    crm_fcap_free(f);
    crm_fcap_free(NULL);
    assert_int_equal(crm_struct_size(CRM_STRUCT_FCAP_CANDIDATE), sizeof(crm_fcap_candidate));
    assert_int_equal(sizeof(crm_fcap_candidate), 88);
    assert_int_equal(sizeof(crm_fcap_event), 48);
    assert_int_equal(sizeof(crm_fcap_decision), 88);
    assert_int_equal(sizeof(crm_fcap_cap), 40);
    assert_int_equal(sizeof(crm_fcap_quiet), 24);
}

/* ---- blocks of sending customers --------------------------------------------------- */

/* A send extends its customer's stored block (old parts copied around the
 * new event's) unless it sorts before the block's last event. Several
 * decide calls on one engine against the reference fed the same calls, over
 * blocks of 0-70 events whose first event may lack a cand id or carry 15+
 * tags (the block's first cand id is found further on), ids of every
 * varint length up to 63 bits, sends that tie with or precede the last
 * stored event, several sends per customer, and blocks that grow past 127
 * bytes (a 2-byte length) or 127 hot bytes. Every state equals the same
 * events rebuilt canonically (by a prune that drops nothing, taken before
 * the calls on one engine and after them on the other) and loads back. */
static void test_send_blocks(void **state)
{
    (void)state;
    test_rng g = {5150};
    size_t sends = 0, ties = 0, multi = 0, nocust = 0;
    for (int round = 0; round < 150; round++) {
        workload w;
        memset(&w, 0, sizeof w);
        crm_fcap_rules *ru = &w.ru;
        crm_fcap_rules_init(ru, CRM_FCAP_RULES_VERSION);
        ru->n_channels = 4;
        /* caps that read the cold fields of stored sends: campaign, tag */
        w.caps[0] = (crm_fcap_cap){.scope = CRM_FCAP_SCOPE_CAMPAIGN, .key = CRM_FCAP_KEY_ANY,
                                   .limit = 2, .window = 86400, .sliding = 1,
                                   .channels = CRM_FCAP_ALL_CHANNELS, .categories = 0xF};
        w.caps[1] = (crm_fcap_cap){.scope = CRM_FCAP_SCOPE_TAG, .key = CRM_FCAP_KEY_ANY,
                                   .limit = 3, .window = 86400, .sliding = 1,
                                   .channels = CRM_FCAP_ALL_CHANNELS, .categories = 0xF};
        ru->caps = w.caps;
        ru->n_caps = test_rng_range(&g, 0, 1) ? 0 : (size_t)test_rng_range(&g, 1, 2);
        if (test_rng_range(&g, 0, 1)) {
            ru->sim_max = 3;
            ru->sim_gap = 600;
        }
        int64_t t1 = INT64_C(1717200000) + test_rng_range(&g, 0, 86399);
        size_t ncust = (size_t)test_rng_range(&g, 1, 6);
        uint64_t ids[6];
        for (size_t i = 0; i < ncust; i++)
            ids[i] = test_rng_range(&g, 0, 2) ? (uint64_t)i * 3 : test_rng_next(&g) >> 1;
        w.ev = calloc(ncust * 70 + 1, sizeof *w.ev);
        w.c = calloc(3 * ncust * 4 + 1, sizeof *w.c);
        w.tags = calloc((ncust * 70 + 3 * ncust * 4) * 20 + 1, sizeof *w.tags);
        static const int sizes[] = {0, 1, 2, 7, 14, 15, 16, 20, 24, 25, 26, 27, 28, 40, 60, 70};
        for (size_t i = 0; i < ncust; i++) {
            int nh = sizes[test_rng_range(&g, 0, 15)];
            nocust += nh == 0;
            for (int j = 0; j < nh; j++) {
                crm_fcap_event *e = &w.ev[w.nev++];
                e->customer_id = ids[i];
                /* the last one at t1 now and then (a send ties with it) */
                e->t = j == nh - 1 && test_rng_range(&g, 0, 2) == 0
                           ? t1 + test_rng_range(&g, 0, 1) * 100
                           : t1 - test_rng_range(&g, 1, 3 * 86400);
                e->campaign_id = test_rng_range(&g, 0, 2) ? (uint64_t)test_rng_range(&g, 0, 3)
                                                         : test_rng_next(&g) >> test_rng_range(&g, 1, 63);
                e->cand_id = test_rng_range(&g, 0, 2) == 0 ? CRM_FCAP_NO_CAND
                             : test_rng_range(&g, 0, 1) ? (uint64_t)test_rng_range(&g, 1000, 1100)
                                                        : test_rng_next(&g) >> test_rng_range(&g, 1, 63);
                e->channel = (uint8_t)test_rng_range(&g, 0, 3);
                e->category = (uint8_t)test_rng_range(&g, 0, 3);
                e->counts = (int8_t)test_rng_range(&g, -1, 1);
                e->tag_off = (uint32_t)w.nt;
                e->tag_n = test_rng_range(&g, 0, 2) == 0 ? 16 : (uint32_t)test_rng_range(&g, 0, 2);
                for (uint32_t k = 0; k < e->tag_n; k++)
                    w.tags[w.nt++] = e->tag_n == 16 ? k + 2 : (uint32_t)test_rng_range(&g, 0, 3);
            }
        }
        /* three calls: at t1, then at t1 or later */
        int64_t tc[3] = {t1, t1 + test_rng_range(&g, 0, 1) * test_rng_range(&g, 1, 7200), 0};
        tc[2] = tc[1] + test_rng_range(&g, 0, 1) * 86400;
        size_t cstart[4] = {0};
        uint64_t nextcand = 1;
        for (int call = 0; call < 3; call++) {
            cstart[call] = w.nc;
            for (size_t i = 0; i < ncust; i++) {
                int nk = (int)test_rng_range(&g, 0, 4);
                for (int j = 0; j < nk; j++) {
                    crm_fcap_candidate *c = &w.c[w.nc++];
                    c->cand_id = test_rng_range(&g, 0, 1)
                                     ? nextcand++
                                     : (test_rng_next(&g) >> test_rng_range(&g, 1, 20)) | 1;
                    c->customer_id = ids[i];
                    c->t = tc[call];
                    c->campaign_id = test_rng_range(&g, 0, 2)
                                         ? (uint64_t)test_rng_range(&g, 0, 3)
                                         : test_rng_next(&g) >> test_rng_range(&g, 1, 63);
                    c->category = (uint8_t)test_rng_range(&g, 0, 3);
                    c->priority = test_rng_range(&g, 0, 2);
                    c->value = (double)test_rng_range(&g, 0, 9);
                    c->consent = CRM_FCAP_ALL_CHANNELS;
                    c->preferred = -1;
                    c->n_channels = 2;
                    c->channels[0] = (uint8_t)test_rng_range(&g, 0, 1);
                    c->channels[1] = (uint8_t)test_rng_range(&g, 2, 3);
                    c->tag_off = (uint32_t)w.nt;
                    c->tag_n = test_rng_range(&g, 0, 5) == 0 ? 17 : (uint32_t)test_rng_range(&g, 0, 2);
                    for (uint32_t k = 0; k < c->tag_n; k++)
                        w.tags[w.nt++] = c->tag_n == 17 ? 19 - k : (uint32_t)test_rng_range(&g, 0, 3);
                }
            }
        }
        cstart[3] = w.nc;
        int64_t tmin = t1; /* the prunes drop events e <= tmin - 1 - horizon: none */
        for (size_t i = 0; i < w.nev; i++)
            tmin = w.ev[i].t < tmin ? w.ev[i].t : tmin;
        tmin--;
        /* a: pruned (nothing to drop) before the calls; b: after them */
        crm_fcap *a, *b;
        assert_int_equal(crm_fcap_new(&a, ru), CRM_OK);
        assert_int_equal(crm_fcap_new(&b, ru), CRM_OK);
        assert_int_equal(crm_fcap_add_history(a, w.ev, w.nev, w.tags, w.nt), CRM_OK);
        assert_int_equal(crm_fcap_add_history(b, w.ev, w.nev, w.tags, w.nt), CRM_OK);
        assert_int_equal(crm_fcap_prune(a, tmin), CRM_OK);
        xworld x = {.ru = ru};
        x_add_history(&x, w.ev, w.nev, w.tags);
        for (int call = 0; call < 3; call++) {
            size_t n = cstart[call + 1] - cstart[call];
            const crm_fcap_candidate *c = w.c + cstart[call];
            crm_fcap_decision *da = calloc(n + 1, sizeof *da), *db = calloc(n + 1, sizeof *db),
                              *want = calloc(n + 1, sizeof *want);
            assert_int_equal(crm_fcap_decide(a, c, n, w.tags, w.nt, da), CRM_OK);
            assert_int_equal(crm_fcap_decide(b, c, n, w.tags, w.nt, db), CRM_OK);
            x_decide(&x, c, n, w.tags, want);
            for (size_t i = 0; i < n; i++) {
                char what[64];
                snprintf(what, sizeof what, "send blocks round %d call %d", round, call);
                assert_same_decision(&da[i], &want[i], what, i);
                assert_same_decision(&db[i], &want[i], what, i);
                sends += da[i].send;
                size_t same = 0;
                for (size_t j = 0; j < n; j++)
                    same += da[j].send && c[j].customer_id == c[i].customer_id;
                multi += da[i].send && same > 1;
                for (size_t j = 0; j < w.nev; j++)
                    ties += da[i].send && w.ev[j].customer_id == c[i].customer_id &&
                            w.ev[j].t == c[i].t;
            }
            free(da);
            free(db);
            free(want);
        }
        assert_int_equal(crm_fcap_prune(b, tmin), CRM_OK);
        assert_same_state(a, b);
        assert_reloads_same(a);
        crm_fcap_free(a);
        crm_fcap_free(b);
        free(x.ev);
        free_workload(&w);
    }
    assert_true(sends > 500 && ties > 20 && multi > 50 && nocust > 10);
}

/* Blocks moved by sends leave their old regions to the pool's compaction:
 * many calls that each extend every customer's block keep the engine's
 * memory within a small factor of a fresh copy's. */
static void test_send_pool_reuse(void **state)
{
    (void)state;
    enum { NCUST = 200, PER = 4, CALLS = 50 };
    crm_fcap_rules ru;
    crm_fcap_rules_init(&ru, CRM_FCAP_RULES_VERSION);
    ru.n_channels = 2;
    static crm_fcap_event ev[NCUST * PER];
    static crm_fcap_candidate c[NCUST];
    static const uint32_t tags[] = {1, 2};
    for (size_t i = 0; i < NCUST * PER; i++) {
        ev[i] = (crm_fcap_event){.customer_id = i / PER, .t = T0 - 86400 + (int64_t)(i % PER),
                                 .campaign_id = i % 7, .cand_id = 100000 + i, .tag_n = 1};
    }
    crm_fcap *f;
    assert_int_equal(crm_fcap_new(&f, &ru), CRM_OK);
    assert_int_equal(crm_fcap_add_history(f, ev, NCUST * PER, tags, 2), CRM_OK);
    crm_fcap_decision d[NCUST];
    for (int k = 0; k < CALLS; k++) {
        for (size_t i = 0; i < NCUST; i++)
            c[i] = (crm_fcap_candidate){.cand_id = (uint64_t)k * NCUST + i, .customer_id = i,
                                        .t = T0 + k, .campaign_id = (uint64_t)k,
                                        .consent = CRM_FCAP_ALL_CHANNELS, .preferred = -1,
                                        .n_channels = 1, .tag_off = 1, .tag_n = 1};
        assert_int_equal(crm_fcap_decide(f, c, NCUST, tags, 2, d), CRM_OK);
        for (size_t i = 0; i < NCUST; i++)
            assert_int_equal(d[i].send, 1);
    }
    assert_int_equal(crm_fcap_events(f), NCUST * (PER + CALLS));
    void *s;
    size_t ns;
    snap_of(f, &s, &ns);
    crm_fcap *fresh;
    assert_int_equal(crm_fcap_load(&fresh, s, ns), CRM_OK);
    size_t live = crm_fcap_memory(fresh), used = crm_fcap_memory(f);
    if (used > 4 * live)
        fail_msg("engine memory %zu after %d calls, %zu freshly loaded", used, CALLS, live);
    crm_bytes_free(s);
    crm_fcap_free(fresh);
    crm_fcap_free(f);
}

/* ---- OOM ------------------------------------------------------------------------------- */

static workload *oom_w;

static crm_status oom_call(void *ctx)
{
    (void)ctx;
    workload *w = oom_w;
    crm_fcap *f = NULL, *g = NULL;
    void *s0 = NULL, *s1 = NULL;
    size_t n0 = 0, n1 = 0;
    crm_fcap_decision d[40];
    crm_status s = crm_fcap_new(&f, &w->ru);
    if (s)
        return s;
    if ((s = crm_fcap_add_history(f, w->ev, w->nev, w->tags, w->nt)) ||
        (s = crm_fcap_save(f, &s0, &n0)))
        goto out;
    s = crm_fcap_decide(f, w->c, w->nc, w->tags, w->nt, d);
    if (s) {
        /* the failed decide left the state as it was */
        crm_status s2 = crm_fcap_save(f, &s1, &n1);
        if (!s2 && (n1 != n0 || memcmp(s0, s1, n0) != 0))
            fail_msg("a failed decide changed the engine");
        goto out;
    }
    if ((s = crm_fcap_prune(f, w->c[0].t)) || (s = crm_fcap_save(f, &s1, &n1)) ||
        (s = crm_fcap_load(&g, s1, n1)))
        goto out;
out:
    crm_fcap_free(f);
    crm_fcap_free(g);
    crm_bytes_free(s0);
    crm_bytes_free(s1);
    return s;
}

static void test_oom(void **state)
{
    (void)state;
    test_rng g = {31337};
    workload w;
    gen_workload(&g, &w, 4, 20, 20);
    oom_w = &w;
    assert_true(oom_sweep(oom_call, NULL) > 10);
    free_workload(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_already_sent),
        cmocka_unit_test(test_already_sent_after_load_and_prune),
        cmocka_unit_test(test_no_consent),
        cmocka_unit_test(test_quiet_hours),
        cmocka_unit_test(test_cap_sliding),
        cmocka_unit_test(test_cap_tag_any),
        cmocka_unit_test(test_cap_calendar_day),
        cmocka_unit_test(test_cap_month),
        cmocka_unit_test(test_simultaneous),
        cmocka_unit_test(test_outranked),
        cmocka_unit_test(test_batch_split_calls),
        cmocka_unit_test(test_override_service_preferred),
        cmocka_unit_test(test_limit_zero_and_retry_min),
        cmocka_unit_test(test_reference_random),
        cmocka_unit_test(test_reference_gaps),
        cmocka_unit_test(test_reference_decoders),
        cmocka_unit_test(test_reference_wide_and_future),
        cmocka_unit_test(test_reference_many_quiet),
        cmocka_unit_test(test_order_and_batches),
        cmocka_unit_test(test_singletons_any_order),
        cmocka_unit_test(test_retry_lower_bound),
        cmocka_unit_test(test_snapshot_and_log),
        cmocka_unit_test(test_corruption_every_byte),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_store_growth),
        cmocka_unit_test(test_id_layouts),
        cmocka_unit_test(test_pool_extension),
        cmocka_unit_test(test_send_blocks),
        cmocka_unit_test(test_send_pool_reuse),
        cmocka_unit_test(test_snapshot_versions),
        cmocka_unit_test(test_block_forms),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_candidate_bounds),
        cmocka_unit_test(test_oom),
    };
    int rc = cmocka_run_group_tests_name("fcap", tests, NULL, NULL);
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            rc |= 0;
    }
    return rc;
}
