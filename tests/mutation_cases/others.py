"""Mutation cases for AMDIM, CPC, MoCo, hybrid and DIMCO (issue #19, part 3).

Each case breaks one assembled objective on purpose; the listed reference tests (hand-written
recomputations of the loss) must fail on the mutated copy of ``src/``. Loaded by ``tests/mutations.py``.
"""

from __future__ import annotations

AMDIM_T = ["tests/methods/test_amdim_reference.py"]
AMDIM = "src/infomax/methods/amdim.py"
NCE = "src/infomax/methods/amdim_nce.py"
MIX = "src/infomax/methods/amdim_mixture.py"
STAB = "src/infomax/critics/stabilized.py"
CPC_T = ["tests/methods/test_cpc_reference.py"]
CPC = "src/infomax/methods/cpc.py"
MOCO_T = ["tests/methods/test_moco_reference.py"]
MOCO = "src/infomax/methods/moco.py"
HYB_T = ["tests/methods/test_hybrid_reference.py"]
HYB = "src/infomax/methods/hybrid.py"
DIMCO_T = ["tests/methods/test_dimco_reference.py"]
DIMCO = "src/infomax/methods/dimco.py"
DISC = "src/infomax/bounds/discrete.py"


def _case(name: str, path: str, old: str, new: str, tests: list[str]) -> dict:
    return {"name": name, "path": path, "old": old, "new": new, "tests": tests}


