"""The NICE builder."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import flows

tfd = tfp.distributions


def test_builds_a_transformed_distribution_over_images():
  dist = flows.nice([8, 8, 1], num_layers=4, hidden_units=[16])
  # tfd.TransformedDistribution(...) returns TFP's non-composite-tensor base
  # class when a bijector holds Keras layers, so check the parts instead.
  assert isinstance(dist, tfd.Distribution)
  assert isinstance(dist.bijector, tfp.bijectors.Bijector)
  assert isinstance(dist.distribution, tfd.Sample)
  assert dist.event_shape.as_list() == [8, 8, 1]
  x = tf.random.uniform([5, 8, 8, 1])
  lp = dist.log_prob(x)
  assert lp.shape == [5] and np.all(np.isfinite(lp))
  # 4 couplings x 2 dense layers x (kernel, bias) + the rescaling.
  assert len(dist.trainable_variables) == 17
  assert dist.sample(3).shape == [3, 8, 8, 1]


def test_fresh_flow_is_the_prior_and_log_prob_is_exact():
  # Zero-initialised coupling outputs and s = 0: log p(x) = log p_H(x).
  dist = flows.nice([6], hidden_units=[8], prior="logistic")
  x = tf.random.normal([4, 6])
  expected = tf.reduce_sum(tfd.Logistic(0., 1.).log_prob(x), -1)
  np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-5)


@pytest.mark.parametrize("prior, base", [("logistic", tfd.Logistic),
                                         ("gaussian", tfd.Normal)])
def test_priors(prior, base):
  dist = flows.nice([4], hidden_units=[8], prior=prior)
  assert isinstance(dist.distribution.distribution, base)


def test_alternating_partition_transforms_every_entry():
  dist = flows.nice([6], num_layers=2, hidden_units=[8])
  for v in dist.trainable_variables:
    v.assign(tf.random.normal(v.shape, stddev=0.3))
  z = tf.random.normal([3, 6])
  x = dist.bijector.forward(z)
  # Every entry moved: the two couplings condition on opposite halves.
  assert np.all(np.abs(x - z) > 0)


def test_paper_mnist_setting_is_expressible():
  dist = flows.nice([28, 28, 1], num_layers=4,
                    hidden_units=[1000] * 5, prior="logistic")
  dist.log_prob(tf.random.uniform([1, 28, 28, 1]))
  params = sum(v.shape.num_elements() for v in dist.trainable_variables)
  # 4 x (392*1000 + 4*1000*1000 + 1000*392 + biases) + 784 scales.
  assert params == 4 * (392 * 1000 + 4 * 1000 * 1000 + 1000 * 392 + 5 * 1000 +
                        392) + 784


def test_wrong_shape_names_expected_and_got():
  dist = flows.nice([8, 8, 1], hidden_units=[8])
  with pytest.raises(ValueError, match=r"\[8, 8, 1\].*got \[8, 8, 3\]"):
    dist.log_prob(tf.zeros([2, 8, 8, 3]))


def test_bad_arguments():
  with pytest.raises(ValueError, match="`prior` must be one of"):
    flows.nice([4], prior="cauchy")
  with pytest.raises(ValueError, match="`num_layers` must be >= 1"):
    flows.nice([4], num_layers=0)
  with pytest.raises(ValueError, match="at least 2 entries"):
    flows.nice([1])


def test_float64():
  dist = flows.nice([4], hidden_units=[8], dtype=tf.float64)
  assert dist.log_prob(tf.zeros([2, 4], tf.float64)).dtype == tf.float64
