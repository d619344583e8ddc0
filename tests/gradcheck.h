/* gradcheck.h: the finite-difference gradient check shared by the double-build tests
 * (tests/double_build.h, tests/double_build_crl.h include it; STYLE.md "Tests" 1). Central
 * differences with step GC_H; per element rel = |an - num| / max(|an| + |num|, floor), floor
 * GC_FLOOR unless the test scales it; a tensor passes when its worst rel < GC_TOL. Gradient
 * buffers are prefilled with GC_PREFILL (and the analytic gradient is grad - GC_PREFILL), so a
 * backward that assigns instead of accumulating fails. Needs `real` defined (double). */
#ifndef CWT_GRADCHECK_H
#define CWT_GRADCHECK_H

#include <math.h>
#include <stdint.h>

#define GC_H 1e-5
#define GC_TOL 1e-6
#define GC_FLOOR 1e-4
#define GC_PREFILL 0.25

typedef double (*gc_objective)(void *ctx);

typedef struct {
    double worst;    /* worst rel (NaN counts as worst) */
    int64_t i;       /* its element */
    double an, num;  /* its analytic and numeric gradients */
    double max_abs;  /* largest |an - num| over the elements */
} gc_result;

/* Compares (grad - GC_PREFILL) with central differences of f with respect to each element of x
 * (perturbed in place and restored), n elements, rel floor `floor_`. */
static inline gc_result gc_compare(gc_objective f, void *ctx, real *x, const real *grad,
                                   int64_t n, double floor_) {
    gc_result r = {0, 0, 0, 0, 0};
    for (int64_t i = 0; i < n; i++) {
        const real save = x[i];
        x[i] = save + GC_H;
        const double fp = f(ctx);
        x[i] = save - GC_H;
        const double fm = f(ctx);
        x[i] = save;
        const double num = (fp - fm) / (2 * GC_H);
        const double an = grad[i] - GC_PREFILL;
        const double rel = fabs(an - num) / fmax(fabs(an) + fabs(num), floor_);
        if (fabs(an - num) > r.max_abs) r.max_abs = fabs(an - num);
        if (!(rel <= r.worst)) r.worst = rel, r.i = i, r.an = an, r.num = num;
    }
    return r;
}

#endif
