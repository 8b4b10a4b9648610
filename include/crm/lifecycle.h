/**
 * @file lifecycle.h
 * @brief Lifecycle stages, recommended scenarios, funnel KPIs, stage
 *        migration and cohort retention.
 *
 * Semantics follow specs/segmentation.md, section "Lifecycle stages". A
 * stage table (::crm_lifecycle) is computed from a profile table
 * (crm_profiles_build()) plus optional known contacts without purchases
 * (leads) and an optional P(alive) column. Its funnel
 * (::crm_lifecycle_funnel) and migration matrices
 * (::crm_lifecycle_migration) are plain integer counts that merge exactly
 * across customer-disjoint partitions; for partitions that split a customer,
 * merge the (mergeable) profile tables first. Cohort retention
 * (::crm_lifecycle_cohorts) keeps each customer's distinct purchase months,
 * so its partials merge exactly under any partitioning of the orders.
 * Every partial serialises to a versioned, checksummed byte blob.
 *
 * Thread safety: every function is reentrant; finished tables are
 * immutable and may be read from several threads at once.
 */
#ifndef CRM_LIFECYCLE_H
#define CRM_LIFECYCLE_H

#include "common.h"
#include "profiles.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief A known contact (e.g. a newsletter sign-up) that may have no
 *        purchase yet. Layout frozen: 16 bytes.
 */
typedef struct crm_contact {
    uint64_t customer_id; /**< caller's customer id (same space as orders) */
    int64_t created_ts;   /**< Unix seconds UTC when the contact was created, 0..CRM_TS_MAX */
} crm_contact;

/** @brief Lifecycle stages, in the order of the spec's stage table. Frozen values. */
enum crm_lifecycle_stage {
    CRM_STAGE_LEAD = 0,        /**< known contact, no order on or before asof */
    CRM_STAGE_NEW = 1,         /**< one order, recency <= NEW_DAYS */
    CRM_STAGE_CHURNED_NEW = 2, /**< one order, recency > NEW_DAYS */
    CRM_STAGE_ACTIVE = 3,      /**< 2 <= frequency < LOYAL_F, within AT_RISK_K * gap_eff */
    CRM_STAGE_LOYAL = 4,       /**< frequency >= LOYAL_F, within AT_RISK_K * gap_eff */
    CRM_STAGE_AT_RISK = 5,     /**< frequency >= 2, past AT_RISK_K but within CHURN_K * gap_eff */
    CRM_STAGE_CHURNED = 6,     /**< frequency >= 2, past CHURN_K * gap_eff */
    CRM_STAGE_REACTIVATED = 7  /**< would be active/loyal, came back after a churn-length gap */
};

/** Number of lifecycle stages (rows of a funnel). */
#define CRM_LIFECYCLE_STAGES 8

/**
 * @brief The rule that decided a customer's stage (see crm_lifecycle_rule_text()).
 *        Frozen values.
 */
enum crm_lifecycle_rule {
    CRM_RULE_LEAD = 0,             /**< contact created on or before asof, no profile */
    CRM_RULE_NEW = 1,              /**< frequency == 1 and recency <= NEW_DAYS */
    CRM_RULE_CHURNED_NEW = 2,      /**< frequency == 1 and recency > NEW_DAYS */
    CRM_RULE_ACTIVE = 3,           /**< cadence: recency <= AT_RISK_K * gap_eff, frequency < LOYAL_F */
    CRM_RULE_LOYAL = 4,            /**< cadence: recency <= AT_RISK_K * gap_eff, frequency >= LOYAL_F */
    CRM_RULE_AT_RISK = 5,          /**< cadence: AT_RISK_K * gap_eff < recency <= CHURN_K * gap_eff */
    CRM_RULE_CHURNED = 6,          /**< cadence: recency > CHURN_K * gap_eff */
    CRM_RULE_REACTIVATED = 7,      /**< active/loyal, last gap > churn threshold before it */
    CRM_RULE_P_ACTIVE = 8,         /**< P(alive) >= p_at_risk, frequency < LOYAL_F */
    CRM_RULE_P_LOYAL = 9,          /**< P(alive) >= p_at_risk, frequency >= LOYAL_F */
    CRM_RULE_P_AT_RISK = 10,       /**< p_churned <= P(alive) < p_at_risk */
    CRM_RULE_P_CHURNED = 11,       /**< P(alive) < p_churned */
    CRM_RULE_P_REACTIVATED = 12    /**< P(alive) >= p_at_risk, last gap > churn threshold before it */
};

