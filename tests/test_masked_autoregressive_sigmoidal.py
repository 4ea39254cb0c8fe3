"""MaskedAutoregressiveSigmoidal (NAF-DSF): harness, the sigmoidal map's formulas, passes, tails, far inputs."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors
from tfp_flows import testing
from tfp_flows.bijectors.transformers import sigmoidal as dsf

import helpers

K = 3
P = dsf.num_params(K)


def layer(dim=3, hidden=(8,), scale=0.5, dtype=tf.float32, **kwargs):
  net = helpers.made(dim, hidden, scale=scale, dtype=dtype, params=P,
                     context_shape=kwargs.pop("context_shape", None))
  return bijectors.MaskedAutoregressiveSigmoidal(
      net, num_sigmoids=K, dtype=dtype, **kwargs)


def test_harness():
  # A small bound puts some of the harness's inputs in the linear tails.
  def make(dtype):
    return bijectors.MaskedAutoregressiveSigmoidal(
        helpers.made(3, [8], dtype=dtype, input_order="random", params=P),
        num_sigmoids=K, bound=3., dtype=dtype)
  testing.check_bijector(make, [3], perturb_variables=0.3,
                         expect_trainable=True)


def _naive(y, a, b, w):
  """The paper's formula, literally, in float64 (numpy)."""
  s_k = 1. / (1. + np.exp(-(a * y[..., None] + b)))
  s = np.sum(w * s_k, -1)
  slope = np.sum(w * a * s_k * (1. - s_k), -1) / (s * (1. - s))
  return np.log(s / (1. - s)), np.log(slope)


def test_sigmoidal_is_the_papers_formula_and_keeps_precision_when_saturated():
  rng = np.random.default_rng(0)
  a = np.exp(rng.normal(size=[4, K]))
  b = rng.normal(size=[4, K]) * 2.
  w = rng.dirichlet(np.ones(K), size=4)
  y = np.array([-3., -0.2, 0.7, 4.])
  value, log_slope = dsf.sigmoidal(tf.constant(y), tf.constant(np.log(a)),
                                   tf.constant(b), tf.constant(np.log(w)))
  expected = _naive(y, a, b, w)
  np.testing.assert_allclose(value, expected[0], rtol=1e-12)
  np.testing.assert_allclose(log_slope, expected[1], rtol=1e-12)
  # Saturated (s within float32 rounding of 1 or 0): float32 keeps the
  # float64 values to its own precision, where log(s) - log(1 - s) computed
  # directly would lose them.
  far = np.array([-14., 14.])
  args = [np.log(a[:2] * 3.), b[:2], np.log(w[:2])]
  exact = dsf.sigmoidal(tf.constant(far), *map(tf.constant, args))
  single = dsf.sigmoidal(tf.constant(far, tf.float32),
                         *[tf.constant(v, tf.float32) for v in args])
  for got, want in zip(single, exact):
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_log_prob_is_one_pass_and_sampling_d_passes(monkeypatch):
  bijector = layer(5, dtype=tf.float64)
  calls = helpers.made_calls(monkeypatch)
  y = tf.random.stateless_normal([4, 5], [3, 4], dtype=tf.float64)
  x = bijector.inverse(y)
  bijector.inverse_log_det_jacobian(y, event_ndims=1)
  assert len(calls) == 1  # closed form, transform and log-det from one pass
  calls.clear()
  y_back = bijector.forward(tf.identity(x))
  bijector.forward_log_det_jacobian(x, event_ndims=1)
  assert len(calls) == 5  # D passes, the log-det from the last
  np.testing.assert_allclose(y_back, y, atol=1e-9)


def test_tails_have_slope_one_beyond_the_bound():
  # Right to left: entry 0 comes last, its parameters a function of entry 1
  # alone, which the rows share; entry 1's are constants.
  net = helpers.made(2, scale=0.5, dtype=tf.float64, params=P,
                     input_order="right-to-left")
  bijector = bijectors.MaskedAutoregressiveSigmoidal(
      net, num_sigmoids=K, bound=2., dtype=tf.float64)
  y = tf.constant([[2.5, 0.3], [3.5, 0.3], [-4., 0.3], [-7., 0.3]],
                  tf.float64)
  x = bijector.inverse(y).numpy()
  ildj = bijector.inverse_log_det_jacobian(y, event_ndims=1).numpy()
  assert x[1, 0] - x[0, 0] == pytest.approx(1., abs=1e-12)
  assert x[3, 0] - x[2, 0] == pytest.approx(-3., abs=1e-12)
  assert ildj[0] == pytest.approx(ildj[1], abs=1e-12)
  assert ildj[2] == pytest.approx(ildj[3], abs=1e-12)
  # The forward solves the tails exactly, and the interior to tolerance.
  np.testing.assert_allclose(bijector.forward(tf.constant(x)), y, atol=1e-9)


def test_units_start_apart_and_learn_apart():
  # A zero-initialised MADE gives every unit the same raw parameters; the
  # fixed offsets must still give them different gradients.
  bijector = layer(2, scale=0.)
  y = tf.random.stateless_normal([64, 2], [5, 6])
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(bijector.inverse_log_det_jacobian(y, event_ndims=1)
                           - 0.5 * tf.reduce_sum(bijector.inverse(y) ** 2, -1))
  output_bias = bijector.conditioner.trainable_variables[-1]
  grad = tf.reshape(tape.gradient(loss, output_bias), [2, 3, K]).numpy()
  for kind in range(3):  # log-slopes, shifts, weights of entry 0
    assert np.ptp(grad[0, kind]) > 1e-4, grad[0, kind]


def test_context_reaches_the_conditioner():
  bijector = layer(3, scale=0.3, context_shape=[2])
  y = tf.random.stateless_normal([4, 3], [5, 6])
  c1, c2 = tf.zeros([4, 2]), tf.ones([4, 2])
  x = bijector.inverse(y, conditional_input=c2)
  assert not np.allclose(bijector.inverse(y, conditional_input=c1), x)
  np.testing.assert_allclose(
      bijector.forward(tf.identity(x), conditional_input=c2), y, atol=1e-4)


def test_far_inputs_give_finite_values_and_gradients():
  helpers.assert_far_inputs_finite(layer(3, (16, 16), scale=3.))


def test_bad_arguments_and_validation():
  with pytest.raises(ValueError, match="`num_sigmoids` must be >= 1"):
    dsf.num_params(0)
  with pytest.raises(ValueError, match="`bound` must be"):
    layer(bound=0.)
  with pytest.raises(ValueError, match="`log_slope_bound` must be"):
    layer(log_slope_bound=None)
  wrong = bijectors.MaskedAutoregressiveSigmoidal(helpers.made(), num_sigmoids=K)
  with pytest.raises(ValueError, match=r"\[\.\.\., D, 9\].*\[2, 3, 2\]"):
    wrong.inverse(tf.zeros([2, 3]))
  checked = layer(validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
    checked.inverse(tf.constant([[np.nan, 0., 0.]]))
  assert checked.parameters["num_sigmoids"] == K
