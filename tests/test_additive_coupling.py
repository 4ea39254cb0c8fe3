"""AdditiveCoupling: harness, single conditioner call, bad input."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows import bijectors
from tfp_flows import nets
from tfp_flows import testing

tfb = tfp.bijectors
tfd = tfp.distributions


@pytest.mark.parametrize("reverse", [False, True])
def test_harness_split(reverse):
  # 7 entries, 3 conditioning: x_B has 4 entries either way round.
  out = 4
  testing.check_bijector(
      lambda dt: bijectors.AdditiveCoupling(
          nets.MLP([16], out, dtype=dt), num_masked=3, reverse=reverse,
          dtype=dt),
      [7], expect_trainable=True)


def test_harness_mask_on_images():
  mask = bijectors.masks.checkerboard(4, 4, 2)

  def make(dt):
    net = tf_keras.Sequential([
        tf_keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                               dtype=dt),
        tf_keras.layers.Conv2D(2, 3, padding="same", dtype=dt)])
    return bijectors.AdditiveCoupling(net, mask=mask, dtype=dt)

  testing.check_bijector(make, [4, 4, 2], expect_trainable=True)


def test_log_det_is_zero_but_jacobian_not_constant():
  b = bijectors.AdditiveCoupling(nets.MLP([8], 2), num_masked=2)
  x = tf.random.normal([5, 4])
  np.testing.assert_array_equal(
      b.forward_log_det_jacobian(x, event_ndims=1), np.zeros([5]))
  assert not b.is_constant_jacobian


class _Counting(tf_keras.layers.Layer):

  def __init__(self, net):
    super().__init__()
    self.net = net
    self.calls = 0

  def call(self, x):
    self.calls += 1
    return self.net(x)


@pytest.mark.parametrize("traced", [False, True])
def test_one_conditioner_call_per_log_prob(traced):
  net = _Counting(nets.MLP([8], 2))
  b = bijectors.AdditiveCoupling(net, num_masked=2)
  dist = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), 4), b)
  x = tf.random.normal([3, 4])
  dist.log_prob(x)  # builds the network eagerly
  net.calls = 0
  if traced:
    # One trace: each Python call of the network is one network in the graph.
    tf.function(dist.log_prob).get_concrete_function(x)
  else:
    dist.log_prob(x)
  assert net.calls == 1
  # Sampling runs forward once too (the log-det of the sample is not needed).
  net.calls = 0
  dist.sample(2)
  assert net.calls == 1


def test_exactly_one_partition():
  with pytest.raises(ValueError, match="Exactly one of `mask`, `num_masked` and `packed_checkerboard`"):
    bijectors.AdditiveCoupling(nets.MLP([8], 2))
  with pytest.raises(ValueError, match="Exactly one of `mask`, `num_masked` and `packed_checkerboard`"):
    bijectors.AdditiveCoupling(nets.MLP([8], 2), mask=[1., 0.], num_masked=1)


def test_wrong_event_shape_names_expected_and_got():
  b = bijectors.AdditiveCoupling(nets.MLP([8], 4),
                                 mask=bijectors.masks.halves(8))
  with pytest.raises(ValueError, match=r"event shape \[8\].*got \[6\]"):
    b.forward(tf.zeros([2, 6]))


def test_split_too_small_last_axis():
  b = bijectors.AdditiveCoupling(nets.MLP([8], 2), num_masked=3)
  with pytest.raises(ValueError, match="larger than num_masked=3; got 3"):
    b.forward(tf.zeros([2, 3]))


def test_nan_input_rejected_under_validate_args():
  b = bijectors.AdditiveCoupling(nets.MLP([8], 2), num_masked=2,
                                 validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="`x` must be finite"):
    b.forward(tf.constant([[0., np.nan, 1., 2.]]))
  with pytest.raises(tf.errors.InvalidArgumentError, match="`y` must be finite"):
    b.inverse(tf.constant([[0., np.inf, 1., 2.]]))


def test_wrong_dtype_rejected():
  b = bijectors.AdditiveCoupling(nets.MLP([8], 2), num_masked=2)
  with pytest.raises((TypeError, ValueError), match="float64|float32"):
    b.forward(tf.zeros([1, 4], tf.float64))
