"""Image datasets as uint8 arrays: resolution of the data root, decoding, caching and splits.

Every dataset is loaded as :class:`ImageArrays` (uint8 images (N, C, H, W), int64 labels (N,) with -1 for
unlabeled items, class names). Names (see :data:`DATASETS`):

- ``digits``: scikit-learn's bundled 8x8 digits (no files). Values 0..16 are scaled to uint8 0..255
  (``round(v * 255 / 16)``). There is no official split: a fixed permutation (``numpy`` generator seed 0)
  of the 1797 images gives 1500 train and 297 test images, each kept in the original order.
- ``mnist``, ``fashion-mnist``: the four IDX files (``train-images-idx3-ubyte`` ..., ``.gz`` or
  uncompressed) in ``<root>/mnist/`` (``<root>/fashion-mnist/``), directly in ``<root>``, or in
  torchvision's ``<root>/MNIST/raw/`` (``<root>/FashionMNIST/raw/``).
- ``cifar10``: the official ``cifar-10-batches-py`` folder (in ``<root>`` or ``<root>/cifar10/``) when
  present, else the ``cifar10-jpeg.tar.gz`` ImageFolder archive (read in place: no extraction), else an
  extracted ``cifar10-jpeg/`` folder. The pickled batches are read with a restricted unpickler (see
  :func:`_safe_unpickle`) that can only rebuild dicts, lists, str/bytes/ints and numpy arrays, so a
  tampered file cannot run code.
- ``omniglot``: ``omniglot.tar.gz`` or an extracted ``omniglot/`` (or ``omniglot-py/``) folder with
  ``images_background/`` and ``images_evaluation/`` (Lake et al., 2015). Splits ``"background"`` and
  ``"evaluation"`` (aliases ``"train"``, ``"test"``); labels are the global character index within the
  split in (alphabet, character) order, classes ``"Alphabet/characterNN"``. The 105x105 1-bit images are
  inverted (strokes = 255) and downscaled to ``size`` x ``size`` with Lanczos filtering, 28 by default as
  is standard for few-shot learning (Vinyals et al., 2016); ``size=105`` keeps the originals.
- ``folder:PATH``: an ImageFolder tree (class sub-folders -> labels in sorted order; a flat folder of
  images -> unlabeled, label -1). With ``train/`` (and optionally ``test/``) sub-folders those are the
  splits; otherwise the whole folder is ``"train"`` and 10% of it (at least one image) is carved out as
  ``"test"`` with a fixed seed. Images are resized (bilinear, not cropped) to ``size`` x ``size``; by
  default the side of the most common image size (its shorter side if that size is not square). They are
  grayscale (1 channel) when every image is grayscale, else RGB. Unreadable images are skipped and counted
  in a warning; no readable image at all is a :class:`UserError`.

``size`` (keyword of :func:`load_split` / :func:`load_dataset`) resizes any dataset (antialiased bilinear
for ``digits``/``mnist``/``fashion-mnist``/``cifar10``).

Decoded arrays are cached once in ``$INFOMAX_CACHE`` (default ``$XDG_CACHE_HOME/infomax/decoded`` or
``~/.cache/infomax/decoded``) as uncompressed ``.npz`` files keyed by the source files' path, size and
mtime, written atomically (temp file + ``os.replace``) and read with ``np.load(allow_pickle=False)``; the
per-channel statistics of each split are stored with them. The data root itself may be read-only.

Order: datasets decoded from a tree of files (the CIFAR-10 JPEG archive or folder, Omniglot, ``folder:PATH``)
would come out sorted by class; each of their splits is put in one fixed random order (numpy generator seed
``TREE_ORDER_SEED``), as the official CIFAR-10 batches and the IDX files already are, so that any prefix
``images[:n]`` (a capped probe, the first test images of a metric) is a sample of every class, not the
first classes only.

Example:
    >>> splits = load_dataset("digits")
    >>> splits.train.images.shape, splits.info.num_classes
    ((1350, 1, 8, 8), 10)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import tempfile
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from torch.utils.data import Dataset

from infomax.errors import UserError

#: Bump when the decoded format changes, so stale cache files are not reused (2: tree datasets shuffled).
_CACHE_VERSION = 2
#: Seed of the fixed random order given to every split decoded from a (class-sorted) tree of files.
TREE_ORDER_SEED = 0
#: Largest image (in pixels) any decoder accepts: guards against decompression bombs in user folders and
#: archives (Pillow's own limit is set to this value while infomax decodes images).
MAX_IMAGE_PIXELS = 2**25  # 33.5 Mpx, e.g. 8192 x 4096
#: Largest single archive member or pickle file read into memory.
_MAX_MEMBER_BYTES = 256 * 2**20
_IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_HINT = "(set --data-root or $INFOMAX_DATA)"


# ----------------------------------------------------------------------------------------------------------
# Public containers
# ----------------------------------------------------------------------------------------------------------
@dataclass
class ImageArrays:
    """One split of a dataset.

    Args:
        images: uint8 (N, C, H, W).
        labels: int64 (N,); -1 marks unlabeled items.
        classes: class names; ``labels`` index into it (empty for unlabeled data).
        mean_std: optional per-channel ``(mean, std)`` of ``images / 255``, filled in by the loaders
            (cached with the decoded arrays); ``None`` when unknown.

    Example:
        >>> a = ImageArrays(np.zeros((2, 1, 8, 8), np.uint8), np.array([0, 1]), ["a", "b"])
        >>> len(a), a.subset([1]).labels.tolist()
        (2, [1])
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    mean_std: tuple[tuple[float, ...], tuple[float, ...]] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {self.images.dtype} {self.images.shape}"
            )
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.classes = [str(c) for c in self.classes]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: np.ndarray | list[int]) -> ImageArrays:
        """The items at ``indices`` (a copy), same classes; ``mean_std`` is not carried over."""
        idx = np.asarray(indices, dtype=np.int64)
        return ImageArrays(self.images[idx], self.labels[idx], list(self.classes))


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about a dataset (JSON-friendly: ``DataInfo(**dataclasses.asdict(i))``).

    Args:
        name: dataset name as given to :func:`load_dataset`.
        channels, image_size: C and H (= W) of the images.
        num_classes: number of classes of the train split (0 for unlabeled data).
        mean, std: per-channel statistics of the official train split, in [0, 1] units.
    """

    name: str
    channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:  # lists from JSON -> tuples, so round trips compare equal
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))


@dataclass
class DataSplits:
    """``train`` / ``val`` (carved from the official train split) / ``test`` plus :class:`DataInfo`."""

    train: ImageArrays
    val: ImageArrays
    test: ImageArrays
    info: DataInfo


class ImageTensorDataset(Dataset):
    """A torch Dataset over :class:`ImageArrays` yielding ``(uint8 (C, H, W) tensor, int64 label)``.

    The images stay uint8 (4x less memory and host-to-device traffic); the engine converts batches with
    ``x.float() / 255`` on the device. No copy is made when the arrays are writable and contiguous.

    Example:
        >>> ds = ImageTensorDataset(load_split("digits", "test"))
        >>> x, y = ds[0]; x.shape, x.dtype, y.dtype
        (torch.Size([1, 8, 8]), torch.uint8, torch.int64)
    """

    def __init__(self, arrays: ImageArrays) -> None:
        images = arrays.images
        if not images.flags.writeable or not images.flags.c_contiguous:
            images = np.ascontiguousarray(images).copy()
        self.images = torch.from_numpy(images)  # (N, C, H, W) uint8
        self.labels = torch.from_numpy(np.ascontiguousarray(arrays.labels, dtype=np.int64))  # (N,)
        self.classes = list(arrays.classes)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


# ----------------------------------------------------------------------------------------------------------
# Roots and the cache
# ----------------------------------------------------------------------------------------------------------
def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/infomax``, else ``~/.cache/infomax``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "infomax"


def resolve_data_root(root: str | os.PathLike[str] | None) -> Path:
    """The data root: ``root`` (``--data-root``) if given, else ``$INFOMAX_DATA``, else the user cache dir.

    Example:
        >>> resolve_data_root("/data")
        PosixPath('/data')
    """
    if root:
        return Path(root).expanduser()
    env = os.environ.get("INFOMAX_DATA")
    if env:
        return Path(env).expanduser()
    return user_cache_dir()


def decoded_cache_dir() -> Path:
    """Where decoded arrays are cached: ``$INFOMAX_CACHE``, else ``<user cache dir>/decoded``."""
    env = os.environ.get("INFOMAX_CACHE")
    return Path(env).expanduser() if env else user_cache_dir() / "decoded"


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std of uint8 images (N, C, H, W) scaled to [0, 1].

    Computed from 256-bin histograms in float64, so it is exact and fast for 50k CIFAR images.

    Example:
        >>> channel_stats(np.array([[[[0, 255]]]], np.uint8))
        ((0.5,), (0.5,))
    """
    if len(images) == 0:
        return tuple(0.0 for _ in range(images.shape[1])), tuple(1.0 for _ in range(images.shape[1]))
    levels = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = np.bincount(images[:, c].reshape(-1), minlength=256).astype(np.float64)
        n = counts.sum()
        m = float((counts * levels).sum() / n)
        var = float((counts * levels * levels).sum() / n) - m * m
        means.append(m)
        stds.append(float(np.sqrt(max(var, 0.0))))
    return tuple(means), tuple(stds)


