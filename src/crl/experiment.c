/* experiment.c: repeated generate-score-run-evaluate runs and their summary (see experiment.h;
 * spec §A2.6, §A5, §A6). */
#include "crl/experiment.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/timer.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const alg_names[] = {"lscale", "fsample", "umni", "gscale-glm", "gscale-mlp"};

const char *cw_crl_algorithm_name(cw_crl_algorithm a) {
    return (unsigned)a < 5 ? alg_names[a] : "?";
}

uint64_t cw_crl_run_seed(uint64_t seed, int64_t run) {
    cw_rng r;
    cw_rng_substream(&r, seed, 0x72756e00u + (uint64_t)run);
    return cw_rng_u64(&r);
}

void cw_crl_experiment_defaults(cw_crl_experiment *e, cw_crl_algorithm alg) {
    memset(e, 0, sizeof *e);
    e->alg = alg;
    e->runs = 20;
    e->seed = 0;
    cw_crl_gen_defaults(&e->gen);
    cw_lscale_defaults(&e->lscale);
    cw_fsample_defaults(&e->fsample);
    cw_umni_defaults(&e->umni);
    cw_gscale_defaults(&e->gscale);
    cw_ssm_defaults(&e->scores.ssm);
    cw_ldr_defaults(&e->scores.ldr);
    e->scores.method = CW_SCORES_GAUSSIAN;
    e->scores.project = 1;
    e->atol_eff_nz = 0.05;
    switch (alg) {
    case CW_CRL_LSCALE: break;
    case CW_CRL_FSAMPLE:
        e->gen.var_change = 0.25;
        e->gen.min_impact = 0;
        break;
    case CW_CRL_UMNI:
        e->gen.d = 50;
        e->gen.samples = 100000;
        e->gen.score_samples = 0;
        e->gen.interv = CW_INTERV_SOFT;
        e->gen.var_change = 0.25;
        e->gen.design = CW_DESIGN_MULTI;
        e->gen.signature = CW_SIGNATURE_UPPERTRI;
        e->gen.min_impact = 0;
        e->atol_eff_nz = 0.1;
        e->umni.hard = 0;
        break;
    case CW_CRL_GSCALE_GLM:
        e->gen.scm = CW_SCM_QUADRATIC;
        e->gen.mix = CW_MIX_TANH;
        e->gen.samples = 500;
        e->gen.score_samples = 10000;
        e->gen.design = CW_DESIGN_TWO_HARD;
        e->gen.interv = CW_INTERV_HARD;
        e->gen.var_change = 4.0;
        e->gen.var_change2 = 0.25;
        e->gen.min_impact = 0;
        e->scores.method = CW_SCORES_ORACLE;
        e->scores.project = 0;
        /* The authors' absolute lambda_G = 1.0 never passes on latents of our scale (true
         * edges have D_ho ~ 0.05-0.4): the scale-free rule D_ho[j][k] / D[j][j] > 0.02 (ours). */
        e->gscale.lambda_g_rel = 0.02;
        break;
    case CW_CRL_GSCALE_MLP:
        e->gen.scm = CW_SCM_MLP;
        e->gen.mix = CW_MIX_MLP;
        e->gen.d = 10;
        e->gen.samples = 10000;
        e->gen.score_samples = 0;
        e->gen.design = CW_DESIGN_TWO_HARD;
        e->gen.interv = CW_INTERV_HARD;
        e->gen.var_change = 0.25;
        e->gen.var_change2 = 4.0;
        e->gen.min_impact = 0;
        e->scores.method = CW_SCORES_LDR;
        e->scores.project = 0;
        e->gscale.lambda_g_rel = 0.02;
        break;
    }
}

/* Score differences the algorithm needs: s_0 - s_m (linear algorithms) or, for GSCALE, the two
 * hard sets against each other (s_m - s_{m+n}) and the first hard set against obs (s_m - s_0). */
