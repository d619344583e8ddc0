/* test_crl_generate.c: the score-based CRL generators (spec §A2, §A3.5, §A8.1): linear SCM
 * covariance, intervention laws, exact scores vs finite differences of the log-density, the
 * truncated (box) sampler's row alignment, mixing matrices, Jacobians and score transport, the
 * environment designs, reproducibility, the min_impact option, and h5ad round trips (ours and
 * anndata's) with the reader's error messages. */
#include "test_util.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "crl/crl_data.h"
#include "crl/dag_ops.h"
#include "crl/mixing.h"
#include "crl/scm.h"
#include "la/lapack.h"

#include <math.h>

/* ---- SCMs ------------------------------------------------------------------------------------ */

/* z = W^T z + e (weight[j*n + i] of j -> i)  =>  Cov z = (I - W^T)^{-1} diag(v) (I - W)^{-1} */
static void test_linear_covariance(void **state) {
    (void)state;
    enum { N = 200000, n = 4 };
    cw_rng r;
    cw_rng_seed(&r, 11);
    cw_scm s;
    assert_int_equal(cw_scm_init(&s, CW_SCM_LINEAR, n, 0.8, 1, 0, &r), CW_OK);
    assert_true(cw_dag_edge_count(s.adj, n) >= 2);
    for (int64_t k = 0; k < n * n; k++) {
        assert_true((s.weight[k] != 0) == (s.adj[k] != 0));
        if (s.adj[k]) assert_true(fabs(s.weight[k]) >= 0.5 && fabs(s.weight[k]) < 1.5);
    }
    for (int i = 0; i < n; i++) assert_true(s.var[i] >= 0.5 && s.var[i] < 1.5);
    double *z = cw_malloc_array(N * n, sizeof *z);
    assert_non_null(z);
    assert_int_equal(cw_scm_sample(&s, NULL, N, z, &r), CW_OK);
    /* A = I - W^T; Sigma = A^{-1} diag(v) A^{-T} */
    double a[n * n], ainv[n * n], sig[n * n], emp[n * n] = {0}, mean[n] = {0};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            a[i * n + j] = (i == j) - s.weight[j * n + i];
            ainv[i * n + j] = i == j;
        }
    assert_int_equal(cw_la_solve(ainv, a, ainv, n, n), CW_OK);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int k = 0; k < n; k++) acc += ainv[i * n + k] * s.var[k] * ainv[j * n + k];
            sig[i * n + j] = acc;
        }
    for (int64_t t = 0; t < N; t++)
        for (int i = 0; i < n; i++) mean[i] += z[t * n + i] / N;
    for (int64_t t = 0; t < N; t++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                emp[i * n + j] += (z[t * n + i] - mean[i]) * (z[t * n + j] - mean[j]) / N;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        assert_true(fabs(mean[i]) < 5 * sqrt(sig[i * n + i] / N));
        for (int j = 0; j < n; j++) {
            /* Gaussian: Var(S_ij) = (S_ii S_jj + S_ij^2) / N */
            double se = sqrt((sig[i * n + i] * sig[j * n + j] + sig[i * n + j] * sig[i * n + j]) / N);
            double dev = fabs(emp[i * n + j] - sig[i * n + j]) / se;
            if (dev > worst) worst = dev;
        }
    }
    printf("  linear covariance: worst |emp - truth| = %.2f standard errors\n", worst);
    assert_true(worst < 5);
    /* the transposed convention would be far off for a chain with |w| >= 0.5 */
    cw_free(z);
    cw_scm_free(&s);
}

/* a hand-made 2-node linear SCM 0 -> 1 (w = 1.2, v = {1, 0.8}) */
static void two_node(cw_scm *s, cw_scm_kind kind) {
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->n = 2;
    s->adj = cw_calloc(4, 1);
    s->order = cw_malloc_array(2, sizeof *s->order);
    s->var = cw_malloc_array(2, sizeof *s->var);
    s->weight = cw_calloc(4, sizeof *s->weight);
    assert_true(s->adj && s->order && s->var && s->weight);
    s->adj[1] = 1;
    s->weight[1] = 1.2;
    s->order[0] = 0;
    s->order[1] = 1;
    s->var[0] = 1.0;
    s->var[1] = 0.8;
}

/* least squares of z1 on z0 (with intercept): slope and residual variance */
static void regress(const double *z, int64_t count, double *slope, double *resvar) {
    double m0 = 0, m1 = 0, s00 = 0, s01 = 0, s11 = 0;
    for (int64_t t = 0; t < count; t++) {
        m0 += z[2 * t];
        m1 += z[2 * t + 1];
    }
    m0 /= count;
    m1 /= count;
    for (int64_t t = 0; t < count; t++) {
        double a = z[2 * t] - m0, b = z[2 * t + 1] - m1;
        s00 += a * a;
        s01 += a * b;
        s11 += b * b;
    }
    *slope = s01 / s00;
    *resvar = (s11 - s01 * s01 / s00) / count;
}

