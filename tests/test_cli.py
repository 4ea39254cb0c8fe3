"""The tfp-flows command line, run as a user would."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfp_flows
from tfp_flows import cli
from tfp_flows import experiment
from tfp_flows.flows import build_config
from tfp_flows.flows import registry


def _run(args, tfds_dir, timeout=300, python_args=(), env=None):
  # As a user runs it: TF_CPP_MIN_LOG_LEVEL left to the CLI.
  env = dict(os.environ, TFDS_DATA_DIR=tfds_dir, **(env or {}))
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)
  return subprocess.run(
      [sys.executable, *python_args, "-m", "tfp_flows.cli"] + args,
      capture_output=True, text=True, timeout=timeout, env=env)


# TensorFlow's C++ log lines (absl format: severity, date, time, thread,
# file:line) and start-up notices, as printed without `--verbose`.
_TF_NOISE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:|absl::InitializeLog|"
                       r"cuInit|oneDNN|cuda|rebuild TensorFlow", re.M)


def test_train_writes_saved_model_samples_and_metrics(tmp_path, tfds_dir):
  out = tmp_path / "nice-digits"
  # 20 short epochs (24 steps each) at a high learning rate: with NICE's
  # default Adam 1e-3, 2 epochs still give about 6 bits/dim.
  proc = _run(["train", "--flow", "nice", "--epochs", "20", "--hidden-units",
               "16", "--learning-rate", "1e-2", "--num-samples", "9", "--out",
               str(out)], tfds_dir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "test bits/dim:" in proc.stdout
  assert "factorised Gaussian baseline test bits/dim:" in proc.stdout
  assert not _TF_NOISE.search(proc.stderr), proc.stderr[-3000:]
  assert (out / "saved_model" / "saved_model.pb").exists()
  assert (out / "samples.png").stat().st_size > 0
  metrics = json.loads((out / "metrics.json").read_text())
  assert metrics["flow"] == "nice" and metrics["dataset"] == "digits"
  # A working flow beats the per-pixel Gaussian (3.38 bits/dim): about 2.97
  # here (2.96-3.05 over seeds and widths). A flow that does not learn stays
  # near 6; one with a wrong log-det claims the impossible: the README's
  # full 250-epoch NICE reaches 2.70, the best flow 1.78.
  baseline = metrics["gaussian_baseline_test_bits_per_dim"]
  assert 3.2 < baseline < 3.6
  assert 2.5 < metrics["test_bits_per_dim"] < baseline - 0.2, metrics
  # The first step's arrival: from `fit`'s start, within the time from the
  # command's start (TensorFlow's import and the data come first), and
  # within the whole training.
  first, total = metrics["first_step_seconds"], metrics["seconds_to_first_step"]
  assert 0 < first < total, metrics
  assert first < metrics["train_seconds"], metrics
  assert re.search(r"first training step done \d+\.\d s after the command "
                   r"started \(\d+\.\d s of it in `fit`", proc.stdout)


@pytest.mark.parametrize("args, messages", [
    # ValueErrors of the library.
    (["train", "--dataset", "no_such_set"], ["Unknown dataset"]),
    # A builder option the flow does not take: the valid ones are named.
    (["train", "--flow", "nice", "--num-scales", "2"],
     ["Options ['num_scales'] do not apply to flow 'nice'", "it takes [",
      "'hidden_units'", "'num_layers'", "'prior'"]),
    # A width list where the flow's conv nets take one integer.
    (["train", "--flow", "glow", "--hidden-units", "4,4"],
     ["--hidden-units of flow 'glow' is one integer"]),
    # argparse's errors.
    (["train", "--epochs", "0"], ["argument --epochs: expected an integer >= 1"]),
    (["train", "--temperature", "-1"], ["finite number >= 0"]),
    (["train", "--skip-spikes", "0"], ["argument --skip-spikes: expected a "
                                       "number > 0"]),
    (["train", "--flow", "made_up"], ["invalid choice: 'made_up'", "'glow'"]),
    (["train", "--hidden-units", "8,x"], ["comma-separated integers"]),
    (["train", "--no-such-flag", "1"], ["unrecognized arguments"]),
    (["--verbose", "train", "--epochs", "0"], ["expected an integer >= 1"]),
    (["train", "--epochs", "0", "--verbose"], ["expected an integer >= 1"]),
    (["no_such_command"], ["invalid choice", "'train'"]),
])
def test_user_errors_are_one_line_with_status_2(args, messages, tfds_dir,
                                                tmp_path, capsys):
  out = tmp_path / "out"
  try:
    status = cli.main(args + ["--out", str(out)])
  except SystemExit as e:  # argparse's own errors
    status = e.code
  assert status == 2
  captured = capsys.readouterr()
  lines = captured.err.splitlines()
  assert len(lines) == 1, captured.err
  assert lines[0].startswith("tfp-flows: error: ")
  usage = "tfp-flows train --help" if "train" in args else "tfp-flows --help"
  assert lines[0].endswith(f"(see {usage})")
  for message in messages:
    assert message in lines[0]
  assert not captured.out
  assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["train"], "the following arguments are required: --out"),
    ([], "the following arguments are required: COMMAND"),
    (["sample", "--out", "x.png"], "required: --model"),
])
def test_missing_arguments_are_one_line_with_status_2(args, message, capsys):
  with pytest.raises(SystemExit) as e:
    cli.main(args)
  assert e.value.code == 2
  lines = capsys.readouterr().err.splitlines()
  assert len(lines) == 1 and lines[0].startswith("tfp-flows: error: ")
  assert message in lines[0] and lines[0].endswith("--help)")


def test_help_and_argument_errors_do_not_import_tensorflow(tfds_dir):
  """They answer at once: `import tfp_flows` loads nothing heavy."""
  for args, status in [(["--help"], 0), (["train", "--help"], 0),
                       (["train", "--epochs", "0", "--out", "x"], 2),
                       (["train", "--flow", "made_up", "--out", "x"], 2)]:
    proc = _run(args, tfds_dir, timeout=60, python_args=["-X", "importtime"])
    assert proc.returncode == status, proc.stderr[-3000:]
    imported = [line.split("|")[-1].strip()
                for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "tfp_flows" in imported and "argparse" in imported
    heavy = [m for m in imported if m.split(".")[0] in (
        "tensorflow", "tf_keras", "tensorflow_probability",
        "tensorflow_datasets", "numpy")]
    assert not heavy, (args, heavy[:10])
    errors = [line for line in proc.stderr.splitlines()
              if not line.startswith("import time:")]
    assert len(errors) == (status == 2), errors
    if status == 0:
      assert "--verbose" in proc.stdout


def test_verbose_is_accepted_before_and_after_the_command():
  parser = cli.build_parser()
  assert not parser.parse_args(["train", "--out", "x"]).verbose
  assert parser.parse_args(["--verbose", "train", "--out", "x"]).verbose
  assert parser.parse_args(["train", "--out", "x", "--verbose"]).verbose


def test_tensorflow_log_level_is_forced_only_without_verbose(tmp_path,
                                                            monkeypatch,
                                                            capsys):
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
  assert cli.main(["--verbose", "evaluate", "--model", str(tmp_path)]) == 2
  assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
  assert cli.main(["evaluate", "--model", str(tmp_path)]) == 2
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
  assert capsys.readouterr().err.count("config.json is missing") == 2


# Stands in for TensorFlow: logs as its C++ code does while it loads, warns
# as Python code does, and fails to load when asked to.
_FAKE_TENSORFLOW = textwrap.dedent("""
    import os, warnings
    os.write(2, b"I0000 00:00:1795652347.233554    4027 port.cc:153] "
                b"oneDNN custom operations are on.\\n")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is "
                b"called are written to STDERR\\n")
    warnings.warn("a Python warning")
    if os.environ.get("FAKE_TF_FAILS"):
      raise ImportError("libfake.so: cannot open shared object file")
