from __future__ import annotations

import torch

from infomax.methods.dim_heads import (
    ConcatConvLocalHead,
    EncodeDotLocalHead,
    GlobalMLPDiscriminator,
    local_pos_mask,
)


def test_local_pos_mask_layout() -> None:
    m = local_pos_mask(3, 2)
    want = torch.tensor([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], dtype=torch.bool)
    assert torch.equal(m, want)


def test_encode_dot_scores_equal_naive_loop() -> None:
    b, c, s, dy, e = 3, 5, 2, 4, 6
    head = EncodeDotLocalHead(c, dy, embed_dim=e)
    y, local = torch.randn(b, dy), torch.randn(b, c, s, s)
    scores = head.scores(y, local)  # (B, B*L)
    g = head.global_embed(y)  # (B, E)
    loc = head.local_embed(local).view(b, s, s, e).permute(0, 3, 1, 2)  # (B, E, S, S)
    naive = torch.empty(b, b * s * s)
    for i in range(b):
        for j in range(b):
            for r in range(s):
                for col in range(s):
                    naive[i, j * s * s + r * s + col] = torch.dot(g[i], loc[j, :, r, col])
    torch.testing.assert_close(scores, naive)
    # the block layer norm normalises every location's embedding over channels
    torch.testing.assert_close(loc.mean(1), torch.zeros(b, s, s), atol=1e-5, rtol=0)
    # the per-location linear layers are 1x1 convolutions: same result as Conv2d with those weights
    blk = head.local_embed.block
    conv = lambda lin, inp: torch.nn.functional.conv2d(inp, lin.weight[:, :, None, None], lin.bias)  # noqa: E731
    h = torch.relu(blk[1](conv(blk[0], local).permute(0, 2, 3, 1).reshape(-1, e)).view(b, s, s, e))
    h = conv(blk[3], h.permute(0, 3, 1, 2)) + conv(head.local_embed.shortcut, local)  # (B, E, S, S)
    want = torch.nn.functional.layer_norm(
        h.permute(0, 2, 3, 1), (e,), head.local_embed.norm.weight, head.local_embed.norm.bias
    ).permute(0, 3, 1, 2)
    torch.testing.assert_close(loc, want)


def test_encode_dot_scores_are_float32_products_of_the_embeddings_under_bf16_autocast() -> None:
    # the embeddings come out of autocast in bfloat16; their dot products are taken in float32
    torch.manual_seed(0)
    b, c, s, dy, e = 4, 5, 2, 3, 16
    head = EncodeDotLocalHead(c, dy, embed_dim=e)
    y, local = torch.randn(b, dy), torch.randn(b, c, s, s)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = head.scores(y, local)
        g, loc = head.global_embed(y).detach(), head.local_embed(local).detach()
    assert g.dtype == loc.dtype == torch.bfloat16 and scores.dtype == torch.float32
    naive = torch.tensor([[sum(float(g[i, k]) * float(loc[j, k]) for k in range(e)) for j in range(b * s * s)]
                          for i in range(b)])
    torch.testing.assert_close(scores, naive, rtol=1e-5, atol=1e-5)
    assert (scores - (g @ loc.t()).float()).abs().max() > 1e-3  # a bfloat16 product would not match


def test_local_embedding_sends_back_a_contiguous_gradient_equal_to_the_plain_one() -> None:
    # the (B*L, C) row view would hand the encoder a channels-last gradient (slow to add to its own)
    torch.manual_seed(0)
    head = EncodeDotLocalHead(5, 4, embed_dim=6)
    emb = head.local_embed
    base = torch.randn(3, 5, 2, 2)
    grads = {}
    for name in ("fixed", "plain"):
        leaf = base.clone().requires_grad_(True)
        local = leaf * 1.0  # a non-leaf, like the encoder's map: the hook sees the gradient as sent back
        local.register_hook(lambda g, name=name: grads.__setitem__(name, g))
        if name == "fixed":
            out = emb(local)
        else:  # the same maths without the layout fix
            rows = local.flatten(2).transpose(1, 2).reshape(-1, 5)
            out = emb.norm(emb.block(rows) + emb.shortcut(rows))
        out.square().sum().backward()
    assert grads["fixed"].is_contiguous() and not grads["plain"].is_contiguous()
    torch.testing.assert_close(grads["fixed"], grads["plain"], rtol=0, atol=0)


def test_concat_conv_all_pairs_equal_tiled_convolution() -> None:
    # the split-weight all-pairs path agrees with literally tiling y_i over image j's map and convolving
    b, c, s, dy = 3, 5, 2, 4
    head = ConcatConvLocalHead(c, dy, hidden=7)
    y, local = torch.randn(b, dy), torch.randn(b, c, s, s)
    scores = head.scores(y, local)  # (B, B*L)
    for i in range(b):
        tiled = head(y[i].expand(b, dy), local)  # (B, L): T(y_i, local_j at l)
        torch.testing.assert_close(scores[i], tiled.reshape(-1))
    # positives (pos_mask) are exactly the aligned scores of each image with its own map
    pos = local_pos_mask(b, s * s)
    torch.testing.assert_close(scores[pos].view(b, s * s), head(y, local))


def test_global_mlp_all_pairs_equal_concatenation() -> None:
    b, dy, dc = 4, 3, 5
    head = GlobalMLPDiscriminator(dy, dc, hidden=6)
    y, conv = torch.randn(b, dy), torch.randn(b, dc)
    scores = head.scores(y, conv)  # (B, B)
    for i in range(b):
        torch.testing.assert_close(scores[i], head(y[i].expand(b, dy), conv))
    torch.testing.assert_close(scores.diagonal(), head(y, conv))
