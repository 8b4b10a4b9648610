/*
 * pos_lookup: how a POS or loyalty back office uses libcrm at checkout.
 *
 * Nightly: build the profiles, lifecycle stages and RFM segments (default
 * rf10 map) from the order export and write a compact lookup table (sorted
 * customer ids with stage, rule, segment and the two numbers a cashier
 * screen shows). At checkout: load the table once and
 * binary-search the customer scanned at the till: no libcrm call, no
 * recomputation, microseconds per lookup.
 *
 * usage: pos_lookup ORDERS.csv [--asof YYYY-MM-DD] [--table PATH] CUSTOMER_ID...
 * The table goes to PATH (default: a temporary file, removed at the end).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv_orders.h"

/* One row of the nightly table (host byte order: the table stays on the
 * machine that wrote it). */
typedef struct pos_row {
    uint64_t customer_id;
    uint8_t stage;       /* enum crm_lifecycle_stage */
    uint8_t rule;        /* enum crm_lifecycle_rule */
    uint16_t segment;    /* index into the header's segment names; NO_SEGMENT for leads */
    int32_t recency_days; /* -1 for a lead */
    uint32_t frequency;
    int32_t pad2;
} pos_row;

#define NO_SEGMENT 0xFFFFu
#define MAX_SEGMENTS 32

typedef struct pos_header {
    char magic[4];       /* "POSL" */
    uint32_t version;    /* 1 */
    int64_t asof;
    uint64_t rows;
    uint32_t segments;   /* names that follow */
    char segment_name[MAX_SEGMENTS][CRM_RFM_NAME_MAX + 1];
} pos_header;

/* RFM segment codes per stage-table row (merge-walk: the RFM result has the
 * profile customers, the stage table adds the leads). */
static int segment_codes(const crm_lifecycle *t, const crm_rfm_result *rfm, pos_header *h,
                         uint16_t *code)
{
    size_t ns = crm_rfm_segment_count(rfm);
    if (ns > MAX_SEGMENTS)
        return 1;
    h->segments = (uint32_t)ns;
    for (size_t k = 0; k < ns; k++)
        snprintf(h->segment_name[k], sizeof h->segment_name[k], "%s",
                 crm_rfm_segment_name(rfm, k));
    const uint64_t *id = crm_lifecycle_customer_id(t), *rid = crm_rfm_customer_id(rfm);
    const uint16_t *seg = crm_rfm_segment(rfm);
    size_t j = 0, nr = crm_rfm_count(rfm);
    for (size_t r = 0; r < crm_lifecycle_count(t); r++) {
        while (j < nr && rid[j] < id[r])
            j++;
        code[r] = j < nr && rid[j] == id[r] && seg ? seg[j] : NO_SEGMENT;
    }
    return 0;
}

/* ---- nightly job ---------------------------------------------------------- */

static int nightly(const crm_order *orders, size_t n, int64_t asof, const char *path)
{
    crm_profiles *prof = NULL;
    crm_lifecycle *t = NULL;
    crm_rfm_result *rfm = NULL;
    if (crm_profiles_build(&prof, orders, n, asof, NULL) != CRM_OK ||
        crm_lifecycle_build(&t, prof, NULL, 0, NULL, NULL) != CRM_OK ||
        crm_rfm_score(&rfm, prof, NULL) != CRM_OK) {
        fprintf(stderr, "pos_lookup: %s\n", crm_last_error());
        crm_lifecycle_free(t);
        crm_profiles_free(prof);
        return 1;
    }
    size_t rows = crm_lifecycle_count(t);
    static pos_header h;
    h = (pos_header){ { 'P', 'O', 'S', 'L' }, 1, asof, rows, 0, { { 0 } } };
    uint16_t *code = malloc(rows ? rows * sizeof *code : 1);
    FILE *f = code && !segment_codes(t, rfm, &h, code) ? fopen(path, "wb") : NULL;
    crm_rfm_free(rfm);
    if (!f) {
        fprintf(stderr, "pos_lookup: cannot write %s\n", path);
        free(code);
        crm_lifecycle_free(t);
        crm_profiles_free(prof);
        return 1;
    }
    int bad = fwrite(&h, sizeof h, 1, f) != 1;
    const uint64_t *id = crm_lifecycle_customer_id(t);
    for (size_t r = 0; r < rows && !bad; r++) {
        crm_lifecycle_explanation e = { .version = CRM_LIFECYCLE_EXPLANATION_VERSION };
        if (crm_lifecycle_explain(t, id[r], &e) != CRM_OK) {
            bad = 1;
            break;
        }
        pos_row row = { id[r], (uint8_t)e.stage, (uint8_t)e.rule, code[r], e.recency_days,
                        e.frequency, 0 };
        bad = fwrite(&row, sizeof row, 1, f) != 1;
    }
    bad |= fclose(f) != 0;
    free(code);
    crm_lifecycle_free(t);
    crm_profiles_free(prof);
    if (bad)
        fprintf(stderr, "pos_lookup: cannot write %s\n", path);
    else
        printf("nightly: %zu customers as of day %lld -> %s\n", rows, (long long)asof, path);
    return bad;
}