""")


@pytest.mark.parametrize("fails", [False, True])
def test_quiet_import_hides_only_tensorflow_log_lines(fails, tmp_path,
                                                      tfds_dir):
  (tmp_path / "tensorflow").mkdir()
  (tmp_path / "tensorflow" / "__init__.py").write_text(_FAKE_TENSORFLOW)
  env = {"PYTHONPATH": os.pathsep.join(
      [str(tmp_path), os.environ.get("PYTHONPATH", "")]),
         "FAKE_TF_FAILS": "1" if fails else ""}
  # Fails after the import either way: tf_keras needs the real TensorFlow.
  proc = _run(["evaluate", "--model", str(tmp_path)], tfds_dir, timeout=60,
              env=env)
  assert proc.returncode != 0
  assert "UserWarning: a Python warning" in proc.stderr
  if fails:  # Everything reaches the user, the log lines too.
    assert "ImportError: libfake.so" in proc.stderr
    assert "oneDNN" in proc.stderr and "absl::InitializeLog" in proc.stderr
  else:
    assert "libfake" not in proc.stderr
    assert "oneDNN" not in proc.stderr
    assert "absl::InitializeLog" not in proc.stderr


@pytest.mark.parametrize("flow_args", [
    ["--flow", "glow", "--num-scales", "1", "--num-layers", "1",
     "--hidden-units", "4"],
    ["--flow", "realnvp", "--num-scales", "1", "--hidden-units", "4"],
])
def test_train_image_flows_in_process(flow_args, tmp_path, tfds_dir, capsys):
  out = tmp_path / "model"
  assert cli.main(["train", "--epochs", "1", "--num-samples", "4",
                   "--out", str(out)] + flow_args) == 0
  assert "test bits/dim:" in capsys.readouterr().out
  metrics = json.loads((out / "metrics.json").read_text())
  assert metrics["flow"] == flow_args[1]
  assert (out / "samples.png").exists()
  assert (out / "saved_model" / "saved_model.pb").exists()


@pytest.mark.parametrize("flow, steps, batch, expected", [
    ("glow", 24, 64, 150),     # digits: the defaults as tuned
    ("glow", 938, 64, 4),      # MNIST: about as many steps
    ("nice", 938, 64, 6),
    ("iaf", 938, 64, 1),       # never fewer than 1
    ("maf", 2, 64, 150),       # never more than the digits epochs
    ("glow", 2, 750, 150),
    ("glow", 80, 750, 4),
])
def test_default_epochs_keep_the_digits_budget_in_steps(flow, steps, batch,
                                                        expected):
  assert experiment.default_epochs(flow, steps, batch) == expected


def test_train_without_epochs_uses_the_scaled_default(tmp_path, tfds_dir,
                                                      monkeypatch):
  # NICE's digits budget cut to 4 epochs of 2 steps at batch 750 (8 steps),
  # so that epochs of 4 steps make 2.
  monkeypatch.setitem(registry.TRAIN_DEFAULTS["nice"], "epochs", 4)
  out = tmp_path / "model"
  assert cli.main(["train", "--flow", "nice", "--hidden-units", "4",
                   "--batch-size", "750", "--steps-per-epoch", "4",
                   "--num-samples", "4", "--out", str(out)]) == 0
  metrics = json.loads((out / "metrics.json").read_text())
  assert metrics["epochs"] == 2


def test_user_error_in_a_process_prints_no_traceback(tfds_dir):
  proc = _run(["train", "--dataset", "no_such_set", "--out", "x"], tfds_dir)
  assert proc.returncode == 2
  # Only the error: TensorFlow's start-up lines are hidden too.
  lines = proc.stderr.splitlines()
  assert len(lines) == 1, proc.stderr[-3000:]
  assert lines[0].startswith("tfp-flows: error: Unknown dataset")


def test_help(capsys):
  with pytest.raises(SystemExit) as e:
    cli.main(["train", "--help"])
  assert e.value.code == 0
  out = capsys.readouterr().out
  for flag in ("--flow", "--dataset", "--epochs", "--out", "--temperature"):
    assert flag in out


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, tfds_dir):
  out = tmp_path_factory.mktemp("cli") / "glow"
  assert cli.main(["train", "--flow", "glow", "--num-scales", "1",
                   "--num-layers", "1", "--hidden-units", "4", "--epochs", "1",
                   "--num-samples", "4", "--out", str(out)]) == 0
  return str(out)


def _tiles(path, image_shape=(8, 8, 1)):
  """The images of a `save_image_grid` PNG: [rows, cols, H, W, C] in [0, 1]."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  grid = tf.io.decode_png(tf.io.read_file(str(path))).numpy() / 255.
  h, w, _ = image_shape
  zoom = tfp_flows.images.zoom_for(image_shape)
  rows = (grid.shape[0] - 1) // (h * zoom + 1)
  cols = (grid.shape[1] - 1) // (w * zoom + 1)
  return np.array([[
      grid[1 + r * (h * zoom + 1):(r + 1) * (h * zoom + 1):zoom,
           1 + c * (w * zoom + 1):(c + 1) * (w * zoom + 1):zoom]
      for c in range(cols)] for r in range(rows)])


