/* ablation.c: trains and evaluates every variant over the seeds and writes the table
 * (ablation.h). */
#include "models/ablation.h"

#include "core/alloc.h"
#include "core/status.h"
#include "core/timer.h"
#include "eval/metrics.h"
#include "models/evaluate.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const cw_ablation_variant variants[] = {
    {"cmvae", "CMVAE: MLP encoder, no graph", "cmvae", "sage", 1, {0, 0}, 0, NULL, 0, 0, "mlp"},
    {"multihot", "CMVAE-multihot: x + pathway multi-hot of the paired control", "multihot",
     "sage", 1, {0, 0}, 0, NULL, 0, 0, "mlp"},
    {"vgae", "VGAE: SAGE encoder, no DAG, Laplacian term", "vgae", "sage", 1, {0, 0}, 0, NULL, 0,
     0, "mlp"},
    {"sena", "SENA: pathway-masked first encoder layer", "sena", "sage", 1, {0, 0}, 0, NULL, 0, 0,
     "mlp"},
    {"grace-sage", "GraCE-VAE: 1-layer SAGE, full graph (main)", "grace", "sage", 1, {0, 0}, 0,
     NULL, 0, 0, "mlp"},
    {"grace-gcn", "GraCE-VAE: 1-layer GCN", "grace", "gcn", 1, {0, 0}, 0, NULL, 0, 0, "mlp"},
    {"grace-gat", "GraCE-VAE: 1-layer GAT", "grace", "gat", 1, {0, 0}, 0, NULL, 0, 0, "mlp"},
    {"grace-gat3", "GraCE-VAE: 3-layer GAT (widths 4, 8; 4 heads)", "grace", "gat", 3, {4, 8}, 4,
     NULL, 0, 0, "mlp"},
    {"levels-gg", "GAT on gene-gene (PPI) edges only", "grace", "gat", 1, {0, 0}, 0, "gg", 1, 0,
     "mlp"},
    {"levels-gg+pg", "GAT on PPI + gene-pathway, involved pathways", "grace", "gat", 1, {0, 0}, 0,
     "gg+pg", 1, 0, "mlp"},
    {"levels-gg+pg+pp", "GAT on PPI + gene-pathway + pathway-pathway, involved", "grace", "gat",
     1, {0, 0}, 0, "gg+pg+pp", 1, 0, "mlp"},
    {"corrupt-0.5", "GraCE-VAE (SAGE) on a graph with 50 % random edges", "grace", "sage", 1,
     {0, 0}, 0, NULL, 0, 0.5, "mlp"},
    {"interv-trivalue", "GraCE-VAE + tri-value GCN intervention encoder", "grace", "sage", 1,
     {0, 0}, 0, NULL, 0, 0, "trivalue"},
    {"interv-trivalue-1hop", "GraCE-VAE + tri-value encoder on the 1-hop subgraph", "grace",
     "sage", 1, {0, 0}, 0, NULL, 0, 0, "trivalue-1hop"},
    {"interv-dropedge", "GraCE-VAE + DropEdge intervention encoder", "grace", "sage", 1, {0, 0}, 0,
     NULL, 0, 0, "dropedge"},
};

const cw_ablation_variant *cw_ablation_variants(int *n) {
    *n = (int)(sizeof variants / sizeof variants[0]);
    return variants;
}

/* metric columns collected per run */
enum {
    M_S_R2, M_S_RMSE, M_S_MMD, M_S_PD, M_C_R2, M_C_RMSE, M_C_MMD, M_C_PD, M_CA_R2, M_CA_MMD,
    M_MCC, M_SHD, M_CTRL_S_R2, M_CTRL_S_MMD, M_CTRL_C_R2, M_CTRL_C_MMD, M_ADD_R2, M_ADD_MMD,
    M_SECONDS, M_N
};
static const char *metric_group[M_N] = {
    "single", "single", "single", "single", "combination", "combination", "combination",
    "combination", "combination_additive_subset", "combination_additive_subset", "latent",
    "latent", "single", "single", "combination", "combination", "combination_additive_subset",
    "combination_additive_subset", "run"};
static const char *metric_name[M_N] = {
    "r2_deg", "rmse_deg", "mmd_deg", "pearson_delta_deg", "r2_deg", "rmse_deg", "mmd_deg",
    "pearson_delta_deg", "r2_deg", "mmd_deg", "mcc", "shd", "control_r2_deg", "control_mmd_deg",
    "control_r2_deg", "control_mmd_deg", "additive_r2_deg", "additive_mmd_deg", "train_seconds"};

static int selected(const char *only, const char *name) {
    if (!only) return 1;
    size_t n = strlen(name);
    for (const char *p = only; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p += len + (e ? 1 : 0);
    }
    return 0;
}

