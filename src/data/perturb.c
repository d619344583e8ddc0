/* perturb.c: building the perturbation design from per-cell labels (spec §2.3); the label
 * rules and orders are documented in perturb.h.
 *
 * Build outline (all sorts are stable by a tie-break, so the result is a pure function of the
 * labels): sort (label, cell) pairs to find the distinct labels; classify each distinct label
 * once (control / perturbation / error) and tokenise it; targets = sorted unique tokens; each
 * label's target set = sorted unique target indices; perturbations = sorted unique sets; cells
 * are then placed per perturbation in file order by a counting pass. Cost O(n log n) string
 * compares for n cells, independent of the number of perturbations.
 */
#include "data/perturb.h"

#include "core/alloc.h"
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const default_keys[] = CW_PERTURB_DEFAULT_KEYS;
static const char *const default_controls[] = CW_PERTURB_DEFAULT_CONTROLS;

void cw_perturb_opts_default(cw_perturb_opts *o) { memset(o, 0, sizeof *o); }

/* ---- small helpers ------------------------------------------------------------------------ */

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_sep(char c, const char *seps) { return c != '\0' && strchr(seps, c) != NULL; }

/* Next separator-delimited token of *pp, trimmed (may be empty); returns 0 when exhausted. */
static int next_token(const char **pp, const char *seps, const char **tok, size_t *len) {
    const char *p = *pp;
    if (!p) return 0;
    const char *s = p;
    while (*p && !is_sep(*p, seps)) p++;
    const char *e = p;
    *pp = *p ? p + 1 : NULL;
    while (s < e && is_space(*s)) s++;
    while (e > s && is_space(e[-1])) e--;
    *tok = s;
    *len = (size_t)(e - s);
    return 1;
}

static int span_eq(const char *tok, size_t len, const char *s) {
    return strlen(s) == len && memcmp(tok, s, len) == 0;
}

/* strcmp of a span against a NUL-terminated string. */
static int span_cmp(const char *tok, size_t len, const char *s) {
    size_t sl = strlen(s);
    int c = memcmp(tok, s, len < sl ? len : sl);
    if (c) return c;
    return (len > sl) - (len < sl);
}

static int64_t count_tokens(const char *label, const char *seps) {
    int64_t n = 1;
    for (const char *p = label; *p; p++) n += is_sep(*p, seps);
    return n;
}

/* Control labels in effect: user list or the defaults. */
typedef struct {
    int64_t n;
    const char *const *s;
} ctrl_list;

/* -1 when the token is not a control token, else the index of the control label it equals,
 * or c->n for the GEARS "ctrl" token. */
static int64_t ctrl_token(const ctrl_list *c, const char *tok, size_t len) {
    for (int64_t k = 0; k < c->n; k++)
        if (span_eq(tok, len, c->s[k])) return k;
    return span_eq(tok, len, "ctrl") ? c->n : -1;
}

enum { LAB_PERT = 0, LAB_CONTROL = 1, LAB_EMPTY = 2 };

/* Classifies a label; counts its non-control tokens in *n_real (with repeats). When seen is
 * given, marks the control labels the label uses (whole or as a token). */
static int classify(const char *label, const char *seps, const ctrl_list *c, int64_t *n_real,
                    unsigned char *seen) {
    *n_real = 0;
    for (int64_t k = 0; k < c->n; k++)
        if (strcmp(c->s[k], label) == 0) {
            if (seen) seen[k] = 1;
            return LAB_CONTROL;
        }
    const char *p = label, *tok;
    size_t len;
    int64_t n_any = 0;
    while (next_token(&p, seps, &tok, &len)) {
        if (len == 0) continue;
        n_any++;
        int64_t k = ctrl_token(c, tok, len);
        if (k < 0)
            (*n_real)++;
        else if (seen && k < c->n)
            seen[k] = 1;
    }
    if (n_any == 0) return LAB_EMPTY;
    return *n_real ? LAB_PERT : LAB_CONTROL;
}

