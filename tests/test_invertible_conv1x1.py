"""InvertibleConv1x1: harness in both forms, initial rotation, singular W."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import testing
from tfp_flows.bijectors.invertible_conv1x1 import InvertibleConv1x1
from tfp_flows.bijectors.invertible_conv1x1 import inverse_and_log_abs_det
from tfp_flows.bijectors.invertible_conv1x1 import log_abs_det


def _variable(conv, name):
  """The bijector's variable called `name` ("kernel", "log_abs_s", ...)."""
  found = [v for v in conv.variables if v.name.split("/")[-1] == name + ":0"]
  assert len(found) == 1, [v.name for v in conv.variables]
  return found[0]


@pytest.mark.parametrize("lu_decomposed", [False, True])
@pytest.mark.parametrize("channels", [2, 4])
def test_harness(lu_decomposed, channels):
  testing.check_bijector(
      lambda dtype: InvertibleConv1x1(
          channels, lu_decomposed=lu_decomposed, seed=1, validate_args=True,
          dtype=dtype),
      event_shape=[4, 4, channels], expect_trainable=True)


@pytest.mark.parametrize("lu_decomposed", [False, True])
def test_initial_kernel_is_a_seeded_rotation(lu_decomposed):
  conv = InvertibleConv1x1(4, lu_decomposed=lu_decomposed, seed=3,
                           dtype=tf.float64)
  w = conv.matrix().numpy()
  np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-12)
  np.testing.assert_allclose(np.linalg.det(w), 1., atol=1e-12)
  np.testing.assert_allclose(
      conv.forward_log_det_jacobian(tf.zeros([4, 4, 4], tf.float64),
                                    event_ndims=3), 0., atol=1e-12)
  again = InvertibleConv1x1(4, lu_decomposed=lu_decomposed, seed=3,
                            dtype=tf.float64)
  np.testing.assert_array_equal(again.matrix(), w)
  other = InvertibleConv1x1(4, lu_decomposed=lu_decomposed, seed=4,
                            dtype=tf.float64)
  assert not np.allclose(other.matrix(), w)


def test_forward_mixes_channels_at_every_pixel():
  conv = InvertibleConv1x1(3, seed=0)
  _variable(conv, "kernel").assign_add(0.3 * tf.ones([3, 3]))
  x = tf.random.normal([2, 5, 4, 3])
  w = conv.matrix().numpy()
  np.testing.assert_allclose(conv.forward(x), np.einsum("ij,nhwj->nhwi", w, x),
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("lu_decomposed", [False, True])
def test_log_det_is_pixels_times_log_abs_det(lu_decomposed):
  conv = InvertibleConv1x1(3, lu_decomposed=lu_decomposed, seed=0,
                           dtype=tf.float64)
  rng = np.random.default_rng(0)
  for v in conv.trainable_variables:
    v.assign_add(0.5 * rng.standard_normal(v.shape))
  _, log_abs_det = np.linalg.slogdet(conv.matrix().numpy())
  x = tf.zeros([2, 8, 5, 3], tf.float64)  # A non-square image: H * W = 40.
  np.testing.assert_allclose(conv.forward_log_det_jacobian(x, event_ndims=3),
                             40. * log_abs_det, rtol=1e-12)
  np.testing.assert_allclose(conv.inverse_log_det_jacobian(x, event_ndims=3),
                             -40. * log_abs_det, rtol=1e-12)
  assert conv.is_constant_jacobian


def test_lu_form_variables():
  conv = InvertibleConv1x1(4, lu_decomposed=True, seed=0)
  trainable = sorted(v.name.split("/")[-1] for v in conv.trainable_variables)
  fixed = sorted(v.name.split("/")[-1] for v in conv.non_trainable_variables)
  assert trainable == ["log_abs_s:0", "lower:0", "upper:0"]
  assert fixed == ["permutation:0", "sign_s:0"]


@pytest.mark.parametrize("lu_decomposed", [False, True])
def test_singular_kernel_raises_under_validate_args(lu_decomposed):
  conv = InvertibleConv1x1(2, lu_decomposed=lu_decomposed, seed=0,
                           validate_args=True)
  if lu_decomposed:
    _variable(conv, "log_abs_s").assign([-200., 0.])  # s underflows to 0.
  else:
    _variable(conv, "kernel").assign([[1., 2.], [2., 4.]])
  x = tf.ones([1, 2, 2, 2])
  for method in ("forward", "inverse"):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"the kernel `W` must be invertible; its "
                       r"reciprocal condition number must exceed 1.19e-07"):
      getattr(conv, method)(x)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="must be invertible"):
    conv.forward_log_det_jacobian(x, event_ndims=3)


