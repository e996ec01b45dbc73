"""The run directory: one folder per training run, and how to load a trained run back.

Layout (see docs/ARCHITECTURE.md, "infomax.engine and the run directory")::

    RUN_DIR/config.json          {"method": name, "train": {...}, "method_config": {...}, "data_info": {...}}
    RUN_DIR/metrics.json         final probe accuracies per layer + baselines + later evaluations
    RUN_DIR/checkpoints/last.pt  plain tensors/dicts, loadable with torch.load(weights_only=True)
    RUN_DIR/model.safetensors    the whole method's state;  RUN_DIR/encoder.safetensors  the encoder's
    RUN_DIR/logs/                CSV + TensorBoard
    RUN_DIR/report.md, plots/    loss curves, probe accuracy per layer vs baselines

Every file here is written atomically (a temporary file in the same folder, then ``os.replace``), so a
run killed at any moment leaves either the old or the new version of a file, never half of one; a write
that fails (a full disk, a read-only folder) is a one-line :class:`UserError` naming the file, the old
version kept and the temporary file removed. A ``config.json`` with a missing or malformed field is a
UserError too, not a traceback.

Example:
    >>> run = load_run("runs/dim-20250101-120000")  # doctest: +SKIP
    >>> run.method.encoder.layers  # doctest: +SKIP
    ('local', 'conv', 'fc', 'y')
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infomax.errors import UserError

CONFIG = "config.json"
METRICS = "metrics.json"
MODEL = "model.safetensors"
ENCODER = "encoder.safetensors"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"
LOG_DIR = "logs"
PLOT_DIR = "plots"
REPORT = "report.md"


@dataclass
class Run:
    """A trained run loaded back: its resolved config, the rebuilt method (weights loaded) and data info."""

    config: dict[str, Any]
    method: Any
    info: Any
    run_dir: Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it over ``path`` with ``os.replace``.

    On an exception the temporary file is removed and ``path`` is left untouched; an ``OSError`` (no
    space left, permission denied, a read-only file system) becomes a :class:`WriteError` naming
    ``path``. The file gets the usual permissions of a new file (``0o666`` minus the umask: 0644 under
    umask 022), not the 0600 of ``tempfile.mkstemp``.

    Example:
        >>> with atomic_path("out.txt") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("hello")
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        # mkstemp creates 0600 (and some writers recreate the file): the usual mode, set on what was written
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        err = e if isinstance(e, OSError) else _os_error_in(e)
        if err is not None:
            raise WriteError(path, err) from None
        raise


def _os_error_in(e: BaseException) -> OSError | None:
    """The OS error a writer reported in its own exception type (safetensors: ``"... (os error 28)"``)."""
    m = re.search(r"\(os error (\d+)\)", str(e)) if isinstance(e, Exception) else None
    return OSError(int(m.group(1)), os.strerror(int(m.group(1)))) if m else None


class WriteError(UserError):
    """Writing ``path`` failed (``OSError``); the message names the file and keeps the old version.

    Example:
        >>> str(WriteError(Path("runs/x/metrics.json"), OSError(28, "No space left on device")))
        'cannot write runs/x/metrics.json: No space left on device (any previous version is unchanged)'
    """

    def __init__(self, path: Path, error: OSError) -> None:
        self.path, self.error = Path(path), error
        reason = error.strerror or str(error) or type(error).__name__
        super().__init__(f"cannot write {path}: {reason} (any previous version is unchanged)")


def current_umask() -> int:
    """The process's umask (read by setting and restoring it; e.g. ``0o022``)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _jsonable(obj: Any) -> Any:
    """Dataclasses, tuples, paths and non-finite floats made JSON-safe (NaN/inf -> None)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _jsonable(obj.item())
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or corrupt file is a UserError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"missing file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"corrupt JSON in {path}: {e}") from None


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like an infomax run directory (it holds a ``config.json`` with a method)."""
    cfg = Path(path) / CONFIG
    if not cfg.is_file():
        return False
    try:
        return "method" in json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return False


def check_run_dir(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it is a run directory, else a UserError."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a run directory (it does not exist)")
    if not is_run_dir(path):
        raise UserError(f"{path} is not a run directory (no valid {CONFIG} in it)")
    return path


