/* blas_info.h: which BLAS kernels this process runs, for logs and benchmark context lines.
 *
 * OpenBLAS (Debian's DYNAMIC_ARCH build) picks its kernel set ("core") for the CPU at load
 * time unless OPENBLAS_CORETYPE names one. The choice changes speed (on the AVX-512 machine
 * doc/PERFORMANCE.md measures, Cooperlake's sgemm peaks at about twice Haswell's) and the low
 * bits of results, so runs record it (train_log.jsonl) and benchmarks print it.
 */
#ifndef CW_LA_BLAS_INFO_H
#define CW_LA_BLAS_INFO_H

#include <stddef.h>

/* OpenBLAS's core name ("Cooperlake", "Haswell", ...; "unknown" if it gives none) */
const char *cw_blas_core(void);

/* 1 when OPENBLAS_CORETYPE is set (non-empty) in the environment, i.e. the core was forced */
int cw_blas_core_forced(void);

/* "Cooperlake", or "Haswell (forced by OPENBLAS_CORETYPE=Haswell; this CPU has AVX-512)" when
 * the environment chose it; written to buf (always terminated). Returns buf. */
char *cw_blas_describe(char *buf, size_t cap);

#endif
