"""Generation quality without Inception weights: the Frechet distance in a locally trained classifier's
feature space ("classifier-FD").

FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium") is the Frechet distance between Gaussians fitted to Inception-v3 pool features of real and
generated images. Inception weights cannot be downloaded here, so this module computes the same distance
in the feature space of a classifier trained on the dataset's labels in this process
(:func:`infomax.evaluation.supervised_encoder`). Its values are **not** FID and are only comparable between
runs scored with the same classifier (same data, architecture, steps and seed).

The distance itself is :func:`infomax.evaluation.frechet.frechet_distance_features`, as for FID.

Example:
    >>> classifier_fd(supervised_encoder(splits), test_images, samples)  # doctest: +SKIP
    12.3
"""

from __future__ import annotations

import numpy as np
from torch import nn

from infomax.evaluation.features import extract_features
from infomax.evaluation.frechet import frechet_distance_features


def classifier_fd(classifier: nn.Module, real_uint8: np.ndarray, fake_uint8: np.ndarray,
                  layer: str | None = None, device: str = "cpu") -> float:
    """classifier-FD between real and generated uint8 images (N, C, H, W) in ``classifier``'s ``layer``
    features (default its output layer). Not FID: see the module docstring."""
    fr = extract_features(classifier, real_uint8, layer, device=device, split="classifier-FD real")
    ff = extract_features(classifier, fake_uint8, layer, device=device, split="classifier-FD generated")
    return frechet_distance_features(fr, ff)
