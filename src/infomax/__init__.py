"""infomax: learn and evaluate representations by maximizing mutual information.

Import-light: heavy submodules (lightning, sklearn, faiss) load only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module it lives in; resolved lazily on first attribute access.
_EXPORTS = {
    "estimate_mi": "infomax.estimate",
    "MIEstimate": "infomax.estimate",
    "EstimateParams": "infomax.estimate",
    "UserError": "infomax.errors",
    "bounds": "infomax.bounds",
    "critics": "infomax.critics",
}

__all__ = list(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        mod = importlib.import_module(_EXPORTS[name])
        return mod if mod.__name__.endswith("." + name) else getattr(mod, name)
    raise AttributeError(f"module 'infomax' has no attribute {name!r}")
