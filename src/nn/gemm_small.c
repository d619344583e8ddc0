/* gemm_small.c: AVX-512 register kernels for float GEMMs of at most CW_GEMM_SMALL_MAX_M rows
 * (gemm_small.h; issue #6 item 3). The kernels are compiled for AVX-512 whatever the build's
 * -march (a target pragma) and run only after the CPU said it has it. */
#include "nn/gemm_small.h"

#include "nn/real.h"
#include "nn/transpose.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if CW_TR8_AVX && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SMALL_BUILT 1
#else
#define SMALL_BUILT 0
#endif

static int cpu_ok = -1; /* the CPU runs the kernels: -1 not asked yet */
static int small_on = -1; /* the kernels are in use: -1 not decided yet */

static int cpu_has_avx512(void) {
#if SMALL_BUILT
    if (cpu_ok < 0) {
        __builtin_cpu_init();
        cpu_ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512dq");
    }
    return cpu_ok;
#else
    return 0;
#endif
}

int cw_gemm_small_available(void) {
    if (small_on < 0) {
        const char *e = getenv("CW_GEMM_SMALL");
        small_on = cpu_has_avx512() && !(e && strcmp(e, "0") == 0);
    }
    return small_on;
}

int cw_gemm_small_set(int on) {
    const int old = cw_gemm_small_available();
    small_on = on && cpu_has_avx512();
    return old;
}

int cw_gemm_small_kchunks(int64_t m, int64_t n, int64_t k) {
    return cw_gemm_ksplit_chunks(0, 1, m, n, k); /* the shape part of real.h's rule */
}

#if SMALL_BUILT
/* the calling thread's buffer for op(A)^T, grown on demand, 64-byte aligned (kept for the
 * thread's life: the step calls with the same shapes every time, so it allocates once) */
static _Thread_local float *at_buf;
static _Thread_local size_t at_cap;

static float *at_buffer(size_t count) {
    if (count <= at_cap) return at_buf;
    void *p = NULL;
    if (posix_memalign(&p, 64, count * sizeof(float)) != 0) return NULL;
    free(at_buf);
    at_buf = p;
    at_cap = count;
    return at_buf;
}

/* threads for `units` units of work of `work` multiply-adds in all */
static int team_size(int64_t units, int64_t work) {
    const int t = omp_get_max_threads();
    if (t < 2 || work < CW_GEMM_SPLIT_MIN_WORK) return 1;
    return units < t ? (int)(units > 0 ? units : 1) : t;
}

/* the share [u0, u1) of `units` of thread tid of nt */
static void share(int64_t units, int tid, int nt, int64_t *u0, int64_t *u1) {
    *u0 = units * tid / nt;
    *u1 = units * (tid + 1) / nt;
}

/* one chunk's partial product: K [l0, l1) into pc (m, n) */
typedef void (*chunk_fn)(const void *ctx, int64_t l0, int64_t l1, float *pc);

/* C = alpha (the nc K chunks' partial products, in part, added in chunk order) + beta C: the
 * chunks shared by the threads, each computed by one */
