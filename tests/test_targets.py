"""The benchmark targets: normalised where claimed, the right shapes."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import targets

tfd = tfp.distributions


def _grid_mass(log_prob, low, high, n=801):
  axis = np.linspace(low, high, n, dtype=np.float32)
  grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1)
  step = (high - low) / (n - 1)
  return float(np.sum(np.exp(log_prob(grid).numpy())) * step**2)


def test_banana_is_normalised():
  target = targets.banana()
  assert target.log_z == 0. and target.event_shape == [2]
  # x1 within 6 sd; x2 = x1^2 / 2 + noise reaches 72.
  assert _grid_mass(target.log_prob, -12., 80., n=2001) == pytest.approx(
      1., abs=1e-3)


def test_funnel_matches_its_definition():
  target = targets.funnel(4)
  x = tf.constant(np.random.RandomState(0).randn(5, 4) * 2., tf.float32)
  v = x[:, 0]
  expected = tfd.Normal(0., 3.).log_prob(v) + tf.reduce_sum(
      tfd.Normal(0., tf.exp(v / 2.)[:, None]).log_prob(x[:, 1:]), -1)
  np.testing.assert_allclose(target.log_prob(x), expected, rtol=1e-5)
  # Deep in the neck the density stays finite.
  assert np.isfinite(target.log_prob(tf.constant([[-30., 1e-3, 0., 0.]])))
  with pytest.raises(ValueError, match="`dim` must be an integer >= 2"):
    targets.funnel(1)


def test_logistic_regression_shapes_and_prior():
  target = targets.logistic_regression()
  assert target.event_shape == [31] and target.log_z is None
  w = tf.zeros([3, 31])
  # At w = 0 every case has probability 1/2: 569 log(1/2) + the prior.
  expected = 569 * math.log(0.5) + 31 * -0.5 * math.log(2 * math.pi)
  np.testing.assert_allclose(target.log_prob(w), [expected] * 3, rtol=1e-5)


@pytest.mark.parametrize("name", targets.ENERGIES)
def test_energies_are_finite_and_confined(name):
  target = targets.energy(name)
  assert 0. < _grid_mass(target.log_prob, -8., 8., n=401) < 100.
  inside = target.log_prob(tf.constant([[0., 0.5]]))
  far = target.log_prob(tf.constant([[7., 0.5]]))
  assert np.isfinite(inside) and far < inside


def test_u1_by_hand():
  # At z = (0, 2): |z| = 2, so only log(2 exp(-(2 / 0.6)^2 / 2)) remains.
  expected = math.log(2.) - 0.5 * (2. / 0.6)**2
  np.testing.assert_allclose(
      targets.energy("U1").log_prob(tf.constant([0., 2.])), expected,
      rtol=1e-6)
  with pytest.raises(ValueError, match="must be one of"):
    targets.energy("U5")
