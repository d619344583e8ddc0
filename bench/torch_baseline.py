#!/usr/bin/env python3
"""PyTorch baseline of causeway's training step (issue #6 item 2; STYLE.md "Benchmarks").

One step = forward, loss, backward and torch.optim.Adam (lr 1e-3) of CMVAE or GraCE-VAE (SAGE,
1 layer) on a fixed random batch, with the settings of `causeway bench train`: alpha 1, beta 1,
tau 1, lambda 1e-4, MMD sigma 1000 with 10 kernels, C = Z targets (one per step, in turn), no
gradient clamp, eps (and the pathway-node inputs xi) drawn every step. The model's pieces are the
ones the parity fixtures use (tests/py/cmvae_torch.py); C's parameter table and §4.0 init.

--variant direct (default) computes the step the way causeway does, as a competent PyTorch user
would: the target's column of c1 instead of a one-hot product, the DAG layer by one unit
triangular solve for [z + s bc; z] together, one decoder pass over both, the MMD from a Gram
matrix. --variant upstream is the reference code's style (one-hot c, torch.inverse, two decoder
passes, the expanded 2B x 2B x G difference tensor). Both take the message passing of grace as a
sparse mean-aggregation matrix (torch.sparse.mm), as PyG does with scatter; a dense N x N
adjacency (the parity fixtures' form) would not be a fair baseline.

grace's context graph: --nodes N (>= G; nodes 0..G-1 are the genes, the rest pathway nodes with
standard normal inputs xi) and --edges E directed edges = E/2 random undirected pairs without self
loops or duplicates (seeded), symmetric, as causeway's CSR.

Malloc: unless the caller has set them, the script re-executes itself once with
MALLOC_MMAP_THRESHOLD_=1 GiB and MALLOC_TRIM_THRESHOLD_=16 GiB (glibc reads them at start), so
that large activations come from the heap and are not page-faulted in every step; with
--threads T > 0 also OMP_NUM_THREADS=T, then torch.set_num_threads(T) and
torch.set_num_interop_threads(T).

Before timing, one forward and backward of each variant on the same weights and noise: the loss
and every gradient must agree (largest difference per tensor relative to the tensor's largest
element <= 1e-3 in float32, 1e-9 in float64; --no-validate skips it). The first timed-variant
step is untimed and its loss must be finite (as every step's).

Prints one JSON object: model, dtype, threads, median_ms, p10_ms, p90_ms, steps, torch_version,
and the context (variant, shapes, warmup, n_params, loss_first, loss_last, validation_rel_err,
torch_threads, minor_faults_per_step over the timed steps, the malloc settings). Quantiles
interpolate linearly as cw_quantile does. The malloc settings matter: at Norman size they take the
float32 step from ~2,000 minor page faults to 0.

    /usr/bin/python3 bench/torch_baseline.py --model cmvae --genes 5000 --latent-dim 105 \
        --hidden 128 --batch-size 32 --dtype float32 --threads 2 --steps 50 --warmup 5
    /usr/bin/python3 bench/torch_baseline.py --model grace --genes 5000 --latent-dim 105 \
        --nodes 7694 --edges 63000 --dtype float32 --threads 2
"""
import argparse
import json
import math
import os
import resource
import sys
import time

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 34)}
REEXEC_MARK = "CAUSEWAY_TORCH_BASELINE_REEXEC"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["cmvae", "grace"], required=True)
    ap.add_argument("--genes", type=int, required=True, help="G")
    ap.add_argument("--latent-dim", type=int, required=True, help="Z (and C targets)")
    ap.add_argument("--hidden", type=int, default=128, help="H (128)")
    ap.add_argument("--batch-size", type=int, default=32, help="B (32)")
    ap.add_argument("--nodes", type=int, default=0, help="grace: graph nodes N >= G")
    ap.add_argument("--edges", type=int, default=0, help="grace: directed edges (even)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--threads", type=int, default=0, help="intra- and inter-op threads (0: "
                    "torch's default)")
    ap.add_argument("--steps", type=int, default=50, help="timed steps (50)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before (5)")
    ap.add_argument("--variant", choices=["direct", "upstream"], default="direct")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-validate", action="store_true", help="skip the check of the step "
                    "against the other variant")
    a = ap.parse_args(argv)
    for name in ("genes", "latent_dim", "hidden", "batch_size", "steps"):
        if getattr(a, name) < 1:
            ap.error("--%s must be >= 1" % name.replace("_", "-"))
    if a.warmup < 0 or a.threads < 0:
        ap.error("--warmup and --threads must be >= 0")
    if a.model == "grace":
        if a.nodes < a.genes:
            ap.error("grace needs --nodes >= --genes (%d < %d)" % (a.nodes, a.genes))
        if a.edges < 0 or a.edges % 2 or a.edges // 2 > a.nodes * (a.nodes - 1) // 2:
            ap.error("--edges must be even and at most N (N - 1)")
    return a


