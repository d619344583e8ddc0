#!/usr/bin/env python3
"""Reference GSCALE-I GLM run in plain PyTorch float64 for tests/test_crl_gscale.c (spec
score_crl_and_temporal.md §A4.4, §A4.7; STYLE.md "Tests" 2).

Written from the spec, independently of the C code: the pseudo-inverse is torch.linalg.pinv with
autograd (the C code uses a closed-form differential), the decoder Jacobian comes from
torch.autograd.functional.jacobian with create_graph=True (the C code writes J = diag(f') U),
the optimiser is torch.optim.RMSprop (lr 1e-3, torch defaults alpha 0.99, eps 1e-8).

Input (drawn here, numpy seed 5): a 3-node linear Gaussian SCM (edges 0->1, 0->2, 1->2), two hard
interventions per node (variance x4.0 and x0.25), x = clamp(tanh(G z), +-(1-1e-6)) with d = 8,
N = 40 observational samples, exact latent score differences transported to x with
pinv(J_g(z))^T, and a start U0 ~ U[-0.5, 0.5]^{d x n}.

Usage: /usr/bin/python3 tests/py/make_gscale_parity.py
Writes tests/fixtures/gscale_parity.bin (little-endian):
    magic "CWGSCP1\\0"; int64 N, d, n, nrms, full_steps, lr_every;
    float64 lambda_recon, lr, lr_gamma, stop_loss, lambda_g;
    float64 x[N*d], ds_hh[n][N*d], ds_ho[n][N*d], u0[d*n];
    float64 loss, main, recon, dhat[n*n] (latent k, env m), grad[d*n]  (at u0);
    float64 u_rms[nrms][d*n]  (U after each RMSprop step from u0, constant lr);
    full run from u0 (at most full_steps steps, lr x gamma after steps 0, lr_every, ...,
    early stop when main < stop_loss at a step = 0 mod lr_every):
    float64 steps, main_last, u[d*n] (unit columns, row 0 >= 0, environment order),
            perm[n], dhat[n*n], dhat_ho[n*n], g[n*n]  (dhat_ho > lambda_g, closest DAG).
"""
import itertools
import os
import struct

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
CLAMP = 1.0 - 1e-6


def scm_scores(z, w, v, node=None, var_scale=1.0):
    """grad_z log p(z) for z_i = sum_j w[j, i] z_j + sqrt(v_i) eps, node hard-intervened."""
    w = w.copy()
    v = v.copy()
    if node is not None:
        w[:, node] = 0.0
        v[node] *= var_scale
    n = len(v)
    b = np.eye(n) - w.T  # residual r = b z
    prec = b.T @ np.diag(1.0 / v) @ b
    return -(z @ prec.T)


def make_data(rng, n=3, d=8, N=40):
    adj = np.zeros((n, n), dtype=bool)
    adj[0, 1] = adj[0, 2] = adj[1, 2] = True
    w = np.where(adj, np.sign(rng.uniform(size=(n, n)) - 0.5) * (0.5 + rng.uniform(size=(n, n))),
                 0.0)
    v = rng.uniform(0.5, 1.5, size=n)
    z = np.zeros((N, n))
    for i in range(n):
        z[:, i] = z @ w[:, i] + np.sqrt(v[i]) * rng.standard_normal(N)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    r = rng.uniform(-0.5, 0.5, size=(n, n)) + np.eye(n)
    g = q[:, :n] @ r
    g = g / np.abs(g).max(axis=0, keepdims=True)
    a = z @ g.T
    x = np.clip(np.tanh(a), -CLAMP, CLAMP)
    s0 = scm_scores(z, w, v)
    ds_hh, ds_ho = [], []
    for m in range(n):
        s1 = scm_scores(z, w, v, m, 4.0)
        s2 = scm_scores(z, w, v, m, 0.25)
        for dz, out in ((s1 - s2, ds_hh), (s1 - s0, ds_ho)):
            dx = np.empty((N, d))
            for i in range(N):
                jac = (1.0 - np.tanh(a[i]) ** 2)[:, None] * g
                dx[i] = np.linalg.pinv(jac).T @ dz[i]
            out.append(dx)
    u0 = rng.uniform(size=(d, n)) - 0.5
    return adj, x, ds_hh, ds_ho, u0


def decoder(zh, u):
    return torch.clamp(torch.tanh(zh @ u.T), -CLAMP, CLAMP)


def dmat(u, y, ds, create_graph):
    """D[k, m] = mean_i |(J_i^T ds_m(x_i))_k| with J_i from autograd."""
    zh = y @ torch.linalg.pinv(u).T
    N, n = zh.shape
    # f acts row by row, so the Jacobian of the column sums holds every J_i: jac[j, i, k]
    jac = torch.autograd.functional.jacobian(lambda t: decoder(t, u).sum(0), zh,
                                             create_graph=create_graph)
    cols = []
    for dsm in ds:
        proj = torch.einsum("jik,ij->ik", jac, dsm)
        cols.append(proj.abs().mean(0))
    return torch.stack(cols, dim=1), zh


