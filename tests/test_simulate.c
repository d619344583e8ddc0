/* test_simulate.c: the Welch t-test DEG table (eval/deg.h) against scipy reference numbers, and
 * the ground-truth simulator (data/simulate.h): option validation, determinism across seeds and
 * thread counts, truth consistency, statistical signal, sparsity and normalisation, the context
 * graph, and the written .h5ad + graph files read back.
 *
 * Reference numbers below come from /usr/bin/python3 (scipy 1.10.1): scipy.special.betainc,
 * scipy.stats.t.sf, scipy.stats.ttest_ind(equal_var=False) (NaN -> t 0, p 1 as scanpy does),
 * Benjamini-Hochberg written out as statsmodels' fdr_bh, and scanpy's log fold change formula.
 */
#include "test_util.h"

#include "core/alloc.h"
#include "core/status.h"
#include "data/simulate.h"
#include "eval/deg.h"
#include "io/h5ad.h"

#include <dirent.h>
#include <math.h>

static int close_rel(double got, double ref, double rtol, double atol) {
    return fabs(got - ref) <= atol + rtol * fabs(ref);
}

#define ASSERT_CLOSE(got, ref, rtol, atol)                                                     \
    do {                                                                                       \
        double g_ = (got), r_ = (ref);                                                         \
        if (!close_rel(g_, r_, rtol, atol)) fail_msg("%s = %.17g, expected %.17g", #got, g_, r_); \
    } while (0)

/* ---- statistics helpers ------------------------------------------------------------------ */

static void test_betainc_and_t_tail(void **state) {
    (void)state;
    const double bi[][4] = {
        {0.5, 0.5, 0.3, 0.3690101195655454},     {2, 3, 0.4, 0.5247999999999999},
        {10, 0.5, 0.9, 0.15164090963470997},     {50, 0.5, 0.99, 0.31730439787419623},
        {0.5, 5, 0.01, 0.24284189089843752},     {1000, 0.5, 0.999, 0.15724727426683946},
        {5000, 0.5, 0.9995, 0.025332672657788328}, {3.5, 0.5, 0.2, 0.0011337831033596455},
    };
    for (size_t i = 0; i < sizeof bi / sizeof bi[0]; i++)
        ASSERT_CLOSE(cw_betainc_reg(bi[i][0], bi[i][1], bi[i][2]), bi[i][3], 1e-11, 0);
    const double ts[][3] = {
        {2.0, 5, 0.05096973941492914},     {0.5, 1.5, 0.34028355533497},
        {-1.3, 10, 0.8886170913965777},    {4.0, 3.7, 0.009394455009390571},
        {10, 100, 4.950844492297047e-17},  {30, 2000, 6.853865095563232e-164},
        {3, 1e5, 0.0013502304420323597},   {0.01, 7, 0.4961501588218109},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        ASSERT_CLOSE(cw_t_sf(ts[i][0], ts[i][1]), ts[i][2], 1e-9, 0);
    assert_true(cw_t_pvalue(0.0, 3.0) == 1.0);
    assert_true(cw_betainc_reg(2, 3, 0.0) == 0.0 && cw_betainc_reg(2, 3, 1.0) == 1.0);
    assert_true(isnan(cw_betainc_reg(-1, 3, 0.5)));
}

static void test_bh_adjust(void **state) {
    (void)state;
    const double p[8] = {0.01, 0.04, 0.03, 0.2, 0.5, 0.04, 0.001, 0.9};
    const double ref[8] = {0.04, 0.064, 0.064, 0.26666666666666666, 0.5714285714285714,
                           0.064, 0.008, 0.9};
    double q[8];
    assert_int_equal(cw_bh_adjust(p, 8, q), CW_OK);
    for (int i = 0; i < 8; i++) ASSERT_CLOSE(q[i], ref[i], 1e-14, 0);
}

/* ---- the DEG table on a tiny example ----------------------------------------------------- */

/* 15 cells x 5 genes: controls (group 0, label ""), A (group 2), B (group 1), interleaved. */
static const float toy_ctrl[6][5] = {{0, 1.0f, 0.5f, 0, 2.0f},  {0, 1.5f, 0.5f, 0, 2.0f},
                                     {0, 0.5f, 0.5f, 0, 2.0f},  {0, 1.0f, 0.75f, 0, 2.0f},
                                     {0, 2.0f, 0.25f, 0, 2.0f}, {0, 1.25f, 0.5f, 0, 2.0f}};
static const float toy_a[4][5] = {{0, 3.0f, 0.5f, 1.0f, 2.0f}, {0, 2.5f, 0.25f, 0.5f, 2.0f},
                                  {0, 3.5f, 0.5f, 0.0f, 2.0f}, {0, 2.75f, 0.75f, 0.25f, 2.0f}};
static const float toy_b[5][5] = {{0, 0.5f, 1.5f, 0, 2.0f}, {0, 0.25f, 1.25f, 0, 2.0f},
                                  {0, 1.0f, 1.75f, 0, 2.0f}, {0, 0.75f, 1.5f, 0, 2.0f},
                                  {0, 0.0f, 2.0f, 0, 2.0f}};

static void toy_matrix(float *x, int64_t *grp) {
    int ic = 0, ia = 0, ib = 0;
    for (int r = 0; r < 15; r++) {
        const float *src;
        if (r % 3 == 0 && ic < 6) {
            src = toy_ctrl[ic++];
            grp[r] = 0;
        } else if (r % 3 == 1 && ia < 4) {
            src = toy_a[ia++];
            grp[r] = 2;
        } else if (ib < 5) {
            src = toy_b[ib++];
            grp[r] = 1;
        } else {
            src = toy_ctrl[ic++];
            grp[r] = 0;
        }
        memcpy(x + r * 5, src, 5 * sizeof(float));
    }
}

static void toy_names(cw_strings *groups, cw_strings *genes) {
    const char *gn[3] = {"", "B", "A"};
    const char *vn[5] = {"g0", "g1", "g2", "g3", "g4"};
    assert_int_equal(cw_strings_alloc(groups, 0), CW_OK);
    assert_int_equal(cw_strings_alloc(genes, 0), CW_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(cw_strings_push(groups, gn[i]), CW_OK);
    for (int i = 0; i < 5; i++) assert_int_equal(cw_strings_push(genes, vn[i]), CW_OK);
}

static void check_toy_table(const cw_deg_table *t) {
    /* reference: scipy ttest_ind(equal_var=False), BH, scanpy's lfc */
    const int order_a[5] = {1, 3, 0, 2, 4}, order_b[5] = {2, 1, 0, 3, 4};
    const double ta[5] = {0, 5.796971454887498, 0, 2.04939015319192, 0};
    const double pa[5] = {1, 5.4162551677818655e-04, 1, 1.3284184055977563e-01, 1};
    const double qa[5] = {1, 0.00270812758389093, 1, 0.3321046013994391, 1};
    const double la[5] = {0, 2.9279849049093785, 0, 29.031784890619157, 0};
    const double tb[5] = {0, -2.5924756956542785, 7.698396334461418, 0, 0};
    const double pb[5] = {1, 2.9156900846875125e-02, 2.5192280499415241e-04, 1, 1};
    const double qb[5] = {1, 0.0728922521171878, 0.00125961402497076, 1, 1};
    const double lb[5] = {0, -1.8557004155233523, 2.6072891381849495, 0, 0};
    assert_int_equal(t->n_groups, 2);
    assert_int_equal(t->n_genes, 3);
    assert_string_equal(t->groups.s[0], "A"); /* sorted by name */
    assert_string_equal(t->groups.s[1], "B");
    for (int g = 0; g < 2; g++) {
        const int *ord = g == 0 ? order_a : order_b;
        const double *tt = g == 0 ? ta : tb, *pp = g == 0 ? pa : pb, *qq = g == 0 ? qa : qb,
                     *ll = g == 0 ? la : lb;
        for (int r = 0; r < 3; r++) {
            int j = ord[r];
            char name[8];
            snprintf(name, sizeof name, "g%d", j);
            assert_string_equal(t->names.s[g * 3 + r], name);
            ASSERT_CLOSE(t->scores[g * 3 + r], tt[j], 1e-9, 1e-12);
            ASSERT_CLOSE(t->pvals[g * 3 + r], pp[j], 1e-8, 1e-15);
            ASSERT_CLOSE(t->pvals_adj[g * 3 + r], qq[j], 1e-8, 1e-15);
            ASSERT_CLOSE(t->logfoldchanges[g * 3 + r], ll[j], 1e-9, 1e-12);
        }
    }
}

static void test_deg_toy_against_scipy(void **state) {
    (void)state;
    float x[15 * 5];
    int64_t grp[15];
    toy_matrix(x, grp);
    cw_strings groups, genes;
    toy_names(&groups, &genes);
    cw_csr m;
    assert_int_equal(cw_csr_from_dense(&m, x, 15, 5), CW_OK);

    /* in-memory CSR path, 1 and 3 threads */
    cw_deg_table t1, t3;
    assert_int_equal(cw_deg_from_csr(&m, grp, 3, 0, &groups, &genes, 3, 1, &t1), CW_OK);
    check_toy_table(&t1);
    assert_int_equal(cw_deg_from_csr(&m, grp, 3, 0, &groups, &genes, 3, 3, &t3), CW_OK);
    assert_memory_equal(t1.scores, t3.scores, 6 * sizeof(double));

    /* streaming accumulator: dense rows and sparse rows give the same sums */
    cw_deg_accum a, b;
    assert_int_equal(cw_deg_accum_init(&a, 3, 5), CW_OK);
    assert_int_equal(cw_deg_accum_init(&b, 3, 5), CW_OK);
    for (int r = 0; r < 15; r++) {
        cw_deg_accum_add_dense(&a, grp[r], x + r * 5);
        cw_deg_accum_add_sparse(&b, grp[r], m.indices + m.indptr[r], m.data + m.indptr[r],
                                m.indptr[r + 1] - m.indptr[r]);
    }
    assert_memory_equal(a.sum, b.sum, 15 * sizeof(double));
    assert_memory_equal(a.sumsq, b.sumsq, 15 * sizeof(double));
    cw_deg_table ta;
    assert_int_equal(cw_deg_accum_finalize(&a, 0, &groups, &genes, 3, &ta), CW_OK);
    check_toy_table(&ta);
    /* n_top larger than the genes is clipped */
    cw_deg_table tc;
    assert_int_equal(cw_deg_accum_finalize(&a, 0, &groups, &genes, 50, &tc), CW_OK);
    assert_int_equal(tc.n_genes, 5);
    cw_deg_table_free(&tc);

    cw_deg_table_free(&t1);
    cw_deg_table_free(&t3);
    cw_deg_table_free(&ta);
    cw_deg_accum_free(&a);
    cw_deg_accum_free(&b);
    cw_csr_free(&m);
    cw_strings_free(&groups);
    cw_strings_free(&genes);
}

static void test_deg_degenerate(void **state) {
    (void)state;
    double t, df, p;
    cw_welch_ttest(1.0, 0.0, 10, 1.0, 0.0, 20, &t, &df, &p); /* zero variance in both */
    assert_true(t == 0.0 && p == 1.0);
    cw_welch_ttest(2.0, 0.0, 10, 1.0, 0.0, 20, &t, &df, &p); /* ... even with different means */
    assert_true(t == 0.0 && p == 1.0);
    cw_welch_ttest(2.0, 1.0, 1, 1.0, 1.0, 20, &t, &df, &p); /* a group of one cell */
    assert_true(t == 0.0 && p == 1.0);
    cw_welch_ttest(2.0, 1.0, 10, 1.0, 0.0, 20, &t, &df, &p); /* one variance zero: df = n1 - 1 */
    ASSERT_CLOSE(df, 9.0, 1e-12, 0);
    ASSERT_CLOSE(t, sqrt(10.0), 1e-12, 0);

    cw_deg_accum a;
    cw_strings groups, genes;
    toy_names(&groups, &genes);
    assert_int_equal(cw_deg_accum_init(&a, 3, 5), CW_OK);
    float row[5] = {1, 0, 0, 0, 0};
    cw_deg_accum_add_dense(&a, 1, row);
    cw_deg_table out;
    assert_int_equal(cw_deg_accum_finalize(&a, 0, &groups, &genes, 3, &out), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "no cells"));
    cw_deg_accum_add_dense(&a, 0, row);
    assert_int_equal(cw_deg_accum_finalize(&a, 0, &groups, &genes, 3, &out), CW_OK);
    assert_int_equal(out.n_groups, 1); /* group "A" has no cells: left out */
    assert_string_equal(out.groups.s[0], "B");
    for (int r = 0; r < 3; r++) assert_true(out.scores[r] == 0.0 && out.pvals[r] == 1.0);
    cw_deg_table_free(&out);
    cw_deg_accum_free(&a);
    cw_strings_free(&groups);
    cw_strings_free(&genes);
}

/* ---- options ----------------------------------------------------------------------------- */

static void expect_invalid(const cw_sim_options *o, const char *flag) {
    assert_int_equal(cw_sim_options_validate(o), CW_EINVAL);
    if (!strstr(cw_errmsg(), flag)) fail_msg("message '%s' does not name %s", cw_errmsg(), flag);
    cw_sim *s = (cw_sim *)1;
    assert_int_equal(cw_sim_create(o, &s), CW_EINVAL);
    assert_null(s);
}

static void test_options_validation(void **state) {
    (void)state;
    cw_sim_options d, o;
    cw_sim_options_default(&d);
    assert_int_equal(cw_sim_options_validate(&d), CW_OK);
    assert_int_equal(d.n_controls + (d.n_targets + d.n_combinations) * d.cells_per_perturbation,
                     6200);
    o = d;
    o.n_targets = 5;
    o.n_combinations = 11; /* 5 choose 2 = 10 */
    expect_invalid(&o, "--n-combinations");
    assert_non_null(strstr(cw_errmsg(), "10"));
    o = d;
    o.n_targets = 501;
    expect_invalid(&o, "--n-targets");
    o = d;
    o.n_programs = 600;
    expect_invalid(&o, "--n-genes");
    o = d;
    o.edge_prob = 1.5;
    expect_invalid(&o, "--edge-prob");
    o = d;
    o.library_sd = NAN;
    expect_invalid(&o, "--library-sd");
    o = d;
    o.shift_max = 1.0; /* below shift_min */
    expect_invalid(&o, "--shift-max");
    o = d;
    o.n_controls = 1;
    expect_invalid(&o, "--n-controls");
    o = d;
    o.library_size = 0.5;
    expect_invalid(&o, "--library-size");
    o = d;
    o.cells_per_perturbation = 1000000000;
    o.n_targets = 400;
    expect_invalid(&o, "--cells-per-perturbation");
    cw_sim_mechanism m;
    assert_int_equal(cw_sim_mechanism_parse("linear", &m), CW_OK);
    assert_int_equal(m, CW_SIM_LINEAR);
    assert_int_equal(cw_sim_mechanism_parse("quadratic", &m), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "--mechanism"));
    char *json = NULL;
    assert_int_equal(cw_sim_options_json(&d, &json), CW_OK);
    assert_non_null(strstr(json, "\"n_combinations\": 10"));
    assert_non_null(strstr(json, "\"mechanism\": \"nonlinear\""));
    cw_free(json);
    char *g, *p, *r;
    assert_int_equal(cw_sim_graph_paths(&d, "out/dir.v1/sim.h5ad", &g, &p, &r), CW_OK);
    assert_string_equal(g, "out/dir.v1/sim.gmt");
    assert_string_equal(p, "out/dir.v1/sim.ppi.txt");
    assert_string_equal(r, "out/dir.v1/sim.relations.txt");
    cw_free(g);
    cw_free(p);
    cw_free(r);
}

/* ---- simulator: small configuration for the fast tests ----------------------------------- */

static void small_opts(cw_sim_options *o) {
    cw_sim_options_default(o);
    o->n_controls = 300;
    o->cells_per_perturbation = 60;
    o->n_genes = 240;
    o->n_programs = 6;
    o->n_targets = 8;
    o->n_combinations = 5;
    o->seed = 7;
    o->block_rows = 100; /* several blocks */
}

static void test_determinism(void **state) {
    (void)state;
    cw_sim_options o;
    small_opts(&o);
    cw_sim *s1, *s2, *s3;
    o.threads = 1;
    assert_int_equal(cw_sim_create(&o, &s1), CW_OK);
    o.threads = 2;
    assert_int_equal(cw_sim_create(&o, &s2), CW_OK);
    o.seed = 8;
    assert_int_equal(cw_sim_create(&o, &s3), CW_OK);
    const int64_t N = s1->n_cells, Z = s1->n_programs;
    assert_int_equal(N, 300 + 13 * 60);
    assert_memory_equal(s1->dag, s2->dag, (size_t)(Z * Z) * sizeof(double));
    assert_memory_equal(s1->loadings, s2->loadings, (size_t)(Z * s1->n_genes) * sizeof(double));
    cw_csr a, b, c;
    double *na = malloc((size_t)N * sizeof(double)), *nb = malloc((size_t)N * sizeof(double));
    double *la = malloc((size_t)(N * Z) * sizeof(double));
    double *lb = malloc((size_t)(N * Z) * sizeof(double));
    assert_int_equal(cw_sim_generate_csr(s1, 0, N, &a, na, la), CW_OK);
    assert_int_equal(cw_sim_generate_csr(s2, 0, N, &b, nb, lb), CW_OK);
    assert_int_equal(a.nnz, b.nnz);
    assert_memory_equal(a.indptr, b.indptr, (size_t)(N + 1) * sizeof(int64_t));
    assert_memory_equal(a.indices, b.indices, (size_t)a.nnz * sizeof(int32_t));
    assert_memory_equal(a.data, b.data, (size_t)a.nnz * sizeof(float));
    assert_memory_equal(na, nb, (size_t)N * sizeof(double));
    assert_memory_equal(la, lb, (size_t)(N * Z) * sizeof(double));
    /* the DEG statistics do not depend on the thread count either */
    int64_t *cg = malloc((size_t)N * sizeof(int64_t));
    for (int64_t i = 0; i < N; i++) cg[i] = cw_sim_cell_group(s1, i);
    cw_deg_table d1, d2;
    assert_int_equal(cw_deg_from_csr(&a, cg, s1->n_groups, 0, &s1->group_labels, &s1->gene_names,
                                     20, 1, &d1),
                     CW_OK);
    assert_int_equal(cw_deg_from_csr(&a, cg, s1->n_groups, 0, &s1->group_labels, &s1->gene_names,
                                     20, 2, &d2),
                     CW_OK);
    assert_memory_equal(d1.scores, d2.scores, (size_t)(d1.n_groups * 20) * sizeof(double));
    assert_memory_equal(d1.pvals_adj, d2.pvals_adj, (size_t)(d1.n_groups * 20) * sizeof(double));
    cw_deg_table_free(&d1);
    cw_deg_table_free(&d2);
    free(cg);
    /* a sub-range generates the same rows (cells depend only on their index) */
    cw_csr part;
    assert_int_equal(cw_sim_generate_csr(s2, 250, 100, &part, NULL, NULL), CW_OK);
    int64_t off = a.indptr[250];
    assert_int_equal(part.nnz, a.indptr[350] - off);
    assert_memory_equal(part.data, a.data + off, (size_t)part.nnz * sizeof(float));
    /* another seed differs */
    assert_int_equal(cw_sim_generate_csr(s3, 0, N, &c, NULL, NULL), CW_OK);
    int differs = c.nnz != a.nnz ||
                  memcmp(c.data, a.data, (size_t)(a.nnz < c.nnz ? a.nnz : c.nnz) * sizeof(float));
    assert_true(differs);
    assert_true(memcmp(s1->dag, s3->dag, (size_t)(Z * Z) * sizeof(double)) != 0 ||
                memcmp(s1->target_gene, s3->target_gene, (size_t)s1->n_targets * 8) != 0);
    cw_csr_free(&a);
    cw_csr_free(&b);
    cw_csr_free(&c);
    cw_csr_free(&part);
    free(na);
    free(nb);
    free(la);
    free(lb);
    cw_sim_free(s1);
    cw_sim_free(s2);
    cw_sim_free(s3);
}

static void test_truth_consistency(void **state) {
    (void)state;
    cw_sim_options o;
    cw_sim_options_default(&o);
    o.seed = 3;
    for (int mech = 0; mech < 2; mech++) {
        o.mechanism = mech ? CW_SIM_NONLINEAR : CW_SIM_LINEAR;
        cw_sim *s;
        assert_int_equal(cw_sim_create(&o, &s), CW_OK);
        const int64_t Z = s->n_programs, G = s->n_genes, T = s->n_targets, C = s->n_combinations;
        /* topological order is a permutation and every edge goes forward in it */
        int64_t pos[64];
        for (int64_t i = 0; i < Z; i++) pos[i] = -1;
        for (int64_t r = 0; r < Z; r++) {
            assert_true(s->topo_order[r] >= 0 && s->topo_order[r] < Z);
            assert_int_equal(pos[s->topo_order[r]], -1);
            pos[s->topo_order[r]] = r;
        }
        int64_t edges = 0;
        for (int64_t i = 0; i < Z; i++)
            for (int64_t j = 0; j < Z; j++)
                if (s->dag[i * Z + j] != 0.0) {
                    assert_true(pos[i] < pos[j]);
                    assert_true(fabs(s->dag[i * Z + j]) <= 1.5);
                    edges++;
                }
        assert_true(edges > 0 && edges < Z * (Z - 1) / 2);
        /* targets: distinct genes, sorted symbols, one program each, shifts in range */
        for (int64_t t = 0; t < T; t++) {
            assert_true(s->target_program[t] >= 0 && s->target_program[t] < Z);
            assert_true(fabs(s->target_shift[t]) >= 1.5 && fabs(s->target_shift[t]) <= 3.0);
            assert_string_equal(s->target_names.s[t], s->gene_symbols.s[s->target_gene[t]]);
            if (t > 0) assert_true(strcmp(s->target_names.s[t - 1], s->target_names.s[t]) < 0);
        }
        /* T >= Z: every program is targeted */
        for (int64_t k = 0; k < Z; k++) {
            int hit = 0;
            for (int64_t t = 0; t < T; t++) hit |= s->target_program[t] == k;
            assert_true(hit);
        }
        /* doubles: distinct pairs, label = the two single labels */
        for (int64_t c = 0; c < C; c++) {
            int64_t a = s->combination[2 * c], b = s->combination[2 * c + 1];
            assert_true(a >= 0 && a < b && b < T);
            char want[64];
            snprintf(want, sizeof want, "%s,%s", s->target_names.s[a], s->target_names.s[b]);
            assert_string_equal(s->group_labels.s[1 + T + c], want);
            assert_int_equal(s->group_target[2 * (1 + T + c)], a);
            assert_int_equal(s->group_target[2 * (1 + T + c) + 1], b);
            if (c > 0)
                assert_true(s->combination[2 * c - 2] < a ||
                            (s->combination[2 * c - 2] == a && s->combination[2 * c - 1] < b));
        }
        assert_string_equal(s->group_labels.s[0], "");
        assert_int_equal(cw_sim_cell_group(s, 0), 0);
        assert_int_equal(cw_sim_cell_group(s, o.n_controls), 1);
        assert_int_equal(cw_sim_cell_group(s, s->n_cells - 1), s->n_groups - 1);
        /* loadings: primary program carries the big loading, the others small ones */
        for (int64_t g = 0; g < G; g++) {
            int64_t p = s->gene_program[g];
            double lp = fabs(s->loadings[p * G + g]);
            assert_true(lp >= 0.5 && lp <= 1.0);
            int nsec = 0;
            for (int64_t k = 0; k < Z; k++)
                if (k != p && s->loadings[k * G + g] != 0.0) {
                    assert_true(fabs(s->loadings[k * G + g]) <= 0.25);
                    nsec++;
                }
            assert_true(nsec <= 2);
        }
        /* gene names fixed width: no symbol is a substring of another */
        assert_string_equal(s->gene_names.s[0], "SIMG00001");
        assert_string_equal(s->gene_symbols.s[G - 1], "G00500");
        /* latent variances of control cells stay O(1) */
        int64_t nc = o.n_controls;
        double *lat = malloc((size_t)(nc * Z) * sizeof(double));
        cw_csr m;
        assert_int_equal(cw_sim_generate_csr(s, 0, nc, &m, NULL, lat), CW_OK);
        for (int64_t k = 0; k < Z; k++) {
            double mu = 0, v = 0;
            for (int64_t c = 0; c < nc; c++) mu += lat[c * Z + k];
            mu /= (double)nc;
            for (int64_t c = 0; c < nc; c++) v += (lat[c * Z + k] - mu) * (lat[c * Z + k] - mu);
            v /= (double)(nc - 1);
            if (!(v > 0.7 && v < 2.5)) fail_msg("latent %lld variance %g", (long long)k, v);
        }
        free(lat);
        cw_csr_free(&m);
        cw_sim_free(s);
    }
}

/* descendants of k including k (reachability in the DAG) */
static void descendants(const cw_sim *s, int64_t k, int *desc) {
    const int64_t Z = s->n_programs;
    for (int64_t i = 0; i < Z; i++) desc[i] = i == k;
    for (int64_t r = 0; r < Z; r++) { /* topological order: parents settle before children */
        int64_t j = s->topo_order[r];
        for (int64_t i = 0; i < Z; i++)
            if (desc[i] && s->dag[i * Z + j] != 0.0) desc[j] = 1;
    }
}

static void test_signal(void **state) {
    (void)state;
    cw_sim_options o;
    cw_sim_options_default(&o);
    o.seed = 11;
    cw_sim *s;
    assert_int_equal(cw_sim_create(&o, &s), CW_OK);
    const int64_t N = s->n_cells, G = s->n_genes, Z = s->n_programs;
    float *raw = malloc((size_t)(N * G) * sizeof(float));
    float *nrm = malloc((size_t)(N * G) * sizeof(float));
    assert_int_equal(cw_sim_generate_dense(s, 0, N, 0, raw, NULL, NULL), CW_OK);
    assert_int_equal(cw_sim_generate_dense(s, 0, N, 1, nrm, NULL, NULL), CW_OK);
    double *mc = calloc((size_t)G, sizeof(double)), *vc = calloc((size_t)G, sizeof(double));
    double *mcn = calloc((size_t)G, sizeof(double));
    const int64_t nc = o.n_controls;
    for (int64_t c = 0; c < nc; c++)
        for (int64_t g = 0; g < G; g++) {
            mc[g] += raw[c * G + g];
            vc[g] += (double)raw[c * G + g] * raw[c * G + g];
            mcn[g] += nrm[c * G + g];
        }
    for (int64_t g = 0; g < G; g++) {
        mc[g] /= (double)nc;
        vc[g] = vc[g] / (double)nc - mc[g] * mc[g];
        mcn[g] /= (double)nc;
    }
    int desc[64];
    for (int64_t t = 0; t < s->n_targets; t++) {
        const int64_t k = s->target_program[t], c0 = s->group_first_cell[1 + t],
                      c1 = s->group_first_cell[2 + t], np = c1 - c0;
        descendants(s, k, desc);
        double z_on = 0, z_off = 0, d_on = 0, d_off = 0;
        int64_t n_on = 0, n_off = 0;
        for (int64_t g = 0; g < G; g++) {
            int touched = 0;
            for (int64_t i = 0; i < Z; i++) touched |= desc[i] && s->loadings[i * G + g] != 0.0;
            double m = 0, v = 0, mn = 0;
            for (int64_t c = c0; c < c1; c++) {
                m += raw[c * G + g];
                v += (double)raw[c * G + g] * raw[c * G + g];
                mn += nrm[c * G + g];
            }
            m /= (double)np;
            v = v / (double)np - m * m;
            mn /= (double)np;
            if (mc[g] < 0.5) continue; /* too rare for a stable z */
            double z = fabs(m - mc[g]) / sqrt(v / (double)np + vc[g] / (double)nc + 1e-12);
            if (s->gene_program[g] == k) {
                z_on += z;
                d_on += fabs(mn - mcn[g]);
                n_on++;
            } else if (!touched) {
                z_off += z;
                d_off += fabs(mn - mcn[g]);
                n_off++;
            }
        }
        assert_true(n_on > 10);
        z_on /= (double)n_on;
        d_on /= (double)n_on;
        if (n_off > 0) {
            z_off /= (double)n_off;
            d_off /= (double)n_off;
            /* raw counts of untouched programs do not move: |z| ~ 0.8 under the null */
            if (!(z_off < 1.3))
                fail_msg("target %lld: mean |z| %g on untouched genes", (long long)t, z_off);
            /* log1p data: the target's module moves far more than untouched genes (which
             * only see the normalize_total compositional shift) */
            if (!(d_on > 2.0 * d_off))
                fail_msg("target %lld: log1p shift %g on module vs %g untouched", (long long)t,
                         d_on, d_off);
        }
        if (!(z_on > 5.0)) fail_msg("target %lld: mean |z| %g on its module", (long long)t, z_on);
    }
    free(mc);
    free(vc);
    free(mcn);
    free(raw);
    free(nrm);
    cw_sim_free(s);
}

static void test_sparsity_and_normalisation(void **state) {
    (void)state;
    cw_sim_options o;
    cw_sim_options_default(&o);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) { /* larger gene panel keeps the same sparsity regime */
            o.n_genes = 2000;
            o.n_controls = 200;
            o.cells_per_perturbation = 20;
        }
        cw_sim *s;
        assert_int_equal(cw_sim_create(&o, &s), CW_OK);
        const int64_t N = s->n_cells, G = s->n_genes;
        cw_csr m;
        double *nc = malloc((size_t)N * sizeof(double));
        assert_int_equal(cw_sim_generate_csr(s, 0, N, &m, nc, NULL), CW_OK);
        double zero = 1.0 - (double)m.nnz / ((double)N * (double)G);
        if (!(zero >= 0.3 && zero <= 0.7))
            fail_msg("zero fraction %g (G = %lld)", zero, (long long)G);
        for (int64_t r = 0; r < N; r++) {
            double sum = 0;
            for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; k++) {
                assert_true(m.data[k] > 0.0f && isfinite(m.data[k]));
                if (k > m.indptr[r]) assert_true(m.indices[k] > m.indices[k - 1]);
                sum += expm1((double)m.data[k]);
            }
            if (!(fabs(sum - 1e4) < 1e-2))
                fail_msg("row %lld: sum expm1 = %.6f", (long long)r, sum);
        }
        if (pass == 0) {
            /* raw counts sum to n_counts; control library sizes average library_size */
            float *raw = malloc((size_t)(100 * G) * sizeof(float));
            assert_int_equal(cw_sim_generate_dense(s, 0, 100, 0, raw, NULL, NULL), CW_OK);
            double ctrl = 0;
            for (int64_t r = 0; r < 100; r++) {
                double sum = 0;
                for (int64_t g = 0; g < G; g++) {
                    assert_true(raw[r * G + g] == floorf(raw[r * G + g]));
                    sum += raw[r * G + g];
                }
                assert_true(sum == nc[r]);
                ctrl += sum;
            }
            free(raw);
            ctrl /= 100.0;
            if (!(fabs(ctrl / s->opts.library_size - 1.0) < 0.15))
                fail_msg("control library %g vs %g", ctrl, s->opts.library_size);
        }
        free(nc);
        cw_csr_free(&m);
        cw_sim_free(s);
    }
}