def _digits(split, count, labels=False):
  """The first `count` images of a digits split in file order, as [0, 1)."""
  import tfp_flows  # pylint: disable=import-outside-toplevel
  batch = next(iter(tfp_flows.data.load(
      "digits", split, batch_size=count, dequantize=False, shuffle=False,
      with_labels=labels)))
  return tuple(b.numpy() for b in batch) if labels else batch.numpy()


# A PNG holds 8 bits: an image written and read back is within half a level.
_PNG = 0.5 / 255 + 1e-6


def _check_evaluate(out, trained_dir, tmp_path):
  del tmp_path
  # The flow reloaded from flow/ scores the test split as the training run's
  # in-memory flow did.
  printed = float(re.search(r"bits/dim: ([0-9.]+)", out).group(1))
  with open(os.path.join(trained_dir, "metrics.json")) as f:
    trained = json.load(f)["test_bits_per_dim"]
  assert abs(printed - trained) < 1e-3, (printed, trained)


def _check_sample(out, trained_dir, tmp_path):
  del out, trained_dir
  tiles = _tiles(tmp_path / "s.png")
  assert tiles.shape[:2] == (2, 2)
  flat = tiles.reshape(4, -1)
  assert np.ptp(flat, axis=0).max() > 0.1  # four different samples


def _check_temperatures(out, trained_dir, tmp_path):
  del out, trained_dir
  # One row per draw, one column per temperature: at T = 0 every draw is
  # the base's mode, so the column repeats one image; at T = 1 it does not.
  tiles = _tiles(tmp_path / "t.png")
  assert tiles.shape[:2] == (2, 3)
  np.testing.assert_array_equal(tiles[0, 0], tiles[1, 0])
  assert np.abs(tiles[0, 2] - tiles[1, 2]).max() > 0.1


def _check_export(out, trained_dir, tmp_path):
  del out, trained_dir
  assert os.path.exists(os.path.join(tmp_path, "served", "saved_model.pb"))


def _check_interpolate(out, trained_dir, tmp_path):
  del out, trained_dir
  # Row i runs from test image 2i to test image 2i + 1 (the flow inverts).
  tiles, x = _tiles(tmp_path / "i.png"), _digits("test", 4)
  assert tiles.shape[:2] == (2, 3)
  for i in range(2):
    np.testing.assert_allclose(tiles[i, 0], x[2 * i], atol=_PNG)
    np.testing.assert_allclose(tiles[i, -1], x[2 * i + 1], atol=_PNG)
    assert np.abs(tiles[i, 1] - tiles[i, 0]).max() > 0.05


def _check_inpaint(out, trained_dir, tmp_path):
  del out, trained_dir
  # Rows: masked (left half grey), inpainted (right half kept), original.
  tiles, x = _tiles(tmp_path / "p.png"), _digits("test", 2)
  assert tiles.shape[:2] == (3, 2)
  np.testing.assert_allclose(tiles[2], x, atol=_PNG)
  np.testing.assert_allclose(tiles[0, :, :, :4], 0.5, atol=_PNG)
  np.testing.assert_allclose(tiles[0, :, :, 4:], x[:, :, 4:], atol=_PNG)
  np.testing.assert_allclose(tiles[1, :, :, 4:], x[:, :, 4:], atol=_PNG)
  assert np.abs(tiles[1, :, :, :4] - 0.5).max() > 0.05  # the ascent moved


