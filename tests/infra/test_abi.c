/*
 * ABI pins (style C9, C11): sizes and member offsets of every public struct,
 * values of every public enum and constant, and the version numbers. These
 * values are the ABI of libcrm.so.1: a failure here means an incompatible
 * change, unless a test for a new, appended member is added. Enum values are
 * checked only here (abidiff cannot see them: crm_status is a plain int).
 * Built against the real shared library (libcrm_dep).
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h" /* cmocka, crm/crm.h, ARRAY_LEN */

#ifndef CRM_EXPECT_VERSION
#error "meson passes CRM_EXPECT_VERSION (meson.project_version())"
#endif

/* Compile-time pins of the frozen input record. */
_Static_assert(sizeof(crm_order) == 24, "crm_order is frozen at 24 bytes");
_Static_assert(offsetof(crm_order, customer_id) == 0, "crm_order.customer_id");
_Static_assert(offsetof(crm_order, ts) == 8, "crm_order.ts");
_Static_assert(offsetof(crm_order, amount) == 16, "crm_order.amount");

static void order_layout(void **state)
{
    (void)state;
    assert_int_equal(sizeof(crm_order), 24);
    assert_int_equal(_Alignof(crm_order), 8);
    assert_int_equal(offsetof(crm_order, customer_id), 0);
    assert_int_equal(offsetof(crm_order, ts), 8);
    assert_int_equal(offsetof(crm_order, amount), 16);
    assert_int_equal(sizeof(((crm_order *)0)->customer_id), 8);
    assert_int_equal(sizeof(((crm_order *)0)->ts), 8);
    assert_int_equal(sizeof(((crm_order *)0)->amount), 8);
}

static void allocator_layout(void **state)
{
    (void)state;
    const size_t ptr = sizeof(void *);
    assert_int_equal(sizeof(crm_allocator), 4 * ptr);
    assert_int_equal(offsetof(crm_allocator, malloc_fn), 0);
    assert_int_equal(offsetof(crm_allocator, realloc_fn), 1 * ptr);
    assert_int_equal(offsetof(crm_allocator, free_fn), 2 * ptr);
    assert_int_equal(offsetof(crm_allocator, ctx), 3 * ptr);
}

static void profiles_options_layout(void **state)
{
    (void)state;
    /* Versioned options: members may only be appended (docs/ABI.md). */
    assert_int_equal(CRM_PROFILES_OPTIONS_VERSION, 1);
    assert_int_equal(offsetof(crm_profiles_options, version), 0);
    assert_int_equal(sizeof(((crm_profiles_options *)0)->version), sizeof(unsigned));
    assert_int_equal(offsetof(crm_profiles_options, mergeable), 4);
    assert_int_equal(sizeof(((crm_profiles_options *)0)->mergeable), 4);
    assert_int_equal(sizeof(crm_profiles_options), 8); /* version 1 */
}

static void population_summary_layout(void **state)
{
    (void)state;
    assert_int_equal(CRM_POPULATION_SUMMARY_VERSION, 1);
    assert_int_equal(offsetof(crm_population_summary, version), 0);
    assert_int_equal(offsetof(crm_population_summary, valid), 4);
    assert_int_equal(offsetof(crm_population_summary, customers), 8);
    assert_int_equal(offsetof(crm_population_summary, orders), 16);
    assert_int_equal(offsetof(crm_population_summary, revenue), 24);
    assert_int_equal(offsetof(crm_population_summary, arpu), 32);
    assert_int_equal(offsetof(crm_population_summary, mean_frequency), 40);
    assert_int_equal(offsetof(crm_population_summary, average_check), 48);
    assert_int_equal(offsetof(crm_population_summary, mean_lifetime), 56);
    assert_int_equal(offsetof(crm_population_summary, repeaters), 64);
    assert_int_equal(sizeof(crm_population_summary), 72); /* version 1 */
    assert_int_equal(CRM_SUMMARY_HAS_ARPU, 1);
    assert_int_equal(CRM_SUMMARY_HAS_MEAN_FREQUENCY, 2);
    assert_int_equal(CRM_SUMMARY_HAS_AVERAGE_CHECK, 4);
    assert_int_equal(CRM_SUMMARY_HAS_MEAN_LIFETIME, 8);
}

