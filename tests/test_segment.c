/* Rule-language segments: hand-worked cases, parse errors with their byte
 * offsets, a brute-force reference over random expression trees, profile
 * binding, counts / overlaps and their partials, every error path and
 * allocation-failure sweeps. */
#include "testutil.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORDS(n) (((n) + 63) / 64)

__extension__ typedef __int128 wide;

static int bit(const uint64_t *b, size_t i)
{
    return (int)((b[i / 64] >> (i % 64)) & 1);
}

/* ---- a small hand-made table ------------------------------------------------ */

/* 8 customers. */
static const int32_t h_rec[8] = {5, 30, 31, 100, 0, 365, 30, 12};
static const uint32_t h_freq[8] = {3, 5, 2, 1, 10, 3, 3, 4};
static const int64_t h_mon[8] = {600000, 500000, 500001, -200, 1000000, 750000, 500001, 499999};
static const double h_gap[8] = {12.5, 10, NAN, NAN, 2.25, 100, 0.1, 7};
static const uint8_t h_r[8] = {5, 4, 4, 2, 5, 1, 4, 3};
static const uint32_t h_seg[8] = {0, 1, 0, 3, 0, 2, 9, 4}; /* 9: null code */
static const char *const h_seg_names[] = {"champions", "loyal_customers", "at_risk",
                                          "hibernating", "Champions"};
static const uint32_t h_stage[8] = {0, 1, 2, 3, 1, 3, 0, 2};
static const char *const h_stage_names[] = {"active", "loyal", "at_risk", "churned"};
static const int64_t h_x[8] = {1, 2, 3, 1, 2, 3, -1, 0};

static crm_segment_env *hand_env(void)
{
    crm_segment_env *e = NULL;
    assert_int_equal(crm_segment_env_new(&e, 8), CRM_OK);
    assert_int_equal(crm_segment_env_bind(e, "recency_days", CRM_SEGMENT_I32, h_rec), CRM_OK);
    assert_int_equal(crm_segment_env_bind(e, "frequency", CRM_SEGMENT_U32, h_freq), CRM_OK);
    assert_int_equal(crm_segment_env_bind(e, "monetary", CRM_SEGMENT_I64, h_mon), CRM_OK);
    assert_int_equal(crm_segment_env_bind(e, "gap_avg", CRM_SEGMENT_F64, h_gap), CRM_OK);
    assert_int_equal(crm_segment_env_bind(e, "r", CRM_SEGMENT_U8, h_r), CRM_OK);
    assert_int_equal(crm_segment_env_bind(e, "x", CRM_SEGMENT_I64, h_x), CRM_OK);
    assert_int_equal(crm_segment_env_bind_categorical(e, "rfm_segment", h_seg, h_seg_names, 5),
                     CRM_OK);
    assert_int_equal(crm_segment_env_bind_categorical(e, "stage", h_stage, h_stage_names, 4),
                     CRM_OK);
    assert_int_equal(crm_segment_env_count(e), 8);
    return e;
}

typedef struct hand_case {
    const char *expr;
    const char *want; /* membership of customers 0..7 */
} hand_case;

/* Expected memberships worked out by hand from the table above. */
static const hand_case hand_cases[] = {
    /* spec example: rec <= 30: 0,1,4,6,7; freq >= 3: 0,1,4,5,6,7; mon > 500000: 0,2,4,5,6 */
    {"recency_days <= 30 and frequency >= 3 and monetary > 500000", "10001010"},
    /* champions (exact, case-sensitive): 0,2,4; r >= 4: 0,1,2,4,6 -> not: 3,5,7 */
    {"rfm_segment = \"champions\" or not (r >= 4)", "10111101"},
    {"x in (1, 2)", "11011000"},
    {"x not in (1, 2)", "00100111"},
    {"x between 0 and 2", "11011001"},
    {"x not between 0 and 2", "00100110"},
    {"x between 2 and 0", "00000000"},
    {"stage in (at_risk, churned)", "00110101"},
    {"stage in ('at_risk', \"churned\") and rfm_segment = \"champions\"", "00100000"},
    /* not binds tighter than and, and tighter than or */
    {"not r >= 4 or recency_days < 14", "10011101"},
    {"not (r >= 4) or recency_days < 14", "10011101"},
    {"r = 5 or r = 1 and frequency = 3", "10001100"},
    {"(r = 5 or r = 1) and frequency = 3", "10000100"},
    {"not not r = 5", "10001000"},
    /* keywords are case-insensitive */
    {"r BETWEEN 4 AND 5 And NOT frequency IN (2, 3)", "01001000"},
    /* exact decimals on integer columns */
    {"monetary > 500000.5", "10101110"},
    {"monetary >= 500000.5", "10101110"},
    {"monetary < 500000.5", "01010001"},
    {"monetary <= 500000.0", "01010001"},
    {"monetary = 500000.0", "01000000"},
    {"monetary = 500000.5", "00000000"},
    {"monetary != 500000.5", "11111111"},
    {"monetary > -200.5 and monetary < -199.5", "00010000"},
    {"monetary between -200.9 and -199.1", "00010000"},
    /* huge literals saturate but stay exact */
    {"monetary < 99999999999999999999999999999999999999", "11111111"},
    {"monetary > -99999999999999999999999999999999999999.5", "11111111"},
    {"r > 300 or r < -1", "00000000"},
    {"r != 300", "11111111"},
    /* NaN is null: false for comparisons, true for != and not in/between */
    {"gap_avg >= 0", "11001111"},
    {"gap_avg != 10", "10111111"},
    {"gap_avg = 10", "01000000"},
    {"gap_avg = 0.1", "00000010"},
    {"gap_avg > 0.1", "11001101"},
    {"gap_avg not between 2.25 and 12.5", "00110110"},
    {"gap_avg in (100, 7)", "00000101"},
    {"not gap_avg < 1000", "00110000"},
    /* null categorical code (customer 6): not equal to anything */
    {"rfm_segment = champions", "10101000"},
    {"rfm_segment != champions", "01010111"},
    {"rfm_segment = Champions", "00000001"},
    {"rfm_segment in (nobody, \"\")", "00000000"},
    {"rfm_segment not in (nobody)", "11111111"},
    /* escapes inside strings */
    {"stage = \"at\\_risk\" or stage = 'chur\\'ned'", "00100001"},
    {"  recency_days<=30\tand\n(frequency>=3)  ", "11001011"},
};