static void ctx_of(char *buf, size_t cap, const cw_perturb_opts *o) {
    char field[300];
    if (o->field)
        snprintf(field, sizeof field, "%s", o->field);
    else if (o->key)
        snprintf(field, sizeof field, "/obs/%s", o->key);
    else
        snprintf(field, sizeof field, "perturbation labels");
    if (o->source)
        snprintf(buf, cap, "%s: %s", o->source, field);
    else
        snprintf(buf, cap, "%s", field);
}

/* Appends "'a', 'b', ..." (quoted) to buf; stops with "..." when full. */
static void append_quoted(char *buf, size_t cap, const char *s, int first) {
    size_t n = strlen(buf);
    if (n + 8 >= cap) return;
    int w = snprintf(buf + n, cap - n, "%s'%s'", first ? "" : ", ", s);
    if (w < 0 || (size_t)w >= cap - n) snprintf(buf + (cap > 5 ? cap - 5 : 0), 5, "...");
}

static int cmp_set(const int64_t *a, int64_t na, const int64_t *b, int64_t nb) {
    int ca = na > 1, cb = nb > 1;
    if (ca != cb) return ca - cb; /* singles first */
    int64_t m = na < nb ? na : nb;
    for (int64_t k = 0; k < m; k++)
        if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
    return (na > nb) - (na < nb);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_strp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts and dedups v[0..n) in place; returns the new length. */
static int64_t sort_unique(int64_t *v, int64_t n) {
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    int64_t m = 0;
    for (int64_t k = 0; k < n; k++)
        if (m == 0 || v[k] != v[m - 1]) v[m++] = v[k];
    return m;
}

/* ---- key choice ---------------------------------------------------------------------------- */

cw_status cw_perturb_choose_key(const cw_strings *columns, const char *requested,
                                const char *source, const char **key) {
    *key = NULL;
    char have[600] = "";
    for (int64_t i = 0, k = 0; i < columns->n; i++)
        if (columns->s[i]) append_quoted(have, sizeof have, columns->s[i], k++ == 0);
    if (requested) {
        int64_t i = cw_strings_find(columns, requested);
        if (i < 0)
            return cw_fail(CW_ENOTFOUND,
                           "%s%s/obs: no column '%s' (the perturbation key); columns present: %s",
                           source ? source : "", source ? ": " : "", requested,
                           have[0] ? have : "none");
        *key = columns->s[i];
        return CW_OK;
    }
    for (int d = 0; d < CW_PERTURB_N_DEFAULT_KEYS; d++) {
        int64_t i = cw_strings_find(columns, default_keys[d]);
        if (i >= 0) {
            *key = columns->s[i];
            return CW_OK;
        }
    }
    return cw_fail(CW_ENOTFOUND,
                   "%s%s/obs: no perturbation column: none of 'guide_ids', 'perturbation', "
                   "'condition', 'gene' is present (columns: %s); name it with "
                   "--perturbation-key",
                   source ? source : "", source ? ": " : "", have[0] ? have : "none");
}

/* ---- build ---------------------------------------------------------------------------------- */

typedef struct {
    const char *s;
    int64_t i;
} str_pos;

static int cmp_str_pos(const void *a, const void *b) {
    const str_pos *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c) return c;
    return (x->i > y->i) - (x->i < y->i);
}

typedef struct {
    const int64_t *set;
    int64_t len;
    int64_t lab;
} set_ref;

static int cmp_set_ref(const void *a, const void *b) {
    const set_ref *x = a, *y = b;
    int c = cmp_set(x->set, x->len, y->set, y->len);
    if (c) return c;
    return (x->lab > y->lab) - (x->lab < y->lab);
}

