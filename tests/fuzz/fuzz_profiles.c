/*
 * Fuzz target: crm_profiles_build / crm_profiles_merge / crm_profiles_free.
 *
 * Input layout (little-endian):
 *   byte 0      flags: bit 0 mergeable tables, bit 1 raw records
 *   bytes 1-2   asof selector: 0xfff0.. pick edge values (0, CRM_DAY_MAX, -1,
 *               CRM_DAY_MAX + 1, INT64_MIN/MAX), else asof = 19000 + value
 *   byte 3      partition mask: record i goes to part A when bit (i % 8) is set
 *   records     compact (flags bit 1 clear), 6 bytes each:
 *                 id byte (low 7 bits = customer; bit 7 = a huge id),
 *                 int16 day offset (day = asof - 1000 + off % 1200, so some
 *                 rows fall after asof), second-of-day byte (* 339),
 *                 int16 amount (* 7; negative = refund)
 *               raw (flags bit 1 set): 24-byte crm_order images, any values
 *               (bad timestamps, overflowing amounts)
 *
 * Checks against a naive reference computed here (sort by customer, then
 * input position): the status (EDATA for a bad timestamp, EOVERFLOW when a
 * sum cannot fit int64, OK otherwise), every column and the summary; and for
 * mergeable tables that merging two partitions gives exactly the table of the
 * whole input, in either order. Any violation aborts.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__extension__ typedef __int128 wide;

#define FUZZ_NAME "fuzz_profiles"
#include "fuzz_check.h"

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* ---- reference ---------------------------------------------------------- */

typedef struct ref_row {
    uint64_t id;
    size_t pos;  /* input position: sums run in input order */
    int32_t day;
    int64_t amount;
} ref_row;

typedef struct ref_cust {
    uint64_t id;
    int32_t first, last, prev, second;
    uint32_t freq, pdays, last_rows;
    int64_t monetary;
} ref_cust;

typedef struct reference {
    int bad_ts;          /* some ts outside [0, CRM_TS_MAX]: EDATA */
    int must_overflow;   /* a customer's net sum does not fit int64 */
    int may_overflow;    /* a running sum (input order, or revenue in id order) overflows */
    size_t n;            /* customers with a non-refund row */
    ref_cust *cust;
    uint64_t orders, repeaters;
    wide revenue, lifetime;
} reference;