def _fingerprint(tag: str, options: dict, sources: list[Path]) -> str:
    """Hash of what determines the decoded arrays: tag, options and every source file's path/size/mtime."""
    h = hashlib.sha256(json.dumps([_CACHE_VERSION, tag, options], sort_keys=True).encode())
    for p in sources:
        st = p.stat()
        h.update(f"\0{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def _cached_split(
    tag: str, options: dict, sources: list[Path], split: str, decode: Callable[[], dict[str, ImageArrays]]
) -> ImageArrays:
    """``split`` of the arrays ``decode()`` produces, decoded once and cached as one ``.npz`` per source.

    ``decode`` returns every split of the source at once (one pass over an archive); the cache file holds
    ``<split>.images``, ``<split>.labels``, ``<split>.classes``, ``<split>.mean``, ``<split>.std``.
    """
    path = decoded_cache_dir() / f"{tag}-{_fingerprint(tag, options, sources)}.npz"
    if path.is_file():
        try:
            return _read_cached(path, split)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            warnings.warn(f"ignoring unreadable dataset cache file {path}: {e}", stacklevel=3)
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
        warnings.warn(f"could not write the dataset cache {path}: {e}", stacklevel=4)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


# ----------------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------------
@contextmanager
def _pil_limits() -> Iterator[None]:
    """Pillow's decompression-bomb limit set to :data:`MAX_IMAGE_PIXELS` while decoding (then restored)."""
    from PIL import Image

    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _open_image(src: Path | bytes):  # -> PIL.Image.Image (lazy: header only)
    """Open an image lazily and refuse anything over :data:`MAX_IMAGE_PIXELS` (raises ValueError)."""
    from PIL import Image

    img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
    w, h = img.size
    if w * h > MAX_IMAGE_PIXELS:
        img.close()
        raise ValueError(f"image of {w}x{h} pixels exceeds the {MAX_IMAGE_PIXELS}-pixel limit")
    return img


