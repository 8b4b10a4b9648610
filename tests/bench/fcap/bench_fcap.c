/*
 * Frequency-cap engine benchmark with the example rules of specs/fcap.md.
 * State: CUSTOMERS customers with EVENTS live events each (history over the
 * last week, counted, with tags, campaigns and cand ids), pruned. Then one
 * decide call of one candidate per customer (two fallback channels) at one
 * time t, with the candidates sorted by customer or shuffled.
 * Reports: ns per decision (best and median of 5, each on a freshly loaded
 * copy of the state: on a shared host the best alone hides slow periods),
 * first on memory fresh from the kernel, then on memory the process
 * recycles, with the page faults of each call (bench_touch prices one on
 * this host); ns per history event, engine bytes per customer
 * (crm_fcap_memory) before and after the decide and the peak RSS the state
 * adds, snapshot save / load time and size.
 * usage: bench_fcap CUSTOMERS [EVENTS] [shuffle]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "benchutil.h"
#include "crm/crm.h"

static uint64_t rng_state = 12345;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* CPU seconds of this process: on a shared machine wall time also counts
 * other processes' turns, so both are reported. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Minor page faults of this process so far (-1: unknown). */
static long minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_minflt;
}

static crm_fcap *example_engine(void)
{
    static crm_fcap_cap caps[5];
    static crm_fcap_quiet quiet[1];
    crm_fcap_rules r;
    crm_fcap_rules_init(&r, CRM_FCAP_RULES_VERSION);
    crm_fcap_cap b = {.channels = CRM_FCAP_ALL_CHANNELS, .categories = CRM_FCAP_ALL_CATEGORIES,
                      .key = CRM_FCAP_KEY_ANY};
    for (int i = 0; i < 5; i++)
        caps[i] = b;
    caps[0].limit = 6, caps[0].sliding = 1, caps[0].window = 604800;
    caps[1].scope = CRM_FCAP_SCOPE_TAG, caps[1].limit = 4, caps[1].sliding = 1,
    caps[1].window = 604800, caps[1].channels = 1;
    caps[2].scope = CRM_FCAP_SCOPE_CATEGORY, caps[2].key = CRM_FCAP_PROMO, caps[2].limit = 1,
    caps[2].window = 86400;
    caps[3].scope = CRM_FCAP_SCOPE_CAMPAIGN, caps[3].limit = 1, caps[3].sliding = 1,
    caps[3].window = 604800;
    caps[4].scope = CRM_FCAP_SCOPE_CHANNEL, caps[4].key = 7, caps[4].limit = 1,
    caps[4].window = CRM_FCAP_WINDOW_MONTH;
    quiet[0] = (crm_fcap_quiet){.start = 75600, .end = 32400, .channels = CRM_FCAP_ALL_CHANNELS,
                                .categories = 7};
    r.caps = caps;
    r.n_caps = 5;
    r.quiet = quiet;
    r.n_quiet = 1;
    r.sim_gap = 3600;
    r.sim_max = 2;
    r.prefer_preferred = 1;
    crm_fcap *f = NULL;
    if (crm_fcap_new(&f, &r) != CRM_OK) {
        fprintf(stderr, "%s\n", crm_last_error());
        exit(1);
    }
    return f;
}

