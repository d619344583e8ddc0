/* test_xstore.c: X streamed from an .h5ad under a memory cap (io/xstore.h) reads exactly what
 * the in-memory matrix holds: random gathers with repeats, gathers larger than the window
 * (loaded in pieces), gathers as CSR, explicit windows, file-order blocks, the stored fraction,
 * for CSR files (plain, gzip) and a dense file; the cap's errors; size parsing. */
#include "test_util.h"

#include "core/rng.h"
#include "core/strings.h"
#include "io/h5ad.h"
#include "io/xstore.h"
#include "la/matrix.h"

#include <math.h>

#define N_ROWS 403
#define N_COLS 57

/* Sparse values with empty rows and a few wide ones; exact zeros dropped by the CSR. */
static void make_x(float *x) {
    cw_rng r;
    cw_rng_seed(&r, 11);
    for (int i = 0; i < N_ROWS; i++) {
        double density = i % 17 == 0 ? 0.0 : i % 29 == 0 ? 0.95 : 0.2;
        for (int j = 0; j < N_COLS; j++)
            x[i * N_COLS + j] = cw_rng_uniform(&r) < density ? (float)(1 + cw_rng_uniform(&r)) : 0.0f;
    }
}

static void write_file(const char *path, int sparse, int gzip) {
    static float x[N_ROWS * N_COLS];
    make_x(x);
    cw_h5ad_writer *w;
    assert_int_equal(cw_h5ad_writer_open(path, gzip, &w), CW_OK);
    if (!sparse) {
        assert_int_equal(cw_h5ad_write_x_dense(w, x, N_ROWS, N_COLS), CW_OK);
    } else {
        assert_int_equal(cw_h5ad_write_x_csr_begin(w, N_ROWS, N_COLS), CW_OK);
        for (int r0 = 0; r0 < N_ROWS; r0 += 100) {
            int n = N_ROWS - r0 < 100 ? N_ROWS - r0 : 100;
            cw_csr m;
            assert_int_equal(cw_csr_from_dense(&m, x + r0 * N_COLS, n, N_COLS), CW_OK);
            assert_int_equal(cw_h5ad_write_x_csr_append(w, &m), CW_OK);
            cw_csr_free(&m);
        }
        assert_int_equal(cw_h5ad_write_x_csr_end(w), CW_OK);
    }
    cw_strings on, vn;
    assert_int_equal(cw_strings_alloc(&on, 0), CW_OK);
    assert_int_equal(cw_strings_alloc(&vn, 0), CW_OK);
    char s[32];
    for (int i = 0; i < N_ROWS; i++) {
        snprintf(s, sizeof s, "c%d", i);
        assert_int_equal(cw_strings_push(&on, s), CW_OK);
    }
    for (int j = 0; j < N_COLS; j++) {
        snprintf(s, sizeof s, "g%d", j);
        assert_int_equal(cw_strings_push(&vn, s), CW_OK);
    }
    assert_int_equal(cw_h5ad_write_dataframe(w, "obs", &on, NULL, 0), CW_OK);
    assert_int_equal(cw_h5ad_write_dataframe(w, "var", &vn, NULL, 0), CW_OK);
    assert_int_equal(cw_h5ad_writer_commit(w), CW_OK);
    cw_strings_free(&on);
    cw_strings_free(&vn);
}

static void assert_rows(const float *got, const float *x, const int64_t *cells, int64_t n) {
    for (int64_t r = 0; r < n; r++)
        for (int j = 0; j < N_COLS; j++)
            if (got[r * N_COLS + j] != x[cells[r] * N_COLS + j])
                fail_msg("row %lld (cell %lld) col %d: %g, expected %g", (long long)r,
                         (long long)cells[r], j, got[r * N_COLS + j], x[cells[r] * N_COLS + j]);
}

