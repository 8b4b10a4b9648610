/**
 * @file rfm.h
 * @brief RFM scores, named RFM segments, map lint, segment summary and
 *        migration matrices between two snapshots.
 *
 * Semantics follow specs/segmentation.md, sections "RFM scores 1..N",
 * "Named RFM segments" and "Migration between two snapshots". A score
 * result is computed from a profile table (crm_profiles_build()) or from
 * plain customer columns, holds one row per customer in ascending
 * customer_id order and exposes its columns (values, R/F/M scores, segment
 * codes) as read-only arrays owned by the result. Ties are broken by
 * customer order, so no result depends on the order of input rows or on
 * how profiles were partitioned and merged.
 *
 * Every dimension has a *key*: the value on the scale the rule sorts.
 * F and M keys are frequency and monetary. The R key is -recency_days for
 * `ntile` and for explicit cut points, and recency_days for `qcut_rank`
 * and `rfm_r` (whose R score is reversed, N + 1 - bin).
 *
 * Thread safety: scoring is reentrant; results, maps and migration
 * matrices are immutable and may be read from several threads at once.
 */
#ifndef CRM_RFM_H
#define CRM_RFM_H

#include "common.h"
#include "profiles.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Smallest number of score levels per dimension. */
#define CRM_RFM_BINS_MIN 2
/** Largest number of score levels per dimension. */
#define CRM_RFM_BINS_MAX 10
/** Longest segment name in bytes, without the terminating NUL. */
#define CRM_RFM_NAME_MAX 63
/** Most boxes a segment map may hold. */
#define CRM_RFM_BOXES_MAX 1000

/** @brief Tie rules (values of crm_rfm_options.tie). */
enum crm_rfm_tie {
    CRM_RFM_TIE_NTILE = 0,     /**< dplyr ntile(), ties by customer order (default) */
    CRM_RFM_TIE_QCUT_RANK = 1, /**< pandas qcut(rank(method="first"), N), exact */
    CRM_RFM_TIE_RFM_R = 2      /**< R package rfm 0.3.0 quantile thresholds, exact */
};

/** @brief Score dimensions (the @c dim argument of the getters). */
enum crm_rfm_dim {
    CRM_RFM_DIM_R = 0, /**< recency */
    CRM_RFM_DIM_F = 1, /**< frequency */
    CRM_RFM_DIM_M = 2  /**< monetary */
};

/** Opaque, immutable segment map (ordered boxes, first match wins). */
typedef struct crm_rfm_map crm_rfm_map;

/** Opaque, immutable score result. Free with crm_rfm_free(). */
typedef struct crm_rfm_result crm_rfm_result;

/** Opaque, immutable migration matrix. Free with crm_rfm_migration_free(). */
typedef struct crm_rfm_migration crm_rfm_migration;

/**
 * @brief One box of a segment map: inclusive score bounds per dimension.
 *        Layout frozen.
 */
typedef struct crm_rfm_box {
    const char *name; /**< segment name, 1..CRM_RFM_NAME_MAX bytes, not "Others" */
    uint8_t r_lo;     /**< lowest R score, 1..bins */
    uint8_t r_hi;     /**< highest R score, r_lo..bins */
    uint8_t f_lo;     /**< lowest F score */
    uint8_t f_hi;     /**< highest F score */
    uint8_t m_lo;     /**< lowest M score */
    uint8_t m_hi;     /**< highest M score */
    uint8_t _pad[2];  /**< zero */
} crm_rfm_box;

/** Current version of ::crm_rfm_options. */
#define CRM_RFM_OPTIONS_VERSION 1u

/**
 * @brief Options of crm_rfm_score(). Fill with crm_rfm_options_init().
 *
 * Cut points replace the tie rule for their own dimension only: a key x
 * gets score 1 + #{cuts <= x}, clamped to 1..bins (R cuts are on the
 * -recency_days scale, e.g. -90, -30, -7). Cuts must be non-decreasing;
 * any number is allowed. The arrays are read during the call only.
 */
