/* pairing.h: control pairing (spec grace_cmvae.md §2.5).
 *
 * Each perturbed cell i gets one control cell drawn uniformly with replacement from all
 * d->n_controls controls: pair[i] = the *cell index* of that control; pair[i] = -1 for control
 * cells. Draws come from cw_rng_substream(seed, CW_RNG_STREAM_PAIRING), one cw_rng_below per
 * perturbed cell in file order, so the pairing is a pure function of (design, seed): fixed for a
 * run and independent of the split (val/test/combination cells are paired from the same stream,
 * unlike the reference code, which re-pairs double-perturbation cells at test time, §2.6).
 */
#ifndef CW_PAIRING_H
#define CW_PAIRING_H

#include "causeway.h"
#include "data/perturb.h"

#include <stdint.h>

#define CW_RNG_STREAM_PAIRING 0x50414952ull /* "PAIR" */

/* Fills pair (d->n_cells int64). CW_EINVAL when the design has no controls. */
cw_status cw_pair_controls(const cw_perturb_design *d, uint64_t seed, int64_t *pair);

#endif
