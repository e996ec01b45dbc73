"""``benchmarks/dimco/bench_index.py --run RUN`` (real mode) on a small trained run, checked by numpy."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss")

TOPK = 10


@pytest.fixture(scope="module")
def dimco_digits_run(tmp_path_factory) -> Path:
    """The dimco-fashion preset on scikit-learn's digits (no download), 2 epochs: a run with real codes."""
    from infomax.config import TrainConfig, apply_overrides
    from infomax.data.datasets import load_dataset
    from infomax.engine.fit import build_method, fit
    from infomax.methods.dimco import PRESETS, Config

    train, cfg = TrainConfig(method="dimco"), Config()
    apply_overrides(train, cfg, PRESETS["dimco-fashion"].overrides)
    apply_overrides(train, cfg, {"data": "digits", "max_epochs": 2})
    splits = load_dataset(train.data)
    run_dir = tmp_path_factory.mktemp("bench-index") / "run"
    fit(build_method("dimco", cfg, splits.info, 0), splits, train, run_dir, "dimco", cfg, progress=False)
    return run_dir


def _top(scores: np.ndarray, own: int) -> list[int]:
    """Ids of the TOPK highest scores (ties: lower id first), the query's own item left out."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(i) for i in order if i != own][:TOPK]


def test_real_mode_rows_match_a_numpy_search_of_the_same_codes_and_features(
    dimco_digits_run, bench_script, monkeypatch, tmp_path
) -> None:
    from infomax.dimco.codes import code_bytes
    from infomax.evaluation.features import extract_features
    from infomax.experiment import load_splits
    from infomax.run import load_run, train_config_from

    bench = bench_script("dimco", "bench_index")
    argv = ["bench_index.py", "--run", str(dimco_digits_run), "--queries", "40", "--repeats", "1",
            "--topk", str(TOPK), "--out", str(tmp_path), "--seed", "3"]
    monkeypatch.setattr(sys, "argv", argv)
    bench.main()
    with open(tmp_path / "index-real.csv", newline="") as f:
        found = list(csv.DictReader(f))
    kinds = ("IndexFlatIP", "CodeIndex", "IndexPQFastScan", "IndexBinaryFlat")
    rows = {kind: r for kind in kinds for r in found if kind in r["index"]}
    assert len(found) == len(rows) == 4
    md = (tmp_path / "index-real.md").read_text()
    assert (tmp_path / "index-real.png").stat().st_size > 0

    # the same database and queries, searched here by hand
    run = load_run(dimco_digits_run)
    enc = run.method.encoder
    splits = load_splits(train_config_from(run.config))
    parts = [splits.train, splits.val, splits.test]
    images = np.concatenate([np.asarray(p.images) for p in parts])
    offset = int(max(np.max(p.labels) for p in parts[:2])) + 1
    labels = np.concatenate([parts[0].labels, parts[1].labels, np.asarray(parts[2].labels) + offset])
    n = len(images)
    qids = np.sort(np.random.default_rng(3).choice(n, 40, replace=False))
    lp = extract_features(enc, images, "logprobs").reshape(n, int(enc.d), int(enc.k)).astype(np.float64)
    codes = lp.argmax(-1)  # (n, d)
    feats = extract_features(enc, images, enc.feature_layer).astype(np.float64)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True) + 1e-12
    code_top, float_top = [], []
    for q in qids:
        code_top.append(_top(lp[q][np.arange(codes.shape[1]), codes].sum(1), q))  # log p(code | query)
        float_top.append(_top(feats @ feats[q], q))
    code_top, float_top = np.array(code_top), np.array(float_top)

    def recall(ids: np.ndarray, k: int) -> float:
        return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(ids, float_top)]))

    same = labels[code_top] == labels[qids, None]
    codes_row, float_row = rows["CodeIndex"], rows["IndexFlatIP"]
    assert float(codes_row["precision@10"]) == pytest.approx(round(float(same.mean()), 4), abs=1e-9)
    assert float(codes_row["precision@1"]) == pytest.approx(round(float(same[:, 0].mean()), 4), abs=1e-9)
    # faiss's float32 inner products may order near-ties differently from float64: one swap in 400
    assert float(codes_row["recall@10"]) == pytest.approx(recall(code_top, TOPK), abs=0.01)
    assert float(float_row["recall@10"]) == 1.0 and float(float_row["label_recall@10"]) == 1.0
    float_same = labels[float_top] == labels[qids, None]
    assert float(float_row["precision@10"]) == pytest.approx(float(float_same.mean()), abs=0.01)
    # the comparators get the codes' packed size, and the code index answered as the brute-force backend
    nbytes = code_bytes(int(enc.d), int(enc.k))
    for kind in ("IndexPQFastScan", "IndexBinaryFlat"):
        assert float(rows[kind]["bytes_per_item"]) == nbytes, kind
    assert float(float_row["bytes_per_item"]) == 4 * feats.shape[1]
    assert "identical to the brute-force backend (ids and scores) on the first 40 queries: True" in md
    assert f"N={n:,} items" in md
