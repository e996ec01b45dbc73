"""The ``infomax`` command line: one parser, one module per subcommand.

Each subcommand module ``infomax.cli.<name>`` defines ``add_parser(subparsers)`` and ``run(args) -> int``.

Exit codes (README, "Interrupting, resuming and exit codes"):

====  =====================================================================================================
0     success
1     an internal error (a bug: a traceback)
2     a user error (:class:`infomax.errors.UserError`, a bad command line, an I/O error such as a full disk
      or an unwritable folder): one line on stderr, never a traceback
130   interrupted by SIGINT (Ctrl-C)
143   terminated by SIGTERM (``kill``, ``timeout``, a cluster scheduler)
====  =====================================================================================================

On SIGINT or SIGTERM the command stops where it is (files are written atomically, so none is left half
written), says so on stderr and, for a training run, names its last checkpoint and the exact
``infomax train --resume RUN_DIR`` command that continues it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from infomax.errors import Interrupted, UserError
from infomax.interrupt import ignore_stop_signals, is_stop_echo, stop_signals_raise

#: Subcommands, in help order -> implementing module.
COMMANDS: dict[str, str] = {
    "train": "infomax.cli.train",
    "eval": "infomax.cli.eval",
    "estimate": "infomax.cli.estimate",
    "presets": "infomax.cli.presets",
    "demo": "infomax.cli.demo",
    "index": "infomax.cli.index",
    "generate": "infomax.cli.generate",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"infomax: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="infomax", description="Mutual-information representation learning and estimation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for modname in COMMANDS.values():
        importlib.import_module(modname).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    command = None
    with stop_signals_raise() as received:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            command = args.command
            return int(args.func(args) or 0)
        except Interrupted as e:
            return _report_interrupted(e, command)
        except KeyboardInterrupt:  # a Ctrl-C the handlers did not see (e.g. their install was refused)
            print("infomax: interrupted", file=sys.stderr)
            return 130
        except Exception as e:
            if not received and is_stop_echo(e):  # a worker ended by a signal to the whole process group:
                with contextlib.suppress(Interrupted):  # ours is on its way
                    time.sleep(1.0)
            if received:  # an error the stop caused (e.g. a data-loader worker gone)
                return _report_interrupted(Interrupted(received[0], getattr(e, "run_dir", None)), command)
            if isinstance(e, UserError):
                print(f"infomax: error: {e}", file=sys.stderr)
                return 2
            if isinstance(e, BrokenPipeError):  # `infomax presets | head`: the reader left; not our error
                devnull = os.open(os.devnull, os.O_WRONLY)  # silence the flush at interpreter exit
                os.dup2(devnull, sys.stdout.fileno())
                return 0
            if isinstance(e, OSError):  # a full disk, an unwritable folder...: the environment, not a bug
                print(f"infomax: error: {os_error_line(e)}", file=sys.stderr)
                return 2
            raise


def _report_interrupted(e: Interrupted, command: str | None) -> int:
    ignore_stop_signals()  # a second Ctrl-C must not cut the report short
    for line in interrupted_lines(e, command):
        print(f"infomax: {line}", file=sys.stderr)
    return e.exit_code


def interrupted_lines(e: Interrupted, command: str | None = None) -> list[str]:
    """What the CLI prints on an interruption: the signal and, for a training run, how to continue it.

    ``e.run_dir`` (set by ``engine.fit``) names the run being trained; ``train`` and ``demo`` runs
    continue with ``infomax train --resume RUN_DIR``, the DDIM stage of ``generate`` by running that
    command again.

    Example:
        >>> interrupted_lines(Interrupted(signal.SIGTERM), "eval")
        ['terminated by SIGTERM']
    """
    sigint = e.signum == signal.SIGINT
    first = "interrupted by SIGINT (Ctrl-C)" if sigint else f"terminated by {e.signal_name}"
    if e.run_dir is None or command not in ("train", "demo", "generate"):
        return [first]
    from infomax.engine.checkpoint import load_checkpoint
    from infomax.run import CHECKPOINT_DIR, CONFIG, LAST_CHECKPOINT, is_run_dir, read_json

    run_dir = Path(e.run_dir)
    if not is_run_dir(run_dir):  # stopped before the run's config was written: nothing to continue
        return [f"{first}; the run in {run_dir} had not started: nothing to resume"]
    ckpt = run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
    try:
        last = load_checkpoint(ckpt, mmap=True)
        kept = f"its last checkpoint {ckpt} (epoch {last['epoch']}, step {last['step']}) is kept"
        limit = (read_json(run_dir / CONFIG).get("train") or {}).get("max_epochs")
        if last.get("stopped_by") == "max_minutes" or (limit is not None and last["epoch"] >= limit):
            kept = (f"its training is done ({ckpt}: epoch {last['epoch']}, step {last['step']}); what "
                    "follows (export, final evaluation, report) is not")
    except (UserError, AttributeError, TypeError):
        kept = "it has no checkpoint yet"
    if command == "generate":
        return [f"{first}; the DDIM stage in {run_dir} is unfinished: {kept}",
                "run the same `infomax generate` command again to continue it"]
    return [f"{first}; the run in {run_dir} is unfinished: {kept}",
            f"continue it with: infomax train --resume {shlex.quote(str(run_dir))}"]


def os_error_line(e: OSError) -> str:
    """One line for an ``OSError``: what failed and on which file.

    Example:
        >>> os_error_line(PermissionError(13, "Permission denied", "/runs/x"))
        'I/O error on /runs/x: Permission denied'
    """
    what = e.strerror or str(e) or type(e).__name__
    if e.filename is None:
        return f"I/O error: {what}"
    name = e.filename if e.filename2 is None else f"{e.filename} -> {e.filename2}"
    return f"I/O error on {name}: {what}"


def entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
