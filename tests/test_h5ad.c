/* test_h5ad.c: the .h5ad reader and writer (issue #2 items 2-5).
 *
 * Fixtures come from tests/py/make_h5ad_fixtures.py; the formulas below (x_small, x_lzf,
 * deg_name, ...) are the script's, so every value read is checked, not just shapes. Covers:
 * every fixture layout (anndata 0.8 dense / CSR float64 int64 gzip / CSR LZF, anndata 0.7,
 * legacy DEG layouts), row-block reads, the LZF filter itself, C -> C round trips (dense and
 * streaming CSR), a round trip through real anndata (skipped when absent), error cases with
 * their messages, allocation-failure injection over reading and writing (run under ASan by
 * `make asan`), HDF5 id leaks after every test, and the shared Norman files when present.
 */
#include "test_util.h"

#include "core/alloc.h"
#include "core/status.h"
#include "io/h5ad.h"
#include "io/hdf5_util.h"
#include "io/lzf_filter.h"

#include <dirent.h>
#include <math.h>

/* ---- fixture formulas (make_h5ad_fixtures.py) ------------------------------------------------ */

#define S_OBS 12
#define S_VARS 8
#define N_TOP 4

static double x_small(int i, int j) {
    return (i + j) % 3 == 0 ? 0.0 : ((i * 8 + j) % 7) * 0.25 + 0.5;
}
static double x_lzf(int i, int j) {
    return (i * 3 + j * 7) % 5 == 0 ? (double)((i * 13 + j * 7) % 10 + 1) : 0.0;
}
static const char *PERTS[3] = {"ctrl", "geneA", "geneB"};
static void deg_name(char *buf, size_t cap, int g, int r) {
    snprintf(buf, cap, "gene_%d", (g * 3 + r * 2) % S_VARS);
}
static double deg_score(int g, int r) { return 10.0 - r * 1.5 + g * 0.25; }
static double deg_pval(int g, int r) { return pow(10.0, -(8 - r - g)); }

/* printed by make_h5ad_fixtures.py --print */
static const double SMALL_ROW_SUMS[S_OBS] = {5.5, 6.25, 5.5, 5.75, 7.25, 5.75,
                                             6.0, 6.5,  6.0, 6.25, 7.5,  6.25};

#define OK(expr)                                                                                   \
    do {                                                                                           \
        cw_status st_ = (expr);                                                                    \
        if (st_ != CW_OK) fail_msg("%s -> %s: %s", #expr, cw_status_name(st_), cw_errmsg());       \
    } while (0)

static int close_enough(double a, double b) { return fabs(a - b) <= 1e-6 + 1e-6 * fabs(b); }
#define assert_close(a, b)                                                                         \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!close_enough(a_, b_)) fail_msg("%s = %.9g, expected %.9g", #a, a_, b_);               \
    } while (0)

static void fixture(char *out, size_t cap, const char *name) {
    cwt_fixture(out, cap, name);
    if (!cwt_exists(out)) fail_msg("missing fixture %s (run tests/py/make_h5ad_fixtures.py)", out);
}

/* No HDF5 object may stay open after a test (those left by a failed test are closed so that
 * the next test starts clean). */
static int teardown_ids(void **state) {
    (void)state;
    cw_alloc_fail_after(-1);
    int64_t n = cw_h5_open_ids();
    if (n == 0) return 0;
    fprintf(stderr, "HDF5 ids left open: %lld\n", (long long)n);
    hid_t ids[64];
    ssize_t k = H5Fget_obj_ids((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL, 64, ids);
    for (ssize_t i = 0; i < k; i++) cw_h5_close(&ids[i]);
    return -1;
}

static void assert_x_matches(cw_h5ad *h, double (*f)(int, int)) {
    int64_t n = cw_h5ad_n_obs(h), m = cw_h5ad_n_vars(h);
    float *x = malloc((size_t)(n * m) * sizeof *x);
    OK(cw_h5ad_read_x_dense_rows(h, 0, n, x));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            if (x[i * m + j] != (float)f(i, j))
                fail_msg("X[%d,%d] = %g, expected %g", i, j, x[i * m + j], f(i, j));
    /* row blocks (uneven last block) give the same rows */
    float *blk = malloc((size_t)(5 * m) * sizeof *blk);
    for (int64_t r0 = 0; r0 < n; r0 += 5) {
        int64_t k = n - r0 < 5 ? n - r0 : 5;
        OK(cw_h5ad_read_x_dense_rows(h, r0, k, blk));
        assert_memory_equal(blk, x + r0 * m, (size_t)(k * m) * sizeof(float));
    }
    /* CSR: whole and in blocks */
    cw_csr all, part;
    OK(cw_h5ad_read_x_csr(h, &all));
    assert_int_equal(all.nrows, n);
    assert_int_equal(all.ncols, m);
    int64_t nnz = 0;
    for (int64_t i = 0; i < n * m; i++) nnz += x[i] != 0.0f;
    assert_int_equal(all.nnz, nnz);
    if (cw_h5ad_x_is_sparse(h)) assert_int_equal(cw_h5ad_x_nnz(h), nnz);
    else assert_int_equal(cw_h5ad_x_nnz(h), n * m);
    float *d = malloc((size_t)(n * m) * sizeof *d);
    cw_csr_rows_to_dense(&all, 0, n, d);
    assert_memory_equal(d, x, (size_t)(n * m) * sizeof(float));
    for (int64_t r0 = 0; r0 < n; r0 += 3) {
        int64_t k = n - r0 < 3 ? n - r0 : 3;
        OK(cw_h5ad_read_x_csr_rows(h, r0, k, &part));
        assert_int_equal(part.indptr[0], 0);
        assert_int_equal(part.nnz, all.indptr[r0 + k] - all.indptr[r0]);
        assert_memory_equal(part.indices, all.indices + all.indptr[r0],
                            (size_t)part.nnz * sizeof(int32_t));
        assert_memory_equal(part.data, all.data + all.indptr[r0], (size_t)part.nnz * sizeof(float));
        cw_csr_free(&part);
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t k = all.indptr[r] + 1; k < all.indptr[r + 1]; k++)
            assert_true(all.indices[k - 1] < all.indices[k]);
    cw_csr_free(&all);
    OK(cw_h5ad_check_x_finite(h));
    free(d);
    free(blk);
    free(x);
}

static void assert_strings(const cw_strings *l, const char *fmt, int64_t n) {
    assert_int_equal(l->n, n);
    for (int64_t i = 0; i < n; i++) {
        char b[64];
        snprintf(b, sizeof b, fmt, (int)i);
        assert_non_null(l->s[i]);
        assert_string_equal(l->s[i], b);
    }
}

static void assert_perturbation(const cw_column *c) {
    assert_int_equal(c->kind, CW_COL_STRING);
    assert_true(c->is_categorical);
    assert_int_equal(c->n, S_OBS);
    assert_int_equal(c->categories.n, 3);
    for (int k = 0; k < 3; k++) assert_string_equal(c->categories.s[k], PERTS[k]);
    for (int i = 0; i < S_OBS; i++) {
        if (i == 5) {
            assert_null(c->values.s[i]);
            assert_int_equal(c->codes[i], -1);
        } else {
            assert_string_equal(c->values.s[i], PERTS[i % 3]);
            assert_int_equal(c->codes[i], i % 3);
        }
    }
}

/* ---- readers on every fixture ---------------------------------------------------------------- */

static void test_read_dense_fixture(void **state) {
    (void)state;
    char p[256];
    fixture(p, sizeof p, "h5ad_dense.h5ad");
    cw_h5ad *h;
    OK(cw_h5ad_open(p, &h));
    assert_string_equal(cw_h5ad_path(h), p);
    assert_int_equal(cw_h5ad_n_obs(h), S_OBS);
    assert_int_equal(cw_h5ad_n_vars(h), S_VARS);
    assert_false(cw_h5ad_x_is_sparse(h));
    assert_x_matches(h, x_small);
    float x[S_OBS * S_VARS];
    OK(cw_h5ad_read_x_dense_rows(h, 0, S_OBS, x));
    assert_true(x[1 * S_VARS + 1] == 1.0f);   /* (8 + 1) % 7 = 2 -> 0.5 + 0.5 */
    assert_true(x[1 * S_VARS + 2] == 0.0f);   /* (1 + 2) % 3 == 0 */
    assert_true(x[11 * S_VARS + 6] == 1.25f); /* (88 + 6) % 7 = 3 -> 0.75 + 0.5 */
    for (int i = 0; i < S_OBS; i++) {
        double s = 0;
        for (int j = 0; j < S_VARS; j++) s += x[i * S_VARS + j];
        assert_close(s, SMALL_ROW_SUMS[i]);
    }

    cw_strings l;
    OK(cw_h5ad_read_index(h, "obs", &l));
    assert_strings(&l, "cell_%02d", S_OBS);
    cw_strings_free(&l);
    OK(cw_h5ad_read_index(h, "var", &l));
    assert_strings(&l, "gene_%d", S_VARS);
    cw_strings_free(&l);
    OK(cw_h5ad_list_columns(h, "obs", &l));
    const char *cols[] = {"perturbation", "barcode", "n_counts", "n_genes", "is_ctrl"};
    assert_int_equal(l.n, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(l.s[i], cols[i]);
    cw_strings_free(&l);
    assert_true(cw_h5ad_has_column(h, "obs", "barcode"));
    assert_false(cw_h5ad_has_column(h, "obs", "guide_ids"));
    assert_false(cw_h5ad_has_column(h, "obs", "_index"));
    assert_true(cw_h5ad_has_column(h, "var", "gene_symbols"));

    cw_column c;
    OK(cw_h5ad_read_column(h, "obs", "perturbation", &c));
    assert_string_equal(c.name, "perturbation");
    assert_perturbation(&c);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "barcode", &c));
    assert_int_equal(c.kind, CW_COL_STRING);
    assert_false(c.is_categorical);
    assert_strings(&c.values, "bc%02d", S_OBS);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "n_counts", &c));
    assert_int_equal(c.kind, CW_COL_NUMERIC);
    assert_false(c.is_integer);
    for (int i = 0; i < S_OBS; i++) assert_close(c.num[i], SMALL_ROW_SUMS[i]);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "n_genes", &c));
    assert_true(c.is_integer);
    for (int i = 0; i < S_OBS; i++) {
        int nz = 0;
        for (int j = 0; j < S_VARS; j++) nz += x_small(i, j) != 0.0;
        assert_close(c.num[i], nz);
    }
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "is_ctrl", &c));
    assert_true(c.is_bool);
    for (int i = 0; i < S_OBS; i++) assert_close(c.num[i], i % 3 == 0);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "var", "gene_symbols", &c));
    assert_strings(&c.values, "SYM%d", S_VARS);
    cw_column_free(&c);

    OK(cw_h5ad_list_obsm(h, &l));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.s[0], "X_pca");
    cw_strings_free(&l);
    cw_dmat m;
    OK(cw_h5ad_read_obsm(h, "X_pca", &m));
    assert_int_equal(m.nrows, S_OBS);
    assert_int_equal(m.ncols, 3);
    for (int i = 0; i < S_OBS; i++)
        for (int k = 0; k < 3; k++) assert_close(m.data[i * 3 + k], i + k / 10.0);
    cw_dmat_free(&m);

    cw_deg_table t;
    OK(cw_h5ad_read_deg_table(h, &t));
    assert_int_equal(t.n_groups, 2);
    assert_int_equal(t.n_genes, N_TOP);
    assert_string_equal(t.groups.s[0], "geneA");
    assert_string_equal(t.groups.s[1], "geneB");
    const char *geneB[] = {"gene_3", "gene_5", "gene_7", "gene_1"}; /* literal, from the script */
    for (int r = 0; r < N_TOP; r++) assert_string_equal(t.names.s[1 * N_TOP + r], geneB[r]);
    for (int g = 0; g < 2; g++)
        for (int r = 0; r < N_TOP; r++) {
            char b[32];
            deg_name(b, sizeof b, g, r);
            assert_string_equal(t.names.s[g * N_TOP + r], b);
            assert_close(t.scores[g * N_TOP + r], deg_score(g, r));
            assert_true(fabs(t.pvals[g * N_TOP + r] - deg_pval(g, r)) <= 1e-12 * deg_pval(g, r));
            double adj = fmin(1.0, deg_pval(g, r) * 4);
            assert_true(fabs(t.pvals_adj[g * N_TOP + r] - adj) <= 1e-12 * adj);
            assert_close(t.logfoldchanges[g * N_TOP + r], 2.0 - r * 0.5 - g);
        }
    cw_deg_table_free(&t);
    OK(cw_h5ad_read_strings(h, "/uns/rank_genes_groups/params/groupby", &l));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.s[0], "perturbation");
    cw_strings_free(&l);
    OK(cw_h5ad_read_doubles(h, "/uns/rank_genes_groups/params/use_raw", &m)); /* bool scalar */
    assert_int_equal(m.nrows, 1);
    assert_int_equal(m.ncols, 1);
    assert_close(m.data[0], 0.0);
    cw_dmat_free(&m);
    assert_true(cw_h5ad_exists(h, "/uns/rank_genes_groups/names"));
    assert_false(cw_h5ad_exists(h, "/uns/rank_genes_groups/nothing"));
    assert_false(cw_h5ad_exists(h, "/nothing/deeper"));
    cw_h5ad_close(h);
}

