"""Networks (tf_keras layers) inside bijectors: conditioners and residual branches.

Each conditioner (of a coupling or autoregressive layer) has a
zero-initialised output layer (a new coupling starts as the identity);
`LipschitzMLP` (vectors) and `LipschitzConvNet` (images) are the residual
branches g of `bijectors.InvertibleResidual`.
Each has a `build(input_shape)` that creates every variable up front.
"""

from tfp_flows.nets.context_bias import ContextBias
from tfp_flows.nets.gated_attention import GatedAttentionNet
from tfp_flows.nets.glow_net import GlowNet
from tfp_flows.nets.lipschitz_conv_net import LipschitzConvNet
from tfp_flows.nets.lipschitz_mlp import LipschitzMLP
from tfp_flows.nets.made import MADE
from tfp_flows.nets.mlp import MLP
from tfp_flows.nets.policy import layer_dtype
from tfp_flows.nets.resnet import ResNet
from tfp_flows.nets.split_prior import SplitPriorNet

__all__ = [
    "ContextBias", "GatedAttentionNet", "GlowNet", "LipschitzConvNet", "LipschitzMLP", "MADE", "MLP", "ResNet",
    "SplitPriorNet", "layer_dtype"
]
