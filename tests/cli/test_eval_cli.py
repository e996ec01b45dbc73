"""`infomax eval`, in-process, on a toy run (stand-in protocols; one test with the real linear protocol)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infomax.cli import main
from infomax.config import TrainConfig


@pytest.fixture
def run_dir(toy, tmp_path):
    from infomax.engine.fit import build_method
    from infomax.experiment import run_experiment

    splits, cfg = toy.toy_splits(), toy.Config()
    run_experiment(build_method("toy", cfg, splits.info, 0), splits, TrainConfig(max_epochs=1, batch_size=16),
        tmp_path / "run", "toy", cfg, baselines=False, progress=False)
    return tmp_path / "run"


@pytest.fixture
def protocols(toy, monkeypatch):
    table = {"linear": toy.centroid_protocol,
             "double": lambda run, splits, layer, **kw: {"accuracy": 0.5, "layer": layer, "n": 2}}
    monkeypatch.setattr("infomax.cli.eval.protocols", lambda: table)
    return table


def test_eval_json_all_layers_written_to_metrics(run_dir, protocols, toy, capsys):
    assert main(["eval", str(run_dir), "--protocol", "linear", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"eval/linear/conv", "eval/linear/y"}
    from infomax.run import load_run

    expected = toy.centroid_protocol(load_run(run_dir), toy.toy_splits(), "y")
    assert res["eval/linear/y"] == expected
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["eval/linear/y"] == expected and "final" in metrics  # merged, nothing lost
    assert "eval/linear/conv" in (run_dir / "report.md").read_text()


def test_eval_one_layer_prints_a_table(run_dir, protocols, capsys):
    assert main(["eval", str(run_dir), "--protocol", "double", "--layer", "y"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "protocol: double"  # one row per number, one column per layer
    assert [line.split() for line in lines[1:]] == [["metric", "y"], ["accuracy", "0.5000"], ["n", "2"]]
    assert "eval/double/conv" not in json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.parametrize("argv, match", [
    (["--protocol", "nope"], "unknown protocol 'nope'; choose one of: linear, double"),
    (["--layer", "fc"], "unknown layer 'fc'; this encoder has: conv, y"),
    (["--threads", "0"], "--threads must be >= 1, got 0"),
], ids=["protocol", "layer", "threads"])
def test_eval_user_errors(run_dir, protocols, capsys, argv, match):
    assert main(["eval", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_eval_of_a_directory_that_is_not_a_run(tmp_path, protocols, capsys):
    assert main(["eval", str(tmp_path), "--protocol", "linear"]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_eval_with_the_real_linear_protocol(toy, run_dir, capsys):
    from infomax.evaluation.protocols import PROTOCOLS
    from infomax.run import load_run

    assert main(["eval", str(run_dir), "--protocol", "linear", "--layer", "y", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["eval/linear/y"]
    assert res["layer"] == "y" and res["n_test"] == 40
    # the CLI reports exactly what the library protocol gives on the saved run and the same splits
    want = PROTOCOLS["linear"](load_run(run_dir), toy.toy_splits(), "y")
    assert res["accuracy"] == want["accuracy"] and res["C"] == want["C"]
    # 40 test images of 4 classes (chance 0.25): measured 1.0
    acc = res["accuracy"]
    assert acc * 40 == pytest.approx(round(acc * 40), abs=1e-9) and acc >= 0.85


def test_eval_max_train_fits_on_the_stratified_sample_and_passes_cs(run_dir, toy, monkeypatch, capsys):
    seen = []

    def recording(run, splits, layer, **kw):
        seen.append((len(splits.train.labels), len(splits.val.labels), len(splits.test.labels), kw.get("Cs")))
        return {"accuracy": 1.0, "n_train": len(splits.train.labels)}

    monkeypatch.setattr("infomax.cli.eval.protocols", lambda: {"linear": recording})
    assert main(["eval", str(run_dir), "--protocol", "linear", "--layer", "y", "--json"]) == 0
    assert main(["eval", str(run_dir), "--protocol", "linear", "--layer", "y", "--max-train", "40",
                 "--cs", "0.1,1", "--json"]) == 0
    assert seen == [(96, 20, 40, None), (40, 20, 40, (0.1, 1.0))]  # by default the whole train split
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["eval/linear/y"]["n_train"] == 40


@pytest.mark.parametrize("argv, match", [
    (["--max-train", "3"], "--max-train must be >= 10"),
    (["--cs", "0.1,-1"], "--cs must be one or more positive numbers"),
    (["--cs", "abc"], "bad value 'abc' for '--cs'"),
    (["--cs", "0.1", "--protocol", "double"], "--cs applies to the linear protocol only"),
    (["--n-way", "5"], "--n-way/--k-shot apply to the fewshot protocol only"),
    (["--k-shot", "2"], "--n-way/--k-shot apply to the fewshot protocol only"),
    (["--rule", "codeword"], "--rule applies to the fewshot protocol only"),
], ids=["max-train", "cs-negative", "cs-text", "cs-not-linear", "n-way-not-fewshot", "k-shot-not-fewshot",
        "rule-not-fewshot"])
def test_eval_cap_option_errors(run_dir, protocols, capsys, argv, match):
    assert main(["eval", str(run_dir), "--protocol", "linear", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_eval_text_prints_nested_values_as_json_does(run_dir, toy, monkeypatch, capsys):
    # the fine-tuning protocol's shape: accuracies per label fraction in a dict (once missing from the text)
    def finetune_like(run, splits, layer, **kw):
        return {"protocol": "finetune", "accuracy": {"1%": 0.3125, "10%": 0.8750}, "n_labelled": {"1%": 1,
                "10%": 10}, "layer": layer, "per_seed": [0.5, 0.25], "warning": "a note"}

    monkeypatch.setattr("infomax.cli.eval.protocols", lambda: {"finetune": finetune_like})
    assert main(["eval", str(run_dir), "--protocol", "finetune", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["eval/finetune/y"]["accuracy"] == {"1%": 0.3125, "10%": 0.875}
    assert main(["eval", str(run_dir), "--protocol", "finetune"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:] if "(" not in line}
    assert rows["metric"] == ["conv", "y"]
    assert rows["accuracy/1%"] == ["0.3125", "0.3125"] and rows["accuracy/10%"] == ["0.8750", "0.8750"]
    assert rows["n_labelled/10%"] == ["10", "10"] and rows["per_seed"] == ["0.5000,0.2500"] * 2
    assert lines[-2:] == ["warning (conv): a note", "warning (y): a note"]


def test_eval_progress_goes_to_stderr_only_when_asked(run_dir, protocols, monkeypatch, capsys):
    monkeypatch.setenv("INFOMAX_PROGRESS", "1")  # as on a terminal
    assert main(["eval", str(run_dir), "--protocol", "double", "--layer", "y", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"eval/double/y": {"accuracy": 0.5, "layer": "y", "n": 2}}  # stdout: JSON only
    assert "eval double on y of" in err and "[1/1] double y: accuracy 0.5000" in err
    argv = ["eval", str(run_dir), "--protocol", "double", "--layer", "y", "--json", "--no-progress"]
    assert main(argv) == 0
    assert capsys.readouterr().err == ""


EVAL_TESTS = Path(__file__).parents[1] / "evaluation"


def _helpers(name: str):
    """A helper module of tests/evaluation, loaded from its file under a private name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_eval_helpers_{name}", EVAL_TESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Quick settings of each real protocol (the stand-ins of tests/evaluation: 8x8 band images).
