/* causeway.h: the one public header of the causeway library.
 *
 * Conventions (STYLE.md): every library call returns a cw_status; on failure a message with
 * context ("file: field: what was expected") is retrievable with cw_errmsg(). Sizes and offsets
 * are int64_t. Handles are opaque; their layouts live in the src/ headers.
 */
#ifndef CAUSEWAY_H
#define CAUSEWAY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CW_VERSION "0.1.0"

typedef enum {
    CW_OK = 0,
    CW_ENOMEM = 1,   /* allocation failed */
    CW_EIO = 2,      /* file missing, unreadable or unwritable */
    CW_EFORMAT = 3,  /* file readable but not what was expected */
    CW_EINVAL = 4,   /* bad argument or option value */
    CW_ENOTFOUND = 5 /* a named field, column or key is absent */
} cw_status;

/* The message of the last failure on this thread ("" when none). */
const char *cw_errmsg(void);
/* A short name for a status code ("CW_EFORMAT"). */
const char *cw_status_name(cw_status st);

/* Allocator hook: all library allocations go through these (tests inject failures). */
typedef struct {
    void *(*malloc_fn)(size_t size, void *ctx);
    void *(*realloc_fn)(void *p, size_t size, void *ctx);
    void (*free_fn)(void *p, void *ctx);
    void *ctx;
} cw_allocator;
/* NULL restores the C library allocator. */
void cw_set_allocator(const cw_allocator *a);

#ifdef __cplusplus
}
#endif
#endif