static cw_status run_algorithm(cw_metric_list *out, const cw_crl_experiment *e,
                               const cw_crl_data *d, uint64_t seed) {
    const int64_t n = d->n, envs = d->n_env;
    cw_score_diff_config sc = e->scores;
    sc.seed = seed ^ 0x5c0e5u;
    int gscale = e->alg == CW_CRL_GSCALE_GLM || e->alg == CW_CRL_GSCALE_MLP;
    int64_t npairs = gscale ? 2 * n : envs - 1;
    int64_t *a = cw_malloc_array((size_t)npairs, sizeof(int64_t));
    int64_t *b = cw_malloc_array((size_t)npairs, sizeof(int64_t));
    double **ds = cw_calloc((size_t)npairs, sizeof(double *));
    cw_status st = CW_OK;
    if (!a || !b || !ds) st = cw_fail(CW_ENOMEM, "experiment: out of memory");
    if (st == CW_OK && gscale && envs != 2 * n + 1)
        st = cw_fail(CW_EINVAL, "gscale: needs the two-hard design (2n + 1 environments), found %lld",
                     (long long)envs);
    for (int64_t k = 0; st == CW_OK && k < npairs; k++) {
        if (!gscale) a[k] = 0, b[k] = k + 1;
        else if (k < n) a[k] = k + 1, b[k] = k + 1 + n;
        else a[k] = k - n + 1, b[k] = 0;
    }
    if (st == CW_OK) st = cw_crl_score_diffs(ds, d, a, b, npairs, &sc);
    const double *const *dsc = (const double *const *)ds;
    const double *const *xc = (const double *const *)d->x;
    if (st == CW_OK) switch (e->alg) {
        case CW_CRL_LSCALE: {
            cw_lscale_result r;
            memset(&r, 0, sizeof r);
            st = cw_lscale_run(&r, xc, d->count, dsc, n, d->d, &e->lscale);
            if (st == CW_OK) st = cw_lscale_evaluate(out, &r, d, &e->lscale, e->atol_eff_nz);
            cw_lscale_result_free(&r);
            break;
        }
        case CW_CRL_FSAMPLE: {
            cw_fsample_result r;
            memset(&r, 0, sizeof r);
            st = cw_fsample_run(&r, xc, d->count, dsc, n, d->d, &e->fsample);
            if (st == CW_OK) st = cw_fsample_evaluate(out, &r, d, &e->fsample);
            cw_fsample_result_free(&r);
            break;
        }
        case CW_CRL_UMNI: {
            cw_umni_result r;
            memset(&r, 0, sizeof r);
            st = cw_umni_run(&r, xc, d->count, dsc, n, d->d, &e->umni);
            if (st == CW_OK) st = cw_umni_evaluate(out, &r, d, &e->umni, e->atol_eff_nz);
            cw_umni_result_free(&r);
            break;
        }
        case CW_CRL_GSCALE_GLM:
        case CW_CRL_GSCALE_MLP: {
            cw_gscale_result r;
            memset(&r, 0, sizeof r);
            if (e->alg == CW_CRL_GSCALE_GLM)
                st = cw_gscale_glm_run(&r, d->x[0], d->count[0], d->d, n, dsc, dsc + n, &e->gscale,
                                       seed);
            else
                st = cw_gscale_mlp_run(&r, d->x[0], d->count[0], d->d, n, dsc, dsc + n, &e->gscale,
                                       seed);
            if (st == CW_OK) st = cw_gscale_evaluate(out, &r, d, e->gscale.lambda_g);
            cw_gscale_result_free(&r);
            break;
        }
        }
    if (ds) cw_score_diffs_free(ds, npairs);
    cw_free(ds);
    cw_free(a);
    cw_free(b);
    return st;
}

