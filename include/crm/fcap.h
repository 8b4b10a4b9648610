/**
 * @file fcap.h
 * @brief Frequency-cap arbitration engine: caps, simultaneity, quiet hours,
 *        consent, priorities, channel fallback, crash-safe state.
 *
 * A stateful engine (::crm_fcap) holds rules and, per customer, the message
 * events (history rows and its own sends) still inside the longest rule
 * window. crm_fcap_decide() arbitrates a batch of candidate messages at
 * their times exactly as specs/fcap.md says: per customer and time, rank by
 * (priority desc, value desc, cand_id asc), try each candidate's channels in
 * order, send on the first channel that passes every check and record the
 * send at once. Channels, tags and cap ids are small integers; their names
 * live in the caller (the Python binding keeps them).
 *
 * Persistence: crm_fcap_save() / crm_fcap_load() serialise the whole engine
 * (rules included) into a versioned, checksummed blob; an optional
 * append-only log (crm_fcap_log_attach()) receives one framed, CRC-checked
 * record per state change, and crm_fcap_replay() applies such a log to a
 * loaded snapshot, reproducing the live state byte for byte.
 *
 * Thread safety: an engine is not thread-safe; use one per thread or lock.
 * Different engines are independent. Engines partition by customer: a
 * snapshot may be restricted to a customer-id range (crm_fcap_save_range()).
 */
#ifndef CRM_FCAP_H
#define CRM_FCAP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most channels a rule set may define (channel ids 0..63). */
#define CRM_FCAP_MAX_CHANNELS 64u
/** Most channels in one candidate's fallback list. */
#define CRM_FCAP_MAX_TRIES 15u
/** Number of message categories. */
#define CRM_FCAP_CATEGORIES 4u
/** Category id of "promo". */
#define CRM_FCAP_PROMO 0u
/** Category id of "content". */
#define CRM_FCAP_CONTENT 1u
/** Category id of "trigger". */
#define CRM_FCAP_TRIGGER 2u
/** Category id of "service". */
#define CRM_FCAP_SERVICE 3u

/** Channel mask meaning "every channel" (no filter, consent "*"). */
#define CRM_FCAP_ALL_CHANNELS UINT64_MAX
/** Category mask meaning "every category" (no filter). */
#define CRM_FCAP_ALL_CATEGORIES 0xFu
/** Cap key meaning "*": each value separately. */
#define CRM_FCAP_KEY_ANY INT64_C(-1)
/** Calendar window "month" (crm_fcap_cap.window with sliding = 0). */
#define CRM_FCAP_WINDOW_MONTH INT64_C(0)
/** Largest window or simultaneity gap in seconds (about 3170 years). */
#define CRM_FCAP_WINDOW_MAX INT64_C(100000000000)
/** Event without a candidate id (crm_fcap_event.cand_id). */
#define CRM_FCAP_NO_CAND UINT64_MAX
/** Largest candidate, customer and campaign id: 2^63 - 1. */
#define CRM_FCAP_ID_MAX UINT64_C(0x7FFFFFFFFFFFFFFF)
/** Latest time the engine accepts: 3000-01-01T00:00:00Z. */
#define CRM_FCAP_T_MAX INT64_C(32503680000)
/** crm_fcap_decision.retry_at when no channel can ever pass. */
#define CRM_FCAP_NEVER INT64_C(-1)
/** crm_fcap_decision.channel on REJECT. */
#define CRM_FCAP_NO_CHANNEL 255u

/** @brief Scope of a cap (crm_fcap_cap.scope). */
enum crm_fcap_scope {
    CRM_FCAP_SCOPE_GLOBAL = 0,   /**< every counted event */
    CRM_FCAP_SCOPE_CHANNEL = 1,  /**< by channel id */
    CRM_FCAP_SCOPE_CAMPAIGN = 2, /**< by campaign id */
    CRM_FCAP_SCOPE_CATEGORY = 3, /**< by category id */
    CRM_FCAP_SCOPE_TAG = 4       /**< by tag id */
};

