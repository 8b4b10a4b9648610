/*
 * What the host charges for memory new to the process: the time to write
 * one byte per 4 KiB page of a fresh anonymous mapping (each write faults
 * the page in), with and without transparent huge pages requested, against
 * the same writes to pages already touched. No libcrm call: this prices
 * the page faults that other benchmarks report (bench_fcap's "fresh
 * memory" line), so their figures can be read on any machine. On a typical
 * Linux host a fault costs well under a microsecond; on some virtual
 * machines (shadow paging, free pages handed back to the hypervisor) it
 * costs several.
 * usage: bench_touch [MIB]   (default 256)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "benchutil.h"

enum { PAGE = 4096, HUGE_PAGE = 2 << 20 };
#ifdef MADV_HUGEPAGE
#define HUGE_RUNS 2 /* without and with huge pages requested */
#else
#define HUGE_RUNS 1
#endif

/* ns per 4 KiB page to write one byte into each page of p[0..n) */
static double touch(volatile char *p, size_t n)
{
    double t0 = bench_now();
    for (size_t i = 0; i < n; i += PAGE)
        p[i] = 1;
    return (bench_now() - t0) * 1e9 / (double)(n / PAGE);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    if (mib == 0 || mib > ((size_t)1 << 20)) {
        fputs("usage: bench_touch [MIB]  (1 .. 2^20)\n", stderr);
        return 2;
    }
    size_t n = mib << 20;
    for (int huge = 0; huge < HUGE_RUNS; huge++)
        for (int rep = 0; rep < 2; rep++) {
            char *m = mmap(NULL, n + HUGE_PAGE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) {
                perror("mmap");
                return 1;
            }
            char *p = (char *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
            if (huge)
                (void)madvise(p, n, MADV_HUGEPAGE);
#endif
            double first = touch(p, n), again = touch(p, n);
            printf("memory first touch (%s, mapping %d of 2, %zu MiB): %.0f ns per 4 KiB page "
                   "fresh, %.0f ns touched again\n",
                   huge ? "huge pages requested" : "4 KiB pages", rep + 1, mib, first, again);
            munmap(m, n + HUGE_PAGE);
        }
    return 0;
}
