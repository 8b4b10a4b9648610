/* crm-gen: write seeded synthetic orders as CSV (customer_id,ts,amount) or as
 * a raw crm_order array (--format bin, 24 bytes per record, native endian). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

static int64_t parse_date(const char *s, int *ok)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31) {
        *ok = 0;
        return 0;
    }
    /* days from civil (proleptic Gregorian) */
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int usage(void)
{
    fputs("usage: crm-gen [--customers N] [--orders N] [--seed S] [--start YYYY-MM-DD]\n"
          "               [--end YYYY-MM-DD] [--format csv|bin] [--shuffle] [-o FILE]\n", stderr);
    return 2;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end); /* accepts 1e7 */
    if (errno || *end || v < 0 || v > 1e12)
        return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    gen_params p = gen_defaults();
    const char *out = NULL, *format = "csv";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--shuffle")) {
            p.shuffle = 1;
            continue;
        }
        if (!v)
            return usage();
        if (!strcmp(a, "--customers"))
            ok = parse_size(v, &p.customers) == 0;
        else if (!strcmp(a, "--orders"))
            ok = parse_size(v, &p.orders) == 0;
        else if (!strcmp(a, "--seed"))
            p.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--start"))
            p.start_day = parse_date(v, &ok);
        else if (!strcmp(a, "--end"))
            p.end_day = parse_date(v, &ok);
        else if (!strcmp(a, "--format"))
            format = v, ok = !strcmp(v, "csv") || !strcmp(v, "bin");
        else if (!strcmp(a, "-o"))
            out = v;
        else
            return usage();
        if (!ok) {
            fprintf(stderr, "crm-gen: bad value for %s: %s\n", a, v);
            return 2;
        }
        i++;
    }
    size_t n;
    crm_order *o = gen_orders(&p, &n);
    if (!o) {
        fputs("crm-gen: out of memory\n", stderr);
        return 1;
    }
    FILE *f = out ? fopen(out, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "crm-gen: %s: %s\n", out, strerror(errno));
        return 1;
    }
    int bad = 0;
    if (!strcmp(format, "bin")) {
        bad = fwrite(o, sizeof *o, n, f) != n;
    } else {
        bad = fputs("customer_id,ts,amount\n", f) < 0;
        for (size_t i = 0; i < n && !bad; i++)
            bad = fprintf(f, "%llu,%lld,%lld\n", (unsigned long long)o[i].customer_id,
                          (long long)o[i].ts, (long long)o[i].amount) < 0;
    }
    if ((out && fclose(f)) || bad) {
        fprintf(stderr, "crm-gen: write failed\n");
        return 1;
    }
    fprintf(stderr, "crm-gen: %zu orders\n", n);
    free(o);
    return 0;
}
