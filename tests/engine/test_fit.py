"""fit(): bit-identical resume (epoch boundary, killed mid-epoch, budget stop), divergence, run-dir rules."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from infomax.config import TrainConfig
from infomax.engine.checkpoint import load_checkpoint
from infomax.engine.fit import TrainingDiverged, build_method, fit
from infomax.errors import UserError
from infomax.experiment import run_experiment

TOY_DIR = Path(__file__).parent


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    return importlib.import_module("engine_toy").register(monkeypatch)


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"max_epochs": 2, "batch_size": 16, "seed": 3, **kw})


def _train(toy, run_dir, train_cfg, resume=False, method_cfg=None, **kw):
    splits = toy.toy_splits()
    method_cfg = method_cfg or toy.Config()
    method = build_method("toy", method_cfg, splits.info, train_cfg.seed)
    return fit(method, splits, train_cfg, run_dir, "toy", method_cfg, resume=resume, progress=False, **kw)


def _assert_same_run(a: Path, b: Path) -> None:
    """Same exported weights, and same optimiser states in the last checkpoints, bit for bit."""
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    ca, cb = load_checkpoint(a / "checkpoints/last.pt"), load_checkpoint(b / "checkpoints/last.pt")
    assert (ca["epoch"], ca["step"], ca["batch"]) == (cb["epoch"], cb["step"], cb["batch"])
    for g in ca["optimizers"]:
        for pid, st in ca["optimizers"][g]["state"].items():
            for k, v in st.items():
                assert torch.equal(v, cb["optimizers"][g]["state"][pid][k]), (g, pid, k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 2-epoch run (6 steps per epoch)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(TOY_DIR))
        toy = importlib.import_module("engine_toy").register(mp)
        run_dir = tmp_path_factory.mktemp("ref") / "run"
        metrics = _train(toy, run_dir, _cfg())
    return run_dir, metrics


def test_uninterrupted_run_writes_the_run_directory(reference):
    run_dir, metrics = reference
    elapsed = metrics["train"]["elapsed_s"]
    assert elapsed > 0 and metrics["train"] == {
        "epochs_completed": 2, "steps": 12, "elapsed_s": elapsed, "stopped_by": "max_epochs", "max_epochs": 2,
        "max_minutes": None}
    for name in ("config.json", "metrics.json", "model.safetensors", "encoder.safetensors",
                 "checkpoints/last.pt", "logs/version_0/metrics.csv"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "logs/version_0").glob("events.out.tfevents.*"))  # TensorBoard
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["method"] == "toy" and cfg["train"]["seed"] == 3 and cfg["data_info"]["image_size"] == 8
    # the checkpoint is plain tensors: weights_only loading works (load_checkpoint uses it)
    ckpt = torch.load(run_dir / "checkpoints/last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["batch"] == 0 and ckpt["stopped_by"] is None


def test_resume_at_an_epoch_boundary_gives_identical_weights(toy, reference, tmp_path):
    run = tmp_path / "run"
    assert _train(toy, run, _cfg(max_epochs=1))["train"]["epochs_completed"] == 1
    metrics = _train(toy, run, _cfg(max_epochs=2), resume=True)
    assert metrics["train"]["epochs_completed"] == 2 and metrics["train"]["steps"] == 12
    _assert_same_run(reference[0], run)
    assert (run / "logs/version_1/metrics.csv").is_file()  # the resumed part logs as a new version


class _Killed(Exception):
    pass


def _train_until_killed(toy, run: Path, cfg: TrainConfig, monkeypatch, at_call: int = 9) -> None:
    """Train until forward call ``at_call`` (9: the third step of epoch 2) raises, as if the process died."""
    forward, calls = toy.Toy.forward, {"n": 0}

    def dying_forward(self, batch):
        calls["n"] += 1
        if calls["n"] == at_call:  # nothing more is written
            raise _Killed
        return forward(self, batch)

    monkeypatch.setattr(toy.Toy, "forward", dying_forward)
    with pytest.raises(_Killed):
        _train(toy, run, cfg)
    monkeypatch.setattr(toy.Toy, "forward", forward)


def test_kill_in_the_middle_of_an_epoch_then_resume_gives_identical_weights(toy, reference, tmp_path,
                                                                             monkeypatch):
    run = tmp_path / "run"
    _train_until_killed(toy, run, _cfg(), monkeypatch)
    assert load_checkpoint(run / "checkpoints/last.pt")["epoch"] == 1  # restarts epoch 2 from here
    assert not (run / "model.safetensors").exists()
    _train(toy, run, _cfg(), resume=True)
    _assert_same_run(reference[0], run)


def test_budget_stops_after_the_step_and_resume_continues_mid_epoch(toy, reference, tmp_path):
    run = tmp_path / "run"
    metrics = _train(toy, run, _cfg(max_minutes=1e-9))  # the budget is spent after the first step
    assert metrics["train"]["stopped_by"] == "max_minutes" and metrics["train"]["steps"] == 1
    ckpt = load_checkpoint(run / "checkpoints/last.pt")
    assert (ckpt["epoch"], ckpt["batch"], ckpt["stopped_by"]) == (0, 1, "max_minutes")
    assert (run / "model.safetensors").is_file()
    metrics = _train(toy, run, _cfg(max_minutes=None), resume=True)  # lift the budget: finish the run
    assert metrics["train"]["stopped_by"] == "max_epochs"
    _assert_same_run(reference[0], run)


def test_resuming_a_finished_run_changes_nothing(toy, reference, tmp_path):
    run = tmp_path / "run"
    _train(toy, run, _cfg(max_epochs=1))
    before = (run / "checkpoints/last.pt").read_bytes()
    assert _train(toy, run, _cfg(max_epochs=1), resume=True)["train"]["steps"] == 6
    assert (run / "checkpoints/last.pt").read_bytes() == before


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_the_good_checkpoint(toy, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as e:
        _train(toy, run, _cfg(), method_cfg=toy.Config(nan_at_call=8))  # step 2 of epoch 2
    msg = str(e.value)
    assert "\n" not in msg and "nan" in msg and "epoch 2, step 8" in msg
    assert str(run / "checkpoints" / "last.pt") in msg and "(epoch 1)" in msg
    assert "JSD" in msg and "SMILE" in msg and "lr" in msg
    ckpt = load_checkpoint(run / "checkpoints/last.pt")
    assert ckpt["epoch"] == 1
    assert all(bool(torch.isfinite(v).all()) for v in ckpt["method"].values() if v.is_floating_point())
    assert not (run / "model.safetensors").exists()


def test_non_finite_weights_are_never_checkpointed(toy, tmp_path, monkeypatch):
    def poison(self):  # the weights go NaN while the loss stays finite (the step's loss is computed before)
        if self.calls == 6:
            with torch.no_grad():
                self.w.weight.fill_(float("nan"))

    monkeypatch.setattr(toy.Toy, "on_after_optimizer_step", poison)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="non-finite weights"):
        _train(toy, run, _cfg())
    ckpt = load_checkpoint(run / "checkpoints/last.pt")
    assert ckpt["epoch"] == 0 and bool(torch.isfinite(ckpt["method"]["w.weight"]).all())


def test_existing_run_dir_is_never_overwritten(toy, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists and is not empty"):
        _train(toy, run, _cfg())
    assert [p.name for p in run.iterdir()] == ["notes.txt"] and (run / "notes.txt").read_text() == "mine"


def test_resume_of_a_directory_that_is_not_a_run(toy, tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(UserError, match="not a run directory"):
        _train(toy, tmp_path / "x", _cfg(), resume=True)
    with pytest.raises(UserError, match="does not exist"):
        _train(toy, tmp_path / "missing", _cfg(), resume=True)


@pytest.mark.parametrize("change", [{"train": {"lr": 1e-2}}, {"method": {"y_dim": 4}}])
def test_resume_refuses_changed_settings(toy, tmp_path, change):
    run = tmp_path / "run"
    _train(toy, run, _cfg(max_epochs=1))
    cfg = _cfg(**change.get("train", {}))
    with pytest.raises(UserError, match="resum"):
        _train(toy, run, cfg, resume=True, method_cfg=toy.Config(**change.get("method", {})))


def _logged(run: Path, key: str) -> dict[int, float]:
    """``{step: value}`` of a scalar in the run's first CSV log."""
    import csv

    with open(run / "logs/version_0/metrics.csv") as f:
        return {int(r["step"]): float(r[key]) for r in csv.DictReader(f) if r.get(key)}