static void test_intervention_laws(void **state) {
    (void)state;
    enum { N = 100000 };
    cw_scm s;
    two_node(&s, CW_SCM_LINEAR);
    double *z = cw_malloc_array(2 * N, sizeof *z);
    assert_non_null(z);
    uint8_t tg[2] = {0, 1};
    struct {
        cw_interv_type type;
        cw_var_rule rule;
        double change, slope, var;
    } cases[] = {
        {CW_INTERV_HARD, CW_VAR_SCALE, 1.0, 1.2, 0.8}, /* (targets NULL below) observational */
        {CW_INTERV_HARD, CW_VAR_SCALE, 5.0, 0.0, 4.0},
        {CW_INTERV_SOFT, CW_VAR_SCALE, 5.0, 0.6, 4.0},  /* soft: the coefficient halves */
        {CW_INTERV_SOFT, CW_VAR_SCALE, 0.25, 0.6, 0.2},
        {CW_INTERV_HARD, CW_VAR_INCREASE, 1.0, 0.0, 1.8},
    };
    for (int c = 0; c < 5; c++) {
        cw_env_spec env = {cases[c].type, cases[c].rule, cases[c].change, c == 0 ? NULL : tg};
        cw_rng r;
        cw_rng_seed(&r, 100 + (uint64_t)c);
        assert_int_equal(cw_scm_sample(&s, &env, N, z, &r), CW_OK);
        double slope, var;
        regress(z, N, &slope, &var);
        double var0 = 0;
        for (int64_t t = 0; t < N; t++) var0 += z[2 * t] * z[2 * t] / N;
        printf("  case %d: slope %.4f (want %.2f), residual var %.4f (want %.2f), var z0 %.4f\n",
               c, slope, cases[c].slope, var, cases[c].var, var0);
        /* se(slope) = sqrt(var / (N var0)) <= 0.0064; se(var) = var sqrt(2/N) */
        assert_true(fabs(slope - cases[c].slope) < 0.03);
        assert_true(fabs(var - cases[c].var) < 5 * cases[c].var * sqrt(2.0 / N));
        assert_true(fabs(var0 - 1.0) < 0.02); /* the parent is never touched */
    }
    /* a non-positive intervened variance is rejected */
    cw_env_spec bad = {CW_INTERV_HARD, CW_VAR_INCREASE, -0.9, tg};
    cw_rng r;
    cw_rng_seed(&r, 1);
    assert_int_equal(cw_scm_sample(&s, &bad, 4, z, &r), CW_EINVAL);
    cw_free(z);
    cw_scm_free(&s);
}

static void test_score_matches_log_density(void **state) {
    (void)state;
    const cw_scm_kind kinds[3] = {CW_SCM_LINEAR, CW_SCM_QUADRATIC, CW_SCM_MLP};
    enum { n = 5, P = 20 };
    double worst = 0;
    for (int k = 0; k < 3; k++) {
        cw_rng r;
        cw_rng_seed(&r, 7 + (uint64_t)k);
        cw_scm s;
        assert_int_equal(cw_scm_init(&s, kinds[k], n, 0.7, 1, 0, &r), CW_OK);
        /* intervene on the last node in the order (it has parents with high probability) */
        uint8_t tg[n] = {0};
        tg[s.order[n - 1]] = 1;
        tg[s.order[2]] = 1;
        cw_env_spec envs[4] = {{CW_INTERV_HARD, CW_VAR_SCALE, 1, NULL},
                               {CW_INTERV_HARD, CW_VAR_SCALE, 5.0, tg},
                               {CW_INTERV_SOFT, CW_VAR_SCALE, 0.25, tg},
                               {CW_INTERV_SOFT, CW_VAR_INCREASE, 1.0, tg}};
        for (int e = 0; e < 4; e++) {
            double z[P * n], sc[P * n];
            assert_int_equal(cw_scm_sample(&s, &envs[e], P, z, &r), CW_OK);
            assert_int_equal(cw_scm_score(&s, &envs[e], z, P, sc), CW_OK);
            for (int p = 0; p < P; p++)
                for (int j = 0; j < n; j++) {
                    double zz[n];
                    memcpy(zz, z + p * n, sizeof zz);
                    const double h = 1e-5;
                    zz[j] += h;
                    double lp = cw_scm_log_density(&s, &envs[e], zz);
                    zz[j] -= 2 * h;
                    double lm = cw_scm_log_density(&s, &envs[e], zz);
                    double fd = (lp - lm) / (2 * h), an = sc[p * n + j];
                    double err = fabs(fd - an) / (1e-4 + fabs(fd));
                    if (err > worst) worst = err;
                    assert_true(fabs(fd - an) < 1e-5 + 1e-5 * fabs(fd));
                }
        }
        /* the score of the observational env is not that of the interventional one */
        double z[n], s0[n], s1[n];
        assert_int_equal(cw_scm_sample(&s, NULL, 1, z, &r), CW_OK);
        assert_int_equal(cw_scm_score(&s, &envs[0], z, 1, s0), CW_OK);
        assert_int_equal(cw_scm_score(&s, &envs[1], z, 1, s1), CW_OK);
        double diff = 0;
        for (int j = 0; j < n; j++) diff += fabs(s0[j] - s1[j]);
        assert_true(diff > 1e-6);
        cw_scm_free(&s);
    }
    printf("  score vs central differences: worst relative error %.2e\n", worst);
}

