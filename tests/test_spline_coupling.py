"""SplineCoupling: harness on vectors and images, identity start, one call, context, far inputs."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfp_flows import testing
from tfp_flows.bijectors import masks
from tfp_flows.bijectors.spline_coupling import SplineCoupling
from tfp_flows.nets import MLP

K = 4
P = 3 * K - 1


def _mlp(inputs, outputs, dtype=tf.float32, hidden=(8,)):
  net = MLP(hidden, outputs, dtype=dtype)
  net.build([None, inputs])
  return net


def test_harness_vector_split():
  # Event size 5: x_A is the last 2 entries (reversed), x_B 3 splines of K
  # bins on [-2, 2] (the harness's normal points fall in both the spline
  # and its tails).
  testing.check_bijector(
      lambda dtype: SplineCoupling(
          _mlp(2, 3 * P, dtype), num_bins=K, bound=2., num_masked=2,
          reverse=True, validate_args=True, dtype=dtype),
      event_shape=[5], perturb_variables=0.3, expect_trainable=True)


def test_harness_image_checkerboard():
  def make(dtype):
    net = tf_keras.Sequential([
        tf_keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                               dtype=dtype),
        tf_keras.layers.Conv2D(2 * P, 3, padding="same", dtype=dtype)])
    return SplineCoupling(net, num_bins=K, bound=2.,
                          mask=masks.checkerboard(4, 4, 2), dtype=dtype)
  testing.check_bijector(make, event_shape=[4, 4, 2], perturb_variables=0.3,
                         expect_trainable=True)


def test_new_layer_is_the_identity():
  layer = SplineCoupling(_mlp(2, 2 * P), num_bins=K, num_masked=2)
  x = tf.random.stateless_normal([6, 4], [1, 2]) * 3.
  np.testing.assert_allclose(layer.forward(x), x, atol=1e-6)
  np.testing.assert_allclose(layer.inverse(x), x, atol=1e-6)
  np.testing.assert_allclose(layer.forward_log_det_jacobian(x, event_ndims=1),
                             np.zeros([6]), atol=1e-5)


def test_one_conditioner_call_per_pass():
  net = testing.perturb(_mlp(2, 2 * P), 0.5)
  calls = []

  def counted(x_a):
    calls.append(1)
    return net(x_a)

  layer = SplineCoupling(counted, num_bins=K, num_masked=2)
  y = tf.random.stateless_normal([5, 4], [3, 4])
  layer.inverse(y)
  layer.inverse_log_det_jacobian(y, event_ndims=1)
  assert len(calls) == 1
  x = tf.random.stateless_normal([5, 4], [5, 6])
  layer.forward(x)
  layer.forward_log_det_jacobian(x, event_ndims=1)
  assert len(calls) == 2


def test_context_reaches_the_conditioner():
  # float64: random splines can be steep enough to amplify float32 rounding.
  net = MLP([8], 2 * P, context_shape=[3], dtype="float64")
  net.build([None, 2])
  testing.perturb(net, 0.5)
  layer = SplineCoupling(net, num_bins=K, num_masked=2, dtype=tf.float64)
  y = tf.random.stateless_normal([4, 4], [7, 8], dtype=tf.float64)
  c1, c2 = tf.zeros([4, 3], tf.float64), tf.ones([4, 3], tf.float64)
  x = layer.inverse(y, conditional_input=c2)
  assert not np.allclose(layer.inverse(y, conditional_input=c1), x)
  np.testing.assert_allclose(
      layer.forward(tf.identity(x), conditional_input=c2), y, atol=1e-9)
  with pytest.raises(ValueError, match="`conditional_input`.*required"):
    layer.inverse(y)


def test_far_inputs_give_finite_values_and_gradients():
  net = testing.perturb(_mlp(2, 2 * P, hidden=(16, 16)), 3.)
  layer = SplineCoupling(net, num_bins=K, num_masked=2)
  x = tf.constant([[1e6, -1e6, 1e6, 0.5], [5., 5., -5., 5.],
                   [1e4, 0., 3e38, -3e38]])
  for fn in (layer.forward, layer.inverse):
    with tf.GradientTape() as tape:
      tape.watch(x)
      out = fn(tf.identity(x))
      ldj = layer.forward_log_det_jacobian(tf.identity(x), event_ndims=1)
      loss = tf.reduce_sum(out * 0.) + tf.reduce_sum(ldj)
    grads = tape.gradient(loss, [x] + net.trainable_variables)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(ldj))
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_bad_arguments_and_validation():
  with pytest.raises(ValueError, match="`num_bins` must be an integer"):
    SplineCoupling(_mlp(2, 2 * P), num_bins=0, num_masked=2)
  with pytest.raises(ValueError, match="`min_bin_width`"):
    SplineCoupling(_mlp(2, 2 * P), num_bins=K, min_bin_width=0.5,
                   num_masked=2)
  wrong = SplineCoupling(_mlp(2, 2 * P + 1), num_bins=K, num_masked=2)
  with pytest.raises(ValueError, match=r"2 \* 11 = 22 \(K raw widths.*got 23"):
    wrong.forward(tf.zeros([3, 4]))
  checked = SplineCoupling(_mlp(2, 2 * P), num_bins=K, num_masked=2,
                           validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
    checked.inverse(tf.constant([[np.nan, 0., 0., 0.]]))
  assert checked.parameters["num_bins"] == K and checked.bound == 5.
