/**
 * @file clv.h
 * @brief Lifetime value and churn prediction: "buy till you die" models.
 *
 * Semantics follow specs/clv.md. The pipeline is
 * 1. crm_clv_summary_build(): orders -> per-customer (x, t_x, T, m_x) in an
 *    explicit time unit (day or week), same-day orders merged by default;
 * 2. crm_clv_fit() (BG/NBD, Pareto/NBD) and crm_clv_fit_spend()
 *    (Gamma-Gamma): maximum likelihood with analytic gradients, several
 *    starts, standard errors; a fit that does not converge fails with a
 *    status and a message, it never hands back start values or NaN;
 * 3. per-customer predictions into caller-provided arrays: P(alive),
 *    expected purchases, P(X(t) = n), expected spend and lifetime value.
 *
 * P(alive) (crm_clv_p_alive()) is a plain double column: it is the input of
 * the lifecycle module's probability mode.
 *
 * Times: x is a count; t_x, T, t and horizons are in the model's time unit
 * (::crm_clv_fit_info.unit), never an implicit "month". Money (m_x) is in
 * the caller's minor currency units.
 *
 * Scale-out: the log-likelihood is a sum over customers, so
 * crm_clv_loglik() over the partitions of a data set adds up to the
 * log-likelihood (and gradient) of the whole.
 *
 * Thread safety: every function is reentrant; a model or summary is
 * immutable once built and may be read from several threads at once.
 */
#ifndef CRM_CLV_H
#define CRM_CLV_H

#include "common.h"
#include "profiles.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Time unit: one day. The value is the unit's length in days. */
#define CRM_CLV_UNIT_DAY 1u
/** Time unit: one week (7 days). The value is the unit's length in days. */
#define CRM_CLV_UNIT_WEEK 7u

/** Model kind: BG/NBD (Fader, Hardie & Lee 2005), parameters r, alpha, a, b. */
#define CRM_CLV_BGNBD 1
/** Model kind: Pareto/NBD (Schmittlein et al. 1987), parameters r, alpha, s, beta. */
#define CRM_CLV_PARETO_NBD 2
/** Model kind: Gamma-Gamma spend model (Fader & Hardie 2013), parameters p, q, gamma. */
#define CRM_CLV_GAMMA_GAMMA 3

/** Current version of ::crm_clv_summary_options. */
#define CRM_CLV_SUMMARY_OPTIONS_VERSION 1u

/**
 * @brief Options of crm_clv_summary_build(). Fill with
 *        crm_clv_summary_options_init().
 */
typedef struct crm_clv_summary_options {
    unsigned version;        /**< set by crm_clv_summary_options_init() */
    /** Time unit of t_x and T: CRM_CLV_UNIT_DAY (default) or CRM_CLV_UNIT_WEEK. */
    uint32_t unit;
    /**
     * Non-zero (default): all of a customer's orders on the same UTC
     * calendar day are one purchase occasion, amounts summed (the
     * convention of the published CDNOW figures). Zero: every order row is
     * an occasion.
     */
    uint32_t merge_same_day;
} crm_clv_summary_options;

/** Opaque, immutable per-customer model input. Free with crm_clv_summary_free(). */
typedef struct crm_clv_summary crm_clv_summary;

/**
 * @brief Fill @p opt with defaults for the given struct version.
 * @param[out] opt options to initialise.
 * @param[in] version CRM_CLV_SUMMARY_OPTIONS_VERSION (or older).
 * @return CRM_OK; CRM_EINVAL if @p opt is NULL; CRM_EVERSION if @p version
 *         is 0 or newer than this library knows.
 */
CRM_API crm_status crm_clv_summary_options_init(crm_clv_summary_options *opt,
                                                unsigned version);

