"""MaskedAutoregressiveSpline (NSF-AR): harness, identity start, MADE passes, context, far inputs."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors
from tfp_flows import testing
from tfp_flows.bijectors import rational_quadratic_spline as rqs

import helpers

K = 4
P = rqs.num_params(K)


def test_harness():
  # A random order: entries are not conditioned in their index order.
  def make(dtype):
    return bijectors.MaskedAutoregressiveSpline(
        helpers.made(4, [8, 8], dtype=dtype, input_order="random", params=P),
        num_bins=K, bound=2., dtype=dtype)
  testing.check_bijector(make, [4], perturb_variables=0.3,
                         expect_trainable=True)


def test_new_layer_is_the_identity():
  layer = bijectors.MaskedAutoregressiveSpline(helpers.made(3, params=P), num_bins=K)
  x = tf.random.stateless_normal([5, 3], [1, 2]) * 3.
  np.testing.assert_allclose(layer.forward(x), x, atol=1e-6)
  np.testing.assert_allclose(layer.inverse(x), x, atol=1e-6)
  np.testing.assert_allclose(layer.inverse_log_det_jacobian(x, event_ndims=1),
                             np.zeros([5]), atol=1e-5)


def test_one_pass_inverse_and_d_pass_forward(monkeypatch):
  # float64: random splines can be steep enough to amplify float32 rounding
  # through the D passes past any fixed tolerance.
  layer = bijectors.MaskedAutoregressiveSpline(
      helpers.made(5, scale=0.5, params=P, dtype=tf.float64), num_bins=K, bound=2.,
      dtype=tf.float64)
  calls = helpers.made_calls(monkeypatch)
  y = tf.random.stateless_normal([4, 5], [3, 4], dtype=tf.float64)
  x = layer.inverse(y)
  layer.inverse_log_det_jacobian(y, event_ndims=1)
  assert len(calls) == 1  # transform and log-det from one pass
  calls.clear()
  y_back = layer.forward(tf.identity(x))
  layer.forward_log_det_jacobian(x, event_ndims=1)
  assert len(calls) == 5  # D passes, the log-det from the last
  np.testing.assert_allclose(y_back, y, atol=1e-9)


def test_context_reaches_the_conditioner():
  # Conditional in float32 (TFP's MADE keeps its context layers float32), so
  # mild weights: steep random splines amplify float32 rounding.
  layer = bijectors.MaskedAutoregressiveSpline(
      helpers.made(3, [8], scale=0.2, context_shape=[2], params=P), num_bins=K,
      bound=2.)
  y = tf.random.stateless_normal([4, 3], [5, 6])
  c1, c2 = tf.zeros([4, 2]), tf.ones([4, 2])
  x = layer.inverse(y, conditional_input=c2)
  assert not np.allclose(layer.inverse(y, conditional_input=c1), x)
  np.testing.assert_allclose(
      layer.forward(tf.identity(x), conditional_input=c2), y, atol=1e-4)


def test_far_inputs_give_finite_values_and_gradients():
  helpers.assert_far_inputs_finite(bijectors.MaskedAutoregressiveSpline(
      helpers.made(3, [16, 16], scale=3., params=P), num_bins=K))


def test_bad_arguments_and_validation():
  with pytest.raises(ValueError, match="`bound` must be"):
    bijectors.MaskedAutoregressiveSpline(helpers.made(params=P), num_bins=K,
                                         bound=0.)
  wrong = bijectors.MaskedAutoregressiveSpline(helpers.made(), num_bins=K)  # params=2
  with pytest.raises(ValueError, match=r"\[\.\.\., D, 11\].*\[2, 3, 2\]"):
    wrong.inverse(tf.zeros([2, 3]))
  checked = bijectors.MaskedAutoregressiveSpline(helpers.made(params=P), num_bins=K,
                                                 validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
    checked.inverse(tf.constant([[np.nan, 0., 0.]]))
  assert checked.parameters["num_bins"] == K
