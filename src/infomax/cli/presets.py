"""``infomax presets``: list the experiment presets, one line each (name, method, description)."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list experiment presets", description="List the experiment presets: "
                       "`infomax train NAME` runs one.")
    p.add_argument("--json", action="store_true", help="print {name: {method, description, overrides}}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from infomax.presets import all_presets

    presets = all_presets()
    if args.json:
        json.dump({name: {"method": p.method, "description": p.description, "overrides": p.overrides}
                   for name, p in presets.items()}, sys.stdout, default=str)
        print()
        return 0
    if not presets:
        print("no presets available")
        return 0
    wn = max(len(n) for n in presets)
    wm = max(len(p.method) for p in presets.values())
    for name, p in presets.items():
        print(f"{name:<{wn}}  {p.method:<{wm}}  {p.description}")
    return 0