/** Current version of ::crm_lifecycle_options. */
#define CRM_LIFECYCLE_OPTIONS_VERSION 1u

/**
 * @brief Stage parameters. Fill with crm_lifecycle_options_init().
 */
typedef struct crm_lifecycle_options {
    unsigned version;      /**< set by crm_lifecycle_options_init() */
    uint32_t new_days;     /**< NEW_DAYS, default 90 */
    uint32_t loyal_f;      /**< LOYAL_F, >= 2, default 4 */
    uint32_t min_gap_days; /**< MIN_GAP_DAYS, default 7 */
    double at_risk_k;      /**< AT_RISK_K, finite, 0 <= at_risk_k <= churn_k, default 2 */
    double churn_k;        /**< CHURN_K, finite, default 4 */
    /** P(alive) mode only: at_risk below this (strict), default 0.5 */
    double p_at_risk;
    /** P(alive) mode only: churned below this (strict, tested first),
     *  0 <= p_churned <= p_at_risk <= 1, default 0.2 */
    double p_churned;
} crm_lifecycle_options;

/**
 * @brief Fill @p opt with defaults for the given struct version.
 * @param[out] opt options to initialise.
 * @param[in] version CRM_LIFECYCLE_OPTIONS_VERSION (or an older version).
 * @return CRM_OK; CRM_EINVAL if @p opt is NULL; CRM_EVERSION for a bad version.
 */
CRM_API crm_status crm_lifecycle_options_init(crm_lifecycle_options *opt,
                                              unsigned version);

/**
 * @brief Name of a stage as written in the spec ("lead", "new",
 *        "churned_new", "active", "loyal", "at_risk", "churned", "reactivated").
 * @param[in] stage one of ::crm_lifecycle_stage.
 * @return a static string, or NULL for an unknown stage.
 */
CRM_API const char *crm_lifecycle_stage_name(int stage);

/**
 * @brief Recommended CRM scenario of a stage ("welcome", "onboarding / second
 *        purchase", "first-order win-back", "retention", "loyalty",
 *        "churn prevention", "win-back", "re-engagement").
 * @param[in] stage one of ::crm_lifecycle_stage.
 * @return a static string, or NULL for an unknown stage.
 */
CRM_API const char *crm_lifecycle_scenario_name(int stage);

/**
 * @brief Human-readable statement of a rule, with the parameter names.
 * @param[in] rule one of ::crm_lifecycle_rule.
 * @return a static string, or NULL for an unknown rule.
 */
CRM_API const char *crm_lifecycle_rule_text(int rule);

/** Opaque, immutable stage table. Free with crm_lifecycle_free(). */
typedef struct crm_lifecycle crm_lifecycle;

/**
 * @brief Stage of every customer of @p profiles and of every lead.
 *
 * Rows: the union of the profile customers and the leads (contacts created
 * on or before the table's asof that have no profile; a repeated contact id
 * keeps its earliest date), in ascending customer_id order. Contacts that do
 * have a profile, or were created after asof, add nothing.
 *
 * With @p p_alive (one value in [0, 1] per profile row, aligned with
 * crm_profiles_customer_id()), customers with frequency >= 2 get at_risk /
 * churned from the probability thresholds instead of the cadence rule
 * (churned tested first, "below" strict); reactivation stays history-based.
 *
 * @param[out] out receives the table; NULL on failure.
 * @param[in] profiles profile table (not modified; may be freed afterwards).
 * @param[in] contacts array of @p n_contacts contacts (may be NULL when 0).
 * @param[in] n_contacts number of contacts.
 * @param[in] p_alive NULL (cadence mode) or crm_profiles_count() probabilities.
 * @param[in] opt options, or NULL for defaults.
 * @return CRM_OK; CRM_EINVAL (NULL out/profiles/contacts, bad option value,
 *         message names it); CRM_EVERSION (bad opt->version); CRM_EDATA (a
 *         created_ts outside 0..CRM_TS_MAX, or a p_alive value NaN or outside
 *         [0, 1]; message names the index); CRM_EOVERFLOW (a stage's revenue
 *         beyond int64); CRM_ENOMEM.
 */
