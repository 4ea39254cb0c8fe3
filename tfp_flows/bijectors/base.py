"""Shared plumbing for tfp_flows bijectors: identity-keyed caching and input checks."""

import tensorflow as tf
import tensorflow_probability as tfp

from tensorflow_probability.python.internal import assert_util

tfb = tfp.bijectors

__all__ = ["FlowBijector", "check_event_shape"]


def check_event_shape(value, expected, arg_name="x"):
  """Raises `ValueError` when the static trailing shape of `value` is not `expected`.

  Args:
    value: tensor of shape `batch_shape + event_shape`.
    expected: the expected event shape (list or `tf.TensorShape`).
    arg_name: name used in the error message.
  """
  expected = tf.TensorShape(expected)
  shape = value.shape
  if shape.rank is None or expected.rank is None:
    return
  if shape.rank < expected.rank:
    raise ValueError(
        f"`{arg_name}` must have rank >= {expected.rank} with event shape "
        f"{expected.as_list()}; got shape {shape.as_list()}.")
  got = shape[shape.rank - expected.rank:]
  if not got.is_compatible_with(expected):
    raise ValueError(
        f"`{arg_name}` must have event shape {expected.as_list()} (the trailing "
        f"{expected.rank} dims); got {got.as_list()} in shape {shape.as_list()}.")


class FlowBijector(tfb.Bijector):
  """Base class of the tfp_flows bijectors.

  TFP keys its bijector cache on `_get_parameterization()`, which defaults to
  the constructor arguments: two instances built with equal arguments (two
  `ActNorm()` layers, say) would then read each other's cached results even
  though they hold different variables. Our bijectors own state, so every
  instance is its own cache key.
  """

  def _get_parameterization(self):
    return id(self)

  def _validate_input(self, value, arg_name, event_shape=None):
    """Checks `value`'s static event shape always, its finiteness under `validate_args`.

    Args:
      value: input tensor of `forward` / `inverse`.
      arg_name: "x" or "y", named in error messages.
      event_shape: the expected event shape, or None when unknown.

    Returns:
      `value`, with the run-time assertions attached as control dependencies.
    """
    if event_shape is not None:
      check_event_shape(value, event_shape, arg_name)
    if not self.validate_args:
      return value
    finite = assert_util.assert_equal(
        tf.reduce_all(tf.math.is_finite(value)), True,
        message=f"`{arg_name}` must be finite (no NaN or inf) for bijector "
        f"{self.name}.")
    with tf.control_dependencies([finite]):
      return tf.identity(value)