def _check_manipulate(out, trained_dir, tmp_path):
  del out, trained_dir
  # Scale 0 reconstructs the first test images of class 1; scale 1 moves.
  tiles = _tiles(tmp_path / "m.png")
  x, y = _digits("test", 10_000, labels=True)
  assert tiles.shape[:2] == (2, 5)
  np.testing.assert_allclose(tiles[:, 0], x[y == 1][:2], atol=_PNG)
  assert np.abs(tiles[:, -1] - tiles[:, 0]).max() > 0.05


@pytest.mark.parametrize("args, expected, check", [
    (["evaluate"], "test NLL:", _check_evaluate),
    (["sample", "--n", "4", "--temperature", "0.7", "--out", "{tmp}/s.png"],
     "samples:", _check_sample),
    (["sample", "--n", "2", "--temperatures", "0,0.5,1", "--out",
      "{tmp}/t.png"], "samples:", _check_temperatures),
    (["export", "--out", "{tmp}/served"], "SavedModel:", _check_export),
    (["interpolate", "--pairs", "2", "--steps", "3", "--out", "{tmp}/i.png"],
     "interpolations:", _check_interpolate),
    (["inpaint", "--count", "2", "--steps", "5", "--mask", "left", "--out",
      "{tmp}/p.png"], "inpainted", _check_inpaint),
    (["manipulate", "--count", "2", "--out", "{tmp}/m.png"], "class 1 -> 7",
     _check_manipulate),
])
def test_commands_on_a_trained_flow(args, expected, check, trained_dir,
                                    tmp_path, capsys):
  args = [a.format(tmp=tmp_path) for a in args]
  assert cli.main(args[:1] + ["--model", trained_dir] + args[1:]) == 0
  out = capsys.readouterr().out
  assert expected in out
  check(out, trained_dir, tmp_path)


def test_sample_every_writes_a_grid_per_epoch(tmp_path, tfds_dir):
  # The other training flags: the tests after this one check their effects.
  out = tmp_path / "run"
  argv = ["train", "--flow", "nice", "--hidden-units", "8", "--epochs", "2",
          "--steps-per-epoch", "2", "--sample-every", "1", "--num-samples",
          "4", "--out", str(out)]
  assert cli.main(argv) == 0
  assert sorted(os.listdir(out / "samples")) == ["epoch_0001.png",
                                                  "epoch_0002.png"]
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  png = tf.io.decode_png(tf.io.read_file(str(out / "samples" /
                                             "epoch_0002.png")))
  assert png.shape == (2 * 65 + 1, 2 * 65 + 1, 1), png.shape  # 2x2, zoom 8


def test_model_without_flow_is_a_user_error(tmp_path, capsys):
  assert cli.main(["evaluate", "--model", str(tmp_path)]) == 2
  assert "config.json is missing" in capsys.readouterr().err


# What `cli.main(["train", ...])` trains, seen from inside the run: each flag
# below is checked by an effect on the model, the data or the files, not by
# the flag being accepted.


class _Recorder:
  """Watches `FlowModel.fit` (patched by the `spy` fixture).

  `model`: the model fit; `dataset`: the data it was given; `start`: the
  trainable weights when training begins (after any restore); `steps`: the
  weights after each step; `iterations`: the optimizer's step count at the
  start; `loads`: the keyword arguments of every `tfp_flows.data.load` call.
  With `crash_at_epoch`, the run raises at the start of that epoch (0-based),
  as a process that dies there.
  """

  def __init__(self):
    self.crash_at_epoch = None
    self.reset()

  def reset(self):
    self.model = self.dataset = self.start = self.iterations = None
    self.steps, self.loads = [], []

  def weights(self):
    return [v.numpy().copy() for v in self.model.trainable_variables]

  def callback(self):
    import tf_keras  # pylint: disable=import-outside-toplevel
    recorder = self

    class Callback(tf_keras.callbacks.Callback):

      def on_train_begin(self, logs=None):
        # After BackupAndRestore's own on_train_begin (it comes first).
        recorder.start = recorder.weights()
        recorder.iterations = int(self.model.optimizer.iterations.numpy())

      def on_epoch_begin(self, epoch, logs=None):
        if epoch == recorder.crash_at_epoch:
          raise RuntimeError("simulated crash")

      def on_train_batch_end(self, batch, logs=None):
        recorder.steps.append(recorder.weights())

    return Callback()


@pytest.fixture
def spy(monkeypatch):
  import tf_keras  # pylint: disable=import-outside-toplevel
  import tfp_flows  # pylint: disable=import-outside-toplevel
  recorder = _Recorder()
  fit = tfp_flows.training.FlowModel.fit
  load = tfp_flows.data.load

  def spying_fit(model, x=None, *args, **kwargs):
    recorder.model, recorder.dataset = model, x
    kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [
        recorder.callback()]
    return fit(model, x, *args, **kwargs)

  def spying_load(*args, **kwargs):
    recorder.loads.append(dict(kwargs, name=args[0], split=args[1]))
    return load(*args, **kwargs)

  monkeypatch.setattr(tfp_flows.training.FlowModel, "fit", spying_fit)
  monkeypatch.setattr(tfp_flows.data, "load", spying_load)
  yield recorder
  # The CLI sets the global policy; later tests build float32 flows.
  tf_keras.mixed_precision.set_global_policy("float32")