typedef struct crm_rfm_options {
    unsigned version;        /**< set by crm_rfm_options_init() */
    uint32_t bins;           /**< levels per dimension, 2..10; default 5 */
    uint32_t tie;            /**< ::crm_rfm_tie; default CRM_RFM_TIE_NTILE */
    uint32_t no_segments;    /**< non-zero: no segment column at all; default 0 */
    const int64_t *r_cuts;   /**< cut points for R (on -recency_days), or NULL */
    size_t n_r_cuts;         /**< number of R cut points (0 = use the tie rule) */
    const int64_t *f_cuts;   /**< cut points for F, or NULL */
    size_t n_f_cuts;         /**< number of F cut points */
    const int64_t *m_cuts;   /**< cut points for M (minor units), or NULL */
    size_t n_m_cuts;         /**< number of M cut points */
    /**
     * Segment map (borrowed during the call; the result keeps a copy), or
     * NULL for the default: `rf10` when bins == 5, no segment column
     * otherwise. A map's bins must equal @c bins.
     */
    const crm_rfm_map *map;
} crm_rfm_options;

/** Current version of ::crm_rfm_explanation. */
#define CRM_RFM_EXPLANATION_VERSION 1u

/**
 * @brief Why a customer got its score in one dimension (crm_rfm_explain()).
 *
 * Keys are on the rule's scale (see the file comment). Rank rules
 * (`ntile`, `qcut_rank`): @c lo / @c hi are the smallest and largest key
 * among the customers of the bin, @c rank_lo / @c rank_hi the rank range
 * the formula gives the bin. Value rules (`rfm_r`, cut points): the bin
 * holds every integer key with lo <= key <= hi (INT64_MIN / INT64_MAX when
 * open), and rank_lo / rank_hi are the ranks of its first and last customer.
 */
typedef struct crm_rfm_explanation {
    unsigned version;  /**< caller sets CRM_RFM_EXPLANATION_VERSION */
    uint32_t score;    /**< the score, 1..bins */
    uint32_t bin;      /**< bin on the key scale (score = bins + 1 - bin for reversed R) */
    uint32_t rule;     /**< ::crm_rfm_tie used, or CRM_RFM_RULE_CUTS */
    int64_t value;     /**< recency_days, frequency or monetary */
    int64_t key;       /**< the value on the rule's scale */
    uint64_t rank;     /**< 1-based rank of (key, customer order) among all customers */
    uint64_t count;    /**< number of customers ranked */
    uint64_t rank_lo;  /**< first rank of the bin */
    uint64_t rank_hi;  /**< last rank of the bin */
    int64_t lo;        /**< lower key edge of the bin (inclusive) */
    int64_t hi;        /**< upper key edge of the bin (inclusive) */
} crm_rfm_explanation;

/** Current version of ::crm_rfm_segment_stats. */
#define CRM_RFM_SEGMENT_STATS_VERSION 1u

/**
 * @brief Summary of one segment (crm_rfm_segment_summary()). Means and the
 *        share of an empty population are null: NaN.
 */
typedef struct crm_rfm_segment_stats {
    unsigned version;      /**< caller sets CRM_RFM_SEGMENT_STATS_VERSION */
    uint32_t _pad;         /**< zero */
    uint64_t customers;    /**< customers in the segment */
    uint64_t orders;       /**< sum of their frequency */
    int64_t revenue;       /**< sum of their monetary, minor units */
    double share;          /**< customers / all scored customers */
    double mean_recency;   /**< mean recency_days (NaN when empty) */
    double mean_frequency; /**< mean frequency (NaN when empty) */
    double mean_monetary;  /**< mean monetary, minor units (NaN when empty) */
} crm_rfm_segment_stats;

/** ::crm_rfm_explanation.rule value for explicit cut points. */
#define CRM_RFM_RULE_CUTS 3u

/** ::crm_rfm_map_lint status of a segment: every cell it covers is its own. */
#define CRM_RFM_LINT_OK 0u
/** ::crm_rfm_map_lint status: every cell it covers is taken by earlier boxes. */
#define CRM_RFM_LINT_UNREACHABLE 1u
/** ::crm_rfm_map_lint status: some of its cells are taken by earlier boxes. */
#define CRM_RFM_LINT_SHADOWED 2u

/* ---- segment maps --------------------------------------------------------- */

