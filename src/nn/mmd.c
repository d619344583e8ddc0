/* mmd.c: multi-bandwidth MMD forward/backward (mmd.h, spec §5.1 item 1, §5.6).
 * Conventions: T = [x; y] is never materialised; the (N+M)^2 distance matrix is assembled from
 * three GEMM blocks (x x^T, y y^T, x y^T) and mirrored. Kernel sums are evaluated in double. */
#include "nn/mmd.h"

int64_t cw_mmd_scratch_size(int64_t n, int64_t m) { return (n + m) * (n + m); }

/* the double build (finite-difference gradient checks) takes an exp per kernel: the
 * squarings' rounding, 1e-14 relative, is noise to a central difference of the loss */
#ifdef CW_REAL_DOUBLE
#define MMD_EXP_EVERY 1
#else
#define MMD_EXP_EVERY 10
#endif

/* b_0 = sigma / 2^(kernel_num / 2) (kernel_mul 2, integer division as the reference) */
static double mmd_b0(double sigma, int64_t kernel_num) {
    return sigma / ldexp(1.0, (int)(kernel_num / 2));
}

/* e[q] = exp(-d / (b0 2^q)), q < kernel_num, widest kernel first: exp(-d / b) =
 * exp(-d / 2b)^2, so one exp in every MMD_EXP_EVERY kernels and squarings between (1 exp a
 * pair instead of 10 at the default 10 kernels). Each squaring doubles the relative error, so
 * every e[q] is within about 2^(MMD_EXP_EVERY - 1) ulp of exp: 6e-14 relative, in double, far
 * below the float the kernel values end in. */
static inline void mmd_exps(double *e, double d, double b0, int64_t kernel_num) {
    for (int64_t q = kernel_num - 1; q >= 0; q--)
        e[q] = (kernel_num - 1 - q) % MMD_EXP_EVERY == 0 ? exp(-d / ldexp(b0, (int)q))
                                                       : e[q + 1] * e[q + 1];
}

/* Weight of pair (i, j) of T in the V-statistic. */
static inline double mmd_coef(int64_t i, int64_t j, int64_t n, int64_t m) {
    int xi = i < n, xj = j < n;
    if (xi && xj) return 1.0 / ((double)n * (double)n);
    if (!xi && !xj) return 1.0 / ((double)m * (double)m);
    return -1.0 / ((double)n * (double)m);
}

/* pair loops run in parallel from this many pairs (each takes kernel_num / 8 exps and as many
 * multiplies), over rows interleaved (the rows shorten) */
#define MMD_PAR_MIN_PAIRS 512
#define MMD_PAR_ROWS 512

/* sum over j > i of coef(i, j) sum_q exp(-d_ij / b_q), row i of the upper triangle */
static double mmd_row_sum(const real *dist, int64_t i, int64_t n, int64_t m, double b0,
                          int64_t kernel_num) {
    const int64_t t = n + m;
    double row = 0;
    for (int64_t j = i + 1; j < t; j++) {
        double e[CW_MMD_MAX_KERNELS], k = 0;
        mmd_exps(e, dist[i * t + j], b0, kernel_num);
        for (int64_t q = 0; q < kernel_num; q++) k += e[q];
        row += mmd_coef(i, j, n, m) * k;
    }
    return row;
}

double cw_mmd_forward(real *dist, const real *x, const real *y, int64_t n, int64_t m, int64_t d,
                      double sigma, int64_t kernel_num) {
    CW_ASSERT(n > 0 && m > 0 && d >= 0 && sigma > 0 && kernel_num > 0 &&
              kernel_num <= CW_MMD_MAX_KERNELS);
    const int64_t t = n + m;
    /* Gram blocks of T T^T; the lower-left (y x^T) block is filled by mirroring below */
    cw_gemm(0, 1, n, n, d, 1, x, d, x, d, 0, dist, t);
    cw_gemm(0, 1, m, m, d, 1, y, d, y, d, 0, dist + n * t + n, t);
    cw_gemm(0, 1, n, m, d, 1, x, d, y, d, 0, dist + n, t);
    /* distances from the upper triangle; the diagonal (squared norms) is only read here */
    for (int64_t i = 0; i < t; i++) {
        const real gii = dist[i * t + i];
        for (int64_t j = i + 1; j < t; j++) {
            real v = gii + dist[j * t + j] - 2 * dist[i * t + j];
            v = v < 0 ? 0 : v; /* clamps rounding below 0; NaN stays NaN */
            dist[i * t + j] = v;
            dist[j * t + i] = v;
        }
    }
    for (int64_t i = 0; i < t; i++) dist[i * t + i] = 0;

    const double b0 = mmd_b0(sigma, kernel_num);
    /* each diagonal entry contributes K = kernel_num */
    double loss = (double)kernel_num * (1.0 / (double)n + 1.0 / (double)m);
    /* the rows' sums in parallel (rows of up to MMD_PAR_ROWS), added in row order */
    double rows[MMD_PAR_ROWS];
    for (int64_t i0 = 0; i0 < t; i0 += MMD_PAR_ROWS) {
        const int64_t i1 = t - i0 < MMD_PAR_ROWS ? t : i0 + MMD_PAR_ROWS;
#pragma omp parallel for schedule(static, 1) if ((i1 - i0) * (t - i0) >= MMD_PAR_MIN_PAIRS)
        for (int64_t i = i0; i < i1; i++) rows[i - i0] = mmd_row_sum(dist, i, n, m, b0, kernel_num);
        for (int64_t i = i0; i < i1; i++) loss += 2 * rows[i - i0]; /* (i, j) and (j, i) */
    }
    return loss;
}

