"""Datasets: roots, every on-disk layout (built tiny in tmp_path), cache, splits, errors, and real data."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infomax.data import datasets as D
from infomax.data import safe_read
from infomax.data.sources import cifar10, idx
from infomax.errors import UserError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private decoded-array cache for the test."""
    d = tmp_path / "cache"
    monkeypatch.setenv("INFOMAX_CACHE", str(d))
    return d


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- builders of tiny on-disk datasets
def _idx_bytes(arr: np.ndarray) -> bytes:
    return (
        bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    )


def _write_idx_set(folder: Path, gz: bool = True, n_train: int = 7, n_test: int = 3) -> dict[str, np.ndarray]:
    rng = _rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        data = _idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


def _png(arr: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(arr)
    if mode:
        img = img.convert(mode)
    img.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _write_tar(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


#: Solid colours per class of the fake CIFAR archives (JPEG keeps flat colours to within a few levels).
_CIFAR_FAKE = {"cat": (200, 30, 30), "airplane": (20, 40, 220)}


def _cifar_jpeg_files() -> dict[str, bytes]:
    files = {"cifar10-jpeg/classes.txt": b"airplane\n..."}
    for split, n in (("train", 3), ("test", 2)):
        for cls, rgb in _CIFAR_FAKE.items():
            for i in range(n):
                img = np.zeros((32, 32, 3), np.uint8) + np.array(rgb, np.uint8)
                img[i, i] = 255  # make files differ
                files[f"cifar10-jpeg/{split}/{cls}/{i:04d}.jpg"] = _png(img, fmt="JPEG")
    return files


def _omniglot_files() -> dict[str, bytes]:
    """2 background characters x 2 drawers, 1 evaluation character x 2 drawers; 105x105 1-bit PNGs."""
    files = {}
    layout = {
        "images_background": [
            ("Zeta", "character01", 5),
            ("Alpha", "character02", 2),
            ("Alpha", "character01", 1),
        ],
        "images_evaluation": [("Omega", "character01", 9)],
    }
    for sub, chars in layout.items():
        for alphabet, char, cid in chars:
            for drawer in (2, 1):
                a = np.full((105, 105), 255, np.uint8)  # white background
                a[10 * drawer : 10 * drawer + 40, 30:60] = 0  # black stroke
                files[f"omniglot/{sub}/{alphabet}/{char}/{cid:04d}_{drawer:02d}.png"] = _png(a, mode="1")
    return files


# ---------------------------------------------------------------- roots and containers
def test_resolve_data_root_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INFOMAX_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert D.resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("INFOMAX_DATA")
    assert D.resolve_data_root(None) == tmp_path / "xdg" / "infomax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert D.resolve_data_root(None) == Path.home() / ".cache" / "infomax"
    monkeypatch.delenv("INFOMAX_CACHE", raising=False)
    assert D.decoded_cache_dir() == Path.home() / ".cache" / "infomax" / "decoded"
    monkeypatch.setenv("INFOMAX_CACHE", str(tmp_path / "c"))
    assert D.decoded_cache_dir() == tmp_path / "c"


def test_channel_stats_match_numpy() -> None:
    x = _rng().integers(0, 256, (50, 3, 5, 7)).astype(np.uint8)
    mean, std = D.channel_stats(x)
    f = x.astype(np.float64) / 255
    assert np.allclose(mean, f.mean((0, 2, 3)), atol=1e-12)
    assert np.allclose(std, f.std((0, 2, 3)), atol=1e-12)
    assert D.channel_stats(np.array([[[[0, 255]]]], np.uint8)) == ((0.5,), (0.5,))


def test_image_arrays_validate_and_subset() -> None:
    with pytest.raises(ValueError):
        D.ImageArrays(np.zeros((2, 8, 8), np.uint8), np.zeros(2), [])
    with pytest.raises(ValueError):
        D.ImageArrays(np.zeros((2, 1, 8, 8), np.uint8), np.zeros(3), [])
    a = D.ImageArrays(np.arange(3, dtype=np.uint8).reshape(3, 1, 1, 1), [2, 0, 1], ["a", "b", "c"])
    assert a.labels.dtype == np.int64
    s = a.subset([2, 0])
    assert s.images.ravel().tolist() == [2, 0] and s.labels.tolist() == [1, 2] and s.classes == a.classes


def test_data_info_json_round_trip() -> None:
    info = D.DataInfo("mnist", 1, 28, 10, (0.1307,), (0.3081,))
    back = D.DataInfo(**json.loads(json.dumps(dataclasses.asdict(info))))
    assert back == info


def test_image_tensor_dataset_items_and_loader() -> None:
    a = D.load_split("digits", "test")
    ds = D.ImageTensorDataset(a)
    x, y = ds[3]
    assert x.dtype == torch.uint8 and x.shape == (1, 8, 8) and y.dtype == torch.int64
    assert torch.equal(x, torch.from_numpy(a.images[3])) and int(y) == a.labels[3]
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=5)))
    assert xb.shape == (5, 1, 8, 8) and yb.tolist() == a.labels[:5].tolist()


