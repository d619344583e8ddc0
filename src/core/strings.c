/* strings.c: owned string lists. */
#include "core/strings.h"

#include "core/alloc.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

cw_status cw_strings_alloc(cw_strings *out, int64_t n) {
    out->n = 0;
    out->s = cw_calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    if (!out->s) return cw_fail(CW_ENOMEM, "out of memory allocating %lld strings", (long long)n);
    out->n = n;
    return CW_OK;
}

cw_status cw_strings_set(cw_strings *l, int64_t i, const char *s) {
    CW_ASSERT(i >= 0 && i < l->n);
    cw_free(l->s[i]);
    l->s[i] = NULL;
    if (!s) return CW_OK;
    l->s[i] = cw_strdup(s);
    if (!l->s[i]) return cw_fail(CW_ENOMEM, "out of memory copying a string");
    return CW_OK;
}

cw_status cw_strings_push(cw_strings *l, const char *s) {
    int64_t n = l->n;
    char **ns = cw_realloc(l->s, (size_t)(n + 1) * sizeof(char *));
    if (!ns) return cw_fail(CW_ENOMEM, "out of memory growing a string list");
    l->s = ns;
    l->s[n] = NULL;
    if (s) {
        l->s[n] = cw_strdup(s);
        if (!l->s[n]) return cw_fail(CW_ENOMEM, "out of memory copying a string");
    }
    l->n = n + 1;
    return CW_OK;
}

void cw_strings_free(cw_strings *l) {
    if (!l->s) return;
    for (int64_t i = 0; i < l->n; i++) cw_free(l->s[i]);
    cw_free(l->s);
    l->s = NULL;
    l->n = 0;
}

int64_t cw_strings_find(const cw_strings *l, const char *s) {
    for (int64_t i = 0; i < l->n; i++)
        if (l->s[i] && strcmp(l->s[i], s) == 0) return i;
    return -1;
}

typedef struct {
    const char *s;
    int64_t i;
} cw_str_pos;

static int cw_str_pos_cmp(const void *a, const void *b) {
    const cw_str_pos *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c) return c;
    return (x->i > y->i) - (x->i < y->i);
}

int64_t cw_strings_first_duplicate(const cw_strings *l) {
    cw_str_pos *v = cw_malloc_array((size_t)(l->n > 0 ? l->n : 1), sizeof *v);
    if (!v) { /* quadratic fallback keeps this infallible */
        for (int64_t i = 0; i < l->n; i++)
            for (int64_t j = 0; l->s[i] && j < i; j++)
                if (l->s[j] && strcmp(l->s[i], l->s[j]) == 0) return i;
        return -1;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < l->n; i++)
        if (l->s[i]) v[m++] = (cw_str_pos){l->s[i], i};
    qsort(v, (size_t)m, sizeof *v, cw_str_pos_cmp);
    int64_t best = -1;
    for (int64_t k = 1; k < m; k++)
        if (strcmp(v[k].s, v[k - 1].s) == 0 && (best < 0 || v[k].i < best)) best = v[k].i;
    cw_free(v);
    return best;
}