void cw_perturb_design_free(cw_perturb_design *d) {
    cw_strings_free(&d->targets);
    cw_strings_free(&d->labels);
    cw_strings_free(&d->control_labels);
    cw_free(d->target_off);
    cw_free(d->pert_targets);
    cw_free(d->cell_off);
    cw_free(d->pert_cells);
    cw_free(d->cell_pert);
    cw_free(d->single_of_target);
    cw_free(d->control_cells);
    cw_free(d->key);
    cw_free(d->separators);
    memset(d, 0, sizeof *d);
}

/* The distinct labels in order of first appearance, first `max` of them, quoted. */
static void labels_present(char *buf, size_t cap, int64_t n_lab, const char *const *lab_s,
                           const int64_t *lab_first) {
    buf[0] = '\0';
    int64_t prev = -1;
    int shown = 0;
    for (; shown < 6; shown++) {
        int64_t best = -1;
        for (int64_t k = 0; k < n_lab; k++)
            if (lab_first[k] > prev && (best < 0 || lab_first[k] < lab_first[best])) best = k;
        if (best < 0) break;
        append_quoted(buf, cap, lab_s[best], shown == 0);
        prev = lab_first[best];
    }
    size_t n = strlen(buf);
    if ((int64_t)shown < n_lab && n + 40 < cap)
        snprintf(buf + n, cap - n, ", ... (%lld distinct)", (long long)n_lab);
}

static void controls_text(char *buf, size_t cap, const ctrl_list *c) {
    buf[0] = '\0';
    for (int64_t k = 0; k < c->n; k++) append_quoted(buf, cap, c->s[k], k == 0);
}

static void cell_name(char *buf, size_t cap, const cw_perturb_opts *o, int64_t i) {
    if (o->cell_names && i < o->cell_names->n && o->cell_names->s[i])
        snprintf(buf, cap, " ('%s')", o->cell_names->s[i]);
    else
        buf[0] = '\0';
}

/* Target set of a label already known to be LAB_PERT: unique sorted indices into buf (capacity
 * count_tokens(label)); returns the count, or -1 when a token is not a target of d. */
static int64_t label_set(const cw_perturb_design *d, const ctrl_list *c, const char *label,
                         int64_t *buf) {
    const char *p = label, *tok;
    size_t len;
    int64_t n = 0;
    while (next_token(&p, d->separators, &tok, &len)) {
        if (len == 0 || ctrl_token(c, tok, len) >= 0) continue;
        int64_t lo = 0, hi = d->n_targets - 1, found = -1;
        while (lo <= hi) {
            int64_t mid = lo + (hi - lo) / 2;
            int cmp = span_cmp(tok, len, d->targets.s[mid]);
            if (cmp == 0) {
                found = mid;
                break;
            }
            if (cmp < 0)
                hi = mid - 1;
            else
                lo = mid + 1;
        }
        if (found < 0) return -1;
        buf[n++] = found;
    }
    return sort_unique(buf, n);
}

