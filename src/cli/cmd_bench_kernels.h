/* cmd_bench_kernels.h: the kernel benchmark (`causeway bench kernels`, cmd_bench_kernels.c) and
 * the pieces it shares with `bench train` (cmd_bench_train.c) and `bench all` (cmd_bench.c):
 * the benchmark sizes, the random context graph and the sgemm peak. Issue #6 item 1.
 */
#ifndef CW_CLI_CMD_BENCH_KERNELS_H
#define CW_CLI_CMD_BENCH_KERNELS_H

#include "causeway.h"
#include "data/graph.h"

#include <stdint.h>

/* causeway bench kernels [--size tiny|norman|replogle] [--threads T] [--json]; argv[0] is
 * "kernels". */
int cmd_bench_kernels(int argc, char **argv);

/* A benchmark size: the model's shapes and the random context graph's node and directed-edge
 * counts (nnz of the symmetric CSR).
 *   tiny      G 50,    Z 6,   H 8,   B 4,  80 nodes,     400 directed edges (tests)
 *   norman    G 5000,  Z 105, H 128, B 32, 7,694 nodes,  63,380 (31,690 undirected; the Norman
 *             subset's Reactome + PPI graph has these counts)
 *   replogle  G 8563,  Z 414, H 128, B 32, 11,000 nodes, 360,000 */
typedef struct {
    const char *name;
    int64_t genes, latent, hidden, batch, nodes, edges;
} cli_bench_size;

/* 0 and *out filled for a known name, -1 otherwise. */
int cli_bench_size_lookup(const char *name, cli_bench_size *out);

/* A random symmetric context graph: `genes` gene nodes then nodes - genes pathway nodes, exactly
 * directed_edges / 2 distinct undirected pairs drawn uniformly over all node pairs (no self
 * loops), CSR with sorted rows; seeded. CW_EINVAL when nodes < genes or the pairs do not fit. */
cw_status cli_bench_random_graph(cw_graph *g, int64_t genes, int64_t nodes,
                                 int64_t directed_edges, uint64_t seed);

/* sgemm peak of this run: C = A B, n x n x n float32 through cblas_sgemm (warm-up, then at least
 * 5 calls and 0.5 s); returns the median GFLOP/s (2 n^3 per call). */
double cli_bench_sgemm_peak(int64_t n, double *median_ms);

/* Median ms per step of the last successful cmd_bench_train run (0 if none), so `bench all`
 * can print it beside the PyTorch baseline. */
double cli_bench_train_last_median_ms(void);

#endif