static cw_status one_run(const cw_ablation_opts *o, const cw_ablation_variant *v, uint64_t seed,
                         double *row) {
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/%s", o->root, v->name);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cw_fail(CW_EIO, "%s: cannot create: %s", dir, strerror(errno));
    snprintf(dir, sizeof dir, "%s/%s/seed%" PRIu64, o->root, v->name, seed);
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    double t0 = cw_now(), train_s = NAN;
    if (access(path, F_OK) != 0) {
        cw_train_opts t = *o->base;
        t.out_dir = dir;
        t.seed = seed;
        t.model = v->model;
        t.gnn = v->gnn;
        t.gnn_layers = v->gnn_layers;
        memset(t.gnn_widths, 0, sizeof t.gnn_widths);
        t.gnn_widths[0] = v->widths[0];
        t.gnn_widths[1] = v->widths[1];
        t.gnn_heads = v->heads;
        t.interv_encoder = v->interv;
        if (v->levels) t.graph.levels = v->levels;
        t.graph.involved_only = v->involved_only || o->base->graph.involved_only;
        t.graph.corrupt_fraction = v->corrupt;
        t.quiet = 1;
        t.progress_tty = 0;
        CW_TRY(cw_train(&t));
        train_s = cw_now() - t0;
    }
    cw_evaluate_opts e;
    cw_evaluate_opts_default(&e);
    e.run_dir = dir;
    e.quiet = 1;
    e.threads = o->base->threads;
    e.memory_cap = o->base->memory_cap;
    cw_eval_summary s;
    CW_TRY(cw_evaluate(&e, &s));
    const cw_metrics *ms = &s.model[CW_EVAL_SINGLE].mean.deg, *mc = &s.model[CW_EVAL_COMBO].mean.deg;
    const cw_metrics *cs = &s.control[CW_EVAL_SINGLE].mean.deg, *cc = &s.control[CW_EVAL_COMBO].mean.deg;
    row[M_S_R2] = ms->r2_reference, row[M_S_RMSE] = ms->rmse_relative, row[M_S_MMD] = ms->mmd;
    row[M_S_PD] = ms->pearson_delta;
    row[M_C_R2] = mc->r2_reference, row[M_C_RMSE] = mc->rmse_relative, row[M_C_MMD] = mc->mmd;
    row[M_C_PD] = mc->pearson_delta;
    row[M_CA_R2] = s.model_additive.mean.deg.r2_reference;
    row[M_CA_MMD] = s.model_additive.mean.deg.mmd;
    row[M_MCC] = s.has_truth ? s.mcc : NAN;
    row[M_SHD] = s.has_truth ? (double)s.shd : NAN;
    row[M_CTRL_S_R2] = cs->r2_reference, row[M_CTRL_S_MMD] = cs->mmd;
    row[M_CTRL_C_R2] = cc->r2_reference, row[M_CTRL_C_MMD] = cc->mmd;
    row[M_ADD_R2] = s.additive.mean.deg.r2_reference, row[M_ADD_MMD] = s.additive.mean.deg.mmd;
    row[M_SECONDS] = train_s;
    if (s.model[CW_EVAL_SINGLE].n == 0) row[M_S_R2] = row[M_S_RMSE] = row[M_S_MMD] = row[M_S_PD] = NAN;
    if (s.model[CW_EVAL_COMBO].n == 0) row[M_C_R2] = row[M_C_RMSE] = row[M_C_MMD] = row[M_C_PD] = NAN;
    if (s.additive.n == 0) row[M_CA_R2] = row[M_CA_MMD] = row[M_ADD_R2] = row[M_ADD_MMD] = NAN;
    if (!o->quiet)
        printf("  %-22s seed %-4" PRIu64 " single R2 %.4f  combination R2 %.4f  (%s)\n", v->name,
               seed, row[M_S_R2], row[M_C_R2], isnan(train_s) ? "reused" : "trained");
    return CW_OK;
}

/* mean and population std over the seeds, skipping NaN (a metric absent for the data) */
static cw_mean_std across(const double *rows, int n_seeds, int m, int *n_ok) {
    double v[256];
    int k = 0;
    for (int s = 0; s < n_seeds && k < 256; s++)
        if (!isnan(rows[s * M_N + m])) v[k++] = rows[s * M_N + m];
    cw_mean_std r = {NAN, NAN};
    if (k > 0) cw_mean_std_ddof0(&r, v, k);
    *n_ok = k;
    return r;
}

static void cell(FILE *f, cw_mean_std x) {
    if (isnan(x.mean))
        fprintf(f, " %17s", "-");
    else
        fprintf(f, " %8.4f +- %6.4f", x.mean, x.std);
}

