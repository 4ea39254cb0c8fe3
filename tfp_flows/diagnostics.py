"""Importance-sampling diagnostics of a variational fit: ESS, log Z, Pareto k-hat.

With draws x_s ~ q (s = 1..n) and log weights log w_s = log p~(x_s) - log q(x_s)
for an unnormalised target p~ = Z p:

* ESS fraction: (sum_s w_s)^2 / (n sum_s w_s^2), in (0, 1]; 1 when q = p.
* log Z estimate: log((1/n) sum_s w_s), with the delta-method standard error
  sd(w) / (sqrt(n) mean(w)) = sqrt((1/ESS_fraction - 1) / (n - 1)).
* Pareto k-hat (PSIS; Yao et al. 2018, Vehtari et al. 2024): the shape k of
  a generalized Pareto distribution fitted to the M = ceil(min(n/5, 3 sqrt(n)))
  largest weights, as exceedances over the (M+1)-th largest. The fit is Zhang
  & Stephens' (2009) posterior-mean estimator, then the weakly informative
  prior of PSIS, k <- (M k + 10 * 0.5) / (M + 10). k < 0.5: the weights have
  a finite variance and the estimates above are reliable; 0.5 < k < 0.7:
  usable; k > 0.7: q misses mass of p and the estimates cannot be trusted.

Every function takes log weights [n, ...] (the draws along the first axis,
any batch after it; e.g. one set of draws per context) and returns a float64
tensor of the batch shape. They run eagerly, in a `tf.function`, and as
`VariationalFlowModel`'s metrics during `fit`. NaN weights give NaN.
"""

import math

import tensorflow as tf

__all__ = ["ess_fraction", "log_z", "pareto_k_hat", "summary", "tail_length"]

# Zhang & Stephens' grid and the PSIS prior, as in Vehtari et al. (2024).
_PRIOR_SCALE = 3.
_PRIOR_WEIGHT = 10.
_PRIOR_K = 0.5
_MIN_TAIL = 5


def _as_log_weights(log_weights):
  log_weights = tf.cast(tf.convert_to_tensor(log_weights), tf.float64)
  if log_weights.shape.rank is None or log_weights.shape.rank < 1:
    raise ValueError("`log_weights` must have rank >= 1 (draws first); got "
                     f"shape {log_weights.shape}.")
  return log_weights


def _num_draws(log_weights):
  return tf.cast(tf.shape(log_weights)[0], tf.float64)


def ess_fraction(log_weights):
  """(sum w)^2 / (n sum w^2) over the first axis, from log weights (stable)."""
  lw = _as_log_weights(log_weights)
  return tf.exp(2. * tf.reduce_logsumexp(lw, 0) -
                tf.reduce_logsumexp(2. * lw, 0) - tf.math.log(_num_draws(lw)))


def log_z(log_weights):
  """(log Z estimate, its standard error) over the first axis.

  log Z = log mean(w); se = sqrt((1 / ESS_fraction - 1) / (n - 1)), the
  delta-method error sd(w) / (sqrt(n) mean(w)) with the unbiased variance.
  """
  lw = _as_log_weights(log_weights)
  n = _num_draws(lw)
  estimate = tf.reduce_logsumexp(lw, 0) - tf.math.log(n)
  ratio = tf.maximum(1. / ess_fraction(lw) - 1., 0.)
  return estimate, tf.sqrt(ratio / tf.maximum(n - 1., 1.))


def tail_length(num_draws):
  """M = ceil(min(n / 5, 3 sqrt(n))), the number of weights k-hat is fitted to."""
  return int(math.ceil(min(0.2 * num_draws, 3. * math.sqrt(num_draws))))


