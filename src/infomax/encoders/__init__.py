"""Image encoders: ``nn.Module``s whose ``forward(x)`` returns a dict of named features."""

from infomax.encoders.amdim import AMDIMEncoder
from infomax.encoders.convnet import ConvNetEncoder
from infomax.encoders.cpc import CPCPatchEncoder
from infomax.encoders.dim_conv import DIMConvEncoder
from infomax.encoders.mlp import MLPEncoder
from infomax.encoders.nvae import NVAEDecoder, NVAEEncoder
from infomax.encoders.realnvp import RealNVPEncoder

__all__ = [
    "AMDIMEncoder",
    "CPCPatchEncoder",
    "ConvNetEncoder",
    "DIMConvEncoder",
    "MLPEncoder",
    "NVAEDecoder",
    "NVAEEncoder",
    "RealNVPEncoder",
]