static double phi(double x) { return exp(-0.5 * x * x) / sqrt(2 * 3.14159265358979323846); }
static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* E[z_i | z_j] of the truncated SEM = mean of N(w z_j, v) truncated to [-b, b]; with rows
 * aligned, binned conditional means of the child match it. */
static void test_box_rows_aligned(void **state) {
    (void)state;
    enum { N = 100000, NB = 8 };
    cw_rng r;
    cw_rng_seed(&r, 5);
    cw_scm s;
    assert_int_equal(cw_scm_init(&s, CW_SCM_BOX, 2, 1.0, 1, 0.1, &r), CW_OK);
    int64_t par = s.order[0], ch = s.order[1];
    double w = s.weight[par * 2 + ch], v = s.var[ch], b = 0.1;
    assert_true(fabs(w) >= 0.25 && fabs(w) <= 1.0);
    assert_true(s.var[0] >= 0.01 && s.var[0] <= 0.02);
    /* a strong weight so the conditional mean moves a lot */
    s.weight[par * 2 + ch] = w = w > 0 ? 1.0 : -1.0;
    uint8_t tg[2] = {0};
    tg[ch] = 1;
    cw_env_spec soft = {CW_INTERV_SOFT, CW_VAR_SCALE, 0.5, tg};
    for (int pass = 0; pass < 2; pass++) {
        const cw_env_spec *env = pass ? &soft : NULL;
        double wm = pass ? 0.5 * w : w, vv = pass ? 0.5 * v : v, sd = sqrt(vv);
        double *z = cw_malloc_array(2 * N, sizeof *z);
        assert_non_null(z);
        assert_int_equal(cw_scm_sample(&s, env, N, z, &r), CW_OK);
        double sum[NB] = {0}, pred[NB] = {0}, sq[NB] = {0};
        int64_t cnt[NB] = {0};
        for (int64_t t = 0; t < N; t++) {
            assert_true(fabs(z[2 * t]) <= b && fabs(z[2 * t + 1]) <= b);
            double zp = z[2 * t + par], zc = z[2 * t + ch];
            int bin = (int)((zp + b) / (2 * b) * NB);
            if (bin >= NB) bin = NB - 1;
            double mu = wm * zp, lo = (-b - mu) / sd, hi = (b - mu) / sd;
            double m = mu + sd * (phi(lo) - phi(hi)) / (Phi(hi) - Phi(lo));
            cnt[bin]++;
            sum[bin] += zc;
            pred[bin] += m;
            sq[bin] += zc * zc;
        }
        double worst = 0;
        for (int k = 0; k < NB; k++) {
            if (cnt[k] < 500) continue;
            double mean = sum[k] / cnt[k], sdm = sqrt(sq[k] / cnt[k] - mean * mean) / sqrt(cnt[k]);
            double dev = fabs(mean - pred[k] / cnt[k]) / sdm;
            if (dev > worst) worst = dev;
        }
        double slope, rv;
        double *zz = cw_malloc_array(2 * N, sizeof *zz);
        for (int64_t t = 0; t < N; t++) {
            zz[2 * t] = z[2 * t + par];
            zz[2 * t + 1] = z[2 * t + ch];
        }
        regress(zz, N, &slope, &rv);
        printf("  box (%s): slope %.3f (w %.2f), worst binned conditional mean %.2f se\n",
               pass ? "soft" : "obs", slope, wm, worst);
        double pv = 0; /* slope standard error sqrt(rv / (N var(parent))) */
        for (int64_t t = 0; t < N; t++) pv += zz[2 * t] * zz[2 * t] / N;
        assert_true(slope * w > 0 && fabs(slope) > 10 * sqrt(rv / (N * pv)));
        assert_true(worst < 5);
        cw_free(zz);
        cw_free(z);
    }
    double z2[2] = {0, 0}, sc[2];
    assert_int_equal(cw_scm_score(&s, NULL, z2, 1, sc), CW_EINVAL);
    cw_scm_free(&s);
}

/* ---- mixing ---------------------------------------------------------------------------------- */

static void test_haar_and_linear_mixing(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 21);
    enum { d = 9, n = 4 };
    double q[d * d], qtq[d * d];
    assert_int_equal(cw_haar_orthogonal(q, d, &r), CW_OK);
    cw_la_gemm('T', 'N', d, d, d, 1.0, q, q, 0.0, qtq);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) assert_true(fabs(qtq[i * d + j] - (i == j)) < 1e-12);
    /* Haar: E[Q_00] = 0, E[Q_00^2] = 1/d over draws (a fixed-sign QR would bias the mean) */
    double m = 0, m2 = 0;
    for (int t = 0; t < 2000; t++) {
        assert_int_equal(cw_haar_orthogonal(q, d, &r), CW_OK);
        m += q[0] / 2000;
        m2 += q[0] * q[0] / 2000;
    }
    assert_true(fabs(m) < 5 * sqrt(1.0 / d / 2000));
    assert_true(fabs(m2 - 1.0 / d) < 0.02);
    for (int norm = 0; norm < 2; norm++)
        for (int t = 0; t < 20; t++) {
            double g[d * n], sv[n];
            assert_int_equal(cw_mixing_linear_matrix(g, n, d, norm, &r), CW_OK);
            assert_int_equal(cw_la_svd(NULL, sv, NULL, g, d, n), CW_OK);
            if (!norm) assert_true(sv[n - 1] / sv[0] >= CW_MIX_MIN_COND - 1e-12);
            if (norm)
                for (int k = 0; k < n; k++) {
                    double mx = 0;
                    for (int i = 0; i < d; i++) mx = fmax(mx, fabs(g[i * n + k]));
                    assert_true(fabs(mx - 1.0) < 1e-15);
                }
        }
    cw_mixing mx;
    assert_int_equal(cw_mixing_init(&mx, CW_MIX_LINEAR, n, d, 1, &r), CW_OK);
    double eg[n * n];
    cw_la_gemm('N', 'N', n, n, d, 1.0, mx.encoder, mx.g, 0.0, eg);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) assert_true(fabs(eg[i * n + j] - (i == j)) < 1e-10);
    cw_mixing_free(&mx);
    assert_int_equal(cw_mixing_init(&mx, CW_MIX_LINEAR, 5, 4, 1, &r), CW_EINVAL);
}