static void hand_worked(void **state)
{
    (void)state;
    crm_segment_env *e = hand_env();
    for (size_t c = 0; c < ARRAY_LEN(hand_cases); c++) {
        const hand_case *hc = &hand_cases[c];
        for (int with_env = 0; with_env < 2; with_env++) {
            crm_segment_program *p = NULL;
            size_t off = 0;
            crm_status s = crm_segment_compile(&p, hc->expr, strlen(hc->expr),
                                               with_env ? e : NULL, NULL, &off);
            if (s != CRM_OK)
                fail_msg("case %zu '%s': %s", c, hc->expr, crm_last_error());
            assert_int_equal(off, SIZE_MAX);
            uint64_t bits[2] = {~UINT64_C(0), 77};
            assert_int_equal(crm_segment_eval(bits, 1, p, e), CRM_OK);
            assert_int_equal(bits[1], 77);
            char got[9];
            for (int i = 0; i < 8; i++)
                got[i] = (char)('0' + bit(bits, (size_t)i));
            got[8] = '\0';
            if (strcmp(got, hc->want) != 0)
                fail_msg("case %zu '%s': got %s want %s", c, hc->expr, got, hc->want);
            assert_int_equal(bits[0] >> 8, 0);
            size_t ones = 0;
            for (int i = 0; i < 8; i++)
                ones += hc->want[i] == '1';
            assert_int_equal(crm_segment_count(bits, 8), ones);
            crm_segment_program_free(p);
        }
    }
    crm_segment_env_free(e);
}

/* ---- parse and resolution errors ------------------------------------------ */

typedef struct err_case {
    const char *expr;
    size_t offset;
    const char *msg; /* must occur in the message */
    int with_env;
} err_case;

static const err_case err_cases[] = {
    {"", 0, "expected a field name, 'not' or '(' but found end of input", 0},
    {"   ", 3, "expected a field name", 0},
    {"recency_days", 12, "expected a comparison (= != < <= > >=), 'in', 'not in' or 'between'"
                         " after field 'recency_days' but found end of input", 0},
    {"r >= ", 5, "expected a number, a string or a name but found end of input", 0},
    {"r >= 4 and", 10, "expected a field name, 'not' or '('", 0},
    {"r >= 4 r", 7, "expected 'and', 'or' or the end of the expression but found 'r'", 0},
    {"(r >= 4", 7, "expected 'and', 'or' or ')' closing the '(' at byte 0", 0},
    {"r >= 4)", 6, "but found ')'", 0},
    {"r = 1 & f = 2", 6, "invalid character 0x26", 0},
    {"r == 1", 3, "expected a number, a string or a name but found '='", 0},
    {"r ! 1", 3, "expected '=' after '!'", 0},
    {"r = 1.", 6, "expected a digit after the decimal point", 0},
    {"r = .5", 4, "expected a number, a string or a name but found invalid character 0x2e", 0},
    {"stage = \"churned", 16, "expected a closing '\"'", 0},
    {"stage = 'churned", 16, "expected a closing \"'\"", 0},
    {"r in 1, 2", 5, "expected '(' after 'in'", 0},
    {"r in (1 2)", 8, "expected ',' or ')' in the 'in' list but found '2'", 0},
    {"r in ()", 6, "expected a number, a string or a name but found ')'", 0},
    {"r between 1 or 2", 12, "expected 'and' in 'between ... and ...'", 0},
    {"r not = 1", 6, "expected 'in' or 'between' after 'not'", 0},
    {"and = 1", 0, "expected a field name, 'not' or '(' but found 'and'", 0},
    {"r = and", 4, "expected a number, a string or a name but found 'and'", 0},
    {"r = -x", 4, "invalid character 0x2d", 0},
    {"r = 1 \x01", 6, "invalid character 0x01", 0},
    /* names and types, checked against the environment */
    {"recency <= 30", 0, "unknown field 'recency'", 1},
    {"r >= 4 and Recency_days < 3", 11, "unknown field 'Recency_days'", 1},
    {"frequency = \"x\"", 12, "field 'frequency' is numeric: expected a number, found a string", 1},
    {"frequency in (1, two)", 17, "field 'frequency' is numeric: expected a number, found a name", 1},
    {"stage > at_risk", 6, "field 'stage' is categorical: only =, !=, in and not in apply", 1},
    {"stage between a and b", 6, "field 'stage' is categorical", 1},
    {"stage in (at_risk, 3)", 19, "field 'stage' is categorical: expected a category name, "
                                  "found a number", 1},
};

static void parse_errors(void **state)
{
    (void)state;
    crm_segment_env *e = hand_env();
    for (size_t c = 0; c < ARRAY_LEN(err_cases); c++) {
        const err_case *ec = &err_cases[c];
        crm_segment_program *p = (crm_segment_program *)&c;
        size_t off = 0;
        crm_status s = crm_segment_compile(&p, ec->expr, strlen(ec->expr),
                                           ec->with_env ? e : NULL, NULL, &off);
        if (s != CRM_ERULE)
            fail_msg("case %zu '%s': status %d", c, ec->expr, s);
        assert_null(p);
        if (off != ec->offset || !strstr(crm_last_error(), ec->msg))
            fail_msg("case %zu '%s': offset %zu (want %zu), message '%s' (want '%s')", c,
                     ec->expr, off, ec->offset, crm_last_error(), ec->msg);
        char want[32];
        snprintf(want, sizeof want, "byte %zu:", ec->offset);
        assert_non_null(strstr(crm_last_error(), want));
        if (ec->with_env) {
            /* compiled without the environment it passes, and eval reports it */
            assert_int_equal(crm_segment_compile(&p, ec->expr, strlen(ec->expr), NULL, NULL,
                                                 NULL),
                             CRM_OK);
            uint64_t bits = 12345;
            assert_int_equal(crm_segment_eval(&bits, 1, p, e), CRM_ERULE);
            assert_non_null(strstr(crm_last_error(), ec->msg));
            assert_non_null(strstr(crm_last_error(), want));
            assert_int_equal(bits, 12345); /* untouched on failure */
            crm_segment_program_free(p);
        }
    }
    crm_segment_env_free(e);
}

