/* blas_info.c: which BLAS kernels this process runs (blas_info.h). */
#include "la/blas_info.h"

#include <stdio.h>
#include <stdlib.h>

char *openblas_get_corename(void); /* OpenBLAS; declared in its cblas.h, not netlib's */

const char *cw_blas_core(void) {
    const char *c = openblas_get_corename();
    return c && *c ? c : "unknown";
}

int cw_blas_core_forced(void) {
    const char *e = getenv("OPENBLAS_CORETYPE");
    return e && *e;
}

char *cw_blas_describe(char *buf, size_t cap) {
    if (!cap) return buf;
    if (!cw_blas_core_forced()) {
        snprintf(buf, cap, "%s", cw_blas_core());
        return buf;
    }
    __builtin_cpu_init();
    const int avx512 = __builtin_cpu_supports("avx512f");
    snprintf(buf, cap, "%s (forced by OPENBLAS_CORETYPE=%s; this CPU has %s)", cw_blas_core(),
             getenv("OPENBLAS_CORETYPE"), avx512 ? "AVX-512" : "no AVX-512");
    return buf;
}
