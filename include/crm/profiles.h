/**
 * @file profiles.h
 * @brief Per-customer purchase profiles built from order records.
 *
 * A profile table is the common input of the rfm, segment, lifecycle and
 * clv modules. It is built from a caller-owned array of ::crm_order records
 * (read in place, never modified) as of a UTC day, holds one row per
 * customer that has at least one non-refund order on or before that day,
 * in ascending customer_id order, and exposes its columns as read-only
 * arrays owned by the table. Semantics follow specs/segmentation.md,
 * section "Input and profiles".
 *
 * Thread safety: building is reentrant; a finished table is immutable and
 * may be read from several threads at once.
 */
#ifndef CRM_PROFILES_H
#define CRM_PROFILES_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief One order or refund row. Layout frozen: 24 bytes.
 */
typedef struct crm_order {
    uint64_t customer_id; /**< caller's customer id */
    int64_t ts;           /**< Unix seconds UTC, 0..CRM_TS_MAX */
    int64_t amount;       /**< minor currency units; negative = refund */
} crm_order;

/** Current version of ::crm_profiles_options. */
#define CRM_PROFILES_OPTIONS_VERSION 1u

/**
 * @brief Options of crm_profiles_build(). Fill with crm_profiles_options_init().
 */
typedef struct crm_profiles_options {
    unsigned version;  /**< set by crm_profiles_options_init() */
    /**
     * Non-zero: keep each customer's distinct purchase days and refund-only
     * customers inside the table so that crm_profiles_merge() is exact.
     * Costs 4 bytes per distinct (customer, day). Default 0.
     */
    uint32_t mergeable;
} crm_profiles_options;

/** Opaque, immutable profile table. Free with crm_profiles_free(). */
typedef struct crm_profiles crm_profiles;

/**
 * @brief Population summary (the LTV components of the spec). A ratio whose
 *        denominator is zero is null: its bit in @c valid is clear and the
 *        value is NaN.
 */
typedef struct crm_population_summary {
    unsigned version;       /**< caller sets CRM_POPULATION_SUMMARY_VERSION */
    uint32_t valid;         /**< bit per ratio: CRM_SUMMARY_HAS_* */
    uint64_t customers;     /**< customers with a profile */
    uint64_t orders;        /**< non-refund order rows */
    int64_t revenue;        /**< net revenue, minor units (refunds included) */
    double arpu;            /**< revenue / customers */
    double mean_frequency;  /**< orders / customers */
    double average_check;   /**< revenue / orders */
    double mean_lifetime;   /**< mean last_day - first_day over frequency >= 2 */
    uint64_t repeaters;     /**< customers with frequency >= 2 */
} crm_population_summary;

/** Current version of ::crm_population_summary. */
#define CRM_POPULATION_SUMMARY_VERSION 1u
/** ::crm_population_summary.valid bit: arpu is defined. */
#define CRM_SUMMARY_HAS_ARPU 1u
/** ::crm_population_summary.valid bit: mean_frequency is defined. */
#define CRM_SUMMARY_HAS_MEAN_FREQUENCY 2u
/** ::crm_population_summary.valid bit: average_check is defined. */
#define CRM_SUMMARY_HAS_AVERAGE_CHECK 4u
/** ::crm_population_summary.valid bit: mean_lifetime is defined. */
#define CRM_SUMMARY_HAS_MEAN_LIFETIME 8u

/**
 * @brief Fill @p opt with defaults for the given struct version.
 * @param[out] opt options to initialise.
 * @param[in] version CRM_PROFILES_OPTIONS_VERSION (or an older version).
 * @return CRM_OK; CRM_EINVAL if @p opt is NULL; CRM_EVERSION if @p version
 *         is 0 or newer than this library knows.
 */
CRM_API crm_status crm_profiles_options_init(crm_profiles_options *opt,
                                             unsigned version);

/**
 * @brief Build the profile table of @p orders as of day @p asof.
 *
 * Rows with day(ts) > asof are ignored. Input order does not matter.
 * @param[out] out receives the new table; NULL on failure.
 * @param[in] orders array of @p n records (may be NULL when n == 0).
 * @param[in] n number of records.
 * @param[in] asof snapshot day, floor(ts / 86400), 0..CRM_DAY_MAX.
 * @param[in] opt options, or NULL for defaults.
 * @return CRM_OK; CRM_EINVAL (NULL out/orders, bad asof); CRM_EVERSION (bad
 *         opt->version); CRM_EDATA (a ts outside 0..CRM_TS_MAX, message names
 *         the record index); CRM_EOVERFLOW (n too large, a monetary or revenue
 *         sum beyond int64, message names the record); CRM_ENOMEM.
 */
