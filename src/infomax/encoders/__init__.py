"""Image encoders: ``nn.Module``s whose ``forward(x)`` returns a dict of named features."""

from torch import nn

from infomax.encoders.amdim import AMDIMEncoder
from infomax.encoders.convnet import ConvNetEncoder
from infomax.encoders.cpc import CPCPatchEncoder
from infomax.encoders.dim_conv import DIMConvEncoder
from infomax.encoders.mlp import MLPEncoder
from infomax.encoders.nvae import NVAEDecoder, NVAEEncoder
from infomax.encoders.realnvp import RealNVPEncoder

#: Encoder name -> class, built as ``cls(in_channels, image_size, y_dim=, mean=, std=)``; its ``layers``
#: are what a method's layer option may name. The ``encoder`` option of the supervised baseline and of
#: DIMCO takes these names. Add encoders here as they appear.
ENCODERS: dict[str, type[nn.Module]] = {"dim_conv": DIMConvEncoder}

__all__ = [
    "AMDIMEncoder",
    "CPCPatchEncoder",
    "ConvNetEncoder",
    "DIMConvEncoder",
    "ENCODERS",
    "MLPEncoder",
    "NVAEDecoder",
    "NVAEEncoder",
    "RealNVPEncoder",
]