def _gpd_shape(x):
  """Zhang & Stephens' estimate of the GPD shape k of exceedances x [..., M].

  x sorted ascending along the last axis, >= 0. With the GPD written
  F(x) = 1 - (1 + k x / sigma)^(-1/k) (k > 0: heavy tail) and b = -k / sigma,
  the maximum-likelihood k given b is mean(log(1 - b x)); the estimate
  averages b over a grid, weighted by the profile likelihood l(b):

    b_j = 1 / x_(M) + (1 - sqrt(m / (j - 1/2))) / (3 x_(floor(M/4 + 1/2))),
    j = 1..m, m = 30 + floor(sqrt(M)),
    k_j = mean(log(1 - b_j x)),   l_j = M (log(-b_j / k_j) - k_j - 1),
    b = sum_j b_j softmax(l)_j,   k = mean(log(1 - b x)).
  """
  size = x.shape[-1]
  grid = 30 + int(math.sqrt(size))
  j = tf.range(1, grid + 1, dtype=x.dtype)
  largest = x[..., -1:]
  quartile = x[..., int(size / 4 + 0.5) - 1:int(size / 4 + 0.5)]
  # Ties at the threshold can leave the quartile at 0; a tiny positive value
  # keeps the grid finite without moving it where the quartile is positive.
  quartile = tf.maximum(quartile, 1e-12 * largest)
  b = 1. / largest + (1. - tf.sqrt(grid / (j - 0.5))) / (_PRIOR_SCALE * quartile)
  k = tf.reduce_mean(tf.math.log1p(-b[..., :, None] * x[..., None, :]), -1)
  profile = size * (tf.math.log(-b / k) - k - 1.)
  b_mean = tf.reduce_sum(b * tf.nn.softmax(profile, axis=-1), -1)
  return tf.reduce_mean(tf.math.log1p(-b_mean[..., None] * x), -1)


def pareto_k_hat(log_weights):
  """PSIS's Pareto k-hat of importance weights, over the first axis.

  See the module docstring. Needs n >= 25 draws (a tail of at least 5).
  A tail whose weights all equal the threshold (q = p exactly, e.g. uniform
  weights) has no spread to fit and gives -inf.

  Args:
    log_weights: [n, ...] log importance weights, n static.

  Returns:
    float64 tensor [...].

  Raises:
    ValueError: n unknown or < 25.
  """
  lw = _as_log_weights(log_weights)
  n = lw.shape[0]
  if n is None or tail_length(n) < _MIN_TAIL:
    raise ValueError(f"`log_weights` must hold at least 25 draws (a tail of "
                     f"{_MIN_TAIL}) along its first axis; got shape "
                     f"{lw.shape.as_list()}.")
  size = tail_length(n)
  rank = lw.shape.rank
  # Draws last, then the M + 1 largest in ascending order.
  lw = tf.transpose(lw, list(range(1, rank)) + [0])
  top = tf.reverse(tf.math.top_k(lw, k=size + 1, sorted=True).values, [-1])
  # Weights relative to the largest, so that exp cannot overflow.
  top = top - top[..., -1:]
  threshold = tf.exp(top[..., :1])
  exceedances = tf.exp(top[..., 1:]) - threshold
  k = _gpd_shape(exceedances)
  k = (size * k + _PRIOR_WEIGHT * _PRIOR_K) / (size + _PRIOR_WEIGHT)
  flat = tf.equal(exceedances[..., -1], 0.)
  k = tf.where(flat, tf.constant(-math.inf, tf.float64), k)
  # top_k ranks NaN unpredictably; any NaN weight makes k-hat NaN.
  has_nan = tf.reduce_any(tf.math.is_nan(lw), axis=-1)
  return tf.where(has_nan, tf.constant(math.nan, tf.float64), k)


def summary(log_weights):
  """{"ess_fraction", "log_z", "log_z_se", "k_hat"} of log weights [n, ...]."""
  estimate, error = log_z(log_weights)
  return {"ess_fraction": ess_fraction(log_weights), "log_z": estimate,
          "log_z_se": error, "k_hat": pareto_k_hat(log_weights)}
