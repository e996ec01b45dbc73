"""report.md and plots: logs merged over resumed versions, accuracy table, PNGs."""

from __future__ import annotations

import json

from infomax.report import accuracy_table, evaluation_tables, read_logs, write_report


def _csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ["epoch", "loss", "mi/infonce", "step"]
    lines = [",".join(keys)] + [",".join("" if r.get(k) is None else str(r[k]) for k in keys) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def _run(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "method": "dim", "preset": "dim-l",
        "train": {"data": "digits", "batch_size": 64, "lr": 1e-3, "seed": 0, "max_epochs": 2,
                  "max_minutes": None},
        "method_config": {"beta": 1.0}, "data_info": {"image_size": 8, "num_classes": 10}}))
    _csv(tmp_path / "logs/version_0/metrics.csv",
         [{"epoch": 0, "loss": 3.0, "step": 1}, {"epoch": 0, "loss": 2.0, "step": 2},
          {"epoch": 1, "loss": 9.0, "step": 3}])  # killed after step 3; resumed from step 2
    _csv(tmp_path / "logs/version_1/metrics.csv",
         [{"epoch": 1, "loss": 1.5, "mi/infonce": 0.7, "step": 3}, {"epoch": 1, "loss": 1.0, "step": 4}])
    (tmp_path / "metrics.json").write_text(json.dumps({
        "train": {"epochs_completed": 2, "steps": 4, "elapsed_s": 3.2, "stopped_by": "max_epochs"},
        "final": {"protocol": "linear", "split": "test",
                  "accuracy": {"conv": {"trained": 0.9, "random": 0.8, "supervised": 0.95},
                               "y": {"trained": 0.85, "random": 0.6}}},
        "eval/knn/y": {"accuracy": 0.8125, "layer": "y"}}))


def test_read_logs_merges_versions_later_wins(tmp_path):
    _run(tmp_path)
    logs = read_logs(tmp_path)
    assert logs["loss"] == [(1, 3.0), (2, 2.0), (3, 1.5), (4, 1.0)]
    assert logs["mi/infonce"] == [(3, 0.7)]


def test_accuracy_table():
    rows = accuracy_table({"fc": {"trained": 0.5, "random": 0.25}, "y": {"trained": 0.125}})
    assert rows == ["| layer | trained | random |", "|---|---|---|", "| fc | 50.00 | 25.00 |",
                    "| y | 12.50 | - |"]


def test_write_report(tmp_path):
    _run(tmp_path)
    path = write_report(tmp_path)
    text = path.read_text()
    assert "# infomax run: dim-l" in text and "stopped by max_epochs" in text
    assert "| conv | 90.00 | 80.00 | 95.00 |" in text and "| y | 85.00 | 60.00 | - |" in text
    assert "| eval/knn/y | accuracy=0.8125, layer=y |" in text
    for png in ("plots/loss.png", "plots/probe.png"):
        assert f"({png})" in text
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_states_the_final_probe_sample_and_plots_the_online_probe(tmp_path):
    _run(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    metrics["final"].update({"n_train": 10000, "n_train_available": 45000, "n_val": 5000, "n_test": 10000,
                             "cs": [0.01, 0.1]})
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["train"].update({"probe_every": 1, "probe_samples": 2000, "adam_beta1": 0.8, "adam_beta2": 0.999})
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "logs/version_2").mkdir()
    (tmp_path / "logs/version_2/metrics.csv").write_text("\n".join([
        "epoch,step,probe/linear_acc/conv,probe/linear_acc/y", "0,0,0.5,0.25", "1,4,0.75,0.5"]) + "\n")
    logs = read_logs(tmp_path)
    assert logs["probe/linear_acc/conv"] == [(0, 0.5), (4, 0.75)]
    assert logs["probe/linear_acc/y"] == [(0, 0.25), (4, 0.5)]
    text = write_report(tmp_path).read_text()
    assert ("fit on 10000 of 45000 train images (stratified sample, fixed seed), C in {0.01, 0.1} chosen on "
            "5000 val images, scored on 10000 test images.") in text
    assert "Adam betas (0.8, 0.999)" in text and "Online linear probe every 1 epochs (up to 2000" in text
    assert (tmp_path / "plots/online_probe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nested_results_are_rendered_as_sub_tables(tmp_path):
    """The finetune protocol's dicts of accuracies (and lists such as NDM's per-seed values) are shown."""
    _run(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    metrics["eval/finetune/y"] = {"protocol": "finetune", "accuracy": {"1%": 0.5, "10%": 0.8125},
                                  "n_labelled": {"1%": 12, "10%": 120}, "layer": "y", "steps": 500}
    metrics["eval/ndm/y"] = {"ndm": 0.25, "ndm_per_seed": [0.125, 0.375]}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    lines = write_report(tmp_path).read_text().splitlines()
    assert "| eval/finetune/y | protocol=finetune, layer=y, steps=500 |" in lines
    assert "| eval/ndm/y | ndm=0.25, ndm_per_seed=[0.125, 0.375] |" in lines
    i = lines.index("#### eval/finetune/y")
    assert lines[i + 2:i + 6] == ["| | 1% | 10% |", "|---|---|---|", "| accuracy | 0.5 | 0.8125 |",
                                  "| n_labelled | 12 | 120 |"]


def test_evaluation_tables_fill_missing_cells_and_keep_deeper_levels_inline():
    rows = evaluation_tables({"eval/x/y": {"a": {"p": 1, "q": {"deep": 0.5}}, "b": {"r": None}}})
    assert rows == ["| key | result |", "|---|---|", "| eval/x/y | (below) |", "",
                    "#### eval/x/y", "", "| | p | q | r |", "|---|---|---|---|",
                    "| a | 1 | {deep: 0.5} | - |", "| b | - | - | - |", ""]


def test_report_states_the_final_evaluation_time_and_that_the_budget_excludes_it(tmp_path):
    _run(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    metrics["train"]["stopped_by"] = "max_minutes"
    metrics["final_evaluation"] = {"seconds": 75.25, "probes_seconds": 15.0, "baselines_seconds": 60.25}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    text = write_report(tmp_path).read_text()
    assert ("The final evaluation took 75.2 s after training (supervised baseline 60.2 s, probes 15.0 s). "
            "The wall-clock budget (max_minutes) covers training; the final evaluation has its own.") in text