static void test_jacobian_and_transport(void **state) {
    (void)state;
    enum { n = 4, d = 9, P = 10 };
    cw_rng r;
    cw_rng_seed(&r, 33);
    const cw_mix_kind kinds[3] = {CW_MIX_LINEAR, CW_MIX_TANH, CW_MIX_MLP};
    for (int k = 0; k < 3; k++) {
        cw_mixing m;
        assert_int_equal(cw_mixing_init(&m, kinds[k], n, d, 1, &r), CW_OK);
        double z[P * n], dsz[P * n], dsx[P * d];
        for (int i = 0; i < P * n; i++) {
            z[i] = cw_rng_normal(&r);
            dsz[i] = cw_rng_normal(&r);
        }
        double worst = 0;
        for (int p = 0; p < P; p++) {
            double jac[d * n], zz[n], xp[d], xm[d];
            cw_mixing_jacobian(&m, z + p * n, jac);
            for (int j = 0; j < n; j++) {
                memcpy(zz, z + p * n, sizeof zz);
                zz[j] += 1e-6;
                cw_mixing_apply(&m, zz, 1, xp);
                zz[j] -= 2e-6;
                cw_mixing_apply(&m, zz, 1, xm);
                for (int i = 0; i < d; i++) {
                    double fd = (xp[i] - xm[i]) / 2e-6, err = fabs(fd - jac[i * n + j]);
                    if (err > worst) worst = err;
                    assert_true(err < 1e-7 + 1e-6 * fabs(fd));
                }
            }
        }
        assert_int_equal(cw_mixing_transport_scores(&m, z, dsz, P, dsx), CW_OK);
        for (int p = 0; p < P; p++) {
            double jac[d * n];
            cw_mixing_jacobian(&m, z + p * n, jac);
            /* J^T ds_x = ds_z (J has full column rank) and ds_x lies in col(J): ds_x is the
             * minimum-norm solution, pinv(J)^T ds_z */
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int i = 0; i < d; i++) acc += jac[i * n + j] * dsx[p * d + i];
                assert_true(fabs(acc - dsz[p * n + j]) < 1e-8 * (1 + fabs(dsz[p * n + j])));
            }
            double pj[n * d], y[n], proj[d];
            assert_int_equal(cw_la_pinv(pj, jac, d, n, 1e-15), CW_OK);
            for (int j = 0; j < n; j++) {
                y[j] = 0;
                for (int i = 0; i < d; i++) y[j] += pj[j * d + i] * dsx[p * d + i];
            }
            for (int i = 0; i < d; i++) {
                proj[i] = 0;
                for (int j = 0; j < n; j++) proj[i] += jac[i * n + j] * y[j];
                assert_true(fabs(proj[i] - dsx[p * d + i]) < 1e-8 * (1 + fabs(dsx[p * d + i])));
            }
            if (kinds[k] == CW_MIX_LINEAR)
                for (int i = 0; i < d; i++) { /* encoder^T ds_z */
                    double acc = 0;
                    for (int j = 0; j < n; j++) acc += m.encoder[j * d + i] * dsz[p * n + j];
                    assert_true(fabs(acc - dsx[p * d + i]) < 1e-12 * (1 + fabs(acc)));
                }
        }
        printf("  %s mixing: worst |J - finite differences| = %.2e\n", cw_mix_kind_name(kinds[k]),
               worst);
        cw_mixing_free(&m);
    }
}

/* ---- generator ------------------------------------------------------------------------------- */

static void small_config(cw_crl_gen_config *c, int64_t n, int64_t d, int64_t samples) {
    cw_crl_gen_defaults(c);
    c->n = n;
    c->d = d;
    c->samples = samples;
    c->score_samples = 0;
    c->min_impact = 0;
}