static void test_read_csr64_gzip_fixture(void **state) {
    (void)state;
    char p[256];
    fixture(p, sizeof p, "h5ad_csr64_gzip.h5ad");
    cw_h5ad *h;
    OK(cw_h5ad_open(p, &h));
    assert_true(cw_h5ad_x_is_sparse(h));
    assert_int_equal(cw_h5ad_x_nnz(h), 64);
    assert_x_matches(h, x_small);
    cw_csr r;
    OK(cw_h5ad_read_x_csr_rows(h, 4, 1, &r)); /* row 4: zeros at j = 2, 5 */
    assert_int_equal(r.nnz, 6);
    assert_int_equal(r.indices[0], 0);
    assert_int_equal(r.indices[2], 3);
    assert_true(r.data[0] == (float)x_small(4, 0));
    double s = 0;
    for (int k = 0; k < r.nnz; k++) s += r.data[k];
    assert_close(s, SMALL_ROW_SUMS[4]);
    cw_csr_free(&r);
    OK(cw_h5ad_read_x_csr_rows(h, 12, 0, &r)); /* empty block at the end */
    assert_int_equal(r.nrows, 0);
    assert_int_equal(r.nnz, 0);
    cw_csr_free(&r);

    cw_column c;
    OK(cw_h5ad_read_column(h, "obs", "perturbation", &c));
    assert_perturbation(&c);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "many", &c)); /* int16 codes */
    assert_int_equal(c.categories.n, 130);
    for (int i = 0; i < S_OBS; i++) {
        char b[16];
        snprintf(b, sizeof b, "c%03d", (i * 11) % 130);
        assert_string_equal(c.values.s[i], b);
        assert_int_equal(c.codes[i], (i * 11) % 130);
    }
    cw_column_free(&c);

    cw_dmat m;
    OK(cw_h5ad_read_doubles(h, "/uns/cfg/alpha", &m));
    assert_int_equal(m.nrows * m.ncols, 1);
    assert_close(m.data[0], 0.5);
    cw_dmat_free(&m);
    OK(cw_h5ad_read_doubles(h, "/uns/cfg/n", &m));
    assert_close(m.data[0], 3);
    cw_dmat_free(&m);
    OK(cw_h5ad_read_doubles(h, "/uns/cfg/mat", &m));
    assert_int_equal(m.nrows, 2);
    assert_int_equal(m.ncols, 3);
    for (int k = 0; k < 6; k++) assert_close(m.data[k], k / 2.0);
    cw_dmat_free(&m);
    cw_strings l;
    OK(cw_h5ad_read_strings(h, "/uns/cfg/labels", &l));
    assert_int_equal(l.n, 3);
    assert_string_equal(l.s[2], "zzz");
    cw_strings_free(&l);
    OK(cw_h5ad_read_strings(h, "/uns/cfg/title", &l));
    assert_string_equal(l.s[0], "causeway fixture");
    cw_strings_free(&l);
    assert_int_equal(cw_h5ad_read_doubles(h, "/uns/cfg/labels", &m), CW_EFORMAT);
    assert_int_equal(cw_h5ad_read_strings(h, "/uns/cfg/mat", &l), CW_EFORMAT);
    assert_int_equal(cw_h5ad_read_doubles(h, "/uns/cfg/nothing", &m), CW_ENOTFOUND);
    assert_int_equal(cw_h5ad_read_doubles(h, "/uns/cfg", &m), CW_EFORMAT);

    cw_deg_table t; /* legacy: a group with one dataset per group */
    OK(cw_h5ad_read_deg_table(h, &t));
    assert_int_equal(t.n_groups, 2);
    assert_int_equal(t.n_genes, N_TOP);
    assert_string_equal(t.groups.s[0], "geneA");
    for (int g = 0; g < 2; g++)
        for (int rr = 0; rr < N_TOP; rr++) {
            char b[32];
            deg_name(b, sizeof b, g, rr);
            assert_string_equal(t.names.s[g * N_TOP + rr], b);
            assert_close(t.scores[g * N_TOP + rr], deg_score(g, rr));
        }
    assert_null(t.pvals);
    assert_null(t.logfoldchanges);
    cw_deg_table_free(&t);
    cw_h5ad_close(h);
}

