/*
 * Fuzz target: the rule-language parser and evaluator (crm_segment_*).
 *
 * Input layout:
 *   byte 0      flags: low 3 bits pick max_depth (1, 2, 3, 4, 8, 16, 64, 998),
 *               bit 3 compiles against the environment (else checks at eval)
 *   bytes 1..   the expression text (exactly these bytes, not NUL-terminated)
 *
 * Environment: 300 customers with columns of every numeric type
 * (i8 a, u8 r, i16 s, u16 f, i32 recency_days, u32 frequency, i64 monetary,
 * u64 customer_id, f64 gap_avg with NaNs) and two categorical columns
 * (rfm_segment, stage: repeated names, null codes).
 *
 * Checks (any violation aborts):
 *   - compile returns CRM_OK or CRM_ERULE (never anything else, never a
 *     crash); on CRM_ERULE the error offset lies in [0, len] and the message
 *     names it; on CRM_OK the offset is SIZE_MAX;
 *   - evaluation succeeds or (names unknown) fails with CRM_ERULE, and then
 *     compiling against the environment fails too (and vice versa);
 *   - bits past the last customer are zero; the words past the bitset are
 *     untouched;
 *   - `not (E)` compiles with two more levels of depth and is the complement;
 *     `(E) and (E)` equals E; `(E) or not (E)` is everyone;
 *   - stats of {E, not E}: sizes c and n - c, overlap 0, and they survive
 *     serialise / load / merge.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME "fuzz_segment"
#include "fuzz_check.h"

#define N 300
#define WORDS ((N + 63) / 64)

static int8_t col_a[N];
static uint8_t col_r[N];
static int16_t col_s[N];
static uint16_t col_f[N];
static int32_t col_rec[N];
static uint32_t col_freq[N];
static int64_t col_mon[N];
static uint64_t col_id[N];
static double col_gap[N];
static uint32_t col_seg[N], col_stage[N];
static crm_segment_env *env;

static uint64_t rng(uint64_t *s)
{
    uint64_t x = (*s += UINT64_C(0x9E3779B97F4A7C15));
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

static void setup(void)
{
    static const char *const segs[] = {"champions", "loyal_customers", "at_risk",
                                       "hibernating", "champions"};
    static const char *const stages[] = {"lead", "new", "active", "loyal", "at_risk",
                                         "churned", "reactivated", "churned_new"};
    uint64_t s = 42;
    for (int i = 0; i < N; i++) {
        uint64_t x = rng(&s);
        col_a[i] = (int8_t)x;
        col_r[i] = (uint8_t)(1 + x % 5);
        col_s[i] = (int16_t)(x >> 8);
        col_f[i] = (uint16_t)(x >> 24);
        col_rec[i] = (int32_t)((x >> 3) % 400) - (i == 7 ? 1000000 : 0);
        col_freq[i] = (uint32_t)(1 + (x >> 11) % 12) + (i == 9 ? 4000000000u : 0);
        col_mon[i] = (int64_t)(rng(&s) % 2000001) - 1000 + (i == 3 ? INT64_MIN / 2 : 0);
        col_id[i] = rng(&s) | (i % 2 ? UINT64_C(1) << 63 : 0);
        col_gap[i] = i % 5 == 0 ? NAN : (double)((x >> 17) % 1000) / 8.0;
        col_seg[i] = (uint32_t)((x >> 40) % 6);    /* 5 = null */
        col_stage[i] = (uint32_t)((x >> 44) % 9);  /* 8 = null */
    }
    CHECK(crm_segment_env_new(&env, N) == CRM_OK, "%s", crm_last_error());
    CHECK(!crm_segment_env_bind(env, "a", CRM_SEGMENT_I8, col_a) &&
          !crm_segment_env_bind(env, "r", CRM_SEGMENT_U8, col_r) &&
          !crm_segment_env_bind(env, "s", CRM_SEGMENT_I16, col_s) &&
          !crm_segment_env_bind(env, "f", CRM_SEGMENT_U16, col_f) &&
          !crm_segment_env_bind(env, "recency_days", CRM_SEGMENT_I32, col_rec) &&
          !crm_segment_env_bind(env, "frequency", CRM_SEGMENT_U32, col_freq) &&
          !crm_segment_env_bind(env, "monetary", CRM_SEGMENT_I64, col_mon) &&
          !crm_segment_env_bind(env, "customer_id", CRM_SEGMENT_U64, col_id) &&
          !crm_segment_env_bind(env, "gap_avg", CRM_SEGMENT_F64, col_gap) &&
          !crm_segment_env_bind_categorical(env, "rfm_segment", col_seg, segs, 5) &&
          !crm_segment_env_bind_categorical(env, "stage", col_stage, stages, 8),
          "%s", crm_last_error());
}