static void test_designs(void **state) {
    (void)state;
    enum { n = 5 };
    cw_crl_gen_config c;
    cw_crl_data d;
    /* single, permuted: one node per environment, all nodes covered */
    small_config(&c, n, 8, 20);
    c.permute_targets = 1;
    assert_int_equal(cw_crl_generate(&d, &c, 3), CW_OK);
    assert_int_equal(d.n_env, n + 1);
    int covered[n] = {0}, moved = 0;
    for (int j = 0; j < n; j++) assert_int_equal(d.targets[j], 0);
    for (int e = 1; e <= n; e++) {
        int cnt = 0;
        for (int j = 0; j < n; j++)
            if (d.targets[e * n + j]) {
                cnt++;
                covered[j]++;
                moved += j != e - 1;
            }
        assert_int_equal(cnt, 1);
        assert_int_equal(d.env[e].type, CW_INTERV_HARD);
        assert_true(d.env[e].var_change == 5.0);
        assert_ptr_equal(d.env[e].targets, d.targets + e * n);
    }
    for (int j = 0; j < n; j++) assert_int_equal(covered[j], 1);
    assert_true(moved > 0);
    assert_string_equal(d.labels[0], "obs");
    cw_crl_data_free(&d);
    /* two-hard: env m and m + n share the node, two variance changes */
    small_config(&c, n, 8, 20);
    c.design = CW_DESIGN_TWO_HARD;
    c.var_change = 4.0;
    c.var_change2 = 0.25;
    c.permute_targets = 1;
    assert_int_equal(cw_crl_generate(&d, &c, 4), CW_OK);
    assert_int_equal(d.n_env, 2 * n + 1);
    for (int m = 1; m <= n; m++) {
        assert_memory_equal(d.targets + m * n, d.targets + (m + n) * n, n);
        assert_true(d.env[m].var_change == 4.0 && d.env[m + n].var_change == 0.25);
        assert_int_equal(d.env[m + n].type, CW_INTERV_HARD);
    }
    cw_crl_data_free(&d);
    /* multi, upper-triangular signature: full rank; in topological coordinates every env has a
     * distinct last node (the unit diagonal) */
    int any_multi = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        small_config(&c, n, 8, 20);
        c.design = CW_DESIGN_MULTI;
        c.interv = CW_INTERV_SOFT;
        c.var_change = 0.25;
        assert_int_equal(cw_crl_generate(&d, &c, seed), CW_OK);
        double D[n * n];
        int64_t pos[n], last_seen[n] = {0}, rank;
        for (int a = 0; a < n; a++) pos[d.scm.order[a]] = a;
        for (int i = 0; i < n; i++)
            for (int m = 0; m < n; m++) D[i * n + m] = d.targets[(m + 1) * n + i];
        assert_int_equal(cw_la_rank(&rank, D, n, n, 1e-10), CW_OK);
        assert_int_equal(rank, n);
        for (int m = 0; m < n; m++) {
            int64_t last = -1, cnt = 0;
            for (int i = 0; i < n; i++)
                if (D[i * n + m]) {
                    cnt++;
                    if (pos[i] > last) last = pos[i];
                }
            any_multi |= cnt > 1;
            last_seen[last]++;
            assert_int_equal(d.env[m + 1].type, CW_INTERV_SOFT);
        }
        for (int a = 0; a < n; a++) assert_int_equal(last_seen[a], 1);
        cw_crl_data_free(&d);
    }
    assert_true(any_multi);
    /* multi, identity signature: D = I (the single design) */
    small_config(&c, n, 8, 20);
    c.design = CW_DESIGN_MULTI;
    c.signature = CW_SIGNATURE_IDENTITY;
    assert_int_equal(cw_crl_generate(&d, &c, 9), CW_OK);
    for (int i = 0; i < n; i++)
        for (int m = 0; m < n; m++) assert_int_equal(d.targets[(m + 1) * n + i], i == m);
    cw_crl_data_free(&d);
}

static int data_equal(const cw_crl_data *a, const cw_crl_data *b) {
    if (a->n_env != b->n_env || a->n != b->n || a->d != b->d) return 0;
    for (int64_t e = 0; e < a->n_env; e++) {
        if (a->count[e] != b->count[e]) return 0;
        if (memcmp(a->x[e], b->x[e], (size_t)(a->count[e] * a->d) * sizeof(double))) return 0;
        if (memcmp(a->z[e], b->z[e], (size_t)(a->count[e] * a->n) * sizeof(double))) return 0;
        if (a->count_se &&
            memcmp(a->x_se[e], b->x_se[e], (size_t)(a->count_se[e] * a->d) * sizeof(double)))
            return 0;
    }
    return memcmp(a->scm.adj, b->scm.adj, (size_t)(a->n * a->n)) == 0 &&
           memcmp(a->targets, b->targets, (size_t)(a->n_env * a->n)) == 0;
}

static void test_reproducible(void **state) {
    (void)state;
    cw_crl_gen_config c;
    small_config(&c, 4, 7, 300);
    c.score_samples = 50;
    c.min_impact = 0.02;
    c.scm = CW_SCM_QUADRATIC;
    c.mix = CW_MIX_TANH;
    cw_crl_data a, b, o;
    assert_int_equal(cw_crl_generate(&a, &c, 42), CW_OK);
    assert_int_equal(cw_crl_generate(&b, &c, 42), CW_OK);
    assert_int_equal(cw_crl_generate(&o, &c, 43), CW_OK);
    assert_true(data_equal(&a, &b));
    assert_false(memcmp(a.x[0], o.x[0], (size_t)(a.count[0] * a.d) * sizeof(double)) == 0);
    /* x = g(z) */
    double x[7];
    cw_mixing_apply(&a.mixing, a.z[2], 1, x);
    for (int i = 0; i < 7; i++) assert_true(x[i] == a.x[2][i]);
    assert_true(a.has_truth && a.has_graph);
    assert_int_equal(a.count_se[3], 50);
    cw_crl_data_free(&a);
    cw_crl_data_free(&b);
    cw_crl_data_free(&o);
}

