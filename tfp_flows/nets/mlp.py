"""Fully connected conditioner network."""

import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib

__all__ = ["MLP"]


class MLP(tf_keras.layers.Layer):
  """Dense ReLU network x -> h with a zero-initialised output layer.

  Shapes: x [..., d_in] -> h [..., output_units]. With the last layer's weights
  and bias at zero, a coupling that uses this network starts as the identity,
  which keeps a new deep flow well conditioned (Glow, section 3.3).

  Conditional (`context_shape=[C]`): h = MLP([x, c]), called as
  `net(x, conditional_input=c)` with c [..., C] (or [C]: one for the batch);
  the first layer sees x and c concatenated.

  NICE's MNIST conditioner is `MLP([1000] * 5, output_units=392)`.
  """

  def __init__(self, hidden_units, output_units, activation="relu",
               zero_init_output=True, context_shape=None, **kwargs):
    """Creates the layers.

    Args:
      hidden_units: sizes of the hidden layers, e.g. `[256, 256]`.
      output_units: size of the output.
      activation: activation of the hidden layers.
      zero_init_output: zero-initialise the output layer.
      context_shape: [C] for a conditional network, else None.
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.hidden_units = [int(u) for u in hidden_units]
    self.output_units = int(output_units)
    self.activation = activation
    self.zero_init_output = zero_init_output
    self.hidden = [
        tf_keras.layers.Dense(u, activation=activation, dtype=self.dtype_policy,
                              name=f"hidden_{i}")
        for i, u in enumerate(self.hidden_units)
    ]
    init = "zeros" if zero_init_output else "glorot_uniform"
    self.out = tf_keras.layers.Dense(
        self.output_units, kernel_initializer=init, bias_initializer="zeros",
        dtype=self.dtype_policy, name="output")
    self.context_shape = context_lib.optional_context_shape(context_shape)

  def build(self, input_shape):
    # Building every layer up front lets a builder create all variables at
    # construction (`mlp.build([None, d_in])`), before any data flows: a model
    # then lists its weights, and a checkpoint can restore into it, at once.
    width = input_shape[-1]
    if self.context_shape is not None:
      width += self.context_shape[0]
    shape = tf.TensorShape([None, width])
    for layer in self.hidden + [self.out]:
      layer.build(shape)
      shape = tf.TensorShape([None, layer.units])
    super().build(input_shape)

  def call(self, x, conditional_input=None):
    c = context_lib.net_context(self, x, conditional_input,
                                batch_ndims=x.shape.rank - 1)
    # Dense wants rank >= 2; folding every leading dim into one also accepts
    # a single unbatched event and any number of batch dims.
    h = tf.reshape(x, [-1, x.shape[-1]])
    if c is not None:
      h = tf.concat([h, tf.cast(c, h.dtype)], axis=-1)
    for layer in self.hidden + [self.out]:
      h = layer(h)
    out = tf.reshape(h, tf.concat([tf.shape(x)[:-1], [self.output_units]], 0))
    out.set_shape(x.shape[:-1].concatenate([self.output_units]))
    return out

  def get_config(self):
    config = super().get_config()
    config.update(hidden_units=self.hidden_units,
                  output_units=self.output_units, activation=self.activation,
                  zero_init_output=self.zero_init_output,
                  context_shape=context_lib.shape_config(self.context_shape))
    return config
