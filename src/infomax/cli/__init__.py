"""The ``infomax`` command line: one parser, one module per subcommand.

Each subcommand module ``infomax.cli.<name>`` defines ``add_parser(subparsers)`` and ``run(args) -> int``.
User errors (:class:`infomax.errors.UserError`) print one line and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from infomax.errors import UserError

#: Subcommands, in help order -> implementing module.
COMMANDS: dict[str, str] = {
    "train": "infomax.cli.train",
    "eval": "infomax.cli.eval",
    "estimate": "infomax.cli.estimate",
    "presets": "infomax.cli.presets",
    "demo": "infomax.cli.demo",
    "index": "infomax.cli.index",
    "generate": "infomax.cli.generate",
    "study": "infomax.cli.study",
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
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"infomax: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("infomax: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `infomax presets | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)  # silence the flush at interpreter exit
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
