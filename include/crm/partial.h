/**
 * @file partial.h
 * @brief Partial aggregates as bytes, for running libcrm over partitioned
 *        data (Dask, Spark, several machines): build per partition,
 *        serialise, ship, load, merge, finalise.
 *
 * A profile table built with ::crm_profiles_options.mergeable set is the
 * partial form of the profiles of a partition: crm_profiles_serialize() turns
 * it into a self-describing byte string (magic, kind, format version, length,
 * CRC-32C), crm_profiles_deserialize() loads it back on any host (the bytes
 * are little-endian whatever the host), and crm_profiles_merge() combines
 * loaded partials exactly. A plain (not mergeable) table serialises too, for
 * caching a final table or combining customer-disjoint partitions.
 *
 * Loading never trusts the bytes: truncated, corrupted or inconsistent input
 * is refused with ::CRM_ESTATE and a message naming the byte offset or row;
 * bytes written by a newer libcrm in a format this one does not know are
 * refused with ::CRM_EVERSION. See docs/partial.md for the format and the
 * bytes per customer a partial costs.
 *
 * Thread safety: all functions are reentrant; a table may be serialised by
 * several threads at once.
 */
#ifndef CRM_PARTIAL_H
#define CRM_PARTIAL_H

#include "common.h"
#include "profiles.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Format version of profile tables written by this library; it reads 1..this. */
#define CRM_PROFILES_BLOB_VERSION 1u

/**
 * @brief Serialise a profile table to bytes.
 *
 * The bytes hold every stored column and, for a mergeable table, the day
 * lists and refund-only customers a later merge needs, so
 * crm_profiles_deserialize() gives back a table equal to @p p (columns,
 * summary, mergeability).
 * @param[out] out receives the bytes (free with crm_bytes_free()); NULL on
 *        failure.
 * @param[out] out_len receives their length; 0 on failure.
 * @param[in] p table (not modified).
 * @return CRM_OK; CRM_EINVAL (NULL argument); CRM_ENOMEM; CRM_EOVERFLOW
 *         (size beyond size_t).
 */
CRM_API crm_status crm_profiles_serialize(void **out, size_t *out_len,
                                          const crm_profiles *p);

/**
 * @brief Load a profile table from bytes written by crm_profiles_serialize().
 *
 * Every invariant of a built table is checked (ascending customer ids, days
 * in 0..asof, counts that agree with each other), so the loaded table may be
 * merged and read like a built one.
 * @param[out] out receives the table (free with crm_profiles_free()); NULL
 *        on failure.
 * @param[in] data the bytes (not modified; need no alignment).
 * @param[in] len number of bytes.
 * @return CRM_OK; CRM_EINVAL (NULL out or data); CRM_ESTATE (truncated, not
 *         a profiles blob, checksum mismatch, trailing bytes, inconsistent
 *         content; the message names the byte offset or row); CRM_EVERSION
 *         (written in a newer format version than CRM_PROFILES_BLOB_VERSION);
 *         CRM_EOVERFLOW (total revenue beyond int64); CRM_ENOMEM.
 */
CRM_API crm_status crm_profiles_deserialize(crm_profiles **out, const void *data,
                                            size_t len);

/**
 * @brief Merge the tables of customer-disjoint partitions (no customer has
 *        rows in two of them), which need not be built mergeable.
 *
 * The fast path of scale-out when the data is partitioned by customer (id
 * ranges, or a hash of the id): a plain table is cheaper to build and ship
 * than a mergeable one, and this merge only interleaves rows, in one pass
 * over all @p k tables. When every table is mergeable it is an exact merge
 * as crm_profiles_merge() (for any overlap) and the result is mergeable;
 * otherwise the result is a plain table. The caller vouches that the
 * partitions are customer-disjoint: a customer with a profile in two tables
 * is detected and refused, but one whose rows in a partition are all
 * refunds leaves no trace in a plain table, so its money would be missing.
 * @param[out] out receives the merged table; NULL on failure.
 * @param[in] parts @p k tables (not modified), all with the same asof.
 * @param[in] k number of tables, >= 1.
 * @return CRM_OK; CRM_EINVAL (NULL argument or table, k == 0, different
 *         asof, a customer in two tables: the message names it);
 *         CRM_EOVERFLOW (row count, a sum, or total revenue); CRM_ENOMEM.
 */
CRM_API crm_status crm_profiles_merge_disjoint(crm_profiles **out,
                                               const crm_profiles *const *parts,
                                               size_t k);

#ifdef __cplusplus
}
#endif

#endif /* CRM_PARTIAL_H */
