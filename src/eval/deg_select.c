/* deg_select.c: DEG columns per perturbation, reference substring rule and exact target-set
 * rule, and DEG tables computed from the data (deg_select.h; spec §6.2). */
#include "eval/deg_select.h"

#include "core/alloc.h"
#include "core/status.h"
#include "eval/deg.h"

#include <ctype.h>
#include <string.h>

void cw_deg_selection_free(cw_deg_selection *s) {
    if (!s) return;
    cw_free(s->cols);
    memset(s, 0, sizeof *s);
    s->group = -1;
}

static cw_status check_targets(const char *const *targets, int64_t n_targets) {
    if (n_targets < 1) return cw_fail(CW_EINVAL, "DEG selection: no targets");
    for (int64_t i = 0; i < n_targets; i++)
        if (!targets[i] || !targets[i][0])
            return cw_fail(CW_EINVAL, "DEG selection: target %lld is missing or empty",
                           (long long)i);
    return CW_OK;
}

int64_t cw_deg_group_substring(const cw_deg_table *t, const char *const *targets,
                               int64_t n_targets) {
    for (int64_t g = 0; g < t->groups.n; g++) {
        const char *name = t->groups.s[g];
        if (!name) continue;
        int all = 1;
        for (int64_t i = 0; i < n_targets && all; i++) all = strstr(name, targets[i]) != NULL;
        if (all) return g;
    }
    return -1;
}

/* Is the token [s, s + len) one of the targets? */
static int token_in_targets(const char *s, size_t len, const char *const *targets,
                            int64_t n_targets) {
    for (int64_t i = 0; i < n_targets; i++)
        if (strlen(targets[i]) == len && memcmp(targets[i], s, len) == 0) return 1;
    return 0;
}

/* Is target i one of the tokens of name? (tokens: split on ',' '+', trimmed) */
static int target_in_name(const char *name, const char *target) {
    const size_t tl = strlen(target);
    const char *p = name;
    for (;;) {
        const char *e = p + strcspn(p, ",+");
        const char *a = p, *b = e;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if ((size_t)(b - a) == tl && memcmp(a, target, tl) == 0) return 1;
        if (!*e) return 0;
        p = e + 1;
    }
}

/* name's token set == target set: every non-control token is a target, every target a token */
static int name_equals_targets(const char *name, const char *const *targets, int64_t n_targets) {
    const char *p = name;
    for (;;) {
        const char *e = p + strcspn(p, ",+");
        const char *a = p, *b = e;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        const size_t len = (size_t)(b - a);
        const int is_ctrl = len == 4 && memcmp(a, "ctrl", 4) == 0;
        if (len > 0 && !is_ctrl && !token_in_targets(a, len, targets, n_targets)) return 0;
        if (!*e) break;
        p = e + 1;
    }
    for (int64_t i = 0; i < n_targets; i++)
        if (!target_in_name(name, targets[i])) return 0;
    return 1;
}

int64_t cw_deg_group_exact(const cw_deg_table *t, const char *const *targets, int64_t n_targets) {
    for (int64_t g = 0; g < t->groups.n; g++)
        if (t->groups.s[g] && name_equals_targets(t->groups.s[g], targets, n_targets)) return g;
    return -1;
}