/**
 * @brief Build a segment map from ordered boxes (first match wins; a cell
 *        no box covers is "Others"). A repeated name means the union of
 *        its boxes.
 * @param[out] out receives the map; NULL on failure.
 * @param[in] bins score levels the map is written for, 2..10.
 * @param[in] boxes @p n boxes (names are copied).
 * @param[in] n number of boxes, 1..CRM_RFM_BOXES_MAX.
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad bins, a bound outside
 *         1..bins or lo > hi, empty / too long / "Others" name, n out of
 *         range; the message names the box index); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_map_new(crm_rfm_map **out, uint32_t bins,
                                   const crm_rfm_box *boxes, size_t n);

/**
 * @brief A built-in map (bins = 5): "rf10", "rfm11" or "rfm10".
 * @param[out] out receives the map; NULL on failure.
 * @param[in] name map name.
 * @return CRM_OK; CRM_EINVAL (NULL argument, unknown name); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_map_builtin(crm_rfm_map **out, const char *name);

/**
 * @brief Free a map. NULL is a no-op.
 * @param[in] map map or NULL.
 */
CRM_API void crm_rfm_map_free(crm_rfm_map *map);

/**
 * @brief Score levels the map was written for.
 * @param[in] map map (NULL gives 0).
 * @return bins.
 */
CRM_API uint32_t crm_rfm_map_bins(const crm_rfm_map *map);

/**
 * @brief Number of segment labels: distinct names in first-appearance
 *        order, plus "Others" last when some cell falls to it.
 * @param[in] map map (NULL gives 0).
 * @return the label count.
 */
CRM_API size_t crm_rfm_map_labels(const crm_rfm_map *map);

/**
 * @brief Name of segment label @p code (0 .. crm_rfm_map_labels() - 1).
 * @param[in] map map.
 * @param[in] code label code.
 * @return the NUL-terminated name owned by the map, or NULL when out of range.
 */
CRM_API const char *crm_rfm_map_label(const crm_rfm_map *map, size_t code);

/**
 * @brief The cell table: label code of every (R, F, M) cell, at index
 *        ((R - 1) * bins + (F - 1)) * bins + (M - 1); bins^3 entries owned
 *        by the map. The "Others" code is the number of distinct names.
 * @param[in] map map (NULL gives NULL).
 * @return pointer to the table.
 */
CRM_API const uint16_t *crm_rfm_map_cells(const crm_rfm_map *map);

/**
 * @brief Lint a map over its bins^3 cells.
 * @param[in] map map.
 * @param[out] status receives one CRM_RFM_LINT_* value per distinct name,
 *             in label order; room for crm_rfm_map_labels() entries (the
 *             "Others" entry, if any, gets CRM_RFM_LINT_OK).
 * @param[out] others_cells receives the number of cells that fall to
 *             "Others" (their codes in crm_rfm_map_cells() tell which).
 * @return CRM_OK; CRM_EINVAL (NULL argument).
 */
CRM_API crm_status crm_rfm_map_lint(const crm_rfm_map *map, uint8_t *status,
                                    size_t *others_cells);

/* ---- scoring ----------------------------------------------------------------- */

/**
 * @brief Fill @p opt with defaults for the given struct version.
 * @param[out] opt options to initialise.
 * @param[in] version CRM_RFM_OPTIONS_VERSION (or an older version).
 * @return CRM_OK; CRM_EINVAL (NULL opt); CRM_EVERSION (bad version).
 */
CRM_API crm_status crm_rfm_options_init(crm_rfm_options *opt, unsigned version);

/**
 * @brief Score every customer of a profile table.
 * @param[out] out receives the result; NULL on failure.
 * @param[in] profiles table (not modified; the result does not refer to it).
 * @param[in] opt options, or NULL for defaults.
 * @return CRM_OK; CRM_EINVAL (NULL argument, bins outside 2..10, unknown
 *         tie, decreasing cuts, map bins != bins); CRM_EVERSION (bad
 *         opt->version); CRM_EOVERFLOW (a segment revenue beyond int64);
 *         CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_score(crm_rfm_result **out, const crm_profiles *profiles,
                                 const crm_rfm_options *opt);

/**
 * @brief Score customers given as plain columns (e.g. customer-level data).
 * @param[out] out receives the result; NULL on failure.
 * @param[in] customer_id @p n ids, strictly ascending.
 * @param[in] recency_days @p n values >= 0.
 * @param[in] frequency @p n values.
 * @param[in] monetary @p n values, minor units.
 * @param[in] n number of customers (pointers may be NULL when 0).
 * @param[in] opt options, or NULL for defaults.
 * @return as crm_rfm_score(), plus CRM_EDATA (ids not strictly ascending or
 *         a negative recency; the message names the index).
 */
