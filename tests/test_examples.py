"""The example scripts run on an exported flow: PNGs, anomaly ranking."""

import importlib.util
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import cli

import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """(SavedModel path, saved-flow path) of a small glow over digits."""
  options = dict(num_layers=1, num_scales=2, hidden_units=4)
  dist = tfp_flows.flows.registry.build("glow", [8, 8, 1], **options)
  dist.log_prob(tf.random.uniform([16, 8, 8, 1]))  # ActNorm init
  root = tmp_path_factory.mktemp("examples")
  served = tfp_flows.export_saved_model(dist, str(root / "saved_model"))
  flow = tfp_flows.save_flow(dist, str(root / "flow"), dataset="digits",
                             num_levels=17)
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
  # Run as a script, an example finds its siblings (ood_scores imports
  # anomaly_scores' auroc) on sys.path[0], its own folder; so here too.
  folder = os.path.join(ROOT, "examples")
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(folder, f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  sys.path.insert(0, folder)
  try:
    spec.loader.exec_module(module)
  finally:
    sys.path.remove(folder)
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
  dist = tfp_flows.flows.nice([8, 8, 1], num_layers=4,
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


def test_ood_complexity_term_orders_equal_likelihoods_by_complexity():
  ood = _example_module("ood_scores")
  # A uniform density on [0, 1)^D (log p = 0) spends log2 K bits a pixel.
  np.testing.assert_allclose(
      ood.code_length_bits([0., -math.log(2.)], 784, 256), [6272., 6273.])
  rng = np.random.default_rng(0)
  flat = np.full([1, 28, 28, 1], 17, np.uint8)
  noise = rng.integers(0, 256, [1, 28, 28, 1], dtype=np.uint8)
  flat_bits, noise_bits = ood.png_bits(np.concatenate([flat, noise]))
  # The flat image: PNG's headers (~60 bytes) and a few bytes of zlib; the
  # noise does not compress: 8 bits a pixel and more.
  assert flat_bits < 1000 < 784 * 8 < noise_bits, (flat_bits, noise_bits)
  # Equal code lengths: the simpler image, which any model explains well,
  # is the more anomalous one.
  flat_score, noise_score = ood.complexity_score(
      [5000., 5000.], [flat_bits, noise_bits])
  assert flat_score - noise_score == noise_bits - flat_bits > 0


def test_ood_scores_on_prepared_fashion_mnist_and_mnist(sources, tmp_path,
                                                        monkeypatch, capsys):
  # The fixture's images are uniform noise in both datasets; MNIST's test
  # images become bright discs on black, as simple as digits, so the two
  # test sets differ in what the complexity term measures.
  from tensorflow_datasets.core.download import checksums  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.image_classification import mnist  # pylint: disable=g-import-not-at-top
  folder, _ = sources["mnist"]
  discs = helpers.saturated_images(
      helpers.MNIST_FIXTURE_SIZES["test"], 28, seed=0)[..., 0]
  helpers._write_idx(folder / "t10k-images-idx3-ubyte.gz",  # pylint: disable=protected-access
                     discs.astype(np.uint8))
  monkeypatch.setattr(mnist.MNIST, "url_infos", {
      url: checksums.compute_url_info(folder / info.filename)
      for url, info in mnist.MNIST.url_infos.items()})
  data_dir, out = str(tmp_path / "tfds"), str(tmp_path / "glow")
  for name in ("fashion_mnist", "mnist"):
    tfp_flows.data.prepare(name, sources[name][0], data_dir=data_dir)
  # One step over the 3 training images; one squeeze halves the time of
  # Glow's default two.
  assert cli.main(["train", "--flow", "glow", "--dataset", "fashion_mnist",
                   "--data-dir", data_dir, "--batch-size", "3",
                   "--num-scales", "1", "--num-layers", "1", "--hidden-units",
                   "4", "--epochs", "1", "--num-samples", "1", "--out",
                   out]) == 0
  capsys.readouterr()
  results = _example_module("ood_scores").main([
      "--model", os.path.join(out, "saved_model"), "--data-dir", data_dir,
      "--batch-size", "1"])
  assert set(results) == {"likelihood", "complexity"}
  for value in results.values():
    assert np.isfinite(value) and 0. <= value <= 1., results
  printed = capsys.readouterr().out
  assert "2 fashion_mnist and 2 mnist test images" in printed, printed
  png = re.search(r"median PNG bits/dim: fashion_mnist ([\d.]+), mnist "
                  r"([\d.]+)", printed)
  assert float(png[1]) > 8. and float(png[2]) < 4., printed
  # So S(x) = -log2 P(x) - L(x) puts the discs ~6 bits/dim (~5000 bits)
  # above the noise, more than a flow one step from its initialisation
  # tells the two apart by (its code lengths: ~8-10 bits/dim for both): every
  # Fashion-MNIST image is ranked more normal than every MNIST one.
  assert results["complexity"] == 1., printed
  for row in ("| log p(x) (Nalisnick et al. 2019) |",
              "| log p(x) + complexity (Serrà et al. 2020, PNG) |"):
    assert row in printed, printed


def _run_example(script, args, tfds_dir, timeout=600):
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "examples", script)] + args,
      capture_output=True, text=True, timeout=timeout,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TFDS_DATA_DIR=tfds_dir))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


# Trains every family (or a conditional Glow) in a subprocess: `make
# test-slow` (run by CI).
@pytest.mark.slow
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


# Trains every family (or a conditional Glow) in a subprocess: `make
# test-slow` (run by CI).
@pytest.mark.slow
def test_toy_densities_writes_a_panel_per_family(tmp_path, tfds_dir):
  _toy_densities(["nice", "maf"], tmp_path, tfds_dir)


@pytest.mark.slow
def test_toy_densities_runs_every_family(tmp_path, tfds_dir):
  # ~2 min on 2 cores, FFJORD's tracing ~1 of them.
  _toy_densities(["nice", "affine", "maf", "iaf", "naf", "ffjord", "chain"],
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