static void limits(void **state)
{
    (void)state;
    crm_segment_options o;
    assert_int_equal(crm_segment_options_init(&o, CRM_SEGMENT_OPTIONS_VERSION), CRM_OK);
    assert_int_equal(o.max_length, CRM_SEGMENT_DEFAULT_MAX_LENGTH);
    assert_int_equal(o.max_depth, CRM_SEGMENT_DEFAULT_MAX_DEPTH);
    crm_segment_program *p = NULL;
    size_t off;
    /* depth: 3 levels allowed, the 4th '(' is reported */
    o.max_depth = 3;
    const char *d3 = "((not r = 1))";
    assert_int_equal(crm_segment_compile(&p, d3, strlen(d3), NULL, &o, &off), CRM_OK);
    crm_segment_program_free(p);
    const char *d4 = "((not (r = 1)))";
    assert_int_equal(crm_segment_compile(&p, d4, strlen(d4), NULL, &o, &off), CRM_ERULE);
    assert_int_equal(off, 6);
    assert_non_null(strstr(crm_last_error(), "nesting deeper than max_depth 3"));
    /* the default depth bounds a deeply nested input without recursion trouble */
    size_t n = 200000;
    char *deep = malloc(n + 16);
    for (size_t i = 0; i < n; i++)
        deep[i] = i % 2 ? '(' : ' ';
    memcpy(deep + n, "r = 1", 5);
    assert_int_equal(crm_segment_compile(&p, deep, n + 5, NULL, NULL, &off), CRM_ERULE);
    assert_int_equal(off, CRM_SEGMENT_DEFAULT_MAX_LENGTH);
    o.max_length = CRM_SEGMENT_LIMIT_MAX_LENGTH;
    o.max_depth = CRM_SEGMENT_DEFAULT_MAX_DEPTH;
    assert_int_equal(crm_segment_compile(&p, deep, n + 5, NULL, &o, &off), CRM_ERULE);
    assert_int_equal(off, 2 * CRM_SEGMENT_DEFAULT_MAX_DEPTH + 1);
    o.max_depth = CRM_SEGMENT_LIMIT_MAX_DEPTH;
    assert_int_equal(crm_segment_compile(&p, deep, n + 5, NULL, &o, &off), CRM_ERULE);
    assert_int_equal(off, 2 * CRM_SEGMENT_LIMIT_MAX_DEPTH + 1);
    /* a long flat expression is fine (and/or chains do not recurse) */
    size_t reps = 20000;
    char *flat = malloc(reps * 12 + 8);
    size_t len = 0;
    for (size_t i = 0; i < reps; i++)
        len += (size_t)sprintf(flat + len, "%sr = %zu", i ? " or " : "", i % 4);
    o.max_depth = 2;
    assert_int_equal(crm_segment_compile(&p, flat, len, NULL, &o, &off), CRM_OK);
    assert_int_equal(crm_segment_program_tests(p), reps);
    crm_segment_env *e = hand_env();
    uint64_t bits;
    assert_int_equal(crm_segment_eval(&bits, 1, p, e), CRM_OK);
    assert_int_equal(bits, 0xa8); /* r in 0..3: customers 3, 5, 7 (r = 2, 1, 3) */
    crm_segment_env_free(e);
    crm_segment_program_free(p);
    /* exactly max_length bytes is accepted, one more is not */
    o.max_length = 5;
    assert_int_equal(crm_segment_compile(&p, "r = 1", 5, NULL, &o, &off), CRM_OK);
    crm_segment_program_free(p);
    assert_int_equal(crm_segment_compile(&p, "r = 12", 6, NULL, &o, &off), CRM_ERULE);
    assert_int_equal(off, 5);
    free(deep);
    free(flat);
}

/* ---- brute-force reference over random expression trees ------------------ */

enum { N_NUMCOLS = 9 };
static const int num_types[N_NUMCOLS] = {CRM_SEGMENT_I8, CRM_SEGMENT_U8, CRM_SEGMENT_I16,
                                         CRM_SEGMENT_U16, CRM_SEGMENT_I32, CRM_SEGMENT_U32,
                                         CRM_SEGMENT_I64, CRM_SEGMENT_U64, CRM_SEGMENT_F64};
static const char *const num_names[N_NUMCOLS] = {"c_i8", "c_u8", "c_i16", "c_u16", "c_i32",
                                                 "c_u32", "c_i64", "c_u64", "c_f64"};
static const char *const cat_names[] = {"gold", "silver", "bronze", "gold", "tin"};

typedef struct table {
    size_t n;
    void *cols[N_NUMCOLS];
    uint32_t *cat;
    crm_segment_env *env;
} table;

/* Value pools per type, so literals hit column values and their edges. */
static const int64_t pool_i[] = {-129, -128, -100, -3, -1, 0, 1, 2, 3, 7, 100, 127, 128,
                                 255, 256, 32767, -32768, 65535, 65536, 2147483647,
                                 -2147483647 - 1, 4294967295LL, 4294967296LL, INT64_MAX,
                                 INT64_MIN};

static void fill_table(table *t, size_t n, test_rng *rng)
{
    t->n = n;
    for (int c = 0; c < N_NUMCOLS; c++)
        t->cols[c] = calloc(n ? n : 1, 8);
    t->cat = calloc(n ? n : 1, sizeof *t->cat);
    for (size_t i = 0; i < n; i++) {
        int64_t v = test_rng_range(rng, 0, 3) == 0
                        ? pool_i[test_rng_range(rng, 0, (int64_t)ARRAY_LEN(pool_i) - 1)]
                        : test_rng_range(rng, -10, 10);
        uint64_t u = test_rng_range(rng, 0, 5) == 0 ? test_rng_next(rng) : (uint64_t)v;
        ((int8_t *)t->cols[0])[i] = (int8_t)v;
        ((uint8_t *)t->cols[1])[i] = (uint8_t)u;
        ((int16_t *)t->cols[2])[i] = (int16_t)v;
        ((uint16_t *)t->cols[3])[i] = (uint16_t)u;
        ((int32_t *)t->cols[4])[i] = (int32_t)v;
        ((uint32_t *)t->cols[5])[i] = (uint32_t)u;
        ((int64_t *)t->cols[6])[i] = v;
        ((uint64_t *)t->cols[7])[i] = u;
        int64_t k = test_rng_range(rng, 0, 9);
        ((double *)t->cols[8])[i] = k == 0 ? NAN : k == 1 ? -0.0 : (double)v / 4.0;
        t->cat[i] = (uint32_t)test_rng_range(rng, 0, 6); /* 5, 6 are null codes */
    }
    assert_int_equal(crm_segment_env_new(&t->env, n), CRM_OK);
    for (int c = 0; c < N_NUMCOLS; c++)
        assert_int_equal(crm_segment_env_bind(t->env, num_names[c], num_types[c], t->cols[c]),
                         CRM_OK);
    assert_int_equal(crm_segment_env_bind_categorical(t->env, "tier", t->cat, cat_names, 5),
                     CRM_OK);
}

static void free_table(table *t)
{
    for (int c = 0; c < N_NUMCOLS; c++)
        free(t->cols[c]);
    free(t->cat);
    crm_segment_env_free(t->env);
}

