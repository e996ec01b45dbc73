"""Checkpoints as plain tensors and dicts, written atomically; RNG capture and seeding.

A checkpoint is a dict that ``torch.load(path, weights_only=True)`` reads back (no pickled classes)::

    {"format": 1,
     "method": method.state_dict(),
     "optimizers": {group: optimizer.state_dict()},
     "rng": {"torch": uint8 tensor, "numpy": {...}, "python": {...}, "cuda": [uint8 tensors]},
     "epoch": epochs completed, "batch": batches done in the current epoch (0 at an epoch boundary),
     "step": training steps done, "elapsed_s": training wall time so far,
     "stopped_by": None | "max_minutes",
     "loss_scale": None | float (the finite blow-up check's scale, see ``TrainConfig.diverge_factor``),
     "ema": {name: tensor} (only with ``TrainConfig.ema`` > 0: the moving average of the float weights)}

Writes go to a temporary file in the same folder, then ``os.replace`` (atomic on POSIX), so a kill at any
time leaves the previous checkpoint intact; a failed write (a full disk, an unwritable folder) is a
:class:`UserError` naming the file, its temporary file removed and the previous checkpoint kept. A state
with a non-finite floating tensor is refused: NaN weights are never written.

Reading never unpickles: ``weights_only=True`` always, and a file holding anything else is refused as
"not a valid infomax checkpoint" (it may have been tampered with) with no unsafe fallback suggested.

Example:
    >>> save_checkpoint("ckpt/last.pt", {"format": 1, "method": m.state_dict()})  # doctest: +SKIP
    >>> load_checkpoint("ckpt/last.pt")["method"].keys()  # doctest: +SKIP
"""

from __future__ import annotations

import io
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

#: Keys every training checkpoint holds (checked on load, so a foreign dict is refused in one line).
REQUIRED_KEYS = ("method", "optimizers", "rng", "epoch", "batch", "step", "elapsed_s")


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
    """Write ``ckpt`` atomically; refuses (RuntimeError) a ``ckpt["method"]`` state with non-finite values.

    The state is serialised in memory first and then written (and flushed to disk) as bytes, so a full
    disk is an ``OSError`` with its errno (torch's own writer reports it as an opaque RuntimeError),
    which :func:`infomax.run.atomic_path` turns into a one-line UserError, keeping the previous file.
    """
    bad = non_finite_tensors(ckpt.get("method", {}))
    if bad:
        raise RuntimeError(f"refusing to checkpoint non-finite weights ({', '.join(bad[:3])}...)")
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(buf.getbuffer())
        f.flush()
        os.fsync(f.fileno())


def load_checkpoint(path: str | os.PathLike, mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a missing, corrupt or foreign file is a UserError.

    A file that holds pickled objects (a checkpoint of another program, or one tampered with to run code
    when unpickled) is refused without being unpickled; the message never suggests loading it unsafely.
    ``mmap=True`` maps the tensors instead of reading them (cheap when only the counters are needed).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError, ValueError,
            TypeError, AttributeError, ImportError) as e:
        text = str(e).strip()
        if "global" in text.lower():  # a pickled class or function: refused by torch, and by us for good
            raise UserError(
                f"{path} is not a valid infomax checkpoint: it holds objects other than tensors and plain "
                "containers, so it may have been tampered with; it was not loaded. Restore it from a "
                "trusted copy or start a new run") from None
        raise UserError(f"corrupt checkpoint {path}: {_load_error(text)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not an infomax checkpoint (format {FORMAT})")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing or not isinstance(ckpt["method"], dict):
        lacks = ", ".join(missing) or "weights"
        raise UserError(f"{path} is not a valid infomax checkpoint (it lacks {lacks})")
    return ckpt


def _load_error(text: str) -> str:
    """The reason in torch's load error, never its advice (it suggests ``weights_only=False``)."""
    marker = "WeightsUnpickler error:"
    if marker in text:
        rest = [ln.strip() for ln in text.split(marker, 1)[1].splitlines() if ln.strip()]
        return f"not a plain tensor file ({rest[0][:120] if rest else 'unreadable'})"
    first = (text.splitlines() or ["unreadable"])[0][:200]
    return "not a plain tensor file" if "weights_only" in first or "weights only" in first.lower() else first


def load_method_state(method: torch.nn.Module, ckpt: dict[str, Any], path: str | os.PathLike,
                      averaged: bool = False) -> None:
    """``method.load_state_dict(ckpt["method"])``; a checkpoint that does not fit is a one-line UserError.

    ``averaged=True``: where the checkpoint holds a moving average of the weights (``ckpt["ema"]``, a run
    with ``ema`` > 0, see ``infomax.engine.averaging``), its tensors replace the last weights'.

    A checkpoint of another method, or of other settings (a tensor of another shape), is refused before
    any weight is changed: keys and shapes are compared first (``load_state_dict`` itself copies the
    tensors that fit before it reports the ones that do not).

    Example:
        >>> moco = load_checkpoint("runs/moco/checkpoints/last.pt")  # doctest: +SKIP
        >>> load_method_state(dim_method, moco, "last.pt")  # doctest: +SKIP
        Traceback (most recent call last):
        infomax.errors.UserError: checkpoint last.pt does not fit this run's method ...
    """
    own, given = method.state_dict(), ckpt["method"]
    if averaged and isinstance(ckpt.get("ema"), dict):
        given = {**given, **{k: v for k, v in ckpt["ema"].items() if k in given}}
    problems = []
    missing, unexpected = [k for k in own if k not in given], [k for k in given if k not in own]
    if missing:
        problems.append(f"missing {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected {_some(unexpected)}")
    for k, v in own.items():
        g = given.get(k)
        if k in given and torch.is_tensor(v) and not (torch.is_tensor(g) and g.shape == v.shape):
            shape = tuple(g.shape) if torch.is_tensor(g) else type(g).__name__
            problems.append(f"{k} is {shape} in the checkpoint, {tuple(v.shape)} here")
            break
    try:
        if problems:
            raise RuntimeError("; ".join(problems))
        method.load_state_dict(given)
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"checkpoint {path} does not fit this run's method and settings (config.json): "
                        f"{_state_mismatch(e)}; was it copied from another run?") from None


def _some(keys: list[str]) -> str:
    """``"a, b, c and 7 more"``."""
    shown = ", ".join(keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def _state_mismatch(e: BaseException) -> str:
    """The first concrete problem in a ``load_state_dict`` error (a size mismatch, missing keys...)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("size mismatch", "Missing key", "Unexpected key")):
            return ln.rstrip(".")[:300]
    return (lines[-1] if lines else type(e).__name__)[:300]
