"""Deep InfoMax's assembled objective against an independent, hand-written reference.

Hjelm et al., "Learning deep representations by mutual information estimation and maximization",
ICLR 2019 (eq. 2-8, sec. 4.2-4.3, appendix A.2 and A.7). For each variant, the method's loss dict on a
tiny batch is recomputed here from the paper's definitions with explicit loops over images ``i, j`` and
local locations ``(r, c)``; nothing of :mod:`infomax.methods.dim*` or :mod:`infomax.bounds` is called
except the encoder itself (its feature maps) and the modules' parameters (critic / discriminator /
predictor weights). Scores, positive/negative pairing, the bounds (infoNCE, JSD with softplus, DV),
the occlusion fill, the block masks, the prior game and the coordinate cross-entropies are all written
out below. Everything runs in float64, so values and gradients agree to ~1e-10.

Random draws (occlusion masks, multi-global blocks, prior samples, sampled negatives, augmented views)
are recorded where the method draws them and replayed by the reference; the relative-coordinate source
is redrawn by hand from the recorded RNG state. Each recorded draw is also checked for the property the
paper asks of it (e.g. one receptive field fully visible and one fully occluded); the last tests call
the two samplers themselves (occlusion masks, multi-global blocks) over many draws.

Bound conventions (``docs/ARCHITECTURE.md``, :mod:`infomax.bounds`), with ``s`` the score of a pair:

- infoNCE: mean over positives ``p`` of ``s_p - log(exp s_p + sum_{n in neg(p)} exp s_n) + log(1 + |neg(p)|)``
  (for DIM(G): ``mean_i [s_ii - log (1/N) sum_j exp s_ij]``); negatives of ``y_i`` are all pairs with
  the other images' features (every location of every ``j != i`` for DIM(L)), never the row's positives;
- JSD: ``E_P[-softplus(-s)] - E_Q[softplus(s)]`` (E_Q over the pooled negative pairs);
- DV: ``E_P[s] - log E_Q[exp s]``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import infomax.bounds._reduce as reduce_mod
import infomax.methods.dim as dim_mod
import infomax.methods.dim_prior as prior_mod
from infomax.methods.dim import Config, build

TOL = {"rtol": 1e-9, "atol": 1e-11}
MEAN, STD = (0.4, 0.6), (0.25, 0.3)  # the data's channel statistics given to build()
FILL = [float(torch.tensor(m, dtype=torch.float32)) for m in MEAN]  # occlusion fill, as stored in float32
BOUND_NAMES = ("infonce", "jsd", "dv")


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


# --------------------------------------------------------------------------------------------------
# hand-written layers (the module's weights, the maths written out)
# --------------------------------------------------------------------------------------------------
def _lin(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """x @ W^T + b for x (N, in), W (out, in)."""
    out = x @ w.t()
    return out if b is None else out + b


def _bn(x: torch.Tensor, bn: torch.nn.Module) -> torch.Tensor:
    """Training-mode batch norm over the N rows of x (N, C): biased batch variance."""
    mu = x.mean(0)
    var = ((x - mu) ** 2).mean(0)
    return (x - mu) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def _layer_norm(x: torch.Tensor, ln: torch.nn.Module) -> torch.Tensor:
    mu = x.mean(1, keepdim=True)
    var = ((x - mu) ** 2).mean(1, keepdim=True)
    return (x - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def _softplus(x: torch.Tensor) -> torch.Tensor:
    return torch.log1p(torch.exp(x))


def _embed(x: torch.Tensor, emb: torch.nn.Module) -> torch.Tensor:
    """Paper Table 8: Linear-BN-ReLU-Linear plus a linear shortcut, rows (N, D) -> (N, E)."""
    blk = emb.block
    h = torch.relu(_bn(_lin(x, blk[0].weight), blk[1]))
    return _lin(h, blk[3].weight, blk[3].bias) + _lin(x, emb.shortcut.weight)


def _locations(local: torch.Tensor, j: int) -> torch.Tensor:
    """(L, C) features of image j's local map, one row per location (r, c), row-major."""
    s = local.shape[2]
    return torch.stack([local[j, :, r, c] for r in range(s) for c in range(s)])


