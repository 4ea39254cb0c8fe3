"""One training run from Python: what `tfp-flows train` runs."""

import json

import pytest

from tfp_flows import experiment


def test_a_run_from_python_writes_what_the_cli_writes(tmp_path, tfds_dir):
  del tfds_dir  # the digits dataset, prepared offline
  config = experiment.TrainConfig(
      out=str(tmp_path / "run"), flow="maf",
      options=dict(num_layers=1, hidden_units=[4]), epochs=1,
      steps_per_epoch=2, num_samples=4, seed=3)
  metrics = experiment.train(config)
  assert config.epochs == 1 and config.learning_rate is None  # not mutated
  written = json.loads((tmp_path / "run" / "metrics.json").read_text())
  assert written == json.loads(json.dumps(metrics))
  assert metrics["options"]["options"] == dict(num_layers=1, hidden_units=[4])
  # The registry's training default filled in, the builder got the options.
  assert metrics["options"]["learning_rate"] == 1e-3
  assert metrics["num_parameters"] < 1000
  for name in ("saved_model/saved_model.pb", "flow/config.json",
               "samples.png"):
    assert (tmp_path / "run" / name).exists(), name
  # The run's seed reached the builder's own (MAF's permutations; the
  # initial weights of bnaf and the residual flows).
  saved = json.loads((tmp_path / "run" / "flow" / "config.json").read_text())
  assert saved["build"]["arguments"]["seed"] == 3


def test_an_unknown_flow_is_refused_before_any_work(tmp_path):
  with pytest.raises(ValueError, match="Unknown flow 'glwo'"):
    experiment.train(experiment.TrainConfig(out=str(tmp_path), flow="glwo"))
  assert not list(tmp_path.iterdir())