/**
 * @brief Build the model input (x, t_x, T, m_x per customer) from orders.
 *
 * Rows with day(ts) > @p period_end and refund rows (amount < 0) are
 * ignored. Per customer, over its purchase occasions (see
 * ::crm_clv_summary_options.merge_same_day): x = occasions - 1, t_x = last -
 * first occasion day, T = period_end - first occasion day, both divided by
 * the unit length in days; m_x = mean amount of the repeat occasions (the
 * first excluded), 0 when x = 0 (undefined there). Without merging, ties on
 * the first day exclude the smallest amount of that day. Rows are in
 * ascending customer_id order; customers with only refunds or only later
 * orders have no row. Input order does not matter.
 * @param[out] out receives the summary; NULL on failure.
 * @param[in] orders array of @p n records (may be NULL when n == 0).
 * @param[in] n number of records.
 * @param[in] period_end last day of the calibration period, floor(ts / 86400),
 *            0..CRM_DAY_MAX.
 * @param[in] opt options, or NULL for defaults.
 * @return CRM_OK; CRM_EINVAL (NULL out/orders, bad period_end or unit);
 *         CRM_EVERSION (bad opt->version); CRM_EDATA (a ts outside
 *         0..CRM_TS_MAX, the message names the record index); CRM_EOVERFLOW
 *         (a customer's amount sum beyond int64, message names the customer);
 *         CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_summary_build(crm_clv_summary **out, const crm_order *orders,
                                         size_t n, int64_t period_end,
                                         const crm_clv_summary_options *opt);

/**
 * @brief Free a summary. NULL is a no-op. Column pointers die with it.
 * @param[in] s summary or NULL.
 */
CRM_API void crm_clv_summary_free(crm_clv_summary *s);

/**
 * @brief Number of customers (rows).
 * @param[in] s summary (NULL gives 0).
 * @return the row count.
 */
CRM_API size_t crm_clv_summary_count(const crm_clv_summary *s);

/**
 * @brief Time unit of the summary's t_x and T.
 * @param[in] s summary (NULL gives 0).
 * @return CRM_CLV_UNIT_DAY or CRM_CLV_UNIT_WEEK.
 */
CRM_API uint32_t crm_clv_summary_unit(const crm_clv_summary *s);

/**
 * @brief Customer ids, ascending.
 * @param[in] s summary (NULL gives NULL).
 * @return a read-only column of crm_clv_summary_count() values owned by @p s.
 */
CRM_API const uint64_t *crm_clv_summary_customer_id(const crm_clv_summary *s);

/**
 * @brief Repeat purchases x (integer-valued doubles).
 * @param[in] s summary (NULL gives NULL).
 * @return a read-only column owned by @p s.
 */
CRM_API const double *crm_clv_summary_x(const crm_clv_summary *s);

/**
 * @brief Time of the last purchase since the first one, t_x, in the unit.
 * @param[in] s summary (NULL gives NULL).
 * @return a read-only column owned by @p s.
 */
CRM_API const double *crm_clv_summary_t_x(const crm_clv_summary *s);

/**
 * @brief T: time from the first purchase to the period end, in the unit.
 * @param[in] s summary (NULL gives NULL).
 * @return a read-only column owned by @p s.
 */
CRM_API const double *crm_clv_summary_tenure(const crm_clv_summary *s);

/**
 * @brief Mean value of the repeat occasions in minor units (0 when x = 0).
 * @param[in] s summary (NULL gives NULL).
 * @return a read-only column owned by @p s.
 */
CRM_API const double *crm_clv_summary_m_x(const crm_clv_summary *s);

/** Current version of ::crm_clv_fit_options. */
#define CRM_CLV_FIT_OPTIONS_VERSION 1u

/**
 * @brief Options of crm_clv_fit() and crm_clv_fit_spend(). Fill with
 *        crm_clv_fit_options_init().
 */
typedef struct crm_clv_fit_options {
    unsigned version;   /**< set by crm_clv_fit_options_init() */
    /** Time unit of the data, recorded in the model: CRM_CLV_UNIT_DAY
     *  (default) or CRM_CLV_UNIT_WEEK. Spend models ignore it. */
    uint32_t unit;
    /** Number of start points, 1..16 (default 4). */
    uint32_t starts;
    /** Iteration limit per start, 10..100000 (default 500). */
    uint32_t max_iter;
    /** Convergence tolerance on the largest gradient component with respect
     *  to the log-parameters, relative to max(1, |loglik|); 0 < gtol < 1,
     *  default 1e-9. */
    double gtol;
} crm_clv_fit_options;