/** @brief Reason of one (candidate, channel) check (crm_fcap_decision). */
enum crm_fcap_reason {
    CRM_FCAP_OK = 0,                    /**< the channel passed: sent */
    CRM_FCAP_ALREADY_SENT = 1,          /**< the cand_id is already an event */
    CRM_FCAP_NO_CONSENT = 2,            /**< channel not in the consent set */
    CRM_FCAP_QUIET_HOURS = 3,           /**< a quiet interval is on (index in reason_arg) */
    CRM_FCAP_CAP = 4,                   /**< "CAP:<id>", cap index in reason_arg */
    CRM_FCAP_SIMULTANEOUS = 5,          /**< too many channels at once */
    CRM_FCAP_OUTRANKED_CAP = 6,         /**< "OUTRANKED:<id>", cap index in reason_arg */
    CRM_FCAP_OUTRANKED_SIMULTANEOUS = 7, /**< "OUTRANKED:SIMULTANEOUS" */
    CRM_FCAP_NOT_TRIED = 255            /**< the channel was not tried */
};

/**
 * @brief One cap of the rules. Layout frozen: 40 bytes.
 */
typedef struct crm_fcap_cap {
    int64_t key;        /**< channel / campaign / category / tag id, or CRM_FCAP_KEY_ANY; ignored for global */
    int64_t limit;      /**< >= 0; 0 blocks the scope entirely */
    int64_t window;     /**< seconds 1..CRM_FCAP_WINDOW_MAX, or CRM_FCAP_WINDOW_MONTH (calendar only) */
    uint64_t channels;  /**< channel filter mask (bit = channel id); CRM_FCAP_ALL_CHANNELS = none */
    uint8_t scope;      /**< ::crm_fcap_scope */
    uint8_t sliding;    /**< 1 sliding window, 0 calendar (tumbling) periods */
    uint8_t tz_utc;     /**< calendar periods: 0 customer's local time, 1 UTC */
    uint8_t categories; /**< category filter mask (bit = category); CRM_FCAP_ALL_CATEGORIES = none */
    uint8_t reserved[4]; /**< zero */
} crm_fcap_cap;

/**
 * @brief One quiet-hours interval of the rules. Layout frozen: 24 bytes.
 */
typedef struct crm_fcap_quiet {
    int32_t start;      /**< local second of day 0..86399 ("HH:MM" * 60) */
    int32_t end;        /**< local second of day 0..86400 (86400 = "24:00") */
    uint64_t channels;  /**< channels it applies to; CRM_FCAP_ALL_CHANNELS = all */
    uint8_t categories; /**< categories it applies to; CRM_FCAP_ALL_CATEGORIES = all */
    uint8_t reserved[7]; /**< zero */
} crm_fcap_quiet;

/** Current version of ::crm_fcap_rules. */
#define CRM_FCAP_RULES_VERSION 1u

/**
 * @brief Rule set of an engine (copied by crm_fcap_new()). Fill with
 *        crm_fcap_rules_init(), then set members.
 */
typedef struct crm_fcap_rules {
    unsigned version;            /**< set by crm_fcap_rules_init() */
    uint32_t n_channels;         /**< channel ids 0..n_channels-1 (1..64); default 8 */
    const crm_fcap_cap *caps;    /**< ordered caps (may be NULL when n_caps == 0) */
    size_t n_caps;               /**< number of caps (<= 65535) */
    const crm_fcap_quiet *quiet; /**< ordered quiet intervals (NULL when n_quiet == 0) */
    size_t n_quiet;              /**< number of quiet intervals (<= 65535) */
    int64_t sim_gap;             /**< simultaneity gap G in seconds (>= 1 when sim_max > 0) */
    uint32_t sim_max;            /**< simultaneity max_channels K; 0 = no simultaneity rule */
    uint8_t capped[4];           /**< per category: frequency checks apply; default 1,1,1,0 */
    uint8_t counts[4];           /**< per category: sends are counted events; default 1,1,1,0 */
    uint8_t requires_consent[4]; /**< per category: consent checked; default 1,1,1,1 */
    uint8_t prefer_preferred;    /**< 1: try the customer's preferred channel first; default 0 */
    uint8_t week_sunday;         /**< calendar anchor: 0 Monday (default), 1 Sunday */
} crm_fcap_rules;

/**
 * @brief A history event (a message already sent). Layout frozen: 48 bytes.
 */
