/* crl_data.c: the interventional dataset generator of score-based CRL (spec §A2.1-§A2.6),
 * oracle score differences (§A3.5) and h5ad input/output of such datasets (§A8.1 plumbing).
 *
 * Reproducibility: every random component draws from its own substream of the seed
 * (cw_rng_substream): model (DAG + SCM parameters) STREAM_MODEL + attempt, mixing STREAM_MIX +
 * attempt, design (target assignment, signature) STREAM_DESIGN + attempt, algorithm samples of
 * environment e STREAM_FIT + e, score-estimation samples STREAM_SCORE + e. A min_impact redraw
 * (attempt + 1) therefore replaces the model, mixing and design but not the sample streams.
 *
 * min_impact (§A2.6, LSCALE-I's "impactful intervention" rejection): with oracle scores on the
 * first min(samples, 10000) observational algorithm samples, every true edge j -> i needs
 * mean_z (s_0(z) - s_m(z))_j^2 >= min_impact, where m is the environment intervening on i
 * (single: the one env; two-hard: the first set; multi: the largest value over the envs whose
 * set contains i). The box family has no scores: min_impact is ignored for it.
 *
 * cw_crl_oracle_score_diff also accepts ds_z = NULL when only ds_x is wanted.
 *
 * Labels: "obs", "env1", ..., "env<n_env-1>". h5ad truth under uns/causeway/crl: adj (int64
 * n x n), order (int64 n), targets (int64 n_env x n), env_labels, env_type ("obs" | "hard" |
 * "soft"), env_var_change, var_rule, scm, mixing, var, weight (linear/box), g and encoder
 * (linear/tanh), a1, a2, a3 (mlp), seed (decimal string), generator (JSON of the generator
 * config), config (the caller's JSON, if given).
 */
#include "crl/crl_data.h"

#include "core/alloc.h"
#include "core/status.h"
#include "core/strings.h"
#include "crl/dag_ops.h"
#include "io/h5ad.h"
#include "la/lapack.h"
#include "la/matrix.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_MODEL UINT64_C(0x100000000)
#define STREAM_MIX UINT64_C(0x200000000)
#define STREAM_DESIGN UINT64_C(0x300000000)
#define STREAM_FIT UINT64_C(0x400000000)
#define STREAM_SCORE UINT64_C(0x500000000)
#define IMPACT_ROWS 10000
#define TRUTH "causeway/crl"
#define TRUTH_ABS "/uns/causeway/crl"

void cw_crl_gen_defaults(cw_crl_gen_config *c) {
    memset(c, 0, sizeof *c);
    c->scm = CW_SCM_LINEAR;
    c->mix = CW_MIX_LINEAR;
    c->n = 5;
    c->d = 100;
    c->samples = 50000;
    c->score_samples = 50000;
    c->fill_rate = 0.5;
    c->randomize_order = 0;
    c->box_size = 0.1;
    c->design = CW_DESIGN_SINGLE;
    c->signature = CW_SIGNATURE_UPPERTRI;
    c->interv = CW_INTERV_HARD;
    c->rule = CW_VAR_SCALE;
    c->var_change = 5.0;
    c->var_change2 = 0.25;
    c->normalize_mixing = 1;
    c->permute_targets = 0;
    c->min_impact = 0.02;
    c->max_redraws = 1000;
}

static void free_arrays(double **a, int64_t n_env) {
    if (!a) return;
    for (int64_t e = 0; e < n_env; e++) cw_free(a[e]);
    cw_free(a);
}

void cw_crl_data_free(cw_crl_data *d) {
    if (!d) return;
    if (d->labels)
        for (int64_t e = 0; e < d->n_env; e++) cw_free(d->labels[e]);
    cw_free(d->labels);
    cw_free(d->count);
    free_arrays(d->x, d->n_env);
    free_arrays(d->z, d->n_env);
    cw_free(d->count_se);
    free_arrays(d->x_se, d->n_env);
    free_arrays(d->z_se, d->n_env);
    cw_scm_free(&d->scm);
    cw_mixing_free(&d->mixing);
    cw_free(d->env);
    cw_free(d->targets);
    memset(d, 0, sizeof *d);
}

static const char *design_name(cw_design d) {
    return d == CW_DESIGN_SINGLE ? "single" : d == CW_DESIGN_TWO_HARD ? "two-hard" : "multi";
}

static cw_status check_config(const cw_crl_gen_config *c) {
    if (c->n < 1) return cw_fail(CW_EINVAL, "CRL generator: n = %lld < 1", (long long)c->n);
    if (c->d < c->n)
        return cw_fail(CW_EINVAL, "CRL generator: d = %lld < n = %lld", (long long)c->d,
                       (long long)c->n);
    if (c->samples < 2)
        return cw_fail(CW_EINVAL, "CRL generator: samples = %lld per environment (need >= 2)",
                       (long long)c->samples);
    if (c->score_samples < 0)
        return cw_fail(CW_EINVAL, "CRL generator: score_samples = %lld < 0",
                       (long long)c->score_samples);
    if (!(c->fill_rate >= 0 && c->fill_rate <= 1))
        return cw_fail(CW_EINVAL, "CRL generator: fill_rate %g outside [0, 1]", c->fill_rate);
    if (c->design < CW_DESIGN_SINGLE || c->design > CW_DESIGN_MULTI)
        return cw_fail(CW_EINVAL, "CRL generator: unknown design %d", (int)c->design);
    if (c->signature != CW_SIGNATURE_UPPERTRI && c->signature != CW_SIGNATURE_IDENTITY)
        return cw_fail(CW_EINVAL, "CRL generator: unknown signature %d", (int)c->signature);
    if (c->interv != CW_INTERV_HARD && c->interv != CW_INTERV_SOFT)
        return cw_fail(CW_EINVAL, "CRL generator: unknown intervention type %d", (int)c->interv);
    if (c->rule != CW_VAR_SCALE && c->rule != CW_VAR_INCREASE)
        return cw_fail(CW_EINVAL, "CRL generator: unknown variance rule %d", (int)c->rule);
    if (c->rule == CW_VAR_SCALE &&
        (!(c->var_change > 0) || (c->design == CW_DESIGN_TWO_HARD && !(c->var_change2 > 0))))
        return cw_fail(CW_EINVAL, "CRL generator: variance scales %g, %g must be > 0",
                       c->var_change, c->var_change2);
    if (c->design == CW_DESIGN_TWO_HARD && c->var_change == c->var_change2)
        return cw_fail(CW_EINVAL, "CRL generator: two-hard needs two different variance "
                       "changes (both %g)", c->var_change);
    if (c->min_impact > 0 && c->max_redraws < 0)
        return cw_fail(CW_EINVAL, "CRL generator: max_redraws = %lld < 0",
                       (long long)c->max_redraws);
    if (c->scm == CW_SCM_BOX && !(c->box_size > 0))
        return cw_fail(CW_EINVAL, "CRL generator: box_size %g must be > 0", c->box_size);
    return CW_OK;
}

