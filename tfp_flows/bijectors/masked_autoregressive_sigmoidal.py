"""The deep sigmoidal flow of neural autoregressive flows (NAF-DSF) on the autoregressive layer."""

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import autoregressive
from tfp_flows.bijectors import base

__all__ = ["DEFAULT_BOUND", "DEFAULT_LOG_SLOPE_BOUND",
           "MaskedAutoregressiveSigmoidal", "num_params", "sigmoidal"]

# Linear tails beyond [-B, B]: the data side standardised (ActNorm) lies
# inside; the inverse's root finder searches this bracket.
DEFAULT_BOUND = 8.
# |log a_k| <= this: slopes of the sigmoids within [1e-3, 1.1e3], so no
# network output, however large, overflows a_k y + b_k.
DEFAULT_LOG_SLOPE_BOUND = 7.
# The units' fixed shifts are spread evenly over [-SPREAD, SPREAD]: a
# zero-initialised network gives every unit the same gradient, and without
# different starting points they would stay equal (one sigmoid, an affine
# map) forever.
SPREAD = 2.


def num_params(num_sigmoids):
  """3K: K raw log-slopes, K raw shifts, K raw weights per entry.

  Raises:
    ValueError: `num_sigmoids` < 1.
  """
  if int(num_sigmoids) < 1:
    raise ValueError(f"`num_sigmoids` must be >= 1; got {num_sigmoids}.")
  return 3 * int(num_sigmoids)


def _unpack(theta, num_sigmoids, log_slope_bound):
  """theta [..., 3K] -> (log a, b, log w), each [..., K], clipped so none overflows."""
  k = num_sigmoids
  log_a = base.clip(theta[..., :k], log_slope_bound)
  offsets = tf.constant(np.linspace(-SPREAD, SPREAD, k) if k > 1 else [0.],
                        theta.dtype)
  b = base.clip(theta[..., k:2 * k], base.DEFAULT_SHIFT_BOUND) + offsets
  log_w = tf.nn.log_softmax(
      base.clip(theta[..., 2 * k:], base.DEFAULT_SHIFT_BOUND), axis=-1)
  return log_a, b, log_w


def sigmoidal(y, log_a, b, log_w):
  """f(y) = logit(sum_k w_k sigmoid(a_k y + b_k)) and log f'(y), elementwise.

  With l_k = log w_k + log sigmoid(u_k), m_k = log w_k + log sigmoid(-u_k),
  u_k = a_k y + b_k: f = logsumexp(l) - logsumexp(m) and

    log f'(y) = logsumexp_k(log a_k + log_softmax(l)_k + log_softmax(m)_k
                            - log w_k),

  since w_k s_k (1 - s_k) / (s (1 - s)) = p_k q_k / w_k with p = softmax(l),
  q = softmax(m). The softmax forms subtract the dominant term exactly, so
  where s is within rounding of 0 or 1 (f large) the log-slope keeps its
  precision instead of cancelling two large logs.

  Args:
    y: [...].
    log_a, b, log_w: [..., K] (log w normalised: logsumexp = 0).

  Returns:
    (f(y), log f'(y)), each of y's shape.
  """
  u = tf.exp(log_a) * y[..., None] + b
  l = log_w + tf.math.log_sigmoid(u)
  m = log_w + tf.math.log_sigmoid(-u)
  f = tf.reduce_logsumexp(l, axis=-1) - tf.reduce_logsumexp(m, axis=-1)
  log_slope = tf.reduce_logsumexp(
      log_a + tf.nn.log_softmax(l, axis=-1) + tf.nn.log_softmax(m, axis=-1)
      - log_w, axis=-1)
  return f, log_slope


def _solve(target, log_a, b, log_w, bound, tolerance, max_iterations):
  """y in [-bound, bound] with sigmoidal(y) = target (no gradient)."""
  def residual(y):
    return sigmoidal(y, log_a, b, log_w)[0] - target
  return base.search_root(residual, -bound, bound, tolerance, max_iterations)


# Run eagerly, the root finder's loop would dispatch its ops one by one
# (30 ms per solve at [2, 16] entries); traced once per signature it is one
# call. Inside a graph (tf.function, XLA, SavedModel) `_solve` is inlined.
_solve_eagerly = tf.function(_solve, autograph=False, reduce_retracing=True)