static void test_read_lzf_fixture(void **state) {
    (void)state;
    char p[256];
    fixture(p, sizeof p, "h5ad_csr_lzf.h5ad");
    cw_h5ad *h;
    OK(cw_h5ad_open(p, &h));
    assert_int_equal(cw_h5ad_n_obs(h), 200);
    assert_int_equal(cw_h5ad_n_vars(h), 50);
    assert_int_equal(cw_h5ad_x_nnz(h), 2000);
    assert_x_matches(h, x_lzf);
    cw_csr m;
    OK(cw_h5ad_read_x_csr(h, &m));
    double total = 0;
    for (int64_t k = 0; k < m.nnz; k++) total += m.data[k];
    assert_close(total, 7000.0);
    cw_csr_free(&m);
    cw_deg_table t;
    assert_int_equal(cw_h5ad_read_deg_table(h, &t), CW_ENOTFOUND);
    assert_non_null(strstr(cw_errmsg(), "/uns/rank_genes_groups"));
    cw_h5ad_close(h);
}

static void test_read_v07_fixture(void **state) {
    (void)state;
    char p[256];
    fixture(p, sizeof p, "h5ad_v07.h5ad");
    cw_h5ad *h;
    OK(cw_h5ad_open(p, &h));
    assert_true(cw_h5ad_x_is_sparse(h));
    assert_int_equal(cw_h5ad_n_obs(h), S_OBS);
    assert_x_matches(h, x_small);
    cw_strings l;
    OK(cw_h5ad_list_columns(h, "obs", &l));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.s[0], "perturbation");
    cw_strings_free(&l);
    OK(cw_h5ad_list_columns(h, "var", &l)); /* column-order = [] stored as float64 */
    assert_int_equal(l.n, 0);
    cw_strings_free(&l);
    cw_column c;
    OK(cw_h5ad_read_column(h, "obs", "perturbation", &c)); /* codes + object reference */
    assert_perturbation(&c);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "n_counts", &c));
    for (int i = 0; i < S_OBS; i++) assert_close(c.num[i], SMALL_ROW_SUMS[i]);
    cw_column_free(&c);
    assert_int_equal(cw_h5ad_read_column(h, "obs", "__categories", &c), CW_ENOTFOUND);
    cw_dmat m;
    OK(cw_h5ad_read_obsm(h, "X_pca", &m)); /* float32 -> float64 */
    assert_true(fabs(m.data[5 * 3 + 1] - 5.1) < 1e-6);
    cw_dmat_free(&m);
    cw_deg_table t; /* 2-D fixed-length names; groups from obs[params/groupby] categories */
    OK(cw_h5ad_read_deg_table(h, &t));
    assert_int_equal(t.n_groups, 3);
    assert_int_equal(t.n_genes, N_TOP);
    for (int g = 0; g < 3; g++) {
        assert_string_equal(t.groups.s[g], PERTS[g]);
        for (int r = 0; r < N_TOP; r++) {
            char b[32];
            deg_name(b, sizeof b, g, r);
            assert_string_equal(t.names.s[g * N_TOP + r], b);
            assert_close(t.scores[g * N_TOP + r], deg_score(g, r));
        }
    }
    cw_deg_table_free(&t);
    cw_h5ad_close(h);
}

static double x_legacy(int i, int j) { return i * 4 + j; }

static void test_read_legacy_fixture(void **state) {
    (void)state;
    char p[256];
    fixture(p, sizeof p, "h5ad_legacy_deg.h5ad");
    cw_h5ad *h;
    OK(cw_h5ad_open(p, &h));
    assert_int_equal(cw_h5ad_n_obs(h), 6);
    assert_int_equal(cw_h5ad_n_vars(h), 4);
    assert_x_matches(h, x_legacy); /* int32 X -> float32 */
    cw_strings l;
    OK(cw_h5ad_read_index(h, "obs", &l)); /* fixed-length bytes */
    assert_strings(&l, "c%d", 6);
    cw_strings_free(&l);
    OK(cw_h5ad_read_index(h, "var", &l)); /* dataset "index", no _index attribute */
    assert_strings(&l, "g%d", 4);
    cw_strings_free(&l);
    OK(cw_h5ad_list_columns(h, "obs", &l)); /* no column-order: members by name */
    const char *names[] = {"dose", "flag", "label", "nullable", "ratio"};
    assert_int_equal(l.n, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(l.s[i], names[i]);
    cw_strings_free(&l);
    cw_column c;
    const int8_t codes[6] = {0, 1, -1, 0, 1, 0};
    const char *doses[2] = {"10", "100"}, *ratios[2] = {"0.5", "2.0"};
    for (int k = 0; k < 2; k++) { /* categoricals of numbers: labels as pandas prints them */
        OK(cw_h5ad_read_column(h, "obs", k ? "ratio" : "dose", &c));
        assert_true(c.is_categorical);
        assert_int_equal(c.categories.n, 2);
        for (int i = 0; i < 6; i++) {
            assert_int_equal(c.codes[i], codes[i]);
            if (codes[i] < 0) assert_null(c.values.s[i]);
            else assert_string_equal(c.values.s[i], (k ? ratios : doses)[codes[i]]);
        }
        cw_column_free(&c);
    }
    OK(cw_h5ad_read_column(h, "obs", "nullable", &c)); /* masked entries are NaN */
    assert_true(c.is_integer);
    for (int i = 0; i < 6; i++)
        if (i == 2) assert_true(isnan(c.num[i]));
        else assert_close(c.num[i], 10 * i);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "flag", &c)); /* uint8 */
    assert_true(c.is_integer);
    for (int i = 0; i < 6; i++) assert_close(c.num[i], i % 2);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "label", &c)); /* fixed-length strings */
    assert_string_equal(c.values.s[0], "lo");
    assert_string_equal(c.values.s[5], "high");
    cw_column_free(&c);
    cw_deg_table t; /* record arrays with fixed-length 'S' names */
    OK(cw_h5ad_read_deg_table(h, &t));
    assert_int_equal(t.n_groups, 2);
    assert_int_equal(t.n_genes, 3);
    assert_string_equal(t.groups.s[1], "B");
    for (int g = 0; g < 2; g++)
        for (int r = 0; r < 3; r++) {
            char b[16];
            snprintf(b, sizeof b, "g%d", (g + r) % 4);
            assert_string_equal(t.names.s[g * 3 + r], b);
            assert_close(t.scores[g * 3 + r], 5.0 - r - g);
            assert_true(fabs(t.pvals[g * 3 + r] - 0.001 * (r + 1) * (g + 1)) < 1e-9);
        }
    assert_null(t.pvals_adj);
    cw_deg_table_free(&t);
    cw_h5ad_close(h);
}

