/* evaluate.c: the evaluation driver (see evaluate.h). */
#include "models/evaluate.h"

#include "eval/recovery.h"

#define CW_EVAL_SHD_THRESHOLD 0.1
#define CW_EVAL_RECOVERY_CELLS 5000

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "data/batches.h"
#include "eval/baseline.h"
#include "models/run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void openblas_set_num_threads(int);

enum { M_MODEL = 0, M_CONTROL = 1, M_ADDITIVE = 2, N_METHODS = 3 };
static const char *const method_name[N_METHODS] = {"model", "control_mean", "additive"};
static const char *const group_name[CW_EVAL_N_GROUPS] = {"single", "combination"};

void cw_evaluate_opts_default(cw_evaluate_opts *o) {
    memset(o, 0, sizeof *o);
    o->deg_match = CW_DEG_MATCH_SUBSTRING;
    o->deg_top = 20;
}

/* One (perturbation, method) result. */
typedef struct {
    int64_t pert;
    int group, method;
    int additive_applies; /* model rows: the combination also has an additive row */
    const char *deg_source;
    char *deg_group; /* owned */
    cw_intervention_metrics m;
} eval_row;

typedef struct {
    const cw_evaluate_opts *o;
    cw_run run;
    uint64_t seed;
    int64_t G;
    cw_strings var;
    cw_deg_table file, train, all;
    int have_file, have_train, have_all;
    double *control_mean;  /* G */
    double *train_mean;    /* n_targets * G, rows of targets with training single cells */
    int64_t *train_n;      /* n_targets: training cells of the target's single */
    float *y, *x, *yhat, *base; /* cap * G */
    float *ex;                  /* cap * E extra inputs of the paired controls */
    int64_t *ctrl, cap;
    eval_row *rows;
    int64_t n_rows, cap_rows;
    cw_strings fallbacks; /* labels of perturbations whose DEGs are not from the main source */
    int64_t n_skipped;
} eval_ctx;

static void ctx_free(eval_ctx *c) {
    cw_run_close(&c->run);
    cw_strings_free(&c->var);
    if (c->have_file) cw_deg_table_free(&c->file);
    if (c->have_train) cw_deg_table_free(&c->train);
    if (c->have_all) cw_deg_table_free(&c->all);
    cw_free(c->control_mean);
    cw_free(c->train_mean);
    cw_free(c->train_n);
    cw_free(c->y);
    cw_free(c->x);
    cw_free(c->yhat);
    cw_free(c->base);
    cw_free(c->ctrl);
    cw_free(c->ex);
    for (int64_t i = 0; i < c->n_rows; i++) cw_free(c->rows[i].deg_group);
    cw_free(c->rows);
    cw_strings_free(&c->fallbacks);
}

/* ---- means --------------------------------------------------------------------------------- */

static void add_row(const cw_csr *x, int64_t r, double *acc) {
    for (int64_t k = x->indptr[r]; k < x->indptr[r + 1]; k++) acc[x->indices[k]] += (double)x->data[k];
}

/* Control mean and per-target training means, in one pass over X in file order (each sum
 * takes its cells in file order, whatever blocks the store reads). */
static cw_status compute_means(eval_ctx *c) {
    const cw_perturb_design *d = &c->run.d;
    const int64_t G = c->G, T = d->n_targets;
    c->control_mean = cw_calloc((size_t)G, sizeof(double));
    c->train_mean = cw_calloc((size_t)(T * G), sizeof(double));
    c->train_n = cw_calloc((size_t)T, sizeof(int64_t));
    if (!c->control_mean || !c->train_mean || !c->train_n) return cw_fail(CW_ENOMEM, "out of memory");
    cw_xstore *x = &c->run.x;
    for (int64_t r0 = 0, n = 0; r0 < x->nrows; r0 += n) {
        cw_csr block;
        CW_TRY(cw_xstore_block(x, r0, x->nrows - r0, &block, &n));
        for (int64_t i = 0; i < n; i++) {
            const int64_t cell = r0 + i, p = d->cell_pert[cell];
            if (p < 0) {
                add_row(&block, i, c->control_mean);
            } else if (cw_perturb_order(d, p) == 1 && c->run.split.role[cell] == CW_ROLE_TRAIN) {
                const int64_t t = cw_perturb_targets_of(d, p)[0];
                add_row(&block, i, c->train_mean + t * G);
                c->train_n[t]++;
            }
        }
    }
    for (int64_t g = 0; g < G; g++) c->control_mean[g] /= (double)d->n_controls;
    for (int64_t t = 0; t < T; t++)
        if (c->train_n[t] > 0)
            for (int64_t g = 0; g < G; g++) c->train_mean[t * G + g] /= (double)c->train_n[t];
    return CW_OK;
}

