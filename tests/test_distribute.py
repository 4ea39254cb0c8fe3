"""tfp_flows.distribute and `tfp-flows train --strategy multi-worker`.

The multi-worker tests run real clusters of worker processes on 127.0.0.1
(MultiWorkerMirroredStrategy over gRPC), each process under a timeout.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows
from tfp_flows import cli
from tfp_flows import distribute

# Glow small enough that a step takes milliseconds; every run uses it.
_GLOW = ["--flow", "glow", "--num-levels", "1", "--depth", "1",
         "--hidden-channels", "4", "--num-samples", "4"]
_TIMEOUT = 240


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _tf_config(ports, index):
  return json.dumps({
      "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
      "task": {"type": "worker", "index": index}})


def _train_command(out, *flags):
  return [sys.executable, "-m", "tfp_flows.cli", "train", *_GLOW,
          "--out", str(out), *flags]


def _start(command, log, tf_config=None):
  # Its own temporary folder, to see what the process leaves there.
  temp = os.path.join(os.path.dirname(log), "tmp")
  os.makedirs(temp, exist_ok=True)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=temp)
  env.pop("TF_CONFIG", None)
  if tf_config:
    env["TF_CONFIG"] = tf_config
  with open(log, "w") as f:
    return subprocess.Popen(command, stdout=f, stderr=subprocess.STDOUT,
                            env=env)


def _finish(procs, logs, timeout=_TIMEOUT):
  """Waits for every process; kills them all and fails on a timeout/error."""
  deadline = time.monotonic() + timeout
  try:
    for proc, log in zip(procs, logs):
      code = proc.wait(timeout=max(1., deadline - time.monotonic()))
      assert code == 0, open(log).read()[-4000:]
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  return [open(log).read() for log in logs]


def _cluster(tmp_path, name, out, *flags):
  """Starts one `train` process per worker of a 2-worker loopback cluster."""
  ports = _free_ports(2)
  logs = [tmp_path / f"{name}-worker{i}.log" for i in range(2)]
  procs = [_start(_train_command(out, "--strategy", "multi-worker", *flags),
                  log, _tf_config(ports, i)) for i, log in enumerate(logs)]
  return procs, logs


def _epoch_losses(log):
  return re.findall(r"- loss: (\S+)", log)


def _variables(out):
  dist, _ = tfp_flows.load_flow(os.path.join(out, "flow"))
  return {v.name: v.numpy() for v in dist.variables}


# ---------------------------------------------------------------- TF_CONFIG


@pytest.mark.parametrize("text, names", [
    (None, "not set"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', '"cluster"'),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', '"task"'),
    ('{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, '
     '"task": {"type": "worker", "index": 2}}', "index 2 is out of range"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, '
     '"task": {"type": "worker", "index": -1}}', "out of range"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, '
     '"task": {"type": "ps", "index": 0}}', "does not train"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, '
     '"task": {"type": "chief", "index": 0}}', "not in the cluster"),
    ('{"cluster": {"worker": ["localhost"]}, '
     '"task": {"type": "worker", "index": 0}}', '"host:port"'),
])
def test_bad_tf_config_is_named(monkeypatch, text, names):
  if text is None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
  else:
    monkeypatch.setenv("TF_CONFIG", text)
  with pytest.raises(ValueError, match="^TF_CONFIG: ") as error:
    distribute.check_tf_config()
  assert names in str(error.value)
  assert "\n" not in str(error.value)


def test_good_tf_config_parses():
  config = distribute.check_tf_config(_tf_config([1, 2], 1))
  assert config["task"] == {"type": "worker", "index": 1}


def test_cli_bad_tf_config_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
  monkeypatch.setenv("TF_CONFIG", _tf_config([1, 2], 5))
  code = cli.main(["train", "--strategy", "multi-worker",
                   "--out", str(tmp_path / "out")])
  err = capsys.readouterr().err
  assert code == 2
  assert err.count("\n") == 1 and err.startswith("tfp-flows: error: TF_CONFIG")
  assert "index 5" in err
  assert not (tmp_path / "out").exists()


def test_single_process_is_chief_and_writes_in_place(tmp_path):
  strategy = distribute.strategy("default")
  assert distribute.is_chief(strategy)
  assert distribute.num_workers(strategy) == 1
  assert distribute.global_batch_size(8, strategy) == 8
  with distribute.write_dir(str(tmp_path / "out"), strategy) as out:
    assert out == str(tmp_path / "out")


def test_other_workers_write_to_a_removed_temporary_folder(tmp_path):
  class Worker:  # pylint: disable=too-few-public-methods
    class cluster_resolver:  # pylint: disable=invalid-name
      task_type, task_id = "worker", 1

      @staticmethod
      def cluster_spec():
        return tf.train.ClusterSpec({"worker": ["a:1", "b:1"]})

  assert not distribute.is_chief(Worker)
  assert distribute.num_workers(Worker) == 2
  assert distribute.global_batch_size(8, Worker) == 16
  with distribute.write_dir(str(tmp_path / "out"), Worker) as out:
    assert not out.startswith(str(tmp_path))
    os.makedirs(os.path.join(out, "saved_model"))
  assert not os.path.exists(out)
  assert not (tmp_path / "out").exists()


def test_shard_by_data_sets_the_policy():
  ds = distribute.shard_by_data(tf.data.Dataset.range(4))
  assert (ds.options().experimental_distribute.auto_shard_policy ==
          tf.data.experimental.AutoShardPolicy.DATA)


# ------------------------------------------------- real clusters on loopback


def test_two_workers_match_one_process(tmp_path):
  steps = ["--steps-per-epoch", "1", "--epochs", "4", "--seed", "3"]
  procs, logs = _cluster(tmp_path, "pair", tmp_path / "pair", "--batch-size",
                         "8", *steps)
  single_log = tmp_path / "single.log"
  workers = _finish(procs, logs)
  single = _finish([_start(_train_command(tmp_path / "single",
                                          "--batch-size", "16", *steps),
                           single_log)], [single_log])[0]

  chief, other = (_epoch_losses(log) for log in workers)
  assert len(chief) == 4 and chief == other, workers
  np.testing.assert_allclose(np.float64(chief),
                             np.float64(_epoch_losses(single)), rtol=1e-4)
  pair, alone = _variables(tmp_path / "pair"), _variables(tmp_path / "single")
  assert pair.keys() == alone.keys() and pair
  for name, value in alone.items():
    np.testing.assert_allclose(pair[name], value, rtol=1e-4, atol=1e-6,
                               err_msg=name)
  # Only the chief's files exist; the default backup folder is gone.
  metrics = json.loads((tmp_path / "pair" / "metrics.json").read_text())
  assert metrics["num_workers"] == 2 and metrics["global_batch_size"] == 16
  assert metrics["train_examples_per_second"] > 0
  np.testing.assert_allclose(metrics["train_loss_per_epoch"],
                             np.float64(chief), rtol=1e-4)
  assert sorted(os.listdir(tmp_path / "pair")) == [
      "flow", "metrics.json", "samples.png", "saved_model"]
  assert "not the chief" in workers[1]
  assert not [f for f in os.listdir(tmp_path / "tmp")
              if f.startswith("tfp-flows-worker-")]


def test_killed_worker_resumes_from_last_epoch(tmp_path,
                                               serve_in_fresh_process):
  out = tmp_path / "run"
  flags = ["--batch-size", "8", "--steps-per-epoch", "60", "--epochs", "3"]
  procs, logs = _cluster(tmp_path, "first", out, *flags)
  # The chief's backup of epoch 1 marks the start of epoch 2.
  backup = out / "backup" / "chief" / "checkpoint"
  deadline = time.monotonic() + _TIMEOUT
  try:
    while not backup.exists():
      assert time.monotonic() < deadline, open(logs[0]).read()[-4000:]
      assert all(p.poll() is None for p in procs), open(logs[0]).read()
      time.sleep(0.02)
    # A few steps into epoch 2: its 60 steps take well over 0.1 s even on a
    # fast machine, over 1 s here.
    time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    procs[1].wait()
    # The chief cannot go on without its peer: it fails or hangs; stop it.
    try:
      procs[0].wait(timeout=30)
    except subprocess.TimeoutExpired:
      procs[0].kill()
      procs[0].wait()
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  first = open(logs[0]).read()
  assert "Epoch 2/3" in first and "Epoch 3/3" not in first, first[-4000:]
  if procs[0].returncode == 2:  # It noticed the loss rather than hanging.
    assert "start every worker again" in first.splitlines()[-1]

  procs, logs = _cluster(tmp_path, "again", out, *flags)
  chief, other = _finish(procs, logs)
  for log in (chief, other):
    epochs = re.findall(r"Epoch (\d+)/3", log)
    assert epochs == ["2", "3"], log[-4000:]
  x = np.random.default_rng(0).uniform(size=[3, 8, 8, 1]).astype(np.float32)
  served = serve_in_fresh_process(out / "saved_model", x)
  assert served["sample_shape"] == [5, 8, 8, 1] and served["sample_finite"]
  assert np.all(np.isfinite(served["log_prob3"]))