typedef struct crm_fcap_event {
    uint64_t customer_id; /**< 0..CRM_FCAP_ID_MAX */
    int64_t t;            /**< send time, 0..CRM_FCAP_T_MAX */
    uint64_t campaign_id; /**< 0..CRM_FCAP_ID_MAX */
    uint64_t cand_id;     /**< candidate id, or CRM_FCAP_NO_CAND */
    uint32_t tag_off;     /**< first tag in the tags array of the call */
    uint32_t tag_n;       /**< number of tags */
    uint8_t channel;      /**< channel id */
    uint8_t category;     /**< category id 0..3 */
    int8_t counts;        /**< 1 counted, 0 not, -1 from the category flag */
    uint8_t reserved[5];  /**< zero */
} crm_fcap_event;

/**
 * @brief A candidate message. Layout frozen: 88 bytes.
 */
typedef struct crm_fcap_candidate {
    uint64_t cand_id;       /**< unique, 0..CRM_FCAP_ID_MAX */
    uint64_t customer_id;   /**< 0..CRM_FCAP_ID_MAX */
    int64_t t;              /**< decision time, 0..CRM_FCAP_T_MAX */
    uint64_t campaign_id;   /**< 0..CRM_FCAP_ID_MAX */
    int64_t priority;       /**< higher first */
    double value;           /**< finite; higher first among equal priority */
    uint64_t consent;       /**< consented channels mask; CRM_FCAP_ALL_CHANNELS = "*" */
    uint32_t tag_off;       /**< first tag in the tags array of the call */
    uint32_t tag_n;         /**< number of tags */
    int32_t utc_offset_min; /**< customer's fixed UTC offset, -720..840 minutes */
    int16_t preferred;      /**< preferred channel id, or -1 */
    uint8_t category;       /**< category id 0..3 */
    uint8_t override;       /**< 1: skip the frequency checks */
    uint8_t n_channels;     /**< 1..CRM_FCAP_MAX_TRIES */
    uint8_t channels[15];   /**< fallback channel ids in order, no repeats */
} crm_fcap_candidate;

/**
 * @brief Decision about one candidate. Layout frozen: 88 bytes.
 */
typedef struct crm_fcap_decision {
    uint64_t cand_id;       /**< the candidate's id */
    int64_t retry_at;       /**< REJECT: lower bound of the next possible send, or CRM_FCAP_NEVER; SEND: CRM_FCAP_NEVER */
    uint32_t rank;          /**< 1-based rank in the customer's batch */
    uint8_t send;           /**< 1 SEND, 0 REJECT */
    uint8_t channel;        /**< chosen channel id, CRM_FCAP_NO_CHANNEL on REJECT */
    uint8_t reason;         /**< ::crm_fcap_reason of the first channel tried (OK when sent) */
    uint8_t n_tried;        /**< channels tried (entries of tried/detail used) */
    uint16_t reason_arg;    /**< cap or quiet index of @c reason */
    uint8_t tried[15];      /**< channel ids in the order tried */
    uint8_t detail[15];     /**< ::crm_fcap_reason per tried channel */
    uint16_t detail_arg[15]; /**< cap or quiet index per tried channel */
} crm_fcap_decision;

/** Opaque frequency-cap engine. Free with crm_fcap_free(). */
typedef struct crm_fcap crm_fcap;

/**
 * @brief Fill @p rules with defaults: 8 channels, no caps, no quiet hours,
 *        no simultaneity rule, category flags of the spec.
 * @param[out] rules rules to initialise.
 * @param[in] version CRM_FCAP_RULES_VERSION.
 * @return CRM_OK; CRM_EINVAL (NULL); CRM_EVERSION (unknown version).
 */
CRM_API crm_status crm_fcap_rules_init(crm_fcap_rules *rules, unsigned version);

/**
 * @brief Create an engine with a copy of @p rules and no events.
 * @param[out] out receives the engine; NULL on failure.
 * @param[in] rules validated rule set.
 * @return CRM_OK; CRM_EINVAL (NULL); CRM_EVERSION; CRM_ERULE (a bad cap or
 *         quiet interval, message names its index and field); CRM_ENOMEM.
 */
CRM_API crm_status crm_fcap_new(crm_fcap **out, const crm_fcap_rules *rules);

/**
 * @brief Free an engine (closes an attached log). NULL is a no-op.
 * @param[in] f engine or NULL.
 */
CRM_API void crm_fcap_free(crm_fcap *f);

