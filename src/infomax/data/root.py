"""Where datasets are found: the data root (``--data-root``, ``$INFOMAX_DATA``, the user cache dir).

Also the one-line "files not found" error every file-based source raises, naming what it expected and
every place it looked.

Example:
    >>> resolve_data_root("/data")
    PosixPath('/data')
    >>> str(files_not_found("toy", "toy.bin", [Path("/d/toy"), Path("/d")]))
    'toy: files not found: toy.bin; looked in: /d/toy, /d (set --data-root or $INFOMAX_DATA)'
"""

from __future__ import annotations

import os
from pathlib import Path

from infomax.errors import UserError

#: Appended to "files not found" errors.
HINT = "(set --data-root or $INFOMAX_DATA)"


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


def looked(places: list[Path]) -> str:
    """``places`` as a comma-separated list for error messages."""
    return ", ".join(str(p) for p in places)


def files_not_found(name: str, expected: str, places: list[Path]) -> UserError:
    """The error for a dataset whose files are in none of ``places`` (returned, for the caller to raise)."""
    return UserError(f"{name}: files not found: {expected}; looked in: {looked(places)} {HINT}")
