"""CPC's assembled loss (and the patch-grid DIM(L) objective) against an independent, hand-written
reference (issue #19, part 3).

van den Oord, Li, Vinyals (2018), sec. 3.2, on a patch grid: the reference cuts each p x p crop out of
the image by hand (row-major grid, stride s) and encodes it alone with the method's patch network (per-patch
layer norm, so this equals the batched encoding), then recomputes by hand the raster-order GRU summaries
(the GRU cell equations from the method's GRU weights, one raster position at a time), the predictions
``W_k c[t, col]`` for the patch ``k`` rows below, and InfoNCE of each prediction against every patch vector
of the batch, the true ``z[b, t + k, col]`` the positive: ``log(B G G) - mean CE``. For ``objective="dim"``
(Hjelm et al. 2019, Table 3) the pooled global and block features are recomputed by hand (the blocks at
patched random corners) and scored against every patch embedding with explicit loops. Float64 throughout.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from infomax.methods.cpc import CPC

B, SIZE, NDF, DIM = 3, 16, 4, 8  # 16px images: 4x4 crops at stride 2, a 7x7 grid


def _gru_by_hand(m: CPC, z: list[list[list[Tensor]]]) -> list[list[list[Tensor]]]:
    """c[b][t][col]: GRU state after reading image b's patch vectors in raster order up to (t, col)."""
    gru = m.context.gru
    w_ih, w_hh, b_ih, b_hh = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
    hid = w_hh.shape[1]
    out = []
    for img in z:
        h = torch.zeros(hid, dtype=torch.float64)
        states = []
        for row in img:
            row_states = []
            for v in row:  # raster order: rows top to bottom, columns left to right
                gi, gh = w_ih @ v + b_ih, w_hh @ h + b_hh
                r = torch.sigmoid(gi[:hid] + gh[:hid])
                u = torch.sigmoid(gi[hid:2 * hid] + gh[hid:2 * hid])
                n = torch.tanh(gi[2 * hid:] + r * gh[2 * hid:])
                h = (1 - u) * n + u * h
                row_states.append(h)
            states.append(row_states)
        out.append(states)
    return out


def reference(m: CPC, x: Tensor, min_offset: int, n_offsets: int) -> dict[str, Tensor]:
    """CPC's logged values for images x (B, C, H, W), by hand from the paper; offsets ``min_offset ..
    min_offset + n_offsets - 1`` rows, the i-th read by the method's i-th predictor."""
    p, s, g = m.encoder.patch_size, m.encoder.stride, m.encoder.grid
    z = [
        [[m.encoder.encode_crops(x[b:b + 1, :, t * s:t * s + p, col * s:col * s + p])[0] for col in range(g)]
         for t in range(g)]
        for b in range(len(x))
    ]  # z[b][t][col]: (D,)
    c = _gru_by_hand(m, z)
    candidates = [(b, t, col) for b in range(len(x)) for t in range(g) for col in range(g)]
    cand_z = torch.stack([z[b][t][col] for b, t, col in candidates])  # (B G G, D): every patch vector
    offsets = list(range(min_offset, min_offset + n_offsets))
    out: dict[str, Tensor] = {}
    for i, k in enumerate(offsets):
        w = m.predictors[i]
        total, count = x.new_zeros(()), 0
        for b in range(len(x)):
            for t in range(g - k):  # rows with a patch k rows below
                for col in range(g):
                    pred = w.weight @ c[b][t][col]
                    logits = cand_z @ pred  # against every patch vector of the batch
                    positive = logits[candidates.index((b, t + k, col))]
                    total = total + positive - torch.logsumexp(logits, 0)
                    count += 1
        out[f"cpc/k{k}"] = total / count + math.log(len(candidates))
    out["mi/infonce"] = sum(out[f"cpc/k{k}"] for k in offsets) / n_offsets
    out["loss"] = -out["mi/infonce"]
    return out


def _same_gradients(m: CPC, loss: Tensor, ref_loss: Tensor) -> None:
    """The gradients of both losses agree for every parameter (an unused one counts as zero)."""
    named = [(n, p) for n, p in m.named_parameters() if p.requires_grad]
    got = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    want = torch.autograd.grad(ref_loss, [p for _, p in named], allow_unused=True)
    for (pname, p), g, w in zip(named, got, want, strict=True):
        g, w = (torch.zeros_like(p) if t is None else t for t in (g, w))
        assert torch.allclose(g, w, rtol=1e-7, atol=1e-10), pname


