"""benchmarks/budget/run.py: cells on disk -> table, verdicts by the claims rule, plot; resumable layout."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "budget" / "run.py"


@pytest.fixture
def br(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH.parents[1] / "dim"))
    sys.modules.pop("common", None)
    spec = importlib.util.spec_from_file_location("budget_run", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("common", None)


def _cells(out: Path, br: ModuleType, data: str, minutes: float, name: str, accs: list[float]) -> None:
    for seed, a in enumerate(accs):
        br.write_json(br.cell_path(out, data, minutes, name, seed),
                      {"data": data, "minutes": minutes, "contender": name, "seed": seed, "linear": a,
                       "knn": a - 0.05, "steps": 100 + seed, "layer": "fc"})


def test_report_from_cells_hand_computed(br: ModuleType, tmp_path: Path) -> None:
    # dim-l-cross 0.70/0.71/0.72 vs moco 0.66/0.67/0.68: +4 points, se sqrt(1/3 + 1/3) = 0.816 -> beats;
    # vs dim-l 0.69/0.71/0.73 (sd 2): +0 points -> level; random has 2 seeds -> not enough seeds
    _cells(tmp_path, br, "toy", 10.0, "dim-l-cross", [0.70, 0.71, 0.72])
    _cells(tmp_path, br, "toy", 10.0, "moco", [0.66, 0.67, 0.68])
    _cells(tmp_path, br, "toy", 10.0, "dim-l", [0.69, 0.71, 0.73])
    _cells(tmp_path, br, "toy", 10.0, "random", [0.40, 0.41])
    br.report(tmp_path)
    md = (tmp_path / "budget.md").read_text()
    assert "| toy | 10 | dim-l-cross | 0,1,2 | 71.0 ± 1.0 | 66.0 ± 1.0 | 101 | fc |" in md
    assert "| toy | 10 | random | 0,1 | 40.5 ± 0.7 |" in md
    assert "toy, 10 min, linear: dim-l-cross vs moco: beats: +4 +- 0.816 (2 SE = 1.63; 3 vs 3 seeds)" in md
    assert "toy, 10 min, linear: dim-l-cross vs dim-l: level: +0 +- 1.29 (2 SE = 2.58; 3 vs 3 seeds)" in md
    assert ("toy, 10 min, linear: dim-l-cross vs random: not enough seeds: +30.5 +- 0.764 (2 SE = 1.53; "
            "3 vs 2 seeds)") in md
    # every pair once (not only against the reference), and the kNN accuracies judged the same way
    assert "toy, 10 min, linear: dim-l vs moco: beats: +4 +- 1.29 (2 SE = 2.58; 3 vs 3 seeds)" in md
    assert "toy, 10 min, knn: dim-l-cross vs moco: beats: +4 +- 0.816 (2 SE = 1.63; 3 vs 3 seeds)" in md
    assert "moco vs dim-l-cross" not in md
    assert (tmp_path / "budget.png").stat().st_size > 0
    assert json.loads(br.cell_path(tmp_path, "toy", 10.0, "moco", 2).read_text())["linear"] == 0.68


def test_plot_gives_a_contender_one_colour_in_every_panel(br: ModuleType, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # "b" has no cells on dataset "x": per-panel numbering would give "c" b's colour there
    import matplotlib.axes

    drawn: list[tuple[tuple, str, str]] = []  # (colour, marker, label) per drawn line
    errorbar = matplotlib.axes.Axes.errorbar

    def record(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        drawn.append((tuple(kwargs["color"]), kwargs["marker"], kwargs["label"]))
        return errorbar(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", record)
    cells = [{"data": d, "minutes": 10.0, "contender": n, "seed": 0, "linear": 0.5}
             for d, n in (("w", "a"), ("w", "b"), ("w", "c"), ("x", "a"), ("x", "c"))]
    br.plot(cells, tmp_path / "p.png")
    style = {label: {(color, marker) for color, marker, lab in drawn if lab == label} for *_, label in drawn}
    assert len(drawn) == 5
    assert all(len(v) == 1 for v in style.values()), style
    assert len({next(iter(v)) for v in style.values()}) == 3  # and the three contenders differ


def test_longer_budget_judged_against_the_shorter_one(br: ModuleType, tmp_path: Path) -> None:
    # amdim 0.60/0.61/0.62 at 10 min, 0.65/0.66/0.67 at 30: +5 points, se sqrt(1/3 + 1/3) = 0.816 -> beats
    _cells(tmp_path, br, "toy", 10.0, "amdim", [0.60, 0.61, 0.62])
    _cells(tmp_path, br, "toy", 30.0, "amdim", [0.65, 0.66, 0.67])
    _cells(tmp_path, br, "toy", 10.0, "moco", [0.50, 0.51, 0.52])
    br.report(tmp_path)
    md = (tmp_path / "budget.md").read_text()
    assert "toy, amdim, linear: 30 vs 10 min: beats: +5 +- 0.816 (2 SE = 1.63; 3 vs 3 seeds)" in md
    assert "toy, amdim, knn: 30 vs 10 min: beats: +5 +- 0.816 (2 SE = 1.63; 3 vs 3 seeds)" in md
    assert "toy, moco, linear:" not in md  # one budget: nothing to compare


def test_unknown_contender_is_exit_code_2(br: ModuleType, capsys: pytest.CaptureFixture) -> None:
    assert br.main(["--contenders", "nope", "--report-only"]) == 2
    assert "unknown contender(s) nope" in capsys.readouterr().err


def test_every_infomax_contender_is_a_preset(br: ModuleType) -> None:
    from infomax.presets import all_presets

    assert "dim-l-cross-cifar" in br.INFOMAX
    assert set(br.INFOMAX) <= set(all_presets())


@pytest.mark.parametrize(("contender", "preset"), [("random", "dim-l-noprior"), ("random-cpc", "cpc"),
                                                   ("random-hybrid", "hybrid")])
def test_untrained_baseline_is_its_presets_network(br: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path, contender: str, preset: str) -> None:
    seen, probed = [], []

    class Method:
        encoder = f"{preset}-net"

    monkeypatch.setattr(br.common, "untrained", lambda p, splits, seed: seen.append((p, seed)) or Method())
    monkeypatch.setattr(br.common, "cpu_conditions", lambda: {"load_1m": 0.0})
    monkeypatch.setattr(br, "probe", lambda enc, ps, layer: probed.append(enc) or
                        {"layer": "x", "linear": 0.5, "knn": 0.4, "probe_s": 1.0})
    args = type("Args", (), {"threads": 1, "probe_max_train": None, "probe_max_test": None, "select": False,
                             "tag": None, "overrides": {}})()
    cell = br.run_cell(args, "toy", 10.0, contender, 2, None, None, tmp_path,
                       {"ms_per_step_median": 1.0, "time_utc": "t"}, ["fc"])["fc"]
    assert seen == [(preset, 2)] and probed == [f"{preset}-net"]
    assert (cell["contender"], cell["steps"], cell["linear"]) == (contender, 0, 0.5)
    assert contender in br.KNOWN


def test_select_splits_score_the_carved_tenth_and_never_the_test_split(br: ModuleType) -> None:
    import numpy as np

    from infomax.data.datasets import load_dataset

    full = load_dataset("digits", None, 0.0)
    s = br.select_splits("digits")

    def rows(arrays) -> list[bytes]:  # noqa: ANN001
        return sorted(im.tobytes() for im in np.asarray(arrays.images))

    # the probes' train and the scored split partition the official train split (10% scored); val is empty
    assert len(s.val) == 0 and len(s.test) == round(0.1 * len(full.train))
    assert sorted(rows(s.train) + rows(s.test)) == rows(full.train)


@pytest.mark.parametrize(("argv", "message"), [
    (["--set", "lr=2e-3", "--report-only"], "--set needs --tag"),
    (["--set", "lr", "--tag", "x", "--report-only"], "--set expects key=value"),
    (["--set", "lr=2e-3", "--tag", "x", "--contenders", "random", "--report-only"],
     "infomax contenders only"),
    (["--layers", "fc", "cnov", "--report-only"], "unknown layer(s) cnov"),
])
def test_bad_variant_arguments_are_exit_code_2(br: ModuleType, capsys: pytest.CaptureFixture, argv: list[str],
                                               message: str) -> None:
    assert br.main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_variant_trains_with_its_settings_under_its_own_name(br: ModuleType,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    seen = []

    class Method:
        encoder = "net"

    def train(preset, splits, run_dir, minutes, overrides):  # noqa: ANN001, ANN202
        seen.append((preset, minutes, overrides))
        return Method(), {"train": {"steps": 7, "elapsed_s": 1.0}}

    monkeypatch.setattr(br.common, "train", train)
    monkeypatch.setattr(br.common, "cpu_conditions", lambda: {"load_1m": 0.0})
    monkeypatch.setattr(br, "probe",
                        lambda enc, ps, layer: {"layer": layer, "linear": 0.5, "knn": 0.4, "probe_s": 1.0})
    args = type("Args", (), {"threads": 1, "probe_max_train": None, "probe_max_test": None, "select": True,
                             "tag": "cos", "overrides": {"lr_schedule": "cosine"}})()
    cells = br.run_cell(args, "toy", 10.0, "dim-l-cross", 1, None, None, tmp_path,
                        {"ms_per_step_median": 1.0, "time_utc": "t"}, ["fc", "conv"])
    assert len(seen) == 1 and [c["contender"] for c in cells.values()] == ["dim-l-cross+cos",
                                                                            "dim-l-cross+cos@conv"]
    assert cells["conv"]["layer"] == "conv"  # one training, probed on each layer
    cell = cells["fc"]
    assert seen == [("dim-l-cross", 10.0, {"data": "toy", "seed": 1, "val_fraction": 0.0,
                                           "lr_schedule": "cosine"})]
    assert cell["contender"] == "dim-l-cross+cos" and cell["overrides"] == {"lr_schedule": "cosine"}
    assert cell["scored_on"].startswith("val")


def test_a_variant_is_not_skipped_for_its_presets_cell_and_lands_in_its_own(
        br: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cells(tmp_path, br, "toy", 1.0, "dim-l-cross", [0.7])  # the plain preset's seed-0 cell exists
    ran = []

    def run_cell(args, data, minutes, contender, seed, *rest):  # noqa: ANN001, ANN002, ANN202
        ran.append((contender, seed, args.overrides))
        return {layer: {"data": data, "minutes": minutes, "seed": seed, "linear": 0.75, "knn": 0.7,
                        "steps": 9, "contender": br.cell_name(contender, args.tag, layer), "layer": layer}
                for layer in rest[-1]}

    monkeypatch.setattr(br, "select_splits", lambda data: "splits")
    monkeypatch.setattr(br.common, "eval_splits", lambda *a: "psplits")
    monkeypatch.setattr(br, "calibrate", lambda splits, threads: {"ms_per_step_median": 1.0, "time_utc": "t"})
    monkeypatch.setattr(br, "run_cell", run_cell)
    argv = ["--select", "--datasets", "toy", "--minutes", "1", "--contenders", "dim-l-cross", "--seeds", "0",
            "--threads", "1", "--set", "lr=2e-3", "--tag", "v", "--out", str(tmp_path)]
    assert br.main(argv) == 0
    assert ran == [("dim-l-cross", 0, {"lr": "2e-3"})]
    assert json.loads(br.cell_path(tmp_path, "toy", 1.0, "dim-l-cross+v", 0).read_text())["linear"] == 0.75
    assert json.loads(br.cell_path(tmp_path, "toy", 1.0, "dim-l-cross", 0).read_text())["linear"] == 0.7
    assert br.main(argv) == 0 and len(ran) == 1  # and resumes: the variant's own cell is now there


def test_a_new_layer_probes_only_the_missing_cells_and_then_resumes(
        br: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cells(tmp_path, br, "toy", 1.0, "dim-l-cross", [0.7])  # the fc cell of seed 0 exists
    asked = []

    def run_cell(args, data, minutes, contender, seed, *rest):  # noqa: ANN001, ANN002, ANN202
        asked.append(list(rest[-1]))
        return {layer: {"data": data, "minutes": minutes, "contender": br.cell_name(contender, None, layer),
                        "seed": seed, "linear": 0.8, "knn": 0.7, "steps": 9, "layer": layer}
                for layer in rest[-1]}

    monkeypatch.setattr(br.common, "load_splits", lambda *a, **k: "splits")
    monkeypatch.setattr(br.common, "eval_splits", lambda *a: "psplits")
    monkeypatch.setattr(br, "calibrate", lambda splits, threads: {"ms_per_step_median": 1.0, "time_utc": "t"})
    monkeypatch.setattr(br, "run_cell", run_cell)
    argv = ["--datasets", "toy", "--minutes", "1", "--contenders", "dim-l-cross", "--seeds", "0",
            "--threads", "1", "--layers", "fc", "conv", "--out", str(tmp_path)]
    assert br.main(argv) == 0
    assert asked == [["conv"]]  # the fc cell is kept, only conv is probed
    assert json.loads(br.cell_path(tmp_path, "toy", 1.0, "dim-l-cross@conv", 0).read_text())["linear"] == 0.8
    assert json.loads(br.cell_path(tmp_path, "toy", 1.0, "dim-l-cross", 0).read_text())["linear"] == 0.7
    assert br.main(argv) == 0 and asked == [["conv"]]  # both cells there: nothing runs
