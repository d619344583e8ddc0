/* dist.c: the data-parallel process group (dist.h). With CW_HAVE_MPI the collectives are MPI
 * calls on MPI_COMM_WORLD; without it, one process and no-ops. MPI errors abort the job (MPI's
 * default error handler, MPI_ERRORS_ARE_FATAL): a lost process cannot be recovered from. */
#include "core/dist.h"

#include "core/status.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef CW_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;

void cw_dist_shard(int64_t n, int rank, int size, int64_t *row0, int64_t *rows) {
    CW_ASSERT(size >= 1 && rank >= 0 && rank < size && n >= 0);
    const int64_t q = n / size, r = n % size;
    *rows = q + (rank < r);
    *row0 = (int64_t)rank * q + (rank < r ? rank : r);
}

int cw_dist_rank(void) { return g_rank; }
int cw_dist_size(void) { return g_size; }

#ifdef CW_HAVE_MPI

int cw_dist_available(void) { return 1; }

static int launched(void) {
    const char *force = getenv("CW_MPI");
    if (force && *force) return strcmp(force, "0") != 0;
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

static void finalize_at_exit(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

cw_status cw_dist_init(void) {
    int init = 0;
    MPI_Initialized(&init);
    if (!init) {
        if (!launched()) return CW_OK; /* one process */
        if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
            return cw_fail(CW_EINVAL, "MPI_Init failed");
        atexit(finalize_at_exit);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return CW_OK;
}

static cw_status allreduce(void *buf, int64_t n, MPI_Datatype t, size_t elem) {
    if (g_size == 1) return CW_OK;
    char *p = buf;
    for (int64_t done = 0; done < n;) {
        int c = n - done > INT_MAX ? INT_MAX : (int)(n - done);
        if (MPI_Allreduce(MPI_IN_PLACE, p + (size_t)done * elem, c, t, MPI_SUM, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return cw_fail(CW_EINVAL, "MPI_Allreduce failed");
        done += c;
    }
    return CW_OK;
}

cw_status cw_dist_allreduce_sum_f32(float *buf, int64_t n) {
    return allreduce(buf, n, MPI_FLOAT, sizeof(float));
}
cw_status cw_dist_allreduce_sum_f64(double *buf, int64_t n) {
    return allreduce(buf, n, MPI_DOUBLE, sizeof(double));
}

static cw_status allgather_rows(void *buf, int64_t n_rows, int64_t width, MPI_Datatype t) {
    if (g_size == 1) return CW_OK;
    if (n_rows * width > INT_MAX)
        return cw_fail(CW_EINVAL, "dist: %lld x %lld elements to gather: more than INT_MAX",
                       (long long)n_rows, (long long)width);
    int *cnt = malloc(2 * (size_t)g_size * sizeof(int));
    if (!cnt) return cw_fail(CW_ENOMEM, "out of memory");
    int *displ = cnt + g_size;
    for (int r = 0; r < g_size; r++) {
        int64_t r0, rows;
        cw_dist_shard(n_rows, r, g_size, &r0, &rows);
        cnt[r] = (int)(rows * width);
        displ[r] = (int)(r0 * width);
    }
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, displ, t,
                            MPI_COMM_WORLD);
    free(cnt);
    return rc == MPI_SUCCESS ? CW_OK : cw_fail(CW_EINVAL, "MPI_Allgatherv failed");
}

cw_status cw_dist_allgather_rows_f32(float *buf, int64_t n_rows, int64_t width) {
    return allgather_rows(buf, n_rows, width, MPI_FLOAT);
}
cw_status cw_dist_allgather_rows_f64(double *buf, int64_t n_rows, int64_t width) {
    return allgather_rows(buf, n_rows, width, MPI_DOUBLE);
}

cw_status cw_dist_bcast(void *buf, int64_t bytes, int root) {
    if (g_size == 1) return CW_OK;
    char *p = buf;
    for (int64_t done = 0; done < bytes;) {
        int c = bytes - done > INT_MAX ? INT_MAX : (int)(bytes - done);
        if (MPI_Bcast(p + done, c, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
            return cw_fail(CW_EINVAL, "MPI_Bcast failed");
        done += c;
    }
    return CW_OK;
}

cw_status cw_dist_agree(cw_status st) {
    if (g_size == 1) return st;
    int mine = (int)st, worst = 0;
    if (MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        return cw_fail(CW_EINVAL, "MPI_Allreduce failed");
    if (st != CW_OK) return st;
    if (worst != CW_OK) return cw_fail((cw_status)worst, "another process of the group failed");
    return CW_OK;
}

#else /* one process */

int cw_dist_available(void) { return 0; }
cw_status cw_dist_init(void) { return CW_OK; }
cw_status cw_dist_allreduce_sum_f32(float *buf, int64_t n) { (void)buf, (void)n; return CW_OK; }
cw_status cw_dist_allreduce_sum_f64(double *buf, int64_t n) { (void)buf, (void)n; return CW_OK; }
cw_status cw_dist_allgather_rows_f32(float *buf, int64_t n_rows, int64_t width) {
    (void)buf, (void)n_rows, (void)width;
    return CW_OK;
}
cw_status cw_dist_allgather_rows_f64(double *buf, int64_t n_rows, int64_t width) {
    (void)buf, (void)n_rows, (void)width;
    return CW_OK;
}
cw_status cw_dist_bcast(void *buf, int64_t bytes, int root) {
    (void)buf, (void)bytes, (void)root;
    return CW_OK;
}
cw_status cw_dist_agree(cw_status st) { return st; }

#endif