static void test_graph_in_memory(void **state) {
    (void)state;
    cw_sim_options o;
    cw_sim_options_default(&o);
    o.seed = 5;
    cw_sim *s;
    assert_int_equal(cw_sim_create(&o, &s), CW_OK);
    const int64_t Z = s->n_programs, G = s->n_genes, NP = s->n_pathways;
    assert_int_equal(NP, Z * 3 + (int64_t)llround(0.2 * (double)(Z * 3)));
    assert_int_equal(cw_strings_first_duplicate(&s->pathway_ids), -1);
    int64_t n_prog_pw = 0;
    for (int64_t p = 0; p < NP; p++) {
        int64_t k = s->pathway_program[p], in = 0, n = s->pathway_ptr[p + 1] - s->pathway_ptr[p];
        assert_true(n >= 2);
        for (int64_t i = s->pathway_ptr[p]; i < s->pathway_ptr[p + 1]; i++) {
            int64_t g = s->pathway_genes[i];
            assert_true(g >= 0 && g < G);
            if (i > s->pathway_ptr[p]) assert_true(g > s->pathway_genes[i - 1]);
            in += k >= 0 && s->gene_program[g] == k;
        }
        if (k >= 0) {
            n_prog_pw++;
            assert_true((double)in >= 0.75 * (double)n); /* module genes dominate */
        }
    }
    assert_int_equal(n_prog_pw, Z * 3);
    int64_t within = 0;
    for (int64_t e = 0; e < s->n_ppi; e++) {
        int64_t a = s->ppi[2 * e], b = s->ppi[2 * e + 1];
        assert_true(a >= 0 && a < b && b < G);
        if (e > 0)
            assert_true(s->ppi[2 * e - 2] < a || (s->ppi[2 * e - 2] == a && s->ppi[2 * e - 1] < b));
        within += s->gene_program[a] == s->gene_program[b];
    }
    assert_true(s->n_ppi > G); /* expected degree ~4 */
    assert_true((double)within > 0.7 * (double)s->n_ppi);
    int64_t true_rel = 0;
    for (int64_t e = 0; e < s->n_relations; e++) {
        int64_t a = s->relations[2 * e], b = s->relations[2 * e + 1];
        assert_true(a >= 0 && a < NP && b >= 0 && b < NP && a != b);
        int64_t ka = s->pathway_program[a], kb = s->pathway_program[b];
        true_rel += ka >= 0 && kb >= 0 && s->dag[ka * Z + kb] != 0.0;
    }
    assert_true(true_rel > 0 && (double)true_rel >= 0.75 * (double)s->n_relations);
    cw_sim_free(s);
}