/**
 * @brief Add history events (messages already sent).
 *
 * All rows are validated first; on error nothing is added.
 * @param[in,out] f engine.
 * @param[in] events @p n events (NULL when n == 0).
 * @param[in] n number of events.
 * @param[in] tags tag ids the events' tag_off/tag_n refer to (NULL when none).
 * @param[in] n_tags length of @p tags.
 * @return CRM_OK; CRM_EINVAL (NULL); CRM_EDATA (bad row, message names its
 *         index); CRM_ESTATE (log write failed); CRM_ENOMEM.
 */
CRM_API crm_status crm_fcap_add_history(crm_fcap *f, const crm_fcap_event *events, size_t n,
                                        const uint32_t *tags, size_t n_tags);

/**
 * @brief Decide a set of candidates and record the sends.
 *
 * Candidates are grouped by t ascending; per customer and t they are ranked
 * and checked as specs/fcap.md says. out[i] describes candidates[i]. A
 * candidate whose cand_id was already sent (an event at or before its t)
 * is rejected ALREADY_SENT. On any error the engine is unchanged.
 * @param[in,out] f engine.
 * @param[in] cands @p n candidates (NULL when n == 0).
 * @param[in] n number of candidates.
 * @param[in] tags tag ids the candidates' tag_off/tag_n refer to.
 * @param[in] n_tags length of @p tags.
 * @param[out] out @p n decisions.
 * @return CRM_OK; CRM_EINVAL (NULL); CRM_EDATA (bad candidate: unknown or
 *         repeated channel, duplicate cand_id, attributes that disagree
 *         between rows of one customer, t before the prune time, ...; the
 *         message names the candidate index and cand_id); CRM_ESTATE (log
 *         write failed); CRM_ENOMEM.
 */
CRM_API crm_status crm_fcap_decide(crm_fcap *f, const crm_fcap_candidate *cands, size_t n,
                                   const uint32_t *tags, size_t n_tags,
                                   crm_fcap_decision *out);

/**
 * @brief Drop the events that can no longer matter for decisions at or
 *        after @p now (older than the longest window); later decisions
 *        before @p now are refused.
 * @param[in,out] f engine.
 * @param[in] now 0..CRM_FCAP_T_MAX, not before an earlier prune time.
 * @return CRM_OK; CRM_EINVAL; CRM_ESTATE (log write failed).
 */
CRM_API crm_status crm_fcap_prune(crm_fcap *f, int64_t now);

/**
 * @brief Longest time an event can matter (seconds): the largest window,
 *        31 days for "month" windows, the simultaneity gap.
 * @param[in] f engine (NULL gives 0).
 * @return the horizon.
 */
CRM_API int64_t crm_fcap_horizon(const crm_fcap *f);

/**
 * @brief Number of customers with at least one stored event.
 * @param[in] f engine (NULL gives 0).
 * @return the count.
 */
CRM_API size_t crm_fcap_customers(const crm_fcap *f);

/**
 * @brief Number of stored events.
 * @param[in] f engine (NULL gives 0).
 * @return the count.
 */
CRM_API size_t crm_fcap_events(const crm_fcap *f);

/**
 * @brief Heap bytes the engine holds (state, indexes, rules).
 * @param[in] f engine (NULL gives 0).
 * @return the byte count.
 */
CRM_API size_t crm_fcap_memory(const crm_fcap *f);

/**
 * @brief Attach opaque caller bytes (e.g. channel and tag names) that are
 *        saved with snapshots and restored by crm_fcap_load().
 *
 * Setting them is a state change like any other: it is written to an
 * attached decision log (and replayed) and counts in crm_fcap_sequence().
 * @param[in,out] f engine.
 * @param[in] data @p len bytes (copied; NULL when len == 0).
 * @param[in] len byte count.
 * @return CRM_OK; CRM_EINVAL; CRM_ENOMEM; CRM_ESTATE (log write failed).
 */
CRM_API crm_status crm_fcap_set_userdata(crm_fcap *f, const void *data, size_t len);

/**
 * @brief The bytes set by crm_fcap_set_userdata() (borrowed).
 * @param[in] f engine.
 * @param[out] len receives the byte count.
 * @return the bytes (valid until the next change or free), NULL when empty.
 */
CRM_API const void *crm_fcap_userdata(const crm_fcap *f, size_t *len);

/**
 * @brief Serialise the whole engine (rules, userdata, events, prune time,
 *        log sequence) into a blob. Equal states give equal bytes.
 * @param[in] f engine.
 * @param[out] out receives the bytes (free with crm_bytes_free()).
 * @param[out] out_len receives the byte count.
 * @return CRM_OK; CRM_EINVAL; CRM_ENOMEM; CRM_EOVERFLOW.
 */
