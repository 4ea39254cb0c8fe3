"""Vector layers whose parameters are one free vector, shifted by a linear map of a context when conditional."""

import numpy as np
import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib
from tfp_flows.bijectors import base

__all__ = ["Parameters", "ParameterizedLayer", "check_event_size",
           "random_state"]


def check_event_size(event_size):
  """`event_size` as an int D >= 1, else ValueError."""
  if int(event_size) != event_size or event_size < 1:
    raise ValueError(f"`event_size` must be a positive integer; got "
                     f"{event_size!r}.")
  return int(event_size)


def random_state(seed):
  """numpy's generator of `seed`, or for None its global one (seeded by
  `tf_keras.utils.set_random_seed`)."""
  return np.random if seed is None else np.random.default_rng(seed)


class Parameters(tf.Module):
  """theta(c) = theta_0 + W c, a layer's raw parameters [P] (amortised by c).

  Without a context the layer has its own free parameters theta_0; with
  `context_shape=[C]` a linear map W (a zero-initialised `Dense` without
  bias: a new conditional layer is its unconditional self) shifts them, as
  the encoder of an amortised posterior outputs a flow's parameters
  (Rezende & Mohamed 2015, van den Berg et al. 2018).

  Shapes: `self(x, c)` is [P] without a context, [..., P] with c [..., C]
  broadcasting against x's batch.
  """

  def __init__(self, initial_value, context_shape=None, dtype=tf.float32,
               name="parameters"):
    super().__init__(name=name)
    initial_value = np.asarray(initial_value)
    self._size = initial_value.shape[-1]
    self.theta = tf.Variable(tf.constant(initial_value, dtype), name="theta")
    self.context_shape = context_lib.optional_context_shape(context_shape)
    if self.context_shape is not None:
      self.context_map = tf_keras.layers.Dense(
          self._size, use_bias=False, kernel_initializer="zeros",
          dtype=tf.as_dtype(dtype).name, name=f"{name}_context_map")
      self.context_map.build([None, self.context_shape[0]])

  def __call__(self, x, conditional_input, owner):
    """theta(c) for inputs x [..., D] of layer `owner` (named in errors)."""
    if self.context_shape is None:
      if conditional_input is not None:
        raise ValueError(
            f"{owner} is not conditional (built without `context_shape`); "
            f"got a `{context_lib.ARG}` of shape "
            f"{context_lib.shape_of(conditional_input)}.")
      return tf.cast(self.theta, x.dtype)
    c = context_lib.check_context(conditional_input, self.context_shape,
                                  batch_shape=x.shape[:-1], owner=owner,
                                  dtype=x.dtype)
    # Dense wants rank 2; a context may come with any batch dims, none too.
    shift = self.context_map(tf.reshape(c, [-1, self.context_shape[0]]))
    shift = tf.reshape(tf.cast(shift, x.dtype),
                       tf.concat([tf.shape(c)[:-1], [self._size]], 0))
    return tf.cast(self.theta, x.dtype) + shift


class ParameterizedLayer(base.AugmentedBijector):
  """A bijector on [..., D] vectors whose parameters are `Parameters`.

  Planar, radial and Sylvester layers: a subclass builds its initial
  parameter vector and calls this constructor with its own `parameters`
  (TFP's `dict(locals())`); `_theta(x, c)` gives theta(c) for its inputs.
  """

  def __init__(self, event_size, initial_value, context_shape, validate_args,
               dtype, parameters, name):
    self._event_size = event_size
    self._free = Parameters(initial_value, context_shape, dtype,
                            name=f"{name.rstrip('/')}_parameters")
    super().__init__(
        forward_min_event_ndims=1,
        is_constant_jacobian=False,
        validate_args=validate_args,
        dtype=dtype,
        parameters=parameters,
        name=name)

  @property
  def event_size(self):
    """D."""
    return self._event_size

  @property
  def context_shape(self):
    """[C], or None for an unconditional layer."""
    return self._free.context_shape

  def _theta(self, x, conditional_input):
    """theta(c) [P] or [..., P] for inputs x [..., D]."""
    return self._free(x, conditional_input, self.name)
