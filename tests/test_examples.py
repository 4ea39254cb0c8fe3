"""The example scripts run on an exported flow and write their PNGs."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

import tfp_flows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  dist = tfp_flows.flows.glow([8, 8, 1], num_levels=2, depth=1,
                              hidden_channels=4)
  dist.log_prob(tf.random.uniform([16, 8, 8, 1]))  # ActNorm init
  path = str(tmp_path_factory.mktemp("examples") / "glow")
  return tfp_flows.export_saved_model(dist, path)


@pytest.mark.parametrize("script", ["temperature_grid.py", "interpolation.py"])
def test_example_writes_png(script, exported, tmp_path, tfds_dir):
  out = tmp_path / "out.png"
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "examples", script), "--model",
       exported, "--out", str(out)],
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TFDS_DATA_DIR=tfds_dir))
  assert proc.returncode == 0, proc.stderr[-3000:]
  decoded = tf.io.decode_png(tf.io.read_file(str(out)))
  assert decoded.shape[0] > 64 and decoded.shape[1] > 64