static void ksplit(int nc, int64_t m, int64_t n, int64_t k, float alpha, float beta, float *c,
                   int64_t ldc, float *part, chunk_fn f, const void *ctx) {
    const int nt = team_size(nc, m * n * k);
#pragma omp parallel for schedule(static, 1) num_threads(nt) if (nt > 1)
    for (int ic = 0; ic < nc; ic++) {
        int64_t l0, l1;
        cw_gemm_ksplit_range(k, nc, ic, &l0, &l1);
        float *pc = part + ic * m * n;
        if (l1 > l0)
            f(ctx, l0, l1, pc);
        else
            memset(pc, 0, (size_t)(m * n) * sizeof(float));
    }
    cw_gemm_ksplit_sum(part, m * n, nc, m, n, alpha, beta, c, ldc);
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx2,fma")
#include <immintrin.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- B not transposed ---------------------------------------------------------------------- */

#define NN_NV 4        /* vectors of 16 columns per panel */
#define NN_PANEL 64    /* NN_NV * 16 */
#define NN_MR 6        /* rows of C per register tile at most */

typedef struct {
    int64_t m, n, k;
    float alpha, beta;
    const float *a; /* op(A)[i][l] = a[i sai + l sak] */
    int64_t sai, sak;
    const float *b;
    int64_t ldb;
    float *c;
    int64_t ldc;
} nn_args;

/* lines to prefetch while a chunk runs: nb lines of B (4 per row: a panel's 64 columns), then
 * nc of C, numbered q = 0.. and issued two per k step */
typedef struct {
    const float *b;
    int64_t ldb, nb;
    const float *c;
    int64_t ldc, nc;
} nn_pf;

static ALWAYS_INLINE int64_t nn_pf_step(const nn_pf *s, int64_t q) {
    if (q < s->nb) {
        _mm_prefetch((const char *)(s->b + (q >> 2) * s->ldb + (q & 3) * 16), _MM_HINT_T0);
        return q + 1;
    }
    if (q < s->nb + s->nc) {
        const int64_t r = q - s->nb;
        __builtin_prefetch(s->c + (r >> 2) * s->ldc + (r & 3) * 16, 1, 3);
        return q + 1;
    }
    return q;
}

/* rows [i0, i0 + MR) of C by the panel at column j0 (masks mk per vector), k from k0 to k1:
 * the sums start from 0 (first) or from part (the panel's partial sums, (m, NN_PANEL)), and end
 * in C (last: alpha sum + beta C) or back in part */
static ALWAYS_INLINE int64_t nn_rows(const nn_args *p, const int MR, int64_t i0, int64_t j0,
                                     const __mmask16 *mk, int64_t k0, int64_t k1, int first,
                                     int last, float *part, const nn_pf *pf, int64_t q) {
    __m512 acc[NN_MR][NN_NV];
    const float *ar[NN_MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        ar[r] = p->a + (i0 + r) * p->sai;
#pragma GCC unroll 4
        for (int v = 0; v < NN_NV; v++)
            acc[r][v] = first ? _mm512_setzero_ps()
                              : _mm512_load_ps(part + (i0 + r) * NN_PANEL + 16 * v);
    }
    const int64_t sak = p->sak;
    for (int64_t l = k0; l < k1; l++) {
        const float *brow = p->b + l * p->ldb + j0;
        __m512 bv[NN_NV];
#pragma GCC unroll 4
        for (int v = 0; v < NN_NV; v++) bv[v] = _mm512_maskz_loadu_ps(mk[v], brow + 16 * v);
        q = nn_pf_step(pf, nn_pf_step(pf, q));
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const __m512 x = _mm512_set1_ps(ar[r][l * sak]);
#pragma GCC unroll 4
            for (int v = 0; v < NN_NV; v++) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
    const __m512 va = _mm512_set1_ps(p->alpha), vb = _mm512_set1_ps(p->beta);
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NN_NV; v++) {
            if (!last) {
                _mm512_store_ps(part + (i0 + r) * NN_PANEL + 16 * v, acc[r][v]);
                continue;
            }
            float *cp = p->c + (i0 + r) * p->ldc + j0 + 16 * v;
            __m512 o = _mm512_mul_ps(va, acc[r][v]);
            if (p->beta != 0) o = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk[v], cp), o);
            _mm512_mask_storeu_ps(cp, mk[v], o);
        }
    return q;
}

static int64_t nn_rows_any(const nn_args *p, int mr, int64_t i0, int64_t j0,
                           const __mmask16 *mk, int64_t k0, int64_t k1, int first, int last,
                           float *part, const nn_pf *pf, int64_t q) {
    switch (mr) {
    case 1: return nn_rows(p, 1, i0, j0, mk, k0, k1, first, last, part, pf, q);
    case 2: return nn_rows(p, 2, i0, j0, mk, k0, k1, first, last, part, pf, q);
    case 3: return nn_rows(p, 3, i0, j0, mk, k0, k1, first, last, part, pf, q);
    case 4: return nn_rows(p, 4, i0, j0, mk, k0, k1, first, last, part, pf, q);
    case 5: return nn_rows(p, 5, i0, j0, mk, k0, k1, first, last, part, pf, q);
    default: return nn_rows(p, 6, i0, j0, mk, k0, k1, first, last, part, pf, q);
    }
}