/* Targets and mechanism changes of every environment (design stream). */
static cw_status draw_design(cw_crl_data *d, const cw_crl_gen_config *c, cw_rng *rng) {
    int64_t n = c->n, n_env = d->n_env;
    memset(d->targets, 0, (size_t)(n_env * n));
    int64_t *perm = cw_malloc_array((size_t)n, sizeof *perm);
    double *dm = cw_malloc_array((size_t)(n * n), sizeof *dm);
    cw_status st = CW_OK;
    if (!perm || !dm) {
        st = cw_fail(CW_ENOMEM, "CRL generator: out of memory (design)");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    if (c->permute_targets || (c->design == CW_DESIGN_MULTI &&
                               c->signature == CW_SIGNATURE_UPPERTRI))
        cw_rng_shuffle_i64(rng, perm, n);
    if (c->design == CW_DESIGN_MULTI && c->signature == CW_SIGNATURE_UPPERTRI) {
        /* D = I OR strictly upper-triangular Bernoulli(0.5), in topological coordinates:
         * node order[a] is row a; env m + 1 takes column perm[m] */
        const int64_t *ord = d->scm.order;
        for (int64_t tries = 0;; tries++) {
            if (tries >= 1000) {
                st = cw_fail(CW_EINVAL, "CRL generator: no full-rank signature in 1000 draws");
                goto done;
            }
            for (int64_t a = 0; a < n; a++)
                for (int64_t b = 0; b < n; b++)
                    dm[a * n + b] = a == b ? 1.0 : a < b ? (cw_rng_uniform(rng) < 0.5) : 0.0;
            double det;
            st = cw_la_det(&det, dm, n);
            if (st != CW_OK) goto done;
            if (det != 0) break;
        }
        for (int64_t m = 0; m < n; m++)
            for (int64_t a = 0; a < n; a++)
                d->targets[(m + 1) * n + ord[a]] = dm[a * n + perm[m]] != 0;
    } else {
        for (int64_t m = 0; m < n; m++) {
            d->targets[(m + 1) * n + perm[m]] = 1;
            if (c->design == CW_DESIGN_TWO_HARD) d->targets[(m + 1 + n) * n + perm[m]] = 1;
        }
    }
    for (int64_t e = 0; e < n_env; e++) {
        cw_env_spec *s = &d->env[e];
        s->targets = d->targets + e * n;
        s->rule = c->rule;
        if (e == 0) {
            s->type = CW_INTERV_HARD;
            s->var_change = c->rule == CW_VAR_SCALE ? 1.0 : 0.0;
        } else if (c->design == CW_DESIGN_TWO_HARD) {
            s->type = CW_INTERV_HARD;
            s->var_change = e <= n ? c->var_change : c->var_change2;
        } else {
            s->type = c->interv;
            s->var_change = c->var_change;
        }
    }
done:
    cw_free(perm);
    cw_free(dm);
    return st;
}

/* *ok = every true edge passes the min_impact test on the rows of z[0] (rows x n). */
static cw_status impact_ok(int *ok, const cw_crl_data *d, double min_impact, int64_t rows) {
    int64_t n = d->n;
    int64_t n_check = d->config.design == CW_DESIGN_TWO_HARD ? n : d->n_env - 1;
    double *s0 = cw_malloc_array((size_t)(rows * n), sizeof *s0);
    double *se = cw_malloc_array((size_t)(rows * n), sizeof *se);
    double *best = cw_calloc((size_t)(n * n), sizeof *best);
    double *msd = cw_malloc_array((size_t)n, sizeof *msd);
    cw_status st = CW_OK;
    *ok = 0;
    if (!s0 || !se || !best || !msd) {
        st = cw_fail(CW_ENOMEM, "CRL generator: out of memory (min_impact check)");
        goto done;
    }
    st = cw_scm_score(&d->scm, &d->env[0], d->z[0], rows, s0);
    for (int64_t e = 1; e <= n_check && st == CW_OK; e++) {
        st = cw_scm_score(&d->scm, &d->env[e], d->z[0], rows, se);
        if (st != CW_OK) break;
        for (int64_t j = 0; j < n; j++) msd[j] = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < n; j++) {
                double v = s0[r * n + j] - se[r * n + j];
                msd[j] += v * v;
            }
        for (int64_t i = 0; i < n; i++) {
            if (!d->targets[e * n + i]) continue;
            for (int64_t j = 0; j < n; j++)
                if (d->scm.adj[j * n + i] && msd[j] / (double)rows > best[j * n + i])
                    best[j * n + i] = msd[j] / (double)rows;
        }
    }
    if (st != CW_OK) goto done;
    *ok = 1;
    for (int64_t k = 0; k < n * n; k++)
        if (d->scm.adj[k] && best[k] < min_impact) *ok = 0;
done:
    cw_free(s0);
    cw_free(se);
    cw_free(best);
    cw_free(msd);
    return st;
}

/* z (count x n) from env e's stream, then x = g(z). */
static cw_status sample_env(cw_crl_data *d, int64_t e, uint64_t stream, int64_t count, double **z,
                            double **x) {
    cw_rng r;
    cw_rng_substream(&r, d->seed, stream);
    *z = cw_malloc_array((size_t)(count * d->n), sizeof **z);
    *x = cw_malloc_array((size_t)(count * d->d), sizeof **x);
    if (!*z || !*x)
        return cw_fail(CW_ENOMEM, "CRL generator: out of memory for %lld samples of %s",
                       (long long)count, d->labels[e]);
    CW_TRY(cw_scm_sample(&d->scm, &d->env[e], count, *z, &r));
    cw_mixing_apply(&d->mixing, *z, count, *x);
    return CW_OK;
}

