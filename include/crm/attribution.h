/**
 * @file attribution.h
 * @brief Multi-touch attribution: heuristic models, exact Markov removal
 *        effects (orders 1-4), Shapley values, and control-group uplift.
 *
 * Semantics follow specs/attribution.md. Two inputs reduce to one
 * ::crm_attribution_paths table: event records (::crm_touch,
 * ::crm_conversion) grouped into journeys, or aggregate path rows
 * (ChannelAttribution's format). Path tables are mergeable and
 * serialisable, so partitions of the data can be reduced independently
 * and combined exactly.
 *
 * Empty paths (a conversion with no eligible touch, a path row whose names
 * are all blank) go to an explicit unattributed bucket and are credited to
 * no channel; every model works on the non-empty rows.
 *
 * Markov removal effects are solved exactly (sparse Gauss-Seidel iteration
 * to machine precision on the absorbing chain, one solve per removed
 * channel), never simulated. Standard errors come from a seeded Poisson
 * bootstrap over journeys.
 *
 * Thread safety: every function is reentrant; a handle is used by one
 * thread at a time; finished results may be read from several threads.
 */
#ifndef CRM_ATTRIBUTION_H
#define CRM_ATTRIBUTION_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** ::crm_touch.kind: an impression (post-view window applies). */
#define CRM_TOUCH_VIEW 0u
/** ::crm_touch.kind: a click (post-click window applies). */
#define CRM_TOUCH_CLICK 1u

/**
 * @brief One marketing touch. Layout frozen: 32 bytes.
 */
typedef struct crm_touch {
    uint64_t customer_id; /**< caller's customer id */
    int64_t ts;           /**< Unix seconds UTC, 0..CRM_TS_MAX */
    uint32_t channel;     /**< caller's channel id */
    uint32_t campaign;    /**< caller's campaign id */
    uint8_t kind;         /**< CRM_TOUCH_VIEW or CRM_TOUCH_CLICK */
    uint8_t _pad[7];      /**< zero */
} crm_touch;

/**
 * @brief One conversion. Layout frozen: 32 bytes.
 */
typedef struct crm_conversion {
    uint64_t customer_id; /**< caller's customer id */
    int64_t ts;           /**< Unix seconds UTC, 0..CRM_TS_MAX */
    double value;         /**< conversion value, finite, >= 0 */
    double weight;        /**< conversions this row counts for, finite, > 0 (usually 1) */
} crm_conversion;

/** Window value meaning "no limit" (::crm_attribution_journey_options). */
#define CRM_ATTRIBUTION_WINDOW_INFINITE 0xFFFFFFFFu

/** Current version of ::crm_attribution_journey_options. */
#define CRM_ATTRIBUTION_JOURNEY_OPTIONS_VERSION 2u

/**
 * @brief How events become journeys. Fill with
 *        crm_attribution_journey_options_init().
 */
typedef struct crm_attribution_journey_options {
    unsigned version;           /**< set by crm_attribution_journey_options_init() */
    /** Post-click window in days, 0..90 or CRM_ATTRIBUTION_WINDOW_INFINITE;
     *  0 = clicks earn no credit. Default 30. */
    uint32_t click_window_days;
    /** Post-view window in days, 0..90 or CRM_ATTRIBUTION_WINDOW_INFINITE;
     *  0 = views earn no credit. Default 1. */
    uint32_t view_window_days;
    /** Non-zero: every conversion looks back over all earlier touches
     *  instead of only those after the previous conversion. Default 0. */
    uint32_t no_reset;
    /* version 2 */
    /** Non-zero: crm_attribution_paths_from_events() names path elements by
     *  campaign id instead of channel id, so every path-table model (Markov,
     *  Shapley) credits campaigns. Default 0. */
    uint32_t by_campaign;
} crm_attribution_journey_options;

