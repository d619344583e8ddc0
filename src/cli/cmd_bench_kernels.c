/* cmd_bench_kernels.c: `causeway bench kernels [--size tiny|norman|replogle] [--threads T]
 * [--json]`: the kernels of a CMVAE / GraCE-VAE training step at a model size (issue #6 item 1),
 * each validated against a straightforward double-precision reference loop on a small shape
 * before it is timed, and an sgemm peak measured in the same run.
 *
 * Kernels (B batch, G genes, H hidden, Z latent, N nodes, E directed edges; FLOPs 2 per
 * multiply-add):
 *   sgemm peak   cblas_sgemm n x n x n (n 2048; tiny 256)                 2 n^3
 *   fc1 fwd      cw_linear_forward (B,G) x (H,G)^T                        2BGH
 *   fc1 dW       cw_linear_backward weight: (B,H)^T x (B,G)              2BGH
 *   fc1 dx       cw_linear_backward input: (B,H) x (H,G) (grace only)     2BGH
 *   fc_mean fwd  (B,H) x (Z,H)^T                                          2BHZ
 *   fc_mean bwd  weight and input gradients                               4BHZ
 *   d1 fwd       (B,Z) x (H,Z)^T                                          2BZH
 *   d2 fwd       (B,H) x (G,H)^T                                          2BHG
 *   d2 dW        (B,G)^T x (B,H)                                          2BHG
 *   d2 da        (B,G) x (G,H)                                            2BHG
 *   spmm f1      cw_spmm, B cells, width 1 (the default 1-layer GNN)      2BE
 *   spmm f8      cw_spmm, B cells, width 8 (hidden GNN layers)            16BE
 *                (both node-major as the GNN encoder runs them: x (N, B f), one SpMM B f wide)
 *   mmd fwd      cw_mmd_forward, B vs B cells: 3 Gram blocks (+ kernels)  6B^2G
 *   mmd bwd      cw_mmd_backward d y_hat: 2 GEMMs (+ weights)             4B^2G
 *   dag fwd      cw_dag_forward, triangular solve                         BZ(Z-1)
 *   dag bwd      cw_dag_backward, transposed solve and dG                 2BZ(Z-1)
 *   adam         cw_adam_update over the cmvae parameter count P          13P (sqrt, division
 *                                                                         counted as 1 each)
 * Validation: shapes min(dim, 37) (B at most 5; a 23-node random graph), float kernel against a
 * double loop; the worst |got - ref| / (atol + rtol |ref|) over every output must be <= 1, with
 * atol = a * max|ref| per kernel (GEMMs rtol 1e-4, a 1e-5; MMD 1e-3, 1e-4; Adam 1e-5, 1e-6).
 * Any failure stops the run before timing (exit 1). Timing: 2 warm-up calls, then
 * max(10, min-time / first call) calls (at most 5000), CLOCK_MONOTONIC; median, p10, p90.
 */
#include "cli/cli.h"
#include "cli/cmd_bench_kernels.h"
#include "cli/cmd_extra.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/timer.h"
#include "la/blas_info.h"
#include "models/cmvae.h"
#include "nn/adam.h"
#include "nn/dag.h"
#include "nn/graph_conv.h"
#include "nn/linear.h"
#include "nn/mmd.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);

enum {
    K_PEAK, K_FC1_FWD, K_FC1_DW, K_FC1_DX, K_MEAN_FWD, K_MEAN_BWD, K_D1_FWD, K_D2_FWD, K_D2_DW,
    K_D2_DA, K_SPMM1, K_SPMM8, K_MMD_FWD, K_MMD_BWD, K_DAG_FWD, K_DAG_BWD, K_ADAM, K_N
};
static const char *const k_names[K_N] = {
    "sgemm peak", "fc1 fwd", "fc1 dW", "fc1 dx", "fc_mean fwd", "fc_mean bwd", "d1 fwd",
    "d2 fwd", "d2 dW", "d2 da", "spmm f1", "spmm f8", "mmd fwd", "mmd bwd", "dag fwd", "dag bwd",
    "adam"};

/* Shapes of one run: the model size, or the small validation shape. */
typedef struct {
    int64_t B, G, H, Z, N, P, peak_n;
    cw_graph graph;
    real *val; /* nnz spmm values */
    /* buffers (sized for the largest use) */
    real *xg, *yg, *dxg, *w_hg, *dw_hg, *bias_g, *bh, *dbh, *bh2, *w_zh, *dw_zh, *db, *bz, *bz2,
        *dbz, *w_zz, *dw_zz, *dagscr, *nodes_in, *nodes_out, *dist, *mmdscr, *ap, *ag, *am, *av,
        *pa, *pb, *pc;
    int64_t adam_t;
    void *block;
} kctx;