def _max_change(before, after):
  return max(float(np.max(np.abs(a - b))) for a, b in zip(after, before))


@pytest.fixture(scope="module")
def left_bright_mnist(tmp_path_factory):
  """A TFDS data dir holding a tiny stand-in for `mnist` (256 levels, so
  --n-bits applies; digits' 17 levels refuse it): 28x28 images whose left
  half is bright (200..255) and right half dark (0..40), so a horizontal
  flip shows."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  data_dir = str(tmp_path_factory.mktemp("tfds-mnist"))
  rng = np.random.default_rng(0)

  def images(n):
    x = rng.integers(0, 41, [n, 28, 28, 1]).astype(np.uint8)
    x[:, :, :14] = rng.integers(200, 256, [n, 28, 14, 1])
    return x

  splits = {split: tf.data.Dataset.from_tensor_slices(
      {"image": images(n), "label": rng.integers(0, 10, [n])})
            for split, n in (("train", 64), ("test", 32))}
  builder = tfds.dataset_builders.AdhocBuilder(
      name="mnist", version="3.0.1", split_datasets=splits,
      features=tfds.features.FeaturesDict({
          "image": tfds.features.Image(shape=(28, 28, 1), dtype=tf.uint8),
          "label": tfds.features.ClassLabel(num_classes=10)}),
      data_dir=data_dir)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      try_download_gcs=False))
  return data_dir


def test_glow_with_lu_jit_bfloat16_mirrored_n_bits_image_size_flip_shards(
    spy, left_bright_mnist, tmp_path, capsys):
  """One tiny run, several independent checks, one per flag."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tf_keras  # pylint: disable=import-outside-toplevel
  import tfp_flows  # pylint: disable=import-outside-toplevel
  out = tmp_path / "run"
  # --batch-shards sets TensorFlow's threads; TensorFlow already runs in
  # this process with its defaults, so the run warns and goes on.
  with pytest.warns(UserWarning, match=r"batch_shards=2 wants \d+ intra-op"):
    status = cli.main([
        "train", "--flow", "glow", "--num-scales", "1", "--num-layers", "1",
        "--hidden-units", "4", "--lu-decomposed", "--jit-compile",
        "--mixed-precision", "mixed_bfloat16", "--strategy", "mirrored",
        "--dataset", "mnist", "--data-dir", left_bright_mnist, "--n-bits", "3",
        "--image-size", "8", "--flip", "--batch-size", "16",
        "--steps-per-epoch", "2", "--epochs", "1", "--num-samples", "4",
        "--batch-shards", "2", "--out", str(out)])
  assert status == 0, capsys.readouterr().err
  metrics = json.loads((out / "metrics.json").read_text())
  config = json.loads((out / "flow" / "config.json").read_text())
  model = spy.model

  # --jit-compile: the model's training step is XLA-compiled.
  assert model.jit_compile is True
  # --batch-shards: each batch in two parts.
  assert model.batch_shards == 2
  # --strategy mirrored: the model lives in a MirroredStrategy.
  assert isinstance(model.distribute_strategy, tf.distribute.MirroredStrategy)
  # --mixed-precision: the conditioner layers compute in bfloat16, the flow's
  # density and the loss stay float32 and finite.
  layers = [m for m in model.distribution.submodules
            if isinstance(m, tf_keras.layers.Conv2D)]
  assert layers and all(
      l.dtype_policy.name == "mixed_bfloat16" for l in layers), layers
  assert all(l.variable_dtype == "float32" for l in layers)
  assert model.distribution.log_prob(
      tf.fill([2, 8, 8, 1], 0.5)).dtype == tf.float32
  assert all(np.isfinite(metrics["train_loss_per_epoch"]))
  assert len(spy.steps) == 2

  # --image-size 8: 8x8 images from the 28x28 data, in the flow and the
  # SavedModel's signature.
  assert config["image_shape"] == [8, 8, 1]
  served = tf.saved_model.load(str(out / "saved_model"))
  assert served.signatures["log_prob"].structured_input_signature[1][
      "x"].shape.as_list() == [None, 8, 8, 1]
  # --flip: about half the images fit on are mirrored (bright half on the
  # right); the data have it on the left, and so do the test images.
  assert [l["flip"] for l in spy.loads if l["split"] == "train"] == [
      True, True]
  assert not any(l.get("flip") for l in spy.loads if l["split"] == "test")
  x = np.concatenate([b.numpy() for b in spy.dataset.take(4)])
  assert x.shape[1:] == (8, 8, 1)
  mirrored = x[:, :, 4:].mean(axis=(1, 2, 3)) > x[:, :, :4].mean(axis=(1, 2, 3))
  assert 0.2 < mirrored.mean() < 0.8, mirrored
  # --n-bits 3: K = 8 levels. Bright pixels (>= 200 of 256) are levels 6-7:
  # x >= 6/8; dark ones (< 41) level 0 or 1.
  assert config["num_levels"] == 8
  bright = np.where(mirrored[:, None, None, None], x[:, :, 4:], x[:, :, :4])
  assert bright.min() >= 6 / 8 and x.max() < 1.
  # and the bits/dim count 3 bits per pixel: NLL / (D ln 2) + log2(8), with
  # the NLL of the reloaded flow on the same test data (bfloat16 nets too).
  tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
  dist, _ = tfp_flows.load_flow(str(out / "flow"))
  tf_keras.mixed_precision.set_global_policy("float32")
  test = tfp_flows.data.load("mnist", "test", 16, seed=1,
                             data_dir=left_bright_mnist, n_bits=3,
                             image_size=8)
  nll = tfp_flows.evaluate_nll(dist, test)
  assert metrics["test_bits_per_dim"] == pytest.approx(
      nll / (64 * np.log(2.)) + 3, abs=2e-3)
  # The SavedModel serves the trained flow.
  images = next(iter(test))
  np.testing.assert_allclose(served.log_prob(images)["log_prob"],
                             dist.log_prob(images), rtol=1e-2, atol=0.1)

  # --lu-decomposed: every 1x1 convolution of the saved flow is in LU form,
  # with the L, U and log|s| variables and no full kernel.
  convs = [m for m in dist.submodules
           if isinstance(m, tfp_flows.bijectors.InvertibleConv1x1)]
  assert convs and all(c.lu_decomposed for c in convs)
  for conv in convs:
    names = {v.name.split(":")[0].split("/")[-1]
             for v in conv.trainable_variables}
    assert names == {"lower", "upper", "log_abs_s"}, names


