"""DIMCO's assembled loss against an independent, hand-written reference (issue #19, part 3).

Lee et al., "Discrete Infomax Codes for Supervised Representation Learning" (sec. 2.2-2.4): the code
logits come from the method's encoder (on the items left after dropping held-out classes, picked here by
a loop over the labels), and everything else is recomputed with explicit loops over items, code
dimensions, symbols and classes: the per-dimension softmax, ``I = sum_i [H(mean_b p_bi) -
sum_c pi_c H(mean_{b in c} p_bi)]`` with the batch class frequencies ``pi_c``, the pairwise independence
regulariser ``mean over sampled pairs of KL(joint || product of marginals)`` (the pairs drawn from the same
seeded RNG, two distinct dimensions each), the loss ``-I + lambda * reg``, the label entropy H(Y), the
ceiling ``d * min(H(Y), log k)``, the code length ``d log2 k``, and the mean per-item code entropy
``mean_b sum_i H(p_bi)`` that the optional confidence penalty subtracts (times beta) from the loss, and the
optional auxiliary prototypical term (a loop over classes: the first item of each class in batch order is
its prototype, every other item a query scored by softmax over negative squared distances to the
prototypes; cross-entropy averaged over queries, times W), and the optional instance term (two copies of
each kept image, from two calls of the training view, here a flip and a one-row roll; each image a class
of two copies; the same closed form by loops over the 2B copies, subtracted times W), and the optional
neighbour term (for each item a, the KL from the softmax over the other items of cosine similarities of a
backbone feature at temperature 0.1 to the softmax of the mean per-dimension expected log-probability of
their symbols under a's code, by loops, added times W). Labels are
deliberately unbalanced. Float64 throughout.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from infomax.encoders.dim_conv import DIMConvEncoder
from infomax.methods.dimco import DIMCO, DIMCOEncoder

LABELS = torch.tensor([0, 2, 0, 1, 3, 0, 1, 3, 2, 0])  # class counts 4, 2, 2, 2: unbalanced


def _h(p: list[Tensor]) -> Tensor:
    """Entropy (nats) of a categorical distribution given as a list of probabilities."""
    return -sum(pk * torch.log(pk) for pk in p)


class FlipThenRoll(nn.Module):
    """A deterministic stand-in for a random training view: odd calls flip the columns, even calls roll
    the rows down by one, so the first and second copies of an image differ and no RNG is drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return x.flip(-1) if self.calls % 2 else x.roll(1, dims=-2)


def _softmax_loops(logits: Tensor) -> list[list[list[Tensor]]]:
    """probs[n][i][s] of logits (B, d, k), a softmax over s written as loops."""
    b, d, k = logits.shape
    probs = []
    for n in range(b):
        per_dim = []
        for i in range(d):
            top = max(float(v) for v in logits[n, i].detach())
            z = sum(torch.exp(logits[n, i, s] - top) for s in range(k))
            per_dim.append([torch.exp(logits[n, i, s] - top) / z for s in range(k)])
        probs.append(per_dim)
    return probs


def _mi_loops(probs: list, labels: list[int], d: int, k: int) -> Tensor:
    """sum_i [H(mean_n p_ni) - sum_c pi_c H(mean_{n in c} p_ni)] by loops over dims, classes and items."""
    b = len(labels)
    mi = probs[0][0][0].new_zeros(())
    for i in range(d):
        marginal = [sum(probs[n][i][s] for n in range(b)) / b for s in range(k)]
        mi = mi + _h(marginal)
        for c in sorted(set(labels)):
            members = [n for n in range(b) if labels[n] == c]
            cond = [sum(probs[n][i][s] for n in members) / len(members) for s in range(k)]
            mi = mi - len(members) / b * _h(cond)
    return mi