static cw_status generate(cw_crl_data *d, const cw_crl_gen_config *c, uint64_t seed) {
    int64_t n = c->n;
    int64_t n_env = c->design == CW_DESIGN_TWO_HARD ? 2 * n + 1 : n + 1;
    d->n_env = n_env;
    d->n = n;
    d->d = c->d;
    d->config = *c;
    d->seed = seed;
    d->labels = cw_calloc((size_t)n_env, sizeof *d->labels);
    d->count = cw_calloc((size_t)n_env, sizeof *d->count);
    d->x = cw_calloc((size_t)n_env, sizeof *d->x);
    d->z = cw_calloc((size_t)n_env, sizeof *d->z);
    d->env = cw_calloc((size_t)n_env, sizeof *d->env);
    d->targets = cw_calloc((size_t)(n_env * n), 1);
    if (!d->labels || !d->count || !d->x || !d->z || !d->env || !d->targets)
        return cw_fail(CW_ENOMEM, "CRL generator: out of memory");
    if (c->score_samples > 0) {
        d->count_se = cw_calloc((size_t)n_env, sizeof *d->count_se);
        d->x_se = cw_calloc((size_t)n_env, sizeof *d->x_se);
        d->z_se = cw_calloc((size_t)n_env, sizeof *d->z_se);
        if (!d->count_se || !d->x_se || !d->z_se)
            return cw_fail(CW_ENOMEM, "CRL generator: out of memory");
    }
    for (int64_t e = 0; e < n_env; e++) {
        char b[32];
        if (e == 0) snprintf(b, sizeof b, "obs");
        else snprintf(b, sizeof b, "env%lld", (long long)e);
        d->labels[e] = cw_strdup(b);
        if (!d->labels[e]) return cw_fail(CW_ENOMEM, "CRL generator: out of memory");
        d->count[e] = c->samples;
        if (d->count_se) d->count_se[e] = c->score_samples;
    }
    int check = c->min_impact > 0 && c->scm != CW_SCM_BOX;
    int64_t attempts = check ? c->max_redraws + 1 : 1;
    int ok = 0;
    for (int64_t att = 0; att < attempts && !ok; att++) {
        cw_scm_free(&d->scm);
        cw_mixing_free(&d->mixing);
        cw_free(d->z[0]);
        cw_free(d->x[0]);
        d->z[0] = d->x[0] = NULL;
        cw_rng r;
        cw_rng_substream(&r, seed, STREAM_MODEL + (uint64_t)att);
        CW_TRY(cw_scm_init(&d->scm, c->scm, n, c->fill_rate, c->randomize_order, c->box_size, &r));
        cw_rng_substream(&r, seed, STREAM_MIX + (uint64_t)att);
        CW_TRY(cw_mixing_init(&d->mixing, c->mix, n, c->d, c->normalize_mixing, &r));
        cw_rng_substream(&r, seed, STREAM_DESIGN + (uint64_t)att);
        CW_TRY(draw_design(d, c, &r));
        if (!check) {
            ok = 1;
            break;
        }
        /* the check's rows are the first rows of the observational samples drawn below (same
         * stream); latents only, no mixing */
        int64_t rows = d->count[0] < IMPACT_ROWS ? d->count[0] : IMPACT_ROWS;
        d->z[0] = cw_malloc_array((size_t)(rows * n), sizeof(double));
        if (!d->z[0]) return cw_fail(CW_ENOMEM, "CRL generator: out of memory (min_impact)");
        cw_rng_substream(&r, seed, STREAM_FIT);
        CW_TRY(cw_scm_sample(&d->scm, &d->env[0], rows, d->z[0], &r));
        CW_TRY(impact_ok(&ok, d, c->min_impact, rows));
    }
    if (!ok)
        return cw_fail(CW_EINVAL, "CRL generator: no model with min_impact >= %g on every edge "
                       "in %lld draws (n = %lld, %s SCM, %s design)", c->min_impact,
                       (long long)attempts, (long long)n, cw_scm_kind_name(c->scm),
                       design_name(c->design));
    cw_free(d->z[0]);
    d->z[0] = NULL;
    for (int64_t e = 0; e < n_env; e++)
        CW_TRY(sample_env(d, e, STREAM_FIT + (uint64_t)e, d->count[e], &d->z[e], &d->x[e]));
    if (d->count_se)
        for (int64_t e = 0; e < n_env; e++)
            CW_TRY(sample_env(d, e, STREAM_SCORE + (uint64_t)e, d->count_se[e], &d->z_se[e],
                              &d->x_se[e]));
    d->has_truth = d->has_graph = 1;
    return CW_OK;
}

cw_status cw_crl_generate(cw_crl_data *out, const cw_crl_gen_config *cfg, uint64_t seed) {
    memset(out, 0, sizeof *out);
    CW_TRY(check_config(cfg));
    cw_status st = generate(out, cfg, seed);
    if (st != CW_OK) cw_crl_data_free(out);
    return st;
}

cw_status cw_crl_oracle_score_diff(const cw_crl_data *d, int64_t a, int64_t b, double *ds_z,
                                   double *ds_x) {
    if (!d->has_truth || !d->z || !d->z[0])
        return cw_fail(CW_EINVAL, "oracle score difference: the dataset has no ground truth");
    if (a < 0 || a >= d->n_env || b < 0 || b >= d->n_env)
        return cw_fail(CW_EINVAL, "oracle score difference: environments %lld, %lld outside "
                       "[0, %lld)", (long long)a, (long long)b, (long long)d->n_env);
    if (d->scm.kind == CW_SCM_BOX)
        return cw_fail(CW_EINVAL, "oracle score difference: the box SCM has no score function");
    int64_t rows = d->count[0], n = d->n;
    if (!ds_z && !ds_x) return CW_OK;
    double *own = NULL; /* ds_z may be NULL when only ds_x is wanted */
    if (!ds_z && !(ds_z = own = cw_malloc_array((size_t)(rows * n), sizeof *own)))
        return cw_fail(CW_ENOMEM, "oracle score difference: out of memory");
    double *sb = cw_malloc_array((size_t)(rows * n), sizeof *sb);
    if (!sb) {
        cw_free(own);
        return cw_fail(CW_ENOMEM, "oracle score difference: out of memory");
    }
    cw_status st = cw_scm_score(&d->scm, &d->env[a], d->z[0], rows, ds_z);
    if (st == CW_OK) st = cw_scm_score(&d->scm, &d->env[b], d->z[0], rows, sb);
    if (st == CW_OK)
        for (int64_t k = 0; k < rows * n; k++) ds_z[k] -= sb[k];
    cw_free(sb);
    if (st == CW_OK && ds_x) st = cw_mixing_transport_scores(&d->mixing, d->z[0], ds_z, rows, ds_x);
    cw_free(own);
    return st;
}