def test_singular_kernel_without_validate_args_is_silent():
  conv = InvertibleConv1x1(2, seed=0)
  _variable(conv, "kernel").assign([[1., 2.], [2., 4.]])
  ldj = conv.forward_log_det_jacobian(tf.ones([1, 2, 2, 2]), event_ndims=3)
  assert ldj.numpy() < -100.  # -inf, or rounding's huge negative value.


def test_wrong_channel_count_raises():
  conv = InvertibleConv1x1(2)
  with pytest.raises(ValueError,
                     match=r"`x` must have event shape \[None, None, 2\]"):
    conv.forward(tf.zeros([1, 4, 4, 3]))
  with pytest.raises(ValueError,
                     match=r"`y` must have event shape \[None, None, 2\]"):
    conv.inverse_log_det_jacobian(tf.zeros([4, 4, 3]), event_ndims=3)


@pytest.mark.parametrize("channels", [0, 1.5])
def test_bad_channels_raise(channels):
  with pytest.raises(ValueError, match="`channels` must be a positive integer"):
    InvertibleConv1x1(channels)


def test_nan_input_raises_under_validate_args():
  conv = InvertibleConv1x1(2, validate_args=True)
  x = np.zeros([1, 2, 2, 2], np.float32)
  x[0, 0, 1, 1] = np.nan
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="`x` must be finite"):
    conv.forward(x)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_inverse_and_log_abs_det_gradient_is_autodiffs(dtype):
  # The closed form against autodiff through slogdet and the inverse.
  rng = np.random.default_rng(0)
  matrix = tf.constant(rng.standard_normal([5, 5]) + 2. * np.eye(5), dtype)
  weights = tf.constant(rng.standard_normal([5, 5]), dtype)

  def loss(inverse, log_abs_det):
    return tf.reduce_sum(weights * inverse) + 3. * log_abs_det

  with tf.GradientTape(persistent=True) as tape:
    tape.watch(matrix)
    ours = loss(*inverse_and_log_abs_det(matrix))
    reference = loss(tf.linalg.inv(matrix), tf.linalg.slogdet(matrix)[1])
  rtol = 1e-5 if dtype == tf.float32 else 1e-12
  np.testing.assert_allclose(ours, reference, rtol=rtol)
  np.testing.assert_allclose(tape.gradient(ours, matrix),
                             tape.gradient(reference, matrix), rtol=rtol,
                             atol=rtol)
  # Either output alone, and the log-det alone (the forward direction's).
  for index in (0, 1):
    with tf.GradientTape() as tape:
      tape.watch(matrix)
      out = tf.reduce_sum(inverse_and_log_abs_det(matrix)[index])
    assert tape.gradient(out, matrix) is not None
  with tf.GradientTape() as tape:
    tape.watch(matrix)
    ours = log_abs_det(matrix)
  np.testing.assert_allclose(ours, tf.linalg.slogdet(matrix)[1], rtol=rtol)
  np.testing.assert_allclose(tape.gradient(ours, matrix),
                             tf.transpose(tf.linalg.inv(matrix)), rtol=rtol,
                             atol=rtol)


def test_one_decomposition_per_pass():
  # log_prob's inverse and inverse log-det share one QR and one inverse.
  conv = InvertibleConv1x1(4, seed=0)
  y = tf.random.normal([2, 3, 3, 4])

  @tf.function
  def both(y):
    return conv.inverse(y), conv.inverse_log_det_jacobian(y, event_ndims=3)

  ops = [op.type for op in both.get_concrete_function(y).graph.get_operations()]
  assert ops.count("Qr") == 1 and ops.count("MatrixInverse") == 1, ops