static void kctx_free(kctx *k) {
    cw_free(k->block);
    cw_free(k->val);
    cw_graph_free(&k->graph);
    memset(k, 0, sizeof *k);
}

/* Carves every buffer out of one allocation and fills them with seeded N(0, 0.1^2) values. */
static cw_status kctx_init(kctx *k, int64_t B, int64_t G, int64_t H, int64_t Z, int64_t N,
                           int64_t E, int64_t P, int64_t peak_n, uint64_t seed) {
    memset(k, 0, sizeof *k);
    k->B = B, k->G = G, k->H = H, k->Z = Z, k->N = N, k->P = P, k->peak_n = peak_n;
    CW_TRY(cli_bench_random_graph(&k->graph, N < G ? N : G, N, E, seed));
    const int64_t T = 2 * B;
    const int64_t sizes[] = {B * G, B * G, B * G, G * H, G * H, G, B * H, B * H, B * H, Z * H,
                             Z * H, G, B * Z, B * Z, B * Z, Z * Z, Z * Z, 2 * B * Z, 8 * B * N,
                             8 * B * N, T * T, T * T, P, P, P, P, peak_n * peak_n,
                             peak_n * peak_n, peak_n * peak_n};
    real **ptrs[] = {&k->xg, &k->yg, &k->dxg, &k->w_hg, &k->dw_hg, &k->bias_g, &k->bh, &k->dbh,
                     &k->bh2, &k->w_zh, &k->dw_zh, &k->db, &k->bz, &k->bz2, &k->dbz, &k->w_zz,
                     &k->dw_zz, &k->dagscr, &k->nodes_in, &k->nodes_out, &k->dist, &k->mmdscr,
                     &k->ap, &k->ag, &k->am, &k->av, &k->pa, &k->pb, &k->pc};
    const int nb = (int)(sizeof sizes / sizeof sizes[0]);
    int64_t total = 0;
    for (int i = 0; i < nb; i++) total += (sizes[i] + 15) / 16 * 16;
    k->block = cw_malloc_array((size_t)total, sizeof(real));
    k->val = cw_malloc_array((size_t)(k->graph.adj.nnz > 0 ? k->graph.adj.nnz : 1), sizeof(real));
    if (!k->block || !k->val) {
        kctx_free(k);
        return cw_fail(CW_ENOMEM, "bench kernels: out of memory for %lld values", (long long)total);
    }
    cw_rng r;
    cw_rng_substream(&r, seed, 3);
    real *p = k->block;
    for (int i = 0; i < nb; i++) {
        *ptrs[i] = p;
        for (int64_t j = 0; j < sizes[i]; j++) p[j] = (real)(0.1 * cw_rng_normal(&r));
        p += (sizes[i] + 15) / 16 * 16;
    }
    for (int64_t j = 0; j < P; j++) k->av[j] = k->av[j] * k->av[j]; /* second moments >= 0 */
    cw_sage_mean_values(k->val, NULL, k->graph.adj.indptr, k->graph.adj.indices, N);
    return CW_OK;
}

static double k_flops(const kctx *k, int id) {
    const double B = (double)k->B, G = (double)k->G, H = (double)k->H, Z = (double)k->Z;
    const double E = (double)k->graph.adj.nnz, n = (double)k->peak_n;
    switch (id) {
    case K_PEAK: return 2 * n * n * n;
    case K_FC1_FWD: case K_FC1_DW: case K_FC1_DX: case K_D2_FWD: case K_D2_DW: case K_D2_DA:
        return 2 * B * G * H;
    case K_MEAN_FWD: case K_D1_FWD: return 2 * B * H * Z;
    case K_MEAN_BWD: return 4 * B * H * Z;
    case K_SPMM1: return 2 * B * E;
    case K_SPMM8: return 16 * B * E;
    case K_MMD_FWD: return 6 * B * B * G;
    case K_MMD_BWD: return 4 * B * B * G;
    case K_DAG_FWD: return B * Z * (Z - 1);
    case K_DAG_BWD: return 2 * B * Z * (Z - 1);
    case K_ADAM: return 13 * (double)k->P;
    }
    return 0;
}

