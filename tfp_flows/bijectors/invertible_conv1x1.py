"""Glow's invertible 1x1 convolution, plain or LU-decomposed."""

import numpy as np
import tensorflow as tf

from tfp_flows.tfp_internal import assert_util, ps

from tfp_flows.bijectors import base

__all__ = ["InvertibleConv1x1", "inverse_and_log_abs_det", "log_abs_det"]


def _random_rotation(channels, seed):
  """A Haar-random rotation (orthogonal, det +1) as a float64 numpy array.

  With `seed=None` the draw comes from numpy's global generator, so
  `tf_keras.utils.set_random_seed` (which seeds it) makes a flow reproducible.
  """
  rng = np.random if seed is None else np.random.default_rng(seed)
  q, r = np.linalg.qr(rng.standard_normal([channels, channels]))
  # Without the sign fix, QR's convention biases Q away from uniform.
  q *= np.sign(np.diag(r))
  if np.linalg.det(q) < 0:
    q[:, 0] = -q[:, 0]
  return q


def _apply(matrix, value):
  """y[..., i] = sum_c matrix[i, c] * value[..., c].

  A single [N, C] x [C, C] matmul, not a broadcast batch of [C, C] x [C, 1].
  """
  return tf.tensordot(value, matrix, axes=[[-1], [1]])


def _qr_log_abs_det(wide):
  """log |det W| = sum log |diag(R)| of a float64 W = QR.

  `slogdet` and `tf.linalg.lu` have no XLA kernel; QR has one.
  """
  _, r = tf.linalg.qr(wide)
  return tf.reduce_sum(tf.math.log(tf.abs(tf.linalg.diag_part(r))), axis=-1)


def log_abs_det(matrix):
  """log |det W| of square matrices [..., C, C], computed in float64.

  The gradient is the closed form d log |det W| / dW = W^-T (the inverse in
  float64, made only when a gradient is taken), not autodiff through QR,
  whose backward pass cost more than the rest of the 1x1 convolution.
  """

  @tf.custom_gradient
  def compute(matrix):
    wide = tf.cast(matrix, tf.float64)

    def gradient(upstream):
      inverse = tf.cast(tf.linalg.inv(wide), matrix.dtype)
      return upstream[..., None, None] * tf.linalg.matrix_transpose(inverse)

    return tf.cast(_qr_log_abs_det(wide), matrix.dtype), gradient

  # A tensor: custom_gradient takes a (distributed) variable for a capture.
  return compute(tf.convert_to_tensor(matrix))


def inverse_and_log_abs_det(matrix):
  """(W^-1, log |det W|) of a square [C, C] `matrix`, both in float64.

  One float64 inverse serves the value and both closed-form gradients
  (autodiff through QR and the inverse was most of the 1x1 convolution's
  cost in a Glow training step):

    d log |det W| / dW = W^-T,    d <G, W^-1> / dW = -W^-T G W^-T.

  Returns:
    The inverse and the log-determinant, cast back to `matrix.dtype`.
  """

  @tf.custom_gradient
  def compute(matrix):
    wide = tf.cast(matrix, tf.float64)
    inverse = tf.cast(tf.linalg.inv(wide), matrix.dtype)

    def gradient(d_inverse, d_log_abs_det):
      # W^-T (d_log_abs_det I - G W^-T), without forming W^-T.
      inner = d_log_abs_det * tf.eye(matrix.shape[0], dtype=matrix.dtype)
      if d_inverse is not None:
        inner -= tf.matmul(d_inverse, inverse, transpose_b=True)
      return tf.matmul(inverse, inner, transpose_a=True)

    return ((inverse, tf.cast(_qr_log_abs_det(wide), matrix.dtype)),
            gradient)

  # A tensor: custom_gradient takes a (distributed) variable for a capture.
  return compute(tf.convert_to_tensor(matrix))