# --------------------------------------------------------------------------------------------------
# scores: S[i][j] = (L,) tensor of T(y_i, feature of image j at each location) (L = 1 for global)
# --------------------------------------------------------------------------------------------------
def _global_scores(head: torch.nn.Module, y: torch.Tensor, conv: torch.Tensor) -> list[list[torch.Tensor]]:
    """Paper Table 6: T(y, C) = MLP([y; flatten(C)]), every pair (y_i, C_j)."""
    n = y.shape[0]
    out = []
    for i in range(n):
        row = []
        for j in range(n):
            v = torch.cat([y[i], conv[j].reshape(-1)])
            h = torch.relu(_lin(v[None], head.l1.weight, head.l1.bias))
            h = torch.relu(_lin(h, head.l2.weight, head.l2.bias))
            row.append(_lin(h, head.l3.weight, head.l3.bias).reshape(1))
        out.append(row)
    return out


def _dot_scores(head: torch.nn.Module, y: torch.Tensor, local: torch.Tensor) -> list[list[torch.Tensor]]:
    """Encode-and-dot (Tables 8-9): <phi_g(y_i), LayerNorm(phi_l(l_j at (r, c)))>; the batch norms use
    the statistics of the batch of Y's and of all B * L location rows."""
    n = y.shape[0]
    g = _embed(y, head.global_embed)  # (B, E)
    rows = torch.cat([_locations(local, j) for j in range(n)])  # (B*L, C), image-major
    e = _layer_norm(_embed(rows, head.local_embed), head.local_embed.norm)  # (B*L, E)
    n_loc = local.shape[2] * local.shape[3]
    return [
        [torch.stack([g[i] @ e[j * n_loc + l] for l in range(n_loc)]) for j in range(n)] for i in range(n)
    ]


def _concat_scores(head: torch.nn.Module, y: torch.Tensor, local: torch.Tensor) -> list[list[torch.Tensor]]:
    """Concat-and-convolve (Table 7): three 1x1 convs on [y_i; l_j at (r, c)]."""
    n = y.shape[0]
    w1, w2, w3 = (c.weight[:, :, 0, 0] for c in (head.c1, head.c2, head.c3))
    out = []
    for i in range(n):
        row = []
        for j in range(n):
            loc = _locations(local, j)  # (L, C)
            v = torch.cat([y[i][None].expand(loc.shape[0], -1), loc], 1)  # (L, Dy + C)
            h = torch.relu(_lin(torch.relu(_lin(v, w1, head.c1.bias)), w2, head.c2.bias))
            row.append(_lin(h, w3, head.c3.bias)[:, 0])
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------------
# bounds, by loops over positives and their negatives
# --------------------------------------------------------------------------------------------------
def _negatives(S: list[list[torch.Tensor]], i: int, chosen: list[tuple[int, int]] | None) -> torch.Tensor:
    """Scores of row i's negatives: every location of every other image, or the sampled ``(j, l)``."""
    if chosen is None:
        return torch.cat([S[i][j] for j in range(len(S)) if j != i])
    return torch.stack([S[i][j][l] for j, l in chosen])


def _ref_bound(name: str, S: list[list[torch.Tensor]], chosen: list | None = None) -> torch.Tensor:
    n, n_loc = len(S), S[0][0].numel()
    pos = [S[i][i][l] for i in range(n) for l in range(n_loc)]
    negs = [_negatives(S, i, None if chosen is None else chosen[i]) for i in range(n)]
    if name == "infonce":
        terms = []
        for i in range(n):
            for l in range(n_loc):
                s = S[i][i][l]
                lse = torch.log(torch.exp(s) + torch.exp(negs[i]).sum())
                terms.append(s - lse + math.log(1 + negs[i].numel()))
        return torch.stack(terms).mean()
    pooled = torch.cat(negs)
    if name == "jsd":
        return torch.stack([-_softplus(-s) for s in pos]).mean() - _softplus(pooled).mean()
    assert name == "dv"
    return torch.stack(pos).mean() - torch.log(torch.exp(pooled).mean())


