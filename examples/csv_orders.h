/* Reading orders from CSV for the examples: header `customer_id,ts,amount`,
 * ts in Unix seconds UTC, amount in integer minor units (cents). */
#ifndef CRM_EXAMPLES_CSV_ORDERS_H
#define CRM_EXAMPLES_CSV_ORDERS_H

#include <stddef.h>

#include "crm/crm.h"

/* Read the file into a malloc()ed array (*n records). On error returns NULL
 * and writes a message naming the line into err. */
crm_order *csv_read_orders(const char *path, size_t *n, char *err, size_t errlen);

/* Parse YYYY-MM-DD into a day number; -1 when malformed. */
long long csv_parse_day(const char *s);

#endif