class InvertibleConv1x1(base.AugmentedBijector):
  """Invertible 1x1 convolution: y[i, j] = W x[i, j] at every pixel (Glow).

  W is a learned [C, C] matrix mixing the channels of an [H, W, C] event. It
  is initialised as a random rotation, so log |det W| = 0 at the start. The
  Jacobian is block diagonal with H * W copies of W:

    log |det J| = H * W * log |det W|.

  Plain form (`lu_decomposed=False`): W is one trainable variable `kernel`.
  log |det W| = sum log |diag(R)| comes from a QR decomposition of W in
  float64, for precision (`tf.linalg.slogdet` has no XLA kernel), and W^-1
  from `tf.linalg.inv` in float64, with closed-form gradients
  (`log_abs_det`, `inverse_and_log_abs_det`). Both cost O(C^3) per call; a pass computes
  them once for the transform and its log-det (`base.AugmentedBijector`).

  LU form (`lu_decomposed=True`): W = P L (U + diag(s)). P is a fixed
  permutation (non-trainable `permutation`). L is unit lower triangular
  (the strictly lower part of variable `lower`). U is strictly upper
  triangular (the strictly upper part of variable `upper`). s = sign_s *
  exp(log_abs_s), with `sign_s` fixed and `log_abs_s` trainable. Then
  log |det W| = sum(log_abs_s), and W^-1 comes from two triangular solves.
  The entries of `lower` and `upper` outside their triangles are unused.

  The map is linear, so the bijector is `is_constant_jacobian`. Under
  `validate_args` every call asserts that W is invertible to working
  precision. The test is that its reciprocal condition number
  sigma_min / sigma_max (from the SVD, in float64) exceeds the dtype's
  machine epsilon. A singular W then raises `tf.errors.InvalidArgumentError`
  instead of returning inf. XLA drops assertions, so the check does not run
  under `jit_compile=True`.

  Bound (far from the data): linear, so data to latent max |x| <=
  ||W^-1||_inf max |y| (the largest absolute row sum of W^-1) and the
  log-det is a constant: a finite gain set by the weights, 1 to sqrt(C) for
  the initial rotation (not bounded by construction).

  Shapes: x, y: `batch_shape + [H, W, C]`; log-det: scalar (constant over the
  batch, broadcast by TFP).

  #### Example

  ```python
  conv = tfp_flows.bijectors.InvertibleConv1x1(channels=12,
                                               lu_decomposed=True, seed=0)
  y = conv.forward(tf.random.normal([8, 16, 16, 12]))
  ```

  References:
    Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible
      1x1 Convolutions. NeurIPS. arXiv:1807.03039.
  """

  def __init__(self,
               channels,
               lu_decomposed=False,
               seed=None,
               validate_args=False,
               dtype=tf.float32,
               name="invertible_conv1x1"):
    """Creates the variables, W initialised to a random rotation.

    Args:
      channels: size C of the channel (last) axis.
      lu_decomposed: parameterise W by its LU decomposition.
      seed: int seed of the initial rotation, or None to draw it from numpy's
        global generator (seeded by `tf_keras.utils.set_random_seed`).
      validate_args: check inputs (finiteness) and W's invertibility at run
        time.
      dtype: float dtype.
      name: name scope.

    Raises:
      ValueError: `channels` is not a positive integer.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      if int(channels) != channels or channels < 1:
        raise ValueError(
            f"`channels` must be a positive integer; got {channels!r}.")
      self._channels = int(channels)
      self._lu_decomposed = bool(lu_decomposed)
      rotation = _random_rotation(self._channels, seed)
      if self._lu_decomposed:
        # init_scope: the initial values must be concrete even when the
        # bijector is built inside a tf.function.
        with tf.init_scope():
          lower_upper, permutation = tf.linalg.lu(tf.constant(rotation))
          lower_upper = lower_upper.numpy()
          permutation = permutation.numpy()
        diag = np.diag(lower_upper)
        self._lower = tf.Variable(
            tf.constant(np.tril(lower_upper, -1), dtype), name="lower")
        self._upper = tf.Variable(
            tf.constant(np.triu(lower_upper, 1), dtype), name="upper")
        self._log_abs_s = tf.Variable(
            tf.constant(np.log(np.abs(diag)), dtype), name="log_abs_s")
        self._sign_s = tf.Variable(
            tf.constant(np.sign(diag), dtype), trainable=False, name="sign_s")
        # tf.linalg.lu's convention: gather(W, permutation) == L @ U.
        self._permutation = tf.Variable(
            permutation, trainable=False, name="permutation")
      else:
        self._kernel = tf.Variable(tf.constant(rotation, dtype), name="kernel")
      super().__init__(
          forward_min_event_ndims=3,
          is_constant_jacobian=True,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)

  @property
  def channels(self):
    return self._channels

  @property
  def lu_decomposed(self):
    return self._lu_decomposed

  def _lu_factors(self):
    """Returns (L, U + diag(s)) of the LU form."""
    eye = tf.eye(self._channels, dtype=self.dtype)
    lower = tf.linalg.band_part(self._lower, -1, 0) * (1. - eye) + eye
    scale = self._sign_s * tf.exp(self._log_abs_s)
    upper = tf.linalg.set_diag(tf.linalg.band_part(self._upper, 0, -1), scale)
    return lower, upper

  def matrix(self):
    """The [C, C] matrix W."""
    if not self._lu_decomposed:
      return tf.convert_to_tensor(self._kernel)
    lower, upper = self._lu_factors()
    return tf.gather(tf.matmul(lower, upper),
                     tf.math.invert_permutation(self._permutation))

  def _inverse_matrix_and_log_abs_det(self):
    """(W^-1, log |det W|)."""
    if not self._lu_decomposed:
      return inverse_and_log_abs_det(self._kernel)
    lower, upper = self._lu_factors()
    # W^-1 = (U + diag(s))^-1 L^-1 P^-1, and P^-1 = gather(I, permutation).
    p_inverse = tf.gather(tf.eye(self._channels, dtype=self.dtype),
                          self._permutation)
    inverse = tf.linalg.triangular_solve(
        upper, tf.linalg.triangular_solve(lower, p_inverse, lower=True),
        lower=False)
    return inverse, tf.reduce_sum(self._log_abs_s)

  def _matrix_and_log_abs_det(self):
    """(W, log |det W|)."""
    if self._lu_decomposed:
      return self.matrix(), tf.reduce_sum(self._log_abs_s)
    kernel = tf.convert_to_tensor(self._kernel)
    return kernel, log_abs_det(kernel)

  def _parameter_control_dependencies(self, is_init):
    # TFP runs this at every call (is_init=False), so the assertion tracks
    # the current value of the variables.
    if is_init or not self.validate_args:
      return []
    singular_values = tf.linalg.svd(
        tf.cast(self.matrix(), tf.float64), compute_uv=False)
    eps = float(np.finfo(self.dtype.as_numpy_dtype).eps)
    return [
        assert_util.assert_greater(
            singular_values[-1] / singular_values[0],
            tf.constant(eps, tf.float64),
            message=f"{self.name}: the kernel `W` must be invertible; its "
            f"reciprocal condition number must exceed {eps:.3g} "
            f"({self.dtype.name} epsilon).")
    ]

  def _event_shape(self):
    return [None, None, self._channels]

  def _pixels(self, value):
    shape = ps.shape(value)
    return tf.cast(shape[-3] * shape[-2], self.dtype)

  def _augmented_forward(self, x):
    x = self._validate_input(x, "x", self._event_shape())
    matrix, log_abs_det = self._matrix_and_log_abs_det()
    return _apply(matrix, x), {"fldj": self._pixels(x) * log_abs_det}

  def _augmented_inverse(self, y):
    y = self._validate_input(y, "y", self._event_shape())
    inverse, log_abs_det = self._inverse_matrix_and_log_abs_det()
    return _apply(inverse, y), {"ildj": -self._pixels(y) * log_abs_det}
