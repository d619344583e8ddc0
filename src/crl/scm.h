/* scm.h: latent structural causal models with additive Gaussian noise, their interventions and
 * exact scores (spec §A2.1-§A2.4, §A2.7).
 *
 *   z_i = f_i^mech(z_pa(i)) + sqrt(v_i') eps_i,   eps_i ~ N(0, 1), in topological order;
 *   non-intervened node: f^obs, v' = v;  intervened: hard f = 0, soft f = 0.5 f^obs, and
 *   v' = v * var_change ("scale") or v + var_change ("increase").
 *
 * Families: linear (w_i^T z_pa, |w| in [0.5, 1.5), random sign), quadratic (sqrt(z_pa^T A_i
 * z_pa), A_i = B^T B, B ~ U[-1,1]^{k x k} redrawn until sigma_min(B) >= 0.1), MLP (W2 relu(W1
 * z_pa + b1) + b2, hidden 32, PyTorch-default uniform init, roots: link 0), box (linear with
 * weights +-U[0.25, 1], variances U[0.01, 0.02], each value redrawn in place until |z_i| <=
 * box_size, which keeps rows aligned, unlike the published code; no score function).
 * Base variances v_i ~ U[0.5, 1.5] (box: U[0.01, 0.02]).
 */
#ifndef CW_CRL_SCM_H
#define CW_CRL_SCM_H

#include "causeway.h"
#include "core/rng.h"

#include <stdint.h>

typedef enum { CW_SCM_LINEAR = 0, CW_SCM_QUADRATIC, CW_SCM_MLP, CW_SCM_BOX } cw_scm_kind;
typedef enum { CW_INTERV_HARD = 0, CW_INTERV_SOFT } cw_interv_type;
typedef enum { CW_VAR_SCALE = 0, CW_VAR_INCREASE } cw_var_rule;

#define CW_SCM_MLP_HIDDEN 32

typedef struct {
    cw_scm_kind kind;
    int64_t n;
    uint8_t *adj;    /* n x n, adj[j*n + i] = edge j -> i */
    int64_t *order;  /* n, a topological order */
    double *var;     /* n, base noise variances */
    double *weight;  /* n x n, weight[j*n + i] of edge j -> i (linear, box) */
    double *quad;    /* n blocks of n x n: A_i over all coordinates, zero off pa(i) (quadratic) */
    double *w1, *b1; /* n blocks of (HIDDEN x n) and (HIDDEN): W1 columns off pa(i) are zero */
    double *w2, *b2; /* n blocks of (HIDDEN) and (1) (MLP) */
    double box_size; /* box only */
} cw_scm;

/* One environment's mechanism change. targets (n) != 0 marks intervened nodes; targets NULL or
 * all zero is the observational environment. */
typedef struct {
    cw_interv_type type;
    cw_var_rule rule;
    double var_change;
    const uint8_t *targets;
} cw_env_spec;

/* Draws a DAG (cw_dag_random with fill_rate, randomize_order) and the family's parameters.
 * box_size is used by CW_SCM_BOX only. */
cw_status cw_scm_init(cw_scm *s, cw_scm_kind kind, int64_t n, double fill_rate,
                      int randomize_order, double box_size, cw_rng *rng);
void cw_scm_free(cw_scm *s);

/* z (count x n) = samples of environment env (NULL = observational). */
cw_status cw_scm_sample(const cw_scm *s, const cw_env_spec *env, int64_t count, double *z,
                        cw_rng *rng);

/* Exact score grad_z log p_env(z) at each row of z (count x n) -> score (count x n) (§A2.3).
 * CW_EINVAL for the box family (no closed-form density). */
cw_status cw_scm_score(const cw_scm *s, const cw_env_spec *env, const double *z, int64_t count,
                       double *score);

/* log p_env(z) of one sample (for finite-difference tests of cw_scm_score). */
double cw_scm_log_density(const cw_scm *s, const cw_env_spec *env, const double *z);

/* Parse/print "linear" | "quadratic" | "mlp" | "box"; "hard" | "soft"; "scale" | "increase". */
cw_status cw_scm_kind_parse(cw_scm_kind *out, const char *s);
const char *cw_scm_kind_name(cw_scm_kind k);

#endif