# ---------------------------------------------------------------- digits
def test_digits_fixed_split_covers_the_dataset() -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    train, test = D.load_split("digits", "train"), D.load_split("digits", "test")
    assert train.images.shape == (1500, 1, 8, 8) and test.images.shape == (297, 1, 8, 8)
    both = np.concatenate([train.images, test.images])[:, 0]
    expected = np.rint(d.images * 255 / 16).astype(np.uint8)
    # the two splits are a partition of the 1797 images (compare as sorted byte strings)
    assert sorted(b.tobytes() for b in both) == sorted(b.tobytes() for b in expected)
    assert train.images.max() == 255 and train.images.dtype == np.uint8
    perm = np.random.default_rng(0).permutation(1797)
    assert np.array_equal(train.labels, d.target[np.sort(perm[:1500])])


def test_load_dataset_carves_val_from_train() -> None:
    s = D.load_dataset("digits", val_fraction=0.1, seed=0)
    full = D.load_split("digits", "train")
    assert (len(s.train), len(s.val), len(s.test)) == (1350, 150, 297)
    joined = np.concatenate([s.train.images, s.val.images])
    assert sorted(b.tobytes() for b in joined) == sorted(b.tobytes() for b in full.images)
    other = D.load_dataset("digits", val_fraction=0.1, seed=1)
    assert not np.array_equal(other.val.images, s.val.images)  # another seed, another validation set
    assert np.array_equal(D.load_dataset("digits", seed=0).val.images, s.val.images)  # fixed seed
    info = s.info
    assert (info.name, info.channels, info.image_size, info.num_classes) == ("digits", 1, 8, 10)
    assert info.mean == pytest.approx((full.images / 255).mean(), abs=1e-9)
    assert info.std == pytest.approx((full.images / 255).std(), abs=1e-9)
    assert len(D.load_dataset("digits", val_fraction=0.0).val) == 0
    with pytest.raises(UserError, match="val_fraction"):
        D.load_dataset("digits", val_fraction=1.0)


def test_size_option_resizes() -> None:
    a = D.load_split("digits", "test", size=16)
    assert a.images.shape == (297, 1, 16, 16) and a.images.dtype == np.uint8
    with pytest.raises(UserError, match="size"):
        D.load_split("digits", "test", size=0)


@pytest.mark.parametrize(
    ("name", "split", "msg"),
    [
        ("nope", "train", "unknown dataset"),
        ("digits", "val", "unknown split"),
        ("omniglot", "train2", "unknown split"),
    ],
)
def test_unknown_names(name: str, split: str, msg: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=msg):
        D.load_split(name, split, tmp_path)