/* Every way of reading rows agrees with the values written, for a cap of `cap` bytes. */
static void check_file(const char *path, int64_t cap, int expect_streaming) {
    static float x[N_ROWS * N_COLS], got[4 * N_ROWS * N_COLS], dense[N_COLS];
    make_x(x);
    cw_h5ad *h;
    assert_int_equal(cw_h5ad_open(path, &h), CW_OK);
    cw_xstore s;
    assert_int_equal(cw_xstore_open(&s, h, cap), CW_OK);
    assert_int_equal(s.streaming, expect_streaming);
    assert_int_equal(s.nrows, N_ROWS);
    assert_int_equal(s.ncols, N_COLS);
    /* the stored fraction (the trainer's fc1 choice): the file's, whatever the mode */
    int64_t nz = 0;
    for (int64_t i = 0; i < N_ROWS * N_COLS; i++) nz += x[i] != 0;
    const double frac = s.dense ? 1.0 : (double)nz / (double)(N_ROWS * N_COLS);
    assert_true(fabs(cw_xstore_stored_fraction(&s) - frac) < 1e-12);
    assert_true(frac < 1.0 || s.dense);
    cw_rng r;
    cw_rng_seed(&r, 5);
    int64_t cells[4 * N_ROWS];
    /* small random gathers with repeats */
    for (int rep = 0; rep < 50; rep++) {
        int64_t n = 1 + (int64_t)cw_rng_below(&r, 40);
        for (int64_t i = 0; i < n; i++) cells[i] = (int64_t)cw_rng_below(&r, N_ROWS);
        if (rep % 3 == 0) cells[n - 1] = cells[0]; /* a repeat */
        assert_int_equal(cw_xstore_gather(&s, cells, n, got), CW_OK);
        assert_rows(got, x, cells, n);
        assert_true(cw_xstore_resident(&s, cells, n) || n * 8 * N_COLS > s.window_bytes);
    }
    /* the same rows as CSR, into buffers that grow and are reused */
    cw_csr c = {0, 0, 0, NULL, NULL, NULL};
    int64_t cap_rows = 0, cap_nnz = 0;
    for (int rep = 0; rep < 20; rep++) {
        int64_t n = 1 + (int64_t)cw_rng_below(&r, 12);
        for (int64_t i = 0; i < n; i++) cells[i] = (int64_t)cw_rng_below(&r, N_ROWS);
        if (cw_xstore_gather_csr(&s, cells, n, &c, &cap_rows, &cap_nnz) != CW_OK) {
            /* a streamed dense X holds three rows a window: more is refused, naming the cap */
            assert_true(expect_streaming && n > 3);
            assert_non_null(strstr(cw_errmsg(), "--memory-cap"));
            continue;
        }
        assert_int_equal(c.nrows, n);
        assert_int_equal(c.indptr[n], c.nnz);
        cw_csr_rows_to_dense(&c, 0, n, got);
        assert_rows(got, x, cells, n);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = c.indptr[i] + 1; k < c.indptr[i + 1]; k++)
                assert_true(c.indices[k - 1] < c.indices[k]);
    }
    cw_csr_free(&c);
    /* one gather of every row, shuffled, with repeats: larger than any window */
    for (int64_t i = 0; i < 4 * N_ROWS; i++) cells[i] = (i * 7919) % N_ROWS;
    assert_int_equal(cw_xstore_gather(&s, cells, 4 * N_ROWS, got), CW_OK);
    assert_rows(got, x, cells, 4 * N_ROWS);
    /* an explicit window, then gathers from it without reading */
    int64_t w[8] = {400, 3, 3, 17, 29, 58, 0, 402};
    int64_t nw = 8;
    if (cw_xstore_load(&s, w, nw) != CW_OK) { /* the dense windows hold three rows */
        assert_true(expect_streaming);
        nw = 3;
        if (cw_xstore_load(&s, w, nw) != CW_OK) fail_msg("%s", cw_errmsg());
    }
    int64_t loads = s.loads;
    assert_true(cw_xstore_resident(&s, w, nw));
    assert_int_equal(cw_xstore_gather(&s, w + 1, nw - 1, got), CW_OK);
    assert_rows(got, x, w + 1, nw - 1);
    assert_int_equal(s.loads, loads);
    /* blocks in file order cover every row once */
    int64_t covered = 0, nblocks = 0;
    for (int64_t r0 = 0, n = 0; r0 < N_ROWS; r0 += n, nblocks++) {
        cw_csr b;
        assert_int_equal(cw_xstore_block(&s, r0, N_ROWS, &b, &n), CW_OK);
        assert_true(n >= 1);
        for (int64_t i = 0; i < n; i++) {
            memset(dense, 0, sizeof dense);
            for (int64_t k = b.indptr[i]; k < b.indptr[i + 1]; k++) dense[b.indices[k]] = b.data[k];
            int64_t cell = r0 + i;
            assert_rows(dense, x, &cell, 1);
        }
        covered += n;
    }
    assert_int_equal(covered, N_ROWS);
    if (expect_streaming) assert_true(nblocks > 1);
    else assert_int_equal(nblocks, 1);
    /* a window beyond the budget is refused, naming the cap */
    if (expect_streaming) {
        for (int64_t i = 0; i < N_ROWS; i++) cells[i] = i;
        assert_int_equal(cw_xstore_load(&s, cells, N_ROWS), CW_EINVAL);
        assert_non_null(strstr(cw_errmsg(), "--memory-cap"));
    }
    /* out-of-range rows */
    int64_t bad = N_ROWS;
    assert_int_equal(cw_xstore_gather(&s, &bad, 1, got), CW_EINVAL);
    cw_xstore_close(&s);
    cw_h5ad_close(h);
}