static void k_shape(const kctx *k, int id, char *s, size_t cap) {
    const long long B = k->B, G = k->G, H = k->H, Z = k->Z, N = k->N, E = k->graph.adj.nnz;
    switch (id) {
    case K_PEAK: snprintf(s, cap, "%lldx%lldx%lld", (long long)k->peak_n, (long long)k->peak_n,
                          (long long)k->peak_n); break;
    case K_FC1_FWD: snprintf(s, cap, "(%lld,%lld)x(%lld,%lld)^T", B, G, H, G); break;
    case K_FC1_DW: snprintf(s, cap, "(%lld,%lld)^Tx(%lld,%lld)", B, H, B, G); break;
    case K_FC1_DX: snprintf(s, cap, "(%lld,%lld)x(%lld,%lld)", B, H, H, G); break;
    case K_MEAN_FWD: snprintf(s, cap, "(%lld,%lld)x(%lld,%lld)^T", B, H, Z, H); break;
    case K_MEAN_BWD: snprintf(s, cap, "dW (%lld,%lld), dx (%lld,%lld)", Z, H, B, H); break;
    case K_D1_FWD: snprintf(s, cap, "(%lld,%lld)x(%lld,%lld)^T", B, Z, H, Z); break;
    case K_D2_FWD: snprintf(s, cap, "(%lld,%lld)x(%lld,%lld)^T", B, H, G, H); break;
    case K_D2_DW: snprintf(s, cap, "(%lld,%lld)^Tx(%lld,%lld)", B, G, B, H); break;
    case K_D2_DA: snprintf(s, cap, "(%lld,%lld)x(%lld,%lld)", B, G, G, H); break;
    case K_SPMM1: snprintf(s, cap, "%lld cells, %lld nodes, %lld edges, f 1", B, N, E); break;
    case K_SPMM8: snprintf(s, cap, "%lld cells, %lld nodes, %lld edges, f 8", B, N, E); break;
    case K_MMD_FWD: case K_MMD_BWD: snprintf(s, cap, "%lld vs %lld cells, %lld genes", B, B, G); break;
    case K_DAG_FWD: case K_DAG_BWD: snprintf(s, cap, "%lld rows, Z %lld", B, Z); break;
    case K_ADAM: snprintf(s, cap, "%lld parameters", (long long)k->P); break;
    }
}

/* One call of kernel id at k's shapes (accumulating kernels keep accumulating). */
static void k_run(kctx *k, int id) {
    const int64_t B = k->B, G = k->G, H = k->H, Z = k->Z, N = k->N, n = k->peak_n;
    const int64_t *ip = k->graph.adj.indptr;
    const int32_t *ix = k->graph.adj.indices;
    switch (id) {
    case K_PEAK:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f,
                    k->pa, (int)n, k->pb, (int)n, 0.0f, k->pc, (int)n);
        break;
    case K_FC1_FWD: cw_linear_forward(k->bh, k->xg, k->w_hg, k->bias_g, B, G, H); break;
    case K_FC1_DW: cw_linear_backward(NULL, k->dw_hg, NULL, k->bh, k->xg, k->w_hg, B, G, H); break;
    case K_FC1_DX: cw_linear_backward(k->dxg, NULL, NULL, k->bh, k->xg, k->w_hg, B, G, H); break;
    case K_MEAN_FWD: cw_linear_forward(k->bz, k->bh, k->w_zh, k->db, B, H, Z); break;
    case K_MEAN_BWD:
        cw_linear_backward(k->dbh, k->dw_zh, k->db, k->bz, k->bh, k->w_zh, B, H, Z);
        break;
    case K_D1_FWD: cw_linear_forward(k->bh2, k->bz, k->w_zh, k->db, B, Z, H); break;
    case K_D2_FWD: cw_linear_forward(k->yg, k->bh, k->w_hg, k->bias_g, B, H, G); break;
    case K_D2_DW: cw_linear_backward(NULL, k->dw_hg, NULL, k->yg, k->bh, k->w_hg, B, H, G); break;
    case K_D2_DA: cw_linear_backward(k->dbh, NULL, NULL, k->yg, k->bh, k->w_hg, B, H, G); break;
    case K_SPMM1: cw_spmm(k->nodes_out, k->nodes_in, ip, ix, k->val, NULL, 1, N, B * 1, 0); break;
    case K_SPMM8: cw_spmm(k->nodes_out, k->nodes_in, ip, ix, k->val, NULL, 1, N, B * 8, 0); break;
    case K_MMD_FWD: (void)cw_mmd_forward(k->dist, k->yg, k->xg, B, B, G, 1000.0, 10); break;
    case K_MMD_BWD:
        cw_mmd_backward(k->dxg, NULL, k->mmdscr, 1.0, k->yg, k->xg, k->dist, B, B, G, 1000.0, 10);
        break;
    case K_DAG_FWD: cw_dag_forward(k->bz2, k->bz, k->w_zz, B, Z); break;
    case K_DAG_BWD:
        cw_dag_backward(k->dbz, k->dw_zz, k->dagscr, k->bz, k->bz2, k->w_zz, B, Z);
        break;
    case K_ADAM:
        cw_adam_update(k->ap, k->ag, k->am, k->av, k->P, 1e-3, CW_ADAM_BETA1, CW_ADAM_BETA2,
                       CW_ADAM_EPS, ++k->adam_t);
        break;
    }
}

