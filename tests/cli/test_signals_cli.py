"""Ctrl-C (SIGINT) and SIGTERM: every command says what happened, exits 130 / 143 and leaves no file half
written; `train` names its last checkpoint and the exact `--resume` command, and the resumed run ends with
the weights of an uninterrupted one.

The fast tests deliver real signals to this process (``os.kill(os.getpid(), ...)`` from inside the work,
so they arrive at a known point) through ``infomax.cli.main``; the slow ones signal a real
``python -m infomax train`` subprocess on digits, from outside, once its first epoch is checkpointed.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from infomax.cli import main
from infomax.engine.checkpoint import load_checkpoint

SIGNALS = [(signal.SIGINT, 130, "interrupted by SIGINT (Ctrl-C)"),
           (signal.SIGTERM, 143, "terminated by SIGTERM")]
SIGNAL_IDS = ["SIGINT", "SIGTERM"]
FAST = ["--set", "batch_size=16", "--no-baselines"]
RESUME = "infomax: continue it with: infomax train --resume"

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                reason="signal handlers can only be set from the main thread")


@pytest.fixture(autouse=True)
def default_handlers():
    """The handlers a shell gives a foreground command (a test runner may have changed them)."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def _signal_at_call(monkeypatch, toy, signum: int, call: int) -> None:
    """The toy method sends ``signum`` to this process at its ``call``-th forward (6 per epoch here)."""
    forward = toy.Toy.forward

    def forward_then_signal(self, batch):
        if self.calls + 1 == call:
            os.kill(os.getpid(), signum)
        return forward(self, batch)

    monkeypatch.setattr(toy.Toy, "forward", forward_then_signal)


def _infomax_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("infomax:")]  # (progress bars aside)


