"""The training engine: one Lightning module for every method, checkpoints, resume, DDP.

- ``infomax.engine.fit``: :func:`~infomax.engine.fit.fit` (the whole run, top to bottom) and
  :func:`~infomax.engine.fit.build_method` (seeded construction);
- ``infomax.engine.module``: :class:`~infomax.engine.module.InfomaxModule`, the LightningModule;
- ``infomax.engine.checkpoint``: atomic, ``weights_only``-loadable checkpoints and RNG states;
- ``infomax.engine.sampler``: the (seed, epoch)-determined data order;
- ``infomax.engine.distributed``: :func:`~infomax.engine.distributed.gather_with_grad`;
- ``infomax.engine.export`` / ``evaluate`` / ``progress``: safetensors export, final probes, progress bar.

Submodules are imported on use (Lightning is heavy), e.g.
``from infomax.engine.fit import fit`` or ``from infomax.engine.distributed import gather_with_grad``.
"""