/* ---- the written files --------------------------------------------------------------------- */

static int read_lines(const char *path, char ***lines_out) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, cap = 0;
    char **lines = NULL;
    char buf[1 << 16];
    while (fgets(buf, sizeof buf, f)) {
        size_t l = strlen(buf);
        if (l && buf[l - 1] == '\n') buf[--l] = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            lines = realloc(lines, (size_t)cap * sizeof *lines);
        }
        lines[n++] = strdup(buf);
    }
    fclose(f);
    *lines_out = lines;
    return n;
}

static void free_lines(char **lines, int n) {
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

static int progress_calls;
static void count_progress(int64_t done, int64_t total, void *ctx) {
    (void)ctx;
    assert_true(done > 0 && done <= total);
    progress_calls++;
}

static void test_write_and_read_back(void **state) {
    (void)state;
    char out[512], gmt[512], ppi[512], rel[512];
    cwt_path(out, sizeof out, "sim.h5ad");
    cwt_path(gmt, sizeof gmt, "sim.gmt");
    cwt_path(ppi, sizeof ppi, "sim.ppi.txt");
    cwt_path(rel, sizeof rel, "sim.relations.txt");
    cw_sim_options o;
    small_opts(&o);
    cw_sim_report rep;
    progress_calls = 0;
    cw_status st = cw_simulate_write(&o, out, count_progress, NULL, &rep);
    if (st != CW_OK) fail_msg("cw_simulate_write: %s", cw_errmsg());
    assert_true(progress_calls >= 3);
    assert_true(cwt_exists(out) && cwt_exists(gmt) && cwt_exists(ppi) && cwt_exists(rel));
    cw_sim *s;
    assert_int_equal(cw_sim_create(&o, &s), CW_OK);
    assert_int_equal(rep.n_cells, s->n_cells);
    assert_true(rep.zero_fraction > 0.2 && rep.zero_fraction < 0.8);

    cw_h5ad *h;
    assert_int_equal(cw_h5ad_open(out, &h), CW_OK);
    assert_int_equal(cw_h5ad_n_obs(h), s->n_cells);
    assert_int_equal(cw_h5ad_n_vars(h), s->n_genes);
    assert_true(cw_h5ad_x_is_sparse(h));
    /* X equals the in-memory generator */
    cw_csr x, mem;
    assert_int_equal(cw_h5ad_read_x_csr(h, &x), CW_OK);
    assert_int_equal(cw_sim_generate_csr(s, 0, s->n_cells, &mem, NULL, NULL), CW_OK);
    assert_int_equal(x.nnz, mem.nnz);
    assert_memory_equal(x.indptr, mem.indptr, (size_t)(s->n_cells + 1) * sizeof(int64_t));
    assert_memory_equal(x.indices, mem.indices, (size_t)x.nnz * sizeof(int32_t));
    assert_memory_equal(x.data, mem.data, (size_t)x.nnz * sizeof(float));
    /* obs / var */
    cw_column guides, ptype, ncounts, sym;
    assert_int_equal(cw_h5ad_read_column(h, "obs", "guide_ids", &guides), CW_OK);
    assert_int_equal(guides.kind, CW_COL_STRING);
    assert_true(guides.is_categorical);
    assert_string_equal(guides.values.s[0], "");
    assert_string_equal(guides.values.s[o.n_controls], s->target_names.s[0]);
    assert_non_null(strchr(guides.values.s[s->n_cells - 1], ','));
    assert_int_equal(cw_h5ad_read_column(h, "obs", "perturbation_type", &ptype), CW_OK);
    assert_string_equal(ptype.values.s[0], "control");
    assert_string_equal(ptype.values.s[s->n_cells - 1], "double");
    assert_int_equal(cw_h5ad_read_column(h, "obs", "n_counts", &ncounts), CW_OK);
    assert_int_equal(ncounts.kind, CW_COL_NUMERIC);
    assert_true(ncounts.num[0] > 0);
    assert_int_equal(cw_h5ad_read_column(h, "var", "gene_symbols", &sym), CW_OK);
    assert_string_equal(sym.values.s[0], "G00001");
    cw_strings obs_names, var_names;
    assert_int_equal(cw_h5ad_read_index(h, "obs", &obs_names), CW_OK);
    assert_int_equal(cw_h5ad_read_index(h, "var", &var_names), CW_OK);
    assert_string_equal(obs_names.s[0], "cell00001");
    assert_string_equal(var_names.s[s->n_genes - 1], "SIMG00240");
    /* DEG table: every perturbation, 20 rows, names are var names; equal to a recomputation
     * from the stored X */
    cw_deg_table t, t2;
    assert_int_equal(cw_h5ad_read_deg_table(h, &t), CW_OK);
    assert_int_equal(t.n_groups, s->n_targets + s->n_combinations);
    assert_int_equal(t.n_genes, 20);
    for (int64_t i = 0; i < t.n_groups * t.n_genes; i++)
        assert_true(cw_strings_find(&var_names, t.names.s[i]) >= 0);
    int64_t *cg = malloc((size_t)s->n_cells * sizeof(int64_t));
    for (int64_t c = 0; c < s->n_cells; c++) cg[c] = cw_sim_cell_group(s, c);
    assert_int_equal(cw_deg_from_csr(&x, cg, s->n_groups, 0, &s->group_labels, &s->gene_names, 20,
                                     0, &t2),
                     CW_OK);
    for (int64_t g = 0; g < t.n_groups; g++) {
        assert_string_equal(t.groups.s[g], t2.groups.s[g]);
        for (int64_t r = 0; r < 20; r++) {
            assert_string_equal(t.names.s[g * 20 + r], t2.names.s[g * 20 + r]);
            ASSERT_CLOSE(t.scores[g * 20 + r], t2.scores[g * 20 + r], 1e-6, 1e-6); /* float32 */
            ASSERT_CLOSE(t.pvals_adj[g * 20 + r], t2.pvals_adj[g * 20 + r], 1e-12, 0);
        }
        /* ranked by |t| */
        for (int64_t r = 1; r < 20; r++)
            assert_true(fabs(t.scores[g * 20 + r - 1]) >= fabs(t.scores[g * 20 + r]));
    }
    /* each single's top gene lies in a program the target reaches */
    for (int64_t g = 0; g < t.n_groups; g++) {
        int64_t tg = cw_strings_find(&s->target_names, t.groups.s[g]);
        if (tg < 0) continue; /* a double */
        int desc[64];
        descendants(s, s->target_program[tg], desc);
        int64_t gene = cw_strings_find(&s->gene_names, t.names.s[g * 20]);
        int touched = 0;
        for (int64_t k = 0; k < s->n_programs; k++)
            touched |= desc[k] && s->loadings[k * s->n_genes + gene] != 0.0;
        assert_true(touched);
    }
    /* truth */
    cw_dmat dag, shift;
    assert_int_equal(cw_h5ad_read_doubles(h, "/uns/causeway_truth/dag", &dag), CW_OK);
    assert_int_equal(dag.nrows, s->n_programs);
    assert_memory_equal(dag.data, s->dag, (size_t)(s->n_programs * s->n_programs) * sizeof(double));
    assert_int_equal(cw_h5ad_read_doubles(h, "/uns/causeway_truth/target_shift", &shift), CW_OK);
    assert_true(shift.data[0] == s->target_shift[0]);
    cw_strings tn, mech, cfg;
    assert_int_equal(cw_h5ad_read_strings(h, "/uns/causeway_truth/target_names", &tn), CW_OK);
    assert_int_equal(tn.n, s->n_targets);
    assert_string_equal(tn.s[1], s->target_names.s[1]);
    assert_int_equal(cw_h5ad_read_strings(h, "/uns/causeway_truth/mechanism", &mech), CW_OK);
    assert_string_equal(mech.s[0], "nonlinear");
    assert_int_equal(cw_h5ad_read_strings(h, "/uns/causeway/config", &cfg), CW_OK);
    assert_non_null(strstr(cfg.s[0], "\"seed\": 7"));
    assert_true(cw_h5ad_exists(h, "/uns/causeway_truth/topological_order"));
    assert_true(cw_h5ad_exists(h, "/uns/causeway_truth/target_program"));
    assert_true(cw_h5ad_exists(h, "/uns/causeway_truth/loadings"));
    assert_true(cw_h5ad_exists(h, "/uns/causeway_truth/gene_bias"));
    assert_true(cw_h5ad_exists(h, "/uns/causeway/seed"));
    cw_dmat lat;
    assert_int_equal(cw_h5ad_read_obsm(h, "X_truth_latent", &lat), CW_OK);
    assert_int_equal(lat.ncols, s->n_programs);

    /* graph files */
    char **lines;
    int n = read_lines(gmt, &lines);
    assert_int_equal(n, s->n_pathways);
    cw_strings ids;
    assert_int_equal(cw_strings_alloc(&ids, 0), CW_OK);
    for (int i = 0; i < n; i++) {
        char *save = NULL, *tok = strtok_r(lines[i], "\t", &save);
        int f = 0;
        for (; tok; tok = strtok_r(NULL, "\t", &save), f++) {
            if (f == 1) {
                assert_int_equal(strncmp(tok, "R-SIM-", 6), 0);
                assert_int_equal(cw_strings_push(&ids, tok), CW_OK);
            } else if (f >= 2) {
                assert_true(cw_strings_find(&s->gene_symbols, tok) >= 0);
            }
        }
        assert_true(f >= 4);
    }
    assert_int_equal(cw_strings_first_duplicate(&ids), -1);
    free_lines(lines, n);
    n = read_lines(ppi, &lines);
    assert_int_equal(n, s->n_ppi);
    for (int i = 0; i < n; i++) {
        char a[64], b[64], extra[8];
        assert_int_equal(sscanf(lines[i], "%63s %63s %7s", a, b, extra), 2);
        assert_true(cw_strings_find(&s->gene_symbols, a) >= 0);
        assert_true(cw_strings_find(&s->gene_symbols, b) >= 0);
    }
    free_lines(lines, n);
    n = read_lines(rel, &lines);
    assert_int_equal(n, s->n_relations);
    for (int i = 0; i < n; i++) {
        char *tab = strchr(lines[i], '\t');
        assert_non_null(tab);
        *tab = '\0';
        assert_true(cw_strings_find(&ids, lines[i]) >= 0);
        assert_true(cw_strings_find(&ids, tab + 1) >= 0);
    }
    free_lines(lines, n);

    cw_strings_free(&ids);
    cw_strings_free(&tn);
    cw_strings_free(&mech);
    cw_strings_free(&cfg);
    cw_dmat_free(&dag);
    cw_dmat_free(&shift);
    cw_dmat_free(&lat);
    free(cg);
    cw_deg_table_free(&t);
    cw_deg_table_free(&t2);
    cw_strings_free(&obs_names);
    cw_strings_free(&var_names);
    cw_column_free(&guides);
    cw_column_free(&ptype);
    cw_column_free(&ncounts);
    cw_column_free(&sym);
    cw_csr_free(&x);
    cw_csr_free(&mem);
    cw_h5ad_close(h);
    cw_sim_free(s);
}

/* A failing write leaves nothing behind: the .h5ad target is a directory, so the final rename
 * fails after X, DEGs and graph files were written to temporary names. */
static void test_failed_write_leaves_nothing(void **state) {
    (void)state;
    char dir[512], out[600], gmt[600];
    cwt_path(dir, sizeof dir, "failing");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(out, sizeof out, "%s/x.h5ad", dir);
    snprintf(gmt, sizeof gmt, "%s/x.gmt", dir);
    assert_int_equal(mkdir(out, 0755), 0); /* a directory where the file should go */
    cw_sim_options o;
    small_opts(&o);
    cw_status st = cw_simulate_write(&o, out, NULL, NULL, NULL);
    assert_int_not_equal(st, CW_OK);
    assert_false(cwt_exists(gmt));
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            if (strcmp(e->d_name, "x.h5ad")) fail_msg("left behind: %s", e->d_name);
            n++;
        }
    closedir(d);
    assert_int_equal(n, 1);
    /* invalid options fail before anything is created */
    o.n_combinations = 1000;
    char out2[600];
    snprintf(out2, sizeof out2, "%s/y.h5ad", dir);
    assert_int_equal(cw_simulate_write(&o, out2, NULL, NULL, NULL), CW_EINVAL);
    assert_false(cwt_exists(out2));
}

