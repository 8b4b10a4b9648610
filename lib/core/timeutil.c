/* Civil-calendar conversions (proleptic Gregorian, UTC days since 1970). */
#include "core/core.h"

/* The well-known era-based algorithm (400-year cycles of 146097 days). */
void crm__civil_from_days(int64_t day, int32_t *year, int32_t *month, int32_t *mday)
{
    int64_t z = day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                 /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);          /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                               /* [0, 11] */
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int32_t)(yoe + era * 400 + (m <= 2));
    *month = (int32_t)m;
    *mday = (int32_t)d;
}

int64_t crm__days_from_civil(int32_t year, int32_t month, int32_t mday)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = month > 2 ? month - 3 : month + 9;
    int64_t doy = (153 * mp + 2) / 5 + mday - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int32_t crm__month_of_day(int64_t day)
{
    int32_t y, m, d;
    crm__civil_from_days(day, &y, &m, &d);
    return (y - 1970) * 12 + (m - 1);
}