def _ref_mi(S, trained: str, chosen) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(trained value, reports): the trained bound uses the sampled negatives (if any), the reports of the
    other bounds use all negatives."""
    value = _ref_bound(trained, S, chosen)
    rep = {b: (value if b == trained else _ref_bound(b, S)).detach() for b in BOUND_NAMES}
    return value, rep


# --------------------------------------------------------------------------------------------------
# recording the method's random draws
# --------------------------------------------------------------------------------------------------
@dataclass
class Draws:
    views: Any = None
    occlusion: list = field(default_factory=list)
    occluded: list = field(default_factory=list)
    blocks: list = field(default_factory=list)
    prior: list = field(default_factory=list)
    negatives: list = field(default_factory=list)
    rel_state: list = field(default_factory=list)


def _recorder(fn, store: list):
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        store.append(out)
        return out

    return wrapped


def _record(method, monkeypatch) -> Draws:
    d = Draws()
    if method.views is not None:
        method.views.register_forward_hook(lambda mod, inp, out: setattr(d, "views", out))
    if method.occluder is not None:
        monkeypatch.setattr(method.occluder, "sample", _recorder(method.occluder.sample, d.occlusion))
        monkeypatch.setattr(method, "occlude", _recorder(method.occlude, d.occluded))
    monkeypatch.setattr(dim_mod, "random_block_masks", _recorder(dim_mod.random_block_masks, d.blocks))
    monkeypatch.setattr(prior_mod, "sample_prior", _recorder(prior_mod.sample_prior, d.prior))
    monkeypatch.setattr(reduce_mod, "sample_negatives", _recorder(reduce_mod.sample_negatives, d.negatives))
    if method.coord_rel is not None:
        fwd = method.coord_rel.forward

        def rel_forward(*args, **kwargs):
            d.rel_state.append(torch.get_rng_state())
            return fwd(*args, **kwargs)

        monkeypatch.setattr(method.coord_rel, "forward", rel_forward)
    return d


# --------------------------------------------------------------------------------------------------
# the reference objective
# --------------------------------------------------------------------------------------------------
def _chosen(mask: torch.Tensor, n_loc: int) -> list[list[tuple[int, int]]]:
    """A sampled-negatives mask (B, B*L), column ``j * L + l``, as per-row lists of (j, l)."""
    return [[divmod(int(col), n_loc) for col in row.nonzero()[:, 0]] for row in mask]


def _clip(S: list[list[torch.Tensor]], cfg: dict) -> list[list[torch.Tensor]]:
    """Every score s times ``score_scale`` (a, default 1), then AMDIM's soft clip ``c tanh(a s / c)``
    (``score_clip`` = c; none: ``a s``)."""
    a, c = cfg.get("score_scale", 1.0), cfg.get("score_clip")
    return [[a * s if c is None else c * torch.tanh(a * s / c) for s in row] for row in S]


def _ref_mi_terms(method, cfg: dict, x, y, conv, local, draws: Draws):
    """(loss, {"global"/"local": {bound: value}}) of Y (from x, occluded if asked) vs conv/local maps."""
    alpha, beta = cfg.get("alpha", 0.0), cfg.get("beta", 1.0)
    bound = cfg.get("bound", "infonce")
    k_neg = cfg.get("n_negatives")
    y_mi = y
    if cfg.get("occlude"):
        mask = draws.occlusion.pop(0)  # (B, 1, H, W), True = occluded
        x_occ = x.clone()
        for b in range(x.shape[0]):
            for ch in range(x.shape[1]):
                x_occ[b, ch][mask[b, 0]] = FILL[ch]  # the data's channel mean: 0 after standardization
        y_mi = method.encoder(x_occ)["y"]
    loss = torch.zeros(())
    reps = {}
    if alpha > 0:
        S = _global_scores(method.global_head, y_mi, conv)
        chosen = _chosen(draws.negatives.pop(0), 1) if k_neg else None
        mi_g, reps["global"] = _ref_mi(_clip(S, cfg), bound, chosen)
        loss = loss - alpha * mi_g
    if beta > 0:
        n_loc = local.shape[2] * local.shape[3]
        scores = _dot_scores if cfg.get("local_arch", "dot") == "dot" else _concat_scores
        chosen = _chosen(draws.negatives.pop(0), n_loc) if k_neg else None
        values, rep_list = [], []
        mi_l, rep = _ref_mi(_clip(scores(method.local_head, y_mi, local), cfg), bound, chosen)
        values.append(mi_l)
        rep_list.append(rep)
        for _ in range(cfg.get("n_globals", 0)):  # less-global Y from one random block of the local map
            m = draws.blocks.pop(0)  # (B, 1, S, S) float, 1 inside the block
            y_k = method.encoder.forward_from_local(local * m)["y"]
            chosen = _chosen(draws.negatives.pop(0), n_loc) if k_neg else None
            mi_k, rep = _ref_mi(_clip(scores(method.local_head, y_k, local), cfg), bound, chosen)
            values.append(mi_k)
            rep_list.append(rep)
        reps["local"] = {b: sum(r[b] for r in rep_list) / len(rep_list) for b in BOUND_NAMES}
        loss = loss - beta * sum(values) / len(values)
    return loss, reps


def _discriminator(d, v: torch.Tensor, frozen: bool = False) -> torch.Tensor:
    """Paper Table 10: Linear 1000 - ReLU - Linear 200 - ReLU - Linear 1 (weights detached if frozen)."""
    p = [t.detach() if frozen else t for t in (d.net[0].weight, d.net[0].bias, d.net[2].weight,
                                                 d.net[2].bias, d.net[4].weight, d.net[4].bias)]
    h = torch.relu(_lin(v, p[0], p[1]))
    h = torch.relu(_lin(h, p[2], p[3]))
    return _lin(h, p[4], p[5])[:, 0]


def _mlp(net, v: torch.Tensor) -> torch.Tensor:
    """Coordinate predictor: Linear-BN-ReLU-Linear-BN-ReLU-Linear (batch statistics over the rows)."""
    h = torch.relu(_bn(_lin(v, net[0].weight), net[1]))
    h = torch.relu(_bn(_lin(h, net[3].weight), net[4]))
    return _lin(h, net[6].weight, net[6].bias)


def _two_ce(logits: torch.Tensor, labels: list[tuple[int, int]], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean row cross-entropy + mean column cross-entropy, and the mean accuracy of both heads."""
    ce_r, ce_c, hit = [], [], 0
    for n, (r, c) in enumerate(labels):
        lr, lc = logits[n, :k], logits[n, k:]
        ce_r.append(torch.log(torch.exp(lr).sum()) - lr[r])
        ce_c.append(torch.log(torch.exp(lc).sum()) - lc[c])
        hit += int(int(lr.argmax()) == r) + int(int(lc.argmax()) == c)
    loss = torch.stack(ce_r).mean() + torch.stack(ce_c).mean()
    return loss, torch.tensor(hit / (2 * len(labels)))