/* ---- validation: the kernel on k's (small) shapes against a double loop --------------------- */

typedef struct {
    double worst; /* max |got - ref| / (atol + rtol |ref|) */
} kcheck;

static void cmp(kcheck *c, const real *got, const double *ref, int64_t n, double rtol, double a) {
    double mx = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
    const double atol = a * mx + 1e-30;
    for (int64_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        if (!(e <= c->worst)) c->worst = isnan(e) ? INFINITY : fmax(c->worst, e);
    }
}

/* ref (n, out) = inp (n, in) W (out, in)^T + b */
static void ref_linear(double *ref, const real *inp, const real *w, const real *b, int64_t n,
                       int64_t in, int64_t out) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int64_t j = 0; j < in; j++) s += (double)inp[i * in + j] * w[o * in + j];
            ref[i * out + o] = s;
        }
}

/* dW_ref = dW0 + dout^T inp; dx_ref = dx0 + dout W; db_ref = db0 + colsum(dout) */
static void ref_linear_bwd(double *dx, double *dw, double *db, const real *dout, const real *inp,
                           const real *w, int64_t n, int64_t in, int64_t out) {
    if (dw)
        for (int64_t o = 0; o < out; o++)
            for (int64_t j = 0; j < in; j++) {
                double s = 0;
                for (int64_t i = 0; i < n; i++) s += (double)dout[i * out + o] * inp[i * in + j];
                dw[o * in + j] += s;
            }
    if (dx)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < in; j++) {
                double s = 0;
                for (int64_t o = 0; o < out; o++) s += (double)dout[i * out + o] * w[o * in + j];
                dx[i * in + j] += s;
            }
    if (db)
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < n; i++) db[o] += dout[i * out + o];
}

static void to_double(double *d, const real *s, int64_t n) {
    for (int64_t i = 0; i < n; i++) d[i] = s[i];
}

/* MMD of the header of nn/mmd.h, directly: loss and d loss / d x */
static double ref_mmd(double *dx, const real *x, const real *y, int64_t n, int64_t d) {
    const int64_t t = 2 * n;
    const double b0 = 1000.0 / 32.0; /* sigma 1000, kernel_num 10: 1000 / 2^5 */
    double loss = 0;
    for (int64_t i = 0; i < n * d; i++) dx[i] = 0;
    for (int64_t i = 0; i < t; i++)
        for (int64_t j = 0; j < t; j++) {
            const real *ti = i < n ? x + i * d : y + (i - n) * d;
            const real *tj = j < n ? x + j * d : y + (j - n) * d;
            double dist = 0;
            for (int64_t q = 0; q < d; q++) dist += ((double)ti[q] - tj[q]) * ((double)ti[q] - tj[q]);
            double kv = 0, wv = 0, b = b0;
            for (int q = 0; q < 10; q++, b *= 2) {
                kv += exp(-dist / b);
                wv += exp(-dist / b) / b;
            }
            const double c = (i < n) == (j < n) ? 1.0 / ((double)n * n) : -1.0 / ((double)n * n);
            loss += c * kv;
            if (i < n) /* -4 sum_j c_ij w_ij (t_i - t_j) */
                for (int64_t q = 0; q < d; q++) dx[i * d + q] += -4 * c * wv * ((double)ti[q] - tj[q]);
        }
    return loss;
}