CRM_API crm_status crm_fcap_save(const crm_fcap *f, void **out, size_t *out_len);

/**
 * @brief crm_fcap_save() restricted to the customers with
 *        lo <= customer_id <= hi: a partition's state for another engine.
 * @param[in] f engine.
 * @param[in] lo first customer id kept.
 * @param[in] hi last customer id kept.
 * @param[out] out receives the bytes (free with crm_bytes_free()).
 * @param[out] out_len receives the byte count.
 * @return as crm_fcap_save(); CRM_EINVAL when lo > hi.
 */
CRM_API crm_status crm_fcap_save_range(const crm_fcap *f, uint64_t lo, uint64_t hi,
                                       void **out, size_t *out_len);

/**
 * @brief Create an engine from a snapshot made by crm_fcap_save().
 * @param[out] out receives the engine; NULL on failure.
 * @param[in] data snapshot bytes.
 * @param[in] len byte count.
 * @return CRM_OK; CRM_EINVAL (NULL); CRM_ESTATE (truncated, corrupted or
 *         inconsistent; the message gives the byte offset); CRM_EVERSION;
 *         CRM_ENOMEM.
 */
CRM_API crm_status crm_fcap_load(crm_fcap **out, const void *data, size_t len);

/**
 * @brief Write a snapshot to @p path atomically: a temporary file in the
 *        same directory, fsync, rename, fsync of the directory.
 * @param[in] f engine.
 * @param[in] path destination file.
 * @return CRM_OK; CRM_EINVAL; CRM_ESTATE (an I/O error, message names the
 *         file and errno text); CRM_ENOMEM.
 */
CRM_API crm_status crm_fcap_save_file(const crm_fcap *f, const char *path);

/**
 * @brief crm_fcap_load() from a file written by crm_fcap_save_file().
 * @param[out] out receives the engine; NULL on failure.
 * @param[in] path snapshot file.
 * @return as crm_fcap_load(); CRM_ESTATE also for I/O errors.
 */
CRM_API crm_status crm_fcap_load_file(crm_fcap **out, const char *path);

/**
 * @brief Append every later state change (history, sends, prunes, userdata) to the
 *        file @p path as framed, checksummed records (the decision log).
 *        Each record is written with one write() and fsync()ed when
 *        @p sync is non-zero. Replaces a previously attached log.
 * @param[in,out] f engine.
 * @param[in] path log file (created when missing, appended otherwise).
 * @param[in] sync non-zero: fsync after each record.
 * @return CRM_OK; CRM_EINVAL; CRM_ESTATE (cannot open).
 */
CRM_API crm_status crm_fcap_log_attach(crm_fcap *f, const char *path, int sync);

/**
 * @brief Stop logging (closes the file). No-op without a log.
 * @param[in,out] f engine.
 * @return CRM_OK; CRM_EINVAL (NULL); CRM_ESTATE (close failed).
 */
CRM_API crm_status crm_fcap_log_detach(crm_fcap *f);

/**
 * @brief Apply a decision log (bytes) to @p f. Records already contained
 *        in the engine (sequence number <= its own) are skipped; the rest
 *        must follow without gaps. The whole log is validated before any
 *        change: on error @p f is unchanged.
 * @param[in,out] f engine (typically fresh from crm_fcap_load()).
 * @param[in] data log bytes.
 * @param[in] len byte count.
 * @return CRM_OK; CRM_EINVAL; CRM_ESTATE (truncated or corrupted record,
 *         sequence gap; the message gives the byte offset); CRM_ENOMEM.
 */
CRM_API crm_status crm_fcap_replay(crm_fcap *f, const void *data, size_t len);

/**
 * @brief crm_fcap_replay() of the log file @p path.
 * @param[in,out] f engine.
 * @param[in] path log file.
 * @return as crm_fcap_replay(); CRM_ESTATE also for I/O errors.
 */
CRM_API crm_status crm_fcap_replay_file(crm_fcap *f, const char *path);

/**
 * @brief Number of state changes the engine has applied (the log sequence).
 * @param[in] f engine (NULL gives 0).
 * @return the sequence number.
 */
CRM_API uint64_t crm_fcap_sequence(const crm_fcap *f);

#ifdef __cplusplus
}
#endif

#endif /* CRM_FCAP_H */