def ensure_env(threads):
    """re-exec once with the malloc settings (unless set by the caller) and OMP_NUM_THREADS"""
    want = {k: os.environ.get(k, v) for k, v in MALLOC_ENV.items()}
    if threads > 0:
        want["OMP_NUM_THREADS"] = str(threads)
    if all(os.environ.get(k) == v for k, v in want.items()) or os.environ.get(REEXEC_MARK):
        return
    env = dict(os.environ, **want)
    env[REEXEC_MARK] = "1"
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


def random_graph(n, n_dir, rng):
    """(src, dst) of n_dir / 2 random undirected pairs, both directions, no loops/duplicates"""
    import numpy as np
    want = n_dir // 2
    keys = np.empty(0, dtype=np.int64)
    while keys.size < want:
        m = 2 * (want - keys.size) + 16
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
        a, b = np.minimum(a, b), np.maximum(a, b)
        k = (a * n + b)[a != b]
        keys = np.unique(np.concatenate([keys, k]))
    keys = rng.permutation(keys)[:want]
    a, b = keys // n, keys % n
    return np.concatenate([a, b]), np.concatenate([b, a])


def quantile(v, q):
    """linear interpolation between order statistics (core/timer.c cw_quantile)"""
    v = sorted(v)
    pos = q * (len(v) - 1)
    i = int(pos)
    if i >= len(v) - 1:
        return v[-1]
    return v[i] * (1 - (pos - i)) + v[i + 1] * (pos - i)


