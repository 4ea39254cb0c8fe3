"""Elementwise rational-quadratic splines (Durkan et al. 2019), the transform of neural spline flows.

The math shared by `SplineCoupling` and `MaskedAutoregressiveSpline`: each
entry x of a tensor has its own monotone spline g with K bins on [-B, B],
built from unnormalised parameters theta [..., 3K - 1] (a conditioner's
output), and is the identity outside [-B, B] (linear tails).

Parameters (`spline_knots`): theta's last axis is [K widths, K heights,
K - 1 interior derivatives]:

  w = 2B (m_w + (1 - K m_w) softmax(theta_w)),   bin widths, sum 2B,
  h = 2B (m_h + (1 - K m_h) softmax(theta_h)),   bin heights, sum 2B,
  d_k = m_d + softplus(theta_d + log(expm1(1 - m_d))),  k = 1..K-1,
  d_0 = d_K = 1                                  (the tails' slope),

with the minimum bin width, height and derivative m_w, m_h, m_d. Zero
parameters give uniform bins and unit derivatives: g is then the identity,
so a zero-initialised conditioner starts a layer at the identity. theta is
clipped to [-1e3, 1e3] first: softmax and softplus saturate long before, and
the clip keeps any finite conditioner output (a ReLU network fed an input
1e30 away) from overflowing the derivatives.

Transform (`forward`): in bin k, with knots (x_k, y_k), w_k = x_{k+1} - x_k,
h_k = y_{k+1} - y_k, s_k = h_k / w_k and xi = (x - x_k) / w_k in [0, 1],

  g(x) = y_k + h_k [s_k xi^2 + d_k xi (1 - xi)] / D(xi),
  D(xi) = s_k + (d_{k+1} + d_k - 2 s_k) xi (1 - xi),
  g'(x) = s_k^2 [d_{k+1} xi^2 + 2 s_k xi (1 - xi) + d_k (1 - xi)^2] / D(xi)^2.

The inverse (`inverse`) solves the quadratic a xi^2 + b xi + c = 0 in the
bin of y, with r = y - y_k,

  a = h_k (s_k - d_k) + r (d_{k+1} + d_k - 2 s_k),
  b = h_k d_k - r (d_{k+1} + d_k - 2 s_k),     c = -s_k r,

in the form xi = 2c / (-b - sqrt(b^2 - 4ac)), whose denominator is < 0
whenever h_k, s_k, d_k > 0 (no cancellation, unlike (-b + sqrt) / 2a when
4ac is small), and log |dx/dy| = -log g'(x).

Outside [-B, B], and at its ends, g(x) = x and log g'(x) = 0. Both branches
of every `tf.where` see in-range inputs (the out-of-range ones are replaced
by 0 before the spline), so the gradient through the branch not taken is 0,
never 0 * inf = NaN, for any finite input.

Speed (`transform`): the spline is ~80 small elementwise ops, and its
gradient ~500 more; on a CPU without XLA each costs a kernel launch, so at
the sizes of a 2-D toy or a tabular flow they took 3.3x the time of the
conditioners themselves (`benchmarks/speed.py --cases floor`). The
bijectors therefore run knots and transform through `transform(...,
jit_compile=True)`: one XLA-compiled function, which XLA fuses into a few
kernels, its gradient too, whether or not the caller is compiled (measured
5.5 ms -> 1.1 ms for a [256, 32] spline's forward and gradient, K = 8, one
CPU thread). Each new number of entries compiles once, so eager calls
(which would compile for every new shape to run once) use the plain ops, as
does a function that XLA compiles already (the ops are traced into it).
`jit_compile=False` keeps plain TensorFlow ops, for platforms without XLA.

Why not TFP's `tfb.RationalQuadraticSpline` (the same spline: its boundary
slopes are 1 too; tested to agree with ours): it is a bijector whose
parameters are fixed at construction, so a conditioner's per-entry outputs
would build one per pass, and its forward and log-det each search the bins
again (our couplings need both from one pass). Its forward also computes the
spline at the raw out-of-range input before discarding it: at x = 1e20
(float32) that branch is inf / inf, and the gradient through `tf.where` is
NaN (tested).
"""

import collections