CRM_API crm_status crm_lifecycle_build(crm_lifecycle **out, const crm_profiles *profiles,
                                       const crm_contact *contacts, size_t n_contacts,
                                       const double *p_alive,
                                       const crm_lifecycle_options *opt);

/**
 * @brief Free a stage table. NULL is a no-op. Column pointers die with it.
 * @param[in] t table or NULL.
 */
CRM_API void crm_lifecycle_free(crm_lifecycle *t);

/**
 * @brief Number of rows (customers with a profile plus leads).
 * @param[in] t table (NULL gives 0).
 * @return the row count.
 */
CRM_API size_t crm_lifecycle_count(const crm_lifecycle *t);

/**
 * @brief The asof day of the table (that of its profile table).
 * @param[in] t table (NULL gives -1).
 * @return the day number.
 */
CRM_API int64_t crm_lifecycle_asof(const crm_lifecycle *t);

/**
 * @brief Customer ids, ascending (column of crm_lifecycle_count() values,
 *        owned by @p t, valid until it is freed).
 * @param[in] t table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint64_t *crm_lifecycle_customer_id(const crm_lifecycle *t);

/**
 * @brief Stage of each row, one of ::crm_lifecycle_stage (column).
 * @param[in] t table (NULL gives NULL).
 * @return pointer to the column.
 */
CRM_API const uint8_t *crm_lifecycle_stage(const crm_lifecycle *t);

/**
 * @brief Position of a customer in the table (binary search).
 * @param[in] t table.
 * @param[in] customer_id id to look up.
 * @param[out] row receives the 0-based row index.
 * @return CRM_OK; CRM_EINVAL (NULL argument, or no such customer).
 */
CRM_API crm_status crm_lifecycle_find(const crm_lifecycle *t, uint64_t customer_id,
                                      size_t *row);

/** Current version of ::crm_lifecycle_explanation. */
#define CRM_LIFECYCLE_EXPLANATION_VERSION 1u

/**
 * @brief Why a customer has its stage: the inputs, the thresholds that
 *        applied and the rule that fired. Values that do not apply are -1
 *        (integers) or NaN (doubles).
 */
typedef struct crm_lifecycle_explanation {
    unsigned version;          /**< caller sets CRM_LIFECYCLE_EXPLANATION_VERSION */
    int32_t stage;             /**< ::crm_lifecycle_stage */
    int32_t rule;              /**< ::crm_lifecycle_rule that fired */
    int32_t created_day;       /**< leads: day the contact was created; else -1 */
    uint64_t customer_id;      /**< the customer */
    int64_t asof;              /**< snapshot day */
    uint32_t frequency;        /**< non-refund orders (0 for a lead) */
    int32_t recency_days;      /**< asof - last_day (-1 for a lead) */
    int32_t first_day;         /**< first purchase day (-1 for a lead) */
    int32_t last_day;          /**< last purchase day (-1 for a lead) */
    int32_t prev_day;          /**< second-latest distinct purchase day, or -1 */
    uint32_t new_days;         /**< NEW_DAYS applied */
    uint32_t loyal_f;          /**< LOYAL_F applied */
    uint32_t min_gap_days;     /**< MIN_GAP_DAYS applied */
    double gap_avg;            /**< (last_day - first_day) / (frequency - 1); NaN if frequency < 2 */
    double gap_eff;            /**< max(gap_avg, MIN_GAP_DAYS); NaN if frequency < 2 */
    double at_risk_days;       /**< AT_RISK_K * gap_eff; NaN if frequency < 2 */
    double churn_days;         /**< CHURN_K * gap_eff; NaN if frequency < 2 */
    double p_alive;            /**< P(alive) used; NaN in cadence mode or frequency < 2 */
    double p_at_risk;          /**< threshold used in P(alive) mode, else NaN */
    double p_churned;          /**< threshold used in P(alive) mode, else NaN */
    int32_t comeback_gap;      /**< last_day - prev_day; -1 without two purchase days */
    uint32_t orders_before;    /**< non-refund orders dated before last_day */
    /** Churn threshold that held just before the last order (CHURN_K *
     *  gap_eff of the earlier orders, or NEW_DAYS after one order); NaN
     *  when not applicable. Reactivated iff comeback_gap exceeds it. */
    double comeback_threshold;
} crm_lifecycle_explanation;

