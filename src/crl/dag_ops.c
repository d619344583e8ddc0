/* dag_ops.c: directed-graph utilities of the score-based CRL layer (spec §A2.1 DAG sampling,
 * §A4.7 post-processing: topological order, closure, reduction, surrounding parents, closest
 * DAG by an exact subset dynamic program; §A5 graph metrics: SHD, precision/recall).
 *
 * Conventions (dag_ops.h): adj[i*n + j] != 0 is the edge i -> j; the diagonal is ignored on
 * input and written as zero; ties go to the smaller node index.
 */
#include "crl/dag_ops.h"

#include "core/alloc.h"
#include "core/status.h"

#include <math.h>
#include <string.h>

/* edge i -> j, diagonal ignored */
static inline int edge(const uint8_t *adj, int64_t n, int64_t i, int64_t j) {
    return i != j && adj[i * n + j] != 0;
}

/* swap the labels of nodes a and b (rows and columns) */
static void swap_labels(uint8_t *adj, int64_t n, int64_t a, int64_t b) {
    if (a == b) return;
    for (int64_t k = 0; k < n; k++) {
        uint8_t t = adj[a * n + k];
        adj[a * n + k] = adj[b * n + k];
        adj[b * n + k] = t;
    }
    for (int64_t k = 0; k < n; k++) {
        uint8_t t = adj[k * n + a];
        adj[k * n + a] = adj[k * n + b];
        adj[k * n + b] = t;
    }
}

void cw_dag_random(uint8_t *adj, int64_t *order, int64_t n, double fill_rate, int randomize_order,
                   cw_rng *rng) {
    if (n <= 0) return;
    double p = fill_rate;
    if (!(p > 0)) p = 0; /* also NaN */
    if (p > 1) p = 1;
    memset(adj, 0, (size_t)(n * n));
    /* strictly upper triangular in the identity order; U < p so that p = 0 gives no edge and
     * p = 1 every edge */
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = a + 1; b < n; b++) adj[a * n + b] = cw_rng_uniform(rng) < p;
    if (order)
        for (int64_t a = 0; a < n; a++) order[a] = a;
    if (!randomize_order) return;
    /* relabel the nodes by a uniform permutation sigma (Fisher-Yates as a product of label
     * transpositions, applied in place), so position a of the order holds node sigma(a) and
     * adj[sigma(a), sigma(b)] = upper[a, b] */
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = cw_rng_below(rng, i + 1);
        if (j == i) continue;
        swap_labels(adj, n, i, j);
        if (order)
            for (int64_t a = 0; a < n; a++) {
                if (order[a] == i)
                    order[a] = j;
                else if (order[a] == j)
                    order[a] = i;
            }
    }
}

cw_status cw_dag_topological_order(int64_t *order, const uint8_t *adj, int64_t n) {
    if (n < 0) return cw_fail(CW_EINVAL, "dag topological order: n = %lld < 0", (long long)n);
    if (n == 0) return CW_OK;
    int64_t *indeg = cw_calloc((size_t)n, sizeof *indeg);
    if (!indeg) return cw_fail(CW_ENOMEM, "dag topological order: out of memory (n = %lld)",
                               (long long)n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) indeg[j] += edge(adj, n, i, j);
    /* indeg[v] = -1 once v is placed; pick the smallest ready index each time (O(n^2)) */
    for (int64_t pos = 0; pos < n; pos++) {
        int64_t v = -1;
        for (int64_t u = 0; u < n; u++)
            if (indeg[u] == 0) {
                v = u;
                break;
            }
        if (v < 0) {
            cw_free(indeg);
            return cw_fail(CW_EINVAL,
                           "dag topological order: the graph has a cycle (%lld of %lld nodes "
                           "ordered)",
                           (long long)pos, (long long)n);
        }
        order[pos] = v;
        indeg[v] = -1;
        for (int64_t j = 0; j < n; j++)
            if (edge(adj, n, v, j)) indeg[j]--;
    }
    cw_free(indeg);
    return CW_OK;
}

int cw_dag_is_acyclic(const uint8_t *adj, int64_t n) {
    /* repeated source removal with a removed-bitset; a stack bitset covers n <= 4096 so the
     * common case needs no allocation (the function cannot report an error) */
    enum { STACK_WORDS = 64 };
    uint64_t stack_bits[STACK_WORDS];
    uint64_t *removed = stack_bits;
    if (n <= 0) return 1;
    int64_t words = (n + 63) / 64;
    if (words > STACK_WORDS) {
        removed = cw_malloc_array((size_t)words, sizeof *removed);
        CW_ASSERT(removed != NULL); /* n > 4096 and out of memory: cannot report */
    }
    memset(removed, 0, (size_t)words * sizeof *removed);
    int64_t left = n;
    int progress = 1;
    while (left > 0 && progress) {
        progress = 0;
        for (int64_t v = 0; v < n; v++) {
            if (removed[v / 64] >> (v % 64) & 1) continue;
            int source = 1;
            for (int64_t u = 0; u < n && source; u++)
                if (!(removed[u / 64] >> (u % 64) & 1) && edge(adj, n, u, v)) source = 0;
            if (source) {
                removed[v / 64] |= (uint64_t)1 << (v % 64);
                left--;
                progress = 1;
            }
        }
    }
    if (removed != stack_bits) cw_free(removed);
    return left == 0;
}

void cw_dag_transitive_closure(uint8_t *out, const uint8_t *adj, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) out[i * n + j] = (uint8_t)edge(adj, n, i, j);
    /* Warshall: after step k, out[i, j] = path i ->+ j through intermediates <= k */
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < n; i++) {
            if (!out[i * n + k]) continue;
            for (int64_t j = 0; j < n; j++) out[i * n + j] |= out[k * n + j];
        }
    /* paths of length >= 1 from i back to i (cycles) are not reported: diagonal 0 */
    for (int64_t i = 0; i < n; i++) out[i * n + i] = 0;
}