def _ref_absolute(pred, y, local):
    """Predict (row, col) of every local feature l_(r,c) of image b from [y_b; l_(r,c)]."""
    s = local.shape[2]
    inp, labels = [], []
    for b in range(y.shape[0]):
        for r in range(s):
            for c in range(s):
                inp.append(torch.cat([y[b], local[b, :, r, c]]))
                labels.append((r, c))
    return _two_ce(_mlp(pred.net, torch.stack(inp)), labels, s)


def _ref_relative(pred, y, local, rng_state):
    """Predict the offset (r_t - r_s, c_t - c_s) (shifted by S-1) of every target from one uniformly drawn
    source location per image, given [y_b; l_source; l_target]."""
    s = local.shape[2]
    n = y.shape[0]
    saved = torch.get_rng_state()
    torch.set_rng_state(rng_state)
    source = torch.randint(0, s * s, (n,))
    torch.set_rng_state(saved)
    inp, labels = [], []
    for b in range(n):
        rs, cs = divmod(int(source[b]), s)
        for rt in range(s):
            for ct in range(s):
                inp.append(torch.cat([y[b], local[b, :, rs, cs], local[b, :, rt, ct]]))
                labels.append((rt - rs + s - 1, ct - cs + s - 1))
    return _two_ce(_mlp(pred.net, torch.stack(inp)), labels, 2 * s - 1)


