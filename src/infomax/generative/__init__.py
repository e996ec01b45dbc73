"""Generative models on a frozen latent (source document 002, Fig. 1b): a DDIM on the hybrid run's z.

- :mod:`~infomax.generative.unet`: the noise-prediction U-Net on (B, C, S, S) latents;
- :mod:`~infomax.generative.ddim`: the DDPM schedule and loss, deterministic DDIM sampling;
- :mod:`~infomax.generative.method`: ``LatentDDIM``, the stage as an engine method;
- :mod:`~infomax.generative.stage`: train / continue the stage in ``RUN_DIR/ddim``, decode samples;
- :mod:`~infomax.generative.figures`: interpolations of z, y, y_hat and PNG grids;
- :mod:`~infomax.generative.evaluate`: the hybrid evaluation table (probes, MSE, classifier-FD).
"""
