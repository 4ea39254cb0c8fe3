"""The MaskedAutoregressive bijector: exactness, passes, TFP agreement, bounds."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows
from tfp_flows import bijectors
from tfp_flows import nets
from tfp_flows import testing
from tfp_flows.bijectors import base
from tfp_flows.bijectors import masked_autoregressive
from tfp_flows.bijectors.transformers import affine

import helpers

tfb = tfp.bijectors
tfd = tfp.distributions


@pytest.mark.parametrize("input_order", ["left-to-right", "random"])
def test_harness(input_order):
  def make(dtype):
    return bijectors.MaskedAutoregressive(
        helpers.made(4, [8, 8], dtype=dtype, input_order=input_order), dtype=dtype)
  # The harness perturbs every weight by N(0, 0.3^2) through the kernels'
  # constraints, so MADE's masks survive.
  report = testing.check_bijector(make, [4], perturb_variables=0.3,
                                  expect_trainable=True)
  assert set(report) == {"float32", "float64"}
  assert set(report["float64"]) == set(testing.ALL_CHECKS) - {
      "trainable_variables"}


def test_new_layer_is_the_identity():
  layer = bijectors.MaskedAutoregressive(helpers.made())
  x = tf.random.normal([5, 3])
  np.testing.assert_array_equal(layer.forward(x), x)
  np.testing.assert_array_equal(layer.inverse(x), x)
  np.testing.assert_array_equal(
      layer.inverse_log_det_jacobian(x, event_ndims=1), np.zeros([5]))


def test_one_pass_inverse_and_d_pass_forward(monkeypatch):
  layer = bijectors.MaskedAutoregressive(helpers.made(5, scale=0.5))
  calls = helpers.made_calls(monkeypatch)
  y = tf.random.normal([4, 5])
  x = layer.inverse(y)
  layer.inverse_log_det_jacobian(y, event_ndims=1)
  assert len(calls) == 1  # transform and log-det from one pass
  calls.clear()
  z = tf.random.normal([4, 5])
  layer.forward(z)
  layer.forward_log_det_jacobian(z, event_ndims=1)
  assert len(calls) == 5  # D passes, the log-det from the last
  calls.clear()
  # In a graph the loop's body is traced once, whatever D.
  tf.function(lambda z: layer.forward(z)).get_concrete_function(
      tf.TensorSpec([None, 5]))
  assert len(calls) == 2  # the pass before the loop and its body
  del x


def test_gradients_through_the_loop_in_graphs_and_xla():
  # IAF trains through the forward's D-pass loop: its gradients must be the
  # same eagerly, in a graph and compiled.
  layer = bijectors.MaskedAutoregressive(helpers.made(4, [8], scale=0.5))
  z = tf.random.stateless_normal([5, 4], [3, 4])

  def grads(z):
    with tf.GradientTape() as tape:
      y = layer.forward(z)
      loss = (tf.reduce_sum(y ** 2) +
              tf.reduce_sum(layer.forward_log_det_jacobian(z, event_ndims=1)))
    return tape.gradient(loss, layer.trainable_variables)

  want = grads(z)
  for jit in (False, True):
    got = tf.function(grads, jit_compile=jit)(tf.identity(z))
    for g, w in zip(got, want):
      np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("conditional", [False, True])
def test_agrees_with_tfp_masked_autoregressive_flow(conditional):
  # Same MADE weights; TFP's layer: y = x exp(h) + m with (m, h) = MADE(y).
  # Conditional in float32: TFP's network makes its context layers float32
  # whatever its dtype, and TFP's layer then fails on float64 inputs.
  dtype, tol = (tf.float32, 2e-5) if conditional else (tf.float64, 1e-12)
  kwargs = dict(context_shape=[2]) if conditional else {}
  net = helpers.made(4, [16, 16], dtype=dtype, scale=0.5, **kwargs)
  reference = tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=net)
  rng = np.random.default_rng(1)
  x = tf.constant(rng.standard_normal([6, 4]), dtype)
  c = tf.constant(rng.standard_normal([6, 2]), dtype)
  kw = dict(conditional_input=c) if conditional else {}

  def outputs(b):
    # Fresh tensors each time: the bijector cache must not answer.
    return [b.forward(tf.identity(x), **kw), b.inverse(tf.identity(x), **kw),
            b.forward_log_det_jacobian(tf.identity(x), event_ndims=1, **kw),
            b.inverse_log_det_jacobian(tf.identity(x), event_ndims=1, **kw)]

  want = outputs(reference)
  # Without bounds: the same arithmetic.
  unbounded = bijectors.MaskedAutoregressive(
      net, log_scale_bound=None, shift_bound=None, dtype=dtype)
  for got, expected in zip(outputs(unbounded), want):
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
  # Large bounds: B tanh(h / B) = h - h^3 / (3 B^2) + ..., here |h| < 10.
  large = bijectors.MaskedAutoregressive(
      net, log_scale_bound=1e4, shift_bound=1e4, dtype=dtype)
  for got, expected in zip(outputs(large), want):
    np.testing.assert_allclose(got, expected, rtol=max(tol, 1e-6),
                               atol=max(tol, 1e-6))
  # The default bound bends once MADE's raw log-scales leave its linear range.
  testing.perturb(net, 3.)
  default = bijectors.MaskedAutoregressive(net, dtype=dtype)
  assert not np.allclose(outputs(default)[3], outputs(reference)[3])


def test_log_scale_and_shift_are_bounded():
  net = helpers.made(2, [8], scale=30.)  # raw outputs in the hundreds
  layer = bijectors.MaskedAutoregressive(net, log_scale_bound=2.,
                                         shift_bound=5.)
  y = tf.constant(np.random.default_rng(0).uniform(-1e3, 1e3, [64, 2]),
                  tf.float32)
  assert np.max(np.abs(net(y)[..., 1])) > 100.
  shift, log_inverse_scale, _ = layer._params(y, y)  # pylint: disable=protected-access
  log_scale = -log_inverse_scale
  assert np.max(np.abs(log_scale)) <= 2. and np.max(np.abs(shift)) <= 5.
  ildj = layer.inverse_log_det_jacobian(y, event_ndims=1)
  assert np.all(np.abs(ildj) <= 2 * 2.)
  # soft_bound: the identity at 0 with unit slope.
  h = tf.constant([0., 1e-3, -1e-3])
  with tf.GradientTape() as tape:
    tape.watch(h)
    bounded = affine.soft_bound(h, 3.)
  np.testing.assert_allclose(bounded, h, rtol=1e-6)
  np.testing.assert_allclose(tape.gradient(bounded, h), [1., 1., 1.],
                             rtol=1e-6)


def _stack(shift_bound, num_layers=8):
  parts = []
  for i in range(num_layers):
    parts += [bijectors.MaskedAutoregressive(
        helpers.made(2, [64, 64], scale=3., seed=i), shift_bound=shift_bound),
              tfb.Permute([1, 0])]
  return tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [2]),
                                     tfb.Chain(parts))


def test_shift_bound_keeps_large_inputs_finite():
  # A ReLU MADE's shift grows linearly with its input: through 8 layers of
  # large weights an unbounded shift sends 1e4 past float32's range, even
  # with the log-scale bounded.
  x = tf.constant([[10., 10.], [1e4, -1e4]])
  assert not np.all(np.isfinite(_stack(None).log_prob(x)))
  assert np.all(np.isfinite(_stack(base.DEFAULT_SHIFT_BOUND)
                            .log_prob(x)))


def test_context_reaches_the_conditioner():
  net = helpers.made(3, [8], scale=0.5, context_shape=[2])
  layer = bijectors.MaskedAutoregressive(net)
  y = tf.random.normal([4, 3])
  c1, c2 = tf.zeros([4, 2]), tf.ones([4, 2])
  assert not np.allclose(layer.inverse(y, conditional_input=c1),
                         layer.inverse(y, conditional_input=c2))
  z = layer.inverse(y, conditional_input=c2)
  np.testing.assert_allclose(
      layer.forward(tf.identity(z), conditional_input=c2), y, atol=1e-5)
  with pytest.raises(ValueError, match="`conditional_input`.*required"):
    layer.inverse(y)


def test_bad_arguments_and_validation():
  for bound in (0., -1., np.inf, np.nan):
    with pytest.raises(ValueError, match="`log_scale_bound` must be"):
      bijectors.MaskedAutoregressive(helpers.made(), log_scale_bound=bound)
  with pytest.raises(ValueError, match="`shift_bound` must be"):
    bijectors.MaskedAutoregressive(helpers.made(), shift_bound=0.)
  wrong = bijectors.MaskedAutoregressive(lambda y: tf.stack([y] * 3, -1))
  with pytest.raises(ValueError, match=r"\[\.\.\., D, 2\].*\[2, 3, 3\]"):
    wrong.inverse(tf.zeros([2, 3]))
  with pytest.raises(ValueError, match=r"event shape \[3\].*got \[4\]"):
    bijectors.MaskedAutoregressive(helpers.made()).inverse(tf.zeros([2, 4]))
  checked = bijectors.MaskedAutoregressive(helpers.made(), validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
    checked.inverse(tf.constant([[np.nan, 0., 0.]]))
  assert checked.parameters["log_scale_bound"] == 3.


def test_exported_from_the_packages():
  assert tfp_flows.nets.MADE is nets.made.MADE
  assert tfp_flows.flows.autoregressive.MADE is nets.MADE
  assert bijectors.MaskedAutoregressive is (
      masked_autoregressive.MaskedAutoregressive)
