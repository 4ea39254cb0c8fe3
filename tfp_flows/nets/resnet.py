"""RealNVP's residual convolutional conditioner."""

import functools

import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib
from tfp_flows.nets import context_bias

__all__ = ["ResNet"]


class ResNet(tf_keras.layers.Layer):
  """h = Conv3x3_zero(ReLU(B_n(...B_1(Conv3x3(x))))), B(u) = u + Conv(ReLU(Conv(ReLU(u)))).

  Shapes: x [B, H, W, C_in] -> h [B, H, W, output_channels]; every hidden
  convolution is 3x3 with `hidden_channels` filters and 'same' padding. The
  output convolution starts at zero so a new coupling is the identity.
  RealNVP (Dinh et al. 2016) uses 8 blocks of 64 channels on CIFAR-10; its
  batch and weight normalisation are left out (ActNorm serves in Glow).

  Conditional (`context_shape=[C]`, called `net(x, conditional_input=c)`,
  c [B, C] or [C]): a linear map of c is added to the residual stream after
  the first convolution (`ContextBias`).

  References:
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
    He, K., Zhang, X., Ren, S. & Sun, J. (2016). Deep Residual Learning for
      Image Recognition. CVPR. arXiv:1512.03385.
  """

  def __init__(self, hidden_channels, output_channels, num_blocks=2,
               context_shape=None, **kwargs):
    """Creates the layers.

    Args:
      hidden_channels: width of the residual stream.
      output_channels: channels of h.
      num_blocks: residual blocks.
      context_shape: [C] for a conditional network, else None.
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.hidden_channels = int(hidden_channels)
    self.output_channels = int(output_channels)
    self.num_blocks = int(num_blocks)
    conv = functools.partial(tf_keras.layers.Conv2D, kernel_size=3,
                             padding="same", dtype=self.dtype_policy)
    self.conv_in = conv(self.hidden_channels, name="conv_in")
    self.blocks = [(conv(self.hidden_channels, name=f"block_{i}_a"),
                    conv(self.hidden_channels, name=f"block_{i}_b"))
                   for i in range(self.num_blocks)]
    self.conv_out = conv(self.output_channels, name="conv_out",
                         kernel_initializer="zeros")
    self.context_shape, self.context_bias = context_bias.for_context(
        context_shape, self.hidden_channels, self.dtype_policy)

  def build(self, input_shape):
    # Creates every variable up front (see MLP.build).
    hidden = tf.TensorShape([None, None, None, self.hidden_channels])
    self.conv_in.build(tf.TensorShape([None, None, None, input_shape[-1]]))
    for a, b in self.blocks:
      a.build(hidden)
      b.build(hidden)
    self.conv_out.build(hidden)
    super().build(input_shape)

  def call(self, x, conditional_input=None):
    c = context_lib.net_context(self, x, conditional_input)
    h = self.conv_in(x)
    if c is not None:
      h = self.context_bias(h, c)
    for a, b in self.blocks:
      h = h + b(tf.nn.relu(a(tf.nn.relu(h))))
    return self.conv_out(tf.nn.relu(h))

  def get_config(self):
    config = super().get_config()
    config.update(hidden_channels=self.hidden_channels,
                  output_channels=self.output_channels,
                  num_blocks=self.num_blocks,
                  context_shape=context_lib.shape_config(self.context_shape))
    return config