/* the panels [q0, q1) of 64 columns: chunk by chunk of K, row group by row group */
static void nn_panels(const nn_args *p, int64_t q0, int64_t q1) {
    float part[CW_GEMM_SMALL_MAX_M * NN_PANEL] __attribute__((aligned(64)));
    const int64_t groups = (p->m + NN_MR - 1) / NN_MR;
    for (int64_t q = q0; q < q1; q++) {
        const int64_t j0 = q * NN_PANEL;
        __mmask16 mk[NN_NV];
        for (int v = 0; v < NN_NV; v++) {
            const int64_t left = p->n - j0 - 16 * v;
            mk[v] = left >= 16 ? (__mmask16)0xFFFF
                    : left > 0 ? (__mmask16)((1u << left) - 1)
                               : (__mmask16)0;
        }
        for (int64_t k0 = 0; k0 < p->k; k0 += CW_GEMM_SMALL_KC) {
            const int64_t k1 = p->k - k0 > CW_GEMM_SMALL_KC ? k0 + CW_GEMM_SMALL_KC : p->k;
            /* while this chunk runs: the next chunk's rows of B, or the next panel's first
             * chunk and its lines of C */
            nn_pf pf = {NULL, p->ldb, 0, NULL, p->ldc, 0};
            if (k1 < p->k) {
                pf.b = p->b + k1 * p->ldb + j0;
                pf.nb = 4 * (p->k - k1 < CW_GEMM_SMALL_KC ? p->k - k1 : CW_GEMM_SMALL_KC);
            } else if (q + 1 < q1) {
                pf.b = p->b + j0 + NN_PANEL;
                pf.nb = 4 * (p->k < CW_GEMM_SMALL_KC ? p->k : CW_GEMM_SMALL_KC);
                pf.c = p->c + j0 + NN_PANEL;
                pf.nc = 4 * p->m;
            }
            int64_t pq = 0;
            for (int64_t g = 0; g < groups; g++) {
                const int64_t i0 = p->m * g / groups, i1 = p->m * (g + 1) / groups;
                pq = nn_rows_any(p, (int)(i1 - i0), i0, j0, mk, k0, k1, k0 == 0, k1 == p->k,
                                 part, &pf, pq);
            }
        }
    }
}

/* nn_args's product over K [l0, l1), into pc (m, n) */
static void nn_chunk(const void *ctx, int64_t l0, int64_t l1, float *pc) {
    const nn_args *p = ctx;
    const nn_args q = {p->m,       p->n,   l1 - l0, 1,     0, p->a + l0 * p->sak, p->sai, p->sak,
                       p->b + l0 * p->ldb, p->ldb, pc,      p->n};
    nn_panels(&q, 0, (p->n + NN_PANEL - 1) / NN_PANEL);
}

static int gemm_nn(int trans_a, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc) {
    const nn_args p = {m,    n,     k, alpha, beta, a, trans_a ? 1 : lda, trans_a ? lda : 1,
                       b,    ldb,   c, ldc};
    /* a small output with a long K (the decoder's d_a = dpre W2): K chunks, one partial product
     * per chunk (each thread streams whole rows of B instead of half of every row), added in
     * chunk order */
    const int nc = cw_gemm_small_kchunks(m, n, k);
    float *part = nc > 1 ? at_buffer((size_t)(nc * m * n)) : NULL;
    if (nc > 1 && !part) return 0;
    if (part) {
        ksplit(nc, m, n, k, alpha, beta, c, ldc, part, nn_chunk, &p);
        return 1;
    }
    const int64_t panels = (n + NN_PANEL - 1) / NN_PANEL;
    const int nt = team_size(panels, m * n * k);
    if (nt < 2) {
        nn_panels(&p, 0, panels);
        return 1;
    }
#pragma omp parallel num_threads(nt)
    {
        int64_t q0, q1;
        share(panels, omp_get_thread_num(), omp_get_num_threads(), &q0, &q1);
        nn_panels(&p, q0, q1);
    }
    return 1;
}

/* ---- B transposed -------------------------------------------------------------------------- */

#define NT_JR 8 /* rows of B per register tile */
#define NT_PREFETCH_MAX_K 1024

/* 8 rows of B from j0 (jr of them real; the others repeat row j0 and are not stored) by the
 * 16 NV columns of op(A)^T from i0, over all of K, into C (alpha sum + beta C) */
