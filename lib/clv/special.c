/* Log-gamma and digamma for positive arguments (libm's lgamma writes the
 * global signgam, which is not reentrant; libm has no digamma). Asymptotic
 * series at y >= 10 after the recurrence shift: about 1e-16 relative. */
#include "clv/clv_internal.h"

#define HALF_LN_2PI 0.91893853320467274178

double crm__clv_lgamma(double x)
{
    if (!(x > 0.0))
        return x == 0.0 ? INFINITY : NAN;
    if (x == INFINITY)
        return INFINITY;
    double shift = 0.0;
    if (x < 10.0) {
        double prod = 1.0;
        while (x < 10.0) {
            prod *= x;
            x += 1.0;
        }
        shift = log(prod);
    }
    double y = 1.0 / x, y2 = y * y;
    double s = y * (1.0 / 12 + y2 * (-1.0 / 360 + y2 * (1.0 / 1260 + y2 * (-1.0 / 1680
            + y2 * (1.0 / 1188 + y2 * (-691.0 / 360360 + y2 * (1.0 / 156)))))));
    return (x - 0.5) * log(x) - x + HALF_LN_2PI + s - shift;
}

double crm__clv_digamma(double x)
{
    if (!(x > 0.0))
        return NAN;
    if (x == INFINITY)
        return INFINITY;
    double acc = 0.0;
    while (x < 10.0) {
        acc -= 1.0 / x;
        x += 1.0;
    }
    double y2 = 1.0 / (x * x);
    double s = y2 * (1.0 / 12 - y2 * (1.0 / 120 - y2 * (1.0 / 252 - y2 * (1.0 / 240
            - y2 * (1.0 / 132 - y2 * (691.0 / 32760 - y2 * (1.0 / 12)))))));
    return acc + log(x) - 0.5 / x - s;
}