static void targets_text(char *buf, size_t cap, const char *const *targets, int64_t n) {
    size_t o = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < n && o + 1 < cap; i++) {
        int w = snprintf(buf + o, cap - o, "%s%s", i ? "+" : "", targets[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

cw_status cw_deg_select(cw_deg_selection *out, const cw_deg_table *t, const cw_strings *var_names,
                        const char *const *targets, int64_t n_targets, cw_deg_match mode) {
    memset(out, 0, sizeof *out);
    out->group = -1;
    CW_TRY(check_targets(targets, n_targets));
    if (mode != CW_DEG_MATCH_SUBSTRING && mode != CW_DEG_MATCH_EXACT)
        return cw_fail(CW_EINVAL, "DEG selection: unknown match mode %d", (int)mode);
    if (t->n_genes < 1 || t->names.n < t->groups.n * t->n_genes)
        return cw_fail(CW_EFORMAT, "DEG table: %lld names for %lld groups x %lld genes",
                       (long long)t->names.n, (long long)t->groups.n, (long long)t->n_genes);
    char what[256];
    targets_text(what, sizeof what, targets, n_targets);

    int64_t g = -1;
    int exact = 0;
    if (mode == CW_DEG_MATCH_EXACT) {
        g = cw_deg_group_exact(t, targets, n_targets);
        exact = g >= 0;
    }
    if (g < 0) g = cw_deg_group_substring(t, targets, n_targets);
    if (g < 0)
        return cw_fail(CW_ENOTFOUND, "DEG table: no group matches '%s' (%s rule)", what,
                       mode == CW_DEG_MATCH_EXACT ? "exact, then substring" : "substring");

    int64_t *cols = cw_malloc_array((size_t)t->n_genes, sizeof *cols);
    if (!cols) return cw_fail(CW_ENOMEM, "DEG selection: out of memory");
    for (int64_t r = 0; r < t->n_genes; r++) {
        const char *gene = t->names.s[g * t->n_genes + r];
        int64_t j = gene ? cw_strings_find(var_names, gene) : -1;
        if (j < 0) {
            cw_free(cols);
            return cw_fail(CW_EFORMAT, "DEG table: group '%s' (for '%s'), rank %lld: gene '%s' "
                                       "is not a var name",
                           t->groups.s[g], what, (long long)r, gene ? gene : "(missing)");
        }
        cols[r] = j;
    }
    out->group = g;
    out->exact = exact;
    out->n = t->n_genes;
    out->cols = cols;
    return CW_OK;
}

cw_status cw_deg_compute(cw_deg_table *out, cw_xstore *x, const int64_t *cell_pert,
                         int64_t n_perts, const cw_strings *pert_labels,
                         const cw_strings *gene_names, int64_t n_top, int n_threads) {
    memset(out, 0, sizeof *out);
    if (n_perts < 1) return cw_fail(CW_EINVAL, "DEG: no perturbations");
    if (pert_labels->n != n_perts)
        return cw_fail(CW_EINVAL, "DEG: %lld labels for %lld perturbations",
                       (long long)pert_labels->n, (long long)n_perts);
    int64_t *group = cw_malloc_array((size_t)(x->nrows > 0 ? x->nrows : 1), sizeof *group);
    cw_strings names = {0};
    cw_status st = CW_OK;
    if (!group) return cw_fail(CW_ENOMEM, "DEG: out of memory");
    for (int64_t i = 0; i < x->nrows; i++) {
        const int64_t p = cell_pert[i];
        if (p >= n_perts) {
            st = cw_fail(CW_EINVAL, "DEG: cell %lld has perturbation %lld, expected < %lld",
                         (long long)i, (long long)p, (long long)n_perts);
            goto done;
        }
        group[i] = p >= 0 ? p : p == -1 ? n_perts : -1; /* controls: the last group */
    }
    if ((st = cw_strings_alloc(&names, n_perts + 1)) != CW_OK) goto done;
    for (int64_t p = 0; p < n_perts; p++)
        if ((st = cw_strings_set(&names, p, pert_labels->s[p])) != CW_OK) goto done;
    /* the reference group is not emitted; its name only has to exist */
    if ((st = cw_strings_set(&names, n_perts, "<control>")) != CW_OK) goto done;
    cw_deg_accum a;
    if ((st = cw_deg_accum_init(&a, n_perts + 1, x->ncols)) != CW_OK) goto done;
    for (int64_t r0 = 0, n = 0; st == CW_OK && r0 < x->nrows; r0 += n) {
        cw_csr block;
        st = cw_xstore_block(x, r0, x->nrows - r0, &block, &n);
        if (st == CW_OK) cw_deg_accum_add_csr(&a, &block, group + r0, n_threads);
    }
    if (st == CW_OK)
        st = cw_deg_accum_finalize(&a, n_perts, &names, gene_names, n_top, out);
    cw_deg_accum_free(&a);
done:
    cw_free(group);
    cw_strings_free(&names);
    return st;
}
