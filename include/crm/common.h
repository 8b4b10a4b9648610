/**
 * @file common.h
 * @brief Status codes, last-error message, allocator hooks, version and
 *        struct-size queries shared by every libcrm module.
 *
 * Thread safety: every function here is safe to call from any thread,
 * except crm_set_allocator(), which must be called while no libcrm object
 * is alive (typically once at start-up).
 */
#ifndef CRM_COMMON_H
#define CRM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a symbol exported from the shared library. */
#if defined(__GNUC__) || defined(__clang__)
#define CRM_API __attribute__((visibility("default")))
#else
#define CRM_API
#endif

/** Major version of the library this header belongs to. */
#define CRM_VERSION_MAJOR 1
/** Minor version of the library this header belongs to. */
#define CRM_VERSION_MINOR 0
/** Patch version of the library this header belongs to. */
#define CRM_VERSION_PATCH 0
/** Version as one number: major * 10000 + minor * 100 + patch. */
#define CRM_VERSION_NUMBER \
    (CRM_VERSION_MAJOR * 10000 + CRM_VERSION_MINOR * 100 + CRM_VERSION_PATCH)

/**
 * @brief Status codes returned by every fallible libcrm function.
 *
 * Values are frozen: a retired code is never reused, new codes are appended.
 */
enum crm_status_code {
    CRM_OK = 0,        /**< success */
    CRM_EINVAL = 1,    /**< invalid argument (NULL pointer, bad option value) */
    CRM_ENOMEM = 2,    /**< an allocation failed */
    CRM_EVERSION = 3,  /**< unsupported struct or format version */
    CRM_EOVERFLOW = 4, /**< a size or sum would overflow */
    CRM_EDATA = 5,     /**< bad input record (out-of-range time, NaN, ...) */
    CRM_ESTATE = 6,    /**< corrupted or truncated state, or wrong state */
    CRM_ERULE = 7      /**< malformed rule or expression */
};

/** Status returned by fallible functions: one of ::crm_status_code. */
typedef int crm_status;

/** Latest valid order timestamp: 3000-12-31T23:59:59Z (Unix seconds). */
#define CRM_TS_MAX INT64_C(32535215999)
/** Latest valid day number: day(CRM_TS_MAX) = 376564. */
#define CRM_DAY_MAX INT64_C(376564)

/**
 * @brief Static English name and description of a status code.
 * @param[in] status any value; unknown values give "unknown status".
 * @return a static NUL-terminated string, never NULL.
 */
CRM_API const char *crm_status_str(crm_status status);

/**
 * @brief Message describing the last failure on the calling thread.
 *
 * The message names the culprit, e.g. "orders[1287].ts = -5 is outside
 * [0, 32535215999]". It stays valid until the thread's next libcrm call that
 * fails. Success does not clear it: check the returned status first.
 * @return a NUL-terminated string owned by the library, never NULL
 *         ("" when nothing failed yet on this thread).
 */
CRM_API const char *crm_last_error(void);

/**
 * @brief Memory allocation hooks. The layout is frozen.
 *
 * Each function receives @c ctx as its first argument. The hooks must be
 * thread-safe if libcrm is used from several threads.
 */
typedef struct crm_allocator {
    /** Allocate @p size bytes; return NULL on failure. */
    void *(*malloc_fn)(void *ctx, size_t size);
    /** Resize @p ptr (may be NULL) to @p size bytes; NULL on failure. */
    void *(*realloc_fn)(void *ctx, void *ptr, size_t size);
    /** Release @p ptr (never called with NULL). */
    void (*free_fn)(void *ctx, void *ptr);
    /** Opaque pointer handed to every hook. */
    void *ctx;
} crm_allocator;

/**
 * @brief Replace the allocator used for all library memory.
 *
 * Process-wide. Call it before any other libcrm call, or while no libcrm
 * object (result, engine) is alive: memory must be freed by the allocator
 * that allocated it.
 * @param[in] allocator hooks to use (copied), or NULL to restore malloc/free.
 * @return CRM_OK, or CRM_EINVAL if a hook is NULL.
 */
CRM_API crm_status crm_set_allocator(const crm_allocator *allocator);

/**
 * @brief Version of the loaded library as major * 10000 + minor * 100 + patch.
 * @return the version number, e.g. 10000 for 1.0.0.
 */
CRM_API unsigned crm_version_number(void);

