/* double_build.h: compiles the nn kernels and the CMVAE family in DOUBLE inside the including
 * test (the gradient checks; STYLE.md "Tests" 1). The Makefile links tests against the float
 * library; defining CW_REAL_DOUBLE and #including the .c files here makes `real` double in this
 * translation unit, and since every nn and model symbol is then defined here, no float object of
 * libcauseway.a is pulled in (only core/ and data/ come from it). A new src/nn or model file with
 * a backward is added here once. The checks' constants and comparison: tests/gradcheck.h. */
#ifndef CWT_DOUBLE_BUILD_H
#define CWT_DOUBLE_BUILD_H

#define CW_REAL_DOUBLE
#include "nn/activation.c"
#include "nn/adam.c"
#include "nn/dag.c"
#include "nn/dropout.c"
#include "nn/graph_conv.c"
#include "nn/layernorm.c"
#include "nn/linear.c"
#include "nn/loss.c"
#include "nn/mmd.c"
#include "nn/softmax.c"
#include "nn/vae.c"
#include "models/gnn_encoder.c"
#include "models/interv_encoder.c"
#include "models/pathway_features.c"
#include "models/cmvae.c"

_Static_assert(sizeof(real) == sizeof(double), "the gradient check must be built in double");

#include "gradcheck.h"

#endif