# Flow++ with a variational dequantizer through the CLI: `make test-slow`
# (run by CI).
@pytest.mark.slow
def test_flowpp_variational_dequantization_and_clip_norm(spy, monkeypatch,
                                                         tmp_path, tfds_dir,
                                                         capsys):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tfp_flows  # pylint: disable=import-outside-toplevel
  bounds = []
  bound = tfp_flows.evaluation.importance_weighted_bits_per_dim

  def spying_bound(*args, **kwargs):
    bounds.append(bound(*args, **kwargs))
    return bounds[-1]

  monkeypatch.setattr(tfp_flows.evaluation,
                      "importance_weighted_bits_per_dim", spying_bound)
  out = tmp_path / "flowpp"
  rate = 1e-2
  assert cli.main([
      "train", "--flow", "flowpp", "--dequantization", "variational",
      "--hidden-units", "4", "--num-components", "2", "--clip-norm", "1e-6",
      "--learning-rate", str(rate), "--epochs", "1", "--steps-per-epoch", "2",
      "--batch-size", "16", "--num-samples", "4", "--out", str(out)]) == 0, \
      capsys.readouterr().err
  metrics = json.loads((out / "metrics.json").read_text())
  # The variational dequantizer trained with the flow on bin centres...
  model = spy.model
  assert isinstance(model, tfp_flows.FlowModel)
  assert isinstance(model.dequantizer,
                    tfp_flows.dequantization.VariationalDequantizer)
  flow_parameters = sum(v.shape.num_elements()
                        for v in model.distribution.trainable_variables)
  assert metrics["num_parameters"] > flow_parameters
  assert [l.get("dequantize") for l in spy.loads
          if l["split"] == "train"][-1] is False
  # ... and the test figure is its 16-sample importance-weighted bound.
  assert len(bounds) == 1 and np.isfinite(bounds[0])
  assert metrics["test_bits_per_dim"] == round(bounds[0], 4)
  # The SavedModel serves the trained Flow++ (its root-finding decode too).
  served = tf.saved_model.load(str(out / "saved_model"))
  dist, config = tfp_flows.load_flow(str(out / "flow"))
  assert config["flow"] == "flowpp"
  x = next(iter(tfp_flows.data.load("digits", "test", 8, seed=1)))
  np.testing.assert_allclose(served.log_prob(x)["log_prob"], dist.log_prob(x),
                             rtol=1e-5, atol=1e-4)
  samples = served.sample(tf.constant(3), tf.constant(1.))["samples"]
  assert samples.shape == (3, 8, 8, 1) and np.all(np.isfinite(samples))
  # --clip-norm 1e-6: every gradient entry is <= 1e-6, so Adam's first step,
  # rate * g / (|g| + 1e-7 / sqrt(1 - 0.999)), moves no weight by more than
  # 0.24 * rate; unclipped, the weights with large gradients move by ~rate.
  first = _max_change(spy.start, spy.steps[0])
  assert 0 < first < 0.25 * rate, first