/** Current version of ::crm_clv_fit_info. */
#define CRM_CLV_FIT_INFO_VERSION 1u

/**
 * @brief Parameters and fit diagnostics of a model (crm_clv_model_info()).
 *
 * Parameter order: BG/NBD r, alpha, a, b; Pareto/NBD r, alpha, s, beta;
 * Gamma-Gamma p, q, gamma (params[3] unused, 0).
 */
typedef struct crm_clv_fit_info {
    unsigned version;      /**< caller sets CRM_CLV_FIT_INFO_VERSION */
    int32_t kind;          /**< CRM_CLV_BGNBD, CRM_CLV_PARETO_NBD or CRM_CLV_GAMMA_GAMMA */
    uint32_t unit;         /**< time unit of the model (CRM_CLV_UNIT_*) */
    uint32_t nparams;      /**< 4 or 3 */
    uint32_t fitted;       /**< 1 for a fitted model, 0 for crm_clv_model_new() */
    uint32_t iterations;   /**< optimiser iterations of the winning start */
    uint32_t evaluations;  /**< log-likelihood evaluations, all starts */
    uint32_t starts;       /**< start points tried */
    uint32_t starts_converged; /**< start points that converged */
    uint32_t _pad;         /**< reserved, 0 */
    uint64_t n;            /**< customers in the fit */
    double loglik;         /**< maximised log-likelihood (0 when not fitted) */
    double grad_max;       /**< largest |gradient| wrt log-parameters at the end */
    double params[4];      /**< parameter estimates */
    /** Standard errors from the inverse of the observed information
     *  (Hessian of -loglik); +inf for a parameter the data do not
     *  identify; 0 when not fitted. */
    double se[4];
} crm_clv_fit_info;

/** Opaque, immutable fitted (or given) model. Free with crm_clv_model_free(). */
typedef struct crm_clv_model crm_clv_model;

/**
 * @brief Fill @p opt with defaults for the given struct version.
 * @param[out] opt options to initialise.
 * @param[in] version CRM_CLV_FIT_OPTIONS_VERSION (or older).
 * @return CRM_OK; CRM_EINVAL if @p opt is NULL; CRM_EVERSION if @p version
 *         is 0 or newer than this library knows.
 */
CRM_API crm_status crm_clv_fit_options_init(crm_clv_fit_options *opt, unsigned version);

/**
 * @brief Fit a purchase model (BG/NBD or Pareto/NBD) by maximum likelihood.
 *
 * Each row must have x a non-negative integer, 0 <= t_x <= T, finite, and
 * t_x = 0 when x = 0. Optimisation runs in log-parameters from several
 * starts with analytic gradients; the best converged start wins. Above
 * 40,000 rows the starts run on an evenly strided subsample of about 10,000
 * rows, and their optima, best first, are polished on all rows until one
 * converges there.
 * @param[out] out receives the model; NULL on failure.
 * @param[in] kind CRM_CLV_BGNBD or CRM_CLV_PARETO_NBD.
 * @param[in] x repeat purchases, @p n values.
 * @param[in] t_x time of the last purchase, @p n values.
 * @param[in] T observation time, @p n values.
 * @param[in] n number of customers, >= 1.
 * @param[in] opt options, or NULL for defaults.
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad kind or option, n = 0);
 *         CRM_EVERSION; CRM_EDATA (a bad row: the message names its index;
 *         no start converged; or the best maximum is not identified, i.e. a
 *         parameter's log has a standard error above 10 because the
 *         likelihood keeps rising towards a boundary: the message says
 *         which); CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_fit(crm_clv_model **out, int kind, const double *x,
                               const double *t_x, const double *T, size_t n,
                               const crm_clv_fit_options *opt);

/**
 * @brief Fit the Gamma-Gamma spend model on the customers with x > 0.
 *
 * Rows with x = 0 are ignored; rows with x > 0 need m_x finite and >= 0;
 * rows with m_x = 0 (only free repeat purchases) are left out too, as the
 * spend density is zero there. The likelihood is the full density of the
 * mean spend m_x given x. Above 40,000 rows the starts run on an evenly
 * strided subsample of about 10,000 rows and the best converged optima are
 * polished on all rows (the same holds for crm_clv_fit()).
 * @param[out] out receives the model; NULL on failure.
 * @param[in] x repeat purchases, @p n values (non-negative integers).
 * @param[in] m_x mean repeat spend, @p n values.
 * @param[in] n number of customers.
 * @param[in] opt options, or NULL for defaults.
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad option, fewer than 2 rows
 *         with x > 0 and m_x > 0); CRM_EVERSION; CRM_EDATA (a bad row, named;
 *         no convergence; or an unidentified maximum as for crm_clv_fit());
 *         CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_fit_spend(crm_clv_model **out, const double *x,
                                     const double *m_x, size_t n,
                                     const crm_clv_fit_options *opt);

/**
 * @brief Make a model from known parameters (for prediction only).
 * @param[out] out receives the model; NULL on failure.
 * @param[in] kind CRM_CLV_BGNBD, CRM_CLV_PARETO_NBD or CRM_CLV_GAMMA_GAMMA.
 * @param[in] params 4 (or 3 for Gamma-Gamma) positive finite parameters.
 * @param[in] unit CRM_CLV_UNIT_DAY or CRM_CLV_UNIT_WEEK.
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad kind, unit or parameter);
 *         CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_model_new(crm_clv_model **out, int kind, const double *params,
                                     uint32_t unit);

/**
 * @brief Free a model. NULL is a no-op.
 * @param[in] m model or NULL.
 */
