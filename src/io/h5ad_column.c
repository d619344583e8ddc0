/* h5ad_column.c: obs/var columns and the DEG table containers of h5ad.h (constructors, free).
 *
 * Implements the column part of issue #2 items 2-3. Conventions: a categorical column keeps
 * values, categories and codes consistent (values.s[i] == categories.s[codes[i]], NULL for
 * code -1); categories built here are the sorted unique non-missing values (byte order, as
 * pandas sorts str categories). Every constructor leaves *out zeroed on failure.
 */
#include "io/h5ad.h"

#include "core/alloc.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

void cw_column_free(cw_column *c) {
    if (!c) return;
    cw_free(c->name);
    cw_strings_free(&c->values);
    cw_strings_free(&c->categories);
    cw_free(c->codes);
    cw_free(c->num);
    memset(c, 0, sizeof *c);
}

static int cw_strp_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

cw_status cw_column_categorical(cw_column *out, const char *name, const cw_strings *values) {
    memset(out, 0, sizeof *out);
    int64_t n = values->n, m = 0;
    const char **sorted = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof *sorted);
    cw_status st = CW_OK;
    out->name = cw_strdup(name ? name : "");
    out->codes = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof *out->codes);
    if (!sorted || !out->name || !out->codes) {
        st = cw_fail(CW_ENOMEM, "column %s: out of memory for %lld values", name ? name : "",
                     (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (values->s[i]) sorted[m++] = values->s[i];
    qsort(sorted, (size_t)m, sizeof *sorted, cw_strp_cmp);
    int64_t u = 0;
    for (int64_t i = 0; i < m; i++)
        if (u == 0 || strcmp(sorted[u - 1], sorted[i]) != 0) sorted[u++] = sorted[i];
    if (u > INT32_MAX) {
        st = cw_fail(CW_EINVAL, "column %s: %lld categories do not fit int32 codes", name,
                     (long long)u);
        goto done;
    }
    st = cw_strings_alloc(&out->categories, u);
    for (int64_t i = 0; st == CW_OK && i < u; i++)
        st = cw_strings_set(&out->categories, i, sorted[i]);
    if (st == CW_OK) st = cw_strings_alloc(&out->values, n);
    for (int64_t i = 0; st == CW_OK && i < n; i++) {
        const char *v = values->s[i];
        out->codes[i] = -1;
        if (!v) continue;
        int64_t lo = 0, hi = u; /* binary search in the sorted categories */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (strcmp(sorted[mid], v) < 0) lo = mid + 1;
            else hi = mid;
        }
        out->codes[i] = (int32_t)lo;
        st = cw_strings_set(&out->values, i, v);
    }
    if (st == CW_OK) {
        out->kind = CW_COL_STRING;
        out->n = n;
        out->is_categorical = 1;
    }
done:
    cw_free(sorted);
    if (st != CW_OK) cw_column_free(out);
    return st;
}

cw_status cw_column_numeric(cw_column *out, const char *name, const double *v, int64_t n,
                            int is_integer) {
    memset(out, 0, sizeof *out);
    out->name = cw_strdup(name ? name : "");
    out->num = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!out->name || !out->num) {
        cw_column_free(out);
        return cw_fail(CW_ENOMEM, "column %s: out of memory for %lld values", name ? name : "",
                       (long long)n);
    }
    if (n > 0) memcpy(out->num, v, (size_t)n * sizeof(double));
    out->kind = CW_COL_NUMERIC;
    out->n = n;
    out->is_integer = is_integer != 0;
    return CW_OK;
}

void cw_deg_table_free(cw_deg_table *t) {
    if (!t) return;
    cw_strings_free(&t->groups);
    cw_strings_free(&t->names);
    cw_free(t->scores);
    cw_free(t->pvals);
    cw_free(t->pvals_adj);
    cw_free(t->logfoldchanges);
    memset(t, 0, sizeof *t);
}
