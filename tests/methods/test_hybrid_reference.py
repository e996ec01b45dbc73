"""The hybrid bound's assembled loss against an independent, hand-written reference (issue #19, part 3).

Sinha, Song, Ermon (source document 002): ``alpha * BA + (1 - alpha) * InfoNCE(y; y')``. The reference
takes the NVAE encoder/decoder and the MoCo heads as feature maps and recomputes by hand: the Gaussian
decoder's log-likelihood per image ``sum_pixels [-(x - x_hat)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2]``
on the clean image, the contrastive half of the latent (the first ``y_channels`` channels of z, on the
query and on the key side), the shuffle-BN keys of the second view (patched permutation), InfoNCE with
the in-batch positive and the queue negatives (explicit loops), the alpha weighting, and at alpha 0 the
decoder trained on the detached latent. Gradients of the loss with respect to every encoder and decoder
parameter are compared too (they pin which terms reach the encoder). Float64 throughout.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from infomax.encoders.nvae import NVAEDecoder, NVAEEncoder
from infomax.methods.hybrid import Hybrid

B, QUEUE, SIZE = 4, 8, 8
PERM = torch.tensor([2, 0, 3, 1])


def fixed_views(x: Tensor) -> tuple[Tensor, Tensor]:
    """Two distinct deterministic views: x itself and ``(1 - x)^2`` flipped left-right."""
    return x, (1.0 - x).pow(2).flip(-1)


def _unit(v: Tensor) -> Tensor:
    return v / torch.sqrt((v * v).sum())


VARIANTS = {
    "alpha-0.5": {"alpha": 0.5, "sigma": 1.0, "latent": 4, "y": 2, "tau": 0.2, "bn_splits": 2},
    "alpha-0.25-sigma-0.3": {"alpha": 0.25, "sigma": 0.3, "latent": 4, "y": 2, "tau": 0.5, "bn_splits": 1},
    "alpha-0.8-uneven-split": {"alpha": 0.8, "sigma": 0.5, "latent": 3, "y": 1, "tau": 0.1, "bn_splits": 2},
    "alpha-0-detached-decoder": {"alpha": 0.0, "sigma": 0.7, "latent": 4, "y": 2, "tau": 0.2, "bn_splits": 2},
    "alpha-1-autoencoder": {"alpha": 1.0, "sigma": 0.4, "latent": 4, "y": 2, "tau": 0.2, "bn_splits": 2},
}


def _build(cfg: dict) -> Hybrid:
    torch.manual_seed(0)
    enc = NVAEEncoder(1, SIZE, cfg["latent"], cfg["y"], hidden=4, mean=(0.5,), std=(0.25,))
    dec = NVAEDecoder(1, SIZE, cfg["latent"], hidden=4)
    m = Hybrid(enc, dec, fixed_views, cfg["alpha"], cfg["sigma"], proj_hidden=12, proj_dim=6,
               queue_size=QUEUE, temperature=cfg["tau"], momentum=0.9, bn_splits=cfg["bn_splits"])
    return m.double()


def reference(m: Hybrid, x: Tensor, queue: Tensor, cfg: dict) -> dict[str, Tensor]:
    """The hybrid's loss dict (with graph, for gradients) and the enqueued keys, by hand."""
    alpha, sigma, cy = cfg["alpha"], cfg["sigma"], cfg["y"]
    z = m.encoder(x)["z"]  # (B, Cz, S, S) of the clean image
    x_hat = m.decoder(z if alpha > 0 else z.detach())
    log_q = [
        (-((x[i] - x_hat[i]) ** 2) / (2 * sigma**2) - math.log(sigma) - 0.5 * math.log(2 * math.pi)).sum()
        for i in range(len(x))
    ]
    ba = sum(log_q) / len(x)
    out = {"ba/log_q": ba, "recon/mse": ((x - x_hat) ** 2).sum() / x.numel()}
    if alpha == 1.0:
        out["loss"] = -ba
        return out
    v1, v2 = fixed_views(x)
    keys: list[Tensor] = [x.new_zeros(())] * len(x)
    size = len(x) // cfg["bn_splits"]
    with torch.no_grad():
        for part in range(cfg["bn_splits"]):
            idx = PERM[part * size:(part + 1) * size] if cfg["bn_splits"] > 1 else torch.arange(len(x))
            zk = m.moco.key_encoder(v2[idx])["z"][:, :cy].flatten(1)  # the key's first y_channels
            for row, i in enumerate(idx.tolist()):
                keys[i] = _unit(m.moco.key_head(zk[row]))
    yq = m.encoder(v1)["z"][:, :cy].flatten(1)  # the query's first y_channels channels only
    total, cos = x.new_zeros(()), x.new_zeros(())
    for i in range(len(x)):
        q = _unit(m.moco.head(yq[i]))
        logits = [torch.dot(q, keys[i]) / cfg["tau"]] + [torch.dot(q, k) / cfg["tau"] for k in queue]
        total = total + logits[0] - torch.logsumexp(torch.stack(logits), 0)
        cos = cos + torch.dot(q, keys[i])
    nce = total / len(x) + math.log(1 + len(queue))
    loss = -(alpha * ba + (1 - alpha) * nce)
    if alpha == 0:
        loss = loss - ba  # the decoder alone learns from the (detached) latent
    out.update({"loss": loss, "mi/infonce": nce, "moco/pos_similarity": cos / len(x)})
    out["keys"] = torch.stack(keys)
    return out