static double validate(kctx *k, int id, double *scratch) {
    kcheck c = {0};
    const int64_t B = k->B, G = k->G, H = k->H, Z = k->Z, N = k->N, P = k->P, n = k->peak_n;
    double *r1 = scratch, *r2 = scratch + (1 << 16), *r3 = scratch + (2 << 16);
    switch (id) {
    case K_PEAK:
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t q = 0; q < n; q++) s += (double)k->pa[i * n + q] * k->pb[q * n + j];
                r1[i * n + j] = s;
            }
        k_run(k, id);
        cmp(&c, k->pc, r1, n * n, 1e-4, 1e-5);
        break;
    case K_FC1_FWD:
        ref_linear(r1, k->xg, k->w_hg, k->bias_g, B, G, H);
        k_run(k, id);
        cmp(&c, k->bh, r1, B * H, 1e-4, 1e-5);
        break;
    case K_FC1_DW:
        to_double(r1, k->dw_hg, H * G);
        ref_linear_bwd(NULL, r1, NULL, k->bh, k->xg, k->w_hg, B, G, H);
        k_run(k, id);
        cmp(&c, k->dw_hg, r1, H * G, 1e-4, 1e-5);
        break;
    case K_FC1_DX:
        to_double(r1, k->dxg, B * G);
        ref_linear_bwd(r1, NULL, NULL, k->bh, k->xg, k->w_hg, B, G, H);
        k_run(k, id);
        cmp(&c, k->dxg, r1, B * G, 1e-4, 1e-5);
        break;
    case K_MEAN_FWD:
        ref_linear(r1, k->bh, k->w_zh, k->db, B, H, Z);
        k_run(k, id);
        cmp(&c, k->bz, r1, B * Z, 1e-4, 1e-5);
        break;
    case K_MEAN_BWD:
        to_double(r1, k->dbh, B * H);
        to_double(r2, k->dw_zh, Z * H);
        to_double(r3, k->db, Z);
        ref_linear_bwd(r1, r2, r3, k->bz, k->bh, k->w_zh, B, H, Z);
        k_run(k, id);
        cmp(&c, k->dbh, r1, B * H, 1e-4, 1e-5);
        cmp(&c, k->dw_zh, r2, Z * H, 1e-4, 1e-5);
        cmp(&c, k->db, r3, Z, 1e-4, 1e-5);
        break;
    case K_D1_FWD:
        ref_linear(r1, k->bz, k->w_zh, k->db, B, Z, H);
        k_run(k, id);
        cmp(&c, k->bh2, r1, B * H, 1e-4, 1e-5);
        break;
    case K_D2_FWD:
        ref_linear(r1, k->bh, k->w_hg, k->bias_g, B, H, G);
        k_run(k, id);
        cmp(&c, k->yg, r1, B * G, 1e-4, 1e-5);
        break;
    case K_D2_DW:
        to_double(r1, k->dw_hg, G * H);
        ref_linear_bwd(NULL, r1, NULL, k->yg, k->bh, k->w_hg, B, H, G);
        k_run(k, id);
        cmp(&c, k->dw_hg, r1, G * H, 1e-4, 1e-5);
        break;
    case K_D2_DA:
        to_double(r1, k->dbh, B * H);
        ref_linear_bwd(r1, NULL, NULL, k->yg, k->bh, k->w_hg, B, H, G);
        k_run(k, id);
        cmp(&c, k->dbh, r1, B * H, 1e-4, 1e-5);
        break;
    case K_SPMM1: case K_SPMM8: {
        const int64_t f = id == K_SPMM1 ? 1 : 8;
        const int64_t *ip = k->graph.adj.indptr;
        const int32_t *ix = k->graph.adj.indices;
        /* node-major: node v, cell b, feature q at (v B + b) f + q */
        for (int64_t b = 0; b < B; b++)
            for (int64_t v = 0; v < N; v++)
                for (int64_t q = 0; q < f; q++) {
                    double s = 0;
                    for (int64_t e = ip[v]; e < ip[v + 1]; e++)
                        s += (double)k->val[e] * k->nodes_in[((int64_t)ix[e] * B + b) * f + q];
                    r1[(v * B + b) * f + q] = s;
                }
        k_run(k, id);
        cmp(&c, k->nodes_out, r1, B * N * f, 1e-4, 1e-5);
        break;
    }
    case K_MMD_FWD: {
        /* scale the rows so that distances reach the smaller bandwidths */
        for (int64_t i = 0; i < B * G; i++) k->yg[i] *= 20, k->xg[i] *= 20;
        const double ref = ref_mmd(r2, k->yg, k->xg, B, G);
        const double got = cw_mmd_forward(k->dist, k->yg, k->xg, B, B, G, 1000.0, 10);
        const real gr = (real)got;
        cmp(&c, &gr, &ref, 1, 1e-3, 1e-4);
        break;
    }
    case K_MMD_BWD: {
        (void)ref_mmd(r2, k->yg, k->xg, B, G); /* the rows scaled by the forward's check */
        for (int64_t i = 0; i < B * G; i++) r1[i] = k->dxg[i] + r2[i];
        (void)cw_mmd_forward(k->dist, k->yg, k->xg, B, B, G, 1000.0, 10);
        k_run(k, id);
        cmp(&c, k->dxg, r1, B * G, 1e-3, 1e-4);
        for (int64_t i = 0; i < B * G; i++) k->yg[i] /= 20, k->xg[i] /= 20;
        break;
    }
    case K_DAG_FWD:
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < Z; j++) {
                double s = k->bz[b * Z + j];
                for (int64_t i = 0; i < j; i++) s += (double)k->w_zz[i * Z + j] * r1[b * Z + i];
                r1[b * Z + j] = s; /* u_j = z'_j + sum_{i<j} A_ij u_i */
            }
        k_run(k, id);
        cmp(&c, k->bz2, r1, B * Z, 1e-4, 1e-5);
        break;
    case K_DAG_BWD: {
        /* v_i = du_i + sum_{j>i} A_ij v_j; dzp += v; dG_ij += sum_b u_bi v_bj (i < j) */
        double *v = r3;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = Z - 1; i >= 0; i--) {
                double s = k->bz[b * Z + i];
                for (int64_t j = i + 1; j < Z; j++) s += (double)k->w_zz[i * Z + j] * v[b * Z + j];
                v[b * Z + i] = s;
            }
        to_double(r1, k->dbz, B * Z);
        to_double(r2, k->dw_zz, Z * Z);
        for (int64_t i = 0; i < B * Z; i++) r1[i] += v[i];
        for (int64_t i = 0; i < Z; i++)
            for (int64_t j = i + 1; j < Z; j++)
                for (int64_t b = 0; b < B; b++) r2[i * Z + j] += (double)k->bz2[b * Z + i] * v[b * Z + j];
        k_run(k, id);
        cmp(&c, k->dbz, r1, B * Z, 1e-4, 1e-5);
        cmp(&c, k->dw_zz, r2, Z * Z, 1e-4, 1e-5);
        break;
    }
    case K_ADAM: {
        /* three steps of torch's formula in double: r1 params, r2 m, r3 v */
        to_double(r1, k->ap, P);
        to_double(r2, k->am, P);
        to_double(r3, k->av, P);
        for (int step = 1; step <= 3; step++) {
            const double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow(0.999, step);
            for (int64_t i = 0; i < P; i++) {
                const double g = k->ag[i];
                r2[i] = 0.9 * r2[i] + 0.1 * g;
                r3[i] = 0.999 * r3[i] + 0.001 * g * g;
                r1[i] -= 1e-3 / bc1 * r2[i] / (sqrt(r3[i]) / sqrt(bc2) + 1e-8);
            }
            k_run(k, id);
        }
        k->adam_t = 0;
        cmp(&c, k->ap, r1, P, 1e-5, 1e-6);
        cmp(&c, k->am, r2, P, 1e-5, 1e-6);
        cmp(&c, k->av, r3, P, 1e-5, 1e-6);
        break;
    }
    }
    return c.worst;
}

