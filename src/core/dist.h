/* dist.h: the data-parallel process group (issue #6 item 4; STYLE.md "Distributed": MPI,
 * written to the standard, tested with Open MPI). One group, MPI_COMM_WORLD; every call is a
 * collective that every process of the group must make in the same order.
 *
 * Built without MPI (no CW_HAVE_MPI) or started without a launcher, the group is this one
 * process: rank 0 of 1, and every collective is a no-op that returns CW_OK. MPI is initialised
 * only when a launcher started the program (mpirun/mpiexec set OMPI_COMM_WORLD_SIZE, PMIX_RANK
 * or PMI_SIZE; CW_MPI=1 forces it), so a plain run never pays for MPI_Init; it is initialised
 * once per process (cw_dist_init is idempotent) and finalised at exit.
 * Counts are int64_t; buffers above INT_MAX elements are sent in pieces.
 */
#ifndef CW_CORE_DIST_H
#define CW_CORE_DIST_H

#include "causeway.h"

#include <stdint.h>

/* 1 when this build can run more than one process (compiled with MPI). */
int cw_dist_available(void);
/* Joins the group (MPI_Init when launched by mpirun; see above). Idempotent. */
cw_status cw_dist_init(void);
int cw_dist_rank(void); /* 0 before init or without MPI */
int cw_dist_size(void); /* 1 before init or without MPI */

/* Rows [*row0, *row0 + *rows) of n rows for process `rank` of `size`: contiguous shards in rank
 * order, the first n % size shards one row longer. */
void cw_dist_shard(int64_t n, int rank, int size, int64_t *row0, int64_t *rows);

/* buf (n) = sum over the group of every process's buf (n), in place. */
cw_status cw_dist_allreduce_sum_f32(float *buf, int64_t n);
cw_status cw_dist_allreduce_sum_f64(double *buf, int64_t n);
/* buf (n_rows, width): each process holds its cw_dist_shard(n_rows) rows in place; after the
 * call every process holds all rows. */
cw_status cw_dist_allgather_rows_f32(float *buf, int64_t n_rows, int64_t width);
cw_status cw_dist_allgather_rows_f64(double *buf, int64_t n_rows, int64_t width);
/* bytes of buf from process root to all. */
cw_status cw_dist_bcast(void *buf, int64_t bytes, int root);
/* Agreement on an outcome: returns st when it is not CW_OK; otherwise CW_OK when every process
 * passed CW_OK, else the failing processes' (largest) status with the message "another process
 * of the group failed". Use after a step only some processes take (rank 0's file writes), so
 * that all continue or all stop. */
cw_status cw_dist_agree(cw_status st);

#endif
