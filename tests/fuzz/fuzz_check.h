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

/* A load that failed on fuzzed bytes: the status says damaged, newer or too
 * big (CRM_ESTATE, CRM_EVERSION, CRM_EOVERFLOW), the out pointer `left` was
 * cleared and crm_last_error() says why. Needs crm/crm.h. */
#define CHECK_REFUSED(s, left) \
    do { \
        CHECK((left) == NULL, "failed load left a table"); \
        CHECK((s) == CRM_ESTATE || (s) == CRM_EVERSION || (s) == CRM_EOVERFLOW, \
              "status %d (%s)", (s), crm_last_error()); \
        CHECK(crm_last_error()[0] != '\0', "no message"); \
    } while (0)

#endif