import numpy as np
import tensorflow as tf

from tfp_flows import tfp_internal

__all__ = [
    "DEFAULT_BOUND", "DEFAULT_MIN_BIN_HEIGHT", "DEFAULT_MIN_BIN_WIDTH",
    "DEFAULT_MIN_DERIVATIVE", "Knots", "check_spline_args",
    "forward", "inverse", "num_params", "spline_knots", "transform"
]

# The interval [-B, B] of the vector builders: standardised data and a
# Gaussian latent lie inside +-5 (the 2-D toys within +-4.9).
DEFAULT_BOUND = 5.
# nflows' defaults (Durkan et al.'s code).
DEFAULT_MIN_BIN_WIDTH = 1e-3
DEFAULT_MIN_BIN_HEIGHT = 1e-3
DEFAULT_MIN_DERIVATIVE = 1e-3
# theta is clipped to +-this before the softmax and softplus.
_RAW_BOUND = 1e3

Knots = collections.namedtuple("Knots", ["x", "y", "d"])
Knots.__doc__ = """A spline per entry: knots x, y and derivatives d, each [..., K + 1]."""


def num_params(num_bins):
  """3K - 1: the conditioner outputs per transformed entry."""
  return 3 * int(num_bins) - 1


def check_spline_args(num_bins, bound, min_bin_width, min_bin_height,
                      min_derivative):
  """The spline settings as Python numbers; ValueError naming a bad one."""
  if int(num_bins) != num_bins or num_bins < 1:
    raise ValueError(f"`num_bins` must be an integer >= 1; got {num_bins!r}.")
  num_bins = int(num_bins)
  bound = float(bound)
  if not (np.isfinite(bound) and bound > 0.):
    raise ValueError(f"`bound` must be a positive finite number; got "
                     f"{bound!r}.")
  for name, value in (("min_bin_width", min_bin_width),
                      ("min_bin_height", min_bin_height)):
    if not 0. <= float(value) < 1. / num_bins:
      raise ValueError(f"`{name}` must be in [0, 1 / num_bins) = [0, "
                       f"{1. / num_bins:g}) (a fraction of the interval); "
                       f"got {value!r}.")
  if not 0. <= float(min_derivative) < 1.:
    raise ValueError(f"`min_derivative` must be in [0, 1) (zero parameters "
                     f"give derivative 1); got {min_derivative!r}.")
  return (num_bins, bound, float(min_bin_width), float(min_bin_height),
          float(min_derivative))


def _knot_positions(raw, num_bins, bound, min_size):
  """[..., K] raw sizes -> [..., K + 1] knots from -B to B, ends exact."""
  # softmax by hand: tf.nn.softmax's CPU kernel takes rank <= 5 only, and
  # image couplings give [N, H, W, C, K] with more batch dims; and K
  # exponentials, where exp(raw - logsumexp(raw)) takes 2K.
  unnormalised = tf.exp(raw - tf.reduce_max(raw, axis=-1, keepdims=True))
  softmax = unnormalised / tf.reduce_sum(unnormalised, axis=-1, keepdims=True)
  sizes = min_size + (1. - num_bins * min_size) * softmax
  inner = 2. * bound * tf.cumsum(sizes[..., :-1], axis=-1) - bound
  ends = tf.ones_like(sizes[..., :1]) * bound
  return tf.concat([-ends, inner, ends], axis=-1)


def _check_parameter_axis(theta, num_bins):
  expected = num_params(num_bins)
  if theta.shape[-1] is not None and theta.shape[-1] != expected:
    raise ValueError(
        f"Spline parameters must have last axis 3 * num_bins - 1 = {expected} "
        f"(K widths, K heights, K - 1 derivatives, K = {num_bins}); got "
        f"{theta.shape[-1]} in shape {theta.shape.as_list()}.")


