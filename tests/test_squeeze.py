"""Squeeze: harness, block layout, event shapes, batch ranks, bad shapes."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import testing
from tfp_flows.bijectors.squeeze import Squeeze

tfd = tfp.distributions


def test_harness():
  testing.check_bijector(lambda dtype: Squeeze(validate_args=True),
                         event_shape=[4, 4, 2], expect_trainable=False)


def test_harness_factor_3_non_square():
  testing.check_bijector(lambda dtype: Squeeze(factor=3),
                         event_shape=[3, 6, 1], expect_trainable=False)


def test_block_layout():
  # y[i, j, (a * f + b) * C + c] = x[i * f + a, j * f + b, c].
  f, c = 2, 3
  x = np.arange(4 * 6 * c, dtype=np.float32).reshape([4, 6, c])
  y = Squeeze(f).forward(x).numpy()
  assert y.shape == (2, 3, 12)
  for i, j, a, b, k in np.ndindex(2, 3, f, f, c):
    assert y[i, j, (a * f + b) * c + k] == x[i * f + a, j * f + b, k]


def test_log_det_is_zero_and_jacobian_constant():
  squeeze = Squeeze()
  x = tf.random.normal([5, 4, 4, 2])
  np.testing.assert_array_equal(
      squeeze.forward_log_det_jacobian(x, event_ndims=3), np.zeros([5]))
  np.testing.assert_array_equal(
      squeeze.inverse_log_det_jacobian(squeeze.forward(x), event_ndims=3),
      np.zeros([5]))
  assert squeeze.is_constant_jacobian


def test_event_shapes():
  squeeze = Squeeze()
  assert squeeze.forward_event_shape([4, 6, 3]) == [2, 3, 12]
  assert squeeze.inverse_event_shape([2, 3, 12]) == [4, 6, 3]
  assert squeeze.forward_event_shape([None, 6, 3]).as_list() == [None, 3, 12]
  assert squeeze.inverse_event_shape([2, None, None]).as_list() == [
      4, None, None]
  np.testing.assert_array_equal(
      squeeze.forward_event_shape_tensor([4, 6, 3]), [2, 3, 12])
  np.testing.assert_array_equal(
      squeeze.inverse_event_shape_tensor([2, 3, 12]), [4, 6, 3])
  base = tfd.Sample(tfd.Normal(0., 1.), [4, 6, 3])
  dist = tfd.TransformedDistribution(base, squeeze)
  assert dist.event_shape == [2, 3, 12]
  y = dist.sample(5, seed=0)
  assert y.shape == [5, 2, 3, 12]
  np.testing.assert_allclose(dist.log_prob(y),
                             base.log_prob(squeeze.inverse(y)), rtol=1e-6)


@pytest.mark.parametrize("batch", [[], [3], [2, 3], [2, 1, 3]])
def test_any_batch_rank_with_dynamic_shapes(batch):
  squeeze = Squeeze()
  x = tf.random.normal(batch + [4, 6, 2])
  spec = tf.TensorSpec([None] * (len(batch) + 3), tf.float32)
  forward = tf.function(squeeze.forward, input_signature=[spec])
  inverse = tf.function(squeeze.inverse, input_signature=[spec])
  y = forward(x)
  assert y.shape == batch + [2, 3, 8]
  np.testing.assert_array_equal(y, squeeze.forward(x))
  np.testing.assert_array_equal(inverse(y), x)


@pytest.mark.parametrize("shape,dim", [([5, 4, 2], "height 5"),
                                       ([2, 4, 3, 2], "width 3")])
def test_odd_height_or_width_raises(shape, dim):
  with pytest.raises(ValueError, match=f"`x` must have a {dim.split()[0]} "
                     f"divisible by 2 .*got {dim}"):
    Squeeze().forward(tf.zeros(shape))
  with pytest.raises(ValueError, match="divisible by 2"):
    Squeeze().forward_event_shape(shape[-3:])


def test_channels_not_divisible_raises_on_inverse():
  with pytest.raises(ValueError, match="`y` must have a channel count "
                     "divisible by 4 .*got channel count 6"):
    Squeeze().inverse(tf.zeros([2, 2, 6]))
  with pytest.raises(ValueError, match="divisible by 4"):
    Squeeze().inverse_event_shape_tensor([2, 2, 6])


def test_dynamic_odd_height_raises_under_validate_args():
  forward = tf.function(
      Squeeze(validate_args=True).forward,
      input_signature=[tf.TensorSpec([None, None, None, 2], tf.float32)])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="`x` must have a height divisible by 2"):
    forward(tf.zeros([1, 5, 4, 2]))


def test_rank_below_3_raises():
  with pytest.raises(ValueError, match=r"`x` must have rank >= 3"):
    Squeeze().forward(tf.zeros([4, 4]))


@pytest.mark.parametrize("factor", [1, 2.5])
def test_bad_factor_raises(factor):
  with pytest.raises(ValueError, match="`factor` must be an integer >= 2"):
    Squeeze(factor)


def test_nan_input_raises_under_validate_args():
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="`x` must be finite"):
    Squeeze(validate_args=True).forward(
        tf.constant(np.full([2, 2, 1], np.nan, np.float32)))


def test_declared_event_shape_is_enforced_both_ways():
  squeeze = Squeeze(event_shape=[4, 4, 2])
  assert squeeze.forward(tf.zeros([3, 4, 4, 2])).shape == [3, 2, 2, 8]
  with pytest.raises(ValueError, match=r"event shape \[4, 4, 2\].*got \[4, 4, 3\]"):
    squeeze.forward(tf.zeros([3, 4, 4, 3]))
  with pytest.raises(ValueError, match=r"event shape \[2, 2, 8\].*got \[2, 2, 4\]"):
    squeeze.inverse(tf.zeros([3, 2, 2, 4]))
  with pytest.raises(ValueError, match="`event_shape` must have a height"):
    Squeeze(event_shape=[3, 4, 1])
