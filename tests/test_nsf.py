"""The nsf builder: coupling and autoregressive spline flows, passes, context, training, CLI."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import cli
from tfp_flows import context
from tfp_flows import testing
from tfp_flows.flows import registry
from tfp_flows.flows.nsf import nsf

import helpers

KINDS = {"coupling": {}, "autoregressive": dict(autoregressive=True),
         "inverse": dict(autoregressive=True, inverse=True)}


# The layers have the whole harness in their own tests; here the stacks
# (ActNorm, permutations, Invert). "inverse" runs the autoregressive layers'
# both directions too.
@pytest.mark.parametrize("kind", ["coupling", "inverse"])
def test_harness_of_the_whole_bijector(kind):
  def make(dtype):
    # Seeded initial weights: otherwise they depend on the tests that ran
    # before in the same worker (one such draw's float64 log-det differed
    # from the autodiff Jacobian's by 1.1e-7, over the 1e-7 tolerance).
    tf_keras.utils.set_random_seed(0)
    dist = nsf([3], num_layers=2, num_bins=4, bound=2., hidden_units=[8],
               actnorm=True, dtype=dtype, **KINDS[kind])
    return testing.perturb(dist, 0.3).bijector
  testing.check_bijector(make, [3], expect_trainable=True,
                         tolerances=testing.DEEP_FLOW_TOLERANCES,
                         checks=("round_trip_forward", "round_trip_inverse",
                                 "log_det_inverse", "jacobian"))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fresh_flow_is_the_identity(kind):
  dist = nsf([4], num_layers=2, num_bins=4, hidden_units=[8], **KINDS[kind])
  x = tf.random.stateless_normal([5, 4], [1, 2]) * 3.
  np.testing.assert_allclose(dist.log_prob(x), dist.distribution.log_prob(x),
                             rtol=1e-5)


def test_made_passes_per_log_prob_and_sample(monkeypatch):
  calls = helpers.made_calls(monkeypatch)
  dim, layers = 5, 3
  maf_like = testing.perturb(nsf([dim], num_layers=layers, num_bins=4,
                                 hidden_units=[8], autoregressive=True), 0.3)
  iaf_like = testing.perturb(nsf([dim], num_layers=layers, num_bins=4,
                                 hidden_units=[8], autoregressive=True,
                                 inverse=True), 0.3)
  x = tf.random.stateless_normal([4, dim], [3, 4])
  maf_like.log_prob(x)
  assert len(calls) == layers  # one MADE pass per layer
  calls.clear()
  maf_like.sample(2, seed=(1, 2))
  assert len(calls) == layers * dim
  calls.clear()
  iaf_like.sample(2, seed=(1, 2))
  assert len(calls) == layers
  calls.clear()
  iaf_like.log_prob(x)
  assert len(calls) == layers * dim


@pytest.mark.parametrize("kind", ["coupling", "autoregressive"])
def test_conditional_flow_uses_its_context(kind):
  # float64: with random weights the splines can be steep enough that
  # float32 rounding, amplified through D MADE passes, shows in the decoded
  # points (float64 round trips to 1e-12).
  dist = testing.perturb(nsf([3], num_layers=2, num_bins=4, hidden_units=[8],
                             context_shape=[2], dtype=tf.float64,
                             **KINDS[kind]), 0.5)
  assert context.context_shape(dist).as_list() == [2]
  x = tf.random.stateless_normal([4, 3], [5, 6], dtype=tf.float64)
  c1, c2 = tf.zeros([4, 2], tf.float64), tf.ones([4, 2], tf.float64)
  lp1 = tfp_flows.log_prob(dist, x, c1)
  assert not np.allclose(lp1, tfp_flows.log_prob(dist, x, c2))
  z = tfp_flows.encode(dist, x, c1)
  np.testing.assert_allclose(tfp_flows.decode(dist, z, c1), x, atol=1e-9)
  assert tfp_flows.sample(dist, 3, context=tf.ones([2], tf.float64)).shape == [3, 3]
  with pytest.raises(ValueError, match="is conditional"):
    dist.log_prob(x)


def test_images_are_flattened_and_registered():
  dist = registry.build("nsf", [8, 8, 1])
  assert dist.event_shape == [8, 8, 1] and dist.distribution.event_shape == [64]
  assert tfp_flows.flows.nsf is nsf
  x = tf.random.stateless_uniform([3, 8, 8, 1], [7, 8])
  assert np.all(np.isfinite(dist.log_prob(x)))
  with pytest.raises(ValueError, match=r"\[8, 8, 1\]"):
    dist.log_prob(tf.zeros([2, 8, 8, 3]))


def test_training_beats_the_best_gaussian_on_a_toy():
  tf_keras.utils.set_random_seed(0)
  dist = nsf([2], num_layers=2, num_bins=8, hidden_units=[16])
  data = tfp_flows.data.toy("8gaussians", 2048, seed=0)
  # The best single Gaussian (the data's mean and covariance) scores
  # 0.5 log det(2 pi e cov) = 4.23 nats on these points.
  cov = np.cov(data.T.astype(np.float64), bias=True)
  gaussian = 0.5 * np.log(np.linalg.det(2 * np.pi * np.e * cov))
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  model.fit(tf.data.Dataset.from_tensor_slices(data).batch(256).repeat(),
            steps_per_epoch=100, epochs=1, verbose=0)
  after = -float(tf.reduce_mean(dist.log_prob(data)))
  # Measured 3.17 nats: the eight modes are separated, not one blob.
  assert after < gaussian - 0.7, (gaussian, after)


def test_validate_args_rejects_nan():
  dist = nsf([3], num_layers=1, num_bins=4, hidden_units=[8],
             validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
    dist.log_prob(tf.constant([[np.nan, 0., 0.]]))


def test_bad_arguments():
  with pytest.raises(ValueError, match="`inverse=True`.*autoregressive"):
    nsf([3], inverse=True)
  with pytest.raises(ValueError, match="`num_bins` must be an integer"):
    nsf([3], num_bins=0)
  with pytest.raises(ValueError, match="`bound` must be a positive"):
    nsf([3], bound=float("inf"))
  with pytest.raises(ValueError, match="`event_shape` must hold at least 2"):
    nsf([1])


def test_cli_trains_and_evaluates_nsf(tmp_path, tfds_dir, capsys):
  del tfds_dir
  out = tmp_path / "nsf"
  assert cli.main(["train", "--flow", "nsf", "--num-layers", "2",
                   "--num-bins", "3", "--hidden-units", "8",
                   "--epochs", "1",
                   "--steps-per-epoch", "2", "--num-samples", "4",
                   "--out", str(out)]) == 0
  metrics = json.loads((out / "metrics.json").read_text())
  assert metrics["flow"] == "nsf"
  assert cli.main(["evaluate", "--model", str(out)]) == 0
  assert "(nsf on digits)" in capsys.readouterr().out
