/* timer.h: monotonic wall clock and order statistics for benchmarks (STYLE.md "Benchmarks"). */
#ifndef CW_TIMER_H
#define CW_TIMER_H

#include <stdint.h>

double cw_now(void); /* seconds, CLOCK_MONOTONIC */
/* q-quantile (0..1, linear interpolation) of n values; sorts v in place. */
double cw_quantile(double *v, int n, double q);

#endif
