"""The CMVAE family's building blocks in plain PyTorch (spec grace_cmvae.md §4.0-4.2, §5.1),
written from the spec independently of the C code. Shared by the parity fixture scripts
(tests/py/make_cmvae_parity.py, tests/py/make_family_parity.py) and the PyTorch baseline of the
training step (bench/torch_baseline.py).

Conventions: p is a dict of tensors named as C's parameter table (= the torch state_dict names),
torch Linear layout weight (OUT, IN); rows are cells; the dtype follows the tensors (nothing here
uses the default dtype). Two forms of three pieces:
    upstream (the reference code's style; the parity fixtures use these)
        c_encode_onehot   one-hot c through the full c1 layer, s = c @ c_shift
        dag_inverse       (I - triu(G, 1))^{-1} by torch.inverse, then u = z @ m
        mmd_loss          through the expanded 2n x 2n x D difference tensor
    direct (the same functions computed the way causeway does; bench/torch_baseline.py)
        c_encode_index    column k of c1.weight (a gather), s = c_shift[k]
        dag_solve         u (I - triu(G, 1)) = z by a unit upper-triangular solve
        mmd_loss_gram     squared distances from the Gram matrix of [source; target]
"""
import torch
import torch.nn.functional as F

# the core tensors of CMVAE in C's table order (models/cmvae.h)
CORE_NAMES = ["fc1.weight", "fc1.bias", "fc_mean.weight", "fc_mean.bias", "fc_var.weight",
              "fc_var.bias", "G", "c1.weight", "c1.bias", "c2.weight", "c2.bias", "c_shift",
              "d1.weight", "d1.bias", "d2.weight", "d2.bias"]


def core_shapes(G, Z, C, H):
    """shapes of CORE_NAMES for G genes, Z latents, C targets, H hidden units"""
    return [(H, G), (H,), (Z, H), (Z,), (Z, H), (Z,), (Z, Z), (H, C), (H,), (Z, H), (Z,), (C,),
            (H, Z), (H,), (G, H), (G,)]


def lrelu(v):
    return F.leaky_relu(v, 0.2)


# ---- encoder, intervention, DAG, decoder ------------------------------------------------------

def encode(p, e):
    """e (B, G) -> mu, var (B, Z): h = lrelu(fc1 e), mu = fc_mean h, var = softplus(fc_var h)"""
    h = lrelu(e @ p["fc1.weight"].T + p["fc1.bias"])
    mu = h @ p["fc_mean.weight"].T + p["fc_mean.bias"]
    var = F.softplus(h @ p["fc_var.weight"].T + p["fc_var.bias"])
    return mu, var


def c_encode_onehot(p, c, tau):
    """c (B, C) one-hot -> bc (B, Z) = softmax(tau c2(lrelu(c1 c))), s (B) = c @ c_shift"""
    hc = lrelu(c @ p["c1.weight"].T + p["c1.bias"])
    bc = F.softmax(tau * (hc @ p["c2.weight"].T + p["c2.bias"]), dim=1)
    return bc, c @ p["c_shift"]


def c_encode_index(p, k, tau):
    """target k -> bc (Z), s (scalar): c_encode_onehot of one row, c1 as a column gather"""
    hc = lrelu(p["c1.weight"][:, k] + p["c1.bias"])
    bc = F.softmax(tau * (hc @ p["c2.weight"].T + p["c2.bias"]), dim=0)
    return bc, p["c_shift"][k]


def dag_inverse(p):
    """m = (I - triu(G, 1))^{-1}; the DAG layer is u = z @ m"""
    g = p["G"]
    return torch.inverse(torch.eye(g.shape[0], dtype=g.dtype) - torch.triu(g, diagonal=1))


def dag_solve(p, z):
    """u with u (I - triu(G, 1)) = z, z (B, Z): the DAG layer without forming the inverse"""
    g = p["G"]
    a = torch.eye(g.shape[0], dtype=g.dtype) - torch.triu(g, diagonal=1)
    return torch.linalg.solve_triangular(a, z, upper=True, left=False, unitriangular=True)


def decode(p, u):
    """u (B, Z) -> (B, G): lrelu(d2 lrelu(d1 u)), LeakyReLU on the output layer too"""
    return lrelu(lrelu(u @ p["d1.weight"].T + p["d1.bias"]) @ p["d2.weight"].T + p["d2.bias"])


def sage_layer(p, l, agg, h):
    """PyG SAGEConv (aggr mean) of layer l: agg (..., F) the neighbour mean of h (..., F)"""
    return agg @ p[f"gnn.{l}.lin_l.weight"].T + p[f"gnn.{l}.lin_l.bias"] + \
        h @ p[f"gnn.{l}.lin_r.weight"].T


# ---- losses -----------------------------------------------------------------------------------

def mmd_loss(source, target, kernel_mul=2.0, kernel_num=10, fix_sigma=1000):
    """multi-bandwidth Gaussian MMD, the reference code's form (expanded difference tensor)"""
    n = int(source.size(0))
    total = torch.cat([source, target], dim=0)
    t0 = total.unsqueeze(0).expand(total.size(0), total.size(0), total.size(1))
    t1 = total.unsqueeze(1).expand(total.size(0), total.size(0), total.size(1))
    l2 = ((t0 - t1) ** 2).sum(2)
    bandwidth = fix_sigma / kernel_mul ** (kernel_num // 2)
    kernels = sum(torch.exp(-l2 / (bandwidth * kernel_mul ** i)) for i in range(kernel_num))
    xx, yy = kernels[:n, :n], kernels[n:, n:]
    xy, yx = kernels[:n, n:], kernels[n:, :n]
    return torch.mean(xx + yy - xy - yx)


def mmd_loss_gram(source, target, kernel_mul=2.0, kernel_num=10, fix_sigma=1000):
    """mmd_loss with ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b from one (2n, 2n) Gram matrix"""
    n = int(source.size(0))
    total = torch.cat([source, target], dim=0)
    sq = (total * total).sum(1)
    l2 = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * (total @ total.T)).clamp_min(0)
    bandwidth = fix_sigma / kernel_mul ** (kernel_num // 2)
    kernels = sum(torch.exp(-l2 / (bandwidth * kernel_mul ** i)) for i in range(kernel_num))
    xx, yy = kernels[:n, :n], kernels[n:, n:]
    xy, yx = kernels[:n, n:], kernels[n:, :n]
    return torch.mean(xx + yy - xy - yx)


def kl_loss(mu, var):
    """KL(N(mu, var) || N(0, I)) summed over latents, averaged over cells"""
    return -0.5 * torch.sum(1 + torch.log(var) - mu ** 2 - var) / mu.size(0)


def l1_loss(p):
    """sum_{i<j} |G_ij|"""
    return torch.norm(torch.triu(p["G"], diagonal=1), 1)