/**
 * @brief Explain one customer's stage.
 * @param[in] t table.
 * @param[in] customer_id customer to explain.
 * @param[in,out] out explanation; the caller sets out->version first.
 * @return CRM_OK; CRM_EINVAL (NULL argument, or customer not in the table);
 *         CRM_EVERSION (bad out->version).
 */
CRM_API crm_status crm_lifecycle_explain(const crm_lifecycle *t, uint64_t customer_id,
                                         crm_lifecycle_explanation *out);

/* ---- funnel ---------------------------------------------------------------- */

/** Current version of ::crm_lifecycle_funnel. */
#define CRM_LIFECYCLE_FUNNEL_VERSION 1u
/** ::crm_lifecycle_funnel.valid bit: second_purchase_conversion is defined. */
#define CRM_FUNNEL_HAS_CONVERSION 1u

/**
 * @brief Funnel and KPIs at asof. Integer members are exact and add up across
 *        customer-disjoint partitions (crm_lifecycle_funnel_merge()).
 */
typedef struct crm_lifecycle_funnel {
    unsigned version;     /**< caller sets CRM_LIFECYCLE_FUNNEL_VERSION */
    uint32_t valid;       /**< CRM_FUNNEL_HAS_CONVERSION when the rate is defined */
    int64_t asof;         /**< snapshot day */
    uint64_t params_id;   /**< fingerprint of the options (and P(alive) mode) used */
    uint64_t customers[CRM_LIFECYCLE_STAGES]; /**< customers per stage */
    int64_t revenue[CRM_LIFECYCLE_STAGES];    /**< net revenue per stage, minor units (leads 0) */
    uint64_t conversion_base;   /**< customers with first_day <= asof - NEW_DAYS */
    uint64_t conversion_hits;   /**< of those, second order within NEW_DAYS of the first */
    /** conversion_hits / conversion_base; NaN (null) when the base is 0 */
    double second_purchase_conversion;
} crm_lifecycle_funnel;

/**
 * @brief Funnel of a stage table.
 * @param[in] t table.
 * @param[in,out] out funnel; the caller sets out->version first.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_EVERSION (bad out->version).
 */
CRM_API crm_status crm_lifecycle_get_funnel(const crm_lifecycle *t,
                                            crm_lifecycle_funnel *out);

/**
 * @brief Funnel of the union of two customer-disjoint partitions: counts and
 *        revenue added, conversion recomputed.
 * @param[in] a first funnel (version CRM_LIFECYCLE_FUNNEL_VERSION).
 * @param[in] b second funnel (same asof and params_id).
 * @param[out] out result (may alias @p a or @p b); its version is set.
 * @return CRM_OK; CRM_EINVAL (NULL argument, different asof or params_id);
 *         CRM_EVERSION (an input of another version); CRM_EOVERFLOW.
 */
CRM_API crm_status crm_lifecycle_funnel_merge(const crm_lifecycle_funnel *a,
                                              const crm_lifecycle_funnel *b,
                                              crm_lifecycle_funnel *out);

/**
 * @brief Serialise a funnel partial (versioned, checksummed bytes).
 * @param[in] f funnel (version CRM_LIFECYCLE_FUNNEL_VERSION).
 * @param[out] bytes receives the buffer; free with crm_bytes_free().
 * @param[out] len receives its length.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_EVERSION; CRM_ENOMEM.
 */
CRM_API crm_status crm_lifecycle_funnel_serialize(const crm_lifecycle_funnel *f,
                                                  void **bytes, size_t *len);

/**
 * @brief Load a funnel partial written by crm_lifecycle_funnel_serialize().
 * @param[in] bytes buffer.
 * @param[in] len its length.
 * @param[out] out funnel (all members written, version set to current).
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ESTATE (truncated or
 *         corrupted bytes, message gives the byte offset); CRM_EVERSION
 *         (written by a newer format version).
 */
CRM_API crm_status crm_lifecycle_funnel_load(const void *bytes, size_t len,
                                             crm_lifecycle_funnel *out);

/* ---- migration --------------------------------------------------------------- */

/** Current version of ::crm_lifecycle_migration. */
#define CRM_LIFECYCLE_MIGRATION_VERSION 1u
/** Row of ::crm_lifecycle_migration for customers with no profile and no lead at `from`. */
#define CRM_MIGRATION_NONE CRM_LIFECYCLE_STAGES