def loss_fn(u, x, y, ds, lam):
    d_hat, zh = dmat(u, y, ds, True)
    n = u.shape[1]
    eye = torch.eye(n)
    main = torch.relu(0.5 - d_hat.diagonal()).mean() + (d_hat * (1 - eye)).sum() / (n * (n - 1))
    recon = ((decoder(zh, u) - x) ** 2).sum() / x.shape[0]
    return main + lam * recon, main, recon, d_hat


def closest_dag(g):
    n = g.shape[0]
    best, best_order = -1, None
    for order in itertools.permutations(range(n)):  # lexicographic: first optimum kept
        pos = {v: i for i, v in enumerate(order)}
        cnt = sum(1 for a in range(n) for b in range(n) if g[a, b] and pos[a] < pos[b])
        if cnt > best:
            best, best_order = cnt, order
    pos = {v: i for i, v in enumerate(best_order)}
    out = np.zeros_like(g)
    for a in range(n):
        for b in range(n):
            out[a, b] = g[a, b] and pos[a] < pos[b]
    return out


def main():
    rng = np.random.default_rng(5)
    N, d, n = 40, 8, 3
    adj, x_np, hh_np, ho_np, u0 = make_data(rng, n, d, N)
    lam, lr, gamma, stop, lam_g, every, full_steps, nrms = 1.0, 1e-3, 0.95, 1e-2, 0.05, 1000, 2100, 3
    x = torch.tensor(x_np)
    y = torch.atanh(torch.clamp(x, -CLAMP, CLAMP))
    hh = [torch.tensor(a) for a in hh_np]
    ho = [torch.tensor(a) for a in ho_np]

    u = torch.tensor(u0, requires_grad=True)
    loss, main_l, recon, d_hat = loss_fn(u, x, y, hh, lam)
    loss.backward()
    grad = u.grad.detach().clone()
    first = [loss.item(), main_l.item(), recon.item()]
    first_d = d_hat.detach().numpy().copy()

    u = torch.tensor(u0, requires_grad=True)
    opt = torch.optim.RMSprop([u], lr=lr)
    u_rms = []
    for _ in range(nrms):
        opt.zero_grad()
        loss_fn(u, x, y, hh, lam)[0].backward()
        opt.step()
        u_rms.append(u.detach().numpy().copy())

    u = torch.tensor(u0, requires_grad=True)
    opt = torch.optim.RMSprop([u], lr=lr)
    steps, main_last = 0, 0.0
    for step in range(full_steps):
        opt.zero_grad()
        loss, main_l, _, _ = loss_fn(u, x, y, hh, lam)
        loss.backward()
        opt.step()
        steps, main_last = step + 1, main_l.item()
        if step % every == 0:
            if main_l.item() < stop:
                break
            opt.param_groups[0]["lr"] *= gamma
    with torch.no_grad():
        uf = u.detach().clone()
        uf = uf / uf.norm(dim=0, keepdim=True)
        sg = torch.where(uf[0] < 0, -1.0, 1.0)
        uf = uf * sg
        d_hh = dmat(uf, y, hh, False)[0].numpy()
    # greedy: largest remaining entry (first column, then first row on ties)
    perm = np.zeros(n, dtype=np.int64)
    used_r, used_c = set(), set()
    for _ in range(n):
        best, bi, bj = -1.0, -1, -1
        for j in range(n):
            if j in used_c:
                continue
            for i in range(n):
                if i in used_r:
                    continue
                if bi < 0 or abs(d_hh[i, j]) > best:
                    best, bi, bj = abs(d_hh[i, j]), i, j
        perm[bj] = bi
        used_r.add(bi)
        used_c.add(bj)
    uf = uf[:, perm]
    d_hh = d_hh[perm, :]
    with torch.no_grad():
        d_ho = dmat(uf, y, ho, False)[0].numpy()
    graw = (d_ho > lam_g) & ~np.eye(n, dtype=bool)
    g = closest_dag(graw)
    print(f"loss {first[0]:.6g} steps {steps} main {main_last:.4g} perm {perm.tolist()}")
    print("dhat_ho\n", d_ho, "\ngraph\n", g.astype(int), "\ntrue\n", adj.astype(int))

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                       "gscale_parity.bin")
    with open(out, "wb") as f:
        f.write(b"CWGSCP1\0")
        f.write(struct.pack("<6q", N, d, n, nrms, full_steps, every))
        f.write(struct.pack("<5d", lam, lr, gamma, stop, lam_g))

        def put(a):
            f.write(np.ascontiguousarray(a, dtype="<f8").tobytes())

        put(x_np)
        for a in hh_np:
            put(a)
        for a in ho_np:
            put(a)
        put(u0)
        put(np.array(first))
        put(first_d)
        put(grad.numpy())
        for a in u_rms:
            put(a)
        put(np.array([steps, main_last], dtype=float))
        put(uf.numpy())
        put(perm.astype(float))
        put(d_hh)
        put(d_ho)
        put(g.astype(float))
    print("wrote", os.path.normpath(out), os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
