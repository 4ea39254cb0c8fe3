"""FactorOut: harness, learned prior, shapes, arguments."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors
from tfp_flows import nets
from tfp_flows import testing

tfd = tfp.distributions


def _make(dtype, prior=True, shape=(2, 2, 4), kept=2):
  h, w, c = shape
  net = None
  if prior:
    net = nets.GlowNet(4, 2 * (c - kept), dtype=dtype)
    net.build([None, h, w, kept])
  return bijectors.FactorOut(bijectors.Unflatten([h, w, kept]), list(shape),
                             num_kept=kept, prior_net=net, dtype=dtype)


@pytest.mark.parametrize("prior", [True, False])
def test_harness(prior):
  testing.check_bijector(lambda dt: _make(dt, prior), [16],
                         expect_trainable=prior)


def test_shapes():
  b = _make(tf.float32, shape=(2, 2, 3), kept=1)
  assert b.forward_event_shape([5, 12]).as_list() == [5, 2, 2, 3]
  assert b.inverse_event_shape([2, 2, 3]).as_list() == [12]
  x = b.forward(tf.zeros([7, 12]))
  assert x.shape == [7, 2, 2, 3]


def test_learned_prior_is_gaussian_given_kept_channels():
  b = _make(tf.float64)
  b.forward(tf.zeros([1, 16], tf.float64))
  for v in b.trainable_variables:
    v.assign(tf.random.stateless_normal(v.shape, [1, 1], 0.3, dtype=v.dtype))
  dist = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(tf.constant(0., tf.float64), 1.), 16), b)
  x = tf.random.stateless_normal([3, 2, 2, 4], [2, 2], dtype=tf.float64)
  h, z = x[..., :2], x[..., 2:]
  mu, log_sigma = b._prior(h, {})  # pylint: disable=protected-access
  std_normal = tfd.Normal(tf.constant(0., tf.float64), 1.)
  expected = (tf.reduce_sum(std_normal.log_prob(tf.reshape(h, [3, -1])), -1) +
              tf.reduce_sum(tfd.Normal(mu, tf.exp(log_sigma)).log_prob(z),
                            [-3, -2, -1]))
  np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-10)


def test_arguments():
  inner = bijectors.Unflatten([2, 2, 1])
  with pytest.raises(ValueError, match="a single channel cannot be split"):
    bijectors.FactorOut(bijectors.Unflatten([2, 2, 1]), [2, 2, 1])
  with pytest.raises(ValueError, match=r"fully defined \[H, W, C\]"):
    bijectors.FactorOut(inner, [2, 2])
  with pytest.raises(ValueError, match=r"event shape \[2, 2, 2\]"):
    bijectors.FactorOut(inner, [2, 2, 2]).inverse(tf.zeros([1, 2, 2, 3]))