def test_warmup_ema_checkpoint_resume_and_tensorboard(spy, tmp_path,
                                                      tfds_dir, capsys):
  """A run killed after epoch 1, then the same command again."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tfp_flows  # pylint: disable=import-outside-toplevel
  out, board = tmp_path / "run", tmp_path / "tb"
  rate, warmup, momentum = 1e-2, 100, 0.9
  argv = ["train", "--flow", "nice", "--hidden-units", "8", "--epochs", "2",
          "--steps-per-epoch", "3", "--learning-rate", str(rate),
          "--warmup-steps", str(warmup), "--ema", str(momentum),
          # The spike check's average is model state: resumed too.
          "--skip-spikes", "20",
          "--checkpoint-dir", str(tmp_path / "backup"),
          "--tensorboard-dir", str(board), "--num-samples", "4",
          "--out", str(out)]
  spy.crash_at_epoch = 1
  assert cli.main(argv) == 2
  assert "simulated crash" in capsys.readouterr().err
  assert not out.exists()
  first_run = spy.start, list(spy.steps)
  assert len(first_run[1]) == 3
  # --warmup-steps: the first step's rate is rate / warmup, and Adam's first
  # step moves each weight by about its rate (rate * g / (|g| + 3e-6)).
  first = _max_change(first_run[0], first_run[1][0])
  assert 0.5 * rate / warmup < first < 1.01 * rate / warmup, first

  spy.crash_at_epoch = None
  spy.reset()
  assert cli.main(argv) == 0, capsys.readouterr().err
  metrics = json.loads((out / "metrics.json").read_text())
  # --checkpoint-dir: the rerun resumed after epoch 1: only epoch 2 ran, from
  # the weights and optimizer step where the first run stopped.
  assert len(metrics["train_loss_per_epoch"]) == 1
  assert spy.iterations == 3
  assert metrics["skipped_steps"] == 0
  assert metrics["options"]["skip_spikes"] == 20.
  for a, b in zip(spy.start, first_run[1][-1]):
    np.testing.assert_array_equal(a, b)
  assert len(spy.steps) == 3
  # A completed run removes its backup (the same command then starts anew).
  backup = tmp_path / "backup"
  assert not backup.exists() or not list(backup.rglob("*index*")), list(
      backup.rglob("*"))

  # --ema: the saved, exported and evaluated weights are the moving average
  # of the weights after each of the 6 steps (both runs: its state resumed
  # too), starting from the initial weights; not the last raw weights.
  raw = first_run[1] + spy.steps
  average = first_run[0]
  for weights in raw:
    average = [momentum * a + (1 - momentum) * w
               for a, w in zip(average, weights)]
  dist, _ = tfp_flows.load_flow(str(out / "flow"))
  saved = [v.numpy() for v in dist.trainable_variables]
  assert _max_change(raw[-1], average) > 1e-4  # the check can tell them apart
  for a, s in zip(average, saved):
    np.testing.assert_allclose(s, a, rtol=1e-5, atol=1e-6)
  served = tf.saved_model.load(str(out / "saved_model"))
  test = tfp_flows.data.load("digits", "test", 64, seed=1)
  x = next(iter(test))
  np.testing.assert_allclose(served.log_prob(x)["log_prob"], dist.log_prob(x),
                             rtol=1e-5, atol=1e-4)
  nll = tfp_flows.evaluate_nll(dist, test)
  assert metrics["test_bits_per_dim"] == pytest.approx(
      (nll + 64 * np.log(17.)) / (64 * np.log(2.)), abs=1e-4)

  # --tensorboard-dir: event files with the epoch loss of each run (the
  # figure metrics.json reports for epoch 2) and a sample grid image.
  scalars, images = {}, []
  for path in board.rglob("events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        if value.tag == "epoch_loss":
          scalars[event.step] = float(tf.make_ndarray(value.tensor))
        elif value.tag == "samples":
          images.append(tf.make_ndarray(value.tensor))
  assert sorted(scalars) == [0, 1], scalars
  assert scalars[1] == pytest.approx(metrics["train_loss_per_epoch"][0],
                                     rel=1e-6)
  assert images
  png = tf.io.decode_png(images[-1][2])
  # 4 samples of 8x8 at zoom 8: a 2x2 grid of 64-pixel images.
  assert png.shape[0] >= 128 and png.shape[1] >= 128, png.shape


@pytest.mark.parametrize("flow", ["maf", "iaf"])
def test_autoregressive_flows_train_evaluate_and_export(flow, tmp_path,
                                                         tfds_dir, capsys):
  out = tmp_path / flow
  assert cli.main(["train", "--flow", flow, "--num-layers", "2",
                   "--hidden-units", "8", "--epochs", "1",
                   "--steps-per-epoch", "2", "--num-samples", "4",
                   "--out", str(out)]) == 0
  trained = json.loads((out / "metrics.json").read_text())
  assert trained["flow"] == flow
  # `evaluate` rebuilds the flow from flow/ and scores the same test split.
  assert cli.main(["evaluate", "--model", str(out)]) == 0
  assert f"({flow} on digits)" in capsys.readouterr().out
  assert cli.main(["export", "--model", str(out),
                   "--out", str(tmp_path / "served")]) == 0
  assert (tmp_path / "served" / "saved_model.pb").exists()


@pytest.fixture(scope="module")
def conditional_dir(tmp_path_factory, tfds_dir):
  """A class-conditional Glow trained briefly on digits by the CLI."""
  del tfds_dir
  out = tmp_path_factory.mktemp("conditional") / "glow"
  assert cli.main(["train", "--flow", "glow", "--conditional",
                   "--num-scales", "1", "--num-layers", "1",
                   "--hidden-units", "4", "--epochs", "2",
                   "--steps-per-epoch", "3", "--num-samples", "20",
                   "--out", str(out)]) == 0
  return out


def test_conditional_training_samples_by_class(conditional_dir, tmp_path,
                                               capsys,
                                               serve_in_fresh_process):
  out = conditional_dir
  metrics = json.loads((out / "metrics.json").read_text())
  assert np.isfinite(metrics["test_bits_per_dim"])
  config = json.loads((out / "flow" / "config.json").read_text())
  assert config["num_classes"] == 10
  assert config["build"]["arguments"]["context_shape"] == [10]
  # samples.png: one row of 2 samples per class (20 // 10), 10 rows.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  grid = tf.io.decode_png(tf.io.read_file(str(out / "samples.png")))
  rows, cols = 10, 2
  assert grid.shape[0] / grid.shape[1] == pytest.approx(rows / cols, rel=0.05)
  # At T = 0 every draw of a class is that class's mode: one image repeated.
  # Another class's mode differs (the label reaches the flow; after six
  # training steps by a few grey levels, where an ignored label gives the
  # same PNG).
  modes = {}
  for label in (3, 7):
    png = tmp_path / f"class{label}.png"
    assert cli.main(["sample", "--model", str(out), "--class", str(label),
                     "--n", "4", "--temperature", "0", "--out",
                     str(png)]) == 0
    tiles = _tiles(png).reshape(4, -1)
    np.testing.assert_array_equal(tiles, np.broadcast_to(tiles[0], tiles.shape))
    modes[label] = tiles[0]
  assert not np.array_equal(modes[3], modes[7])
  assert cli.main(["evaluate", "--model", str(out)]) == 0
  assert cli.main(["inpaint", "--model", str(out), "--count", "2",
                   "--steps", "2", "--out", str(tmp_path / "i.png")]) == 0
  assert cli.main(["interpolate", "--model", str(out), "--pairs", "1",
                   "--steps", "3", "--out", str(tmp_path / "l.png")]) == 0
  capsys.readouterr()
  # The export takes a context: one sample per context row.
  x = np.full([2, 8, 8, 1], 0.5, np.float32)
  served = serve_in_fresh_process(str(out / "saved_model"), x,
                                  context=np.eye(10, dtype=np.float32)[[3, 7]])
  assert served["sample_shape"] == [2, 8, 8, 1] and served["sample_finite"]
  assert served["bad_context"] == "refused"


@pytest.mark.parametrize("args, message", [
    (["sample", "--class", "10"], "--class must be in [0, 9] for digits; got 10"),
    (["sample", "--class", "-1"], "--class must be in [0, 9]"),
    (["manipulate"], "is class-conditional: use `tfp-flows sample --class N`"),
])
def test_conditional_user_errors_are_one_line(args, message, conditional_dir,
                                              tmp_path, capsys):
  png = tmp_path / "out.png"
  assert cli.main(args + ["--model", str(conditional_dir),
                          "--out", str(png)]) == 2
  lines = capsys.readouterr().err.splitlines()
  assert len(lines) == 1 and message in lines[0], lines
  assert not png.exists()


def test_class_of_an_unconditional_flow_is_a_user_error(trained_dir,
                                                         tmp_path, capsys):
  png = tmp_path / "out.png"
  assert cli.main(["sample", "--model", str(trained_dir), "--class", "1",
                   "--out", str(png)]) == 2
  err = capsys.readouterr().err
  assert "is not class-conditional (train it with --conditional)" in err
  assert len(err.splitlines()) == 1 and not png.exists()


def test_backup_records_its_run_and_refuses_another(tmp_path):
  version = build_config.VERSION
  record = {"flow": "glow", "build_version": version, "glow.num_layers": 2,
            "seed": 0}
  backup = str(tmp_path / "backup")
  # A new run (nothing to resume) records its settings; only the chief.
  experiment._check_or_record_run(backup, record, resuming=False, chief=False)  # pylint: disable=protected-access
  assert not os.path.exists(backup)
  experiment._check_or_record_run(backup, record, resuming=False, chief=True)  # pylint: disable=protected-access
  assert os.listdir(backup) == ["run.json"]
  experiment._check_or_record_run(backup, dict(record), resuming=True, chief=True)  # pylint: disable=protected-access
  with pytest.raises(ValueError, match=r"another run \(glow.num_layers 2 there, "
                     r"3 now; seed 0 there, None now\)"):
    experiment._check_or_record_run(  # pylint: disable=protected-access
        backup, {"flow": "glow", "build_version": version,
                 "glow.num_layers": 3}, resuming=True, chief=False)
  # A backup from before runs were recorded resumes unchecked.
  os.remove(os.path.join(backup, "run.json"))
  experiment._check_or_record_run(backup, {"flow": "nice"}, resuming=True,  # pylint: disable=protected-access
                           chief=True)


def test_a_backup_recorded_by_an_earlier_release_resumes(tmp_path):
  # Version 1 (before the builder contract) recorded Glow's image_shape,
  # depth and hidden_channels, no prior and no build_version: the same
  # command resumes it today, and another command is still refused.
  dist = registry.build("glow", [8, 8, 1], num_layers=2, hidden_units=4)
  record = experiment._run_record(  # pylint: disable=protected-access
      experiment.TrainConfig(out=str(tmp_path / "out")),
      build_config.build_config(dist), 64, 24)
  old = {key: value for key, value in record.items()
         if key not in ("build_version", "glow.prior")}
  for now, then in (("event_shape", "image_shape"), ("num_layers", "depth"),
                    ("hidden_units", "hidden_channels")):
    old[f"glow.{then}"] = old.pop(f"glow.{now}")
  backup = tmp_path / "backup"
  backup.mkdir()
  (backup / "run.json").write_text(json.dumps(old))
  experiment._check_or_record_run(str(backup), record, resuming=True,  # pylint: disable=protected-access
                                  chief=True)
  with pytest.raises(ValueError, match="glow.num_layers 2 there, 3 now"):
    experiment._check_or_record_run(  # pylint: disable=protected-access
        str(backup), dict(record, **{"glow.num_layers": 3}), resuming=True,
        chief=True)