/* ---- DEGs ---------------------------------------------------------------------------------- */

/* Computed table: only_train = training cells of every perturbation (others unused), else all
 * perturbed cells; always against every control cell. */
static cw_status compute_table(eval_ctx *c, int only_train, cw_deg_table *out) {
    const cw_perturb_design *d = &c->run.d;
    int64_t *cp = cw_malloc_array((size_t)d->n_cells, sizeof(int64_t));
    if (!cp) return cw_fail(CW_ENOMEM, "out of memory");
    for (int64_t i = 0; i < d->n_cells; i++) {
        cp[i] = d->cell_pert[i];
        if (only_train && cp[i] >= 0 && c->run.split.role[i] != CW_ROLE_TRAIN) cp[i] = -2;
    }
    cw_status st = cw_deg_compute(out, &c->run.x, cp, d->n_perts, &d->labels, &c->var,
                                  c->o->deg_top, c->o->threads);
    cw_free(cp);
    return st;
}

/* The DEG columns of perturbation p (see evaluate.h for the order of sources). */
static cw_status select_degs(eval_ctx *c, int64_t p, cw_deg_selection *sel, const char **source,
                             const char **group) {
    const cw_perturb_design *d = &c->run.d;
    const int64_t n = cw_perturb_order(d, p);
    const int64_t *tg = cw_perturb_targets_of(d, p);
    const char *names[64];
    if (n > 64) return cw_fail(CW_EINVAL, "%s: too many targets", d->labels.s[p]);
    for (int64_t i = 0; i < n; i++) names[i] = d->targets.s[tg[i]];
    memset(sel, 0, sizeof *sel);
    if (c->have_file) {
        cw_status st = cw_deg_select(sel, &c->file, &c->var, names, n, c->o->deg_match);
        if (st == CW_OK) {
            *source = "file";
            *group = c->file.groups.s[sel->group];
            return CW_OK;
        }
        if (st != CW_ENOTFOUND) return cw_fail_prefix(st, "DEGs of %s", d->labels.s[p]);
        cw_clear_error();
    }
    if (!c->have_train) {
        CW_TRY(compute_table(c, 1, &c->train));
        c->have_train = 1;
    }
    if (cw_deg_group_exact(&c->train, names, n) >= 0) {
        CW_TRY(cw_deg_select(sel, &c->train, &c->var, names, n, CW_DEG_MATCH_EXACT));
        *source = "computed";
        *group = c->train.groups.s[sel->group];
    } else {
        if (!c->have_all) {
            CW_TRY(compute_table(c, 0, &c->all));
            c->have_all = 1;
        }
        if (cw_deg_group_exact(&c->all, names, n) < 0)
            return cw_fail(CW_ENOTFOUND, "DEGs of %s: no group in the computed table",
                           d->labels.s[p]);
        CW_TRY(cw_deg_select(sel, &c->all, &c->var, names, n, CW_DEG_MATCH_EXACT));
        *source = "computed_all";
        *group = c->all.groups.s[sel->group];
    }
    if (c->have_file || strcmp(*source, "computed") != 0)
        CW_TRY(cw_strings_push(&c->fallbacks, d->labels.s[p]));
    return CW_OK;
}

/* ---- one perturbation ---------------------------------------------------------------------- */

