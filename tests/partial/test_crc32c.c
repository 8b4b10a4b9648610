/* CRC-32C: the table-driven path and the dispatching entry point (the
 * crc32 instruction where the CPU has SSE4.2) against the bit-by-bit
 * definition, for every length 0..300 at every alignment 0..7, and chained
 * over split buffers. */
#include "../testutil.h"

#include <string.h>

#include "core/core.h"
#include "blobutil.h"

uint32_t crm__crc32c_tables(uint32_t crc, const unsigned char *p, size_t len);

static void known_value(void **state)
{
    (void)state;
    const unsigned char check[] = "123456789";
    assert_int_equal(~crm__crc32c_tables(~0u, check, 9), 0xE3069283u);
    assert_int_equal(crm__crc32c(0, check, 9), 0xE3069283u);
}

static void every_length_and_alignment(void **state)
{
    (void)state;
    unsigned char buf[320];
    test_rng g = { 17 };
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)test_rng_next(&g);
    for (size_t align = 0; align < 8; align++)
        for (size_t len = 0; len + align <= 300; len++) {
            uint32_t want = blob_crc32c(buf + align, len);
            assert_int_equal(~crm__crc32c_tables(~0u, buf + align, len), want);
            assert_int_equal(crm__crc32c(0, buf + align, len), want);
            size_t cut = len / 3;
            assert_int_equal(crm__crc32c(crm__crc32c(0, buf + align, cut), buf + align + cut,
                                         len - cut),
                             want);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_value),
        cmocka_unit_test(every_length_and_alignment),
    };
    return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
