/* crl_data.h: interventional datasets for score-based CRL: environments of samples, the
 * generator of spec §A2 (DAG, latent SCM, interventions, mixing; §A2.6 designs and the
 * "impactful intervention" rejection option), and h5ad input/output.
 *
 * Environment 0 is observational. Designs:
 *   single:   envs 1..n, env m intervenes one node (target_of[m-1]), type/var rule from config;
 *   two-hard: envs 1..n hard with var_change, envs n+1..2n hard with var_change2, env m and
 *             env m+n intervene the same node (GSCALE-I);
 *   multi:    envs 1..n intervene the node sets of a full-rank signature matrix D (n x n,
 *             D[i*n + m] = 1 iff node i in I^{m+1}): D = I OR upper-triangular Bernoulli(0.5)
 *             (in the topological order), redrawn until det D != 0, columns permuted (UMNI-CRL
 *             "MN-uppertri"); signature "identity" gives D = I (the single-node special case).
 *
 * h5ad layout written by cw_crl_data_write_h5ad: X (float32, all samples, env by env),
 * obs["env"] (categorical env labels, "obs" first), obs["role"] ("fit" | "score": samples for
 * the algorithm or for score estimation), obsm["latents"] (float64, n columns), and the truth
 * and provenance under uns/causeway/crl (adj, targets, mixing, seed, config JSON).
 */
#ifndef CW_CRL_DATA_H
#define CW_CRL_DATA_H

#include "causeway.h"
#include "crl/mixing.h"
#include "crl/scm.h"

#include <stdint.h>

typedef enum { CW_DESIGN_SINGLE = 0, CW_DESIGN_TWO_HARD, CW_DESIGN_MULTI } cw_design;
typedef enum { CW_SIGNATURE_UPPERTRI = 0, CW_SIGNATURE_IDENTITY } cw_signature;

typedef struct {
    cw_scm_kind scm;
    cw_mix_kind mix;
    int64_t n, d;
    int64_t samples;       /* per environment, for the algorithm */
    int64_t score_samples; /* per environment, for score estimation (0 = none) */
    double fill_rate;      /* 0.5 */
    int randomize_order;   /* random topological order (box default 1, others 0) */
    double box_size;       /* 0.1 (box) */
    cw_design design;
    cw_signature signature; /* multi only */
    cw_interv_type interv;  /* single and multi (two-hard is hard) */
    cw_var_rule rule;       /* scale */
    double var_change;      /* 5.0 (LSCALE), 0.25 (UMNI), 4.0 (GSCALE first set) */
    double var_change2;     /* two-hard second set: 0.25 */
    int normalize_mixing;   /* linear: divide columns by max |entry| (1) */
    int permute_targets;    /* random assignment of nodes to environments (0: env m -> node m-1) */
    double min_impact;      /* > 0: redraw the model until every true edge j -> i has
                               E_obs[(ds_z^{env of i})_j^2] >= min_impact (oracle scores) */
    int64_t max_redraws;    /* cap for min_impact redraws (CW_EINVAL when exceeded) */
} cw_crl_gen_config;

/* Defaults of the LSCALE-I test: linear SCM, linear mixing, n 5, d 100, 50k + 50k samples,
 * fill 0.5, single-node hard x5.0 scale, normalised mixing, min_impact 0.02, 1000 redraws. */
void cw_crl_gen_defaults(cw_crl_gen_config *c);

typedef struct {
    int64_t n_env, n, d; /* n: latent dimension (the number of interventional environments'
                            nodes for user data) */
    char **labels;       /* n_env environment names */
    int64_t *count;      /* n_env: algorithm samples per environment */
    double **x;          /* n_env arrays count[e] x d */
    double **z;          /* n_env arrays count[e] x n, or NULL (user data) */
    int64_t *count_se;   /* score-estimation samples per environment, NULL when none */
    double **x_se, **z_se;
    /* truth: has_truth = 1 for generated data (everything below valid, oracle scores
     * available); has_graph = 1 when at least scm.adj, scm.order, targets and mixing.g/encoder
     * (linear) are valid, e.g. read back from one of our files (scores not available). */
    int has_truth, has_graph;
    cw_scm scm;
    cw_mixing mixing;
    cw_env_spec *env;    /* n_env mechanism changes (env[0]: observational) */
    uint8_t *targets;    /* n_env x n intervened nodes (row 0 zero) */
    cw_crl_gen_config config;
    uint64_t seed;
} cw_crl_data;

/* Generates a dataset; reproducible from (cfg, seed). */
cw_status cw_crl_generate(cw_crl_data *out, const cw_crl_gen_config *cfg, uint64_t seed);
void cw_crl_data_free(cw_crl_data *d);

/* Oracle score difference between environments a and b at the observational algorithm samples:
 * ds_z (count[0] x n) = s_a(z) - s_b(z) and, if ds_x is not NULL, its transport to x
 * (count[0] x d, cw_mixing_transport_scores). Needs truth and a family with scores. */
cw_status cw_crl_oracle_score_diff(const cw_crl_data *d, int64_t a, int64_t b, double *ds_z,
                                   double *ds_x);

/* Writes the layout above through a temporary name and rename; config_json (may be NULL) is
 * stored as uns/causeway/crl/config. */
cw_status cw_crl_data_write_h5ad(const cw_crl_data *d, const char *path, const char *config_json);

/* Reads user (or our) data: X rows grouped by obs[env_key]; the environment labelled
 * obs_label becomes environment 0, the others follow in the column's category order. If
 * obs["role"] exists, rows with role "score" go to the score-estimation arrays. obsm["latents"]
 * (when present and n columns) fills z. n = number of environments - 1. Errors name the file,
 * the field and what was expected (missing key, label absent, fewer than 2 samples, non-finite
 * X). The DAG, targets and linear mixing under uns/causeway/crl are read back when present
 * (has_graph = 1, has_truth = 0). */
cw_status cw_crl_data_read_h5ad(cw_crl_data *out, const char *path, const char *env_key,
                                const char *obs_label);

#endif