CRM_API crm_status crm_rfm_score_columns(crm_rfm_result **out,
                                         const uint64_t *customer_id,
                                         const int32_t *recency_days,
                                         const uint32_t *frequency,
                                         const int64_t *monetary, size_t n,
                                         const crm_rfm_options *opt);

/**
 * @brief Score straight from orders, without a profile table: the same
 *        result as crm_profiles_build() followed by crm_rfm_score(), from a
 *        slimmer aggregation (the fast path from an order array to a
 *        segment per customer).
 * @param[out] out receives the result; NULL on failure.
 * @param[in] orders array of @p n records (read in place; may be NULL when n == 0).
 * @param[in] n number of records.
 * @param[in] asof snapshot day, 0..CRM_DAY_MAX.
 * @param[in] opt options, or NULL for defaults.
 * @return as crm_rfm_score(), plus CRM_EDATA (a ts outside 0..CRM_TS_MAX,
 *         the message names the record index) and CRM_EOVERFLOW (a monetary
 *         sum beyond int64 or more than UINT32_MAX orders of a customer).
 */
CRM_API crm_status crm_rfm_score_orders(crm_rfm_result **out, const crm_order *orders,
                                        size_t n, int64_t asof, const crm_rfm_options *opt);

/**
 * @brief Free a result. NULL is a no-op. Column pointers die with it.
 * @param[in] res result or NULL.
 */
CRM_API void crm_rfm_free(crm_rfm_result *res);

/**
 * @brief Number of scored customers.
 * @param[in] res result (NULL gives 0).
 * @return the row count.
 */
CRM_API size_t crm_rfm_count(const crm_rfm_result *res);

/**
 * @brief Score levels per dimension.
 * @param[in] res result (NULL gives 0).
 * @return bins.
 */
CRM_API uint32_t crm_rfm_bins(const crm_rfm_result *res);

/**
 * @brief Snapshot day of the profiles scored, or -1 for crm_rfm_score_columns().
 * @param[in] res result (NULL gives -1).
 * @return the day.
 */
CRM_API int64_t crm_rfm_asof(const crm_rfm_result *res);

/**
 * @brief Customer ids, ascending (column of crm_rfm_count() values owned by
 *        the result, valid until it is freed).
 * @param[in] res result (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint64_t *crm_rfm_customer_id(const crm_rfm_result *res);

/**
 * @brief recency_days of each customer (column).
 * @param[in] res result (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const int32_t *crm_rfm_recency_days(const crm_rfm_result *res);

/**
 * @brief frequency of each customer (column).
 * @param[in] res result (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint32_t *crm_rfm_frequency(const crm_rfm_result *res);

/**
 * @brief monetary of each customer, minor units (column).
 * @param[in] res result (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const int64_t *crm_rfm_monetary(const crm_rfm_result *res);

/**
 * @brief R scores, 1..bins (column).
 * @param[in] res result (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint8_t *crm_rfm_r(const crm_rfm_result *res);

/**
 * @brief F scores, 1..bins (column).
 * @param[in] res result (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint8_t *crm_rfm_f(const crm_rfm_result *res);

/**
 * @brief M scores, 1..bins (column).
 * @param[in] res result (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint8_t *crm_rfm_m(const crm_rfm_result *res);

/**
 * @brief Segment label code of each customer (column; names through
 *        crm_rfm_segment_name()).
 * @param[in] res result (NULL gives NULL).
 * @return pointer to the column, or NULL when the result has no segments.
 */
CRM_API const uint16_t *crm_rfm_segment(const crm_rfm_result *res);

/**
 * @brief The segment map of the result (owned by it), or NULL when it has
 *        no segments.
 * @param[in] res result (NULL gives NULL).
 * @return the map.
 */
CRM_API const crm_rfm_map *crm_rfm_result_map(const crm_rfm_result *res);

/**
 * @brief Number of segment labels (0 without segments).
 * @param[in] res result (NULL gives 0).
 * @return the label count.
 */
CRM_API size_t crm_rfm_segment_count(const crm_rfm_result *res);

/**
 * @brief Name of segment label @p code.
 * @param[in] res result.
 * @param[in] code 0 .. crm_rfm_segment_count() - 1.
 * @return a NUL-terminated name owned by the result, or NULL when out of range.
 */