/* A literal: text plus its exact value num / 10^scale (scale 0 or 2). */
typedef struct lit {
    char text[64];
    wide num;
    int scale;
    const char *name; /* categorical */
} lit;

static void rand_lit(lit *l, int col, test_rng *rng)
{
    if (col == N_NUMCOLS) {
        static const char *const pick[] = {"gold", "silver", "bronze", "tin", "lead", ""};
        l->name = pick[test_rng_range(rng, 0, 5)];
        int form = (int)test_rng_range(rng, 0, 2);
        if (form == 0 && l->name[0])
            snprintf(l->text, sizeof l->text, "%s", l->name);
        else
            snprintf(l->text, sizeof l->text, form == 1 ? "\"%s\"" : "'%s'", l->name);
        return;
    }
    int64_t base = test_rng_range(rng, 0, 2) == 0
                       ? pool_i[test_rng_range(rng, 0, (int64_t)ARRAY_LEN(pool_i) - 1)]
                       : test_rng_range(rng, -12, 12);
    if (test_rng_range(rng, 0, 3) == 0 && base > INT64_MIN + 1 && base < INT64_MAX - 1) {
        static const int fr[] = {25, 50, 75, 0};
        int f = fr[test_rng_range(rng, 0, 3)];
        wide num = (wide)base * 100 + (base < 0 ? -f : f);
        l->num = num;
        l->scale = 2;
        const char *sign = num < 0 ? "-" : "";
        wide a = num < 0 ? -num : num;
        snprintf(l->text, sizeof l->text, "%s%lld.%02d", sign, (long long)(a / 100),
                 (int)(a % 100));
    } else if (test_rng_range(rng, 0, 9) == 0) {
        /* beyond every type: 2^64 */
        l->num = (wide)1 << 64;
        l->scale = 0;
        snprintf(l->text, sizeof l->text, "18446744073709551616");
    } else {
        l->num = base;
        l->scale = 0;
        snprintf(l->text, sizeof l->text, "%lld", (long long)base);
    }
}

static wide col_int(const table *t, int c, size_t i)
{
    switch (num_types[c]) {
    case CRM_SEGMENT_I8: return ((const int8_t *)t->cols[c])[i];
    case CRM_SEGMENT_U8: return ((const uint8_t *)t->cols[c])[i];
    case CRM_SEGMENT_I16: return ((const int16_t *)t->cols[c])[i];
    case CRM_SEGMENT_U16: return ((const uint16_t *)t->cols[c])[i];
    case CRM_SEGMENT_I32: return ((const int32_t *)t->cols[c])[i];
    case CRM_SEGMENT_U32: return ((const uint32_t *)t->cols[c])[i];
    case CRM_SEGMENT_I64: return ((const int64_t *)t->cols[c])[i];
    default: return ((const uint64_t *)t->cols[c])[i];
    }
}

/* -1, 0, 1 comparing customer i's value with the literal; 2 = unordered (NaN). */
static int ref_cmp(const table *t, int c, size_t i, const lit *l)
{
    if (num_types[c] == CRM_SEGMENT_F64) {
        double x = ((const double *)t->cols[c])[i];
        double v = strtod(l->text, NULL); /* the test runs in the C locale */
        if (isnan(x))
            return 2;
        return (x > v) - (x < v);
    }
    wide x = col_int(t, c, i) * (l->scale ? 100 : 1);
    return (x > l->num) - (x < l->num);
}

enum { N_LEAF_CMP = 1, N_LEAF_IN, N_LEAF_BETWEEN, N_AND, N_OR, N_NOT };

typedef struct node {
    int kind, col, op, negate, nv;
    lit v[16];
    struct node *a, *b;
} node;

static node *rand_tree(test_rng *rng, int depth)
{
    node *n = calloc(1, sizeof *n);
    int k = depth <= 0 ? (int)test_rng_range(rng, 1, 3) : (int)test_rng_range(rng, 1, 6);
    n->kind = k;
    if (k >= N_AND) {
        n->a = rand_tree(rng, depth - 1);
        if (k != N_NOT)
            n->b = rand_tree(rng, depth - 1);
        return n;
    }
    n->col = (int)test_rng_range(rng, 0, N_NUMCOLS);
    if (n->col == N_NUMCOLS && k == N_LEAF_BETWEEN)
        n->kind = k = N_LEAF_IN;
    if (k == N_LEAF_CMP)
        n->op = n->col == N_NUMCOLS ? (int)test_rng_range(rng, 0, 1)
                                    : (int)test_rng_range(rng, 0, 5);
    n->negate = k != N_LEAF_CMP && test_rng_range(rng, 0, 1);
    n->nv = k == N_LEAF_CMP ? 1 : k == N_LEAF_BETWEEN ? 2
          : test_rng_range(rng, 0, 2) ? (int)test_rng_range(rng, 1, 4)
                                      : (int)test_rng_range(rng, 9, 16); /* sorted-set path */
    for (int i = 0; i < n->nv; i++)
        rand_lit(&n->v[i], n->col, rng);
    return n;
}

static void free_tree(node *n)
{
    if (!n)
        return;
    free_tree(n->a);
    free_tree(n->b);
    free(n);
}

static int ref_leaf(const table *t, const node *n, size_t i)
{
    if (n->col == N_NUMCOLS) {
        uint32_t code = t->cat[i];
        int hit = 0;
        for (int k = 0; k < n->nv; k++)
            hit |= code < 5 && strcmp(cat_names[code], n->v[k].name) == 0;
        if (n->kind == N_LEAF_CMP)
            return n->op == 0 ? hit : !hit;
        return n->negate ? !hit : hit;
    }
    if (n->kind == N_LEAF_CMP) {
        int c = ref_cmp(t, n->col, i, &n->v[0]);
        switch (n->op) {
        case 0: return c == 0;
        case 1: return c != 0; /* NaN: true */
        case 2: return c == -1;
        case 3: return c == -1 || c == 0;
        case 4: return c == 1;
        default: return c == 1 || c == 0;
        }
    }
    int hit;
    if (n->kind == N_LEAF_BETWEEN) {
        int lo = ref_cmp(t, n->col, i, &n->v[0]), hi = ref_cmp(t, n->col, i, &n->v[1]);
        hit = (lo == 0 || lo == 1) && (hi == 0 || hi == -1);
    } else {
        hit = 0;
        for (int k = 0; k < n->nv; k++)
            hit |= ref_cmp(t, n->col, i, &n->v[k]) == 0;
    }
    return n->negate ? !hit : hit;
}

static int ref_eval(const table *t, const node *n, size_t i)
{
    switch (n->kind) {
    case N_AND: return ref_eval(t, n->a, i) && ref_eval(t, n->b, i);
    case N_OR: return ref_eval(t, n->a, i) || ref_eval(t, n->b, i);
    case N_NOT: return !ref_eval(t, n->a, i);
    default: return ref_leaf(t, n, i);
    }
}