/** Attribution models (values frozen). */
enum crm_attribution_model {
    CRM_ATTRIBUTION_FIRST_TOUCH = 1,     /**< all credit to the first touch */
    CRM_ATTRIBUTION_LAST_TOUCH = 2,      /**< all credit to the last touch */
    CRM_ATTRIBUTION_LINEAR = 3,          /**< 1/len per touch */
    CRM_ATTRIBUTION_POSITION_BASED = 4,  /**< first / middle / last weights */
    CRM_ATTRIBUTION_LAST_NON_DIRECT = 5, /**< last touch that is not the direct channel */
    CRM_ATTRIBUTION_TIME_DECAY = 6,      /**< events only: 2^(-age/half-life) */
    CRM_ATTRIBUTION_AD_SERVER_LAST = 7,  /**< events only: last click, else last view */
    CRM_ATTRIBUTION_MARKOV = 8,          /**< removal-effect Markov credit */
    CRM_ATTRIBUTION_SHAPLEY = 9,         /**< Shapley values of the coverage game */
    CRM_ATTRIBUTION_SHAPLEY_CR = 10      /**< Shapley values of the conversion-rate game */
};

/** Current version of ::crm_attribution_options. */
#define CRM_ATTRIBUTION_OPTIONS_VERSION 2u

/**
 * @brief Model options. Fill with crm_attribution_options_init().
 */
typedef struct crm_attribution_options {
    unsigned version;        /**< set by crm_attribution_options_init() */
    uint32_t order;          /**< Markov order 1..4; default 1 */
    double position_first;   /**< position-based first-touch share; default 0.4 */
    double position_middle;  /**< position-based share of the middle touches; default 0.2 */
    double position_last;    /**< position-based last-touch share; default 0.4 (the three sum to 1) */
    /** Direct channel of last_non_direct: a channel index of the path table
     *  (crm_attribution_paths_channel_index()) or, for events, a channel id;
     *  -1 (default) = none, so last_non_direct equals last_touch. */
    int64_t direct_channel;
    double half_life_days;   /**< time-decay half-life in days, > 0; default 7 */
    uint32_t ordered;        /**< shapley_cr: non-zero = ordered first appearances; default 0 (sets) */
    uint32_t keep_self_loops;/**< Markov: keep repeated states as self-loops; default 0 (merge) */
    uint32_t max_step;       /**< Markov: walks visit at most this many states; 0 (default) = unlimited */
    uint32_t bootstrap;      /**< Markov: bootstrap replicates for standard errors; default 0 (none) */
    uint64_t seed;           /**< bootstrap seed; default 1 */
    /* version 2 */
    /** Markov: threads for the per-channel removal solves (each thread
     *  takes every T-th channel); 0 or 1 (default) = the calling thread only. */
    uint32_t threads;
} crm_attribution_options;

/**
 * @brief Fill @p opt with the defaults of @p version.
 * @param[out] opt options to fill.
 * @param[in] version CRM_ATTRIBUTION_OPTIONS_VERSION.
 * @return CRM_OK, CRM_EINVAL (NULL), CRM_EVERSION.
 */
CRM_API crm_status crm_attribution_options_init(crm_attribution_options *opt,
                                                unsigned version);

/**
 * @brief Fill @p opt with the defaults of @p version.
 * @param[out] opt options to fill.
 * @param[in] version CRM_ATTRIBUTION_JOURNEY_OPTIONS_VERSION.
 * @return CRM_OK, CRM_EINVAL (NULL), CRM_EVERSION.
 */
CRM_API crm_status crm_attribution_journey_options_init(crm_attribution_journey_options *opt,
                                                        unsigned version);

/* ---- path tables --------------------------------------------------------- */

/**
 * @brief Opaque path table: distinct channel sequences with their
 *        conversions, conversion value and null (non-converting) counts,
 *        plus the unattributed bucket. Free with crm_attribution_paths_free().
 *
 * Channels are numbered 0..n-1 in order of first appearance and carry names.
 * Rows are distinct paths in order of first appearance.
 */
typedef struct crm_attribution_paths crm_attribution_paths;

/**
 * @brief Create an empty path table.
 * @param[out] out the new table.
 * @return CRM_OK, CRM_EINVAL, CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_paths_new(crm_attribution_paths **out);

/**
 * @brief Free a path table. NULL is ignored.
 * @param[in] t the table.
 */
CRM_API void crm_attribution_paths_free(crm_attribution_paths *t);

/**
 * @brief Add one path row given as text.
 *
 * Channel names are separated by @p sep (any length); blanks around names
 * are stripped and empty names dropped. A row whose path is already present
 * adds to it. A path with no names goes to the unattributed bucket. On
 * failure the table is unchanged.
 * @param[in,out] t the table.
 * @param[in] path NUL-terminated path text.
 * @param[in] sep separator, non-empty; NULL means ">".
 * @param[in] conversions conversions, finite, >= 0 (may be fractional).
 * @param[in] value conversion value, finite, >= 0.
 * @param[in] nulls non-converting journeys, finite, >= 0.
 * @return CRM_OK, CRM_EINVAL, CRM_EDATA (bad count), CRM_ENOMEM, CRM_EOVERFLOW.
 */