/**
 * @brief Stage migration between two snapshots: rows = stage at `from`
 *        (plus the "(none)" row CRM_MIGRATION_NONE), columns = stage at
 *        `to`, over the population at `to`.
 */
typedef struct crm_lifecycle_migration {
    unsigned version;     /**< caller sets CRM_LIFECYCLE_MIGRATION_VERSION */
    uint32_t valid_rows;  /**< bit r set when row r is non-empty (rates defined) */
    int64_t from_asof;    /**< day of the `from` snapshot */
    int64_t to_asof;      /**< day of the `to` snapshot */
    uint64_t params_id;   /**< fingerprint of both tables' options */
    /** customers[from stage or CRM_MIGRATION_NONE][to stage] */
    uint64_t counts[CRM_LIFECYCLE_STAGES + 1][CRM_LIFECYCLE_STAGES];
    /** counts / row total; NaN (null) for empty rows */
    double rates[CRM_LIFECYCLE_STAGES + 1][CRM_LIFECYCLE_STAGES];
} crm_lifecycle_migration;

/**
 * @brief Migration matrix between two stage tables.
 * @param[in] from table at the earlier day.
 * @param[in] to table at the later (or same) day.
 * @param[in,out] out matrix; the caller sets out->version first.
 * @return CRM_OK; CRM_EINVAL (NULL argument, `to` before `from`);
 *         CRM_EVERSION (bad out->version).
 */
CRM_API crm_status crm_lifecycle_get_migration(const crm_lifecycle *from,
                                               const crm_lifecycle *to,
                                               crm_lifecycle_migration *out);

/**
 * @brief Migration of the union of two customer-disjoint partitions.
 * @param[in] a first matrix (version CRM_LIFECYCLE_MIGRATION_VERSION).
 * @param[in] b second matrix (same days and params_id).
 * @param[out] out result (may alias an input); its version is set.
 * @return CRM_OK; CRM_EINVAL (NULL argument, different days or params);
 *         CRM_EVERSION; CRM_EOVERFLOW.
 */
CRM_API crm_status crm_lifecycle_migration_merge(const crm_lifecycle_migration *a,
                                                 const crm_lifecycle_migration *b,
                                                 crm_lifecycle_migration *out);

/**
 * @brief Serialise a migration partial (versioned, checksummed bytes).
 * @param[in] m matrix (version CRM_LIFECYCLE_MIGRATION_VERSION).
 * @param[out] bytes receives the buffer; free with crm_bytes_free().
 * @param[out] len receives its length.
 * @return CRM_OK; CRM_EINVAL; CRM_EVERSION; CRM_ENOMEM.
 */
CRM_API crm_status crm_lifecycle_migration_serialize(const crm_lifecycle_migration *m,
                                                     void **bytes, size_t *len);

/**
 * @brief Load a migration partial written by crm_lifecycle_migration_serialize().
 * @param[in] bytes buffer.
 * @param[in] len its length.
 * @param[out] out matrix (all members written, version set to current).
 * @return CRM_OK; CRM_EINVAL; CRM_ESTATE (truncated or corrupted, byte
 *         offset in the message); CRM_EVERSION (newer format).
 */
CRM_API crm_status crm_lifecycle_migration_load(const void *bytes, size_t len,
                                                crm_lifecycle_migration *out);

/* ---- cohort retention ------------------------------------------------------ */

/**
 * @brief Opaque cohort retention table and partial: each customer's distinct
 *        non-refund purchase months up to asof, with the finished matrix.
 *        Free with crm_lifecycle_cohorts_free().
 */
typedef struct crm_lifecycle_cohorts crm_lifecycle_cohorts;

/**
 * @brief Cohort retention of @p orders as of day @p asof.
 *
 * Cohort = calendar month (UTC) of a customer's first non-refund order;
 * cell (cohort, k) = share of the cohort with a non-refund order in month
 * cohort + k, for k up to the asof month (included even if partial); later
 * cells are null. Months with no new customer have no row.
 * @param[out] out receives the table; NULL on failure.
 * @param[in] orders array of @p n records (may be NULL when n == 0).
 * @param[in] n number of records.
 * @param[in] asof snapshot day, 0..CRM_DAY_MAX.
 * @return CRM_OK; CRM_EINVAL (NULL out/orders, bad asof); CRM_EDATA (ts out
 *         of range, message names the record); CRM_EOVERFLOW; CRM_ENOMEM.
 */