static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

/* The cmvae parameter count at a size (the table of models/cmvae.c, C = Z). */
static cw_status model_params(int64_t G, int64_t Z, int64_t H, int64_t B, int64_t *P) {
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, G, Z, Z);
    cfg.hidden = H;
    cfg.batch = B;
    cw_rng r;
    cw_rng_seed(&r, 1);
    cw_cmvae m;
    cw_status st = cw_cmvae_init(&m, &cfg, &r);
    *P = st == CW_OK ? cw_cmvae_n_params(&m) : 0;
    cw_cmvae_free(&m);
    return st;
}

static void bk_help(void) {
    printf("usage: causeway bench kernels [--size tiny|norman|replogle] [--threads T]\n"
           "                              [--min-time S] [--seed S] [--json]\n\n"
           "Times the kernels of a CMVAE / GraCE-VAE training step at a model size (the encoder\n"
           "and decoder GEMMs, the GNN's CSR SpMM on a random graph, MMD, the DAG triangular\n"
           "solves, Adam over the parameter count) after validating each against a double\n"
           "reference loop on a small shape, plus an sgemm peak (2048^3; tiny 256^3) measured in\n"
           "the same run. Prints median / p10 / p90 ms, GFLOP/s and each kernel's fraction of\n"
           "the sgemm peak.\n\n"
           "  --size S       tiny | norman (default) | replogle (see bench train --help)\n"
           "  --threads T    OpenMP and OpenBLAS threads (0 = default)\n"
           "  --min-time S   seconds of timed calls per kernel, at least 10 calls (0.25)\n"
           "  --seed S       seed of the data and the graph (0)\n"
           "  --json         one JSON object instead of the table\n");
}

