/* timer.h: monotonic wall clock, order statistics and peak memory for benchmarks and run logs
 * (STYLE.md "Benchmarks"). */
#ifndef CW_TIMER_H
#define CW_TIMER_H

#include <stdint.h>

double cw_now(void); /* seconds, CLOCK_MONOTONIC */
/* q-quantile (0..1, linear interpolation) of n values; sorts v in place. */
double cw_quantile(double *v, int n, double q);
/* Peak resident set size of this process so far, in bytes (getrusage); -1 if unknown. */
int64_t cw_peak_rss_bytes(void);

#endif
