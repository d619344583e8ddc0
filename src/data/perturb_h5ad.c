/* perturb_h5ad.c: building the perturbation design from an .h5ad obs column (see the header). */
#include "data/perturb_h5ad.h"

#include "core/status.h"

#include <stdio.h>
#include <string.h>

cw_status cw_perturb_design_from_h5ad(cw_perturb_design *out, cw_h5ad *h, const char *key,
                                      const cw_perturb_opts *opts) {
    memset(out, 0, sizeof *out);
    cw_strings cols = {0, NULL}, names = {0, NULL};
    cw_column col;
    memset(&col, 0, sizeof col);
    const char *path = cw_h5ad_path(h);
    cw_status st = cw_h5ad_list_columns(h, "obs", &cols);
    if (st != CW_OK) return st;
    const char *chosen = NULL;
    st = cw_perturb_choose_key(&cols, key, path, &chosen);
    char field[400];
    if (st == CW_OK) {
        snprintf(field, sizeof field, "/obs/%s", chosen);
        st = cw_h5ad_read_column(h, "obs", chosen, &col);
    }
    if (st == CW_OK && col.kind != CW_COL_STRING)
        st = cw_fail(CW_EFORMAT,
                     "%s: %s: expected strings or categorical perturbation labels, found "
                     "numbers; choose another column with --perturbation-key",
                     path, field);
    if (st == CW_OK) {
        cw_perturb_opts o;
        if (opts)
            o = *opts;
        else
            cw_perturb_opts_default(&o);
        o.source = path;
        o.field = field;
        o.key = chosen;
        o.declared = col.is_categorical ? &col.categories : NULL;
        /* obs_names only improve messages: a file without a readable index still loads */
        o.cell_names = cw_h5ad_read_index(h, "obs", &names) == CW_OK ? &names : NULL;
        st = cw_perturb_design_build(out, &col.values, &o);
    }
    cw_strings_free(&names);
    cw_column_free(&col);
    cw_strings_free(&cols);
    return st;
}
