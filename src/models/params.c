/* params.c: layout and lifetime of the flat parameter buffer (params.h). */
#include "models/params.h"

#include "core/alloc.h"
#include "core/status.h"

#include <string.h>

void cw_params_free(cw_param_table *t) {
    cw_free(t->names);
    cw_free(t->rows);
    cw_free(t->cols);
    cw_free(t->offset);
    cw_free(t->params); /* owns all four blocks */
    memset(t, 0, sizeof *t);
}

cw_status cw_params_init(cw_param_table *t, const cw_param_spec *specs, int n) {
    memset(t, 0, sizeof *t);
    if (n <= 0) return cw_fail(CW_EINVAL, "parameter table: no tensors");
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!specs[i].name || !specs[i].name[0] || strlen(specs[i].name) >= CW_PARAM_NAME_MAX)
            return cw_fail(CW_EINVAL, "parameter table: tensor %d: name empty or longer than %d",
                           i, CW_PARAM_NAME_MAX - 1);
        if (specs[i].rows <= 0 || specs[i].cols <= 0)
            return cw_fail(CW_EINVAL, "parameter table: %s: shape %lld x %lld", specs[i].name,
                           (long long)specs[i].rows, (long long)specs[i].cols);
        for (int j = 0; j < i; j++)
            if (strcmp(specs[i].name, specs[j].name) == 0)
                return cw_fail(CW_EINVAL, "parameter table: %s declared twice", specs[i].name);
        total += specs[i].rows * specs[i].cols;
    }
    t->names = cw_calloc((size_t)n, sizeof *t->names);
    t->rows = cw_calloc((size_t)n, sizeof(int64_t));
    t->cols = cw_calloc((size_t)n, sizeof(int64_t));
    t->offset = cw_calloc((size_t)n, sizeof(int64_t));
    t->params = cw_calloc((size_t)total, 4 * sizeof(float));
    if (!t->names || !t->rows || !t->cols || !t->offset || !t->params) {
        cw_params_free(t);
        return cw_fail(CW_ENOMEM, "out of memory for %lld parameters", (long long)total);
    }
    t->n = n;
    t->total = total;
    t->grads = t->params + total;
    t->m = t->grads + total;
    t->v = t->m + total;
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(t->names[i], specs[i].name, strlen(specs[i].name) + 1);
        t->rows[i] = specs[i].rows;
        t->cols[i] = specs[i].cols;
        t->offset[i] = off;
        off += specs[i].rows * specs[i].cols;
    }
    return CW_OK;
}

int cw_params_find(const cw_param_table *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->names[i], name) == 0) return i;
    return -1;
}

void cw_params_zero_grad(cw_param_table *t) {
    memset(t->grads, 0, (size_t)t->total * sizeof(float));
}

int cw_params_same_layout(const cw_param_table *a, const cw_param_table *b) {
    if (a->n != b->n || a->total != b->total) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i]) || a->rows[i] != b->rows[i] || a->cols[i] != b->cols[i])
            return 0;
    return 1;
}