/* Allocation failures anywhere in cw_sim_create return CW_ENOMEM and leak nothing (run the
 * asan build to check the leak part). */
static void test_create_allocation_failures(void **state) {
    (void)state;
    cw_sim_options o;
    small_opts(&o);
    o.threads = 1;
    int64_t budget = 0;
    for (;; budget++) {
        cw_sim *s = NULL;
        cw_alloc_fail_after(budget);
        cw_status st = cw_sim_create(&o, &s);
        int64_t injected = cw_alloc_injected_failures();
        cw_alloc_fail_after(-1);
        if (st == CW_OK) {
            assert_int_equal(injected, 0);
            cw_sim_free(s);
            break;
        }
        assert_int_equal(st, CW_ENOMEM);
        assert_null(s);
        assert_true(budget < 100000);
    }
    assert_true(budget > 20);
}


/* Every allocation failure on the write path returns CW_ENOMEM and leaves no file (and, under
 * the asan build, no leak). */
static void test_write_allocation_failures(void **state) {
    (void)state;
    char dir[512], out[600];
    cwt_path(dir, sizeof dir, "allocfail");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(out, sizeof out, "%s/t.h5ad", dir);
    cw_sim_options o;
    cw_sim_options_default(&o);
    o.n_controls = 4;
    o.cells_per_perturbation = 2;
    o.n_genes = 12;
    o.n_programs = 2;
    o.n_targets = 2;
    o.n_combinations = 1;
    o.threads = 1;
    int64_t budget = 0;
    for (;; budget++) {
        cw_alloc_fail_after(budget);
        cw_status st = cw_simulate_write(&o, out, NULL, NULL, NULL);
        int64_t injected = cw_alloc_injected_failures();
        cw_alloc_fail_after(-1);
        if (st == CW_OK && injected == 0) break;
        if (st == CW_OK)
            fail_msg("budget %lld: a failed allocation was ignored", (long long)budget);
        assert_int_equal(st, CW_ENOMEM);
        if (cwt_dir_entries(dir) != 0) fail_msg("budget %lld: files left behind", (long long)budget);
        assert_true(budget < 20000);
    }
    assert_true(budget > 50);
    assert_int_equal(cwt_dir_entries(dir), 4); /* the .h5ad and three graph files */
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_betainc_and_t_tail),
        cmocka_unit_test(test_bh_adjust),
        cmocka_unit_test(test_deg_toy_against_scipy),
        cmocka_unit_test(test_deg_degenerate),
        cmocka_unit_test(test_options_validation),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_truth_consistency),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_sparsity_and_normalisation),
        cmocka_unit_test(test_graph_in_memory),
        cmocka_unit_test(test_write_and_read_back),
        cmocka_unit_test(test_failed_write_leaves_nothing),
        cmocka_unit_test(test_create_allocation_failures),
        cmocka_unit_test(test_write_allocation_failures),
    };
    return cmocka_run_group_tests_name("simulate", tests, NULL, cwt_teardown);
}