def spline_knots(theta, num_bins, bound=DEFAULT_BOUND,
                 min_bin_width=DEFAULT_MIN_BIN_WIDTH,
                 min_bin_height=DEFAULT_MIN_BIN_HEIGHT,
                 min_derivative=DEFAULT_MIN_DERIVATIVE):
  """The splines of unnormalised parameters theta (see the module docstring).

  Args:
    theta: float tensor [..., 3K - 1]: K raw widths, K raw heights, K - 1
      raw interior derivatives.
    num_bins: K.
    bound: B, the spline acts on [-B, B].
    min_bin_width: m_w, fraction of 2B, in [0, 1 / K).
    min_bin_height: m_h, fraction of 2B, in [0, 1 / K).
    min_derivative: m_d in [0, 1).

  Returns:
    `Knots` with x, y, d of shape [..., K + 1].

  Raises:
    ValueError: theta's last axis is not 3K - 1.
  """
  _check_parameter_axis(theta, num_bins)
  theta = tf.clip_by_value(theta, -_RAW_BOUND, _RAW_BOUND)
  raw_w, raw_h, raw_d = tf.split(theta, [num_bins, num_bins, num_bins - 1],
                                 axis=-1)
  dtype = theta.dtype.as_numpy_dtype
  # Shifts softplus so that theta_d = 0 gives d = 1 (identity at zero).
  shift = np.log(np.expm1(1. - min_derivative)).astype(dtype)
  interior = min_derivative + tf.nn.softplus(raw_d + shift)
  one = tf.ones_like(raw_w[..., :1])
  return Knots(x=_knot_positions(raw_w, num_bins, bound, min_bin_width),
               y=_knot_positions(raw_h, num_bins, bound, min_bin_height),
               d=tf.concat([one, interior, one], axis=-1))


def _bin(value, knots_v, bound):
  """(inside, guarded value, one-hot of its bin [..., K]) of `value` [...]."""
  inside = tf.abs(value) < bound
  guarded = tf.where(inside, value, tf.zeros_like(value))
  num_bins = knots_v.shape[-1] - 1
  # The number of interior knots at or below the value; K is small, and a
  # comparison gives a dense, XLA-friendly bin index (no gather).
  index = tf.reduce_sum(
      tf.cast(guarded[..., None] >= knots_v[..., 1:-1], tf.int32), axis=-1)
  return inside, guarded, tf.one_hot(index, num_bins, dtype=value.dtype)


def _select(one_hot, values):
  """values [..., K] at the bin of each entry: [...]."""
  return tf.reduce_sum(one_hot * values, axis=-1)


def _bin_terms(one_hot, knots):
  """x_k, y_k, w_k, h_k, d_k, d_{k+1} of each entry's bin."""
  x_k = _select(one_hot, knots.x[..., :-1])
  y_k = _select(one_hot, knots.y[..., :-1])
  w_k = _select(one_hot, knots.x[..., 1:]) - x_k
  h_k = _select(one_hot, knots.y[..., 1:]) - y_k
  return (x_k, y_k, w_k, h_k, _select(one_hot, knots.d[..., :-1]),
          _select(one_hot, knots.d[..., 1:]))


def _log_derivative(xi, s, d_k, d_k1):
  """log g'(x) at the relative position xi of a bin (module docstring)."""
  mid = xi * (1. - xi)
  numerator = d_k1 * xi**2 + 2. * s * mid + d_k * (1. - xi)**2
  denominator = s + (d_k1 + d_k - 2. * s) * mid
  # One logarithm: s in [m_h / (1 - (K-1) m_w), (1 - (K-1) m_h) / m_w] and
  # D >= s / 2, so the ratio stays far from overflow for any parameters.
  return tf.math.log(numerator * (s / denominator)**2)


def forward(x, knots, bound):
  """y = g(x) and log g'(x), elementwise.

  Args:
    x: float tensor [...].
    knots: `Knots` of shape [..., K + 1] (`spline_knots`), matching x's
      shape plus the knot axis.
    bound: B.

  Returns:
    (y, log_derivative), both shaped like x.
  """
  inside, x_in, one_hot = _bin(x, knots.x, bound)
  x_k, y_k, w_k, h_k, d_k, d_k1 = _bin_terms(one_hot, knots)
  s = h_k / w_k
  xi = tf.clip_by_value((x_in - x_k) / w_k, 0., 1.)
  mid = xi * (1. - xi)
  y = y_k + h_k * (s * xi**2 + d_k * mid) / (s + (d_k1 + d_k - 2. * s) * mid)
  log_derivative = _log_derivative(xi, s, d_k, d_k1)
  zero = tf.zeros_like(x)
  return tf.where(inside, y, x), tf.where(inside, log_derivative, zero)