def reference(method, cfg: dict, x: torch.Tensor, draws: Draws) -> dict[str, torch.Tensor]:
    """The loss dict of DIM on ``x`` recomputed by hand (see the module docstring)."""
    views = cfg.get("views", "none")
    if views == "none":
        xs = [x]
    elif views == "crop-flip":
        xs = [draws.views]
    else:
        xs = list(draws.views)
    if len(xs) == 1:
        feats = [method.encoder(xs[0])]
    else:  # both views go through the encoder as one batch of 2B images (shared batch statistics)
        f = method.encoder(torch.cat(xs))
        n = x.shape[0]
        feats = [{k: v[:n] for k, v in f.items()}, {k: v[n:] for k, v in f.items()}]
    pairs = [(0, 0)] if len(xs) == 1 else [(0, 1), (1, 0)]  # (source of Y, source of the maps)
    loss = torch.zeros(())
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for a, b in pairs:
        loss_ab, rep = _ref_mi_terms(method, cfg, xs[a], feats[a]["y"], feats[b]["conv"], feats[b]["local"],
                                     draws)
        loss = loss + loss_ab / len(pairs)
        for part, vals in rep.items():
            for name, v in vals.items():
                parts.setdefault(part, {})[name] = parts.get(part, {}).get(name, 0) + v / len(pairs)
    out = {f"mi/{k}": v for k, v in parts["local" if cfg.get("beta", 1.0) > 0 else "global"].items()}
    if len(parts) == 2:
        out.update({f"mi/{p}/{k}": v for p, vals in parts.items() for k, v in vals.items()})
    y, local = feats[0]["y"], feats[0]["local"]  # prior and coordinates read view 1
    gamma = cfg.get("gamma", 0.0)
    if gamma > 0:
        disc = method.prior.discriminator
        q = torch.sigmoid(y) if cfg.get("prior", "uniform") == "uniform" else y
        z = draws.prior.pop(0)
        enc = _softplus(-_discriminator(disc, q, frozen=True)).mean()  # non-saturating generator loss
        d_real = _softplus(-_discriminator(disc, z)).mean()  # prior samples labelled real
        d_fake = _softplus(_discriminator(disc, q.detach())).mean()  # codes labelled fake, encoder detached
        d_loss = d_real + d_fake
        loss = loss + gamma * enc
        out["loss/prior"] = d_loss
        out["prior/encoder"] = enc.detach()
    coord = cfg.get("coord", "none")
    w = cfg.get("coord_weight", 1.0)
    if coord in ("absolute", "both"):
        c_loss, acc = _ref_absolute(method.coord_abs, y, local)
        loss = loss + w * c_loss
        out["coord/absolute"], out["coord/absolute_acc"] = c_loss.detach(), acc
    if coord in ("relative", "both"):
        c_loss, acc = _ref_relative(method.coord_rel, y, local, draws.rel_state.pop(0))
        loss = loss + w * c_loss
        out["coord/relative"], out["coord/relative_acc"] = c_loss.detach(), acc
    out["loss"] = loss
    return out