CRM_API const char *crm_rfm_segment_name(const crm_rfm_result *res, size_t code);

/**
 * @brief The integer cut points equivalent to the thresholds used in one
 *        dimension, on its cut scale (R: -recency_days), as accepted by
 *        crm_rfm_options: a key x gets 1 + #{cuts <= x}.
 *
 * For explicit cuts: the caller's cuts. For `rfm_r`: its thresholds
 * (t_j rounded up; exact for integer values). For `ntile` / `qcut_rank`:
 * the cut above bin b is one more than the largest value in bins 1..b (an
 * empty bin takes the previous one's; a value the rank rule split over two
 * bins belongs to the bin of its first customer) - the frozen-mode cuts of
 * the spec. Values saturate at INT64_MAX.
 * @param[in] res result.
 * @param[in] dim ::crm_rfm_dim.
 * @param[out] n receives the number of cut points (bins - 1 for a rule, 0
 *             for an empty population).
 * @return the cut points owned by the result, or NULL (and *n = 0) on a
 *         NULL argument or bad @p dim.
 */
CRM_API const int64_t *crm_rfm_cuts(const crm_rfm_result *res, int dim, size_t *n);

/**
 * @brief Explain one customer's score in one dimension. O(customers).
 * @param[in] res result.
 * @param[in] row 0-based row (crm_profiles_find() gives it from an id).
 * @param[in] dim ::crm_rfm_dim.
 * @param[in,out] out explanation; the caller sets out->version first.
 * @return CRM_OK; CRM_EINVAL (NULL argument, row or dim out of range);
 *         CRM_EVERSION (bad out->version).
 */
CRM_API crm_status crm_rfm_explain(const crm_rfm_result *res, size_t row, int dim,
                                   crm_rfm_explanation *out);

/**
 * @brief Summary of segment label @p code: customers, share, orders,
 *        revenue and plain means of recency, frequency and monetary.
 *        Empty segments give zeros and NaN means.
 * @param[in] res result with segments.
 * @param[in] code 0 .. crm_rfm_segment_count() - 1.
 * @param[in,out] out summary; the caller sets out->version first.
 * @return CRM_OK; CRM_EINVAL (NULL argument, no segments, code out of
 *         range); CRM_EVERSION (bad out->version).
 */
CRM_API crm_status crm_rfm_segment_summary(const crm_rfm_result *res, size_t code,
                                         crm_rfm_segment_stats *out);

/**
 * @brief Options that score a later snapshot with the thresholds of
 *        @p from (frozen mode): bins, map and every dimension's
 *        crm_rfm_cuts() of @p from.
 * @param[in] from result of the earlier snapshot; must outlive the use of
 *            @p opt (the options point into it).
 * @param[out] opt options to fill (any previous content is replaced).
 * @return CRM_OK; CRM_EINVAL (NULL argument).
 */
CRM_API crm_status crm_rfm_options_frozen(const crm_rfm_result *from,
                                          crm_rfm_options *opt);

/* ---- migration ---------------------------------------------------------------- */

/**
 * @brief Segment migration matrix between two results of the same map.
 *
 * Population: the customers of @p to. Rows: the labels of the map, then
 * "(none)" for customers absent from @p from; columns: the labels. Cells
 * count customers; rates divide each cell by its row total (NaN, i.e.
 * null, for an empty row). For the relative mode score both snapshots on
 * their own; for the frozen mode score @p to with crm_rfm_options_frozen()
 * of @p from.
 * @param[out] out receives the matrix; NULL on failure.
 * @param[in] from result at the earlier day.
 * @param[in] to result at the later day.
 * @return CRM_OK; CRM_EINVAL (NULL argument, a result without segments,
 *         different label lists, to's asof before from's); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_migration_new(crm_rfm_migration **out,
                                         const crm_rfm_result *from,
                                         const crm_rfm_result *to);

/**
 * @brief Free a migration matrix. NULL is a no-op.
 * @param[in] mig matrix or NULL.
 */
CRM_API void crm_rfm_migration_free(crm_rfm_migration *mig);

/**
 * @brief Number of rows (labels + 1 for "(none)").
 * @param[in] mig matrix (NULL gives 0).
 * @return rows.
 */
CRM_API size_t crm_rfm_migration_rows(const crm_rfm_migration *mig);