static const char *kw(test_rng *rng, const char *lower, const char *upper)
{
    return test_rng_range(rng, 0, 3) == 0 ? upper : lower;
}

static int prec(const node *n)
{
    return n->kind == N_OR ? 1 : n->kind == N_AND ? 2 : n->kind == N_NOT ? 3 : 4;
}

/* Render with only the parentheses precedence needs (plus random extras). */
static void render(const node *n, int parent, char *buf, size_t *len, test_rng *rng)
{
    int paren = prec(n) < parent || test_rng_range(rng, 0, 7) == 0;
    const char *sp = test_rng_range(rng, 0, 4) == 0 ? "  " : " ";
#define PUT(...) (*len += (size_t)sprintf(buf + *len, __VA_ARGS__))
    if (paren)
        PUT("(");
    switch (n->kind) {
    case N_AND:
    case N_OR:
        render(n->a, prec(n), buf, len, rng);
        PUT("%s%s%s", sp, n->kind == N_AND ? kw(rng, "and", "AND") : kw(rng, "or", "Or"), sp);
        render(n->b, prec(n) + 1, buf, len, rng);
        break;
    case N_NOT:
        PUT("%s ", kw(rng, "not", "NOT"));
        render(n->a, 3, buf, len, rng);
        break;
    case N_LEAF_CMP: {
        static const char *const ops[] = {"=", "!=", "<", "<=", ">", ">="};
        const char *name = n->col == N_NUMCOLS ? "tier" : num_names[n->col];
        PUT("%s%s%s%s%s", name, sp, ops[n->op], test_rng_range(rng, 0, 1) ? " " : "",
            n->v[0].text);
        break;
    }
    case N_LEAF_IN:
        PUT("%s %s%s (", n->col == N_NUMCOLS ? "tier" : num_names[n->col],
            n->negate ? "not " : "", kw(rng, "in", "IN"));
        for (int k = 0; k < n->nv; k++)
            PUT("%s%s", k ? ", " : "", n->v[k].text);
        PUT(")");
        break;
    default:
        PUT("%s %s%s %s %s %s", num_names[n->col], n->negate ? "not " : "",
            kw(rng, "between", "BETWEEN"), n->v[0].text, kw(rng, "and", "AND"), n->v[1].text);
        break;
    }
    if (paren)
        PUT(")");
#undef PUT
}

static void brute_force(void **state)
{
    (void)state;
    test_rng rng = {2026};
    static const size_t sizes[] = {0, 1, 63, 64, 65, 4095, 4096, 4097, 9000};
    char *buf = malloc(1 << 20);
    size_t checked = 0;
    for (size_t si = 0; si < ARRAY_LEN(sizes); si++) {
        table t;
        fill_table(&t, sizes[si], &rng);
        size_t n = t.n;
        uint64_t *bits = malloc((WORDS(n) + 1) * 8);
        int iters = n > 5000 ? 60 : 300;
        for (int it = 0; it < iters; it++) {
            node *tree = rand_tree(&rng, (int)test_rng_range(&rng, 0, 5));
            size_t len = 0;
            render(tree, 0, buf, &len, &rng);
            crm_segment_program *p = NULL;
            size_t off;
            crm_status s = crm_segment_compile(&p, buf, len, t.env, NULL, &off);
            if (s != CRM_OK)
                fail_msg("'%s': %s", buf, crm_last_error());
            memset(bits, 0xff, (WORDS(n) + 1) * 8);
            assert_int_equal(crm_segment_eval(bits, WORDS(n) ? WORDS(n) : 1, p, t.env), CRM_OK);
            uint64_t count = 0;
            for (size_t i = 0; i < n; i++) {
                int want = ref_eval(&t, tree, i);
                count += (uint64_t)want;
                if (bit(bits, i) != want)
                    fail_msg("n=%zu '%s': customer %zu got %d want %d", n, buf, i,
                             bit(bits, i), want);
            }
            if (n % 64)
                assert_int_equal(bits[n / 64] >> (n % 64), 0);
            assert_int_equal(crm_segment_count(bits, n), count);
            checked++;
            crm_segment_program_free(p);
            free_tree(tree);
        }
        free(bits);
        free_table(&t);
    }
    assert_true(checked > 2000);
    free(buf);
}

/* ---- profiles -------------------------------------------------------------- */

static void profiles_binding(void **state)
{
    (void)state;
    const int64_t D = 86400, asof = 20000;
    /* id, day offset from asof (negative = past), amount */
    static const int64_t rows[][3] = {
        {10, -5, 300000}, {10, -40, 200000}, {10, -100, 100001},  /* rec 5 f 3 m 600001 */
        {20, -30, 500000}, {20, -31, 1}, {20, -32, -1},           /* rec 30 f 2 m 500000 */
        {30, -31, 900000}, {30, -60, 1}, {30, -61, 1},            /* rec 31 f 3 */
        {40, 0, 1}, {40, -1, 1}, {40, -2, 1}, {40, -3, 600000},   /* rec 0 f 4 m 600003 */
        {50, -2, -700000},                                        /* refund only: none */
        {60, -10, 400000}, {60, -11, 100000}, {60, -12, 1},       /* rec 10 f 3 m 500001 */
        {70, 5, 900000},                                          /* after asof: none */
    };
    crm_order o[ARRAY_LEN(rows)];
    for (size_t i = 0; i < ARRAY_LEN(rows); i++)
        o[i] = (crm_order){(uint64_t)rows[i][0], (asof + rows[i][1]) * D + 3600, rows[i][2]};
    crm_profiles *p = NULL;
    assert_int_equal(crm_profiles_build(&p, o, ARRAY_LEN(o), asof, NULL), CRM_OK);
    assert_int_equal(crm_profiles_count(p), 5); /* 10 20 30 40 60 */
    crm_segment_env *e = NULL;
    assert_int_equal(crm_segment_env_new(&e, 4), CRM_OK);
    assert_int_equal(crm_segment_env_bind_profiles(e, p), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "5 customers"));
    crm_segment_env_free(e);
    assert_int_equal(crm_segment_env_new(&e, 5), CRM_OK);
    assert_int_equal(crm_segment_env_bind_profiles(e, p), CRM_OK);
    static const hand_case cases[] = {
        {"recency_days <= 30 and frequency >= 3 and monetary > 500000", "10011"},
        {"customer_id in (20, 60) or tenure_days >= 100", "11001"},
        {"first_day = 19900 or last_day = 20000", "10010"},
        {"purchase_days = 2 and gap_avg = 1", "01000"},
        {"gap_avg > 14.999 and gap_avg < 15.001", "00100"},
        {"monetary between 500000 and 500001", "01001"},
    };
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        crm_segment_program *prog = NULL;
        assert_int_equal(crm_segment_compile(&prog, cases[c].expr, strlen(cases[c].expr), e,
                                             NULL, NULL),
                         CRM_OK);
        uint64_t bits = 0;
        assert_int_equal(crm_segment_eval(&bits, 1, prog, e), CRM_OK);
        for (int i = 0; i < 5; i++)
            if (bit(&bits, (size_t)i) != cases[c].want[i] - '0')
                fail_msg("'%s' customer %d", cases[c].expr, i);
        crm_segment_program_free(prog);
    }
    /* a caller column bound next to the profile columns; rebinding replaces */
    static const uint8_t rscore[5] = {5, 4, 3, 5, 4};
    static const uint8_t rscore2[5] = {1, 1, 1, 1, 1};
    assert_int_equal(crm_segment_env_bind(e, "r", CRM_SEGMENT_U8, rscore2), CRM_OK);
    assert_int_equal(crm_segment_env_bind(e, "r", CRM_SEGMENT_U8, rscore), CRM_OK);
    crm_segment_program *prog = NULL;
    const char *ex = "r >= 4 and frequency >= 3";
    assert_int_equal(crm_segment_compile(&prog, ex, strlen(ex), e, NULL, NULL), CRM_OK);
    uint64_t bits = 0;
    assert_int_equal(crm_segment_eval(&bits, 1, prog, e), CRM_OK);
    assert_int_equal(bits, 0x19); /* 10, 40, 60 */
    /* re-binding the profiles keeps r */
    assert_int_equal(crm_segment_env_bind_profiles(e, p), CRM_OK);
    assert_int_equal(crm_segment_eval(&bits, 1, prog, e), CRM_OK);
    assert_int_equal(bits, 0x19);
    crm_segment_program_free(prog);
    crm_segment_env_free(e);
    crm_profiles_free(p);
}