static ALWAYS_INLINE void nt_tile(const int NV, const float *at, int64_t mp, int64_t m,
                                  int64_t i0, const float *b, int64_t ldb, int64_t k, int64_t j0,
                                  int jr, float alpha, float beta, float *c, int64_t ldc,
                                  const float *pb, float *pc) {
    __m512 acc[NT_JR][2];
    const float *br[NT_JR];
#pragma GCC unroll 8
    for (int jj = 0; jj < NT_JR; jj++) {
        br[jj] = b + (j0 + (jj < jr ? jj : 0)) * ldb;
        acc[jj][0] = acc[jj][1] = _mm512_setzero_ps();
    }
    const float *ap = at + i0;
    for (int64_t l = 0; l < k; l++, ap += mp) {
        const __m512 x0 = _mm512_load_ps(ap);
        const __m512 x1 = NV == 2 ? _mm512_load_ps(ap + 16) : x0;
        if (pb) { /* the next tile's rows of B (even l) and of C (odd l), one line each */
            const int64_t q = l >> 1;
            if (!(l & 1))
                _mm_prefetch((const char *)(pb + (q & 7) * ldb + (q >> 3) * 16), _MM_HINT_T0);
            else if (q < m)
                __builtin_prefetch(pc + q * ldc, 1, 3);
        }
#pragma GCC unroll 8
        for (int jj = 0; jj < NT_JR; jj++) {
            const __m512 w = _mm512_set1_ps(br[jj][l]);
            acc[jj][0] = _mm512_fmadd_ps(w, x0, acc[jj][0]);
            if (NV == 2) acc[jj][1] = _mm512_fmadd_ps(w, x1, acc[jj][1]);
        }
    }
    const __mmask8 jm = (__mmask8)((1u << jr) - 1);
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int v = 0; v < NV; v++)
        for (int h = 0; h < 2; h++) {
            __m256 r[NT_JR];
#pragma GCC unroll 8
            for (int jj = 0; jj < NT_JR; jj++)
                r[jj] = h == 0 ? _mm512_castps512_ps256(acc[jj][v])
                               : _mm512_extractf32x8_ps(acc[jj][v], 1);
            cw_tr8(r); /* r[q] lane jj: C[i0 + 16 v + 8 h + q][j0 + jj] */
            for (int q = 0; q < 8; q++) {
                const int64_t i = i0 + 16 * v + 8 * h + q;
                if (i >= m) break;
                float *cp = c + i * ldc + j0;
                __m256 o = _mm256_mul_ps(va, r[q]);
                if (beta != 0) o = _mm256_fmadd_ps(vb, _mm256_maskz_loadu_ps(jm, cp), o);
                _mm256_mask_storeu_ps(cp, jm, o);
            }
        }
}

static void nt_tile_1(const float *at, int64_t mp, int64_t m, int64_t i0, const float *b,
                      int64_t ldb, int64_t k, int64_t j0, int jr, float alpha, float beta,
                      float *c, int64_t ldc, const float *pb, float *pc) {
    nt_tile(1, at, mp, m, i0, b, ldb, k, j0, jr, alpha, beta, c, ldc, pb, pc);
}

static void nt_tile_2(const float *at, int64_t mp, int64_t m, int64_t i0, const float *b,
                      int64_t ldb, int64_t k, int64_t j0, int jr, float alpha, float beta,
                      float *c, int64_t ldc, const float *pb, float *pc) {
    nt_tile(2, at, mp, m, i0, b, ldb, k, j0, jr, alpha, beta, c, ldc, pb, pc);
}

/* at[l mp + i] = op(A)[i][l] for l in [l0, l1), i < m, and 0 for m <= i < mp */
static void nt_pack(float *at, int64_t mp, int trans_a, const float *a, int64_t lda, int64_t m,
                    int64_t l0, int64_t l1) {
    if (trans_a)
        for (int64_t l = l0; l < l1; l++) memcpy(at + l * mp, a + l * lda, (size_t)m * sizeof(float));
    else
        cw_transpose(at + l0 * mp, mp, a + l0, lda, m, l1 - l0);
    if (mp > m)
        for (int64_t l = l0; l < l1; l++) memset(at + l * mp + m, 0, (size_t)(mp - m) * sizeof(float));
}

