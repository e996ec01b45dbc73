"""MoCo v2's assembled loss, queue and momentum update against an independent, hand-written reference
(issue #19, part 3).

He et al. (CVPR 2020), Algorithm 1, with Chen et al. (2020)'s MLP head: the reference takes the method's
encoders and heads as feature maps, but recomputes by hand the shuffle-BN key encoding (the patched
permutation, encoded in sub-batches, then put back in batch order), the unit-norm queries and keys, the
in-batch positive ``q_i . k_i`` and the queue negatives ``q_i . queue_j``, the temperature, the InfoNCE value
``mean_i [s_i0 - logsumexp_j s_ij] + log(1 + K)`` with explicit loops, the FIFO queue after each step (the
batch's keys over the oldest entries) and the momentum update ``theta_k <- m theta_k + (1 - m) theta_q``.
The two views differ (the identity and a fixed remap), so a positive taken from the wrong view or the
wrong item changes the value. Float64 throughout.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from infomax.encoders.dim_conv import DIMConvEncoder
from infomax.encoders.nvae import NVAEEncoder
from infomax.methods.moco import MoCo

B, QUEUE = 4, 8
PERMS = [torch.tensor([2, 0, 3, 1]), torch.tensor([1, 3, 0, 2]), torch.tensor([3, 2, 1, 0])]  # one per step


def fixed_views(x: Tensor) -> tuple[Tensor, Tensor]:
    """Two distinct deterministic views: x itself and ``(1 - x)^2`` flipped left-right."""
    return x, (1.0 - x).pow(2).flip(-1)


def _unit(v: Tensor) -> Tensor:
    return v / torch.sqrt((v * v).sum())


def _encoder(kind: str) -> nn.Module:
    if kind == "dim":
        return DIMConvEncoder(1, 8, y_dim=8, mean=(0.5,), std=(0.25,))
    return NVAEEncoder(1, 8, hidden=4, mean=(0.5,), std=(0.25,))


VARIANTS = {
    "dim-fc-shuffle-bn": {
        "encoder": "dim", "layer": "fc", "temperature": 0.3, "momentum": 0.9, "bn_splits": 2,
    },
    "dim-y-no-shuffle": {
        "encoder": "dim", "layer": "y", "temperature": 0.07, "momentum": 0.5, "bn_splits": 1,
    },
    "nvae-y": {
        "encoder": "nvae", "layer": "y", "temperature": 0.5, "momentum": 0.75, "bn_splits": 2,
    },
}


def _build(name: str) -> MoCo:
    cfg = VARIANTS[name]
    torch.manual_seed(0)
    m = MoCo(_encoder(cfg["encoder"]), fixed_views, cfg["layer"], 1, 8, proj_hidden=12, proj_dim=6,
             queue_size=QUEUE, temperature=cfg["temperature"], momentum=cfg["momentum"],
             bn_splits=cfg["bn_splits"])
    return m.double()


def reference_keys(m: MoCo, v2: Tensor, perm: Tensor, bn_splits: int, layer: str) -> list[Tensor]:
    """k[i] (P,): image i's key; with shuffle-BN the permuted batch is encoded in ``bn_splits`` parts."""
    size = len(perm) // bn_splits
    keys: list[Tensor | None] = [None] * len(perm)
    for part in range(bn_splits):
        idx = perm[part * size:(part + 1) * size]
        feats = m.moco.key_encoder(v2[idx])[layer].flatten(1)  # batch statistics of this sub-batch only
        for row, i in enumerate(idx.tolist()):
            keys[i] = _unit(m.moco.key_head(feats[row]))
    return keys  # type: ignore[return-value]


def reference_step(m: MoCo, x: Tensor, queue: Tensor, perm: Tensor, name: str) -> dict[str, Tensor]:
    """The logged values of one step and the keys it enqueues, by hand."""
    cfg = VARIANTS[name]
    v1, v2 = fixed_views(x)
    with torch.no_grad():  # keys are constants of the step
        keys = reference_keys(m, v2, perm, cfg["bn_splits"], cfg["layer"])
    feats = m.encoder(v1)[cfg["layer"]].flatten(1)
    queries = [_unit(m.moco.head(feats[i])) for i in range(len(x))]
    total, cos = x.new_zeros(()), x.new_zeros(())
    for i, q in enumerate(queries):
        logits = [torch.dot(q, keys[i]) / cfg["temperature"]]  # the positive: the same image's key
        logits += [torch.dot(q, queue[j]) / cfg["temperature"] for j in range(len(queue))]
        total = total + logits[0] - torch.logsumexp(torch.stack(logits), 0)
        cos = cos + torch.dot(q, keys[i])
    mi = total / len(x) + math.log(1 + len(queue))
    return {"loss": -mi, "mi/infonce": mi, "moco/pos_similarity": cos / len(x), "keys": torch.stack(keys)}