def _resize_images(images: np.ndarray, size: int | None) -> np.ndarray:
    """uint8 (N, C, H, W) -> (N, C, size, size), antialiased bilinear; unchanged when already that size."""
    if size is None or images.shape[-2:] == (size, size):
        return images
    out = np.empty((len(images), images.shape[1], size, size), np.uint8)
    for s in range(0, len(images), 4096):  # chunks bound the float32 memory
        x = torch.from_numpy(images[s : s + 4096]).float()
        y = torch.nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out[s : s + 4096] = y.round_().clamp_(0, 255).to(torch.uint8).numpy()
    return out


def _check_size(size: int | None) -> None:
    if size is not None and (not isinstance(size, int) or size < 1):
        raise UserError(f"image size must be a positive integer, got {size!r}")


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r|*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise UserError(f"corrupt archive {path}: {e}") from None


def _iter_tar(path: Path) -> Iterator[tuple[PurePosixPath, bytes]]:
    """(member path, bytes) for every regular file of a tar archive, read sequentially in place.

    Nothing is extracted to disk, so member names cannot escape anywhere; oversized members are skipped.
    """
    tf = _open_tar(path)
    try:
        with tf:
            for m in tf:
                if not m.isfile() or m.size > _MAX_MEMBER_BYTES:
                    continue
                f = tf.extractfile(m)
                if f is None:
                    continue
                yield PurePosixPath(m.name), f.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise UserError(f"corrupt archive {path}: {e}") from None


def _looked(places: list[Path]) -> str:
    return ", ".join(str(p) for p in places)


# ----------------------------------------------------------------------------------------------------------
# digits
# ----------------------------------------------------------------------------------------------------------
DIGITS_TRAIN_SIZE = 1500


def _load_digits(split: str, root: Path, size: int | None = None) -> ImageArrays:
    """scikit-learn's 8x8 digits; fixed split (seed 0): 1500 train / 297 test (see module docstring)."""
    _check_split("digits", split, ("train", "test"))
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (1797, 1, 8, 8)
    perm = np.random.default_rng(0).permutation(len(images))
    idx = np.sort(perm[:DIGITS_TRAIN_SIZE] if split == "train" else perm[DIGITS_TRAIN_SIZE:])
    arr = ImageArrays(_resize_images(images[idx], size), d.target[idx], [str(i) for i in range(10)])
    arr.mean_std = channel_stats(arr.images)
    return arr


