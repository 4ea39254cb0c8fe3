"""The invertible residual block of i-ResNets and Residual Flows: x = y + g(y) with Lip(g) < 1."""

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import base
from tfp_flows.bijectors import invertible_conv1x1

__all__ = ["InvertibleResidual", "LOG_DETS", "STALL_SLACK"]

LOG_DETS = ("exact", "estimate")
# Where rounding in g stops the fixed-point iteration from contracting, its
# iterate is accepted within this many times the tolerance.
STALL_SLACK = 100.


class InvertibleResidual(base.AugmentedBijector):
  """From data y to latent x: x = y + g(y; c), g a network with Lip(g) < 1.

  Shapes: [..., D] <-> [..., D]. The network (`nets.LipschitzMLP`, or
  `nets.LipschitzConvNet` on flattened images) keeps
  every layer's spectral norm below 1 and gives its Jacobian J = dg/dy in
  closed form; I + J is then invertible with every eigenvalue's real part
  above 0 (Behrmann et al. 2019), and

    log p(y) = log p_X(y + g(y)) + log det(I + J(y)).

  **The density direction** (`inverse`, what `log_prob` runs) is one
  network pass plus the log-det, by `log_det`:

  - "exact": det(I + J) from the [D, D] Jacobian (a float64 QR
    factorisation, O(D^3) per example; its gradient (I + J)^{-T} in closed
    form): exact, deterministic, for events up to a few hundred entries.
  - "estimate": the power series log det(I + J) = sum_{k>=1} (-1)^{k+1}
    tr(J^k) / k with Hutchinson's trace estimator (one Rademacher vector v
    per example: tr(J^k) ~ v^T J^k v) and Russian-roulette truncation
    (Chen et al. 2019): `num_exact_terms` terms always, then
    N ~ Geometric(`stop_probability`) more, term k weighted by
    1 / P(N >= k - num_exact_terms). This is an unbiased estimate of
    log det(I + J) (capped at `max_terms` terms, whose omitted tail is below
    coefficient^max_terms), so `log_prob` returns an unbiased estimate of
    log p(y), not a bound. Its gradient is the Neumann series
    d log det(I + J) = sum_{k>=0} (-1)^k tr(J^k dJ), estimated with the same
    v and N as one vector-Jacobian product w^T dJ v, w accumulated without
    a gradient: memory does not grow with the number of terms. The noise
    comes from the layer's own `tf.random.Generator` (seeded by `seed`;
    `reset_estimator()` re-draws the same noise, so an evaluation repeated
    after a reset returns the same numbers).

  **The sampling direction** (`forward`) solves y + g(y) = x by the
  fixed-point iteration y <- x - g(y) from y = x, which contracts at rate
  Lip(g) <= coefficient^L: it stops when every entry moves by at most
  `tolerance` (1 + |x| + |g(y)|) (the scale of the rounding of x - g(y):
  where |g(y)| >> |x|, a bound relative to |x| alone could sit below the
  iteration's own rounding and never be met), or, for an example whose step
  has stopped shrinking (exactly it shrinks by Lip(g) < 1 every step: it is
  rounding in g's network that no longer lets it), by at most
  `STALL_SLACK` = 100 times that; it raises `InvalidArgumentError` if that
  has not happened after `max_iterations` steps (not a silent wrong answer; under
  XLA, which drops run-time assertions, the last iterate is returned). Its
  gradient is the implicit function's: dy = (I + J)^{-1} (dx - dg), one
  linear solve ("exact") or, in the backward pass, the Neumann iteration
  w <- w_0 - J^T w to the same tolerance ("estimate").

  With a context (`conditional_input`, c [..., C]) the network's first
  layer sees c (`nets.LipschitzMLP`); every map y -> x for a fixed c stays
  invertible.

  #### Example

  ```python
  net = tfp_flows.nets.LipschitzMLP(2, [64, 64])
  net.build([None, 2])                    # the block needs its variables
  block = tfp_flows.bijectors.InvertibleResidual(net)
  y = tf.random.normal([8, 2])
  x = block.inverse(y)                    # y + g(y)
  y_again = block.forward(x)              # fixed-point iteration
  ildj = block.inverse_log_det_jacobian(y, event_ndims=1)  # exact
  ```

  References:
    Behrmann, J., Grathwohl, W., Chen, R. T. Q., Duvenaud, D. & Jacobsen,
      J.-H. (2019). Invertible Residual Networks. ICML. arXiv:1811.00995.
    Chen, R. T. Q., Behrmann, J., Duvenaud, D. & Jacobsen, J.-H. (2019).
      Residual Flows for Invertible Generative Modeling. NeurIPS.
      arXiv:1906.02735.
  """

  def __init__(self,
               network,
               log_det="exact",
               num_exact_terms=2,
               stop_probability=0.5,
               max_terms=100,
               tolerance=None,
               max_iterations=1000,
               seed=0,
               validate_args=False,
               dtype=tf.float32,
               name="invertible_residual"):
    """Wraps a built network.

    Args:
      network: a built `nets.LipschitzMLP` or `nets.LipschitzConvNet` (or a
        layer with their interface: `event_size`, `context_shape`,
        `normalized_kernels`, `spectral_norms`, `call` returning (g, slopes),
        `jvp`, `vjp`, `jacobian`).
      log_det: "exact" or "estimate" (see the class docstring).
      num_exact_terms: power-series terms the estimate always includes.
      stop_probability: p of the Russian roulette's Geometric(p) extra terms
        (expected 1 / p - 1 of them).
      max_terms: cap on the estimate's terms.
      tolerance: the fixed-point iterations' stopping tolerance, relative to
        1 + |x| + |g(y)|; None for `base.DEFAULT_ROOT_TOLERANCES` of the
        dtype.
      max_iterations: cap on the fixed-point iterations (an error beyond).
      seed: seed of the estimator's noise.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype.
      name: name scope.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      if log_det not in LOG_DETS:
        raise ValueError(f"`log_det` must be one of {LOG_DETS}; got "
                         f"{log_det!r}.")
      if int(num_exact_terms) != num_exact_terms or num_exact_terms < 1:
        raise ValueError(f"`num_exact_terms` must be a positive integer; got "
                         f"{num_exact_terms!r}.")
      if not 0. < stop_probability <= 1.:
        raise ValueError(f"`stop_probability` must be in (0, 1]; got "
                         f"{stop_probability!r}.")
      if int(max_terms) != max_terms or max_terms < num_exact_terms:
        raise ValueError(f"`max_terms` must be an integer >= num_exact_terms "
                         f"({num_exact_terms}); got {max_terms!r}.")
      if int(max_iterations) != max_iterations or max_iterations < 1:
        raise ValueError(f"`max_iterations` must be a positive integer; got "
                         f"{max_iterations!r}.")
      self._network = network
      self._event_size = int(network.event_size)
      self._log_det = log_det
      self._num_exact_terms = int(num_exact_terms)
      self._stop_probability = float(stop_probability)
      self._max_terms = int(max_terms)
      self._tolerance = tolerance
      self._max_iterations = int(max_iterations)
      self._seed = int(seed)
      self._generator = tf.random.Generator.from_seed(self._seed)
      # tf.Module collects variables from attributes, not from a Generator:
      # held here, its state is among the flow's `variables`, so an export
      # (which tracks exactly those) and a checkpoint carry it.
      self._estimator_state = self._generator.state
      super().__init__(
          forward_min_event_ndims=1,
          is_constant_jacobian=False,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)

  @property
  def network(self):
    return self._network

  @property
  def log_det(self):
    """"exact" or "estimate"."""
    return self._log_det

  @property
  def context_shape(self):
    return self._network.context_shape

  def reset_estimator(self):
    """Restarts the estimator's noise at its seed (reproducible evaluations)."""
    self._generator.reset_from_seed(self._seed)

  def spectral_norms(self):
    """The exact spectral norms of the network's normalised layers (floats)."""
    return self._network.spectral_norms()

  def _log_det_exact(self, kernels, slopes, dtype):
    jacobian = self._network.jacobian(kernels, slopes)
    eye = tf.eye(self._event_size, dtype=dtype)
    return invertible_conv1x1.log_abs_det(eye + jacobian)

  def _log_det_estimate(self, y, kernels, slopes):
    net = self._network
    dtype = y.dtype
    v = tf.cast(2 * self._generator.uniform(tf.shape(y), 0, 2, dtype=tf.int32)
                - 1, dtype)
    p = self._stop_probability
    uniform = self._generator.uniform([], dtype=tf.float32)
    # N = floor(log U / log(1 - p)) has P(N >= m) = (1 - p)^m; capped before
    # the cast (U = 0 gives inf).
    extra = (tf.floor(tf.math.log(uniform) / np.log1p(-p)) if p < 1. else
             tf.zeros([]))
    num_terms = self._num_exact_terms + tf.cast(
        tf.minimum(extra, self._max_terms - self._num_exact_terms), tf.int32)
    fixed_kernels = [tf.stop_gradient(k) for k in kernels]
    fixed_slopes = [tf.stop_gradient(s) for s in slopes]
    jv = net.jvp(fixed_kernels, fixed_slopes, v)
    log_survival = tf.cast(np.log1p(-p) if p < 1. else 0., dtype)

    def term(k, u, value, neumann):
      # Term k + 1 of the series, weighted by 1 / P(N >= k + 1 - exact).
      weight = tf.exp(-log_survival * tf.cast(
          tf.maximum(k + 1 - self._num_exact_terms, 0), dtype))
      coef = tf.where(k % 2 == 0, weight, -weight)
      value += coef / tf.cast(k + 1, dtype) * tf.reduce_sum(u * jv, -1)
      return (k + 1, net.vjp(fixed_kernels, fixed_slopes, u), value,
              neumann + coef * u)

    _, _, value, neumann = tf.while_loop(
        lambda k, *_: k < num_terms, term,
        (tf.constant(0), v, tf.zeros(tf.shape(y)[:-1], dtype),
         tf.zeros_like(y)),
        maximum_iterations=self._max_terms)
    # Gradient: w^T dJ v with w = sum_k (-1)^k weight_{k+1} v^T J^k, the
    # Neumann series of tr((I + J)^{-1} dJ); value: the series itself.
    surrogate = tf.reduce_sum(tf.stop_gradient(neumann) *
                              net.jvp(kernels, slopes, v), -1)
    return tf.stop_gradient(value) + (surrogate - tf.stop_gradient(surrogate))

  def _residual_log_det(self, y, conditional_input, kernels):
    """(g(y), log det(I + J(y)))."""
    g, slopes = self._network(y, conditional_input=conditional_input,
                              kernels=kernels)
    if self._log_det == "exact":
      return g, self._log_det_exact(kernels, slopes, y.dtype)
    return g, self._log_det_estimate(y, kernels, slopes)

  def _augmented_inverse(self, y, conditional_input=None):
    y = self._validate_input(y, "y", [self._event_size])
    kernels = self._network.normalized_kernels(y.dtype)
    g, log_det = self._residual_log_det(y, conditional_input, kernels)
    return y + g, {"fldj": -log_det, "ildj": log_det}

  def _tolerance_of(self, dtype):
    if self._tolerance is not None:
      return self._tolerance
    return base.DEFAULT_ROOT_TOLERANCES[dtype.name]

  def _fixed_point(self, step, start, x, what):
    """Iterates value <- step(value) = x - h(value) from `start` until, for
    every example, each entry moves by <= tolerance (1 + |x| + |h|), or by
    <= STALL_SLACK times that where the step's norm has stopped shrinking;
    InvalidArgumentError after `max_iterations`.

    Exactly, the step's norm shrinks by Lip(h) < 1 at every iteration; when
    it does not, rounding in h (its network's internal sums, not only
    x - h) has become the step's size, and the iterate is as close to the
    fixed point as the arithmetic resolves. A VI fit on U4 met such an
    example (steps 1.1 times the tolerance, forever) and died without
    this rule.
    """
    tolerance = self._tolerance_of(x.dtype)
    scale = 1. + tf.abs(x)

    def body(i, value, last_norm, done):
      new = step(value)
      moved = tf.abs(new - value)
      # Per example: the worst entry's step over its bound (<= 1: done).
      ratio = tf.reduce_max(
          moved / (tolerance * (scale + tf.abs(new - x))), axis=-1)
      norm = tf.norm(moved, axis=-1)
      stalled = tf.logical_and(norm >= last_norm, ratio <= STALL_SLACK)
      # An example once done stays done: stalled ones jitter at their
      # rounding and would seldom all be caught stalling at one step.
      done = done | (ratio <= 1.) | stalled
      return i + 1, new, norm, done

    batch = tf.shape(start)[:-1]
    _, value, _, done = tf.while_loop(
        lambda i, value, norm, done: tf.logical_not(tf.reduce_all(done)),
        body,
        (tf.constant(0), start,
         tf.fill(batch, tf.constant(np.inf, x.dtype)),
         tf.fill(batch, False)),
        maximum_iterations=self._max_iterations)
    check = tf.debugging.assert_equal(
        tf.reduce_all(done), True,
        message=f"{self.name}: the {what} did not converge to the tolerance "
        f"{self._tolerance_of(x.dtype):g} (relative to 1 + |x| + |g|; "
        f"{STALL_SLACK:g} times it where rounding stalls the iteration) in "
        f"max_iterations={self._max_iterations} steps")
    with tf.control_dependencies([check]):
      return tf.identity(value)

  def _solve_transposed_on_backward(self, residual, kernels, slopes):
    """`residual` in value; its gradient maps upstream w to (I + J)^{-T} w.

    Only the gradient of delta = (I + J)^{-1} r is used (its value, r = 0 up
    to the solver's tolerance, cancels), so the backward pass solves the
    transposed system by the Neumann iteration w <- upstream - J^T w, which
    contracts as the forward fixed point does; iterating on the value instead
    would stop at once (r is ~0) with a truncated gradient.
    """
    net = self._network

    @tf.custom_gradient
    def solve(r):

      def gradient(upstream):
        return self._fixed_point(
            lambda w: upstream - net.vjp(kernels, slopes, w), upstream,
            upstream, "implicit gradient's Neumann iteration")

      return tf.identity(r), gradient

    return solve(residual)

  def _augmented_forward(self, x, conditional_input=None):
    x = self._validate_input(x, "x", [self._event_size])
    net = self._network
    kernels = net.normalized_kernels(x.dtype)
    fixed_kernels = [tf.stop_gradient(k) for k in kernels]
    fixed_x = tf.stop_gradient(x)
    fixed_c = (None if conditional_input is None else
               tf.stop_gradient(tf.convert_to_tensor(conditional_input)))
    y0 = self._fixed_point(
        lambda y: fixed_x - net(y, conditional_input=fixed_c,
                                kernels=fixed_kernels)[0],
        fixed_x, fixed_x, "fixed-point inverse")
    y0 = tf.stop_gradient(y0)
    # The implicit function's gradient: with r = y0 + g(y0) - x (with
    # gradients), dy = -(I + J)^{-1} dr; delta = (I + J)^{-1} r is 0 in value.
    g0, slopes0 = net(y0, conditional_input=conditional_input, kernels=kernels)
    residual = y0 + g0 - x
    fixed_slopes = [tf.stop_gradient(s) for s in slopes0]
    if self._log_det == "exact":
      jacobian = tf.stop_gradient(net.jacobian(fixed_kernels, fixed_slopes))
      delta = tf.linalg.solve(
          tf.eye(self._event_size, dtype=x.dtype) + jacobian,
          residual[..., None])[..., 0]
    else:
      delta = self._solve_transposed_on_backward(residual, fixed_kernels,
                                                 fixed_slopes)
    y = y0 - (delta - tf.stop_gradient(delta))
    _, log_det = self._residual_log_det(y, conditional_input, kernels)
    return y, {"fldj": -log_det, "ildj": log_det}
