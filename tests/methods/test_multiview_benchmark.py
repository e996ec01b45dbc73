"""benchmarks/multiview: the study's downstream probe (MinMax + multinomial logistic regression, C = 1)
and a tiny end-to-end run of run_grid.py on stand-in 28x28 data (every part, any --data name)."""

from __future__ import annotations

import csv
import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "multiview"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("probe", "run_grid", "report"):
        sys.modules.pop(name, None)
    mods = SimpleNamespace(**{n: importlib.import_module(n) for n in ("probe", "run_grid", "report")})
    yield mods
    for name in ("probe", "run_grid", "report"):
        sys.modules.pop(name, None)


def test_minmax_uses_the_train_range(bench: SimpleNamespace) -> None:
    train = torch.tensor([[0.0, 2.0, 5.0], [4.0, 6.0, 5.0]])
    test = torch.tensor([[2.0, 10.0, 7.0]])
    tr, te = bench.probe.minmax(train, test)
    torch.testing.assert_close(tr, torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))
    torch.testing.assert_close(te, torch.tensor([[0.5, 2.0, 2.0]]))  # constant column: shifted, not scaled


def test_probe_matches_sklearn_logistic_regression(bench: SimpleNamespace) -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(5, 12, generator=g)
    y_tr, y_te = torch.randint(0, 5, (600,), generator=g), torch.randint(0, 5, (400,), generator=g)
    x_tr = centres[y_tr] + 4 * torch.randn(600, 12, generator=g)
    x_te = centres[y_te] + 4 * torch.randn(400, 12, generator=g)
    acc = bench.probe.logreg_accuracy(x_tr, y_tr, x_te, y_te)
    s_tr, s_te = bench.probe.minmax(x_tr, x_te)
    ref = sklearn.LogisticRegression(C=1.0, max_iter=2000).fit(s_tr.double().numpy(), y_tr.numpy())
    ref_acc = float((ref.predict(s_te.double().numpy()) == y_te.numpy()).mean())
    assert 0.4 < ref_acc < 0.99  # neither trivial nor separable
    assert abs(acc - ref_acc) <= 0.005, (acc, ref_acc)


def test_run_grid_end_to_end_on_a_tiny_stand_in(
    bench: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)

    def fake_split(name: str, split: str, root: object = None) -> SimpleNamespace:
        assert name == "fashion-mnist"
        n = 96 if split == "train" else 48
        return SimpleNamespace(
            images=rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8),
            labels=rng.integers(0, 10, n).astype(np.int64),
        )

    monkeypatch.setattr(bench.run_grid, "load_split", fake_split)
    out = tmp_path / "res"
    rc = bench.run_grid.main([
        "--data", "fashion-mnist", "--out", str(out / "all"), "--parts", "grid,conv,target,realnvp",
        "--seeds", "1", "--steps", "2", "--conv-steps", "1", "--flow-steps", "1", "--flow-layers", "2",
        "--flow-hidden", "16", "--eval-every", "1", "--probe-train", "0", "--batch-size", "8",
    ])  # fmt: skip
    assert rc == 0
    with open(out / "all" / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["dataset"] for r in rows} == {"fashion-mnist"}
    runs = {
        (r["experiment"], r["encoder"], r["critic"], r["bound"], r["target_mi"], r["adversary_weight"])
        for r in rows
        if r["metric"] == "seconds"
    }
    assert len(runs) == 6 + 2 + 4 + 2  # MLP grid, ConvNet bilinear x 2 bounds, target t x enc, realnvp x 2
    assert {r["metric"] for r in rows} >= {"probe_acc", "bound_test", "bound_train", "adversary_acc"}
    assert all(np.isfinite(float(r["value"])) for r in rows)
    with pytest.raises(SystemExit):  # only the two 28x28 grayscale datasets
        bench.run_grid.main(["--data", "cifar10", "--out", str(tmp_path / "x")])
    assert bench.report.main(str(out)) == 0
    text = (out / "report.md").read_text()
    assert text.startswith("# Multi-view Fashion-MNIST study") and "## Claims" in text
    assert {p.name for p in (out / "plots").iterdir()} == {
        "critics_mlp.png",
        "critics_convnet.png",
        "target_mi.png",
        "realnvp.png",
    }
