/* split.c: train / val / test splits (spec §2.4 and the kinds documented in split.h) and their
 * JSON files (jansson for the metadata; the per-role cell lists are streamed as one line each so
 * the file stays readable and small for millions of cells).
 */
#include "data/split.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const cw_reference_targets[CW_N_REFERENCE_TARGETS] = {
    "KLF1", "BAK1",    "CEBPE",  "UBASH3B", "ETS2",     "OSR2",  "SLC4A1",
    "SET",  "ELMSAN1", "MAP2K6", "FOXF1",   "C19orf26", "FOXA1", "UBASH3A"};

static const char *const kind_names[] = {"reference", "random", "unseen-targets",
                                         "unseen-combinations"};
static const char *const role_names[] = {"train", "val", "test", "control"};

const char *cw_role_name(int role) {
    return role >= 0 && role < CW_N_ROLES ? role_names[role] : "?";
}

const char *cw_split_kind_name(cw_split_kind kind) {
    return (int)kind >= 0 && (int)kind < 4 ? kind_names[kind] : "?";
}

cw_status cw_split_kind_parse(const char *name, cw_split_kind *kind) {
    for (int k = 0; k < 4; k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *kind = (cw_split_kind)k;
            return CW_OK;
        }
    return cw_fail(CW_EINVAL,
                   "unknown split kind '%s' (expected reference, random, unseen-targets or "
                   "unseen-combinations)",
                   name ? name : "(null)");
}

void cw_split_opts_default(cw_split_opts *o, cw_split_kind kind) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->seed = 0;
    o->batch_size = 32;
    o->test_cells = 96;
    o->val_cells = 64;
    switch (kind) {
    case CW_SPLIT_REFERENCE: break;
    case CW_SPLIT_RANDOM: o->test_fraction = 0.1, o->val_fraction = 0.1; break;
    case CW_SPLIT_UNSEEN_TARGETS: o->test_fraction = 0.2, o->val_fraction = 0.1; break;
    case CW_SPLIT_UNSEEN_COMBINATIONS: o->test_fraction = 0.5, o->val_fraction = 0.1; break;
    }
}

void cw_split_free(cw_split *s) {
    cw_free(s->role);
    cw_free(s->pert_seen);
    cw_strings_free(&s->heldout);
    cw_strings_free(&s->test_targets);
    cw_strings_free(&s->val_targets);
    cw_strings_free(&s->test_combos);
    memset(s, 0, sizeof *s);
}

int64_t cw_split_role_cells(const cw_split *s, int role, int64_t *out) {
    int64_t m = 0;
    for (int64_t i = 0; i < s->n_cells; i++)
        if (s->role[i] == role) {
            if (out) out[m] = i;
            m++;
        }
    return m;
}

/* round(f * n) clamped to [0, n] */
static int64_t frac_count(double f, int64_t n) {
    int64_t k = (int64_t)(f * (double)n + 0.5);
    return k < 0 ? 0 : k > n ? n : k;
}

/* pert_seen and the summary from roles. */
static void summarize(cw_split *s, const cw_perturb_design *d) {
    cw_split_summary *m = &s->summary;
    memset(m, 0, sizeof *m);
    for (int64_t i = 0; i < d->n_cells; i++) {
        int r = s->role[i];
        int64_t p = d->cell_pert[i];
        m->cells[r]++;
        if (p >= 0 && p < d->n_singles)
            m->single_cells[r]++;
        else if (p >= 0)
            m->combo_cells[r]++;
    }
    for (int64_t p = 0; p < d->n_perts; p++) {
        int has[CW_N_ROLES] = {0};
        const int64_t *c = cw_perturb_cells(d, p);
        for (int64_t k = 0; k < cw_perturb_n_cells(d, p); k++) has[s->role[c[k]]] = 1;
        for (int r = 0; r < CW_N_ROLES; r++)
            if (has[r]) {
                m->perts[r]++;
                if (p < d->n_singles)
                    m->single_perts[r]++;
                else
                    m->combo_perts[r]++;
            }
        s->pert_seen[p] = 0;
    }
    /* singles first: pert_seen of a single = its target has training cells; a combination
     * reads its targets' singles, which come before it in id order */
    for (int64_t p = 0; p < d->n_perts; p++) {
        if (p < d->n_singles) {
            const int64_t *c = cw_perturb_cells(d, p);
            for (int64_t j = 0; j < cw_perturb_n_cells(d, p) && !s->pert_seen[p]; j++)
                s->pert_seen[p] = s->role[c[j]] == CW_ROLE_TRAIN;
            continue;
        }
        const int64_t *t = cw_perturb_targets_of(d, p);
        for (int64_t k = 0; k < cw_perturb_order(d, p); k++) {
            int64_t q = d->single_of_target[t[k]];
            if (q >= 0) s->pert_seen[p] += s->pert_seen[q];
        }
        const int64_t *c = cw_perturb_cells(d, p);
        int in_test = 0;
        for (int64_t j = 0; j < cw_perturb_n_cells(d, p) && !in_test; j++)
            in_test = s->role[c[j]] == CW_ROLE_TEST;
        if (in_test) m->test_combos_by_seen[s->pert_seen[p] < 2 ? s->pert_seen[p] : 2]++;
    }
}