def _cos(p: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * p))


@pytest.mark.parametrize("adversary", [False, True], ids=["one-group", "two-groups"])
def test_cosine_schedule_sets_every_groups_rate_from_the_step(toy, tmp_path, adversary):
    """12 steps: step k (0-based) runs at lr * cos-factor(k / 12), logged at step k + 1 (every step here)."""
    run = tmp_path / "run"
    _train(toy, run, _cfg(lr_schedule="cosine"), method_cfg=toy.Config(adversary=adversary))
    logged = _logged(run, "lr")
    assert sorted(logged) == list(range(1, 13))
    for step, lr in logged.items():
        assert lr == pytest.approx(1e-3 * _cos((step - 1) / 12), rel=1e-6), step
    ckpt = load_checkpoint(run / "checkpoints/last.pt")  # the rate the last step used
    bases = {"main": 1e-3, "adv": 0.5e-3} if adversary else {"main": 1e-3}
    assert set(ckpt["optimizers"]) == set(bases)
    for g, base in bases.items():
        last_lr = ckpt["optimizers"][g]["param_groups"][0]["lr"]
        assert last_lr == pytest.approx(base * _cos(11 / 12), rel=1e-12), g


def test_cosine_schedule_over_a_budget_follows_the_clock(toy, tmp_path, monkeypatch):
    """With max_minutes, progress is the larger of the step and the time fractions."""
    from infomax.engine.module import InfomaxModule

    monkeypatch.setattr(InfomaxModule, "elapsed", lambda self: 30.0)  # always half of a 1-minute budget
    run = tmp_path / "run"
    _train(toy, run, _cfg(lr_schedule="cosine", max_minutes=1.0))
    logged = _logged(run, "lr")
    assert logged[6] == pytest.approx(1e-3 * 0.5, rel=1e-6)  # time (0.5) ahead of the steps (5 / 12)
    assert logged[12] == pytest.approx(1e-3 * _cos(11 / 12), rel=1e-6)  # the steps ahead of the time


