/* strings.h: a list of owned C strings (gene names, obs labels, categories).
 * An entry may be NULL: a missing value (categorical code -1).
 */
#ifndef CW_STRINGS_H
#define CW_STRINGS_H

#include "causeway.h"

#include <stdint.h>

typedef struct {
    int64_t n;
    char **s; /* n owned strings; NULL = missing */
} cw_strings;

/* Allocates n NULL entries. */
cw_status cw_strings_alloc(cw_strings *out, int64_t n);
/* Copies s (may be NULL) into entry i. */
cw_status cw_strings_set(cw_strings *l, int64_t i, const char *s);
/* Appends a copy of s (may be NULL). */
cw_status cw_strings_push(cw_strings *l, const char *s);
void cw_strings_free(cw_strings *l);
/* Index of the first entry equal to s, or -1. */
int64_t cw_strings_find(const cw_strings *l, const char *s);
/* Index of the first duplicated entry (the second occurrence), or -1. Missing entries ignored. */
int64_t cw_strings_first_duplicate(const cw_strings *l);

#endif