def inverse(y, knots, bound):
  """x = g^-1(y) and log g'(x) (the forward log-derivative), elementwise.

  Args:
    y: float tensor [...].
    knots: `Knots` as for `forward`.
    bound: B.

  Returns:
    (x, log_derivative): log |dx/dy| = -log_derivative.
  """
  inside, y_in, one_hot = _bin(y, knots.y, bound)
  x_k, y_k, w_k, h_k, d_k, d_k1 = _bin_terms(one_hot, knots)
  s = h_k / w_k
  r = y_in - y_k
  curvature = d_k1 + d_k - 2. * s
  a = h_k * (s - d_k) + r * curvature
  b = h_k * d_k - r * curvature
  c = -s * r
  discriminant = tf.maximum(b**2 - 4. * a * c, 0.)
  xi = tf.clip_by_value(2. * c / (-b - tf.sqrt(discriminant)), 0., 1.)
  x = x_k + xi * w_k
  log_derivative = _log_derivative(xi, s, d_k, d_k1)
  zero = tf.zeros_like(y)
  return tf.where(inside, x, y), tf.where(inside, log_derivative, zero)


def _transform(value, theta, num_bins, bound, min_bin_width, min_bin_height,
               min_derivative, inverse_direction):
  knots = spline_knots(theta, num_bins, bound, min_bin_width, min_bin_height,
                       min_derivative)
  if inverse_direction:
    return inverse(value, knots, bound)
  return forward(value, knots, bound)


# One compiled function for every spline: the Python settings are part of
# its trace key, and reduce_retracing generalises batch sizes instead of
# tracing each one.
_fused_transform = tf.function(_transform, jit_compile=True,
                               reduce_retracing=True)


def transform(value, theta, num_bins, bound=DEFAULT_BOUND,
              min_bin_width=DEFAULT_MIN_BIN_WIDTH,
              min_bin_height=DEFAULT_MIN_BIN_HEIGHT,
              min_derivative=DEFAULT_MIN_DERIVATIVE, inverse=False,
              jit_compile=True):
  """The splines of theta applied to value: `spline_knots`, then `forward` or `inverse`.

  Args:
    value: float tensor [...]: x (forward) or y (`inverse=True`).
    theta: float tensor [..., 3K - 1], value's shape plus the parameters.
    num_bins, bound, min_bin_width, min_bin_height, min_derivative: as for
      `spline_knots`.
    inverse: apply g^-1 instead of g.
    jit_compile: inside a `tf.function`, run knots and transform as one
      XLA-compiled function (the module docstring says why), unless that
      function is compiled by XLA already; eagerly, and with False, plain
      TensorFlow ops.

  Returns:
    (g(value) or g^-1(value), log g' at the point on the x side), both
    shaped like value.
  """
  # Checked first: flattening (below) would hide a wrong axis or shape.
  _check_parameter_axis(theta, num_bins)
  if not value.shape.is_compatible_with(theta.shape[:-1]):
    raise ValueError(
        f"Spline parameters must have the shape of the values plus one axis; "
        f"got values {value.shape.as_list()} and parameters "
        f"{theta.shape.as_list()}.")
  # Eagerly, each call would compile for its shape before running once; a
  # traced function (a training step) compiles once and runs many times.
  if (not jit_compile or tf.executing_eagerly() or
      tfp_internal.in_xla_context()):
    return _transform(value, theta, int(num_bins), bound, min_bin_width,
                      min_bin_height, min_derivative, inverse)
  # Flat [n] and [n, 3K - 1] inputs: every shape with n entries shares one
  # compiled function, and its trace knows every static shape but n.
  shape = tf.shape(value)
  out, log_derivative = _fused_transform(
      tf.reshape(value, [-1]), tf.reshape(theta, [-1, num_params(num_bins)]),
      int(num_bins), float(bound), float(min_bin_width),
      float(min_bin_height), float(min_derivative), bool(inverse))
  return tf.reshape(out, shape), tf.reshape(log_derivative, shape)
