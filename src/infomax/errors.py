"""User-facing errors and interruptions. Imports nothing from infomax.

Raise :class:`UserError` for anything a user can fix (unknown name, missing file, bad shape, bad value).
The CLI prints its message on one line and exits with code 2; the Python API lets it propagate.

:class:`Interrupted` is what the CLI's signal handlers raise on SIGINT (Ctrl-C) and SIGTERM (``kill``,
``timeout``, a cluster scheduler): the CLI prints what happened and exits with ``128 + signal number``
(130, 143). It derives from ``KeyboardInterrupt``, so code that cleans up on Ctrl-C cleans up on SIGTERM too.
"""

import signal


class UserError(ValueError):
    """A mistake the user can fix; its message is one clear line."""


class Interrupted(KeyboardInterrupt):
    """The process received ``signum`` (SIGINT or SIGTERM) and is stopping.

    Attributes:
        signum: the signal received.
        run_dir: the run directory being written when it arrived (set by ``engine.fit``), else None.

    Example:
        >>> Interrupted(signal.SIGTERM).exit_code
        143
    """

    def __init__(self, signum: int = signal.SIGINT, run_dir: object = None) -> None:
        super().__init__(signum)
        self.signum = int(signum)
        self.run_dir = run_dir

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: ``128 + signum``."""
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        """``"SIGINT"``, ``"SIGTERM"``, ..."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"