int cmd_bench_kernels(int argc, char **argv) {
    const char *cmd = "bench kernels";
    const char *size_name = "norman";
    int64_t threads = 0;
    double min_time = 0.25;
    uint64_t seed = 0;
    int as_json = 0, bad = 0;
    enum { O_SIZE = 256, O_THR, O_MIN, O_SEED, O_JSON };
    static const struct option opts[] = {{"size", required_argument, 0, O_SIZE},
                                         {"threads", required_argument, 0, O_THR},
                                         {"min-time", required_argument, 0, O_MIN},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"json", no_argument, 0, O_JSON},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': bk_help(); return 0;
        case O_SIZE: size_name = optarg; break;
        case O_THR: bad = cli_parse_i64(cmd, "--threads", optarg, 0, 4096, &threads); break;
        case O_MIN: bad = cli_parse_f64(cmd, "--min-time", optarg, 0, 3600, &min_time); break;
        case O_SEED: bad = cli_parse_u64(cmd, "--seed", optarg, &seed); break;
        case O_JSON: as_json = 1; break;
        default: return 2;
        }
    }
    if (bad) return 2;
    if (optind != argc) return cli_error(cmd, "unexpected argument '%s'", argv[optind]);
    cli_bench_size sz;
    if (cli_bench_size_lookup(size_name, &sz))
        return cli_error(cmd, "--size: unknown size '%s' (tiny, norman, replogle)", size_name);
    if (threads > 0) {
        omp_set_num_threads((int)threads);
        openblas_set_num_threads((int)threads);
    }
    const int64_t peak_n = strcmp(sz.name, "tiny") == 0 ? 256 : 2048;
    int64_t P = 0;
    cw_status st = model_params(sz.genes, sz.latent, sz.hidden, sz.batch, &P);
    if (st) return cli_fail(cmd, st);

    /* validation on small shapes */
    kctx k;
    double worst[K_N];
    double *scratch = cw_malloc_array((size_t)3 << 16, sizeof(double));
    if (!scratch) return cli_fail(cmd, cw_fail(CW_ENOMEM, "out of memory"));
    st = kctx_init(&k, imin(sz.batch, 5), imin(sz.genes, 37), imin(sz.hidden, 37),
                   imin(sz.latent, 37), 23, 60, 1000, 33, seed + 1);
    if (st) {
        cw_free(scratch);
        return cli_fail(cmd, st);
    }
    char vshape[K_N][64];
    int failed = 0;
    for (int id = 0; id < K_N; id++) {
        k_shape(&k, id, vshape[id], sizeof vshape[id]);
        worst[id] = validate(&k, id, scratch);
        if (!(worst[id] <= 1)) {
            fprintf(stderr, "causeway bench kernels: validation FAILED: %s at %s: worst error "
                    "%.3g x the tolerance\n", k_names[id], vshape[id], worst[id]);
            failed++;
        }
    }
    kctx_free(&k);
    cw_free(scratch);
    if (failed) return 1;

    st = kctx_init(&k, sz.batch, sz.genes, sz.hidden, sz.latent, sz.nodes, sz.edges, P, peak_n,
                   seed);
    if (st) return cli_fail(cmd, st);
    double med[K_N], p10[K_N], p90[K_N];
    double *t = calloc(5000, sizeof(double));
    if (!t) {
        kctx_free(&k);
        return cli_fail(cmd, cw_fail(CW_ENOMEM, "out of memory"));
    }
    for (int id = 0; id < K_N; id++) {
        k_run(&k, id);
        k_run(&k, id);
        double t0 = cw_now();
        k_run(&k, id);
        const double first = cw_now() - t0;
        int64_t reps = first > 0 ? (int64_t)(min_time / first) : 5000;
        reps = reps < 10 ? 10 : reps > 5000 ? 5000 : reps;
        for (int64_t i = 0; i < reps; i++) {
            t0 = cw_now();
            k_run(&k, id);
            t[i] = cw_now() - t0;
        }
        p10[id] = cw_quantile(t, (int)reps, 0.10) * 1e3;
        med[id] = cw_quantile(t, (int)reps, 0.50) * 1e3;
        p90[id] = cw_quantile(t, (int)reps, 0.90) * 1e3;
    }
    free(t);
    const double peak = k_flops(&k, K_PEAK) / (med[K_PEAK] * 1e-3) / 1e9;
    char commit[64];
    cli_git_commit(commit, sizeof commit);
    const char *core = cw_blas_core();
    char blas[160];
    cw_blas_describe(blas, sizeof blas);
    if (as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "size", json_string(sz.name));
        json_object_set_new(o, "genes", json_integer(sz.genes));
        json_object_set_new(o, "latent_dim", json_integer(sz.latent));
        json_object_set_new(o, "hidden", json_integer(sz.hidden));
        json_object_set_new(o, "batch_size", json_integer(sz.batch));
        json_object_set_new(o, "nodes", json_integer(sz.nodes));
        json_object_set_new(o, "edges", json_integer(k.graph.adj.nnz));
        json_object_set_new(o, "params", json_integer(P));
        json_object_set_new(o, "threads", json_integer(omp_get_max_threads()));
        json_object_set_new(o, "openblas_core", json_string(core));
        json_object_set_new(o, "openblas_core_forced", json_boolean(cw_blas_core_forced()));
        json_object_set_new(o, "gemm_small", json_boolean(cw_gemm_small_available()));
        json_object_set_new(o, "commit", json_string(commit));
        json_object_set_new(o, "sgemm_peak_gflops", json_real(peak));
        json_object_set_new(o, "validated", json_true());
        json_t *arr = json_array();
        for (int id = 0; id < K_N; id++) {
            char shape[64];
            k_shape(&k, id, shape, sizeof shape);
            const double gf = k_flops(&k, id) / (med[id] * 1e-3) / 1e9;
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:s,s:b,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "name",
                               k_names[id], "shape", shape, "validation_shape", vshape[id],
                               "validated", 1, "max_err_over_tol", worst[id], "flops",
                               k_flops(&k, id), "median_ms", med[id], "p10_ms", p10[id],
                               "p90_ms", p90[id], "gflops", gf, "peak_fraction", gf / peak));
        }
        json_object_set_new(o, "kernels", arr);
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        cli_bench_context(stdout);
        printf("size %s: genes %lld, latent %lld, hidden %lld, batch %lld; random graph %lld "
               "nodes / %lld directed edges; %lld parameters (cmvae)\n",
               sz.name, (long long)sz.genes, (long long)sz.latent, (long long)sz.hidden,
               (long long)sz.batch, (long long)sz.nodes, (long long)k.graph.adj.nnz,
               (long long)P);
        double vw = 0;
        for (int id = 0; id < K_N; id++) vw = fmax(vw, worst[id]);
        printf("validation: ok, all %d kernels match the double reference on small shapes "
               "(worst error %.3g x the tolerance)\n", K_N, vw);
        printf("%-12s %-40s %10s %10s %10s %10s %8s %9s\n", "kernel", "shape", "median ms",
               "p10 ms", "p90 ms", "GFLOP/s", "% peak", "val.err");
        for (int id = 0; id < K_N; id++) {
            char shape[64];
            k_shape(&k, id, shape, sizeof shape);
            const double gf = k_flops(&k, id) / (med[id] * 1e-3) / 1e9;
            printf("%-12s %-40s %10.4f %10.4f %10.4f %10.2f %7.1f%% %9.2g\n", k_names[id], shape,
                   med[id], p10[id], p90[id], gf, 100 * gf / peak, worst[id]);
        }
        printf("sgemm peak (this run): %.2f GFLOP/s; %% peak = kernel GFLOP/s / sgemm peak; "
               "val.err = worst |got - ref| / (atol + rtol |ref|) of the validation\n", peak);
    }
    kctx_free(&k);
    return 0;
}
