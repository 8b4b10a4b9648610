/**
 * @file segment.h
 * @brief Rule-language segments: expressions over customer columns compiled
 *        once into a small program and evaluated into membership bitsets,
 *        with member counts and pairwise overlaps.
 *
 * Semantics follow specs/segmentation.md, section "Rule-language segments".
 *
 * Grammar (keywords `and or not in between` are case-insensitive; field
 * names are case-sensitive):
 * @code
 *   expr      := and_expr { "or" and_expr }
 *   and_expr  := unary { "and" unary }
 *   unary     := "not" unary | "(" expr ")" | predicate
 *   predicate := field cmp value
 *              | field ["not"] "in" "(" value { "," value } ")"
 *              | field ["not"] "between" value "and" value
 *   cmp       := "=" | "!=" | "<" | "<=" | ">" | ">="
 *   value     := number | string | name
 *   number    := ["-"] digit {digit} ["." digit {digit}]
 *   string    := '"' chars '"' | "'" chars "'"   (backslash escapes the next byte)
 *   field, name := letter_or_underscore { letter_or_digit_or_underscore }
 * @endcode
 * `not` binds tighter than `and`, which binds tighter than `or`; a
 * comparison binds tighter than `not`, so `not r >= 4` is `not (r >= 4)`.
 * A bare name as a value is a category name, so
 * `stage in (at_risk, churned)` equals `stage in ("at_risk", "churned")`.
 *
 * Values are compared exactly: an integer column against a decimal literal
 * uses the literal's exact value (`monetary > 499.5` is `monetary >= 500`);
 * a double column is compared with the double nearest the literal. A NaN
 * in a double column is null: every comparison, `in` and `between` is false
 * for it, `!=`, `not in` and `not between` are true (IEEE semantics, and
 * `not` is plain negation). A categorical code with no name (>= the number
 * of names) behaves the same way. `between a and b` is inclusive at both
 * ends; with a > b it is empty. A category name absent from a column's name
 * table matches no customer.
 *
 * Fields come from a ::crm_segment_env: the profile columns
 * (crm_segment_env_bind_profiles()) and any caller column bound by name
 * (numeric arrays of several element types, or categorical codes with a
 * name table), e.g. RFM scores, lifecycle stages and CLV outputs produced
 * by other modules.
 *
 * Membership bitsets are arrays of uint64_t words: customer i is bit
 * (i % 64) of word i / 64; bits past the last customer are zero.
 *
 * Scale-out: membership is per customer, so with customers partitioned
 * (each customer in exactly one partition) every partition evaluates its own
 * rows. Counts and pairwise overlaps are sums over partitions: a
 * ::crm_segment_stats built per partition serialises to a versioned,
 * checksummed blob, and merging partials gives exactly the whole's figures.
 *
 * Thread safety: a compiled program and an environment are immutable after
 * binding and may be shared by threads that evaluate concurrently; binding
 * must not run concurrently with use of the same environment.
 */
#ifndef CRM_SEGMENT_H
#define CRM_SEGMENT_H

#include "common.h"
#include "profiles.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Current version of ::crm_segment_options. */
#define CRM_SEGMENT_OPTIONS_VERSION 1u

/** Default ::crm_segment_options.max_length in bytes. */
#define CRM_SEGMENT_DEFAULT_MAX_LENGTH 65536u
/** Default ::crm_segment_options.max_depth. */
#define CRM_SEGMENT_DEFAULT_MAX_DEPTH 64u
/** Largest accepted ::crm_segment_options.max_length (16 MiB). */
#define CRM_SEGMENT_LIMIT_MAX_LENGTH 16777216u
/** Largest accepted ::crm_segment_options.max_depth. */
#define CRM_SEGMENT_LIMIT_MAX_DEPTH 1000u
/** Longest field or category name in bytes. */
#define CRM_SEGMENT_NAME_MAX 128u

/**
 * @brief Options of crm_segment_compile(). Fill with crm_segment_options_init().
 */