static void test_min_impact_and_oracle(void **state) {
    (void)state;
    enum { n = 5 };
    cw_crl_gen_config c;
    small_config(&c, n, 12, 4000);
    c.min_impact = 0.3;
    c.fill_rate = 0.6;
    cw_crl_data d;
    assert_int_equal(cw_crl_generate(&d, &c, 17), CW_OK);
    assert_true(cw_dag_edge_count(d.scm.adj, n) > 0);
    int64_t rows = d.count[0];
    double *dz = cw_malloc_array((size_t)(rows * n), sizeof *dz);
    double *dx = cw_malloc_array((size_t)(rows * c.d), sizeof *dx);
    assert_true(dz && dx);
    double weakest = INFINITY;
    for (int64_t m = 1; m <= n; m++) {
        int64_t i = -1;
        for (int j = 0; j < n; j++)
            if (d.targets[m * n + j]) i = j;
        assert_int_equal(cw_crl_oracle_score_diff(&d, 0, m, dz, dx), CW_OK);
        for (int j = 0; j < n; j++) {
            double ms = 0;
            for (int64_t t = 0; t < rows; t++) ms += dz[t * n + j] * dz[t * n + j] / rows;
            /* sparsity (§A1 key property 1): support pa(i) u {i} */
            if (j != i && !d.scm.adj[j * n + i]) assert_true(ms == 0);
            if (d.scm.adj[j * n + i]) {
                assert_true(ms >= c.min_impact);
                if (ms < weakest) weakest = ms;
            }
        }
        /* ds_z may be omitted when only the transported difference is wanted */
        double *dx2 = cw_malloc_array((size_t)(rows * c.d), sizeof *dx2);
        assert_int_equal(cw_crl_oracle_score_diff(&d, 0, m, NULL, dx2), CW_OK);
        assert_memory_equal(dx2, dx, (size_t)(rows * c.d) * sizeof *dx);
        cw_free(dx2);
        /* the transported difference maps back: encoder^T-transport => G^T ds_x = ds_z */
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t k = 0; k < c.d; k++) acc += d.mixing.g[k * n + j] * dx[k];
            assert_true(fabs(acc - dz[j]) < 1e-9 * (1 + fabs(dz[j])));
        }
    }
    printf("  min_impact 0.3: weakest edge E[ds_j^2] = %.3f\n", weakest);
    cw_free(dz);
    cw_free(dx);
    cw_crl_data_free(&d);
    /* impossible threshold: bounded redraws, then an error */
    small_config(&c, n, 12, 200);
    c.fill_rate = 1.0;
    c.min_impact = 1e6;
    c.max_redraws = 3;
    assert_int_equal(cw_crl_generate(&d, &c, 17), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "min_impact"));
    /* two-hard: differences between the two hard environments of a node live on that node */
    small_config(&c, 4, 6, 500);
    c.design = CW_DESIGN_TWO_HARD;
    c.scm = CW_SCM_MLP;
    c.mix = CW_MIX_MLP;
    c.var_change = 4.0;
    assert_int_equal(cw_crl_generate(&d, &c, 8), CW_OK);
    dz = cw_malloc_array((size_t)(d.count[0] * 4), sizeof *dz);
    for (int64_t m = 1; m <= 4; m++) {
        assert_int_equal(cw_crl_oracle_score_diff(&d, m, m + 4, dz, NULL), CW_OK);
        for (int j = 0; j < 4; j++) {
            double ms = 0;
            for (int64_t t = 0; t < d.count[0]; t++) ms += fabs(dz[t * 4 + j]);
            if (d.targets[m * 4 + j]) assert_true(ms > 0);
            else assert_true(ms == 0);
        }
    }
    cw_free(dz);
    cw_crl_data_free(&d);
}

/* ---- h5ad ------------------------------------------------------------------------------------ */

