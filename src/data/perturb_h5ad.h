/* perturb_h5ad.h: the perturbation design of an .h5ad file (spec grace_cmvae.md §2.1, §2.3).
 *
 * Kept apart from perturb.h so the design logic does not depend on the h5ad layer. Chooses the
 * obs column (cw_perturb_choose_key), reads it (strings or categorical), and builds the design
 * with the file name and "/obs/<key>" in every message; a categorical column's categories are
 * passed as declared labels (an unused non-control category is an error), its obs_names name the
 * cells in messages.
 */
#ifndef CW_PERTURB_H5AD_H
#define CW_PERTURB_H5AD_H

#include "causeway.h"
#include "data/perturb.h"
#include "io/h5ad.h"

/* key: the --perturbation-key value or NULL (default keys). opts may be NULL; its source,
 * field, key, declared and cell_names are filled here; controls and separators are used. */
cw_status cw_perturb_design_from_h5ad(cw_perturb_design *out, cw_h5ad *h, const char *key,
                                      const cw_perturb_opts *opts);

#endif
