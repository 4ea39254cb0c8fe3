"""Glow's coupling network: conv3x3 -> ReLU -> conv1x1 -> ReLU -> zero conv3x3."""

import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib
from tfp_flows.nets import context_bias

__all__ = ["GlowNet"]


class GlowNet(tf_keras.layers.Layer):
  """h = Conv3x3_zero(ReLU(Conv1x1(ReLU(Conv3x3(x))))), 'same' padding.

  Shapes: x [B, H, W, C_in] -> h [B, H, W, output_channels]. The last
  convolution starts at zero (Glow, section 3.3), so a new coupling is the
  identity (additive) or a fixed rescaling (sigmoid scale). The paper uses
  512 hidden channels.

  Conditional (`context_shape=[C]`, called `net(x, conditional_input=c)`,
  c [B, C] or [C]): a linear map of c is added to the first convolution's
  output before its ReLU (`ContextBias`).

  References:
    Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible
      1x1 Convolutions. NeurIPS. arXiv:1807.03039.
  """

  def __init__(self, hidden_channels, output_channels, context_shape=None,
               **kwargs):
    """Creates the layers.

    Args:
      hidden_channels: width of the two hidden convolutions.
      output_channels: channels of h.
      context_shape: [C] for a conditional network, else None.
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.hidden_channels = int(hidden_channels)
    self.output_channels = int(output_channels)
    conv = tf_keras.layers.Conv2D
    self.convs = [
        conv(self.hidden_channels, 3, padding="same",
             dtype=self.dtype_policy, name="conv_in"),
        conv(self.hidden_channels, 1, padding="same", activation="relu",
             dtype=self.dtype_policy, name="conv_hidden"),
        conv(self.output_channels, 3, padding="same", kernel_initializer="zeros",
             dtype=self.dtype_policy, name="conv_out"),
    ]
    self.context_shape, self.context_bias = context_bias.for_context(
        context_shape, self.hidden_channels, self.dtype_policy)

  def build(self, input_shape):
    # Creates every variable up front (see MLP.build).
    shape = tf.TensorShape([None, None, None, input_shape[-1]])
    for layer in self.convs:
      layer.build(shape)
      shape = tf.TensorShape([None, None, None, layer.filters])
    super().build(input_shape)

  def call(self, x, conditional_input=None):
    c = context_lib.net_context(self, x, conditional_input)
    conv_in, conv_hidden, conv_out = self.convs
    h = conv_in(x)
    if c is not None:
      h = self.context_bias(h, c)
    return conv_out(conv_hidden(tf.nn.relu(h)))

  def get_config(self):
    config = super().get_config()
    config.update(hidden_channels=self.hidden_channels,
                  output_channels=self.output_channels,
                  context_shape=context_lib.shape_config(self.context_shape))
    return config
