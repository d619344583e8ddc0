/* double_build.h: compiles the nn kernels and the CMVAE family in DOUBLE inside the including
 * test (the gradient checks; STYLE.md "Tests" 1). The Makefile links tests against the float
 * library; defining CW_REAL_DOUBLE and #including the .c files here makes `real` double in this
 * translation unit, and since every nn and model symbol is then defined here, no float object of
 * libcauseway.a is pulled in (only core/ and data/ come from it). A new src/nn or model file with
 * a backward is added here once. Also the checks' shared constants: central differences with
 * step GC_H, per-tensor tolerance GC_TOL on |an - num| / max(|an| + |num|, GC_FLOOR), gradient
 * buffers prefilled with GC_PREFILL so a backward that assigns instead of accumulating fails. */
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

#define GC_H 1e-5
#define GC_TOL 1e-6
#define GC_FLOOR 1e-4
#define GC_PREFILL 0.25

#endif