static cw_status reserve(eval_ctx *c, int64_t n) {
    if (n <= c->cap) return CW_OK;
    size_t sz = (size_t)n * (size_t)c->G;
    float *b[4];
    for (int i = 0; i < 4; i++) b[i] = cw_malloc_array(sz, sizeof(float));
    int64_t *ctrl = cw_malloc_array((size_t)n, sizeof(int64_t));
    float *ex = cw_malloc_array((size_t)n * (size_t)(c->run.mi.extra_dim + 1), sizeof(float));
    if (!b[0] || !b[1] || !b[2] || !b[3] || !ctrl || !ex) {
        for (int i = 0; i < 4; i++) cw_free(b[i]);
        cw_free(ctrl);
        cw_free(ex);
        return cw_fail(CW_ENOMEM, "out of memory");
    }
    cw_free(c->y), cw_free(c->x), cw_free(c->yhat), cw_free(c->base), cw_free(c->ctrl);
    cw_free(c->ex);
    c->y = b[0], c->x = b[1], c->yhat = b[2], c->base = b[3], c->ctrl = ctrl, c->cap = n;
    c->ex = ex;
    return CW_OK;
}

static cw_status push_row(eval_ctx *c, int64_t p, int group, int method, const char *source,
                          const char *deg_group, const cw_intervention_metrics *m) {
    if (c->n_rows == c->cap_rows) {
        int64_t cap = c->cap_rows ? 2 * c->cap_rows : 64;
        eval_row *r = cw_realloc(c->rows, (size_t)cap * sizeof *r);
        if (!r) return cw_fail(CW_ENOMEM, "out of memory");
        c->rows = r, c->cap_rows = cap;
    }
    eval_row *r = &c->rows[c->n_rows];
    memset(r, 0, sizeof *r);
    r->deg_group = cw_strdup(deg_group);
    if (!r->deg_group) return cw_fail(CW_ENOMEM, "out of memory");
    r->pert = p, r->group = group, r->method = method, r->deg_source = source, r->m = *m;
    c->n_rows++;
    return CW_OK;
}

static cw_status eval_pert(eval_ctx *c, int group, int64_t p, const int64_t *cells, int64_t n) {
    const cw_perturb_design *d = &c->run.d;
    const int64_t G = c->G, B = c->run.model.cfg.batch;
    const int64_t *tg = cw_perturb_targets_of(d, p);
    const int64_t order = cw_perturb_order(d, p);
    CW_TRY(reserve(c, n));
    for (int64_t i = 0; i < n; i++) c->ctrl[i] = c->run.pair[cells[i]];
    CW_TRY(cw_xstore_gather(&c->run.x, cells, n, c->y));
    CW_TRY(cw_xstore_gather(&c->run.x, c->ctrl, n, c->x));
    const float *ex = cw_run_gather_extra(&c->run, c->ctrl, n, c->ex);
    const int64_t E = c->run.mi.extra_dim;
    /* the model */
    cw_rng rng;
    cw_rng_substream(&rng, c->seed, CW_RNG_STREAM_EVAL + ((uint64_t)p << 40));
    const int64_t k = tg[0], k2 = order == 2 ? tg[1] : -1;
    for (int64_t off = 0; off < n; off += B) {
        int64_t nb = n - off < B ? n - off : B;
        cw_status st = cw_cmvae_predict(&c->run.model, c->yhat + off * G, c->x + off * G,
                                        ex ? ex + off * E : NULL, nb, k, k2, NULL, &rng);
        if (st) return cw_fail_prefix(st, "predicting %s", d->labels.s[p]);
    }
    /* DEGs and metrics */
    cw_deg_selection sel;
    const char *source = NULL, *gname = NULL;
    CW_TRY(select_degs(c, p, &sel, &source, &gname));
    cw_metrics_opts mo;
    cw_metrics_opts_default(&mo, group == CW_EVAL_COMBO);
    mo.n_threads = c->o->threads;
    cw_intervention_metrics m;
    cw_status st = cw_metrics_intervention(&m, c->y, n, c->yhat, n, G, sel.cols, sel.n,
                                           c->control_mean, &mo);
    if (!st) st = push_row(c, p, group, M_MODEL, source, gname, &m);
    eval_row *model_row = st ? NULL : &c->rows[c->n_rows - 1];
    /* control baseline: the paired controls themselves */
    if (!st) st = cw_baseline_control(c->base, CW_BASELINE_PAIRED, c->x, NULL, n, G);
    if (!st) st = cw_metrics_intervention(&m, c->y, n, c->base, n, G, sel.cols, sel.n,
                                          c->control_mean, &mo);
    if (!st) st = push_row(c, p, group, M_CONTROL, source, gname, &m);
    /* additive baseline: combinations whose targets all have training single cells */
    int additive = group == CW_EVAL_COMBO;
    for (int64_t i = 0; additive && i < order; i++) additive = c->train_n[tg[i]] > 0;
    if (!st && additive) {
        const double *means[64];
        for (int64_t i = 0; i < order; i++) means[i] = c->train_mean + tg[i] * G;
        model_row->additive_applies = 1;
        st = cw_baseline_additive(c->base, CW_BASELINE_PAIRED, c->x, c->control_mean, means,
                                  order, n, G);
        if (!st) st = cw_metrics_intervention(&m, c->y, n, c->base, n, G, sel.cols, sel.n,
                                              c->control_mean, &mo);
        if (!st) st = push_row(c, p, group, M_ADDITIVE, source, gname, &m);
    }
    cw_deg_selection_free(&sel);
    if (st) cw_fail_prefix(st, "evaluating %s", d->labels.s[p]);
    return st;
}