/* ---- counts, overlaps, partials ------------------------------------------- */

static void random_sets(uint64_t **sets, size_t k, size_t n, test_rng *rng)
{
    for (size_t i = 0; i < k; i++) {
        sets[i] = malloc((WORDS(n) + 1) * 8);
        int64_t density = test_rng_range(rng, 0, 4);
        for (size_t w = 0; w < WORDS(n) + 1; w++) {
            uint64_t x = test_rng_next(rng);
            if (density == 0)
                x &= test_rng_next(rng);
            if (density == 1)
                x |= test_rng_next(rng);
            if (density == 2)
                x = 0;
            sets[i][w] = x; /* garbage past n too: must be ignored */
        }
    }
}

static void stats_and_partials(void **state)
{
    (void)state;
    test_rng rng = {7};
    static const size_t sizes[] = {0, 1, 64, 100, 1000, 4097};
    for (size_t si = 0; si < ARRAY_LEN(sizes); si++) {
        size_t n = sizes[si], k = (size_t)test_rng_range(&rng, 1, 6);
        uint64_t *sets[6];
        random_sets(sets, k, n, &rng);
        crm_segment_stats *whole = NULL;
        assert_int_equal(crm_segment_stats_compute(&whole, (const uint64_t *const *)sets, k, n),
                         CRM_OK);
        assert_int_equal(crm_segment_stats_segments(whole), k);
        assert_int_equal(crm_segment_stats_customers(whole), n);
        const uint64_t *m = crm_segment_stats_matrix(whole);
        for (size_t i = 0; i < k; i++) {
            for (size_t j = 0; j < k; j++) {
                uint64_t c = 0;
                for (size_t x = 0; x < n; x++)
                    c += (uint64_t)(bit(sets[i], x) & bit(sets[j], x));
                assert_int_equal(m[i * k + j], c);
            }
            uint64_t ci = 0;
            for (size_t x = 0; x < n; x++)
                ci += (uint64_t)bit(sets[i], x);
            assert_int_equal(crm_segment_count(sets[i], n), ci);
        }
        /* partitions at a word boundary: stats of each part, serialised,
         * loaded, merged == whole */
        size_t cut = (n / 2) & ~(size_t)63;
        const uint64_t *lo[6], *hi[6];
        for (size_t i = 0; i < k; i++) {
            lo[i] = sets[i];
            hi[i] = sets[i] + cut / 64;
        }
        crm_segment_stats *a = NULL, *b = NULL, *la = NULL, *lb = NULL, *mg = NULL;
        assert_int_equal(crm_segment_stats_compute(&a, lo, k, cut), CRM_OK);
        assert_int_equal(crm_segment_stats_compute(&b, hi, k, n - cut), CRM_OK);
        void *ba, *bb;
        size_t na, nb;
        assert_int_equal(crm_segment_stats_serialize(&ba, &na, a), CRM_OK);
        assert_int_equal(crm_segment_stats_serialize(&bb, &nb, b), CRM_OK);
        assert_int_equal(crm_segment_stats_load(&la, ba, na), CRM_OK);
        assert_int_equal(crm_segment_stats_load(&lb, bb, nb), CRM_OK);
        assert_int_equal(crm_segment_stats_merge(&mg, lb, la), CRM_OK);
        assert_int_equal(crm_segment_stats_customers(mg), n);
        assert_memory_equal(crm_segment_stats_matrix(mg), m, k * k * 8);
        /* corrupting any byte is caught (CRC or header) */
        for (size_t x = 0; x < na; x += 1 + na / 40) {
            crm_segment_stats *bad = (crm_segment_stats *)&x;
            ((uint8_t *)ba)[x] ^= 0x10;
            crm_status s = crm_segment_stats_load(&bad, ba, na);
            assert_true(s == CRM_ESTATE || s == CRM_EVERSION);
            assert_null(bad);
            ((uint8_t *)ba)[x] ^= 0x10;
        }
        crm_segment_stats_free(la);
        assert_int_equal(crm_segment_stats_load(&la, ba, na - 1), CRM_ESTATE);
        assert_null(la);
        crm_bytes_free(ba);
        crm_bytes_free(bb);
        crm_segment_stats_free(a);
        crm_segment_stats_free(b);
        crm_segment_stats_free(lb);
        crm_segment_stats_free(mg);
        crm_segment_stats_free(whole);
        for (size_t i = 0; i < k; i++)
            free(sets[i]);
    }
}

