/* rng.c: xoshiro256** (Blackman & Vigna), splitmix64 seeding, and the few distributions
 * causeway needs (normal by the polar method, gamma by Marsaglia-Tsang, Poisson by inversion
 * for small means and by the gamma/binomial-free PTRS method of Hormann 1993 for large ones).
 */
#include "core/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void cw_rng_seed(cw_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0.0;
}

void cw_rng_substream(cw_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ 0x5851F42D4C957F2Dull;
    uint64_t a = splitmix64(&x);
    uint64_t y = stream + 0x2545F4914F6CDD1Dull;
    uint64_t b = splitmix64(&y);
    cw_rng_seed(r, a ^ (b * 0x9E3779B97F4A7C15ull) ^ stream);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cw_rng_u64(cw_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double cw_rng_uniform(cw_rng *r) { return (double)(cw_rng_u64(r) >> 11) * 0x1.0p-53; }

int64_t cw_rng_below(cw_rng *r, int64_t n) {
    uint64_t un = (uint64_t)n;
    uint64_t lim = UINT64_MAX - UINT64_MAX % un; /* reject the biased tail */
    uint64_t v;
    do v = cw_rng_u64(r);
    while (v >= lim);
    return (int64_t)(v % un);
}

double cw_rng_normal(cw_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * cw_rng_uniform(r) - 1.0;
        v = 2.0 * cw_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double m = sqrt(-2.0 * log(s) / s);
    r->spare = v * m;
    r->has_spare = 1;
    return u * m;
}

double cw_rng_gamma(cw_rng *r, double shape) {
    if (shape < 1.0) { /* boost: G(a) = G(a+1) * U^(1/a) */
        double u = cw_rng_uniform(r);
        return cw_rng_gamma(r, shape + 1.0) * pow(u > 0 ? u : 0x1.0p-53, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = cw_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = cw_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (u > 0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

/* log(k!) without lgamma (which writes the global signgam: not thread-safe): exact sum for
 * small k, Stirling's series with three correction terms (error < 1e-13) above. */
static double log_factorial(int64_t k) {
    if (k < 30) {
        double s = 0.0;
        for (int64_t i = 2; i <= k; i++) s += log((double)i);
        return s;
    }
    double x = (double)k + 1.0, ix = 1.0 / x, ix2 = ix * ix;
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 +
           ix * (1.0 / 12.0 - ix2 * (1.0 / 360.0 - ix2 / 1260.0));
}

int64_t cw_rng_poisson(cw_rng *r, double lambda) {
    if (lambda <= 0.0) return 0;
    if (lambda < 10.0) { /* inversion by sequential search */
        double p = exp(-lambda), f = p, u = cw_rng_uniform(r);
        int64_t k = 0;
        while (u > f && k < 1000) {
            u -= f;
            k++;
            p *= lambda / (double)k;
            f = p;
        }
        return k;
    }
    /* PTRS, Hormann (1993), "The transformed rejection method for generating Poisson random
     * variables". */
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double u = cw_rng_uniform(r) - 0.5, v = cw_rng_uniform(r);
        double us = 0.5 - fabs(u);
        int64_t k = (int64_t)floor((2 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr) return k;
        if (k < 0 || (us < 0.013 && v > us)) continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <=
            -lambda + (double)k * loglam - log_factorial(k))
            return k;
    }
}

void cw_rng_shuffle_i64(cw_rng *r, int64_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = cw_rng_below(r, i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