# ---------------------------------------------------------------- MNIST-style IDX
@pytest.mark.parametrize(
    ("name", "sub", "gz"),
    [("mnist", "mnist", True), ("mnist", ".", True), ("mnist", "MNIST/raw", False),
     ("fashion-mnist", "fashion-mnist", True), ("fashion-mnist", "FashionMNIST/raw", False)],
)  # fmt: skip
def test_idx_layouts(name: str, sub: str, gz: bool, tmp_path: Path, cache: Path) -> None:
    arrays = _write_idx_set(tmp_path / "root" / sub, gz=gz)
    train = D.load_split(name, "train", tmp_path / "root")
    test = D.load_split(name, "test", tmp_path / "root")
    assert np.array_equal(train.images[:, 0], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(train.labels, arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(test.images[:, 0], arrays["t10k-images-idx3-ubyte"])
    assert train.images.shape == (7, 1, 28, 28) and len(train.classes) == 10
    assert train.mean_std == D.channel_stats(train.images)


def test_idx_cache_is_used_and_invalidated(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    arrays = _write_idx_set(root / "mnist")
    first = D.load_split("mnist", "train", root)
    assert len(list(cache.glob("mnist-*.npz"))) == 1

    def boom(*a, **k):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(idx, "read_idx", boom)
    again = D.load_split("mnist", "test", root)  # the other split comes from the same cache file
    assert np.array_equal(again.images[:, 0], arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(D.load_split("mnist", "train", root).images, first.images)
    monkeypatch.undo()
    monkeypatch.setenv("INFOMAX_CACHE", str(cache))
    f = root / "mnist" / "train-labels-idx1-ubyte.gz"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))  # changed source -> new key
    D.load_split("mnist", "train", root)
    assert len(list(cache.glob("mnist-*.npz"))) == 2
    assert not list(cache.glob("*.tmp"))


def test_read_only_cache_dir_only_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    monkeypatch.setenv("INFOMAX_CACHE", str(blocker / "cache"))
    _write_idx_set(tmp_path / "root" / "mnist")
    with pytest.warns(UserWarning, match="could not write the dataset cache"):
        a = D.load_split("mnist", "train", tmp_path / "root")
    assert len(a) == 7


def test_idx_missing_files_name_everything(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(UserError) as e:
        D.load_split("fashion-mnist", "train", root)
    msg = str(e.value)
    assert "\n" not in msg
    for needle in ("train-images-idx3-ubyte[.gz]", "t10k-labels-idx1-ubyte[.gz]", str(root / "fashion-mnist"),
                   str(root / "FashionMNIST" / "raw"), f"{root},"):  # fmt: skip
        assert needle in msg


@pytest.mark.parametrize("defect", ["magic", "truncated_gz", "short_data", "label_count"])
def test_idx_corrupt_files(defect: str, tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "mnist"
    _write_idx_set(folder)
    target = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(target.read_bytes())
    if defect == "magic":
        target.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + raw[4:]))
    elif defect == "truncated_gz":
        target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])
    elif defect == "short_data":
        target.write_bytes(gzip.compress(raw[:-5]))
    else:
        target.write_bytes(gzip.compress(_idx_bytes(np.zeros((3, 28, 28), np.uint8))))
    with pytest.raises(UserError, match="corrupt file") as e:
        D.load_split("mnist", "train", tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(e.value)


# ---------------------------------------------------------------- CIFAR-10
def _write_cifar_batches(folder: Path, protocol: int = 2) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder.mkdir(parents=True)
    rng = _rng(2)
    out = {}
    for name in [*cifar10._CIFAR_BATCHES["train"], *cifar10._CIFAR_BATCHES["test"]]:
        data = rng.integers(0, 256, (2, 3072)).astype(np.uint8)
        labels = rng.integers(0, 10, 2).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"a", b"b"]},
                        f, protocol=protocol)  # fmt: skip
        out[name] = (data, labels)
    return out


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_python_batches(protocol: int, tmp_path: Path, cache: Path) -> None:
    batches = _write_cifar_batches(tmp_path / "cifar-10-batches-py", protocol)
    _write_tar(tmp_path / "cifar10-jpeg.tar.gz", _cifar_jpeg_files())  # must be ignored: batches win
    train = D.load_split("cifar10", "train", tmp_path)
    test = D.load_split("cifar10", "test", tmp_path)
    assert train.images.shape == (10, 3, 32, 32) and test.images.shape == (2, 3, 32, 32)
    data, labels = batches["data_batch_2"]
    assert np.array_equal(train.images[2], data[0].reshape(3, 32, 32))  # R plane, G plane, B plane
    assert train.images[2, 1, 0, 0] == data[0, 1024]
    assert train.labels[2:4].tolist() == labels
    assert test.labels.tolist() == batches["test_batch"][1] and train.classes == D.CIFAR10_CLASSES


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("payload", ["os_system", "not_a_dict", "object_array"])
def test_cifar_pickle_is_restricted(payload: str, tmp_path: Path, cache: Path, monkeypatch) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder)
    bad = {
        "os_system": {b"data": _Evil(), b"labels": [0]},
        "not_a_dict": [1, 2, 3],
        "object_array": {b"data": np.array([1, "x"], dtype=object), b"labels": [0, 1]},
    }[payload]
    (folder / "data_batch_3").write_bytes(pickle.dumps(bad, protocol=2))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="data_batch_3") as e:
        D.load_split("cifar10", "train", tmp_path)
    if payload == "os_system":
        assert "refusing" in str(e.value) and "system" in str(e.value)
    assert not (tmp_path / "pwned").exists()