CRM_API void crm_clv_model_free(crm_clv_model *m);

/**
 * @brief Parameters and fit diagnostics.
 * @param[in] m model.
 * @param[in,out] info caller sets info->version; the library fills the
 *                members that version knows.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_EVERSION (bad version).
 */
CRM_API crm_status crm_clv_model_info(const crm_clv_model *m, crm_clv_fit_info *info);

/**
 * @brief Log-likelihood (and gradient) of a purchase or spend model summed
 *        over the given customers: partitions' sums add up to the whole.
 *
 * For Gamma-Gamma, @p a is m_x and @p b is ignored (may be NULL); rows with
 * x = 0 or m_x = 0 contribute 0. For BG/NBD and Pareto/NBD, @p a is t_x and @p b is T.
 * @param[out] loglik receives the sum.
 * @param[out] grad receives the gradient with respect to the natural
 *             parameters (4 or 3 values), or NULL.
 * @param[in] kind model kind.
 * @param[in] params parameters (4, or 3 for Gamma-Gamma), positive.
 * @param[in] x repeat purchases, @p n values.
 * @param[in] a t_x (purchase models) or m_x (spend), @p n values.
 * @param[in] b T (purchase models), @p n values, or NULL for spend.
 * @param[in] n number of customers (0 gives 0).
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad kind or parameter);
 *         CRM_EDATA (a bad row, named); CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_loglik(double *loglik, double *grad, int kind,
                                  const double *params, const double *x, const double *a,
                                  const double *b, size_t n);

/**
 * @brief P(alive at T | x, t_x, T) per customer (purchase models).
 * @param[out] out @p n results.
 * @param[in] m BG/NBD or Pareto/NBD model.
 * @param[in] x repeat purchases.
 * @param[in] t_x time of the last purchase.
 * @param[in] T observation time.
 * @param[in] n number of customers.
 * @return CRM_OK; CRM_EINVAL (NULL argument, spend model); CRM_EDATA (a bad
 *         row, named).
 */
CRM_API crm_status crm_clv_p_alive(double *out, const crm_clv_model *m, const double *x,
                                   const double *t_x, const double *T, size_t n);

/**
 * @brief E[Y(t) | x, t_x, T]: expected purchases in the next @p t time units.
 * @param[out] out @p n results.
 * @param[in] m BG/NBD or Pareto/NBD model.
 * @param[in] t horizon in the model's unit, >= 0, finite.
 * @param[in] x repeat purchases.
 * @param[in] t_x time of the last purchase.
 * @param[in] T observation time.
 * @param[in] n number of customers.
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad t, spend model);
 *         CRM_EDATA (a bad row, named); CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_expected_purchases(double *out, const crm_clv_model *m, double t,
                                              const double *x, const double *t_x,
                                              const double *T, size_t n);

/**
 * @brief E[X(t)]: expected purchases of a new customer in (0, t].
 * @param[out] out @p n results.
 * @param[in] m BG/NBD or Pareto/NBD model.
 * @param[in] t @p n horizons in the model's unit (>= 0, finite).
 * @param[in] n number of horizons.
 * @return CRM_OK; CRM_EINVAL (NULL argument, spend model); CRM_EDATA (a bad
 *         t, named).
 */
