/* cmd_crl_data.c: `causeway crl lscale|fsample|umni DATA.h5ad --env-key KEY --observational L
 * --out OUT.h5ad`: a score-based CRL algorithm on the user's interventional data (issue #5
 * item 3). Environments are the labels of obs[KEY]; the observational one is environment 0 and
 * every other label is one interventional environment, so the number of latents is the number
 * of labels minus one. Scores are estimated (Gaussian by default, or SSM) in the support of the
 * data, as for a linear mixing. Output: OUT.h5ad (default DATA.crl.h5ad) with the input's obs names and X, the latents
 * Z = X H^T in obsm['X_causeway_crl'], and under uns/causeway/crl the encoder H (n x d), the DAG
 * over the latents, their names, the seed and the configuration; --dag PREFIX adds PREFIX.tsv and
 * PREFIX.dot.
 */
#include "cli/cli.h"
#include "cli/cmd_crl.h"

#include "core/alloc.h"
#include "core/status.h"
#include "core/strings.h"
#include "io/h5ad.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    int64_t n, d;
    double *enc;     /* n x d (borrowed) */
    uint8_t *dag;    /* n x n (borrowed) */
    cw_strings names; /* n latent names */
} crl_fit;

static cw_status write_dag_files(const char *prefix, const crl_fit *f) {
    size_t len = strlen(prefix) + 8;
    char *path = cw_malloc(len), *tmp = cw_malloc(len + 32);
    if (!path || !tmp) {
        cw_free(path);
        cw_free(tmp);
        return cw_fail(CW_ENOMEM, "dag files: out of memory");
    }
    cw_status st = CW_OK;
    for (int kind = 0; st == CW_OK && kind < 2; kind++) {
        snprintf(path, len, "%s.%s", prefix, kind ? "dot" : "tsv");
        snprintf(tmp, len + 32, "%s.tmp", path);
        FILE *fp = fopen(tmp, "w");
        if (!fp) {
            st = cw_fail(CW_EIO, "%s: cannot write", tmp);
            break;
        }
        if (kind == 0) fprintf(fp, "source\ttarget\n");
        else fprintf(fp, "digraph causeway_crl {\n  rankdir=LR;\n");
        if (kind == 1)
            for (int64_t i = 0; i < f->n; i++) fprintf(fp, "  n%lld [label=\"%s\"];\n", (long long)i, f->names.s[i]);
        for (int64_t i = 0; i < f->n; i++)
            for (int64_t j = 0; j < f->n; j++)
                if (f->dag[i * f->n + j]) {
                    if (kind == 0) fprintf(fp, "%s\t%s\n", f->names.s[i], f->names.s[j]);
                    else fprintf(fp, "  n%lld -> n%lld;\n", (long long)i, (long long)j);
                }
        if (kind == 1) fprintf(fp, "}\n");
        if (fclose(fp) != 0 || rename(tmp, path) != 0) {
            remove(tmp);
            st = cw_fail(CW_EIO, "%s: write failed", path);
        }
    }
    cw_free(path);
    cw_free(tmp);
    return st;
}