CRM_API crm_status crm_attribution_paths_add(crm_attribution_paths *t, const char *path,
                                             const char *sep, double conversions,
                                             double value, double nulls);

/**
 * @brief Build a table from paths given as channel indices (zero-copy input
 *        for bindings and generators).
 *
 * Row r is channels[offsets[r] .. offsets[r+1]), each index < n_channels;
 * duplicate rows are combined.
 * @param[out] out the new table.
 * @param[in] n_channels number of channels.
 * @param[in] names n_channels NUL-terminated distinct names, or NULL for
 *                  the names "0", "1", ...
 * @param[in] n_rows rows.
 * @param[in] offsets n_rows + 1 non-decreasing offsets, offsets[0] = 0.
 * @param[in] channels offsets[n_rows] channel indices.
 * @param[in] conversions n_rows values, finite, >= 0.
 * @param[in] value n_rows values, finite, >= 0 (NULL = zeros).
 * @param[in] nulls n_rows values, finite, >= 0.
 * @return CRM_OK, CRM_EINVAL, CRM_EDATA (names the row), CRM_ENOMEM, CRM_EOVERFLOW.
 */
CRM_API crm_status crm_attribution_paths_from_arrays(
    crm_attribution_paths **out, size_t n_channels, const char *const *names,
    size_t n_rows, const uint64_t *offsets, const uint32_t *channels,
    const double *conversions, const double *value, const double *nulls);

/**
 * @brief Parse delimited text: a header line, then rows
 *        `path<fs>conversions<fs>value<fs>nulls` (ChannelAttribution's
 *        `;`-separated format; `,` works too).
 *
 * Line ends LF or CRLF; fields may be double-quoted. A row with three fields
 * has no value column (value 0): `path<fs>conversions<fs>nulls`.
 * @param[out] out the new table.
 * @param[in] text the bytes (need not be NUL-terminated).
 * @param[in] len their length.
 * @param[in] field_sep field separator character, e.g. ';' or ','.
 * @param[in] path_sep channel separator inside the path; NULL means ">".
 * @return CRM_OK, CRM_EINVAL, CRM_EDATA (names the line), CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_paths_parse(crm_attribution_paths **out,
                                               const char *text, size_t len,
                                               char field_sep, const char *path_sep);

/**
 * @brief Build a path table from events (journeys of the spec).
 *
 * Customers' touches and conversions may come in any order. Channel i of
 * the table is named by the decimal channel id. A customer's touches after
 * the last conversion form one null journey.
 * @param[out] out the new table.
 * @param[in] touches touch records (read only).
 * @param[in] n_touches their count.
 * @param[in] conversions conversion records (read only).
 * @param[in] n_conversions their count.
 * @param[in] opt journey options, NULL for defaults.
 * @return CRM_OK, CRM_EINVAL, CRM_EVERSION, CRM_EDATA (names the record),
 *         CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_paths_from_events(
    crm_attribution_paths **out, const crm_touch *touches, size_t n_touches,
    const crm_conversion *conversions, size_t n_conversions,
    const crm_attribution_journey_options *opt);

/**
 * @brief Merge two tables into a new one (channels matched by name, equal
 *        paths combined). Equal to the table built from all the data.
 * @param[out] out the new table.
 * @param[in] a first table.
 * @param[in] b second table.
 * @return CRM_OK, CRM_EINVAL, CRM_ENOMEM, CRM_EOVERFLOW.
 */
CRM_API crm_status crm_attribution_paths_merge(crm_attribution_paths **out,
                                               const crm_attribution_paths *a,
                                               const crm_attribution_paths *b);

/**
 * @brief Serialise a table as a partial aggregate (versioned, checksummed).
 * @param[in] t the table.
 * @param[out] bytes the buffer; free with crm_bytes_free().
 * @param[out] len its length.
 * @return CRM_OK, CRM_EINVAL, CRM_ENOMEM, CRM_EOVERFLOW.
 */
CRM_API crm_status crm_attribution_paths_serialize(const crm_attribution_paths *t,
                                                   void **bytes, size_t *len);

