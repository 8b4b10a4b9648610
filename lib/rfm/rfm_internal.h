/* Internal layout of the rfm module's handles. Not installed. */
#ifndef CRM_RFM_INTERNAL_H
#define CRM_RFM_INTERNAL_H

#include "core/core.h"
#include "crm/rfm.h"

typedef char crm__rfm_name[CRM_RFM_NAME_MAX + 1];

struct crm_rfm_map {
    uint32_t bins;
    size_t nbox;
    crm_rfm_box *boxes;    /* names point into `names` */
    uint16_t *box_label;   /* label code of each box */
    size_t nnames;         /* distinct names */
    size_t nlabels;        /* nnames + 1 when some cell is "Others" */
    crm__rfm_name *names;  /* nlabels entries ("Others" last if present) */
    uint16_t *cells;       /* bins^3 label codes */
    size_t others;         /* cells falling to "Others" */
    uint8_t *lint;         /* CRM_RFM_LINT_* per label */
};

/* Deep copy of a map (NULL in, NULL out with CRM_OK). */
crm_status crm__rfm_map_copy(crm_rfm_map **out, const crm_rfm_map *map);
/* The default map for `bins`: rf10 when bins == 5, else *out = NULL. */
crm_status crm__rfm_map_default(crm_rfm_map **out, uint32_t bins);

struct crm_rfm_result {
    size_t n;
    uint32_t bins;
    int64_t asof;
    uint64_t *id;
    int32_t *rec;
    uint32_t *freq;
    int64_t *mon;
    uint8_t *score[3];
    uint16_t *seg;               /* NULL without segments */
    crm_rfm_map *map;            /* owned copy, NULL without segments */
    uint32_t rule[3];            /* crm_rfm_tie or CRM_RFM_RULE_CUTS */
    int64_t *acut[3];            /* ascending cuts on the key scale (value rules) */
    size_t nacut[3];
    int64_t *cuts[3];            /* public cuts (R on -recency_days) */
    size_t ncuts[3];
    crm_rfm_segment_stats *stats; /* one per label */
};

/* ---- shared by rfm.c and rfm_partial.c ------------------------------------ */

/* R is reversed (score = N + 1 - bin of recency ascending) under this rule. */
static inline int crm__rfm_r_reversed(uint32_t rule)
{
    return rule == CRM_RFM_TIE_QCUT_RANK || rule == CRM_RFM_TIE_RFM_R;
}
/* Key of a row in dimension dim under res->rule[dim]. */
static inline int64_t crm__rfm_key(const crm_rfm_result *res, int dim, size_t row)
{
    switch (dim) {
    case CRM_RFM_DIM_R:
        return crm__rfm_r_reversed(res->rule[0]) ? res->rec[row] : -(int64_t)res->rec[row];
    case CRM_RFM_DIM_F:
        return res->freq[row];
    default:
        return res->mon[row];
    }
}
/* Bin formulas of a 1-based rank r among len customers. */
uint32_t crm__rfm_ntile_bin(uint64_t r, uint64_t len, uint32_t N);
uint32_t crm__rfm_qcut_bin(uint64_t r, uint64_t len, uint32_t N);
/* 1 + #{cuts <= key}, at most N. */
uint32_t crm__rfm_cut_bin(const int64_t *cuts, size_t nc, int64_t key, uint32_t N);
/* rfm_r cut point ceil(q + 1) from the values around the quantile. */
int64_t crm__rfm_r_cut(int64_t x0, int64_t x1, uint64_t rem, uint32_t N);
/* last[b] = last rank of bin b (b = 1..N) under a rank rule. */
void crm__rfm_bin_ends(size_t n, uint32_t N, int ntile, uint64_t *last);
/* Frozen-mode cuts from the largest key owned by each bin. */
void crm__rfm_frozen_cuts(const int64_t *own, const int *has, uint32_t N, int64_t *cuts);
/* Store ascending key-scale cuts of dimension d (and the public form). */
crm_status crm__rfm_set_cuts(crm_rfm_result *res, int d, const int64_t *acut, size_t nc);
/* Resolved, validated options. */
crm_status crm__rfm_resolve(const char *fn, const crm_rfm_options *opt, crm_rfm_options *o);
/* Result with columns allocated (n rows) / copied from a profile table. */
crm_status crm__rfm_result_new(crm_rfm_result **out, size_t n, uint32_t bins, int64_t asof);
crm_status crm__rfm_result_of(crm_rfm_result **out, const crm_profiles *profiles,
                              uint32_t bins);
/* Score a result whose columns are filled; frees it on failure. */
crm_status crm__rfm_finish(crm_rfm_result **out, crm_rfm_result *res, const crm_rfm_options *o);
/* Segment column, map copy and segment summaries of a scored result. */
crm_status crm__rfm_segments(crm_rfm_result *res, const crm_rfm_options *o);

/* ---- orders to per-customer values (rfm_orders.c, rfm_shard.c) ------------- */

/* One customer aggregated from orders. */
typedef struct crm__rfm_entry {
    uint64_t id;
    int64_t mon;   /* sum of amounts, refunds included */
    int32_t last;  /* last non-refund day, -1: refunds only */
    uint32_t freq; /* non-refund orders */
} crm__rfm_entry;

/* Aggregate n orders up to day asof in a hash table of about n / per_slot
 * slots (grown as needed) held in the caller's buffer *buf of *buf_cap
 * entries (NULL / 0 at first; reused when large enough, else replaced; the
 * caller frees it with crm__free, also after a failure). On success the
 * *kept customers that bought anything are packed at its front, in hash
 * order. Errors as crm_rfm_score_orders(). */
crm_status crm__rfm_aggregate(crm__rfm_entry **buf, size_t *buf_cap, size_t *kept,
                              const crm_order *orders, size_t n, int64_t asof,
                              unsigned per_slot);
/* Columns id, rec, freq, mon of res (n rows, res->asof set) from entries. */
void crm__rfm_fill(crm_rfm_result *res, const crm__rfm_entry *e, size_t n);

/* ---- partitioned scoring (rfm_partial.c), shared with rfm_shard.c -------- */

/* Round-1 partial of n customers given as columns. */
crm_status crm__rfm_hist_build(crm_rfm_partial **out, size_t n, const int32_t *rec,
                               const uint32_t *freq, const int64_t *mon);
/* Round-2 partial of cols (rule[] set to th's); `ascending`: cols in id order. */
crm_status crm__rfm_ties_build(crm_rfm_partial **out, const crm_rfm_result *cols,
                               const crm_rfm_thresholds *th, int ascending);
/* CRM_EINVAL when th still has pending boundaries or fewer than n customers. */
crm_status crm__rfm_score_check(const char *fn, const crm_rfm_thresholds *th, size_t n);
/* Score res (columns filled, id order) with th; frees res on failure. */
crm_status crm__rfm_score_with(crm_rfm_result **out, crm_rfm_result *res,
                               const crm_rfm_thresholds *th);
/* Add the customers of cols (rule[] set to th's) to cells[bins^3] by
 * their (R, F, M) cell, index ((R - 1) * bins + F - 1) * bins + M - 1, and
 * their monetary to revenue[] (when not NULL; CRM_EOVERFLOW beyond int64). */
crm_status crm__rfm_cell_counts(uint64_t *cells, int64_t *revenue, const crm_rfm_result *cols,
                                const crm_rfm_thresholds *th);
/* Bins and per-dimension rules of thresholds. */
uint32_t crm__rfm_th_bins(const crm_rfm_thresholds *th);
const uint32_t *crm__rfm_th_rules(const crm_rfm_thresholds *th);

#endif