@pytest.mark.parametrize("name", list(VARIANTS))
def test_hybrid_loss_terms_and_gradients_match_hand_written_reference(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pins ``loss``, ``ba/log_q``, ``recon/mse``, ``mi/infonce`` and ``moco/pos_similarity`` to the
    reference (BA on the clean image with the Gaussian decoder at ``sigma``, InfoNCE on the first
    ``y_channels`` channels of z only, alpha weighting, the alpha-0 detached decoder term), the gradient of
    the loss for every encoder and decoder parameter, and the queue after the step (the keys in rows
    0..B-1)."""
    cfg = VARIANTS[name]
    real = torch.randperm
    monkeypatch.setattr(torch, "randperm", lambda n, *a, **k: PERM.clone() if n == B else real(n, *a, **k))
    m = _build(cfg)
    x = torch.rand(B, 1, SIZE, SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    queue0 = m.moco.queue.keys.clone() if m.moco is not None else None
    out = m((x, torch.zeros(B, dtype=torch.long)))
    ref = reference(m, x, queue0, cfg)
    assert set(out) == set(ref) - {"keys"}
    for key in out:
        assert torch.allclose(out[key].detach(), ref[key].detach(), rtol=1e-9, atol=1e-9), key
    params = [*m.encoder.parameters(), *m.decoder.parameters()]
    got = torch.autograd.grad(out["loss"], params, allow_unused=True)
    want = torch.autograd.grad(ref["loss"], params, allow_unused=True)
    named = [*m.encoder.named_parameters(), *m.decoder.named_parameters()]
    for (pname, p), g, w in zip(named, got, want, strict=True):
        g = torch.zeros_like(p) if g is None else g
        w = torch.zeros_like(p) if w is None else w
        assert torch.allclose(g, w, rtol=1e-7, atol=1e-10), pname
    if m.moco is not None:
        expected = torch.cat([ref["keys"], queue0[B:]])
        assert torch.allclose(m.moco.queue.keys, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["alpha-0.5", "alpha-0-detached-decoder"])
def test_hybrid_second_step_after_momentum_update_matches_reference(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a stand-in optimiser step (a fixed perturbation of the encoder and query head) and
    ``on_after_optimizer_step``, pins the key encoder and key head to ``0.9 * old + 0.1 * new query``
    parameter by parameter, and the second step's logged values to the reference computed with the moved
    key encoder and the queue holding the first step's keys (rows 0..B-1) ahead of the initial entries."""
    cfg = VARIANTS[name]
    real = torch.randperm
    monkeypatch.setattr(torch, "randperm", lambda n, *a, **k: PERM.clone() if n == B else real(n, *a, **k))
    m = _build(cfg)
    gen = torch.Generator().manual_seed(5)
    x1, x2 = (torch.rand(B, 1, SIZE, SIZE, dtype=torch.float64, generator=gen) for _ in range(2))
    m((x1, torch.zeros(B, dtype=torch.long)))
    queue = m.moco.queue.keys.clone()
    with torch.no_grad():
        for p in [*m.encoder.parameters(), *m.moco.head.parameters()]:
            p.add_(0.05 * torch.randn(p.shape, dtype=p.dtype, generator=gen))
    pairs = [(m.moco.key_encoder, m.encoder), (m.moco.key_head, m.moco.head)]
    before = [[p.clone() for p in key.parameters()] for key, _ in pairs]
    m.on_after_optimizer_step()
    for (key, query), old in zip(pairs, before, strict=True):
        for (pname, pk), pq, po in zip(key.named_parameters(), query.parameters(), old, strict=True):
            assert torch.allclose(pk, 0.9 * po + 0.1 * pq, rtol=1e-12, atol=1e-12), pname
    out = m((x2, torch.zeros(B, dtype=torch.long)))
    ref = reference(m, x2, queue, cfg)
    for key in out:
        assert torch.allclose(out[key].detach(), ref[key].detach(), rtol=1e-9, atol=1e-9), key
    assert int(m.moco.queue.ptr) == 0  # two batches of 4 filled the queue of 8: the pointer wrapped