/* Large-ish files in ../shared/data when present. */
static void test_read_shared_norman(void **state) {
    (void)state;
    char p[512];
    int any = 0;
    if (cwt_shared_data(p, sizeof p, "perturb/perturbench_devel/norman19_gracestyle.h5ad")) {
        any = 1;
        cw_h5ad *h;
        OK(cw_h5ad_open(p, &h));
        assert_int_equal(cw_h5ad_n_obs(h), 3375);
        assert_int_equal(cw_h5ad_n_vars(h), 500);
        assert_true(cw_h5ad_x_is_sparse(h));
        assert_int_equal(cw_h5ad_x_nnz(h), 50462);
        cw_csr m;
        OK(cw_h5ad_read_x_csr(h, &m));
        double total = 0, row0 = 0, last = 0;
        for (int64_t k = 0; k < m.nnz; k++) total += m.data[k];
        for (int64_t k = m.indptr[0]; k < m.indptr[1]; k++) row0 += m.data[k];
        for (int64_t k = m.indptr[3374]; k < m.indptr[3375]; k++) last += m.data[k];
        assert_true(fabs(total - 59773.87404729038) < 0.05);
        assert_true(fabs(row0 - 17.965728432557103) < 1e-4);
        assert_true(fabs(last - 11.687774751931272) < 1e-4);
        /* the stored row 0 has unsorted indices (474, 409, 359, ...): they come back sorted */
        for (int64_t k = 1; k < m.indptr[1]; k++) assert_true(m.indices[k - 1] < m.indices[k]);
        cw_csr_free(&m);
        OK(cw_h5ad_check_x_finite(h));
        cw_strings l;
        OK(cw_h5ad_read_index(h, "obs", &l));
        assert_string_equal(l.s[0], "TGGTTAGCACATCCGG-3");
        cw_strings_free(&l);
        OK(cw_h5ad_read_index(h, "var", &l));
        assert_string_equal(l.s[2], "MIR34AHG");
        cw_strings_free(&l);
        cw_column c;
        OK(cw_h5ad_read_column(h, "obs", "guide_ids", &c));
        assert_true(c.is_categorical);
        assert_int_equal(c.categories.n, 34);
        assert_string_equal(c.categories.s[1], "BPGM,SAMD1");
        assert_string_equal(c.values.s[0], "KLF1,MAP2K6");
        cw_column_free(&c);
        cw_h5ad_close(h);
    }
    if (cwt_shared_data(p, sizeof p, "perturb/scx_norman_subset/norman_subset.h5ad")) {
        any = 1;
        cw_h5ad *h;
        OK(cw_h5ad_open(p, &h));
        assert_int_equal(cw_h5ad_n_obs(h), 50);
        assert_int_equal(cw_h5ad_n_vars(h), 50);
        assert_int_equal(cw_h5ad_x_nnz(h), 167);
        float *x = malloc(50 * 50 * sizeof *x);
        OK(cw_h5ad_read_x_dense_rows(h, 0, 50, x));
        double total = 0, row0 = 0;
        for (int i = 0; i < 2500; i++) total += x[i];
        for (int j = 0; j < 50; j++) row0 += x[j];
        assert_true(fabs(total - 184.16531) < 1e-3);
        assert_true(fabs(row0 - 4.2636843) < 1e-5);
        free(x);
        cw_strings l;
        OK(cw_h5ad_read_index(h, "obs", &l)); /* _index attribute = "cell_barcode" */
        assert_string_equal(l.s[1], "CTGCCTAGTGAGCGAT-1");
        cw_strings_free(&l);
        cw_column c;
        OK(cw_h5ad_read_column(h, "obs", "condition", &c));
        assert_string_equal(c.values.s[0], "FOXL2+HOXB9");
        cw_column_free(&c);
        OK(cw_h5ad_read_column(h, "var", "feature_name", &c));
        assert_string_equal(c.values.s[1], "CFAP57");
        cw_column_free(&c);
        OK(cw_h5ad_read_column(h, "obs", "control", &c));
        assert_true(c.is_integer);
        cw_column_free(&c);
        assert_false(cw_h5ad_has_column(h, "obs", "cell_barcode")); /* the index */
        cw_h5ad_close(h);
    }
    if (!any) skip();
}

/* ---- the LZF filter alone ------------------------------------------------------------------- */

