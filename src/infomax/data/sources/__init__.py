"""The dataset registry: ``SOURCES`` maps each dataset name to its :class:`~.base.Source`.

One module per source (``digits.py``, ``idx.py`` for mnist/fashion-mnist, ``cifar10.py``, ``omniglot.py``,
``folder.py``); adding a dataset is one new module plus one line here (see docs/ARCHITECTURE.md, "Adding a
dataset"). The order of ``SOURCES`` is the order names are listed in error messages.

Example:
    >>> SOURCES["omniglot"].splits
    ('background', 'evaluation')
"""

from infomax.data.sources import cifar10, digits, folder, idx, omniglot
from infomax.data.sources.base import Source

SOURCES: dict[str, Source] = {
    "digits": digits.SOURCE,
    "mnist": idx.MNIST,
    "fashion-mnist": idx.FASHION_MNIST,
    "cifar10": cifar10.SOURCE,
    "omniglot": omniglot.SOURCE,
    "folder": folder.SOURCE,  # used as folder:PATH
}

__all__ = ["SOURCES", "Source"]