# --------------------------------------------------------------------------------------------------
# properties of the recorded draws
# --------------------------------------------------------------------------------------------------
def _receptive_field(r: int, size: int) -> range:
    """Input rows seen by local row r: two 4x4 / stride 2 / pad 1 convs give rows 4r-3 .. 4r+6 (clipped)."""
    return range(max(0, 4 * r - 3), min(size, 4 * r + 7))


def _check_occlusion(mask: torch.Tensor, x: torch.Tensor, x_occ: torch.Tensor, map_size: int) -> None:
    """App. A.7: per image, at least one local receptive field fully visible and one fully occluded; the
    occluded input the global feature was computed from equals the input where the mask is False and
    the channel mean (never the input's value) where it is True."""
    b, _, h, w = x.shape
    keep = ~mask.expand_as(x)
    assert torch.equal(x_occ[keep], x[keep])
    assert bool((x_occ[~keep] != x[~keep]).all())
    fill = torch.tensor(FILL)[None, :, None, None].expand_as(x)
    assert torch.equal(x_occ[~keep], fill[~keep])
    assert mask.shape == (b, 1, h, w) and mask.dtype == torch.bool
    for n in range(b):
        fracs = []
        for r in range(map_size):
            for c in range(map_size):
                rows, cols = _receptive_field(r, h), _receptive_field(c, w)
                fracs.append(float(mask[n, 0, rows.start:rows.stop, cols.start:cols.stop].double().mean()))
        assert 0.0 in fracs and 1.0 in fracs, f"image {n}: no fully visible / fully occluded local feature"


def _check_block(m: torch.Tensor, map_size: int, block: int) -> None:
    """Sec. 4.2: each image keeps exactly one contiguous block x block square of its local map."""
    assert m.shape[1:] == (1, map_size, map_size)
    for n in range(m.shape[0]):
        ones = m[n, 0].nonzero().tolist()
        assert set(m[n, 0].unique().tolist()) <= {0.0, 1.0} and len(ones) == block * block
        r0, c0 = min(p[0] for p in ones), min(p[1] for p in ones)
        assert sorted(map(tuple, ones)) == [(r0 + a, c0 + b) for a in range(block) for b in range(block)]


def _check_negatives(mask: torch.Tensor, n_loc: int, k: int) -> None:
    """Each row keeps exactly k negatives, none of them one of its own (positive) locations."""
    for i, row in enumerate(mask):
        cols = row.nonzero()[:, 0].tolist()
        assert len(cols) == k and all(col // n_loc != i for col in cols)


# --------------------------------------------------------------------------------------------------
# the variants
# --------------------------------------------------------------------------------------------------
SMALL = {"hidden": 16, "embed_dim": 16, "y_dim": 8, "coord_hidden": 16}
CASES: dict[str, tuple[dict, int, int]] = {  # name -> (Config overrides, image side, batch)
    "dim-l-infonce": ({}, 8, 5),
    "dim-l-jsd": ({"bound": "jsd"}, 8, 5),
    "dim-l-dv": ({"bound": "dv"}, 8, 5),
    "dim-l-concat": ({"local_arch": "concat"}, 8, 4),
    "dim-g-infonce": ({"alpha": 1.0, "beta": 0.0}, 8, 5),
    "dim-g-jsd": ({"alpha": 1.0, "beta": 0.0, "bound": "jsd"}, 8, 5),
    "dim-g-dv": ({"alpha": 1.0, "beta": 0.0, "bound": "dv"}, 8, 5),
    "dim-lg-jsd": ({"alpha": 0.5, "beta": 0.1, "bound": "jsd"}, 8, 4),
    "dim-l-prior-uniform": ({"gamma": 0.1}, 8, 5),
    "dim-g-prior-gaussian": ({"alpha": 1.0, "beta": 0.0, "gamma": 1.0, "prior": "gaussian"}, 8, 5),
    "dim-lg-occlude": ({"alpha": 0.5, "beta": 1.0, "occlude": True}, 28, 3),
    "dim-l-coord-both": ({"coord": "both", "coord_weight": 0.7}, 8, 5),
    "dim-l-coord-absolute": ({"coord": "absolute"}, 16, 3),
    "dim-l-coord-relative": ({"coord": "relative"}, 16, 3),
    "dim-l-multiglobal": ({"n_globals": 2}, 16, 3),
    "dim-l-infonce-neg": ({"n_negatives": 5}, 8, 4),
    "dim-l-jsd-neg": ({"bound": "jsd", "n_negatives": 3}, 8, 4),
    "dim-g-dv-neg": ({"alpha": 1.0, "beta": 0.0, "bound": "dv", "n_negatives": 2}, 8, 5),
    "dim-l-crop-flip": ({"views": "crop-flip"}, 8, 4),
    "dim-lg-cross": ({"alpha": 0.3, "beta": 1.0, "views": "cross-crop-flip"}, 8, 4),
    # c = 0.5: the tiny network's scores reach past it, so the clip bends them (at c = 20 it would not)
    "dim-l-clip": ({"score_clip": 0.5}, 8, 5),
    "dim-lg-cross-jsd-clip": ({"alpha": 0.3, "beta": 1.0, "views": "cross-crop-flip", "bound": "jsd",
                               "score_clip": 0.5}, 8, 4),
    # AMDIM's order: scale, then clip (a clip of 0.5 bends a * s only where the scale leaves it large)
    "dim-l-scale": ({"score_scale": 0.3}, 8, 5),
    "dim-l-scale-clip": ({"score_scale": 2.0, "score_clip": 0.5}, 8, 5),
    "dim-lg-width2": ({"alpha": 0.3, "beta": 1.0, "encoder_width": 2}, 8, 4),
    "dim-all": (
        {"alpha": 0.5, "beta": 0.2, "gamma": 0.1, "occlude": True, "coord": "both", "n_globals": 1,
         "views": "cross-crop-flip", "bound": "dv"},
        28,
        2,
    ),
}


def _grads(loss: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    gs = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params)]