cw_status cw_crl_run_once(cw_metric_list *out, double *seconds, const cw_crl_experiment *e,
                          int64_t run) {
    memset(out, 0, sizeof *out);
    uint64_t seed = cw_crl_run_seed(e->seed, run);
    double t0 = cw_now();
    cw_crl_data d;
    memset(&d, 0, sizeof d);
    cw_status st = cw_crl_generate(&d, &e->gen, seed);
    if (st == CW_OK) st = run_algorithm(out, e, &d, seed);
    cw_crl_data_free(&d);
    if (seconds) *seconds = cw_now() - t0;
    if (st != CW_OK) return cw_fail_prefix(st, "run %lld (seed %llu)", (long long)run,
                                           (unsigned long long)seed);
    return CW_OK;
}

cw_status cw_crl_experiment_run(cw_crl_summary *s, const cw_crl_experiment *e, FILE *progress) {
    memset(s, 0, sizeof *s);
    if (e->runs < 1) return cw_fail(CW_EINVAL, "experiment: --runs must be at least 1");
    s->runs = e->runs;
    cw_metric_list *all = cw_calloc((size_t)e->runs, sizeof(cw_metric_list));
    uint8_t *ok = cw_calloc((size_t)e->runs, 1);
    if (!all || !ok) {
        cw_free(all);
        cw_free(ok);
        return cw_fail(CW_ENOMEM, "experiment: out of memory");
    }
    for (int64_t r = 0; r < e->runs; r++) {
        double sec = 0;
        cw_status st = cw_crl_run_once(&all[r], &sec, e, r);
        s->seconds_total += sec;
        if (st == CW_ENOMEM) {
            cw_free(all);
            cw_free(ok);
            return st;
        }
        if (st != CW_OK) {
            s->failed++;
            if (!s->first_error[0])
                snprintf(s->first_error, sizeof s->first_error, "%s", cw_errmsg());
            if (progress) fprintf(progress, "run %lld failed: %s\n", (long long)r, cw_errmsg());
            continue;
        }
        ok[r] = 1;
        s->ok++;
        if (progress) {
            fprintf(progress, "run %lld/%lld %.2f s:", (long long)r + 1, (long long)e->runs, sec);
            for (int64_t i = 0; i < all[r].count && i < 4; i++)
                fprintf(progress, " %s %.4g", all[r].name[i], all[r].value[i]);
            fprintf(progress, "\n");
            fflush(progress);
        }
    }
    s->seconds_mean = s->seconds_total / (double)e->runs;
    /* Metric names in the order of the first successful run. */
    for (int64_t r = 0; r < e->runs; r++) {
        if (!ok[r]) continue;
        for (int64_t i = 0; i < all[r].count; i++) {
            const char *name = all[r].name[i];
            if (!isnan(cw_metric_get(&s->mean, name))) continue;
            double sum = 0, sq = 0;
            int64_t k = 0;
            for (int64_t q = 0; q < e->runs; q++) {
                if (!ok[q]) continue;
                double v = cw_metric_get(&all[q], name);
                if (isnan(v)) continue;
                sum += v;
                k++;
            }
            if (k == 0) continue;
            double mean = sum / (double)k;
            for (int64_t q = 0; q < e->runs; q++) {
                if (!ok[q]) continue;
                double v = cw_metric_get(&all[q], name);
                if (!isnan(v)) sq += (v - mean) * (v - mean);
            }
            cw_metric_set(&s->mean, name, mean);
            cw_metric_set(&s->se, name, sqrt(sq / (double)k) / sqrt((double)k));
        }
    }
    cw_free(all);
    cw_free(ok);
    return CW_OK;
}

