"""Glow's split-prior network: a zero-initialised 3x3 convolution."""

import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib
from tfp_flows.nets import context_bias

__all__ = ["SplitPriorNet"]


class SplitPriorNet(tf_keras.layers.Layer):
  """theta = Conv3x3_zero(h) (+ W_zero c): the learned prior of a split.

  Shapes: h [B, H, W, C_in] -> theta [B, H, W, output_channels], the
  (mu, raw log-sigma) of the factored-out channels (`bijectors.FactorOut`).
  Kernel and bias start at zero, so the prior starts as N(0, 1).
  Conditional (`context_shape=[C]`, called `net(h, conditional_input=c)`):
  a zero-initialised linear map of c is added (`ContextBias`), the Glow
  paper's class-conditional split prior.

  References:
    Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible
      1x1 Convolutions. NeurIPS. arXiv:1807.03039.
  """

  def __init__(self, output_channels, context_shape=None, **kwargs):
    """Creates the layers.

    Args:
      output_channels: channels of theta, 2 * (factored-out channels).
      context_shape: [C] for a conditional prior, else None.
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.output_channels = int(output_channels)
    self.conv = tf_keras.layers.Conv2D(
        self.output_channels, 3, padding="same", kernel_initializer="zeros",
        dtype=self.dtype_policy, name="conv")
    self.context_shape, self.context_bias = context_bias.for_context(
        context_shape, self.output_channels, self.dtype_policy,
        kernel_initializer="zeros")

  def build(self, input_shape):
    # Creates every variable up front (see MLP.build).
    self.conv.build(tf.TensorShape([None, None, None, input_shape[-1]]))
    super().build(input_shape)

  def call(self, h, conditional_input=None):
    c = context_lib.net_context(self, h, conditional_input)
    theta = self.conv(h)
    return theta if c is None else self.context_bias(theta, c)

  def get_config(self):
    config = super().get_config()
    config.update(output_channels=self.output_channels,
                  context_shape=context_lib.shape_config(self.context_shape))
    return config
