/* experiment.h: repeated runs of a score-based CRL algorithm on generated data, the way the
 * authors' test scripts run them (spec §A2.6 settings, §A5 metrics and reporting, §A6).
 *
 * One run: generate a dataset from (gen, run seed), compute score differences (score_diffs.h),
 * run the algorithm, evaluate it against the truth. Run r of an experiment with seed K uses the
 * seed cw_crl_run_seed(K, r) for everything, so any single run can be replayed. A run that fails
 * (e.g. the impactful-intervention redraw limit, a singular matrix) is counted in `failed` and
 * left out of the means, as the authors' display code masks failed runs; its error is kept.
 * Reporting: mean and standard error std(ddof 0)/sqrt(#ok) per metric (§A5 "Reporting").
 */
#ifndef CW_CRL_EXPERIMENT_H
#define CW_CRL_EXPERIMENT_H

#include "causeway.h"
#include "crl/crl_data.h"
#include "crl/finite_sample.h"
#include "crl/gscale.h"
#include "crl/lscale.h"
#include "crl/metric_list.h"
#include "crl/score_diffs.h"
#include "crl/umni.h"

#include <stdint.h>
#include <stdio.h>

typedef enum {
    CW_CRL_LSCALE = 0,
    CW_CRL_FSAMPLE,
    CW_CRL_UMNI,
    CW_CRL_GSCALE_GLM,
    CW_CRL_GSCALE_MLP
} cw_crl_algorithm;

const char *cw_crl_algorithm_name(cw_crl_algorithm a);

typedef struct {
    cw_crl_algorithm alg;
    cw_crl_gen_config gen;
    cw_score_diff_config scores;
    int64_t runs;
    uint64_t seed;
    cw_lscale_opts lscale;
    cw_fsample_opts fsample;
    cw_umni_opts umni;
    cw_gscale_opts gscale;
    double atol_eff_nz; /* incorrect-mixing threshold: 0.05 (LSCALE), 0.1 (UMNI) */
} cw_crl_experiment;

/* The authors' settings for alg (spec §A2.2, §A2.6): LSCALE and the sample-complexity algorithm
 * linear n 5 d 100 hard x5.0 (sample complexity x0.25) 50k + 50k samples, Gaussian scores;
 * UMNI linear n 5 d 50 soft x0.25 100k multi-node upper-triangular, Gaussian scores; GSCALE
 * GLM quadratic SCM, tanh mixing, n 5 d 100, two hard sets x4.0 / x0.25, 500 + 10k samples,
 * oracle scores; GSCALE MLP: MLP SCM, 3-layer tanh mixing, n 5 d 10, 10k samples, ldr scores.
 * 20 runs, seed 0. */
void cw_crl_experiment_defaults(cw_crl_experiment *e, cw_crl_algorithm alg);

uint64_t cw_crl_run_seed(uint64_t seed, int64_t run);

/* One run (index run of e); metrics into out (cleared first); *seconds = wall time. */
cw_status cw_crl_run_once(cw_metric_list *out, double *seconds, const cw_crl_experiment *e,
                          int64_t run);

typedef struct {
    int64_t runs, ok, failed;
    cw_metric_list mean, se;
    double seconds_mean, seconds_total;
    char first_error[256];
} cw_crl_summary;

/* All runs; progress (may be NULL) gets a line per run. */
cw_status cw_crl_experiment_run(cw_crl_summary *s, const cw_crl_experiment *e, FILE *progress);

/* The experiment's configuration as a JSON object text (caller frees with cw_free). */
char *cw_crl_experiment_json(const cw_crl_experiment *e);

#endif