char *cw_crl_experiment_json(const cw_crl_experiment *e) {
    const cw_crl_gen_config *g = &e->gen;
    static const char *const designs[] = {"single", "two-hard", "multi"};
    json_t *o = json_object(), *gen = json_object(), *sc = json_object(), *alg = json_object();
    json_object_set_new(o, "algorithm", json_string(cw_crl_algorithm_name(e->alg)));
    json_object_set_new(o, "runs", json_integer(e->runs));
    json_object_set_new(o, "seed", json_integer((json_int_t)e->seed));
    json_object_set_new(gen, "scm", json_string(cw_scm_kind_name(g->scm)));
    json_object_set_new(gen, "mixing", json_string(cw_mix_kind_name(g->mix)));
    json_object_set_new(gen, "latents", json_integer(g->n));
    json_object_set_new(gen, "dim", json_integer(g->d));
    json_object_set_new(gen, "samples", json_integer(g->samples));
    json_object_set_new(gen, "score_samples", json_integer(g->score_samples));
    json_object_set_new(gen, "fill_rate", json_real(g->fill_rate));
    json_object_set_new(gen, "randomize_order", json_integer(g->randomize_order));
    json_object_set_new(gen, "design", json_string(designs[g->design]));
    json_object_set_new(gen, "signature",
                        json_string(g->signature == CW_SIGNATURE_IDENTITY ? "identity" : "uppertri"));
    json_object_set_new(gen, "intervention",
                        json_string(g->interv == CW_INTERV_SOFT ? "soft" : "hard"));
    json_object_set_new(gen, "var_rule", json_string(g->rule == CW_VAR_INCREASE ? "increase" : "scale"));
    json_object_set_new(gen, "var_change", json_real(g->var_change));
    json_object_set_new(gen, "var_change2", json_real(g->var_change2));
    json_object_set_new(gen, "normalize_mixing", json_integer(g->normalize_mixing));
    json_object_set_new(gen, "permute_targets", json_integer(g->permute_targets));
    json_object_set_new(gen, "min_impact", json_real(g->min_impact));
    json_object_set_new(o, "generator", gen);
    json_object_set_new(sc, "method", json_string(cw_score_method_name(e->scores.method)));
    json_object_set_new(sc, "project", json_integer(e->scores.project));
    json_object_set_new(sc, "ssm_epochs", json_integer(e->scores.ssm.epochs));
    json_object_set_new(sc, "ldr_epochs", json_integer(e->scores.ldr.epochs));
    json_object_set_new(o, "scores", sc);
    switch (e->alg) {
    case CW_CRL_LSCALE:
        json_object_set_new(alg, "atol_edge", json_real(e->lscale.atol_edge));
        json_object_set_new(alg, "atol_eigv", json_real(e->lscale.atol_eigv));
        json_object_set_new(alg, "hard", json_integer(e->lscale.hard));
        json_object_set_new(alg, "full_rank", json_integer(e->lscale.full_rank));
        break;
    case CW_CRL_FSAMPLE:
        json_object_set_new(alg, "atol_eigv", json_real(e->fsample.atol_eigv));
        json_object_set_new(alg, "atol_orth", json_real(e->fsample.atol_orth));
        break;
    case CW_CRL_UMNI:
        json_object_set_new(alg, "kappa", json_integer(e->umni.kappa));
        json_object_set_new(alg, "atol_eigv", json_real(e->umni.atol_eigv));
        json_object_set_new(alg, "atol_ci", json_real(e->umni.atol_ci));
        json_object_set_new(alg, "hard", json_integer(e->umni.hard));
        break;
    case CW_CRL_GSCALE_GLM:
    case CW_CRL_GSCALE_MLP:
        json_object_set_new(alg, "lambda_g", json_real(e->gscale.lambda_g));
        json_object_set_new(alg, "lambda_g_rel", json_real(e->gscale.lambda_g_rel));
        json_object_set_new(alg, "glm_max_steps", json_integer(e->gscale.glm_max_steps));
        json_object_set_new(alg, "mlp_epochs", json_integer(e->gscale.mlp_epochs));
        json_object_set_new(alg, "mlp_hidden", json_integer(e->gscale.mlp_hidden));
        break;
    }
    json_object_set_new(alg, "atol_eff_nz", json_real(e->atol_eff_nz));
    json_object_set_new(o, "options", alg);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    char *copy = text ? cw_strdup(text) : NULL;
    free(text);
    return copy;
}