/* OUT.h5ad: the input's obs names, obs[env_key], X, the latents and the fit. */
static cw_status write_output(const char *out, const char *in, const char *env_key,
                              const crl_fit *f, const char *config, uint64_t seed) {
    cw_h5ad *h = NULL;
    cw_h5ad_writer *w = NULL;
    float *x = NULL;
    cw_strings index = {0};
    cw_column env = {0};
    cw_dmat z = {0};
    int64_t *dag64 = NULL;
    CW_TRY(cw_h5ad_open(in, &h));
    const int64_t rows = cw_h5ad_n_obs(h), d = cw_h5ad_n_vars(h);
    cw_status st = CW_OK;
    if (d != f->d) st = cw_fail(CW_EFORMAT, "%s: X has %lld columns, the fit %lld", in, (long long)d, (long long)f->d);
    if (st == CW_OK) {
        x = cw_malloc_array((size_t)(rows * d), sizeof(float));
        dag64 = cw_calloc((size_t)(f->n * f->n), sizeof(int64_t));
        if (!x || !dag64) st = cw_fail(CW_ENOMEM, "%s: out of memory", out);
    }
    if (st == CW_OK) st = cw_h5ad_read_x_dense_rows(h, 0, rows, x);
    if (st == CW_OK) st = cw_h5ad_read_index(h, "obs", &index);
    if (st == CW_OK) st = cw_h5ad_read_column(h, "obs", env_key, &env);
    if (st == CW_OK) st = cw_dmat_alloc(&z, rows, f->n);
    if (st == CW_OK)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < f->n; k++) {
                double s = 0;
                for (int64_t j = 0; j < d; j++) s += f->enc[k * d + j] * (double)x[r * d + j];
                z.data[r * f->n + k] = s;
            }
    for (int64_t i = 0; i < f->n * f->n; i++) dag64[i] = f->dag[i] != 0;
    if (st == CW_OK) st = cw_h5ad_writer_open(out, 0, &w);
    if (st == CW_OK) st = cw_h5ad_write_x_dense(w, x, rows, d);
    if (st == CW_OK) st = cw_h5ad_write_dataframe(w, "obs", &index, &env, 1);
    if (st == CW_OK) st = cw_h5ad_write_obsm(w, "X_causeway_crl", &z);
    if (st == CW_OK) st = cw_h5ad_write_uns_doubles(w, "causeway/crl/encoder", f->enc, f->n, f->d);
    if (st == CW_OK) st = cw_h5ad_write_uns_int64s(w, "causeway/crl/dag", dag64, f->n, f->n);
    if (st == CW_OK) st = cw_h5ad_write_uns_strings(w, "causeway/crl/latent_names", &f->names);
    if (st == CW_OK) st = cw_h5ad_write_uns_string(w, "causeway/crl/config", config ? config : "{}");
    if (st == CW_OK) st = cw_h5ad_write_uns_int(w, "causeway/crl/seed", (int64_t)seed);
    if (st == CW_OK) st = cw_h5ad_write_uns_string(w, "causeway/crl/input", in);
    if (st == CW_OK) {
        st = cw_h5ad_writer_commit(w);
        w = NULL;
    }
    if (w) cw_h5ad_writer_abort(w);
    cw_h5ad_close(h);
    cw_free(x);
    cw_free(dag64);
    cw_strings_free(&index);
    cw_column_free(&env);
    cw_dmat_free(&z);
    return st;
}

