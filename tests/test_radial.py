"""Radial: the harness, beta >= -alpha, the closed-form inverse far out, the builder."""

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows
from tfp_flows import testing
from tfp_flows.bijectors import Radial


# With a context: test_every_builder.
def test_harness():
  testing.check_bijector(
      lambda dtype: Radial(4, seed=1, dtype=dtype),
      [4], expect_trainable=True, perturb_variables=0.5)


def test_starts_near_the_identity():
  layer = Radial(3, seed=0)
  x = tf.random.stateless_normal([5, 3], [1, 2])
  np.testing.assert_allclose(layer.forward(x), x, atol=0.05)
  np.testing.assert_allclose(layer.forward_log_det_jacobian(x, 1), 0.,
                             atol=0.05)


def test_matches_the_papers_formula():
  layer = Radial(2, dtype=tf.float64)
  x0, a, b = np.array([0.5, -1.]), 0.3, -2.
  layer.trainable_variables[0].assign(np.concatenate([x0, [a, b]]))
  alpha = np.log1p(np.exp(a))
  beta = -alpha + np.log1p(np.exp(b))
  x = np.array([[1., 2.], [-3., 0.5]])
  r = np.linalg.norm(x - x0, axis=-1, keepdims=True)
  h = 1. / (alpha + r)
  np.testing.assert_allclose(layer.forward(x), x + beta * h * (x - x0),
                             rtol=1e-12)
  want = np.log(1. + beta * h) + np.log(1. + beta * h - beta * h**2 * r)
  np.testing.assert_allclose(layer.forward_log_det_jacobian(x, 1),
                             want[:, 0], rtol=1e-12)


@pytest.mark.parametrize("b", [-50., -5., 0., 5.])
def test_any_parameters_give_an_invertible_layer(b):
  """beta = -alpha + softplus(b) >= -alpha whatever b: the strongest
  contraction (b -> -inf) still round-trips away from x0."""
  layer = Radial(2, dtype=tf.float64)
  layer.trainable_variables[0].assign([0.2, 0.1, 1.0, b])
  x = tf.constant([[0.5, 0.5], [3., -4.], [-20., 1e3]], tf.float64)
  y = layer.forward(x)
  np.testing.assert_allclose(layer.inverse(y), x, rtol=1e-9)
  fldj = layer.forward_log_det_jacobian(x, 1)
  assert np.all(np.isfinite(fldj))
  np.testing.assert_allclose(layer.inverse_log_det_jacobian(y, 1), -fldj,
                             rtol=1e-9)


def test_far_inputs_round_trip_without_overflow():
  layer = testing.perturb(Radial(2, seed=0), 1.)
  x = tf.constant([[1e4, -1e4], [-1e30, 1e30], [1e38, -1e38]])
  y = layer.forward(x)
  for value in (y, layer.inverse(x), layer.forward_log_det_jacobian(x, 1),
                layer.inverse_log_det_jacobian(x, 1)):
    assert np.all(np.isfinite(value))
  np.testing.assert_allclose(layer.inverse(y), x, rtol=1e-6)


def test_builder_samples_and_scores():
  flow = testing.perturb(tfp_flows.flows.radial([3], num_layers=3), 0.5)
  x, log_q = flow.experimental_sample_and_log_prob(5, seed=1)
  np.testing.assert_allclose(flow.log_prob(x), log_q, rtol=1e-5, atol=1e-5)
  # Data side first: the layers, then the learned base's ActNorm.
  assert [layer.name for layer in flow.bijector.bijectors[1:]] == [
      "radial_layer2", "radial_layer1", "radial_layer0", "radial_base"]