static void test_csr_file(void **state) {
    (void)state;
    char path[512];
    cwt_path(path, sizeof path, "csr.h5ad");
    write_file(path, 1, 0);
    check_file(path, 0, 0);             /* no cap */
    check_file(path, 1 << 30, 0);       /* a cap that holds X */
    check_file(path, 8 * 404 + 2000, 1); /* row pointers + ~2000 bytes: a few rows a window */
    check_file(path, 8 * 404 + 20000, 1);
}

static void test_gzip_and_dense_files(void **state) {
    (void)state;
    char path[512];
    cwt_path(path, sizeof path, "csr_gzip.h5ad");
    write_file(path, 1, 4);
    check_file(path, 8 * 404 + 3000, 1);
    cwt_path(path, sizeof path, "dense.h5ad");
    write_file(path, 0, 0);
    check_file(path, 0, 0);
    check_file(path, 8 * (N_COLS + 2) * 3, 1); /* three dense rows a window */
    cwt_path(path, sizeof path, "dense_gzip.h5ad");
    write_file(path, 0, 3);
    check_file(path, 8 * (N_COLS + 2) * 5, 1);
}

static void test_cap_too_small(void **state) {
    (void)state;
    char path[512];
    cwt_path(path, sizeof path, "small_cap.h5ad");
    write_file(path, 1, 0);
    cw_h5ad *h;
    assert_int_equal(cw_h5ad_open(path, &h), CW_OK);
    cw_xstore s;
    assert_int_equal(cw_xstore_open(&s, h, 8 * 404 + 100), CW_EINVAL); /* < pointers + the widest row */
    assert_non_null(strstr(cw_errmsg(), "small_cap.h5ad"));
    assert_non_null(strstr(cw_errmsg(), "expected at least"));
    assert_null(s.file_indptr);
    cw_h5ad_close(h);
}

static void test_parse_bytes(void **state) {
    (void)state;
    assert_int_equal(cw_parse_bytes("4096"), 4096);
    assert_int_equal(cw_parse_bytes("48K"), 48 * 1024);
    assert_int_equal(cw_parse_bytes("512M"), 512LL << 20);
    assert_int_equal(cw_parse_bytes("2.5G"), 5LL << 29);
    assert_int_equal(cw_parse_bytes("1TB"), 1LL << 40);
    assert_int_equal(cw_parse_bytes("1g"), 1LL << 30);
    assert_int_equal(cw_parse_bytes(""), -1);
    assert_int_equal(cw_parse_bytes("lots"), -1);
    assert_int_equal(cw_parse_bytes("-1G"), -1);
    assert_int_equal(cw_parse_bytes("0"), -1);
    assert_int_equal(cw_parse_bytes("4X"), -1);
    assert_int_equal(cw_parse_bytes("nan"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csr_file),
        cmocka_unit_test(test_gzip_and_dense_files),
        cmocka_unit_test(test_cap_too_small),
        cmocka_unit_test(test_parse_bytes),
    };
    return cmocka_run_group_tests_name("xstore", tests, NULL, cwt_teardown);
}
