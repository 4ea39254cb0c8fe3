"""The example scripts run on an exported flow and write their PNGs."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

import tfp_flows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """(SavedModel path, saved-flow path) of a small glow over digits."""
  options = dict(num_levels=2, depth=1, hidden_channels=4)
  dist = tfp_flows.flows.registry.build("glow", [8, 8, 1], **options)
  dist.log_prob(tf.random.uniform([16, 8, 8, 1]))  # ActNorm init
  root = tmp_path_factory.mktemp("examples")
  served = tfp_flows.export_saved_model(dist, str(root / "saved_model"))
  flow = tfp_flows.save_flow(dist, str(root / "flow"), "glow", [8, 8, 1],
                             options, dataset="digits", num_levels=17)
  return served, flow


@pytest.mark.parametrize("script, flag", [
    ("temperature_grid.py", "--model"), ("interpolation.py", "--model"),
    ("inpainting.py", "--flow"), ("attribute_manipulation.py", "--flow")])
def test_example_writes_png(script, flag, trained, tmp_path, tfds_dir):
  out = tmp_path / "out.png"
  source = trained[0] if flag == "--model" else trained[1]
  extra = ["--steps", "5"] if script == "inpainting.py" else []
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "examples", script), flag, source,
       "--out", str(out)] + extra,
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TFDS_DATA_DIR=tfds_dir))
  assert proc.returncode == 0, proc.stderr[-3000:]
  decoded = tf.io.decode_png(tf.io.read_file(str(out)))
  assert decoded.shape[0] > 64 and decoded.shape[1] > 64