void cw_dag_transitive_reduction(uint8_t *out, const uint8_t *adj, int64_t n) {
    /* bit 0 of out = closure (diagonal 0); bit 1 = the result, then shifted down. For a DAG,
     * (adj * closure)[i, j] > 0 iff some child k of i reaches j. No scratch memory needed. */
    cw_dag_transitive_closure(out, adj, n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            if (!edge(adj, n, i, j)) continue;
            int longer = 0;
            for (int64_t k = 0; k < n && !longer; k++)
                if (edge(adj, n, i, k) && (out[k * n + j] & 1)) longer = 1;
            if (!longer) out[i * n + j] |= 2;
        }
    for (int64_t i = 0; i < n * n; i++) out[i] = (uint8_t)(out[i] >> 1 & 1);
}

void cw_dag_surrounding(uint8_t *out, const uint8_t *adj, int64_t n) {
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            int s = edge(adj, n, j, i);
            for (int64_t k = 0; k < n && s; k++)
                if (edge(adj, n, i, k) && !edge(adj, n, j, k)) s = 0;
            out[j * n + i] = (uint8_t)s;
        }
}

static inline int popcount32(uint32_t x) { return __builtin_popcount(x); }

cw_status cw_dag_closest(uint8_t *out, int64_t *order, const uint8_t *adj, int64_t n) {
    if (n < 0 || n > 24)
        return cw_fail(CW_EINVAL, "closest dag: n = %lld outside [0, 24] (subset DP)",
                       (long long)n);
    if (n == 0) return CW_OK;
    uint32_t in[24]; /* in[v] = bitmask of the parents of v */
    for (int64_t v = 0; v < n; v++) {
        in[v] = 0;
        for (int64_t u = 0; u < n; u++)
            if (edge(adj, n, u, v)) in[v] |= (uint32_t)1 << u;
    }
    /* best[S] = the maximum number of forward edges of an order of the induced subgraph on S
     * (at most 24*23/2 = 276, fits uint16) */
    size_t nsub = (size_t)1 << n;
    uint16_t *best = cw_malloc_array(nsub, sizeof *best);
    if (!best)
        return cw_fail(CW_ENOMEM, "closest dag: out of memory (2^%lld subsets)", (long long)n);
    best[0] = 0;
    for (size_t s = 1; s < nsub; s++) {
        uint32_t S = (uint32_t)s;
        int b = 0;
        for (uint32_t rest = S; rest; rest &= rest - 1) {
            int v = __builtin_ctz(rest);
            uint32_t T = S & ~((uint32_t)1 << v); /* v last */
            int val = best[T] + popcount32(T & in[v]);
            if (val > b) b = val;
        }
        best[s] = (uint16_t)b;
    }
    uint32_t full = (uint32_t)(nsub - 1);
    int opt = best[full];
    /* reconstruction: the lexicographically smallest optimal order, greedily. A prefix P (with
     * forward edges acc) extends to an optimal order iff
     *   acc + #edges(P -> rest) + best[rest] == opt. */
    int64_t pos_of[24];
    uint32_t P = 0;
    int acc = 0;
    for (int64_t pos = 0; pos < n; pos++) {
        int64_t pick = -1;
        for (int64_t v = 0; v < n && pick < 0; v++) {
            if (P >> v & 1) continue;
            uint32_t P2 = P | (uint32_t)1 << v;
            uint32_t rest = full & ~P2;
            int acc2 = acc + popcount32(P & in[v]);
            int cross = 0;
            for (uint32_t r = rest; r; r &= r - 1) cross += popcount32(P2 & in[__builtin_ctz(r)]);
            if (acc2 + cross + best[rest] == opt) {
                pick = v;
                acc = acc2;
                P = P2;
            }
        }
        CW_ASSERT(pick >= 0); /* some optimal completion always exists */
        pos_of[pick] = pos;
        if (order) order[pos] = pick;
    }
    cw_free(best);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            out[i * n + j] = (uint8_t)(edge(adj, n, i, j) && pos_of[i] < pos_of[j]);
    return CW_OK;
}

int64_t cw_dag_shd(const uint8_t *truth, const uint8_t *est, int64_t n) {
    int64_t d = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++)
            d += edge(truth, n, i, j) != edge(est, n, i, j) ||
                 edge(truth, n, j, i) != edge(est, n, j, i);
    return d;
}

int64_t cw_dag_shd_directed(const uint8_t *truth, const uint8_t *est, int64_t n) {
    int64_t d = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) d += edge(truth, n, i, j) != edge(est, n, i, j);
    return d;
}

void cw_dag_precision_recall(double *precision, double *recall, const uint8_t *truth,
                             const uint8_t *est, int64_t n, double undefined) {
    int64_t tp = 0, fp = 0, fn = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            int t = edge(truth, n, i, j), e = edge(est, n, i, j);
            tp += t && e;
            fp += !t && e;
            fn += t && !e;
        }
    if (precision) *precision = tp + fp > 0 ? (double)tp / (double)(tp + fp) : undefined;
    if (recall) *recall = tp + fn > 0 ? (double)tp / (double)(tp + fn) : undefined;
}

void cw_dag_permute(uint8_t *out, const uint8_t *adj, const int64_t *order, int64_t n) {
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++)
            out[a * n + b] = (uint8_t)edge(adj, n, order[a], order[b]);
}

int64_t cw_dag_edge_count(const uint8_t *adj, int64_t n) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) c += edge(adj, n, i, j);
    return c;
}
