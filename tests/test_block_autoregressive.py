"""BlockAutoregressive (BNAF): harness, the diagonal-path pass, triangular Jacobian, tails, far inputs, arguments.

The layer with a context runs the harness in tests/test_bnaf.py (a
conditional stack) and in the registry's matrix.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors
from tfp_flows import testing
from tfp_flows.bijectors import block_autoregressive


def layer(dim=3, dtype=tf.float32, **kwargs):
  kwargs.setdefault("hidden_units", [4, 3])
  return bijectors.BlockAutoregressive(dim, seed=0, dtype=dtype, **kwargs)


# The gated layer's whole harness in `make test-slow`: `make test` keeps its
# log-det, round trip, tails and gradient checks below (and the conditional
# gated stack's harness in tests/test_bnaf.py).
@pytest.mark.parametrize(
    "gated", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_harness(gated):
  # A small bound puts some of the harness's inputs in the linear tails.
  testing.check_bijector(
      lambda dtype: layer(dtype=dtype, bound=3., gated_residual=gated), [3],
      perturb_variables=0.3, expect_trainable=True)


def test_gated_residual_mixes_the_network_and_the_identity():
  # G(y) = r F(y) + (1 - r) y, r = sigmoid(gate), on and beyond the bound.
  plain = testing.perturb(layer(3, tf.float64, bound=2.), 0.5)
  gated = layer(3, tf.float64, bound=2., gated_residual=True)
  ours = {v.name: v for v in gated.variables}
  for v in plain.variables:
    ours[v.name].assign(v)
  gated._gate.assign(0.7)  # pylint: disable=protected-access
  rate = 1. / (1. + np.exp(-0.7))
  y = tf.constant([[0.3, -1.5, 4.], [-3., 0.2, 1.1]], tf.float64)
  np.testing.assert_allclose(
      gated.inverse(y), rate * plain.inverse(y) + (1. - rate) * y, rtol=1e-12)
  with tf.GradientTape() as tape:
    tape.watch(y)
    x = gated.inverse(y)
  log_det = np.log(np.abs(np.linalg.det(tape.batch_jacobian(x, y).numpy())))
  np.testing.assert_allclose(
      gated.inverse_log_det_jacobian(y + 0., event_ndims=1), log_det,
      rtol=1e-10)
  np.testing.assert_allclose(gated.forward(x + 0.), y, rtol=1e-9)


def test_offsets_evaluate_every_entry_at_its_own_prefix():
  # With the offsets of y', entry j of the pass on v is the network at
  # (y'_<j, v_j): what the sampling direction's root finder relies on.
  bijector = testing.perturb(layer(4, tf.float64), 0.5)
  weights = bijector._weights(tf.zeros([4], tf.float64), None)  # pylint: disable=protected-access
  rng = np.random.default_rng(0)
  prefix, v = rng.normal(size=[2, 4])
  _, _, offsets = block_autoregressive.block_pass(tf.constant(prefix), weights)
  got, got_slope, _ = block_autoregressive.block_pass(tf.constant(v), weights,
                                                      offsets)
  for j in range(4):
    u = np.concatenate([prefix[:j], v[j:]])
    with tf.GradientTape() as tape:
      u = tf.constant(u)
      tape.watch(u)
      want = block_autoregressive.block_pass(u, weights)[0][j]
    slope = tape.gradient(want, u)[j]
    np.testing.assert_allclose(got[j], want, rtol=1e-12)
    np.testing.assert_allclose(np.exp(got_slope[j]), slope, rtol=1e-10)


def test_jacobian_is_lower_triangular_with_positive_diagonal():
  bijector = testing.perturb(layer(4, tf.float64), 0.5)
  y = tf.random.stateless_normal([5, 4], [1, 2], dtype=tf.float64)
  with tf.GradientTape() as tape:
    tape.watch(y)
    x = bijector.inverse(y)
  jacobian = tape.batch_jacobian(x, y).numpy()
  np.testing.assert_array_equal(np.triu(jacobian, 1), 0.)
  assert np.all(np.diagonal(jacobian, axis1=1, axis2=2) > 0.)


@pytest.mark.parametrize("gated", [False, True])
def test_tails_have_slope_one_and_far_inputs_stay_finite(gated):
  bijector = testing.perturb(
      layer(3, tf.float64, bound=2., gated_residual=gated), 0.5)
  y = tf.constant([[5., -0.5, 1e8], [-1e8, 3., 0.2]], tf.float64)
  with tf.GradientTape() as tape:
    tape.watch(y)
    x = bijector.inverse(y)
  jacobian = tape.batch_jacobian(x, y).numpy()
  np.testing.assert_allclose(jacobian[0, 0, 0], 1.)
  np.testing.assert_allclose(jacobian[1, 1, 1], 1.)
  assert np.all(np.isfinite(x))
  assert np.all(np.isfinite(bijector.inverse_log_det_jacobian(
      y, event_ndims=1)))
  np.testing.assert_allclose(bijector.forward(x + 0.), y, rtol=1e-9)


@pytest.mark.parametrize("gated", [False, True])
def test_sampling_gradient_is_the_implicit_functions(gated):
  # d forward(x)/d theta from the chained implicit roots equals the
  # gradient through the closed-form inverse: y = F^{-1}(x) means
  # dF(y)/dtheta + J dy/dtheta = 0 (the gate among theta).
  bijector = testing.perturb(layer(3, tf.float64, gated_residual=gated), 0.5)
  x = tf.random.stateless_normal([4, 3], [3, 4], dtype=tf.float64)
  variables = bijector.trainable_variables
  with tf.GradientTape() as tape:
    y = bijector.forward(x)
    loss = tf.reduce_sum(tf.sin(y))
  got = tape.gradient(loss, variables)
  y0 = tf.constant(y.numpy())
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(y0)
    value = bijector.inverse(y0 + 0.)
  jacobian = tape.batch_jacobian(value, y0)
  upstream = tf.cos(y0)[..., None]
  # w = J^{-T} dL/dy; dL/dtheta = -w^T dF/dtheta.
  w = tf.linalg.triangular_solve(jacobian, upstream, lower=True, adjoint=True)
  want = tape.gradient(value, variables, output_gradients=-w[..., 0])
  for g, h in zip(got, want):
    np.testing.assert_allclose(g, h, rtol=1e-6, atol=1e-9)


def test_bad_arguments():
  with pytest.raises(ValueError, match="`hidden_units` must be positive"):
    bijectors.BlockAutoregressive(3, hidden_units=[4, 0])
  with pytest.raises(ValueError, match="`bound` must be a positive"):
    bijectors.BlockAutoregressive(3, bound=float("inf"))
  with pytest.raises(ValueError, match="`event_size` must be a positive"):
    bijectors.BlockAutoregressive(0)
  with pytest.raises(ValueError, match="not conditional"):
    layer().inverse(tf.zeros([2, 3]), conditional_input=tf.zeros([2, 1]))
