/* metric_list.h: a run's named scalar metrics (spec §A5), in insertion order, so experiment
 * drivers aggregate and print whatever an algorithm's evaluation reports.
 */
#ifndef CW_CRL_METRIC_LIST_H
#define CW_CRL_METRIC_LIST_H

#include <stdint.h>
#include <string.h>

#define CW_METRIC_MAX 96
#define CW_METRIC_NAME 40

typedef struct {
    int64_t count;
    char name[CW_METRIC_MAX][CW_METRIC_NAME];
    double value[CW_METRIC_MAX];
} cw_metric_list;

/* Adds or overwrites `name`; silently ignores additions beyond CW_METRIC_MAX (a programmer error
 * caught by the tests, which count the metrics). */
static inline void cw_metric_set(cw_metric_list *l, const char *name, double value) {
    for (int64_t i = 0; i < l->count; i++)
        if (strcmp(l->name[i], name) == 0) {
            l->value[i] = value;
            return;
        }
    if (l->count >= CW_METRIC_MAX) return;
    size_t len = strlen(name);
    if (len > CW_METRIC_NAME - 1) len = CW_METRIC_NAME - 1;
    memcpy(l->name[l->count], name, len);
    l->name[l->count][len] = '\0';
    l->value[l->count++] = value;
}

/* The value of `name`, or NaN when absent. */
static inline double cw_metric_get(const cw_metric_list *l, const char *name) {
    for (int64_t i = 0; i < l->count; i++)
        if (strcmp(l->name[i], name) == 0) return l->value[i];
    return __builtin_nan("");
}

#endif
