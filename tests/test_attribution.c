/* Attribution module tests: hand-worked journeys for every model,
 * independent brute-force references written here (dense Gaussian
 * elimination for the Markov chains, permutation enumeration for Shapley
 * values, a separate splitmix64), properties (P = conv / journeys, credit
 * sums, merge == whole, events with infinite windows == paths), error paths
 * and OOM sweeps. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

_Static_assert(sizeof(crm_touch) == 32, "crm_touch is frozen at 32 bytes");
_Static_assert(offsetof(crm_touch, ts) == 8, "crm_touch.ts");
_Static_assert(offsetof(crm_touch, channel) == 16, "crm_touch.channel");
_Static_assert(offsetof(crm_touch, campaign) == 20, "crm_touch.campaign");
_Static_assert(offsetof(crm_touch, kind) == 24, "crm_touch.kind");
_Static_assert(sizeof(crm_conversion) == 32, "crm_conversion is frozen at 32 bytes");
_Static_assert(offsetof(crm_conversion, ts) == 8, "crm_conversion.ts");
_Static_assert(offsetof(crm_conversion, value) == 16, "crm_conversion.value");
_Static_assert(offsetof(crm_conversion, weight) == 24, "crm_conversion.weight");

#define DAY 86400
#define MAXCH 16

/* ---- helpers ------------------------------------------------------------- */

typedef struct row {
    const char *path;
    double conv, value, nulls;
} row;

static crm_attribution_paths *table_of(const row *rows, size_t n)
{
    crm_attribution_paths *t = NULL;
    assert_int_equal(crm_attribution_paths_new(&t), CRM_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(crm_attribution_paths_add(t, rows[i].path, ">", rows[i].conv,
                                                   rows[i].value, rows[i].nulls),
                         CRM_OK);
    return t;
}

static double credit_of(const crm_attribution_paths *t, int model,
                        const crm_attribution_options *o, const char *ch, double *value)
{
    double c[MAXCH], v[MAXCH];
    size_t n = crm_attribution_paths_n_channels(t);
    assert_true(n <= MAXCH);
    assert_int_equal(crm_attribution_paths_credit(t, model, o, c, v), CRM_OK);
    int64_t i = crm_attribution_paths_channel_index(t, ch);
    assert_true(i >= 0);
    if (value)
        *value = v[i];
    return c[i];
}

static crm_attribution_options opts(void)
{
    crm_attribution_options o;
    assert_int_equal(crm_attribution_options_init(&o, CRM_ATTRIBUTION_OPTIONS_VERSION), CRM_OK);
    return o;
}

/* Random path data over nch channels with integer counts. */
typedef struct rnd_paths {
    size_t n;
    uint32_t len[64];
    uint32_t ch[64][8];
    double conv[64], value[64], nulls[64];
} rnd_paths;

static void rnd_fill(rnd_paths *p, test_rng *r, size_t n, uint32_t nch, uint32_t maxlen)
{
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        p->len[i] = (uint32_t)test_rng_range(r, 1, maxlen);
        for (uint32_t k = 0; k < p->len[i]; k++)
            p->ch[i][k] = (uint32_t)test_rng_range(r, 0, nch - 1);
        p->conv[i] = (double)test_rng_range(r, 0, 5);
        p->nulls[i] = (double)test_rng_range(r, 0, 9);
        if (p->conv[i] + p->nulls[i] == 0)
            p->nulls[i] = 1;
        p->value[i] = p->conv[i] * (double)test_rng_range(r, 1, 100) / 4.0;
    }
}

static crm_attribution_paths *rnd_table(const rnd_paths *p, size_t from, size_t to,
                                        uint32_t nch)
{
    uint64_t off[65];
    uint32_t flat[64 * 8];
    size_t k = 0;
    off[0] = 0;
    for (size_t i = from; i < to; i++) {
        for (uint32_t q = 0; q < p->len[i]; q++)
            flat[k++] = p->ch[i][q];
        off[i - from + 1] = k;
    }
    static const char *names[] = { "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7" };
    crm_attribution_paths *t = NULL;
    assert_int_equal(crm_attribution_paths_from_arrays(&t, nch, names, to - from, off, flat,
                                                       p->conv + from, p->value + from,
                                                       p->nulls + from),
                     CRM_OK);
    return t;
}

/* ---- dense reference Markov chain (independent of the library) ---------- */

typedef struct ref_state {
    int len;
    uint32_t s[4];
} ref_state;

typedef struct ref_chain {
    int n;              /* transient states */
    ref_state st[512];
    double w[514][514]; /* [from][to]: 0..n-1 states, n = conv, n+1 = null */
    double start[512];
    double cl[512], vl[512]; /* conversions / value of paths ending in the state */
} ref_chain;

static int ref_find(ref_chain *c, const uint32_t *s, int len)
{
    for (int i = 0; i < c->n; i++)
        if (c->st[i].len == len && memcmp(c->st[i].s, s, (size_t)len * 4) == 0)
            return i;
    assert_true(c->n < 512);
    c->st[c->n].len = len;
    memcpy(c->st[c->n].s, s, (size_t)len * 4);
    return c->n++;
}

static void ref_build(ref_chain *c, const rnd_paths *p, int K)
{
    memset(c, 0, sizeof *c);
    /* two passes: states first (so conv / null columns are n, n + 1) */
    int seqs[64][16], ns[64];
    for (size_t r = 0; r < p->n; r++) {
        int len = (int)p->len[r];
        ns[r] = 0;
        if (len < K) {
            seqs[r][ns[r]++] = ref_find(c, p->ch[r], len);
        } else {
            for (int i = 0; i + K <= len; i++) {
                int s = ref_find(c, p->ch[r] + i, K);
                if (ns[r] == 0 || seqs[r][ns[r] - 1] != s)
                    seqs[r][ns[r]++] = s;
            }
        }
    }
    for (size_t r = 0; r < p->n; r++) {
        double tot = p->conv[r] + p->nulls[r];
        c->start[seqs[r][0]] += tot;
        for (int i = 0; i + 1 < ns[r]; i++)
            c->w[seqs[r][i]][seqs[r][i + 1]] += tot;
        int last = seqs[r][ns[r] - 1];
        c->w[last][c->n] += p->conv[r];
        c->w[last][c->n + 1] += p->nulls[r];
        c->cl[last] += p->conv[r];
        c->vl[last] += p->value[r];
    }
}

static bool ref_has(const ref_state *s, uint32_t ch)
{
    for (int i = 0; i < s->len; i++)
        if (s->s[i] == ch)
            return true;
    return false;
}

/* P and E with channel `removed` deleted (-1: none), by dense Gaussian
 * elimination of (I - Q) [x y] = [rc rv]; max_step > 0: by summing walks. */
static void ref_solve(const ref_chain *c, int removed, int max_step, double *P, double *E)
{
    int n = c->n;
    static double A[512][514];
    double stot = 0;
    for (int i = 0; i < n; i++)
        stot += c->start[i];
    bool keep[512];
    double rowtot[512];
    for (int i = 0; i < n; i++) {
        keep[i] = removed < 0 || !ref_has(&c->st[i], (uint32_t)removed);
        rowtot[i] = 0;
        for (int j = 0; j < n + 2; j++)
            rowtot[i] += c->w[i][j];
    }
    if (max_step > 0) {
        double v[512], v2[512];
        *P = *E = 0;
        for (int i = 0; i < n; i++)
            v[i] = keep[i] ? c->start[i] / stot : 0;
        for (int k = 1; k <= max_step; k++) {
            for (int i = 0; i < n; i++) {
                double rc = c->w[i][n] / rowtot[i];
                *P += v[i] * rc;
                *E += v[i] * rc * (c->cl[i] > 0 ? c->vl[i] / c->cl[i] : 0);
            }
            for (int j = 0; j < n; j++) {
                v2[j] = 0;
                for (int i = 0; i < n; i++)
                    v2[j] += v[i] * c->w[i][j] / rowtot[i];
            }
            for (int j = 0; j < n; j++)
                v[j] = keep[j] ? v2[j] : 0;
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            A[i][j] = (i == j) - (keep[i] && keep[j] ? c->w[i][j] / rowtot[i] : 0);
        double rc = keep[i] ? c->w[i][n] / rowtot[i] : 0;
        A[i][n] = rc;
        A[i][n + 1] = c->cl[i] > 0 ? rc * c->vl[i] / c->cl[i] : 0;
    }
    for (int k = 0; k < n; k++) {
        int piv = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(A[i][k]) > fabs(A[piv][k]))
                piv = i;
        for (int j = 0; j < n + 2; j++) {
            double t = A[k][j];
            A[k][j] = A[piv][j];
            A[piv][j] = t;
        }
        for (int i = 0; i < n; i++) {
            if (i == k || A[i][k] == 0)
                continue;
            double f = A[i][k] / A[k][k];
            for (int j = k; j < n + 2; j++)
                A[i][j] -= f * A[k][j];
        }
    }
    *P = *E = 0;
    for (int i = 0; i < n; i++)
        if (keep[i]) {
            *P += c->start[i] / stot * A[i][n] / A[i][i];
            *E += c->start[i] / stot * A[i][n + 1] / A[i][i];
        }
}

/* ---- options and records ------------------------------------------------- */