/**
 * @brief Load a table written by crm_attribution_paths_serialize().
 * @param[out] out the new table.
 * @param[in] bytes the buffer.
 * @param[in] len its length.
 * @return CRM_OK, CRM_EINVAL, CRM_ESTATE (corrupt, names the byte offset),
 *         CRM_EVERSION, CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_paths_deserialize(crm_attribution_paths **out,
                                                     const void *bytes, size_t len);

/**
 * @brief Number of channels.
 * @param[in] t the table (NULL gives 0).
 * @return the count.
 */
CRM_API size_t crm_attribution_paths_n_channels(const crm_attribution_paths *t);

/**
 * @brief Name of channel @p i.
 * @param[in] t the table.
 * @param[in] i channel index.
 * @return a NUL-terminated string owned by the table, or NULL when out of range.
 */
CRM_API const char *crm_attribution_paths_channel_name(const crm_attribution_paths *t,
                                                       size_t i);

/**
 * @brief Index of the channel named @p name.
 * @param[in] t the table.
 * @param[in] name NUL-terminated name.
 * @return the index, or -1 when absent (or an argument is NULL).
 */
CRM_API int64_t crm_attribution_paths_channel_index(const crm_attribution_paths *t,
                                                    const char *name);

/**
 * @brief Number of distinct non-empty paths (rows).
 * @param[in] t the table (NULL gives 0).
 * @return the count.
 */
CRM_API size_t crm_attribution_paths_n_rows(const crm_attribution_paths *t);

/**
 * @brief Borrow the table's columns (valid until the table is freed or
 *        changed). Any output pointer may be NULL.
 *
 * Row r is channels[offsets[r] .. offsets[r+1]).
 * @param[in] t the table.
 * @param[out] offsets n_rows + 1 offsets.
 * @param[out] channels channel indices.
 * @param[out] conversions n_rows conversions.
 * @param[out] value n_rows conversion values.
 * @param[out] nulls n_rows null counts.
 * @return CRM_OK, CRM_EINVAL.
 */
CRM_API crm_status crm_attribution_paths_columns(const crm_attribution_paths *t,
                                                 const uint64_t **offsets,
                                                 const uint32_t **channels,
                                                 const double **conversions,
                                                 const double **value,
                                                 const double **nulls);

/**
 * @brief Totals: conversions, value and nulls of the non-empty paths and of
 *        the unattributed bucket (empty paths). Any output may be NULL.
 * @param[in] t the table.
 * @param[out] conversions conversions over the non-empty paths.
 * @param[out] value value over the non-empty paths.
 * @param[out] nulls nulls over the non-empty paths.
 * @param[out] unattributed_conversions conversions of empty paths.
 * @param[out] unattributed_value value of empty paths.
 * @return CRM_OK, CRM_EINVAL.
 */
CRM_API crm_status crm_attribution_paths_totals(const crm_attribution_paths *t,
                                                double *conversions, double *value,
                                                double *nulls,
                                                double *unattributed_conversions,
                                                double *unattributed_value);

/**
 * @brief Credit per channel under one model.
 *
 * Models: first_touch, last_touch, linear, position_based,
 * last_non_direct, markov (order, max_step, keep_self_loops of @p opt),
 * shapley, shapley_cr (ordered). time_decay and ad_server_last need events
 * (crm_attribution_events_credit()) and fail with CRM_EINVAL here.
 * @param[in] t the table.
 * @param[in] model one of ::crm_attribution_model.
 * @param[in] opt options, NULL for defaults.
 * @param[out] conversions n_channels credited conversions (caller-owned).
 * @param[out] value n_channels credited value (caller-owned), may be NULL.
 * @return CRM_OK, CRM_EINVAL, CRM_EVERSION, CRM_EDATA (too many channels for
 *         the model), CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_paths_credit(const crm_attribution_paths *t, int model,
                                                const crm_attribution_options *opt,
                                                double *conversions, double *value);

/* ---- Markov -------------------------------------------------------------- */

/** Opaque Markov result. Free with crm_attribution_markov_free(). */
typedef struct crm_attribution_markov crm_attribution_markov;