/**
 * @brief Number of columns (labels).
 * @param[in] mig matrix (NULL gives 0).
 * @return columns.
 */
CRM_API size_t crm_rfm_migration_cols(const crm_rfm_migration *mig);

/**
 * @brief Label of row @p i (the last row is "(none)").
 * @param[in] mig matrix.
 * @param[in] i row index.
 * @return a name owned by the matrix, or NULL when out of range.
 */
CRM_API const char *crm_rfm_migration_row_label(const crm_rfm_migration *mig, size_t i);

/**
 * @brief Label of column @p j.
 * @param[in] mig matrix.
 * @param[in] j column index.
 * @return a name owned by the matrix, or NULL when out of range.
 */
CRM_API const char *crm_rfm_migration_col_label(const crm_rfm_migration *mig, size_t j);

/**
 * @brief Customer counts, rows x cols, row-major, owned by the matrix.
 * @param[in] mig matrix (NULL gives NULL).
 * @return pointer to the counts.
 */
CRM_API const uint64_t *crm_rfm_migration_counts(const crm_rfm_migration *mig);

/**
 * @brief Row-normalised rates, rows x cols, row-major; NaN (null) across
 *        an empty row.
 * @param[in] mig matrix (NULL gives NULL).
 * @return pointer to the rates.
 */
CRM_API const double *crm_rfm_migration_rates(const crm_rfm_migration *mig);

/* ---- scale-out: partials ------------------------------------------------------ */

/** Opaque partial aggregate: exact value histograms (round 1) or the ids at
 *  split ranks (round 2). Free with crm_rfm_partial_free(). */
typedef struct crm_rfm_partial crm_rfm_partial;

/** Opaque thresholds finalised from partials. Free with crm_rfm_thresholds_free(). */
typedef struct crm_rfm_thresholds crm_rfm_thresholds;

/**
 * @brief Round 1 of partitioned scoring: the exact histograms of recency,
 *        frequency and monetary over the customers of one partition.
 *
 * Partitions must be customer-disjoint (each customer's whole profile in
 * one partition, e.g. profiles merged per customer-hash bucket). Protocol:
 * build a partial per partition, serialise, merge all of them, then
 * crm_rfm_thresholds_new(); when crm_rfm_thresholds_pending() is non-zero
 * (a rank rule split a value over two bins), build crm_rfm_partial_ties()
 * per partition, merge them and call crm_rfm_thresholds_new() again with
 * them. crm_rfm_score_thresholds() then scores each partition exactly as
 * crm_rfm_score() scores the whole. Costs 16 bytes per distinct value.
 * @param[out] out receives the partial; NULL on failure.
 * @param[in] profiles the partition's profile table.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_partial_new(crm_rfm_partial **out, const crm_profiles *profiles);

/**
 * @brief Round 2: the ids of this partition's customers at the values that
 *        the thresholds' rank rule splits over two bins (the smallest ids
 *        that can matter, at most the rank needed).
 * @param[out] out receives the partial; NULL on failure.
 * @param[in] profiles the partition's profile table.
 * @param[in] th thresholds from the merged round-1 partials.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_partial_ties(crm_rfm_partial **out, const crm_profiles *profiles,
                                        const crm_rfm_thresholds *th);

/**
 * @brief Merge two partials of the same kind (exact; neither is modified).
 * @param[out] out receives the merged partial; NULL on failure.
 * @param[in] a first partial.
 * @param[in] b second partial.
 * @return CRM_OK; CRM_EINVAL (NULL argument, different kinds, ties partials
 *         of different thresholds); CRM_EOVERFLOW; CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_partial_merge(crm_rfm_partial **out, const crm_rfm_partial *a,
                                         const crm_rfm_partial *b);

/**
 * @brief Serialise a partial (versioned, checksummed bytes; little-endian).
 * @param[out] out receives the bytes (free with crm_bytes_free()); NULL on failure.
 * @param[out] out_len receives their length.
 * @param[in] p partial.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_EOVERFLOW; CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_partial_serialize(void **out, size_t *out_len,
                                             const crm_rfm_partial *p);

/**
 * @brief Load a partial from crm_rfm_partial_serialize() bytes. Every
 *        invariant is checked (ascending values, positive counts that sum
 *        to the customer count, ascending ids).
 * @param[out] out receives the partial; NULL on failure.
 * @param[in] data the bytes.
 * @param[in] len number of bytes.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ESTATE (truncated,
 *         corrupted or inconsistent bytes; the message names the byte
 *         offset); CRM_EVERSION (a newer format); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_partial_deserialize(crm_rfm_partial **out, const void *data,
                                               size_t len);

/**
 * @brief Free a partial. NULL is a no-op.
 * @param[in] p partial or NULL.
 */
