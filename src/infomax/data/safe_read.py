"""Safe reading of untrusted dataset files: images, tar archives, image trees and pickled CIFAR batches.

- Images are opened lazily with Pillow and refused above :data:`MAX_IMAGE_PIXELS` (decompression bombs);
  Pillow's own limit is set to the same value while infomax decodes (:func:`pil_limits`).
- Tar archives are read sequentially in place (:func:`iter_tar`): nothing is extracted to disk, so member
  names cannot escape anywhere; members over :data:`MAX_MEMBER_BYTES` and non-regular files are skipped.
- Pickles (only the official ``cifar-10-batches-py``) go through :class:`SafeUnpickler`, which can only
  rebuild dicts, lists, str/bytes/ints and numpy arrays, so a tampered file cannot run code.

Example:
    >>> with pil_limits():  # doctest: +SKIP
    ...     for name, data in iter_tar(Path("cifar10-jpeg.tar.gz")):
    ...         with open_image(data) as img:
    ...             a = np.asarray(img.convert("RGB"))  # (H, W, 3) uint8
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import numpy as np

from infomax.errors import UserError

#: Largest image (in pixels) any decoder accepts: guards against decompression bombs in user folders and
#: archives (Pillow's own limit is set to this value while infomax decodes images).
MAX_IMAGE_PIXELS = 2**25  # 33.5 Mpx, e.g. 8192 x 4096
#: Largest single archive member or pickle file read into memory.
MAX_MEMBER_BYTES = 256 * 2**20
#: File extensions taken for images (lower case).
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}


@contextmanager
def pil_limits() -> Iterator[None]:
    """Pillow's decompression-bomb limit set to :data:`MAX_IMAGE_PIXELS` while decoding (then restored)."""
    from PIL import Image

    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def open_image(src: Path | bytes):  # -> PIL.Image.Image (lazy: header only)
    """Open an image lazily and refuse anything over :data:`MAX_IMAGE_PIXELS` (raises ValueError)."""
    from PIL import Image

    img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
    w, h = img.size
    if w * h > MAX_IMAGE_PIXELS:
        img.close()
        raise ValueError(f"image of {w}x{h} pixels exceeds the {MAX_IMAGE_PIXELS}-pixel limit")
    return img


def image_files(folder: Path) -> Iterator[Path]:
    """Every file with an image extension under ``folder`` (recursive; hidden entries skipped)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTS:
                yield Path(dirpath) / f


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r|*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise UserError(f"corrupt archive {path}: {e}") from None


def iter_tar(path: Path) -> Iterator[tuple[PurePosixPath, bytes]]:
    """(member path, bytes) for every regular file of a tar archive, read sequentially in place.

    Nothing is extracted to disk, so member names cannot escape anywhere; oversized members are skipped.

    Raises:
        UserError: ``corrupt archive PATH: ...`` for a truncated or non-tar file.
    """
    tf = _open_tar(path)
    try:
        with tf:
            for m in tf:
                if not m.isfile() or m.size > MAX_MEMBER_BYTES:
                    continue
                f = tf.extractfile(m)
                if f is None:
                    continue
                yield PurePosixPath(m.name), f.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise UserError(f"corrupt archive {path}: {e}") from None


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that can only rebuild plain containers and numpy arrays.

    Pickle runs arbitrary code through the globals it looks up (``os.system``, ``builtins.eval`` ...). Here
    :meth:`find_class` resolves only numpy's array/dtype reconstructors and ``_codecs.encode`` (used by
    protocol-2 pickles for bytes); every other global is refused, and dicts, lists, tuples, str, bytes and
    numbers need no globals at all. The worst a crafted file can do is request a large allocation, and the
    file size is capped by the caller.
    """

    _ALLOWED: dict[tuple[str, str], object] = {
        ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy.core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
        ("numpy._core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): __import__("codecs").encode,
    }

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("refusing persistent ids")


def safe_unpickle(path: Path) -> object:
    """Load a pickle file of at most :data:`MAX_MEMBER_BYTES` with :class:`SafeUnpickler`.

    Uses ``encoding="bytes"`` (Python-2 pickles); bytes keys of a top-level dict are decoded (latin-1).

    Raises:
        UserError: ``refusing to load PATH: ...`` for a forbidden global, ``corrupt file PATH: ...`` else.
    """
    try:
        if path.stat().st_size > MAX_MEMBER_BYTES:
            raise UserError(f"refusing {path}: larger than {MAX_MEMBER_BYTES} bytes")
        with open(path, "rb") as f:
            obj = SafeUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise UserError(f"refusing to load {path}: {e}") from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as e:
        raise UserError(f"corrupt file {path}: {type(e).__name__}: {e}") from None
    if isinstance(obj, dict):  # Python-2 pickles have bytes keys
        obj = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    return obj
