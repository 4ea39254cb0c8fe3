"""The Flow++ builder: harness, network calls, sampling, SavedModel export."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import bijectors
from tfp_flows import testing
from tfp_flows.bijectors.logistic_mixture_coupling import \
    LogisticMixtureCoupling
from tfp_flows.dequantization import VariationalDequantizer
from tfp_flows.flows import registry
from tfp_flows.flows.flowpp import flowpp
from tfp_flows.training import FlowModel

import helpers

SHAPE = [4, 4, 1]
TINY = dict(hidden_units=4, checkerboard_steps=1, channel_steps=1,
            final_steps=1, num_heads=2, num_components=3)


def _couplings(dist):
  return helpers.bijectors_of_type(dist, LogisticMixtureCoupling)


def _images(n, seed=0):
  return tf.random.stateless_uniform([n] + SHAPE, [seed, 0])


def _initialised(dist, scale=0.02):
  """Runs the ActNorm init on data, then moves every weight off its init."""
  dist.log_prob(_images(8, seed=1))
  rng = np.random.default_rng(0)
  for v in dist.trainable_variables:
    v.assign_add(tf.constant(rng.normal(0., scale, v.shape), v.dtype))
  return dist


def test_structure_and_variables_exist_at_construction():
  dist = flowpp([8, 8, 1])
  assert dist.event_shape == [8, 8, 1]
  assert dist.distribution.event_shape == [64]
  # 2 checkerboard + 2 channel + 2 final steps, each ActNorm (2), 1x1 conv
  # (1) and a one-block GatedAttentionNet (17): all before any data.
  assert len(dist.trainable_variables) == 6 * (2 + 1 + 17)
  assert len(_couplings(dist)) == 6
  # The default miniature matches Glow's digits budget (29,980 parameters).
  assert sum(int(np.prod(v.shape)) for v in dist.trainable_variables) == 27946
  two_levels = flowpp([8, 8, 2], num_scales=2, **TINY)
  assert len(_couplings(two_levels)) == 2 * 2 + 1
  with pytest.raises(TypeError, match="unknown keyword argument "
                     "'dequantization'; it takes num_scales, hidden_units"):
    flowpp(SHAPE, dequantization="variational", **TINY)


# A small perturbation: larger ones push the logit preprocessing into float32
# saturation (sigmoid(z) == 1), where no inverse exists. The numerical checks
# only: batch shapes, tracing, XLA and SavedModels are covered by the
# coupling's own harness tests and by the tests below, at a fraction of the
# time (XLA compiles these convolutions slowly on CPU).


def test_harness_on_the_whole_flow():
  tf_keras.utils.set_random_seed(0)
  testing.check_bijector(
      lambda dt: flowpp(SHAPE, dtype=dt, **TINY).bijector, [16],
      expect_trainable=True, perturb_variables=0.02,
      checks=("round_trip_forward", "round_trip_inverse", "log_det_inverse",
              "jacobian"))


def test_harness_on_two_levels_with_factor_out():
  tf_keras.utils.set_random_seed(0)
  testing.check_bijector(
      lambda dt: flowpp([8, 4, 1], num_scales=2, dtype=dt, **TINY).bijector,
      [32], dtypes=(tf.float64,), expect_trainable=True,
      perturb_variables=0.02,
      checks=("round_trip_forward", "round_trip_inverse", "log_det_inverse",
              "jacobian"))


@pytest.mark.parametrize("traced", [False, True])
def test_one_network_call_per_coupling_in_log_prob(traced):
  dist = _initialised(flowpp(SHAPE, **TINY))
  calls = []
  for layer in _couplings(dist):
    net = layer.conditioner

    def counting(x_a, net=net):
      calls.append(1)
      return net(x_a)

    layer._conditioner = counting  # pylint: disable=protected-access
  log_prob = tf.function(dist.log_prob) if traced else dist.log_prob
  lp = log_prob(_images(3))
  assert np.all(np.isfinite(lp))
  assert len(calls) == 3


def test_sample_with_tensor_n_in_tf_function():
  dist = _initialised(flowpp(SHAPE, **TINY))
  draw = tf.function(lambda n, t: tfp_flows.sample(dist, n, t))
  for n in (3, 1):
    samples = draw(tf.constant(n), tf.constant(0.7))
    assert samples.shape == [n] + SHAPE
    assert np.all(np.isfinite(samples))


def test_export_round_trip_in_a_fresh_process(tmp_path,
                                               serve_in_fresh_process):
  tf_keras.utils.set_random_seed(0)
  dist = flowpp(SHAPE, **TINY)
  deq = VariationalDequantizer(SHAPE)
  model = FlowModel(_initialised(dist), dequantizer=deq, num_levels=17)
  path = tfp_flows.export_saved_model(model, str(tmp_path / "flowpp"))
  x = _images(3, seed=2).numpy()
  out = serve_in_fresh_process(path, x, batch_sizes=[3, 1])  # dynamic batch
  for n in (3, 1):
    np.testing.assert_allclose(out[f"z{n}"], tfp_flows.encode(dist, x[:n]),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[f"decoded{n}"], x[:n], atol=1e-4)
    np.testing.assert_allclose(out[f"log_prob{n}"], dist.log_prob(x[:n]),
                               rtol=1e-5)
  assert out["sample_shape"] == [5] + SHAPE and out["sample_finite"]
  assert out["resampled"] < 1e-4


def _floor_every_log_scale(dist):
  """The steepest couplings: a ~ 1 and every log-scale at the floor, e^8."""
  for layer in _couplings(dist):
    k = layer.num_components
    out = layer.conditioner.conv_out
    bias = np.zeros(out.bias.shape, np.float32)
    d = bias.size // (3 * k + 2)
    bias[d:2 * d] = 10.
    bias[(2 * k + 2) * d:] = -100.
    out.kernel.assign(tf.zeros_like(out.kernel))
    out.bias.assign(bias)


@pytest.mark.parametrize("floored", [False, True])
def test_default_flow_is_finite_far_from_the_data(floored):
  """Registry defaults, perturbed weights: the flowpp docstring's bound."""
  shape = [8, 8, 1]
  dist = registry.build("flowpp", shape)
  dist.log_prob(tf.random.stateless_uniform([16] + shape, [0, 1]))
  testing.perturb(dist, 1.)
  if floored:
    _floor_every_log_scale(dist)
  logit = helpers.bijectors_of_type(dist, bijectors.Logit)[0]
  actnorms = helpers.bijectors_of_type(dist, bijectors.ActNorm)
  convs = helpers.bijectors_of_type(dist, bijectors.InvertibleConv1x1)
  assert len(actnorms) == len(convs) == 6
  # The inputs that reach the first coupling at +-0.999 T, where its slope
  # is steepest (e^8 when floored) and its output largest.
  tail = 0.999 * _couplings(dist)[0].tail_bound
  steepest = logit.forward(actnorms[0].forward(convs[0].forward(
      tf.constant([tail, -tail])[:, None, None, None] * tf.ones([1] + shape))))
  sweep = np.concatenate([10.**np.linspace(-2, 4, 13)] * 2) * np.repeat(
      [1., -1.], 13)
  signs = np.sign(np.random.default_rng(0).standard_normal([2] + shape))
  x = np.concatenate([
      np.random.default_rng(1).uniform(0., 1., [4] + shape),  # data-like
      1e4 * signs, steepest.numpy(),
      sweep[:, None, None, None] * np.ones([1] + shape)]).astype(np.float32)
  log_prob = dist.log_prob(x).numpy()
  assert np.all(np.isfinite(log_prob)), log_prob
  assert np.all(log_prob[4:6] < -1e3)
  # |z| <= G^N (|u| + N (A + C)), G and A from the linear layers' weights.
  gain = max(
      1., max(float(tf.exp(-tf.reduce_min(a.log_scale)) * tf.reduce_max(
          tf.reduce_sum(tf.abs(tf.linalg.inv(c.matrix())), axis=1)))
              for a, c in zip(actnorms, convs)))
  offset = max(float(tf.reduce_max(tf.abs(a.shift))) for a in actnorms)
  c = np.e**8 * 2000.5 + 1e3
  u = 18.95 * np.abs(x).max(axis=(1, 2, 3)) + 2.95
  z = np.abs(tfp_flows.encode(dist, x)).max(axis=1)
  assert np.all(z <= gain**6 * (u + 6 * (offset + c))), (gain, offset)
  if floored:  # the bound is nearly reached: the test would see e^8 growth
    assert z.max() > 1e6