# ----------------------------------------------------------------------------------------------------------
# MNIST / Fashion-MNIST (IDX)
# ----------------------------------------------------------------------------------------------------------
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]  # fmt: skip


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read a uint8 IDX file (``.gz`` or raw) with ``ndim`` dimensions (3 for images, 1 for labels).

    Raises:
        UserError: naming ``path`` if the gzip stream is broken, the magic number is wrong or the data is
            shorter/longer than its header says.

    Example:
        >>> read_idx(Path("mnist/t10k-labels-idx1-ubyte.gz"), 1)[:3]  # doctest: +SKIP
        array([7, 2, 1], dtype=uint8)
    """
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise UserError(f"corrupt file {path}: {e}") from None
    header = 4 + 4 * ndim
    if len(data) < header or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
        raise UserError(f"corrupt file {path}: bad IDX magic number {magic} (expected {0x800 + ndim})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    n = int(np.prod(dims))
    if len(data) != header + n:
        raise UserError(f"corrupt file {path}: {len(data) - header} data bytes but the header says {n}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def _idx_places(root: Path, subdir: str, tv_name: str) -> list[Path]:
    return [root / subdir, root, root / tv_name / "raw"]


def _find_idx_dir(name: str, root: Path, subdir: str, tv_name: str) -> tuple[Path, list[Path]]:
    """The first folder holding all four IDX files (each ``.gz`` or uncompressed) and those four paths."""
    places = _idx_places(root, subdir, tv_name)
    bases = [b for pair in _IDX_FILES.values() for b in pair]
    for d in places:
        found = []
        for b in bases:
            cands = [d / (b + ".gz"), d / b]
            hit = next((p for p in cands if p.is_file()), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return d, found
    expected = ", ".join(b + "[.gz]" for b in bases)
    raise UserError(f"{name}: files not found: {expected}; looked in: {_looked(places)} {_HINT}")


def _make_idx_loader(name: str, subdir: str, tv_name: str, classes: list[str]) -> Callable[..., ImageArrays]:
    def load(split: str, root: Path, size: int | None = None) -> ImageArrays:
        _check_split(name, split, ("train", "test"))
        _, files = _find_idx_dir(name, root, subdir, tv_name)

        def decode() -> dict[str, ImageArrays]:
            out = {}
            for i, s in enumerate(("train", "test")):
                images = read_idx(files[2 * i], 3)
                labels = read_idx(files[2 * i + 1], 1)
                if len(images) != len(labels):
                    raise UserError(
                        f"corrupt files {files[2 * i]}, {files[2 * i + 1]}: "
                        f"{len(images)} images but {len(labels)} labels"
                    )
                if labels.size and labels.max() >= len(classes):
                    raise UserError(f"corrupt file {files[2 * i + 1]}: label {labels.max()} out of range")
                out[s] = ImageArrays(_resize_images(images[:, None], size), labels, classes)
            return out

        return _cached_split(name, {"size": size}, files, split, decode)

    load.__doc__ = (
        f"{name}: the official IDX train/test files (see module docstring for where they are looked for)."
    )
    return load


# ----------------------------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------------------------
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _SafeUnpickler(pickle.Unpickler):
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


def _safe_unpickle(path: Path) -> object:
    """Load a CIFAR ``cifar-10-batches-py`` pickle with :class:`_SafeUnpickler` (``encoding="bytes"``)."""
    try:
        if path.stat().st_size > _MAX_MEMBER_BYTES:
            raise UserError(f"refusing {path}: larger than {_MAX_MEMBER_BYTES} bytes")
        with open(path, "rb") as f:
            obj = _SafeUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise UserError(f"refusing to load {path}: {e}") from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as e:
        raise UserError(f"corrupt file {path}: {type(e).__name__}: {e}") from None
    if isinstance(obj, dict):  # Python-2 pickles have bytes keys
        obj = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    return obj


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = _safe_unpickle(path)
    data = d.get("data") if isinstance(d, dict) else None
    labels = d.get("labels") if isinstance(d, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise UserError(f"corrupt file {path}: expected a dict with uint8 'data' of shape (N, 3072)")
    try:
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise UserError(f"corrupt file {path}: 'labels' is not a list of integers") from None
    if len(lab) != len(data) or (lab.size and (lab.min() < 0 or lab.max() > 9)):
        raise UserError(f"corrupt file {path}: labels do not match the images")
    return data.reshape(-1, 3, 32, 32), lab  # row-major R, G, B planes -> (N, 3, 32, 32)


def _decode_cifar_pickles(folder: Path, size: int | None) -> dict[str, ImageArrays]:
    out = {}
    for split, names in _CIFAR_BATCHES.items():
        parts = [_read_cifar_batch(folder / n) for n in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        out[split] = ImageArrays(_resize_images(images, size), labels, CIFAR10_CLASSES)
    return out


def _tree_order(arrays: ImageArrays) -> ImageArrays:
    """``arrays`` in the fixed random order of tree datasets (see the module docstring)."""
    return arrays.subset(np.random.default_rng(TREE_ORDER_SEED).permutation(len(arrays)))


def _decode_labeled_tree(
    entries: Iterator[tuple[str, str, str, bytes | Path]], classes: list[str], where: Path, size: int | None
) -> dict[str, ImageArrays]:
    """Decode (split, class, file name, bytes-or-path) entries of a known RGB dataset; errors are fatal."""
    from PIL import Image

    index = {c: i for i, c in enumerate(classes)}
    items: dict[str, list[tuple[int, str, np.ndarray]]] = {"train": [], "test": []}
    with _pil_limits():
        for split, cls, fname, src in entries:
            if cls not in index:
                raise UserError(
                    f"{where}: unknown class folder {split}/{cls} (expected one of {', '.join(classes)})"
                )
            try:
                with _open_image(src if isinstance(src, bytes) else Path(src)) as img:
                    a = np.asarray(img.convert("RGB"))  # (H, W, 3)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
                raise UserError(f"corrupt image {split}/{cls}/{fname} in {where}: {e}") from None
            items[split].append((index[cls], fname, a))
    out = {}
    for split, lst in items.items():
        if not lst:
            raise UserError(f"{where}: no images for the {split} split (expected {split}/<class>/<image>)")
        lst.sort(key=lambda t: (t[0], t[1]))
        shapes = {a.shape for _, _, a in lst}
        if len(shapes) != 1:
            raise UserError(f"{where}: images of different sizes {sorted(shapes)[:3]} in the {split} split")
        images = np.stack([a for _, _, a in lst]).transpose(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
        out[split] = _tree_order(ImageArrays(
            _resize_images(np.ascontiguousarray(images), size), np.array([c for c, _, _ in lst]), classes
        ))
    return out


def _cifar_tar_entries(path: Path) -> Iterator[tuple[str, str, str, bytes]]:
    for name, data in _iter_tar(path):
        parts = name.parts
        if len(parts) >= 3 and parts[-3] in ("train", "test") and name.suffix.lower() in _IMAGE_EXTS:
            yield parts[-3], parts[-2], parts[-1], data


def _cifar_dir_entries(folder: Path) -> Iterator[tuple[str, str, str, Path]]:
    for split in ("train", "test"):
        for cdir in sorted(p for p in (folder / split).iterdir() if p.is_dir()):
            for f in sorted(cdir.iterdir()):
                if f.suffix.lower() in _IMAGE_EXTS and f.is_file():
                    yield split, cdir.name, f.name, f


def _load_cifar10(split: str, root: Path, size: int | None = None) -> ImageArrays:
    """CIFAR-10 (Krizhevsky, 2009): pickled batches, else the JPEG tar.gz, else the extracted JPEG folder."""
    _check_split("cifar10", split, ("train", "test"))
    batch_dirs = [root / "cifar-10-batches-py", root / "cifar10" / "cifar-10-batches-py"]
    tars = [root / "cifar10-jpeg.tar.gz", root / "cifar10" / "cifar10-jpeg.tar.gz"]
    dirs = [root / "cifar10-jpeg", root / "cifar10" / "cifar10-jpeg"]
    opts = {"size": size}
    for d in batch_dirs:
        files = [d / n for names in _CIFAR_BATCHES.values() for n in names]
        if all(f.is_file() for f in files):
            return _cached_split("cifar10-py", opts, files, split, lambda d=d: _decode_cifar_pickles(d, size))
    for t in tars:
        if t.is_file():
            return _cached_split(
                "cifar10-jpeg",
                opts,
                [t],
                split,
                lambda t=t: _decode_labeled_tree(_cifar_tar_entries(t), CIFAR10_CLASSES, t, size),
            )
    for d in dirs:
        if (d / "train").is_dir() and (d / "test").is_dir():
            files = sorted(_image_files(d))
            return _cached_split(
                "cifar10-jpegdir",
                opts,
                files,
                split,
                lambda d=d: _decode_labeled_tree(_cifar_dir_entries(d), CIFAR10_CLASSES, d, size),
            )
    expected = (
        "cifar-10-batches-py/{data_batch_1..5,test_batch} or cifar10-jpeg.tar.gz"
        " or cifar10-jpeg/{train,test}/"
    )
    raise UserError(
        f"cifar10: files not found: {expected}; looked in: {_looked(batch_dirs + tars + dirs)} {_HINT}"
    )


# ----------------------------------------------------------------------------------------------------------
# Omniglot
# ----------------------------------------------------------------------------------------------------------
_OMNIGLOT_SPLITS = {"background": "images_background", "evaluation": "images_evaluation"}
_SPLIT_ALIASES = {"omniglot": {"train": "background", "test": "evaluation"}}
OMNIGLOT_DEFAULT_SIZE = 28


def _omniglot_tar_entries(path: Path) -> Iterator[tuple[str, str, str, str, bytes]]:
    folders = {v: k for k, v in _OMNIGLOT_SPLITS.items()}
    for name, data in _iter_tar(path):
        parts = name.parts
        if len(parts) >= 4 and parts[-4] in folders and name.suffix.lower() == ".png":
            yield folders[parts[-4]], parts[-3], parts[-2], parts[-1], data


def _omniglot_dir_entries(folder: Path) -> Iterator[tuple[str, str, str, str, Path]]:
    for split, sub in _OMNIGLOT_SPLITS.items():
        for f in sorted((folder / sub).glob("*/*/*.png")):
            yield split, f.parent.parent.name, f.parent.name, f.name, f


def _decode_omniglot(entries: Iterator[tuple[str, str, str, str, bytes | Path]], where: Path, size: int):
    """Omniglot (Lake et al., 2015) -> uint8 (N, 1, size, size) with strokes = 255, Lanczos-downscaled."""
    from PIL import Image, ImageOps

    items: dict[str, list[tuple[str, str, str, np.ndarray]]] = {s: [] for s in _OMNIGLOT_SPLITS}
    with _pil_limits():
        for split, alphabet, char, fname, src in entries:
            try:
                with _open_image(src) as img:
                    g = ImageOps.invert(img.convert("L"))  # white background -> 0, black strokes -> 255
                    if g.size != (size, size):
                        g = g.resize((size, size), Image.Resampling.LANCZOS)
                    a = np.asarray(g)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
                raise UserError(f"corrupt image {alphabet}/{char}/{fname} in {where}: {e}") from None
            items[split].append((alphabet, char, fname, a))
    out = {}
    for split, lst in items.items():
        if not lst:
            raise UserError(
                f"{where}: no images for the {split} split ({_OMNIGLOT_SPLITS[split]}/<alphabet>/...)"
            )
        lst.sort(key=lambda t: t[:3])
        classes = sorted({f"{a}/{c}" for a, c, _, _ in lst})
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[f"{a}/{c}"] for a, c, _, _ in lst])
        out[split] = _tree_order(ImageArrays(np.stack([t[3] for t in lst])[:, None], labels, classes))
    return out


def _load_omniglot(split: str, root: Path, size: int | None = None) -> ImageArrays:
    """Omniglot background/evaluation splits; ``size`` defaults to 28 (``105`` = original resolution)."""
    split = _check_split("omniglot", split, tuple(_OMNIGLOT_SPLITS))
    size = OMNIGLOT_DEFAULT_SIZE if size is None else size
    tars = [root / "omniglot.tar.gz", root / "omniglot" / "omniglot.tar.gz"]
    dirs = [root / "omniglot", root / "omniglot-py"]
    opts = {"size": size}
    for t in tars:
        if t.is_file():
            return _cached_split(
                "omniglot", opts, [t], split, lambda t=t: _decode_omniglot(_omniglot_tar_entries(t), t, size)
            )
    for d in dirs:
        if all((d / sub).is_dir() for sub in _OMNIGLOT_SPLITS.values()):
            files = sorted(_image_files(d))
            return _cached_split(
                "omniglot-dir",
                opts,
                files,
                split,
                lambda d=d: _decode_omniglot(_omniglot_dir_entries(d), d, size),
            )
    expected = "omniglot.tar.gz or omniglot/{images_background,images_evaluation}/"
    raise UserError(f"omniglot: files not found: {expected}; looked in: {_looked(tars + dirs)} {_HINT}")


# ----------------------------------------------------------------------------------------------------------
# folder:PATH
# ----------------------------------------------------------------------------------------------------------
FOLDER_TEST_FRACTION = 0.1


def _image_files(folder: Path) -> Iterator[Path]:
    """Every file with an image extension under ``folder`` (recursive; hidden entries skipped)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in _IMAGE_EXTS:
                yield Path(dirpath) / f


