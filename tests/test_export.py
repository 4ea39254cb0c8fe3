"""SavedModel export: signatures, dynamic batch, serving without tfp_flows."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows
from tfp_flows import flows


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  dist = flows.nice([4, 2, 1], hidden_units=[8])
  dist.log_prob(tf.zeros([1, 4, 2, 1]))
  for v in dist.trainable_variables:
    v.assign(tf.random.stateless_normal(v.shape, [7, 8], stddev=0.2))
  path = str(tmp_path_factory.mktemp("export") / "nice")
  tfp_flows.export_saved_model(tfp_flows.FlowModel(dist), path)
  return dist, path


def test_serves_in_a_fresh_process_without_tfp(exported,
                                                serve_in_fresh_process):
  dist, path = exported
  x = np.random.default_rng(0).uniform(size=[3, 4, 2, 1]).astype(np.float32)
  out = serve_in_fresh_process(path, x)
  assert out["signatures"] == ["decode", "encode", "log_prob", "sample"]
  np.testing.assert_allclose(out["log_prob3"], dist.log_prob(x), rtol=1e-5)
  np.testing.assert_allclose(out["z3"], tfp_flows.encode(dist, x), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(out["decoded3"], x, atol=1e-5)
  assert out["sample_shape"] == [5, 4, 2, 1] and out["sample_finite"]
  assert out["empty_shape"] == [0, 4, 2, 1]


def test_dynamic_batch_and_input_checks(exported):
  _, path = exported
  m = tf.saved_model.load(path)
  for batch in (1, 7):
    assert m.log_prob(tf.zeros([batch, 4, 2, 1]))["log_prob"].shape == [batch]
  with pytest.raises(tf.errors.InvalidArgumentError, match="`x` must be finite"):
    m.log_prob(tf.fill([2, 4, 2, 1], np.nan))
  with pytest.raises(tf.errors.InvalidArgumentError, match="`temperature`"):
    m.sample(tf.constant(2), tf.constant(-1.))
  with pytest.raises(tf.errors.InvalidArgumentError, match="`n` must be >= 0"):
    m.sample(tf.constant(-2), tf.constant(1.))
  with pytest.raises((ValueError, TypeError)):
    m.log_prob(tf.zeros([2, 4, 2, 3]))


def test_saved_model_cli_lists_signatures(exported):
  _, path = exported
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  proc = subprocess.run([cli, "show", "--dir", path, "--all"],
                        capture_output=True, text=True, timeout=180,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-2000:]
  for name in ("log_prob", "sample", "encode", "decode"):
    assert f"signature_def['{name}']" in proc.stdout


def test_refuses_non_finite_weights_and_keeps_old_export(exported, tmp_path):
  dist, path = exported
  target = str(tmp_path / "m")
  tfp_flows.export_saved_model(dist, target)
  before = sorted(os.listdir(target))
  v = dist.trainable_variables[0]
  old = v.numpy().copy()
  v.assign(tf.fill(v.shape, np.nan))
  try:
    with pytest.raises(ValueError, match="NaN or inf"):
      tfp_flows.export_saved_model(dist, target)
  finally:
    v.assign(old)
  assert sorted(os.listdir(target)) == before
  # Overwriting with a good model replaces it and leaves no staging folders.
  tfp_flows.export_saved_model(dist, target)
  assert sorted(os.listdir(tmp_path)) == ["m"]