static void test_lzf_filter(void **state) {
    (void)state;
    OK(cw_h5_setup());
    OK(cw_lzf_register()); /* idempotent */
    assert_true(H5Zfilter_avail(CW_LZF_FILTER_ID) > 0);
    char p[512];
    cwt_path(p, sizeof p, "lzf.h5");
    enum { N = 50000 };
    int32_t *v = malloc(N * sizeof *v), *back = malloc(N * sizeof *back);
    for (int i = 0; i < N; i++) v[i] = (i / 7) % 100; /* compressible */
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = N, chunk = 8192;
    hid_t sp = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    assert_true(H5Pset_filter(dcpl, CW_LZF_FILTER_ID, H5Z_FLAG_OPTIONAL, 0, NULL) >= 0);
    hid_t ds = H5Dcreate2(f, "v", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    assert_true(H5Dget_storage_size(ds) < (hsize_t)N * 4 / 4); /* really compressed */
    /* set_local stored h5py's cd_values: {4, LZF_VERSION, chunk bytes} */
    hid_t pl = H5Dget_create_plist(ds);
    unsigned flags, cd[8];
    size_t ncd = 8;
    assert_true(H5Pget_filter_by_id2(pl, CW_LZF_FILTER_ID, &flags, &ncd, cd, 0, NULL, NULL) >= 0);
    assert_int_equal(ncd, 3);
    assert_int_equal(cd[0], 4);
    assert_int_equal(cd[2], 8192 * 4);
    H5Pclose(pl);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    ds = H5Dopen2(f, "v", H5P_DEFAULT);
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
    assert_memory_equal(v, back, N * sizeof *v);
    H5Dclose(ds);
    H5Fclose(f);
    /* h5py reads what the C filter wrote */
    const char *py = cwt_python_with("h5py,numpy");
    if (py) {
        char out[2048];
        int rc = cwt_run(out, sizeof out,
                         "%s -c \"import h5py, numpy as np; v = h5py.File('%s')['v'][()]; "
                         "assert (v == (np.arange(%d) // 7) %% 100).all()\"",
                         py, p, N);
        if (rc != 0) fail_msg("h5py could not read the LZF dataset: %s", out);
    }
    free(v);
    free(back);
}

/* ---- writer round trips ---------------------------------------------------------------------- */

#define RT_N 10
#define RT_M 6
static float rt_x(int i, int j) {
    return (i * RT_M + j) % 4 == 0 ? 0.0f : (float)((i + 1) * 0.5 + j);
}

static void rt_columns(cw_column obs[5], cw_column var[1], cw_strings *obs_names,
                       cw_strings *var_names) {
    cw_strings v;
    OK(cw_strings_alloc(&v, RT_N));
    const char *conds[3] = {"ctrl", "A", "B"};
    for (int i = 0; i < RT_N; i++) OK(cw_strings_set(&v, i, i == 4 ? NULL : conds[i % 3]));
    OK(cw_column_categorical(&obs[0], "cond", &v));
    cw_strings_free(&v);
    double num[RT_N];
    for (int i = 0; i < RT_N; i++) num[i] = i * 1.5;
    OK(cw_column_numeric(&obs[1], "score", num, RT_N, 0));
    for (int i = 0; i < RT_N; i++) num[i] = 2 * i;
    OK(cw_column_numeric(&obs[2], "count", num, RT_N, 1));
    for (int i = 0; i < RT_N; i++) num[i] = i % 2;
    OK(cw_column_numeric(&obs[3], "flag", num, RT_N, 0));
    obs[3].is_bool = 1;
    memset(&obs[4], 0, sizeof obs[4]);
    obs[4].name = cw_strdup("name");
    obs[4].kind = CW_COL_STRING;
    obs[4].n = RT_N;
    OK(cw_strings_alloc(&obs[4].values, RT_N));
    char b[32];
    for (int i = 0; i < RT_N; i++) {
        snprintf(b, sizeof b, "n%d", i);
        OK(cw_strings_set(&obs[4].values, i, b));
    }
    memset(&var[0], 0, sizeof var[0]);
    var[0].name = cw_strdup("sym");
    var[0].kind = CW_COL_STRING;
    var[0].n = RT_M;
    OK(cw_strings_alloc(&var[0].values, RT_M));
    for (int j = 0; j < RT_M; j++) {
        snprintf(b, sizeof b, "S%d", j);
        OK(cw_strings_set(&var[0].values, j, b));
    }
    OK(cw_strings_alloc(obs_names, RT_N));
    for (int i = 0; i < RT_N; i++) {
        snprintf(b, sizeof b, "c%d", i);
        OK(cw_strings_set(obs_names, i, b));
    }
    OK(cw_strings_alloc(var_names, RT_M));
    for (int j = 0; j < RT_M; j++) {
        snprintf(b, sizeof b, "g%d", j);
        OK(cw_strings_set(var_names, j, b));
    }
}

static cw_status rt_deg(cw_deg_table *t) {
    memset(t, 0, sizeof *t);
    t->n_groups = 2;
    t->n_genes = 3;
    cw_status st = cw_strings_alloc(&t->groups, 2);
    if (st == CW_OK) st = cw_strings_set(&t->groups, 0, "A");
    if (st == CW_OK) st = cw_strings_set(&t->groups, 1, "B");
    if (st == CW_OK) st = cw_strings_alloc(&t->names, 6);
    t->scores = cw_malloc(6 * sizeof(double));
    t->pvals = cw_malloc(6 * sizeof(double));
    t->pvals_adj = cw_malloc(6 * sizeof(double));
    t->logfoldchanges = cw_malloc(6 * sizeof(double));
    if (st == CW_OK && (!t->scores || !t->pvals || !t->pvals_adj || !t->logfoldchanges))
        st = cw_fail(CW_ENOMEM, "out of memory");
    for (int g = 0; st == CW_OK && g < 2; g++)
        for (int r = 0; st == CW_OK && r < 3; r++) {
            char b[16];
            snprintf(b, sizeof b, "g%d", (g + r) % RT_M);
            st = cw_strings_set(&t->names, g * 3 + r, b);
            t->scores[g * 3 + r] = 3 - r + g * 0.5;
            t->pvals[g * 3 + r] = pow(10.0, -(5 - r));
            t->pvals_adj[g * 3 + r] = fmin(1.0, 3 * t->pvals[g * 3 + r]);
            t->logfoldchanges[g * 3 + r] = 1 - r * 0.25;
        }
    if (st != CW_OK) cw_deg_table_free(t);
    return st;
}

/* Writes the round-trip file (dense, or streaming CSR in uneven blocks with empty ones);
 * returns the status of the first failing call (the writer is aborted then). */
static cw_status write_rt_with(const char *path, int sparse, int gzip, const cw_column *obs,
                               const cw_column *var, const cw_strings *on, const cw_strings *vn,
                               const cw_deg_table *t) {
    cw_h5ad_writer *w;
    cw_status st = cw_h5ad_writer_open(path, gzip, &w);
    if (st != CW_OK) return st;
    float x[RT_N * RT_M];
    for (int i = 0; i < RT_N; i++)
        for (int j = 0; j < RT_M; j++) x[i * RT_M + j] = rt_x(i, j);
    if (!sparse) {
        st = cw_h5ad_write_x_dense(w, x, RT_N, RT_M);
    } else {
        st = cw_h5ad_write_x_csr_begin(w, RT_N, RT_M);
        const int blocks[] = {0, 3, 0, 1, 6}; /* uneven, with empty blocks */
        int r0 = 0;
        for (int b = 0; st == CW_OK && b < 5; b++) {
            cw_csr m;
            st = cw_csr_from_dense(&m, x + r0 * RT_M, blocks[b], RT_M);
            if (st == CW_OK) st = cw_h5ad_write_x_csr_append(w, &m);
            cw_csr_free(&m);
            r0 += blocks[b];
        }
        if (st == CW_OK) st = cw_h5ad_write_x_csr_end(w);
    }
    if (st == CW_OK) st = cw_h5ad_write_dataframe(w, "obs", on, obs, 5);
    if (st == CW_OK) st = cw_h5ad_write_dataframe(w, "var", vn, var, 1);
    if (st == CW_OK) {
        double e[RT_N * 2];
        for (int i = 0; i < RT_N; i++)
            for (int k = 0; k < 2; k++) e[i * 2 + k] = i + 0.25 * k;
        cw_dmat m = {RT_N, 2, e};
        st = cw_h5ad_write_obsm(w, "X_emb", &m);
    }
    if (st == CW_OK) st = cw_h5ad_write_uns_int(w, "causeway/seed", 42);
    if (st == CW_OK) st = cw_h5ad_write_uns_string(w, "causeway/config", "{\"a\": 1}");
    if (st == CW_OK) st = cw_h5ad_write_uns_double(w, "causeway/lr", 0.001);
    double dag[6] = {0, 0.5, 1, 1.5, 2, 2.5};
    if (st == CW_OK) st = cw_h5ad_write_uns_doubles(w, "causeway/dag", dag, 2, 3);
    int64_t idx[3] = {1, 2, 3};
    if (st == CW_OK) st = cw_h5ad_write_uns_int64s(w, "causeway/idx", idx, 3, 0);
    if (st == CW_OK) {
        cw_strings g = {2, (char *[]){"g0", "g1"}};
        st = cw_h5ad_write_uns_strings(w, "causeway/genes", &g);
    }
    if (st == CW_OK) st = cw_h5ad_write_uns_string(w, "note", "hello");
    if (st == CW_OK) st = cw_h5ad_write_deg_table(w, t, "cond", NULL, "t-test");
    if (st != CW_OK) {
        cw_h5ad_writer_abort(w);
        return st;
    }
    return cw_h5ad_writer_commit(w);
}

typedef struct {
    cw_column obs[5], var[1];
    cw_strings on, vn;
    cw_deg_table t;
} rt_inputs;

static void rt_make(rt_inputs *in) {
    rt_columns(in->obs, in->var, &in->on, &in->vn);
    OK(rt_deg(&in->t));
}

static void rt_free(rt_inputs *in) {
    for (int i = 0; i < 5; i++) cw_column_free(&in->obs[i]);
    cw_column_free(&in->var[0]);
    cw_strings_free(&in->on);
    cw_strings_free(&in->vn);
    cw_deg_table_free(&in->t);
}

/* No "<name>.tmp-*" file left in dir. */
static int temp_files_in(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    return n;
}

static void check_rt_file(const char *path, int sparse) {
    cw_h5ad *h;
    OK(cw_h5ad_open(path, &h));
    assert_int_equal(cw_h5ad_n_obs(h), RT_N);
    assert_int_equal(cw_h5ad_n_vars(h), RT_M);
    assert_int_equal(cw_h5ad_x_is_sparse(h), sparse);
    float x[RT_N * RT_M];
    OK(cw_h5ad_read_x_dense_rows(h, 0, RT_N, x));
    for (int i = 0; i < RT_N; i++)
        for (int j = 0; j < RT_M; j++) assert_true(x[i * RT_M + j] == rt_x(i, j));
    cw_csr m;
    OK(cw_h5ad_read_x_csr_rows(h, 3, 4, &m));
    float d[4 * RT_M];
    cw_csr_rows_to_dense(&m, 0, 4, d);
    assert_memory_equal(d, x + 3 * RT_M, sizeof d);
    cw_csr_free(&m);
    cw_strings l;
    OK(cw_h5ad_read_index(h, "obs", &l));
    assert_strings(&l, "c%d", RT_N);
    cw_strings_free(&l);
    OK(cw_h5ad_read_index(h, "var", &l));
    assert_strings(&l, "g%d", RT_M);
    cw_strings_free(&l);
    OK(cw_h5ad_list_columns(h, "obs", &l));
    assert_int_equal(l.n, 5);
    assert_string_equal(l.s[3], "flag");
    cw_strings_free(&l);
    cw_column c;
    OK(cw_h5ad_read_column(h, "obs", "cond", &c));
    assert_true(c.is_categorical);
    assert_int_equal(c.categories.n, 3);
    assert_string_equal(c.categories.s[0], "A");
    assert_string_equal(c.categories.s[2], "ctrl");
    assert_null(c.values.s[4]);
    assert_int_equal(c.codes[4], -1);
    assert_string_equal(c.values.s[3], "ctrl");
    assert_string_equal(c.values.s[5], "B");
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "score", &c));
    assert_false(c.is_integer);
    assert_close(c.num[7], 10.5);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "count", &c));
    assert_true(c.is_integer);
    assert_close(c.num[9], 18);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "flag", &c));
    assert_true(c.is_bool);
    for (int i = 0; i < RT_N; i++) assert_close(c.num[i], i % 2);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "obs", "name", &c));
    assert_false(c.is_categorical);
    assert_strings(&c.values, "n%d", RT_N);
    cw_column_free(&c);
    OK(cw_h5ad_read_column(h, "var", "sym", &c));
    assert_strings(&c.values, "S%d", RT_M);
    cw_column_free(&c);
    cw_dmat dm;
    OK(cw_h5ad_read_obsm(h, "X_emb", &dm));
    assert_int_equal(dm.ncols, 2);
    assert_close(dm.data[9 * 2 + 1], 9.25);
    cw_dmat_free(&dm);
    /* every k-th row only (X_emb row i = (i, i + 0.25)) */
    for (int64_t step = 1; step <= RT_N + 2; step++) {
        OK(cw_h5ad_read_obsm_every(h, "X_emb", step, &dm));
        assert_int_equal(dm.nrows, (RT_N + step - 1) / step);
        assert_int_equal(dm.ncols, 2);
        for (int64_t r = 0; r < dm.nrows; r++) {
            assert_close(dm.data[r * 2], (double)(r * step));
            assert_close(dm.data[r * 2 + 1], (double)(r * step) + 0.25);
        }
        cw_dmat_free(&dm);
    }
    assert_int_equal(cw_h5ad_read_obsm_every(h, "X_emb", 0, &dm), CW_EINVAL);
    OK(cw_h5ad_read_doubles(h, "/uns/causeway/seed", &dm));
    assert_close(dm.data[0], 42);
    cw_dmat_free(&dm);
    OK(cw_h5ad_read_doubles(h, "/uns/causeway/lr", &dm));
    assert_close(dm.data[0], 0.001);
    cw_dmat_free(&dm);
    OK(cw_h5ad_read_doubles(h, "/uns/causeway/dag", &dm));
    assert_int_equal(dm.nrows, 2);
    assert_int_equal(dm.ncols, 3);
    assert_close(dm.data[5], 2.5);
    cw_dmat_free(&dm);
    OK(cw_h5ad_read_doubles(h, "/uns/causeway/idx", &dm));
    assert_int_equal(dm.nrows, 3);
    assert_close(dm.data[2], 3);
    cw_dmat_free(&dm);
    OK(cw_h5ad_read_strings(h, "/uns/causeway/config", &l));
    assert_string_equal(l.s[0], "{\"a\": 1}");
    cw_strings_free(&l);
    OK(cw_h5ad_read_strings(h, "/uns/causeway/genes", &l));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.s[1], "g1");
    cw_strings_free(&l);
    OK(cw_h5ad_read_strings(h, "/uns/rank_genes_groups/params/method", &l));
    assert_string_equal(l.s[0], "t-test");
    cw_strings_free(&l);
    OK(cw_h5ad_read_strings(h, "/uns/rank_genes_groups/params/reference", &l));
    assert_string_equal(l.s[0], "rest");
    cw_strings_free(&l);
    cw_deg_table t;
    OK(cw_h5ad_read_deg_table(h, &t));
    assert_int_equal(t.n_groups, 2);
    assert_int_equal(t.n_genes, 3);
    assert_string_equal(t.names.s[1 * 3 + 2], "g3");
    assert_close(t.scores[1 * 3 + 0], 3.5);
    assert_true(t.pvals[2] == 1e-3); /* float64 field: exact */
    assert_close(t.pvals_adj[0], 3e-5);
    assert_close(t.logfoldchanges[2], 0.5);
    cw_deg_table_free(&t);
    cw_h5ad_close(h);
}

