"""The planar flow (Rezende & Mohamed 2015): y = x + u_hat tanh(w^T x + b)."""

import math

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import _parameters
from tfp_flows.bijectors import base

__all__ = ["Planar"]

# softplus(LOG_E_MINUS_1) = 1: where w^T u takes this value, w^T u_hat = 0
# and the layer is the identity (its initial state).
LOG_E_MINUS_1 = math.log(math.e - 1.)


class Planar(_parameters.ParameterizedLayer):
  """y = x + u_hat * tanh(w^T x + b) on [..., D] vectors: one planar layer.

  A contraction or expansion of the space along the hyperplane w^T x + b = 0
  (Rezende & Mohamed 2015, section 4.1), with

    log |det dy/dx| = log |1 + (1 - tanh^2(w^T x + b)) w^T u_hat|.

  Invertible when w^T u_hat >= -1; the paper's reparameterisation of the
  free u guarantees w^T u_hat > -1:

    u_hat = u + (m(w^T u) - w^T u) w / ||w||^2,   m(a) = -1 + softplus(a),

  so w^T u_hat = m(w^T u). The log-det is computed as
  log(t^2 + (1 - t^2) softplus(w^T u)), t = tanh(w^T x + b): a sum of
  non-negative terms, no cancellation near w^T u_hat = -1.

  `forward` (latent to data, the sampling direction of a flow for
  variational inference) is closed form. `inverse` solves the scalar
  equation a + (w^T u_hat) tanh(a + b) = w^T y for a = w^T x, increasing in
  a, by a bracketed root finder (`base.search_root`: |residual| <=
  `tolerance` or the bracket [w^T y - |w^T u_hat| - 1, w^T y + |w^T u_hat| +
  1] narrowed to a few ulps, at most `max_iterations` steps), then x = y -
  u_hat tanh(a + b); its gradient is the implicit function's
  (`base.implicit_root`).

  Initial state: w ~ N(0, 1/D) (seeded) and u = log(e - 1) w / ||w||^2, so
  that w^T u_hat = 0: a new layer is the identity.

  With `context_shape=[C]` the parameters (u, w, b) are shifted by a
  zero-initialised linear map of the context c (amortised: the kwarg
  `conditional_input`, c [..., C]).

  #### Example

  ```python
  layer = tfp_flows.bijectors.Planar(2)
  y = layer.forward(tf.random.normal([5, 2]))
  x = layer.inverse(y)  # root finding, to the stated tolerance
  ```

  References:
    Rezende, D. J. & Mohamed, S. (2015). Variational Inference with Normalizing
      Flows. ICML. arXiv:1505.05770.
  """

  def __init__(self,
               event_size,
               context_shape=None,
               tolerance=None,
               max_iterations=60,
               seed=None,
               validate_args=False,
               dtype=tf.float32,
               name="planar"):
    """Creates the parameters (u, w, b).

    Args:
      event_size: D.
      context_shape: [C] for a layer conditioned on a context, else None.
      tolerance: the inverse's stopping tolerance on |residual|; None for
        `base.DEFAULT_ROOT_TOLERANCES` of the dtype.
      max_iterations: cap on the inverse's root-finder steps.
      seed: int seed of w's initial draw, or None for numpy's global
        generator (seeded by `tf_keras.utils.set_random_seed`).
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype.
      name: name scope.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      d = _parameters.check_event_size(event_size)
      w = _parameters.random_state(seed).normal(size=d) / math.sqrt(d)
      u = LOG_E_MINUS_1 * w / np.dot(w, w)
      self._tolerance = tolerance
      self._max_iterations = int(max_iterations)
      super().__init__(d, np.concatenate([u, w, [0.]]), context_shape,
                       validate_args, dtype, parameters, name)

  def _unpack(self, x, conditional_input):
    """(u_hat, w, b, softplus(w^T u)), each [..., D] or [..., 1]."""
    d = self._event_size
    theta = self._theta(x, conditional_input)
    u, w, b = theta[..., :d], theta[..., d:2 * d], theta[..., 2 * d:]
    wu = tf.reduce_sum(w * u, axis=-1, keepdims=True)
    softplus = tf.math.softplus(wu)
    tiny = np.finfo(x.dtype.as_numpy_dtype).tiny
    w_squared = tf.maximum(tf.reduce_sum(w * w, axis=-1, keepdims=True), tiny)
    u_hat = u + (softplus - 1. - wu) * w / w_squared
    return u_hat, w, b, softplus

  @staticmethod
  def _log_slope(t, softplus):
    """log(1 + (1 - t^2) w^T u_hat) [..., 1], floored at the dtype's tiny."""
    tiny = np.finfo(t.dtype.as_numpy_dtype).tiny
    return tf.math.log(tf.maximum(t * t + (1. - t * t) * softplus, tiny))

  def _augmented_forward(self, x, conditional_input=None):
    x = self._validate_input(x, "x", [self._event_size])
    u_hat, w, b, softplus = self._unpack(x, conditional_input)
    t = tf.tanh(tf.reduce_sum(w * x, axis=-1, keepdims=True) + b)
    fldj = tf.squeeze(self._log_slope(t, softplus), -1)
    return x + u_hat * t, {"fldj": fldj, "ildj": -fldj}

  def _augmented_inverse(self, y, conditional_input=None):
    y = self._validate_input(y, "y", [self._event_size])
    u_hat, w, b, softplus = self._unpack(y, conditional_input)
    target = tf.reduce_sum(w * y, axis=-1, keepdims=True)
    c = softplus - 1.  # w^T u_hat > -1

    def residual(a, c, b, target):
      return a + c * tf.tanh(a + b) - target

    fixed = [tf.stop_gradient(v) for v in (c, b, target)]
    half_width = tf.abs(fixed[0]) + 1.
    a0 = base.search_root(lambda a: residual(a, *fixed),
                          fixed[2] - half_width, fixed[2] + half_width,
                          self._tolerance, self._max_iterations)
    t0 = tf.tanh(a0 + b)
    a = base.implicit_root(a0, residual(a0, c, b, target),
                           t0 * t0 + (1. - t0 * t0) * softplus)
    t = tf.tanh(a + b)
    fldj = tf.squeeze(self._log_slope(t, softplus), -1)
    return y - u_hat * t, {"fldj": fldj, "ildj": -fldj}