/* the backward of both entry points: set_dx 1 overwrites dx, with the values accumulating into
 * zeros gives (0 + v, not v: the same bits, -0 included) */
static void mmd_backward(real *dx, real *dy, real *scratch, double dloss, const real *x,
                         const real *y, const real *dist, int64_t n, int64_t m, int64_t d,
                         double sigma, int64_t kernel_num, int set_dx) {
    CW_ASSERT(n > 0 && m > 0 && d >= 0 && sigma > 0 && kernel_num > 0 &&
              kernel_num <= CW_MMD_MAX_KERNELS);
    if (!dx && !dy) return;
    const int64_t t = n + m;
    const double b0 = mmd_b0(sigma, kernel_num);
    real *p = scratch;
    /* p_ij = c_ij w_ij (symmetric); the diagonal cancels in the gradient and is set to 0 */
#pragma omp parallel for schedule(static, 1) if (t * t / 2 >= MMD_PAR_MIN_PAIRS)
    for (int64_t i = 0; i < t; i++) {
        p[i * t + i] = 0;
        for (int64_t j = i + 1; j < t; j++) {
            double e[CW_MMD_MAX_KERNELS], w = 0, b = b0;
            mmd_exps(e, dist[i * t + j], b0, kernel_num);
            for (int64_t q = 0; q < kernel_num; q++, b *= 2) w += e[q] / b;
            const real v = (real)(mmd_coef(i, j, n, m) * w);
            p[i * t + j] = v;
            p[j * t + i] = v;
        }
    }
    /* grad_a = -4 dloss (r_a t_a - sum_j p_aj t_j),  r_a = sum_j p_aj */
    const real a4 = (real)(4.0 * dloss);
    if (dx) {
#pragma omp parallel for schedule(static) if (n * d >= CW_OMP_MIN_ELEMS)
        for (int64_t a = 0; a < n; a++) {
            double r = 0;
            for (int64_t j = 0; j < t; j++) r += p[a * t + j];
            const real s = (real)(-4.0 * dloss * r);
            if (set_dx)
                for (int64_t k = 0; k < d; k++) dx[a * d + k] = (real)0 + s * x[a * d + k];
            else
                for (int64_t k = 0; k < d; k++) dx[a * d + k] += s * x[a * d + k];
        }
        cw_gemm(0, 0, n, d, n, a4, p, t, x, d, 1, dx, d);     /* + 4 dloss p_xx x */
        cw_gemm(0, 0, n, d, m, a4, p + n, t, y, d, 1, dx, d); /* + 4 dloss p_xy y */
    }
    if (dy) {
#pragma omp parallel for schedule(static) if (m * d >= CW_OMP_MIN_ELEMS)
        for (int64_t a = 0; a < m; a++) {
            double r = 0;
            for (int64_t j = 0; j < t; j++) r += p[(n + a) * t + j];
            const real s = (real)(-4.0 * dloss * r);
            for (int64_t k = 0; k < d; k++) dy[a * d + k] += s * y[a * d + k];
        }
        cw_gemm(0, 0, m, d, n, a4, p + n * t, t, x, d, 1, dy, d);     /* + 4 dloss p_yx x */
        cw_gemm(0, 0, m, d, m, a4, p + n * t + n, t, y, d, 1, dy, d); /* + 4 dloss p_yy y */
    }
}

void cw_mmd_backward(real *dx, real *dy, real *scratch, double dloss, const real *x,
                     const real *y, const real *dist, int64_t n, int64_t m, int64_t d,
                     double sigma, int64_t kernel_num) {
    mmd_backward(dx, dy, scratch, dloss, x, y, dist, n, m, d, sigma, kernel_num, 0);
}

void cw_mmd_backward_set_dx(real *dx, real *dy, real *scratch, double dloss, const real *x,
                            const real *y, const real *dist, int64_t n, int64_t m, int64_t d,
                            double sigma, int64_t kernel_num) {
    mmd_backward(dx, dy, scratch, dloss, x, y, dist, n, m, d, sigma, kernel_num, 1);
}
