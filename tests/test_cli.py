"""The tfp-flows command line, run as a user would."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tfp_flows import cli


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


@pytest.mark.parametrize("args, messages", [
    # ValueErrors of the library.
    (["train", "--dataset", "no_such_set"], ["Unknown dataset"]),
    # A builder option the flow does not take: the valid ones are named.
    (["train", "--flow", "nice", "--depth", "2"],
     ["Options ['depth'] do not apply to flow 'nice'", "it takes [",
      "'hidden_units'", "'num_coupling_layers'", "'prior'"]),
    # argparse's errors.
    (["train", "--epochs", "0"], ["argument --epochs: expected an integer >= 1"]),
    (["train", "--temperature", "-1"], ["finite number >= 0"]),
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
    ["--flow", "glow", "--num-levels", "1", "--depth", "1",
     "--hidden-channels", "4"],
    ["--flow", "realnvp", "--num-scales", "1", "--hidden-channels", "4"],
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
  assert cli.main(["train", "--flow", "glow", "--num-levels", "1", "--depth",
                   "1", "--hidden-channels", "4", "--epochs", "1",
                   "--num-samples", "4", "--out", str(out)]) == 0
  return str(out)


@pytest.mark.parametrize("args, expected", [
    (["evaluate"], "test NLL:"),
    (["sample", "--n", "4", "--temperature", "0.7", "--out", "{tmp}/s.png"],
     "samples:"),
    (["sample", "--n", "2", "--temperatures", "0,0.5,1", "--out",
      "{tmp}/t.png"], "samples:"),
    (["export", "--out", "{tmp}/served"], "SavedModel:"),
    (["interpolate", "--pairs", "2", "--steps", "3", "--out", "{tmp}/i.png"],
     "interpolations:"),
    (["inpaint", "--count", "2", "--steps", "5", "--mask", "left", "--out",
      "{tmp}/p.png"], "inpainted"),
    (["manipulate", "--count", "2", "--out", "{tmp}/m.png"], "class 1 -> 7"),
])
def test_commands_on_a_trained_flow(args, expected, trained_dir, tmp_path,
                                    capsys):
  args = [a.format(tmp=tmp_path) for a in args]
  assert cli.main(args[:1] + ["--model", trained_dir] + args[1:]) == 0
  assert expected in capsys.readouterr().out
  for a in args:
    if a.endswith(".png"):
      assert os.path.getsize(a) > 0
  if args[0] == "export":
    assert os.path.exists(os.path.join(tmp_path, "served", "saved_model.pb"))


def test_train_options_checkpoint_tensorboard_and_sample_grids(tmp_path):
  out = tmp_path / "run"
  argv = ["train", "--flow", "nice", "--hidden-units", "8", "--epochs", "2",
          "--warmup-steps", "5", "--clip-norm", "1", "--ema", "0.9",
          "--checkpoint-dir", str(tmp_path / "backup"), "--tensorboard-dir",
          str(tmp_path / "tb"), "--sample-every", "1", "--num-samples", "4",
          "--out", str(out)]
  assert cli.main(argv) == 0
  assert sorted(os.listdir(out / "samples")) == ["epoch_0001.png",
                                                  "epoch_0002.png"]
  assert list((tmp_path / "tb").iterdir())


def test_model_without_flow_is_a_user_error(tmp_path, capsys):
  assert cli.main(["evaluate", "--model", str(tmp_path)]) == 2
  assert "config.json is missing" in capsys.readouterr().err


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
