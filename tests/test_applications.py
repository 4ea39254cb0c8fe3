"""Temperature sampling, encode and decode."""

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows
from tfp_flows import flows


@pytest.fixture(scope="module")
def dist():
  d = flows.nice([6], hidden_units=[8], prior="gaussian")
  d.log_prob(tf.zeros([1, 6]))  # builds the networks
  for v in d.trainable_variables:
    v.assign(tf.random.stateless_normal(v.shape, [1, 2], stddev=0.2))
  return d


def test_temperature_one_equals_dist_sample(dist):
  seed = (3, 4)
  np.testing.assert_allclose(tfp_flows.sample(dist, 5, 1.0, seed=seed),
                             dist.sample(5, seed=seed), rtol=1e-6)


def test_temperature_zero_decodes_the_mode(dist):
  x = tfp_flows.sample(dist, 3, temperature=0.)
  np.testing.assert_allclose(x, np.repeat(tfp_flows.decode(dist, tf.zeros([1, 6])),
                                          3, axis=0), rtol=1e-6)


def test_temperature_scales_the_latent(dist):
  seed = (5, 6)
  z = dist.distribution.sample(4, seed=seed)
  np.testing.assert_allclose(tfp_flows.sample(dist, 4, 0.7, seed=seed),
                             tfp_flows.decode(dist, 0.7 * z), rtol=1e-5)


@pytest.mark.parametrize("temperature", [-0.1, float("nan"), float("inf")])
def test_bad_temperature(dist, temperature):
  with pytest.raises(ValueError, match="`temperature` must be a finite number"):
    tfp_flows.sample(dist, 2, temperature)
  with pytest.raises(tf.errors.InvalidArgumentError, match="`temperature`"):
    tfp_flows.sample(dist, 2, tf.constant(temperature))


@pytest.mark.parametrize("n", [-1, 2.5, True])
def test_bad_n(dist, n):
  with pytest.raises(ValueError, match="`n` must be an integer >= 0"):
    tfp_flows.sample(dist, n)


def test_tensor_n_and_temperature_in_tf_function(dist):
  f = tf.function(lambda n, t: tfp_flows.sample(dist, n, t))
  assert f(tf.constant(3), tf.constant(0.5)).shape == [3, 6]
  assert f(tf.constant(0), tf.constant(0.5)).shape == [0, 6]
  with pytest.raises(tf.errors.InvalidArgumentError, match="`n` must be >= 0"):
    f(tf.constant(-2), tf.constant(0.5))


def test_encode_decode_round_trip(dist):
  x = tf.random.normal([4, 6])
  np.testing.assert_allclose(
      tfp_flows.decode(dist, tf.identity(tfp_flows.encode(dist, x))), x,
      atol=1e-5)


def test_interpolate_ends_at_the_two_examples(dist):
  x1, x2 = tf.random.normal([6]), tf.random.normal([6])
  path = tfp_flows.interpolate(dist, x1, x2, steps=5)
  assert path.shape == [5, 6]
  np.testing.assert_allclose(path[0], x1, atol=1e-5)
  np.testing.assert_allclose(path[-1], x2, atol=1e-5)
  with pytest.raises(ValueError, match="`steps` must be an integer >= 2"):
    tfp_flows.interpolate(dist, x1, x2, steps=1)


def test_temperature_grid_rows_share_latents(dist):
  grid = tfp_flows.temperature_grid(dist, 3, (0., 1.), seed=(1, 2))
  assert grid.shape == [3, 2, 6]
  np.testing.assert_allclose(grid[:, 1], tfp_flows.sample(dist, 3, 1.,
                                                          seed=(1, 2)),
                             rtol=1e-6)
  np.testing.assert_allclose(grid[:, 0],
                             np.repeat(tfp_flows.decode(dist, tf.zeros([1, 6])),
                                       3, axis=0), rtol=1e-6)


def test_inpaint_keeps_observed_pixels_and_raises_likelihood():
  image_dist = flows.glow([4, 4, 1], num_levels=1, depth=1, hidden_channels=4)
  x = tf.random.stateless_uniform([3, 4, 4, 1], [4, 5])
  image_dist.log_prob(x)  # ActNorm init
  observed = np.ones([4, 4, 1], np.float32)
  observed[2:] = 0.
  start = observed * x + (1. - observed) * 0.5
  filled = tfp_flows.inpaint(image_dist, x, observed, steps=50)
  np.testing.assert_array_equal(filled[:, :2], np.asarray(x)[:, :2])
  assert np.all((filled >= 0.) & (filled < 1.))
  assert np.all(image_dist.log_prob(filled) > image_dist.log_prob(start))


def test_manipulate_moves_latents_along_the_direction(dist):
  a = tf.random.stateless_normal([5, 6], [6, 7])
  b = tf.random.stateless_normal([5, 6], [8, 9]) + 1.
  direction = tfp_flows.attribute_direction(dist, a, b)
  np.testing.assert_allclose(
      direction, tf.reduce_mean(tfp_flows.encode(dist, b), 0) -
      tf.reduce_mean(tfp_flows.encode(dist, a), 0), rtol=1e-6)
  out = tfp_flows.manipulate(dist, a[:2], direction, scales=(0., 1.))
  assert out.shape == [2, 2, 6]
  np.testing.assert_allclose(out[:, 0], a[:2], atol=1e-5)
  np.testing.assert_allclose(
      tfp_flows.encode(dist, tf.identity(out[:, 1])),
      tfp_flows.encode(dist, a[:2]) + direction, atol=1e-4)
