/* double_build_crl.h: compiles the nn kernels used by the CRL score networks and the networks
 * themselves (src/crl/score_ssm.c, score_ldr.c; spec score_crl_and_temporal.md §A3.2, §A3.3)
 * in DOUBLE inside the including test, the way tests/double_build.h does for the CMVAE family:
 * with CW_REAL_DOUBLE defined and the .c files #included, every nn and score-network symbol is
 * defined in the test's translation unit, so the float members of libcauseway.a are not linked
 * (the Gaussian estimator and LAPACK wrappers, double anyway, still come from the library).
 * The checks' constants and comparison: tests/gradcheck.h, as for double_build.h. */
#ifndef CWT_DOUBLE_BUILD_CRL_H
#define CWT_DOUBLE_BUILD_CRL_H

#define CW_REAL_DOUBLE
#include "nn/activation.c"
#include "nn/adam.c"
#include "nn/linear.c"
#include "crl/score_ldr.c"
#include "crl/score_ssm.c"

_Static_assert(sizeof(real) == sizeof(double), "the gradient check must be built in double");

#include "gradcheck.h"

#endif