def main():
    args = parse_args(sys.argv[1:])
    ensure_env(args.threads)

    import numpy as np
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                    "py"))
    import cmvae_torch as cm

    if args.threads > 0:
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(args.threads)
    dt = torch.float32 if args.dtype == "float32" else torch.float64
    G, Z, H, B = args.genes, args.latent_dim, args.hidden, args.batch_size
    C = Z
    alpha, beta, tau, lam, sigma, knum, lr = 1.0, 1.0, 1.0, 1e-4, 1000.0, 10, 1e-3
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    # parameters: C's table and §4.0 initialisation (models/cmvae.c)
    p = {}
    for name, shp in zip(cm.CORE_NAMES, cm.core_shapes(G, Z, C, H)):
        if name in ("fc1.weight", "fc_mean.weight", "fc_var.weight", "d1.weight", "d2.weight"):
            t = torch.randn(shp) * 0.02
        elif name in ("c1.weight", "c1.bias"):
            t = (torch.rand(shp) * 2 - 1) / math.sqrt(C)
        elif name in ("c2.weight", "c2.bias"):
            t = (torch.rand(shp) * 2 - 1) / math.sqrt(H)
        elif name == "G":
            t = torch.randn(shp) * 0.1
        elif name == "c_shift":
            t = torch.ones(shp)
        else:
            t = torch.zeros(shp)
        p[name] = t
    if args.model == "grace":  # PyG SAGEConv init, fan_in 1
        for name in ("gnn.0.lin_l.weight", "gnn.0.lin_l.bias", "gnn.0.lin_r.weight"):
            p[name] = torch.rand((1,) if name.endswith("bias") else (1, 1)) * 2 - 1
    for name in p:
        p[name] = p[name].to(dt).requires_grad_()
    params = list(p.values())
    n_params = sum(t.numel() for t in params)

    # data as `causeway bench train`: about 80% zeros, log1p-count-like values
    def cells(scale):
        u, v = rng.random((B, G)), rng.random((B, G))
        return torch.tensor(np.where(u < 0.8, 0.0, np.log1p(1.0 + scale * v)), dtype=dt)
    x, y = cells(4.0), cells(5.0)

    amean, N = None, args.nodes
    if args.model == "grace":
        src, dst = random_graph(N, args.edges, rng)
        deg = np.bincount(dst, minlength=N).astype(np.float64)
        val = 1.0 / np.maximum(deg, 1.0)[dst]  # mean over in-neighbours; none: 0
        amean = torch.sparse_coo_tensor(torch.tensor(np.stack([dst, src])),
                                        torch.tensor(val, dtype=dt), (N, N)).coalesce()

    def encoder_input(xi):
        if amean is None:
            return x
        h = torch.cat([x.T, xi.unsqueeze(1).expand(N - G, B)], dim=0).unsqueeze(2)  # (N, B, 1)
        agg = torch.sparse.mm(amean, h.reshape(N, B)).reshape(N, B, 1)
        return cm.sage_layer(p, 0, agg, h)[:G, :, 0].T  # read-out at the genes (B, G)

    onehot = torch.eye(C, dtype=dt)

    def loss_direct(k, eps, xi):
        mu, var = cm.encode(p, encoder_input(xi))
        z = mu + torch.sqrt(var) * eps
        bc, s = cm.c_encode_index(p, k, tau)
        u = cm.dag_solve(p, torch.cat([z + s * bc, z], dim=0))
        out = cm.decode(p, u)
        y_hat, x_recon = out[:B], out[B:]
        mmd = cm.mmd_loss_gram(y_hat, y, kernel_num=knum, fix_sigma=sigma)
        return alpha * mmd + F.mse_loss(x_recon, x) + beta * cm.kl_loss(mu, var) + \
            lam * cm.l1_loss(p)

    def loss_upstream(k, eps, xi):
        mu, var = cm.encode(p, encoder_input(xi))
        z = mu + torch.sqrt(var) * eps
        bc, s = cm.c_encode_onehot(p, onehot[k].expand(B, C), tau)
        m = cm.dag_inverse(p)
        y_hat, x_recon = cm.decode(p, (z + s.unsqueeze(1) * bc) @ m), cm.decode(p, z @ m)
        mmd = cm.mmd_loss(y_hat, y, kernel_num=knum, fix_sigma=sigma)
        return alpha * mmd + F.mse_loss(x_recon, x) + beta * cm.kl_loss(mu, var) + \
            lam * cm.l1_loss(p)

    def noise():
        """eps (B, Z) and one draw of the pathway-node inputs xi (N - G) shared by the batch"""
        return torch.randn(B, Z, dtype=dt), torch.randn(max(N - G, 0), dtype=dt)

    # validation before timing: the timed variant's loss and every gradient against the other
    # variant's on the same weights and noise; error per tensor relative to its largest element
    val_err = None
    if not args.no_validate:
        eps, xi = noise()
        grads = []
        for fn in (loss_direct, loss_upstream):
            for t in params:
                t.grad = None
            loss = fn(1 % C, eps, xi)
            loss.backward()
            grads.append([float(loss)] + [t.grad.clone() for t in params])
        for t in params:
            t.grad = None
        (l0, *g0), (l1, *g1) = grads
        val_err = abs(l0 - l1) / max(abs(l1), 1e-30)
        for name, a, b in zip(p, g0, g1):
            err = float((a - b).abs().max()) / max(float(b.abs().max()), 1e-30)
            val_err = max(val_err, err)
        tol = 1e-3 if dt == torch.float32 else 1e-9
        if not val_err <= tol:
            raise SystemExit("torch_baseline: validation: direct and upstream steps differ by "
                             "%.3g (relative, tolerance %g)" % (val_err, tol))

    loss_fn = loss_direct if args.variant == "direct" else loss_upstream
    opt = torch.optim.Adam(params, lr=lr)

    def step(i):
        opt.zero_grad(set_to_none=True)
        eps, xi = noise()
        loss = loss_fn(i % C, eps, xi)
        loss.backward()
        opt.step()
        v = float(loss)
        if not math.isfinite(v):
            raise SystemExit("torch_baseline: step %d: loss %r is not finite" % (i, v))
        return v

    loss_first = step(0)
    for i in range(args.warmup):
        step(1 + i)
    times, loss = [], loss_first
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(args.steps):
        t0 = time.perf_counter()
        loss = step(1 + args.warmup + i)
        times.append(time.perf_counter() - t0)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / args.steps
    ms = [1e3 * t for t in times]
    print(json.dumps({
        "model": args.model, "dtype": args.dtype, "threads": args.threads,
        "median_ms": quantile(ms, 0.5), "p10_ms": quantile(ms, 0.1), "p90_ms": quantile(ms, 0.9),
        "steps": args.steps, "torch_version": torch.__version__, "variant": args.variant,
        "genes": G, "latent_dim": Z, "hidden": H, "batch_size": B, "targets": C,
        "nodes": N if amean is not None else 0, "edges": args.edges if amean is not None else 0,
        "warmup": args.warmup, "seed": args.seed, "n_params": n_params,
        "loss_first": loss_first, "loss_last": loss, "validation_rel_err": val_err,
        "torch_threads": torch.get_num_threads(), "minor_faults_per_step": faults,
        "malloc": {k: os.environ.get(k) for k in MALLOC_ENV}}))


if __name__ == "__main__":
    main()
