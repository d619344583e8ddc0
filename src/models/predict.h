/* predict.h: generating cells for any combination of known targets from a trained run (issue
 * #3 item 6; spec grace_cmvae.md §4.6 double perturbations, §6.1 tau = 1 and sampled noise).
 *
 * For each requested perturbation (one or two known targets), `cells` control cells are drawn
 * uniformly with replacement from the run's controls and passed through the model (tau = 1, a
 * fresh reparameterisation sample), in chunks of the model's batch. Randomness: request i draws
 * controls and noise from cw_rng_substream(seed, CW_RNG_STREAM_PREDICT + i). The output .h5ad
 * holds the generated cells (dense float32 X, genes as in the training data), obs
 * `perturbation` (canonical label "A,B"), `n_targets`, obs index "pred_<i>_<j>", var index and
 * uns/causeway (command, run, config, seed, version).
 */
#ifndef CW_MODELS_PREDICT_H
#define CW_MODELS_PREDICT_H

#include "causeway.h"
#include "core/strings.h"

#include <stdint.h>

#define CW_RNG_STREAM_PREDICT 0x50524544ull /* "PRED" */

/* requests: labels of one or two targets separated by ',' or '+' ("KLF1", "KLF1+MAP2K6").
 * An unknown target is CW_ENOTFOUND naming the closest known targets. */
cw_status cw_predict(const char *run_dir, const cw_strings *requests, int64_t cells,
                     uint64_t seed, const char *out_path, int64_t memory_cap);

#endif
