/* recovery.h: how well a learned latent causal model recovers a known one (issue #3 item 8;
 * the same metrics serve the score-based CRL work of issue #5).
 *
 *   MCC: the mean, over true programs, of |Pearson correlation| between each true program and
 *        the learned latent matched to it; the matching (one learned latent per true program,
 *        distinct) maximises the total |correlation| (Hungarian algorithm, exact).
 *   SHD: structural Hamming distance between the true DAG and the learned DAG read through the
 *        matching: over unordered pairs {i, j} of true programs, the number whose edge state
 *        (none, i->j, j->i) differs, so a missing, an extra and a reversed edge count 1 each.
 *        A learned edge exists where |A| > threshold.
 */
#ifndef CW_EVAL_RECOVERY_H
#define CW_EVAL_RECOVERY_H

#include "causeway.h"

#include <stdint.h>

/* Maximum-weight assignment of n rows to distinct columns of w (n x m, row-major, n <= m):
 * match[i] = column of row i; returns the total weight in *total (may be NULL). O(n^2 m). */
cw_status cw_hungarian_max(int64_t *match, double *total, const double *w, int64_t n, int64_t m);

/* MCC between true latents t (cells x zt) and learned latents l (cells x zl), zt <= zl;
 * match (zt, may be NULL) receives the learned latent of each true program. */
cw_status cw_mcc(double *mcc, int64_t *match, const double *t, int64_t zt, const double *l,
                 int64_t zl, int64_t cells);

/* SHD between a true weighted DAG (zt x zt, entry i,j = edge i->j, nonzero = edge) and a
 * learned weighted adjacency (zl x zl, entry a,b = edge a->b; zero where no edge can be, e.g.
 * triu(G,1)) read through match; learned edges need |A| > threshold. */
int64_t cw_shd_matched(const double *true_dag, int64_t zt, const double *learned, int64_t zl,
                       const int64_t *match, double threshold);

#endif