void cw_split_describe(const cw_split *s, char *buf, size_t cap) {
    const cw_split_summary *m = &s->summary;
    snprintf(buf, cap,
             "%s split (seed %llu): train %lld cells in %lld perturbations, val %lld in %lld, "
             "test %lld single cells in %lld singles + %lld combination cells in %lld "
             "combinations, %lld controls",
             cw_split_kind_name(s->opts.kind), (unsigned long long)s->opts.seed,
             (long long)m->cells[CW_ROLE_TRAIN], (long long)m->perts[CW_ROLE_TRAIN],
             (long long)m->cells[CW_ROLE_VAL], (long long)m->perts[CW_ROLE_VAL],
             (long long)m->single_cells[CW_ROLE_TEST], (long long)m->single_perts[CW_ROLE_TEST],
             (long long)m->combo_cells[CW_ROLE_TEST], (long long)m->combo_perts[CW_ROLE_TEST],
             (long long)m->cells[CW_ROLE_CONTROL]);
}

/* Roles every kind shares: controls CONTROL, combinations TEST, singles TRAIN. */
static void base_roles(cw_split *s, const cw_perturb_design *d) {
    for (int64_t i = 0; i < d->n_cells; i++) {
        int64_t p = d->cell_pert[i];
        s->role[i] = (int8_t)(p < 0              ? CW_ROLE_CONTROL
                              : p < d->n_singles ? CW_ROLE_TRAIN
                                                 : CW_ROLE_TEST);
    }
}