VARIANTS = {
    "offsets-1-3": {"min_offset": 1, "n_offsets": 3},
    "offsets-2-3": {"min_offset": 2, "n_offsets": 2},
    "offsets-1-6": {"min_offset": 1, "n_offsets": 6},
    "offset-4": {"min_offset": 4, "n_offsets": 1},
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_cpc_loss_and_per_offset_terms_match_hand_written_reference(name: str) -> None:
    """Pins ``loss``, ``mi/infonce`` and every ``cpc/k<k>`` to the reference: which patches are predicted
    (rows t < G - k, every column, from the summary at (t, col)), which patch is the positive (k rows below,
    same column, same image), that every patch vector of the batch is a candidate, the raster order the
    context reads, one predictor per offset, the log(B G^2) offset of the bound, and the gradient of the
    loss for every parameter."""
    torch.manual_seed(0)
    m = CPC(1, SIZE, (0.5,), (0.25,), ndf=NDF, dim=DIM, online_probes=False, **VARIANTS[name]).double()
    x = torch.rand(B, 1, SIZE, SIZE, dtype=torch.float64)
    out = m((x, torch.zeros(B, dtype=torch.long)))
    ref = reference(m, x, **VARIANTS[name])
    assert set(ref) == set(out)
    for key, value in ref.items():
        assert torch.allclose(out[key].detach(), value.detach(), rtol=1e-9, atol=1e-9), (key, out[key])
    _same_gradients(m, out["loss"], ref["loss"])


# -- objective="dim": DIM(L) with infoNCE on the patch grid, with optional block ("less global") features --
BLOCKS = {  # per extra global: (top rows, left columns) of each image's block, as drawn by torch.randint
    2: [(torch.tensor([0, 5, 2]), torch.tensor([4, 1, 5])),
        (torch.tensor([3, 0, 5]), torch.tensor([0, 2, 1]))],
    3: [(torch.tensor([4, 1, 0]), torch.tensor([2, 4, 3])),
        (torch.tensor([0, 3, 2]), torch.tensor([1, 0, 4]))],
}
DIM_VARIANTS = {
    "one-global": {"n_globals": 0},
    "two-block-globals-3x3": {"n_globals": 2, "block_size": 3},
    "one-block-global-2x2": {"n_globals": 1, "block_size": 2},
}


def dim_reference(m: CPC, x: Tensor, n_globals: int, block_size: int = 0) -> Tensor:
    """DIM(L) infoNCE (nats) on the patch grid, by hand: pooled global(s), positives = own patches."""
    p, s, g = m.encoder.patch_size, m.encoder.stride, m.encoder.grid
    b = len(x)
    z = torch.stack([
        torch.stack([
            torch.stack([m.encoder.encode_crops(x[i:i + 1, :, t * s:t * s + p, c * s:c * s + p])[0]
                         for c in range(g)], dim=-1)
            for t in range(g)], dim=-2)
        for i in range(b)])  # (B, D, G, G), crop by crop
    local = m.head.embed_local(z)  # (B * L, E), row j * L + t * G + col
    pooled = [torch.stack([z[i, :, t, c] for t in range(g) for c in range(g)]).mean(0) for i in range(b)]
    globals_ = [torch.stack(pooled)]
    for e in range(n_globals):
        top, left = BLOCKS[block_size][e]
        cells = [[(t, c) for t in range(int(top[i]), int(top[i]) + block_size)
                  for c in range(int(left[i]), int(left[i]) + block_size)] for i in range(b)]
        block_means = [torch.stack([z[i, :, t, c] for t, c in cells[i]]).mean(0) for i in range(b)]
        globals_.append(torch.stack(block_means))
    n_loc = g * g
    terms = []
    for pooled_batch in globals_:
        emb = m.head.global_embed(m.global_net.mlp(pooled_batch))  # (B, E)
        total = x.new_zeros(())
        for i in range(b):
            # every patch of every other image is a negative: rows j * L .. j * L + L - 1, j != i
            negatives = torch.cat([local[j * n_loc:(j + 1) * n_loc] @ emb[i] for j in range(b) if j != i])
            for loc in range(n_loc):
                pos = torch.dot(emb[i], local[i * n_loc + loc])
                total = total + pos - torch.logsumexp(torch.cat([pos[None], negatives]), 0)
        terms.append(total / (b * n_loc) + math.log(1 + (b - 1) * n_loc))
    return sum(terms) / len(terms)


@pytest.mark.parametrize("name", list(DIM_VARIANTS))
def test_patch_grid_dim_objective_matches_hand_written_reference(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pins ``loss`` and ``mi/infonce`` of ``objective="dim"`` to the reference: the global feature from the
    mean of all patch vectors (block globals: the mean over each image's drawn block only, rows from ``top``
    and columns from ``left``), every patch vector of the same image a positive, every patch of the other
    images a negative, log(1 + (B - 1) L), the mean over the global and block terms, and the gradient of
    the loss for every parameter."""
    cfg = DIM_VARIANTS[name]
    draws = iter([d for pair in BLOCKS.get(cfg.get("block_size", 0), []) for d in pair])
    real = torch.randint

    def fixed(low, high, size, **kw):  # noqa: ANN001, ANN202
        return next(draws).clone() if tuple(size) == (B,) else real(low, high, size, **kw)

    monkeypatch.setattr(torch, "randint", fixed)
    torch.manual_seed(0)
    m = CPC(1, SIZE, (0.5,), (0.25,), objective="dim", ndf=NDF, dim=DIM, y_dim=6, embed_dim=10,
            online_probes=False, **cfg).double()
    x = torch.rand(B, 1, SIZE, SIZE, dtype=torch.float64)
    out = m((x, torch.zeros(B, dtype=torch.long)))
    ref = dim_reference(m, x, **cfg)
    assert set(out) == {"loss", "mi/infonce"}
    assert torch.allclose(out["mi/infonce"], ref.detach(), rtol=1e-9, atol=1e-9), (out["mi/infonce"], ref)
    assert torch.allclose(out["loss"].detach(), -ref.detach(), rtol=1e-9, atol=1e-9)
    _same_gradients(m, out["loss"], -ref)
