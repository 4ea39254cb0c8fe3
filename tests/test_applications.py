"""Temperature sampling, encode and decode."""

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_probability as tfp

import tfp_flows
from tfp_flows import flows

tfb = tfp.bijectors
tfd = tfp.distributions


def _hand_built(bijector, dim=6):
  """A flow whose map is `bijector`, on a standard normal base."""
  return tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(tf.constant(0.), 1.), [dim]), bijector)


# x = A z + b with A lower triangular, well conditioned: encode and decode are
# exact linear algebra, computed below with NumPy.
_A = (np.tril(np.random.default_rng(3).normal(size=[6, 6]) * 0.3, -1) +
      np.diag(np.linspace(0.5, 2., 6))).astype(np.float32)
_B = np.linspace(-1., 1., 6).astype(np.float32)


def _affine():
  return _hand_built(tfb.Chain([tfb.Shift(_B),
                                tfb.ScaleMatvecTriL(scale_tril=_A)]))


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


@pytest.mark.parametrize("steps", [2, 5])
def test_interpolate_walks_the_latent_segment_evenly(dist, steps):
  # The documented path: z(a) = (1 - a) z1 + a z2, a = 0, 1/(steps-1), ..., 1.
  x1 = tf.random.stateless_normal([6], [1, 1])
  x2 = tf.random.stateless_normal([6], [2, 2])
  z1, z2 = (np.asarray(tfp_flows.encode(dist, x[None]))[0] for x in (x1, x2))
  a = np.arange(steps)[:, None] / (steps - 1.)
  path = tfp_flows.interpolate(dist, x1, x2, steps=steps)
  np.testing.assert_allclose(
      tfp_flows.encode(dist, tf.identity(path)), (1. - a) * z1 + a * z2,
      atol=1e-4)
  # A flow that is not linear: the path in data space is not a straight line.
  if steps == 5:
    straight = (1. - a) * np.asarray(x1) + a * np.asarray(x2)
    assert np.max(np.abs(np.asarray(path) - straight)) > 1e-2


def test_interpolate_is_the_straight_line_under_an_affine_flow():
  # decode(z) = A z + b maps the latent segment onto the data segment.
  x1 = np.array([1., -2., 0.5, 0., 3., -1.], np.float32)
  x2 = np.array([-1., 0., 2.5, 1., -3., 4.], np.float32)
  path = tfp_flows.interpolate(_affine(), x1, x2, steps=5)
  a = np.array([0., 0.25, 0.5, 0.75, 1.])[:, None]
  np.testing.assert_allclose(path, (1. - a) * x1 + a * x2, atol=1e-5)


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
  image_dist = flows.glow([4, 4, 1], num_scales=1, num_layers=1, hidden_units=4)
  x = tf.random.stateless_uniform([3, 4, 4, 1], [4, 5])
  image_dist.log_prob(x)  # ActNorm init
  observed = np.ones([4, 4, 1], np.float32)
  observed[2:] = 0.
  start = observed * x + (1. - observed) * 0.5
  filled = tfp_flows.inpaint(image_dist, x, observed, steps=50)
  np.testing.assert_array_equal(filled[:, :2], np.asarray(x)[:, :2])
  assert np.all((filled >= 0.) & (filled < 1.))
  assert np.all(image_dist.log_prob(filled) > image_dist.log_prob(start))


def _groups_with_means(mean_a, mean_b, n=5):
  """Two groups of points whose sample means are exactly mean_a and mean_b."""
  noise = np.random.default_rng(4).normal(size=[2, n, 6])
  noise -= noise.mean(axis=1, keepdims=True)
  return (mean_a + noise[0]).astype(np.float32), (
      mean_b + noise[1]).astype(np.float32)


def test_attribute_direction_is_the_latent_mean_difference():
  # Under x = exp(z) the latents are log x: build the groups in latent space
  # with known means, so the direction is known without encoding anything.
  mean_a = np.array([0., 0.5, -0.5, 1., 0., -1.])
  mean_b = np.array([1., 0.5, 0.5, -1., 0.2, 0.])
  z_a, z_b = _groups_with_means(mean_a, mean_b)
  exp_flow = _hand_built(tfb.Exp())
  direction = tfp_flows.attribute_direction(exp_flow, np.exp(z_a),
                                            np.exp(z_b))
  np.testing.assert_allclose(direction, mean_b - mean_a, atol=1e-5)
  # The mean in latent space, not the encoding of the data means (which
  # differ by Jensen's gap under exp).
  data_space = np.log(np.exp(z_b).mean(0)) - np.log(np.exp(z_a).mean(0))
  assert np.max(np.abs(data_space - (mean_b - mean_a))) > 0.05


def test_manipulate_under_an_affine_flow_moves_by_the_data_mean_difference():
  # With x = A z + b, moving z by a (mean_b - mean_a in latent space) moves x
  # by a times the difference of the groups' data means.
  mean_a = np.array([0., 1., 2., 0., -1., 0.5])
  mean_b = np.array([1., 1., 0., 0.5, -1., 2.5])
  x_a, x_b = _groups_with_means(mean_a, mean_b)
  flow = _affine()
  direction = tfp_flows.attribute_direction(flow, x_a, x_b)
  np.testing.assert_allclose(direction, np.linalg.solve(_A, mean_b - mean_a),
                             atol=1e-4)
  scales = (-1., 0., 0.5, 2.)
  out = tfp_flows.manipulate(flow, x_a[:3], direction, scales=scales)
  assert out.shape == [3, 4, 6]
  want = x_a[:3, None] + np.array(scales)[None, :, None] * (mean_b - mean_a)
  np.testing.assert_allclose(out, want, atol=1e-4)


def test_manipulate_moves_latents_along_the_direction(dist):
  a = tf.random.stateless_normal([5, 6], [6, 7])
  direction = tf.constant([0.5, -1., 0., 2., 0.25, -0.5])
  out = tfp_flows.manipulate(dist, a[:2], direction, scales=(0., 1., -2.))
  assert out.shape == [2, 3, 6]
  np.testing.assert_allclose(out[:, 0], a[:2], atol=1e-5)
  z = tfp_flows.encode(dist, a[:2])
  for j, scale in enumerate((0., 1., -2.)):
    np.testing.assert_allclose(
        tfp_flows.encode(dist, tf.identity(out[:, j])), z + scale * direction,
        atol=1e-4)