/** Arrays of a Markov result (crm_attribution_markov_array()). */
enum crm_attribution_markov_array {
    CRM_ATTRIBUTION_RE = 1,          /**< removal effect RE_c per channel */
    CRM_ATTRIBUTION_VALUE_RE = 2,    /**< value removal effect RE^v_c */
    CRM_ATTRIBUTION_CONV = 3,        /**< credited conversions */
    CRM_ATTRIBUTION_VALUE = 4,       /**< credited value */
    CRM_ATTRIBUTION_RE_SE = 5,       /**< bootstrap standard error of RE */
    CRM_ATTRIBUTION_VALUE_RE_SE = 6, /**< bootstrap standard error of RE^v */
    CRM_ATTRIBUTION_CONV_SE = 7,     /**< bootstrap standard error of credited conversions */
    CRM_ATTRIBUTION_VALUE_SE = 8     /**< bootstrap standard error of credited value */
};

/**
 * @brief Fit the order-K removal-effect Markov model of the spec exactly.
 * @param[out] out the result.
 * @param[in] t the table.
 * @param[in] opt options (order, max_step, keep_self_loops, bootstrap, seed),
 *                NULL for defaults.
 * @return CRM_OK, CRM_EINVAL, CRM_EVERSION, CRM_EDATA (no journeys; more
 *         than 65534 channels), CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_markov_fit(crm_attribution_markov **out,
                                              const crm_attribution_paths *t,
                                              const crm_attribution_options *opt);

/**
 * @brief Free a Markov result. NULL is ignored.
 * @param[in] m the result.
 */
CRM_API void crm_attribution_markov_free(crm_attribution_markov *m);

/**
 * @brief Probability of conversion P from (start) (within max_step).
 * @param[in] m the result (NULL gives NaN).
 * @return P.
 */
CRM_API double crm_attribution_markov_p_conversion(const crm_attribution_markov *m);

/**
 * @brief Expected conversion value E per journey (within max_step).
 * @param[in] m the result (NULL gives NaN).
 * @return E.
 */
CRM_API double crm_attribution_markov_expected_value(const crm_attribution_markov *m);

/**
 * @brief Borrow a per-channel array (n_channels entries, channel order of the
 *        table). Standard-error arrays are NaN without bootstrap.
 * @param[in] m the result.
 * @param[in] which one of ::crm_attribution_markov_array.
 * @param[out] n number of entries (may be NULL).
 * @return the array owned by the result, or NULL (bad argument).
 */
CRM_API const double *crm_attribution_markov_array(const crm_attribution_markov *m,
                                                   int which, size_t *n);

/**
 * @brief Number of states of the transition matrix: 0 = (start),
 *        1 = (conversion), 2 = (null), then the transient states.
 * @param[in] m the result (NULL gives 0).
 * @return the count.
 */
CRM_API size_t crm_attribution_markov_n_states(const crm_attribution_markov *m);

/**
 * @brief Name of state @p i: "(start)", "(conversion)", "(null)", or the
 *        channel names of the state joined by " > ".
 * @param[in] m the result.
 * @param[in] i state index.
 * @return a string owned by the result, or NULL when out of range.
 */
CRM_API const char *crm_attribution_markov_state_name(const crm_attribution_markov *m,
                                                      size_t i);

/**
 * @brief Borrow the transition matrix as sparse triples, sorted by (from, to).
 * @param[in] m the result.
 * @param[out] n number of transitions.
 * @param[out] from source state per transition.
 * @param[out] to target state per transition.
 * @param[out] prob transition probability (rows sum to 1).
 * @return CRM_OK, CRM_EINVAL.
 */
CRM_API crm_status crm_attribution_markov_transitions(const crm_attribution_markov *m,
                                                      size_t *n, const uint32_t **from,
                                                      const uint32_t **to,
                                                      const double **prob);

/** Criteria of crm_attribution_choose_order(). */
enum crm_attribution_criterion {
    CRM_ATTRIBUTION_BIC = 1,     /**< Bayesian information criterion on all data */
    CRM_ATTRIBUTION_HELDOUT = 2  /**< 5-fold held-out log-likelihood */
};

