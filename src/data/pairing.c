/* pairing.c: seeded control pairing, uniform with replacement (spec §2.5; see pairing.h). */
#include "data/pairing.h"

#include "core/rng.h"
#include "core/status.h"

cw_status cw_pair_controls(const cw_perturb_design *d, uint64_t seed, int64_t *pair) {
    if (d->n_controls < 1)
        return cw_fail(CW_EINVAL, "control pairing: the design has no control cells");
    cw_rng rng;
    cw_rng_substream(&rng, seed, CW_RNG_STREAM_PAIRING);
    for (int64_t i = 0; i < d->n_cells; i++)
        pair[i] = d->cell_pert[i] < 0 ? -1 : d->control_cells[cw_rng_below(&rng, d->n_controls)];
    return CW_OK;
}
