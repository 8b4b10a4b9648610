/* Benchmark helpers: wall time and the peak memory a call adds. */
#ifndef CRM_BENCHUTIL_H
#define CRM_BENCHUTIL_H

#include <stddef.h>

/* Monotonic clock in seconds. */
double bench_now(void);

/* Reset the kernel's peak-RSS mark (Linux: /proc/self/clear_refs) and
 * remember the current RSS; bench_peak_added() then gives the bytes by which
 * the peak rose above it. Both return -1 where unsupported. */
long bench_peak_reset(void);
long bench_peak_added(void);

/* Print one result line:
 * "<name>: <ns/rec> ns/<unit>, <records> <unit>s, peak +<MiB> MiB (<B> B/<per_name>)" */
void bench_report(const char *name, const char *unit, double seconds, size_t records,
                  long peak_bytes, size_t per, const char *per_name);

#endif
