/* alloc.c: allocator hook and test-time failure injection (STYLE.md "one allocator hook"). */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

static cw_allocator cw_alloc_hook; /* zero = libc */
static int64_t cw_fail_budget = -1;
static int64_t cw_fail_count = 0;

void cw_set_allocator(const cw_allocator *a) {
    if (a) cw_alloc_hook = *a;
    else memset(&cw_alloc_hook, 0, sizeof cw_alloc_hook);
}

void cw_alloc_fail_after(int64_t budget) {
    cw_fail_budget = budget;
    cw_fail_count = 0;
}

int64_t cw_alloc_injected_failures(void) { return cw_fail_count; }

static int cw_inject(void) {
    if (cw_fail_budget < 0) return 0;
    if (cw_fail_budget == 0) {
        cw_fail_count++;
        return 1;
    }
    cw_fail_budget--;
    return 0;
}

void *cw_malloc(size_t size) {
    if (cw_inject()) return NULL;
    if (size == 0) size = 1;
    if (cw_alloc_hook.malloc_fn) return cw_alloc_hook.malloc_fn(size, cw_alloc_hook.ctx);
    return malloc(size);
}

void *cw_realloc(void *p, size_t size) {
    if (cw_inject()) return NULL;
    if (size == 0) size = 1;
    if (cw_alloc_hook.realloc_fn) return cw_alloc_hook.realloc_fn(p, size, cw_alloc_hook.ctx);
    return realloc(p, size);
}

void cw_free(void *p) {
    if (!p) return;
    if (cw_alloc_hook.free_fn) cw_alloc_hook.free_fn(p, cw_alloc_hook.ctx);
    else free(p);
}

void *cw_malloc_array(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return NULL;
    return cw_malloc(n * size);
}

void *cw_calloc(size_t n, size_t size) {
    void *p = cw_malloc_array(n, size);
    if (p) memset(p, 0, n * size);
    return p;
}

char *cw_strdup(const char *s) {
    size_t len = strlen(s) + 1;
    char *d = cw_malloc(len);
    if (d) memcpy(d, s, len);
    return d;
}
