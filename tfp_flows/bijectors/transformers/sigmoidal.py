"""The deep sigmoidal transform of neural autoregressive flows (NAF-DSF)."""

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import base
from tfp_flows.bijectors.transformers import transformer

__all__ = ["DEFAULT_BOUND", "DEFAULT_LOG_SLOPE_BOUND", "Sigmoidal",
           "num_params", "sigmoidal"]

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



class Sigmoidal(transformer.Transformer):
  """g = f^-1, f(y) = logit(sum_k w_k sigmoid(a_k y + b_k)): NAF's deep sigmoidal flow.

  The explicit direction of this transformer is the inverse, data to latent:
  f is a monotone sigmoidal network (a_k > 0, w on the simplex), continued
  with slope 1 beyond [-B, B] (`bound`), a strictly increasing bijection of
  the line whatever its parameters and a universal approximator of monotone
  maps as K (`num_sigmoids`) grows. The forward solves f(y) = x per entry by
  a bracketed root finder (`base.search_root` on [-B, B] to `tolerance`,
  default by dtype, within `max_iterations`) with the implicit function's
  gradient. So `log_prob` is closed form in MAF's arrangement.

  P = 3K per entry, [K raw log-slopes, K raw shifts, K raw weight logits]:
  log a = clip(raw, +-`log_slope_bound`), b = clip(raw, +-1e3) plus a fixed
  offset per unit spread over [-2, 2] (identical units would get identical
  gradients forever), w = softmax(clip(raw, +-1e3)). A MADE returns
  [..., D, 3K]; a coupling's conditioner [..., d_B * 3K], entry-major.
  Zero parameters give a smooth increasing map, not the identity.

  #### Example

  ```python
  import tfp_flows

  tfb = tfp_flows.bijectors
  dsf = tfb.transformers.Sigmoidal(num_sigmoids=8)
  made = tfp_flows.nets.MADE(4, [64, 64], params=dsf.num_params)
  made.build([None, 4])
  layer = tfb.Autoregressive(made, dsf)
  x = layer.inverse(tf.random.normal([10, 4]))  # closed form, one pass
  ```

  References:
    Huang, C.-W., Krueger, D., Lacoste, A. & Courville, A. (2018). Neural
      Autoregressive Flows. ICML. arXiv:1804.00779.
  """

  params_description = "K raw log-slopes, K raw shifts and K raw weights"

  def __init__(self,
               num_sigmoids=8,
               bound=DEFAULT_BOUND,
               log_slope_bound=DEFAULT_LOG_SLOPE_BOUND,
               tolerance=None,
               max_iterations=60):
    """Builds the transform's settings.

    Args:
      num_sigmoids: K >= 1, the sigmoids of each entry's transform.
      bound: B > 0: the sigmoidal map on [-B, B], slope 1 beyond.
      log_slope_bound: each |log a_k| <= this (a positive number).
      tolerance: the forward's stopping tolerance on |f(y) - x|; None for
        `base.DEFAULT_ROOT_TOLERANCES` of the dtype.
      max_iterations: cap on the forward's root-finder steps.

    Raises:
      ValueError: `num_sigmoids` < 1, or a bound not a positive number.
    """
    self.num_params = num_params(num_sigmoids)
    self._num_sigmoids = int(num_sigmoids)
    self._bound = base.check_bound(bound, "bound")
    self._log_slope_bound = base.check_bound(log_slope_bound,
                                             "log_slope_bound")
    if self._bound is None or self._log_slope_bound is None:
      raise ValueError("`bound` and `log_slope_bound` must be positive "
                       f"numbers; got {bound!r} and {log_slope_bound!r}.")
    self._tolerance = None if tolerance is None else float(tolerance)
    self._max_iterations = int(max_iterations)

  @property
  def num_sigmoids(self):
    return self._num_sigmoids

  @property
  def bound(self):
    return self._bound

  def get_config(self):
    return {"num_sigmoids": self._num_sigmoids, "bound": self._bound,
            "log_slope_bound": self._log_slope_bound,
            "tolerance": self._tolerance,
            "max_iterations": self._max_iterations}

  def params(self, theta, value, site):
    if site.layout != transformer.AUTOREGRESSIVE:
      theta = transformer.entry_major(theta, value.shape[-1], self.num_params,
                                      site.owner, self.params_description)
    return _unpack(theta, self._num_sigmoids, self._log_slope_bound)

  def inverse(self, y, params):
    x, log_slope = base.linear_tails(lambda v: sigmoidal(v, *params), y,
                                     self._bound)
    # The layers take the forward's log-derivative, log g' = -log f'.
    return x, -log_slope

  def forward(self, x, params):
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