/* ---- h5ad output ---------------------------------------------------------------------------- */

static const char *interv_name(const cw_env_spec *s, int64_t n) {
    int any = 0;
    for (int64_t i = 0; s->targets && i < n; i++) any |= s->targets[i] != 0;
    if (!any) return "obs";
    return s->type == CW_INTERV_SOFT ? "soft" : "hard";
}

/* categorical column with categories in the given order */
static cw_status ordered_categorical(cw_column *c, const char *name, char *const *cats,
                                     int64_t ncat, const int32_t *codes, int64_t nrows) {
    memset(c, 0, sizeof *c);
    c->name = cw_strdup(name);
    c->kind = CW_COL_STRING;
    c->n = nrows;
    c->is_categorical = 1;
    c->codes = cw_malloc_array((size_t)(nrows > 0 ? nrows : 1), sizeof *c->codes);
    if (!c->name || !c->codes) return cw_fail(CW_ENOMEM, "column %s: out of memory", name);
    memcpy(c->codes, codes, (size_t)nrows * sizeof *codes);
    CW_TRY(cw_strings_alloc(&c->categories, ncat));
    for (int64_t k = 0; k < ncat; k++) CW_TRY(cw_strings_set(&c->categories, k, cats[k]));
    return CW_OK;
}

static void gen_config_json(char *b, size_t cap, const cw_crl_gen_config *c) {
    snprintf(b, cap,
             "{\"scm\":\"%s\",\"mixing\":\"%s\",\"n\":%lld,\"d\":%lld,\"samples\":%lld,"
             "\"score_samples\":%lld,\"fill_rate\":%.17g,\"randomize_order\":%d,"
             "\"box_size\":%.17g,\"design\":\"%s\",\"signature\":\"%s\",\"interv\":\"%s\","
             "\"rule\":\"%s\",\"var_change\":%.17g,\"var_change2\":%.17g,"
             "\"normalize_mixing\":%d,\"permute_targets\":%d,\"min_impact\":%.17g,"
             "\"max_redraws\":%lld}",
             cw_scm_kind_name(c->scm), cw_mix_kind_name(c->mix), (long long)c->n,
             (long long)c->d, (long long)c->samples, (long long)c->score_samples, c->fill_rate,
             c->randomize_order, c->box_size, design_name(c->design),
             c->signature == CW_SIGNATURE_IDENTITY ? "identity" : "uppertri",
             c->interv == CW_INTERV_SOFT ? "soft" : "hard",
             c->rule == CW_VAR_INCREASE ? "increase" : "scale", c->var_change, c->var_change2,
             c->normalize_mixing, c->permute_targets, c->min_impact, (long long)c->max_redraws);
}

static cw_status write_truth(cw_h5ad_writer *w, const cw_crl_data *d, const char *config_json) {
    int64_t n = d->n, n_env = d->n_env, dd = d->d;
    cw_status st = CW_OK;
    cw_strings labels = {0, NULL}, types = {0, NULL};
    int64_t *iv = cw_malloc_array((size_t)((n_env > n ? n_env : n) * n), sizeof *iv);
    double *vc = cw_malloc_array((size_t)n_env, sizeof *vc);
    if (!iv || !vc) {
        st = cw_fail(CW_ENOMEM, "CRL h5ad: out of memory (truth)");
        goto done;
    }
    st = cw_strings_alloc(&labels, n_env);
    if (st == CW_OK) st = cw_strings_alloc(&types, n_env);
    for (int64_t e = 0; e < n_env && st == CW_OK; e++) {
        st = cw_strings_set(&labels, e, d->labels[e]);
        if (st == CW_OK) st = cw_strings_set(&types, e, d->env ? interv_name(&d->env[e], n) : "obs");
        vc[e] = d->env ? d->env[e].var_change : 0;
    }
    if (st == CW_OK) st = cw_h5ad_write_uns_strings(w, TRUTH "/env_labels", &labels);
    if (st == CW_OK && config_json) st = cw_h5ad_write_uns_string(w, TRUTH "/config", config_json);
    if (st != CW_OK || !d->has_graph) goto done;
    if (st == CW_OK) st = cw_h5ad_write_uns_strings(w, TRUTH "/env_type", &types);
    if (st == CW_OK) st = cw_h5ad_write_uns_doubles(w, TRUTH "/env_var_change", vc, n_env, 0);
    if (st == CW_OK)
        st = cw_h5ad_write_uns_string(w, TRUTH "/var_rule",
                                      d->env && d->env[n_env > 1].rule == CW_VAR_INCREASE
                                          ? "increase" : "scale");
    for (int64_t k = 0; k < n * n; k++) iv[k] = d->scm.adj[k] != 0;
    if (st == CW_OK) st = cw_h5ad_write_uns_int64s(w, TRUTH "/adj", iv, n, n);
    if (st == CW_OK && d->scm.order) st = cw_h5ad_write_uns_int64s(w, TRUTH "/order", d->scm.order, n, 0);
    for (int64_t k = 0; k < n_env * n; k++) iv[k] = d->targets[k] != 0;
    if (st == CW_OK) st = cw_h5ad_write_uns_int64s(w, TRUTH "/targets", iv, n_env, n);
    if (st == CW_OK) st = cw_h5ad_write_uns_string(w, TRUTH "/scm", cw_scm_kind_name(d->scm.kind));
    if (st == CW_OK)
        st = cw_h5ad_write_uns_string(w, TRUTH "/mixing", cw_mix_kind_name(d->mixing.kind));
    if (st == CW_OK && d->scm.var) st = cw_h5ad_write_uns_doubles(w, TRUTH "/var", d->scm.var, n, 0);
    if (st == CW_OK && d->scm.weight)
        st = cw_h5ad_write_uns_doubles(w, TRUTH "/weight", d->scm.weight, n, n);
    if (st == CW_OK && d->mixing.g) st = cw_h5ad_write_uns_doubles(w, TRUTH "/g", d->mixing.g, dd, n);
    if (st == CW_OK && d->mixing.encoder)
        st = cw_h5ad_write_uns_doubles(w, TRUTH "/encoder", d->mixing.encoder, n, dd);
    if (st == CW_OK && d->mixing.a1) st = cw_h5ad_write_uns_doubles(w, TRUTH "/a1", d->mixing.a1, n, n);
    if (st == CW_OK && d->mixing.a2) st = cw_h5ad_write_uns_doubles(w, TRUTH "/a2", d->mixing.a2, n, n);
    if (st == CW_OK && d->mixing.a3) st = cw_h5ad_write_uns_doubles(w, TRUTH "/a3", d->mixing.a3, dd, n);
    if (st == CW_OK && d->has_truth) {
        char b[1024];
        snprintf(b, sizeof b, "%" PRIu64, d->seed);
        st = cw_h5ad_write_uns_string(w, TRUTH "/seed", b);
        gen_config_json(b, sizeof b, &d->config);
        if (st == CW_OK) st = cw_h5ad_write_uns_string(w, TRUTH "/generator", b);
    }
done:
    cw_strings_free(&labels);
    cw_strings_free(&types);
    cw_free(iv);
    cw_free(vc);
    return st;
}

