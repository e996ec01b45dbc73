"""Data: image datasets as uint8 arrays (``datasets``) and batched tensor augmentations (``views``).

``datasets`` holds the entry points (``load_split``, ``load_dataset``) over the registry of dataset sources
``SOURCES`` (``sources/``, one module per source); ``arrays``, ``root``, ``cache`` and ``safe_read`` hold
the containers, the data root, the decoded-array cache and the safe file reading they share.

``infomax.data.synthetic`` (known-MI tasks) is imported on its own: ``from infomax.data import synthetic``.

Example:
    >>> from infomax.data import load_dataset, TwoViews, simclr_augment
    >>> splits = load_dataset("digits")
"""

from infomax.data.datasets import (
    DATASETS,
    SOURCES,
    DataInfo,
    DataSplits,
    ImageArrays,
    ImageTensorDataset,
    Source,
    cap_items,
    channel_stats,
    decoded_cache_dir,
    load_dataset,
    load_split,
    official_splits,
    read_idx,
    resolve_data_root,
    user_cache_dir,
)
from infomax.data.views import (
    ColorJitter,
    Compose,
    GaussianBlur,
    GaussianNoise,
    Identity,
    RandomCrop,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    TopBottomHalves,
    TwoViews,
    amdim_augment,
    grayscale,
    mocov2_augment,
    resized_crop,
    simclr_augment,
)

__all__ = [
    "DATASETS",
    "SOURCES",
    "ColorJitter",
    "Compose",
    "DataInfo",
    "DataSplits",
    "GaussianBlur",
    "GaussianNoise",
    "Identity",
    "ImageArrays",
    "ImageTensorDataset",
    "Source",
    "RandomCrop",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "TopBottomHalves",
    "TwoViews",
    "amdim_augment",
    "cap_items",
    "channel_stats",
    "decoded_cache_dir",
    "grayscale",
    "load_dataset",
    "load_split",
    "mocov2_augment",
    "official_splits",
    "read_idx",
    "resized_crop",
    "simclr_augment",
    "resolve_data_root",
    "user_cache_dir",
]