def test_bad_arguments():
  with pytest.raises(ValueError, match="single pixel"):
    flowpp([4, 4, 2], num_scales=2)
  with pytest.raises(ValueError, match=r"divisible by 2\*\*1 = 2"):
    flowpp([5, 4, 1])
  with pytest.raises(ValueError, match="`num_scales` must be >= 1"):
    flowpp(SHAPE, num_scales=0)


@pytest.mark.slow
def test_paper_cifar10_settings_build():
  dist = flowpp(
      [32, 32, 3], hidden_units=96, checkerboard_steps=4, channel_steps=2,
      final_steps=3, num_blocks=10, num_heads=4, num_components=32,
      dropout=0.2)
  deq = VariationalDequantizer([32, 32, 3], num_steps=4, filters=96,
                               num_blocks=2, num_components=32,
                               feature_filters=32, feature_blocks=3,
                               dropout=0.2)
  assert len(_couplings(dist)) == 9
  variables = list(dist.trainable_variables) + deq.trainable_variables
  count = sum(int(np.prod(v.shape)) for v in variables)
  # 31,703,704 here (28,154,460 flow + 3,549,244 dequantizer); the paper's
  # CIFAR-10 model has 31,443,440.
  assert abs(count - 31_443_440) < 0.02 * 31_443_440
  assert np.all(np.isfinite(dist.log_prob(tf.random.uniform([1, 32, 32, 3]))))
