"""Sylvester: the harness, Q orthogonal, R_ii R~_ii > -1, the triangular inverse, the builder."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import testing
from tfp_flows import vi
from tfp_flows.bijectors import Sylvester

import helpers


# With a context: test_every_builder.
def test_harness():
  testing.check_bijector(
      lambda dtype: Sylvester(4, num_reflections=2, seed=1, dtype=dtype),
      [4], expect_trainable=True, perturb_variables=0.5)


def test_starts_as_the_identity():
  layer = Sylvester(3, seed=0)
  x = tf.random.stateless_normal([5, 3], [1, 2])
  np.testing.assert_allclose(layer.forward(x), x, atol=1e-6)
  np.testing.assert_allclose(layer.forward_log_det_jacobian(x, 1), 0.,
                             atol=1e-6)


def test_parameterisation_keeps_q_orthogonal_and_the_diagonals_safe():
  layer = testing.perturb(Sylvester(5, num_reflections=3, dtype=tf.float64),
                          3.)
  x = tf.zeros([1, 5], tf.float64)
  reflections, r, r_tilde, _ = layer._unpack(x, None)  # pylint: disable=protected-access
  q = layer._reflect(reflections, tf.eye(5, dtype=tf.float64),  # pylint: disable=protected-access
                     transpose=False)
  np.testing.assert_allclose(tf.matmul(q, q, transpose_a=True), np.eye(5),
                             atol=1e-12)
  np.testing.assert_array_equal(np.tril(r.numpy(), -1), 0.)
  np.testing.assert_array_equal(np.tril(r_tilde.numpy(), -1), 0.)
  product = np.diag(r.numpy()) * np.diag(r_tilde.numpy())
  assert np.all(product > -1.)


def test_log_det_and_round_trip_with_large_parameters():
  """Weights far from the start (diagonal products near -1, large
  off-diagonals): the log-det is the autodiff Jacobian's and the
  sequential inverse recovers x."""
  layer = testing.perturb(Sylvester(6, num_reflections=4, seed=3,
                                    dtype=tf.float64), 2., seed=5)
  x = tf.random.stateless_normal([4, 6], [3, 4], dtype=tf.float64)
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = layer.forward(x)
  jacobian = tape.batch_jacobian(y, x)
  np.testing.assert_allclose(layer.forward_log_det_jacobian(x, 1),
                             np.linalg.slogdet(jacobian.numpy())[1],
                             rtol=1e-10, atol=1e-10)
  np.testing.assert_allclose(layer.inverse(y), x, atol=1e-9)


def test_inverse_gradient_is_the_implicit_functions():
  layer = testing.perturb(Sylvester(3, num_reflections=1, seed=2,
                                    dtype=tf.float64), 0.5)
  y = tf.constant([[0.3, -1.2, 2.0], [1.5, 0.1, -0.4]], tf.float64)
  helpers.assert_implicit_gradient(layer, y, rtol=1e-5, atol=1e-7)


def test_far_inputs_give_finite_values():
  layer = testing.perturb(Sylvester(3, seed=0), 1.)
  x = tf.constant([[1e4, -1e4, 0.], [-1e30, 1e30, 1.]])
  for value in (layer.forward(x), layer.inverse(x),
                layer.forward_log_det_jacobian(x, 1),
                layer.inverse_log_det_jacobian(x, 1)):
    assert np.all(np.isfinite(value))


def test_bad_arguments():
  with pytest.raises(ValueError, match="`num_reflections` must be a positive"):
    Sylvester(3, num_reflections=0)
  with pytest.raises(ValueError, match="`event_size` must be a positive"):
    Sylvester(0)


def test_builder_fits_an_energy_by_vi():
  """Rezende & Mohamed's U1 (a ring): the ELBO rises well above its start."""
  tf_keras.utils.set_random_seed(0)
  target = tfp_flows.targets.energy("U1")
  flow = tfp_flows.flows.sylvester(target.event_shape, num_layers=4)
  model = vi.VariationalFlowModel(flow, target.log_prob, sample_size=128)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  history = model.fit(epochs=3, steps_per_epoch=100, verbose=0).history
  assert history["elbo"][-1] > history["elbo"][0] + 0.5, history["elbo"]