/**
 * @brief Choose the Markov order 1..max_order.
 *
 * Each order K is a chain over the run-collapsed channel sequence with
 * contexts of the last K channels (the first states of a path keep the start
 * marker), ending in conversion or null, so every order scores the same
 * data. BIC: minimise -2 LL + k ln N (k free transition probabilities, N
 * journeys). HELDOUT: five folds of path rows (assigned by a hash of the
 * path), interpolated smoothing of each order by the order below; maximise
 * the summed held-out log-likelihood.
 * @param[in] t the table.
 * @param[in] max_order 1..4.
 * @param[in] criterion one of ::crm_attribution_criterion.
 * @param[out] order the chosen order.
 * @param[out] scores max_order entries (caller-owned, may be NULL): BIC
 *                    (lower is better) or held-out log-likelihood (higher is better).
 * @return CRM_OK, CRM_EINVAL, CRM_EDATA (no journeys), CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_choose_order(const crm_attribution_paths *t,
                                                uint32_t max_order, int criterion,
                                                uint32_t *order, double *scores);

/* ---- events credit ------------------------------------------------------- */

/** Opaque per-channel and per-campaign credit from events. */
typedef struct crm_attribution_credit crm_attribution_credit;

/** Grouping of crm_attribution_credit_get(). */
enum crm_attribution_by {
    CRM_ATTRIBUTION_BY_CHANNEL = 0, /**< per channel id */
    CRM_ATTRIBUTION_BY_CAMPAIGN = 1 /**< per campaign id */
};

/**
 * @brief Credit of the heuristic models (first_touch .. ad_server_last) per
 *        channel and per campaign, from events.
 * @param[out] out the result.
 * @param[in] touches touch records (read only).
 * @param[in] n_touches their count.
 * @param[in] conversions conversion records (read only).
 * @param[in] n_conversions their count.
 * @param[in] jopt journey options, NULL for defaults.
 * @param[in] opt model options (position weights, direct channel id,
 *                half-life), NULL for defaults.
 * @return CRM_OK, CRM_EINVAL, CRM_EVERSION, CRM_EDATA (names the record), CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_events_credit(
    crm_attribution_credit **out, const crm_touch *touches, size_t n_touches,
    const crm_conversion *conversions, size_t n_conversions,
    const crm_attribution_journey_options *jopt, const crm_attribution_options *opt);

/**
 * @brief Free a credit result. NULL is ignored.
 * @param[in] c the result.
 */
CRM_API void crm_attribution_credit_free(crm_attribution_credit *c);

/**
 * @brief Borrow the sorted ids of one grouping.
 * @param[in] c the result.
 * @param[in] by ::crm_attribution_by.
 * @param[out] n number of ids.
 * @return the ids owned by the result, or NULL (bad argument).
 */
CRM_API const uint32_t *crm_attribution_credit_ids(const crm_attribution_credit *c,
                                                   int by, size_t *n);

/**
 * @brief Borrow credited conversions and value per id of one grouping.
 * @param[in] c the result.
 * @param[in] model CRM_ATTRIBUTION_FIRST_TOUCH .. CRM_ATTRIBUTION_AD_SERVER_LAST.
 * @param[in] by ::crm_attribution_by.
 * @param[out] conversions conversions per id (same order as the ids).
 * @param[out] value value per id.
 * @return CRM_OK, CRM_EINVAL.
 */
CRM_API crm_status crm_attribution_credit_get(const crm_attribution_credit *c, int model,
                                              int by, const double **conversions,
                                              const double **value);

/**
 * @brief Conversions and value that no eligible touch could take.
 * @param[in] c the result.
 * @param[out] conversions unattributed conversions (may be NULL).
 * @param[out] value unattributed value (may be NULL).
 * @return CRM_OK, CRM_EINVAL.
 */
CRM_API crm_status crm_attribution_credit_unattributed(const crm_attribution_credit *c,
                                                       double *conversions,
                                                       double *value);

/**
 * @brief Merge two credit results into a new one (ids matched, sums added).
 *
 * Credit of customer-disjoint partitions of the events merges into the
 * credit of the whole (to rounding of the sums).
 * @param[out] out the new result.
 * @param[in] a first result.
 * @param[in] b second result.
 * @return CRM_OK, CRM_EINVAL, CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_credit_merge(crm_attribution_credit **out,
                                                const crm_attribution_credit *a,
                                                const crm_attribution_credit *b);

/**
 * @brief Serialise a credit result as a partial aggregate (versioned,
 *        checksummed).
 * @param[in] c the result.
 * @param[out] bytes the buffer; free with crm_bytes_free().
 * @param[out] len its length.
 * @return CRM_OK, CRM_EINVAL, CRM_ENOMEM, CRM_EOVERFLOW.
 */
