"""Planar: the harness, the invertibility constraint, the identity start, the builder."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import testing
from tfp_flows import vi
from tfp_flows.bijectors import Planar

import helpers


# With a context: test_every_builder.
def test_harness():
  testing.check_bijector(
      lambda dtype: Planar(4, seed=1, dtype=dtype),
      [4], expect_trainable=True, perturb_variables=0.5)


def test_starts_as_the_identity():
  layer = Planar(3, seed=0)
  x = tf.random.stateless_normal([5, 3], [1, 2])
  np.testing.assert_allclose(layer.forward(x), x, atol=1e-6)
  np.testing.assert_allclose(layer.forward_log_det_jacobian(x, 1), 0.,
                             atol=1e-6)


@pytest.mark.parametrize("wu", [-1e3, -30., 0., 30.])
def test_any_parameters_give_an_invertible_layer(wu):
  """w^T u_hat = softplus(w^T u) - 1 > -1 whatever u: the map stays monotone
  along w, round-trips, and its log-det is finite, even where w^T u_hat is
  -1 to float precision (the layer then flattens one direction)."""
  layer = Planar(2, dtype=tf.float64)
  w = np.array([0.6, -0.8])
  u = wu * w  # ||w|| = 1, so w^T u = wu
  layer.trainable_variables[0].assign(np.concatenate([u, w, [0.3]]))
  x = tf.constant(np.linspace(-3., 3., 41)[:, None] * w)  # along w
  y = layer.forward(x)
  assert np.all(np.diff(y.numpy() @ w) >= 0.)  # monotone: w^T y increases
  fldj = layer.forward_log_det_jacobian(x, 1).numpy()
  assert np.all(np.isfinite(fldj))
  if wu > -10.:  # else the layer is degenerate: y(x) is not one-to-one in
    # float64 (its slope underflows), so no inverse can recover x.
    np.testing.assert_allclose(layer.inverse(y), x, atol=1e-9)
    np.testing.assert_allclose(layer.inverse_log_det_jacobian(y, 1), -fldj,
                               atol=1e-9)


def test_inverse_gradient_is_the_implicit_functions():
  """The root finder is not differentiated; the implicit function theorem
  gives the gradient: finite differences of inverse(y) in the parameters."""
  layer = Planar(3, seed=2, dtype=tf.float64)
  testing.perturb(layer, 0.5)
  y = tf.constant([[0.3, -1.2, 2.0], [1.5, 0.1, -0.4]], tf.float64)
  helpers.assert_implicit_gradient(layer, y, rtol=1e-6, atol=1e-8)


def test_far_inputs_give_finite_values():
  layer = testing.perturb(Planar(2, seed=0), 1.)
  x = tf.constant([[1e4, -1e4], [-1e30, 1e30]])
  for value in (layer.forward(x), layer.inverse(x),
                layer.forward_log_det_jacobian(x, 1),
                layer.inverse_log_det_jacobian(x, 1)):
    assert np.all(np.isfinite(value))


def test_unconditional_layer_refuses_a_context():
  with pytest.raises(ValueError, match="planar is not conditional"):
    Planar(2).forward(tf.zeros([1, 2]), conditional_input=tf.zeros([1, 3]))


def test_builder_fits_an_energy_by_vi():
  """A planar flow on Rezende & Mohamed's U1 (a ring): the ELBO rises from
  its start, and the fitted flow's samples leave the origin for the ring."""
  tf_keras.utils.set_random_seed(0)
  target = tfp_flows.targets.energy("U1")
  flow = tfp_flows.flows.planar(target.event_shape, num_layers=8)
  # Each layer's (u, w, b) and the learned base's shift and log-scale.
  assert len(flow.trainable_variables) == 8 + 2
  model = vi.VariationalFlowModel(flow, target.log_prob, sample_size=128)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  history = model.fit(epochs=3, steps_per_epoch=100, verbose=0).history
  assert history["elbo"][-1] > history["elbo"][0] + 0.5, history["elbo"]
  radius = np.linalg.norm(flow.sample(2000, seed=1).numpy(), axis=-1)
  assert 1.4 < np.median(radius) < 2.6  # U1's ring: |z| = 2
