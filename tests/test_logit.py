"""Logit: harness, formulas, stability, log_prob direction, data range."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import testing
from tfp_flows.bijectors.logit import Logit

tfd = tfp.distributions

ALPHA = 0.05


def _latents_mapped_into_unit_interval(shape, dtype, rng):
  """z with sigmoid(z) in [alpha, 1 - alpha]: forward(z) lies in [0, 1]."""
  bound = np.log((1. - ALPHA) / ALPHA)
  return rng.uniform(-bound, bound, shape)


def test_harness():
  testing.check_bijector(lambda dtype: Logit(ALPHA, dtype=dtype),
                         event_shape=[], batch_shape=(4, 8),
                         expect_trainable=False)


def test_harness_validate_args():
  testing.check_bijector(
      lambda dtype: Logit(ALPHA, validate_args=True, dtype=dtype),
      event_shape=[], batch_shape=(4, 8), expect_trainable=False,
      sample_x=_latents_mapped_into_unit_interval)


def test_formulas():
  logit = Logit(ALPHA, dtype=tf.float64)
  x = np.linspace(0., 1., 11)
  p = ALPHA + (1. - 2. * ALPHA) * x
  np.testing.assert_allclose(logit.inverse(x), np.log(p / (1. - p)),
                             rtol=1e-12)
  np.testing.assert_allclose(
      logit.inverse_log_det_jacobian(x, event_ndims=0),
      np.log((1. - 2. * ALPHA) / (p * (1. - p))), rtol=1e-12)
  z = np.linspace(-2.9, 2.9, 13)  # inside [logit(alpha), logit(1 - alpha)]
  sigmoid = 1. / (1. + np.exp(-z))
  np.testing.assert_allclose(logit.forward(z),
                             (sigmoid - ALPHA) / (1. - 2. * ALPHA), rtol=1e-12)
  np.testing.assert_allclose(
      logit.forward_log_det_jacobian(z, event_ndims=0),
      np.log(sigmoid * (1. - sigmoid) / (1. - 2. * ALPHA)), rtol=1e-12)


def test_linear_tails_outside_the_unit_interval():
  logit = Logit(ALPHA, dtype=tf.float64)
  slope = (1. - 2. * ALPHA) / (ALPHA * (1. - ALPHA))
  edge = np.log((1. - ALPHA) / ALPHA)
  x = np.array([-1e4, -2., -1e-3, 1. + 1e-3, 3., 1e4])
  want = np.where(x < 0., -edge + slope * x, edge + slope * (x - 1.))
  np.testing.assert_allclose(logit.inverse(x), want, rtol=1e-12)
  np.testing.assert_allclose(logit.inverse_log_det_jacobian(x, event_ndims=0),
                             np.log(slope), rtol=1e-12)
  np.testing.assert_allclose(logit.forward(want), x, rtol=1e-12)
  np.testing.assert_allclose(logit.forward_log_det_jacobian(want,
                                                            event_ndims=0),
                             -np.log(slope), rtol=1e-12)
  # C^1 at the ends: the slope inside tends to the tails' slope.
  inside = logit.inverse_log_det_jacobian(np.array([0., 1.]), event_ndims=0)
  np.testing.assert_allclose(inside, np.log(slope), rtol=1e-12)


def test_log_dets_are_elementwise():
  logit = Logit()
  z = tf.random.normal([3, 4, 4, 1])
  assert logit.forward_log_det_jacobian(z, event_ndims=0).shape == [3, 4, 4, 1]
  assert logit.forward_log_det_jacobian(z, event_ndims=3).shape == [3]


def test_stable_at_extremes():
  logit = Logit(ALPHA)
  z = tf.constant([-200., -30., 30., 200.])  # on the linear tails
  fldj = logit.forward_log_det_jacobian(z, event_ndims=0)
  slope = (1. - 2. * ALPHA) / (ALPHA * (1. - ALPHA))
  np.testing.assert_allclose(fldj, -np.log(slope), rtol=1e-6)
  assert np.all(np.isfinite(logit.forward(z)))
  # The ends of the data range and points far outside it stay finite.
  x = tf.constant([0., 1., -1e4, 1e4, 255.])
  assert np.all(np.isfinite(logit.inverse(x)))
  assert np.all(np.isfinite(logit.inverse_log_det_jacobian(x, event_ndims=0)))


def test_log_prob_runs_data_through_inverse():
  logit = Logit(ALPHA, validate_args=True)
  base = tfd.Sample(tfd.Normal(0., 1.), [4, 4, 1])
  dist = tfd.TransformedDistribution(base, logit)
  x = tf.random.uniform([3, 4, 4, 1])
  want = base.log_prob(logit.inverse(x)) + tf.reduce_sum(
      logit.inverse_log_det_jacobian(x, event_ndims=0), axis=[-3, -2, -1])
  np.testing.assert_allclose(dist.log_prob(x), want, rtol=1e-5)
  # Samples stay near [0, 1]: only |z| > logit(1 - alpha) ~ 2.9 leaves it,
  # on the tails of slope 1 / 18.9.
  samples = dist.sample(100, seed=0).numpy()
  assert np.all((samples > -0.2) & (samples < 1.2))  # |z| < 6


@pytest.mark.parametrize("bad", [1.5, -0.1, 255.])
def test_out_of_range_data_raises_under_validate_args(bad):
  logit = Logit(ALPHA, validate_args=True)
  x = tf.constant([0.2, bad, 0.7])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"the data `x` \(input of `inverse`\) must lie in "
                     r"\[0, 1\]"):
    logit.inverse(x)
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
    logit.inverse_log_det_jacobian(x, event_ndims=0)


def test_nan_input_raises_under_validate_args():
  logit = Logit(ALPHA, validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="`z` must be finite"):
    logit.forward(tf.constant([0., np.nan]))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="`x` must be finite"):
    logit.inverse(tf.constant([0.5, np.nan]))


@pytest.mark.parametrize("alpha", [-0.1, 0.5, 0.7])
def test_bad_alpha_raises(alpha):
  with pytest.raises(ValueError, match=r"`alpha` must be in \[0, 0.5\); got "
                     f"{alpha}"):
    Logit(alpha)
