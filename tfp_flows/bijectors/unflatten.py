"""Reshape between a flat vector and an event shape, with a clear shape check."""

import numpy as np
import tensorflow as tf

from tfp_flows.tfp_internal import ps

from tfp_flows.bijectors import base

__all__ = ["Unflatten"]


class Unflatten(base.VectorToEventShapes, base.FlowBijector):
  """forward: [..., D] -> [..., *event_shape]; inverse flattens, D = prod(event_shape).

  Vector flows (NICE, MAF) on images sit behind this bijector: `log_prob`
  flattens the image on the way in. Unlike `tfb.Reshape`, a wrongly shaped
  input raises an error that names the expected and the received shape.
  Volume preserving: log-det 0.
  """

  def __init__(self, event_shape, validate_args=False, name="unflatten"):
    """Creates the bijector.

    Args:
      event_shape: the unflattened (data-side) event shape, fully defined.
      validate_args: check inputs (finiteness) at run time.
      name: name scope.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      event_shape = tf.TensorShape(event_shape)
      if not event_shape.is_fully_defined() or event_shape.rank == 0:
        raise ValueError("`event_shape` must be a fully defined shape of rank "
                         f">= 1; got {event_shape}.")
      self._event_shape = event_shape
      self._latent_size = int(np.prod(event_shape.as_list()))
      super().__init__(
          forward_min_event_ndims=1,
          inverse_min_event_ndims=event_shape.rank,
          is_constant_jacobian=True,
          validate_args=validate_args,
          parameters=parameters,
          name=name)

  @property
  def event_shape(self):
    return self._event_shape

  def _forward(self, x):
    x = self._validate_input(x, "x", [self._latent_size])
    batch = ps.shape(x)[:-1]
    return tf.reshape(x, ps.concat([batch, self._event_shape.as_list()], 0))

  def _inverse(self, y):
    y = self._validate_input(
        y, "y (the data passed to inverse or log_prob)", self._event_shape)
    batch = ps.shape(y)[:ps.rank(y) - self._event_shape.rank]
    return tf.reshape(y, ps.concat([batch, [self._latent_size]], 0))

  def _forward_log_det_jacobian(self, x):
    return tf.zeros([], x.dtype)
