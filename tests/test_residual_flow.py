"""The residual_flow builder: the conditional stack's harness, exact and estimated log-densities, training, Lipschitz bounds after training."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import bijectors
from tfp_flows import testing
from tfp_flows.flows.residual_flow import residual_flow

import helpers


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
