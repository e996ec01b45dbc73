"""Image encoders: ``nn.Module``s whose ``forward(x)`` returns a dict of named features."""

from infomax.encoders.convnet import ConvNetEncoder
from infomax.encoders.dim_conv import DIMConvEncoder
from infomax.encoders.mlp import MLPEncoder
from infomax.encoders.realnvp import RealNVPEncoder

__all__ = ["ConvNetEncoder", "DIMConvEncoder", "MLPEncoder", "RealNVPEncoder"]
