/* params.h: the flat parameter buffer of a model (STYLE.md "Memory and errors", llm.c style).
 *
 * A model declares its tensors once as a {name, rows, cols} table; one allocation holds, in
 * this order, the parameters, their gradients and Adam's first and second moments, each a
 * contiguous block of `total` floats with the same layout. So zeroing gradients is one memset,
 * a checkpoint is one write per block, and a data-parallel all-reduce is one call.
 */
#ifndef CW_PARAMS_H
#define CW_PARAMS_H

#include "causeway.h"

#include <stdint.h>

#define CW_PARAM_NAME_MAX 48

typedef struct {
    const char *name;
    int64_t rows, cols; /* a vector is rows x 1 */
} cw_param_spec;

typedef struct {
    int n;
    char (*names)[CW_PARAM_NAME_MAX];
    int64_t *rows, *cols, *offset; /* n each; offset into every block */
    int64_t total;                 /* floats per block */
    float *params, *grads, *m, *v; /* 4 blocks of one allocation */
} cw_param_table;

/* Lays out the table; every block zeroed. Names must be unique and shorter than
 * CW_PARAM_NAME_MAX; sizes positive. */
cw_status cw_params_init(cw_param_table *t, const cw_param_spec *specs, int n);
void cw_params_free(cw_param_table *t);
/* Index of a tensor by name, or -1. */
int cw_params_find(const cw_param_table *t, const char *name);
static inline float *cw_param(const cw_param_table *t, int i) { return t->params + t->offset[i]; }
static inline float *cw_grad(const cw_param_table *t, int i) { return t->grads + t->offset[i]; }
void cw_params_zero_grad(cw_param_table *t);
/* 1 when a and b have the same names and shapes in the same order. */
int cw_params_same_layout(const cw_param_table *a, const cw_param_table *b);

#endif