int cli_crl_user_data(const char *cmd, const cli_crl_args *a) {
    if (!a->env_key) return cli_error(cmd, "--env-key KEY is required with DATA.h5ad");
    if (!a->obs_label) return cli_error(cmd, "--observational LABEL is required with DATA.h5ad");
    /* Default output: DATA.crl.h5ad beside the input (DATA without its .h5ad suffix). */
    char default_out[4096];
    const char *out = a->out;
    if (!out) {
        size_t len = strlen(a->data);
        if (len > 5 && strcmp(a->data + len - 5, ".h5ad") == 0) len -= 5;
        if (len + 10 >= sizeof default_out) return cli_error(cmd, "%s: path too long", a->data);
        snprintf(default_out, sizeof default_out, "%.*s.crl.h5ad", (int)len, a->data);
        out = default_out;
    }
    const cw_crl_experiment *e = &a->e;
    if (e->alg != CW_CRL_LSCALE && e->alg != CW_CRL_FSAMPLE && e->alg != CW_CRL_UMNI)
        return cli_error(cmd, "user data: only lscale, fsample and umni (linear mixing) are supported");
    if (e->scores.method != CW_SCORES_GAUSSIAN && e->scores.method != CW_SCORES_SSM)
        return cli_error(cmd, "--scores %s: user data needs estimated scores (gaussian or ssm)",
                         cw_score_method_name(e->scores.method));
    cw_crl_data d;
    memset(&d, 0, sizeof d);
    cw_status st = cw_crl_data_read_h5ad(&d, a->data, a->env_key, a->obs_label);
    if (st) return cli_fail(cmd, st);
    const int64_t n = d.n, envs = d.n_env;
    if (n < 1 || n > d.d) {
        cw_crl_data_free(&d);
        return cli_error(cmd, "%s: obs/%s: %lld environments give %lld latents; need 1 to %lld "
                         "(the number of columns of X)", a->data, a->env_key, (long long)envs,
                         (long long)n, (long long)d.d);
    }
    cw_score_diff_config sc = e->scores;
    sc.project = 1;
    sc.seed = e->seed;
    int64_t *pa = cw_malloc_array((size_t)n, sizeof(int64_t)), *pb = cw_malloc_array((size_t)n, sizeof(int64_t));
    double **ds = cw_calloc((size_t)n, sizeof(double *));
    if (!pa || !pb || !ds) st = cw_fail(CW_ENOMEM, "out of memory");
    for (int64_t k = 0; st == CW_OK && k < n; k++) pa[k] = 0, pb[k] = k + 1;
    if (st == CW_OK) st = cw_crl_score_diffs(ds, &d, pa, pb, n, &sc);
    const double *const *dsc = (const double *const *)ds;
    const double *const *xc = (const double *const *)d.x;
    crl_fit f = {n, d.d, NULL, NULL, {0}};
    cw_lscale_result lr;
    cw_fsample_result fr;
    cw_umni_result ur;
    memset(&lr, 0, sizeof lr);
    memset(&fr, 0, sizeof fr);
    memset(&ur, 0, sizeof ur);
    if (st == CW_OK) st = cw_strings_alloc(&f.names, n);
    if (st == CW_OK) switch (e->alg) {
        case CW_CRL_LSCALE:
            st = cw_lscale_run(&lr, xc, d.count, dsc, n, d.d, &e->lscale);
            f.enc = lr.enc_h ? lr.enc_h : lr.enc_s;
            f.dag = lr.g_h ? lr.g_h : lr.g_s;
            break;
        case CW_CRL_FSAMPLE:
            st = cw_fsample_run(&fr, xc, d.count, dsc, n, d.d, &e->fsample);
            f.enc = fr.enc;
            f.dag = fr.g_tc;
            break;
        default:
            st = cw_umni_run(&ur, xc, d.count, dsc, n, d.d, &e->umni);
            f.enc = ur.enc_h ? ur.enc_h : ur.enc_s;
            f.dag = ur.g_h ? ur.g_h : ur.g_s;
            break;
        }
    /* Latent k of lscale/fsample is the one intervened in environment k + 1; UMNI's latents
     * are in the estimated causal order (their environment weights are W's columns). */
    for (int64_t k = 0; st == CW_OK && k < n; k++) {
        char buf[64];
        const char *name = d.labels[k + 1];
        if (e->alg == CW_CRL_UMNI) {
            snprintf(buf, sizeof buf, "z%lld", (long long)k);
            name = buf;
        }
        st = cw_strings_set(&f.names, k, name);
    }
    char *cfg = NULL;
    if (st == CW_OK) {
        cfg = cw_crl_experiment_json(e);
        st = write_output(out, a->data, a->env_key, &f, cfg, e->seed);
    }
    if (st == CW_OK && a->dag) st = write_dag_files(a->dag, &f);
    if (st == CW_OK && !a->quiet) {
        int64_t edges = 0;
        for (int64_t i = 0; i < n * n; i++) edges += f.dag[i] != 0;
        printf("%s: %lld environments (observational '%s'), %lld latents, %lld DAG edges; wrote %s\n",
               a->data, (long long)envs, a->obs_label, (long long)n, (long long)edges, out);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                if (f.dag[i * n + j]) printf("  %s -> %s\n", f.names.s[i], f.names.s[j]);
    }
    cw_free(cfg);
    cw_strings_free(&f.names);
    cw_lscale_result_free(&lr);
    cw_fsample_result_free(&fr);
    cw_umni_result_free(&ur);
    if (ds) cw_score_diffs_free(ds, n);
    cw_free(ds);
    cw_free(pa);
    cw_free(pb);
    cw_crl_data_free(&d);
    return st ? cli_fail(cmd, st) : CLI_EXIT_OK;
}
