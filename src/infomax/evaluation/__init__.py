"""Evaluation of representations: features of a frozen encoder, probes, protocols, MI/NDM/MS-SSIM measures.

Functional core plus scikit-learn-style probes (``fit(X, y) -> self``, ``score(X, y) -> accuracy``).
``PROTOCOLS[name](encoder, splits, layer, **kw) -> dict`` is what ``infomax eval`` runs.

Example:
    >>> from infomax.evaluation import PROTOCOLS  # doctest: +SKIP
    >>> PROTOCOLS["linear"](run.method.encoder, splits, "fc")["accuracy"]  # doctest: +SKIP
"""

from infomax.evaluation.baselines import random_encoder, supervised_encoder
from infomax.evaluation.features import extract_features
from infomax.evaluation.fid import fid
from infomax.evaluation.knn import KNNProbe
from infomax.evaluation.linear_probe import LinearProbe
from infomax.evaluation.mlp_probe import MLPProbe
from infomax.evaluation.msssim import ms_ssim, ssim
from infomax.evaluation.neighbours import precision_at_k
from infomax.evaluation.protocols import PROTOCOLS, run_protocol
from infomax.evaluation.svm_probe import LinearSVMProbe

__all__ = [
    "PROTOCOLS",
    "KNNProbe",
    "LinearProbe",
    "LinearSVMProbe",
    "MLPProbe",
    "extract_features",
    "fid",
    "ms_ssim",
    "precision_at_k",
    "random_encoder",
    "run_protocol",
    "ssim",
    "supervised_encoder",
]
