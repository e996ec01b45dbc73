"""Stopping cleanly on SIGINT (Ctrl-C) and SIGTERM (``kill``, ``timeout``, a cluster scheduler).

The CLI runs every command inside :func:`stop_signals_raise`: the first SIGINT or SIGTERM raises
:class:`~infomax.errors.Interrupted` where the main thread is, files being written atomically, so none is
left half written; the CLI reports it and exits with ``128 + signal`` (130, 143).

Where Python would drop the exception (raised inside a ``__del__``, e.g. while a data loader's old iterator
shuts its workers down, or inside the unraisable hook), the signal is delivered again a moment later
instead, and the training step checks :func:`raise_if_stopped`, so a stop is never lost. Forked children
(data-loader workers, which a terminal's Ctrl-C or a scheduler's signal to the whole process group reaches
too) ignore SIGINT: the main process stops them in order (torch's workers end themselves on SIGTERM; the
error their end raises in the main process, and its echo from a ``__del__``, are the stop's, not news).

Example:
    >>> with stop_signals_raise() as received:  # doctest: +SKIP
    ...     train()  # Ctrl-C here raises Interrupted(SIGINT); received == [SIGINT]
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from infomax.errors import Interrupted

#: The signals that stop a command cleanly.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: Frames where a raised exception is dropped by Python (reported as "Exception ignored in ...").
_DROPPING_FRAMES = ("__del__", "unraisable")

#: Stop signals received inside the current :func:`stop_signals_raise` (the main thread's).
_received: list[int] = []
#: Inside :func:`stops_deferred`: the first stop signal is recorded, not raised.
_deferring: list[bool] = [False]


def stop_requested() -> int | None:
    """The first stop signal received inside :func:`stop_signals_raise`, else None."""
    return _received[0] if _received else None


def raise_if_stopped() -> None:
    """Raise :class:`Interrupted` if a stop signal was received (a check for long loops; cheap)."""
    if _received:
        raise Interrupted(_received[0])


@contextlib.contextmanager
def stops_deferred() -> Iterator[None]:
    """While inside, the first stop signal is only recorded; a second one raises at once.

    For a loop that can stop at a consistent point: the training step finishes, checkpoints where it is
    (mid-epoch included) and then raises :class:`Interrupted` itself (``stop_requested()`` tells it
    to). A second Ctrl-C (or SIGTERM) is not kept waiting. Outside :func:`stop_signals_raise` (no
    handler of ours) this changes nothing.

    Example:
        >>> with stops_deferred():  # doctest: +SKIP
        ...     for batch in data:
        ...         step(batch)
        ...         if stop_requested():
        ...             save_checkpoint(); raise Interrupted(stop_requested())
    """
    old = _deferring[0]
    _deferring[0] = True
    try:
        yield
    finally:
        _deferring[0] = old


def is_stop_echo(e: BaseException) -> bool:
    """Whether ``e`` is torch's report of a data-loader worker that a stop signal ended."""
    text = str(e)
    return isinstance(e, RuntimeError) and "DataLoader worker" in text and (
        "killed by signal" in text or "exited unexpectedly" in text)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[list[int]]:
    """While inside: SIGINT and SIGTERM raise :class:`Interrupted` in this process (restored on exit).

    Yields the list of stop signals received so far. Only from the main thread, and only over the default
    handlers (a signal the parent shell ignores, e.g. SIGINT of a background job, stays ignored).
    Lightning wraps a SIGTERM handler it finds (it calls it after its own); ``engine.fit`` turns
    Lightning's own ways of ending (``sys.exit(1)`` on Ctrl-C, a quiet ``SIGTERMException``) back into
    the interruption.
    """
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield _received
        return
    pid = os.getpid()
    timers: list[threading.Timer] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != pid:  # a forked worker: the main process stops it
            return
        if _deferring[0] and not _received:  # the loop stops itself at its next consistent point
            _received.append(signum)
            return
        f = frame
        while f is not None:
            if f.f_code.co_name in _DROPPING_FRAMES:  # raised here it would be lost: deliver it again soon
                timers.append(threading.Timer(0.05, os.kill, (pid, signum)))
                timers[-1].start()
                return
            f = f.f_back
        _received.append(signum)
        raise Interrupted(signum)

    def unraisable(info: Any) -> None:  # after a stop, errors in clean-up are its echoes, not news
        if not (_received or is_stop_echo(info.exc_value)):
            previous_hook(info)

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    previous_hook = sys.unraisablehook
    for s, old in previous.items():
        if old in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(s, handler)
    sys.unraisablehook = unraisable
    try:
        yield _received
    finally:
        for t in timers:
            t.cancel()
        sys.unraisablehook = previous_hook
        for s, old in previous.items():
            if old is not None:
                signal.signal(s, old)
        _received.clear()


def ignore_stop_signals() -> None:
    """Ignore further SIGINT/SIGTERM (while the interruption is reported; restored on leaving
    :func:`stop_signals_raise`)."""
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            if signal.getsignal(s) not in (signal.SIG_IGN, None):
                signal.signal(s, signal.SIG_IGN)
