/*
 * Synthetic orders with the shape CRM data has: customers acquired over the
 * period (more later: a growing business), each buying at a Poisson rate drawn
 * from a gamma distribution (heavy and light buyers), dropping out after a
 * geometric number of purchases (BG/NBD-like), basket values lognormal around
 * a per-customer mean, some same-day repeat orders, ~2 % refunds dated after
 * the order they refund, and a few zero-amount orders.
 */
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void gen_rng_seed(gen_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) { /* splitmix64 expands the seed */
        uint64_t z = (seed += UINT64_C(0x9E3779B97F4A7C15));
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        r->s[i] = z ^ (z >> 31);
    }
}

uint64_t gen_rng_next(gen_rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double gen_rng_unit(gen_rng *r)
{
    return ((double)(gen_rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

double gen_rng_normal(gen_rng *r)
{
    double u = gen_rng_unit(r), v = gen_rng_unit(r);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Marsaglia and Tsang's method; shape < 1 boosted by U^(1/shape). */
double gen_rng_gamma(gen_rng *r, double shape)
{
    if (shape < 1)
        return gen_rng_gamma(r, shape + 1) * pow(gen_rng_unit(r), 1 / shape);
    double d = shape - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = gen_rng_normal(r), v = 1 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = gen_rng_unit(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v;
    }
}

gen_params gen_defaults(void)
{
    gen_params p = { .seed = 1, .customers = 1000, .orders = 5000,
                     .start_day = 19723 /* 2024-01-01 */, .end_day = 20453 /* 2025-12-31 */ };
    return p;
}

typedef struct buf {
    crm_order *o;
    size_t n, cap;
} buf;

static int push(buf *b, uint64_t id, int64_t ts, int64_t amount)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        crm_order *o = realloc(b->o, cap * sizeof *o);
        if (!o)
            return -1;
        b->o = o;
        b->cap = cap;
    }
    b->o[b->n++] = (crm_order){ id, ts, amount };
    return 0;
}

/* One customer's orders; rate_scale calibrates the order volume. */
static int customer(buf *b, gen_rng *r, const gen_params *p, size_t k, double rate_scale)
{
    int64_t days = p->end_day - p->start_day + 1;
    uint64_t id = 7000000000ULL + k * 7919 % (p->customers * 8 + 1); /* card-like ids */
    /* acquisition: density growing linearly over the period */
    double a = sqrt(gen_rng_unit(r));
    double t = (double)p->start_day + a * (double)days;
    double rate = rate_scale * gen_rng_gamma(r, 0.9) / 30.0; /* orders per day */
    double drop = (0.08 + 0.35 * gen_rng_unit(r)) / rate_scale; /* dropout after an order */
    if (drop > 0.9)
        drop = 0.9;
    double basket = 6.5 + 1.1 * gen_rng_normal(r);            /* log of cents */
    for (int first = 1;; first = 0) {
        if (!first)
            t += -log(gen_rng_unit(r)) / (rate > 1e-9 ? rate : 1e-9);
        if (t >= (double)(p->end_day + 1))
            break;
        int64_t ts = (int64_t)(t * 86400.0);
        int64_t amount = gen_rng_unit(r) < 0.005 ? 0
                         : (int64_t)exp(basket + 0.45 * gen_rng_normal(r)) + 1;
        if (push(b, id, ts, amount))
            return -1;
        if (gen_rng_unit(r) < 0.03 && push(b, id, ts + 600 + (int64_t)(gen_rng_unit(r) * 3600),
                                          amount / 2 + 1))
            return -1;
        if (gen_rng_unit(r) < 0.02) { /* refund of this order, 1..14 days later */
            int64_t rts = ts + 86400 * (1 + (int64_t)(gen_rng_unit(r) * 14));
            if (rts < (p->end_day + 1) * 86400 && push(b, id, rts, -(amount ? amount : 1)))
                return -1;
        }
        if (gen_rng_unit(r) < drop)
            break;
    }
    return 0;
}

static int by_ts(const void *x, const void *y)
{
    const crm_order *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return (a->customer_id > b->customer_id) - (a->customer_id < b->customer_id);
}

static double generate(buf *b, const gen_params *p, size_t customers, double scale)
{
    gen_rng r;
    gen_rng_seed(&r, p->seed);
    b->n = 0;
    for (size_t k = 0; k < customers; k++)
        if (customer(b, &r, p, k, scale))
            return -1;
    return customers ? (double)b->n / (double)customers : 0;
}

crm_order *gen_orders(const gen_params *p, size_t *n)
{
    buf b = { 0 };
    *n = 0;
    if (p->customers == 0 || p->end_day < p->start_day)
        return calloc(1, sizeof(crm_order));
    /* calibrate the rate scale on a pilot so the total lands near p->orders */
    double want = (double)p->orders / (double)p->customers, scale = 1;
    size_t pilot = p->customers < 2000 ? p->customers : 2000;
    for (int it = 0; it < 12; it++) {
        double got = generate(&b, p, pilot, scale);
        if (got < 0)
            goto fail;
        if (got <= 0 || fabs(got - want) / want < 0.02)
            break;
        /* every customer orders once; the rate drives the repeats */
        double rep_want = want - 1 > 0.01 ? want - 1 : 0.01;
        double rep_got = got - 1 > 0.01 ? got - 1 : 0.01;
        scale *= rep_want / rep_got;
    }
    if (generate(&b, p, p->customers, scale) < 0)
        goto fail;
    if (p->shuffle) {
        gen_rng r;
        gen_rng_seed(&r, p->seed ^ UINT64_C(0x5DEECE66D));
        for (size_t i = b.n; i > 1; i--) {
            size_t j = (size_t)(gen_rng_next(&r) % i);
            crm_order t = b.o[i - 1];
            b.o[i - 1] = b.o[j];
            b.o[j] = t;
        }
    } else {
        qsort(b.o, b.n, sizeof *b.o, by_ts);
    }
    *n = b.n;
    return b.o;
fail:
    free(b.o);
    return NULL;
}