/* A blob with a valid CRC but inconsistent content is refused. */
static void stats_inconsistent_blob(void **state)
{
    (void)state;
    uint64_t s0 = 0x7, s1 = 0x3;
    const uint64_t *sets[2] = {&s0, &s1};
    crm_segment_stats *st = NULL, *other = NULL, *out = (crm_segment_stats *)&s0;
    assert_int_equal(crm_segment_stats_compute(&st, sets, 2, 10), CRM_OK);
    assert_int_equal(crm_segment_stats_matrix(st)[1], 2);
    void *b;
    size_t n;
    assert_int_equal(crm_segment_stats_serialize(&b, &n, st), CRM_OK);
    /* payload at 16: k, customers, matrix; bump cell (0,1) and redo the CRC by
     * re-serialising a hand-built blob is not possible from outside, so
     * check that the loader reports the checksum instead */
    ((uint8_t *)b)[16 + 16 + 8] ^= 1;
    assert_int_equal(crm_segment_stats_load(&out, b, n), CRM_ESTATE);
    assert_null(out);
    assert_non_null(strstr(crm_last_error(), "segment stats"));
    crm_bytes_free(b);
    /* merge needs equal k */
    assert_int_equal(crm_segment_stats_compute(&other, sets, 1, 10), CRM_OK);
    assert_int_equal(crm_segment_stats_merge(&out, st, other), CRM_EINVAL);
    assert_null(out);
    crm_segment_stats_free(other);
    crm_segment_stats_free(st);
}

/* ---- argument errors ------------------------------------------------------- */

static void argument_errors(void **state)
{
    (void)state;
    crm_segment_options o;
    assert_int_equal(crm_segment_options_init(NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_segment_options_init(&o, 0), CRM_EVERSION);
    assert_int_equal(crm_segment_options_init(&o, CRM_SEGMENT_OPTIONS_VERSION + 1),
                     CRM_EVERSION);
    crm_segment_program *p = NULL;
    size_t off = 0;
    assert_int_equal(crm_segment_compile(NULL, "r = 1", 5, NULL, NULL, &off), CRM_EINVAL);
    assert_int_equal(off, SIZE_MAX);
    assert_int_equal(crm_segment_compile(&p, NULL, 5, NULL, NULL, &off), CRM_EINVAL);
    assert_int_equal(crm_segment_compile(&p, NULL, 0, NULL, NULL, &off), CRM_ERULE);
    assert_int_equal(off, 0);
    assert_int_equal(crm_segment_options_init(&o, 1), CRM_OK);
    o.version = 99;
    assert_int_equal(crm_segment_compile(&p, "r = 1", 5, NULL, &o, NULL), CRM_EVERSION);
    assert_int_equal(crm_segment_options_init(&o, 1), CRM_OK);
    o.max_depth = 0;
    assert_int_equal(crm_segment_compile(&p, "r = 1", 5, NULL, &o, NULL), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "max_depth"));
    o.max_depth = CRM_SEGMENT_LIMIT_MAX_DEPTH + 1;
    assert_int_equal(crm_segment_compile(&p, "r = 1", 5, NULL, &o, NULL), CRM_EINVAL);
    o.max_depth = 4;
    o.max_length = 0;
    assert_int_equal(crm_segment_compile(&p, "r = 1", 5, NULL, &o, NULL), CRM_EINVAL);
    o.max_length = CRM_SEGMENT_LIMIT_MAX_LENGTH + 1;
    assert_int_equal(crm_segment_compile(&p, "r = 1", 5, NULL, &o, NULL), CRM_EINVAL);
    assert_null(p);
    assert_int_equal(crm_segment_program_tests(NULL), 0);
    crm_segment_program_free(NULL);

    crm_segment_env *e = NULL;
    assert_int_equal(crm_segment_env_new(NULL, 3), CRM_EINVAL);
    assert_int_equal(crm_segment_env_new(&e, 3), CRM_OK);
    assert_int_equal(crm_segment_env_count(NULL), 0);
    static const int32_t v[3] = {1, 2, 3};
    static const uint32_t codes[3] = {0, 1, 0};
    static const char *const names[2] = {"a", "b"};
    const char *bad_names[2] = {"a", NULL};
    assert_int_equal(crm_segment_env_bind(NULL, "x", CRM_SEGMENT_I32, v), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind(e, NULL, CRM_SEGMENT_I32, v), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind(e, "x", CRM_SEGMENT_I32, NULL), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind(e, "x", 0, v), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind(e, "x", CRM_SEGMENT_F64 + 1, v), CRM_EINVAL);
    static const char *const bad_fields[] = {"", "1x", "a-b", "and", "NOT", "Between", "x y"};
    for (size_t i = 0; i < ARRAY_LEN(bad_fields); i++)
        assert_int_equal(crm_segment_env_bind(e, bad_fields[i], CRM_SEGMENT_I32, v),
                         CRM_EINVAL);
    char longname[CRM_SEGMENT_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(crm_segment_env_bind(e, longname, CRM_SEGMENT_I32, v), CRM_EINVAL);
    longname[CRM_SEGMENT_NAME_MAX] = '\0';
    assert_int_equal(crm_segment_env_bind(e, longname, CRM_SEGMENT_I32, v), CRM_OK);
    assert_int_equal(crm_segment_env_bind_categorical(NULL, "c", codes, names, 2), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind_categorical(e, "c", NULL, names, 2), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind_categorical(e, "c", codes, NULL, 2), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind_categorical(e, "c", codes, bad_names, 2), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "names[1]"));
    assert_int_equal(crm_segment_env_bind_categorical(e, "c", codes, names, 65537), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind_categorical(e, "or", codes, names, 2), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind_categorical(e, "c", codes, NULL, 0), CRM_OK);
    assert_int_equal(crm_segment_env_bind_profiles(NULL, NULL), CRM_EINVAL);
    assert_int_equal(crm_segment_env_bind_profiles(e, NULL), CRM_EINVAL);
    /* failed binds left nothing behind: 'x' is unknown */
    assert_int_equal(crm_segment_compile(&p, "x = 1", 5, e, NULL, &off), CRM_ERULE);
    assert_int_equal(crm_segment_compile(&p, "c = a", 5, e, NULL, &off), CRM_OK);
    uint64_t bits[2] = {5, 5};
    assert_int_equal(crm_segment_eval(NULL, 1, p, e), CRM_EINVAL);
    assert_int_equal(crm_segment_eval(bits, 1, NULL, e), CRM_EINVAL);
    assert_int_equal(crm_segment_eval(bits, 1, p, NULL), CRM_EINVAL);
    assert_int_equal(crm_segment_eval(bits, 0, p, e), CRM_EINVAL);
    assert_int_equal(bits[0], 5);
    assert_int_equal(crm_segment_eval(bits, 2, p, e), CRM_OK); /* no names: nothing */
    assert_int_equal(bits[0], 0);
    assert_int_equal(bits[1], 5);
    crm_segment_program_free(p);
    assert_int_equal(crm_segment_count(NULL, 5), 0);

    crm_segment_stats *s = NULL;
    const uint64_t *sets[1] = {bits};
    const uint64_t *nullsets[1] = {NULL};
    assert_int_equal(crm_segment_stats_compute(NULL, sets, 1, 3), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_compute(&s, NULL, 1, 3), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_compute(&s, sets, 0, 3), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_compute(&s, sets, 4097, 3), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_compute(&s, nullsets, 1, 3), CRM_EINVAL);
    assert_null(s);
    assert_int_equal(crm_segment_stats_segments(NULL), 0);
    assert_int_equal(crm_segment_stats_customers(NULL), 0);
    assert_null(crm_segment_stats_matrix(NULL));
    crm_segment_stats_free(NULL);
    assert_int_equal(crm_segment_stats_compute(&s, sets, 1, 3), CRM_OK);
    crm_segment_stats *m = NULL;
    assert_int_equal(crm_segment_stats_merge(NULL, s, s), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_merge(&m, NULL, s), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_merge(&m, s, NULL), CRM_EINVAL);
    void *b = NULL;
    size_t n = 0;
    assert_int_equal(crm_segment_stats_serialize(NULL, &n, s), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_serialize(&b, NULL, s), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_serialize(&b, &n, NULL), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_load(NULL, "x", 1), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_load(&m, NULL, 0), CRM_EINVAL);
    assert_int_equal(crm_segment_stats_load(&m, "CRMB", 4), CRM_ESTATE);
    crm_segment_stats_free(s);
    crm_segment_env_free(e);
    crm_segment_env_free(NULL);
}