/* the tiles [u0, u1) of 8 rows of B, over K [l0, l1) (at and b from l0), into c */
static void nt_tiles(const float *at, int64_t mp, int64_t m, int64_t n, const float *b,
                     int64_t ldb, int64_t kk, int64_t u0, int64_t u1, float alpha, float beta,
                     float *c, int64_t ldc) {
    for (int64_t t = u0; t < u1; t++) {
        const int64_t j0 = t * NT_JR;
        const int jr = n - j0 < NT_JR ? (int)(n - j0) : NT_JR;
        /* short K: the first register tile of each column tile prefetches the next one's rows
         * of B and lines of C (long rows of B stream well by themselves) */
        const int pf = kk <= NT_PREFETCH_MAX_K && t + 1 < u1;
        const float *pb = pf ? b + (j0 + NT_JR) * ldb : NULL;
        float *pc = pf ? c + j0 + NT_JR : NULL;
        int64_t i0 = 0;
        for (; i0 + 32 <= mp; i0 += 32, pb = NULL)
            nt_tile_2(at, mp, m, i0, b, ldb, kk, j0, jr, alpha, beta, c, ldc, pb, pc);
        if (i0 < mp) nt_tile_1(at, mp, m, i0, b, ldb, kk, j0, jr, alpha, beta, c, ldc, pb, pc);
    }
}

typedef struct {
    int trans_a;
    int64_t m, n, mp, tiles;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float *at;
} nt_args;

/* the product over K [l0, l1), packing its own rows of op(A)^T, into pc (m, n) */
static void nt_chunk(const void *ctx, int64_t l0, int64_t l1, float *pc) {
    const nt_args *p = ctx;
    nt_pack(p->at, p->mp, p->trans_a, p->a, p->lda, p->m, l0, l1);
    nt_tiles(p->at + l0 * p->mp, p->mp, p->m, p->n, p->b + l0, p->ldb, l1 - l0, 0, p->tiles, 1,
             0, pc, p->n);
}

static int gemm_nt(int trans_a, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    const int64_t mp = (m + 15) / 16 * 16;
    const int64_t tiles = (n + NT_JR - 1) / NT_JR;
    const int nc = cw_gemm_small_kchunks(m, n, k);
    /* op(A)^T (k, mp), then with K chunks one (m, n) partial product per chunk */
    float *at = at_buffer((size_t)(k * mp + (nc > 1 ? nc * m * n : 0)));
    if (!at) return 0;
    if (nc > 1) { /* each chunk packs its rows of op(A)^T and computes its partial alone */
        const nt_args q = {trans_a, m, n, mp, tiles, a, lda, b, ldb, at};
        ksplit(nc, m, n, k, alpha, beta, c, ldc, at + k * mp, nt_chunk, &q);
        return 1;
    }
    const int nt = team_size(tiles, m * n * k);
    if (nt < 2) {
        nt_pack(at, mp, trans_a, a, lda, m, 0, k);
        nt_tiles(at, mp, m, n, b, ldb, k, 0, tiles, alpha, beta, c, ldc);
        return 1;
    }
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t u0, u1;
        share(k, tid, T, &u0, &u1);
        nt_pack(at, mp, trans_a, a, lda, m, u0, u1);
#pragma omp barrier
        share(tiles, tid, T, &u0, &u1);
        nt_tiles(at, mp, m, n, b, ldb, k, u0, u1, alpha, beta, c, ldc);
    }
    return 1;
}

#pragma GCC pop_options
#endif /* SMALL_BUILT */

/* 1 when the kernels take an (m, n, k) product with these transposes (memory permitting) */
static int takes(int trans_b, int64_t m, int64_t n, int64_t k) {
    if (!cw_gemm_small_available() || m <= 0 || m > CW_GEMM_SMALL_MAX_M || n <= 0 || k <= 0)
        return 0;
    /* below these BLAS is as fast or faster (measured: doc/PERFORMANCE.md) */
    return trans_b ? m >= CW_GEMM_SMALL_MIN_M_NT : m * n * k >= CW_GEMM_SMALL_MIN_WORK_NN;
}

int cw_gemm_small_same_rows(int trans_b, int64_t m1, int64_t m2, int64_t n, int64_t k) {
    return takes(trans_b, m1, n, k) && takes(trans_b, m2, n, k) &&
           cw_gemm_small_kchunks(m1, n, k) == cw_gemm_small_kchunks(m2, n, k);
}

int cw_gemm_small(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc) {
    if (!takes(trans_b, m, n, k)) return 0;
    CW_ASSERT(!omp_in_parallel());
#if SMALL_BUILT
    if (trans_b) return gemm_nt(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return gemm_nn(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    (void)trans_a, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c,
        (void)ldc;
    return 0;
#endif
}