@pytest.mark.parametrize("signum, code, said", SIGNALS, ids=SIGNAL_IDS)
def test_train_stops_names_the_checkpoint_and_resumes_to_the_same_weights(toy, tmp_path, capsys, monkeypatch,
                                                                        signum, code, said):
    run = tmp_path / "run"
    _signal_at_call(monkeypatch, toy, signum, call=9)  # 3 steps into epoch 2
    assert main(["train", "toy", *FAST, "--max-epochs", "3", "--out", str(run)]) == code
    err = capsys.readouterr().err
    ckpt = run / "checkpoints/last.pt"
    assert _infomax_lines(err) == [
        f"infomax: {said}; the run in {run} is unfinished: its last checkpoint {ckpt} (epoch 1, step 9) "
        "is kept", f"{RESUME} {run}"], err
    assert "Traceback" not in err
    kept = load_checkpoint(ckpt)  # intact, loadable, and where the signal came: the step it hit finished
    assert (kept["epoch"], kept["batch"], kept["step"]) == (1, 3, 9)
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["last.pt"]  # no temporary file left
    assert not (run / "model.safetensors").exists() and not (run / "metrics.json").exists()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored

    monkeypatch.undo()  # the plain toy again, then the exact command printed
    toy = importlib.import_module("engine_toy").register(monkeypatch)
    monkeypatch.setattr("infomax.experiment.load_splits", lambda cfg: toy.toy_splits())
    assert main(["train", "--resume", str(run)]) == 0
    assert main(["train", "toy", *FAST, "--max-epochs", "3", "--out", str(tmp_path / "straight")]) == 0
    a, b = load_file(str(tmp_path / "straight/model.safetensors")), load_file(str(run / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("signals, kept", [
    (1, (0, 1, 1)),  # the first step finishes and is kept
    (6, (1, 0, 6)),  # the epoch's last step: the epoch-end checkpoint, then the stop
    (9, (1, 3, 9)),  # mid-epoch
], ids=["first-step", "epoch-end", "mid-epoch"])
def test_a_stop_keeps_the_step_it_interrupted(toy, tmp_path, monkeypatch, signals, kept):
    _signal_at_call(monkeypatch, toy, signal.SIGTERM, call=signals)
    run = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--max-epochs", "3", "--out", str(run)]) == 143
    ckpt = load_checkpoint(run / "checkpoints/last.pt")
    assert (ckpt["epoch"], ckpt["batch"], ckpt["step"]) == kept


def test_a_second_stop_does_not_wait_for_the_step(toy, tmp_path, monkeypatch, capsys):
    """Ctrl-C twice: the second raises at once, inside the step; the last consistent checkpoint is kept."""
    forward = toy.Toy.forward

    def twice(self, batch):
        if self.calls + 1 == 9:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return forward(self, batch)

    monkeypatch.setattr(toy.Toy, "forward", twice)
    run = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--max-epochs", "3", "--out", str(run)]) == 130
    ckpt = load_checkpoint(run / "checkpoints/last.pt")
    assert (ckpt["epoch"], ckpt["batch"], ckpt["step"]) == (1, 0, 6)  # the step it hit was not kept
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("signum, code, said", SIGNALS, ids=SIGNAL_IDS)
def test_a_stop_during_the_final_evaluation_says_training_is_done(toy, tmp_path, capsys, monkeypatch,
                                                                 signum, code, said):
    run = tmp_path / "run"

    def stopped(*args, **kwargs):
        os.kill(os.getpid(), signum)

    monkeypatch.setattr("infomax.engine.evaluate.final_linear_probe", stopped)
    assert main(["train", "toy", *FAST, "--max-epochs", "1", "--out", str(run)]) == code
    lines = _infomax_lines(capsys.readouterr().err)
    assert lines[0].startswith(f"infomax: {said}; the run in {run} is unfinished: its training is done")
    assert lines[1] == f"{RESUME} {run}"
    assert "complete" not in json.loads((run / "metrics.json").read_text())  # not marked finished


def test_a_stop_while_a_resumed_run_loads_its_data_names_that_run(toy, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", "toy", *FAST, "--max-epochs", "1", "--out", str(run)]) == 0
    capsys.readouterr()

    def stopped(cfg):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr("infomax.experiment.load_splits", stopped)
    assert main(["train", "--resume", str(run), "--max-epochs", "2"]) == 143
    assert _infomax_lines(capsys.readouterr().err)[-1] == f"{RESUME} {run}"


def test_lightning_handling_sigterm_itself_still_exits_143(toy, tmp_path, capsys, monkeypatch):
    """Where our handler does not raise (Lightning's runs instead: it stops at the end of the batch with
    a quiet ``SIGTERMException``, an exit status of 0 if left alone), the run still ends as terminated."""
    from infomax.cli import stop_signals_raise

    monkeypatch.setattr("infomax.cli.stop_signals_raise", lambda: _no_raise(stop_signals_raise))
    run = tmp_path / "run"
    _signal_at_call(monkeypatch, toy, signal.SIGTERM, call=9)
    assert main(["train", "toy", *FAST, "--max-epochs", "3", "--out", str(run)]) == 143
    assert _infomax_lines(capsys.readouterr().err)[-1] == f"{RESUME} {run}"
    assert not (run / "model.safetensors").exists()


class _no_raise:
    """Like ``stop_signals_raise`` but with a SIGTERM handler that only records (so Lightning's acts)."""

    def __init__(self, real) -> None:
        self.real = real()

    def __enter__(self) -> None:
        self.real.__enter__()
        self.previous = signal.signal(signal.SIGTERM, lambda s, f: None)

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self.previous)
        self.real.__exit__(*exc)


def test_ctrl_c_through_the_python_api_is_a_keyboard_interrupt_not_an_exit_1(toy, tmp_path, monkeypatch):
    """Lightning turns a KeyboardInterrupt into ``sys.exit(1)``; ``fit`` gives the KeyboardInterrupt back."""
    from infomax.config import TrainConfig
    from infomax.engine.fit import build_method
    from infomax.experiment import run_experiment

    _signal_at_call(monkeypatch, toy, signal.SIGINT, call=3)
    splits, cfg = toy.toy_splits(), toy.Config()
    with pytest.raises(KeyboardInterrupt):
        run_experiment(build_method("toy", cfg, splits.info, 0), splits,
                       TrainConfig(max_epochs=2, batch_size=16), tmp_path / "run", "toy", cfg,
                       baselines=False, progress=False)
    assert load_checkpoint(tmp_path / "run/checkpoints/last.pt")["epoch"] == 0


@pytest.fixture
def eval_run(toy, tmp_path):
    from infomax.config import TrainConfig
    from infomax.engine.fit import build_method
    from infomax.experiment import run_experiment

    splits, cfg = toy.toy_splits(), toy.Config()
    run_experiment(build_method("toy", cfg, splits.info, 0), splits, TrainConfig(max_epochs=1, batch_size=16),
        tmp_path / "run", "toy", cfg, baselines=False, progress=False)
    return tmp_path / "run"


def _stop_with(signum):
    def stopped(*args, **kwargs):
        os.kill(os.getpid(), signum)
        raise AssertionError("the signal did not stop the command")

    return stopped


@pytest.mark.parametrize("signum, code, said", SIGNALS, ids=SIGNAL_IDS)
def test_eval_stops_with_metrics_unchanged(eval_run, monkeypatch, capsys, signum, code, said):
    monkeypatch.setattr("infomax.cli.eval.protocols", lambda: {"linear": _stop_with(signum)})
    before = (eval_run / "metrics.json").read_bytes()
    assert main(["eval", str(eval_run), "--protocol", "linear"]) == code
    assert _infomax_lines(capsys.readouterr().err) == [f"infomax: {said}"]
    assert (eval_run / "metrics.json").read_bytes() == before
    assert not [p for p in eval_run.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("argv, target", [
    (["generate", "RUN"], "infomax.generative.stage.train_ddim_stage"),
    (["index", "build", "RUN", "--data", "digits"], "infomax.cli.index._load_run"),
], ids=["generate", "index"])
@pytest.mark.parametrize("signum, code, said", SIGNALS, ids=SIGNAL_IDS)
def test_generate_and_index_stop_with_the_signal_code(tmp_path, monkeypatch, capsys, argv, target, signum,
                                                      code, said):
    monkeypatch.setattr(target, _stop_with(signum))
    argv = [str(tmp_path) if a == "RUN" else a for a in argv]
    assert main(argv) == code
    assert _infomax_lines(capsys.readouterr().err) == [f"infomax: {said}"]


def test_a_signal_the_shell_ignores_stays_ignored(tmp_path, monkeypatch, capsys):
    """A background job's SIGINT is ignored by its shell: the command does not start taking it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    seen = []
    monkeypatch.setattr("infomax.cli.presets.run",
                        lambda args: seen.append(signal.getsignal(signal.SIGINT)) or 0)
    assert main(["presets"]) == 0
    assert seen == [signal.SIG_IGN] and signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_an_error_the_stop_caused_is_reported_as_the_stop(tmp_path, capsys, monkeypatch):
    """A signal arriving inside a ``__del__`` (where Python would drop our exception) is delivered again
    once out of it; and when the stop breaks something else first (a data-loader worker that a SIGTERM to
    the process group ended), the command waits for its own signal and reports the stop, not the error."""
    class Finaliser:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)  # our Interrupted is raised here, and dropped by Python

    def broken(*args, **kwargs):
        Finaliser()  # freed at once
        raise RuntimeError("DataLoader worker (pid 1234) is killed by signal: Terminated.")

    monkeypatch.setattr("infomax.cli.eval.evaluate_run", broken)
    assert main(["eval", str(tmp_path / "run")]) == 143
    err = capsys.readouterr().err
    assert _infomax_lines(err) == ["infomax: terminated by SIGTERM"] and "Traceback" not in err, err


@pytest.mark.parametrize("signum, code, said", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_inside_a_finaliser_is_not_lost(tmp_path, capsys, monkeypatch, signum, code, said):
    """Raised inside a ``__del__`` the exception would be dropped and the command would run on."""

    class Finaliser:
        def __del__(self):
            os.kill(os.getpid(), signum)

    def long_work(*args, **kwargs):
        Finaliser()  # freed at once: the signal arrives inside its __del__
        time.sleep(5)
        raise AssertionError("the signal was lost")

    monkeypatch.setattr("infomax.cli.eval.evaluate_run", long_work)
    t0 = time.monotonic()
    assert main(["eval", str(tmp_path)]) == code
    assert _infomax_lines(capsys.readouterr().err) == [f"infomax: {said}"] and time.monotonic() - t0 < 4


# --- a real process, signalled from outside -----------------------------------------------------------
def _start_and_signal(run: Path, signum: int, group: bool, timeout: float = 180.0) -> Any:
    """``python -m infomax train dim`` on digits (2 batches an epoch, many epochs), signalled with
    ``signum`` once its first epoch is checkpointed; with ``group``, with two data-loader workers and the
    signal sent to its whole process group (as a terminal's Ctrl-C, or a scheduler ending a job)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    cmd = [sys.executable, "-m", "infomax", "train", "dim", "--data", "digits", "--max-epochs", "500",
           "--set", "limit_train_batches=2", "--threads", "1", "--no-baselines", "--out", str(run)]
    if group:
        cmd += ["--set", "num_workers=2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=group)
    ckpt, deadline = run / "checkpoints/last.pt", time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        try:
            if load_checkpoint(ckpt)["epoch"] >= 1:
                break
        except Exception:  # not written yet (never half written: the writes are atomic)
            pass
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    if group:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode(), err.decode())


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, said, group", [(*SIGNALS[0], False), (*SIGNALS[1], False),
                                                       (*SIGNALS[0], True), (*SIGNALS[1], True)],
                         ids=["SIGINT", "SIGTERM", "SIGINT-group-workers", "SIGTERM-group-workers"])
def test_a_real_train_process_signalled_exits_with_the_code_and_resumes(tmp_path, data_root, signum, code,
                                                                        said, group):
    run = tmp_path / "run"
    res = _start_and_signal(run, signum, group)
    assert res.returncode == code, res.stderr[-2000:]
    lines = _infomax_lines(res.stderr)
    assert len(lines) == 2, res.stderr
    assert lines[0].startswith(f"infomax: {said}; the run in {run} is unfinished: its last checkpoint")
    assert lines[1] == f"{RESUME} {run}"
    assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr and res.stdout == ""
    epoch = load_checkpoint(run / "checkpoints/last.pt")["epoch"]
    assert epoch >= 1 and not (run / "model.safetensors").exists()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    resumed = subprocess.run([sys.executable, "-m", "infomax", "train", "--resume", str(run), "--max-epochs",
                              str(epoch + 1), "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads(resumed.stdout)
    assert metrics["train"]["epochs_completed"] == epoch + 1 and metrics["complete"]["epoch"] == epoch + 1