CRM_API void crm_rfm_partial_free(crm_rfm_partial *p);

/**
 * @brief Customers counted in a partial (round 1), or ids held (round 2).
 * @param[in] p partial (NULL gives 0).
 * @return the count.
 */
CRM_API uint64_t crm_rfm_partial_count(const crm_rfm_partial *p);

/**
 * @brief Thresholds of the whole population from its merged round-1
 *        partial (and, for rank rules that split a value, the merged
 *        round-2 partial).
 * @param[out] out receives the thresholds; NULL on failure.
 * @param[in] hist merged round-1 partial of all partitions.
 * @param[in] ties merged round-2 partial, or NULL.
 * @param[in] opt scoring options (bins, tie, cuts, map), or NULL.
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad options, partial kinds
 *         swapped, ties of other thresholds); CRM_ESTATE (ties partial
 *         lacks ids); CRM_EVERSION; CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_thresholds_new(crm_rfm_thresholds **out,
                                          const crm_rfm_partial *hist,
                                          const crm_rfm_partial *ties,
                                          const crm_rfm_options *opt);

/**
 * @brief Number of rank boundaries still waiting for round-2 ids (0: the
 *        thresholds can score).
 * @param[in] th thresholds (NULL gives 0).
 * @return the count.
 */
CRM_API size_t crm_rfm_thresholds_pending(const crm_rfm_thresholds *th);

/**
 * @brief Free thresholds. NULL is a no-op.
 * @param[in] th thresholds or NULL.
 */
CRM_API void crm_rfm_thresholds_free(crm_rfm_thresholds *th);

/**
 * @brief Score one partition with thresholds of the whole: every score,
 *        segment and cut point equals that of crm_rfm_score() on the whole
 *        population (segment summaries and explanations are the partition's).
 * @param[out] out receives the result; NULL on failure.
 * @param[in] profiles the partition's profile table.
 * @param[in] th thresholds with no pending boundary.
 * @return CRM_OK; CRM_EINVAL (NULL argument, pending boundaries);
 *         CRM_EOVERFLOW; CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_score_thresholds(crm_rfm_result **out,
                                            const crm_profiles *profiles,
                                            const crm_rfm_thresholds *th);

/* ---- scale-out straight from orders: shards -------------------------------------- */

/**
 * Opaque recency, frequency and monetary of the customers of one or more
 * customer-disjoint partitions, aggregated straight from their orders (the
 * worker side of partitioned scoring, without profile tables). Free with
 * crm_rfm_shard_free(). crm_rfm_shard_add() changes the shard (and reuses
 * its hash table): not concurrently with any other call on the same
 * shard; the other functions only read it and may run concurrently.
 */
typedef struct crm_rfm_shard crm_rfm_shard;

/**
 * @brief An empty shard for snapshot day @p asof.
 *
 * Protocol (as with profile tables, see crm_rfm_partial_new()): add every
 * partition the worker holds with crm_rfm_shard_add(); crm_rfm_shard_partial()
 * gives the round-1 histograms, merged over all shards and turned into
 * thresholds with crm_rfm_thresholds_new(); when those are pending,
 * crm_rfm_shard_ties() gives round 2; crm_rfm_shard_score() then scores the
 * shard's customers exactly as crm_rfm_score_orders() scores all orders.
 * @param[out] out receives the shard; NULL on failure.
 * @param[in] asof snapshot day, 0..CRM_DAY_MAX.
 * @return CRM_OK; CRM_EINVAL (NULL out, asof out of range); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_shard_new(crm_rfm_shard **out, int64_t asof);

/**
 * @brief Aggregate one partition's orders into the shard, in one pass over
 *        them (a hash table per call, sized for the partition: several
 *        small partitions are cheaper than one large one).
 *
 * Semantics of crm_rfm_score_orders(): orders after the shard's asof are
 * ignored; customers whose kept orders are all refunds are not scored. No
 * customer may have orders in two partitions of the whole run (added to
 * this or any other shard): crm_rfm_shard_score() refuses a customer added
 * twice to one shard; across shards it would be counted twice.
 * @param[in,out] shard shard (unchanged on failure).
 * @param[in] orders array of @p n records (read in place; may be NULL when n == 0).
 * @param[in] n number of records.
 * @return CRM_OK; CRM_EINVAL (NULL shard, NULL orders with n > 0);
 *         CRM_EDATA (a ts outside 0..CRM_TS_MAX, the message names the
 *         record index); CRM_EOVERFLOW (a monetary sum beyond int64 or more
 *         than UINT32_MAX orders of a customer); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_shard_add(crm_rfm_shard *shard, const crm_order *orders, size_t n);

/**
 * @brief Free a shard. NULL is a no-op.
 * @param[in] shard shard or NULL.
 */
