"""DIMCO tools: codes and similarity, an exact search index, few-shot episodes, retrieval metrics,
and code visualization (Lee et al., "Discrete Infomax Codes for Supervised Representation Learning").

The method itself (training) lives in :mod:`infomax.methods.dimco`; the bound in
:mod:`infomax.bounds.discrete`. Submodules are imported on use (``from infomax.dimco.index import
CodeIndex``) so that faiss and matplotlib load only when needed.
"""