def test_constant_schedule_logs_no_rate(reference):
    with open(reference[0] / "logs/version_0/metrics.csv") as f:
        assert "lr" not in f.readline().strip().split(",")


def test_kill_then_resume_with_a_cosine_schedule_gives_identical_weights(toy, tmp_path, monkeypatch):
    cfg = _cfg(lr_schedule="cosine")
    _train(toy, tmp_path / "straight", cfg)
    _train_until_killed(toy, tmp_path / "run", cfg, monkeypatch)
    _train(toy, tmp_path / "run", cfg, resume=True)
    _assert_same_run(tmp_path / "straight", tmp_path / "run")


@pytest.mark.parametrize("change", [{"max_epochs": 3}, {"max_minutes": 5.0}], ids=["epochs", "minutes"])
def test_resume_refuses_a_new_length_under_a_cosine_schedule(toy, tmp_path, change):
    run = tmp_path / "run"
    _train(toy, run, _cfg(max_epochs=1, lr_schedule="cosine"))
    key = next(iter(change))
    with pytest.raises(UserError, match=f"cannot change {key} .* cosine learning-rate schedule"):
        _train(toy, run, _cfg(lr_schedule="cosine", **{"max_epochs": 1, **change}), resume=True)


@pytest.mark.slow
@pytest.mark.parametrize("adversary", [False, True], ids=["one-group", "two-groups"])
def test_two_process_ddp_training_on_cpu(toy, tmp_path, adversary):
    """devices=2: Lightning DDP (spawn, gloo); each process takes half of every epoch's permutation."""
    run = tmp_path / "run"
    method_cfg = toy.Config(adversary=adversary)
    metrics = _train(toy, run, _cfg(devices=2, max_epochs=2), method_cfg=method_cfg)
    assert metrics["train"]["steps"] == 2 * (96 // 2 // 16)
    ckpt = load_checkpoint(run / "checkpoints/last.pt")
    assert ckpt["epoch"] == 2 and list(ckpt["optimizers"]) == (["main", "adv"] if adversary else ["main"])
    w = load_file(str(run / "model.safetensors"))
    initial = build_method("toy", method_cfg, toy.toy_splits().info, 3).state_dict()
    assert not torch.equal(w["w.weight"], initial["w.weight"])  # the weights came back from the workers
    assert torch.equal(w["w.weight"], ckpt["method"]["w.weight"])


@pytest.mark.slow
def test_two_process_ddp_with_a_cosine_schedule_over_a_budget(toy, tmp_path):
    """The clock-driven factor is the max over processes: both ranks step with one rate, the run ends."""
    run = tmp_path / "run"
    metrics = _train(toy, run, _cfg(devices=2, max_epochs=2, lr_schedule="cosine", max_minutes=30.0))
    assert metrics["train"]["steps"] == 2 * (96 // 2 // 16) and metrics["train"]["stopped_by"] == "max_epochs"
    lr = load_checkpoint(run / "checkpoints/last.pt")["optimizers"]["main"]["param_groups"][0]["lr"]
    assert 0 < lr <= 1e-3 * _cos(5 / 6) + 1e-9  # the last of 6 steps: at least the step fraction 5/6 done


_KILLABLE = """
import sys, time, torch
torch.set_num_threads(1)
sys.path.insert(0, {toy_dir!r})
import engine_toy as toy
from infomax.config import TrainConfig
from infomax.engine.fit import build_method, fit
from infomax.methods import METHODS
METHODS["toy"] = "engine_toy"
forward = toy.Toy.forward
def hanging_forward(self, batch):
    if self.calls == 8:  # 2 steps into epoch 2: say so, then hang until killed
        open({marker!r}, "w").close()
        time.sleep(120)
    return forward(self, batch)
toy.Toy.forward = hanging_forward
splits, cfg = toy.toy_splits(), toy.Config()
method = build_method("toy", cfg, splits.info, 3)
fit(method, splits, TrainConfig(max_epochs=3, batch_size=16, seed=3), {run!r}, "toy", cfg, progress=False)
"""


@pytest.mark.slow
def test_kill_9_in_the_middle_of_an_epoch_then_resume(toy, tmp_path, sigkill_at_marker):
    """A real SIGKILL of a training process during epoch 2; resuming ends with the uninterrupted weights."""
    run, marker = tmp_path / "killed", tmp_path / "mid-epoch-2"
    ckpt = run / "checkpoints" / "last.pt"
    sigkill_at_marker(_KILLABLE.format(toy_dir=str(TOY_DIR), run=str(run), marker=str(marker)), marker)
    assert load_checkpoint(ckpt)["epoch"] == 1 and not (run / "model.safetensors").exists()
    _train(toy, run, _cfg(max_epochs=3), resume=True)
    _train(toy, tmp_path / "straight", _cfg(max_epochs=3))
    _assert_same_run(tmp_path / "straight", run)


def test_final_probe_uses_a_capped_stratified_sample_and_records_the_counts(toy, tmp_path):
    splits, method_cfg = toy.toy_splits(), toy.Config()
    cfg = _cfg(max_epochs=1, final_probe_samples=40, final_probe_cs=(0.5,))
    method = build_method("toy", method_cfg, splits.info, cfg.seed)
    metrics = run_experiment(method, splits, cfg, tmp_path / "run", "toy", method_cfg, baselines=False,
                             progress=False)
    final = metrics["final"]
    assert (final["n_train"], final["n_train_available"], final["n_val"], final["n_test"]) == (40, 96, 20, 40)
    assert final["cs"] == [0.5] and set(final["accuracy"]) == {"conv", "y"} and final["seconds"] >= 0
    # the stand-in probe (nearest class mean) fit on exactly the stratified sample gives the same accuracy
    from infomax.engine.evaluate import subsample_splits
    from infomax.run import load_run

    expected = toy.centroid_protocol(load_run(tmp_path / "run"), subsample_splits(splits, 40), "y")
    assert final["accuracy"]["y"]["trained"] == expected["accuracy"]
    assert "fit on 40 of 96 train images" in (tmp_path / "run/report.md").read_text()


def test_resume_of_a_run_written_before_the_new_settings_existed(toy, tmp_path):
    """An older config.json lacks adam_beta1/2 and the probe settings: it ran with their defaults."""
    run = tmp_path / "run"
    _train(toy, run, _cfg(max_epochs=1))
    cfg = json.loads((run / "config.json").read_text())
    for key in ("adam_beta1", "adam_beta2", "probe_samples", "final_probe_samples", "final_probe_cs"):
        del cfg["train"][key]
    (run / "config.json").write_text(json.dumps(cfg))
    assert _train(toy, run, _cfg(max_epochs=2), resume=True)["train"]["epochs_completed"] == 2
    with pytest.raises(UserError, match="cannot change adam_beta1"):
        _train(toy, run, _cfg(max_epochs=3, adam_beta1=0.8), resume=True)
    # evaluation-only settings may change on resume
    assert _train(toy, run, _cfg(max_epochs=2, final_probe_samples=50), resume=True)["train"]["steps"] == 12


@pytest.mark.parametrize("n_train, kw, match", [
    (1, {}, "has 1 training item (besides 20 validation items, val_fraction=0.1, and 40 test items); "
            "training needs at least batch_size=16"),
    (10, {}, "has 10 training items (besides 20 validation items, val_fraction=0.1, and 40 test items); "
             "training needs at least batch_size=16"),
    (24, {"devices": 2}, "training needs at least batch_size=16 x devices=2 = 32"),
], ids=["one-item", "fewer-than-a-batch", "fewer-than-a-batch-per-process"])
def test_too_little_training_data_is_refused_before_the_run_dir_exists(toy, tmp_path, n_train, kw, match):
    """A batch of one crashes batch norm; fewer items than a batch train on nothing (incomplete batches
    are dropped): one clear line, and no run directory is made."""
    splits, method_cfg = toy.toy_splits(n_train=n_train), toy.Config()
    method = build_method("toy", method_cfg, splits.info, 0)
    with pytest.raises(UserError) as e:
        fit(method, splits, _cfg(**kw), tmp_path / "run", "toy", method_cfg, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("dataset 'toy' has ") and match in msg, msg
    assert "incomplete batches are dropped" in msg and "--set batch_size=N" in msg
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("existed", [False, True], ids=["new-dir", "existing-empty-dir"])
def test_a_user_error_before_the_first_step_leaves_no_half_made_run(toy, tmp_path, monkeypatch, existed):
    """E.g. a supervised method given unlabelled data fails in its first forward: the run directory this
    call created is removed again (an empty folder that was there before stays, empty)."""
    def refusing_forward(self, batch):
        raise UserError("this method needs labels")

    monkeypatch.setattr(toy.Toy, "forward", refusing_forward)
    run = tmp_path / "run"
    if existed:
        run.mkdir()
    with pytest.raises(UserError, match="needs labels"):
        _train(toy, run, _cfg())
    assert run.exists() == existed and (not existed or list(run.iterdir()) == [])


def _snapshot(run: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*")) if p.is_file()}


def test_resuming_a_complete_evaluated_run_writes_nothing_and_loads_its_weights(toy, tmp_path):
    run, splits, method_cfg = tmp_path / "run", toy.toy_splits(), toy.Config()
    cfg = _cfg(max_epochs=1)
    first = run_experiment(build_method("toy", method_cfg, splits.info, 3), splits, cfg, run, "toy",
                           method_cfg, baselines=False, progress=False)
    assert first["complete"] == {"epoch": 1, "step": 6} and "final" in first
    ev = first["final_evaluation"]  # the time of the evaluation after training, recorded
    assert ev["seconds"] >= ev["probes_seconds"] >= 0 and "baselines_seconds" not in ev
    before = _snapshot(run)
    fresh = build_method("toy", method_cfg, splits.info, 3)  # untrained weights
    again = run_experiment(fresh, splits, cfg, run, "toy", method_cfg, resume=True, baselines=False,
                           progress=False)
    assert _snapshot(run) == before and again == first  # not a byte, not a timestamp changed
    exported = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(v, exported[k]) for k, v in fresh.state_dict().items())
    assert not fresh.training


class _KilledInEvaluation(Exception):
    pass


def test_a_run_killed_during_its_final_evaluation_is_evaluated_on_resume(toy, tmp_path, monkeypatch):
    import infomax.report

    run, splits, method_cfg = tmp_path / "run", toy.toy_splits(), toy.Config()
    write_report = infomax.report.write_report

    def dying(run_dir):
        raise _KilledInEvaluation

    monkeypatch.setattr(infomax.report, "write_report", dying)
    with pytest.raises(_KilledInEvaluation):
        run_experiment(build_method("toy", method_cfg, splits.info, 3), splits, _cfg(max_epochs=1), run,
                       "toy", method_cfg, baselines=False, progress=False)
    assert "complete" not in json.loads((run / "metrics.json").read_text())
    assert not (run / "report.md").exists()
    monkeypatch.setattr(infomax.report, "write_report", write_report)
    metrics = run_experiment(build_method("toy", method_cfg, splits.info, 3), splits, _cfg(max_epochs=1), run,
                             "toy", method_cfg, resume=True, baselines=False, progress=False)
    assert metrics["complete"] == {"epoch": 1, "step": 6} and (run / "report.md").is_file()


def test_the_effective_baselines_choice_is_stored_in_the_config(toy, tmp_path):
    """run_experiment(baselines=False) (the CLI's --no-baselines) is recorded, so a resume can reuse it."""
    splits, method_cfg = toy.toy_splits(), toy.Config()
    for name, kw, cfg in (("off", {"baselines": False}, _cfg(max_epochs=1)),
                          ("off-in-config", {}, _cfg(max_epochs=1, baselines=False))):
        method = build_method("toy", method_cfg, splits.info, 3)
        metrics = run_experiment(method, splits, cfg, tmp_path / name, "toy", method_cfg, progress=False,
                                 **kw)
        assert json.loads((tmp_path / name / "config.json").read_text())["train"]["baselines"] is False
        assert set(metrics["final"]["accuracy"]["y"]) == {"trained"}


def test_channels_last_trains_the_same_model_and_exports_the_usual_layout(toy, tmp_path):
    """NHWC is a layout, not another model: the trained encoder computes nearly the same outputs (Adam
    turns the rounding noise of the conv bias's gradient, zero in exact arithmetic under BatchNorm, into
    full-size steps, so not bit-equal), the files hold the usual contiguous layout, and a run resumed at
    an epoch boundary ends bit-identical to an uninterrupted channels-last run."""
    splits = toy.toy_splits()
    x = torch.from_numpy(splits.test.images).float() / 255
    outputs = {}
    for name, cfg in [("plain", _cfg()), ("nhwc", _cfg(channels_last=True))]:
        _train(toy, tmp_path / name, cfg)
        method = build_method("toy", toy.Config(), splits.info, 3)
        method.load_state_dict(load_file(str(tmp_path / name / "model.safetensors")))
        with torch.no_grad():
            outputs[name] = method.eval().encoder(x)["y"]
    assert outputs["plain"].abs().mean() > 0.05
    torch.testing.assert_close(outputs["nhwc"], outputs["plain"], rtol=0, atol=0.02)
    assert not torch.equal(outputs["nhwc"], outputs["plain"])  # the NHWC kernels did run
    weights = load_file(str(tmp_path / "nhwc/model.safetensors"))
    assert all(v.is_contiguous() for v in weights.values())
    ckpt = load_checkpoint(tmp_path / "nhwc/checkpoints/last.pt")
    assert all(v.is_contiguous() for v in ckpt["method"].values())
    _train(toy, tmp_path / "split", _cfg(channels_last=True, max_epochs=1))
    _train(toy, tmp_path / "split", _cfg(channels_last=True), resume=True)
    _assert_same_run(tmp_path / "nhwc", tmp_path / "split")
def test_balanced_sampler_run_stopped_mid_epoch_resumes_to_the_same_weights(toy, tmp_path):
    """sampler=balanced (4 classes x 4 items): a run stopped after its first step and resumed ends with the
    weights of an uninterrupted one, and its batches really are class-balanced."""
    cfg = {"sampler": "balanced", "batch_classes": 4}
    seen = []
    forward = toy.Toy.forward

    def recording_forward(self, batch):
        seen.append(sorted(torch.bincount(batch[1], minlength=4).tolist()))
        return forward(self, batch)

    toy.Toy.forward = recording_forward
    try:
        whole = tmp_path / "whole"
        _train(toy, whole, _cfg(**cfg))
    finally:
        toy.Toy.forward = forward
    assert seen and all(c == [4, 4, 4, 4] for c in seen)
    run = tmp_path / "run"
    assert _train(toy, run, _cfg(max_minutes=1e-9, **cfg))["train"]["steps"] == 1
    _train(toy, run, _cfg(**cfg), resume=True)
    _assert_same_run(whole, run)


def _recorded_losses(toy, monkeypatch) -> list[float]:
    """Every main loss the toy method returns, in order (an independent record of the early scale)."""
    seen: list[float] = []
    forward = toy.Toy.forward

    def recording(self, batch):
        out = forward(self, batch)
        seen.append(float(out["loss"].detach()))
        return out

    monkeypatch.setattr(toy.Toy, "forward", recording)
    return seen


def test_a_finite_blowup_stops_like_a_nan_and_keeps_the_good_checkpoint(toy, tmp_path, monkeypatch):
    seen = _recorded_losses(toy, monkeypatch)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as e:  # 6 steps per epoch; the loss is 1e6 from step 14 on
        _train(toy, run, _cfg(max_epochs=3), method_cfg=toy.Config(blowup_from_call=14))
    msg = str(e.value)
    assert "\n" not in msg and "loss = 1e+06, over diverge_factor = 1000" in msg and "epoch 3, step 14" in msg
    ckpt = load_checkpoint(run / "checkpoints/last.pt")
    assert ckpt["epoch"] == 2 and ckpt["step"] == 12
    early = sorted(abs(v) for v in seen[:10])
    assert ckpt["loss_scale"] == pytest.approx(max(1.0, (early[4] + early[5]) / 2), rel=1e-12)


def test_diverge_factor_zero_turns_the_blowup_check_off(toy, tmp_path):
    m = _train(toy, tmp_path / "run", _cfg(max_epochs=3, diverge_factor=0.0),
               method_cfg=toy.Config(blowup_from_call=14))
    assert m["train"]["steps"] == 18 and m["train"]["stopped_by"] == "max_epochs"


def test_a_resumed_run_keeps_the_early_loss_scale(toy, tmp_path, monkeypatch):
    run = tmp_path / "run"
    _train(toy, run, _cfg(max_epochs=2))
    assert load_checkpoint(run / "checkpoints/last.pt")["loss_scale"] >= 1.0
    forward = toy.Toy.forward

    def blowup(self, batch):  # the resumed method counts its calls from 0: its 2nd is step 14 of the run
        out = forward(self, batch)
        out["loss"] = out["loss"] + (1e6 if self.calls >= 2 else 0.0)
        return out

    monkeypatch.setattr(toy.Toy, "forward", blowup)
    # were the scale not restored, steps 13-22 would only be measuring it and nothing would stop
    with pytest.raises(TrainingDiverged, match="epoch 3, step 14"):
        _train(toy, run, _cfg(max_epochs=3), resume=True)


@pytest.mark.parametrize(("precision", "accelerator", "native", "noted"), [
    ("bf16-mixed", "cpu", False, True),
    ("bf16-mixed", "cpu", True, False),
    ("32-true", "cpu", False, False),
    ("bf16-mixed", "gpu", False, False),
])
def test_bf16_on_a_cpu_without_native_bfloat16_is_noted(precision, accelerator, native, noted):
    from infomax.engine.fit import bf16_note

    note = bf16_note(TrainConfig(precision=precision, accelerator=accelerator), native=native)
    assert (note is not None) == noted
    if noted:
        assert "without native bfloat16" in note


def test_resume_of_a_run_written_before_a_method_setting_existed(toy, tmp_path):
    """An older config.json lacks a method setting added since (as DIM's score_clip): it ran with the
    default, so the run resumes; asking for another value is still a change of settings."""
    run = tmp_path / "run"
    _train(toy, run, _cfg(max_epochs=1))
    cfg = json.loads((run / "config.json").read_text())
    del cfg["method_config"]["noise"]
    (run / "config.json").write_text(json.dumps(cfg))
    assert _train(toy, run, _cfg(max_epochs=2), resume=True)["train"]["epochs_completed"] == 2
    with pytest.raises(UserError, match="method settings differ"):
        _train(toy, run, _cfg(max_epochs=3), resume=True, method_cfg=toy.Config(noise=0.3))
