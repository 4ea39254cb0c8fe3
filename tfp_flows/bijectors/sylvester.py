"""The Householder Sylvester flow (van den Berg et al. 2018): y = x + Q R tanh(R~ Q^T x + b)."""

import math

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import _parameters
from tfp_flows.bijectors import base

__all__ = ["Sylvester"]


class Sylvester(_parameters.ParameterizedLayer):
  """y = x + Q R tanh(R~ Q^T x + b) on [..., D] vectors: one Sylvester layer.

  Sylvester's determinant identity makes the log-det of this rank-D
  residual map cheap (van den Berg et al. 2018): with Q orthogonal and R, R~
  upper triangular (D x D),

    log |det dy/dx| = sum_i log |1 + (1 - t_i^2) R_ii R~_ii|,
    t = tanh(R~ Q^T x + b).

  Q is a product of `num_reflections` Householder reflections,
  Q = H_1 ... H_K, H_k = I - 2 v_k v_k^T / ||v_k||^2 (the paper's H-SNF).
  The diagonals are R_ii = tanh(.) and R~_ii = tanh(.) of free parameters,
  so R_ii R~_ii > -1: the paper's sufficient condition for invertibility
  with tanh (whose slope is <= 1); the log-det is computed as
  sum_i log(t_i^2 + (1 - t_i^2)(1 + R_ii R~_ii)), non-negative terms.

  `forward` (latent to data, the sampling direction of a flow for
  variational inference) is closed form. `inverse`: with v = Q^T x and
  s = Q^T y the map is v + R tanh(R~ v + b) = s, upper triangular in v, so
  it is solved from v_D up to v_1, each entry a scalar increasing equation
  v_i + R_ii tanh(R~_ii v_i + a_i) = s_i - sum_{j>i} R_ij t_j, bracketed
  within |R_ii| + 1 of its right-hand side and solved by `base.search_root`
  (|residual| <= `tolerance` or the bracket a few ulps wide, at most
  `max_iterations` steps per entry): D sequential searches. Its gradient is
  the implicit function's, one triangular solve (`base.implicit_root`'s
  construction with the Jacobian I + R diag(1 - t^2) R~).

  Initial state: reflection vectors ~ N(0, I), R~'s strict upper triangle
  ~ N(0, 1/D) (seeded), R = 0 and b = 0: a new layer is the identity. With
  `context_shape=[C]` every parameter is shifted by a zero-initialised
  linear map of the context (amortised, as the paper's encoder outputs
  them; the kwarg `conditional_input`, c [..., C]).

  #### Example

  ```python
  layer = tfp_flows.bijectors.Sylvester(4, num_reflections=2)
  y = layer.forward(tf.random.normal([5, 4]))
  x = layer.inverse(y)  # D root finds, to the stated tolerance
  ```

  References:
    van den Berg, R., Hasenclever, L., Tomczak, J. M. & Welling, M. (2018).
      Sylvester Normalizing Flows for Variational Inference. UAI.
      arXiv:1803.05649.
  """

  def __init__(self,
               event_size,
               num_reflections=2,
               context_shape=None,
               tolerance=None,
               max_iterations=60,
               seed=None,
               validate_args=False,
               dtype=tf.float32,
               name="sylvester"):
    """Creates the parameters (v_1..v_K, R, R~, b).

    Args:
      event_size: D.
      num_reflections: K >= 1 Householder reflections in Q.
      context_shape: [C] for a layer conditioned on a context, else None.
      tolerance: the inverse's stopping tolerance on each entry's
        |residual|; None for `base.DEFAULT_ROOT_TOLERANCES` of the dtype.
      max_iterations: cap on each entry's root-finder steps.
      seed: int seed of the initial draws, or None for numpy's global
        generator (seeded by `tf_keras.utils.set_random_seed`).
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype.
      name: name scope.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      d = _parameters.check_event_size(event_size)
      if int(num_reflections) != num_reflections or num_reflections < 1:
        raise ValueError(f"`num_reflections` must be a positive integer; "
                         f"got {num_reflections!r}.")
      self._num_reflections = int(num_reflections)
      rng = _parameters.random_state(seed)
      reflections = rng.normal(size=[self._num_reflections, d])
      r_tilde = np.triu(rng.normal(size=[d, d]) / math.sqrt(d), 1)
      self._upper = np.triu(np.ones([d, d]), 1)  # R's strict upper mask
      self._tolerance = tolerance
      self._max_iterations = int(max_iterations)
      super().__init__(
          d, np.concatenate([reflections.ravel(), np.zeros(d * d),
                             r_tilde.ravel(), np.zeros(d)]),
          context_shape, validate_args, dtype, parameters, name)

  @property
  def num_reflections(self):
    return self._num_reflections

  def _unpack(self, x, conditional_input):
    """(reflections [..., K, D], R, R~ [..., D, D], b [..., D])."""
    d, k = self._event_size, self._num_reflections
    theta = self._theta(x, conditional_input)
    batch = tf.shape(theta)[:-1]

    def take(start, shape):
      size = int(np.prod(shape))
      return tf.reshape(theta[..., start:start + size],
                        tf.concat([batch, shape], 0)), start + size

    reflections, start = take(0, [k, d])
    raw_r, start = take(start, [d, d])
    raw_r_tilde, start = take(start, [d, d])
    b, _ = take(start, [d])
    upper = tf.constant(self._upper, x.dtype)

    def triangular(raw):
      return (raw * upper +
              tf.linalg.diag(tf.tanh(tf.linalg.diag_part(raw))))

    return reflections, triangular(raw_r), triangular(raw_r_tilde), b

  def _reflect(self, reflections, x, transpose):
    """Q^T x (`transpose`) or Q x, Q = H_1 ... H_K."""
    tiny = np.finfo(x.dtype.as_numpy_dtype).tiny
    order = range(self._num_reflections)
    for k in (order if transpose else reversed(order)):
      v = reflections[..., k, :]
      v_squared = tf.maximum(tf.reduce_sum(v * v, -1, keepdims=True), tiny)
      x = x - 2. * v * tf.reduce_sum(v * x, -1, keepdims=True) / v_squared
    return x

  @staticmethod
  def _log_det(t, r, r_tilde):
    """sum_i log(1 + (1 - t_i^2) R_ii R~_ii), floored at the dtype's tiny."""
    tiny = np.finfo(t.dtype.as_numpy_dtype).tiny
    product = tf.linalg.diag_part(r) * tf.linalg.diag_part(r_tilde)
    return tf.reduce_sum(tf.math.log(tf.maximum(
        t * t + (1. - t * t) * (1. + product), tiny)), axis=-1)

  def _augmented_forward(self, x, conditional_input=None):
    x = self._validate_input(x, "x", [self._event_size])
    reflections, r, r_tilde, b = self._unpack(x, conditional_input)
    v = self._reflect(reflections, x, transpose=True)
    t = tf.tanh(tf.linalg.matvec(r_tilde, v) + b)
    y = self._reflect(reflections, v + tf.linalg.matvec(r, t),
                      transpose=False)
    fldj = self._log_det(t, r, r_tilde)
    return y, {"fldj": fldj, "ildj": -fldj}

  def _solve(self, s, r, r_tilde, b):
    """v with v + R tanh(R~ v + b) = s, from the last entry up; no gradient."""
    d = self._event_size
    s, r, r_tilde, b = [tf.stop_gradient(t) for t in (s, r, r_tilde, b)]

    def solve_entry(i, v, t):
      # Entries above i are solved; v and t are still 0 at i and below, so
      # full dot products sum over j > i only.
      r_row, r_tilde_row = tf.gather(r, i, axis=-2), tf.gather(r_tilde, i,
                                                               axis=-2)
      a = tf.reduce_sum(r_tilde_row * v, -1) + tf.gather(b, i, axis=-1)
      rhs = tf.gather(s, i, axis=-1) - tf.reduce_sum(r_row * t, -1)
      r_ii = tf.gather(r_row, i, axis=-1)
      r_tilde_ii = tf.gather(r_tilde_row, i, axis=-1)

      def residual(v_i):
        return v_i + r_ii * tf.tanh(r_tilde_ii * v_i + a) - rhs

      half_width = tf.abs(r_ii) + 1.
      v_i = base.search_root(residual, rhs - half_width, rhs + half_width,
                             self._tolerance, self._max_iterations)
      one_hot = tf.one_hot(i, d, dtype=s.dtype)
      return (i - 1, v + one_hot * v_i[..., None],
              t + one_hot * tf.tanh(r_tilde_ii * v_i + a)[..., None])

    # A graph loop, not a Python one: D unrolled searches would make the
    # graph, and its tracing and compilation, grow with D.
    _, v, _ = tf.while_loop(
        lambda i, v, t: i >= 0, solve_entry,
        (tf.constant(d - 1), tf.zeros_like(s), tf.zeros_like(s)),
        maximum_iterations=d)
    return v

  def _augmented_inverse(self, y, conditional_input=None):
    y = self._validate_input(y, "y", [self._event_size])
    reflections, r, r_tilde, b = self._unpack(y, conditional_input)
    s = self._reflect(reflections, y, transpose=True)
    v0 = self._solve(s, r, r_tilde, b)
    t0 = tf.tanh(tf.linalg.matvec(r_tilde, v0) + b)
    residual = v0 + tf.linalg.matvec(r, t0) - s
    # The implicit function's gradient: dv = -J^-1 d(residual), with the
    # upper triangular J = I + R diag(1 - t^2) R~ at v0.
    jacobian = (tf.eye(self._event_size, dtype=y.dtype) +
                tf.matmul(r * (1. - t0 * t0)[..., None, :], r_tilde))
    jacobian = tf.stop_gradient(
        jacobian + tf.zeros_like(residual)[..., None])
    delta = tf.linalg.triangular_solve(jacobian, residual[..., None],
                                       lower=False)[..., 0]
    v = v0 - (delta - tf.stop_gradient(delta))
    t = tf.tanh(tf.linalg.matvec(r_tilde, v) + b)
    fldj = self._log_det(t, r, r_tilde)
    x = self._reflect(reflections, v, transpose=False)
    return x, {"fldj": fldj, "ildj": -fldj}
