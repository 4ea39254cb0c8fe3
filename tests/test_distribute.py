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
_GLOW = ["--flow", "glow", "--num-scales", "1", "--num-layers", "1",
         "--hidden-units", "4", "--num-samples", "4"]
# 3 epochs of 4 steps, a backup every 3 steps (multi-worker: in OUT/backup).
_STEPS = ["--steps-per-epoch", "4", "--epochs", "3", "--seed", "3",
          "--backup-every-steps", "3"]
_TIMEOUT = 240
# How long a worker may take to stop once its peer is dead: it notices when
# the collective it waits in fails, or at the latest at the next peer check
# (every distribute.PEER_CHECK_SECONDS = 2 s; 3 to 6 s measured on 2 busy
# cores). With TensorFlow's default of 30 s it could wait up to 30 s.
_STOP_TIMEOUT = 15
_KILL_AT_STEP = os.path.join(os.path.dirname(__file__), "kill_at_step.py")


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


def _start(command, log, data_dir, tf_config=None):
  # Its own temporary folder, to see what the process leaves there.
  temp = os.path.join(os.path.dirname(log), "tmp")
  os.makedirs(temp, exist_ok=True)
  # The data folder is passed explicitly: inheriting it would depend on
  # whether an earlier test of this worker had set it.
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=temp,
             TF_DETERMINISTIC_OPS="1", TFDS_DATA_DIR=data_dir)
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


def _cluster(tmp_path, data_dir, name, out, *flags, kill_worker1_at=None):
  """Starts one `train` process per worker of a 2-worker loopback cluster.

  With `kill_worker1_at`, worker 1 SIGKILLs itself as that step begins.
  """
  ports = _free_ports(2)
  logs = [tmp_path / f"{name}-worker{i}.log" for i in range(2)]
  commands = [_train_command(out, "--strategy", "multi-worker", *flags)
              for _ in logs]
  if kill_worker1_at:
    commands[1][1:3] = [_KILL_AT_STEP, str(kill_worker1_at)]
  procs = [_start(command, log, data_dir, _tf_config(ports, i))
           for i, (command, log) in enumerate(zip(commands, logs))]
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


@pytest.fixture(scope="module")
def pair(tmp_path_factory, tfds_dir):
  """(folder, worker logs) of an uninterrupted 2-worker run of _STEPS."""
  folder = tmp_path_factory.mktemp("pair")
  procs, logs = _cluster(folder, tfds_dir, "pair", folder / "out", "--batch-size", "8",
                         *_STEPS)
  return folder, _finish(procs, logs)


def test_two_workers_match_one_process(pair, tmp_path, tfds_dir):
  folder, workers = pair
  single_log = tmp_path / "single.log"
  single = _finish([_start(_train_command(tmp_path / "single",
                                          "--batch-size", "16", *_STEPS),
                           single_log, tfds_dir)], [single_log])[0]

  chief, other = (_epoch_losses(log) for log in workers)
  assert len(chief) == 3 and chief == other, workers
  np.testing.assert_allclose(np.float64(chief),
                             np.float64(_epoch_losses(single)), rtol=1e-4)
  two, alone = _variables(folder / "out"), _variables(tmp_path / "single")
  assert two.keys() == alone.keys() and two
  # Summing in another order changes the last bits of a gradient; Adam
  # (lr 2e-3) divides small gradients by their RMS, so that after 12 steps
  # weights near 0 differ by up to ~1e-5.
  for name, value in alone.items():
    np.testing.assert_allclose(two[name], value, rtol=1e-4, atol=5e-5,
                               err_msg=name)
  # Only the chief's files exist; the default backup folder is gone.
  metrics = json.loads((folder / "out" / "metrics.json").read_text())
  assert metrics["num_workers"] == 2 and metrics["global_batch_size"] == 16
  assert metrics["train_examples_per_second"] > 0
  np.testing.assert_allclose(metrics["train_loss_per_epoch"],
                             np.float64(chief), rtol=1e-4)
  assert sorted(os.listdir(folder / "out")) == [
      "flow", "metrics.json", "samples.png", "saved_model"]
  assert "not the chief" in workers[1]
  assert not [f for f in os.listdir(folder / "tmp")
              if f.startswith("tfp-flows-worker-")]
  # Peers are checked every 2 s; none was reported down at the end.
  assert not [log for log in workers if "check alive failed" in log]


# Two clusters of two workers, one SIGKILLed: `make test-slow` (run by CI),
# to keep `make test` within its 12 minutes.
@pytest.mark.slow
def test_killed_worker_stops_its_peer_and_both_resume_exactly(
    pair, tmp_path, tfds_dir):
  out = tmp_path / "run"
  # Worker 1 dies as step 8 begins (epoch 2, step 4); the last backup is
  # that after step 6.
  procs, logs = _cluster(tmp_path, tfds_dir, "first", out, "--batch-size", "8",
                         *_STEPS, kill_worker1_at=8)
  try:
    assert procs[1].wait(timeout=_TIMEOUT) == -signal.SIGKILL, (
        open(logs[1]).read()[-4000:])
    try:
      code = procs[0].wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
      pytest.fail(f"worker 0 still runs {_STOP_TIMEOUT} s after worker 1 "
                  "died:\n" + open(logs[0]).read()[-4000:])
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  first = open(logs[0]).read()
  assert code == 2, first[-4000:]
  assert "Epoch 2/3" in first and "Epoch 3/3" not in first, first[-4000:]
  # One line says what happened and what to do.
  errors = [line for line in first.splitlines() if "tfp-flows: error" in line]
  assert len(errors) == 1 and errors[0] == first.splitlines()[-1], first
  assert "lost contact with another worker" in errors[0]
  assert f"start every worker again with the same command to resume from " \
      f"the last backup in {out / 'backup'}" in errors[0]

  procs, logs = _cluster(tmp_path, tfds_dir, "again", out, "--batch-size", "8", *_STEPS)
  for log in _finish(procs, logs):
    assert (f"resuming from the backup in {out / 'backup'}: epoch 2/3, step "
            "3/4 (global step 7)") in log, log[-4000:]
    assert re.findall(r"Epoch (\d+)/3", log) == ["2", "3"], log[-4000:]
  # Step 7 redone, on the same batches: the weights of the run never killed.
  straight, resumed = _variables(pair[0] / "out"), _variables(out)
  assert straight.keys() == resumed.keys() and straight
  for name, value in straight.items():
    np.testing.assert_array_equal(resumed[name], value, err_msg=name)
