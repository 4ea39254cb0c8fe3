"""Flow++'s logistic mixture CDF coupling layer (Ho et al. 2019)."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.tfp_internal import ps

from tfp_flows.bijectors import base
from tfp_flows.bijectors import coupling

__all__ = ["LogisticMixtureCoupling"]

# The shift b and the raw means are clipped to [-S, S], as the shifts of
# MaskedAutoregressive and AffineCoupling.

# Flow++'s floor on the log-scales: a component narrower than e^-7 makes the
# CDF a near step, whose inverse is ill conditioned.
MIN_LOG_SCALE = -7.
# Ceiling on the log-scales: it bounds the log-det below whatever the
# conditioner outputs (see Bounds). A component e^30 wide is flat on any
# data: capping it moves c(x) by less than pi_k (|x| + |mu_k|) e^-30 / 4.
MAX_LOG_SCALE = 30.

# Default stopping tolerance of the root finder on the logit of the CDF, by
# dtype: ~100 float32 / ~5000 float64 ulps of values of order 1, reachable
# everywhere; the Newton step after the search polishes the rest.
DEFAULT_TOLERANCES = {"float32": 1e-5, "float64": 1e-12}


class LogisticMixtureCoupling(coupling.Coupling):
  """Mixture-of-logistics CDF coupling: y_A = x_A, y_B = g(x_B; theta(x_A)).

  Elementwise, with K components (Flow++, section 3.2):

    c(x)  = sum_k pi_k sigmoid(z_k),       z_k = (x - mu_k) exp(-l_k),
    g(x)  = logit(c(x)) exp(a) + b,
    log g'(x) = a + log p(x) - log c(x) - log(1 - c(x)),
    p(x)  = sum_k pi_k sigmoid(z_k) sigmoid(-z_k) exp(-l_k)   (mixture density).

  g is strictly increasing and maps the real line onto itself. Every term is
  computed in log space, so that |x| up to ~30 and CDF values within float
  precision of 0 or 1 stay finite and accurate:

    log c       = logsumexp_k(log pi_k + log_sigmoid(z_k)),
    log(1 - c)  = logsumexp_k(log pi_k + log_sigmoid(-z_k)),
    log p       = logsumexp_k(log pi_k + log_sigmoid(z_k) + log_sigmoid(-z_k)
                              - l_k),

  with log pi = log_softmax of the conditioner's logits. a = tanh(raw a) is
  bounded to (-1, 1) and l >= -7, as in the paper (see Bounds for l's
  ceiling and the linear tails beyond +-`tail_bound`).

  Conditioner output layout. The conditioner returns ONE tensor whose last
  axis holds (3K + 2) * d_B entries in parameter-major blocks of d_B, block j
  being theta[..., j d_B:(j + 1) d_B]:

    [b | raw a | logit pi_1 .. pi_K | mu_1 .. mu_K | raw l_1 .. l_K],

  the first two being AffineCoupling's [shift | raw scale]. d_B is as in
  `AffineCoupling`: the size of x_B's last axis for a `num_masked` split, the
  event's last axis for a mask (outputs on the conditioning entries are
  zeroed and ignored).

  Bounds. Three bounds make every output and log-det finite for a finite
  input, whatever the conditioner outputs; each is exact where data live:

  * the shift b and the conditioner's means mu_k are clipped to [-S, S]
    (`shift_bound`, default 1e3; exact inside, far beyond what a trained
    layer predicts), so that an input far from the data cannot drive the
    next layers' conditioners ever further out;
  * l = clip(raw l, -7, 30): the paper's floor, and a ceiling (see
    MAX_LOG_SCALE) that bounds the log-det below;
  * linear tails (`tail_bound` T, default 1e3): g is the mixture map above
    on [-T, T] and continues with slope 1 beyond it,

      g(x) = g(T) + (x - T)  for x > T,    g(x) = g(-T) + (x + T)  for x < -T,

    so log g'(x) = 0 there. g stays continuous and strictly increasing, so
    it is still a bijection of the real line with an exact log-det (g' jumps
    at +-T, a set of measure zero). Inside, the map is the paper's.

  Per-layer bound. logit(c(x)) lies between min_k z_k and max_k z_k (c is a
  weighted mean of the sigmoid(z_k)), and its slope p / (c (1 - c)) is at
  most max_k exp(-l_k) <= e^7 (by the law of total variance, c (1 - c) >=
  sum_k pi_k sigmoid(z_k) sigmoid(-z_k)). With a in (-1, 1), for |x| <= T

    |g(x)| <= e * (T + S + spread) e^7 + S =: C   (5.97e6 at the defaults),
    log g'(x) in [-1 - log K - (T + S + spread) e^7 - 30, 8]
              (about [-2.2e6, 8]),

  and beyond +-T, |g(x)| <= |x| + C with log g'(x) = 0. So, whatever the
  weights, one layer moves an entry by at most C in magnitude: the growth
  through a stack is additive (L layers: |y| <= |x| + L C), where the
  paper's layer multiplies by up to e^8 ~ 2981 per layer (six of them sent
  inputs at 1e4 to latents past 1e19 and a log_prob of -inf). For the
  default Flow++ (`flows.flowpp`) see its docstring. Data never reach the
  bounds: trained on digits (seed 0), the default Flow++'s coupling inputs
  stay within |x| <= 6.8 and its raw log-scales within [-3.9, 1.8]; its
  log_prob of every digit is the same to the bit with or without them, and
  retraining with them gives the same test bits/dim (1.9029).
  `tail_bound=None` gives the paper's map on the whole line, without the
  guarantee.

  Component offsets. A zero-initialised conditioner makes every component
  identical, and identical components receive identical gradients, so they
  would stay one component forever. The means are therefore offset by fixed
  constants spread evenly over [-component_spread, component_spread]:
  mu_k = (conditioner's mu_k) + delta_k. A zero conditioner then gives a
  near-identity map whose components differ, and training separates them:
  with the default spread 0.5, |g(x) - x| <= 0.12 and |log g'(x)| <= 0.07
  over the real line (0.04 and 0.02 for K = 32). A constant offset does not
  change what the layer can express.

  Inverse. In the tails, y > g(T) or y < g(-T), x = y - g(+-T) +- T.
  Elsewhere x = g^-1(y) solves logit(c(x)) = (y - b) exp(-a), the logit of the
  CDF being far better conditioned than the CDF itself in the tails, by
  Chandrupatla's bracketed method (`tfp.math.find_root_chandrupatla`),
  vectorised over every entry. The bracket is exact: for t = (y - b) e^-a,
  s = max_k e^(l_k),

    lo = min_k mu_k + s * min(t, 0) - s,   hi = max_k mu_k + s * max(t, 0) + s,

  because logit(c(x)) >= (x - max mu) / s for x >= max mu (every z_k is at
  least (x - max mu) / s there) and symmetrically below min mu; the margin s
  moves each end one logit unit past the target. The search stops once
  |logit(c(x)) - t| <= `tolerance` or the bracket is a few ulps wide, after at
  most `max_iterations` steps. One Newton step on g follows (its length
  bounded, for flat stretches of the CDF where 1 / g' overflows): it polishes
  the last digits, and, the root itself being held constant, gives x the
  implicit-function gradients dx/dy = 1 / g'(x) and dx/dtheta =
  -(dg/dtheta) / g'(x), so the inverse is differentiable without
  backpropagating through the search. Measured over y in [-30, 30] with
  K = 8, means ~ N(0, 3^2) and log-scales uniform in [-7, 3] (the tests):
  max |g(g^-1(y)) - y| = 4e-4 in float32 and 1e-12 in float64; 6e-6 and
  1e-14 with log-scales in [-3, 3]. What is left in float32 is g's slope
  (up to ~e^8 at the -7 floor) times x's rounding. Typically 5 steps, at
  most ~20 on such mixtures. The search runs under `tf.function`, XLA and in
  SavedModels.

  The other round trip, g^-1(g(x)) = x, is as good wherever g resolves x.
  Between two narrow, well separated components the CDF can be flat to
  within the dtype's resolution (in float32, tails of 1e-10 vanish next to
  a CDF of 0.5): g is then constant there in floating point, and no inverse
  can recover x. Such plateaus carry next to no probability, so sampling is
  unaffected; encoding then decoding a point inside one returns another point
  of the same plateau.

  Shapes: as `AffineCoupling`; the log-det has shape `batch_shape`.

  #### Example

  ```python
  from tfp_flows.bijectors import masks
  from tfp_flows.nets.gated_attention import GatedAttentionNet
  # [8, 8, 1] images, checkerboard: d_B = 1, K = 4 -> 14 output channels.
  net = GatedAttentionNet(filters=16, output_channels=(3 * 4 + 2) * 1)
  net.build([None, 8, 8, 1])
  layer = tfp_flows.bijectors.LogisticMixtureCoupling(
      net, num_components=4, mask=masks.checkerboard(8, 8, 1))
  ```

  References:
    Ho, J., Chen, X., Srinivas, A., Duan, Y. & Abbeel, P. (2019). Flow++:
      Improving Flow-Based Generative Models with Variational Dequantization and
      Architecture Design. ICML. arXiv:1902.00275.
    Chandrupatla, T. R. (1997). A new hybrid quadratic/bisection algorithm for
      finding the zero of a nonlinear function without using derivatives.
      Advances in Engineering Software 28(3), 145-149.
  """

  # `_mixture` zeroes theta on a mask's conditioning entries, where the
  # transform is then finite (see `coupling.Coupling`).
  _conditioning_zeroed = True

  def __init__(self,
               conditioner,
               num_components=32,
               mask=None,
               num_masked=None,
               reverse=False,
               event_ndims=None,
               component_spread=0.5,
               tolerance=None,
               max_iterations=60,
               shift_bound=base.DEFAULT_SHIFT_BOUND,
               tail_bound=base.DEFAULT_SHIFT_BOUND,
               validate_args=False,
               dtype=tf.float32,
               name="logistic_mixture_coupling"):
    """See `tfp_flows.bijectors.coupling.Coupling` for the shared arguments.

    Args:
      conditioner: callable mapping x_A to (3K + 2) * d_B parameters along the
        last axis (layout in the class docstring).
      num_components: K, mixture components per entry (Flow++: 32).
      mask: binary mask, 1 on the conditioning entries. Exclusive with
        `num_masked`.
      num_masked: size of x_A when splitting the last axis.
      reverse: swap the roles of the two parts.
      event_ndims: rank of the event; defaults to the mask's rank, else 1.
      component_spread: the fixed offsets delta_k of the means span
        [-spread, spread]; 0 leaves a zero conditioner's components identical
        (and untrainable apart).
      tolerance: stopping tolerance of the inverse on |logit(c(x)) - t|;
        default 1e-5 (float32) or 1e-12 (float64).
      max_iterations: cap on the root finder's steps. The default 60 lets
        even pure bisection shrink a bracket 100 times the root's magnitude
        to float64 resolution (log2(100 / 2^-52) < 59); Chandrupatla's
        interpolation typically needs 5 and, on harsh mixtures, ~20. The
        loop stops as soon as every entry has converged.
      shift_bound: S > 0: the shift b and the conditioner's means are
        clipped to [-S, S] (see Bounds in the class docstring); None for no
        clip.
      tail_bound: T > 0: g continues with slope 1 outside [-T, T] (see
        Bounds in the class docstring); None for the paper's map on the
        whole line.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of inputs and outputs.
      name: name scope.

    Raises:
      ValueError: a non-positive `num_components` or `max_iterations`, a
        negative `component_spread`, or an invalid partition.
    """
    parameters = dict(locals())
    for arg, value in (("num_components", num_components),
                       ("max_iterations", max_iterations)):
      if int(value) != value or value < 1:
        raise ValueError(f"`{arg}` must be a positive integer; got {value!r}.")
    if not component_spread >= 0:
      raise ValueError(
          f"`component_spread` must be >= 0; got {component_spread!r}.")
    self._shift_bound = base.check_bound(shift_bound, "shift_bound")
    self._tail_bound = base.check_bound(tail_bound, "tail_bound")
    self._num_components = int(num_components)
    self._component_spread = float(component_spread)
    self._max_iterations = int(max_iterations)
    self._tolerance = (DEFAULT_TOLERANCES[tf.as_dtype(dtype).name]
                       if tolerance is None else float(tolerance))
    super().__init__(
        conditioner,
        mask=mask,
        num_masked=num_masked,
        reverse=reverse,
        event_ndims=event_ndims,
        validate_args=validate_args,
        dtype=dtype,
        parameters=parameters,
        name=name)

  @property
  def num_components(self):
    return self._num_components

  @property
  def tolerance(self):
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

  def _mixture(self, x_b, theta):
    """theta -> (a, b, log pi, mu, l); the last three are [K, *x_b.shape]."""
    k = self._num_components
    channels = x_b.shape[-1]
    size = 3 * k + 2
    if channels is not None and theta.shape[-1] not in (None, size * channels):
      raise ValueError(
          f"{self.name}: the last axis of the `conditioner` output must be "
          f"(3 * {k} + 2) * {channels} = {size * channels} (a, b and {k} "
          f"logits, means and log-scales for each of the {channels} channels "
          f"of x_B); got {theta.shape[-1]} in shape {theta.shape.as_list()}.")
    # [..., size * d] -> [..., size, d] -> [size, ..., d]: the parameter axis
    # leads, so a mask of event shape broadcasts against every block.
    blocks = tf.reshape(theta, ps.concat([ps.shape(theta)[:-1], [size, -1]], 0))
    rank = theta.shape.rank + 1
    blocks = tf.transpose(blocks, [rank - 2] + list(range(rank - 2)) +
                          [rank - 1])
    # As in AffineCoupling: a huge output on a discarded entry must not
    # overflow into inf or NaN there.
    blocks = self._partition.zero_conditioning(blocks)
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

  def _transform(self, x, params):
    """g(x) and log g'(x), the linear tails included."""
    a, b, log_weights, means, log_scales = params

    def mixture(inside):
      logit, log_slope = self._logit_cdf(inside, log_weights, means,
                                         log_scales)
      return logit * tf.exp(a) + b, a + log_slope

    return base.linear_tails(mixture, x, self._tail_bound)

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
        value_tolerance=tf.constant(self._tolerance, target.dtype),
        max_iterations=self._max_iterations)
    return result.estimated_root

  def _forward_transform(self, x_b, theta):
    return self._transform(x_b, self._mixture(x_b, theta))

  def _inverse_transform(self, y_b, theta):
    params = self._mixture(y_b, theta)
    a, b = params[:2]
    # The search itself is not differentiated (see the class docstring).
    fixed = [tf.stop_gradient(p) for p in params]
    inside = y_b
    if self._tail_bound is not None:
      # The search runs on y clipped to g([-T, T]); the tails add the rest.
      end = tf.fill(ps.shape(y_b), tf.constant(self._tail_bound, y_b.dtype))
      inside = tf.clip_by_value(tf.stop_gradient(y_b),
                                self._transform(-end, fixed)[0],
                                self._transform(end, fixed)[0])
    target = (inside - fixed[1]) * tf.exp(-fixed[0])
    # The largest component scale s: the search's bracket and the Newton
    # step's bound below.
    s = tf.exp(tf.reduce_max(fixed[4], axis=0))
    x0 = tf.stop_gradient(self._solve(target, *fixed[2:], s) + (y_b - inside))
    y0, log_slope = self._transform(x0, params)
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
    dtype = y_b.dtype
    info = np.finfo(dtype.as_numpy_dtype)
    step = (y0 - y_b) * tf.stop_gradient(
        tf.exp(tf.minimum(-log_slope, tf.constant(np.log(info.max) / 2.,
                                                  dtype))))
    limit = tf.stop_gradient(
        self._tolerance * s +
        4. * info.eps * tf.maximum(tf.abs(x0), tf.ones([], dtype)))
    bounded = step - tf.stop_gradient(
        step - tf.clip_by_value(step, -limit, limit))
    x = x0 - bounded
    return x, self._transform(x, params)[1]