def _patch_perms(monkeypatch: pytest.MonkeyPatch) -> None:
    perms = iter(PERMS)
    real = torch.randperm

    def fixed(n, *args, **kwargs):  # noqa: ANN001, ANN202
        return next(perms).clone() if n == B else real(n, *args, **kwargs)

    monkeypatch.setattr(torch, "randperm", fixed)


def _check(out: dict[str, Tensor], ref: dict[str, Tensor]) -> None:
    assert set(out) == {"loss", "mi/infonce", "moco/pos_similarity"}
    for key in out:
        assert torch.allclose(out[key].detach(), ref[key].detach(), rtol=1e-9, atol=1e-9), (key, out[key])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_one_step_loss_and_enqueued_keys_match_reference(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins ``loss``, ``mi/infonce`` and ``moco/pos_similarity`` of one step to the reference (in-batch
    positive q_i . k_i of the other view, every queue entry a negative, temperature, log(1 + K)), and the
    queue afterwards: the batch's reference keys in rows 0..B-1, the older rows untouched, the pointer
    at B; and the gradient of the loss for the query encoder and head (the key side gets none)."""
    _patch_perms(monkeypatch)
    m = _build(name)
    x = torch.rand(B, 1, 8, 8, dtype=torch.float64)
    queue0 = m.moco.queue.keys.clone()
    out = m((x, torch.zeros(B, dtype=torch.long)))
    ref = reference_step(m, x, queue0, PERMS[0], name)
    _check(out, ref)
    params = [*m.encoder.parameters(), *m.moco.head.parameters()]  # layer "fc": the encoder's y is unused
    got = torch.autograd.grad(out["loss"], params, allow_unused=True)
    want = torch.autograd.grad(ref["loss"], params, allow_unused=True)
    for p, g, w in zip(params, got, want, strict=True):
        g, w = (torch.zeros_like(p) if t is None else t for t in (g, w))
        assert torch.allclose(g, w, rtol=1e-7, atol=1e-10)
    assert all(not p.requires_grad for p in [*m.moco.key_encoder.parameters(), *m.moco.key_head.parameters()])
    expected = torch.cat([ref["keys"], queue0[B:]])
    assert torch.allclose(m.moco.queue.keys, expected, rtol=1e-12, atol=1e-12)
    assert int(m.moco.queue.ptr) == B


@pytest.mark.parametrize("name", list(VARIANTS))
def test_three_steps_momentum_and_fifo_queue_match_reference(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three steps with a stand-in optimiser step (a fixed perturbation of the query encoder and head)
    and ``on_after_optimizer_step`` between them. Pins the key encoder and key head after each update to
    ``m * old_key + (1 - m) * new_query`` parameter by parameter (key buffers untouched), the query side
    untouched by the update, the queue as a FIFO (step 3 overwrites step 1's keys, the oldest, and keeps
    step 2's), and every step's loss computed against the queue the earlier steps left."""
    _patch_perms(monkeypatch)
    m = _build(name)
    mom = VARIANTS[name]["momentum"]
    gen = torch.Generator().manual_seed(1)
    xs = [torch.rand(B, 1, 8, 8, dtype=torch.float64, generator=gen) for _ in range(3)]
    queue = m.moco.queue.keys.clone()
    for step, x in enumerate(xs):
        out = m((x, torch.zeros(B, dtype=torch.long)))
        with torch.no_grad():
            ref = reference_step(m, x, queue, PERMS[step], name)
        _check(out, ref)
        slot = (step * B) % QUEUE
        queue = queue.clone()
        queue[slot:slot + B] = ref["keys"]  # the batch's keys replace the oldest B entries
        assert torch.allclose(m.moco.queue.keys, queue, rtol=1e-12, atol=1e-12)
        with torch.no_grad():  # stand-in optimiser step on the query side
            for p in [*m.encoder.parameters(), *m.moco.head.parameters()]:
                p.add_(0.05 * torch.randn(p.shape, dtype=p.dtype, generator=gen))
        pairs = [(m.moco.key_encoder, m.encoder), (m.moco.key_head, m.moco.head)]
        before = {id(k): [p.clone() for p in k.parameters()] for k, _ in pairs}
        query_before = [p.clone() for _, q in pairs for p in q.parameters()]
        buffers_before = [b.clone() for b in m.moco.key_encoder.buffers()]
        m.on_after_optimizer_step()
        for key, query in pairs:
            named_q = dict(query.named_parameters())
            for (pname, pk), old in zip(key.named_parameters(), before[id(key)]):
                expected = mom * old + (1 - mom) * named_q[pname]
                assert torch.allclose(pk, expected, rtol=1e-12, atol=1e-12), pname
        query_after = [p for _, q in pairs for p in q.parameters()]
        assert all(torch.equal(a, b) for a, b in zip(query_before, query_after, strict=True))
        assert all(torch.equal(a, b) for a, b in zip(buffers_before, m.moco.key_encoder.buffers()))