CRM_API crm_status crm_clv_expected_purchases_new(double *out, const crm_clv_model *m,
                                                  const double *t, size_t n);

/**
 * @brief P(X(t) = k): probability that a new customer makes k purchases in
 *        (0, t].
 * @param[out] out @p n results.
 * @param[in] m BG/NBD or Pareto/NBD model.
 * @param[in] t horizon in the model's unit, >= 0, finite.
 * @param[in] k @p n counts (non-negative integers).
 * @param[in] n number of counts.
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad t, spend model); CRM_EDATA
 *         (a bad count, named).
 */
CRM_API crm_status crm_clv_prob_purchases(double *out, const crm_clv_model *m, double t,
                                          const double *k, size_t n);

/**
 * @brief E[M | x, m_x]: expected mean spend per transaction (Gamma-Gamma).
 *
 * x = 0 gives the population mean p * gamma / (q - 1). A mean that is
 * infinite under the model (p x + q <= 1) is +inf, not an error.
 * @param[out] out @p n results (minor units, like m_x).
 * @param[in] m Gamma-Gamma model.
 * @param[in] x repeat purchases.
 * @param[in] m_x mean repeat spend (ignored where x = 0).
 * @param[in] n number of customers.
 * @return CRM_OK; CRM_EINVAL (NULL argument, not a spend model); CRM_EDATA
 *         (a bad row, named).
 */
CRM_API crm_status crm_clv_expected_spend(double *out, const crm_clv_model *m,
                                          const double *x, const double *m_x, size_t n);

/**
 * @brief Customer lifetime value over a horizon with discounting.
 *
 * CLV = E[M | x, m_x] * sum over periods k = 1..K of
 * (E[Y(k P) | ...] - E[Y((k-1) P) | ...]) / (1 + d)^k, with P = @p period,
 * K = ceil(horizon / P) and the last period ending at @p horizon. Horizon
 * and period are in the purchase model's unit; @p discount_rate is per
 * period.
 * @param[out] out @p n results (minor units).
 * @param[in] m BG/NBD or Pareto/NBD model.
 * @param[in] spend Gamma-Gamma model.
 * @param[in] x repeat purchases.
 * @param[in] t_x time of the last purchase.
 * @param[in] T observation time.
 * @param[in] m_x mean repeat spend.
 * @param[in] n number of customers.
 * @param[in] horizon > 0, finite, at most 1e5 periods.
 * @param[in] period length of one discount period, > 0.
 * @param[in] discount_rate per period, > -1, finite.
 * @return CRM_OK; CRM_EINVAL (NULL argument, wrong model kinds, bad
 *         horizon/period/rate); CRM_EDATA (a bad row, named); CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_value(double *out, const crm_clv_model *m,
                                 const crm_clv_model *spend, const double *x,
                                 const double *t_x, const double *T, const double *m_x,
                                 size_t n, double horizon, double period,
                                 double discount_rate);

/* ---- scale-out: compressed, mergeable purchase data ------------------------ */

/**
 * @brief Opaque compressed purchase data: the distinct (x, t_x, T) rows of a
 *        set of customers with how many customers have each, in ascending
 *        (x, t_x, T) order. Free with crm_clv_counts_free().
 *
 * The purchase-model likelihood depends on a customer only through
 * (x, t_x, T), so these counts are sufficient statistics for BG/NBD and
 * Pareto/NBD fits: build them per partition, serialise, merge (exact:
 * integer counts), fit with crm_clv_fit_counts(). Day-granular data in
 * weeks or days compress well (far fewer distinct rows than customers).
 */
typedef struct crm_clv_counts crm_clv_counts;

