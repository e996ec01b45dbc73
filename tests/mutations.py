"""Mutation check: do the fast tests notice when an objective is broken on purpose?

Usage::

    python tests/mutations.py                 # every case
    python tests/mutations.py --only NAME     # one case (repeatable)
    python tests/mutations.py --list          # the cases, without running them

A case is a plain dict ``{"name", "path", "old", "new", "tests"}``: in a copy of the repository's
``src/`` (a temporary folder), the text ``old`` of the file ``path`` (relative to the repository root,
e.g. ``src/infomax/methods/dim.py``) is replaced by ``new``; ``old`` must occur exactly once, else the
case is reported STALE (the code moved on: update the case). The case's ``tests`` (test files relative
to the repository root) then run with ``pytest -x -q -p no:cacheprovider`` on one thread, with
``PYTHONPATH=<tmp>/src`` so ``import infomax`` reads the mutated copy. The mutation is CAUGHT when the
tests fail (or error, or time out) and MISSED when they pass (or do not run at all: a missing test file,
nothing collected).

Cases are collected from every ``tests/mutation_cases/*.py`` that defines ``CASES`` (a list of such
dicts), loaded from the file path (the folder is not a package; its files are not named ``test_*`` so
pytest never collects them). Before the cases, the union of their test files runs once on an unmutated
copy (the baseline): a failing baseline would make every case look CAUGHT, so it stops the run.

Exit status: 0 when every case is CAUGHT; 1 when any is MISSED or STALE (or the baseline fails); 2 for
a malformed case file.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "tests" / "mutation_cases"
KEYS = {"name", "path", "old", "new", "tests"}
TIMEOUT_S = 900


def load_cases(folder: Path = CASES_DIR) -> list[dict]:
    """Every case of every ``folder/*.py`` defining ``CASES``, in file then list order.

    Raises:
        ValueError: a case is not a dict with exactly the keys name/path/old/new/tests, or two cases
            share a name.
    """
    cases: list[dict] = []
    for file in sorted(folder.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_mutation_cases_{file.stem}", file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for case in getattr(module, "CASES", []):
            if not isinstance(case, dict) or set(case) != KEYS:
                raise ValueError(f"{file.name}: a case must be a dict with keys {sorted(KEYS)}, got {case!r}")
            if not case["tests"] or not all(isinstance(t, str) for t in case["tests"]):
                raise ValueError(f"{file.name}: case {case['name']!r} lists no test files")
            cases.append({**case, "source": file.name})
    names = [c["name"] for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"duplicate case names: {', '.join(dup)}")
    return cases


def copy_src(dest: Path) -> Path:
    """Copy the repository's ``src/`` under ``dest``; return the copy's ``src`` folder."""
    src = dest / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return src


def apply(case: dict, tmp: Path) -> bool:
    """Apply the case's replacement in the copy under ``tmp``; False (stale) unless ``old`` occurs once."""
    target = tmp / case["path"]
    if not case["path"].startswith("src/") or not target.is_file():
        return False
    text = target.read_text()
    if text.count(case["old"]) != 1:
        return False
    target.write_text(text.replace(case["old"], case["new"]))
    return True


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(src),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def check_import(src: Path) -> None:
    """Fail loudly unless ``import infomax`` resolves to the copy (else nothing would be mutated)."""
    code = "import infomax, sys; sys.stdout.write(infomax.__file__)"
    got = subprocess.run([sys.executable, "-c", code], env=_env(src), cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    if not Path(got).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"import infomax reads {got}, not the copy under {src}: cannot mutate")


def run_tests(tests: list[str], src: Path) -> tuple[int | None, float, str]:
    """(pytest exit status or None on timeout, seconds, last output lines) for ``tests`` on ``src``."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, env=_env(src), cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, time.time() - t0, "timeout"
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    return proc.returncode, time.time() - t0, tail


def run_case(case: dict) -> tuple[str, float, str]:
    """(CAUGHT / MISSED / STALE, seconds, detail) for one case."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        src = copy_src(Path(tmp))
        if not apply(case, Path(tmp)):
            return "STALE", 0.0, f"'old' does not occur exactly once in {case['path']}"
        rc, secs, tail = run_tests(case["tests"], src)
    if rc is None:
        return "CAUGHT", secs, "tests timed out"
    if rc == 0:
        return "MISSED", secs, tail.splitlines()[-1] if tail else ""
    if rc == 1:  # tests failed
        return "CAUGHT", secs, tail.splitlines()[-1] if tail else ""
    if rc in (4, 5):  # usage error (e.g. a missing test file) or nothing collected: nothing was checked
        return "MISSED", secs, f"pytest exit {rc}, the tests did not run: {tail[-200:]}"
    return "CAUGHT", secs, f"pytest exit {rc} (errors, e.g. import or collection): {tail[-200:]}"


def baseline(cases: list[dict]) -> bool:
    """Run the union of the cases' test files on an unmutated copy; True when they pass."""
    tests = sorted({t for c in cases for t in c["tests"]})
    with tempfile.TemporaryDirectory(prefix="mutation-baseline-") as tmp:
        src = copy_src(Path(tmp))
        check_import(src)
        rc, secs, tail = run_tests(tests, src)
    print(f"baseline ({len(tests)} test files, unmutated): {'pass' if rc == 0 else 'FAIL'} in {secs:.0f}s")
    if rc != 0:
        print(tail)
    return rc == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this case (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    args = parser.parse_args(argv)
    try:
        cases = load_cases()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.only:
        unknown = sorted(set(args.only) - {c["name"] for c in cases})
        if unknown:
            print(f"error: unknown case(s): {', '.join(unknown)}", file=sys.stderr)
            return 2
        cases = [c for c in cases if c["name"] in args.only]
    if args.list:
        for c in cases:
            print(f"{c['name']:40s} {c['path']}  ({c['source']})")
        return 0
    if not cases:
        print("no mutation cases found")
        return 0
    if not args.no_baseline and not baseline(cases):
        return 1
    rows = []
    for c in cases:
        status, secs, detail = run_case(c)
        rows.append((c["name"], c["path"].removeprefix("src/infomax/"), status, secs, detail))
        print(f"  {status:6s} {c['name']} ({secs:.0f}s)", flush=True)
    w = max(len(r[0]) for r in rows)
    wp = max(len(r[1]) for r in rows)
    print()
    print(f"{'case':{w}s}  {'file':{wp}s}  result  seconds  detail")
    print(f"{'-' * w}  {'-' * wp}  ------  -------  ------")
    for name, path, status, secs, detail in rows:
        print(f"{name:{w}s}  {path:{wp}s}  {status:6s}  {secs:7.1f}  {detail[:90]}")
    bad = [r for r in rows if r[2] != "CAUGHT"]
    print(f"\n{len(rows) - len(bad)}/{len(rows)} caught" + (f"; not caught: {', '.join(r[0] for r in bad)}"
                                                             if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