/* ---- aggregation and output ---------------------------------------------------------------- */

static void agg_nan(cw_eval_agg *a) {
    cw_metrics z = {NAN, NAN, NAN, NAN, NAN, 0};
    a->mean.deg = a->mean.all = z;
    a->mean.n_cells = a->mean.n_deg = 0;
    a->n = 0;
}

/* Mean over the rows with this group and method (additive_subset: model rows of combinations
 * that have an additive row). */
static cw_status aggregate(const eval_ctx *c, int group, int method, int additive_subset,
                           cw_eval_agg *out) {
    agg_nan(out);
    cw_intervention_metrics *tmp = cw_malloc_array((size_t)(c->n_rows + 1), sizeof *tmp);
    if (!tmp) return cw_fail(CW_ENOMEM, "out of memory");
    int64_t n = 0;
    for (int64_t i = 0; i < c->n_rows; i++) {
        const eval_row *r = &c->rows[i];
        if (r->group == group && r->method == method && (!additive_subset || r->additive_applies))
            tmp[n++] = r->m;
    }
    cw_status st = CW_OK;
    if (n > 0) st = cw_intervention_metrics_mean(&out->mean, tmp, n);
    out->n = n;
    cw_free(tmp);
    return st;
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *agg_json(const cw_eval_agg *a) {
    json_t *j = json_object();
    const cw_metrics *d = &a->mean.deg, *l = &a->mean.all;
    json_object_set_new(j, "r2_deg", num(d->r2_reference));
    json_object_set_new(j, "rmse_deg", num(d->rmse_relative));
    json_object_set_new(j, "mmd_deg", num(d->mmd));
    json_object_set_new(j, "pearson_delta_deg", num(d->pearson_delta));
    json_object_set_new(j, "r2_standard_deg", num(d->r2_standard));
    json_object_set_new(j, "r2_all", num(l->r2_reference));
    json_object_set_new(j, "rmse_all", num(l->rmse_relative));
    json_object_set_new(j, "mmd_all", num(l->mmd));
    json_object_set_new(j, "pearson_delta_all", num(l->pearson_delta));
    json_object_set_new(j, "r2_standard_all", num(l->r2_standard));
    json_object_set_new(j, "n_perturbations", json_integer(a->n));
    return j;
}

static cw_status write_tsv(const eval_ctx *c, const char *path) {
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return cw_fail(CW_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    fprintf(f, "perturbation\tgroup\tmethod\tn_cells\tn_deg\tdeg_source\tdeg_group\tr2_deg\t"
               "rmse_deg\tmmd_deg\tpearson_delta_deg\tr2_standard_deg\tr2_all\trmse_all\t"
               "mmd_all\tpearson_delta_all\tr2_standard_all\tflags_deg\tflags_all\n");
    for (int64_t i = 0; i < c->n_rows; i++) {
        const eval_row *r = &c->rows[i];
        const cw_metrics *d = &r->m.deg, *a = &r->m.all;
        fprintf(f, "%s\t%s\t%s\t%lld\t%lld\t%s\t%s\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t"
                   "%.9g\t%.9g\t%.9g\t%d\t%d\n",
                c->run.d.labels.s[r->pert], group_name[r->group], method_name[r->method],
                (long long)r->m.n_cells, (long long)r->m.n_deg, r->deg_source, r->deg_group,
                d->r2_reference, d->rmse_relative, d->mmd, d->pearson_delta, d->r2_standard,
                a->r2_reference, a->rmse_relative, a->mmd, a->pearson_delta, a->r2_standard,
                d->flags, a->flags);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        remove(tmp);
        return cw_fail(CW_EIO, "%s: cannot write", tmp);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return cw_fail(CW_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
    }
    return CW_OK;
}

static cw_status write_outputs(eval_ctx *c, cw_eval_summary *s) {
    char path[4200], seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, c->seed);
    json_t *j = json_object();
    json_object_set_new(j, "run", json_string(c->run.dir));
    json_object_set_new(j, "data", json_string(c->run.opts.data_path));
    json_object_set_new(j, "epochs_trained", json_integer(c->run.epoch));
    json_object_set_new(j, "seed", json_string(seed));
    json_object_set_new(j, "rng_stream", json_string("substream(seed, EVAL + (perturbation id << 40))"));
    json_object_set_new(j, "deg_source", json_string(s->deg_source));
    json_object_set_new(j, "deg_match", json_string(c->o->deg_match == CW_DEG_MATCH_EXACT
                                                        ? "exact" : "reference"));
    json_object_set_new(j, "deg_top_computed", json_integer(c->o->deg_top));
    json_t *fb = json_array();
    for (int64_t i = 0; i < c->fallbacks.n; i++)
        json_array_append_new(fb, json_string(c->fallbacks.s[i]));
    json_object_set_new(j, "deg_fallbacks", fb);
    json_object_set_new(j, "n_skipped_combinations", json_integer(c->n_skipped));
    if (s->has_truth)
        json_object_set_new(j, "latent_recovery",
                            json_pack("{s:f,s:I,s:I,s:I,s:f,s:I}", "mcc", s->mcc, "shd",
                                      (json_int_t)s->shd, "shd_empty_graph",
                                      (json_int_t)s->shd_empty, "learned_edges",
                                      (json_int_t)s->learned_edges, "edge_threshold",
                                      CW_EVAL_SHD_THRESHOLD, "cells", (json_int_t)s->recovery_cells));
    for (int g = 0; g < CW_EVAL_N_GROUPS; g++) {
        json_t *o = agg_json(&s->model[g]), *b = json_object();
        json_object_set_new(b, "control_mean", agg_json(&s->control[g]));
        if (g == CW_EVAL_COMBO) {
            json_t *a = agg_json(&s->additive);
            json_object_set_new(a, "model_same_subset", agg_json(&s->model_additive));
            json_object_set_new(b, "additive", a);
        }
        json_object_set_new(o, "baselines", b);
        json_object_set_new(j, group_name[g], o);
    }
    snprintf(path, sizeof path, "%s/metrics.json", c->run.dir);
    cw_status st = cw_run_write_json(path, j);
    json_decref(j);
    if (st) return st;
    snprintf(path, sizeof path, "%s/metrics_per_perturbation.tsv", c->run.dir);
    return write_tsv(c, path);
}

static void table_line(FILE *f, const char *name, const cw_eval_agg *a) {
    const cw_metrics *d = &a->mean.deg;
    fprintf(f, "  %-26s %9.4f %10.4f %9.4f %19.4f %6lld\n", name, d->r2_reference,
            d->rmse_relative, d->mmd, d->pearson_delta, (long long)a->n);
}

void cw_eval_print_table(FILE *f, const cw_eval_summary *s) {
    fprintf(f, "  %-26s %9s %10s %9s %19s %6s\n", "", "R2(DEG)", "RMSE(DEG)", "MMD(DEG)",
            "Pearson-delta(DEG)", "n");
    for (int g = 0; g < CW_EVAL_N_GROUPS; g++) {
        fprintf(f, "%s\n", group_name[g]);
        table_line(f, "model", &s->model[g]);
        table_line(f, "control baseline", &s->control[g]);
        if (g == CW_EVAL_COMBO) {
            table_line(f, "additive baseline", &s->additive);
            table_line(f, "model (additive subset)", &s->model_additive);
        }
    }
    fprintf(f, "DEGs: %s (%lld fallbacks); seed %" PRIu64 "\n", s->deg_source,
            (long long)s->n_deg_fallback, s->seed);
    if (s->has_truth)
        fprintf(f,
                "latent recovery vs truth: MCC %.4f; SHD %lld (|A| > %g, %lld learned edges; the "
                "empty graph scores %lld)\n",
                s->mcc, (long long)s->shd, CW_EVAL_SHD_THRESHOLD, (long long)s->learned_edges,
                (long long)s->shd_empty);
}

/* MCC and SHD against the simulator's truth (see cw_eval_summary). */
static cw_status latent_recovery(eval_ctx *c, cw_eval_summary *s) {
    cw_h5ad *h = c->run.h;
    if (!cw_h5ad_exists(h, "/uns/causeway_truth/dag") || !cw_h5ad_exists(h, "/obsm/X_truth_latent"))
        return CW_OK;
    cw_cmvae *m = &c->run.model;
    const int64_t Z = m->cfg.latent, B = m->cfg.batch, N = c->run.x.nrows, G = c->G;
    cw_dmat truth = {0, 0, NULL}, dag = {0, 0, NULL};
    /* every step-th cell, up to CW_EVAL_RECOVERY_CELLS: only their truth rows are read */
    int64_t step = N > CW_EVAL_RECOVERY_CELLS ? (N + CW_EVAL_RECOVERY_CELLS - 1) / CW_EVAL_RECOVERY_CELLS : 1;
    int64_t n = (N + step - 1) / step;
    cw_status st = cw_h5ad_read_obsm_every(h, "X_truth_latent", step, &truth);
    if (st == CW_OK) st = cw_h5ad_read_doubles(h, "/uns/causeway_truth/dag", &dag);
    const int64_t Zt = truth.ncols;
    if (st == CW_OK && (truth.nrows != n || dag.nrows != Zt || dag.ncols != Zt))
        st = cw_fail(CW_EFORMAT, "%s: uns/causeway_truth/dag and obsm/X_truth_latent disagree "
                                 "in shape", c->run.opts.data_path);
    if (st == CW_OK && Zt > Z) { /* fewer learned latents than true programs: no matching */
        cw_dmat_free(&truth);
        cw_dmat_free(&dag);
        return CW_OK;
    }
    double *l = cw_malloc_array((size_t)(n * Z), sizeof(double));
    double *a = cw_calloc((size_t)(Z * Z), sizeof(double));
    float *xb = cw_malloc_array((size_t)(B * G), sizeof(float)), *ub = cw_malloc_array((size_t)(B * Z), sizeof(float));
    float *eb = cw_malloc_array((size_t)(B * (c->run.mi.extra_dim + 1)), sizeof(float));
    int64_t *cells = cw_malloc_array((size_t)B, sizeof(int64_t)), *match = cw_malloc_array((size_t)Zt, sizeof(int64_t));
    if (st == CW_OK && (!l || !a || !xb || !ub || !eb || !cells || !match))
        st = cw_fail(CW_ENOMEM, "latent recovery: out of memory");
    for (int64_t r0 = 0; st == CW_OK && r0 < n; r0 += B) {
        int64_t b = n - r0 < B ? n - r0 : B;
        for (int64_t i = 0; i < b; i++) cells[i] = (r0 + i) * step;
        st = cw_xstore_gather(&c->run.x, cells, b, xb);
        if (st == CW_OK)
            st = cw_cmvae_latent_mean(m, ub, xb, cw_run_gather_extra(&c->run, cells, b, eb), b);
        for (int64_t i = 0; st == CW_OK && i < b; i++)
            for (int64_t j = 0; j < Z; j++) l[(r0 + i) * Z + j] = ub[i * Z + j];
    }
    if (st == CW_OK) st = cw_mcc(&s->mcc, match, truth.data, Zt, l, Z, n);
    if (st == CW_OK) {
        /* vgae has no DAG: its learned graph is empty (a stays 0) */
        const float *g = cw_cmvae_has(m, CW_CMVAE_G) ? cw_cmvae_param(m, CW_CMVAE_G) : NULL;
        for (int64_t i = 0; g && i < Z; i++)
            for (int64_t j = i + 1; j < Z; j++) {
                a[i * Z + j] = g[i * Z + j];
                s->learned_edges += fabs(g[i * Z + j]) > CW_EVAL_SHD_THRESHOLD;
            }
        s->shd = cw_shd_matched(dag.data, Zt, a, Z, match, CW_EVAL_SHD_THRESHOLD);
        s->shd_empty = 0;
        for (int64_t i = 0; i < Zt * Zt; i++) s->shd_empty += dag.data[i] != 0;
        s->has_truth = 1;
        s->recovery_cells = n;
    }
    cw_free(l), cw_free(a), cw_free(xb), cw_free(ub), cw_free(cells), cw_free(match);
    cw_free(eb);
    cw_dmat_free(&truth);
    cw_dmat_free(&dag);
    return st;
}

static cw_status evaluate(eval_ctx *c, cw_eval_summary *s) {
    const cw_evaluate_opts *o = c->o;
    CW_TRY(cw_run_open_capped(&c->run, o->run_dir, o->data_path, o->memory_cap));
    c->G = c->run.x.ncols;
    c->seed = o->has_seed ? o->seed : c->run.opts.seed;
    CW_TRY(cw_h5ad_read_index(c->run.h, "var", &c->var));
    if (cw_h5ad_exists(c->run.h, "/uns/rank_genes_groups")) {
        CW_TRY(cw_h5ad_read_deg_table(c->run.h, &c->file));
        c->have_file = 1;
    }
    CW_TRY(compute_means(c));
    static const cw_pert_filter filter[CW_EVAL_N_GROUPS] = {CW_PERTS_SINGLES, CW_PERTS_COMBOS};
    for (int g = 0; g < CW_EVAL_N_GROUPS; g++) {
        cw_eval_iter it;
        CW_TRY(cw_eval_iter_init(&it, &c->run.d, c->run.split.role, CW_ROLE_TEST, filter[g]));
        int64_t p, n;
        const int64_t *cells;
        cw_status st = CW_OK;
        while (!st && cw_eval_iter_next(&it, &p, &cells, &n)) {
            if (cw_perturb_order(&c->run.d, p) > 2) {
                c->n_skipped++;
                continue;
            }
            st = eval_pert(c, g, p, cells, n);
        }
        cw_eval_iter_free(&it);
        if (st) return st;
    }
    memset(s, 0, sizeof *s);
    s->seed = c->seed;
    s->deg_source = c->have_file ? "file" : "computed";
    for (int g = 0; g < CW_EVAL_N_GROUPS; g++) {
        CW_TRY(aggregate(c, g, M_MODEL, 0, &s->model[g]));
        CW_TRY(aggregate(c, g, M_CONTROL, 0, &s->control[g]));
    }
    CW_TRY(aggregate(c, CW_EVAL_COMBO, M_ADDITIVE, 0, &s->additive));
    CW_TRY(aggregate(c, CW_EVAL_COMBO, M_MODEL, 1, &s->model_additive));
    s->n_deg_fallback = c->fallbacks.n;
    s->n_skipped = c->n_skipped;
    s->tsv_rows = c->n_rows;
    if (s->model[CW_EVAL_SINGLE].n + s->model[CW_EVAL_COMBO].n == 0)
        return cw_fail(CW_EINVAL, "%s: the split has no test perturbation to evaluate",
                       o->run_dir);
    CW_TRY(latent_recovery(c, s));
    return write_outputs(c, s);
}

cw_status cw_evaluate(const cw_evaluate_opts *o, cw_eval_summary *out) {
    if (!o->run_dir) return cw_fail(CW_EINVAL, "evaluate: RUN_DIR is required");
    if (o->deg_top < 1) return cw_fail(CW_EINVAL, "evaluate: --deg-top must be >= 1");
    if (o->threads > 0) {
        omp_set_num_threads(o->threads);
        openblas_set_num_threads(o->threads);
    }
    eval_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    cw_eval_summary s;
    memset(&s, 0, sizeof s);
    cw_status st = evaluate(&c, &s);
    if (!st && out) *out = s;
    ctx_free(&c);
    return st;
}