CRM_API crm_status crm_lifecycle_cohorts_build(crm_lifecycle_cohorts **out,
                                               const crm_order *orders, size_t n,
                                               int64_t asof);

/**
 * @brief Exact table of the union of the orders of two partials (any
 *        partitioning: a customer may appear in both).
 * @param[out] out receives the merged table; NULL on failure.
 * @param[in] a first table.
 * @param[in] b second table (same asof).
 * @return CRM_OK; CRM_EINVAL (NULL argument, different asof); CRM_ENOMEM.
 */
CRM_API crm_status crm_lifecycle_cohorts_merge(crm_lifecycle_cohorts **out,
                                               const crm_lifecycle_cohorts *a,
                                               const crm_lifecycle_cohorts *b);

/**
 * @brief Serialise a cohort partial: 8 + 4 * (1 + months) bytes per
 *        customer plus a 44-byte envelope.
 * @param[in] c table.
 * @param[out] bytes receives the buffer; free with crm_bytes_free().
 * @param[out] len receives its length.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ENOMEM.
 */
CRM_API crm_status crm_lifecycle_cohorts_serialize(const crm_lifecycle_cohorts *c,
                                                   void **bytes, size_t *len);

/**
 * @brief Load a cohort partial written by crm_lifecycle_cohorts_serialize().
 * @param[out] out receives the table; NULL on failure.
 * @param[in] bytes buffer.
 * @param[in] len its length.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ESTATE (truncated,
 *         corrupted or inconsistent bytes, offset in the message);
 *         CRM_EVERSION (newer format); CRM_ENOMEM.
 */
CRM_API crm_status crm_lifecycle_cohorts_load(crm_lifecycle_cohorts **out,
                                              const void *bytes, size_t len);

/**
 * @brief Free a cohort table. NULL is a no-op.
 * @param[in] c table or NULL.
 */
CRM_API void crm_lifecycle_cohorts_free(crm_lifecycle_cohorts *c);

/**
 * @brief The asof day of the table.
 * @param[in] c table (NULL gives -1).
 * @return the day number.
 */
CRM_API int64_t crm_lifecycle_cohorts_asof(const crm_lifecycle_cohorts *c);

/**
 * @brief Number of cohorts (matrix rows).
 * @param[in] c table (NULL gives 0).
 * @return the row count.
 */
CRM_API size_t crm_lifecycle_cohorts_rows(const crm_lifecycle_cohorts *c);

/**
 * @brief Number of matrix columns: k = 0 .. asof month - earliest cohort month.
 * @param[in] c table (NULL gives 0).
 * @return the column count (0 when there is no cohort).
 */
CRM_API size_t crm_lifecycle_cohorts_columns(const crm_lifecycle_cohorts *c);

/**
 * @brief Month of each cohort as months since 1970-01 (year = 1970 + m / 12,
 *        month = 1 + m % 12), ascending (column of rows() values).
 * @param[in] c table (NULL gives NULL).
 * @return pointer to the column, owned by @p c.
 */
CRM_API const int32_t *crm_lifecycle_cohorts_month(const crm_lifecycle_cohorts *c);

/**
 * @brief Customers per cohort (column of rows() values).
 * @param[in] c table (NULL gives NULL).
 * @return pointer to the column, owned by @p c.
 */
CRM_API const uint64_t *crm_lifecycle_cohorts_size(const crm_lifecycle_cohorts *c);

/**
 * @brief Customers of cohort r active in month k, at [r * columns() + k]
 *        (row-major rows() x columns(); 0 in null cells).
 * @param[in] c table (NULL gives NULL).
 * @return pointer to the matrix, owned by @p c.
 */
CRM_API const uint64_t *crm_lifecycle_cohorts_active(const crm_lifecycle_cohorts *c);

/**
 * @brief Retention shares active / size, row-major like
 *        crm_lifecycle_cohorts_active(); NaN (null) after the asof month.
 * @param[in] c table (NULL gives NULL).
 * @return pointer to the matrix, owned by @p c.
 */
CRM_API const double *crm_lifecycle_cohorts_share(const crm_lifecycle_cohorts *c);

#ifdef __cplusplus
}
#endif

#endif /* CRM_LIFECYCLE_H */