static void test_h5ad_round_trip(void **state) {
    (void)state;
    cw_crl_gen_config c;
    small_config(&c, 3, 5, 40);
    c.score_samples = 10;
    c.permute_targets = 1;
    cw_crl_data d, b;
    assert_int_equal(cw_crl_generate(&d, &c, 77), CW_OK);
    char path[512];
    cwt_path(path, sizeof path, "crl.h5ad");
    assert_int_equal(cw_crl_data_write_h5ad(&d, path, "{\"run\":1}"), CW_OK);
    assert_int_equal(cw_crl_data_read_h5ad(&b, path, "env", "obs"), CW_OK);
    assert_int_equal(b.n_env, d.n_env);
    assert_int_equal(b.n, d.n);
    assert_int_equal(b.d, d.d);
    assert_false(b.has_truth);
    assert_true(b.has_graph);
    assert_memory_equal(b.scm.adj, d.scm.adj, 9);
    assert_memory_equal(b.targets, d.targets, (size_t)(d.n_env * d.n));
    assert_non_null(b.count_se);
    for (int64_t e = 0; e < d.n_env; e++) {
        assert_string_equal(b.labels[e], d.labels[e]);
        assert_int_equal(b.count[e], d.count[e]);
        assert_int_equal(b.count_se[e], d.count_se[e]);
        for (int64_t k = 0; k < d.count[e] * d.d; k++)
            assert_true(b.x[e][k] == (double)(float)d.x[e][k]);
        assert_memory_equal(b.z[e], d.z[e], (size_t)(d.count[e] * d.n) * sizeof(double));
        assert_memory_equal(b.z_se[e], d.z_se[e], (size_t)(d.count_se[e] * d.n) * sizeof(double));
        assert_true(b.env[e].var_change == d.env[e].var_change);
    }
    for (int64_t k = 0; k < d.d * d.n; k++) {
        assert_true(b.mixing.g[k] == d.mixing.g[k]);
        assert_true(b.mixing.encoder[k] == d.mixing.encoder[k]);
    }
    assert_true(b.seed == 77);
    cw_crl_data_free(&b);
    /* environment order follows the observational label first */
    assert_int_equal(cw_crl_data_read_h5ad(&b, path, "env", "env2"), CW_OK);
    assert_string_equal(b.labels[0], "env2");
    assert_string_equal(b.labels[1], "obs");
    assert_true(b.has_graph);
    assert_memory_equal(b.targets, d.targets + 2 * 3, 3);
    cw_crl_data_free(&b);

    /* errors name the file and field */
    assert_int_equal(cw_crl_data_read_h5ad(&b, path, "condition", "obs"), CW_ENOTFOUND);
    assert_non_null(strstr(cw_errmsg(), "crl.h5ad"));
    assert_non_null(strstr(cw_errmsg(), "/obs/condition"));
    assert_non_null(strstr(cw_errmsg(), "env"));
    assert_int_equal(cw_crl_data_read_h5ad(&b, path, "env", "ctrl"), CW_ENOTFOUND);
    assert_non_null(strstr(cw_errmsg(), "\"ctrl\""));
    assert_non_null(strstr(cw_errmsg(), "\"env3\""));
    char bad[512];
    cwt_path(bad, sizeof bad, "bad.h5ad");
    d.x[1][3] = NAN;
    assert_int_equal(cw_crl_data_write_h5ad(&d, bad, NULL), CW_OK);
    assert_int_equal(cw_crl_data_read_h5ad(&b, bad, "env", "obs"), CW_EFORMAT);
    assert_non_null(strstr(cw_errmsg(), "non-finite"));
    assert_non_null(strstr(cw_errmsg(), "/X"));
    d.x[1][3] = 0;
    int64_t keep = d.count[2];
    d.count[2] = 1;
    assert_int_equal(cw_crl_data_write_h5ad(&d, bad, NULL), CW_OK);
    d.count[2] = keep;
    assert_int_equal(cw_crl_data_read_h5ad(&b, bad, "env", "obs"), CW_EFORMAT);
    assert_non_null(strstr(cw_errmsg(), "\"env2\""));
    assert_int_equal(cw_crl_data_read_h5ad(&b, "/nonexistent/x.h5ad", "env", "obs"), CW_EIO);
    cw_crl_data_free(&d);
}