static void test_write_roundtrip_dense(void **state) {
    (void)state;
    rt_inputs in;
    rt_make(&in);
    char p[512];
    cwt_path(p, sizeof p, "rt_dense.h5ad");
    OK(write_rt_with(p, 0, 0, in.obs, in.var, &in.on, &in.vn, &in.t));
    assert_int_equal(temp_files_in(cwt_tmpdir()), 0);
    check_rt_file(p, 0);
    cwt_path(p, sizeof p, "rt_dense_gzip.h5ad");
    OK(write_rt_with(p, 0, 6, in.obs, in.var, &in.on, &in.vn, &in.t));
    check_rt_file(p, 0);
    rt_free(&in);
}

static void test_write_roundtrip_streaming_csr(void **state) {
    (void)state;
    rt_inputs in;
    rt_make(&in);
    char p[512];
    cwt_path(p, sizeof p, "rt_csr.h5ad");
    OK(write_rt_with(p, 1, 4, in.obs, in.var, &in.on, &in.vn, &in.t));
    check_rt_file(p, 1);
    cwt_path(p, sizeof p, "rt_csr_raw.h5ad");
    OK(write_rt_with(p, 1, 0, in.obs, in.var, &in.on, &in.vn, &in.t));
    check_rt_file(p, 1);
    rt_free(&in);

    /* a bigger stream: 1000 x 300 in blocks of 77 rows, compared entry by entry */
    cwt_path(p, sizeof p, "stream.h5ad");
    cw_h5ad_writer *w;
    OK(cw_h5ad_writer_open(p, 1, &w));
    OK(cw_h5ad_write_x_csr_begin(w, 1000, 300));
    for (int r0 = 0; r0 < 1000; r0 += 77) {
        int n = 1000 - r0 < 77 ? 1000 - r0 : 77;
        float *x = calloc((size_t)n * 300, sizeof *x);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < 300; j++)
                if (((r0 + i) * 31 + j * 17) % 23 == 0)
                    x[i * 300 + j] = (float)(r0 + i + 1) + j / 1000.0f;
        cw_csr m;
        OK(cw_csr_from_dense(&m, x, n, 300));
        OK(cw_h5ad_write_x_csr_append(w, &m));
        cw_csr_free(&m);
        free(x);
    }
    OK(cw_h5ad_write_x_csr_end(w));
    OK(cw_h5ad_writer_commit(w));
    cw_h5ad *h;
    OK(cw_h5ad_open(p, &h));
    cw_csr m;
    OK(cw_h5ad_read_x_csr(h, &m));
    int64_t k = 0;
    for (int i = 0; i < 1000; i++)
        for (int j = 0; j < 300; j++)
            if ((i * 31 + j * 17) % 23 == 0) {
                assert_int_equal(m.indices[k], j);
                assert_true(m.data[k] == (float)(i + 1) + j / 1000.0f);
                k++;
            }
    assert_int_equal(k, m.nnz);
    assert_int_equal(cw_h5ad_x_nnz(h), m.nnz);
    cw_csr_free(&m);
    cw_strings l; /* obs / var default to "0", "1", ... */
    OK(cw_h5ad_read_index(h, "var", &l));
    assert_string_equal(l.s[299], "299");
    cw_strings_free(&l);
    cw_h5ad_close(h);
}

static void test_anndata_roundtrip(void **state) {
    (void)state;
    const char *py = cwt_python_with("anndata,h5py,scipy,numpy");
    if (!py) skip();
    rt_inputs in;
    rt_make(&in);
    const char *modes[2] = {"dense", "csr"};
    for (int s = 0; s < 2; s++) {
        char p[512], out[8192];
        cwt_path(p, sizeof p, s ? "ad_csr.h5ad" : "ad_dense.h5ad");
        OK(write_rt_with(p, s, s ? 3 : 0, in.obs, in.var, &in.on, &in.vn, &in.t));
        int rc = cwt_run(out, sizeof out, "%s tests/py/check_h5ad_roundtrip.py '%s' %s", py, p,
                         modes[s]);
        if (rc != 0) fail_msg("anndata round trip (%s) failed with %d:\n%s", modes[s], rc, out);
    }
    rt_free(&in);
}

/* A table with many groups (one record-array field each): names and numbers are read with one
 * H5Dread per dataset whatever the field count (reading field by field was O(groups^2)), and
 * come back exactly; then every allocation failure over reading a smaller one. */
#define MG_ROWS 25
static void mg_name(char *buf, size_t cap, int g, int r) {
    if (r == 3) buf[0] = '\0'; /* empty strings survive */
    else if (r == 7) snprintf(buf, cap, "g\xc3\xa8ne_%d_%d", g, r); /* UTF-8 */
    else snprintf(buf, cap, "G%0*d", 1 + (g + r) % 9, g * 31 + r);
}
static double mg_num(int k, int g, int r) { return (g * MG_ROWS + r) * 0.125 - k * 3.0 - 40.0; }

static void write_many_groups(const char *path, int ng) {
    cw_deg_table t;
    memset(&t, 0, sizeof t);
    t.n_groups = ng;
    t.n_genes = MG_ROWS;
    OK(cw_strings_alloc(&t.groups, ng));
    OK(cw_strings_alloc(&t.names, (int64_t)ng * MG_ROWS));
    double *num[4];
    for (int k = 0; k < 4; k++) num[k] = malloc((size_t)ng * MG_ROWS * sizeof(double));
    for (int g = 0; g < ng; g++) {
        char b[64];
        snprintf(b, sizeof b, g % 50 == 7 ? "gr\xc3\xbcppe %d" : "P%d", g);
        OK(cw_strings_set(&t.groups, g, b));
        for (int r = 0; r < MG_ROWS; r++) {
            mg_name(b, sizeof b, g, r);
            OK(cw_strings_set(&t.names, (int64_t)g * MG_ROWS + r, b));
            for (int k = 0; k < 4; k++) num[k][g * MG_ROWS + r] = mg_num(k, g, r);
        }
    }
    t.scores = num[0]; /* written as float32 by scanpy's convention: values exact in float */
    t.pvals = num[1];
    t.pvals_adj = num[2];
    t.logfoldchanges = num[3];
    cw_h5ad_writer *w;
    OK(cw_h5ad_writer_open(path, 0, &w));
    float x[6] = {1, 0, 2, 0, 3, 4};
    OK(cw_h5ad_write_x_dense(w, x, 2, 3));
    OK(cw_h5ad_write_deg_table(w, &t, "cond", NULL, "wilcoxon"));
    OK(cw_h5ad_writer_commit(w));
    cw_strings_free(&t.groups);
    cw_strings_free(&t.names);
    for (int k = 0; k < 4; k++) free(num[k]);
}

static void check_many_groups(const char *path, int ng) {
    cw_h5ad *h;
    OK(cw_h5ad_open(path, &h));
    cw_deg_table t;
    OK(cw_h5ad_read_deg_table(h, &t));
    assert_int_equal(t.n_groups, ng);
    assert_int_equal(t.n_genes, MG_ROWS);
    assert_int_equal(t.groups.n, ng);
    assert_int_equal(t.names.n, (int64_t)ng * MG_ROWS);
    const double *num[4] = {t.scores, t.pvals, t.pvals_adj, t.logfoldchanges};
    for (int g = 0; g < ng; g++) {
        char b[64];
        snprintf(b, sizeof b, g % 50 == 7 ? "gr\xc3\xbcppe %d" : "P%d", g);
        assert_string_equal(t.groups.s[g], b);
        for (int r = 0; r < MG_ROWS; r++) {
            mg_name(b, sizeof b, g, r);
            assert_string_equal(t.names.s[g * MG_ROWS + r], b);
            for (int k = 0; k < 4; k++) {
                assert_non_null(num[k]);
                if (num[k][g * MG_ROWS + r] != mg_num(k, g, r))
                    fail_msg("table %d group %d row %d: %.17g, expected %.17g", k, g, r,
                             num[k][g * MG_ROWS + r], mg_num(k, g, r));
            }
        }
    }
    cw_deg_table_free(&t);
    cw_h5ad_close(h);
}