def _neighbour_kl_loops(
    f: Tensor, probs: list, cand_f: list[list[float]], cand_p: list, d: int, k: int, tau: float
) -> Tensor:
    """Mean over the batch's items a of KL(teacher || model) over the other items of the batch and the
    candidates (earlier items, a bank's: their features and symbol probabilities; none without one), by
    loops: the teacher a softmax of cosine similarities at temperature ``tau``, the model a softmax of the
    mean per-dimension expected log-probability of a candidate's symbols under a's code."""
    b, width = f.shape
    rows = [[float(v) for v in f[n]] for n in range(b)]
    kl = f.new_zeros(())
    for a in range(b):
        pool = [(rows[n], probs[n]) for n in range(b) if n != a] + list(zip(cand_f, cand_p))
        norm_a = math.sqrt(sum(v * v for v in rows[a]))
        cos = [sum(u * v for u, v in zip(rows[a], g)) / (norm_a * math.sqrt(sum(v * v for v in g)))
               for g, _ in pool]
        t_log_z = math.log(sum(math.exp(c / tau) for c in cos))
        score = [sum(q[i][s] * torch.log(probs[a][i][s]) for i in range(d) for s in range(k)) / d
                 for _, q in pool]
        m_log_z = torch.log(sum(torch.exp(s) for s in score))
        for c, s in zip(cos, score):
            t = c / tau - t_log_z
            kl = kl + math.exp(t) * (t - (s - m_log_z))
    return kl / b


def reference(m: DIMCO, x: Tensor, labels: Tensor, cfg: dict, seed: int) -> dict[str, Tensor]:
    """DIMCO's loss dict by hand (the forward pass must have been seeded with ``seed`` too)."""
    d, k = cfg["d"], cfg["k"]
    keep = [i for i in range(len(labels)) if int(labels[i]) not in cfg.get("holdout", ())]
    x, labels = x[keep], labels[keep]
    images = x
    if cfg.get("augment"):
        x = images.flip(-1)  # the first copy: FlipThenRoll's first call
    b = len(keep)
    probs = _softmax_loops(m.encoder.logits(x))  # probs[n][i][s]
    classes = sorted({int(c) for c in labels})
    members = {c: [n for n in range(b) if int(labels[n]) == c] for c in classes}
    mi = _mi_loops(probs, [int(c) for c in labels], d, k)
    h_y = -sum(len(members[c]) / b * math.log(len(members[c]) / b) for c in classes)
    out = {
        "mi/discrete": mi,
        "code_bits": torch.tensor(d * math.log2(k), dtype=torch.float64),
        "mi/label_entropy": torch.tensor(h_y, dtype=torch.float64),
        "mi/ceiling": torch.tensor(d * min(h_y, math.log(k)), dtype=torch.float64),
    }
    loss = -mi
    if cfg["reg_weight"] > 0 and cfg["n_pairs"] > 0 and d >= 2:
        gen = torch.Generator().manual_seed(seed)  # the pairs the forward pass drew from the seeded RNG
        first = torch.randint(0, d, (cfg["n_pairs"],), generator=gen)
        shift = torch.randint(1, d, (cfg["n_pairs"],), generator=gen)  # never 0: two distinct dimensions
        kl_sum = x.new_zeros(())
        for i1, s1 in zip(first.tolist(), shift.tolist()):
            i2 = (i1 + s1) % d
            for a in range(k):
                m1 = sum(probs[n][i1][a] for n in range(b)) / b
                for c in range(k):
                    m2 = sum(probs[n][i2][c] for n in range(b)) / b
                    joint = sum(probs[n][i1][a] * probs[n][i2][c] for n in range(b)) / b
                    kl_sum = kl_sum + joint * torch.log(joint / (m1 * m2))
        reg = kl_sum / cfg["n_pairs"]
        out["reg/independence"] = reg
        loss = loss + cfg["reg_weight"] * reg
    # mean over items of the summed per-dimension entropies; the confidence penalty subtracts beta times it
    item_entropy = sum(_h(probs[n][i]) for n in range(b) for i in range(d)) / b
    out["code/item_entropy"] = item_entropy
    loss = loss - cfg.get("confidence_penalty", 0.0) * item_entropy
    if cfg.get("proto_weight", 0.0) > 0:
        z = m.encoder.backbone(x)[cfg["proto_layer"]].flatten(1)  # (B, F)
        first = {c: members[c][0] for c in classes}  # one support item per class: its first in the batch
        ce, hits, queries = x.new_zeros(()), 0, 0
        for n in range(b):
            if n == first[int(labels[n])]:
                continue
            dist = {c: sum((z[n, j] - z[first[c], j]) ** 2 for j in range(z.shape[1])) for c in classes}
            top = max(float(-v.detach()) for v in dist.values())
            log_z = top + torch.log(sum(torch.exp(-v - top) for v in dist.values()))
            ce = ce - (-dist[int(labels[n])] - log_z)
            hits += int(min(classes, key=lambda c: float(dist[c].detach())) == int(labels[n]))
            queries += 1
        out["proto/loss"] = ce / queries
        out["proto/accuracy"] = torch.tensor(hits / queries, dtype=torch.float64)
        loss = loss + cfg["proto_weight"] * out["proto/loss"]
    if cfg.get("instance_weight", 0.0) > 0:
        second = images.roll(1, dims=-2) if cfg.get("augment") else images  # FlipThenRoll's second call
        copies = probs + _softmax_loops(m.encoder.logits(second))  # 2B copies: image n is n and b + n
        out["mi/instance"] = _mi_loops(copies, [n % b for n in range(2 * b)], d, k)
        loss = loss - cfg["instance_weight"] * out["mi/instance"]
    if cfg.get("neighbour_weight", 0.0) > 0:
        f = m.encoder.backbone(x)[cfg["neighbour_layer"]].flatten(1).detach()  # (B, F): the teacher
        out["code/neighbour_kl"] = _neighbour_kl_loops(f, probs, [], [], d, k,
                                                       cfg.get("neighbour_temperature", 0.1))
        loss = loss + cfg["neighbour_weight"] * out["code/neighbour_kl"]
    out["loss"] = loss
    return out