CRM_API crm_status crm_profiles_build(crm_profiles **out,
                                      const crm_order *orders, size_t n,
                                      int64_t asof,
                                      const crm_profiles_options *opt);

/**
 * @brief Merge two tables built with the same asof into the table of the
 *        union of their orders (exact).
 *
 * Both inputs must be built with @c mergeable set (the result is mergeable
 * too). A customer may appear in both.
 * @param[out] out receives the merged table; NULL on failure.
 * @param[in] a first table (not modified).
 * @param[in] b second table (not modified).
 * @return CRM_OK; CRM_EINVAL (NULL argument, different asof, or an input not
 *         mergeable); CRM_EOVERFLOW (a sum beyond int64); CRM_ENOMEM.
 */
CRM_API crm_status crm_profiles_merge(crm_profiles **out,
                                      const crm_profiles *a,
                                      const crm_profiles *b);

/**
 * @brief Free a table. NULL is a no-op. Column pointers die with it.
 * @param[in] p table or NULL.
 */
CRM_API void crm_profiles_free(crm_profiles *p);

/**
 * @brief Number of customers (rows) in the table.
 * @param[in] p table (NULL gives 0).
 * @return the row count.
 */
CRM_API size_t crm_profiles_count(const crm_profiles *p);

/**
 * @brief The asof day the table was built for.
 * @param[in] p table (NULL gives -1).
 * @return the day number.
 */
CRM_API int64_t crm_profiles_asof(const crm_profiles *p);

/**
 * @brief Whether the table can be merged (built with mergeable set).
 * @param[in] p table (NULL gives 0).
 * @return 1 or 0.
 */
CRM_API int crm_profiles_is_mergeable(const crm_profiles *p);

/**
 * @brief Customer ids, ascending. Column of crm_profiles_count() values,
 *        owned by @p p, valid until it is freed.
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint64_t *crm_profiles_customer_id(const crm_profiles *p);

/**
 * @brief Day of the first non-refund order (column, see crm_profiles_customer_id()).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const int32_t *crm_profiles_first_day(const crm_profiles *p);

/**
 * @brief Day of the last non-refund order (column).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const int32_t *crm_profiles_last_day(const crm_profiles *p);

/**
 * @brief asof - last_day (column).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const int32_t *crm_profiles_recency_days(const crm_profiles *p);

/**
 * @brief Number of non-refund order rows (column).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint32_t *crm_profiles_frequency(const crm_profiles *p);

/**
 * @brief Net spend: sum of all amounts, refunds included, minor units (column).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const int64_t *crm_profiles_monetary(const crm_profiles *p);

/**
 * @brief asof - first_day (column).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const int32_t *crm_profiles_tenure_days(const crm_profiles *p);

/**
 * @brief (last_day - first_day) / (frequency - 1); NaN (null) when
 *        frequency < 2 (column).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const double *crm_profiles_gap_avg(const crm_profiles *p);

/**
 * @brief Number of distinct days with a non-refund order (column).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint32_t *crm_profiles_purchase_days(const crm_profiles *p);

/**
 * @brief Second-latest distinct purchase day; -1 when purchase_days == 1
 *        (column; used by lifecycle's reactivation rule).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const int32_t *crm_profiles_prev_day(const crm_profiles *p);

/**
 * @brief Number of non-refund rows dated on last_day (column).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint32_t *crm_profiles_last_day_orders(const crm_profiles *p);

/**
 * @brief Day of the second non-refund row in time order (equal to first_day
 *        when two orders fell on it); -1 when frequency == 1 (column; used
 *        for second-purchase conversion).
 * @param[in] p table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const int32_t *crm_profiles_second_day(const crm_profiles *p);

/**
 * @brief Population summary of the table.
 * @param[in] p table.
 * @param[in,out] out summary; the caller sets out->version first, the library
 *        writes only the members that version knows.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_EVERSION (bad out->version).
 */
CRM_API crm_status crm_profiles_summary(const crm_profiles *p,
                                        crm_population_summary *out);

/**
 * @brief Position of a customer in the table (binary search).
 * @param[in] p table.
 * @param[in] customer_id id to look up.
 * @param[out] row receives the 0-based row index.
 * @return CRM_OK; CRM_EINVAL (NULL argument, or no such customer).
 */
CRM_API crm_status crm_profiles_find(const crm_profiles *p,
                                     uint64_t customer_id, size_t *row);

#ifdef __cplusplus
}
#endif

#endif /* CRM_PROFILES_H */
