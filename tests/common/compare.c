#include <math.h>
#include <stdio.h>

#include "testutil.h"

long compare_floats(const float *ref, const float *got, size_t n, float tol_abs, float tol_rel,
                    double *nmse, char *msg, size_t msg_size)
{
    double num = 0.0, den = 0.0, worst_excess = 0.0;
    long worst = -1;
    for (size_t i = 0; i < n; i++) {
        const float a = ref[i], b = got[i];
        if (isnan(a) && isnan(b)) continue;
        if (isinf(a) && isinf(b) && (a > 0) == (b > 0)) continue;
        const double d = fabs((double)a - (double)b);
        num += d * d;
        den += (double)a * (double)a;
        const double lim = (double)tol_abs + (double)tol_rel * fabs((double)a);
        if (!(d <= lim)) {
            const double excess = isnan(d) ? INFINITY : d - lim;
            if (worst < 0 || excess > worst_excess) {
                worst = (long)i;
                worst_excess = excess;
            }
        }
    }
    if (nmse) *nmse = den > 0 ? num / den : num;
    if (msg && msg_size) {
        if (worst >= 0)
            snprintf(msg, msg_size, "worst index %ld: ref %.9g got %.9g (tol %g + %g*|ref|)",
                     worst, (double)ref[worst], (double)got[worst], (double)tol_abs,
                     (double)tol_rel);
        else
            msg[0] = 0;
    }
    return worst;
}
