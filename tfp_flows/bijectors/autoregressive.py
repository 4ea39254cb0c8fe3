"""Autoregressive layers: the shared mechanism behind MAF's affine and NSF's spline layers."""

import tensorflow as tf

from tfp_flows.tfp_internal import ps

from tfp_flows.bijectors import base

__all__ = ["Autoregressive", "in_passes"]



def in_passes(step, x):
  """Inverts an autoregressive map by D passes of `step`: (y, log |dy/dx|).

  `step(y)` maps the current estimate y [..., D] to a new one and its
  per-entry log-slopes [..., D], entry i computed from y_<i; from y = 0,
  after pass d entries 0..d are exact, so D passes (a `tf.while_loop`,
  traced once) give y, and the last pass's log-slopes sum to the log-det.
  """
  # Pass 1 outside the loop: from y = 0 it fixes the first entry (and the
  # output's shape, which a context's batch may broadcast).
  y, ldj = step(tf.zeros_like(x))

  def body(y, ldj):
    new_y, new_ldj = step(y)
    new_y.set_shape(y.shape)
    new_ldj.set_shape(ldj.shape)
    return new_y, new_ldj

  y, ldj = tf.while_loop(
      cond=lambda *_: True, body=body, loop_vars=(y, ldj),
      maximum_iterations=ps.shape(x)[-1] - 1)
  return y, tf.reduce_sum(ldj, axis=-1)


class Autoregressive(base.AugmentedBijector):
  """Base class: y_i = g(x_i; theta_i(y_<i)), theta = conditioner(y), a MADE.

  The direction is TFP's `tfb.MaskedAutoregressiveFlow`'s: forward maps the
  latent side x to the data side y, and the parameters theta_i of entry i
  depend on the entries of y before i (in the conditioner's order).
  Subclasses define the elementwise transform g by implementing
  `_forward_transform(x, theta) -> (y, ldj)` and
  `_inverse_transform(y, theta) -> (x, ldj)`, with `ldj` the elementwise
  log |dg/dx| at the point, and set `_num_params`, the size of theta's last
  axis. The Jacobian is triangular, so log |det dy/dx| = sum_i ldj_i.

  Costs, on the one-call contract of `base.AugmentedBijector` (the transform
  and its log-det come out of the same network passes):

  * inverse (data -> latent; MAF's `log_prob`, IAF's sampling): ONE
    conditioner pass on y gives x and the inverse log-det.
  * forward (latent -> data; MAF's sampling, IAF's `log_prob`): y is built
    one entry at a time, D passes (a `tf.while_loop`, so it traces once and
    compiles with XLA): after pass k the first k entries of y (in the
    conditioner's order) are exact, so the D-th pass's theta is that of the
    final y, and its log-derivative is the log-det; no extra pass. Autodiff
    through the loop gives the exact gradients (y_D equals the solution as
    a function, not only at a point).

  TFP's `tfb.MaskedAutoregressiveFlow` runs the network twice per
  `log_prob` (once for the transform, once more for the log-det), and D + 1
  times for a sample with its log-density.

  Shapes: x and y are `batch_shape + [D]`; the conditioner maps y [..., D]
  (plus `conditional_input=c` when conditional, routed here as a bijector
  kwarg) to [..., D, P], P = `_num_params`. Log-dets have shape
  `batch_shape`.

  References:
    Papamakarios, G., Pavlakou, T. & Murray, I. (2017). Masked Autoregressive
      Flow for Density Estimation. NeurIPS. arXiv:1705.07057.
    Kingma, D. P., Salimans, T., Jozefowicz, R., Chen, X., Sutskever, I. &
      Welling, M. (2016). Improved Variational Inference with Inverse
      Autoregressive Flow. NeurIPS. arXiv:1606.04934.
  """

  _num_params = None
  # What theta's P entries are, for the error message of a wrong conditioner.
  _params_description = None

  def __init__(self, conditioner, validate_args=False, dtype=tf.float32,
               parameters=None, name="autoregressive"):
    """Registers the conditioner.

    Args:
      conditioner: a MADE (`tfp_flows.nets.MADE`, or any callable with
        MADE's masks) mapping y [..., D] (and any bijector kwargs, such as
        `conditional_input`) to [..., D, P].
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of inputs and outputs.
      parameters: the subclass's `dict(locals())`.
      name: name scope.
    """
    with tf.name_scope(name) as name:
      self._conditioner = conditioner
      event_shape = getattr(conditioner, "event_shape", None)
      self._event_shape = (None if event_shape is None
                           else [int(d) for d in event_shape])
      super().__init__(
          forward_min_event_ndims=1,
          is_constant_jacobian=False,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)

  @property
  def conditioner(self):
    """The MADE; `tfp_flows.context` finds conditional layers through it."""
    return self._conditioner

  def _forward_transform(self, x, theta):
    raise NotImplementedError

  def _inverse_transform(self, y, theta):
    raise NotImplementedError

  def _theta(self, y, **kwargs):
    """The conditioner's output [..., D, P] at y, checked and in y's dtype."""
    theta = tf.cast(self._conditioner(y, **kwargs), y.dtype)
    if (theta.shape.rank is not None and
        theta.shape[-1] not in (None, self._num_params)):
      raise ValueError(
          f"{self.name}: the `conditioner` must return [..., D, "
          f"{self._num_params}] ({self._params_description} per entry); got "
          f"shape {theta.shape.as_list()}.")
    return theta

  def _augmented_forward(self, x, **kwargs):
    x = self._validate_input(x, "x", self._event_shape)
    y, fldj = in_passes(
        lambda y: self._forward_transform(x, self._theta(y, **kwargs)), x)
    return y, {"fldj": fldj, "ildj": -fldj}

  def _augmented_inverse(self, y, **kwargs):
    y = self._validate_input(y, "y", self._event_shape)
    x, ldj = self._inverse_transform(y, self._theta(y, **kwargs))
    fldj = tf.reduce_sum(ldj, axis=-1)
    return x, {"fldj": fldj, "ildj": -fldj}