cw_status cw_crl_data_write_h5ad(const cw_crl_data *d, const char *path, const char *config_json) {
    int64_t n_env = d->n_env, dd = d->d, n = d->n, total = 0;
    if (n_env < 1 || !d->count || !d->x || !d->labels)
        return cw_fail(CW_EINVAL, "%s: CRL dataset is empty", path);
    int has_z = d->z != NULL, has_se = d->count_se != NULL;
    for (int64_t e = 0; e < n_env; e++) {
        total += d->count[e] + (has_se ? d->count_se[e] : 0);
        if (has_z && !d->z[e]) has_z = 0;
        if (has_se && has_z && (!d->z_se || !d->z_se[e])) has_z = 0;
    }
    float *xf = cw_malloc_array((size_t)(total * dd > 0 ? total * dd : 1), sizeof *xf);
    int32_t *env_code = cw_malloc_array((size_t)(total > 0 ? total : 1), sizeof *env_code);
    int32_t *role_code = cw_malloc_array((size_t)(total > 0 ? total : 1), sizeof *role_code);
    cw_dmat lat = {0, 0, NULL};
    cw_strings index = {0, NULL};
    cw_column cols[2];
    memset(cols, 0, sizeof cols);
    cw_h5ad_writer *w = NULL;
    cw_status st = CW_OK;
    if (!xf || !env_code || !role_code) {
        st = cw_fail(CW_ENOMEM, "%s: out of memory for %lld x %lld values", path,
                     (long long)total, (long long)dd);
        goto done;
    }
    if (has_z && (st = cw_dmat_alloc(&lat, total, n)) != CW_OK) goto done;
    int64_t row = 0;
    for (int role = 0; role < 1 + has_se; role++)
        for (int64_t e = 0; e < n_env; e++) {
            int64_t cnt = role ? d->count_se[e] : d->count[e];
            const double *x = role ? d->x_se[e] : d->x[e];
            for (int64_t k = 0; k < cnt * dd; k++) xf[row * dd + k] = (float)x[k];
            if (has_z) memcpy(lat.data + row * n, role ? d->z_se[e] : d->z[e],
                              (size_t)(cnt * n) * sizeof(double));
            for (int64_t k = 0; k < cnt; k++) {
                env_code[row + k] = (int32_t)e;
                role_code[row + k] = role;
            }
            row += cnt;
        }
    st = cw_strings_alloc(&index, total);
    for (int64_t r = 0; r < total && st == CW_OK; r++) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)r);
        st = cw_strings_set(&index, r, b);
    }
    char *roles[2] = {"fit", "score"};
    if (st == CW_OK) st = ordered_categorical(&cols[0], "env", d->labels, n_env, env_code, total);
    if (st == CW_OK) st = ordered_categorical(&cols[1], "role", roles, 2, role_code, total);
    if (st == CW_OK) st = cw_h5ad_writer_open(path, 0, &w);
    if (st == CW_OK) st = cw_h5ad_write_x_dense(w, xf, total, dd);
    if (st == CW_OK) st = cw_h5ad_write_dataframe(w, "obs", &index, cols, 2);
    if (st == CW_OK) {
        cw_strings var = {0, NULL};
        st = cw_strings_alloc(&var, dd);
        for (int64_t j = 0; j < dd && st == CW_OK; j++) {
            char b[32];
            snprintf(b, sizeof b, "x%lld", (long long)j);
            st = cw_strings_set(&var, j, b);
        }
        if (st == CW_OK) st = cw_h5ad_write_dataframe(w, "var", &var, NULL, 0);
        cw_strings_free(&var);
    }
    if (st == CW_OK && has_z) st = cw_h5ad_write_obsm(w, "latents", &lat);
    if (st == CW_OK) st = write_truth(w, d, config_json);
    if (st == CW_OK) {
        st = cw_h5ad_writer_commit(w);
        w = NULL;
    }
done:
    if (w) cw_h5ad_writer_abort(w);
    cw_free(xf);
    cw_free(env_code);
    cw_free(role_code);
    cw_dmat_free(&lat);
    cw_strings_free(&index);
    cw_column_free(&cols[0]);
    cw_column_free(&cols[1]);
    return st;
}

/* ---- h5ad input ----------------------------------------------------------------------------- */

static void join_labels(char *out, size_t cap, char *const *s, int64_t n) {
    size_t len = 0;
    out[0] = '\0';
    for (int64_t i = 0; i < n && len + 8 < cap; i++) {
        int k = snprintf(out + len, cap - len, "%s\"%s\"", i ? ", " : "", s[i] ? s[i] : "");
        if (k < 0 || (size_t)k >= cap - len) {
            snprintf(out + (cap > 5 ? cap - 5 : 0), 5, "...");
            return;
        }
        len += (size_t)k;
    }
}

