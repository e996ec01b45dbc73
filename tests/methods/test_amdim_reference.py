"""AMDIM's assembled loss against an independent, hand-written reference (issue #19, part 3).

The reference below re-derives every term from Bachman, Hjelm, Buchwalter (NeurIPS 2019, sec. 3.1-3.5)
with explicit loops over views, scale pairs, images, locations and mixture components: the encoder's
features (f1, f5, f7) are taken from the method's own encoder, but scoring (scaled dot product, tanh soft
clip), the L2 penalty on raw scores, the NCE log-softmax of each positive against every location of the
*other* images, the pairing of a view's sources with the *other* view's targets, the random 5x5 source
location, the mixture components and their posterior weights/entropy bonus are recomputed by hand. The two
views are made deliberately different (the identity and a fixed non-linear remap of the image), so scoring
a term within one view instead of across views changes every value. The gradients of the loss for every
parameter are compared too (they pin what is, and is not, detached). Everything runs in float64.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from infomax.methods.amdim import AMDIM

MEAN, STD = (0.5,) * 3, (0.25,) * 3
B = 3  # images per batch
NDF, N_RKHS = 4, 16


class FixedViews(nn.Module):
    """Two distinct deterministic views: x itself and ``(1 - x)^2`` flipped left-right."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x, (1.0 - x).pow(2).flip(-1)


def _components(m: AMDIM, f1: Tensor, n_mix: int) -> list[list[Tensor]]:
    """comps[i][k]: image i's k-th global component, ``f1 + W2 relu(W1 f1 + b1) + b2`` chunk k (by hand)."""
    if n_mix == 1:
        return [[f1[i]] for i in range(f1.shape[0])]
    lin1, lin2 = m.mixture.mlp[0], m.mixture.mlp[2]
    out = []
    for i in range(f1.shape[0]):
        h = torch.clamp(lin1.weight @ f1[i] + lin1.bias, min=0.0)
        delta = lin2.weight @ h + lin2.bias  # (K * D,)
        out.append([f1[i] + delta[k * N_RKHS:(k + 1) * N_RKHS] for k in range(n_mix)])
    return out


def _direction(
    src: list[list[Tensor]], trg: Tensor, clip: float | None, l2: float, tau: float, alpha: float
) -> dict[str, Tensor]:
    """One direction of one scale pair: sources src[i][k] (D,) vs target maps trg (B, D, h, w).

    Returns the objective (mean over positives of sum_k q s_nce + alpha H(q)), the penalty
    (l2 * mean raw^2 over all source-component x target-location pairs), the mean entropy of q and the
    q-weighted mean s_nce.
    """
    b, d = trg.shape[:2]
    # image j's target locations as rows (L, D), in raster order, one location at a time
    locs = [
        torch.stack([trg[j, :, r, c] for r in range(trg.shape[2]) for c in range(trg.shape[3])])
        for j in range(b)
    ]
    n_loc = locs[0].shape[0]
    n_mix = len(src[0])
    raw_sq, n_raw = trg.new_zeros(()), 0
    score: dict[tuple[int, int, int], Tensor] = {}  # (i, k, j) -> clipped scores (L,) vs image j's locations
    for i in range(b):
        for k in range(n_mix):
            for j in range(b):
                raw = locs[j] @ src[i][k] / math.sqrt(d)  # (L,)
                raw_sq, n_raw = raw_sq + (raw**2).sum(), n_raw + n_loc
                score[i, k, j] = raw if clip is None else clip * torch.tanh(raw / clip)
    objective, entropy, weighted = [], [], []  # one entry per positive (i, l)
    for i in range(b):
        # negatives of image i (component k): every location of every other image, shared by i's positives
        neg_lse = [
            torch.logsumexp(torch.cat([score[i, k, j] for j in range(b) if j != i]), 0) for k in range(n_mix)
        ]
        for loc in range(n_loc):
            pos = torch.stack([score[i, k, i][loc] for k in range(n_mix)])  # (K,) the positive, per component
            s_nce = pos - torch.logaddexp(pos, torch.stack(neg_lse))  # log(e^pos / (e^pos + sum e^neg))
            e = torch.exp(tau * s_nce - tau * s_nce.detach().max())
            q = e / e.sum()  # posterior over components
            h = -(q * torch.log(q)).sum()
            value = (q * s_nce).sum()
            objective.append(value + alpha * h)
            entropy.append(h)
            weighted.append(value)
    n_pos = b * n_loc
    assert len(objective) == n_pos
    return {
        "objective": torch.stack(objective).sum() / n_pos,
        "penalty": l2 * raw_sq / n_raw,
        "entropy": torch.stack(entropy).sum() / n_pos,
        "weighted": torch.stack(weighted).sum() / n_pos,
    }