__attribute__((destructor)) static void teardown(void)
{
    crm_segment_env_free(env);
    env = NULL;
}

static const uint32_t depths[] = {1, 2, 3, 4, 8, 16, 64, 998};

/* Compile text with max_depth; return status, program in *out. */
static crm_status compile(crm_segment_program **out, const char *text, size_t len,
                          uint32_t depth, int with_env, size_t *off)
{
    crm_segment_options o;
    CHECK(crm_segment_options_init(&o, CRM_SEGMENT_OPTIONS_VERSION) == CRM_OK, "init");
    o.max_depth = depth;
    crm_status s = crm_segment_compile(out, text, len, with_env ? env : NULL, &o, off);
    CHECK(s == CRM_OK || s == CRM_ERULE, "status %d (%s)", s, crm_last_error());
    if (s) {
        CHECK(*out == NULL, "program on failure");
        CHECK(*off <= len, "offset %zu beyond %zu", *off, len);
        char want[40];
        snprintf(want, sizeof want, "byte %zu", *off);
        CHECK(strstr(crm_last_error(), want) != NULL, "message '%s' lacks '%s'",
              crm_last_error(), want);
    } else {
        CHECK(*off == SIZE_MAX, "offset %zu on success", *off);
    }
    return s;
}

/* Evaluate into bits[WORDS + 1] with a guard word; returns the status. */
static crm_status eval(const crm_segment_program *p, uint64_t *bits)
{
    bits[WORDS] = UINT64_C(0xA5A5A5A5A5A5A5A5);
    crm_status s = crm_segment_eval(bits, WORDS, p, env);
    CHECK(s == CRM_OK || s == CRM_ERULE, "eval status %d (%s)", s, crm_last_error());
    CHECK(bits[WORDS] == UINT64_C(0xA5A5A5A5A5A5A5A5), "guard word overwritten");
    if (!s && N % 64)
        CHECK((bits[WORDS - 1] >> (N % 64)) == 0, "bits past the last customer");
    return s;
}