/**
 * @brief Compress per-customer rows into distinct (x, t_x, T) with counts.
 * @param[out] out receives the table; NULL on failure.
 * @param[in] x repeat purchases, @p n values.
 * @param[in] t_x time of the last purchase, @p n values.
 * @param[in] T observation time, @p n values.
 * @param[in] n number of customers (0 gives an empty table).
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_EDATA (a bad row, named as
 *         for crm_clv_fit()); CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_counts_build(crm_clv_counts **out, const double *x,
                                        const double *t_x, const double *T, size_t n);

/**
 * @brief Merge two tables into the table of the union of their customers
 *        (equal to building from all rows: same rows, counts added).
 * @param[out] out receives the merged table; NULL on failure.
 * @param[in] a first table.
 * @param[in] b second table.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_EOVERFLOW (a count beyond
 *         uint64); CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_counts_merge(crm_clv_counts **out, const crm_clv_counts *a,
                                        const crm_clv_counts *b);

/**
 * @brief Serialise a table to a versioned, checksummed byte blob.
 * @param[in] c table.
 * @param[out] bytes receives the buffer (free with crm_bytes_free()).
 * @param[out] len receives its length.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_counts_serialize(const crm_clv_counts *c, void **bytes, size_t *len);

/**
 * @brief Load a table serialised by crm_clv_counts_serialize().
 * @param[out] out receives the table; NULL on failure.
 * @param[in] bytes the blob.
 * @param[in] len its length.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ESTATE (truncated,
 *         corrupted or inconsistent blob: the message gives the byte
 *         offset); CRM_EVERSION (a newer format); CRM_ENOMEM.
 */
CRM_API crm_status crm_clv_counts_deserialize(crm_clv_counts **out, const void *bytes,
                                              size_t len);

/**
 * @brief Free a table. NULL is a no-op.
 * @param[in] c table or NULL.
 */
CRM_API void crm_clv_counts_free(crm_clv_counts *c);

/**
 * @brief Number of distinct rows.
 * @param[in] c table (NULL gives 0).
 * @return the row count.
 */
CRM_API size_t crm_clv_counts_rows(const crm_clv_counts *c);

/**
 * @brief Total number of customers (sum of the counts).
 * @param[in] c table (NULL gives 0).
 * @return the customer count.
 */
CRM_API uint64_t crm_clv_counts_customers(const crm_clv_counts *c);

/**
 * @brief Column x of the distinct rows.
 * @param[in] c table (NULL gives NULL).
 * @return a read-only column of crm_clv_counts_rows() values owned by @p c.
 */
CRM_API const double *crm_clv_counts_x(const crm_clv_counts *c);

/**
 * @brief Column t_x of the distinct rows.
 * @param[in] c table (NULL gives NULL).
 * @return a read-only column owned by @p c.
 */
CRM_API const double *crm_clv_counts_t_x(const crm_clv_counts *c);

/**
 * @brief Column T of the distinct rows.
 * @param[in] c table (NULL gives NULL).
 * @return a read-only column owned by @p c.
 */
CRM_API const double *crm_clv_counts_tenure(const crm_clv_counts *c);

/**
 * @brief Customers per distinct row (each >= 1).
 * @param[in] c table (NULL gives NULL).
 * @return a read-only column owned by @p c.
 */
CRM_API const uint64_t *crm_clv_counts_n(const crm_clv_counts *c);

/**
 * @brief Fit BG/NBD or Pareto/NBD on compressed data: the same maximum
 *        likelihood as crm_clv_fit() on the customers the table stands for
 *        (to rounding).
 * @param[out] out receives the model; NULL on failure.
 * @param[in] kind CRM_CLV_BGNBD or CRM_CLV_PARETO_NBD.
 * @param[in] c table.
 * @param[in] opt options, or NULL for defaults.
 * @return as crm_clv_fit(); CRM_EINVAL also for an empty table.
 */
CRM_API crm_status crm_clv_fit_counts(crm_clv_model **out, int kind, const crm_clv_counts *c,
                                      const crm_clv_fit_options *opt);

#ifdef __cplusplus
}
#endif

#endif /* CRM_CLV_H */
