"""The example scripts run on an exported flow: PNGs, anomaly ranking."""

import importlib.util
import os
import subprocess
import sys

import pytest
import tensorflow as tf
import tf_keras

import tfp_flows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """(SavedModel path, saved-flow path) of a small glow over digits."""
  options = dict(num_scales=2, depth=1, hidden_channels=4)
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


def _example_module(name):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(ROOT, "examples", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_auroc_counts_pairs_and_ties():
  auroc = _example_module("anomaly_scores").auroc
  assert auroc([3., 4.], [1., 2.]) == 1.
  assert auroc([1., 2.], [3., 4.]) == 0.
  assert auroc([1., 1.], [1., 1.]) == 0.5
  # Pairs (2>1, 2<3), (0<1, 0<3): 1 of 4.
  assert auroc([2., 0.], [1., 3.]) == 0.25


def test_anomaly_scores_rank_digits_above_corrupted_ones(tmp_path, tfds_dir):
  tf_keras.utils.set_random_seed(0)
  dist = tfp_flows.flows.nice([8, 8, 1], num_coupling_layers=4,
                              hidden_units=[32, 32])
  model = tfp_flows.FlowModel(dist, num_levels=17)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  model.fit(tfp_flows.data.load("digits", "train", batch_size=128, seed=0),
            epochs=15, verbose=0)
  served = tfp_flows.export_saved_model(model, str(tmp_path / "nice"))
  results = _example_module("anomaly_scores").main(["--model", served])
  assert set(results) == {"noise", "inverted", "shifted"}
  # A density that learned the digits ranks nearly every held-out digit
  # above every inverted or noisy one; an untrained flow scores ~0.5.
  assert results["inverted"] > 0.95 and results["noise"] > 0.95, results
  assert results["shifted"] > 0.9, results


def _run_example(script, args, tfds_dir, timeout=600):
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "examples", script)] + args,
      capture_output=True, text=True, timeout=timeout,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TFDS_DATA_DIR=tfds_dir))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def test_conditional_digits_writes_one_row_per_class(tmp_path, tfds_dir):
  out = tmp_path / "conditional.png"
  stdout = _run_example("conditional_digits.py", [
      "--epochs", "1", "--hidden-units", "8,8", "--samples-per-class", "3",
      "--out", str(out)], tfds_dir)
  assert "bits/dim given the class" in stdout
  # 10 rows (digits) x 3 samples of 8x8 at zoom 4, 1-pixel padding.
  decoded = tf.io.decode_png(tf.io.read_file(str(out)))
  assert decoded.shape == (10 * 33 + 1, 3 * 33 + 1, 1), decoded.shape


def _toy_densities(families, tmp_path, tfds_dir):
  out = tmp_path / "toys.png"
  stdout = _run_example("toy_densities.py", [
      "--families", ",".join(families), "--toys", "moons", "--steps", "3",
      "--ffjord-steps", "1", "--grid", "16", "--out", str(out)], tfds_dir)
  assert stdout.count("test NLL") == len(families), stdout
  # One row (moons): the data's histogram, then a panel per family; the
  # figure is 2.2 x 2.4 inches per panel at 110 dpi.
  decoded = tf.io.decode_png(tf.io.read_file(str(out)))
  assert decoded.shape[0] == 264, decoded.shape
  assert decoded.shape[1] == round(2.2 * (len(families) + 1) * 110)


def test_toy_densities_writes_a_panel_per_family(tmp_path, tfds_dir):
  _toy_densities(["nice", "maf"], tmp_path, tfds_dir)


@pytest.mark.slow
def test_toy_densities_runs_every_family(tmp_path, tfds_dir):
  # ~2 min on 2 cores, FFJORD's tracing ~1 of them.
  _toy_densities(["nice", "affine", "maf", "iaf", "ffjord", "chain"],
                 tmp_path, tfds_dir)



def test_vi_energies_writes_target_and_fit_side_by_side(tmp_path, tfds_dir):
  out = tmp_path / "energies.png"
  stdout = _run_example("vi_energies.py", [
      "--energies", "U1", "--steps", "2", "--layers", "1", "--grid", "10",
      "--out", str(out)], tfds_dir)
  assert "U1: ESS fraction" in stdout
  # One row, two panels (3 x 3 inches each at 80 dpi).
  decoded = tf.io.decode_png(tf.io.read_file(str(out)))
  assert decoded.shape[:2] == (240, 480), decoded.shape


@pytest.mark.slow
def test_vi_posteriors_runs_vi_and_neutra(tmp_path, tfds_dir):
  out = tmp_path / "funnel.png"
  stdout = _run_example("vi_posteriors.py", [
      "--target", "funnel", "--steps", "3", "--mcmc-steps", "8",
      "--out", str(out)], tfds_dir)
  for line in ("funnel10: ess_fraction", "NeuTra NUTS: min ESS",
               "NUTS: min ESS"):
    assert line in stdout
  assert out.exists()