CRM_API crm_status crm_attribution_credit_serialize(const crm_attribution_credit *c,
                                                    void **bytes, size_t *len);

/**
 * @brief Load a credit result written by crm_attribution_credit_serialize().
 * @param[out] out the new result.
 * @param[in] bytes the buffer.
 * @param[in] len its length.
 * @return CRM_OK, CRM_EINVAL, CRM_ESTATE (corrupt, names the byte offset),
 *         CRM_EVERSION, CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_credit_deserialize(crm_attribution_credit **out,
                                                      const void *bytes, size_t len);

/* ---- control groups ------------------------------------------------------ */

/**
 * @brief Deterministic control-group assignment of the spec:
 *        h = splitmix64(id XOR splitmix64(salt)), control iff
 *        (h >> 11) * 2^-53 < fraction.
 * @param[in] customer_ids n ids.
 * @param[in] n their count.
 * @param[in] salt experiment salt.
 * @param[in] fraction control share, 0..1.
 * @param[out] in_control n bytes: 1 = control, 0 = test.
 * @return CRM_OK, CRM_EINVAL.
 */
CRM_API crm_status crm_attribution_in_control(const uint64_t *customer_ids, size_t n,
                                              uint64_t salt, double fraction,
                                              uint8_t *in_control);

/** Current version of ::crm_attribution_uplift_result. */
#define CRM_ATTRIBUTION_UPLIFT_RESULT_VERSION 1u

/**
 * @brief Uplift of test over control for one outcome (conversion or revenue
 *        per customer): means, lifts, Welch 95 % interval and p-value.
 */
typedef struct crm_attribution_uplift_result {
    unsigned version;        /**< caller sets CRM_ATTRIBUTION_UPLIFT_RESULT_VERSION */
    uint32_t _pad;           /**< zero */
    uint64_t n_test;         /**< test customers */
    uint64_t n_control;      /**< control customers */
    double mean_test;        /**< mean outcome per test customer */
    double mean_control;     /**< mean outcome per control customer */
    double lift;             /**< absolute lift: mean_test - mean_control */
    double relative_lift;    /**< lift / mean_control (NaN when mean_control is 0) */
    double ci_low;           /**< Welch 95 % interval of the lift, low end */
    double ci_high;          /**< Welch 95 % interval of the lift, high end */
    double p_value;          /**< two-sided Welch t-test p-value */
    double df;               /**< Welch-Satterthwaite degrees of freedom */
    double incremental;      /**< lift * n_test */
} crm_attribution_uplift_result;

/**
 * @brief Welch comparison of per-customer outcomes of test and control.
 * @param[in] test n_test outcomes (finite).
 * @param[in] n_test their count, >= 2.
 * @param[in] control n_control outcomes (finite).
 * @param[in] n_control their count, >= 2.
 * @param[in,out] out result; its version is read first.
 * @return CRM_OK, CRM_EINVAL, CRM_EVERSION, CRM_EDATA (non-finite, names the index).
 */
CRM_API crm_status crm_attribution_uplift(const double *test, size_t n_test,
                                          const double *control, size_t n_control,
                                          crm_attribution_uplift_result *out);

/**
 * @brief Per-customer outcomes over the measurement window of a holdout:
 *        whether each customer converted and its conversion value between
 *        stop_ts + washout_days (inclusive) and end_ts (exclusive).
 * @param[in] customer_ids n customer ids (any order, distinct).
 * @param[in] n their count.
 * @param[in] conversions conversion records (read only).
 * @param[in] n_conversions their count.
 * @param[in] stop_ts when communications to the control group stopped.
 * @param[in] washout_days days skipped after stop_ts (the spec's default is 60).
 * @param[in] end_ts end of the measurement window (exclusive).
 * @param[out] converted n values: 1 if the customer converted in the window, else 0.
 * @param[out] value n values: value in the window.
 * @return CRM_OK, CRM_EINVAL, CRM_EDATA (names the record), CRM_ENOMEM.
 */
CRM_API crm_status crm_attribution_outcomes(const uint64_t *customer_ids, size_t n,
                                            const crm_conversion *conversions,
                                            size_t n_conversions, int64_t stop_ts,
                                            uint32_t washout_days, int64_t end_ts,
                                            double *converted, double *value);

#ifdef __cplusplus
}
#endif

#endif /* CRM_ATTRIBUTION_H */
