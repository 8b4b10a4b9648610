/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing by 1. */
#include <threads.h>

#include "core/core.h"

static uint32_t table[256];
static once_flag table_once = ONCE_FLAG_INIT;

static void build_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ UINT32_C(0x82F63B78) : c >> 1;
        table[i] = c;
    }
}

uint32_t crm__crc32c(uint32_t crc, const void *buf, size_t len)
{
    call_once(&table_once, build_table);
    const unsigned char *p = buf;
    crc = ~crc;
    while (len--)
        crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
