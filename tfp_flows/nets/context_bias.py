"""A context's entry into a conditioner network: a learned bias per channel."""

import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib

__all__ = ["ContextBias", "for_context"]


class ContextBias(tf_keras.layers.Layer):
  """h + W c: adds a linear map of the context to every position of h.

  Shapes: h [B, ..., units] and c [B, C] -> [B, ..., units]; W c is
  broadcast over h's middle (spatial) dims. Added to the pre-activation of a
  network's first hidden layer it equals that layer seeing [x, c]
  concatenated (for a dense layer exactly; for a convolution it is a
  per-channel bias that depends on c), which is how every conditional net of
  tfp_flows takes its context. Zero-initialised on an output layer, a new
  conditional layer stays the identity for every context.

  References:
    van den Oord, A., Kalchbrenner, N., Vinyals, O., Espeholt, L., Graves, A. &
      Kavukcuoglu, K. (2016). Conditional Image Generation with PixelCNN
      Decoders. NeurIPS. arXiv:1606.05328.
  """

  def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
    """Creates the map.

    Args:
      units: channels of h.
      kernel_initializer: of W ("zeros" on an output layer).
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.units = int(units)
    self.dense = tf_keras.layers.Dense(
        self.units, use_bias=False, kernel_initializer=kernel_initializer,
        dtype=self.dtype_policy, name="dense")

  def build(self, input_shape):
    """Creates W for contexts of `input_shape` [None, C] (not h's shape)."""
    self.dense.build(tf.TensorShape([None, input_shape[-1]]))
    super().build(input_shape)

  def call(self, h, c):
    bias = self.dense(c)
    middle = [1] * (h.shape.rank - 2)
    return h + tf.reshape(bias, tf.concat([[-1], middle, [self.units]], 0))


def for_context(context_shape, units, dtype, kernel_initializer="glorot_uniform"):
  """A conv net's (`context_shape`, `ContextBias`): built, or (None, None).

  Args:
    context_shape: [C], or None for an unconditional net.
    units: channels of the hidden layer the context enters.
    dtype: the net's dtype policy.
    kernel_initializer: "zeros" where the context enters an output layer.
  """
  shape = context_lib.optional_context_shape(context_shape)
  if shape is None:
    return None, None
  bias = ContextBias(units, kernel_initializer=kernel_initializer, dtype=dtype,
                     name="context")
  bias.build([None, shape[0]])
  return shape, bias