typedef struct crm_segment_options {
    unsigned version;    /**< set by crm_segment_options_init() */
    /** Longest accepted expression in bytes, 1..CRM_SEGMENT_LIMIT_MAX_LENGTH;
     *  default CRM_SEGMENT_DEFAULT_MAX_LENGTH. */
    uint32_t max_length;
    /** Deepest accepted nesting of parentheses and `not`,
     *  1..CRM_SEGMENT_LIMIT_MAX_DEPTH; default CRM_SEGMENT_DEFAULT_MAX_DEPTH. */
    uint32_t max_depth;
} crm_segment_options;

/** Element type of a numeric column: int8_t. */
#define CRM_SEGMENT_I8 1
/** Element type of a numeric column: uint8_t. */
#define CRM_SEGMENT_U8 2
/** Element type of a numeric column: int16_t. */
#define CRM_SEGMENT_I16 3
/** Element type of a numeric column: uint16_t. */
#define CRM_SEGMENT_U16 4
/** Element type of a numeric column: int32_t. */
#define CRM_SEGMENT_I32 5
/** Element type of a numeric column: uint32_t. */
#define CRM_SEGMENT_U32 6
/** Element type of a numeric column: int64_t. */
#define CRM_SEGMENT_I64 7
/** Element type of a numeric column: uint64_t. */
#define CRM_SEGMENT_U64 8
/** Element type of a numeric column: double (NaN = null). */
#define CRM_SEGMENT_F64 9

/** Opaque compiled expression. Free with crm_segment_program_free(). */
typedef struct crm_segment_program crm_segment_program;

/** Opaque set of named columns over one customer table. Free with
 *  crm_segment_env_free(). */
typedef struct crm_segment_env crm_segment_env;

/** Opaque counts and pairwise overlaps of k segments (mergeable partial).
 *  Free with crm_segment_stats_free(). */
typedef struct crm_segment_stats crm_segment_stats;

/**
 * @brief Fill @p opt with defaults for the given struct version.
 * @param[out] opt options to initialise.
 * @param[in] version CRM_SEGMENT_OPTIONS_VERSION (or an older version).
 * @return CRM_OK; CRM_EINVAL if @p opt is NULL; CRM_EVERSION if @p version
 *         is 0 or newer than this library knows.
 */
CRM_API crm_status crm_segment_options_init(crm_segment_options *opt,
                                            unsigned version);

/**
 * @brief Compile an expression into a program.
 *
 * The text is untrusted: any bytes are accepted and either compile or fail
 * with CRM_ERULE, a message "byte N: expected ... but found ..." and the
 * byte offset in @p err_offset. When @p env is given, field names and
 * value types are also checked against it (an unknown field, a string
 * compared with a numeric column, an ordering comparison on a categorical
 * column fail here with the field's offset); a program compiled without an
 * environment is checked when evaluated.
 * @param[out] out receives the program; NULL on failure.
 * @param[in] text expression bytes (need not be NUL-terminated; may be NULL
 *            when @p len is 0).
 * @param[in] len length of @p text in bytes.
 * @param[in] env environment to check names against, or NULL.
 * @param[in] opt options, or NULL for defaults.
 * @param[out] err_offset if not NULL, receives the byte offset of a rule
 *             error (CRM_ERULE), or SIZE_MAX for success or another error.
 * @return CRM_OK; CRM_EINVAL (NULL out, NULL text with len > 0, option out
 *         of range); CRM_EVERSION (bad opt->version); CRM_ERULE (syntax error,
 *         too long, nested too deep, name or type mismatch); CRM_ENOMEM.
 */
CRM_API crm_status crm_segment_compile(crm_segment_program **out,
                                       const char *text, size_t len,
                                       const crm_segment_env *env,
                                       const crm_segment_options *opt,
                                       size_t *err_offset);

/**
 * @brief Free a program. NULL is a no-op.
 * @param[in] prog program or NULL.
 */
CRM_API void crm_segment_program_free(crm_segment_program *prog);

/**
 * @brief Number of comparisons (leaf predicates) in a program; an `in`
 *        list or `between` counts as one.
 * @param[in] prog program (NULL gives 0).
 * @return the count.
 */
