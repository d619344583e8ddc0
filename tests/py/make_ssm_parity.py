#!/usr/bin/env python3
"""Reference run of the sliced-score-matching network (spec score_crl_and_temporal.md §A3.2) in
plain PyTorch float64 for tests/test_crl_ssm_parity.c (STYLE.md "Tests" 2).

Independent of the C code: the network is torch.nn.Sequential(Linear, Tanh, Linear, Tanh, Linear)
and the Hessian-vector term v^T grad_x(s^T v) comes from torch.autograd.grad(create_graph=True),
as in the authors' score_estimators/ssm.py; the C code computes it by a hand forward-mode pass.
Loss on a batch x (B x p) with slices v_k (K x B x p):
    0.5 * mean_i |s(x_i)|^2 + mean_k mean_i v_ik . grad_x(s . v_k)_i + lambda1 * sum |theta|^2
then torch.optim.Adam (lr 1e-3, betas (0.5, 0.999), eps 1e-8) for NSTEPS steps on the same x and
v. Weights are drawn here (numpy seed 2024, U(-1.5/sqrt(in), 1.5/sqrt(in)), larger than torch's
default so the tanh curvature matters); lambda1 = 1e-2 (not the training 1e-5) so that the
penalty's gradient is visible at double precision.

Usage: /usr/bin/python3 tests/py/make_ssm_parity.py
Writes tests/fixtures/ssm_parity.bin, little-endian: magic "CWSSMP01", then records until EOF:
int32 name length, name (no NUL), int32 type (1 float64, 2 int64), int64 count, values.
Records:
    cfg.sizes = p, H, B, K, nsteps                                  int64
    cfg.real = lambda1, lr, beta1, beta2, eps                       float64
    x (B p), v (K B p)                                              float64
    param/W1 (H p), param/b1 (H), param/W2 (H H), param/b2 (H),
    param/W3 (p H), param/b3 (p)      initial weights (OUT, IN)    float64
    s (B p)           network output at x                          float64
    loss.hvp (1)      mean_k mean_i v^T J v                        float64
    loss.total (1)                                                 float64
    grad/<name>       gradient of loss.total                       float64
    step_losses (nsteps)  loss before each Adam step               float64
    final/<name>      parameters after nsteps steps                float64
"""
import os
import struct

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

P, H, B, K, NSTEPS = 3, 6, 7, 2, 3
LAMBDA1, LR, BETAS, EPS = 1e-2, 1e-3, (0.5, 0.999), 1e-8
NAMES = ["W1", "b1", "W2", "b2", "W3", "b3"]


def main():
    rng = np.random.default_rng(2024)
    net = torch.nn.Sequential(torch.nn.Linear(P, H), torch.nn.Tanh(), torch.nn.Linear(H, H),
                              torch.nn.Tanh(), torch.nn.Linear(H, P))
    params = list(net.parameters())  # W1, b1, W2, b2, W3, b3
    with torch.no_grad():
        for lin in (net[0], net[2], net[4]):
            bound = 1.5 / np.sqrt(lin.in_features)
            lin.weight.copy_(torch.from_numpy(rng.uniform(-bound, bound, lin.weight.shape)))
            lin.bias.copy_(torch.from_numpy(rng.uniform(-bound, bound, lin.bias.shape)))
    init = [prm.detach().clone() for prm in params]
    x = torch.from_numpy(rng.standard_normal((B, P)))
    v = torch.from_numpy(rng.standard_normal((K, B, P)))

    def loss_fn():
        xr = x.clone().requires_grad_(True)
        s = net(xr)
        loss = 0.5 * s.pow(2).sum(dim=-1).mean()
        terms = []
        for k in range(K):
            g = torch.autograd.grad((s * v[k]).sum(), xr, create_graph=True)[0]
            terms.append((v[k] * g).sum(dim=-1).mean())
        hvp = torch.stack(terms).mean()
        total = loss + hvp + LAMBDA1 * sum(prm.pow(2).sum() for prm in params)
        return s, hvp, total

    s, hvp, total = loss_fn()
    grads = torch.autograd.grad(total, params)

    opt = torch.optim.Adam(params, lr=LR, betas=BETAS, eps=EPS)
    step_losses = []
    for _ in range(NSTEPS):
        opt.zero_grad()
        _, _, t = loss_fn()
        step_losses.append(t.item())
        t.backward()
        opt.step()

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                       "ssm_parity.bin")
    with open(out, "wb") as f:
        f.write(b"CWSSMP01")

        def rec(name, a, typ):
            data = np.ascontiguousarray(np.asarray(a, dtype="<f8" if typ == 1 else "<i8")).ravel()
            nb = name.encode()
            f.write(struct.pack("<i", len(nb)) + nb + struct.pack("<iq", typ, data.size))
            f.write(data.tobytes())

        rec("cfg.sizes", [P, H, B, K, NSTEPS], 2)
        rec("cfg.real", [LAMBDA1, LR, BETAS[0], BETAS[1], EPS], 1)
        rec("x", x.numpy(), 1)
        rec("v", v.numpy(), 1)
        for name, t0 in zip(NAMES, init):
            rec("param/" + name, t0.numpy(), 1)
        rec("s", s.detach().numpy(), 1)
        rec("loss.hvp", [hvp.item()], 1)
        rec("loss.total", [total.item()], 1)
        for name, g in zip(NAMES, grads):
            rec("grad/" + name, g.numpy(), 1)
        rec("step_losses", step_losses, 1)
        for name, prm in zip(NAMES, params):
            rec("final/" + name, prm.detach().numpy(), 1)
    print(f"wrote {out} ({os.path.getsize(out)} bytes): loss {total.item():.12f}, "
          f"hvp {hvp.item():.12f}, step losses {step_losses}")


if __name__ == "__main__":
    main()