VARIANTS = {
    "d4-k3-reg1": {"d": 4, "k": 3, "n_pairs": 5, "reg_weight": 1.0},
    "d3-k4-reg0.5": {"d": 3, "k": 4, "n_pairs": 3, "reg_weight": 0.5},
    "no-regulariser": {"d": 4, "k": 3, "n_pairs": 5, "reg_weight": 0.0},
    "holdout-class-3": {"d": 4, "k": 2, "n_pairs": 4, "reg_weight": 2.0, "holdout": (3,)},
    "one-dimension": {"d": 1, "k": 5, "n_pairs": 4, "reg_weight": 1.0},
    "confidence-penalty-0.3": {"d": 3, "k": 4, "n_pairs": 3, "reg_weight": 1.0, "confidence_penalty": 0.3},
    "proto-0.7-on-fc": {"d": 3, "k": 4, "n_pairs": 3, "reg_weight": 1.0, "proto_weight": 0.7,
                        "proto_layer": "fc"},
    "proto-2-on-y-holdout-3": {"d": 4, "k": 2, "n_pairs": 4, "reg_weight": 1.0, "holdout": (3,),
                               "proto_weight": 2.0, "proto_layer": "y"},
    "instance-0.5-two-views": {"d": 3, "k": 4, "n_pairs": 3, "reg_weight": 1.0, "instance_weight": 0.5,
                               "augment": True},
    "instance-2-no-view-holdout-3": {"d": 4, "k": 2, "n_pairs": 4, "reg_weight": 1.0, "holdout": (3,),
                                     "instance_weight": 2.0},
    "neighbour-0.8-on-fc": {"d": 3, "k": 4, "n_pairs": 3, "reg_weight": 1.0, "neighbour_weight": 0.8,
                            "neighbour_layer": "fc"},
    "neighbour-3-on-y-holdout-3-two-views": {"d": 4, "k": 2, "n_pairs": 4, "reg_weight": 1.0,
                                             "holdout": (3,), "neighbour_weight": 3.0, "neighbour_layer": "y",
                                             "augment": True},
    "neighbour-2-on-fc-temperature-0.03": {"d": 3, "k": 4, "n_pairs": 3, "reg_weight": 1.0,
                                           "neighbour_weight": 2.0, "neighbour_layer": "fc",
                                           "neighbour_temperature": 0.03},
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_dimco_loss_and_logged_terms_match_hand_written_reference(name: str) -> None:
    """Pins ``loss``, ``mi/discrete``, ``reg/independence``, ``code/item_entropy``, ``mi/label_entropy``,
    ``mi/ceiling`` and ``code_bits`` to the reference: the sign and class weighting of the closed-form
    I(code; label), the sampled pairs' KL(joint || product) averaged over pairs and added with weight
    lambda, the confidence penalty's sign and weight, the prototypical term's prototypes, queries and
    weight (on a layer other than the code head's, or the same), the instance term over two copies from two
    calls of the view (or the image twice), its sign and weight, the neighbour term's teacher (detached),
    temperature, score and weight, held-out classes dropped before encoding, no
    regulariser with lambda 0 or d = 1, and the gradient of the loss for every parameter."""
    cfg = VARIANTS[name]
    torch.manual_seed(0)
    backbone = DIMConvEncoder(1, 8, y_dim=8, mean=(0.5,), std=(0.25,))
    enc = DIMCOEncoder(backbone, "y", 8, d=cfg["d"], k=cfg["k"])
    m = DIMCO(enc, n_pairs=cfg["n_pairs"], reg_weight=cfg["reg_weight"],
              holdout_classes=cfg.get("holdout", ()),
              confidence_penalty=cfg.get("confidence_penalty", 0.0),
              proto_weight=cfg.get("proto_weight", 0.0),
              proto_layer=cfg.get("proto_layer", "y"),
              instance_weight=cfg.get("instance_weight", 0.0),
              neighbour_weight=cfg.get("neighbour_weight", 0.0),
              neighbour_layer=cfg.get("neighbour_layer", "fc"),
              neighbour_temperature=cfg.get("neighbour_temperature", 0.1),
              augment=FlipThenRoll() if cfg.get("augment") else None).double()
    x = torch.rand(len(LABELS), 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(123)
    out = m((x, LABELS))
    ref = reference(m, x, LABELS, cfg, seed=123)
    assert set(out) == set(ref)
    for key, value in ref.items():
        rtol = 1e-6 if key in ("code_bits", "proto/accuracy") else 1e-9  # float32 tensors by design
        assert torch.allclose(out[key].detach().double(), value.detach(), rtol=rtol, atol=1e-9), key
    named = list(m.named_parameters())
    got = torch.autograd.grad(out["loss"], [p for _, p in named])
    want = torch.autograd.grad(ref["loss"], [p for _, p in named])
    for (pname, _), g, w in zip(named, got, want, strict=True):
        assert torch.allclose(g, w, rtol=1e-7, atol=1e-10), pname


def test_neighbour_bank_ranks_the_latest_earlier_items_like_a_loop() -> None:
    """With ``neighbour_bank=12`` and batches of 10, the third batch's neighbour term ranks its own other
    items plus the 12 latest earlier items (the last 2 of the first batch and all of the second, with the
    features and probabilities they had then), as the loop reference does; its gradient flows through the
    third batch only. Breaking the ring (oldest kept instead of newest) or the bank's features fails it."""
    torch.manual_seed(0)
    backbone = DIMConvEncoder(1, 8, y_dim=8, mean=(0.5,), std=(0.25,))
    d, k = 3, 4
    m = DIMCO(DIMCOEncoder(backbone, "y", 8, d=d, k=k), n_pairs=3, reg_weight=0.0, neighbour_weight=1.0,
              neighbour_layer="fc", neighbour_bank=12).double()
    gen = torch.Generator().manual_seed(5)
    xs = [torch.rand(len(LABELS), 1, 8, 8, dtype=torch.float64, generator=gen) for _ in range(3)]
    seen_f, seen_p = [], []
    for x in xs[:2]:
        m((x, LABELS))
        with torch.no_grad():
            seen_f += [[float(v) for v in row] for row in m.encoder.backbone(x)["fc"].flatten(1)]
            seen_p += _softmax_loops(m.encoder.logits(x))
    out = m((xs[2], LABELS))
    f = m.encoder.backbone(xs[2])["fc"].flatten(1).detach()
    probs = _softmax_loops(m.encoder.logits(xs[2]))
    want = _neighbour_kl_loops(f, probs, seen_f[-12:], seen_p[-12:], d, k, 0.1)
    assert torch.allclose(out["code/neighbour_kl"].double(), want.detach(), rtol=1e-9, atol=1e-10)
    # the loss is -I(code; label) + W * neighbour term (no regulariser); the bank is constant, so both
    # gradients come from the third batch's graph only
    ref_loss = -_mi_loops(probs, [int(c) for c in LABELS], d, k) + want
    named = list(m.named_parameters())
    got = torch.autograd.grad(out["loss"], [p for _, p in named])
    ref = torch.autograd.grad(ref_loss, [p for _, p in named])
    for (pname, _), g, w in zip(named, got, ref, strict=True):
        assert torch.allclose(g, w, rtol=1e-7, atol=1e-10), pname
    assert not torch.allclose(
        out["code/neighbour_kl"].double(),
        _neighbour_kl_loops(f, probs, seen_f[:12], seen_p[:12], d, k, 0.1).detach(), rtol=1e-6)
