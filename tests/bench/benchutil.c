#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long rss_before = -1;

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k))
            v = atol(line + k);
    fclose(f);
    return v;
}

long bench_peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    fclose(f);
    rss_before = ok ? status_kib("VmRSS:") : -1;
    return rss_before;
}

long bench_peak_added(void)
{
    long hwm = status_kib("VmHWM:");
    if (hwm < 0 || rss_before < 0)
        return -1;
    return (hwm - rss_before) * 1024;
}

void bench_report(const char *name, const char *unit, double seconds, size_t records,
                  long peak_bytes, size_t per, const char *per_name)
{
    printf("%s: %.1f ns/%s, %zu %ss, %.3f s", name, seconds * 1e9 / (double)records, unit,
           records, unit, seconds);
    if (peak_bytes >= 0)
        printf(", peak +%.1f MiB (%.1f B/%s)", (double)peak_bytes / 1048576.0,
               per ? (double)peak_bytes / (double)per : 0.0, per_name);
    printf("\n");
    fflush(stdout);
}