static cw_status targets_to_strings(const cw_perturb_design *d, const int64_t *t, int64_t n,
                                    cw_strings *out) {
    CW_TRY(cw_strings_alloc(out, n));
    for (int64_t k = 0; k < n; k++) CW_TRY(cw_strings_set(out, k, d->targets.s[t[k]]));
    return CW_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- kinds ---------------------------------------------------------------------------------- */

static cw_status make_reference(cw_split *s, const cw_perturb_design *d, const cw_split_opts *o,
                                int64_t *tmp /* n_targets */) {
    const int64_t B = o->batch_size;
    const int64_t nt = o->test_cells / B * B, nv = o->val_cells / B * B, need = nt + nv + 1;
    if (nt <= 0)
        return cw_fail(CW_EINVAL,
                       "reference split: test_cells %lld is less than one batch of %lld cells",
                       (long long)o->test_cells, (long long)B);
    s->opts.test_cells = nt;
    s->opts.val_cells = nv;
    int64_t n_held = 0;
    if (o->heldout) {
        for (int64_t k = 0; k < o->heldout->n; k++) {
            const char *name = o->heldout->s[k];
            int64_t t = cw_perturb_target(d, name);
            if (t < 0 || d->single_of_target[t] < 0)
                return cw_fail(CW_EINVAL,
                               "reference split: held-out target '%s' is not a single "
                               "perturbation of the data%s",
                               name ? name : "(null)",
                               t >= 0 ? " (it occurs only in combinations)" : "");
            int64_t nc = cw_perturb_n_cells(d, d->single_of_target[t]);
            if (nc < need)
                return cw_fail(CW_EINVAL,
                               "reference split: held-out target '%s' has %lld cells; it needs "
                               "at least test_cells + val_cells + 1 = %lld (%lld + %lld + 1); "
                               "lower --test-cells / --val-cells",
                               name, (long long)nc, (long long)need, (long long)nt, (long long)nv);
            int dup = 0; /* dedup here: tmp holds at most n_targets entries */
            for (int64_t j = 0; j < n_held && !dup; j++) dup = tmp[j] == t;
            if (!dup) tmp[n_held++] = t;
        }
        if (n_held == 0)
            return cw_fail(CW_EINVAL, "reference split: the held-out target list is empty");
    } else {
        for (int k = 0; k < CW_N_REFERENCE_TARGETS; k++) {
            int64_t t = cw_perturb_target(d, cw_reference_targets[k]);
            if (t >= 0 && d->single_of_target[t] >= 0 &&
                cw_perturb_n_cells(d, d->single_of_target[t]) >= need)
                tmp[n_held++] = t;
        }
        if (n_held == 0) {
            /* fallback: the up to 14 largest singles with enough cells, ties by target order */
            int64_t largest = 0;
            for (int64_t r = 0; r < CW_N_REFERENCE_TARGETS; r++) {
                int64_t best = -1, best_n = -1;
                for (int64_t p = 0; p < d->n_singles; p++) {
                    int64_t nc = cw_perturb_n_cells(d, p);
                    if (nc > largest) largest = nc;
                    if (nc < need) continue;
                    int taken = 0;
                    for (int64_t j = 0; j < n_held && !taken; j++)
                        taken = tmp[j] == d->pert_targets[d->target_off[p]];
                    if (!taken && nc > best_n)
                        best = p, best_n = nc; /* p ascending = target order */
                }
                if (best < 0) break;
                tmp[n_held++] = d->pert_targets[d->target_off[best]];
            }
            if (n_held == 0)
                return cw_fail(CW_EINVAL,
                               "reference split: no single perturbation has the %lld cells a "
                               "held-out target needs (test_cells %lld + val_cells %lld + 1); "
                               "the largest has %lld; lower --test-cells / --val-cells",
                               (long long)need, (long long)nt, (long long)nv, (long long)largest);
        }
    }
    qsort(tmp, (size_t)n_held, sizeof *tmp, cmp_i64);
    int64_t m = 0;
    for (int64_t k = 0; k < n_held; k++)
        if (m == 0 || tmp[k] != tmp[m - 1]) tmp[m++] = tmp[k];
    n_held = m;
    CW_TRY(targets_to_strings(d, tmp, n_held, &s->heldout));
    base_roles(s, d);
    for (int64_t k = 0; k < n_held; k++) {
        int64_t p = d->single_of_target[tmp[k]];
        const int64_t *c = cw_perturb_cells(d, p);
        for (int64_t j = 0; j < nt + nv; j++)
            s->role[c[j]] = (int8_t)(j < nt ? CW_ROLE_TEST : CW_ROLE_VAL);
    }
    return CW_OK;
}

/* Random cells of each single to test/val by fraction (val only when ft == 0). */
static void random_cells(cw_split *s, const cw_perturb_design *d, cw_rng *rng, double ft, double fv,
                         int64_t *tmp) {
    for (int64_t p = 0; p < d->n_singles; p++) {
        int64_t n = cw_perturb_n_cells(d, p);
        memcpy(tmp, cw_perturb_cells(d, p), (size_t)n * sizeof *tmp);
        cw_rng_shuffle_i64(rng, tmp, n);
        int64_t k_t = frac_count(ft, n), k_v = frac_count(fv, n);
        if (k_v > n - k_t) k_v = n - k_t;
        for (int64_t j = 0; j < k_t + k_v; j++)
            s->role[tmp[j]] = (int8_t)(j < k_t ? CW_ROLE_TEST : CW_ROLE_VAL);
    }
}

static cw_status check_fraction(const char *kind, const char *what, double f) {
    if (!(f >= 0.0 && f <= 1.0))
        return cw_fail(CW_EINVAL, "%s split: %s %g is not in [0, 1]", kind, what, f);
    return CW_OK;
}

static cw_status make_unseen_targets(cw_split *s, const cw_perturb_design *d, cw_rng *rng,
                                     const cw_split_opts *o, int64_t *tmp) {
    int64_t n_cand = 0;
    for (int64_t t = 0; t < d->n_targets; t++)
        if (d->single_of_target[t] >= 0) tmp[n_cand++] = t;
    int64_t k_t = frac_count(o->test_fraction, n_cand), k_v = frac_count(o->val_fraction, n_cand);
    if (k_t < 1) k_t = 1;
    if (o->val_fraction > 0 && k_v < 1) k_v = 1;
    if (k_t + k_v >= n_cand)
        return cw_fail(CW_EINVAL,
                       "unseen-targets split: holding out %lld test + %lld val targets leaves "
                       "none of the %lld targets with single perturbations for training; lower "
                       "--test-fraction / --val-fraction",
                       (long long)k_t, (long long)k_v, (long long)n_cand);
    cw_rng_shuffle_i64(rng, tmp, n_cand);
    qsort(tmp, (size_t)k_t, sizeof *tmp, cmp_i64);
    qsort(tmp + k_t, (size_t)k_v, sizeof *tmp, cmp_i64);
    CW_TRY(targets_to_strings(d, tmp, k_t, &s->test_targets));
    CW_TRY(targets_to_strings(d, tmp + k_t, k_v, &s->val_targets));
    base_roles(s, d);
    for (int64_t k = 0; k < k_t + k_v; k++) {
        int64_t p = d->single_of_target[tmp[k]];
        const int64_t *c = cw_perturb_cells(d, p);
        for (int64_t j = 0; j < cw_perturb_n_cells(d, p); j++)
            s->role[c[j]] = (int8_t)(k < k_t ? CW_ROLE_TEST : CW_ROLE_VAL);
    }
    return CW_OK;
}

static cw_status make_unseen_combos(cw_split *s, const cw_perturb_design *d, cw_rng *rng,
                                    const cw_split_opts *o, int64_t *tmp) {
    const int64_t n_combo = d->n_perts - d->n_singles;
    if (n_combo == 0)
        return cw_fail(CW_EINVAL,
                       "unseen-combinations split: the data has no combination perturbations");
    for (int64_t k = 0; k < n_combo; k++) tmp[k] = d->n_singles + k;
    int64_t k_t = frac_count(o->test_fraction, n_combo);
    if (k_t < 1) k_t = 1;
    cw_rng_shuffle_i64(rng, tmp, n_combo);
    qsort(tmp, (size_t)k_t, sizeof *tmp, cmp_i64);
    CW_TRY(cw_strings_alloc(&s->test_combos, k_t));
    for (int64_t k = 0; k < k_t; k++)
        CW_TRY(cw_strings_set(&s->test_combos, k, d->labels.s[tmp[k]]));
    base_roles(s, d);
    for (int64_t p = d->n_singles; p < d->n_perts; p++) {
        int test = bsearch(&p, tmp, (size_t)k_t, sizeof *tmp, cmp_i64) != NULL;
        const int64_t *c = cw_perturb_cells(d, p);
        for (int64_t j = 0; j < cw_perturb_n_cells(d, p); j++)
            s->role[c[j]] = (int8_t)(test ? CW_ROLE_TEST : CW_ROLE_TRAIN);
    }
    random_cells(s, d, rng, 0.0, o->val_fraction, tmp);
    return CW_OK;
}

cw_status cw_split_make(cw_split *out, const cw_perturb_design *d, const cw_split_opts *o) {
    memset(out, 0, sizeof *out);
    const char *kn = cw_split_kind_name(o->kind);
    if ((int)o->kind < 0 || (int)o->kind > 3)
        return cw_fail(CW_EINVAL, "unknown split kind %d", (int)o->kind);
    if (o->batch_size < 1)
        return cw_fail(CW_EINVAL, "%s split: batch size %lld must be positive", kn,
                       (long long)o->batch_size);
    if (o->kind == CW_SPLIT_REFERENCE && (o->test_cells < 0 || o->val_cells < 0))
        return cw_fail(CW_EINVAL, "reference split: test_cells and val_cells must be >= 0");
    if (o->kind != CW_SPLIT_REFERENCE) {
        CW_TRY(check_fraction(kn, "test fraction", o->test_fraction));
        CW_TRY(check_fraction(kn, "val fraction", o->val_fraction));
        if (o->kind == CW_SPLIT_RANDOM && o->test_fraction + o->val_fraction > 1.0)
            return cw_fail(CW_EINVAL, "random split: test fraction %g + val fraction %g exceed 1",
                           o->test_fraction, o->val_fraction);
    }
    out->opts = *o;
    out->opts.heldout = NULL;
    out->n_cells = d->n_cells;
    out->n_perts = d->n_perts;
    int64_t max_n = d->n_targets > d->n_perts ? d->n_targets : d->n_perts;
    for (int64_t p = 0; p < d->n_perts; p++)
        if (cw_perturb_n_cells(d, p) > max_n) max_n = cw_perturb_n_cells(d, p);
    int64_t *tmp = cw_malloc_array((size_t)(max_n > 0 ? max_n : 1), sizeof *tmp);
    out->role = cw_malloc_array((size_t)(d->n_cells > 0 ? d->n_cells : 1), sizeof *out->role);
    out->pert_seen = cw_calloc((size_t)(d->n_perts > 0 ? d->n_perts : 1), sizeof *out->pert_seen);
    cw_status st = CW_OK;
    if (!tmp || !out->role || !out->pert_seen) {
        st = cw_fail(CW_ENOMEM, "out of memory making the %s split", kn);
        goto done;
    }
    cw_rng rng;
    cw_rng_substream(&rng, o->seed, CW_RNG_STREAM_SPLIT);
    switch (o->kind) {
    case CW_SPLIT_REFERENCE: st = make_reference(out, d, o, tmp); break;
    case CW_SPLIT_RANDOM:
        base_roles(out, d);
        random_cells(out, d, &rng, o->test_fraction, o->val_fraction, tmp);
        break;
    case CW_SPLIT_UNSEEN_TARGETS: st = make_unseen_targets(out, d, &rng, o, tmp); break;
    case CW_SPLIT_UNSEEN_COMBINATIONS: st = make_unseen_combos(out, d, &rng, o, tmp); break;
    }
    if (st == CW_OK) summarize(out, d);
done:
    cw_free(tmp);
    if (st != CW_OK) cw_split_free(out);
    return st;
}

/* ---- JSON --------------------------------------------------------------------------------------
 */

static uint64_t fingerprint(const cw_perturb_design *d) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the per-cell ids, 8 bytes little endian */
    for (int64_t i = 0; i < d->n_cells; i++) {
        uint64_t v = (uint64_t)d->cell_pert[i];
        for (int b = 0; b < 8; b++) {
            h ^= (v >> (8 * b)) & 0xffu;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

static json_t *strings_json(const cw_strings *l) {
    json_t *a = json_array();
    if (!a) return NULL;
    for (int64_t k = 0; k < l->n; k++)
        if (json_array_append_new(a, l->s[k] ? json_string(l->s[k]) : json_null())) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Sets key to v (takes v); returns nonzero on failure (v NULL or jansson out of memory). */
static int put(json_t *o, const char *key, json_t *v) {
    return !v || json_object_set_new(o, key, v);
}

static json_t *split_meta(const cw_split *s, const cw_perturb_design *d) {
    json_t *root = json_object(), *opt = json_object(), *des = json_object(), *sum = json_object();
    if (!root || !opt || !des || !sum) {
        json_decref(root);
        json_decref(opt);
        json_decref(des);
        json_decref(sum);
        return NULL;
    }
    /* put() always consumes its value, so `bad |=` (no short circuit) never leaks */
    int bad = 0;
    char fp[40];
    snprintf(fp, sizeof fp, "fnv1a64:%016llx", (unsigned long long)fingerprint(d));
    bad |= put(root, "format", json_string("causeway-split"));
    bad |= put(root, "version", json_integer(1));
    bad |= put(root, "kind", json_string(cw_split_kind_name(s->opts.kind)));
    if (s->opts.seed <= (uint64_t)INT64_MAX) {
        bad |= put(root, "seed", json_integer((json_int_t)s->opts.seed));
    } else { /* beyond JSON's signed 64-bit integers: a decimal string */
        char sd[32];
        snprintf(sd, sizeof sd, "%llu", (unsigned long long)s->opts.seed);
        bad |= put(root, "seed", json_string(sd));
    }
    bad |= put(opt, "batch_size", json_integer(s->opts.batch_size));
    bad |= put(opt, "test_cells", json_integer(s->opts.test_cells));
    bad |= put(opt, "val_cells", json_integer(s->opts.val_cells));
    bad |= put(opt, "test_fraction", json_real(s->opts.test_fraction));
    bad |= put(opt, "val_fraction", json_real(s->opts.val_fraction));
    bad |= put(root, "options", opt);
    bad |= put(root, "heldout_targets", strings_json(&s->heldout));
    bad |= put(root, "test_targets", strings_json(&s->test_targets));
    bad |= put(root, "val_targets", strings_json(&s->val_targets));
    bad |= put(root, "test_combinations", strings_json(&s->test_combos));
    bad |= put(des, "n_cells", json_integer(d->n_cells));
    bad |= put(des, "n_controls", json_integer(d->n_controls));
    bad |= put(des, "perturbation_key", json_string(d->key ? d->key : ""));
    bad |= put(des, "separators", json_string(d->separators ? d->separators : ""));
    bad |= put(des, "control_labels", strings_json(&d->control_labels));
    bad |= put(des, "targets", strings_json(&d->targets));
    bad |= put(des, "perturbations", strings_json(&d->labels));
    bad |= put(des, "cell_fingerprint", json_string(fp));
    bad |= put(root, "design", des);
    for (int r = 0; r < CW_N_ROLES; r++) {
        json_t *o = json_object();
        if (o) {
            bad |= put(o, "cells", json_integer(s->summary.cells[r]));
            bad |= put(o, "single_cells", json_integer(s->summary.single_cells[r]));
            bad |= put(o, "combination_cells", json_integer(s->summary.combo_cells[r]));
            bad |= put(o, "perturbations", json_integer(s->summary.perts[r]));
        }
        bad |= put(sum, role_names[r], o);
    }
    json_t *seen = json_array();
    for (int k = 0; k < 3 && seen; k++)
        bad |= json_array_append_new(seen, json_integer(s->summary.test_combos_by_seen[k])) != 0;
    bad |= put(sum, "test_combinations_by_seen_targets", seen);
    /* which test combinations have 0, 1, >= 2 seen targets (GEARS combo_seen0/1/2) */
    json_t *which = json_object();
    for (int k = 0; k < 3 && which; k++) {
        json_t *a = json_array();
        for (int64_t p = d->n_singles; p < d->n_perts && a; p++) {
            int64_t sn = s->pert_seen[p] < 2 ? s->pert_seen[p] : 2;
            const int64_t *c = cw_perturb_cells(d, p);
            int in_test = 0;
            for (int64_t j = 0; j < cw_perturb_n_cells(d, p) && !in_test; j++)
                in_test = s->role[c[j]] == CW_ROLE_TEST;
            if (in_test && sn == k)
                bad |= json_array_append_new(a, json_string(d->labels.s[p])) != 0;
        }
        bad |= put(which, k == 0 ? "0" : k == 1 ? "1" : "2", a);
    }
    bad |= put(sum, "test_combinations_seen", which);
    bad |= put(root, "summary", sum);
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

cw_status cw_split_save(const cw_split *s, const cw_perturb_design *d, const char *path) {
    if (s->n_cells != d->n_cells)
        return cw_fail(CW_EINVAL, "%s: the split has %lld cells, the design %lld", path,
                       (long long)s->n_cells, (long long)d->n_cells);
    json_t *meta = split_meta(s, d);
    if (!meta) return cw_fail(CW_ENOMEM, "%s: out of memory writing the split", path);
    char *text = json_dumps(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(meta);
    if (!text) return cw_fail(CW_ENOMEM, "%s: out of memory writing the split", path);
    char *end = strrchr(text, '}'); /* reopen the object to append the cell lists */
    CW_ASSERT(end);
    while (end > text && (end[-1] == '\n' || end[-1] == ' ')) end--;
    *end = '\0';

    size_t plen = strlen(path) + 32;
    char *tmp = cw_malloc(plen);
    if (!tmp) {
        free(text);
        return cw_fail(CW_ENOMEM, "%s: out of memory writing the split", path);
    }
    snprintf(tmp, plen, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        cw_status st = cw_fail(CW_EIO, "%s: cannot write: %s", path, strerror(errno));
        free(text);
        cw_free(tmp);
        return st;
    }
    fputs(text, f);
    free(text);
    fputs(",\n  \"cells\": {", f);
    for (int r = 0; r < CW_N_ROLES; r++) {
        fprintf(f, "%s\n    \"%s\": [", r ? "," : "", role_names[r]);
        int64_t m = 0;
        for (int64_t i = 0; i < s->n_cells; i++)
            if (s->role[i] == r) fprintf(f, m++ ? ", %lld" : "%lld", (long long)i);
        fputs("]", f);
    }
    fputs("\n  }\n}\n", f);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        cw_status st = cw_fail(CW_EIO, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
        cw_free(tmp);
        return st;
    }
    cw_free(tmp);
    return CW_OK;
}

/* ---- loading ------------------------------------------------------------------------------------
 */

static cw_status get_int(const char *path, json_t *o, const char *key, int64_t *v) {
    json_t *x = json_object_get(o, key);
    if (!json_is_integer(x))
        return cw_fail(CW_EFORMAT, "%s: '%s' is missing or not an integer", path, key);
    *v = (int64_t)json_integer_value(x);
    return CW_OK;
}

static cw_status get_real(const char *path, json_t *o, const char *key, double *v) {
    json_t *x = json_object_get(o, key);
    if (!json_is_number(x))
        return cw_fail(CW_EFORMAT, "%s: '%s' is missing or not a number", path, key);
    *v = json_number_value(x);
    return CW_OK;
}

/* A JSON array of strings into out (missing key = empty list). */
static cw_status get_strings(const char *path, json_t *o, const char *key, cw_strings *out) {
    json_t *a = json_object_get(o, key);
    CW_TRY(cw_strings_alloc(out, 0));
    if (!a) return CW_OK;
    if (!json_is_array(a)) return cw_fail(CW_EFORMAT, "%s: '%s' is not an array", path, key);
    for (size_t k = 0; k < json_array_size(a); k++) {
        json_t *v = json_array_get(a, k);
        if (!json_is_string(v) && !json_is_null(v))
            return cw_fail(CW_EFORMAT, "%s: '%s'[%zu] is not a string", path, key, k);
        CW_TRY(cw_strings_push(out, json_is_string(v) ? json_string_value(v) : NULL));
    }
    return CW_OK;
}

/* Compares a design list in the file with the data's; names the first difference. */
static cw_status same_list(const char *path, const char *one, const char *many,
                           const cw_strings *file, const cw_strings *data) {
    if (file->n != data->n)
        return cw_fail(CW_EFORMAT,
                       "%s: the split was made for data with %lld %s; this data has %lld (was "
                       "the split made for another file or other label options?)",
                       path, (long long)file->n, many, (long long)data->n);
    for (int64_t k = 0; k < file->n; k++) {
        const char *a = file->s[k] ? file->s[k] : "", *b = data->s[k] ? data->s[k] : "";
        if (strcmp(a, b) != 0)
            return cw_fail(CW_EFORMAT,
                           "%s: %s %lld is '%s' in the split but '%s' in this data (was the "
                           "split made for another file or other label options?)",
                           path, one, (long long)k, a, b);
    }
    return CW_OK;
}

static cw_status load_body(cw_split *out, const cw_perturb_design *d, const char *path,
                           json_t *root) {
    if (!json_is_object(root)) return cw_fail(CW_EFORMAT, "%s: not a JSON object", path);
    json_t *fmt = json_object_get(root, "format");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "causeway-split") != 0)
        return cw_fail(CW_EFORMAT,
                       "%s: not a causeway split file (\"format\" is not "
                       "\"causeway-split\")",
                       path);
    int64_t version = 0;
    CW_TRY(get_int(path, root, "version", &version));
    if (version != 1)
        return cw_fail(CW_EFORMAT, "%s: split file version %lld; this causeway reads version 1",
                       path, (long long)version);
    json_t *kind = json_object_get(root, "kind");
    if (!json_is_string(kind)) return cw_fail(CW_EFORMAT, "%s: 'kind' is missing", path);
    cw_split_kind kd = CW_SPLIT_REFERENCE;
    if (cw_split_kind_parse(json_string_value(kind), &kd) != CW_OK)
        return cw_fail_prefix(CW_EFORMAT, "%s", path);
    cw_split_opts_default(&out->opts, kd);
    json_t *seed = json_object_get(root, "seed");
    if (json_is_integer(seed) && json_integer_value(seed) >= 0)
        out->opts.seed = (uint64_t)json_integer_value(seed);
    else if (json_is_string(seed)) {
        char *e;
        errno = 0;
        out->opts.seed = strtoull(json_string_value(seed), &e, 10);
        if (errno || *e || e == json_string_value(seed))
            return cw_fail(CW_EFORMAT, "%s: 'seed' is not a non-negative integer", path);
    } else
        return cw_fail(CW_EFORMAT, "%s: 'seed' is missing or not a non-negative integer", path);
    json_t *opt = json_object_get(root, "options");
    if (!json_is_object(opt)) return cw_fail(CW_EFORMAT, "%s: 'options' is missing", path);
    CW_TRY(get_int(path, opt, "batch_size", &out->opts.batch_size));
    CW_TRY(get_int(path, opt, "test_cells", &out->opts.test_cells));
    CW_TRY(get_int(path, opt, "val_cells", &out->opts.val_cells));
    CW_TRY(get_real(path, opt, "test_fraction", &out->opts.test_fraction));
    CW_TRY(get_real(path, opt, "val_fraction", &out->opts.val_fraction));
    CW_TRY(get_strings(path, root, "heldout_targets", &out->heldout));
    CW_TRY(get_strings(path, root, "test_targets", &out->test_targets));
    CW_TRY(get_strings(path, root, "val_targets", &out->val_targets));
    CW_TRY(get_strings(path, root, "test_combinations", &out->test_combos));

    /* the design it was made for */
    json_t *des = json_object_get(root, "design");
    if (!json_is_object(des)) return cw_fail(CW_EFORMAT, "%s: 'design' is missing", path);
    int64_t n_cells = 0, n_controls = 0;
    CW_TRY(get_int(path, des, "n_cells", &n_cells));
    CW_TRY(get_int(path, des, "n_controls", &n_controls));
    if (n_cells != d->n_cells)
        return cw_fail(CW_EFORMAT, "%s: the split was made for %lld cells; this data has %lld",
                       path, (long long)n_cells, (long long)d->n_cells);
    if (n_controls != d->n_controls)
        return cw_fail(CW_EFORMAT,
                       "%s: the split was made for data with %lld control cells; this data has "
                       "%lld (other control labels?)",
                       path, (long long)n_controls, (long long)d->n_controls);
    cw_strings l = {0, NULL};
    cw_status st = get_strings(path, des, "targets", &l);
    if (st == CW_OK) st = same_list(path, "target", "targets", &l, &d->targets);
    cw_strings_free(&l);
    if (st == CW_OK) st = get_strings(path, des, "perturbations", &l);
    if (st == CW_OK) st = same_list(path, "perturbation", "perturbations", &l, &d->labels);
    cw_strings_free(&l);
    if (st != CW_OK) return st;
    json_t *fp = json_object_get(des, "cell_fingerprint");
    char want[40];
    snprintf(want, sizeof want, "fnv1a64:%016llx", (unsigned long long)fingerprint(d));
    if (!json_is_string(fp))
        return cw_fail(CW_EFORMAT, "%s: 'design.cell_fingerprint' is missing", path);
    if (strcmp(json_string_value(fp), want) != 0)
        return cw_fail(CW_EFORMAT,
                       "%s: the cells' perturbations differ from this data (same perturbations "
                       "and counts, but in another cell order?): fingerprint %s, data %s",
                       path, json_string_value(fp), want);

    /* cells */
    json_t *cells = json_object_get(root, "cells");
    if (!json_is_object(cells)) return cw_fail(CW_EFORMAT, "%s: 'cells' is missing", path);
    out->n_cells = d->n_cells;
    out->n_perts = d->n_perts;
    out->role = cw_malloc_array((size_t)(d->n_cells > 0 ? d->n_cells : 1), sizeof *out->role);
    out->pert_seen = cw_calloc((size_t)(d->n_perts > 0 ? d->n_perts : 1), sizeof *out->pert_seen);
    if (!out->role || !out->pert_seen) return cw_fail(CW_ENOMEM, "%s: out of memory", path);
    memset(out->role, -1, (size_t)d->n_cells);
    for (int r = 0; r < CW_N_ROLES; r++) {
        json_t *a = json_object_get(cells, role_names[r]);
        if (!json_is_array(a))
            return cw_fail(CW_EFORMAT, "%s: 'cells.%s' is missing or not an array", path,
                           role_names[r]);
        for (size_t k = 0; k < json_array_size(a); k++) {
            json_t *v = json_array_get(a, k);
            if (!json_is_integer(v))
                return cw_fail(CW_EFORMAT, "%s: cells.%s[%zu] is not an integer", path,
                               role_names[r], k);
            json_int_t i = json_integer_value(v);
            if (i < 0 || i >= d->n_cells)
                return cw_fail(CW_EFORMAT,
                               "%s: cells.%s[%zu] = %lld is not a cell index "
                               "(0..%lld)",
                               path, role_names[r], k, (long long)i, (long long)d->n_cells - 1);
            if (out->role[i] >= 0)
                return cw_fail(CW_EFORMAT, "%s: cell %lld is listed twice (%s and %s)", path,
                               (long long)i, role_names[out->role[i]], role_names[r]);
            int is_ctrl = d->cell_pert[i] < 0;
            if (is_ctrl != (r == CW_ROLE_CONTROL))
                return cw_fail(CW_EFORMAT, "%s: cell %lld is %s in this data but listed as %s",
                               path, (long long)i, is_ctrl ? "a control" : "perturbed",
                               role_names[r]);
            out->role[i] = (int8_t)r;
        }
    }
    for (int64_t i = 0; i < d->n_cells; i++)
        if (out->role[i] < 0)
            return cw_fail(CW_EFORMAT,
                           "%s: cell %lld has no role (in none of train, val, test, "
                           "control)",
                           path, (long long)i);
    summarize(out, d);
    return CW_OK;
}

cw_status cw_split_load(cw_split *out, const cw_perturb_design *d, const char *path) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return cw_fail(CW_EIO, "%s: cannot open the split file: %s", path, strerror(errno));
    json_error_t err;
    json_t *root = json_loadf(f, 0, &err);
    fclose(f);
    if (!root)
        return cw_fail(CW_EFORMAT, "%s:%d:%d: not valid JSON: %s", path, err.line, err.column,
                       err.text);
    cw_status st = load_body(out, d, path, root);
    json_decref(root);
    if (st != CW_OK) cw_split_free(out);
    return st;
}