/* 1 if st is CW_OK; an out-of-memory status is remembered in *fatal (other failures of the
 * optional truth only leave has_graph = 0) */
static int chk(cw_status *fatal, cw_status st) {
    if (st == CW_ENOMEM && *fatal == CW_OK) *fatal = st;
    return st == CW_OK;
}

/* Reads the truth under uns/causeway/crl when it matches the environments read; failures leave
 * has_graph = 0 (the data are still usable); only
 * CW_ENOMEM is returned. */
static cw_status read_truth(cw_crl_data *d, cw_h5ad *h) {
    cw_status fatal = CW_OK;
    int64_t n = d->n, n_env = d->n_env, dd = d->d;
    if (!cw_h5ad_exists(h, TRUTH_ABS "/adj") || !cw_h5ad_exists(h, TRUTH_ABS "/targets") ||
        !cw_h5ad_exists(h, TRUTH_ABS "/env_labels"))
        return CW_OK;
    cw_strings lab = {0, NULL}, types = {0, NULL}, str = {0, NULL};
    cw_dmat adj = {0, 0, NULL}, tg = {0, 0, NULL}, m = {0, 0, NULL};
    int64_t *row_of = cw_malloc_array((size_t)n_env, sizeof *row_of);
    int ok = row_of != NULL;
    if (!ok) fatal = CW_ENOMEM;
    ok = ok && chk(&fatal, cw_h5ad_read_strings(h, TRUTH_ABS "/env_labels", &lab)) && lab.n == n_env;
    for (int64_t e = 0; ok && e < n_env; e++) {
        row_of[e] = cw_strings_find(&lab, d->labels[e]);
        ok = row_of[e] >= 0;
    }
    ok = ok && chk(&fatal, cw_h5ad_read_doubles(h, TRUTH_ABS "/adj", &adj)) && adj.nrows == n &&
         adj.ncols == n;
    ok = ok && chk(&fatal, cw_h5ad_read_doubles(h, TRUTH_ABS "/targets", &tg)) && tg.nrows == n_env &&
         tg.ncols == n;
    if (ok) {
        d->scm.n = n;
        d->scm.adj = cw_calloc((size_t)(n * n), 1);
        d->scm.order = cw_malloc_array((size_t)n, sizeof *d->scm.order);
        d->targets = cw_calloc((size_t)(n_env * n), 1);
        ok = d->scm.adj && d->scm.order && d->targets;
        if (!ok) fatal = CW_ENOMEM;
    }
    if (ok) {
        for (int64_t k = 0; k < n * n; k++) d->scm.adj[k] = adj.data[k] != 0;
        for (int64_t e = 0; e < n_env; e++)
            for (int64_t i = 0; i < n; i++)
                d->targets[e * n + i] = tg.data[row_of[e] * n + i] != 0;
        ok = chk(&fatal, cw_dag_topological_order(d->scm.order, d->scm.adj, n));
    }
    if (ok && chk(&fatal, cw_h5ad_read_strings(h, TRUTH_ABS "/scm", &str)) && str.n == 1)
        (void)cw_scm_kind_parse(&d->scm.kind, str.s[0]);
    cw_strings_free(&str);
    if (ok && chk(&fatal, cw_h5ad_read_doubles(h, TRUTH_ABS "/var", &m)) && m.nrows * m.ncols == n) {
        d->scm.var = m.data;
        m.data = NULL;
    }
    cw_dmat_free(&m);
    if (ok && chk(&fatal, cw_h5ad_read_doubles(h, TRUTH_ABS "/weight", &m)) &&
        m.nrows * m.ncols == n * n) {
        d->scm.weight = m.data;
        m.data = NULL;
    }
    cw_dmat_free(&m);
    cw_mix_kind mk = CW_MIX_LINEAR;
    if (ok && chk(&fatal, cw_h5ad_read_strings(h, TRUTH_ABS "/mixing", &str)) && str.n == 1)
        ok = cw_mix_kind_parse(&mk, str.s[0]) == CW_OK;
    cw_strings_free(&str);
    if (ok) {
        d->mixing.kind = mk;
        d->mixing.n = n;
        d->mixing.d = dd;
        const char *names[5] = {"g", "encoder", "a1", "a2", "a3"};
        double **dst[5] = {&d->mixing.g, &d->mixing.encoder, &d->mixing.a1, &d->mixing.a2,
                           &d->mixing.a3};
        int64_t size[5] = {dd * n, n * dd, n * n, n * n, dd * n};
        int first = mk == CW_MIX_MLP ? 2 : 0, last = mk == CW_MIX_MLP ? 5 : 2;
        for (int k = first; ok && k < last; k++) {
            char p[128];
            snprintf(p, sizeof p, TRUTH_ABS "/%s", names[k]);
            ok = chk(&fatal, cw_h5ad_read_doubles(h, p, &m)) && m.nrows * m.ncols == size[k];
            if (ok) {
                *dst[k] = m.data;
                m.data = NULL;
            }
            cw_dmat_free(&m);
        }
    }
    /* mechanism changes */
    if (ok && chk(&fatal, cw_h5ad_read_strings(h, TRUTH_ABS "/env_type", &types)) && types.n == n_env &&
        chk(&fatal, cw_h5ad_read_doubles(h, TRUTH_ABS "/env_var_change", &m)) &&
        m.nrows * m.ncols == n_env) {
        cw_var_rule rule = CW_VAR_SCALE;
        if (chk(&fatal, cw_h5ad_read_strings(h, TRUTH_ABS "/var_rule", &str)) && str.n == 1 &&
            str.s[0] && strcmp(str.s[0], "increase") == 0)
            rule = CW_VAR_INCREASE;
        cw_strings_free(&str);
        for (int64_t e = 0; e < n_env; e++) {
            const char *t = types.s[row_of[e]];
            d->env[e].type = t && strcmp(t, "soft") == 0 ? CW_INTERV_SOFT : CW_INTERV_HARD;
            d->env[e].rule = rule;
            d->env[e].var_change = m.data[row_of[e]];
        }
    }
    cw_dmat_free(&m);
    if (ok && chk(&fatal, cw_h5ad_read_strings(h, TRUTH_ABS "/seed", &str)) && str.n == 1 && str.s[0])
        d->seed = strtoull(str.s[0], NULL, 10);
    cw_strings_free(&str);
    if (fatal != CW_OK) ok = 0;
    if (ok) {
        for (int64_t e = 0; e < n_env; e++) d->env[e].targets = d->targets + e * n;
        d->has_graph = 1;
        d->config.scm = d->scm.kind;
        d->config.mix = mk;
    } else {
        cw_scm_free(&d->scm);
        cw_mixing_free(&d->mixing);
        cw_free(d->targets);
        d->targets = NULL;
    }
    cw_free(row_of);
    cw_strings_free(&lab);
    cw_strings_free(&types);
    cw_dmat_free(&adj);
    cw_dmat_free(&tg);
    return fatal == CW_OK ? CW_OK
                          : cw_fail(fatal, "%s: " TRUTH_ABS ": out of memory", cw_h5ad_path(h));
}