def reference(m: AMDIM, x: Tensor, loc: Tensor, cfg: dict) -> dict[str, Tensor]:
    """AMDIM's loss dict for batch x, the 5x5 source locations ``loc`` (2, B), by hand from the paper."""
    x1, x2 = FixedViews()(x)
    feats = m.encoder(torch.cat([x1, x2]))
    view = {name: (feats[name][:B], feats[name][B:]) for name in ("f5", "f7")}  # (x1's, x2's) maps
    f1 = [feats["f1"][v * B:(v + 1) * B].flatten(1) for v in (0, 1)]  # (B, D) per view
    n_mix, tau, alpha = cfg.get("n_mix", 1), cfg.get("mix_tau", 1.0), cfg.get("mix_alpha", 0.1)
    clip = cfg.get("clip", 20.0) if cfg.get("stabilize", True) else None
    l2 = cfg.get("l2_weight", 4e-2) if cfg.get("stabilize", True) else 0.0
    globals_ = [_components(m, f1[v], n_mix) for v in (0, 1)]
    # the 5x5 source of view v: image i's location loc[v, i] in raster order of the 5x5 map
    local5 = [
        [[view["f5"][v][i, :, int(loc[v, i]) // 5, int(loc[v, i]) % 5]] for i in range(B)] for v in (0, 1)
    ]
    pairs = [("1-7", globals_, "f7", True)]
    if cfg.get("multiscale", True):
        pairs += [("1-5", globals_, "f5", True), ("5-5", local5, "f5", False)]
    out: dict[str, Tensor] = {}
    loss, reg, entropies = x.new_zeros(()), x.new_zeros(()), []
    for name, sources, target, mixed in pairs:
        # x1's sources against x2's targets, and x2's sources against x1's targets
        ab = _direction(sources[0], view[target][1], clip, l2, tau if mixed else 1.0, alpha if mixed else 0.0)
        ba = _direction(sources[1], view[target][0], clip, l2, tau if mixed else 1.0, alpha if mixed else 0.0)
        n_loc = view[target][0].shape[2] * view[target][0].shape[3]
        loss = loss - 0.5 * (ab["objective"] + ba["objective"])
        reg = reg + 0.5 * (ab["penalty"] + ba["penalty"])
        out[f"nce/{name}"] = 0.5 * (ab["weighted"] + ba["weighted"]) + math.log(1 + (B - 1) * n_loc)
        if mixed and n_mix > 1:
            entropies.append(0.5 * (ab["entropy"] + ba["entropy"]))
    out["loss"] = loss + reg
    out["mi/infonce"] = out["nce/1-7"]
    out["reg/score_l2"] = reg
    if entropies:
        out["mix/entropy"] = sum(entropies) / len(entropies)
    return out


VARIANTS = {
    "default": {},
    "single-scale": {"multiscale": False},
    "no-stabilize": {"stabilize": False},
    "tight-clip-strong-l2": {"clip": 0.3, "l2_weight": 0.7},
    "mixture": {"n_mix": 3, "mix_tau": 1.7, "mix_alpha": 0.35},
    "mixture-single-scale-clip": {
        "n_mix": 2, "mix_tau": 0.6, "mix_alpha": 0.9, "clip": 0.5, "multiscale": False,
    },
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_loss_and_logged_terms_match_hand_written_reference(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pins ``loss``, ``mi/infonce``, every ``nce/<pair>``, ``reg/score_l2`` and ``mix/entropy`` of one
    forward pass, and the gradient of the loss for every parameter (encoder and mixture head), to the
    hand-written reference: cross-view pairing in both directions (x1 sources vs x2
    targets and back, averaged), the 1-7 / 1-5 / 5-5 terms, the 5x5 source at the drawn location of its own
    view, the tanh clip at ``clip`` and the ``l2_weight * mean(raw^2)`` penalty added to the loss, the
    mixture head's residual components, posterior ``softmax(tau * s_nce)`` and ``alpha * H(q)`` bonus."""
    cfg = VARIANTS[name]
    torch.manual_seed(0)
    m = AMDIM(3, 32, MEAN, STD, views=FixedViews(), ndf=NDF, n_rkhs=N_RKHS, online_probes=False, **cfg)
    m = m.double()
    x = torch.rand(B, 3, 32, 32, dtype=torch.float64)
    loc = torch.tensor([[3, 17, 24], [11, 0, 6]])  # 5x5 source location per (view, image); views differ
    real_randint = torch.randint

    def fixed_randint(low, high, size, **kw):  # noqa: ANN001, ANN202
        if (low, high, tuple(size)) == (0, 25, (2, B)):
            return loc.to(kw.get("device") or "cpu")
        return real_randint(low, high, size, **kw)

    monkeypatch.setattr(torch, "randint", fixed_randint)
    out = m((x, torch.zeros(B, dtype=torch.long)))
    ref = reference(m, x, loc, cfg)
    assert set(ref) == set(out)
    for key, value in ref.items():
        assert torch.allclose(out[key].detach(), value.detach(), rtol=1e-9, atol=1e-9), (key, out[key], value)
    params = [p for p in m.parameters() if p.requires_grad]
    got = torch.autograd.grad(out["loss"], params, allow_unused=True)  # single scale: f5's head is unused
    want = torch.autograd.grad(ref["loss"], params, allow_unused=True)
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    for pname, p, g, w in zip(names, params, got, want, strict=True):
        g, w = (torch.zeros_like(p) if t is None else t for t in (g, w))
        assert torch.allclose(g, w, rtol=1e-7, atol=1e-10), pname