cw_status cw_ablation_run(const cw_ablation_opts *o, FILE *table) {
    int nv;
    const cw_ablation_variant *v = cw_ablation_variants(&nv);
    if (o->n_seeds < 1 || o->n_seeds > 256) return cw_fail(CW_EINVAL, "ablate: 1..256 seeds");
    if (o->only) { /* every name must exist */
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", o->only);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int found = 0;
            for (int i = 0; i < nv; i++) found |= !strcmp(v[i].name, t);
            if (!found) return cw_fail(CW_EINVAL, "--variants: unknown variant '%s'", t);
        }
    }
    if (mkdir(o->root, 0777) != 0 && errno != EEXIST)
        return cw_fail(CW_EIO, "%s: cannot create: %s", o->root, strerror(errno));
    double *rows = cw_malloc_array((size_t)(nv * o->n_seeds * M_N), sizeof(double));
    if (!rows) return cw_fail(CW_ENOMEM, "out of memory");
    for (int i = 0; i < nv * o->n_seeds * M_N; i++) rows[i] = NAN;
    cw_status st = CW_OK;
    for (int i = 0; i < nv && st == CW_OK; i++) {
        if (!selected(o->only, v[i].name)) continue;
        for (int s = 0; s < o->n_seeds && st == CW_OK; s++) {
            st = one_run(o, &v[i], o->seeds[s], rows + (i * o->n_seeds + s) * M_N);
            if (st) cw_fail_prefix(st, "ablate: %s, seed %" PRIu64, v[i].name, o->seeds[s]);
        }
    }
    /* the TSV */
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/ablation.tsv", o->root);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = st ? NULL : fopen(tmp, "w");
    if (!st && !f) st = cw_fail(CW_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    if (f) {
        fprintf(f, "variant\tdescription\tgroup\tmetric\tmean\tstd\tseeds\n");
        for (int i = 0; i < nv; i++) {
            if (!selected(o->only, v[i].name)) continue;
            for (int m = 0; m < M_N; m++) {
                int k;
                cw_mean_std x = across(rows + i * o->n_seeds * M_N, o->n_seeds, m, &k);
                if (k == 0) continue;
                fprintf(f, "%s\t%s\t%s\t%s\t%.6g\t%.6g\t%d\n", v[i].name, v[i].what,
                        metric_group[m], metric_name[m], x.mean, x.std, k);
            }
        }
        if (fclose(f) != 0 || rename(tmp, path) != 0) {
            remove(tmp);
            st = cw_fail(CW_EIO, "%s: cannot write", path);
        }
    }
    /* the readable table */
    if (st == CW_OK && table) {
        fprintf(table, "\nDEG metrics, mean +- std over %d seed(s) (R2 as the reference: clipped "
                       "at 0; MMD sigma 1000 singles, 100 combinations)\n", o->n_seeds);
        fprintf(table, "%-22s %17s %17s %17s %17s %17s %17s\n", "variant", "single R2",
                "single MMD", "combo R2", "combo MMD", "combo R2 (add.)", "latent MCC");
        int base = -1;
        for (int i = 0; i < nv; i++) {
            if (!selected(o->only, v[i].name)) continue;
            if (base < 0) base = i;
            const double *r = rows + i * o->n_seeds * M_N;
            const int cols[6] = {M_S_R2, M_S_MMD, M_C_R2, M_C_MMD, M_CA_R2, M_MCC};
            fprintf(table, "%-22s", v[i].name);
            for (int c = 0; c < 6; c++) {
                int k;
                cell(table, across(r, o->n_seeds, cols[c], &k));
            }
            fputc('\n', table);
        }
        if (base >= 0) { /* baselines depend on the split and pairing (the seed), not the model */
            const double *r = rows + base * o->n_seeds * M_N;
            int k;
            fprintf(table, "%-22s", "baseline: control");
            cell(table, across(r, o->n_seeds, M_CTRL_S_R2, &k));
            cell(table, across(r, o->n_seeds, M_CTRL_S_MMD, &k));
            cell(table, across(r, o->n_seeds, M_CTRL_C_R2, &k));
            cell(table, across(r, o->n_seeds, M_CTRL_C_MMD, &k));
            fprintf(table, " %17s %17s\n", "-", "-");
            fprintf(table, "%-22s %17s %17s %17s %17s", "baseline: additive", "-", "-", "-", "-");
            cell(table, across(r, o->n_seeds, M_ADD_R2, &k));
            fprintf(table, " %17s\n", "-");
        }
        fprintf(table, "combo R2 (add.): over the combinations whose singles all have training "
                       "cells, where the additive baseline applies. TSV: %s\n", path);
    }
    cw_free(rows);
    return st;
}
