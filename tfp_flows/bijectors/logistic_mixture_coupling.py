"""Flow++'s logistic mixture CDF coupling layer (Ho et al. 2019)."""

import tensorflow as tf

from tfp_flows.bijectors import base
from tfp_flows.bijectors import coupling
from tfp_flows.bijectors.transformers import logistic_mixture

__all__ = ["LogisticMixtureCoupling"]


class LogisticMixtureCoupling(coupling.Coupling):
  """Mixture-of-logistics CDF coupling: y_A = x_A, y_B = g(x_B; theta(x_A)).

  `Coupling` with `transformers.LogisticMixture(num_components, ...)`.

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
               packed_checkerboard=None,
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
      event_ndims: rank of the event; defaults to the mask's rank, 3 with a
        packed checkerboard, else 1.
      packed_checkerboard: 0 or 1, a checkerboard of images packed into
        half-width images instead of a mask (see `Coupling`).
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
    if tolerance is None:
      tolerance = logistic_mixture.DEFAULT_TOLERANCES[tf.as_dtype(dtype).name]
    super().__init__(
        conditioner,
        logistic_mixture.LogisticMixture(
            num_components=num_components, component_spread=component_spread,
            tolerance=tolerance, max_iterations=max_iterations,
            shift_bound=shift_bound, tail_bound=tail_bound),
        mask=mask,
        num_masked=num_masked,
        reverse=reverse,
        event_ndims=event_ndims,
        packed_checkerboard=packed_checkerboard,
        validate_args=validate_args,
        dtype=dtype,
        parameters=parameters,
        name=name)

  @property
  def num_components(self):
    return self.transformer.num_components

  @property
  def tolerance(self):
    return self.transformer.tolerance

  @property
  def max_iterations(self):
    return self.transformer.max_iterations

  @property
  def shift_bound(self):
    return self.transformer.shift_bound

  @property
  def tail_bound(self):
    return self.transformer.tail_bound
