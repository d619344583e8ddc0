/* dag_ops.h: directed-graph utilities of the score-based CRL algorithms and metrics (spec
 * §A2.1 DAG sampling, §A4.7 post-processing, §A5 graph metrics).
 *
 * A graph on n nodes is a boolean adjacency uint8_t adj[n * n], row-major, adj[i*n + j] != 0
 * meaning the edge i -> j; pa(j) = the non-zeros of column j. The diagonal is ignored on input
 * and zero on output. Ties are broken towards the smaller node index (documented per routine).
 */
#ifndef CW_CRL_DAG_OPS_H
#define CW_CRL_DAG_OPS_H

#include "causeway.h"
#include "core/rng.h"

#include <stdint.h>

/* Erdos-Renyi DAG (§A2.1): order = identity, or a uniform permutation if randomize_order; each
 * pair (order[a], order[b]), a < b, is an edge with probability fill_rate (clamped to [0, 1]).
 * order (n, may be NULL) receives the topological order used. */
void cw_dag_random(uint8_t *adj, int64_t *order, int64_t n, double fill_rate, int randomize_order,
                   cw_rng *rng);

/* Kahn topological order; among ready nodes the smallest index goes first. CW_EINVAL if the
 * graph has a cycle. */
cw_status cw_dag_topological_order(int64_t *order, const uint8_t *adj, int64_t n);

int cw_dag_is_acyclic(const uint8_t *adj, int64_t n);

/* out = transitive closure of adj (i ->* j by a path of length >= 1; diagonal 0). out may not
 * alias adj. */
void cw_dag_transitive_closure(uint8_t *out, const uint8_t *adj, int64_t n);

/* out = transitive reduction of a DAG: adj AND NOT (adj * closure > 0). */
void cw_dag_transitive_reduction(uint8_t *out, const uint8_t *adj, int64_t n);

/* Surrounding parents (§A4.1 full-rank variant): out[j*n + i] = 1 iff j in pa(i) and
 * ch(i) is a subset of ch(j). */
void cw_dag_surrounding(uint8_t *out, const uint8_t *adj, int64_t n);

/* Closest DAG (§A4.7): the node order maximising the number of edges that point forward, by an
 * exact dynamic program over subsets (O(2^n n^2), n <= 24), then the forward edges only.
 * Tie rule: among optimal orders, the lexicographically smallest sequence of node indices.
 * order (n, may be NULL) receives that order. */
cw_status cw_dag_closest(uint8_t *out, int64_t *order, const uint8_t *adj, int64_t n);

/* Structural Hamming distance (utils/dag.py graph_diff, §A5): #additions + #deletions +
 * #reversals over unordered pairs, a reversed edge counted once. */
int64_t cw_dag_shd(const uint8_t *truth, const uint8_t *est, int64_t n);

/* FP + FN over ordered pairs (the sample-complexity paper's SHD; a reversal counts twice). */
int64_t cw_dag_shd_directed(const uint8_t *truth, const uint8_t *est, int64_t n);

/* Edge precision TP/(TP+FP) and recall TP/(TP+FN) over ordered pairs; undefined (0/0) ratios
 * are set to `undefined` (the LSCALE code uses 0, the sample-complexity code 1). */
void cw_dag_precision_recall(double *precision, double *recall, const uint8_t *truth,
                             const uint8_t *est, int64_t n, double undefined);

/* Graph permuted by order: out[a*n + b] = adj[order[a]*n + order[b]] (goal_dag of §A4.7). */
void cw_dag_permute(uint8_t *out, const uint8_t *adj, const int64_t *order, int64_t n);

int64_t cw_dag_edge_count(const uint8_t *adj, int64_t n);

#endif