static char *wrap(const char *pre, const uint8_t *text, size_t len, const char *post,
                  const char *pre2, const char *post2, size_t *out_len)
{
    size_t a = strlen(pre), b = strlen(post), c = strlen(pre2), d = strlen(post2);
    char *buf = malloc(a + len + b + c + len + d + 1);
    CHECK(buf != NULL, "oom");
    size_t o = 0;
    memcpy(buf + o, pre, a), o += a;
    memcpy(buf + o, text, len), o += len;
    memcpy(buf + o, post, b), o += b;
    if (c || d) {
        memcpy(buf + o, pre2, c), o += c;
        memcpy(buf + o, text, len), o += len;
        memcpy(buf + o, post2, d), o += d;
    }
    *out_len = o;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!env)
        setup();
    if (size < 1)
        return 0;
    uint32_t depth = depths[data[0] & 7];
    int with_env = (data[0] >> 3) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    crm_segment_program *p = NULL;
    size_t off;
    crm_status s = compile(&p, text, len, depth, with_env, &off);
    if (s)
        return 0;
    CHECK(crm_segment_program_tests(p) >= 1, "a program without tests");

    uint64_t bits[WORDS + 1], nbits[WORDS + 1], tmp[WORDS + 1];
    s = eval(p, bits);
    {   /* compiling against the environment agrees with evaluating */
        crm_segment_program *q = NULL;
        crm_status s2 = compile(&q, text, len, depth, 1, &off);
        CHECK(s2 == s, "compile-with-env %d vs eval %d", s2, s);
        crm_segment_program_free(q);
    }
    if (s) {
        crm_segment_program_free(p);
        return 0;
    }
    uint64_t c = crm_segment_count(bits, N);
    CHECK(c <= N, "count %llu", (unsigned long long)c);

    /* not (E) */
    size_t wl;
    char *w = wrap("not (", data + 1, len, ")", "", "", &wl);
    crm_segment_program *q = NULL;
    CHECK(compile(&q, w, wl, depth + 2, 0, &off) == CRM_OK, "not (E) failed: %s",
          crm_last_error());
    CHECK(eval(q, nbits) == CRM_OK, "eval not (E)");
    for (int i = 0; i < WORDS; i++) {
        uint64_t mask = (i == WORDS - 1 && N % 64) ? (UINT64_C(1) << (N % 64)) - 1 : ~UINT64_C(0);
        CHECK(nbits[i] == (~bits[i] & mask), "not (E) is not the complement at word %d", i);
    }
    crm_segment_program_free(q);
    free(w);

    /* (E) and (E) == E */
    w = wrap("(", data + 1, len, ") and ", "(", ")", &wl);
    CHECK(compile(&q, w, wl, depth + 2, 0, &off) == CRM_OK, "(E) and (E): %s",
          crm_last_error());
    CHECK(eval(q, tmp) == CRM_OK, "eval (E) and (E)");
    CHECK(memcmp(tmp, bits, sizeof(uint64_t) * WORDS) == 0, "(E) and (E) != E");
    crm_segment_program_free(q);
    free(w);

    /* (E) or not (E) == everyone */
    w = wrap("(", data + 1, len, ") or not ", "(", ")", &wl);
    CHECK(compile(&q, w, wl, depth + 2, 0, &off) == CRM_OK, "(E) or not (E): %s",
          crm_last_error());
    CHECK(eval(q, tmp) == CRM_OK, "eval (E) or not (E)");
    CHECK(crm_segment_count(tmp, N) == N, "(E) or not (E) misses customers");
    crm_segment_program_free(q);
    free(w);

    /* stats of {E, not E} and the partial round trip */
    const uint64_t *sets[2] = {bits, nbits};
    crm_segment_stats *st = NULL, *ld = NULL, *mg = NULL;
    CHECK(crm_segment_stats_compute(&st, sets, 2, N) == CRM_OK, "stats");
    const uint64_t *m = crm_segment_stats_matrix(st);
    CHECK(m[0] == c && m[3] == N - c && m[1] == 0 && m[2] == 0, "stats matrix");
    void *blob = NULL;
    size_t blen = 0;
    CHECK(crm_segment_stats_serialize(&blob, &blen, st) == CRM_OK, "serialize");
    CHECK(crm_segment_stats_load(&ld, blob, blen) == CRM_OK, "load: %s", crm_last_error());
    CHECK(crm_segment_stats_merge(&mg, st, ld) == CRM_OK, "merge");
    const uint64_t *mm = crm_segment_stats_matrix(mg);
    for (int i = 0; i < 4; i++)
        CHECK(mm[i] == 2 * m[i], "merged cell %d", i);
    CHECK(crm_segment_stats_customers(mg) == 2 * N, "merged customers");
    crm_bytes_free(blob);
    crm_segment_stats_free(st);
    crm_segment_stats_free(ld);
    crm_segment_stats_free(mg);
    crm_segment_program_free(p);
    return 0;
}