def test_cifar_jpeg_tar_and_extracted_folder_agree(tmp_path: Path, cache: Path) -> None:
    files = _cifar_jpeg_files()
    (tmp_path / "a").mkdir()
    _write_tar(tmp_path / "a" / "cifar10-jpeg.tar.gz", files)
    for name, data in files.items():
        p = tmp_path / "b" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    from_tar = D.load_split("cifar10", "train", tmp_path / "a")
    from_dir = D.load_split("cifar10", "train", tmp_path / "b")
    assert np.array_equal(from_tar.images, from_dir.images) and np.array_equal(
        from_tar.labels, from_dir.labels
    )
    assert from_tar.images.shape == (6, 3, 32, 32)
    # airplane = 0, cat = 3; by class then file, then in the fixed random order of tree datasets
    order = np.random.default_rng(D.TREE_ORDER_SEED).permutation(6)
    assert from_tar.labels.tolist() == np.array([0, 0, 0, 3, 3, 3])[order].tolist()
    mean_rgb = from_tar.images[from_tar.labels == 3][:, :, 8:, 8:].mean((0, 2, 3))
    assert np.allclose(mean_rgb, _CIFAR_FAKE["cat"], atol=4)
    test = D.load_split("cifar10", "test", tmp_path / "a")
    order = np.random.default_rng(D.TREE_ORDER_SEED).permutation(4)
    assert test.labels.tolist() == np.array([0, 0, 3, 3])[order].tolist()
    splits = D.load_dataset("cifar10", tmp_path / "a", val_fraction=0.5)
    assert (len(splits.train), len(splits.val), splits.info.channels, splits.info.image_size) == (3, 3, 3, 32)


@pytest.mark.parametrize("defect", ["truncated", "garbage"])
def test_cifar_corrupt_tar(defect: str, tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "cifar10-jpeg.tar.gz"
    _write_tar(path, _cifar_jpeg_files())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if defect == "truncated" else b"this is not a tar archive" * 10)
    with pytest.raises(UserError, match="corrupt archive") as e:
        D.load_split("cifar10", "train", tmp_path)
    assert str(path) in str(e.value)


def test_cifar_corrupt_image_in_archive(tmp_path: Path, cache: Path) -> None:
    files = _cifar_jpeg_files()
    files["cifar10-jpeg/train/cat/0001.jpg"] = b"\xff\xd8 not really a jpeg"
    _write_tar(tmp_path / "cifar10-jpeg.tar.gz", files)
    with pytest.raises(UserError, match=r"corrupt image train/cat/0001\.jpg"):
        D.load_split("cifar10", "train", tmp_path)