static void status_codes(void **state)
{
    (void)state;
    /* Frozen: a retired code is never reused, new codes are appended. */
    assert_int_equal(sizeof(crm_status), sizeof(int));
    assert_int_equal(CRM_OK, 0);
    assert_int_equal(CRM_EINVAL, 1);
    assert_int_equal(CRM_ENOMEM, 2);
    assert_int_equal(CRM_EVERSION, 3);
    assert_int_equal(CRM_EOVERFLOW, 4);
    assert_int_equal(CRM_EDATA, 5);
    assert_int_equal(CRM_ESTATE, 6);
    assert_int_equal(CRM_ERULE, 7);
    /* Every code has its own name; unknown values get a fallback. */
    for (int s = CRM_OK; s <= CRM_ERULE; s++) {
        const char *msg = crm_status_str(s);
        assert_non_null(msg);
        assert_true(msg[0] != '\0');
        for (int t = CRM_OK; t < s; t++)
            assert_string_not_equal(msg, crm_status_str(t));
    }
    assert_non_null(crm_status_str(-1));
    assert_non_null(crm_status_str(INT_MAX));
}

static void time_limits(void **state)
{
    (void)state;
    assert_true(CRM_TS_MAX == INT64_C(32535215999)); /* 3000-12-31T23:59:59Z */
    assert_true(CRM_DAY_MAX == INT64_C(376564));
    assert_true(CRM_DAY_MAX == CRM_TS_MAX / 86400);
}

static void struct_ids(void **state)
{
    (void)state;
    assert_int_equal(CRM_STRUCT_ORDER, 1);
    assert_int_equal(CRM_STRUCT_ALLOCATOR, 2);
    assert_int_equal(CRM_STRUCT_PROFILES_OPTIONS, 3);
    assert_int_equal(CRM_STRUCT_POPULATION_SUMMARY, 4);
}

/* crm_struct_size() agrees with this compiler's view of every public struct:
 * what the Python binding relies on at import. */
static const struct {
    const char *name;
    int id;
    size_t size;
} struct_sizes[] = {
    {"crm_order", CRM_STRUCT_ORDER, sizeof(crm_order)},
    {"crm_allocator", CRM_STRUCT_ALLOCATOR, sizeof(crm_allocator)},
    {"crm_profiles_options", CRM_STRUCT_PROFILES_OPTIONS, sizeof(crm_profiles_options)},
    {"crm_population_summary", CRM_STRUCT_POPULATION_SUMMARY, sizeof(crm_population_summary)},
};

static void struct_size_known(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(struct_sizes); i++) {
        size_t got = crm_struct_size(struct_sizes[i].id);
        if (got != struct_sizes[i].size)
            fail_msg("crm_struct_size(%d) [%s] = %zu, sizeof = %zu", struct_sizes[i].id,
                     struct_sizes[i].name, got, struct_sizes[i].size);
    }
}

static void struct_size_unknown(void **state)
{
    (void)state;
    const int unknown[] = {0, -1, -100, INT_MIN, INT_MAX, 1000000};
    for (size_t i = 0; i < ARRAY_LEN(unknown); i++)
        if (crm_struct_size(unknown[i]) != 0)
            fail_msg("crm_struct_size(%d) = %zu, want 0", unknown[i],
                     crm_struct_size(unknown[i]));
}

static void version_matches_project(void **state)
{
    (void)state;
    /* Header macros == meson.project_version() == the loaded library. */
    assert_int_equal(CRM_VERSION_MAJOR, CRM_EXPECT_MAJOR);
    assert_int_equal(CRM_VERSION_MINOR, CRM_EXPECT_MINOR);
    assert_int_equal(CRM_VERSION_PATCH, CRM_EXPECT_PATCH);
    assert_int_equal(CRM_VERSION_NUMBER,
                     CRM_EXPECT_MAJOR * 10000 + CRM_EXPECT_MINOR * 100 + CRM_EXPECT_PATCH);
    assert_int_equal(crm_version_number(), CRM_VERSION_NUMBER);
    assert_non_null(crm_version_string());
    assert_string_equal(crm_version_string(), CRM_EXPECT_VERSION);
    /* SONAME 1 for every 1.x.y (docs/ABI.md). */
    assert_int_equal(crm_version_number() / 10000, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_layout),
        cmocka_unit_test(allocator_layout),
        cmocka_unit_test(profiles_options_layout),
        cmocka_unit_test(population_summary_layout),
        cmocka_unit_test(status_codes),
        cmocka_unit_test(time_limits),
        cmocka_unit_test(struct_ids),
        cmocka_unit_test(struct_size_known),
        cmocka_unit_test(struct_size_unknown),
        cmocka_unit_test(version_matches_project),
    };
    return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
