"""Conditioner networks (tf_keras layers) for coupling bijectors."""

from tfp_flows.nets.mlp import MLP

__all__ = ["MLP"]
