/* activation.h: LeakyReLU (slope 0.2) and softplus (PyTorch beta 1, threshold 20), spec §4.0
 * and §5.6. Elementwise over n values; backward accumulates (+=) into dinp.
 *   lrelu(v)     = v if v > 0 else 0.2 v;   lrelu'(v) = 1 if v > 0 else 0.2 (0.2 at exactly 0,
 *                  as torch).
 *   softplus(v)  = v if v > 20 else log1p(exp(v));   softplus'(v) = 1 if v > 20 else
 *                  e/(e+1), e = exp(v) (torch's formula for sigmoid(v)).
 *   relu(v)      = max(v, 0);   relu'(v) = 1 if v > 0 else 0   (between the layers of a deep GAT,
 *                  spec §4.2 mode 13)
 *   tanh(v);     tanh'(v) = 1 - tanh(v)^2   (eta head of the graph intervention encoders, §4.5) */
#ifndef CW_NN_ACTIVATION_H
#define CW_NN_ACTIVATION_H

#include "nn/real.h"

#include <stdint.h>

#define CW_LRELU_SLOPE 0.2
#define CW_SOFTPLUS_THRESHOLD 20.0

/* leaky relu: inp (N) -> out (N); out may alias inp (in place) */
void cw_lrelu_forward(real *out, const real *inp, int64_t n);
/* in place: x (N, W) = lrelu(x + bias) with bias (W) added to every row (a linear layer's
 * epilogue: the same values as adding the bias, then cw_lrelu_forward) */
void cw_bias_lrelu_forward(real *x, const real *bias, int64_t n, int64_t width);
/* accumulates: dinp (N) += dout * lrelu'(x); x (N) is the layer's input or its output (both
 * have the same sign, so an in-place forward loses nothing) */
void cw_lrelu_backward(real *dinp, const real *dout, const real *x, int64_t n);
/* in place, overwrites: d (N) = d * lrelu'(x) (the backward into a buffer that would otherwise be
 * zeroed first; equal to cw_lrelu_backward into zeros) */
void cw_lrelu_backward_inplace(real *d, const real *x, int64_t n);

/* softplus: inp (N) -> out (N); out may alias inp, but backward needs inp */
void cw_softplus_forward(real *out, const real *inp, int64_t n);
/* accumulates: dinp (N) += dout * softplus'(inp) */
void cw_softplus_backward(real *dinp, const real *dout, const real *inp, int64_t n);

/* relu: inp (N) -> out (N); out may alias inp */
void cw_relu_forward(real *out, const real *inp, int64_t n);
/* accumulates: dinp (N) += dout * relu'(x); x is the layer's input or output */
void cw_relu_backward(real *dinp, const real *dout, const real *x, int64_t n);
/* tanh: inp (N) -> out (N); out may alias inp */
void cw_tanh_forward(real *out, const real *inp, int64_t n);
/* accumulates: dinp (N) += dout * (1 - out^2); out is the forward's OUTPUT */
void cw_tanh_backward(real *dinp, const real *dout, const real *out, int64_t n);

#endif