static cw_status read_data(cw_crl_data *d, cw_h5ad *h, const char *env_key,
                           const char *obs_label) {
    const char *path = cw_h5ad_path(h);
    int64_t rows = cw_h5ad_n_obs(h), dd = cw_h5ad_n_vars(h);
    cw_column col, role;
    memset(&col, 0, sizeof col);
    memset(&role, 0, sizeof role);
    int64_t *env_of = NULL, *cat_env = NULL, *pos = NULL;
    uint8_t *is_score = NULL;
    float *blk = NULL;
    cw_dmat lat = {0, 0, NULL};
    cw_strings cats = {0, NULL};
    cw_status st = CW_OK;
    char list[1024];
    if (!cw_h5ad_has_column(h, "obs", env_key)) {
        cw_strings names = {0, NULL};
        if (cw_h5ad_list_columns(h, "obs", &names) == CW_OK)
            join_labels(list, sizeof list, names.s, names.n);
        else
            snprintf(list, sizeof list, "(unreadable)");
        cw_strings_free(&names);
        return cw_fail(CW_ENOTFOUND, "%s: /obs/%s: no such column (environment key); obs "
                       "columns are: %s", path, env_key, list);
    }
    CW_TRY(cw_h5ad_read_column(h, "obs", env_key, &col));
    if (col.kind != CW_COL_STRING) {
        st = cw_fail(CW_EFORMAT, "%s: /obs/%s: expected environment labels (strings or "
                     "categorical), found numbers", path, env_key);
        goto done;
    }
    /* label list: categories in order, else first appearance */
    if (col.is_categorical) {
        st = cw_strings_alloc(&cats, col.categories.n);
        for (int64_t k = 0; k < col.categories.n && st == CW_OK; k++)
            st = cw_strings_set(&cats, k, col.categories.s[k]);
    } else {
        for (int64_t r = 0; r < rows && st == CW_OK; r++)
            if (col.values.s[r] && cw_strings_find(&cats, col.values.s[r]) < 0)
                st = cw_strings_push(&cats, col.values.s[r]);
    }
    if (st != CW_OK) {
        goto done;
    }
    int64_t obs_cat = cw_strings_find(&cats, obs_label);
    if (obs_cat < 0) {
        join_labels(list, sizeof list, cats.s, cats.n);
        st = cw_fail(CW_ENOTFOUND, "%s: /obs/%s: observational label \"%s\" not present; labels "
                     "found: %s", path, env_key, obs_label, list);
        goto done;
    }
    int64_t ncat = cats.n;
    env_of = cw_malloc_array((size_t)(rows > 0 ? rows : 1), sizeof *env_of);
    cat_env = cw_malloc_array((size_t)(ncat > 0 ? ncat : 1), sizeof *cat_env);
    is_score = cw_calloc((size_t)(rows > 0 ? rows : 1), 1);
    int64_t *used = cw_calloc((size_t)(ncat > 0 ? ncat : 1), sizeof *used);
    if (!env_of || !cat_env || !is_score || !used) {
        cw_free(used);
        st = cw_fail(CW_ENOMEM, "%s: out of memory for %lld rows", path, (long long)rows);
        goto done;
    }
    for (int64_t r = 0; r < rows; r++) {
        const char *v = col.values.s[r];
        if (!v) {
            cw_free(used);
                st = cw_fail(CW_EFORMAT, "%s: /obs/%s: row %lld has no environment label", path,
                         env_key, (long long)r);
            goto done;
        }
        env_of[r] = col.is_categorical ? col.codes[r] : cw_strings_find(&cats, v);
        used[env_of[r]]++;
    }
    /* environment order: obs first, then the used categories in order */
    int64_t n_env = 1;
    for (int64_t k = 0; k < ncat; k++)
        cat_env[k] = k == obs_cat ? 0 : used[k] > 0 ? n_env++ : -1;
    cw_free(used);
    d->n_env = n_env;
    d->n = n_env - 1;
    d->d = dd;
    if (cw_h5ad_exists(h, TRUTH_ABS "/adj")) { /* our files: the latent dimension of the truth */
        cw_dmat adj = {0, 0, NULL};
        st = cw_h5ad_read_doubles(h, TRUTH_ABS "/adj", &adj);
        if (st == CW_OK && adj.nrows == adj.ncols && adj.nrows >= 1) d->n = adj.nrows;
        cw_dmat_free(&adj);
        if (st == CW_ENOMEM) goto done;
        st = CW_OK;
    }
    d->labels = cw_calloc((size_t)n_env, sizeof *d->labels);
    d->count = cw_calloc((size_t)n_env, sizeof *d->count);
    d->x = cw_calloc((size_t)n_env, sizeof *d->x);
    d->env = cw_calloc((size_t)n_env, sizeof *d->env);
    if (!d->labels || !d->count || !d->x || !d->env) {
        st = cw_fail(CW_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int64_t k = 0; k < ncat && st == CW_OK; k++)
        if (cat_env[k] >= 0) {
            d->labels[cat_env[k]] = cw_strdup(cats.s[k]);
            if (!d->labels[cat_env[k]]) st = cw_fail(CW_ENOMEM, "%s: out of memory", path);
        }
    if (st != CW_OK) goto done;
    for (int64_t r = 0; r < rows; r++) env_of[r] = cat_env[env_of[r]];
    /* roles */
    int64_t n_score = 0;
    if (cw_h5ad_has_column(h, "obs", "role")) {
        st = cw_h5ad_read_column(h, "obs", "role", &role);
        if (st != CW_OK) goto done;
        if (role.kind != CW_COL_STRING) {
            st = cw_fail(CW_EFORMAT, "%s: /obs/role: expected \"fit\" or \"score\" labels, found "
                         "numbers", path);
            goto done;
        }
        for (int64_t r = 0; r < rows; r++) {
            const char *v = role.values.s[r];
            if (v && strcmp(v, "score") == 0) {
                is_score[r] = 1;
                n_score++;
            } else if (!v || strcmp(v, "fit") != 0) {
                st = cw_fail(CW_EFORMAT, "%s: /obs/role: row %lld is \"%s\", expected \"fit\" or "
                             "\"score\"", path, (long long)r, v ? v : "(missing)");
                goto done;
            }
        }
    }
    if (n_score > 0) {
        d->count_se = cw_calloc((size_t)n_env, sizeof *d->count_se);
        d->x_se = cw_calloc((size_t)n_env, sizeof *d->x_se);
        if (!d->count_se || !d->x_se) {
            st = cw_fail(CW_ENOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        if (is_score[r]) d->count_se[env_of[r]]++;
        else d->count[env_of[r]]++;
    }
    for (int64_t e = 0; e < n_env; e++) {
        if (d->count[e] < 2) {
            st = cw_fail(CW_EFORMAT, "%s: /obs/%s: environment \"%s\" has %lld algorithm (fit) "
                         "samples; at least 2 are needed", path, env_key, d->labels[e],
                         (long long)d->count[e]);
            goto done;
        }
        if (d->count_se && d->count_se[e] < 2) {
            st = cw_fail(CW_EFORMAT, "%s: /obs/role: environment \"%s\" has %lld score-estimation "
                         "samples; at least 2 are needed when obs[\"role\"] marks any",
                         path, d->labels[e], (long long)d->count_se[e]);
            goto done;
        }
    }
    if (n_env < 2) {
        st = cw_fail(CW_EFORMAT, "%s: /obs/%s: only the observational environment \"%s\"; "
                     "interventional environments are needed", path, env_key, obs_label);
        goto done;
    }
    /* latents */
    int has_lat = 0;
    if (cw_h5ad_exists(h, "/obsm/latents")) {
        st = cw_h5ad_read_obsm(h, "latents", &lat); /* checks the row count */
        if (st != CW_OK) goto done;
        has_lat = lat.ncols == d->n;
    }
    if (has_lat) {
        d->z = cw_calloc((size_t)n_env, sizeof *d->z);
        if (n_score > 0) d->z_se = cw_calloc((size_t)n_env, sizeof *d->z_se);
        if (!d->z || (n_score > 0 && !d->z_se)) {
            st = cw_fail(CW_ENOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    for (int64_t e = 0; e < n_env; e++) {
        d->x[e] = cw_malloc_array((size_t)(d->count[e] * dd), sizeof(double));
        if (!d->x[e]) goto oom;
        if (has_lat && !(d->z[e] = cw_malloc_array((size_t)(d->count[e] * d->n), sizeof(double))))
            goto oom;
        if (n_score > 0) {
            if (!(d->x_se[e] = cw_malloc_array((size_t)(d->count_se[e] * dd), sizeof(double))))
                goto oom;
            if (has_lat &&
                !(d->z_se[e] = cw_malloc_array((size_t)(d->count_se[e] * d->n), sizeof(double))))
                goto oom;
        }
    }
    /* X, block by block, into the per-environment arrays */
    pos = cw_calloc((size_t)(2 * n_env), sizeof *pos);
    int64_t block = dd > 0 ? (((int64_t)1 << 22) / dd > 0 ? ((int64_t)1 << 22) / dd : 1) : rows;
    if (block > rows) block = rows > 0 ? rows : 1;
    blk = cw_malloc_array((size_t)(block * dd > 0 ? block * dd : 1), sizeof *blk);
    if (!pos || !blk) goto oom;
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
        int64_t nr = rows - r0 < block ? rows - r0 : block;
        st = cw_h5ad_read_x_dense_rows(h, r0, nr, blk);
        if (st != CW_OK) goto done;
        for (int64_t k = 0; k < nr; k++) {
            int64_t r = r0 + k, e = env_of[r], sc = is_score[r];
            int64_t p = pos[2 * e + sc]++;
            double *dst = (sc ? d->x_se[e] : d->x[e]) + p * dd;
            const float *src = blk + k * dd;
            for (int64_t j = 0; j < dd; j++) {
                if (!isfinite(src[j])) {
                    st = cw_fail(CW_EFORMAT, "%s: /X: non-finite value %g at row %lld, column "
                                 "%lld", path, (double)src[j], (long long)r, (long long)j);
                    goto done;
                }
                dst[j] = src[j];
            }
            if (has_lat)
                memcpy((sc ? d->z_se[e] : d->z[e]) + p * d->n, lat.data + r * d->n,
                       (size_t)d->n * sizeof(double));
        }
    }
    d->config.n = d->n;
    d->config.d = dd;
    st = read_truth(d, h);
    goto done;
oom:
    st = cw_fail(CW_ENOMEM, "%s: out of memory for %lld x %lld values", path, (long long)rows,
                 (long long)dd);
done:
    cw_column_free(&col);
    cw_column_free(&role);
    cw_free(env_of);
    cw_free(cat_env);
    cw_free(is_score);
    cw_free(pos);
    cw_free(blk);
    cw_dmat_free(&lat);
    cw_strings_free(&cats);
    return st;
}

cw_status cw_crl_data_read_h5ad(cw_crl_data *out, const char *path, const char *env_key,
                                const char *obs_label) {
    memset(out, 0, sizeof *out);
    if (!env_key || !env_key[0] || !obs_label)
        return cw_fail(CW_EINVAL, "%s: environment key and observational label are required",
                       path);
    cw_h5ad *h = NULL;
    CW_TRY(cw_h5ad_open(path, &h));
    cw_status st = read_data(out, h, env_key, obs_label);
    cw_h5ad_close(h);
    if (st != CW_OK) cw_crl_data_free(out);
    return st;
}
