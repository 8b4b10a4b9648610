#include "csv_orders.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_line(char *line, crm_order *o)
{
    char *end;
    errno = 0;
    unsigned long long id = strtoull(line, &end, 10);
    if (end == line || *end != ',' || errno)
        return -1;
    char *p = end + 1;
    long long ts = strtoll(p, &end, 10);
    if (end == p || *end != ',' || errno)
        return -1;
    p = end + 1;
    long long amount = strtoll(p, &end, 10);
    if (end == p || errno)
        return -1;
    while (*end == '\r' || *end == '\n' || *end == ' ')
        end++;
    if (*end)
        return -1;
    *o = (crm_order){ (uint64_t)id, (int64_t)ts, (int64_t)amount };
    return 0;
}

crm_order *csv_read_orders(const char *path, size_t *n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1024, count = 0, line_no = 0;
    crm_order *o = malloc(cap * sizeof *o);
    char line[256];
    while (o && fgets(line, sizeof line, f)) {
        line_no++;
        if (line_no == 1 && strncmp(line, "customer_id", 11) == 0)
            continue; /* header */
        if (line[0] == '\n' || line[0] == '\r')
            continue;
        if (count == cap) {
            crm_order *grown = realloc(o, 2 * cap * sizeof *o);
            if (!grown) {
                free(o);
                o = NULL;
                break;
            }
            o = grown;
            cap *= 2;
        }
        if (parse_line(line, &o[count])) {
            snprintf(err, errlen, "%s:%zu: expected customer_id,ts,amount (integers), got: %.60s",
                     path, line_no, line);
            free(o);
            fclose(f);
            return NULL;
        }
        count++;
    }
    fclose(f);
    if (!o) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    *n = count;
    return o;
}

long long csv_parse_day(const char *s)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    long long yy = y - (m <= 2);
    long long era = (yy >= 0 ? yy : yy - 399) / 400;
    long long yoe = yy - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}