FAST = {
    "linear": {}, "svm": {}, "knn": {}, "mlp": {"epochs": 3},
    "mine": {"seeds": (0, 1), "steps": 20, "hidden": 8, "batch_size": 32},
    "ndm": {"seeds": (0,), "steps": 20, "hidden": 8},
    "msssim": {"epochs": 1}, "finetune": {"steps": 3, "fractions": (0.1, 0.5)}, "neighbours": {},
    "fewshot": {"n_way": 4, "n_episodes": 20, "n_query": 2}, "retrieval": {"ks": (1, 3)},
}


def _leaves(value, name=""):
    """(flattened name, value) of every number or text in a JSON result; lists of lists are left out."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{name}/{k}" if name else k)
    elif not (isinstance(value, list) and any(isinstance(x, (list, dict)) for x in value)):
        yield name, value


@pytest.mark.parametrize("name", list(FAST))
def test_eval_text_has_every_value_json_has(name):
    from infomax.cli.eval import NOTES, format_table, format_value
    from infomax.evaluation import PROTOCOLS

    assert set(FAST) == set(PROTOCOLS)  # every protocol is covered
    if name in ("fewshot", "retrieval"):
        fs = _helpers("test_fewshot_protocols")
        obj, splits, layers = fs.dimco_run(True), fs.splits_of(), (None,)
    else:
        ev = _helpers("conftest")
        torch = pytest.importorskip("torch")
        torch.manual_seed(0)
        obj, splits = ev.PixelEncoder(), ev.make_splits(n_train=96, n_val=24, n_test=40)
        layers = ("pixels", "y")
    results = {}
    for layer in layers:
        r = PROTOCOLS[name](obj, splits, layer, **FAST[name])
        results[f"eval/{name}/{r.get('layer', layer)}"] = r
    results = json.loads(json.dumps(results))  # exactly what --json prints
    lines = format_table(results)
    assert lines[0] == f"protocol: {name}"
    header, *body = (line.split() for line in lines[1:] if not line.startswith(NOTES))
    assert header == ["metric", *(key.split("/", 2)[2] for key in results)]
    rows = {row[0]: row[1:] for row in body}
    n_checked = 0
    for col, r in enumerate(results.values()):
        for leaf, value in _leaves(r):
            if leaf in ("protocol", "layer"):
                continue
            if leaf in NOTES:
                assert f"{leaf} ({r['layer']}): {value}" in lines
            else:
                assert rows[leaf][col] == format_value(value), leaf
            n_checked += 1
    assert n_checked >= 3 * len(results)
    if name == "finetune":  # the accuracies per label fraction, once missing from the text
        for col, r in enumerate(results.values()):
            assert rows["accuracy/10%"][col] == f"{r['accuracy']['10%']:.4f}"
            assert rows["accuracy/50%"][col] == f"{r['accuracy']['50%']:.4f}"


def test_eval_on_holdout_reads_the_training_items_of_the_held_out_classes(run_dir, toy, monkeypatch, capsys):
    seen = []

    def recording(run, splits, layer, **kw):
        seen.append(sorted(splits.test.labels.tolist()))
        return {"accuracy": 1.0}

    monkeypatch.setattr("infomax.cli.eval.protocols", lambda: {"fewshot": recording, "linear": recording})
    argv = ["eval", str(run_dir), "--protocol", "fewshot", "--layer", "y", "--on", "holdout", "--json"]
    assert main(argv) == 2  # the toy run held nothing out
    assert "held no classes out of training" in capsys.readouterr().err
    monkeypatch.setattr("infomax.evaluation.fewshot_protocols._holdout", lambda run: {1, 3})
    assert main(argv) == 0
    splits = toy.toy_splits()
    expected = sorted(int(c) for p in (splits.train, splits.val) for c in p.labels if c in (1, 3))
    assert seen == [expected] and len(expected) > 0
    assert "eval/fewshot-5w1s-holdout/y" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["eval", str(run_dir), "--protocol", "linear", "--on", "holdout"]) == 2
    assert "--on holdout applies to the fewshot and retrieval protocols only" in capsys.readouterr().err
