/* rng.h: deterministic pseudo-random numbers (xoshiro256** seeded through splitmix64).
 *
 * A run is reproducible from its seed: every random choice in causeway draws from a cw_rng
 * created from the run's seed, or from a named substream of it (cw_rng_substream), so adding a
 * draw in one component does not shift the draws of another.
 */
#ifndef CW_RNG_H
#define CW_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
    int has_spare;
    double spare; /* second normal of the polar method */
} cw_rng;

void cw_rng_seed(cw_rng *r, uint64_t seed);
/* An independent stream derived from (seed, stream): same inputs, same stream. */
void cw_rng_substream(cw_rng *r, uint64_t seed, uint64_t stream);
uint64_t cw_rng_u64(cw_rng *r);
double cw_rng_uniform(cw_rng *r);                 /* [0, 1), 53 random bits */
int64_t cw_rng_below(cw_rng *r, int64_t n);       /* uniform in [0, n), unbiased; n > 0 */
double cw_rng_normal(cw_rng *r);                  /* N(0, 1) */
double cw_rng_gamma(cw_rng *r, double shape);     /* Gamma(shape, 1), shape > 0 */
int64_t cw_rng_poisson(cw_rng *r, double lambda); /* Poisson(lambda), lambda >= 0 */
/* Fisher-Yates shuffle of n int64 values. */
void cw_rng_shuffle_i64(cw_rng *r, int64_t *a, int64_t n);

#endif
