"""The autoregressive layer: y_i = g(x_i; conditioner(y)_i), a MADE and any transformer g."""

import functools

import tensorflow as tf

from tfp_flows.tfp_internal import ps

from tfp_flows.bijectors import base
from tfp_flows.bijectors.transformers import transformer as transformer_lib

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


def _identity(value):
  return value


class Autoregressive(base.AugmentedBijector):
  """Autoregressive layer: y_i = g(x_i; theta_i(y_<i)), theta = conditioner(y), a MADE.

  g is the `transformer` (`bijectors.transformers`: `Affine`, `Spline`,
  `Sigmoidal`, ...), applied to each entry with its own parameters. The
  direction is TFP's `tfb.MaskedAutoregressiveFlow`'s: forward maps the
  latent side x to the data side y, and the parameters theta_i of entry i
  depend on the entries of y before i (in the conditioner's order). The
  Jacobian is triangular, so log |det dy/dx| = sum_i log g'(x_i).
  `MaskedAutoregressive` (MAF, IAF), `MaskedAutoregressiveSpline` (NSF-AR)
  and `MaskedAutoregressiveSigmoidal` (NAF) are this layer with one
  transformer each.

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
  kwarg) to [..., D, P], P = `transformer.num_params`. Log-dets have shape
  `batch_shape`.

  #### Example

  ```python
  import tfp_flows

  tfb = tfp_flows.bijectors
  spline = tfb.transformers.Spline(num_bins=8)
  made = tfp_flows.nets.MADE(4, [64, 64], params=spline.num_params)
  made.build([None, 4])
  layer = tfb.Autoregressive(made, spline)  # NSF-AR in MAF's arrangement
  x = layer.inverse(tf.random.normal([10, 4]))  # one MADE pass
  ```

  References:
    Papamakarios, G., Pavlakou, T. & Murray, I. (2017). Masked Autoregressive
      Flow for Density Estimation. NeurIPS. arXiv:1705.07057.
    Kingma, D. P., Salimans, T., Jozefowicz, R., Chen, X., Sutskever, I. &
      Welling, M. (2016). Improved Variational Inference with Inverse
      Autoregressive Flow. NeurIPS. arXiv:1606.04934.
  """

  def __init__(self, conditioner, transformer, validate_args=False,
               dtype=tf.float32, parameters=None, name="autoregressive"):
    """Registers the conditioner and the transformer.

    Args:
      conditioner: a MADE (`tfp_flows.nets.MADE`, or any callable with
        MADE's masks) mapping y [..., D] (and any bijector kwargs, such as
        `conditional_input`) to [..., D, P], P = `transformer.num_params`.
      transformer: a `bijectors.transformers.Transformer`.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of inputs and outputs.
      parameters: a subclass's `dict(locals())`; None for this class's.
      name: name scope.

    Raises:
      TypeError: `transformer` is not a `Transformer`.
    """
    parameters = dict(locals()) if parameters is None else parameters
    transformer_lib.check(transformer)
    with tf.name_scope(name) as name:
      self._conditioner = conditioner
      self._transformer = transformer
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
    if self._event_shape is not None:
      with tf.name_scope(self.name):
        for variable_name in transformer.variable_names:
          base.layer_variable(self, variable_name, self._event_shape[-1])

  @property
  def conditioner(self):
    """The MADE; `tfp_flows.context` finds conditional layers through it."""
    return self._conditioner

  @property
  def transformer(self):
    """The `bijectors.transformers.Transformer` applied to each entry."""
    return self._transformer

  def _site(self):
    return transformer_lib.Site(
        layout=transformer_lib.AUTOREGRESSIVE, zero_conditioning=_identity,
        variable=functools.partial(base.layer_variable, self),
        owner=self.name)

  def _params(self, value, y, **kwargs):
    """The transformer's parameters for `value` from the conditioner at y."""
    theta = tf.cast(self._conditioner(y, **kwargs), y.dtype)
    num_params = self._transformer.num_params
    if (theta.shape.rank is not None and
        theta.shape[-1] not in (None, num_params)):
      raise ValueError(
          f"{self.name}: the `conditioner` must return [..., D, "
          f"{num_params}] ({self._transformer.params_description} per "
          f"entry); got shape {theta.shape.as_list()}.")
    return self._transformer.params(theta, value, self._site())

  def _log_slopes(self, ldj, value):
    return tf.zeros_like(value) if ldj is None else ldj

  def _augmented_forward(self, x, **kwargs):
    x = self._validate_input(x, "x", self._event_shape)

    def step(y):
      out, ldj = self._transformer.forward(x, self._params(x, y, **kwargs))
      return out, self._log_slopes(ldj, out)

    y, fldj = in_passes(step, x)
    return y, {"fldj": fldj, "ildj": -fldj}

  def _augmented_inverse(self, y, **kwargs):
    y = self._validate_input(y, "y", self._event_shape)
    x, ldj = self._transformer.inverse(y, self._params(y, y, **kwargs))
    fldj = tf.reduce_sum(self._log_slopes(ldj, x), axis=-1)
    return x, {"fldj": fldj, "ildj": -fldj}
