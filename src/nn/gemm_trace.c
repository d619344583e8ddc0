/* gemm_trace.c: per-shape GEMM totals for a development build (doc/PERFORMANCE.md, "AVX-512
 * kernels for the batch-row GEMMs"). Compiled with -DCW_GEMM_TRACE (`make BUILD=build-trace
 * EXTRA_CFLAGS=-DCW_GEMM_TRACE`), every cw_gemm call is timed (real.h) and added to the row of
 * its shape (transposes, m, n, k); at exit the rows go to stderr, in first-call order: calls,
 * microseconds per call, GFLOP/s. This is how the step's GEMMs were timed inside the step.
 * Without the flag the file is empty. cw_gemm never runs inside a parallel region, so one
 * thread at a time updates the table. */
#ifdef CW_GEMM_TRACE
#include "nn/real.h"

#include <stdio.h>
#include <stdlib.h>

#define TRACE_ROWS 256

static struct {
    int ta, tb;
    int64_t m, n, k, calls;
    double sec;
} rows[TRACE_ROWS];
static int nrows;
static int64_t lost; /* calls of shapes past the table's end */

static void trace_print(void) {
    for (int i = 0; i < nrows; i++)
        fprintf(stderr,
                "gemm %d%d m %5lld n %5lld k %5lld  calls %8lld  us/call %9.2f  GFLOP/s %7.1f\n",
                rows[i].ta, rows[i].tb, (long long)rows[i].m, (long long)rows[i].n,
                (long long)rows[i].k, (long long)rows[i].calls,
                rows[i].sec / (double)rows[i].calls * 1e6,
                2.0 * (double)(rows[i].m * rows[i].n * rows[i].k) * (double)rows[i].calls /
                    rows[i].sec * 1e-9);
    if (lost) fprintf(stderr, "gemm: %lld calls of further shapes not shown\n", (long long)lost);
}

void cw_gemm_trace(int ta, int tb, int64_t m, int64_t n, int64_t k, double sec) {
    for (int i = 0; i < nrows; i++)
        if (rows[i].ta == ta && rows[i].tb == tb && rows[i].m == m && rows[i].n == n &&
            rows[i].k == k) {
            rows[i].sec += sec;
            rows[i].calls++;
            return;
        }
    if (nrows == TRACE_ROWS) {
        lost++;
        return;
    }
    if (nrows == 0) atexit(trace_print);
    rows[nrows].ta = ta, rows[nrows].tb = tb, rows[nrows].m = m, rows[nrows].n = n;
    rows[nrows].k = k, rows[nrows].sec = sec, rows[nrows].calls = 1;
    nrows++;
}
#else
typedef int cw_gemm_trace_unused; /* ISO C: no empty translation unit */
#endif
