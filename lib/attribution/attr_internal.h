/* Internal interfaces of the attribution module. */
#ifndef CRM_ATTR_INTERNAL_H
#define CRM_ATTR_INTERNAL_H

#include "core/core.h"
#include "crm/attribution.h"

/* ---- interner of distinct element sequences (seqset.c in paths.c) ------- */

/* Distinct sequences of `es`-byte elements (es = 1 for names, 4 for paths),
 * numbered in insertion order; offsets in elements. Insertion never fails
 * once attr_seqset_reserve() succeeded for the rows and elements added. */
typedef struct attr_seqset {
    size_t es;          /* element size in bytes */
    size_t n;           /* sequences */
    size_t rows_cap;    /* capacity of off (minus 1) and hash */
    uint64_t *off;      /* n + 1 offsets (elements) */
    uint64_t *hash;     /* per sequence */
    uint8_t *pool;      /* elements */
    size_t pool_len, pool_cap; /* elements */
    uint32_t *bucket;   /* row + 1, 0 = empty */
    size_t mask;
} attr_seqset;

void attr_seqset_init(attr_seqset *s, size_t es);
void attr_seqset_free(attr_seqset *s);
crm_status attr_seqset_reserve(attr_seqset *s, size_t rows, size_t elems);
uint64_t attr_hash_bytes(const void *p, size_t n);
/* Row of the sequence, or SIZE_MAX. */
size_t attr_seqset_find(const attr_seqset *s, const void *e, size_t len, uint64_t h);
/* Row of the sequence, adding it when absent (capacity reserved). */
size_t attr_seqset_add(attr_seqset *s, const void *e, size_t len, uint64_t h, bool *added);
static inline const void *attr_seqset_at(const attr_seqset *s, size_t row, size_t *len)
{
    *len = (size_t)(s->off[row + 1] - s->off[row]);
    return s->pool + s->off[row] * s->es;
}

/* ---- path table ---------------------------------------------------------- */

struct crm_attribution_paths {
    attr_seqset names;   /* channel names, each stored with its NUL */
    attr_seqset rows;    /* distinct non-empty paths (uint32 channel indices) */
    double *conv, *value, *nulls; /* per row; capacity rows.rows_cap */
    size_t vcap;
    double un_conv, un_value, un_nulls; /* empty paths */
    uint32_t *scratch;   /* parse buffer */
    size_t scratch_cap;
};

crm_status attr_paths_alloc(crm_attribution_paths **out);
/* Reserve room for `rows` more rows of `elems` more touches and `names` more
 * channels of `name_bytes` more bytes. */
crm_status attr_paths_reserve(crm_attribution_paths *t, size_t rows, size_t elems,
                              size_t names, size_t name_bytes);
/* Add a row (capacity reserved; counts validated). */
void attr_paths_put(crm_attribution_paths *t, const uint32_t *seq, size_t len,
                    double conv, double value, double nulls);
/* Channel index of a name (capacity reserved), adding it when absent. */
uint32_t attr_paths_channel(crm_attribution_paths *t, const char *name, size_t len);
crm_status attr_check_count(double v, const char *what, size_t idx, const char *field);

/* ---- events -------------------------------------------------------------- */

/* A journey: touch indices (into the caller's array, time order) and the
 * conversion index, or SIZE_MAX for the null journey. */
typedef crm_status (*attr_journey_fn)(void *ctx, const uint32_t *touch, size_t k,
                                      size_t conv);
crm_status attr_journeys(const crm_touch *touches, size_t nt,
                         const crm_conversion *convs, size_t nc,
                         const crm_attribution_journey_options *opt,
                         attr_journey_fn fn, void *ctx);
/* Check each conversion: ts in [0, CRM_TS_MAX], value finite >= 0, weight
 * finite > 0 (CRM_EDATA naming conversions[i]). */
crm_status attr_check_conversions(const crm_conversion *convs, size_t nc);
crm_status attr_journey_resolve(crm_attribution_journey_options *o,
                                const crm_attribution_journey_options *in);

/* ---- models -------------------------------------------------------------- */

crm_status attr_options_resolve(crm_attribution_options *o,
                                const crm_attribution_options *in);
/* Weights of a path-level heuristic over len touches (sum 1) into w. */
void attr_heuristic_weights(int model, const uint32_t *ch, size_t len,
                            const crm_attribution_options *o, double *w);
crm_status attr_markov_credit(const crm_attribution_paths *t,
                              const crm_attribution_options *o, double *conv,
                              double *value);
crm_status attr_shapley_credit(const crm_attribution_paths *t, int model,
                               const crm_attribution_options *o, double *conv,
                               double *value);

#endif
