/* crm-demo section "caps": one day of candidate messages for the sample
 * customers through the frequency-cap engine with the example rules of
 * specs/fcap.md, sent vs refused by reason and sends by channel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_sections.h"
#include "fcap_example_rules.h"

static uint64_t mix(uint64_t x)
{
    x += UINT64_C(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

int demo_fcap(const demo_input *in)
{
    size_t nc = crm_profiles_count(in->profiles);
    if (nc > 2000)
        nc = 2000;
    const uint64_t *ids = crm_profiles_customer_id(in->profiles);
    const int64_t day = (in->asof + 1) * 86400; /* the day after the snapshot */
    static const int32_t offsets[] = {0, 180, 330, -300};
    static const int hours[] = {7, 10, 13, 19, 22}; /* UTC */
    static const uint32_t tags[] = {0, 1};          /* sender:shop, sender:partner */
    crm_fcap *f = NULL;
    crm_fcap_event *ev = calloc(nc * 4 + 1, sizeof *ev);
    crm_fcap_candidate *c = calloc(nc * 10 + 1, sizeof *c);
    crm_fcap_decision *d = calloc(nc * 10 + 1, sizeof *d);
    if (!ev || !c || !d || fcap_example_engine(&f) != CRM_OK) {
        fprintf(stderr, "caps: %s\n", f ? "out of memory" : crm_last_error());
        free(ev);
        free(c);
        free(d);
        crm_fcap_free(f);
        return 1;
    }
    size_t nev = 0, n = 0;
    for (size_t i = 0; i < nc; i++) {
        uint64_t h = mix(ids[i]);
        for (unsigned k = 0; k < (h & 3); k++) { /* 0-3 sends in the last 6 days */
            uint64_t r = mix(h + k);
            ev[nev++] = (crm_fcap_event){.customer_id = ids[i],
                                         .t = day - 3600 - (int64_t)(r % (6 * 86400)),
                                         .campaign_id = r >> 40 & 7, .cand_id = CRM_FCAP_NO_CAND,
                                         .tag_off = (uint32_t)(r >> 20 & 1), .tag_n = 1,
                                         .channel = (uint8_t)(r >> 8 & 3),
                                         .category = (uint8_t)(r >> 12 & 1), .counts = -1};
        }
        for (unsigned b = 0; b < 5; b++) {
            for (unsigned k = 0; k < 1 + (mix(h + 100 + b) & 1); k++) {
                uint64_t r = mix(h * 31 + b * 7 + k);
                crm_fcap_candidate *x = &c[n];
                x->cand_id = n + 1;
                x->customer_id = ids[i];
                x->t = day + hours[b] * 3600;
                x->campaign_id = 10 + (r & 7);
                x->category = (uint8_t)(r >> 4 & 3);
                x->priority = (int64_t)(r >> 8 & 3);
                x->value = (double)(r >> 12 & 255) / 10.0;
                x->consent = (h >> 8) % 5 ? CRM_FCAP_ALL_CHANNELS
                                          : (1u << CH_EMAIL) | (1u << CH_SMS);
                x->preferred = (h >> 16) % 3 ? -1 : CH_TELEGRAM;
                x->utc_offset_min = offsets[h >> 24 & 3];
                x->n_channels = 2;
                x->channels[0] = (uint8_t)(r >> 20 & 1 ? CH_PUSH : CH_EMAIL);
                x->channels[1] = (uint8_t)(r >> 21 & 1 ? CH_SMS : CH_TELEGRAM);
                x->tag_off = (uint32_t)(r >> 22 & 1);
                x->tag_n = 1;
                n++;
            }
        }
    }
    if (crm_fcap_add_history(f, ev, nev, tags, 2) != CRM_OK ||
        crm_fcap_decide(f, c, n, tags, 2, d) != CRM_OK) {
        fprintf(stderr, "caps: %s\n", crm_last_error());
        crm_fcap_free(f);
        free(ev);
        free(c);
        free(d);
        return 1;
    }
    /* tally: sends per channel, refusals per reason of the first channel */
    size_t sent = 0, by_channel[8] = {0}, retry = 0;
    char names[16][48];
    size_t counts[16] = {0}, nr = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i].send) {
            sent++;
            by_channel[d[i].channel]++;
            continue;
        }
        retry += d[i].retry_at != CRM_FCAP_NEVER;
        char rb[48];
        const char *name = fcap_reason_name(d[i].reason, d[i].reason_arg, rb);
        size_t k = 0;
        while (k < nr && strcmp(names[k], name))
            k++;
        if (k == nr && nr < 16)
            snprintf(names[nr++], sizeof names[0], "%s", name);
        if (k < 16)
            counts[k]++;
    }
    printf("== Frequency caps: one day of messages (example rules of specs/fcap.md) ==\n");
    printf("%zu customers, %zu past sends, %zu candidate messages in 5 batches\n", nc, nev, n);
    printf("sent %zu (%.1f%%):", sent, n ? 100.0 * (double)sent / (double)n : 0.0);
    for (int ch = 0; ch < 8; ch++)
        if (by_channel[ch])
            printf(" %s %zu", FCAP_CHANNEL[ch], by_channel[ch]);
    printf("\nrefused %zu (%zu with a retry time):\n", n - sent, retry);
    for (size_t k = 0; k < nr; k++)
        printf("  %-28s %6zu\n", names[k], counts[k]);
    printf("engine: %zu customers, %zu live events, %zu bytes\n\n", crm_fcap_customers(f),
           crm_fcap_events(f), crm_fcap_memory(f));
    crm_fcap_free(f);
    free(ev);
    free(c);
    free(d);
    return 0;
}
