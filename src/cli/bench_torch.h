/* bench_torch.h: the PyTorch baseline of the training step, run from C (issue #6 item 2; STYLE.md
 * "Benchmarks"). Runs bench/torch_baseline.py under Debian's python3 with torch and returns its
 * step-time quantiles, for tables that print causeway and PyTorch side by side.
 *
 * Interpreter: $CAUSEWAY_PYTHON, else /usr/bin/python3 (the PATH python3 may lack torch).
 * Script: $CAUSEWAY_TORCH_BASELINE, else bench/torch_baseline.py under the working directory, else
 * under ../, ../../ or ../../../ of the running program (build/causeway, build/tests/test_*).
 * The child gets MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ (STYLE.md: a baseline is not
 * to be measured on page faults) and, with threads > 0, OMP_NUM_THREADS; the script sets
 * torch.set_num_threads and set_num_interop_threads, validates its step against the reference
 * form of the model, warms up 5 steps and times `steps`. Its stderr passes through to ours.
 */
#ifndef CW_CLI_BENCH_TORCH_H
#define CW_CLI_BENCH_TORCH_H

#include "causeway.h"

#include <stdint.h>

/* One baseline run: model "cmvae" or "grace" (SAGE over a random graph of `nodes` nodes, the
 * first G the genes, and `edges` directed edges, even; ignored for cmvae), shapes G genes,
 * Z latents (= targets), H hidden, B cells per step, dtype "float32" or "float64", threads
 * (0: torch's default), `steps` timed steps. Writes the median, p10 and p90 milliseconds per
 * step. Returns CW_ENOTFOUND when no python with torch or no script is found, CW_EINVAL for bad
 * arguments, CW_EIO when the script fails, CW_EFORMAT when its output is not the expected JSON;
 * each with a message (cw_errmsg). */
cw_status cli_bench_torch(double *median_ms, double *p10_ms, double *p90_ms, const char *model,
                          int64_t G, int64_t Z, int64_t H, int64_t B, int64_t nodes,
                          int64_t edges, int threads, const char *dtype, int64_t steps);

#endif