#define CHECK(x) \
    do { \
        if ((x) != CRM_OK) { \
            fprintf(stderr, "%s: %s\n", #x, crm_last_error()); \
            exit(1); \
        } \
    } while (0)

/* REPS decide calls of the batch c[0..nc), each on a freshly loaded copy
 * of the snapshot; reports the best and the median rep, its CPU time and
 * the page faults a decide call takes (first touches of memory new to the
 * process: on some virtual machines each costs microseconds). */
enum { REPS = 5 };
static void decide_reps(const void *snap, size_t slen, const crm_fcap_candidate *c, size_t nc,
                        const uint32_t *tags, crm_fcap_decision *d, const char *order,
                        const char *memory)
{
    double best = 1e30, best_cpu = 1e30, walls[REPS];
    long faults[REPS];
    size_t sent = 0, mem_after = 0, custs = 0;
    for (int rep = 0; rep < REPS; rep++) {
        crm_fcap *f;
        CHECK(crm_fcap_load(&f, snap, slen));
        long fl0 = minor_faults();
        double t0 = bench_now(), c0 = cpu_now();
        CHECK(crm_fcap_decide(f, c, nc, tags, 3, d));
        double dt = bench_now() - t0, dc = cpu_now() - c0;
        faults[rep] = minor_faults() - fl0;
        walls[rep] = dt;
        if (dt < best)
            best = dt;
        if (dc < best_cpu)
            best_cpu = dc;
        sent = 0;
        for (size_t i = 0; i < nc; i++)
            sent += d[i].send;
        mem_after = crm_fcap_memory(f);
        custs = crm_fcap_customers(f);
        crm_fcap_free(f);
    }
    char name[200];
    snprintf(name, sizeof name, "fcap decide %zu candidates (%s, %s), %zu sent", nc, order,
             memory, sent);
    bench_report(name, "decision", best, nc, -1, 0, "customer");
    printf("fcap decide (%s): %.2f M decisions/s wall, %.2f M decisions/s of CPU time (%.0f ns)\n",
           memory, (double)nc / best / 1e6, (double)nc / best_cpu / 1e6,
           best_cpu / (double)nc * 1e9);
    for (int i = 1; i < REPS; i++) /* (insertion sort of the walls) */
        for (int j = i; j > 0 && walls[j] < walls[j - 1]; j--) {
            double w = walls[j];
            walls[j] = walls[j - 1];
            walls[j - 1] = w;
        }
    printf("fcap decide (%s): median of %d: %.1f ns/decision (%.2f M decisions/s); page "
           "faults per call:", memory, REPS, walls[REPS / 2] / (double)nc * 1e9,
           (double)nc / walls[REPS / 2] / 1e6);
    for (int i = 0; i < REPS; i++)
        printf(" %ld", faults[i]);
    printf("\nfcap state after the decide: %zu B engine memory = %.1f B/customer\n", mem_after,
           (double)mem_after / (double)custs);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: bench_fcap CUSTOMERS [EVENTS] [shuffle]\n", stderr);
        return 2;
    }
    size_t nc = (size_t)atof(argv[1]);
    unsigned per = argc > 2 ? (unsigned)atoi(argv[2]) : 7;
    int shuffle = argc > 3 && !strcmp(argv[3], "shuffle");
    const int64_t t = INT64_C(1717416000); /* 2024-06-03 12:00 UTC */
    static const uint32_t tags[] = {1, 2, 3};

    /* history: `per` events per customer within the last week */
    size_t nev = nc * per;
    crm_fcap_event *ev = calloc(nev, sizeof *ev);
    crm_fcap_candidate *c = calloc(nc, sizeof *c);
    crm_fcap_decision *d = calloc(nc, sizeof *d);
    if (!ev || !c || !d)
        return 1;
    memset(d, 0xff, nc * sizeof *d); /* the caller's rows: touched, as a host reusing them has */
    for (size_t i = 0; i < nev; i++) {
        crm_fcap_event *e = &ev[i];
        e->customer_id = 1000 + 3 * (i / per);
        e->t = t - 3600 - (int64_t)(rnd() % (6 * 86400));
        e->campaign_id = rnd() % 50;
        e->cand_id = UINT64_C(1) << 40 | i;
        e->channel = (uint8_t)(rnd() % 7);
        e->category = (uint8_t)(rnd() % 3);
        e->counts = -1;
        e->tag_off = (uint32_t)(rnd() % 3);
        e->tag_n = 1;
    }
    crm_fcap *f = example_engine();
    bench_peak_reset();
    double t0 = bench_now();
    CHECK(crm_fcap_add_history(f, ev, nev, tags, 3));
    double t_hist = bench_now() - t0;
    CHECK(crm_fcap_prune(f, t - 3600));
    long peak = bench_peak_added();
    size_t mem = crm_fcap_memory(f), custs = crm_fcap_customers(f);
    char name[160];
    snprintf(name, sizeof name, "fcap history add, %zu customers x %u events", nc, per);
    bench_report(name, "event", t_hist, nev, peak, custs, "customer");
    printf("fcap state: %zu customers, %zu events, %zu B engine memory = %.1f B/customer "
           "(%.1f B/event)\n", custs, crm_fcap_events(f), mem, (double)mem / (double)custs,
           (double)mem / (double)crm_fcap_events(f));

    void *snap;
    size_t slen;
    t0 = bench_now();
    double c0 = cpu_now();
    CHECK(crm_fcap_save(f, &snap, &slen));
    double t_save = bench_now() - t0, c_save = cpu_now() - c0;
    crm_fcap_free(f);
    t0 = bench_now();
    c0 = cpu_now();
    CHECK(crm_fcap_load(&f, snap, slen));
    double t_load = bench_now() - t0, c_load = cpu_now() - c0;
    crm_fcap_free(f);
    printf("fcap snapshot of %zu customers: save %.1f ms (CPU %.1f ms), load %.1f ms (CPU %.1f "
           "ms), %.1f MB (%.1f B/customer)\n", custs, t_save * 1e3, c_save * 1e3, t_load * 1e3,
           c_load * 1e3, (double)slen / 1e6, (double)slen / (double)custs);

    /* candidates: one per customer, two channels, mixed categories */
    for (size_t i = 0; i < nc; i++) {
        crm_fcap_candidate *k = &c[i];
        k->cand_id = i;
        k->customer_id = 1000 + 3 * i;
        k->t = t;
        k->campaign_id = rnd() % 50;
        k->category = (uint8_t)(rnd() % 4);
        k->priority = (int64_t)(rnd() % 3);
        k->value = (double)(rnd() % 100) / 10.0;
        k->consent = CRM_FCAP_ALL_CHANNELS;
        k->preferred = -1;
        k->utc_offset_min = 180;
        k->n_channels = 2;
        k->channels[0] = 0;
        k->channels[1] = (uint8_t)(1 + rnd() % 6);
        k->tag_off = (uint32_t)(rnd() % 3);
        k->tag_n = 1;
    }
    if (shuffle)
        for (size_t i = nc; i > 1; i--) {
            size_t j = rnd() % i;
            crm_fcap_candidate x = c[i - 1];
            c[i - 1] = c[j];
            c[j] = x;
        }
    /* first on memory fresh from the kernel (the library's default
     * malloc hands large blocks back to it when freed), then on memory
     * the process recycles */
    const char *order = shuffle ? "random order" : "sorted by customer";
    decide_reps(snap, slen, c, nc, tags, d, order, "fresh memory");
#ifdef M_MMAP_THRESHOLD
    /* glibc keeps freed blocks in its heap (as a long-running host's
     * allocator does): later reps reuse the pages earlier reps touched */
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    decide_reps(snap, slen, c, nc, tags, d, order, "recycled memory");
#endif
    crm_bytes_free(snap);
    free(ev);
    free(c);
    free(d);
    return 0;
}