CRM_API size_t crm_segment_program_tests(const crm_segment_program *prog);

/**
 * @brief Create an empty environment for a table of @p n customers.
 * @param[out] out receives the environment; NULL on failure.
 * @param[in] n number of customers (rows) every bound column has.
 * @return CRM_OK; CRM_EINVAL (NULL out); CRM_ENOMEM.
 */
CRM_API crm_status crm_segment_env_new(crm_segment_env **out, size_t n);

/**
 * @brief Free an environment (not the columns it borrows). NULL is a no-op.
 * @param[in] env environment or NULL.
 */
CRM_API void crm_segment_env_free(crm_segment_env *env);

/**
 * @brief Number of customers of an environment.
 * @param[in] env environment (NULL gives 0).
 * @return the row count given to crm_segment_env_new().
 */
CRM_API size_t crm_segment_env_count(const crm_segment_env *env);

/**
 * @brief Bind a numeric column under @p name (replacing a column of that
 *        name).
 *
 * The array is borrowed, not copied: it must hold crm_segment_env_count()
 * values in customer order and stay alive and unchanged while the
 * environment is used.
 * @param[in,out] env environment.
 * @param[in] name NUL-terminated field name: an identifier
 *            ([A-Za-z_][A-Za-z0-9_]*, at most CRM_SEGMENT_NAME_MAX bytes),
 *            not a keyword.
 * @param[in] type element type, CRM_SEGMENT_I8 .. CRM_SEGMENT_F64.
 * @param[in] values the column (may be NULL only when the count is 0).
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad name or type);
 *         CRM_ENOMEM. On failure the environment is unchanged.
 */
CRM_API crm_status crm_segment_env_bind(crm_segment_env *env, const char *name,
                                        int type, const void *values);

/**
 * @brief Bind a categorical column: per-customer codes and the names of the
 *        codes (replacing a column of that name).
 *
 * The codes are borrowed (see crm_segment_env_bind()); the names are
 * copied. Code c means names[c]; a code >= @p n_names is null. Names may
 * repeat (a value then matches every code with that name).
 * @param[in,out] env environment.
 * @param[in] name field name (as for crm_segment_env_bind()).
 * @param[in] codes the column (may be NULL only when the count is 0).
 * @param[in] names @p n_names NUL-terminated category names, each at most
 *            CRM_SEGMENT_NAME_MAX bytes (may be NULL when n_names is 0).
 * @param[in] n_names number of names, at most 65536.
 * @return CRM_OK; CRM_EINVAL (NULL argument, bad field name, a NULL or too
 *         long category name, too many names); CRM_ENOMEM. On failure the
 *         environment is unchanged.
 */
CRM_API crm_status crm_segment_env_bind_categorical(crm_segment_env *env,
                                                    const char *name,
                                                    const uint32_t *codes,
                                                    const char *const *names,
                                                    size_t n_names);

/**
 * @brief Bind the profile fields of a table: `customer_id, first_day,
 *        last_day, recency_days, frequency, monetary, tenure_days, gap_avg,
 *        purchase_days` (its columns are borrowed: keep the table alive).
 * @param[in,out] env environment whose count equals crm_profiles_count(p).
 * @param[in] p profile table.
 * @return CRM_OK; CRM_EINVAL (NULL argument, row count mismatch);
 *         CRM_ENOMEM. On failure the environment is unchanged.
 */
CRM_API crm_status crm_segment_env_bind_profiles(crm_segment_env *env,
                                                 const crm_profiles *p);

/**
 * @brief Evaluate a program over an environment into a membership bitset.
 * @param[out] bits caller's array of @p n_words words; receives bit i set for
 *             each member i, bits past the last customer cleared, words past
 *             (count + 63) / 64 untouched. Unchanged on failure.
 * @param[in] n_words length of @p bits, at least (count + 63) / 64.
 * @param[in] prog compiled program.
 * @param[in] env environment binding every field the program names.
 * @return CRM_OK; CRM_EINVAL (NULL argument, @p n_words too small);
 *         CRM_ERULE (unknown field or type mismatch, message names the byte
 *         offset in the expression); CRM_ENOMEM.
 */