CASES: list[dict] = [
    # --- AMDIM -------------------------------------------------------------------------------------
    _case("amdim 1-7 within one view", AMDIM, '("1-7", f1[0], f7[1], f1[1], f7[0], True)',
          '("1-7", f1[0], f7[0], f1[1], f7[1], True)', AMDIM_T),
    _case("amdim 1-5 within one view", AMDIM, '("1-5", f1[0], f5[1], f1[1], f5[0], True)',
          '("1-5", f1[0], f5[0], f1[1], f5[1], True)', AMDIM_T),
    _case("amdim 5-5 within one view", AMDIM, '("5-5", src5[0], f5[1], src5[1], f5[0], False)',
          '("5-5", src5[0], f5[0], src5[1], f5[1], False)', AMDIM_T),
    _case("amdim 5x5 source location of the other view", AMDIM, "[rows, :, loc[v]] for v in (0, 1)]",
          "[rows, :, loc[0]] for v in (0, 1)]", AMDIM_T),
    _case("amdim one direction only", AMDIM, "loss = loss - 0.5 * (obj_ab + obj_ba)",
          "loss = loss - obj_ab", AMDIM_T),
    _case("amdim logged infoNCE offset log(B L)", AMDIM,
          "mi = weighted + math.log(1 + (world * b - 1) * n_loc)",
          "mi = weighted + math.log(world * b * n_loc)", AMDIM_T),
    _case("amdim stabilisation clip removed", STAB,
          "scores = raw if self.clip is None else self.clip * torch.tanh(raw / self.clip)",
          "scores = raw", AMDIM_T),
    _case("amdim score scale 1/D instead of 1/sqrt(D)", STAB, "raw = x @ y.T / math.sqrt(self.dim)",
          "raw = x @ y.T / self.dim", AMDIM_T),
    _case("amdim L2 penalty sign", AMDIM, 'out["loss"] = loss + reg', 'out["loss"] = loss - reg', AMDIM_T),
    _case("amdim L2 penalty weight doubled", AMDIM, "reg = reg + 0.5 * (pen_ab + pen_ba)",
          "reg = reg + (pen_ab + pen_ba)", AMDIM_T),
    _case("amdim L2 penalty on clipped scores", STAB,
          "penalty = self.l2_weight * raw.pow(2).mean()",
          "penalty = self.l2_weight * (raw if self.clip is None else self.clip * torch.tanh(raw / self.clip))"
          ".pow(2).mean()", AMDIM_T),
    _case("amdim NCE negatives include the own image", NCE,
          'neg = scores.masked_fill(eye, float("-inf"))', "neg = scores", AMDIM_T),
    _case("amdim mixture weights uniform instead of q", MIX,
          "value = (q * s_nce).sum(1) + alpha * entropy", "value = s_nce.mean(1) + alpha * entropy", AMDIM_T),
    _case("amdim mixture entropy bonus sign", MIX,
          "value = (q * s_nce).sum(1) + alpha * entropy", "value = (q * s_nce).sum(1) - alpha * entropy",
          AMDIM_T),
    _case("amdim mixture posterior tau as temperature", MIX, "log_q = torch.log_softmax(tau * s_nce, dim=1)",
          "log_q = torch.log_softmax(s_nce / tau, dim=1)", AMDIM_T),
    _case("amdim mixture head without residual", MIX,
          "return f1[:, None, :] + self.mlp(f1).view(-1, self.n_mix, self.dim)",
          "return self.mlp(f1).view(-1, self.n_mix, self.dim)", AMDIM_T),
    _case("amdim mixture posterior detached (no gradient through q)", MIX, "q = log_q.exp()",
          "q = log_q.exp().detach()", AMDIM_T),
    _case("amdim L2 penalty detached", STAB, "penalty = self.l2_weight * raw.pow(2).mean()",
          "penalty = self.l2_weight * raw.pow(2).mean().detach()", AMDIM_T),
    _case("amdim targets detached", AMDIM, "rows = trg.flatten(2).transpose(1, 2).reshape(b * n_loc, d)",
          "rows = trg.detach().flatten(2).transpose(1, 2).reshape(b * n_loc, d)", AMDIM_T),
    # --- CPC ---------------------------------------------------------------------------------------
    _case("cpc target mask off by one row", CPC, "target = idx[:, k:, :].reshape(-1)",
          "target = idx[:, k - 1:g - 1, :].reshape(-1)", CPC_T),
    _case("cpc predictions from summaries one row lower", CPC, "ctx = c[:, :, : g - k]",
          "ctx = c[:, :, 1: g - k + 1]", CPC_T),
    _case("cpc offsets start one lower", CPC,
          "self.offsets = tuple(range(min_offset, min_offset + n_offsets))",
          "self.offsets = tuple(range(min_offset - 1, min_offset - 1 + n_offsets))", CPC_T),
    _case("cpc candidates in column-major order", CPC,
          "cands = z.permute(0, 2, 3, 1).reshape(b * g * g, d)",
          "cands = z.permute(0, 3, 2, 1).reshape(b * g * g, d)", CPC_T),
    _case("cpc context reads columns first", CPC, "seq = z.flatten(2).transpose(1, 2)",
          "seq = z.transpose(2, 3).flatten(2).transpose(1, 2)", CPC_T),
    _case("cpc predictors paired with the wrong offsets", CPC,
          "for k, w in zip(self.offsets, self.predictors):",
          "for k, w in zip(self.offsets, list(self.predictors)[::-1]):", CPC_T),
    _case("cpc bound offset log(M - 1)", CPC, "out[k] = math.log(cands.shape[0]) - F.cross_entropy",
          "out[k] = math.log(cands.shape[0] - 1) - F.cross_entropy", CPC_T),
    _case("cpc offsets summed not averaged", CPC, "mi = torch.stack(list(per_k.values())).mean()",
          "mi = torch.stack(list(per_k.values())).sum()", CPC_T),
    _case("cpc candidates detached", CPC, "logits = rows @ cands.t()", "logits = rows @ cands.detach().t()",
          CPC_T),
    _case("cpc-dim block global pooled over the whole grid", CPC,
          "pooled = (z * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3)).clamp_min(1)",
          "pooled = z.mean(dim=(2, 3))", CPC_T),
    _case("cpc-dim block globals without their mask", CPC, "self.head.scores(self.global_net(z, m), z, emb)",
          "self.head.scores(self.global_net(z), z, emb)", CPC_T),
    _case("cpc-dim positives are the next image's patches", CPC,
          "pos = local_pos_mask(b, g * g, device=z.device)",
          "pos = local_pos_mask(b, g * g, device=z.device).roll(g * g, 1)", CPC_T),
    _case("cpc-dim global and block terms summed", CPC, "return torch.stack(terms).mean()",
          "return torch.stack(terms).sum()", CPC_T),
    # --- MoCo --------------------------------------------------------------------------------------
    _case("moco momentum m and 1-m swapped", MOCO, "pk.copy_(pk * m + pq.detach() * (1.0 - m))",
          "pk.copy_(pk * (1.0 - m) + pq.detach() * m)", MOCO_T),
    _case("moco key head not momentum-updated", MOCO,
          "momentum_update(self.key_head, self.head, self.momentum)", "pass", MOCO_T),
    _case("moco queue not updated", MOCO, "        self.enqueue(k)\n        return mi, pos",
          "        return mi, pos", MOCO_T),
    _case("moco queue pointer not advanced", MOCO, "self.ptr.copy_((self.ptr + b) % size)",
          "self.ptr.copy_(self.ptr % size)", MOCO_T),
    _case("moco enqueue over the newest entries", MOCO,
          "idx = (self.ptr + torch.arange(b, device=self.ptr.device)) % size",
          "idx = (self.ptr - b + torch.arange(b, device=self.ptr.device)) % size", MOCO_T),
    _case("moco temperature multiplies", MOCO, "return torch.cat([pos, neg], dim=1) / self.temperature",
          "return torch.cat([pos, neg], dim=1) * self.temperature", MOCO_T),
    _case("moco positive is another item's key", MOCO, "pos = (q * k).sum(1, keepdim=True)",
          "pos = (q * k.roll(1, 0)).sum(1, keepdim=True)", MOCO_T),
    _case("moco keys from the query view", MOCO, "k = self.keys(v2)\n        mi, pos",
          "k = self.keys(v1)\n        mi, pos", MOCO_T),
    _case("moco shuffled keys not put back in order", MOCO, "return k[torch.argsort(perm)]",
          "return k[perm]", MOCO_T),
    _case("moco shuffle-BN sub-batches off", MOCO,
          "g = self.bn_splits if b % self.bn_splits == 0 and b // self.bn_splits >= 2 else 1", "g = 1",
          MOCO_T),
    _case("moco query features detached", MOCO,
          "mi, pos = self.infonce_from_features(self.feature(encoder(v1)), k)",
          "mi, pos = self.infonce_from_features(self.feature(encoder(v1)).detach(), k)", MOCO_T),
    # --- hybrid ------------------------------------------------------------------------------------
    _case("hybrid contrastive term on the wrong half of z", HYB, "y_q, _ = self.encoder.split(z_q)",
          "_, y_q = self.encoder.split(z_q)", HYB_T),
    _case("hybrid encoder split swapped", "src/infomax/encoders/nvae.py",
          "return z[:, : self.y_channels], z[:, self.y_channels:]",
          "return z[:, z.shape[1] - self.y_channels:], z[:, : z.shape[1] - self.y_channels]", HYB_T),
    _case("hybrid alpha weights swapped", HYB, "objective = hybrid_bound(ba, nce, self.alpha)",
          "objective = hybrid_bound(nce, ba, self.alpha)", HYB_T),
    _case("hybrid bound weights swapped", "src/infomax/bounds/barber_agakov.py",
          "return alpha * ba_value + (1.0 - alpha) * infonce_value",
          "return (1.0 - alpha) * ba_value + alpha * infonce_value", HYB_T),
    _case("hybrid alpha 0 decoder not detached", HYB, "z if self.alpha > 0 else z.detach()", "z", HYB_T),
    _case("hybrid alpha 0 decoder term dropped", HYB,
          "loss = -objective if self.alpha > 0 else -objective - ba", "loss = -objective", HYB_T),
    _case("hybrid BA term on an augmented view", HYB, 'z = self.encoder(x)["z"]',
          'z = self.encoder(self.views(x)[1])["z"]', HYB_T),
    _case("hybrid Gaussian decoder without log sigma", "src/infomax/bounds/barber_agakov.py",
          "ll = -0.5 * ((x - x_hat) / sig) ** 2 - torch.log(sig) - 0.5 * math.log(2 * math.pi)",
          "ll = -0.5 * ((x - x_hat) / sig) ** 2 - 0.5 * math.log(2 * math.pi)", HYB_T),
    _case("hybrid keys from the query view", HYB, "k = self.moco.keys(v2)", "k = self.moco.keys(v1)", HYB_T),
    _case("hybrid queue not updated", HYB, "self.moco.enqueue(k)", "pass", HYB_T),
    _case("hybrid key encoder never momentum-updated", HYB, "self.moco.momentum_step(self.encoder)", "pass",
          HYB_T),
    # --- DIMCO -------------------------------------------------------------------------------------
    _case("dimco label entropy term sign", DIMCO, "h_y = -(counts / labels.numel()",
          "h_y = (counts / labels.numel()", DIMCO_T),
    _case("dimco I(code; label) entropy terms swapped", DISC, "return h_marginal - h_cond",
          "return h_cond - h_marginal", DIMCO_T),
    _case("dimco entropy sign", DISC, "return -(p * torch.log(p.clamp_min(_TINY))).sum(dim)",
          "return (p * torch.log(p.clamp_min(_TINY))).sum(dim)", DIMCO_T),
    _case("dimco class weights uniform", DISC, "pi = counts_f / b",
          "pi = torch.ones_like(counts_f) / counts_f.numel()", DIMCO_T),
    _case("dimco softmax over dimensions", DIMCO, "probs = torch.softmax(logits, dim=-1)",
          "probs = torch.softmax(logits, dim=1)", DIMCO_T),
    _case("dimco regulariser sign", DIMCO, "loss = loss + self.reg_weight * reg",
          "loss = loss - self.reg_weight * reg", DIMCO_T),
    _case("dimco regulariser weight ignored", DIMCO, "loss = loss + self.reg_weight * reg",
          "loss = loss + reg", DIMCO_T),
    _case("dimco regulariser KL reversed", DISC,
          "(joint * (torch.log(joint.clamp_min(_TINY)) - torch.log(product.clamp_min(_TINY))))",
          "(product * (torch.log(product.clamp_min(_TINY)) - torch.log(joint.clamp_min(_TINY))))",
          DIMCO_T),
    _case("dimco joint normalised by b - 1", DISC, 'joint = torch.einsum("bpk,bpl->pkl", p1, p2) / b',
          'joint = torch.einsum("bpk,bpl->pkl", p1, p2) / (b - 1)', DIMCO_T),
    _case("dimco pairs may repeat a dimension", DISC, "i2 = (i1 + torch.randint(1, d,",
          "i2 = (i1 + torch.randint(0, d,", DIMCO_T),
    _case("dimco held-out classes kept", DIMCO, "x, labels = x[keep], labels[keep]", "pass", DIMCO_T),
    _case("dimco regulariser on detached probabilities", DIMCO,
          "reg = pairwise_independence(probs, n_pairs=self.n_pairs)",
          "reg = pairwise_independence(probs.detach(), n_pairs=self.n_pairs)", DIMCO_T),
    _case("dimco ceiling in bits", DIMCO, "max=math.log(self.encoder.k)", "max=math.log2(self.encoder.k)",
          DIMCO_T),
]
