"""The tfp-flows command line, run as a user would."""

import json
import os
import subprocess
import sys

import pytest

from tfp_flows import cli


def _run(args, tfds_dir, timeout=300):
  return subprocess.run(
      [sys.executable, "-m", "tfp_flows.cli"] + args, capture_output=True,
      text=True, timeout=timeout,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TFDS_DATA_DIR=tfds_dir))


def test_train_writes_saved_model_samples_and_metrics(tmp_path, tfds_dir):
  out = tmp_path / "nice-digits"
  proc = _run(["train", "--flow", "nice", "--epochs", "2", "--hidden-units", "16",
               "--num-samples", "9", "--out", str(out)], tfds_dir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "test bits/dim:" in proc.stdout
  assert "factorised Gaussian baseline test bits/dim:" in proc.stdout
  assert (out / "saved_model" / "saved_model.pb").exists()
  assert (out / "samples.png").stat().st_size > 0
  metrics = json.loads((out / "metrics.json").read_text())
  assert metrics["flow"] == "nice" and metrics["dataset"] == "digits"
  assert 0 < metrics["test_bits_per_dim"] < 10


@pytest.mark.parametrize("args, message", [
    (["train", "--dataset", "no_such_set", "--out", "x"], "Unknown dataset"),
    (["train", "--epochs", "0", "--out", "x"], "expected an integer >= 1"),
    (["train", "--temperature", "-1", "--out", "x"], "finite number >= 0"),
    (["train", "--flow", "made_up", "--out", "x"], "invalid choice"),
    (["train", "--flow", "nice", "--depth", "2", "--out", "x"],
     "Options ['depth'] do not apply to flow 'nice'"),
])
def test_user_errors_are_one_line_with_status_2(args, message, tfds_dir,
                                                capsys):
  try:
    status = cli.main(args)
  except SystemExit as e:  # argparse's own errors
    status = e.code
  assert status == 2
  err = capsys.readouterr().err
  assert message in err
  assert "Traceback" not in err


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
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "tfp-flows: error: Unknown dataset")
  assert "Traceback" not in proc.stderr


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
