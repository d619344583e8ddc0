/* deg.h: differentially expressed genes per group against a reference (control) group, computed
 * the way scanpy's rank_genes_groups(method='t-test', reference=<control>, rankby_abs=True)
 * does, from streaming sufficient statistics. Spec grace_cmvae.md §2.2 item 4 and §6.2 (the DEG
 * table the evaluation reads); the simulator (data/simulate.h) fills uns/rank_genes_groups
 * with it.
 *
 * Per group and gene, on log1p expression x:
 *   mean m = sum/n,  unbiased variance v = (sumsq/n - m^2) * n/(n-1)   (scanpy _get_mean_var)
 *   t  = (m_g - m_ref) / sqrt(v_g/n_g + v_ref/n_ref)                   (Welch)
 *   df = (v_g/n_g + v_ref/n_ref)^2 / ((v_g/n_g)^2/(n_g-1) + (v_ref/n_ref)^2/(n_ref-1))
 *   p  = 2 P(T_df > |t|) = I_{df/(df+t^2)}(df/2, 1/2)  (regularized incomplete beta, own code)
 *   p_adj = Benjamini-Hochberg over all genes of the group (statsmodels fdr_bh), capped at 1
 *   logfoldchange = log2((expm1(m_g) + 1e-9) / (expm1(m_ref) + 1e-9))
 * Genes are ranked by |t| descending (ties: lower gene index first); the top n_top per group
 * go into the table. Conventions where scanpy yields NaN (which it then maps to score 0,
 * p 1): when v_g/n_g + v_ref/n_ref == 0 (zero variance in both groups, e.g. a gene never
 * expressed in either) or either group has fewer than 2 cells, t = 0 and p = 1 (scanpy keeps
 * t = +-inf, p = 1 when both variances are 0 but the means differ; we report 0, 1). Variances
 * below 1e-12 * m^2 (rounding residue of a constant column) count as 0; negative residues are
 * clamped to 0.
 *
 * Table layout (cw_deg_table, io/h5ad.h): groups = the non-reference groups with at least one
 * cell, sorted by name (byte order, as pandas orders the categories of a categorical column;
 * scanpy emits groups in category order); names = gene (var) names.
 *
 * Accumulation is double precision; cw_deg_accum_add_csr parallelises over gene tiles so each
 * gene's sums are always taken in row order: results are bit-identical for any thread count.
 */
#ifndef CW_DEG_H
#define CW_DEG_H

#include "causeway.h"
#include "core/strings.h"
#include "io/h5ad.h"
#include "la/matrix.h"

#include <stdint.h>

typedef struct {
    int64_t n_groups, n_genes;
    int64_t *n;   /* n_groups: rows added per group */
    double *sum;  /* n_groups * n_genes, sum[g * n_genes + j] */
    double *sumsq;
} cw_deg_accum;

cw_status cw_deg_accum_init(cw_deg_accum *a, int64_t n_groups, int64_t n_genes);
void cw_deg_accum_free(cw_deg_accum *a);
/* One dense row (n_genes floats) into group g. */
void cw_deg_accum_add_dense(cw_deg_accum *a, int64_t g, const float *row);
/* One sparse row (nnz entries, column indices idx, values val) into group g. */
void cw_deg_accum_add_sparse(cw_deg_accum *a, int64_t g, const int32_t *idx, const float *val,
                             int64_t nnz);
/* All rows of a CSR block; row r goes to group row_group[r] (-1 = skip). Parallel over gene
 * tiles (n_threads <= 0: OpenMP default); deterministic. Not to be called inside a parallel
 * region. */
void cw_deg_accum_add_csr(cw_deg_accum *a, const cw_csr *x, const int64_t *row_group,
                          int n_threads);
/* The same as OpenMP worksharing (orphaned `omp for`) for callers that are already inside a
 * parallel region: every thread of the team must call it; it ends with the team's barrier. */
void cw_deg_accum_add_csr_ws(cw_deg_accum *a, const cw_csr *x, const int64_t *row_group);

/* Welch t-test from summary statistics (unbiased variances). Returns t, df and the two-sided
 * p-value; t = 0, df = 0, p = 1 in the degenerate cases listed above. */
void cw_welch_ttest(double mean1, double var1, double n1, double mean2, double var2, double n2,
                    double *t, double *df, double *p);

/* The DEG table: every group except `reference` (and groups without cells) against the
 * reference group. group_names: n_groups labels; gene_names: n_genes var names. n_top is
 * clipped to n_genes. */
cw_status cw_deg_accum_finalize(const cw_deg_accum *a, int64_t reference,
                                const cw_strings *group_names, const cw_strings *gene_names,
                                int64_t n_top, cw_deg_table *out);

/* Convenience: the table from an in-memory log1p CSR matrix and per-cell group ids
 * (cell_group[i] in [0, n_groups) or -1 = not used). */
cw_status cw_deg_from_csr(const cw_csr *x, const int64_t *cell_group, int64_t n_groups,
                          int64_t reference, const cw_strings *group_names,
                          const cw_strings *gene_names, int64_t n_top, int n_threads,
                          cw_deg_table *out);

/* ---- statistics helpers ------------------------------------------------------------------ */

/* Regularized incomplete beta I_x(a, b), a, b > 0, x in [0, 1] (Lentz continued fraction,
 * relative accuracy ~1e-14 for moderate a, b). */
double cw_betainc_reg(double a, double b, double x);
/* Student t: upper tail P(T > t) for df > 0. */
double cw_t_sf(double t, double df);
/* Two-sided p-value 2 P(T > |t|). */
double cw_t_pvalue(double t, double df);
/* Benjamini-Hochberg adjusted p-values (statsmodels multipletests 'fdr_bh'): out may alias p. */
cw_status cw_bh_adjust(const double *p, int64_t n, double *out);

#endif