CRM_API crm_status crm_segment_eval(uint64_t *bits, size_t n_words,
                                    const crm_segment_program *prog,
                                    const crm_segment_env *env);

/**
 * @brief Number of members of a bitset over @p n customers (bits past @p n
 *        are ignored).
 * @param[in] bits bitset of (n + 63) / 64 words (NULL gives 0).
 * @param[in] n number of customers.
 * @return the member count.
 */
CRM_API uint64_t crm_segment_count(const uint64_t *bits, size_t n);

/**
 * @brief Counts and pairwise overlaps of @p k segments over @p n customers.
 *
 * Cell (i, j) of the k x k matrix is the number of customers in both
 * segment i and segment j; the diagonal holds the segment sizes.
 * @param[out] out receives the statistics; NULL on failure.
 * @param[in] sets @p k bitsets of (n + 63) / 64 words each (bits past @p n
 *            are ignored).
 * @param[in] k number of segments, 1..4096.
 * @param[in] n number of customers.
 * @return CRM_OK; CRM_EINVAL (NULL argument, k out of range); CRM_ENOMEM.
 */
CRM_API crm_status crm_segment_stats_compute(crm_segment_stats **out,
                                             const uint64_t *const *sets,
                                             size_t k, size_t n);

/**
 * @brief Free statistics. NULL is a no-op.
 * @param[in] s statistics or NULL.
 */
CRM_API void crm_segment_stats_free(crm_segment_stats *s);

/**
 * @brief Number of segments k.
 * @param[in] s statistics (NULL gives 0).
 * @return k.
 */
CRM_API size_t crm_segment_stats_segments(const crm_segment_stats *s);

/**
 * @brief Number of customers the statistics cover (summed over merged
 *        partitions).
 * @param[in] s statistics (NULL gives 0).
 * @return the customer count.
 */
CRM_API uint64_t crm_segment_stats_customers(const crm_segment_stats *s);

/**
 * @brief The k x k overlap matrix, row-major, owned by @p s (valid until it
 *        is freed); the diagonal holds the segment sizes.
 * @param[in] s statistics (NULL gives NULL).
 * @return pointer to k * k counts.
 */
CRM_API const uint64_t *crm_segment_stats_matrix(const crm_segment_stats *s);

/**
 * @brief Merge the statistics of two disjoint customer partitions (same k):
 *        the sums, exactly equal to the statistics of the whole.
 * @param[out] out receives the merged statistics; NULL on failure.
 * @param[in] a first partial (not modified).
 * @param[in] b second partial (not modified).
 * @return CRM_OK; CRM_EINVAL (NULL argument, different k); CRM_EOVERFLOW
 *         (a count beyond uint64); CRM_ENOMEM.
 */
CRM_API crm_status crm_segment_stats_merge(crm_segment_stats **out,
                                           const crm_segment_stats *a,
                                           const crm_segment_stats *b);

/**
 * @brief Serialise statistics to a versioned, checksummed byte blob.
 * @param[out] bytes receives the buffer; free it with crm_bytes_free().
 * @param[out] len receives its length in bytes.
 * @param[in] s statistics.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ENOMEM.
 */
CRM_API crm_status crm_segment_stats_serialize(void **bytes, size_t *len,
                                               const crm_segment_stats *s);

/**
 * @brief Load statistics from a blob made by crm_segment_stats_serialize().
 * @param[out] out receives the statistics; NULL on failure.
 * @param[in] bytes the blob.
 * @param[in] len its length.
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ESTATE (truncated,
 *         corrupted or inconsistent blob; message names the byte offset);
 *         CRM_EVERSION (blob format newer than this library); CRM_ENOMEM.
 */
CRM_API crm_status crm_segment_stats_load(crm_segment_stats **out,
                                          const void *bytes, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* CRM_SEGMENT_H */
