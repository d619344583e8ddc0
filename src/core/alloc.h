/* alloc.h: the library's allocation entry points (behind the cw_set_allocator hook), and a
 * failure-injection allocator for tests: after `n` successful allocations every further one
 * fails, so a test can walk an I/O path through every possible allocation failure.
 */
#ifndef CW_ALLOC_H
#define CW_ALLOC_H

#include "causeway.h"

#include <stddef.h>
#include <stdint.h>

void *cw_malloc(size_t size);
void *cw_calloc(size_t n, size_t size); /* zeroed; overflow-checked */
void *cw_realloc(void *p, size_t size);
void cw_free(void *p);
char *cw_strdup(const char *s);
/* n*size with overflow check; returns NULL (and sets nothing) on overflow. */
void *cw_malloc_array(size_t n, size_t size);

/* Test helper: fail every allocation after `budget` more successes; negative disables. */
void cw_alloc_fail_after(int64_t budget);
/* Number of allocations that failed by injection since the last cw_alloc_fail_after(). */
int64_t cw_alloc_injected_failures(void);

#endif
