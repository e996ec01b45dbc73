"""The hybrid evaluation table of one run: linear probes on z and y, reconstruction MSE, interpolations and
generation quality (classifier-FD of decoded DDIM samples, never called FID; real FID only when the user
gives a local Inception weights file, see :mod:`infomax.evaluation.fid`).

Units: reconstruction MSE on the [0, 1] pixel scale, ``mse_per_pixel`` = mean over pixels and images of
(x - x_hat)^2, ``mse_per_image`` = its sum over the C*H*W pixels of an image, averaged over images.
Interpolation change (source 002, Figs. 2-4): mean per-pixel squared difference between the decoded
start image and the decoded end of each path (all of z, only y, only y_hat), averaged over image pairs.

Example:
    >>> table = evaluate_hybrid("runs/h", classifier=clf)  # doctest: +SKIP
    >>> table["probe"]["y"], table["reconstruction"]["mse_per_pixel"]  # doctest: +SKIP
    (0.81, 0.0042)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from infomax.errors import UserError
from infomax.generative.figures import MODES, interpolate, save_grid, to_uint8
from infomax.generative.stage import STAGE_DIR, generate, representation_run
from infomax.run import MODEL, update_metrics

#: The classifier layer classifier-FD is computed in (64 wide: well conditioned with ~500 samples).
FD_LAYER = "y"


def feature_classifier(splits: Any, steps: int = 1000, seed: int = 0) -> nn.Module:
    """The classifier whose ``y`` features (64-d, a linear head on them) define classifier-FD: DIM's conv
    encoder trained with labels (:func:`infomax.evaluation.supervised_encoder`) for ``steps`` minibatches."""
    from infomax.encoders import DIMConvEncoder
    from infomax.evaluation import supervised_encoder

    info = splits.info
    enc = DIMConvEncoder(info.channels, info.image_size, mean=info.mean, std=info.std)
    return supervised_encoder(enc, splits, layer=FD_LAYER, steps=steps, seed=seed)


@torch.no_grad()
def reconstruction_mse(
    method: nn.Module, images_uint8: np.ndarray, batch_size: int = 256
) -> dict[str, float]:
    """{"mse_per_pixel", "mse_per_image"} of ``method.decoder(method.encoder(x)["z"])`` ([0, 1] scale)."""
    method.eval()
    sq, n = 0.0, 0
    for i in range(0, len(images_uint8), batch_size):
        x = torch.from_numpy(np.asarray(images_uint8[i:i + batch_size])).float() / 255
        sq += float((method.decode(method.encoder(x)["z"]) - x).pow(2).sum(dtype=torch.float64))
        n += len(x)
    pixels = int(np.prod(images_uint8.shape[1:]))
    return {"mse_per_pixel": sq / (n * pixels), "mse_per_image": sq / n, "n_images": n}


@torch.no_grad()
def interpolation_figures(method: nn.Module, images_uint8: np.ndarray, run_dir: str | Path, n_steps: int = 8,
                          pairs: int = 6) -> dict[str, float]:
    """Write ``plots/interp_{z,y,y_hat}.png`` (one row per image pair) and return the change per mode."""
    method.eval()
    x = torch.from_numpy(np.asarray(images_uint8[: 2 * pairs])).float() / 255
    if len(x) < 2:
        raise UserError("interpolations need at least two images")
    p = len(x) // 2
    z = method.encoder(x[: 2 * p])["z"]
    z0, z1 = z[:p], z[p:2 * p]
    start = method.decode(z0)  # (P, C, H, W)
    change = {}
    for mode in MODES:
        path = interpolate(z0, z1, method.encoder.y_channels, mode, n_steps)  # (P, n, C, S, S)
        imgs = method.decode(path.flatten(0, 1))  # (P*n, C, H, W)
        save_grid(imgs, Path(run_dir) / "plots" / f"interp_{mode}.png", nrow=n_steps)
        end = imgs.view(p, n_steps, *imgs.shape[1:])[:, -1]
        change[mode] = float((end - start).pow(2).mean())
    return change


def run_interpolations(run_dir: str | Path, n_steps: int = 8, pairs: int = 6) -> dict[str, Any]:
    """Interpolation figures of a hybrid run from its test images (``plots/interp_{z,y,y_hat}.png``).

    Returns ``{"figures": {mode: path}, "interpolation_change": {mode: mean squared change}}`` and records
    the change in ``metrics.json`` under ``"interpolation"``.
    """
    method = representation_run(run_dir).method
    change = interpolation_figures(method, _run_splits(run_dir).test.images, run_dir, n_steps, pairs)
    figures = {mode: str(Path(run_dir) / "plots" / f"interp_{mode}.png") for mode in MODES}
    update_metrics(run_dir, {"interpolation": {"change": change, "steps": n_steps, "pairs": pairs}})
    return {"figures": figures, "interpolation_change": change}


def evaluate_hybrid(
    run_dir: str | Path,
    splits: Any | None = None,
    classifier: nn.Module | None = None,
    n_generate: int = 1000,
    steps: int = 50,
    max_train: int | None = None,
    inception_weights: str | None = None,
) -> dict[str, Any]:
    """The evaluation table of a hybrid run, also stored as ``"hybrid_eval"`` in its ``metrics.json``.

    Args:
        run_dir: a trained hybrid run (with a ``ddim/`` stage for the generation numbers).
        splits: its data (default: loaded from the run's config).
        classifier: the feature classifier for classifier-FD (:func:`feature_classifier`); None skips it.
        n_generate: generated (and real test) images compared.
        steps: DDIM sampling steps (eta = 0).
        max_train: cap on labelled training images for the probes.
        inception_weights: a local path to pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (or a
            ``.safetensors`` with its keys): adds real ``"fid"`` (generated vs real test images) next to the
            classifier-FD proxy. Checked before any other work; None skips FID.
    """
    from infomax.evaluation import PROTOCOLS

    inception = None
    if inception_weights is not None:
        from infomax.evaluation.inception import load_inception

        inception = load_inception(inception_weights)  # a bad file fails here, before the slow work
    run = representation_run(run_dir)
    if splits is None:
        splits = _run_splits(run_dir)
    method = run.method
    table: dict[str, Any] = {
        "probe": {layer: PROTOCOLS["linear"](method.encoder, splits, layer, max_train=max_train)["accuracy"]
                  for layer in ("z", "y")},
        "reconstruction": {**reconstruction_mse(method, splits.test.images), "unit": "[0,1] pixel scale"},
        "interpolation_change": interpolation_figures(method, splits.test.images, run_dir),
    }
    if (Path(run_dir) / STAGE_DIR / MODEL).is_file():
        n = min(n_generate, len(splits.test.images))
        fake = generate(run_dir, n, steps)
        save_grid(fake[:64], Path(run_dir) / "plots" / "ddim_samples.png")
        gen: dict[str, Any] = {"n": n, "steps": steps, "eta": 0.0}
        if classifier is not None:
            from infomax.evaluation.gen_proxy import classifier_fd

            real = splits.test.images[:n]
            recon = reconstruction_images(method, real)
            gen["classifier_fd"] = classifier_fd(classifier, real, to_uint8(fake), layer=FD_LAYER)
            gen["classifier_fd_reconstructions"] = classifier_fd(classifier, real, recon, layer=FD_LAYER)
            val = splits.val.images[:n]
            gen["classifier_fd_real_val"] = classifier_fd(classifier, real, val, layer=FD_LAYER)
        if inception is not None:
            from infomax.evaluation.fid import fid

            gen["fid"] = fid(splits.test.images[:n], to_uint8(fake), inception)
        table["generation"] = gen
    update_metrics(run_dir, {"hybrid_eval": table})
    return table


def fid_of_run(
    run_dir: str | Path,
    inception: Any,
    n: int = 1000,
    steps: int = 50,
    splits: Any | None = None,
) -> dict[str, Any]:
    """Real FID of a hybrid run's decoded DDIM samples, recorded as ``"fid"`` in its ``metrics.json``.

    ``n`` samples (eta 0, seed 0) against the first ``n`` test images; ``fid_real_val`` is the FID of
    ``n`` validation images against the same test images (the floor this ``n`` and data allow: FID is
    biased upward at small n), present when the run has a validation split.

    Args:
        run_dir: a hybrid run with a trained DDIM stage (``infomax generate``).
        inception: a loaded :class:`~infomax.evaluation.inception.InceptionV3FID` or a local weights path.
        n: images per side (>= 2; capped at the test split's size).
        steps: DDIM sampling steps.
        splits: the run's data (default: loaded from its config).
    """
    from infomax.evaluation.fid import inception_features
    from infomax.evaluation.frechet import frechet_distance_features
    from infomax.evaluation.inception import InceptionV3FID, load_inception

    if n < 2:
        raise UserError(f"FID needs at least 2 images per side, got {n}")
    if not (Path(run_dir) / STAGE_DIR / MODEL).is_file():
        raise UserError(f"{run_dir} has no trained DDIM stage: run `infomax generate {run_dir}` first")
    net = inception if isinstance(inception, InceptionV3FID) else load_inception(inception)
    if splits is None:
        splits = _run_splits(run_dir)
    n = min(n, len(splits.test.images))
    real = inception_features(net, splits.test.images[:n], label="Inception features: test")  # (n, 2048)
    fake_images = to_uint8(generate(run_dir, n, steps))
    fake = inception_features(net, fake_images, label="Inception features: generated")
    out: dict[str, Any] = {"fid": frechet_distance_features(real, fake), "n": n, "steps": steps}
    if len(splits.val.images) >= 2:
        val = inception_features(net, splits.val.images[:n], label="Inception features: validation")
        out["fid_real_val"] = frechet_distance_features(real, val)
    update_metrics(run_dir, {"fid": out})
    return out


def _run_splits(run_dir: str | Path) -> Any:
    """The data of a run, from its ``config.json`` (callers have checked the run with representation_run)."""
    from infomax.data.datasets import load_dataset
    from infomax.run import read_config, train_config_from

    tc = train_config_from(read_config(run_dir))
    return load_dataset(tc.data, tc.data_root, tc.val_fraction, max_items=tc.max_items)


@torch.no_grad()
def reconstruction_images(method: nn.Module, images_uint8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 reconstructions (N, C, H, W) of uint8 images."""
    out = []
    for i in range(0, len(images_uint8), batch_size):
        x = torch.from_numpy(np.asarray(images_uint8[i:i + batch_size])).float() / 255
        out.append(to_uint8(method.decode(method.encoder(x)["z"])))
    return np.concatenate(out)
