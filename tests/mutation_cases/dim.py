"""Mutation cases for Deep InfoMax (``python tests/mutations.py``; format in ``tests/mutations.py``).

Each case breaks one piece of the assembled DIM objective; ``tests/methods/test_dim_reference.py`` must
fail for every one of them. The first six are the mutations of issue #19 that once left every fast test
green.
"""

from __future__ import annotations

DIM = "src/infomax/methods/dim.py"
HEADS = "src/infomax/methods/dim_heads.py"
PRIOR = "src/infomax/methods/dim_prior.py"
COORDS = "src/infomax/methods/dim_coords.py"
OCCL = "src/infomax/methods/dim_occlusion.py"
MULTI = "src/infomax/methods/dim_multi.py"
REF = ["tests/methods/test_dim_reference.py"]


def _case(name: str, path: str, old: str, new: str, tests: list[str] = REF) -> dict:
    return {"name": name, "path": path, "old": old, "new": new, "tests": list(tests)}


CASES = [
    # -- issue #19 ---------------------------------------------------------------------------------
    _case("dim-occlusion-returns-input", DIM,
          "return torch.where(mask, self.encoder.mean, x)", "return x"),
    _case("dim-prior-sign-flipped", DIM,
          "loss = loss + self.gamma * enc_adv", "loss = loss - self.gamma * enc_adv"),
    _case("dim-coord-sign-flipped", DIM,
          "loss = loss + self.coord_weight * c_loss", "loss = loss - self.coord_weight * c_loss"),
    _case("dim-multiglobal-mask-dropped", DIM,
          'self.encoder.forward_from_local(local * m)["y"]', 'self.encoder.forward_from_local(local)["y"]'),
    _case("dim-g-misaligned-positives", DIM,  # Y_i scored against C_{i-1}
          "self._mi(self.global_head.scores(y_mi, conv), None)",
          "self._mi(self.global_head.scores(y_mi, conv.roll(1, 0)), None)"),
    _case("dim-prior-no-sigmoid", PRIOR,
          'return torch.sigmoid(y) if self.prior == "uniform" else y', "return y"),
    # -- weights and assembly ----------------------------------------------------------------------
    _case("dim-alpha-dropped", DIM, "loss = loss - self.alpha * mi_g", "loss = loss - mi_g"),
    _case("dim-beta-dropped", DIM, "loss = loss - self.beta * mi_l", "loss = loss - mi_l"),
    _case("dim-gamma-dropped", DIM, "loss = loss + self.gamma * enc_adv", "loss = loss + enc_adv"),
    _case("dim-coord-weight-dropped", DIM,
          "loss = loss + self.coord_weight * c_loss", "loss = loss + c_loss"),
    _case("dim-multiglobal-sum-not-mean", DIM,
          "mi_l = torch.stack(terms).mean()", "mi_l = torch.stack(terms).sum()"),
    _case("dim-multiglobal-report-not-averaged", DIM,
          'reports["local"] = {k: v / len(terms) for k, v in rep_sum.items()}',
          'reports["local"] = {k: v / len(terms) for k, v in reports["local"].items()}'),
    _case("dim-main-report-global-first", DIM,
          'main = reports["local"] if "local" in reports else reports["global"]',
          'main = reports["global"] if "global" in reports else reports["local"]'),
    _case("dim-local-ignores-occlusion", DIM,
          "self._mi(self.local_scores(y_mi, local, emb), pos)",
          "self._mi(self.local_scores(y, local, emb), pos)"),
    _case("dim-occlusion-fills-zero", DIM,
          "return torch.where(mask, self.encoder.mean, x)",
          "return torch.where(mask, torch.zeros_like(x), x)"),
    _case("dim-n-negatives-ignored", DIM,
          'return {} if self.n_negatives is None else {"n_negatives": self.n_negatives}', "return {}"),
    _case("dim-cross-views-same-view", DIM,
          "pairs = [(0, 0)] if len(xs) == 1 else [(0, 1), (1, 0)]",
          "pairs = [(0, 0)] if len(xs) == 1 else [(0, 0), (1, 1)]"),
    _case("dim-cross-views-summed", DIM,
          "loss = loss + loss_ij / len(pairs)", "loss = loss + loss_ij"),
    _case("dim-prior-reads-view-2", DIM,
          'y, local = feats[0]["y"], feats[0]["local"]', 'y, local = feats[-1]["y"], feats[-1]["local"]'),
    _case("dim-masked-passes-update-bn-stats", DIM, "m.momentum = 0.0", "m.momentum = m.momentum"),
    # -- heads and positives -----------------------------------------------------------------------
    _case("dim-l-positives-shifted", HEADS,
          "eye = torch.eye(batch, dtype=torch.bool, device=device)  # (B, B)",
          "eye = torch.eye(batch, dtype=torch.bool, device=device).roll(1, 1)  # (B, B)"),
    _case("dim-global-head-transposed", HEADS,
          "h = torch.relu(a[:, None, :] + b[None, :, :])  # (B, B, H)",
          "h = torch.relu(a[None, :, :] + b[:, None, :])  # (B, B, H)"),
    _case("dim-concat-head-transposed", HEADS,
          "h = torch.relu(a[:, None, None, :] + c[None, :, :, :])  # (B, B, L, Hd)",
          "h = torch.relu(a[None, :, None, :] + c[:, None, :, :])  # (B, B, L, Hd)"),
    _case("dim-global-embedding-no-shortcut", HEADS,
          "return self.block(x) + self.shortcut(x)  # (B, E)", "return self.block(x)  # (B, E)"),
    _case("dim-local-embedding-no-layernorm", HEADS,
          "return self.norm(self.block(rows) + self.shortcut(rows))  # (B*L, E)",
          "return self.block(rows) + self.shortcut(rows)  # (B*L, E)"),
    # -- prior game --------------------------------------------------------------------------------
    _case("dim-prior-discriminator-reaches-encoder", PRIOR,
          "self.discriminator(q.detach())", "self.discriminator(q)"),
    _case("dim-prior-encoder-trains-discriminator", PRIOR,
          "frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}",
          "frozen = dict(self.discriminator.named_parameters())"),
    _case("dim-prior-labels-swapped", PRIOR,
          "F.softplus(-self.discriminator(z)).mean()", "F.softplus(self.discriminator(z)).mean()"),
    _case("dim-prior-uniform-samples-gaussian", PRIOR,
          "return torch.rand(n, dim, device=device)", "return torch.randn(n, dim, device=device)"),
    # -- coordinates -------------------------------------------------------------------------------
    _case("dim-coord-absolute-row-col-swapped", COORDS,
          "return _two_ce(self.net(inp), idx // s, idx % s, s)",
          "return _two_ce(self.net(inp), idx % s, idx // s, s)"),
    _case("dim-coord-relative-offset-negated", COORDS,
          "d_rows = tgt // s - src_rep // s + (s - 1)", "d_rows = src_rep // s - tgt // s + (s - 1)"),
    _case("dim-coord-relative-source-range", COORDS,
          "source = torch.randint(0, n_loc, (b,), device=local.device)",
          "source = torch.randint(0, n_loc - 1, (b,), device=local.device)"),
    # -- random draws ------------------------------------------------------------------------------
    _case("dim-occluder-hides-no-field", OCCL,
          "mask = (_box_mask(self.boxes[hide], h) | _box_mask(rect, h)) & ~_box_mask(self.boxes[keep], h)",
          "mask = _box_mask(rect, h) & ~_box_mask(self.boxes[keep], h)"),
    _case("dim-occluder-keeps-no-field", OCCL,
          "mask = (_box_mask(self.boxes[hide], h) | _box_mask(rect, h)) & ~_box_mask(self.boxes[keep], h)",
          "mask = _box_mask(self.boxes[hide], h) | _box_mask(rect, h)"),
    _case("dim-blocks-never-touch-last-row", MULTI,
          "top = torch.randint(0, map_size - block_size + 1, (batch,), device=device)  # (B,)",
          "top = torch.randint(0, map_size - block_size, (batch,), device=device)  # (B,)"),
]
