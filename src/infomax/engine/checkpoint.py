"""Checkpoints as plain tensors and dicts, written atomically; RNG capture and seeding.

A checkpoint is a dict that ``torch.load(path, weights_only=True)`` reads back (no pickled classes)::

    {"format": 1,
     "method": method.state_dict(),
     "optimizers": {group: optimizer.state_dict()},
     "rng": {"torch": uint8 tensor, "numpy": {...}, "python": {...}, "cuda": [uint8 tensors]},
     "epoch": epochs completed, "batch": batches done in the current epoch (0 at an epoch boundary),
     "step": training steps done, "elapsed_s": training wall time so far,
     "stopped_by": None | "max_minutes"}

Writes go to a temporary file in the same folder, then ``os.replace`` (atomic on POSIX), so a kill at any
time leaves the previous checkpoint intact. A state with a non-finite floating tensor is refused: NaN
weights are never written.

Example:
    >>> save_checkpoint("ckpt/last.pt", {"format": 1, "method": m.state_dict()})  # doctest: +SKIP
    >>> load_checkpoint("ckpt/last.pt")["method"].keys()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infomax.errors import UserError
from infomax.run import atomic_path

FORMAT = 1


def derive_seed(*keys: int) -> int:
    """A 32-bit seed that is a fixed function of integer ``keys`` (e.g. (seed, epoch, rank)).

    Example:
        >>> derive_seed(0, 3) == derive_seed(0, 3) != derive_seed(0, 4)
        True
    """
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def seed_everything(*keys: int) -> int:
    """Seed python's ``random``, numpy's global RNG and torch (all devices) from ``keys``; returns the seed.

    With one key ``seed_everything(s)`` seeds every generator with ``s`` itself.
    """
    s = int(keys[0]) if len(keys) == 1 else derive_seed(*keys)
    random.seed(s)
    np.random.seed(s % 2**32)  # noqa: NPY002 - the global RNG that user code draws from
    torch.manual_seed(s)
    return s


def rng_state() -> dict[str, Any]:
    """The global RNG states of torch (CPU and CUDA), numpy and python, as plain tensors and ints."""
    version, mt, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)},
        "python": {"version": int(version), "state": torch.tensor(mt, dtype=torch.int64),
                   "gauss": gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states captured by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((  # noqa: NPY002
        "MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def non_finite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating tensors in a state dict holding NaN or infinity."""
    return [k for k, v in state.items()
            if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_checkpoint(path: str | os.PathLike, ckpt: dict[str, Any]) -> None:
    """Write ``ckpt`` atomically; refuses (RuntimeError) a ``ckpt["method"]`` state with non-finite values."""
    bad = non_finite_tensors(ckpt.get("method", {}))
    if bad:
        raise RuntimeError(f"refusing to checkpoint non-finite weights ({', '.join(bad[:3])}...)")
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a missing or corrupt file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError) as e:
        first = (str(e).strip().splitlines() or ["unreadable"])[0]
        raise UserError(f"corrupt checkpoint {path}: {first}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not an infomax checkpoint (format {FORMAT})")
    return ckpt