static int cmp_row(const void *a, const void *b)
{
    const ref_row *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void reference_build(reference *r, const crm_order *o, size_t n, int64_t asof)
{
    memset(r, 0, sizeof *r);
    ref_row *rows = malloc((n ? n : 1) * sizeof *rows);
    int32_t *days = malloc((n ? n : 1) * sizeof *days);
    r->cust = malloc((n ? n : 1) * sizeof *r->cust);
    CHECK(rows && days && r->cust, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (o[i].ts < 0 || o[i].ts > CRM_TS_MAX) {
            r->bad_ts = 1;
            continue;
        }
        int64_t day = o[i].ts / 86400;
        if (day > asof)
            continue;
        rows[m++] = (ref_row){o[i].customer_id, i, (int32_t)day, o[i].amount};
    }
    qsort(rows, m, sizeof *rows, cmp_row);
    wide running_revenue = 0;
    for (size_t g = 0; g < m;) {
        size_t e = g;
        int64_t run = 0;
        wide net = 0;
        size_t k = 0;
        for (; e < m && rows[e].id == rows[g].id; e++) {
            if (__builtin_add_overflow(run, rows[e].amount, &run))
                r->may_overflow = 1;
            net += rows[e].amount;
            if (rows[e].amount >= 0)
                days[k++] = rows[e].day;
        }
        if (net < INT64_MIN || net > INT64_MAX)
            r->must_overflow = 1;
        if (k > 0) {
            qsort(days, k, sizeof *days, cmp_i32);
            ref_cust *c = &r->cust[r->n++];
            c->id = rows[g].id;
            c->monetary = (int64_t)net;
            c->freq = (uint32_t)k;
            c->first = days[0];
            c->last = days[k - 1];
            c->second = k >= 2 ? days[1] : -1;
            c->pdays = 1;
            c->prev = -1;
            c->last_rows = 0;
            for (size_t j = 0; j < k; j++) {
                if (j > 0 && days[j] != days[j - 1])
                    c->pdays++;
                if (days[j] == c->last)
                    c->last_rows++;
                else
                    c->prev = days[j]; /* largest day below last */
            }
            r->orders += k;
            if (k >= 2) {
                r->repeaters++;
                r->lifetime += c->last - c->first;
            }
            running_revenue += net;
            if (running_revenue < INT64_MIN || running_revenue > INT64_MAX)
                r->may_overflow = 1;
        }
        g = e;
    }
    r->revenue = running_revenue;
    if (r->revenue < INT64_MIN || r->revenue > INT64_MAX)
        r->must_overflow = 1;
    free(rows);
    free(days);
}

/* ---- checks ------------------------------------------------------------- */

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static void check_status(crm_status s, const crm_profiles *p, const reference *r)
{
    if (s != CRM_OK) {
        CHECK(p == NULL, "failed build left a table");
        CHECK(crm_last_error() != NULL && crm_last_error()[0] != '\0', "no message");
    }
    if (r->bad_ts)
        CHECK(s == CRM_EDATA || (s == CRM_EOVERFLOW && (r->may_overflow || r->must_overflow)),
              "bad ts: status %d (%s)", s, crm_last_error());
    else if (r->must_overflow)
        CHECK(s == CRM_EOVERFLOW, "status %d, want CRM_EOVERFLOW", s);
    else if (r->may_overflow)
        CHECK(s == CRM_OK || s == CRM_EOVERFLOW, "status %d (%s)", s, crm_last_error());
    else
        CHECK(s == CRM_OK, "status %d (%s)", s, crm_last_error());
}

static void check_table(const crm_profiles *p, const reference *r, int64_t asof, int mergeable)
{
    size_t n = crm_profiles_count(p);
    CHECK(n == r->n, "count %zu, want %zu", n, r->n);
    CHECK(crm_profiles_asof(p) == asof, "asof");
    CHECK(crm_profiles_is_mergeable(p) == (mergeable != 0), "is_mergeable");
    const uint64_t *id = crm_profiles_customer_id(p);
    const int32_t *first = crm_profiles_first_day(p), *last = crm_profiles_last_day(p);
    const int32_t *rec = crm_profiles_recency_days(p), *ten = crm_profiles_tenure_days(p);
    const int32_t *prev = crm_profiles_prev_day(p), *second = crm_profiles_second_day(p);
    const uint32_t *freq = crm_profiles_frequency(p), *pdays = crm_profiles_purchase_days(p);
    const uint32_t *lrows = crm_profiles_last_day_orders(p);
    const int64_t *mon = crm_profiles_monetary(p);
    const double *gap = crm_profiles_gap_avg(p);
    for (size_t i = 0; i < n; i++) {
        const ref_cust *c = &r->cust[i];
        CHECK(id[i] == c->id, "row %zu: id %llu, want %llu", i, (unsigned long long)id[i],
              (unsigned long long)c->id);
        CHECK(first[i] == c->first && last[i] == c->last, "row %zu: first/last", i);
        CHECK(rec[i] == asof - c->last && ten[i] == asof - c->first, "row %zu: recency/tenure", i);
        CHECK(freq[i] == c->freq, "row %zu: frequency %u, want %u", i, freq[i], c->freq);
        CHECK(pdays[i] == c->pdays, "row %zu: purchase_days %u, want %u", i, pdays[i], c->pdays);
        CHECK(prev[i] == c->prev, "row %zu: prev_day %d, want %d", i, prev[i], c->prev);
        CHECK(second[i] == c->second, "row %zu: second_day %d, want %d", i, second[i], c->second);
        CHECK(lrows[i] == c->last_rows, "row %zu: last_day_orders", i);
        CHECK(mon[i] == c->monetary, "row %zu: monetary", i);
        double want_gap = c->freq >= 2 ? (double)(c->last - c->first) / (double)(c->freq - 1) : NAN;
        CHECK(same_double(gap[i], want_gap), "row %zu: gap_avg %.17g, want %.17g", i, gap[i],
              want_gap);
        size_t row = (size_t)-1;
        CHECK(crm_profiles_find(p, id[i], &row) == CRM_OK && row == i, "find row %zu", i);
    }
    crm_population_summary s = {.version = CRM_POPULATION_SUMMARY_VERSION};
    CHECK(crm_profiles_summary(p, &s) == CRM_OK, "summary");
    CHECK(s.customers == r->n && s.orders == r->orders && s.repeaters == r->repeaters,
          "summary counts");
    CHECK(s.revenue == (int64_t)r->revenue, "summary revenue");
    uint32_t want_valid = (r->n ? CRM_SUMMARY_HAS_ARPU | CRM_SUMMARY_HAS_MEAN_FREQUENCY : 0) |
                          (r->orders ? CRM_SUMMARY_HAS_AVERAGE_CHECK : 0) |
                          (r->repeaters ? CRM_SUMMARY_HAS_MEAN_LIFETIME : 0);
    CHECK(s.valid == want_valid, "summary valid bits %#x, want %#x", s.valid, want_valid);
    if (r->repeaters)
        CHECK(s.mean_lifetime == (double)(int64_t)r->lifetime / (double)r->repeaters,
              "mean_lifetime");
    else
        CHECK(isnan(s.mean_lifetime), "mean_lifetime of no repeaters must be NaN");
}

/* Two tables hold the same profiles (columns and summary), bit for bit. */
static void check_same(const crm_profiles *a, const crm_profiles *b)
{
    size_t n = crm_profiles_count(a);
    CHECK(crm_profiles_count(b) == n, "counts differ: %zu vs %zu", n, crm_profiles_count(b));
#define SAME(col) \
    CHECK(n == 0 || memcmp(crm_profiles_##col(a), crm_profiles_##col(b), \
                           n * sizeof *crm_profiles_##col(a)) == 0, "column " #col " differs")
    SAME(customer_id);
    SAME(first_day);
    SAME(last_day);
    SAME(recency_days);
    SAME(tenure_days);
    SAME(frequency);
    SAME(monetary);
    SAME(purchase_days);
    SAME(prev_day);
    SAME(second_day);
    SAME(last_day_orders);
#undef SAME
    for (size_t i = 0; i < n; i++)
        CHECK(same_double(crm_profiles_gap_avg(a)[i], crm_profiles_gap_avg(b)[i]), "gap_avg %zu", i);
    crm_population_summary x = {.version = CRM_POPULATION_SUMMARY_VERSION};
    crm_population_summary y = x;
    CHECK(crm_profiles_summary(a, &x) == CRM_OK && crm_profiles_summary(b, &y) == CRM_OK, "summary");
    CHECK(x.valid == y.valid && x.customers == y.customers && x.orders == y.orders &&
              x.revenue == y.revenue && x.repeaters == y.repeaters &&
              same_double(x.arpu, y.arpu) && same_double(x.mean_frequency, y.mean_frequency) &&
              same_double(x.average_check, y.average_check) &&
              same_double(x.mean_lifetime, y.mean_lifetime),
          "summaries differ");
}

/* ---- decoding ----------------------------------------------------------- */

static int64_t decode_asof(uint16_t v)
{
    switch (v) {
    case 0xffff: return CRM_DAY_MAX + 1;
    case 0xfffe: return -1;
    case 0xfffd: return CRM_DAY_MAX;
    case 0xfffc: return 0;
    case 0xfffb: return INT64_MIN;
    case 0xfffa: return INT64_MAX;
    default: return 19000 + (int64_t)(v & 0x3fff);
    }
}

static size_t decode_orders(crm_order *o, const uint8_t *p, size_t size, int raw, int64_t asof)
{
    size_t n = 0;
    if (raw) {
        for (; size >= sizeof *o; p += sizeof *o, size -= sizeof *o)
            memcpy(&o[n++], p, sizeof *o);
        return n;
    }
    /* Days around a valid asof; far-off asof values clamp to the valid range. */
    int64_t base = asof < 1000 ? 0 : asof > CRM_DAY_MAX ? CRM_DAY_MAX - 1000 : asof - 1000;
    for (; size >= 6; p += 6, size -= 6) {
        uint64_t id = p[0] & 0x7f;
        if (p[0] & 0x80)
            id = UINT64_MAX - id;
        int64_t day = base + (int16_t)get16(p + 1) % 1200;
        if (day < 0)
            day = -day;
        o[n++] = (crm_order){id, day * 86400 + p[3] * 339, (int64_t)(int16_t)get16(p + 4) * 7};
    }
    return n;
}

/* ---- entry -------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const int mergeable = data[0] & 1, raw = (data[0] >> 1) & 1;
    const int64_t asof = decode_asof(get16(data + 1));
    const uint8_t mask = data[3];
    data += 4;
    size -= 4;

    size_t cap = size / 6 + 1;
    crm_order *orders = malloc(cap * sizeof *orders);
    crm_order *part[2] = {malloc(cap * sizeof *orders), malloc(cap * sizeof *orders)};
    CHECK(orders && part[0] && part[1], "out of memory");
    const size_t n = decode_orders(orders, data, size, raw, asof);

    crm_profiles_options opt;
    CHECK(crm_profiles_options_init(&opt, CRM_PROFILES_OPTIONS_VERSION) == CRM_OK, "options");
    opt.mergeable = (uint32_t)mergeable;

    crm_profiles *whole = NULL;
    crm_status s = crm_profiles_build(&whole, n ? orders : NULL, n, asof, &opt);
    if (asof < 0 || asof > CRM_DAY_MAX) {
        CHECK(s == CRM_EINVAL && whole == NULL, "asof %lld: status %d", (long long)asof, s);
        goto out;
    }
    reference ref;
    reference_build(&ref, orders, n, asof);
    check_status(s, whole, &ref);
    if (s == CRM_OK) {
        check_table(whole, &ref, asof, mergeable);
        /* The mergeable option must not change what the table shows. */
        crm_profiles_options plain = opt;
        plain.mergeable = !mergeable;
        crm_profiles *other = NULL;
        CHECK(crm_profiles_build(&other, orders, n, asof, &plain) == CRM_OK, "rebuild");
        check_same(whole, other);
        crm_profiles_free(other);
    }
    free(ref.cust);

    if (mergeable) {
        size_t k[2] = {0, 0};
        for (size_t i = 0; i < n; i++) {
            int side = (mask >> (i % 8)) & 1;
            part[side][k[side]++] = orders[i];
        }
        crm_profiles *pt[2] = {NULL, NULL};
        crm_status ps[2];
        for (int j = 0; j < 2; j++) {
            reference pr;
            reference_build(&pr, part[j], k[j], asof);
            ps[j] = crm_profiles_build(&pt[j], part[j], k[j], asof, &opt);
            check_status(ps[j], pt[j], &pr);
            if (ps[j] == CRM_OK)
                check_table(pt[j], &pr, asof, 1);
            free(pr.cust);
        }
        if (ps[0] == CRM_OK && ps[1] == CRM_OK) {
            crm_profiles *m1 = NULL, *m2 = NULL;
            crm_status s1 = crm_profiles_merge(&m1, pt[0], pt[1]);
            crm_status s2 = crm_profiles_merge(&m2, pt[1], pt[0]);
            CHECK(s1 == s2, "merge(a,b) = %d but merge(b,a) = %d", s1, s2);
            if (s == CRM_OK) {
                /* The union fits (the whole built): the merge must too. */
                CHECK(s1 == CRM_OK, "merge: %d (%s)", s1, crm_last_error());
                check_same(m1, whole);
                check_same(m2, whole);
                CHECK(crm_profiles_is_mergeable(m1), "merged table not mergeable");
            } else {
                CHECK(s1 == CRM_OK || s1 == CRM_EOVERFLOW, "merge: %d", s1);
            }
            if (s1 != CRM_OK)
                CHECK(m1 == NULL && m2 == NULL, "failed merge left a table");
            crm_profiles_free(m1);
            crm_profiles_free(m2);
        }
        crm_profiles_free(pt[0]);
        crm_profiles_free(pt[1]);
    } else if (s == CRM_OK) {
        /* A table built without `mergeable` cannot be merged. */
        crm_profiles *m = (crm_profiles *)1;
        CHECK(crm_profiles_merge(&m, whole, whole) == CRM_EINVAL && m == NULL,
              "merge of non-mergeable tables must fail with CRM_EINVAL");
    }
out:
    crm_profiles_free(whole);
    free(orders);
    free(part[0]);
    free(part[1]);
    return 0;
}
