/* CHECK(cond, fmt, ...) of the fuzz targets: on failure print
 * "<FUZZ_NAME>: file:line: check failed: <cond>: <message>" to stderr and
 * abort() (libFuzzer and replay.c both report the abort). Define FUZZ_NAME
 * (a string literal) before including. */
#ifndef CRM_TESTS_FUZZ_CHECK_H
#define CRM_TESTS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_NAME
#error "define FUZZ_NAME before including fuzz_check.h"
#endif

#define CHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, FUZZ_NAME ": %s:%d: check failed: %s: ", __FILE__, __LINE__, \
                    #cond); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
            abort(); \
        } \
    } while (0)

#endif
