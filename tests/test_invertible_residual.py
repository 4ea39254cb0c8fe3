"""InvertibleResidual: harness (exact log-det), the Russian-roulette estimator, the fixed-point inverse and its gradient."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors
from tfp_flows.bijectors import invertible_residual
from tfp_flows import nets
from tfp_flows import testing


def block(dim=3, hidden=(8, 8), dtype=tf.float32, context_shape=None,
          coefficient=0.9, **kwargs):
  net = nets.LipschitzMLP(dim, hidden, coefficient=coefficient,
                          context_shape=context_shape, seed=0,
                          dtype=tf.as_dtype(dtype).name)
  net.build([None, dim])
  return bijectors.InvertibleResidual(net, dtype=dtype, **kwargs)


def test_harness():
  testing.check_bijector(lambda dtype: block(dtype=dtype), [3],
                         perturb_variables=0.3, expect_trainable=True)


def test_harness_with_a_context():
  def make(dtype):
    layer = block(dtype=dtype, context_shape=[2])
    layer.network.context_kernel.assign(tf.random.stateless_normal(
        [2, 8], [0, 1], dtype=dtype))
    return layer
  checks = [c for c in testing.ALL_CHECKS
            if c not in ("jit_compile", "saved_model")]
  testing.check_bijector(make, [3], batch_shape=(2,), checks=checks,
                         context=np.array([0.5, -1.]))


def _exact_and_estimates(dim, n, dtype=tf.float64, **kwargs):
  exact = block(dim, dtype=dtype, coefficient=0.95)
  estimate = bijectors.InvertibleResidual(exact.network, log_det="estimate",
                                          dtype=dtype, **kwargs)
  y = tf.random.stateless_normal([1, dim], [5, 6], dtype=dtype)
  many = tf.tile(y, [n, 1])  # one noise draw per row
  return exact, estimate, y, many


def test_the_estimate_is_unbiased():
  # Mean over 20,000 draws of (v, N) within 4 standard errors of the exact
  # log-det, for the default roulette and for one that stops at once.
  for kwargs in ({}, dict(num_exact_terms=1, stop_probability=0.9)):
    exact, estimate, y, many = _exact_and_estimates(4, 20000, **kwargs)
    target = float(exact.inverse_log_det_jacobian(y, event_ndims=1)[0])
    draws = estimate.inverse_log_det_jacobian(many, event_ndims=1).numpy()
    error = abs(draws.mean() - target) / (draws.std() / np.sqrt(draws.size))
    assert error < 4., (kwargs, draws.mean(), target)


def test_the_estimates_gradient_is_the_neumann_series():
  exact, estimate, y, many = _exact_and_estimates(4, 20000)
  variables = exact.network.trainable_variables
  with tf.GradientTape() as tape:
    target = exact.inverse_log_det_jacobian(y, event_ndims=1)[0]
  expected = tape.gradient(target, variables)
  with tf.GradientTape() as tape:
    mean = tf.reduce_mean(estimate.inverse_log_det_jacobian(many,
                                                            event_ndims=1))
  got = tape.gradient(mean, variables)
  for e, g in zip(expected, got):
    if e is None:  # the output bias: no part in J
      assert g is None
      continue
    np.testing.assert_allclose(g, e, rtol=0.05, atol=0.01 * np.abs(e).max())


def test_reset_estimator_repeats_the_noise():
  _, estimate, y, _ = _exact_and_estimates(3, 1)
  first = estimate.inverse_log_det_jacobian(y, event_ndims=1).numpy()
  second = estimate.inverse_log_det_jacobian(y + 0., event_ndims=1).numpy()
  estimate.reset_estimator()
  again = estimate.inverse_log_det_jacobian(y + 0., event_ndims=1).numpy()
  assert first != second
  np.testing.assert_array_equal(again, first)


@pytest.mark.parametrize("log_det", ["exact", "estimate"])
def test_inverse_gradient_is_the_unrolled_iterations(log_det):
  layer = block(dtype=tf.float64, log_det=log_det)
  net = layer.network
  x = tf.random.stateless_normal([4, 3], [7, 8], dtype=tf.float64) * 2.
  with tf.GradientTape() as tape:
    tape.watch(x)
    loss = tf.reduce_sum(tf.sin(layer.forward(x)))
  got = tape.gradient(loss, [x] + net.trainable_variables)
  with tf.GradientTape() as tape:
    tape.watch(x)
    kernels = net.normalized_kernels()
    y = x
    for _ in range(400):  # 0.9^3 per step: far below float64 rounding
      y = x - net(y, kernels=kernels)[0]
    loss = tf.reduce_sum(tf.sin(y))
  expected = tape.gradient(loss, [x] + net.trainable_variables)
  for g, e in zip(got, expected):
    np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)


def test_the_inverse_converges_where_g_dwarfs_x():
  # y = x - g(y) with |g| ~ 1e3 and x ~ 0: in float32 the iterates round
  # at 6e-5, and some of 256 cycle there, above a tolerance relative to
  # 1 + |x| (1e-6: that rule raised here); relative to 1 + |x| + |g| the
  # iteration stops, exact to the rounding of g.
  layer = block()
  layer.network.biases[-1].assign(tf.fill([3], 1e3))
  x = tf.random.stateless_normal([256, 3], [1, 1]) * 1e-2
  y = layer.forward(x)
  np.testing.assert_allclose(layer.inverse(y + 0.), x, atol=1e-3)


def test_an_iteration_stalled_by_rounding_in_g_is_accepted_near_its_bound():
  # y <- x - y / 2 + jitter: the step stops shrinking at the jitter's size,
  # 2-5 times the tolerance (as rounding in g's sums did on a VI fit of U4,
  # where the strict rule raised after 1000 steps); accepted, near 2x / 3.
  layer = block()
  x = tf.random.stateless_normal([64, 3], [2, 2])

  def jittery(y):
    return x - 0.5 * y + 5e-6 * tf.sin(1e6 * y)

  y = layer._fixed_point(jittery, x, x, "test iteration")  # pylint: disable=protected-access
  np.testing.assert_allclose(y, 2. * x / 3., atol=1e-4)
  # The strict rule alone (a slack of 1) never stops it.
  strict = block(max_iterations=1000)
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(invertible_residual, "STALL_SLACK", 1.)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="did not converge"):
      strict._fixed_point(jittery, x, x, "test iteration")  # pylint: disable=protected-access


def test_an_inverse_that_does_not_converge_raises():
  layer = block(max_iterations=2)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="did not converge.*max_iterations=2"):
    layer.forward(tf.ones([2, 3]) * 3.)


def test_far_inputs_are_finite():
  layer = block()
  y = tf.constant([[1e8, -1e8, 3.], [1e4, 0., -1e4]])
  assert np.all(np.isfinite(layer.inverse(y)))
  assert np.all(np.isfinite(layer.inverse_log_det_jacobian(y,
                                                           event_ndims=1)))


def test_bad_arguments():
  with pytest.raises(ValueError, match="`log_det` must be one of"):
    block(log_det="series")
  with pytest.raises(ValueError, match="`stop_probability` must be in"):
    block(stop_probability=0.)
  with pytest.raises(ValueError, match="`max_terms` must be an integer >="):
    block(num_exact_terms=3, max_terms=2)
  with pytest.raises(ValueError, match="`y` must have event shape"):
    block().inverse(tf.zeros([2, 4]))