def _scan_folder(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """ImageFolder rules: sub-folders with images are classes (sorted); else a flat, unlabeled folder."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = [(d.name, sorted(_image_files(d))) for d in subdirs]
    per_class = [(c, fs) for c, fs in per_class if fs]
    loose = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in _IMAGE_EXTS and not p.name.startswith(".")
    )
    if per_class:
        if loose:
            warnings.warn(
                f"folder dataset {folder}: ignoring {len(loose)} image(s) outside the class sub-folders",
                stacklevel=4,
            )
        classes = [c for c, _ in per_class]
        return classes, [(f, i) for i, (_, fs) in enumerate(per_class) for f in fs]
    return [], [(f, -1) for f in loose]


def _decode_folder(base: Path, size: int | None) -> dict[str, ImageArrays]:
    """All splits of a folder dataset (see module docstring)."""
    from PIL import Image

    has_splits = (base / "train").is_dir()
    train_dir = base / "train" if has_splits else base
    classes, train_items = _scan_folder(train_dir)
    split_items = {"train": train_items}
    if has_splits and (base / "test").is_dir():
        test_classes, test_items = _scan_folder(base / "test")
        index = {c: i for i, c in enumerate(classes)}
        unknown = [c for c in test_classes if c not in index]
        if unknown or (test_classes and not classes) or (classes and test_items and not test_classes):
            raise UserError(
                f"folder dataset {base}: test classes {unknown or test_classes} do not match the "
                f"train classes"
            )
        split_items["test"] = [(f, index[test_classes[y]] if y >= 0 else -1) for f, y in test_items]

    bad: list[str] = []
    with _pil_limits():
        heads: dict[str, list[tuple[Path, int, tuple[int, int], str]]] = {}
        for s, items in split_items.items():
            heads[s] = []
            for f, y in items:
                try:
                    with _open_image(f) as img:
                        heads[s].append((f, y, img.size, img.mode))
                except Exception as e:  # noqa: BLE001 - any failure means "unreadable image", counted below
                    bad.append(f"{f.name} ({type(e).__name__})")
        readable = [h for hs in heads.values() for h in hs]
        if not readable:
            raise UserError(
                f"folder dataset {base}: no readable images ({len(bad)} unreadable, "
                f"extensions {', '.join(sorted(_IMAGE_EXTS))})"
            )
        ref = heads["train"] or readable
        if size is None:
            (w, h), _ = Counter(sz for _, _, sz, _ in ref).most_common(1)[0]
            size = w if w == h else min(w, h)
        mode = "L" if all(m in _GRAY_MODES for _, _, _, m in ref) else "RGB"
        out: dict[str, ImageArrays] = {}
        for s, hs in heads.items():
            imgs, labels = [], []
            for f, y, _, _ in hs:
                try:
                    with _open_image(f) as img:
                        g = img.convert(mode)
                        if g.size != (size, size):
                            g = g.resize((size, size), Image.Resampling.BILINEAR)
                        a = np.asarray(g)
                except Exception as e:  # noqa: BLE001
                    bad.append(f"{f.name} ({type(e).__name__})")
                    continue
                imgs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))  # -> (C, H, W)
                labels.append(y)
            c = 1 if mode == "L" else 3
            stacked = np.stack(imgs) if imgs else np.zeros((0, c, size, size), np.uint8)
            out[s] = _tree_order(ImageArrays(stacked, np.array(labels, np.int64), classes))
    if bad:
        warnings.warn(
            f"folder dataset {base}: skipped {len(bad)} unreadable image(s), e.g. {bad[0]}", stacklevel=4
        )
    if len(out["train"]) == 0:
        raise UserError(f"folder dataset {base}: no readable images in the train split")
    if "test" not in out:
        full = out["train"]
        n_test = max(1, round(FOLDER_TEST_FRACTION * len(full))) if len(full) >= 2 else 0
        perm = np.random.default_rng(0).permutation(len(full))
        out["test"] = full.subset(np.sort(perm[:n_test]))  # prefixes of a tree-ordered split stay random
        out["train"] = full.subset(np.sort(perm[n_test:]))
    return out


def _load_folder(split: str, root: Path, size: int | None = None, path: str = "") -> ImageArrays:
    """``folder:PATH``: PATH as given (relative to the working directory), else relative to the data root."""
    _check_split("folder", split, ("train", "test"))
    given = Path(path).expanduser()
    places = [given] if given.is_absolute() else [given, root / given]
    base = next((p for p in places if p.is_dir()), None)
    if not path or base is None:
        raise UserError(f"folder dataset: {path!r} is not a folder; looked at: {_looked(places)}")
    files = sorted(_image_files(base))
    if not files:
        raise UserError(f"folder dataset {base}: no image files ({', '.join(sorted(_IMAGE_EXTS))})")
    return _cached_split(
        "folder",
        {"size": size, "base": str(base.resolve())},
        files,
        split,
        lambda: _decode_folder(base, size),
    )


# ----------------------------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------------------------
#: Dataset name -> loader ``fn(split, root: Path, size=None[, path=...]) -> ImageArrays``. ``folder`` is
#: used as ``folder:PATH`` (its loader takes ``path``).
DATASETS: dict[str, Callable[..., ImageArrays]] = {
    "digits": _load_digits,
    "mnist": _make_idx_loader("mnist", "mnist", "MNIST", [str(i) for i in range(10)]),
    "fashion-mnist": _make_idx_loader("fashion-mnist", "fashion-mnist", "FashionMNIST", FASHION_CLASSES),
    "cifar10": _load_cifar10,
    "omniglot": _load_omniglot,
    "folder": _load_folder,
}


def _check_split(name: str, split: str, allowed: tuple[str, ...]) -> str:
    split = _SPLIT_ALIASES.get(name, {}).get(split, split)
    if split not in allowed:
        raise UserError(f"unknown split {split!r} for dataset {name!r}; choose one of: {', '.join(allowed)}")
    return split


def official_splits(name: str) -> tuple[str, str]:
    """The (train, test) split names of a dataset: ``("background", "evaluation")`` for Omniglot."""
    return ("background", "evaluation") if name == "omniglot" else ("train", "test")


def _parse_name(name: str) -> tuple[str, dict]:
    if name.startswith("folder:"):
        return "folder", {"path": name[len("folder:") :]}
    if name not in DATASETS or name == "folder":
        raise UserError(
            f"unknown dataset {name!r}; choose one of: "
            f"{', '.join(n for n in DATASETS if n != 'folder')}, folder:PATH"
        )
    return name, {}


def load_split(
    name: str, split: str, root: str | os.PathLike[str] | None = None, *, size: int | None = None
) -> ImageArrays:
    """One official split of a dataset, decoded once and cached.

    Args:
        name: ``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``, ``omniglot`` or ``folder:PATH``.
        split: ``"train"`` or ``"test"``; Omniglot: ``"background"`` / ``"evaluation"`` (or the aliases).
        root: the data root (see :func:`resolve_data_root`).
        size: resize images to ``size`` x ``size`` (default: native; Omniglot 28; folders the most common).

    Returns:
        :class:`ImageArrays` with uint8 images (N, C, H, W) and int64 labels (N,), ``mean_std`` filled in.

    Raises:
        UserError: unknown name/split, missing files (naming every place looked) or corrupt files.

    Example:
        >>> load_split("digits", "test").images.shape
        (297, 1, 8, 8)
    """
    _check_size(size)
    key, extra = _parse_name(name)
    return DATASETS[key](split, resolve_data_root(root), size=size, **extra)


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    *,
    size: int | None = None,
    max_items: int | None = None,
) -> DataSplits:
    """Train / validation / test splits and :class:`DataInfo` of a dataset.

    The validation split is a fixed-seed random ``val_fraction`` of the official train split (both kept in
    their original order); ``info.mean/std`` are the statistics of the whole official train split. For
    Omniglot, train = ``background`` and test = ``evaluation`` (disjoint classes, as for few-shot use).
    ``max_items`` keeps at most that many items of each split (after val is carved), a stratified sample
    with a fixed seed (see :func:`cap_items`); the statistics stay those of the whole train split.

    Example:
        >>> s = load_dataset("digits", val_fraction=0.1, seed=0)
        >>> len(s.train), len(s.val), len(s.test), s.info.image_size
        (1350, 150, 297, 8)
    """
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}")
    key, _ = _parse_name(name)
    train_name, test_name = official_splits(key)
    full = load_split(name, train_name, root, size=size)
    test = load_split(name, test_name, root, size=size)
    mean, std = full.mean_std or channel_stats(full.images)
    if all(s == 0 for s in std):
        raise UserError(
            f"dataset {name!r}: every pixel of every train image has the same value per channel "
            f"(mean {tuple(round(m * 255) for m in mean)} of 255): there is nothing to learn from"
        )
    # A channel that never varies (e.g. an unused colour plane) is only centred, not scaled.
    std = tuple(s if s > 0 else 1.0 for s in std)
    n_val = int(round(val_fraction * len(full)))
    if len(full) - n_val < 1:
        raise UserError(
            f"dataset {name!r}: train split of {len(full)} images is too small for val_fraction "
            f"{val_fraction}"
        )
    perm = np.random.default_rng(seed).permutation(len(full))
    val, train = full.subset(np.sort(perm[:n_val])), full.subset(np.sort(perm[n_val:]))
    _, c, h, _ = full.images.shape
    info = DataInfo(name=name, channels=c, image_size=h, num_classes=len(full.classes), mean=mean, std=std)
    if max_items is not None:
        train, val, test = (cap_items(a, max_items, seed) for a in (train, val, test))
    return DataSplits(train=train, val=val, test=test, info=info)


def cap_items(arrays: ImageArrays, n: int, seed: int = 0) -> ImageArrays:
    """At most ``n`` items of ``arrays``: a stratified sample with a fixed seed, in the original order.

    Each label (unlabelled items, -1, count as one more group) keeps ``floor(n * count / N)`` items; the
    leftover ones go to the groups with the largest fractional parts (then the smaller label). Within a group
    the items kept are the first of a ``numpy.random.default_rng(seed)`` permutation.

    Example:
        >>> a = ImageArrays(np.zeros((6, 1, 2, 2), np.uint8), np.array([0, 0, 0, 0, 1, 1]), ["a", "b"])
        >>> cap_items(a, 3).labels.tolist()
        [0, 0, 1]
    """
    if n < 1:
        raise UserError(f"max_items must be >= 1, got {n}")
    labels = np.asarray(arrays.labels)
    if n >= len(labels):
        return arrays
    groups, counts = np.unique(labels, return_counts=True)
    quota = counts * (n / len(labels))
    take = np.floor(quota).astype(np.int64)
    order = sorted(range(len(groups)), key=lambda i: (-(quota[i] - take[i]), groups[i]))
    take[order[: n - int(take.sum())]] += 1
    perm = np.random.default_rng(seed).permutation(len(labels))
    keep = np.concatenate([perm[labels[perm] == g][:t] for g, t in zip(groups, take)])
    return arrays.subset(np.sort(keep))