@pytest.mark.parametrize("name", list(CASES))
def test_dim_matches_hand_written_reference(name: str, monkeypatch) -> None:
    """Pins every entry of the loss dict (loss, mi/<bound> for the three bounds, mi/global/* and
    mi/local/*, loss/prior and prior/encoder, coord/<task> and coord/<task>_acc; no more, no fewer keys)
    and the gradients of ``loss`` and ``loss/prior`` with respect to every parameter (so the prior's two
    losses reach only their own group) to the hand-written reference of the variant; also the number
    and properties of the random draws, and that the encoder's batch-norm running statistics moved
    exactly as much as one pass over the (full, unoccluded) training inputs moves them."""
    overrides, size, batch = CASES[name]
    cfg = {**SMALL, **overrides}
    info = SimpleNamespace(channels=2, image_size=size, mean=MEAN, std=STD)
    torch.manual_seed(3)
    method = build(Config(**cfg), info)
    draws = _record(method, monkeypatch)
    x = torch.rand(batch, 2, size, size)
    encoder_before = copy.deepcopy(method.encoder)
    out = method((x, torch.zeros(batch, dtype=torch.long)))

    # the draws the method made have the properties the paper asks of them
    s = method.encoder.local_size
    n_views = 2 if cfg.get("views", "none").startswith("cross") else 1
    view_inputs = list(draws.views) if n_views == 2 else [draws.views if draws.views is not None else x]
    assert len(draws.occlusion) == (n_views if cfg.get("occlude") else 0)
    assert len(draws.occluded) == len(draws.occlusion)
    for m, xv, xo in zip(draws.occlusion, view_inputs, draws.occluded):
        _check_occlusion(m, xv, xo, s)
    assert len(draws.blocks) == n_views * cfg.get("n_globals", 0)
    for m in draws.blocks:
        _check_block(m, s, max(1, s // 2))
    assert len(draws.prior) == (1 if cfg.get("gamma", 0.0) > 0 else 0)
    assert len(draws.rel_state) == (1 if cfg.get("coord") in ("relative", "both") else 0)
    for z in draws.prior:
        assert z.shape == (batch, cfg["y_dim"])
        if cfg.get("prior", "uniform") == "uniform":
            assert float(z.min()) >= 0.0 and float(z.max()) <= 1.0
    if cfg.get("n_negatives"):
        per_view = (cfg.get("alpha", 0) > 0) + (cfg.get("beta", 1.0) > 0) * (1 + cfg.get("n_globals", 0))
        assert len(draws.negatives) == n_views * per_view
        for m in draws.negatives:
            _check_negatives(m, m.shape[1] // batch, cfg["n_negatives"])

    # only the one pass over the full inputs (both views as one batch) moves the encoder's batch-norm
    # running statistics: occluded and block-masked passes leave them alone
    encoder_before(torch.cat(view_inputs))
    for (bname, want), got in zip(encoder_before.named_buffers(), method.encoder.buffers()):
        if not bname.endswith("num_batches_tracked"):  # a counter, unused with a fixed momentum
            torch.testing.assert_close(got, want, **TOL, msg=bname)

    ref = reference(method, cfg, x, draws)
    assert not (draws.occlusion or draws.blocks or draws.prior or draws.negatives or draws.rel_state)
    assert sorted(out) == sorted(ref)
    for key in ref:
        tol = {"rtol": 0.0, "atol": 1e-6} if key.endswith("_acc") else TOL  # accuracies are float32
        torch.testing.assert_close(out[key].detach(), ref[key].detach(), check_dtype=False, **tol, msg=key)

    params = [p for p in method.parameters()]
    for key in ("loss", "loss/prior"):
        if key in ref:
            for (pname, _), g, g_ref in zip(method.named_parameters(), _grads(out[key], params),
                                            _grads(ref[key], params)):
                torch.testing.assert_close(g, g_ref, **TOL, msg=f"d {key} / d {pname}")


# --------------------------------------------------------------------------------------------------
# the samplers over many draws
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_fraction", [0.1, 1.0])
def test_occlusion_masks_always_keep_one_field_visible_and_one_occluded(max_fraction: float) -> None:
    """App. A.7 over 400 draws of a 28x28 DIM model's occluder: every mask leaves some local feature's
    receptive field (rows/cols 4r-3 .. 4r+6, clipped) fully visible and hides another one fully, both
    with tiny extra rectangles (0.1: the field must be hidden on purpose) and with rectangles up to the
    whole image (1.0: a field must be uncovered on purpose); the masks vary from draw to draw."""
    method = build(Config(occlude=True, occlude_max_fraction=max_fraction, **SMALL),
                   SimpleNamespace(channels=1, image_size=28, mean=(0.5,), std=(0.5,)))
    masks = method.occluder.sample(400)  # (N, 1, 28, 28)
    assert masks.shape == (400, 1, 28, 28) and masks.dtype == torch.bool
    s = method.encoder.local_size
    visible = torch.zeros(400, dtype=torch.bool)
    occluded = torch.zeros(400, dtype=torch.bool)
    for r in range(s):
        for c in range(s):
            rows, cols = _receptive_field(r, 28), _receptive_field(c, 28)
            field = masks[:, 0, rows.start:rows.stop, cols.start:cols.stop].flatten(1)  # (N, pixels)
            visible |= ~field.any(1)
            occluded |= field.all(1)
    assert bool(visible.all()) and bool(occluded.all())
    assert len({m.numpy().tobytes() for m in masks}) > 300


def test_block_masks_are_single_blocks_at_every_position() -> None:
    """Sec. 4.2 blocks as DIM draws them (``dim.random_block_masks``): each of 300 masks of a 4x4 map is
    one 2x2 block, and every one of the 3 x 3 possible positions occurs."""
    masks = dim_mod.random_block_masks(300, 4, 2)
    _check_block(masks, 4, 2)
    corners = {tuple(m[0].nonzero().min(0).values.tolist()) for m in masks}
    assert corners == {(r, c) for r in range(3) for c in range(3)}
