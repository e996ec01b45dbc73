"""Methods: encoder + critics + bounds -> a loss dict.

``METHODS`` is a plain dict at the edge (used by the CLI and to parametrize tests): method name ->
module path. Each method module defines

- ``Config``: a dataclass of the method's options, with CPU-sane defaults;
- ``build(cfg: Config, info: DataInfo) -> MethodBase``;
- ``PRESETS``: ``{name: Preset}``, experiment presets for ``infomax presets`` / ``infomax train NAME``.

Modules are imported only when a method is used, so ``import infomax`` stays light.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from infomax.errors import UserError

METHODS: dict[str, str] = {
    "dim": "infomax.methods.dim",
    "supervised": "infomax.methods.supervised",
    "multiview": "infomax.methods.multiview",
    "dimco": "infomax.methods.dimco",
    "protonet": "infomax.methods.protonet",
    "amdim": "infomax.methods.amdim",
    "cpc": "infomax.methods.cpc",
    "moco": "infomax.methods.moco",
    "hybrid": "infomax.methods.hybrid",
}


def method_module(name: str) -> ModuleType:
    """The module implementing method ``name`` (raises UserError for an unknown one)."""
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; choose one of: {', '.join(sorted(available_methods()))}")
    return importlib.import_module(METHODS[name])


def available_methods() -> list[str]:
    """Names of the methods, in ``METHODS`` order (every one has its module)."""
    return list(METHODS)