static void test_deg_many_groups(void **state) {
    (void)state;
    char p[512];
    cwt_path(p, sizeof p, "deg_many.h5ad");
    write_many_groups(p, 300);
    check_many_groups(p, 300);
    unlink(p);

    cwt_path(p, sizeof p, "deg_many_small.h5ad");
    write_many_groups(p, 9);
    check_many_groups(p, 9);
    cw_h5ad *h;
    OK(cw_h5ad_open(p, &h));
    int done = 0;
    for (int64_t k = 0; k < 100000 && !done; k++) {
        cw_deg_table t;
        cw_alloc_fail_after(k);
        cw_status st = cw_h5ad_read_deg_table(h, &t);
        int64_t injected = cw_alloc_injected_failures();
        cw_alloc_fail_after(-1);
        if (st == CW_OK) cw_deg_table_free(&t);
        if (injected == 0) {
            OK(st);
            done = 1;
        } else if (st == CW_OK) {
            fail_msg("%lld allocation(s) failed at budget %lld but reading succeeded",
                     (long long)injected, (long long)k);
        }
    }
    assert_true(done);
    cw_h5ad_close(h);
    assert_int_equal(cw_h5_open_ids(), 0);
    unlink(p);
}

/* ---- errors ------------------------------------------------------------------------------------
 */

static void copy_prefix(const char *src, const char *dst, double frac) {
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    f = fopen(dst, "wb");
    fwrite(b, 1, (size_t)(n * frac), f);
    fclose(f);
    free(b);
}

/* Reads everything; returns the first error (or CW_OK). Used on damaged files. */
static cw_status read_everything(const char *path) {
    cw_h5ad *h;
    cw_status st = cw_h5ad_open(path, &h);
    if (st != CW_OK) return st;
    cw_strings l = {0, NULL};
    cw_column c;
    cw_csr m;
    cw_dmat d;
    cw_deg_table t;
    cw_status first = CW_OK;
#define TRY_READ(expr)                                                                             \
    do {                                                                                           \
        cw_status s_ = (expr);                                                                     \
        if (s_ != CW_OK && first == CW_OK) first = s_;                                             \
    } while (0)
    TRY_READ(cw_h5ad_read_x_csr(h, &m));
    if (first == CW_OK) cw_csr_free(&m);
    TRY_READ(cw_h5ad_check_x_finite(h));
    const char *dfs[2] = {"obs", "var"};
    for (int k = 0; k < 2; k++) {
        cw_status s = cw_h5ad_read_index(h, dfs[k], &l);
        TRY_READ(s);
        if (s == CW_OK) cw_strings_free(&l);
        s = cw_h5ad_list_columns(h, dfs[k], &l);
        TRY_READ(s);
        for (int64_t i = 0; s == CW_OK && i < l.n; i++) {
            cw_status s2 = cw_h5ad_read_column(h, dfs[k], l.s[i], &c);
            TRY_READ(s2);
            if (s2 == CW_OK) cw_column_free(&c);
        }
        if (s == CW_OK) cw_strings_free(&l);
    }
    cw_status s = cw_h5ad_list_obsm(h, &l);
    TRY_READ(s);
    for (int64_t i = 0; s == CW_OK && i < l.n; i++) {
        cw_status s2 = cw_h5ad_read_obsm(h, l.s[i], &d);
        TRY_READ(s2);
        if (s2 == CW_OK) cw_dmat_free(&d);
    }
    if (s == CW_OK) cw_strings_free(&l);
    s = cw_h5ad_read_deg_table(h, &t);
    if (s != CW_ENOTFOUND) TRY_READ(s);
    if (s == CW_OK) cw_deg_table_free(&t);
#undef TRY_READ
    cw_h5ad_close(h);
    return first;
}

static void test_read_errors(void **state) {
    (void)state;
    cw_h5ad *h = (cw_h5ad *)1;
    assert_int_equal(cw_h5ad_open("no/such/file.h5ad", &h), CW_EIO);
    assert_null(h);
    assert_non_null(strstr(cw_errmsg(), "no/such/file.h5ad"));

    char p[512];
    cwt_path(p, sizeof p, "text.h5ad");
    FILE *f = fopen(p, "w");
    fputs("obs,var\n1,2\n", f);
    fclose(f);
    assert_int_equal(cw_h5ad_open(p, &h), CW_EIO);
    assert_non_null(strstr(cw_errmsg(), "text.h5ad: not an HDF5 file"));

    /* truncated copies of every fixture at several lengths: an error, never a crash */
    const char *fx[] = {"h5ad_dense.h5ad", "h5ad_csr64_gzip.h5ad", "h5ad_csr_lzf.h5ad",
                        "h5ad_v07.h5ad", "h5ad_legacy_deg.h5ad"};
    const double fracs[] = {0.5, 0.9, 0.02};
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 3; k++) {
            char src[256];
            fixture(src, sizeof src, fx[i]);
            cwt_path(p, sizeof p, "cut.h5ad");
            copy_prefix(src, p, fracs[k]);
            cw_status st = read_everything(p);
            if (st == CW_OK) fail_msg("%s cut to %.0f%%: no error", fx[i], fracs[k] * 100);
            assert_true(strlen(cw_errmsg()) > 0);
            assert_int_equal(cw_h5_open_ids(), 0);
        }
    cwt_path(p, sizeof p, "cut.h5ad");
    char src[256];
    fixture(src, sizeof src, "h5ad_dense.h5ad");
    copy_prefix(src, p, 0.5);
    assert_int_equal(cw_h5ad_open(p, &h), CW_EIO);
    assert_non_null(strstr(cw_errmsg(), "cut.h5ad"));

    fixture(p, sizeof p, "h5ad_dense.h5ad");
    OK(cw_h5ad_open(p, &h));
    cw_column c;
    assert_int_equal(cw_h5ad_read_column(h, "obs", "guide_ids", &c), CW_ENOTFOUND);
    char want[1024];
    snprintf(want, sizeof want,
             "%s: /obs/guide_ids: no such column; columns are: perturbation, "
             "barcode, n_counts, n_genes, is_ctrl",
             p);
    assert_string_equal(cw_errmsg(), want);
    assert_null(c.name);
    cw_dmat d;
    assert_int_equal(cw_h5ad_read_obsm(h, "X_umap", &d), CW_ENOTFOUND);
    assert_non_null(strstr(cw_errmsg(), "/obsm/X_umap: no such key; keys are: X_pca"));
    cw_strings l;
    assert_int_equal(cw_h5ad_read_index(h, "uns", &l), CW_EINVAL);
    float x[S_VARS];
    assert_int_equal(cw_h5ad_read_x_dense_rows(h, 12, 1, x), CW_EINVAL);
    assert_int_equal(cw_h5ad_read_x_dense_rows(h, -1, 1, x), CW_EINVAL);
    assert_int_equal(cw_h5ad_read_column(h, "obs", "n_counts/x", &c), CW_ENOTFOUND);
    cw_h5ad_close(h);

    fixture(p, sizeof p, "h5ad_csc.h5ad");
    assert_int_equal(cw_h5ad_open(p, &h), CW_EFORMAT);
    assert_non_null(strstr(cw_errmsg(), "h5ad_csc.h5ad: /X: CSC"));
    assert_non_null(strstr(cw_errmsg(), "adata.X = adata.X.tocsr()"));
}

static void test_nonfinite_x(void **state) {
    (void)state;
    char p[512];
    for (int sparse = 0; sparse < 2; sparse++) {
        cwt_path(p, sizeof p, sparse ? "nan_csr.h5ad" : "nan_dense.h5ad");
        float x[5 * 4];
        for (int i = 0; i < 20; i++) x[i] = (float)(i % 3);
        x[2 * 4 + 3] = sparse ? -INFINITY : NAN;
        cw_h5ad_writer *w;
        OK(cw_h5ad_writer_open(p, 0, &w));
        if (sparse) {
            cw_csr m;
            OK(cw_csr_from_dense(&m, x, 5, 4));
            OK(cw_h5ad_write_x_csr_begin(w, 5, 4));
            OK(cw_h5ad_write_x_csr_append(w, &m));
            OK(cw_h5ad_write_x_csr_end(w));
            cw_csr_free(&m);
        } else {
            OK(cw_h5ad_write_x_dense(w, x, 5, 4));
        }
        cw_strings on = {5, (char *[]){"a", "b", "cellC", "d", "e"}};
        cw_strings vn = {4, (char *[]){"g0", "g1", "g2", "GENE3"}};
        OK(cw_h5ad_write_dataframe(w, "obs", &on, NULL, 0));
        OK(cw_h5ad_write_dataframe(w, "var", &vn, NULL, 0));
        OK(cw_h5ad_writer_commit(w));
        cw_h5ad *h;
        OK(cw_h5ad_open(p, &h));
        assert_int_equal(cw_h5ad_check_x_finite(h), CW_EFORMAT);
        char want[600];
        snprintf(want, sizeof want, "%s: /X: non-finite value (%s) at cell cellC gene GENE3", p,
                 sparse ? "-inf" : "nan");
        if (!strstr(cw_errmsg(), want)) fail_msg("message: %s", cw_errmsg());
        cw_h5ad_close(h);
    }
}

