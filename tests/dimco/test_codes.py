"""Codes: argmax, bit packing round trips, code length, similarity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infomax.dimco.codes import (
    argmax_codes,
    bits_per_symbol,
    code_bits,
    code_bytes,
    codes_to_int,
    pack_codes,
    similarity,
    unpack_codes,
)
from infomax.errors import UserError


@pytest.mark.parametrize("d,k", [(64, 16), (7, 16), (5, 2), (9, 5), (3, 256), (4, 300), (6, 1000)])
def test_pack_round_trip(d: int, k: int) -> None:
    rng = np.random.default_rng(k)
    sym = rng.integers(0, k, (50, d))
    sym[0] = k - 1  # extreme symbols
    sym[1] = 0
    packed = pack_codes(sym, k)
    assert packed.dtype == np.uint8 and packed.shape == (50, code_bytes(d, k))
    assert np.array_equal(unpack_codes(packed, d, k), sym)


def test_packing_sizes_and_layout() -> None:
    assert code_bytes(64, 16) == 32 and bits_per_symbol(16) == 4 and bits_per_symbol(5) == 3
    assert code_bits(64, 16) == 256.0 and code_bits(3, 10) == pytest.approx(3 * math.log2(10))
    # general (bit-level) path agrees with the nibble fast path on an even d, k=16
    sym = np.random.default_rng(0).integers(0, 16, (10, 6))
    bits = ((sym[:, :, None] >> np.arange(4)) & 1).reshape(10, 24).astype(np.uint8)
    assert np.array_equal(pack_codes(sym, 16), np.packbits(bits, axis=1, bitorder="little"))
    # k=2: one bit per symbol, symbol 0 in the least significant bit
    assert pack_codes(np.array([[1, 0, 1, 1, 0, 0, 0, 0, 1]]), 2).tolist() == [[0b00001101, 1]]


def test_argmax_codes_ties_and_dtype() -> None:
    p = torch.tensor([[[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]]])
    assert argmax_codes(p).tolist() == [[0, 2]]
    assert argmax_codes(np.zeros((1, 2, 300))).dtype == np.uint16


def test_codes_to_int_and_overflow() -> None:
    assert codes_to_int(np.array([[1, 2, 0], [2, 2, 2]]), 3).tolist() == [7, 26]
    with pytest.raises(UserError, match="overflows"):
        codes_to_int(np.zeros((1, 16), dtype=np.int64), 16)  # 16^16 = 2^64


def test_similarity_matches_log_of_product() -> None:
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(3, 4, 5, generator=g, dtype=torch.float64), -1)
    sym = np.random.default_rng(1).integers(0, 5, (6, 4))
    got = similarity(torch.log(probs), sym)
    want = np.array(
        [[np.prod([probs[q, i, sym[n, i]].item() for i in range(4)]) for n in range(6)] for q in range(3)]
    )
    assert np.allclose(np.exp(got), want, rtol=1e-12)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: pack_codes(np.array([[0, 4]]), 4), r"\[0, 4\)"),
        (lambda: pack_codes(np.array([[0.0, 1.0]]), 4), "integer"),
        (lambda: unpack_codes(np.zeros((2, 3), np.uint8), 4, 16), r"\(N, 2\)"),
        (lambda: unpack_codes(np.full((1, 1), 255, np.uint8), 2, 5), "symbols >= k"),
        (lambda: code_bits(0, 4), "d must be"),
        (lambda: code_bits(4, 1), "k must be"),
        (lambda: code_bits(4, 70000), "uint16"),
        (lambda: similarity(np.zeros((1, 3, 4)), np.zeros((2, 2), np.int64)), "d=2"),
    ],
)
def test_bad_input(call, match: str) -> None:
    with pytest.raises(UserError, match=match):
        call()
