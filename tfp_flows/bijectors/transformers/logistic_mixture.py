"""Flow++'s transform: the logit of a mixture of logistics' CDF, scaled and shifted."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.tfp_internal import ps

from tfp_flows.bijectors import base
from tfp_flows.bijectors.transformers import transformer

__all__ = ["DEFAULT_TOLERANCES", "LogisticMixture", "MAX_LOG_SCALE",
           "MIN_LOG_SCALE"]

# Flow++'s floor on the log-scales: a component narrower than e^-7 makes the
# CDF a near step, whose inverse is ill conditioned.
MIN_LOG_SCALE = -7.
# Ceiling on the log-scales: it bounds the log-det below whatever the
# conditioner outputs. A component e^30 wide is flat on any data: capping it
# moves c(x) by less than pi_k (|x| + |mu_k|) e^-30 / 4.
MAX_LOG_SCALE = 30.

# Default stopping tolerance of the root finder on the logit of the CDF, by
# dtype: ~100 float32 / ~5000 float64 ulps of values of order 1, reachable
# everywhere; the Newton step after the search polishes the rest.
DEFAULT_TOLERANCES = {"float32": 1e-5, "float64": 1e-12}


class LogisticMixture(transformer.Transformer):
  """g(x) = logit(c(x)) exp(a) + b, c a mixture of K logistic CDFs (Flow++).

  Elementwise, with z_k = (x - mu_k) exp(-l_k):

    c(x) = sum_k pi_k sigmoid(z_k),    log g'(x) = a + log p(x) - log c(x)
                                                   - log(1 - c(x)),

  p the mixture's density, every term in log space. a = tanh(raw a),
  l = clip(raw l, -7, 30), b and the means clipped to +-S (`shift_bound`),
  slope-1 tails beyond +-T (`tail_bound`), and the means offset by fixed
  constants spread over [-`component_spread`, `component_spread`] so that a
  zero-initialised network's components differ. The inverse solves
  logit(c(x)) = (y - b) exp(-a) by Chandrupatla's bracketed method to
  `tolerance` (default 1e-5 in float32, 1e-12 in float64) within
  `max_iterations`, then takes one bounded Newton step, which also gives the
  implicit-function gradients. `bijectors.LogisticMixtureCoupling` derives
  the bracket and the bounds.

  P = 3K + 2 per entry. A coupling's conditioner returns parameter-major
  blocks of d_B along its last axis, [b | raw a | logits pi_1..K | mu_1..K |
  raw l_1..K]; a MADE [..., D, 3K + 2] in the same order.

  #### Example

  ```python
  import tfp_flows

  tfb = tfp_flows.bijectors
  mixture = tfb.transformers.LogisticMixture(num_components=4)
  net = tfp_flows.nets.MLP([32], output_units=2 * mixture.num_params)
  layer = tfb.Coupling(net, mixture, num_masked=2)
  x = tf.random.normal([3, 4])
  print(layer.inverse(layer.forward(x)) - x)
  ```

  References:
    Ho, J., Chen, X., Srinivas, A., Duan, Y. & Abbeel, P. (2019). Flow++:
      Improving Flow-Based Generative Models with Variational Dequantization and
      Architecture Design. ICML. arXiv:1902.00275.
    Chandrupatla, T. R. (1997). A new hybrid quadratic/bisection algorithm for
      finding the zero of a nonlinear function without using derivatives.
      Advances in Engineering Software 28(3), 145-149.
  """

  zeroes_conditioning = True

  def __init__(self,
               num_components=32,
               component_spread=0.5,
               tolerance=None,
               max_iterations=60,
               shift_bound=base.DEFAULT_SHIFT_BOUND,
               tail_bound=base.DEFAULT_SHIFT_BOUND):
    """Builds the mixture's settings.

    Args:
      num_components: K >= 1 (Flow++: 32).
      component_spread: >= 0, the span of the means' fixed offsets.
      tolerance: the inverse's stopping tolerance on |logit(c(x)) - t|;
        None for `DEFAULT_TOLERANCES` of the dtype.
      max_iterations: cap on the root finder's steps (60 lets bisection
        shrink a bracket 100 times the root to float64 resolution).
      shift_bound: S > 0: b and the means clipped to [-S, S]; None for none.
      tail_bound: T > 0: slope 1 outside [-T, T]; None for none.

    Raises:
      ValueError: a non-positive `num_components` or `max_iterations`, or a
        negative `component_spread`.
    """
    for arg, value in (("num_components", num_components),
                       ("max_iterations", max_iterations)):
      if int(value) != value or value < 1:
        raise ValueError(f"`{arg}` must be a positive integer; got {value!r}.")
    if not component_spread >= 0:
      raise ValueError(
          f"`component_spread` must be >= 0; got {component_spread!r}.")
    self._num_components = int(num_components)
    self._component_spread = float(component_spread)
    self._tolerance = None if tolerance is None else float(tolerance)
    self._max_iterations = int(max_iterations)
    self._shift_bound = base.check_bound(shift_bound, "shift_bound")
    self._tail_bound = base.check_bound(tail_bound, "tail_bound")
    self.num_params = 3 * self._num_components + 2
    self.params_description = (
        f"b, a and {self._num_components} logits, means and log-scales")

  @property
  def num_components(self):
    return self._num_components

  @property
  def component_spread(self):
    return self._component_spread

  @property
  def tolerance(self):
    """The root finder's tolerance; None: `DEFAULT_TOLERANCES` of the dtype."""
    return self._tolerance

  @property
  def max_iterations(self):
    return self._max_iterations

  @property
  def shift_bound(self):
    return self._shift_bound

  @property
  def tail_bound(self):
    return self._tail_bound

  def get_config(self):
    return {"num_components": self._num_components,
            "component_spread": self._component_spread,
            "tolerance": self._tolerance,
            "max_iterations": self._max_iterations,
            "shift_bound": self._shift_bound,
            "tail_bound": self._tail_bound}

  def params(self, theta, value, site):
    """theta -> (a, b, log pi, mu, l); the last three are [K, *value.shape]."""
    k = self._num_components
    size = self.num_params
    rank = theta.shape.rank
    if site.layout == transformer.AUTOREGRESSIVE:
      # [..., D, size] -> [size, ..., D]: the parameter axis leads.
      blocks = tf.transpose(theta, [rank - 1] + list(range(rank - 1)))
    else:
      channels = value.shape[-1]
      if channels is not None and theta.shape[-1] not in (None,
                                                          size * channels):
        raise ValueError(
            f"{site.owner}: the last axis of the `conditioner` output must be "
            f"(3 * {k} + 2) * {channels} = {size * channels} (a, b and {k} "
            f"logits, means and log-scales for each of the {channels} "
            f"channels of x_B); got {theta.shape[-1]} in shape "
            f"{theta.shape.as_list()}.")
      # [..., size * d] -> [..., size, d] -> [size, ..., d]: the parameter
      # axis leads, so a mask of event shape broadcasts against every block.
      blocks = tf.reshape(theta,
                          ps.concat([ps.shape(theta)[:-1], [size, -1]], 0))
      blocks = tf.transpose(blocks, [rank - 1] + list(range(rank - 1)) +
                            [rank])
      rank += 1
    # As in Affine: a huge output on a discarded entry must not overflow into
    # inf or NaN there.
    blocks = site.zero_conditioning(blocks)
    b = base.clip(blocks[0], self._shift_bound)
    a = tf.tanh(blocks[1])
    log_weights = tf.nn.log_softmax(blocks[2:k + 2], axis=0)
    offsets = (self._component_spread * (2. * np.arange(k) - (k - 1)) /
               max(k - 1, 1))
    offsets = tf.reshape(tf.constant(offsets, blocks.dtype),
                         [k] + [1] * (rank - 1))
    means = base.clip(blocks[k + 2:2 * k + 2], self._shift_bound) + offsets
    log_scales = tf.clip_by_value(blocks[2 * k + 2:],
                                  tf.constant(MIN_LOG_SCALE, blocks.dtype),
                                  tf.constant(MAX_LOG_SCALE, blocks.dtype))
    return a, b, log_weights, means, log_scales

  def _logit_cdf(self, x, log_weights, means, log_scales):
    """logit(c(x)) and log of its derivative, elementwise, in log space."""
    z = (x - means) * tf.exp(-log_scales)
    log_sig = tf.math.log_sigmoid(z)
    log_sig_neg = tf.math.log_sigmoid(-z)
    log_cdf = tf.reduce_logsumexp(log_weights + log_sig, axis=0)
    log_sf = tf.reduce_logsumexp(log_weights + log_sig_neg, axis=0)
    log_pdf = tf.reduce_logsumexp(
        log_weights + log_sig + log_sig_neg - log_scales, axis=0)
    return log_cdf - log_sf, log_pdf - log_cdf - log_sf

  def forward(self, x, params):
    """g(x) and log g'(x), the linear tails included."""
    a, b, log_weights, means, log_scales = params

    def mixture(inside):
      logit, log_slope = self._logit_cdf(inside, log_weights, means,
                                         log_scales)
      return logit * tf.exp(a) + b, a + log_slope

    return base.linear_tails(mixture, x, self._tail_bound)

  def _tolerance_of(self, dtype):
    return (DEFAULT_TOLERANCES[dtype.name] if self._tolerance is None
            else self._tolerance)

  def _solve(self, target, log_weights, means, log_scales, s):
    """The x with logit(c(x)) = target, by Chandrupatla's method.

    `s` is the largest component scale, max_k e^(l_k), of each entry.
    """
    zero = tf.zeros([], target.dtype)
    low = tf.reduce_min(means, axis=0) + s * tf.minimum(target, zero) - s
    high = tf.reduce_max(means, axis=0) + s * tf.maximum(target, zero) + s
    eps = np.finfo(target.dtype.as_numpy_dtype).eps
    # Chandrupatla stops when the bracket is below twice this: a few ulps of
    # its ends, the best the dtype can resolve.
    ulps = 2. * eps * tf.maximum(tf.maximum(tf.abs(low), tf.abs(high)),
                                 tf.ones([], target.dtype))
    result = tfp.math.find_root_chandrupatla(
        lambda x: self._logit_cdf(x, log_weights, means, log_scales)[0] -
        target,
        low=low,
        high=high,
        position_tolerance=ulps,
        value_tolerance=tf.constant(self._tolerance_of(target.dtype),
                                    target.dtype),
        max_iterations=self._max_iterations)
    return result.estimated_root

  def inverse(self, y, params):
    # The search itself is not differentiated (see the class docstring).
    fixed = [tf.stop_gradient(p) for p in params]
    inside = y
    if self._tail_bound is not None:
      # The search runs on y clipped to g([-T, T]); the tails add the rest.
      end = tf.fill(ps.shape(y), tf.constant(self._tail_bound, y.dtype))
      inside = tf.clip_by_value(tf.stop_gradient(y),
                                self.forward(-end, fixed)[0],
                                self.forward(end, fixed)[0])
    target = (inside - fixed[1]) * tf.exp(-fixed[0])
    # The largest component scale s: the search's bracket and the Newton
    # step's bound below.
    s = tf.exp(tf.reduce_max(fixed[4], axis=0))
    x0 = tf.stop_gradient(self._solve(target, *fixed[2:], s) + (y - inside))
    y0, log_slope = self.forward(x0, params)
    # The Newton step, x0 - (g(x0) - y) / g'(x0), with its value bounded:
    # where the CDF is flat (between distant narrow components) 1 / g'
    # overflows, and the step would be 0 * inf = NaN, or a jump far away.
    # After the search |logit c(x0) - t| <= tolerance, so g(x0) is within
    # e^a * tolerance of y with no step at all; a step that polishes moves
    # x0 by at most tolerance * s where logit c's slope is >= 1 / s (s the
    # largest component scale: everywhere below min mu and above max mu),
    # or by a few ulps when the search stopped on its bracket. Longer steps
    # are cut to that length. The gradient stays the step's, the implicit
    # function's (finite: 1 / g' is capped at the square root of the
    # dtype's largest number).
    dtype = y.dtype
    info = np.finfo(dtype.as_numpy_dtype)
    step = (y0 - y) * tf.stop_gradient(
        tf.exp(tf.minimum(-log_slope, tf.constant(np.log(info.max) / 2.,
                                                  dtype))))
    limit = tf.stop_gradient(
        self._tolerance_of(dtype) * s +
        4. * info.eps * tf.maximum(tf.abs(x0), tf.ones([], dtype)))
    bounded = step - tf.stop_gradient(
        step - tf.clip_by_value(step, -limit, limit))
    x = x0 - bounded
    return x, self.forward(x, params)[1]
