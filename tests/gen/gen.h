/* Seeded generator of realistic synthetic orders, for tests, benchmarks and
 * the bundled sample data. Deterministic for a given parameter set. */
#ifndef CRM_GEN_H
#define CRM_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "crm/profiles.h"

typedef struct gen_params {
    uint64_t seed;
    size_t customers;    /* customers acquired over the period */
    size_t orders;       /* target number of order rows (approximate) */
    int64_t start_day;   /* first day of the period (days since 1970-01-01) */
    int64_t end_day;     /* last day of the period */
    int shuffle;         /* 0: chronological (as POS exports are), 1: random order */
} gen_params;

/* Defaults: seed 1, 1000 customers, 5000 orders, 2024-01-01 .. 2025-12-31. */
gen_params gen_defaults(void);

/* Generate orders into a malloc()ed array (caller frees); count in *n.
 * Returns NULL on allocation failure. */
crm_order *gen_orders(const gen_params *p, size_t *n);

/* Deterministic PRNG (xoshiro256**), exposed for other generators. */
typedef struct gen_rng {
    uint64_t s[4];
} gen_rng;
void gen_rng_seed(gen_rng *r, uint64_t seed);
uint64_t gen_rng_next(gen_rng *r);
double gen_rng_unit(gen_rng *r);             /* uniform in (0, 1) */
double gen_rng_gamma(gen_rng *r, double shape); /* Gamma(shape, 1) */
double gen_rng_normal(gen_rng *r);

#endif