/**
 * @brief Version of the loaded library as a string.
 * @return a static string such as "1.0.0".
 */
CRM_API const char *crm_version_string(void);

/**
 * @brief Free a byte buffer that libcrm returned (a serialised partial
 * aggregate, an engine snapshot). NULL is ignored.
 *
 * Buffers come from the allocator hooks (crm_set_allocator()), so they must
 * be released through this function, not free().
 *
 * @param[in] bytes a buffer returned by a libcrm `*_serialize` / `*_save`
 *                  function, or NULL.
 */
CRM_API void crm_bytes_free(void *bytes);

/** @brief Identifiers of public structs whose size bindings must check. */
enum crm_struct_id {
    CRM_STRUCT_ORDER = 1,               /**< ::crm_order */
    CRM_STRUCT_ALLOCATOR = 2,           /**< ::crm_allocator */
    CRM_STRUCT_PROFILES_OPTIONS = 3,    /**< ::crm_profiles_options */
    CRM_STRUCT_POPULATION_SUMMARY = 4,  /**< ::crm_population_summary */
    /* Ranges reserved per module; each adds entries under its marker. */
    /* rfm + segment: 10-19 */
    CRM_STRUCT_RFM_OPTIONS = 10,        /**< ::crm_rfm_options (rfm uses 10-14) */
    CRM_STRUCT_RFM_BOX = 11,            /**< ::crm_rfm_box */
    CRM_STRUCT_RFM_EXPLANATION = 12,    /**< ::crm_rfm_explanation */
    CRM_STRUCT_RFM_SEGMENT_STATS = 13,  /**< ::crm_rfm_segment_stats */
    CRM_STRUCT_SEGMENT_OPTIONS = 15,    /**< ::crm_segment_options */
    /* lifecycle: 20-29 */
    CRM_STRUCT_CONTACT = 20,                /**< ::crm_contact */
    CRM_STRUCT_LIFECYCLE_OPTIONS = 21,      /**< ::crm_lifecycle_options */
    CRM_STRUCT_LIFECYCLE_EXPLANATION = 22,  /**< ::crm_lifecycle_explanation */
    CRM_STRUCT_LIFECYCLE_FUNNEL = 23,       /**< ::crm_lifecycle_funnel */
    CRM_STRUCT_LIFECYCLE_MIGRATION = 24,    /**< ::crm_lifecycle_migration */
    /* clv: 30-39 */
    CRM_STRUCT_CLV_SUMMARY_OPTIONS = 30, /**< ::crm_clv_summary_options */
    CRM_STRUCT_CLV_FIT_OPTIONS = 31,     /**< ::crm_clv_fit_options */
    CRM_STRUCT_CLV_FIT_INFO = 32,        /**< ::crm_clv_fit_info */
    /* fcap: 40-49 */
    CRM_STRUCT_FCAP_CAP = 40,           /**< ::crm_fcap_cap */
    CRM_STRUCT_FCAP_QUIET = 41,         /**< ::crm_fcap_quiet */
    CRM_STRUCT_FCAP_RULES = 42,         /**< ::crm_fcap_rules */
    CRM_STRUCT_FCAP_EVENT = 43,         /**< ::crm_fcap_event */
    CRM_STRUCT_FCAP_CANDIDATE = 44,     /**< ::crm_fcap_candidate */
    CRM_STRUCT_FCAP_DECISION = 45,      /**< ::crm_fcap_decision */
    /* attribution: 50-59 */
    CRM_STRUCT_TOUCH = 50,                  /**< ::crm_touch */
    CRM_STRUCT_CONVERSION = 51,             /**< ::crm_conversion */
    CRM_STRUCT_ATTRIBUTION_OPTIONS = 52,    /**< ::crm_attribution_options */
    CRM_STRUCT_ATTRIBUTION_JOURNEY_OPTIONS = 53, /**< ::crm_attribution_journey_options */
    CRM_STRUCT_ATTRIBUTION_UPLIFT_RESULT = 54,   /**< ::crm_attribution_uplift_result */
    /* partial (scale-out): 60-69 */
};

/**
 * @brief Size in bytes of a public struct as compiled into the library.
 *
 * Lets foreign-function bindings verify their mirrors at load time.
 * @param[in] id one of ::crm_struct_id.
 * @return the size, or 0 for an unknown id.
 */
CRM_API size_t crm_struct_size(int id);

#ifdef __cplusplus
}
#endif

#endif /* CRM_COMMON_H */