/* ---- checkout --------------------------------------------------------------- */

typedef struct pos_table {
    pos_header h; /* large: the table lives in static storage */
    pos_row *rows;
} pos_table;

static int load_table(const char *path, pos_table *t)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 1;
    int bad = fread(&t->h, sizeof t->h, 1, f) != 1 || memcmp(t->h.magic, "POSL", 4) != 0 ||
              t->h.version != 1 || t->h.rows > SIZE_MAX / sizeof(pos_row) ||
              t->h.segments > MAX_SEGMENTS;
    t->rows = bad ? NULL : malloc(t->h.rows ? t->h.rows * sizeof(pos_row) : 1);
    bad = bad || !t->rows || fread(t->rows, sizeof(pos_row), t->h.rows, f) != t->h.rows;
    fclose(f);
    return bad;
}

static const pos_row *lookup(const pos_table *t, uint64_t id)
{
    size_t lo = 0, hi = t->h.rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->rows[mid].customer_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->h.rows && t->rows[lo].customer_id == id ? &t->rows[lo] : NULL;
}

static void checkout(const pos_table *t, uint64_t id)
{
    const pos_row *r = lookup(t, id);
    if (!r) {
        printf("checkout %llu: no purchase history and not a known contact -> "
               "offer loyalty sign-up\n", (unsigned long long)id);
        return;
    }
    printf("checkout %llu: stage %s -> scenario \"%s\", RFM segment %s", (unsigned long long)id,
           crm_lifecycle_stage_name(r->stage), crm_lifecycle_scenario_name(r->stage),
           r->segment < t->h.segments ? t->h.segment_name[r->segment] : "(none)");
    if (r->frequency)
        printf(" (%u orders, last %d days ago)", r->frequency, r->recency_days);
    printf("\n  because: %s\n", crm_lifecycle_rule_text(r->rule));
}

static int usage(void)
{
    fputs("usage: pos_lookup ORDERS.csv [--asof YYYY-MM-DD] [--table PATH] CUSTOMER_ID...\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *csv = NULL, *table = NULL;
    long long asof = -1;
    uint64_t ids[64];
    size_t nid = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--asof")) {
            if (i + 1 >= argc || (asof = csv_parse_day(argv[++i])) < 0)
                return usage();
        } else if (!strcmp(argv[i], "--table")) {
            if (i + 1 >= argc)
                return usage();
            table = argv[++i];
        } else if (!csv) {
            csv = argv[i];
        } else if (nid < 64) {
            char *end;
            errno = 0;
            ids[nid++] = strtoull(argv[i], &end, 10);
            if (errno || *end || end == argv[i])
                return usage();
        }
    }
    if (!csv || nid == 0)
        return usage();
    char err[512], tmp[] = "/tmp/pos_lookup_XXXXXX";
    size_t n;
    crm_order *orders = csv_read_orders(csv, &n, err, sizeof err);
    if (!orders) {
        fprintf(stderr, "pos_lookup: %s\n", err);
        return 2;
    }
    if (asof < 0) { /* default: the day of the last order */
        asof = 0;
        for (size_t i = 0; i < n; i++)
            if (orders[i].ts >= 0 && orders[i].ts / 86400 > asof)
                asof = orders[i].ts / 86400;
    }
    if (!table) {
        int fd = mkstemp(tmp);
        if (fd < 0) {
            perror("pos_lookup: mkstemp");
            free(orders);
            return 1;
        }
        close(fd);
        table = tmp;
    }
    int rc = nightly(orders, n, asof, table);
    free(orders);
    static pos_table t;
    if (!rc && load_table(table, &t) != 0) {
        fprintf(stderr, "pos_lookup: %s is not a readable lookup table\n", table);
        rc = 1;
    }
    for (size_t i = 0; i < nid && !rc; i++)
        checkout(&t, ids[i]);
    free(t.rows);
    if (table == tmp)
        remove(tmp);
    return rc;
}
