"""NICE's learned diagonal scaling layer."""

import tensorflow as tf

from tfp_flows.tfp_internal import parameter_properties, tensor_util

from tfp_flows.bijectors import base

__all__ = ["Rescaling"]


class Rescaling(base.FlowBijector):
  """Elementwise learned scale over a whole event: y = x * exp(s).

  `s` has the event's shape, so log |det J| = sum(s) for every x. This is the
  diagonal matrix S of NICE (Dinh et al. 2014, section 3.3): it lets the model
  weigh each latent dimension. The Jacobian does not depend on x, so the
  bijector is `is_constant_jacobian`.

  Bound (far from the data): data to latent |x| <= |y| exp(-min s)
  entrywise, with the constant log-det -sum(s): a finite gain set by `s`.

  Shapes: x, y: `batch_shape + event_shape`; log-det: `batch_shape` (constant).

  #### Example

  ```python
  scale = tfp_flows.bijectors.Rescaling(event_shape=[64])  # s = 0: identity
  scale.log_scale  # a trainable tf.Variable of shape [64]
  ```

  References:
    Dinh, L., Krueger, D. & Bengio, Y. (2015). NICE: Non-linear Independent
      Components Estimation. ICLR workshop. arXiv:1410.8516.
  """

  def __init__(self,
               event_shape=None,
               log_scale=None,
               validate_args=False,
               dtype=tf.float32,
               name="rescaling"):
    """Creates the bijector.

    Args:
      event_shape: shape of the event; a zero-initialised trainable variable
        `log_scale` of that shape is created. Exclusive with `log_scale`.
      log_scale: float tensor or variable `s` of event shape.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype.
      name: name scope.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      if (event_shape is None) == (log_scale is None):
        raise ValueError(
            "Exactly one of `event_shape` and `log_scale` must be given; got "
            f"event_shape={event_shape!r}, log_scale={log_scale!r}.")
      if log_scale is None:
        log_scale = tf.Variable(
            tf.zeros(event_shape, dtype), name="log_scale")
      self._log_scale = tensor_util.convert_nonref_to_tensor(
          log_scale, dtype=dtype, name="log_scale")
      if self._log_scale.shape.rank is None:
        raise ValueError("`log_scale` must have a static rank.")
      super().__init__(
          forward_min_event_ndims=self._log_scale.shape.rank,
          is_constant_jacobian=True,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict(
        log_scale=parameter_properties.ParameterProperties(
            event_ndims=lambda self: self.forward_min_event_ndims))

  @property
  def log_scale(self):
    return self._log_scale

  def _forward(self, x):
    return self._validate_input(x, "x", self._log_scale.shape) * tf.exp(self._log_scale)

  def _inverse(self, y):
    return self._validate_input(y, "y", self._log_scale.shape) * tf.exp(-self._log_scale)

  def _forward_log_det_jacobian(self, x):
    return tf.reduce_sum(self._log_scale)
