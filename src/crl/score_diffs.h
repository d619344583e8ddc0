/* score_diffs.h: score differences between environments at the observational samples, the
 * input of every score-based CRL algorithm (spec §A3, §A3.5, §A4.0 step 2).
 *
 * For pairs (a_k, b_k), ds[k] (count[0] x d) = s_a(x) - s_b(x) at the observational algorithm
 * samples x[0]. Methods:
 *   oracle:   exact latent scores transported to x (generated data only, §A3.5);
 *   gaussian: one Gaussian per environment (§A3.1), fitted on the environment's score-estimation
 *             samples (the algorithm samples when there are none);
 *   ssm:      one sliced-score-matching network per environment (§A3.2), same samples;
 *   ldr:      one classifier per pair, b against a (§A3.3): its input gradient estimates s_a - s_b.
 * With project = 1 (linear mixings) the estimators run in the n-dimensional support of the data
 * (cw_crl_support_basis of the algorithm samples) and the differences are lifted back to R^d
 * with the basis, as the authors' estimate_score_fns_from_data does.
 */
#ifndef CW_CRL_SCORE_DIFFS_H
#define CW_CRL_SCORE_DIFFS_H

#include "causeway.h"
#include "crl/crl_data.h"
#include "crl/score_ldr.h"
#include "crl/score_ssm.h"

#include <stdint.h>

typedef enum {
    CW_SCORES_ORACLE = 0,
    CW_SCORES_GAUSSIAN,
    CW_SCORES_SSM,
    CW_SCORES_LDR
} cw_score_method;

cw_status cw_score_method_parse(cw_score_method *out, const char *s);
const char *cw_score_method_name(cw_score_method m);

typedef struct {
    cw_score_method method;
    int project;
    cw_ssm_config ssm;
    cw_ldr_config ldr;
    uint64_t seed; /* network initialisation and batches (ssm, ldr) */
} cw_score_diff_config;

/* ds receives npairs arrays of count[0] x d doubles, allocated with cw_malloc (free each with
 * cw_free, or all with cw_score_diffs_free). */
cw_status cw_crl_score_diffs(double **ds, const cw_crl_data *d, const int64_t *a, const int64_t *b,
                             int64_t npairs, const cw_score_diff_config *c);
void cw_score_diffs_free(double **ds, int64_t npairs);

#endif
