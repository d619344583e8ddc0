#!/usr/bin/env python3
"""Reference run of CMVAE in plain PyTorch float64 for tests/test_cmvae_parity.c (spec
grace_cmvae.md §4.0, §4.1, §4.6, §5.1, §5.4; STYLE.md "Tests" 2).

The model is written from the spec, independently of the C code (its pieces live in
tests/py/cmvae_torch.py), in the upstream style: one-hot c through the full c1 layer, c_shift via
c @ c_shift, the DAG layer through torch.inverse(I - triu(G, 1)), the MMD through the expanded
2n x 2n x D difference tensor, torch.optim.Adam (lr 1e-3) with grad.clamp_(-0.5, 0.5) before each
step.

Usage (Debian python3 with python3-torch):
    build/tests/test_cmvae_parity --export /tmp/cmvae_init.bin   # C initial weights (float32)
    /usr/bin/python3 tests/py/make_cmvae_parity.py /tmp/cmvae_init.bin
Writes tests/fixtures/cmvae_parity.bin (little-endian):
    magic "CWCMVAP1"; int64 G, Z, C, H, B, k, k2 (double case), nsteps, total;
    float64 alpha, beta, tau, lambda, mmd_sigma, kernel_num, grad_clip, lr;
    float32 params[total] (C's initial weights, table order), x[B*G], y[B*G], eps[B*Z];
    float32 y_hat[B*G], x_recon[B*G] (forward at tau), grads[total] (before clamping),
            y_hat_double[B*G] (targets k and k2 at tau 1, same eps);
    float64 mmd, mse, kl, l1, total; float64 losses[nsteps] (total before each Adam step).
References are rounded to float32 (the C model under test is float32; 6e-8 relative is far
below the tolerances) to keep the fixture under 200 KB. Deterministic (numpy seed 3).
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

from cmvae_torch import (CORE_NAMES as NAMES, c_encode_onehot, core_shapes as shapes, dag_inverse,
                         decode, encode, kl_loss, l1_loss, mmd_loss)

torch.set_default_dtype(torch.float64)


def read_init(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"CWCMVW1\0", "not a C weight export"
    G, Z, C, H, total = struct.unpack_from("<5q", data, 8)
    w = np.frombuffer(data, dtype="<f4", count=total, offset=8 + 5 * 8)
    return G, Z, C, H, w


def forward(p, x, c, c2, eps, tau, Z):
    mu, var = encode(p, x)
    z = mu + torch.sqrt(var) * eps
    m = dag_inverse(p)
    bc, s = c_encode_onehot(p, c, tau)
    zi = z + s.unsqueeze(1) * bc
    if c2 is not None:
        bc2, s2 = c_encode_onehot(p, c2, tau)
        zi = zi + s2.unsqueeze(1) * bc2
    u_int, u_obs = zi @ m, z @ m
    return decode(p, u_int), decode(p, u_obs), mu, var


def losses(p, x, y, c, eps, w, Z):
    y_hat, x_recon, mu, var = forward(p, x, c, None, eps, w["tau"], Z)
    mmd = mmd_loss(y_hat, y, kernel_num=w["kernel_num"], fix_sigma=w["sigma"])
    mse = F.mse_loss(x_recon, x)
    kl = kl_loss(mu, var)
    l1 = l1_loss(p)
    total = w["alpha"] * mmd + mse + w["beta"] * kl + w["lambda"] * l1
    return y_hat, x_recon, (mmd, mse, kl, l1, total)


def main():
    G, Z, C, H, w0 = read_init(sys.argv[1])
    B, k, k2, nsteps = 8, 2, 3, 10
    w = dict(alpha=float(np.float32(2.0)), beta=float(np.float32(0.5)),
             tau=float(np.float32(1.5)), **{"lambda": 1e-3}, sigma=1000.0, kernel_num=10,
             clip=0.5, lr=1e-3)
    rng = np.random.default_rng(3)
    # cells resembling log-normalised counts (non-negative, some zeros)
    x = np.maximum(rng.normal(0.8, 1.0, (B, G)), 0).astype(np.float32)
    y = np.maximum(rng.normal(1.0, 1.2, (B, G)), 0).astype(np.float32)
    eps = rng.normal(0, 1, (B, Z)).astype(np.float32)

    p, off = {}, 0
    for name, shp in zip(NAMES, shapes(G, Z, C, H)):
        n = int(np.prod(shp))
        p[name] = torch.tensor(w0[off:off + n].astype(np.float64).reshape(shp), requires_grad=True)
        off += n
    assert off == len(w0)
    params = [p[n] for n in NAMES]
    xt, yt, et = (torch.tensor(a.astype(np.float64)) for a in (x, y, eps))
    onehot = lambda j: F.one_hot(torch.full((B,), j), C).to(torch.float64)

    y_hat, x_recon, terms = losses(p, xt, yt, onehot(k), et, w, Z)
    terms[4].backward()
    grads = np.concatenate([q.grad.detach().numpy().ravel() for q in params])
    with torch.no_grad():
        y_dbl, _, _, _ = forward(p, xt, onehot(k), onehot(k2), et, 1.0, Z)
    for q in params:
        q.grad = None

    opt = torch.optim.Adam(params, lr=w["lr"])
    step_losses = []
    for _ in range(nsteps):
        opt.zero_grad()
        _, _, t = losses(p, xt, yt, onehot(k), et, w, Z)
        step_losses.append(float(t[4]))
        t[4].backward()
        for q in params:
            q.grad.clamp_(-w["clip"], w["clip"])
        opt.step()

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                       "cmvae_parity.bin")
    f32 = lambda a: np.ascontiguousarray(np.asarray(a, dtype="<f4")).tobytes()
    with open(out, "wb") as f:
        f.write(b"CWCMVAP1")
        f.write(struct.pack("<9q", G, Z, C, H, B, k, k2, nsteps, len(w0)))
        f.write(struct.pack("<8d", w["alpha"], w["beta"], w["tau"], w["lambda"], w["sigma"],
                            float(w["kernel_num"]), w["clip"], w["lr"]))
        for a in (w0, x, y, eps, y_hat.detach().numpy(), x_recon.detach().numpy(), grads,
                  y_dbl.numpy()):
            f.write(f32(a))
        f.write(struct.pack("<5d", *[float(t) for t in terms]))
        f.write(struct.pack("<%dd" % nsteps, *step_losses))
    print("wrote %s (%d bytes); losses %s; step losses %s" %
          (out, os.path.getsize(out), [float(t) for t in terms], step_losses))


if __name__ == "__main__":
    main()
