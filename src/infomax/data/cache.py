"""The decoded-array cache: every split of a source decoded once, stored as one uncompressed ``.npz``.

Files live in ``$INFOMAX_CACHE`` (default ``<user cache dir>/decoded``, see :mod:`infomax.data.root`) and
are named ``<tag>-<fingerprint>.npz``: the fingerprint hashes the format version, the tag, the decoding
options and every source file's resolved path, size and mtime, so a changed file is decoded again. They
are written atomically (temp file + ``os.replace``) and read with ``np.load(allow_pickle=False)``; the
per-channel statistics of each split are stored with them. An unreadable file is ignored (a warning), an
unwritable cache only costs speed (a warning). The data root itself may be read-only.

Example:
    >>> def decode():  # every split at once, e.g. one pass over an archive
    ...     toy = ImageArrays(np.zeros((2, 1, 4, 4), np.uint8), [0, 1], ["a", "b"])
    ...     return {"train": toy, "test": toy}
    >>> cached_split("toy", {"size": None}, [Path("toy.bin")], "test", decode).images.shape  # doctest: +SKIP
    (2, 1, 4, 4)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from infomax.data.arrays import ImageArrays, channel_stats
from infomax.data.root import user_cache_dir

#: Bump when the decoded format changes, so stale cache files are not reused (2: tree datasets shuffled).
_CACHE_VERSION = 2


def decoded_cache_dir() -> Path:
    """Where decoded arrays are cached: ``$INFOMAX_CACHE``, else ``<user cache dir>/decoded``."""
    env = os.environ.get("INFOMAX_CACHE")
    return Path(env).expanduser() if env else user_cache_dir() / "decoded"


def _fingerprint(tag: str, options: dict, sources: list[Path]) -> str:
    """Hash of what determines the decoded arrays: tag, options and every source file's path/size/mtime."""
    h = hashlib.sha256(json.dumps([_CACHE_VERSION, tag, options], sort_keys=True).encode())
    for p in sources:
        st = p.stat()
        h.update(f"\0{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def cached_split(
    tag: str, options: dict, sources: list[Path], split: str, decode: Callable[[], dict[str, ImageArrays]]
) -> ImageArrays:
    """``split`` of the arrays ``decode()`` produces, decoded once and cached as one ``.npz`` per source.

    Args:
        tag: names the source and its layout (``"mnist"``, ``"cifar10-jpeg"``); the file name prefix.
        options: JSON-able decoding options (``{"size": 28}``) that change the arrays.
        sources: every file the arrays are decoded from (their path, size and mtime key the cache).
        split: the split to return.
        decode: returns every split of the source at once (one pass over an archive).

    The cache file holds ``<split>.images``, ``<split>.labels``, ``<split>.classes``, ``<split>.mean``,
    ``<split>.std`` for every split; the returned arrays have ``mean_std`` filled in.
    """
    path = decoded_cache_dir() / f"{tag}-{_fingerprint(tag, options, sources)}.npz"
    if path.is_file():
        try:
            return _read_cached(path, split)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            warnings.warn(f"ignoring unreadable dataset cache file {path}: {e}", stacklevel=4)
    splits = decode()
    for arr in splits.values():
        arr.mean_std = channel_stats(arr.images)
    _write_cache(path, splits)
    return splits[split]


def _read_cached(path: Path, split: str) -> ImageArrays:
    with np.load(path, allow_pickle=False) as z:
        arr = ImageArrays(z[f"{split}.images"], z[f"{split}.labels"], z[f"{split}.classes"].tolist())
        arr.mean_std = (tuple(z[f"{split}.mean"].tolist()), tuple(z[f"{split}.std"].tolist()))
    return arr


def _write_cache(path: Path, splits: dict[str, ImageArrays]) -> None:
    payload: dict[str, np.ndarray] = {}
    for name, arr in splits.items():
        mean, std = arr.mean_std or channel_stats(arr.images)
        payload[f"{name}.images"] = arr.images
        payload[f"{name}.labels"] = arr.labels
        payload[f"{name}.classes"] = np.array(arr.classes, dtype=str) if arr.classes else np.zeros(0, "<U1")
        payload[f"{name}.mean"] = np.array(mean, np.float64)
        payload[f"{name}.std"] = np.array(std, np.float64)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; use the usual permissions
        os.replace(tmp, path)
    except OSError as e:  # a read-only or full cache dir only costs speed
        warnings.warn(f"could not write the dataset cache {path}: {e}", stacklevel=5)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
