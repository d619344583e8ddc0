/* dag.c: DAG layer forward/backward by triangular solves (dag.h, spec §4.0, §5.6).
 * Inner loops are contiguous axpys (vectorisable, summation order independent of -march). */
#include "nn/dag.h"

#include <string.h>

int64_t cw_dag_scratch_size(int64_t n, int64_t z) { return 2 * n * z; }

/* rows are independent: parallel only when the batch is large. The forward splits from 2^18
 * multiply-adds (Norman size, 32 rows, Z 105: 25 -> 16 us on 2 threads); the backward's dG
 * rows shrink along the triangle, so a static split of them pays only from 2^20 (at Norman size
 * it measured 41-48 us split against 40-43 whole) */
#define DAG_FWD_OMP_MIN_WORK ((int64_t)1 << 18)
#define DAG_OMP_MIN_WORK ((int64_t)1 << 20)

void cw_dag_forward(real *u, const real *zp, const real *g, int64_t n, int64_t z) {
#pragma omp parallel for schedule(static) if (n * z * z >= DAG_FWD_OMP_MIN_WORK)
    for (int64_t b = 0; b < n; b++) {
        real *ub = u + b * z;
        if (ub != zp + b * z) memcpy(ub, zp + b * z, (size_t)z * sizeof(real));
        /* u_i is final once all i' < i have pushed their contributions into it */
        for (int64_t i = 0; i < z; i++) {
            const real ui = ub[i];
            const real *gi = g + i * z;
            for (int64_t j = i + 1; j < z; j++) ub[j] += gi[j] * ui;
        }
    }
}

void cw_dag_backward(real *dzp, real *dg, real *scratch, const real *du, const real *u,
                     const real *g, int64_t n, int64_t z) {
    if (!dzp && !dg) return;
    /* v (I - A)^T = du, i.e. v_i = du_i + sum_{j>i} A_ij v_j from i = Z-1 down. The solve runs
     * on v transposed (Z, N), so that each step is an axpy along the batch rather than a dot
     * product along a row (a dependency chain per row: 3x slower at N 32, Z 105). */
    real *vt = scratch;        /* (Z, N) */
    real *v = scratch + n * z; /* (N, Z) */
    for (int64_t i = z - 1; i >= 0; i--) {
        real *vti = vt + i * n;
        for (int64_t b = 0; b < n; b++) vti[b] = du[b * z + i];
        const real *gi = g + i * z;
        for (int64_t j = i + 1; j < z; j++) {
            const real a = gi[j];
            const real *vtj = vt + j * n;
            for (int64_t b = 0; b < n; b++) vti[b] += a * vtj[b];
        }
    }
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < z; i++) v[b * z + i] = vt[i * n + b];
    if (dzp) {
        for (int64_t k = 0; k < n * z; k++) dzp[k] += v[k];
    }
    if (dg) {
        /* dG_ij += sum_b u_bi v_bj, i < j */
#pragma omp parallel for schedule(static) if (n * z * z >= DAG_OMP_MIN_WORK)
        for (int64_t i = 0; i < z; i++) {
            real *dgi = dg + i * z;
            for (int64_t b = 0; b < n; b++) {
                const real ubi = u[b * z + i];
                const real *vb = v + b * z;
                for (int64_t j = i + 1; j < z; j++) dgi[j] += ubi * vb[j];
            }
        }
    }
}