def test_cifar_missing_lists_all_places(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(UserError) as e:
        D.load_split("cifar10", "test", tmp_path)
    msg = str(e.value)
    for p in ("cifar-10-batches-py", "cifar10-jpeg.tar.gz", str(tmp_path / "cifar10" / "cifar10-jpeg")):
        assert p in msg


# ---------------------------------------------------------------- Omniglot
def test_omniglot_tar_labels_classes_and_inversion(tmp_path: Path, cache: Path) -> None:
    _write_tar(tmp_path / "omniglot.tar.gz", _omniglot_files())
    bg = D.load_split("omniglot", "background", tmp_path, size=105)
    assert bg.classes == ["Alpha/character01", "Alpha/character02", "Zeta/character01"]
    order = np.random.default_rng(D.TREE_ORDER_SEED).permutation(6)  # tree datasets: a fixed random order
    assert bg.labels.tolist() == np.array([0, 0, 1, 1, 2, 2])[order].tolist()
    assert bg.images.shape == (6, 1, 105, 105)
    i = int(np.flatnonzero(order == 0)[0])
    first = bg.images[i, 0]  # Alpha/character01, drawer 01: stroke rows 10..49, cols 30..59
    expected = np.zeros((105, 105), np.uint8)
    expected[10:50, 30:60] = 255
    assert np.array_equal(first, expected)  # strokes high, background 0, exact at the original size
    small = D.load_split("omniglot", "train", tmp_path)  # alias; default size 28
    assert small.images.shape == (6, 1, 28, 28) and small.labels.tolist() == bg.labels.tolist()
    assert small.images[i, 0, 8, 12] > 200 and small.images[i, 0, 25, 2] < 10
    ev = D.load_split("omniglot", "test", tmp_path)
    assert ev.classes == ["Omega/character01"] and ev.labels.tolist() == [0, 0]
    s = D.load_dataset("omniglot", tmp_path, val_fraction=0.0)
    assert s.info.num_classes == 3 and s.info.image_size == 28 and len(s.test) == 2


def test_omniglot_folder_matches_tar(tmp_path: Path, cache: Path) -> None:
    files = _omniglot_files()
    (tmp_path / "a").mkdir()
    _write_tar(tmp_path / "a" / "omniglot.tar.gz", files)
    for name, data in files.items():
        p = tmp_path / "b" / name.replace("omniglot/", "omniglot-py/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    a = D.load_split("omniglot", "evaluation", tmp_path / "a")
    b = D.load_split("omniglot", "evaluation", tmp_path / "b")
    assert np.array_equal(a.images, b.images) and a.classes == b.classes


# ---------------------------------------------------------------- folder:PATH
def _write_folder(root: Path, layout: dict[str, tuple[int, int, int]]) -> None:
    """layout: relative file path -> (height, width, grey value); RGB PNGs unless the path ends in .L.png."""
    for rel, (h, w, v) in layout.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        arr = np.full((h, w, 3), v, np.uint8)
        arr[..., 0] = (v + 40) % 256
        p.write_bytes(_png(arr, mode="L" if rel.endswith(".L.png") else None))


def test_folder_with_splits_and_classes(tmp_path: Path, cache: Path) -> None:
    _write_folder(tmp_path / "ds", {
        "train/dog/1.png": (10, 10, 50), "train/dog/sub/2.png": (10, 10, 60), "train/cat/1.png": (20, 10, 70),
        "test/cat/9.png": (10, 10, 80), "train/notes.txt": (1, 1, 0),
    })  # fmt: skip
    (tmp_path / "ds" / "train" / "notes.txt").write_text("ignored: not an image")
    train = D.load_split(f"folder:{tmp_path / 'ds'}", "train")
    test = D.load_split(f"folder:{tmp_path / 'ds'}", "test")
    order = np.random.default_rng(D.TREE_ORDER_SEED).permutation(3)  # tree datasets: a fixed random order
    assert train.classes == ["cat", "dog"] and train.labels.tolist() == np.array([0, 1, 1])[order].tolist()
    assert train.images.shape == (3, 3, 10, 10)  # most common size 10x10; the 20x10 image resized
    first_dog = int(np.flatnonzero(order == 1)[0])  # dog/1.png: sorted second, before dog/sub/2.png
    assert train.images[first_dog, 1, 0, 0] == 50 and train.images[first_dog, 0, 0, 0] == 90
    assert test.labels.tolist() == [0] and test.images.shape == (1, 3, 10, 10)
    info = D.load_dataset(f"folder:{tmp_path / 'ds'}", val_fraction=0.0).info
    assert (info.channels, info.image_size, info.num_classes) == (3, 10, 2)


def test_folder_flat_unlabeled_with_carved_test(tmp_path: Path, cache: Path) -> None:
    _write_folder(tmp_path / "flat", {f"{i}.L.png": (6, 6, 10 * i) for i in range(20)})
    name = f"folder:{tmp_path / 'flat'}"
    train, test = D.load_split(name, "train"), D.load_split(name, "test")
    assert (len(train), len(test)) == (18, 2)
    assert train.classes == [] and set(train.labels.tolist()) == {-1}
    assert train.images.shape[1:] == (1, 6, 6)  # all grayscale -> 1 channel
    values = sorted(int(v) for v in np.concatenate([train.images, test.images])[:, 0, 0, 0])
    assert values == sorted(int(np.asarray(Image.fromarray(
        np.dstack([np.full((1, 1), (10 * i + 40) % 256), np.full((1, 1), 10 * i), np.full((1, 1), 10 * i)])
        .astype(np.uint8)).convert("L"))[0, 0]) for i in range(20))  # fmt: skip
    assert np.array_equal(D.load_split(name, "test").images, test.images)  # fixed seed
    assert D.load_split(name, "train", size=3).images.shape == (18, 1, 3, 3)


def test_folder_relative_to_data_root(tmp_path: Path, cache: Path) -> None:
    _write_folder(tmp_path / "root" / "mine", {"a.png": (4, 4, 1), "b.png": (4, 4, 2)})
    assert len(D.load_split("folder:mine", "train", tmp_path / "root")) == 1


def test_folder_skips_unreadable_with_count(tmp_path: Path, cache: Path, monkeypatch) -> None:
    _write_folder(tmp_path / "f", {"a/1.png": (8, 8, 1), "a/2.png": (8, 8, 2), "b/3.png": (8, 8, 3)})
    (tmp_path / "f" / "b" / "bad.jpg").write_bytes(b"garbage")
    (tmp_path / "f" / "b" / "trunc.png").write_bytes(_png(np.zeros((8, 8), np.uint8))[:30])
    _write_folder(tmp_path / "f", {"b/huge.png": (64, 64, 5)})
    monkeypatch.setattr(safe_read, "MAX_IMAGE_PIXELS", 32 * 32)  # decompression-bomb guard
    with pytest.warns(UserWarning, match="skipped 3 unreadable image"):
        a = D.load_split(f"folder:{tmp_path / 'f'}", "train")
        b = D.load_split(f"folder:{tmp_path / 'f'}", "test")
    assert len(a) + len(b) == 3


def test_folder_errors(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(UserError, match="is not a folder"):
        D.load_split(f"folder:{tmp_path / 'missing'}", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no image files"):
        D.load_split(f"folder:{tmp_path / 'empty'}", "train")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match=r"no readable images \(1 unreadable"):
        D.load_split(f"folder:{tmp_path / 'junk'}", "train")
    _write_folder(tmp_path / "mismatch", {"train/a/1.png": (4, 4, 1), "test/zzz/1.png": (4, 4, 1)})
    with pytest.raises(UserError, match="do not match"):
        D.load_split(f"folder:{tmp_path / 'mismatch'}", "test")


def test_folder_constant_images(tmp_path: Path, cache: Path) -> None:
    """Identical images: one clear error; a channel that never varies is centred, not divided by 0."""
    _write_folder(tmp_path / "same", {f"{i}.png": (4, 4, 7) for i in range(6)})
    with pytest.raises(UserError, match="nothing to learn"):
        D.load_dataset(f"folder:{tmp_path / 'same'}")
    (tmp_path / "blue0").mkdir()
    for i in range(6):
        arr = np.zeros((4, 4, 3), np.uint8)
        arr[..., 0], arr[..., 1] = 10 * i, 255 - 10 * i  # blue stays 0 in every image
        (tmp_path / "blue0" / f"{i}.png").write_bytes(_png(arr))
    info = D.load_dataset(f"folder:{tmp_path / 'blue0'}", val_fraction=0.0).info
    assert info.std[2] == 1.0 and info.mean[2] == 0.0 and info.std[0] > 0


# ---------------------------------------------------------------- real data (skipped without INFOMAX_DATA)
# Expected values: $INFOMAX_DATA/README.md (the datasets' own documentation). These stay in the fast
# suite: the first run decodes each archive into the user's decoded-array cache (CIFAR-10 about 13 s and
# Omniglot about 10 s of CPU), later runs read the cache (< 1 s).
_MNIST_DOC = {
    "mnist": {
        "first_train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
        "first_test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
        "train_counts": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
        "test_counts": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
        "train_mean_std": (0.1307, 0.3081),
        "test_mean": 0.1325,
        "first_class": "0",
    },
    "fashion-mnist": {
        "first_train": [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
        "first_test": [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
        "train_counts": [6000] * 10,
        "test_counts": [1000] * 10,
        "train_mean_std": (0.2860, 0.3530),
        "test_mean": None,  # not documented
        "first_class": "T-shirt/top",
    },
}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_mnist_style(name: str, data_root: Path) -> None:
    doc = _MNIST_DOC[name]
    train, test = D.load_split(name, "train", data_root), D.load_split(name, "test", data_root)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == np.uint8 and len(train.classes) == 10
    assert train.classes[0] == doc["first_class"]
    # IDX files keep the official order: no shuffling of these two
    assert train.labels[:10].tolist() == doc["first_train"] and test.labels[:10].tolist() == doc["first_test"]
    assert np.bincount(train.labels, minlength=10).tolist() == doc["train_counts"]
    assert np.bincount(test.labels, minlength=10).tolist() == doc["test_counts"]
    (mean,), (std,) = train.mean_std
    assert (mean, std) == pytest.approx(doc["train_mean_std"], abs=1e-4)
    if doc["test_mean"] is not None:
        assert test.mean_std[0][0] == pytest.approx(doc["test_mean"], abs=1e-4)


def _first_tar_member(path: Path, suffix: str) -> tuple[str, bytes]:
    """The first ``suffix`` file of a .tar.gz, read as a stream (stops there: no pass over the archive)."""
    with tarfile.open(path, "r|gz") as tf:
        for m in tf:
            if m.isfile() and m.name.endswith(suffix):
                return m.name, tf.extractfile(m).read()
    raise AssertionError(f"no {suffix} file in {path}")


def test_real_cifar10(data_root: Path) -> None:
    s = D.load_dataset("cifar10", data_root, val_fraction=0.1)
    assert (len(s.train), len(s.val), len(s.test)) == (45000, 5000, 10000)
    full = D.load_split("cifar10", "train", data_root)
    assert full.images.shape == (50000, 3, 32, 32) and full.images.dtype == np.uint8
    assert np.bincount(full.labels).tolist() == [5000] * 10 and full.classes == D.CIFAR10_CLASSES
    assert D.CIFAR10_CLASSES[:3] == ["airplane", "automobile", "bird"] and D.CIFAR10_CLASSES[9] == "truck"
    assert np.allclose(s.info.mean, (0.4913, 0.4821, 0.4465), atol=1e-4)
    assert np.allclose(s.info.std, (0.2452, 0.2428, 0.2606), atol=1e-4)
    assert s.test.images.shape == (10000, 3, 32, 32) and np.bincount(s.test.labels).tolist() == [1000] * 10
    # first labels: sorted by (class, file) = class-major blocks of 5,000 (1,000), then the documented fixed
    # permutation of tree datasets, so item i is sorted item perm[i] of class perm[i] // per_class
    for split, per_class in (("train", 5000), ("test", 1000)):
        perm = np.random.default_rng(D.TREE_ORDER_SEED).permutation(10 * per_class)
        labels = full.labels if split == "train" else s.test.labels
        assert labels[:10].tolist() == (perm[:10] // per_class).tolist()
    # not class-sorted: the first 1,000 of each split hold every class (a capped probe sees all of them)
    for labels in (s.train.labels, s.test.labels):
        assert np.bincount(labels[:1000], minlength=10).min() > 60
    # the archive's first image (test/airplane/0000.jpg: sorted test item 0) lands where the permutation
    # says, pixel for pixel, as (C, H, W)
    name, data = _first_tar_member(data_root / "cifar10-jpeg.tar.gz", ".jpg")
    assert name == "cifar10-jpeg/test/airplane/0000.jpg"
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # (32, 32, 3)
    j = int(np.flatnonzero(np.random.default_rng(D.TREE_ORDER_SEED).permutation(10000) == 0)[0])
    assert s.test.labels[j] == 0 and np.array_equal(s.test.images[j], rgb.transpose(2, 0, 1))


#: Characters per alphabet, as documented.
_OMNIGLOT_BACKGROUND = {
    "Alphabet_of_the_Magi": 20, "Anglo-Saxon_Futhorc": 29, "Arcadian": 26, "Armenian": 41,
    "Asomtavruli_(Georgian)": 40, "Balinese": 24, "Bengali": 46,
    "Blackfoot_(Canadian_Aboriginal_Syllabics)": 14, "Braille": 26, "Burmese_(Myanmar)": 34, "Cyrillic": 33,
    "Early_Aramaic": 22, "Futurama": 26, "Grantha": 43, "Greek": 24, "Gujarati": 48, "Hebrew": 22,
    "Inuktitut_(Canadian_Aboriginal_Syllabics)": 16, "Japanese_(hiragana)": 52, "Japanese_(katakana)": 47,
    "Korean": 40, "Latin": 26, "Malay_(Jawi_-_Arabic)": 40, "Mkhedruli_(Georgian)": 41, "N_Ko": 33,
    "Ojibwe_(Canadian_Aboriginal_Syllabics)": 14, "Sanskrit": 42, "Syriac_(Estrangelo)": 23, "Tagalog": 17,
    "Tifinagh": 55,
}  # fmt: skip
_OMNIGLOT_EVALUATION = {
    "Angelic": 20, "Atemayar_Qelisayer": 26, "Atlantean": 26, "Aurek-Besh": 26, "Avesta": 26, "Ge_ez": 26,
    "Glagolitic": 45, "Gurmukhi": 45, "Kannada": 41, "Keble": 26, "Malayalam": 47, "Manipuri": 40,
    "Mongolian": 30, "Old_Church_Slavonic_(Cyrillic)": 45, "Oriya": 46, "Sylheti": 28, "Syriac_(Serto)": 23,
    "Tengwar": 25, "Tibetan": 42, "ULOG": 26,
}  # fmt: skip


def test_real_omniglot(data_root: Path) -> None:
    bg = D.load_split("omniglot", "background", data_root)
    ev = D.load_split("omniglot", "evaluation", data_root)
    assert bg.images.shape == (19280, 1, 28, 28) and ev.images.shape == (13180, 1, 28, 28)
    assert (len(bg.classes), len(ev.classes)) == (964, 659)
    assert np.bincount(bg.labels).tolist() == [20] * 964 and np.bincount(ev.labels).tolist() == [20] * 659
    for split, doc in ((bg, _OMNIGLOT_BACKGROUND), (ev, _OMNIGLOT_EVALUATION)):
        alphabets = [c.split("/")[0] for c in split.classes]
        assert {a: alphabets.count(a) for a in doc} == doc and len(set(alphabets)) == len(doc)
        # sorted by (alphabet, character, drawer), 20 drawers each, then the fixed tree-dataset permutation
        perm = np.random.default_rng(D.TREE_ORDER_SEED).permutation(len(split))
        assert split.labels[:10].tolist() == (perm[:10] // 20).tolist()
    assert bg.classes[0] == "Alphabet_of_the_Magi/character01" and ev.classes[0] == "Angelic/character01"
    assert bg.mean_std[0][0] < 0.2  # strokes (high values) cover a small part of each image
    # the archive's first PNG, inverted (strokes 255) and area-averaged 105 -> 28 by hand (x4 then 15x15
    # blocks), matches the loader's Lanczos-resized image where the permutation puts it
    name, data = _first_tar_member(data_root / "omniglot.tar.gz", ".png")
    _, sub, alphabet, char, fname = name.split("/")
    split = {"images_background": bg, "images_evaluation": ev}[sub]
    sorted_index = split.classes.index(f"{alphabet}/{char}") * 20 + int(fname[5:7]) - 1  # XXXX_YY.png
    perm = np.random.default_rng(D.TREE_ORDER_SEED).permutation(len(split))
    j = int(np.flatnonzero(perm == sorted_index)[0])
    page = 255.0 - np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)  # (105, 105)
    assert page.shape == (105, 105) and set(np.unique(page)) == {0.0, 255.0}  # 1-bit
    box = np.repeat(np.repeat(page, 4, 0), 4, 1).reshape(28, 15, 28, 15).mean((1, 3))
    got = split.images[j, 0].astype(np.float64)
    assert np.corrcoef(box.ravel(), got.ravel())[0, 1] > 0.99 and np.abs(box - got).mean() < 5
