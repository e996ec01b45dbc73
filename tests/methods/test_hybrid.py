"""Hybrid bound: InfoNCE reads only y, the BA term is the Gaussian log-likelihood, bad settings, resume."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from infomax.config import TrainConfig
from infomax.data.datasets import load_dataset
from infomax.engine.checkpoint import load_checkpoint
from infomax.engine.fit import build_method, fit
from infomax.errors import UserError
from infomax.methods import hybrid

INFO = SimpleNamespace(channels=1, image_size=8, mean=(0.5,), std=(0.5,))
SMALL = {"queue_size": 32, "proj_hidden": 16, "proj_dim": 8, "hidden": 4}


def _method(**kw):
    return hybrid.build(hybrid.Config(**{**SMALL, **kw}), INFO)


def test_contrastive_loss_reads_only_the_first_half_of_z():
    m = _method()
    z = torch.randn(6, 2, 4, 4, requires_grad=True)  # y = channel 0, y_hat = channel 1
    k = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    nce, _ = m.contrastive(z, k)
    nce.backward()
    assert bool((z.grad[:, 0] != 0).any())
    assert torch.equal(z.grad[:, 1], torch.zeros_like(z.grad[:, 1]))
    z2 = z.detach().clone()
    z2[:, 1] += torch.randn_like(z2[:, 1]) * 10  # perturb y_hat: the loss does not move
    assert torch.equal(m.contrastive(z2, k)[0], nce.detach())


@pytest.mark.parametrize("sigma", [1.0, 0.3])
def test_ba_term_is_the_gaussian_log_likelihood_up_to_its_constant(sigma):
    m = _method(sigma=sigma)
    x, z = torch.rand(5, 1, 8, 8), torch.randn(5, 2, 4, 4)
    log_q, ba, mse = m.reconstruction(x, z)
    x_hat = m.decoder(z)
    sse = (x - x_hat).pow(2).flatten(1).sum(1)  # (B,)
    const = 64 * (math.log(sigma) + 0.5 * math.log(2 * math.pi))
    torch.testing.assert_close(log_q, -sse / (2 * sigma**2) - const)
    torch.testing.assert_close(ba, (-sse / (2 * sigma**2) - const).mean())
    torch.testing.assert_close(mse, sse.mean().detach() / 64)



def test_autoencoder_branch_sees_the_clean_image_and_only_the_contrastive_branch_the_views():
    """The views go to MoCo only: with views that destroy everything (all-zero images), the BA term and
    MSE are still those of the clean batch, and the queued keys are those of the zero images."""
    from infomax.bounds import gaussian_log_likelihood

    m = _method(augment=False)  # views: a plain function, replaced here
    views = []
    m.views = lambda x: views.append(x) or (torch.zeros_like(x), torch.zeros_like(x))
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():  # train-mode batch norm: a deterministic function of the batch
        x_hat = m.decoder(m.encoder(x)["z"])
    out = m((x, torch.zeros(8, dtype=torch.long)))
    assert len(views) == 1 and torch.equal(views[0], x)
    torch.testing.assert_close(out["ba/log_q"], gaussian_log_likelihood(x, x_hat, 1.0).mean())
    torch.testing.assert_close(out["recon/mse"], (x - x_hat).pow(2).mean())
    keys = m.moco.queue.keys[:8]
    torch.testing.assert_close(keys, keys[:1].expand_as(keys))  # eight identical (zero-image) keys

def test_alpha_one_is_the_autoencoder_alone():
    m = _method(alpha=1.0)
    assert m.moco is None
    out = m((torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)))
    torch.testing.assert_close(out["loss"], -out["ba/log_q"])
    assert "mi/infonce" not in out


def test_alpha_zero_decoder_trains_on_the_detached_latent():
    m = _method(alpha=0.0, augment=False)
    out = m((torch.rand(8, 1, 8, 8), torch.zeros(8, dtype=torch.long)))
    out["loss"].backward()
    assert all(p.grad is not None for p in m.decoder.parameters())
    # the encoder's last conv (-> z) only gets InfoNCE gradient through y: none for y_hat's row
    w = m.encoder.net[-1].weight.grad  # (Cz, 2 hidden, 1, 1)
    assert bool((w[0] != 0).any()) and torch.equal(w[1], torch.zeros_like(w[1]))


@pytest.mark.parametrize("kw, match", [
    ({"alpha": 1.5}, "alpha must be in"),
    ({"alpha": -0.1}, "alpha must be in"),
    ({"latent_channels": 3}, "split must divide"),
    ({"y_channels": 2}, "y_channels"),
])
def test_bad_settings(kw, match):
    with pytest.raises(UserError, match=match):
        _method(**kw)


class _Killed(Exception):
    pass


def _fit(run_dir, max_minutes=None, resume=False):
    splits = load_dataset("digits")
    cfg = hybrid.Config(**SMALL)
    tc = TrainConfig(method="hybrid", max_epochs=2, batch_size=32, limit_train_batches=3, seed=1,
                     max_minutes=max_minutes)
    m = build_method("hybrid", cfg, splits.info, tc.seed)
    return fit(m, splits, tc, run_dir, "hybrid", cfg, resume=resume, progress=False)


def test_killed_run_resumes_to_identical_weights_and_queue(tmp_path, monkeypatch):
    _fit(tmp_path / "ref")
    forward = hybrid.Hybrid.forward
    calls = {"n": 0}

    def dying(self, batch):
        calls["n"] += 1
        if calls["n"] == 5:  # second step of epoch 2
            raise _Killed
        return forward(self, batch)

    monkeypatch.setattr(hybrid.Hybrid, "forward", dying)
    with pytest.raises(_Killed):
        _fit(tmp_path / "run")
    monkeypatch.setattr(hybrid.Hybrid, "forward", forward)
    assert load_checkpoint(tmp_path / "run/checkpoints/last.pt")["epoch"] == 1
    _fit(tmp_path / "run", resume=True)
    a = load_file(str(tmp_path / "ref/model.safetensors"))
    b = load_file(str(tmp_path / "run/model.safetensors"))
    assert a.keys() == b.keys() and "moco.queue.keys" in a and "moco.queue.ptr" in a
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("alpha, queue_size, ok", [(0.5, 100, False), (0.0, 100, False), (0.5, 128, True),
                                                   (1.0, 100, True)],
                         ids=["hybrid-bad", "moco-only-bad", "hybrid-ok", "autoencoder-has-no-queue"])
def test_queue_size_is_checked_against_the_batch_size_before_training(alpha, queue_size, ok):
    from infomax.engine.fit import check_settings

    cfg = hybrid.Config(alpha=alpha, queue_size=queue_size)
    train = TrainConfig(method="hybrid", batch_size=64)
    if ok:
        check_settings("hybrid", cfg, train)
        return
    with pytest.raises(UserError, match=r"queue size \(100\) must be a multiple of the batch size \(64\)"):
        check_settings("hybrid", cfg, train)


_KILLABLE = """
import sys, time, torch
torch.set_num_threads(1)
from infomax.config import TrainConfig
from infomax.data.datasets import load_dataset
from infomax.engine.fit import build_method, fit
from infomax.methods import hybrid
forward, calls = hybrid.Hybrid.forward, [0]
def hanging(self, batch):
    calls[0] += 1
    if calls[0] == 5:  # the second step of epoch 2: say so, then hang until killed
        open({marker!r}, "w").close()
        time.sleep(120)
    return forward(self, batch)
