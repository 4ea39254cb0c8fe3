"""The residual_flow and multiscale_residual_flow builders: the conditional stack's harness, exact and estimated log-densities, training, Lipschitz bounds after training, evaluation, export."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import bijectors
from tfp_flows import testing
from tfp_flows.flows.residual_flow import multiscale_residual_flow
from tfp_flows.flows.residual_flow import residual_flow

import helpers
import test_lipschitz_conv_net


def _blocks(dist):
  return [b for b in dist.bijector.bijectors
          if isinstance(b, bijectors.InvertibleResidual)]


def test_harness_of_the_conditional_stack():
  # The block has the whole harness in its own test; the registry's matrix
  # runs the 16-entry conditional flow's, with XLA and SavedModel.
  def make(dtype):
    dist = residual_flow([3], num_layers=2, hidden_units=[8],
                         context_shape=[2], dtype=dtype)
    for block in _blocks(dist):
      block.network.context_kernel.assign(tf.random.stateless_normal(
          block.network.context_kernel.shape, [1, 2], dtype=dtype))
    return testing.perturb(dist, 0.3).bijector
  helpers.check_conditional_stack(make)


def test_estimated_log_prob_averages_to_the_exact_one():
  exact = testing.perturb(residual_flow([4], num_layers=2, hidden_units=[8],
                                        dtype=tf.float64), 0.3)
  estimate = residual_flow([4], num_layers=2, hidden_units=[8],
                           log_det="estimate", dtype=tf.float64)
  for a, b in zip(exact.trainable_variables, estimate.trainable_variables):
    b.assign(a)
  x = tf.random.stateless_normal([1, 4], [3, 4], dtype=tf.float64)
  target = float(exact.log_prob(x)[0])
  draws = estimate.log_prob(tf.tile(x, [20000, 1])).numpy()
  error = abs(draws.mean() - target) / (draws.std() / np.sqrt(draws.size))
  assert error < 4., (draws.mean(), target)


def test_trains_on_a_toy_and_keeps_every_block_contractive():
  tf_keras.utils.set_random_seed(0)
  data = tfp_flows.data.toy("8gaussians", 4096, seed=0).astype(np.float32)
  dist = residual_flow([2], num_layers=3, hidden_units=[32, 32])
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  before = -float(tf.reduce_mean(dist.log_prob(data)))
  model.fit(tf.data.Dataset.from_tensor_slices(data).batch(256).repeat(),
            steps_per_epoch=150, epochs=1, verbose=0)
  after = -float(tf.reduce_mean(dist.log_prob(data)))
  print(before, after)
  assert after < before - 1.
  for block in _blocks(dist):
    # Exact (SVD) norms of the normalised kernels after training: at most
    # the coefficient, so Lip(g) <= 0.97^3 < 1.
    assert max(block.spectral_norms()) <= 0.97 * (1. + 1e-5)
  samples = dist.sample(256, seed=(1, 2))
  assert np.all(np.isfinite(samples))


def test_bad_arguments():
  with pytest.raises(ValueError, match="`coefficient` must be in"):
    residual_flow([3], coefficient=1.5)
  with pytest.raises(ValueError, match="`log_det` must be one of"):
    residual_flow([3], log_det="trace")
  with pytest.raises(ValueError, match="`num_layers` must be >= 1"):
    residual_flow([3], num_layers=0)
  with pytest.raises(TypeError):
    residual_flow([3], 2)  # pylint: disable=too-many-function-args


# The multi-scale image builder: residual blocks of LipschitzConvNets.


def _image_blocks(dist):
  return [m for m in dist.submodules
          if isinstance(m, bijectors.InvertibleResidual)]


def test_multiscale_estimate_averages_to_the_exact_log_prob():
  kwargs = dict(num_layers=1, hidden_units=4, dtype=tf.float64)
  x = tf.random.stateless_uniform([1, 8, 8, 1], [3, 4], dtype=tf.float64)
  exact = multiscale_residual_flow([8, 8, 1], log_det="exact", **kwargs)
  estimate = multiscale_residual_flow([8, 8, 1], **kwargs)
  exact.log_prob(x), estimate.log_prob(x)  # ActNorm's data-dependent init
  testing.perturb(exact, 0.3)
  for a, b in zip(exact.trainable_variables, estimate.trainable_variables):
    b.assign(a)
  target = float(exact.log_prob(x)[0])
  draws = estimate.log_prob(tf.tile(x, [4000, 1, 1, 1])).numpy()
  error = abs(draws.mean() - target) / (draws.std() / np.sqrt(draws.size))
  assert error < 4., (draws.mean(), target)


def _trained_multiscale():
  tf_keras.utils.set_random_seed(0)
  rng = np.random.default_rng(0)
  data = rng.uniform(0., 1., [128, 8, 8, 1]).astype(np.float32)
  data[:, :, :2] = 0.02  # a near-constant border, as MNIST's
  dist = multiscale_residual_flow([8, 8, 1], num_layers=2, hidden_units=8,
                                  coefficient=0.9)
  model = tfp_flows.FlowModel(dist, num_levels=256)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  history = model.fit(tf.data.Dataset.from_tensor_slices(data).batch(64)
                      .repeat(), steps_per_epoch=10, epochs=1, verbose=0)
  assert np.isfinite(history.history["loss"][-1])
  return dist, data


def test_multiscale_trains_keeps_every_convolution_contractive_and_reloads(
    tmp_path):
  """A few steps on images, then: exact norms (dense operators' SVDs) within
  the bound; after `reset_estimators` the estimate repeats to the bit, in the
  flow and in its saved-and-loaded copy."""
  dist, data = _trained_multiscale()
  blocks = _image_blocks(dist)
  assert len(blocks) == 4
  for block in blocks:
    height, width, _ = block.network.image_shape
    for kernel in block.network.normalized_kernels():
      dense = test_lipschitz_conv_net.dense_operator(kernel.numpy(), height,
                                                     width)
      assert np.linalg.svd(dense, compute_uv=False)[0] <= 0.9 * (1. + 1e-5)
  x = data[:16]
  assert tfp_flows.evaluation.reset_estimators(dist) == 4
  first = dist.log_prob(x).numpy()
  assert not np.array_equal(dist.log_prob(x), first)  # fresh noise
  tfp_flows.evaluation.reset_estimators(dist)
  np.testing.assert_array_equal(dist.log_prob(x), first)
  tfp_flows.save_flow(dist, str(tmp_path / "flow"))
  loaded, _ = tfp_flows.load_flow(str(tmp_path / "flow"))
  tfp_flows.evaluation.reset_estimators(loaded)
  np.testing.assert_allclose(loaded.log_prob(x), first, rtol=1e-6)


@pytest.mark.slow
def test_multiscale_estimate_evaluates_reproducibly_and_exports(tmp_path):
  # The estimator's state is among the flow's variables (an export tracks
  # exactly those; it failed on the untracked Generator before).
  dist, data = _trained_multiscale()
  dataset = tf.data.Dataset.from_tensor_slices(data).batch(64)
  first = tfp_flows.evaluation.evaluate_bits_per_dim(dist, dataset, 256)
  assert first == tfp_flows.evaluation.evaluate_bits_per_dim(dist, dataset,
                                                             256)
  tfp_flows.export_saved_model(dist, str(tmp_path / "served"))
  served = tf.saved_model.load(str(tmp_path / "served"))
  log_p = served.signatures["log_prob"](x=tf.constant(data[:8]))
  assert np.all(np.isfinite(next(iter(log_p.values())).numpy()))


def test_multiscale_bad_arguments():
  with pytest.raises(ValueError, match="divisible by 2\\*\\*2"):
    multiscale_residual_flow([6, 6, 1])
  with pytest.raises(ValueError, match="`num_scales` must be >= 1"):
    multiscale_residual_flow([8, 8, 1], num_scales=0)
  with pytest.raises(ValueError, match="`num_layers` must be >= 1"):
    multiscale_residual_flow([8, 8, 1], num_layers=0)
  with pytest.raises(ValueError, match="`log_det` must be one of"):
    multiscale_residual_flow([8, 8, 1], log_det="trace")
  with pytest.raises(ValueError, match="`hidden_units` must be a positive"):
    multiscale_residual_flow([8, 8, 1], hidden_units=[8, 8])


_MIRRORED = helpers.TWO_CPUS + r"""
import json
import numpy as np
import tf_keras
import tfp_flows

x = np.random.default_rng(0).normal(size=[8, 4]).astype(np.float32)
out = {}
for name, strategy in [("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                       ("two", tf.distribute.MirroredStrategy(
                           ["/cpu:0", "/cpu:1"]))]:
  tf_keras.utils.set_random_seed(0)
  with strategy.scope():
    dist = tfp_flows.flows.residual_flow([4], num_layers=2, hidden_units=[8],
                                         log_det="estimate")
    model = tfp_flows.FlowModel(dist)
    model.compile(tf_keras.optimizers.SGD(0.01))
  model.initialize(x)
  before = [v.numpy().tolist() for v in dist.trainable_variables]
  hist = model.fit(tf.data.Dataset.from_tensors(x).repeat(3), epochs=1,
                   verbose=0)
  moved = [not np.allclose(v.numpy(), b)
           for v, b in zip(dist.trainable_variables, before)]
  out[name] = {"loss": hist.history["loss"][0], "moved": moved}
print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow
def test_estimate_mode_trains_under_a_two_replica_strategy():
  # Each replica draws its own estimator noise from the layer's Generator
  # (created in the strategy's scope); the gradients are all-reduced.
  out = helpers.script_result(_MIRRORED)
  one, two = out["one"]["loss"], out["two"]["loss"]
  assert np.isfinite(one) and np.isfinite(two)
  # The same weights and data, other noise: the estimates agree within the
  # estimator's spread (4.546 and 4.537 nats when written).
  assert abs(one - two) < 0.5, (one, two)
  assert all(out["one"]["moved"]) and all(out["two"]["moved"])