static void options_defaults_and_versions(void **state)
{
    (void)state;
    crm_attribution_options o = opts();
    assert_int_equal(o.order, 1);
    assert_close(o.position_first, 0.4, 0);
    assert_close(o.position_middle, 0.2, 0);
    assert_close(o.position_last, 0.4, 0);
    assert_true(o.direct_channel == -1);
    assert_close(o.half_life_days, 7, 0);
    assert_int_equal(crm_attribution_options_init(NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_attribution_options_init(&o, 0), CRM_EVERSION);
    assert_int_equal(crm_attribution_options_init(&o, 3), CRM_EVERSION);
    assert_int_equal(o.threads, 1);
    /* a version-1 caller: threads keeps its default */
    crm_attribution_options v1;
    memset(&v1, 0xAB, sizeof v1);
    assert_int_equal(crm_attribution_options_init(&v1, 1), CRM_OK);
    assert_int_equal(v1.order, 1);
    crm_attribution_journey_options j;
    assert_int_equal(crm_attribution_journey_options_init(&j, 1), CRM_OK);
    assert_int_equal(j.click_window_days, 30);
    assert_int_equal(j.view_window_days, 1);
    assert_int_equal(j.no_reset, 0);
    assert_int_equal(crm_attribution_journey_options_init(NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_attribution_journey_options_init(&j, 9), CRM_EVERSION);
    assert_int_equal(crm_attribution_journey_options_init(&j, CRM_ATTRIBUTION_JOURNEY_OPTIONS_VERSION),
                     CRM_OK);
    assert_int_equal(j.by_campaign, 0);
    assert_int_equal(crm_struct_size(CRM_STRUCT_TOUCH), 32);
    assert_int_equal(crm_struct_size(CRM_STRUCT_CONVERSION), 32);
    assert_int_equal(crm_struct_size(CRM_STRUCT_ATTRIBUTION_OPTIONS),
                     sizeof(crm_attribution_options));
    assert_int_equal(crm_struct_size(CRM_STRUCT_ATTRIBUTION_JOURNEY_OPTIONS),
                     sizeof(crm_attribution_journey_options));
    assert_int_equal(crm_struct_size(CRM_STRUCT_ATTRIBUTION_UPLIFT_RESULT),
                     sizeof(crm_attribution_uplift_result));

    /* invalid option values */
    row rows[] = { { "a > b", 1, 1, 0 } };
    crm_attribution_paths *t = table_of(rows, 1);
    double c[2];
    o.order = 5;
    assert_int_equal(crm_attribution_paths_credit(t, CRM_ATTRIBUTION_MARKOV, &o, c, NULL),
                     CRM_EINVAL);
    o = opts();
    o.position_first = 0.5;
    assert_int_equal(crm_attribution_paths_credit(t, CRM_ATTRIBUTION_LINEAR, &o, c, NULL),
                     CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "sum"));
    o = opts();
    o.threads = 65;
    assert_int_equal(crm_attribution_paths_credit(t, CRM_ATTRIBUTION_MARKOV, &o, c, NULL),
                     CRM_EINVAL);
    o = opts();
    o.half_life_days = 0;
    assert_int_equal(crm_attribution_paths_credit(t, CRM_ATTRIBUTION_LINEAR, &o, c, NULL),
                     CRM_EINVAL);
    o = opts();
    o.version = 7;
    assert_int_equal(crm_attribution_paths_credit(t, CRM_ATTRIBUTION_LINEAR, &o, c, NULL),
                     CRM_EVERSION);
    assert_int_equal(crm_attribution_paths_credit(t, 99, NULL, c, NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_credit(t, CRM_ATTRIBUTION_TIME_DECAY, NULL, c, NULL),
                     CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_credit(NULL, 1, NULL, c, NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_credit(t, 1, NULL, NULL, NULL), CRM_EINVAL);
    crm_attribution_paths_free(t);
}

/* ---- path text ----------------------------------------------------------- */

static void path_text_rules(void **state)
{
    (void)state;
    crm_attribution_paths *t = NULL;
    assert_int_equal(crm_attribution_paths_new(&t), CRM_OK);
    /* separator of any length, blanks stripped, empty names dropped */
    assert_int_equal(crm_attribution_paths_add(t, "  email ::  ::seo::email ", "::", 2, 10, 3),
                     CRM_OK);
    assert_int_equal(crm_attribution_paths_add(t, "email::seo::email", "::", 1, 5, 0), CRM_OK);
    assert_int_equal(crm_attribution_paths_add(t, "  >  > ", NULL, 4, 8, 1), CRM_OK);
    assert_int_equal(crm_attribution_paths_add(t, "", NULL, 0, 0, 2), CRM_OK);
    assert_int_equal(crm_attribution_paths_n_channels(t), 2);
    assert_string_equal(crm_attribution_paths_channel_name(t, 0), "email");
    assert_string_equal(crm_attribution_paths_channel_name(t, 1), "seo");
    assert_null(crm_attribution_paths_channel_name(t, 2));
    assert_true(crm_attribution_paths_channel_index(t, "seo") == 1);
    assert_true(crm_attribution_paths_channel_index(t, "nope") == -1);
    assert_true(crm_attribution_paths_channel_index(NULL, "seo") == -1);
    assert_int_equal(crm_attribution_paths_n_rows(t), 1);
    const uint64_t *off;
    const uint32_t *ch;
    const double *cv, *val, *nl;
    assert_int_equal(crm_attribution_paths_columns(t, &off, &ch, &cv, &val, &nl), CRM_OK);
    assert_int_equal(off[1], 3);
    assert_int_equal(ch[0], 0);
    assert_int_equal(ch[1], 1);
    assert_int_equal(ch[2], 0);
    assert_close(cv[0], 3, 0);
    assert_close(val[0], 15, 0);
    assert_close(nl[0], 3, 0);
    double c, v, n, uc, uv;
    assert_int_equal(crm_attribution_paths_totals(t, &c, &v, &n, &uc, &uv), CRM_OK);
    assert_close(c, 3, 0);
    assert_close(uc, 4, 0);
    assert_close(uv, 8, 0);
    /* empty paths are credited to nobody */
    double cr[2];
    assert_int_equal(crm_attribution_paths_credit(t, CRM_ATTRIBUTION_LINEAR, NULL, cr, NULL),
                     CRM_OK);
    assert_close(cr[0] + cr[1], 3, 1e-15);
    /* errors leave the table unchanged */
    assert_int_equal(crm_attribution_paths_add(t, "x > y", NULL, NAN, 0, 0), CRM_EDATA);
    assert_int_equal(crm_attribution_paths_add(t, "x > y", NULL, 1, -1, 0), CRM_EDATA);
    assert_int_equal(crm_attribution_paths_add(t, "x > y", NULL, 1, 0, INFINITY), CRM_EDATA);
    assert_int_equal(crm_attribution_paths_add(t, "x", "", 1, 0, 0), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_add(NULL, "x", NULL, 1, 0, 0), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_add(t, NULL, NULL, 1, 0, 0), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_n_channels(t), 2);
    assert_int_equal(crm_attribution_paths_new(NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_columns(NULL, &off, &ch, &cv, &val, &nl), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_totals(NULL, &c, &v, &n, &uc, &uv), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_n_rows(NULL), 0);
    assert_int_equal(crm_attribution_paths_n_channels(NULL), 0);
    crm_attribution_paths_free(t);
    crm_attribution_paths_free(NULL);
}

static void csv_parse(void **state)
{
    (void)state;
    const char *csv = "path;total_conversions;total_conversion_value;total_null\r\n"
                      "a > b;1;2.5;3\r\n"
                      "\"b > a\";0;0;4\r\n"
                      "\r\n"
                      "a>b;2;1.5;0\r\n";
    crm_attribution_paths *t = NULL;
    assert_int_equal(crm_attribution_paths_parse(&t, csv, strlen(csv), ';', NULL), CRM_OK);
    assert_int_equal(crm_attribution_paths_n_rows(t), 2);
    double c, v, n;
    assert_int_equal(crm_attribution_paths_totals(t, &c, &v, &n, NULL, NULL), CRM_OK);
    assert_close(c, 3, 0);
    assert_close(v, 4, 0);
    assert_close(n, 7, 0);
    crm_attribution_paths_free(t);
    /* comma-separated, three columns (no value), quoted field with commas */
    const char *csv2 = "path,conv,null\n\"x, y | z\",2,1\nz,0,5";
    assert_int_equal(crm_attribution_paths_parse(&t, csv2, strlen(csv2), ',', "|"), CRM_OK);
    assert_int_equal(crm_attribution_paths_n_channels(t), 2);
    assert_string_equal(crm_attribution_paths_channel_name(t, 0), "x, y");
    assert_int_equal(crm_attribution_paths_totals(t, &c, &v, &n, NULL, NULL), CRM_OK);
    assert_close(c, 2, 0);
    assert_close(v, 0, 0);
    assert_close(n, 6, 0);
    crm_attribution_paths_free(t);
    /* bad rows name the line */
    const char *bad = "h;c;v;n\na;1;2;3\nb;1;x;3\n";
    assert_int_equal(crm_attribution_paths_parse(&t, bad, strlen(bad), ';', NULL), CRM_EDATA);
    assert_null(t);
    assert_non_null(strstr(crm_last_error(), "line 3"));
    const char *neg = "h;c;v;n\na;1;2;3\nb;1;2;-3\n";
    assert_int_equal(crm_attribution_paths_parse(&t, neg, strlen(neg), ';', NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "line 3"));
    const char *nan = "h;c;v;n\na;nan;2;3\n";
    assert_int_equal(crm_attribution_paths_parse(&t, nan, strlen(nan), ';', NULL), CRM_EDATA);
    const char *few = "h;c;v;n\na;1\n";
    assert_int_equal(crm_attribution_paths_parse(&t, few, strlen(few), ';', NULL), CRM_EDATA);
    const char nul[] = "h;c;v;n\na\0b;1;2;3\n";
    assert_int_equal(crm_attribution_paths_parse(&t, nul, sizeof nul - 1, ';', NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "line 2"));
    assert_int_equal(crm_attribution_paths_parse(NULL, bad, 3, ';', NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_parse(&t, NULL, 3, ';', NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_parse(&t, bad, 3, '"', NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_parse(&t, "", 0, ';', NULL), CRM_OK);
    assert_int_equal(crm_attribution_paths_n_rows(t), 0);
    /* an empty table round-trips through the wire format */
    void *b;
    size_t bl;
    assert_int_equal(crm_attribution_paths_serialize(t, &b, &bl), CRM_OK);
    crm_attribution_paths *e = NULL;
    assert_int_equal(crm_attribution_paths_deserialize(&e, b, bl), CRM_OK);
    assert_int_equal(crm_attribution_paths_n_channels(e), 0);
    crm_bytes_free(b);
    crm_attribution_paths_free(e);
    crm_attribution_paths_free(t);
}

static void from_arrays_checks(void **state)
{
    (void)state;
    uint64_t off[] = { 0, 2, 3 };
    uint32_t ch[] = { 0, 1, 1 };
    double cv[] = { 1, 2 }, nl[] = { 0, 1 };
    crm_attribution_paths *t = NULL;
    assert_int_equal(crm_attribution_paths_from_arrays(&t, 2, NULL, 2, off, ch, cv, NULL, nl),
                     CRM_OK);
    assert_string_equal(crm_attribution_paths_channel_name(t, 1), "1");
    crm_attribution_paths_free(t);
    uint32_t badch[] = { 0, 2, 1 };
    assert_int_equal(crm_attribution_paths_from_arrays(&t, 2, NULL, 2, off, badch, cv, NULL, nl),
                     CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "rows[0]"));
    double badc[] = { 1, NAN };
    assert_int_equal(crm_attribution_paths_from_arrays(&t, 2, NULL, 2, off, ch, badc, NULL, nl),
                     CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "rows[1]"));
    uint64_t badoff[] = { 0, 3, 2 };
    assert_int_equal(crm_attribution_paths_from_arrays(&t, 2, NULL, 2, badoff, ch, cv, NULL, nl),
                     CRM_EDATA);
    const char *dup[] = { "a", "a" };
    assert_int_equal(crm_attribution_paths_from_arrays(&t, 2, dup, 2, off, ch, cv, NULL, nl),
                     CRM_EDATA);
    assert_int_equal(crm_attribution_paths_from_arrays(NULL, 2, NULL, 2, off, ch, cv, NULL, nl),
                     CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_from_arrays(&t, 2, NULL, 2, NULL, ch, cv, NULL, nl),
                     CRM_EINVAL);
    assert_null(t);
}

/* ---- heuristics by hand -------------------------------------------------- */

static void heuristics_by_hand(void **state)
{
    (void)state;
    row rows[] = {
        { "A", 1, 10, 5 },             /* 1 touch: everything to A */
        { "B > C", 2, 20, 0 },         /* 2 touches */
        { "A > B > B > C", 4, 40, 1 }, /* repeats */
        { "D > D", 1, 1, 0 },          /* all direct */
        { "A > D", 1, 2, 0 },
    };
    crm_attribution_paths *t = table_of(rows, ARRAY_LEN(rows));
    crm_attribution_options o = opts();
    double v;
    /* first touch: A = 1 + 4 + 1, B = 2, D = 1 */
    assert_close(credit_of(t, CRM_ATTRIBUTION_FIRST_TOUCH, &o, "A", &v), 6, 1e-15);
    assert_close(v, 52, 1e-15);
    assert_close(credit_of(t, CRM_ATTRIBUTION_FIRST_TOUCH, &o, "B", NULL), 2, 1e-15);
    assert_close(credit_of(t, CRM_ATTRIBUTION_FIRST_TOUCH, &o, "D", NULL), 1, 1e-15);
    /* last touch: A = 1, C = 2 + 4, D = 1 + 1 */
    assert_close(credit_of(t, CRM_ATTRIBUTION_LAST_TOUCH, &o, "C", &v), 6, 1e-15);
    assert_close(v, 60, 1e-15);
    assert_close(credit_of(t, CRM_ATTRIBUTION_LAST_TOUCH, &o, "D", NULL), 2, 1e-15);
    /* linear: B = 2/2 + 4 * 2/4 = 3 (seen twice gets 2/len) */
    assert_close(credit_of(t, CRM_ATTRIBUTION_LINEAR, &o, "B", &v), 3, 1e-15);
    assert_close(v, 10 + 20, 1e-15);
    assert_close(credit_of(t, CRM_ATTRIBUTION_LINEAR, &o, "A", NULL), 1 + 1 + 0.5, 1e-15);
    /* position based: B > C 50/50; A > B > B > C: A .4, B .1 + .1, C .4 */
    assert_close(credit_of(t, CRM_ATTRIBUTION_POSITION_BASED, &o, "B", NULL), 1 + 4 * 0.2,
                 1e-15);
    assert_close(credit_of(t, CRM_ATTRIBUTION_POSITION_BASED, &o, "C", NULL), 1 + 4 * 0.4,
                 1e-15);
    assert_close(credit_of(t, CRM_ATTRIBUTION_POSITION_BASED, &o, "A", NULL),
                 1 + 4 * 0.4 + 0.5, 1e-15);
    o.position_first = 0.3;
    o.position_middle = 0.6;
    o.position_last = 0.1;
    assert_close(credit_of(t, CRM_ATTRIBUTION_POSITION_BASED, &o, "B", NULL), 1 + 4 * 0.6,
                 1e-15);
    /* last non-direct: direct = D; A > D -> A; D > D stays D */
    o = opts();
    assert_close(credit_of(t, CRM_ATTRIBUTION_LAST_NON_DIRECT, &o, "D", NULL), 2, 1e-15);
    o.direct_channel = crm_attribution_paths_channel_index(t, "D");
    assert_close(credit_of(t, CRM_ATTRIBUTION_LAST_NON_DIRECT, &o, "D", NULL), 1, 1e-15);
    assert_close(credit_of(t, CRM_ATTRIBUTION_LAST_NON_DIRECT, &o, "A", &v), 2, 1e-15);
    assert_close(v, 12, 1e-15);
    /* every model hands out exactly the total */
    int models[] = { 1, 2, 3, 4, 5, 8, 9, 10 };
    for (size_t m = 0; m < ARRAY_LEN(models); m++) {
        double c[MAXCH], vv[MAXCH], sc = 0, sv = 0;
        assert_int_equal(crm_attribution_paths_credit(t, models[m], &o, c, vv), CRM_OK);
        for (size_t i = 0; i < crm_attribution_paths_n_channels(t); i++) {
            sc += c[i];
            sv += vv[i];
        }
        assert_close(sc, 9, 1e-12);
        assert_close(sv, 73, 1e-12);
    }
    crm_attribution_paths_free(t);
}

/* ---- Markov -------------------------------------------------------------- */

static void markov_by_hand(void **state)
{
    (void)state;
    /* start->A 1, start->B 1, A->B 1, B->conv 1, B->null 1: P = 1/2;
     * without A: 1/4 (RE 1/2); without B: 0 (RE 1); credit 1/3, 2/3 */
    row rows[] = { { "A > B", 1, 6, 0 }, { "B", 0, 0, 1 } };
    crm_attribution_paths *t = table_of(rows, 2);
    crm_attribution_markov *m = NULL;
    assert_int_equal(crm_attribution_markov_fit(&m, t, NULL), CRM_OK);
    assert_close(crm_attribution_markov_p_conversion(m), 0.5, 1e-15);
    assert_close(crm_attribution_markov_expected_value(m), 3, 1e-15);
    size_t n;
    const double *re = crm_attribution_markov_array(m, CRM_ATTRIBUTION_RE, &n);
    assert_int_equal(n, 2);
    assert_close(re[0], 0.5, 1e-15);
    assert_close(re[1], 1.0, 1e-15);
    const double *cc = crm_attribution_markov_array(m, CRM_ATTRIBUTION_CONV, NULL);
    assert_close(cc[0], 1.0 / 3, 1e-15);
    assert_close(cc[1], 2.0 / 3, 1e-15);
    const double *vc = crm_attribution_markov_array(m, CRM_ATTRIBUTION_VALUE, NULL);
    assert_close(vc[0], 2, 1e-15);
    assert_close(vc[1], 4, 1e-15);
    const double *se = crm_attribution_markov_array(m, CRM_ATTRIBUTION_RE_SE, NULL);
    assert_true(isnan(se[0]));
    assert_null(crm_attribution_markov_array(m, 0, NULL));
    assert_null(crm_attribution_markov_array(m, 9, NULL));
    /* transition matrix with names */
    assert_int_equal(crm_attribution_markov_n_states(m), 5);
    assert_string_equal(crm_attribution_markov_state_name(m, 0), "(start)");
    assert_string_equal(crm_attribution_markov_state_name(m, 1), "(conversion)");
    assert_string_equal(crm_attribution_markov_state_name(m, 2), "(null)");
    assert_string_equal(crm_attribution_markov_state_name(m, 3), "A");
    assert_string_equal(crm_attribution_markov_state_name(m, 4), "B");
    assert_null(crm_attribution_markov_state_name(m, 5));
    const uint32_t *from, *to;
    const double *prob;
    assert_int_equal(crm_attribution_markov_transitions(m, &n, &from, &to, &prob), CRM_OK);
    /* (start->A .5) (start->B .5) (A->B 1) (B->conv .5) (B->null .5) */
    assert_int_equal(n, 5);
    uint32_t ef[] = { 0, 0, 3, 4, 4 }, et[] = { 3, 4, 4, 1, 2 };
    double ep[] = { .5, .5, 1, .5, .5 };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(from[i], ef[i]);
        assert_int_equal(to[i], et[i]);
        assert_close(prob[i], ep[i], 1e-15);
    }
    assert_int_equal(crm_attribution_markov_transitions(m, NULL, &from, &to, &prob), CRM_EINVAL);
    crm_attribution_markov_free(m);

    /* max_step 1: only start -> B -> conv: P = 1/4; without A still 1/4 */
    crm_attribution_options o = opts();
    o.max_step = 1;
    assert_int_equal(crm_attribution_markov_fit(&m, t, &o), CRM_OK);
    assert_close(crm_attribution_markov_p_conversion(m), 0.25, 1e-15);
    re = crm_attribution_markov_array(m, CRM_ATTRIBUTION_RE, NULL);
    assert_close(re[0], 0, 1e-15);
    assert_close(re[1], 1, 1e-15);
    crm_attribution_markov_free(m);

    /* self-loops: A > A > B merged (=A > B) unless keep_self_loops */
    row loops[] = { { "A > A > B", 1, 1, 1 } };
    crm_attribution_paths *t2 = table_of(loops, 1);
    assert_int_equal(crm_attribution_markov_fit(&m, t2, NULL), CRM_OK);
    assert_int_equal(crm_attribution_markov_transitions(m, &n, &from, &to, &prob), CRM_OK);
    assert_int_equal(n, 4); /* start->A, A->B, B->conv, B->null */
    crm_attribution_markov_free(m);
    o = opts();
    o.keep_self_loops = 1;
    assert_int_equal(crm_attribution_markov_fit(&m, t2, &o), CRM_OK);
    assert_int_equal(crm_attribution_markov_transitions(m, &n, &from, &to, &prob), CRM_OK);
    assert_int_equal(n, 5); /* + A->A (1/2) */
    assert_close(prob[1], 0.5, 1e-15);
    assert_close(crm_attribution_markov_p_conversion(m), 0.5, 1e-15);
    crm_attribution_markov_free(m);
    crm_attribution_paths_free(t2);

    /* order 2: a path shorter than K is one state named by its channels */
    o = opts();
    o.order = 2;
    assert_int_equal(crm_attribution_markov_fit(&m, t, &o), CRM_OK);
    assert_int_equal(crm_attribution_markov_n_states(m), 5);
    assert_string_equal(crm_attribution_markov_state_name(m, 3), "A > B");
    assert_string_equal(crm_attribution_markov_state_name(m, 4), "B");
    /* start->"A > B" 1/2 (converts), start->"B" 1/2 (null): removing A
     * deletes "A > B", so P drops to 0; the chain has no A state left */
    re = crm_attribution_markov_array(m, CRM_ATTRIBUTION_RE, NULL);
    assert_close(re[0], 1.0, 1e-15);
    assert_close(re[1], 1.0, 1e-15);
    crm_attribution_markov_free(m);

    /* errors */
    assert_int_equal(crm_attribution_markov_fit(NULL, t, NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_markov_fit(&m, NULL, NULL), CRM_EINVAL);
    crm_attribution_paths *empty;
    assert_int_equal(crm_attribution_paths_new(&empty), CRM_OK);
    assert_int_equal(crm_attribution_markov_fit(&m, empty, NULL), CRM_EDATA);
    assert_null(m);
    crm_attribution_paths_free(empty);
    assert_true(isnan(crm_attribution_markov_p_conversion(NULL)));
    assert_true(isnan(crm_attribution_markov_expected_value(NULL)));
    assert_int_equal(crm_attribution_markov_n_states(NULL), 0);
    crm_attribution_markov_free(NULL);
    crm_attribution_paths_free(t);
}

/* Removal effects and P, E against the dense reference on random chains
 * (cycles included), orders 1-4, with and without max_step. */
static void markov_vs_dense_reference(void **state)
{
    (void)state;
    static ref_chain rc;
    test_rng r = { 42 };
    for (int trial = 0; trial < 24; trial++) {
        rnd_paths p;
        uint32_t nch = (uint32_t)test_rng_range(&r, 2, 5);
        rnd_fill(&p, &r, (size_t)test_rng_range(&r, 3, 40), nch, 7);
        if (trial % 2) /* fractional counts are taken as they are */
            for (size_t i = 0; i < p.n; i++) {
                p.conv[i] *= 0.37;
                p.nulls[i] *= 1.61;
                p.value[i] *= 0.37;
            }
        crm_attribution_paths *t = rnd_table(&p, 0, p.n, nch);
        int K = 1 + trial % 4;
        int max_step = trial % 3 == 2 ? 1 + trial % 5 : 0;
        ref_build(&rc, &p, K);
        crm_attribution_options o = opts();
        o.order = (uint32_t)K;
        o.max_step = (uint32_t)max_step;
        crm_attribution_markov *m;
        assert_int_equal(crm_attribution_markov_fit(&m, t, &o), CRM_OK);
        double P, E;
        ref_solve(&rc, -1, max_step, &P, &E);
        assert_close(crm_attribution_markov_p_conversion(m), P, 1e-12);
        assert_close(crm_attribution_markov_expected_value(m), E, 1e-12);
        if (!max_step) { /* the identity of the spec */
            double c = 0, v = 0, n = 0;
            for (size_t i = 0; i < p.n; i++) {
                c += p.conv[i];
                v += p.value[i];
                n += p.nulls[i];
            }
            assert_close(P, c / (c + n), 1e-12);
            assert_close(E, v / (c + n), 1e-12);
        }
        const double *re = crm_attribution_markov_array(m, CRM_ATTRIBUTION_RE, NULL);
        const double *vre = crm_attribution_markov_array(m, CRM_ATTRIBUTION_VALUE_RE, NULL);
        for (uint32_t ch = 0; ch < nch; ch++) {
            int64_t idx = crm_attribution_paths_channel_index(t, (const char *[]){
                "c0", "c1", "c2", "c3", "c4" }[ch]);
            if (idx < 0)
                continue;
            double Pc, Ec;
            ref_solve(&rc, (int)ch, max_step, &Pc, &Ec);
            double want = P > 0 ? 1 - Pc / P : 0, wantv = E > 0 ? 1 - Ec / E : 0;
            assert_close(re[idx], want, 1e-9);
            assert_close(vre[idx], wantv, 1e-9);
            assert_true(re[idx] >= -1e-12 && re[idx] <= 1 + 1e-12);
        }
        crm_attribution_markov_free(m);
        crm_attribution_paths_free(t);
    }
}

/* ---- Shapley ------------------------------------------------------------- */

static void perm_next(int *a, int n, bool *done)
{
    int i = n - 2;
    while (i >= 0 && a[i] > a[i + 1])
        i--;
    if (i < 0) {
        *done = true;
        return;
    }
    int j = n - 1;
    while (a[j] < a[i])
        j--;
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
    for (int l = i + 1, h = n - 1; l < h; l++, h--) {
        t = a[l];
        a[l] = a[h];
        a[h] = t;
    }
}

static unsigned set_of(const rnd_paths *p, size_t i)
{
    unsigned s = 0;
    for (uint32_t k = 0; k < p->len[i]; k++)
        s |= 1u << p->ch[i][k];
    return s;
}

static void shapley_vs_permutations(void **state)
{
    (void)state;
    test_rng r = { 7 };
    for (int trial = 0; trial < 10; trial++) {
        rnd_paths p;
        uint32_t nch = (uint32_t)test_rng_range(&r, 2, 5);
        rnd_fill(&p, &r, (size_t)test_rng_range(&r, 4, 30), nch, 5);
        crm_attribution_paths *t = rnd_table(&p, 0, p.n, nch);
        double got[MAXCH], gotv[MAXCH], got2[MAXCH], got2v[MAXCH];
        assert_int_equal(crm_attribution_paths_credit(t, CRM_ATTRIBUTION_SHAPLEY, NULL, got, gotv),
                         CRM_OK);
        assert_int_equal(crm_attribution_paths_credit(t, CRM_ATTRIBUTION_SHAPLEY_CR, NULL, got2,
                                                      got2v),
                         CRM_OK);
        /* coverage game by permutations over all channels */
        double want[MAXCH] = { 0 }, wantv[MAXCH] = { 0 }, nperm = 0;
        int a[MAXCH];
        for (uint32_t i = 0; i < nch; i++)
            a[i] = (int)i;
        bool done = false;
        while (!done) {
            unsigned S = 0;
            double prev = 0, prevv = 0;
            for (uint32_t k = 0; k < nch; k++) {
                S |= 1u << a[k];
                double v = 0, vv = 0;
                for (size_t i = 0; i < p.n; i++)
                    if ((set_of(&p, i) & ~S) == 0) {
                        v += p.conv[i];
                        vv += p.value[i];
                    }
                want[a[k]] += v - prev;
                wantv[a[k]] += vv - prevv;
                prev = v;
                prevv = vv;
            }
            nperm++;
            perm_next(a, (int)nch, &done);
        }
        /* conversion-rate game: per converting set T, permutations of T */
        double want2[MAXCH] = { 0 }, want2v[MAXCH] = { 0 };
        for (unsigned T = 1; T < (1u << nch); T++) {
            double tc = 0, tn = 0, tv = 0;
            for (size_t i = 0; i < p.n; i++)
                if (set_of(&p, i) == T) {
                    tc += p.conv[i];
                    tn += p.nulls[i];
                    tv += p.value[i];
                }
            if (tc <= 0)
                continue;
            int mem[MAXCH], m = 0;
            for (uint32_t c = 0; c < nch; c++)
                if (T >> c & 1)
                    mem[m++] = (int)c;
            double phi[MAXCH] = { 0 }, np = 0;
            int b[MAXCH];
            for (int i = 0; i < m; i++)
                b[i] = i;
            bool d2 = false;
            while (!d2) {
                unsigned S = 0;
                double prev = 0;
                for (int k = 0; k < m; k++) {
                    S |= 1u << mem[b[k]];
                    double c = 0, n = 0;
                    for (size_t i = 0; i < p.n; i++)
                        if (set_of(&p, i) == S) {
                            c += p.conv[i];
                            n += p.nulls[i];
                        }
                    double v = c + n > 0 ? c / (c + n) : 0;
                    phi[mem[b[k]]] += v - prev;
                    prev = v;
                }
                np++;
                perm_next(b, m, &d2);
            }
            double sum = 0;
            for (int i = 0; i < m; i++)
                sum += phi[mem[i]] / np;
            assert_close(sum, tc / (tc + tn), 1e-12); /* efficiency */
            for (int i = 0; i < m; i++) {
                want2[mem[i]] += phi[mem[i]] / np / sum * tc;
                want2v[mem[i]] += phi[mem[i]] / np / sum * tv;
            }
        }
        static const char *nm[] = { "c0", "c1", "c2", "c3", "c4" };
        double tot = 0, tot2 = 0, conv = 0;
        for (uint32_t c = 0; c < nch; c++) {
            int64_t idx = crm_attribution_paths_channel_index(t, nm[c]);
            if (idx < 0) {
                assert_close(want[c], 0, 1e-12);
                continue;
            }
            assert_close(got[idx], want[c] / nperm, 1e-12);
            assert_close(gotv[idx], wantv[c] / nperm, 1e-12);
            assert_close(got2[idx], want2[c], 1e-10);
            assert_close(got2v[idx], want2v[c], 1e-10);
            tot += got[idx];
            tot2 += got2[idx];
        }
        for (size_t i = 0; i < p.n; i++)
            conv += p.conv[i];
        assert_close(tot, conv, 1e-12);
        assert_close(tot2, conv, 1e-12);
        crm_attribution_paths_free(t);
    }
}

static void shapley_cr_by_hand(void **state)
{
    (void)state;
    /* CR(A) = 1/4, CR(B) = 1/2, CR(AB) = 3/4.
     * phi_A = 1/2 (1/4 + (3/4 - 1/2)) = 1/4, phi_B = 1/2 (1/2 + 1/2) = 1/2,
     * scaled to AB's 3 conversions: A = 1, B = 2; plus the singletons. */
    row rows[] = { { "A", 1, 0, 3 }, { "B", 1, 0, 1 }, { "A > B", 3, 30, 1 } };
    crm_attribution_paths *t = table_of(rows, 3);
    crm_attribution_options o = opts();
    double v;
    assert_close(credit_of(t, CRM_ATTRIBUTION_SHAPLEY_CR, &o, "A", &v), 1 + 1, 1e-15);
    assert_close(v, 10, 1e-14);
    assert_close(credit_of(t, CRM_ATTRIBUTION_SHAPLEY_CR, &o, "B", &v), 1 + 2, 1e-15);
    assert_close(v, 20, 1e-14);
    /* ordered: "B > A" is a different coalition from "A > B"; with no
     * "B > A" row ... the ordered game of "A > B" sees A and B and AB */
    o.ordered = 1;
    assert_close(credit_of(t, CRM_ATTRIBUTION_SHAPLEY_CR, &o, "A", NULL), 2, 1e-15);
    row rows2[] = { { "A", 1, 0, 3 }, { "B", 1, 0, 1 }, { "B > A", 1, 0, 0 },
                    { "A > B", 3, 30, 1 } };
    crm_attribution_paths *t2 = table_of(rows2, 4);
    /* sets: AB has 4 conv / 1 null: CR 4/5; phi_A = 1/2(1/4 + 4/5 - 1/2),
     * phi_B = 1/2(1/2 + 4/5 - 1/4) */
    o = opts();
    double pa = 0.5 * (0.25 + 0.8 - 0.5), pb = 0.5 * (0.5 + 0.8 - 0.25);
    assert_close(credit_of(t2, CRM_ATTRIBUTION_SHAPLEY_CR, &o, "A", NULL), 1 + pa / 0.8 * 4,
                 1e-14);
    /* ordered: (A,B) CR 3/4 and (B,A) CR 1: separate games */
    o.ordered = 1;
    double a1 = 0.5 * (0.25 + 0.75 - 0.5), a2 = 0.5 * (0.25 + 1 - 0.5);
    assert_close(credit_of(t2, CRM_ATTRIBUTION_SHAPLEY_CR, &o, "A", NULL),
                 1 + a1 / 0.75 * 3 + a2 / 1.0 * 1, 1e-14);
    (void)pb;
    /* negative credit is reported, never clipped: B alone converts better */
    row neg[] = { { "A", 0, 0, 10 }, { "B", 9, 0, 1 }, { "A > B", 1, 0, 1 } };
    crm_attribution_paths *t3 = table_of(neg, 3);
    o = opts();
    /* CR: A 0, B .9, AB .5: phi_A = 1/2(0 + .5 - .9) = -.2, phi_B = .7 */
    assert_close(credit_of(t3, CRM_ATTRIBUTION_SHAPLEY_CR, &o, "A", NULL), -0.2 / 0.5, 1e-14);
    crm_attribution_paths_free(t);
    crm_attribution_paths_free(t2);
    crm_attribution_paths_free(t3);
}

/* ---- merge, serialisation ------------------------------------------------ */

static void merge_equals_whole(void **state)
{
    (void)state;
    test_rng r = { 99 };
    for (int trial = 0; trial < 8; trial++) {
        rnd_paths p;
        rnd_fill(&p, &r, 60, 5, 6);
        size_t cut = (size_t)test_rng_range(&r, 0, 60);
        crm_attribution_paths *whole = rnd_table(&p, 0, 60, 5);
        crm_attribution_paths *a = rnd_table(&p, 0, cut, 5);
        crm_attribution_paths *b = rnd_table(&p, cut, 60, 5);
        /* through the wire format */
        void *ba;
        size_t la;
        assert_int_equal(crm_attribution_paths_serialize(b, &ba, &la), CRM_OK);
        crm_attribution_paths *b2 = NULL;
        assert_int_equal(crm_attribution_paths_deserialize(&b2, ba, la), CRM_OK);
        crm_bytes_free(ba);
        crm_attribution_paths *m = NULL;
        assert_int_equal(crm_attribution_paths_merge(&m, b2, a), CRM_OK);
        assert_int_equal(crm_attribution_paths_n_rows(m), crm_attribution_paths_n_rows(whole));
        for (int model = 1; model <= 10; model++) {
            if (model == 6 || model == 7)
                continue;
            crm_attribution_options o = opts();
            o.order = 1 + (uint32_t)trial % 4;
            double cw[MAXCH], vw[MAXCH], cm[MAXCH], vm[MAXCH];
            assert_int_equal(crm_attribution_paths_credit(whole, model, &o, cw, vw), CRM_OK);
            assert_int_equal(crm_attribution_paths_credit(m, model, &o, cm, vm), CRM_OK);
            for (size_t c = 0; c < crm_attribution_paths_n_channels(whole); c++) {
                const char *name = crm_attribution_paths_channel_name(whole, c);
                int64_t j = crm_attribution_paths_channel_index(m, name);
                assert_true(j >= 0);
                assert_close(cm[j], cw[c], model == 8 ? 1e-9 : 1e-12);
                assert_close(vm[j], vw[c], model == 8 ? 1e-9 : 1e-12);
            }
        }
        crm_attribution_paths_free(whole);
        crm_attribution_paths_free(a);
        crm_attribution_paths_free(b);
        crm_attribution_paths_free(b2);
        crm_attribution_paths_free(m);
    }
}

static void partial_blob_errors(void **state)
{
    (void)state;
    row rows[] = { { "a > b", 1, 2, 3 }, { "", 1, 1, 0 } };
    crm_attribution_paths *t = table_of(rows, 2);
    void *b;
    size_t len;
    assert_int_equal(crm_attribution_paths_serialize(t, &b, &len), CRM_OK);
    crm_attribution_paths *u = NULL;
    assert_int_equal(crm_attribution_paths_deserialize(&u, b, len), CRM_OK);
    double uc;
    assert_int_equal(crm_attribution_paths_totals(u, NULL, NULL, NULL, &uc, NULL), CRM_OK);
    assert_close(uc, 1, 0);
    crm_attribution_paths_free(u);
    uint8_t *p = b;
    p[len / 2] ^= 1;
    assert_int_equal(crm_attribution_paths_deserialize(&u, b, len), CRM_ESTATE);
    assert_null(u);
    p[len / 2] ^= 1;
    assert_int_equal(crm_attribution_paths_deserialize(&u, b, len - 3), CRM_ESTATE);
    assert_int_equal(crm_attribution_paths_deserialize(&u, NULL, len), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_deserialize(NULL, b, len), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_serialize(NULL, &b, &len), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_merge(&u, t, NULL), CRM_EINVAL);
    crm_bytes_free(b);
    crm_attribution_paths_free(t);
}

/* ---- events -------------------------------------------------------------- */

static crm_touch touch(uint64_t cust, int64_t ts, uint32_t ch, uint32_t camp, uint8_t kind)
{
    crm_touch t;
    memset(&t, 0, sizeof t);
    t.customer_id = cust;
    t.ts = ts;
    t.channel = ch;
    t.campaign = camp;
    t.kind = kind;
    return t;
}

static double event_credit(const crm_attribution_credit *c, int model, int by, uint32_t id,
                           double *value)
{
    size_t n;
    const uint32_t *ids = crm_attribution_credit_ids(c, by, &n);
    const double *cv, *vv;
    assert_int_equal(crm_attribution_credit_get(c, model, by, &cv, &vv), CRM_OK);
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) {
            if (value)
                *value = vv[i];
            return cv[i];
        }
    fail_msg("id %u not found", id);
    return 0;
}

static void events_windows_by_hand(void **state)
{
    (void)state;
    const int64_t T0 = 1700000000;
    crm_touch tt[] = {
        /* customer 1: view 2 days before (out of the 1-day post-view window),
         * click 10 days before, view 12 hours before, click after */
        touch(1, T0 - 2 * DAY, 7, 70, CRM_TOUCH_VIEW),
        touch(1, T0 - 10 * DAY, 8, 80, CRM_TOUCH_CLICK),
        touch(1, T0 - DAY / 2, 9, 90, CRM_TOUCH_VIEW),
        touch(1, T0 + DAY, 7, 71, CRM_TOUCH_CLICK),
        /* customer 2: one click 31 days before: unattributed */
        touch(2, T0 - 31 * DAY, 8, 80, CRM_TOUCH_CLICK),
        /* customer 3: touches only: a null journey */
        touch(3, T0, 9, 90, CRM_TOUCH_VIEW),
    };
    crm_conversion cv[] = {
        { 1, T0, 100.0, 1.0 },
        { 2, T0, 50.0, 2.0 },
    };
    crm_attribution_credit *c = NULL;
    assert_int_equal(crm_attribution_events_credit(&c, tt, ARRAY_LEN(tt), cv, 2, NULL, NULL),
                     CRM_OK);
    double uc, uv, v;
    assert_int_equal(crm_attribution_credit_unattributed(c, &uc, &uv), CRM_OK);
    assert_close(uc, 2, 0);
    assert_close(uv, 50, 0);
    /* eligible for customer 1: click ch 8 (-10 d), view ch 9 (-12 h) */
    assert_close(event_credit(c, CRM_ATTRIBUTION_FIRST_TOUCH, CRM_ATTRIBUTION_BY_CHANNEL, 8, &v),
                 1, 0);
    assert_close(v, 100, 0);
    assert_close(event_credit(c, CRM_ATTRIBUTION_FIRST_TOUCH, CRM_ATTRIBUTION_BY_CHANNEL, 7, NULL),
                 0, 0);
    assert_close(event_credit(c, CRM_ATTRIBUTION_LAST_TOUCH, CRM_ATTRIBUTION_BY_CAMPAIGN, 90, NULL),
                 1, 0);
    assert_close(event_credit(c, CRM_ATTRIBUTION_LINEAR, CRM_ATTRIBUTION_BY_CAMPAIGN, 80, NULL),
                 0.5, 0);
    /* ad-server last: the click beats the later view */
    assert_close(event_credit(c, CRM_ATTRIBUTION_AD_SERVER_LAST, CRM_ATTRIBUTION_BY_CHANNEL, 8,
                              &v), 1, 0);
    assert_close(v, 100, 0);
    /* time decay, half-life 7 d: weights 2^(-10/7) and 2^(-0.5/7) */
    double w8 = pow(2, -10.0 / 7), w9 = pow(2, -0.5 / 7);
    assert_close(event_credit(c, CRM_ATTRIBUTION_TIME_DECAY, CRM_ATTRIBUTION_BY_CHANNEL, 8, &v),
                 w8 / (w8 + w9), 1e-14);
    assert_close(v, 100 * w8 / (w8 + w9), 1e-14);
    size_t n;
    const uint32_t *ids = crm_attribution_credit_ids(c, CRM_ATTRIBUTION_BY_CHANNEL, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 7);
    assert_int_equal(ids[2], 9);
    assert_null(crm_attribution_credit_ids(c, 5, &n));
    const double *x, *y;
    assert_int_equal(crm_attribution_credit_get(c, CRM_ATTRIBUTION_MARKOV, 0, &x, &y),
                     CRM_EINVAL);
    assert_int_equal(crm_attribution_credit_get(NULL, 1, 0, &x, &y), CRM_EINVAL);
    assert_int_equal(crm_attribution_credit_unattributed(NULL, &uc, &uv), CRM_EINVAL);
    crm_attribution_credit_free(c);

    /* half-life 1 day */
    crm_attribution_options o = opts();
    o.half_life_days = 1;
    assert_int_equal(crm_attribution_events_credit(&c, tt, ARRAY_LEN(tt), cv, 2, NULL, &o),
                     CRM_OK);
    w8 = pow(2, -10.0);
    w9 = pow(2, -0.5);
    assert_close(event_credit(c, CRM_ATTRIBUTION_TIME_DECAY, CRM_ATTRIBUTION_BY_CHANNEL, 9, NULL),
                 w9 / (w8 + w9), 1e-14);
    crm_attribution_credit_free(c);

    /* windows 0: views earn nothing, so customer 1 keeps only the click */
    crm_attribution_journey_options j;
    crm_attribution_journey_options_init(&j, 1);
    j.view_window_days = 0;
    assert_int_equal(crm_attribution_events_credit(&c, tt, ARRAY_LEN(tt), cv, 2, &j, NULL),
                     CRM_OK);
    assert_close(event_credit(c, CRM_ATTRIBUTION_LAST_TOUCH, CRM_ATTRIBUTION_BY_CHANNEL, 8, NULL),
                 1, 0);
    crm_attribution_credit_free(c);
    j.view_window_days = 91;
    assert_int_equal(crm_attribution_events_credit(&c, tt, ARRAY_LEN(tt), cv, 2, &j, NULL),
                     CRM_EINVAL);
    assert_null(c);

    /* the path table: (8 > 9) converts, (7) and (9) are null journeys,
     * customer 2's conversion is unattributed */
    crm_attribution_paths *t = NULL;
    assert_int_equal(crm_attribution_paths_from_events(&t, tt, ARRAY_LEN(tt), cv, 2, NULL),
                     CRM_OK);
    assert_int_equal(crm_attribution_paths_n_rows(t), 3);
    double tc, tv, tn, tuc, tuv;
    assert_int_equal(crm_attribution_paths_totals(t, &tc, &tv, &tn, &tuc, &tuv), CRM_OK);
    assert_close(tc, 1, 0);
    assert_close(tv, 100, 0);
    assert_close(tn, 2, 0);
    assert_close(tuc, 2, 0);
    assert_close(tuv, 50, 0);
    crm_attribution_paths_free(t);
    /* by campaign: the converting path is (80 > 90) */
    crm_attribution_journey_options_init(&j, CRM_ATTRIBUTION_JOURNEY_OPTIONS_VERSION);
    j.by_campaign = 1;
    assert_int_equal(crm_attribution_paths_from_events(&t, tt, ARRAY_LEN(tt), cv, 2, &j), CRM_OK);
    crm_attribution_options fo = opts();
    assert_close(credit_of(t, CRM_ATTRIBUTION_FIRST_TOUCH, &fo, "80", NULL), 1, 0);
    assert_close(credit_of(t, CRM_ATTRIBUTION_MARKOV, &fo, "80", NULL) +
                 credit_of(t, CRM_ATTRIBUTION_MARKOV, &fo, "90", NULL), 1, 1e-15);
    assert_true(crm_attribution_paths_channel_index(t, "8") < 0);
    crm_attribution_paths_free(t);
    /* a version-1 journey options struct still works */
    crm_attribution_journey_options v1;
    memset(&v1, 0xCD, sizeof v1);
    assert_int_equal(crm_attribution_journey_options_init(&v1, 1), CRM_OK);
    assert_int_equal(crm_attribution_paths_from_events(&t, tt, ARRAY_LEN(tt), cv, 2, &v1), CRM_OK);
    assert_true(crm_attribution_paths_channel_index(t, "8") >= 0);
    crm_attribution_paths_free(t);
}

static void events_reset_and_no_reset(void **state)
{
    (void)state;
    const int64_t T0 = 1700000000;
    crm_touch tt[] = {
        touch(5, T0, 1, 1, CRM_TOUCH_CLICK),
        touch(5, T0 + DAY, 2, 2, CRM_TOUCH_CLICK),
        touch(5, T0 + 3 * DAY, 3, 3, CRM_TOUCH_CLICK),
        touch(5, T0 + 5 * DAY, 4, 4, CRM_TOUCH_CLICK), /* at the conversion: included */
    };
    crm_conversion cv[] = { { 5, T0 + 5 * DAY, 7.0, 1.0 }, { 5, T0 + 2 * DAY, 3.0, 1.0 } };
    crm_attribution_credit *c = NULL;
    assert_int_equal(crm_attribution_events_credit(&c, tt, 4, cv, 2, NULL, NULL), CRM_OK);
    /* reset: conversion at +2 d takes 1 > 2, the one at +5 d takes 3 > 4 */
    assert_close(event_credit(c, CRM_ATTRIBUTION_FIRST_TOUCH, 0, 1, NULL), 1, 0);
    assert_close(event_credit(c, CRM_ATTRIBUTION_FIRST_TOUCH, 0, 3, NULL), 1, 0);
    assert_close(event_credit(c, CRM_ATTRIBUTION_LAST_TOUCH, 0, 4, NULL), 1, 0);
    crm_attribution_credit_free(c);
    crm_attribution_journey_options j;
    crm_attribution_journey_options_init(&j, 1);
    j.no_reset = 1;
    assert_int_equal(crm_attribution_events_credit(&c, tt, 4, cv, 2, &j, NULL), CRM_OK);
    assert_close(event_credit(c, CRM_ATTRIBUTION_FIRST_TOUCH, 0, 1, NULL), 2, 0);
    assert_close(event_credit(c, CRM_ATTRIBUTION_LINEAR, 0, 2, NULL), 0.5 + 0.25, 1e-15);
    crm_attribution_credit_free(c);
}

static void events_bad_records(void **state)
{
    (void)state;
    crm_touch tt[] = { touch(1, 100, 1, 1, CRM_TOUCH_CLICK), touch(1, 200, 1, 1, 2) };
    crm_conversion cv[] = { { 1, 300, 1.0, 1.0 }, { 1, 400, NAN, 1.0 } };
    crm_attribution_credit *c = NULL;
    crm_attribution_paths *t = NULL;
    assert_int_equal(crm_attribution_events_credit(&c, tt, 2, cv, 1, NULL, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "touches[1].kind"));
    assert_int_equal(crm_attribution_paths_from_events(&t, tt, 1, cv, 2, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "conversions[1].value"));
    cv[1].value = -1;
    assert_int_equal(crm_attribution_paths_from_events(&t, tt, 1, cv, 2, NULL), CRM_EDATA);
    cv[1].value = 1;
    cv[1].weight = 0;
    assert_int_equal(crm_attribution_paths_from_events(&t, tt, 1, cv, 2, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "conversions[1].weight"));
    cv[1].weight = INFINITY;
    assert_int_equal(crm_attribution_paths_from_events(&t, tt, 1, cv, 2, NULL), CRM_EDATA);
    cv[1].weight = 1;
    cv[1].ts = -5;
    assert_int_equal(crm_attribution_paths_from_events(&t, tt, 1, cv, 2, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "conversions[1].ts"));
    tt[0].ts = CRM_TS_MAX + 1;
    assert_int_equal(crm_attribution_paths_from_events(&t, tt, 1, cv, 1, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "touches[0].ts"));
    assert_null(t);
    assert_null(c);
    assert_int_equal(crm_attribution_paths_from_events(NULL, tt, 1, cv, 1, NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_paths_from_events(&t, NULL, 1, cv, 1, NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_events_credit(NULL, tt, 1, cv, 1, NULL, NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_events_credit(&c, tt, 1, NULL, 1, NULL, NULL), CRM_EINVAL);
}


/* Credit of customer-disjoint partitions merges into the credit of the
 * whole, also through the wire format. */
static void events_credit_partials(void **state)
{
    (void)state;
    test_rng r = { 31 };
    enum { NT = 600, NC = 150 };
    static crm_touch tt[NT];
    static crm_conversion cv[NC];
    for (size_t i = 0; i < NT; i++)
        tt[i] = touch((uint64_t)test_rng_range(&r, 1, 60), 1600000000 + test_rng_range(&r, 0, 90) * DAY,
                      (uint32_t)test_rng_range(&r, 1, 6), (uint32_t)test_rng_range(&r, 100, 140),
                      (uint8_t)test_rng_range(&r, 0, 1));
    for (size_t i = 0; i < NC; i++)
        cv[i] = (crm_conversion){ (uint64_t)test_rng_range(&r, 1, 70),
                                  1600000000 + test_rng_range(&r, 0, 90) * DAY,
                                  (double)test_rng_range(&r, 0, 500) / 8, 1.0 };
    /* partition by customer parity */
    static crm_touch ta[NT], tb[NT];
    static crm_conversion ca[NC], cb[NC];
    size_t nta = 0, ntb = 0, nca = 0, ncb = 0;
    for (size_t i = 0; i < NT; i++) {
        if (tt[i].customer_id % 2)
            ta[nta++] = tt[i];
        else
            tb[ntb++] = tt[i];
    }
    for (size_t i = 0; i < NC; i++) {
        if (cv[i].customer_id % 2)
            ca[nca++] = cv[i];
        else
            cb[ncb++] = cv[i];
    }
    crm_attribution_journey_options j;
    crm_attribution_journey_options_init(&j, 1);
    j.view_window_days = 7;
    crm_attribution_credit *whole, *a, *b, *b2, *m;
    assert_int_equal(crm_attribution_events_credit(&whole, tt, NT, cv, NC, &j, NULL), CRM_OK);
    assert_int_equal(crm_attribution_events_credit(&a, ta, nta, ca, nca, &j, NULL), CRM_OK);
    assert_int_equal(crm_attribution_events_credit(&b, tb, ntb, cb, ncb, &j, NULL), CRM_OK);
    void *bytes;
    size_t len;
    assert_int_equal(crm_attribution_credit_serialize(b, &bytes, &len), CRM_OK);
    assert_int_equal(crm_attribution_credit_deserialize(&b2, bytes, len), CRM_OK);
    ((uint8_t *)bytes)[len - 30] ^= 4;
    crm_attribution_credit *bad = NULL;
    assert_int_equal(crm_attribution_credit_deserialize(&bad, bytes, len), CRM_ESTATE);
    assert_null(bad);
    crm_bytes_free(bytes);
    assert_int_equal(crm_attribution_credit_merge(&m, b2, a), CRM_OK);
    for (int by = 0; by < 2; by++) {
        size_t nw, nm;
        const uint32_t *iw = crm_attribution_credit_ids(whole, by, &nw);
        const uint32_t *im = crm_attribution_credit_ids(m, by, &nm);
        assert_int_equal(nw, nm);
        for (size_t i = 0; i < nw; i++)
            assert_int_equal(iw[i], im[i]);
        for (int model = 1; model <= 7; model++) {
            const double *cw, *vw, *cm, *vm;
            assert_int_equal(crm_attribution_credit_get(whole, model, by, &cw, &vw), CRM_OK);
            assert_int_equal(crm_attribution_credit_get(m, model, by, &cm, &vm), CRM_OK);
            for (size_t i = 0; i < nw; i++) {
                assert_close(cm[i], cw[i], 1e-12);
                assert_close(vm[i], vw[i], 1e-12);
            }
        }
    }
    double u1, u2;
    crm_attribution_credit_unattributed(whole, &u1, NULL);
    crm_attribution_credit_unattributed(m, &u2, NULL);
    assert_close(u2, u1, 1e-12);
    assert_int_equal(crm_attribution_credit_merge(&m, a, NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_credit_serialize(NULL, &bytes, &len), CRM_EINVAL);
    assert_int_equal(crm_attribution_credit_deserialize(NULL, bytes, len), CRM_EINVAL);
    crm_attribution_credit_free(whole);
    crm_attribution_credit_free(a);
    crm_attribution_credit_free(b);
    crm_attribution_credit_free(b2);
    crm_attribution_credit_free(m);
}

/* Events with infinite windows reduce to exactly the paths they imply. */
static void events_infinite_windows_equal_paths(void **state)
{
    (void)state;
    test_rng r = { 2024 };
    enum { NCUST = 40 };
    crm_touch tt[NCUST * 12];
    crm_conversion cv[NCUST * 3];
    size_t nt = 0, nc = 0;
    crm_attribution_paths *want = NULL;
    assert_int_equal(crm_attribution_paths_new(&want), CRM_OK);
    for (uint64_t cust = 0; cust < NCUST; cust++) {
        int64_t ts = 1600000000 + (int64_t)cust * 1000;
        int nconv = (int)test_rng_range(&r, 0, 2);
        for (int k = 0; k <= nconv; k++) {
            int len = (int)test_rng_range(&r, k < nconv ? 0 : 0, 3);
            char path[64] = "";
            for (int q = 0; q < len; q++) {
                uint32_t ch = (uint32_t)test_rng_range(&r, 1, 4);
                ts += (int64_t)test_rng_range(&r, 1, 200) * DAY;
                tt[nt++] = touch(cust, ts, ch, ch * 10, (uint8_t)test_rng_range(&r, 0, 1));
                char buf[16];
                snprintf(buf, sizeof buf, "%s%u", q ? ">" : "", ch);
                strcat(path, buf);
            }
            if (k < nconv) {
                ts += DAY;
                double value = (double)test_rng_range(&r, 0, 50);
                cv[nc++] = (crm_conversion){ cust, ts, value, 1.0 };
                assert_int_equal(crm_attribution_paths_add(want, path, ">", 1, value, 0),
                                 CRM_OK);
            } else if (len > 0) {
                assert_int_equal(crm_attribution_paths_add(want, path, ">", 0, 0, 1), CRM_OK);
            }
        }
    }
    /* shuffle the events: order must not matter */
    for (size_t i = nt; i > 1; i--) {
        size_t j = (size_t)test_rng_range(&r, 0, (int64_t)i - 1);
        crm_touch x = tt[i - 1];
        tt[i - 1] = tt[j];
        tt[j] = x;
    }
    crm_attribution_journey_options j;
    crm_attribution_journey_options_init(&j, 1);
    j.click_window_days = j.view_window_days = CRM_ATTRIBUTION_WINDOW_INFINITE;
    crm_attribution_paths *got = NULL;
    assert_int_equal(crm_attribution_paths_from_events(&got, tt, nt, cv, nc, &j), CRM_OK);
    assert_int_equal(crm_attribution_paths_n_rows(got), crm_attribution_paths_n_rows(want));
    for (int model = 1; model <= 10; model++) {
        if (model == 6 || model == 7)
            continue;
        double cw[MAXCH], vw[MAXCH], cg[MAXCH], vg[MAXCH];
        assert_int_equal(crm_attribution_paths_credit(want, model, NULL, cw, vw), CRM_OK);
        assert_int_equal(crm_attribution_paths_credit(got, model, NULL, cg, vg), CRM_OK);
        for (size_t c = 0; c < crm_attribution_paths_n_channels(want); c++) {
            int64_t k = crm_attribution_paths_channel_index(
                got, crm_attribution_paths_channel_name(want, c));
            assert_true(k >= 0);
            assert_close(cg[k], cw[c], 1e-12);
            assert_close(vg[k], vw[c], 1e-12);
        }
    }
    double uw, ug;
    crm_attribution_paths_totals(want, NULL, NULL, NULL, &uw, NULL);
    crm_attribution_paths_totals(got, NULL, NULL, NULL, &ug, NULL);
    assert_close(ug, uw, 0);
    crm_attribution_paths_free(want);
    crm_attribution_paths_free(got);
}

/* ---- order selection ----------------------------------------------------- */

/* Paths from a first-order chain over 4 channels. */
static crm_attribution_paths *first_order_paths(uint64_t seed, size_t journeys)
{
    static const double P[4][6] = {
        /* to: c0 c1 c2 c3 conv null */
        { 0.05, 0.45, 0.10, 0.10, 0.10, 0.20 },
        { 0.30, 0.05, 0.30, 0.05, 0.05, 0.25 },
        { 0.10, 0.10, 0.05, 0.50, 0.15, 0.10 },
        { 0.40, 0.10, 0.10, 0.05, 0.20, 0.15 },
    };
    test_rng r = { seed };
    crm_attribution_paths *t = NULL;
    assert_int_equal(crm_attribution_paths_new(&t), CRM_OK);
    for (size_t j = 0; j < journeys; j++) {
        char path[512] = "";
        int s = (int)test_rng_range(&r, 0, 3), len = 0;
        for (;;) {
            char buf[8];
            snprintf(buf, sizeof buf, "%sc%d", len ? ">" : "", s);
            if (len < 60)
                strcat(path, buf);
            len++;
            double u = (double)(test_rng_next(&r) >> 11) * 0x1p-53, acc = 0;
            int k = 0;
            for (; k < 5; k++) {
                acc += P[s][k];
                if (u < acc)
                    break;
            }
            if (k >= 4) {
                assert_int_equal(crm_attribution_paths_add(t, path, ">", k == 4, 0, k == 5),
                                 CRM_OK);
                break;
            }
            s = k;
        }
    }
    return t;
}

static void order_selection(void **state)
{
    (void)state;
    crm_attribution_paths *t = first_order_paths(11, 20000);
    uint32_t order = 0;
    double sc[4];
    assert_int_equal(crm_attribution_choose_order(t, 4, CRM_ATTRIBUTION_BIC, &order, sc), CRM_OK);
    assert_int_equal(order, 1);
    assert_true(sc[0] < sc[1]);
    assert_int_equal(crm_attribution_choose_order(t, 4, CRM_ATTRIBUTION_HELDOUT, &order, sc),
                     CRM_OK);
    assert_int_equal(order, 1);
    assert_true(sc[0] > sc[2]);
    /* P = conv / journeys at every order */
    double c, n;
    crm_attribution_paths_totals(t, &c, NULL, &n, NULL, NULL);
    for (uint32_t K = 1; K <= 4; K++) {
        crm_attribution_options o = opts();
        o.order = K;
        crm_attribution_markov *m;
        assert_int_equal(crm_attribution_markov_fit(&m, t, &o), CRM_OK);
        assert_close(crm_attribution_markov_p_conversion(m), c / (c + n), 1e-12);
        crm_attribution_markov_free(m);
    }
    /* second-order data (the next channel depends on the one before the
     * last): higher orders win */
    crm_attribution_paths *t2 = NULL;
    assert_int_equal(crm_attribution_paths_new(&t2), CRM_OK);
    row rows[] = { { "a > b > c", 30, 0, 0 }, { "d > b > e", 0, 0, 30 },
                   { "a > b > c > a > b > c", 10, 0, 0 }, { "d > b > e > d > b > e", 0, 0, 10 } };
    for (size_t i = 0; i < ARRAY_LEN(rows); i++)
        assert_int_equal(crm_attribution_paths_add(t2, rows[i].path, ">", rows[i].conv, 0,
                                                   rows[i].nulls), CRM_OK);
    assert_int_equal(crm_attribution_choose_order(t2, 2, CRM_ATTRIBUTION_BIC, &order, NULL),
                     CRM_OK);
    assert_int_equal(order, 2);
    assert_int_equal(crm_attribution_choose_order(t2, 5, CRM_ATTRIBUTION_BIC, &order, NULL),
                     CRM_EINVAL);
    assert_int_equal(crm_attribution_choose_order(t2, 2, 9, &order, NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_choose_order(NULL, 2, 1, &order, NULL), CRM_EINVAL);
    assert_int_equal(crm_attribution_choose_order(t2, 2, 1, NULL, NULL), CRM_EINVAL);
    crm_attribution_paths_free(t);
    crm_attribution_paths_free(t2);
}


/* Many channels switch the library from its dense tables to hashed ones;
 * channels that no path uses change nothing, so both agree exactly. */
static crm_attribution_paths *with_unused_channels(const crm_attribution_paths *t, size_t extra)
{
    size_t nch = crm_attribution_paths_n_channels(t), nr = crm_attribution_paths_n_rows(t);
    const uint64_t *off;
    const uint32_t *ch;
    const double *c, *v, *n;
    assert_int_equal(crm_attribution_paths_columns(t, &off, &ch, &c, &v, &n), CRM_OK);
    const char **names = malloc((nch + extra) * sizeof *names);
    char (*buf)[16] = malloc(extra * 16);
    assert_non_null(names);
    assert_non_null(buf);
    for (size_t i = 0; i < nch; i++)
        names[i] = crm_attribution_paths_channel_name(t, i);
    for (size_t i = 0; i < extra; i++) {
        snprintf(buf[i], 16, "unused%zu", i);
        names[nch + i] = buf[i];
    }
    crm_attribution_paths *u = NULL;
    assert_int_equal(crm_attribution_paths_from_arrays(&u, nch + extra, names, nr, off, ch, c, v,
                                                       n), CRM_OK);
    free(names);
    free(buf);
    return u;
}

static void dense_and_hashed_tables_agree(void **state)
{
    (void)state;
    crm_attribution_paths *t = first_order_paths(3, 4000);
    crm_attribution_paths *u = with_unused_channels(t, 400);
    for (uint32_t K = 1; K <= 4; K++) {
        crm_attribution_options o = opts();
        o.order = K;
        o.max_step = K == 3 ? 5 : 0;
        crm_attribution_markov *a, *b;
        assert_int_equal(crm_attribution_markov_fit(&a, t, &o), CRM_OK);
        assert_int_equal(crm_attribution_markov_fit(&b, u, &o), CRM_OK);
        assert_close(crm_attribution_markov_p_conversion(b), crm_attribution_markov_p_conversion(a),
                     1e-12);
        for (int w = CRM_ATTRIBUTION_RE; w <= CRM_ATTRIBUTION_VALUE; w++) {
            const double *x = crm_attribution_markov_array(a, w, NULL);
            const double *y = crm_attribution_markov_array(b, w, NULL);
            for (size_t i = 0; i < 4; i++)
                assert_close(y[i], x[i], 1e-9);
            assert_close(y[4], 0, 0);
        }
        crm_attribution_markov_free(a);
        crm_attribution_markov_free(b);
    }
    double sa[4], sb[4];
    uint32_t oa, ob;
    assert_int_equal(crm_attribution_choose_order(t, 4, CRM_ATTRIBUTION_BIC, &oa, sa), CRM_OK);
    assert_int_equal(crm_attribution_choose_order(u, 4, CRM_ATTRIBUTION_BIC, &ob, sb), CRM_OK);
    assert_int_equal(oa, ob);
    for (int k = 0; k < 4; k++)
        assert_close(sb[k], sa[k], 1e-12);
    assert_int_equal(crm_attribution_choose_order(u, 4, CRM_ATTRIBUTION_HELDOUT, &ob, sb), CRM_OK);
    assert_int_equal(ob, 1);
    crm_attribution_paths_free(t);
    crm_attribution_paths_free(u);
}


/* Threads split the removal solves; results are identical. */
static void threads_give_identical_results(void **state)
{
    (void)state;
    crm_attribution_paths *t = first_order_paths(8, 30000);
    for (uint32_t K = 1; K <= 4; K += 3) {
        crm_attribution_options o = opts();
        o.order = K;
        crm_attribution_markov *a, *b, *c;
        assert_int_equal(crm_attribution_markov_fit(&a, t, &o), CRM_OK);
        o.threads = 2;
        assert_int_equal(crm_attribution_markov_fit(&b, t, &o), CRM_OK);
        o.threads = 64;
        o.bootstrap = 3;
        assert_int_equal(crm_attribution_markov_fit(&c, t, &o), CRM_OK);
        for (int w = CRM_ATTRIBUTION_RE; w <= CRM_ATTRIBUTION_VALUE; w++)
            for (size_t i = 0; i < 4; i++) {
                assert_true(crm_attribution_markov_array(a, w, NULL)[i] ==
                            crm_attribution_markov_array(b, w, NULL)[i]);
                assert_true(crm_attribution_markov_array(a, w, NULL)[i] ==
                            crm_attribution_markov_array(c, w, NULL)[i]);
            }
        crm_attribution_markov_free(a);
        crm_attribution_markov_free(b);
        crm_attribution_markov_free(c);
    }
    crm_attribution_paths_free(t);
}

/* ---- bootstrap ----------------------------------------------------------- */

static void bootstrap_is_seeded(void **state)
{
    (void)state;
    crm_attribution_paths *t = first_order_paths(5, 3000);
    crm_attribution_options o = opts();
    o.bootstrap = 20;
    o.seed = 77;
    crm_attribution_markov *a, *b;
    assert_int_equal(crm_attribution_markov_fit(&a, t, &o), CRM_OK);
    assert_int_equal(crm_attribution_markov_fit(&b, t, &o), CRM_OK);
    for (int w = CRM_ATTRIBUTION_RE_SE; w <= CRM_ATTRIBUTION_VALUE_SE; w++) {
        const double *x = crm_attribution_markov_array(a, w, NULL);
        const double *y = crm_attribution_markov_array(b, w, NULL);
        for (size_t c = 0; c < 4; c++) {
            assert_true(x[c] == y[c]);
            if (w != CRM_ATTRIBUTION_VALUE_RE_SE && w != CRM_ATTRIBUTION_VALUE_SE)
                assert_true(x[c] > 0);
        }
    }
    /* a standard error of a removal effect is small next to it */
    const double *re = crm_attribution_markov_array(a, CRM_ATTRIBUTION_RE, NULL);
    const double *se = crm_attribution_markov_array(a, CRM_ATTRIBUTION_RE_SE, NULL);
    for (size_t c = 0; c < 4; c++)
        assert_true(se[c] < 0.2 * re[c]);
    crm_attribution_markov_free(b);
    o.seed = 78;
    assert_int_equal(crm_attribution_markov_fit(&b, t, &o), CRM_OK);
    assert_true(crm_attribution_markov_array(b, CRM_ATTRIBUTION_RE_SE, NULL)[0] != se[0]);
    crm_attribution_markov_free(a);
    crm_attribution_markov_free(b);
    crm_attribution_paths_free(t);
}

/* ---- control groups ------------------------------------------------------ */

static uint64_t sm64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void control_assignment(void **state)
{
    (void)state;
    enum { N = 20000 };
    static uint64_t ids[N];
    static uint8_t ctl[N];
    for (size_t i = 0; i < N; i++)
        ids[i] = i * 7919 + 3;
    assert_int_equal(crm_attribution_in_control(ids, N, 12345, 0.1, ctl), CRM_OK);
    size_t k = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t h = sm64(ids[i] ^ sm64(12345));
        assert_int_equal(ctl[i], (double)(h >> 11) * (1.0 / 9007199254740992.0) < 0.1);
        k += ctl[i];
    }
    assert_true(k > N / 10 - 300 && k < N / 10 + 300);
    assert_int_equal(crm_attribution_in_control(ids, N, 1, 0, ctl), CRM_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(ctl[i], 0);
    assert_int_equal(crm_attribution_in_control(ids, N, 1, 1, ctl), CRM_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(ctl[i], 1);
    assert_int_equal(crm_attribution_in_control(ids, N, 1, 1.5, ctl), CRM_EINVAL);
    assert_int_equal(crm_attribution_in_control(ids, N, 1, NAN, ctl), CRM_EINVAL);
    assert_int_equal(crm_attribution_in_control(NULL, N, 1, 0.5, ctl), CRM_EINVAL);
}

static void uplift_welch(void **state)
{
    (void)state;
    /* references: scipy.stats.ttest_ind(equal_var=False) and t.ppf(0.975) */
    double a[] = { 1, 0, 1, 1, 0, 1, 0, 1 }, b[] = { 0, 0, 1, 0, 0, 1, 0 };
    crm_attribution_uplift_result r;
    r.version = CRM_ATTRIBUTION_UPLIFT_RESULT_VERSION;
    assert_int_equal(crm_attribution_uplift(a, 8, b, 7, &r), CRM_OK);
    assert_close(r.mean_test, 5.0 / 8, 1e-15);
    assert_close(r.mean_control, 2.0 / 7, 1e-15);
    assert_close(r.lift, 5.0 / 8 - 2.0 / 7, 1e-15);
    assert_close(r.relative_lift, (5.0 / 8 - 2.0 / 7) / (2.0 / 7), 1e-14);
    assert_close(r.p_value, 0.21436592652401248, 1e-9);
    assert_close(r.df, 12.906641771138968, 1e-12);
    assert_close(r.ci_low, -0.22238982100426918, 1e-9);
    assert_close(r.ci_high, 0.9009612495756978, 1e-9);
    assert_close(r.incremental, 8 * r.lift, 1e-15);
    assert_int_equal(r.n_test, 8);
    double ra[] = { 12.5, 0, 3, 44, 7.25, 0, 19, 3.5, 8, 0, 1 }, rb[] = { 0, 2, 0, 11, 5, 0, 0, 1.5 };
    assert_int_equal(crm_attribution_uplift(ra, 11, rb, 8, &r), CRM_OK);
    assert_close(r.p_value, 0.14545699686027314, 1e-9);
    assert_close(r.df, 12.290697985561536, 1e-12);
    assert_close(r.ci_low, -2.5851375628327364, 1e-9);
    assert_close(r.ci_high, 15.5737739264691, 1e-9);
    /* errors */
    double bad[] = { 1, NAN };
    assert_int_equal(crm_attribution_uplift(a, 8, bad, 2, &r), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "control[1]"));
    assert_int_equal(crm_attribution_uplift(a, 1, b, 7, &r), CRM_EINVAL);
    assert_int_equal(crm_attribution_uplift(NULL, 8, b, 7, &r), CRM_EINVAL);
    r.version = 2;
    assert_int_equal(crm_attribution_uplift(a, 8, b, 7, &r), CRM_EVERSION);
}

static void outcomes_washout(void **state)
{
    (void)state;
    const int64_t stop = 1700000000;
    uint64_t ids[] = { 30, 10, 20 };
    crm_conversion cv[] = {
        { 10, stop + 59 * DAY, 5.0, 1.0 },  /* inside the washout: ignored */
        { 10, stop + 60 * DAY, 7.0, 1.0 },  /* first measured second */
        { 20, stop + 90 * DAY, 1.0, 1.0 },  /* at end: excluded */
        { 30, stop + 70 * DAY, 2.0, 1.0 },
        { 30, stop + 80 * DAY, 3.0, 1.0 },
        { 99, stop + 70 * DAY, 3.0, 1.0 },  /* not a listed customer */
    };
    double conv[3], val[3];
    assert_int_equal(crm_attribution_outcomes(ids, 3, cv, ARRAY_LEN(cv), stop, 60,
                                              stop + 90 * DAY, conv, val), CRM_OK);
    assert_close(conv[0], 1, 0);
    assert_close(val[0], 5, 0);
    assert_close(conv[1], 1, 0);
    assert_close(val[1], 7, 0);
    assert_close(conv[2], 0, 0);
    assert_close(val[2], 0, 0);
    uint64_t dup[] = { 1, 2, 1 };
    assert_int_equal(crm_attribution_outcomes(dup, 3, cv, 1, stop, 60, stop + DAY, conv, val),
                     CRM_EDATA);
    cv[0].value = NAN;
    assert_int_equal(crm_attribution_outcomes(ids, 3, cv, 1, stop, 60, stop + DAY, conv, val),
                     CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "conversions[0]"));
    assert_int_equal(crm_attribution_outcomes(NULL, 3, cv, 1, stop, 60, stop, conv, val),
                     CRM_EINVAL);
}

/* ---- conformance data ---------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void channelattribution_sample(void **state)
{
    (void)state;
    size_t len;
    char *b = read_file(CRM_SOURCE_ROOT "/../shared/datasets/channelattribution_paths.csv", &len);
    if (!b) /* a worktree one level further down */
        b = read_file(CRM_SOURCE_ROOT "/../../shared/datasets/channelattribution_paths.csv", &len);
    if (!b) {
        skip();
        return;
    }
    crm_attribution_paths *t = NULL;
    assert_int_equal(crm_attribution_paths_parse(&t, b, len, ';', ">"), CRM_OK);
    free(b);
    /* the dataset's documented totals */
    double c, v, n;
    assert_int_equal(crm_attribution_paths_totals(t, &c, &v, &n, NULL, NULL), CRM_OK);
    assert_close(c, 19785, 0);
    assert_close(v, 74802.97158721, 1e-12);
    assert_close(n, 68602, 0);
    assert_int_equal(crm_attribution_paths_n_channels(t), 12);
    for (uint32_t K = 1; K <= 4; K++) {
        crm_attribution_options o = opts();
        o.order = K;
        crm_attribution_markov *m;
        assert_int_equal(crm_attribution_markov_fit(&m, t, &o), CRM_OK);
        assert_close(crm_attribution_markov_p_conversion(m), c / (c + n), 1e-12);
        assert_close(crm_attribution_markov_expected_value(m), v / (c + n), 1e-12);
        const double *cc = crm_attribution_markov_array(m, CRM_ATTRIBUTION_CONV, NULL);
        const double *re = crm_attribution_markov_array(m, CRM_ATTRIBUTION_RE, NULL);
        double s = 0;
        for (size_t i = 0; i < 12; i++) {
            s += cc[i];
            assert_true(re[i] >= 0 && re[i] <= 1);
        }
        assert_close(s, c, 1e-12);
        crm_attribution_markov_free(m);
    }
    crm_attribution_paths_free(t);
}

/* ---- OOM sweeps ---------------------------------------------------------- */

static crm_status oom_parse_and_models(void *ctx)
{
    (void)ctx;
    const char *csv = "p;c;v;n\na > b > c;2;3;4\nb > a;1;1;1\nc;0;0;3\na > c > a > b;1;2;0\n";
    crm_attribution_paths *t = NULL, *u = NULL, *m = NULL;
    crm_attribution_markov *mk = NULL;
    void *bytes = NULL;
    size_t len;
    double c[MAXCH], v[MAXCH];
    crm_attribution_options o;
    crm_attribution_options_init(&o, CRM_ATTRIBUTION_OPTIONS_VERSION);
    o.order = 2;
    o.bootstrap = 2;
    uint32_t order;
    crm_status st = crm_attribution_paths_parse(&t, csv, strlen(csv), ';', NULL);
    if (!st)
        st = crm_attribution_paths_add(t, "x > a", ">", 1, 1, 1);
    if (!st)
        st = crm_attribution_markov_fit(&mk, t, &o);
    for (int model = 1; model <= 10 && !st; model++)
        if (model != 6 && model != 7)
            st = crm_attribution_paths_credit(t, model, &o, c, v);
    if (!st)
        st = crm_attribution_paths_serialize(t, &bytes, &len);
    if (!st)
        st = crm_attribution_paths_deserialize(&u, bytes, len);
    if (!st)
        st = crm_attribution_paths_merge(&m, t, u);
    if (!st)
        st = crm_attribution_choose_order(t, 3, CRM_ATTRIBUTION_HELDOUT, &order, NULL);
    if (!st)
        st = crm_attribution_choose_order(t, 3, CRM_ATTRIBUTION_BIC, &order, NULL);
    crm_bytes_free(bytes);
    crm_attribution_markov_free(mk);
    crm_attribution_paths_free(t);
    crm_attribution_paths_free(u);
    crm_attribution_paths_free(m);
    return st;
}

static crm_status oom_events(void *ctx)
{
    (void)ctx;
    crm_touch tt[] = { touch(2, 100, 1, 1, 1), touch(1, 50, 2, 3, 0), touch(1, 60, 1, 1, 1),
                       touch(1, 500, 3, 3, 1) };
    crm_conversion cv[] = { { 1, 70, 4, 1 }, { 2, 200, 3, 1 }, { 3, 10, 1, 1 } };
    crm_attribution_credit *c = NULL;
    crm_attribution_paths *t = NULL;
    uint64_t ids[] = { 1, 2, 3 };
    double a[3], b[3];
    crm_status st = crm_attribution_events_credit(&c, tt, 4, cv, 3, NULL, NULL);
    if (!st)
        st = crm_attribution_paths_from_events(&t, tt, 4, cv, 3, NULL);
    if (!st)
        st = crm_attribution_outcomes(ids, 3, cv, 3, 0, 0, 1000, a, b);
    void *bytes = NULL;
    size_t len;
    crm_attribution_credit *c2 = NULL, *c3 = NULL;
    if (!st)
        st = crm_attribution_credit_serialize(c, &bytes, &len);
    if (!st)
        st = crm_attribution_credit_deserialize(&c2, bytes, len);
    if (!st)
        st = crm_attribution_credit_merge(&c3, c, c2);
    crm_bytes_free(bytes);
    crm_attribution_credit_free(c2);
    crm_attribution_credit_free(c3);
    crm_attribution_credit_free(c);
    crm_attribution_paths_free(t);
    return st;
}

static void oom(void **state)
{
    (void)state;
    assert_true(oom_sweep(oom_parse_and_models, NULL) > 0);
    assert_true(oom_sweep(oom_events, NULL) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_defaults_and_versions),
        cmocka_unit_test(path_text_rules),
        cmocka_unit_test(csv_parse),
        cmocka_unit_test(from_arrays_checks),
        cmocka_unit_test(heuristics_by_hand),
        cmocka_unit_test(markov_by_hand),
        cmocka_unit_test(markov_vs_dense_reference),
        cmocka_unit_test(shapley_vs_permutations),
        cmocka_unit_test(shapley_cr_by_hand),
        cmocka_unit_test(merge_equals_whole),
        cmocka_unit_test(partial_blob_errors),
        cmocka_unit_test(events_windows_by_hand),
        cmocka_unit_test(events_reset_and_no_reset),
        cmocka_unit_test(events_bad_records),
        cmocka_unit_test(events_infinite_windows_equal_paths),
        cmocka_unit_test(events_credit_partials),
        cmocka_unit_test(order_selection),
        cmocka_unit_test(dense_and_hashed_tables_agree),
        cmocka_unit_test(threads_give_identical_results),
        cmocka_unit_test(bootstrap_is_seeded),
        cmocka_unit_test(control_assignment),
        cmocka_unit_test(uplift_welch),
        cmocka_unit_test(outcomes_washout),
        cmocka_unit_test(channelattribution_sample),
        cmocka_unit_test(oom),
    };
    return cmocka_run_group_tests_name("attribution", tests, NULL, NULL);
}