hybrid.Hybrid.forward = hanging
splits, cfg = load_dataset("digits"), hybrid.Config(**{small!r})
tc = TrainConfig(method="hybrid", max_epochs=2, batch_size=32, limit_train_batches=3, seed=1)
fit(build_method("hybrid", cfg, splits.info, tc.seed), splits, tc, {run!r}, "hybrid", cfg, progress=False)
"""


@pytest.mark.slow  # ~6 s of CPU (new processes); test_killed_run_resumes_... stays in the fast suite
def test_sigkill_in_epoch_two_then_resume_gives_the_uninterrupted_weights(tmp_path, sigkill_at_marker):
    """A real SIGKILL of a training process (not an exception in this one) mid-epoch; resuming from the
    epoch-1 checkpoint ends with the weights, queue and queue pointer of an uninterrupted run."""
    run, marker = tmp_path / "run", tmp_path / "mid-epoch-2"
    sigkill_at_marker(_KILLABLE.format(marker=str(marker), small=SMALL, run=str(run)), marker)
    assert load_checkpoint(run / "checkpoints/last.pt")["epoch"] == 1
    assert not (run / "model.safetensors").exists()
    _fit(run, resume=True)
    _fit(tmp_path / "ref")
    a, b = load_file(str(tmp_path / "ref/model.safetensors")), load_file(str(run / "model.safetensors"))
    assert a.keys() == b.keys() and "moco.queue.keys" in a
    for k in a:
        assert torch.equal(a[k], b[k]), k