CRM_API void crm_rfm_shard_free(crm_rfm_shard *shard);

/**
 * @brief Customers held by the shard (those with a purchase).
 * @param[in] shard shard (NULL gives 0).
 * @return the count.
 */
CRM_API size_t crm_rfm_shard_count(const crm_rfm_shard *shard);

/**
 * @brief Round 1 from a shard: the same partial as crm_rfm_partial_new()
 *        on the profile table of the shard's orders.
 * @param[out] out receives the partial; NULL on failure.
 * @param[in] shard shard.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_shard_partial(crm_rfm_partial **out, const crm_rfm_shard *shard);

/**
 * @brief Round 2 from a shard: the same partial as crm_rfm_partial_ties()
 *        on the profile table of the shard's orders.
 * @param[out] out receives the partial; NULL on failure.
 * @param[in] shard shard.
 * @param[in] th thresholds from the merged round-1 partials.
 * @return CRM_OK; CRM_EINVAL (NULL argument; more customers at a split
 *         value than the thresholds' whole population has: thresholds of
 *         other data); CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_shard_ties(crm_rfm_partial **out, const crm_rfm_shard *shard,
                                      const crm_rfm_thresholds *th);

/**
 * @brief Score the shard's customers with thresholds of the whole: one row
 *        per customer in ascending id order, every score, segment and cut
 *        point equal to those of crm_rfm_score_orders() over all orders
 *        (segment summaries and explanations are the shard's).
 * @param[out] out receives the result; NULL on failure.
 * @param[in] shard shard.
 * @param[in] th thresholds with no pending boundary.
 * @return CRM_OK; CRM_EINVAL (NULL argument, pending boundaries, more
 *         customers than the thresholds counted); CRM_EDATA (a customer
 *         added twice, i.e. in two partitions; the message names it);
 *         CRM_EOVERFLOW; CRM_ENOMEM.
 */
CRM_API crm_status crm_rfm_shard_score(crm_rfm_result **out, const crm_rfm_shard *shard,
                                       const crm_rfm_thresholds *th);

/**
 * @brief Customers of the shard per (R, F, M) score cell, and their
 *        revenue, without a per-customer result: the cell counts of
 *        crm_rfm_shard_score() (summed over all shards: of
 *        crm_rfm_score_orders() over all orders). Segment sizes and
 *        revenues follow through crm_rfm_map_cells(), the customers per
 *        score by summing cells. A customer added twice is counted twice
 *        (not checked here).
 * @param[out] cells receives bins^3 counts, index
 *             ((R - 1) * bins + (F - 1)) * bins + (M - 1) (overwritten).
 * @param[out] revenue receives bins^3 sums of monetary (minor units), same
 *             index, or NULL when not wanted.
 * @param[in] n_cells number of entries of @p cells (and @p revenue): bins^3 of @p th.
 * @param[in] shard shard.
 * @param[in] th thresholds with no pending boundary.
 * @return CRM_OK; CRM_EINVAL (NULL argument, n_cells != bins^3, pending
 *         boundaries, more customers than the thresholds counted);
 *         CRM_EOVERFLOW (a cell's revenue beyond int64). Outputs are
 *         untouched on failure.
 */
CRM_API crm_status crm_rfm_shard_cells(uint64_t *cells, int64_t *revenue, size_t n_cells,
                                       const crm_rfm_shard *shard, const crm_rfm_thresholds *th);

#ifdef __cplusplus
}
#endif

#endif /* CRM_RFM_H */
