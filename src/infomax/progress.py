"""Progress on stderr for long phases: labelled tqdm bars with an ETA, and one-line notes.

stdout is for results only (``--json`` keeps it one JSON object), so everything here writes to stderr.
Whether anything is shown is decided, first match wins, by:

1. an explicit ``enabled=True/False`` argument;
2. :func:`progress_scope` (the CLI's ``--no-progress`` runs a command inside ``progress_scope(False)``);
3. the environment variable ``INFOMAX_PROGRESS``: ``0`` hides, ``1`` shows (e.g. with stderr sent to a log);
4. otherwise bars and notes are shown exactly when stderr is a terminal (so tests, pipes and redirected
   runs stay quiet).

Example:
    >>> with progress_scope(False):
    ...     for c in bar([0.1, 1.0], desc="linear probe fc"):
    ...         pass
    >>> format_seconds(3725)
    '1 h 02 min'
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from tqdm.auto import tqdm

ENV = "INFOMAX_PROGRESS"
_SCOPE: ContextVar[bool | None] = ContextVar("infomax_progress", default=None)


def progress_enabled(enabled: bool | None = None) -> bool:
    """Whether progress is shown: ``enabled`` if given, else the current scope, else ``$INFOMAX_PROGRESS``
    (``0``/``1``), else whether stderr is a terminal."""
    if enabled is not None:
        return bool(enabled)
    scoped = _SCOPE.get()
    if scoped is not None:
        return scoped
    env = os.environ.get(ENV, "").strip()
    if env in ("0", "1"):
        return env == "1"
    if "ipykernel" in sys.modules:  # a notebook: tqdm.auto draws widgets there
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


@contextmanager
def progress_scope(enabled: bool | None) -> Iterator[None]:
    """Within the block, :func:`progress_enabled` returns ``enabled`` (None: decide as outside a scope)."""
    token = _SCOPE.set(enabled)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def bar(
    iterable: Iterable[Any] | None = None,
    total: int | float | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool | None = None,
    leave: bool = False,
    **kw: Any,
) -> tqdm:
    """A tqdm bar on stderr labelled ``desc`` (rate and ETA included), disabled per :func:`progress_enabled`.

    Use as tqdm: wrap an iterable, or ``with bar(total=n, desc=...) as b: b.update(1)``.
    """
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=leave,
                disable=not progress_enabled(enabled), dynamic_ncols=True, mininterval=0.5, **kw)


def note(message: str, enabled: bool | None = None) -> None:
    """One line on stderr (without breaking an open bar), shown per :func:`progress_enabled`."""
    if progress_enabled(enabled):
        tqdm.write(message, file=sys.stderr)


def format_seconds(seconds: float) -> str:
    """A short duration: ``'45 s'``, ``'3 min 20 s'``, ``'1 h 02 min'``.

    Example:
        >>> format_seconds(44.6), format_seconds(200), format_seconds(7200)
        ('45 s', '3 min 20 s', '2 h 00 min')
    """
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


__all__ = ["ENV", "bar", "format_seconds", "note", "progress_enabled", "progress_scope"]