def check_new_run_dir(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a new run may be written there (absent or an empty folder), else a UserError."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        hint = f" or continue that run with --resume {path}" if is_run_dir(path) else ""
        raise UserError(f"output directory {path} already exists and is not empty; "
                        f"choose another --out{hint}")
    return path


def new_run_dir(path: str | os.PathLike) -> Path:
    """Create a fresh run directory; an existing non-empty ``path`` is a UserError (never overwritten)."""
    path = check_new_run_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # an unwritable parent (or working directory), a file in the way, a full disk
        raise UserError(f"cannot create the run directory {path}: {e.strerror or e}; choose another --out "
                        "(or run from a writable folder)") from None
    return path


def default_run_dir(prefix: str, root: str | os.PathLike = "runs") -> Path:
    """``runs/<prefix>-<YYYYmmdd-HHMMSS>`` (a ``-2``, ``-3``... suffix if that already exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{prefix.replace('/', '_').replace(':', '_')}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


#: The fields of ``config.json`` and their JSON types (``preset`` may be null).
CONFIG_FIELDS: dict[str, type] = {"method": str, "train": dict, "method_config": dict, "data_info": dict}


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The resolved config of a run (``config.json``); a missing or malformed field is a UserError."""
    path = Path(run_dir) / CONFIG
    cfg = read_json(check_run_dir(run_dir) / CONFIG)
    if not isinstance(cfg, dict):
        raise UserError(f"{path} is malformed: it holds a {type(cfg).__name__}, not an object")
    for key, tp in CONFIG_FIELDS.items():
        if key not in cfg:
            raise UserError(f"{path} lacks the key {key!r}; is it an infomax run?")
        if not isinstance(cfg[key], tp):
            want = "a string" if tp is str else "an object"
            raise UserError(f"{path} is malformed: {key!r} is {json.dumps(cfg[key])[:60]}, not {want}")
    if cfg.get("preset") is not None and not isinstance(cfg["preset"], str):
        raise UserError(f"{path} is malformed: 'preset' is {json.dumps(cfg['preset'])[:60]}, not a string")
    return cfg


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``metrics.json`` of a run, or ``{}`` if there is none yet."""
    path = Path(run_dir) / METRICS
    return read_json(path) if path.exists() else {}


def update_metrics(run_dir: str | os.PathLike, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into ``metrics.json`` (top-level keys replaced) atomically; returns the result."""
    metrics = read_metrics(run_dir)
    metrics.update(_jsonable(updates))
    write_json(Path(run_dir) / METRICS, metrics)
    return metrics


def _dataclass_from_dict(cls: type, values: dict[str, Any], what: str) -> Any:
    """``cls(**values)`` with each value coerced to its field type (JSON turns tuples into lists)."""
    from infomax.config import coerce, field_types

    types_ = field_types(cls)
    unknown = sorted(set(values) - set(types_))
    if unknown:
        raise UserError(f"{what} has unknown keys {unknown}; was it written by another infomax version?")
    try:
        return cls(**{k: coerce(v, types_[k], k) if v is not None else None for k, v in values.items()})
    except UserError as e:
        raise UserError(f"{what} is malformed: {e}") from None
    except (TypeError, ValueError) as e:  # e.g. a null where a number is needed, a check in __post_init__
        raise UserError(f"{what} is malformed: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def train_config_from(cfg: dict[str, Any]) -> Any:
    """The ``TrainConfig`` of a run's config dict."""
    from infomax.config import TrainConfig

    return _dataclass_from_dict(TrainConfig, cfg["train"], "config.json 'train'")


def method_config_from(cfg: dict[str, Any]) -> Any:
    """The method's ``Config`` of a run's config dict."""
    from infomax.methods import method_module

    return _dataclass_from_dict(method_module(cfg["method"]).Config, cfg["method_config"],
                                "config.json 'method_config'")


def data_info_from(cfg: dict[str, Any]) -> Any:
    """The ``DataInfo`` of a run's config dict; a malformed ``data_info`` (not an object, unknown or missing
    fields, wrong types) is a UserError."""
    d = cfg.get("data_info")
    if not isinstance(d, dict):
        raise UserError(f"config.json is malformed: 'data_info' is {json.dumps(d)[:60]}, not an object")
    from infomax.data.datasets import DataInfo

    missing = sorted(f.name for f in dataclasses.fields(DataInfo)
                     if f.name not in d and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    if missing:
        raise UserError(f"config.json 'data_info' lacks {', '.join(missing)}; was it written by infomax?")
    nulls = sorted(k for k, v in d.items() if v is None)
    if nulls:
        raise UserError(f"config.json 'data_info' is malformed: {', '.join(nulls)} is null")
    return _dataclass_from_dict(DataInfo, d, "config.json 'data_info'")


def load_run(run_dir: str | os.PathLike, weights: str = MODEL) -> Run:
    """Rebuild a run's method from ``config.json`` and load its trained weights.

    Args:
        run_dir: a run directory written by ``infomax train``.
        weights: file in the run directory holding the method's state (default ``model.safetensors``).

    Returns:
        ``Run(config, method, info, run_dir)`` with the method in eval mode on the CPU.

    Raises:
        UserError: not a run directory, the run has not finished (no weights), or the weights do not
            match the rebuilt method.

    Example:
        >>> run = load_run("runs/demo-20250101-120000")  # doctest: +SKIP
        >>> feats = run.method.features(x, "fc")  # (B, 1024)  # doctest: +SKIP
    """
    from safetensors.torch import load_model

    from infomax.methods import method_module

    run_dir = check_run_dir(run_dir)
    config = read_config(run_dir)
    info = data_info_from(config)
    method_cfg = method_config_from(config)
    try:
        method = method_module(config["method"]).build(method_cfg, info)
    except UserError:
        raise
    except (TypeError, ValueError) as e:  # settings that passed the type checks but cannot build a model
        raise UserError(f"cannot rebuild the method from {run_dir / CONFIG}: {_first_line(e)}") from None
    path = run_dir / weights
    if not path.is_file():
        raise UserError(f"{path} not found: the run has not finished; continue it with "
                        f"`infomax train --resume {run_dir}`")
    try:
        load_model(method, str(path), strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "mismatch"
        raise UserError(f"{path} does not match the method rebuilt from {CONFIG}: {first}") from None
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise UserError(f"cannot read {path}: {e}") from None
    method.eval()
    return Run(config=config, method=method, info=info, run_dir=run_dir)
