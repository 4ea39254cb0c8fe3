"""Fully connected conditioner network."""

import tensorflow as tf
import tf_keras

__all__ = ["MLP"]


class MLP(tf_keras.layers.Layer):
  """Dense ReLU network x -> h with a zero-initialised output layer.

  Shapes: x [..., d_in] -> h [..., output_units]. With the last layer's weights
  and bias at zero, a coupling that uses this network starts as the identity,
  which keeps a new deep flow well conditioned (Glow, section 3.3).

  NICE's MNIST conditioner is `MLP([1000] * 5, output_units=392)`.
  """

  def __init__(self, hidden_units, output_units, activation="relu",
               zero_init_output=True, **kwargs):
    """Creates the layers.

    Args:
      hidden_units: sizes of the hidden layers, e.g. `[256, 256]`.
      output_units: size of the output.
      activation: activation of the hidden layers.
      zero_init_output: zero-initialise the output layer.
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

  def build(self, input_shape):
    # Building every layer up front lets a builder create all variables at
    # construction (`mlp.build([None, d_in])`), before any data flows: a model
    # then lists its weights, and a checkpoint can restore into it, at once.
    shape = tf.TensorShape([None, input_shape[-1]])
    for layer in self.hidden + [self.out]:
      layer.build(shape)
      shape = tf.TensorShape([None, layer.units])
    super().build(input_shape)

  def call(self, x):
    # Dense wants rank >= 2; folding every leading dim into one also accepts
    # a single unbatched event and any number of batch dims.
    h = tf.reshape(x, [-1, x.shape[-1]])
    for layer in self.hidden:
      h = layer(h)
    h = self.out(h)
    out = tf.reshape(h, tf.concat([tf.shape(x)[:-1], [self.output_units]], 0))
    out.set_shape(x.shape[:-1].concatenate([self.output_units]))
    return out

  def get_config(self):
    config = super().get_config()
    config.update(hidden_units=self.hidden_units,
                  output_units=self.output_units, activation=self.activation,
                  zero_init_output=self.zero_init_output)
    return config
