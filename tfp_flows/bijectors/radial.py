"""The radial flow (Rezende & Mohamed 2015): y = x + beta (x - x0) / (alpha + |x - x0|)."""

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import _parameters

__all__ = ["Radial"]


def _norm(v):
  """|v| over the last axis, [..., 1], without overflow or a NaN gradient at 0.

  Scaled by the largest entry, so |v| is finite for any finite v; the sum
  is floored at the dtype's tiny, where sqrt's gradient would be infinite.
  """
  tiny = np.finfo(v.dtype.as_numpy_dtype).tiny
  # The norm does not depend on the scale: no gradient through it.
  scale = tf.stop_gradient(
      tf.maximum(tf.reduce_max(tf.abs(v), axis=-1, keepdims=True), tiny))
  scaled = v / scale
  return scale * tf.sqrt(tf.maximum(
      tf.reduce_sum(scaled * scaled, axis=-1, keepdims=True), tiny))


class Radial(_parameters.ParameterizedLayer):
  """y = x + beta (x - x0) / (alpha + r), r = |x - x0|, on [..., D] vectors.

  A contraction or expansion of the space around the point x0 (Rezende &
  Mohamed 2015, section 4.1), with h = 1 / (alpha + r),

    log |det dy/dx| = (D - 1) log(1 + beta h) + log(1 + beta h - beta h^2 r)
                    = (D - 1) log((alpha + beta + r) / (alpha + r))
                      + log1p(alpha beta / (alpha + r)^2).

  Invertible when beta >= -alpha (the paper's condition); the free
  parameters (x0, a, b) give alpha = softplus(a) > 0 and
  beta = -alpha + softplus(b), so alpha + beta = softplus(b) >= 0.

  Both directions are closed form: y - x0 = (x - x0)(1 + beta / (alpha +
  r)), so R = |y - x0| = r (alpha + beta + r) / (alpha + r), the quadratic

    r^2 + (alpha + beta - R) r - alpha R = 0,

  whose non-negative root gives x - x0 = (y - x0)(alpha + r) / (alpha +
  beta + r). The root is taken in whichever of its two algebraic forms
  avoids cancellation, and the discriminant and norms are computed scaled,
  so no finite input overflows.

  Initial state: x0 ~ N(0, I), a = 0 and b ~ N(0, 0.1^2) (seeded): near the
  identity (|beta| <~ 0.05), not at it, where the gradient in x0 would
  vanish. With `context_shape=[C]` the parameters are shifted by a
  zero-initialised linear map of the context (the kwarg `conditional_input`,
  c [..., C]).

  #### Example

  ```python
  layer = tfp_flows.bijectors.Radial(2)
  y = layer.forward(tf.random.normal([5, 2]))
  x = layer.inverse(y)  # closed form
  ```

  References:
    Rezende, D. J. & Mohamed, S. (2015). Variational Inference with Normalizing
      Flows. ICML. arXiv:1505.05770.
  """

  def __init__(self,
               event_size,
               context_shape=None,
               seed=None,
               validate_args=False,
               dtype=tf.float32,
               name="radial"):
    """Creates the parameters (x0, a, b).

    Args:
      event_size: D.
      context_shape: [C] for a layer conditioned on a context, else None.
      seed: int seed of x0's initial draw, or None for numpy's global
        generator (seeded by `tf_keras.utils.set_random_seed`).
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype.
      name: name scope.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      d = _parameters.check_event_size(event_size)
      rng = _parameters.random_state(seed)
      initial = np.concatenate([rng.normal(size=d), [0.],
                                0.1 * rng.normal(size=1)])
      super().__init__(d, initial, context_shape, validate_args, dtype,
                       parameters, name)

  def _unpack(self, x, conditional_input):
    """(x0 [..., D], alpha, alpha + beta, beta), the last three [..., 1]."""
    d = self._event_size
    theta = self._theta(x, conditional_input)
    alpha = tf.math.softplus(theta[..., d:d + 1])
    alpha_plus_beta = tf.math.softplus(theta[..., d + 1:])
    return theta[..., :d], alpha, alpha_plus_beta, alpha_plus_beta - alpha

  def _log_det(self, r, alpha, alpha_plus_beta, beta):
    """The forward log-det at radius r [..., 1], as [...]."""
    info = np.finfo(r.dtype.as_numpy_dtype)
    # Floors keep the log-det finite where both factors vanish (beta = -alpha
    # at x = x0): a point the map sends to x0 with zero slope.
    radial = (tf.math.log(tf.maximum(alpha_plus_beta + r, info.tiny)) -
              tf.math.log(alpha + r))
    along = tf.math.log1p(tf.maximum(alpha * beta / tf.square(alpha + r),
                                     info.eps - 1.))
    return tf.squeeze((self._event_size - 1) * radial + along, -1)

  def _augmented_forward(self, x, conditional_input=None):
    x = self._validate_input(x, "x", [self._event_size])
    x0, alpha, alpha_plus_beta, beta = self._unpack(x, conditional_input)
    r = _norm(x - x0)
    fldj = self._log_det(r, alpha, alpha_plus_beta, beta)
    return x + beta * (x - x0) / (alpha + r), {"fldj": fldj, "ildj": -fldj}

  def _augmented_inverse(self, y, conditional_input=None):
    y = self._validate_input(y, "y", [self._event_size])
    x0, alpha, alpha_plus_beta, beta = self._unpack(y, conditional_input)
    tiny = np.finfo(y.dtype.as_numpy_dtype).tiny
    big_r = _norm(y - x0)
    q = alpha_plus_beta - big_r
    # sqrt(q^2 + 4 alpha R), scaled so that neither square overflows.
    root_term = 2. * tf.sqrt(alpha * big_r)
    scale = tf.maximum(tf.maximum(tf.abs(q), root_term), tiny)
    disc = scale * tf.sqrt(tf.square(q / scale) + tf.square(root_term / scale))
    # (disc - q) / 2 cancels when q > 0; the product of the roots is
    # -alpha R, so there the root is 2 alpha R / (q + disc).
    # Each branch finite on the other's side too (its gradient is 0 there,
    # and 0 * inf would be NaN).
    positive = q > 0.
    r = tf.where(positive,
                 2. * alpha * big_r / tf.where(positive, q + disc,
                                               tf.ones_like(q)),
                 (disc - q) / 2.)
    x = x0 + (y - x0) * ((alpha + r) / tf.maximum(alpha_plus_beta + r, tiny))
    fldj = self._log_det(r, alpha, alpha_plus_beta, beta)
    return x, {"fldj": fldj, "ildj": -fldj}
