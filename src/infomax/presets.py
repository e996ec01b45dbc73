"""All experiment presets: gathered from each method module's ``PRESETS`` dict."""

from __future__ import annotations

from infomax.config import Preset
from infomax.errors import UserError
from infomax.methods import METHODS, available_methods, method_module


def all_presets() -> dict[str, Preset]:
    """``{preset name: Preset}`` over every available method, in method order."""
    out: dict[str, Preset] = {}
    for name in METHODS:
        if name not in available_methods():
            continue
        for pname, preset in getattr(method_module(name), "PRESETS", {}).items():
            if pname in out:
                raise RuntimeError(f"preset {pname!r} defined twice")
            out[pname] = preset
    return out


def resolve(name: str) -> Preset:
    """A preset by name, or a bare method name as a preset whose overrides are the method module's
    ``TRAIN_DEFAULTS`` (engine settings the method trains best with, e.g. DIM's learning rate; none for most
    methods)."""
    presets = all_presets()
    if name in presets:
        return presets[name]
    if name in METHODS:
        module = method_module(name)  # raises a UserError if unavailable
        return Preset(description=f"method {name} with its defaults", method=name,
                      overrides=dict(getattr(module, "TRAIN_DEFAULTS", {})))
    raise UserError(
        f"unknown method or preset {name!r}; methods: {', '.join(available_methods())}; "
        "run `infomax presets` for the presets"
    )
