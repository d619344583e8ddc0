/* timer.c: CLOCK_MONOTONIC timing, quantiles and peak RSS (timer.h). */
#include "core/timer.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

double cw_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cw_quantile(double *v, int n, double q) {
    if (n <= 0) return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = q * (double)(n - 1);
    int i = (int)pos;
    if (i >= n - 1) return v[n - 1];
    double f = pos - (double)i;
    return v[i] * (1.0 - f) + v[i + 1] * f;
}

int64_t cw_peak_rss_bytes(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return -1;
    return (int64_t)u.ru_maxrss * 1024; /* Linux reports kilobytes */
}
