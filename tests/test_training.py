"""FlowModel, bits/dim, the NaN guard; NICE beats a Gaussian on digits."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import flows


def test_bits_per_dim_formula():
  # NLL 0 on [0,1)^D with K levels is log2(K) bits per dim.
  assert tfp_flows.bits_per_dim(0., 64, 17) == pytest.approx(math.log2(17))
  assert tfp_flows.bits_per_dim(64 * math.log(2.), 64) == pytest.approx(1.)


def _toy_dataset(n=64, batch=16, labels=False):
  x = np.random.default_rng(0).uniform(size=[n, 4]).astype(np.float32)
  ds = tf.data.Dataset.from_tensor_slices(
      (x, np.zeros([n], np.int32)) if labels else x)
  return ds.batch(batch)


@pytest.mark.parametrize("labels", [False, True])
def test_fit_trains_every_variable_and_reports_bits_per_dim(labels):
  tf_keras.utils.set_random_seed(1)
  dist = flows.nice([4], hidden_units=[8])
  model = tfp_flows.FlowModel(dist, num_levels=256)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  assert len(model.trainable_variables) == len(dist.trainable_variables) == 17
  before = [v.numpy().copy() for v in dist.trainable_variables]
  hist = model.fit(_toy_dataset(labels=labels), epochs=3, verbose=0)
  assert hist.history["loss"][-1] < hist.history["loss"][0]
  assert all(not np.array_equal(b, v.numpy())
             for b, v in zip(before, dist.trainable_variables))
  loss, bpd = hist.history["loss"][-1], hist.history["bits_per_dim"][-1]
  assert bpd == pytest.approx(tfp_flows.bits_per_dim(loss, 4, 256), rel=1e-4)
  res = model.evaluate(_toy_dataset(labels=labels), verbose=0,
                       return_dict=True)
  assert res["bits_per_dim"] == pytest.approx(
      tfp_flows.evaluate_bits_per_dim(dist, _toy_dataset(), 256), rel=1e-4)


def test_nan_batch_skips_update_and_guard_stops():
  dist = flows.nice([4], hidden_units=[8])
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  model.fit(_toy_dataset(), epochs=1, verbose=0)
  good = [v.numpy().copy() for v in dist.trainable_variables]
  bad = np.full([16, 4], np.nan, np.float32)
  guard = tfp_flows.NaNGuard()
  model.fit(tf.data.Dataset.from_tensors(bad).repeat(3), epochs=2,
            callbacks=[guard], verbose=0)
  assert guard.stopped_at == (0, 0)
  for g, v in zip(good, dist.trainable_variables):
    np.testing.assert_array_equal(g, v.numpy())


def test_event_shape_must_be_known():
  class _NoShape:
    event_shape = tf.TensorShape(None)
  with pytest.raises(ValueError, match="fully defined event shape"):
    tfp_flows.FlowModel(_NoShape())


def test_nice_beats_factorized_gaussian_on_digits(tfds_dir):
  tf_keras.utils.set_random_seed(0)
  train = tfp_flows.data.load("digits", "train", 64, seed=0)
  test = tfp_flows.data.load("digits", "test", 64, seed=1)
  dist = flows.nice([8, 8, 1], hidden_units=[64, 64])
  model = tfp_flows.FlowModel(dist, num_levels=17)
  model.compile(tf_keras.optimizers.Adam(3e-3))
  model.fit(train, epochs=60, verbose=0)
  flow_bpd = tfp_flows.evaluate_bits_per_dim(dist, test, 17)
  gauss = tfp_flows.baselines.factorized_gaussian(train)
  gauss_bpd = tfp_flows.evaluate_bits_per_dim(gauss, test, 17)
  assert gauss_bpd == pytest.approx(3.38, abs=0.1)
  assert flow_bpd < gauss_bpd - 0.3, (flow_bpd, gauss_bpd)


@pytest.mark.slow
def test_image_flows_beat_nice_with_fewer_parameters(tfds_dir):
  # The README's table, with the CLI's per-flow defaults (about 5 minutes).
  from tfp_flows import cli  # pylint: disable=import-outside-toplevel
  results = {}
  for flow in ("nice", "realnvp", "glow"):
    args = cli.resolve_flow_options(
        cli.build_parser().parse_args(["train", "--flow", flow, "--out", "x"]))
    tf_keras.utils.set_random_seed(0)
    dist = cli.build_flow(args, [8, 8, 1])
    model = tfp_flows.FlowModel(dist, num_levels=17)
    model.compile(tf_keras.optimizers.Adam(args.learning_rate))
    model.fit(tfp_flows.data.load("digits", "train", 64, seed=0),
              epochs=args.epochs, verbose=0)
    test = tfp_flows.data.load("digits", "test", 64, seed=1)
    params = sum(v.shape.num_elements() for v in dist.trainable_variables)
    results[flow] = (tfp_flows.evaluate_bits_per_dim(dist, test, 17), params)
  for flow in ("realnvp", "glow"):
    assert results[flow][1] <= results["nice"][1], results
    assert results[flow][0] < results["nice"][0] - 0.2, results
