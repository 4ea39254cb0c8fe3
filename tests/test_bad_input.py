"""Bad input at every public entry point: a clear error or a documented result.

Per-bijector cases (odd squeeze sizes, singular 1x1 kernels, NaN under
validate_args, ...) live in each bijector's test file; this file sweeps the
entry points a user meets first: builders, distributions, FlowModel, data,
sampling, exported signatures and the registry. The CLI's user errors are in
test_cli.py.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows.flows import registry

SHAPE = [4, 4, 1]
SMALL = {
    "nice": dict(hidden_units=[4]),
    "realnvp": dict(num_scales=1, hidden_units=4),
    "glow": dict(num_scales=1, num_layers=1, hidden_units=4),
}


@pytest.fixture(scope="module", params=sorted(SMALL))
def flow(request):
  dist = registry.build(request.param, SHAPE, **SMALL[request.param])
  dist.log_prob(tf.random.stateless_uniform([8] + SHAPE, [0, 0]))
  return dist


def test_wrong_event_shape_names_expected_and_got(flow):
  with pytest.raises(ValueError, match=r"\[4, 4, 1\].*got \[4, 4, 2\]"):
    flow.log_prob(tf.zeros([2, 4, 4, 2]))


def test_wrong_rank(flow):
  with pytest.raises(ValueError, match=r"rank >= 3"):
    flow.log_prob(tf.zeros([2, 16]))


@pytest.mark.parametrize("dtype", [tf.int32, tf.float16, tf.float64])
def test_wrong_dtype_names_both_dtypes(flow, dtype):
  with pytest.raises(ValueError, match=f"float32.*{dtype.name}"):
    flow.log_prob(tf.zeros([2] + SHAPE, dtype))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_nan_rejected_under_validate_args(name):
  dist = registry.build(name, SHAPE, validate_args=True, **SMALL[name])
  with pytest.raises(tf.errors.InvalidArgumentError, match="must be finite"):
    dist.log_prob(tf.fill([2] + SHAPE, np.nan))


def test_empty_requests_give_empty_results(flow, tmp_path):
  assert tfp_flows.sample(flow, 0).shape == [0] + SHAPE
  served = tf.saved_model.load(
      tfp_flows.export_saved_model(flow, str(tmp_path / "m")))
  assert served.log_prob(tf.zeros([0] + SHAPE))["log_prob"].shape == [0]
  assert served.encode(tf.zeros([0] + SHAPE))["z"].shape == [0, 16]
  assert served.decode(tf.zeros([0, 16]))["x"].shape == [0] + SHAPE
  assert served.sample(tf.constant(0), tf.constant(1.))["samples"].shape == (
      [0] + SHAPE)


def test_exported_signatures_reject_bad_inputs(flow, tmp_path):
  served = tf.saved_model.load(
      tfp_flows.export_saved_model(flow, str(tmp_path / "m")))
  with pytest.raises(tf.errors.InvalidArgumentError, match="`x` must be finite"):
    served.log_prob(tf.fill([1] + SHAPE, np.inf))
  with pytest.raises(tf.errors.InvalidArgumentError, match="`z` must be finite"):
    served.decode(tf.fill([1, 16], np.nan))
  with pytest.raises((TypeError, ValueError)):
    served.log_prob(tf.zeros([1] + SHAPE, tf.int32))
  with pytest.raises((TypeError, ValueError)):
    served.log_prob(tf.zeros([1, 4, 4, 3]))


def test_pixels_outside_unit_interval_rejected_by_flow_model(flow):
  model = tfp_flows.FlowModel(flow, num_levels=256)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  pixels = tf.fill([2] + SHAPE, 255.)  # forgot to scale to [0, 1)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"`x` must lie in \[0, 1\].*num_levels=256"):
    model.fit(tf.data.Dataset.from_tensors(pixels), epochs=1, verbose=0)


@pytest.mark.parametrize("n, error", [(-1, ValueError), (1.5, ValueError),
                                      (True, ValueError)])
def test_bad_number_of_samples(flow, n, error):
  with pytest.raises(error, match="`n` must be an integer >= 0"):
    tfp_flows.sample(flow, n)
  with pytest.raises(TypeError, match="`n` must be an integer tensor"):
    tfp_flows.sample(flow, tf.constant(2.))


@pytest.mark.parametrize("temperature", [-1., float("nan"), float("inf")])
def test_bad_temperature(flow, temperature):
  with pytest.raises(ValueError, match="`temperature` must be a finite number"):
    tfp_flows.sample(flow, 1, temperature)


def test_zero_temperature_is_valid(flow):
  x = tfp_flows.sample(flow, 2, 0.)
  np.testing.assert_allclose(x[0], x[1], rtol=1e-6)


def test_unknown_names():
  with pytest.raises(ValueError, match="Unknown dataset 'nope'.*digits"):
    tfp_flows.data.load("nope")
  with pytest.raises(ValueError, match="Unknown flow 'nope'"):
    registry.build("nope", SHAPE)
  with pytest.raises(ValueError, match="batch_size"):
    tfp_flows.data.load("digits", batch_size=0)


def test_builder_arguments():
  with pytest.raises(ValueError, match="divisible by"):
    registry.build("glow", [5, 4, 1])
  with pytest.raises(ValueError, match=r"\[H, W, C\]"):
    registry.build("realnvp", [4, 4])
