/*
 * pos_messages: a loyalty back office asking, at checkout, which message it
 * may send now and on which channel.
 *
 * The till scans a loyalty card; the back office has a few candidate
 * messages for that customer (the receipt, a points update, a coupon for
 * the next visit, a review request) and asks the frequency-cap engine. The
 * engine state survives restarts: a snapshot file plus an append-only
 * decision log, replayed at start-up (crash-safe, byte-exact).
 *
 * usage: pos_messages [STATE_DIR]   (default: a temporary directory)
 * Simulates three checkouts of customer 7000010471 (UTC+3) and one of
 * customer 7000010472 who only consented to SMS; restarts the back office
 * between the second and the third checkout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcap_example_rules.h"

typedef struct message {
    const char *what;
    uint8_t category;
    int64_t priority;
    uint64_t campaign;
    uint8_t channels[3];
    uint8_t n;
} message;

static const message MENU[] = {
    {"e-receipt", CRM_FCAP_SERVICE, 9, 1, {CH_EMAIL, CH_SMS}, 2},
    {"points balance", CRM_FCAP_CONTENT, 3, 2, {CH_PUSH, CH_EMAIL}, 2},
    {"coupon -10% next visit", CRM_FCAP_PROMO, 5, 3, {CH_PUSH, CH_SMS, CH_TELEGRAM}, 3},
    {"review request", CRM_FCAP_TRIGGER, 1, 4, {CH_EMAIL}, 1},
};
#define N_MENU (sizeof MENU / sizeof MENU[0])

static uint64_t next_cand = 1;

static int checkout(crm_fcap *f, uint64_t customer, int32_t utc_offset_min, uint64_t consent,
                    int64_t t, const char *label)
{
    crm_fcap_candidate c[N_MENU];
    crm_fcap_decision d[N_MENU];
    memset(c, 0, sizeof c);
    for (size_t i = 0; i < N_MENU; i++) {
        c[i].cand_id = next_cand++;
        c[i].customer_id = customer;
        c[i].t = t;
        c[i].campaign_id = MENU[i].campaign;
        c[i].category = MENU[i].category;
        c[i].priority = MENU[i].priority;
        c[i].value = 1.0;
        c[i].consent = consent;
        c[i].preferred = CH_PUSH;
        c[i].utc_offset_min = utc_offset_min;
        c[i].n_channels = MENU[i].n;
        memcpy(c[i].channels, MENU[i].channels, MENU[i].n);
    }
    if (crm_fcap_decide(f, c, N_MENU, NULL, 0, d) != CRM_OK) {
        fprintf(stderr, "pos_messages: %s\n", crm_last_error());
        return 1;
    }
    int64_t local = ((t + 60 * (int64_t)utc_offset_min) % 86400 + 86400) % 86400;
    printf("%s: customer %llu at %02lld:%02lld local\n", label, (unsigned long long)customer,
           (long long)(local / 3600), (long long)(local / 60 % 60));
    for (size_t i = 0; i < N_MENU; i++) {
        char rb[48];
        if (d[i].send) {
            printf("  send   %-24s on %s\n", MENU[i].what, FCAP_CHANNEL[d[i].channel]);
        } else {
            printf("  refuse %-24s %s", MENU[i].what, fcap_reason_name(d[i].reason, d[i].reason_arg, rb));
            if (d[i].retry_at != CRM_FCAP_NEVER)
                printf(", not before +%lld min", (long long)((d[i].retry_at - t + 59) / 60));
            putchar('\n');
        }
    }
    return 0;
}

/* Start the back office: the snapshot (if any) plus its decision log. */
static crm_fcap *start(const char *snap, const char *log)
{
    crm_fcap *f = NULL;
    if (access(snap, F_OK) == 0) {
        if (crm_fcap_load_file(&f, snap) != CRM_OK ||
            (access(log, F_OK) == 0 && crm_fcap_replay_file(f, log) != CRM_OK)) {
            fprintf(stderr, "pos_messages: %s\n", crm_last_error());
            exit(1);
        }
    } else if (fcap_example_engine(&f) != CRM_OK || crm_fcap_save_file(f, snap) != CRM_OK) {
        fprintf(stderr, "pos_messages: %s\n", crm_last_error());
        exit(1);
    }
    if (crm_fcap_log_attach(f, log, 1) != CRM_OK) {
        fprintf(stderr, "pos_messages: %s\n", crm_last_error());
        exit(1);
    }
    return f;
}

int main(int argc, char **argv)
{
    char dir[256], snap[320], log[320];
    if (argc > 1) {
        snprintf(dir, sizeof dir, "%s", argv[1]);
    } else {
        snprintf(dir, sizeof dir, "/tmp/pos_messages.XXXXXX");
        if (!mkdtemp(dir)) {
            perror("pos_messages");
            return 1;
        }
    }
    snprintf(snap, sizeof snap, "%s/caps.snap", dir);
    snprintf(log, sizeof log, "%s/caps.log", dir);
    const int64_t day = INT64_C(1717372800); /* Monday 2024-06-03 00:00 UTC */
    crm_fcap *f = start(snap, log);
    int rc = 0;
    rc |= checkout(f, 7000010471u, 180, CRM_FCAP_ALL_CHANNELS, day + 8 * 3600, "checkout 1");
    rc |= checkout(f, 7000010471u, 180, CRM_FCAP_ALL_CHANNELS, day + 8 * 3600 + 40 * 60,
                   "checkout 2");
    rc |= checkout(f, 7000010472u, 0, 1u << CH_SMS, day + 10 * 3600, "checkout 3");
    /* the back office restarts: state comes back from the snapshot + log */
    uint64_t seq = crm_fcap_sequence(f);
    crm_fcap_free(f);
    f = start(snap, log);
    printf("restarted: %zu customers, %zu events restored (sequence %llu == %llu)\n",
           crm_fcap_customers(f), crm_fcap_events(f), (unsigned long long)crm_fcap_sequence(f),
           (unsigned long long)seq);
    rc |= crm_fcap_sequence(f) != seq;
    rc |= checkout(f, 7000010471u, 180, CRM_FCAP_ALL_CHANNELS, day + 19 * 3600, "checkout 4");
    /* nightly: a fresh snapshot, then the log starts over */
    if (crm_fcap_log_detach(f) != CRM_OK || crm_fcap_save_file(f, snap) != CRM_OK ||
        unlink(log) != 0)
        rc = 1;
    crm_fcap_free(f);
    if (argc <= 1) {
        unlink(snap);
        rmdir(dir);
    }
    return rc;
}
