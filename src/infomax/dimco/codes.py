"""DIMCO codes: argmax symbols, bit packing, and the probabilistic Hamming similarity log p(c | q).

Lee et al., "Discrete Infomax Codes for Supervised Representation Learning" (arXiv 1905.11656), eq. 3
(the code of an item is the per-dimension argmax) and eq. 8 (the similarity of a query ``q`` to an item
with code ``c`` is ``log p(c | q) = sum_i log p_{i, c_i}(q)``).

Packing: each symbol takes ``bits_per_symbol(k) = ceil(log2 k)`` bits (exactly ``log2 k`` when ``k`` is a
power of two), written least-significant bit first, symbol 0 first; a code of ``d`` symbols takes
``ceil(d * bits / 8)`` bytes. For ``k = 16`` this is the byte layout of faiss's 4-bit product-quantizer
codes (symbol ``2j`` in the low nibble of byte ``j``), so packed codes go straight into a faiss index.
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from infomax.errors import UserError

#: Largest alphabet supported: symbols are stored as uint16 before packing.
MAX_K = 1 << 16


def check_code_shape(d: int, k: int) -> None:
    """UserError unless ``d >= 1`` and ``2 <= k <= 65536`` (the uint16 symbol type)."""
    if not isinstance(d, (int, np.integer)) or d < 1:
        raise UserError(f"code dimension d must be an integer >= 1, got {d!r}")
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise UserError(f"code alphabet size k must be an integer >= 2, got {k!r}")
    if k > MAX_K:
        raise UserError(f"code alphabet size k={k} overflows the uint16 symbol type (max {MAX_K})")


def bits_per_symbol(k: int) -> int:
    """Bits used per packed symbol: ``ceil(log2 k)`` (``log2 k`` for a power of two)."""
    check_code_shape(1, k)
    return int(k - 1).bit_length()


def code_bits(d: int, k: int) -> float:
    """Information length of a code, ``d * log2(k)`` bits (DIMCO's "code length").

    Example:
        >>> code_bits(64, 16)
        256.0
    """
    check_code_shape(d, k)
    return d * math.log2(k)


def code_bytes(d: int, k: int) -> int:
    """Bytes per packed code: ``ceil(d * bits_per_symbol(k) / 8)`` (32 for d=64, k=16)."""
    check_code_shape(d, k)
    return (d * bits_per_symbol(k) + 7) // 8


def symbol_dtype(k: int) -> np.dtype:
    """The smallest unsigned dtype holding symbols ``0..k-1``."""
    check_code_shape(1, k)
    return np.dtype(np.uint8) if k <= 256 else np.dtype(np.uint16)


def argmax_codes(probs_or_logits: Tensor | np.ndarray) -> np.ndarray:
    """Per-dimension argmax (DIMCO eq. 3): (N, d, k) probabilities, log-probabilities or logits -> (N, d).

    Ties go to the smallest symbol. Returns uint8 symbols for ``k <= 256``, else uint16.

    Example:
        >>> argmax_codes(np.array([[[0.1, 0.9], [0.6, 0.4]]])).tolist()
        [[1, 0]]
    """
    x = (
        probs_or_logits.detach().cpu().numpy()
        if isinstance(probs_or_logits, Tensor)
        else np.asarray(probs_or_logits)
    )
    if x.ndim != 3:
        raise UserError(f"expected (N, d, k) code probabilities, got shape {x.shape}")
    check_code_shape(x.shape[1], x.shape[2])
    return x.argmax(axis=2).astype(symbol_dtype(x.shape[2]))


def _check_symbols(symbols: np.ndarray, k: int) -> np.ndarray:
    symbols = np.asarray(symbols)
    if symbols.ndim != 2:
        raise UserError(f"codes must have shape (N, d), got {symbols.shape}")
    if symbols.dtype.kind not in "iu":
        raise UserError(f"codes must be integer symbols, got dtype {symbols.dtype}")
    if symbols.size and (symbols.min() < 0 or symbols.max() >= k):
        raise UserError(f"code symbols must lie in [0, {k}), got range [{symbols.min()}, {symbols.max()}]")
    return symbols


def pack_codes(symbols: np.ndarray, k: int) -> np.ndarray:
    """Pack (N, d) symbols in ``[0, k)`` into (N, code_bytes(d, k)) uint8, ``bits_per_symbol(k)`` each.

    Example:
        >>> pack_codes(np.array([[13, 10, 8, 4]]), 16).tolist()  # 0xAD, 0x48
        [[173, 72]]
    """
    check_code_shape(1, k)
    symbols = _check_symbols(symbols, k)
    n, d = symbols.shape
    check_code_shape(d, k)
    b = bits_per_symbol(k)
    if b == 8:
        return np.ascontiguousarray(symbols, dtype=np.uint8)
    if b == 4 and d % 2 == 0:  # fast path (the common k=16 case)
        s = symbols.astype(np.uint8)
        return np.ascontiguousarray(s[:, 0::2] | (s[:, 1::2] << 4))
    bits = (symbols.astype(np.uint32)[:, :, None] >> np.arange(b, dtype=np.uint32)) & 1  # (N, d, b)
    return np.packbits(bits.reshape(n, d * b).astype(np.uint8), axis=1, bitorder="little")


def unpack_codes(packed: np.ndarray, d: int, k: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: (N, code_bytes(d, k)) uint8 -> (N, d) symbols (uint8 or uint16).

    Example:
        >>> unpack_codes(np.array([[173, 72]], dtype=np.uint8), 4, 16).tolist()
        [[13, 10, 8, 4]]
    """
    check_code_shape(d, k)
    packed = np.asarray(packed)
    nbytes = code_bytes(d, k)
    if packed.dtype != np.uint8 or packed.ndim != 2 or packed.shape[1] != nbytes:
        raise UserError(
            f"packed codes for d={d}, k={k} must be uint8 of shape (N, {nbytes}), "
            f"got {packed.dtype} {packed.shape}"
        )
    b = bits_per_symbol(k)
    out_dtype = symbol_dtype(k)
    if b == 8:
        sym = packed.copy()
    elif b == 4 and d % 2 == 0:
        sym = np.empty((packed.shape[0], d), dtype=np.uint8)
        sym[:, 0::2] = packed & 15
        sym[:, 1::2] = packed >> 4
    else:
        bits = np.unpackbits(packed, axis=1, count=d * b, bitorder="little").reshape(-1, d, b)
        sym = (bits.astype(np.uint32) << np.arange(b, dtype=np.uint32)).sum(2)
    sym = sym.astype(out_dtype)
    if sym.size and sym.max() >= k:
        raise UserError(f"packed codes hold symbols >= k={k}: they were not packed for this (d, k)")
    return sym


def codes_to_int(symbols: np.ndarray, k: int) -> np.ndarray:
    """Each code as one mixed-radix integer ``sum_i c_i k^i`` (int64); UserError if ``k^d`` overflows.

    Example:
        >>> codes_to_int(np.array([[1, 2]]), 3).tolist()  # 1 + 2 * 3
        [7]
    """
    symbols = _check_symbols(symbols, k)
    d = symbols.shape[1]
    check_code_shape(d, k)
    if d * math.log2(k) > 63:
        raise UserError(
            f"k^d = {k}^{d} overflows the int64 code type (d*log2(k) = {d * math.log2(k):g} > 63 bits)"
        )
    radix = np.array([k**i for i in range(d)], dtype=np.int64)
    return symbols.astype(np.int64) @ radix


def similarity(query_logprobs: Tensor | np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """DIMCO similarity (eq. 8) ``log p(c | q) = sum_i log p_{i, c_i}(q)`` for every query-code pair.

    The canonical exact scorer of this package: float64, summed over dimensions in order 0..d-1, so
    every search path that re-ranks with it returns bit-identical scores.

    Args:
        query_logprobs: (Q, d, k) log-probabilities of the queries (``log_softmax`` of the logits).
        symbols: (N, d) integer codes.

    Returns:
        (Q, N) float64 similarities (<= 0).

    Example:
        >>> lp = np.log(np.array([[[0.5, 0.5], [0.9, 0.1]]]))
        >>> np.round(np.exp(similarity(lp, np.array([[0, 0], [1, 1]]))), 3).tolist()
        [[0.45, 0.05]]
    """
    lut = (
        query_logprobs.detach().cpu().numpy()
        if isinstance(query_logprobs, Tensor)
        else np.asarray(query_logprobs)
    )
    if lut.ndim != 3:
        raise UserError(f"query log-probabilities must have shape (Q, d, k), got {lut.shape}")
    q, d, k = lut.shape
    symbols = _check_symbols(symbols, k)
    if symbols.shape[1] != d:
        raise UserError(f"codes have d={symbols.shape[1]} symbols but the queries have d={d}")
    lut = lut.astype(np.float64)
    out = np.zeros((q, symbols.shape[0]), dtype=np.float64)
    for i in range(d):
        out += lut[:, i, symbols[:, i]]
    return out