class MaskedAutoregressiveSigmoidal(autoregressive.Autoregressive):
  """Neural autoregressive layer: entry i through a deep sigmoidal flow with parameters from y_<i.

  Huang et al.'s (2018) NAF with the DSF transformer, in MAF's arrangement
  (forward: latent x -> data y). The data-to-latent map of entry i is the
  monotone sigmoidal network

    x_i = f_i(y_i) = logit( sum_k w_ik sigmoid(a_ik y_i + b_ik) ),

  a_ik > 0, w_i on the simplex, (a_i, b_i, w_i) = theta_i(y_<i) from a MADE
  (`nets.MADE(..., params=3K)`), continued with slope 1 beyond [-B, B]
  (`base.linear_tails`): a strictly increasing bijection of the real line
  whatever the parameters, and a universal approximator of monotone maps as
  K grows (the paper's Proposition 2). The log-slope is computed in a
  cancellation-free form (`sigmoidal`).

  * inverse (data -> latent; `log_prob`): closed form, ONE MADE pass gives
    x and log |det dx/dy| = sum_i log f_i'(y_i).
  * forward (latent -> data; sampling): D MADE passes (the
    `autoregressive.Autoregressive` loop), each solving f_i(y_i) = x_i by a
    bracketed root finder (`base.search_root` on [-B, B], the tails solved
    exactly: |residual| <= `tolerance` or the bracket a few ulps wide, at
    most `max_iterations` steps), with the implicit function's gradient
    (`base.implicit_root`).

  theta_i's layout: [K raw log-slopes, K raw shifts, K raw weight logits];
  log a = clip(raw, +-`log_slope_bound`), b = clip(raw, +-1e3) + a fixed
  offset per unit (spread over [-2, 2]: a zero-initialised MADE would give
  identical units identical gradients forever), w = softmax(clip(raw,
  +-1e3)). A new layer (MADE output 0) is a smooth increasing map with slope
  1 in the tails, not the identity.

  Shapes: x and y are `batch_shape + [D]`; the conditioner maps y [..., D]
  (plus `conditional_input=c` when conditional) to [..., D, 3K]. Log-dets
  have shape `batch_shape`.

  #### Example

  ```python
  import tfp_flows
  from tfp_flows.bijectors import masked_autoregressive_sigmoidal as dsf

  made = tfp_flows.nets.MADE(4, [64, 64], params=dsf.num_params(8))
  made.build([None, 4])
  layer = tfp_flows.bijectors.MaskedAutoregressiveSigmoidal(
      made, num_sigmoids=8)
  x = layer.inverse(tf.random.normal([10, 4]))  # closed form, one pass
  ```

  References:
    Huang, C.-W., Krueger, D., Lacoste, A. & Courville, A. (2018). Neural
      Autoregressive Flows. ICML. arXiv:1804.00779.
    Germain, M., Gregor, K., Murray, I. & Larochelle, H. (2015). MADE: Masked
      Autoencoder for Distribution Estimation. ICML. arXiv:1502.03509.
  """

  _params_description = "K raw log-slopes, K raw shifts and K raw weights"

  def __init__(self,
               conditioner,
               num_sigmoids=8,
               bound=DEFAULT_BOUND,
               log_slope_bound=DEFAULT_LOG_SLOPE_BOUND,
               tolerance=None,
               max_iterations=60,
               validate_args=False,
               dtype=tf.float32,
               name="masked_autoregressive_sigmoidal"):
    """Builds the layer over `conditioner`.

    Args:
      conditioner: a MADE with `params=3 * num_sigmoids` (or any callable
        with MADE's masks) mapping y [..., D] (and any bijector kwargs, such
        as `conditional_input`) to [..., D, 3K].
      num_sigmoids: K >= 1, the sigmoids of each entry's transform.
      bound: B > 0: the sigmoidal map on [-B, B], slope 1 beyond.
      log_slope_bound: each |log a_k| <= this (a positive number).
      tolerance: the forward's stopping tolerance on |f(y) - x|; None for
        `base.DEFAULT_ROOT_TOLERANCES` of the dtype.
      max_iterations: cap on the forward's root-finder steps.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of inputs and outputs.
      name: name scope.

    Raises:
      ValueError: `num_sigmoids` < 1, or a bound not a positive number.
    """
    parameters = dict(locals())
    self._num_params = num_params(num_sigmoids)
    self._num_sigmoids = int(num_sigmoids)
    self._bound = base.check_bound(bound, "bound")
    self._log_slope_bound = base.check_bound(log_slope_bound,
                                             "log_slope_bound")
    if self._bound is None or self._log_slope_bound is None:
      raise ValueError("`bound` and `log_slope_bound` must be positive "
                       f"numbers; got {bound!r} and {log_slope_bound!r}.")
    self._tolerance = tolerance
    self._max_iterations = int(max_iterations)
    super().__init__(conditioner, validate_args=validate_args, dtype=dtype,
                     parameters=parameters, name=name)

  @property
  def num_sigmoids(self):
    return self._num_sigmoids

  def _params(self, theta):
    return _unpack(theta, self._num_sigmoids, self._log_slope_bound)

  def _inverse_transform(self, y, theta):
    params = self._params(theta)
    x, log_slope = base.linear_tails(lambda v: sigmoidal(v, *params), y,
                                     self._bound)
    # The base class takes the forward's log-derivative, log g' = -log f'.
    return x, -log_slope

  def _forward_transform(self, x, theta):
    params = self._params(theta)
    ones = tf.ones_like(x)
    low, _ = sigmoidal(-self._bound * ones, *params)
    high, _ = sigmoidal(self._bound * ones, *params)
    # Beyond f(+-B) the map has slope 1: y = +-B + (x - f(+-B)) exactly, and
    # the root finder solves f(y) = x only for x inside [f(-B), f(B)].
    target = tf.minimum(tf.maximum(x, low), high)
    fixed = [tf.stop_gradient(v) for v in (target,) + params]
    solve = _solve_eagerly if tf.executing_eagerly() else _solve
    root = solve(*fixed, tf.constant(self._bound, x.dtype), self._tolerance,
                 self._max_iterations)
    value, log_slope = sigmoidal(root, *params)
    # A flat stretch of f (separated steep sigmoids) may underflow the slope.
    tiny = np.finfo(x.dtype.as_numpy_dtype).tiny
    root = base.implicit_root(root, value - target,
                              tf.maximum(tf.exp(log_slope), tiny))
    inside = tf.cast(tf.equal(x, target), x.dtype)
    _, log_slope = sigmoidal(root, *params)
    return root + (x - target), -log_slope * inside