/* ---- allocation failures ---------------------------------------------------- */

typedef struct oom_ctx {
    crm_segment_env *env;
    crm_segment_program *prog;
    const char *expr;
    void *blob;
    size_t blob_len;
    const uint64_t *sets[3];
} oom_ctx;

static crm_status oom_compile(void *ctx)
{
    oom_ctx *c = ctx;
    crm_segment_program *p = NULL;
    crm_status s = crm_segment_compile(&p, c->expr, strlen(c->expr), c->env, NULL, NULL);
    return OOM_RESULT(s, p, crm_segment_program_free);
}

static crm_status oom_env(void *ctx)
{
    (void)ctx;
    crm_segment_env *e = NULL;
    crm_status s = crm_segment_env_new(&e, 8);
    if (!s)
        s = crm_segment_env_bind(e, "r", CRM_SEGMENT_U8, h_r);
    if (!s)
        s = crm_segment_env_bind_categorical(e, "stage", h_stage, h_stage_names, 4);
    if (!s)
        s = crm_segment_env_bind_categorical(e, "stage", h_stage, h_stage_names, 3);
    crm_segment_env_free(e);
    return s;
}

static crm_status oom_eval(void *ctx)
{
    oom_ctx *c = ctx;
    uint64_t bits = 99;
    crm_status s = crm_segment_eval(&bits, 1, c->prog, c->env);
    if (s)
        assert_int_equal(bits, 99);
    return s;
}

static crm_status oom_stats(void *ctx)
{
    oom_ctx *c = ctx;
    crm_segment_stats *a = NULL, *l = NULL, *m = NULL;
    void *b = NULL;
    size_t n = 0;
    crm_status s = crm_segment_stats_compute(&a, c->sets, 3, 8);
    if (!s)
        s = crm_segment_stats_serialize(&b, &n, a);
    if (!s)
        s = crm_segment_stats_load(&l, b, n);
    if (!s)
        s = crm_segment_stats_merge(&m, a, l);
    crm_bytes_free(b);
    crm_segment_stats_free(a);
    crm_segment_stats_free(l);
    crm_segment_stats_free(m);
    return s;
}

static void oom(void **state)
{
    (void)state;
    oom_ctx c;
    memset(&c, 0, sizeof c);
    c.env = hand_env();
    c.expr = "recency_days <= 30 and (stage in (at_risk, churned) or rfm_segment != \"x\") "
             "and not monetary between 1.5 and 2 or x in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)"
             " and gap_avg > 0.5";
    assert_true(oom_sweep(oom_compile, &c) > 3);
    assert_true(oom_sweep(oom_env, &c) > 3);
    assert_int_equal(crm_segment_compile(&c.prog, c.expr, strlen(c.expr), NULL, NULL, NULL),
                     CRM_OK);
    assert_true(oom_sweep(oom_eval, &c) > 3);
    uint64_t s0 = 1, s1 = 3, s2 = 0xff;
    c.sets[0] = &s0;
    c.sets[1] = &s1;
    c.sets[2] = &s2;
    assert_true(oom_sweep(oom_stats, &c) > 3);
    crm_segment_program_free(c.prog);
    crm_segment_env_free(c.env);
}

/* Frozen values of this header (the shared abi_layout test pins core's). */
static void abi_pins(void **state)
{
    (void)state;
    assert_int_equal(CRM_STRUCT_SEGMENT_OPTIONS, 15);
    assert_int_equal(sizeof(crm_segment_options), 12); /* version 1 */
    assert_int_equal(offsetof(crm_segment_options, max_length), 4);
    assert_int_equal(offsetof(crm_segment_options, max_depth), 8);
    assert_int_equal(crm_struct_size(CRM_STRUCT_SEGMENT_OPTIONS), sizeof(crm_segment_options));
    assert_int_equal(CRM_SEGMENT_OPTIONS_VERSION, 1);
    static const int types[] = {CRM_SEGMENT_I8, CRM_SEGMENT_U8, CRM_SEGMENT_I16,
                                CRM_SEGMENT_U16, CRM_SEGMENT_I32, CRM_SEGMENT_U32,
                                CRM_SEGMENT_I64, CRM_SEGMENT_U64, CRM_SEGMENT_F64};
    for (size_t i = 0; i < ARRAY_LEN(types); i++)
        assert_int_equal(types[i], (int)i + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_worked),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(limits),
        cmocka_unit_test(brute_force),
        cmocka_unit_test(profiles_binding),
        cmocka_unit_test(stats_and_partials),
        cmocka_unit_test(stats_inconsistent_blob),
        cmocka_unit_test(argument_errors),
        cmocka_unit_test(oom),
        cmocka_unit_test(abi_pins),
    };
    return cmocka_run_group_tests_name("segment", tests, NULL, NULL);
}