static void test_anndata_interop(void **state) {
    (void)state;
    const char *py = cwt_python_with("anndata,h5py,numpy");
    if (!py) {
        printf("  skipped: no python3 with anndata\n");
        skip();
    }
    cw_crl_gen_config c;
    small_config(&c, 3, 6, 25);
    c.score_samples = 5;
    cw_crl_data d, b;
    assert_int_equal(cw_crl_generate(&d, &c, 5), CW_OK);
    char ours[512], theirs[512], wrong[512], out[4096];
    cwt_path(ours, sizeof ours, "ours.h5ad");
    cwt_path(theirs, sizeof theirs, "theirs.h5ad");
    cwt_path(wrong, sizeof wrong, "wrong.h5ad");
    assert_int_equal(cw_crl_data_write_h5ad(&d, ours, NULL), CW_OK);
    /* anndata reads our file */
    int rc = cwt_run(out, sizeof out,
                     "%s -c \"import anndata as ad; a = ad.read_h5ad('%s'); "
                     "print(list(a.obs['env'].cat.categories), a.obsm['latents'].shape, a.X.shape, "
                     "a.obs['role'].value_counts()['score'], a.uns['causeway']['crl']['adj'].shape)\"",
                     py, ours);
    printf("  anndata sees: %s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "['obs', 'env1', 'env2', 'env3']"));
    assert_non_null(strstr(out, "(120, 3) (120, 6) 20 (3, 3)"));
    /* we read a file anndata wrote: string labels, control not first, no role, no truth */
    rc = cwt_run(out, sizeof out,
                 "%s -c \"import anndata as ad, numpy as np, pandas as pd; "
                 "rng = np.random.default_rng(0); x = rng.normal(size=(30, 4)).astype(np.float32); "
                 "lab = ['a'] * 10 + ['ctrl'] * 12 + ['b'] * 8; "
                 "a = ad.AnnData(X=x, obs=pd.DataFrame({'condition': pd.Categorical(lab)}, "
                 "index=[str(i) for i in range(30)])); a.obsm['latents'] = "
                 "rng.normal(size=(30, 2)); a.write_h5ad('%s'); "
                 "import h5py; f = h5py.File('%s', 'w'); "
                 "[f.copy(h5py.File('%s', 'r')[k], k) for k in ['X', 'obs', 'var', 'obsm', 'uns']]; "
                 "[f.attrs.__setitem__(k, v) for k, v in h5py.File('%s', 'r').attrs.items()]; "
                 "del f['obsm/latents']; f['obsm/latents'] = np.zeros((29, 2)); f.close()\"",
                 py, theirs, wrong, theirs, theirs);
    if (rc != 0) printf("%s\n", out);
    assert_int_equal(rc, 0);
    assert_int_equal(cw_crl_data_read_h5ad(&b, theirs, "condition", "ctrl"), CW_OK);
    assert_int_equal(b.n_env, 3);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.labels[0], "ctrl");
    assert_string_equal(b.labels[1], "a");
    assert_string_equal(b.labels[2], "b");
    assert_int_equal(b.count[0], 12);
    assert_int_equal(b.count[1], 10);
    assert_int_equal(b.count[2], 8);
    assert_null(b.count_se);
    assert_false(b.has_graph);
    assert_non_null(b.z);
    cw_crl_data_free(&b);
    assert_int_equal(cw_crl_data_read_h5ad(&b, wrong, "condition", "ctrl"), CW_EFORMAT);
    printf("  wrong latents: %s\n", cw_errmsg());
    assert_non_null(strstr(cw_errmsg(), "latents"));
    assert_non_null(strstr(cw_errmsg(), "wrong.h5ad"));
    cw_crl_data_free(&d);
}

/* every allocation failure on the generate / write / read paths returns an error and (under
 * AddressSanitizer) leaks nothing */
static void test_alloc_failures(void **state) {
    (void)state;
    cw_crl_gen_config c;
    small_config(&c, 3, 5, 30);
    c.score_samples = 6;
    c.min_impact = 0.02;
    c.scm = CW_SCM_QUADRATIC;
    char path[512];
    cwt_path(path, sizeof path, "alloc.h5ad");
    cw_crl_data d, b;
    for (int phase = 0; phase < 3; phase++) {
        if (phase > 0) assert_int_equal(cw_crl_generate(&d, &c, 2), CW_OK);
        if (phase == 2) assert_int_equal(cw_crl_data_write_h5ad(&d, path, NULL), CW_OK);
        int done = 0;
        int64_t k;
        for (k = 0; k < 100000 && !done; k++) {
            cw_alloc_fail_after(k);
            cw_status st = phase == 0   ? cw_crl_generate(&b, &c, 2)
                           : phase == 1 ? cw_crl_data_write_h5ad(&d, path, "{}")
                                        : cw_crl_data_read_h5ad(&b, path, "env", "obs");
            int64_t injected = cw_alloc_injected_failures();
            cw_alloc_fail_after(-1);
            if (injected == 0) {
                assert_int_equal(st, CW_OK);
                if (phase != 1) {
                    assert_true(phase == 0 ? b.has_truth : b.has_graph);
                    cw_crl_data_free(&b);
                }
                done = 1;
            } else if (st == CW_OK) {
                fail_msg("phase %d: %lld allocation(s) failed at budget %lld but the call "
                         "succeeded", phase, (long long)injected, (long long)k);
            }
        }
        printf("  phase %d: %lld allocation budgets checked\n", phase, (long long)k);
        assert_true(done);
        if (phase > 0) cw_crl_data_free(&d);
    }
}

static void test_names(void **state) {
    (void)state;
    for (int k = 0; k < 4; k++) {
        cw_scm_kind o;
        assert_int_equal(cw_scm_kind_parse(&o, cw_scm_kind_name((cw_scm_kind)k)), CW_OK);
        assert_int_equal(o, k);
    }
    for (int k = 0; k < 3; k++) {
        cw_mix_kind o;
        assert_int_equal(cw_mix_kind_parse(&o, cw_mix_kind_name((cw_mix_kind)k)), CW_OK);
        assert_int_equal(o, k);
    }
    cw_scm_kind o;
    assert_int_equal(cw_scm_kind_parse(&o, "cubic"), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "cubic"));
    cw_mix_kind mo;
    assert_int_equal(cw_mix_kind_parse(&mo, NULL), CW_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_covariance),
        cmocka_unit_test(test_intervention_laws),
        cmocka_unit_test(test_score_matches_log_density),
        cmocka_unit_test(test_box_rows_aligned),
        cmocka_unit_test(test_haar_and_linear_mixing),
        cmocka_unit_test(test_jacobian_and_transport),
        cmocka_unit_test(test_designs),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_min_impact_and_oracle),
        cmocka_unit_test(test_h5ad_round_trip),
        cmocka_unit_test(test_anndata_interop),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("crl_generate", tests, NULL, cwt_teardown);
}