static void test_writer_errors(void **state) {
    (void)state;
    cw_h5ad_writer *w = (cw_h5ad_writer *)1;
    char p[1200];
    /* directory missing: fails at open, names the path, creates nothing */
    cwt_path(p, sizeof p, "missing_dir/out.h5ad");
    assert_int_equal(cw_h5ad_writer_open(p, 0, &w), CW_EIO);
    assert_null(w);
    assert_non_null(strstr(cw_errmsg(), p));
    assert_false(cwt_exists(p));
    /* parent is a file */
    char f[512];
    cwt_path(f, sizeof f, "plainfile");
    FILE *fp = fopen(f, "w");
    fclose(fp);
    snprintf(p, sizeof p, "%s/out.h5ad", f);
    assert_int_equal(cw_h5ad_writer_open(p, 0, &w), CW_EIO);
    /* read-only directory (meaningless as root, who may write anywhere) */
    if (geteuid() != 0) {
        char ro[600];
        cwt_path(ro, sizeof ro, "readonly");
        mkdir(ro, 0555);
        snprintf(p, sizeof p, "%s/out.h5ad", ro);
        assert_int_equal(cw_h5ad_writer_open(p, 0, &w), CW_EIO);
        assert_non_null(strstr(cw_errmsg(), "not writable"));
        assert_false(cwt_exists(p));
        chmod(ro, 0755);
    }
    assert_int_equal(cw_h5ad_writer_open(p, 12, &w), CW_EINVAL);

    /* abort leaves nothing */
    cwt_path(p, sizeof p, "aborted.h5ad");
    OK(cw_h5ad_writer_open(p, 0, &w));
    float x[6] = {1, 2, 3, 4, 5, 6};
    OK(cw_h5ad_write_x_dense(w, x, 2, 3));
    assert_int_equal(temp_files_in(cwt_tmpdir()), 1);
    cw_h5ad_writer_abort(w);
    assert_false(cwt_exists(p));
    assert_int_equal(temp_files_in(cwt_tmpdir()), 0);

    /* a failing call removes the temporary file at once; later calls and commit fail */
    OK(cw_h5ad_writer_open(p, 0, &w));
    OK(cw_h5ad_write_x_dense(w, x, 2, 3));
    cw_strings on = {3, (char *[]){"a", "b", "c"}};
    assert_int_equal(cw_h5ad_write_dataframe(w, "obs", &on, NULL, 0), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "/obs: 3 names, but X has 2 rows"));
    assert_int_equal(temp_files_in(cwt_tmpdir()), 0);
    assert_int_equal(cw_h5ad_write_uns_int(w, "x", 1), CW_EINVAL);
    assert_int_equal(cw_h5ad_writer_commit(w), CW_EINVAL);
    assert_false(cwt_exists(p));

    /* misuse: unfinished stream, uns path clashes, bad blocks */
    OK(cw_h5ad_writer_open(p, 0, &w));
    OK(cw_h5ad_write_x_csr_begin(w, 2, 3));
    assert_int_equal(cw_h5ad_writer_commit(w), CW_EINVAL);
    assert_false(cwt_exists(p));
    assert_int_equal(temp_files_in(cwt_tmpdir()), 0);
    OK(cw_h5ad_writer_open(p, 0, &w));
    OK(cw_h5ad_write_uns_int(w, "a/b", 1));
    assert_int_equal(cw_h5ad_write_uns_int(w, "a/b/c", 1), CW_EINVAL);
    cw_h5ad_writer_abort(w);
    OK(cw_h5ad_writer_open(p, 0, &w));
    OK(cw_h5ad_write_uns_int(w, "a", 1));
    assert_int_equal(cw_h5ad_write_uns_int(w, "a", 2), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "/uns/a: already written"));
    cw_h5ad_writer_abort(w);
    OK(cw_h5ad_writer_open(p, 0, &w));
    OK(cw_h5ad_write_x_csr_begin(w, 2, 3));
    cw_csr bad;
    OK(cw_csr_alloc(&bad, 1, 3, 1));
    bad.indptr[1] = 1;
    bad.indices[0] = 3; /* column out of range */
    bad.data[0] = 1;
    assert_int_equal(cw_h5ad_write_x_csr_append(w, &bad), CW_EINVAL);
    cw_csr_free(&bad);
    cw_h5ad_writer_abort(w);
    assert_int_equal(temp_files_in(cwt_tmpdir()), 0);
    assert_false(cwt_exists(p));
}

/* ---- allocation-failure injection --------------------------------------------------------------
 */

static void test_alloc_failures_read(void **state) {
    (void)state;
    const char *fx[] = {"h5ad_dense.h5ad", "h5ad_csr64_gzip.h5ad", "h5ad_v07.h5ad",
                        "h5ad_legacy_deg.h5ad"};
    for (int i = 0; i < 4; i++) {
        char p[256];
        fixture(p, sizeof p, fx[i]);
        int done = 0;
        for (int64_t k = 0; k < 100000 && !done; k++) {
            cw_alloc_fail_after(k);
            cw_status st = read_everything(p);
            int64_t injected = cw_alloc_injected_failures();
            cw_alloc_fail_after(-1);
            assert_int_equal(cw_h5_open_ids(), 0);
            if (injected == 0) {
                OK(st);
                done = 1;
            } else if (st == CW_OK) {
                fail_msg("%s: %lld allocation(s) failed at budget %lld but reading succeeded",
                         fx[i], (long long)injected, (long long)k);
            }
        }
        assert_true(done);
    }
}

static void test_alloc_failures_write(void **state) {
    (void)state;
    rt_inputs in;
    rt_make(&in);
    char p[512];
    cwt_path(p, sizeof p, "alloc.h5ad");
    for (int sparse = 0; sparse < 2; sparse++) {
        int done = 0;
        for (int64_t k = 0; k < 100000 && !done; k++) {
            cw_alloc_fail_after(k);
            cw_status st = write_rt_with(p, sparse, 0, in.obs, in.var, &in.on, &in.vn, &in.t);
            int64_t injected = cw_alloc_injected_failures();
            cw_alloc_fail_after(-1);
            assert_int_equal(cw_h5_open_ids(), 0);
            assert_int_equal(temp_files_in(cwt_tmpdir()), 0);
            if (injected == 0) {
                OK(st);
                done = 1;
            } else {
                if (st == CW_OK)
                    fail_msg("budget %lld: write succeeded despite a failure", (long long)k);
                assert_false(cwt_exists(p));
            }
        }
        assert_true(done);
        check_rt_file(p, sparse);
        unlink(p);
    }
    rt_free(&in);
}

static int group_teardown(void **state) {
    (void)state;
    cwt_rm_tmpdir();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_read_dense_fixture, teardown_ids),
        cmocka_unit_test_teardown(test_read_csr64_gzip_fixture, teardown_ids),
        cmocka_unit_test_teardown(test_read_lzf_fixture, teardown_ids),
        cmocka_unit_test_teardown(test_read_v07_fixture, teardown_ids),
        cmocka_unit_test_teardown(test_read_legacy_fixture, teardown_ids),
        cmocka_unit_test_teardown(test_read_shared_norman, teardown_ids),
        cmocka_unit_test_teardown(test_lzf_filter, teardown_ids),
        cmocka_unit_test_teardown(test_write_roundtrip_dense, teardown_ids),
        cmocka_unit_test_teardown(test_write_roundtrip_streaming_csr, teardown_ids),
        cmocka_unit_test_teardown(test_anndata_roundtrip, teardown_ids),
        cmocka_unit_test_teardown(test_deg_many_groups, teardown_ids),
        cmocka_unit_test_teardown(test_read_errors, teardown_ids),
        cmocka_unit_test_teardown(test_nonfinite_x, teardown_ids),
        cmocka_unit_test_teardown(test_writer_errors, teardown_ids),
        cmocka_unit_test_teardown(test_alloc_failures_read, teardown_ids),
        cmocka_unit_test_teardown(test_alloc_failures_write, teardown_ids),
    };
    return cmocka_run_group_tests_name("h5ad", tests, NULL, group_teardown);
}
