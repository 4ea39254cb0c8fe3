"""Conditioner networks (tf_keras layers) for coupling and autoregressive bijectors.

Each has a zero-initialised output layer (a new coupling starts as the
identity) and a `build(input_shape)` that creates every variable up front.
"""

from tfp_flows.nets.context_bias import ContextBias
from tfp_flows.nets.gated_attention import GatedAttentionNet
from tfp_flows.nets.glow_net import GlowNet
from tfp_flows.nets.made import MADE
from tfp_flows.nets.mlp import MLP
from tfp_flows.nets.policy import layer_dtype
from tfp_flows.nets.resnet import ResNet
from tfp_flows.nets.split_prior import SplitPriorNet

__all__ = [
    "ContextBias", "GatedAttentionNet", "GlowNet", "MADE", "MLP", "ResNet",
    "SplitPriorNet", "layer_dtype"
]