static int64_t find_set(const cw_perturb_design *d, const int64_t *set, int64_t len) {
    int64_t lo = 0, hi = d->n_perts - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = cmp_set(set, len, cw_perturb_targets_of(d, mid), cw_perturb_order(d, mid));
        if (c == 0) return mid;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

static ctrl_list design_ctrls(const cw_perturb_design *d) {
    ctrl_list c = {d->control_labels.n, (const char *const *)d->control_labels.s};
    return c;
}

cw_status cw_perturb_design_build(cw_perturb_design *out, const cw_strings *labels,
                                  const cw_perturb_opts *opts) {
    cw_perturb_opts dflt;
    if (!opts) {
        cw_perturb_opts_default(&dflt);
        opts = &dflt;
    }
    memset(out, 0, sizeof *out);
    char ctx[400], lst[600], ctl[300], nm[200];
    ctx_of(ctx, sizeof ctx, opts);
    const int64_t n = labels->n;
    const char *seps = opts->separators ? opts->separators : CW_PERTURB_DEFAULT_SEPARATORS;

    ctrl_list ctrls = {CW_PERTURB_N_DEFAULT_CONTROLS, default_controls};
    if (opts->controls) {
        if (opts->controls->n == 0)
            return cw_fail(CW_EINVAL, "%s: the list of control labels is empty", ctx);
        for (int64_t k = 0; k < opts->controls->n; k++)
            if (!opts->controls->s[k])
                return cw_fail(CW_EINVAL, "%s: control label %lld is missing", ctx, (long long)k);
        ctrls.n = opts->controls->n;
        ctrls.s = (const char *const *)opts->controls->s;
    }
    for (int64_t i = 0; i < n; i++)
        if (!labels->s[i]) {
            cell_name(nm, sizeof nm, opts, i);
            return cw_fail(CW_EFORMAT,
                           "%s: cell %lld%s has no label (missing value); every cell needs a "
                           "perturbation or a control label",
                           ctx, (long long)i, nm);
        }

    cw_status st = CW_OK;
    cw_perturb_design *d = out;
    str_pos *sp = NULL;
    int64_t *cell_lab = NULL, *lab_first = NULL, *lab_tok_off = NULL, *tok_idx = NULL;
    int64_t *lab_set_len = NULL, *lab_pert = NULL, *buf = NULL;
    const char **lab_s = NULL;
    unsigned char *lab_kind = NULL, *seen = NULL;
    char *arena = NULL;
    char **tok_ptr = NULL, **sorted_tok = NULL;
    set_ref *refs = NULL;
    int64_t n_lab = 0;

#define NEW(ptr, count)                                                                            \
    do {                                                                                           \
        (ptr) = cw_malloc_array((size_t)((count) > 0 ? (count) : 1), sizeof *(ptr));               \
        if (!(ptr)) {                                                                              \
            st = cw_fail(CW_ENOMEM, "%s: out of memory building the perturbation design", ctx);    \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

    /* 1. distinct labels (sorted by strcmp) and each cell's label id */
    NEW(sp, n);
    NEW(cell_lab, n);
    for (int64_t i = 0; i < n; i++) sp[i] = (str_pos){labels->s[i], i};
    qsort(sp, (size_t)n, sizeof *sp, cmp_str_pos);
    for (int64_t k = 0; k < n; k++)
        if (k == 0 || strcmp(sp[k].s, sp[k - 1].s) != 0) n_lab++;
    NEW(lab_s, n_lab);
    NEW(lab_first, n_lab);
    NEW(lab_kind, n_lab);
    for (int64_t k = 0, l = -1; k < n; k++) {
        if (k == 0 || strcmp(sp[k].s, sp[k - 1].s) != 0) {
            l++;
            lab_s[l] = sp[k].s;
            lab_first[l] = sp[k].i; /* smallest cell: ties sorted by cell */
        }
        cell_lab[sp[k].i] = l;
    }
    cw_free(sp);
    sp = NULL;

    /* 2. classify, count tokens and bytes */
    seen = cw_calloc((size_t)ctrls.n, 1);
    if (!seen) {
        st = cw_fail(CW_ENOMEM, "%s: out of memory building the perturbation design", ctx);
        goto done;
    }
    NEW(lab_tok_off, n_lab + 1);
    int64_t n_tok = 0, empty = -1;
    size_t bytes = 0;
    for (int64_t l = 0; l < n_lab; l++) {
        int64_t nr;
        int kind = classify(lab_s[l], seps, &ctrls, &nr, seen);
        if (kind == LAB_EMPTY && (empty < 0 || lab_first[l] < lab_first[empty])) empty = l;
        lab_kind[l] = (unsigned char)kind;
        lab_tok_off[l] = n_tok;
        if (kind == LAB_PERT) {
            n_tok += nr;
            bytes += strlen(lab_s[l]) + (size_t)nr;
        }
    }
    lab_tok_off[n_lab] = n_tok;
    /* a mistyped --control first: it usually explains the labels that follow */
    if (opts->controls)
        for (int64_t k = 0; k < ctrls.n; k++)
            if (!seen[k]) {
                labels_present(lst, sizeof lst, n_lab, lab_s, lab_first);
                st =
                    cw_fail(CW_EINVAL, "%s: unknown control label '%s'; labels present include: %s",
                            ctx, ctrls.s[k], lst);
                goto done;
            }
    if (empty >= 0) {
        controls_text(ctl, sizeof ctl, &ctrls);
        cell_name(nm, sizeof nm, opts, lab_first[empty]);
        st = cw_fail(CW_EFORMAT,
                     "%s: cell %lld%s: label '%s' names no target and is not a control label "
                     "(control labels: %s); if these cells are controls, add the label with "
                     "--control",
                     ctx, (long long)lab_first[empty], nm, lab_s[empty], ctl);
        goto done;
    }

    /* 3. copy the non-control tokens; targets = sorted unique tokens */
    NEW(arena, bytes);
    NEW(tok_ptr, n_tok);
    {
        char *w = arena;
        int64_t t = 0;
        for (int64_t l = 0; l < n_lab; l++) {
            if (lab_kind[l] != LAB_PERT) continue;
            const char *p = lab_s[l], *tok;
            size_t len;
            while (next_token(&p, seps, &tok, &len)) {
                if (len == 0 || ctrl_token(&ctrls, tok, len) >= 0) continue;
                memcpy(w, tok, len);
                w[len] = '\0';
                tok_ptr[t++] = w;
                w += len + 1;
            }
        }
        CW_ASSERT(t == n_tok);
    }
    NEW(sorted_tok, n_tok);
    memcpy(sorted_tok, tok_ptr, (size_t)n_tok * sizeof *tok_ptr);
    qsort(sorted_tok, (size_t)n_tok, sizeof *sorted_tok, cmp_strp);
    int64_t n_targets = 0;
    for (int64_t t = 0; t < n_tok; t++)
        if (t == 0 || strcmp(sorted_tok[t], sorted_tok[t - 1]) != 0) n_targets++;
    if ((st = cw_strings_alloc(&d->targets, n_targets)) != CW_OK) goto done;
    for (int64_t t = 0, m = 0; t < n_tok; t++)
        if (t == 0 || strcmp(sorted_tok[t], sorted_tok[t - 1]) != 0)
            if ((st = cw_strings_set(&d->targets, m++, sorted_tok[t])) != CW_OK) goto done;
    d->n_targets = n_targets;

    /* 4. each perturbation label's target set */
    NEW(tok_idx, n_tok);
    NEW(lab_set_len, n_lab);
    int64_t n_plab = 0;
    for (int64_t l = 0; l < n_lab; l++) {
        lab_set_len[l] = 0;
        if (lab_kind[l] != LAB_PERT) continue;
        n_plab++;
        for (int64_t t = lab_tok_off[l]; t < lab_tok_off[l + 1]; t++) {
            char **hit = bsearch(&tok_ptr[t], d->targets.s, (size_t)n_targets, sizeof *d->targets.s,
                                 cmp_strp);
            CW_ASSERT(hit);
            tok_idx[t] = (int64_t)(hit - d->targets.s);
        }
        lab_set_len[l] = sort_unique(tok_idx + lab_tok_off[l], lab_tok_off[l + 1] - lab_tok_off[l]);
    }

    /* 5. perturbations = sorted unique sets */
    NEW(refs, n_plab);
    NEW(lab_pert, n_lab);
    for (int64_t l = 0, r = 0; l < n_lab; l++) {
        lab_pert[l] = -1;
        if (lab_kind[l] == LAB_PERT)
            refs[r++] = (set_ref){tok_idx + lab_tok_off[l], lab_set_len[l], l};
    }
    qsort(refs, (size_t)n_plab, sizeof *refs, cmp_set_ref);
    int64_t n_perts = 0, n_pt = 0;
    for (int64_t r = 0; r < n_plab; r++) {
        if (r == 0 || cmp_set(refs[r].set, refs[r].len, refs[r - 1].set, refs[r - 1].len) != 0) {
            n_perts++;
            n_pt += refs[r].len;
        }
        lab_pert[refs[r].lab] = n_perts - 1;
    }
    d->n_perts = n_perts;
    NEW(d->target_off, n_perts + 1);
    NEW(d->pert_targets, n_pt);
    d->target_off[0] = 0;
    d->n_singles = 0;
    d->max_order = 0;
    for (int64_t r = 0, p = -1; r < n_plab; r++) {
        if (r == 0 || cmp_set(refs[r].set, refs[r].len, refs[r - 1].set, refs[r - 1].len) != 0) {
            p++;
            memcpy(d->pert_targets + d->target_off[p], refs[r].set,
                   (size_t)refs[r].len * sizeof(int64_t));
            d->target_off[p + 1] = d->target_off[p] + refs[r].len;
            if (refs[r].len == 1) d->n_singles++;
            if (refs[r].len > d->max_order) d->max_order = refs[r].len;
        }
    }

    /* 6. cells per perturbation (file order) and controls */
    d->n_cells = n;
    NEW(d->cell_pert, n);
    NEW(d->cell_off, n_perts + 1);
    memset(d->cell_off, 0, (size_t)(n_perts + 1) * sizeof(int64_t));
    int64_t n_ctrl = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = lab_pert[cell_lab[i]];
        d->cell_pert[i] = p;
        if (p < 0)
            n_ctrl++;
        else
            d->cell_off[p + 1]++;
    }
    for (int64_t p = 0; p < n_perts; p++) d->cell_off[p + 1] += d->cell_off[p];
    NEW(d->pert_cells, n - n_ctrl);
    NEW(d->control_cells, n_ctrl);
    NEW(buf, n_perts);
    memcpy(buf, d->cell_off, (size_t)n_perts * sizeof *buf);
    d->n_controls = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = d->cell_pert[i];
        if (p < 0)
            d->control_cells[d->n_controls++] = i;
        else
            d->pert_cells[buf[p]++] = i;
    }
    cw_free(buf);
    buf = NULL;
    if (n_ctrl == 0) {
        labels_present(lst, sizeof lst, n_lab, lab_s, lab_first);
        controls_text(ctl, sizeof ctl, &ctrls);
        st = cw_fail(CW_EFORMAT,
                     "%s: no control cells: no label is a control label (%s); labels present "
                     "include: %s; name the control label with --control",
                     ctx, ctl, lst);
        goto done;
    }

    /* 7. canonical labels, singles by target, recorded options */
    if ((st = cw_strings_alloc(&d->labels, n_perts)) != CW_OK) goto done;
    for (int64_t p = 0; p < n_perts; p++) {
        size_t len = 1;
        for (int64_t k = d->target_off[p]; k < d->target_off[p + 1]; k++)
            len += strlen(d->targets.s[d->pert_targets[k]]) + 1;
        char *s = cw_malloc(len);
        if (!s) {
            st = cw_fail(CW_ENOMEM, "%s: out of memory building the perturbation design", ctx);
            goto done;
        }
        s[0] = '\0';
        char *w = s;
        for (int64_t k = d->target_off[p]; k < d->target_off[p + 1]; k++) {
            const char *t = d->targets.s[d->pert_targets[k]];
            if (k > d->target_off[p]) *w++ = ',';
            size_t tl = strlen(t);
            memcpy(w, t, tl + 1);
            w += tl;
        }
        d->labels.s[p] = s;
    }
    NEW(d->single_of_target, n_targets);
    for (int64_t t = 0; t < n_targets; t++) d->single_of_target[t] = -1;
    for (int64_t p = 0; p < d->n_singles; p++)
        d->single_of_target[d->pert_targets[d->target_off[p]]] = p;
    d->key = cw_strdup(opts->key ? opts->key : "");
    d->separators = cw_strdup(seps);
    if (!d->key || !d->separators) {
        st = cw_fail(CW_ENOMEM, "%s: out of memory building the perturbation design", ctx);
        goto done;
    }
    if ((st = cw_strings_alloc(&d->control_labels, ctrls.n)) != CW_OK) goto done;
    for (int64_t k = 0; k < ctrls.n; k++)
        if ((st = cw_strings_set(&d->control_labels, k, ctrls.s[k])) != CW_OK) goto done;

    /* 8. declared labels (categories) must all be used */
    if (opts->declared) {
        for (int64_t k = 0; k < opts->declared->n; k++) {
            const char *lab = opts->declared->s[k];
            if (!lab) continue;
            int64_t nr;
            if (classify(lab, seps, &ctrls, &nr, NULL) != LAB_PERT) continue;
            NEW(buf, count_tokens(lab, seps));
            int64_t len = label_set(d, &ctrls, lab, buf);
            int64_t p = len > 0 ? find_set(d, buf, len) : -1;
            cw_free(buf);
            buf = NULL;
            if (p < 0) {
                st = cw_fail(CW_EFORMAT,
                             "%s: perturbation '%s' has zero cells (unused category); drop it "
                             "with adata.obs['%s'].cat.remove_unused_categories()",
                             ctx, lab, opts->key ? opts->key : "<key>");
                goto done;
            }
        }
    }

done:
#undef NEW
    cw_free(sp);
    cw_free(cell_lab);
    cw_free(lab_first);
    cw_free(lab_tok_off);
    cw_free(tok_idx);
    cw_free(lab_set_len);
    cw_free(lab_pert);
    cw_free(buf);
    cw_free(lab_s);
    cw_free(lab_kind);
    cw_free(seen);
    cw_free(arena);
    cw_free(tok_ptr);
    cw_free(sorted_tok);
    cw_free(refs);
    if (st != CW_OK) cw_perturb_design_free(d);
    return st;
}

/* ---- queries ----------------------------------------------------------------------------------
 */

int64_t cw_perturb_target(const cw_perturb_design *d, const char *name) {
    if (!name) return -1;
    char *const *hit =
        bsearch(&name, d->targets.s, (size_t)d->n_targets, sizeof *d->targets.s, cmp_strp);
    return hit ? (int64_t)(hit - d->targets.s) : -1;
}

int cw_perturb_label_is_control(const cw_perturb_design *d, const char *label) {
    if (!label) return 0;
    ctrl_list c = design_ctrls(d);
    int64_t nr;
    return classify(label, d->separators, &c, &nr, NULL) == LAB_CONTROL;
}

int64_t cw_perturb_find(const cw_perturb_design *d, const char *label) {
    if (!label) return -1;
    ctrl_list c = design_ctrls(d);
    int64_t nr;
    if (classify(label, d->separators, &c, &nr, NULL) != LAB_PERT) return -1;
    int64_t stackbuf[32];
    int64_t *buf = stackbuf;
    if (nr > 32) {
        buf = cw_malloc_array((size_t)nr, sizeof *buf);
        if (!buf) return -1;
    }
    int64_t len = label_set(d, &c, label, buf);
    int64_t p = len > 0 ? find_set(d, buf, len) : -1;
    if (buf != stackbuf) cw_free(buf);
    return p;
}

void cw_perturb_intervention(const cw_perturb_design *d, int64_t p, float *c) {
    memset(c, 0, (size_t)d->n_targets * sizeof *c);
    if (p < 0) return;
    CW_ASSERT(p < d->n_perts);
    for (int64_t k = d->target_off[p]; k < d->target_off[p + 1]; k++) c[d->pert_targets[k]] = 1.0f;
}
