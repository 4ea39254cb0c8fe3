"""Glow's coupling network: conv3x3 -> ReLU -> conv1x1 -> ReLU -> zero conv3x3."""

import tensorflow as tf
import tf_keras

__all__ = ["GlowNet"]


class GlowNet(tf_keras.layers.Layer):
  """h = Conv3x3_zero(ReLU(Conv1x1(ReLU(Conv3x3(x))))), 'same' padding.

  Shapes: x [B, H, W, C_in] -> h [B, H, W, output_channels]. The last
  convolution starts at zero (Glow, section 3.3), so a new coupling is the
  identity (additive) or a fixed rescaling (sigmoid scale). The paper uses
  512 hidden channels.
  """

  def __init__(self, hidden_channels, output_channels, **kwargs):
    """Creates the layers.

    Args:
      hidden_channels: width of the two hidden convolutions.
      output_channels: channels of h.
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.hidden_channels = int(hidden_channels)
    self.output_channels = int(output_channels)
    conv = tf_keras.layers.Conv2D
    self.convs = [
        conv(self.hidden_channels, 3, padding="same", activation="relu",
             dtype=self.dtype_policy, name="conv_in"),
        conv(self.hidden_channels, 1, padding="same", activation="relu",
             dtype=self.dtype_policy, name="conv_hidden"),
        conv(self.output_channels, 3, padding="same", kernel_initializer="zeros",
             dtype=self.dtype_policy, name="conv_out"),
    ]

  def build(self, input_shape):
    # Creates every variable up front (see MLP.build).
    shape = tf.TensorShape([None, None, None, input_shape[-1]])
    for layer in self.convs:
      layer.build(shape)
      shape = tf.TensorShape([None, None, None, layer.filters])
    super().build(input_shape)

  def call(self, x):
    for layer in self.convs:
      x = layer(x)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(hidden_channels=self.hidden_channels,
                  output_channels=self.output_channels)
    return config
