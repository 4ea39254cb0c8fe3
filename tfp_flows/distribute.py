"""Distribution strategies for training flows on one or many machines.

`strategy(name)` makes the `tf.distribute` strategy `fit` runs under:

* ``"default"``: the current (single-device) strategy;
* ``"mirrored"``: `MirroredStrategy`, all local GPUs (or the CPU);
* ``"multi-worker"``: `MultiWorkerMirroredStrategy`, one process per host,
  the cluster read from the ``TF_CONFIG`` environment variable, e.g. on
  host 1 of 2::

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": 1}}'

  Every worker runs the same program; worker 0 (or the task of type
  ``"chief"``, if the cluster has one) is the chief. Make the strategy before
  any other TensorFlow call: collective ops are configured at startup.

A multi-worker strategy checks every `PEER_CHECK_SECONDS` (2 s) that its
peers are alive; when one is not, the collectives are aborted and a worker
waiting for it raises `tf.errors.UnavailableError` (which `tfp-flows train`
turns into one line saying to restart every worker).

Under a multi-worker strategy every worker takes part in every collective
step, including saving (which may read synchronised variables), so every
worker saves, and only the chief's files are kept: `write_dir` gives the
other workers a temporary folder instead of the real one, which they remove
when done.
"""

import contextlib
import json
import os
import shutil
import tempfile

import tensorflow as tf

__all__ = ["PEER_CHECK_SECONDS", "check_tf_config", "global_batch_size",
           "is_chief", "num_workers", "shard_by_data", "stop_peer_checks",
           "strategy", "write_dir"]

# Task types MultiWorkerMirroredStrategy trains with.
_TRAINING_TASKS = ("chief", "worker")


def _error(message):
  return ValueError(f"TF_CONFIG: {message}")


def check_tf_config(text=None):
  """Parses and checks a TF_CONFIG for multi-worker training.

  Args:
    text: the JSON text; None reads the ``TF_CONFIG`` environment variable.

  Returns:
    The parsed dict, with ``cluster`` (task type -> list of "host:port") and
    ``task`` (``type`` and ``index``).

  Raises:
    ValueError: unset, not JSON, or not a cluster this process can join
      (unknown task type, index out of range, malformed address); the
      one-line message starts with ``TF_CONFIG:``.
  """
  if text is None:
    text = os.environ.get("TF_CONFIG")
  if not text:
    raise _error(
        "not set; multi-worker training reads the cluster from it, e.g. "
        '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
        '"task": {"type": "worker", "index": 0}}')
  try:
    config = json.loads(text)
  except json.JSONDecodeError as e:
    raise _error(f"not valid JSON ({e.msg} at character {e.pos})") from None
  if not isinstance(config, dict):
    raise _error(f"expected a JSON object, got {type(config).__name__}")
  cluster, task = config.get("cluster"), config.get("task")
  if not isinstance(cluster, dict) or not cluster:
    raise _error('needs "cluster": {"worker": ["host:port", ...]}')
  for kind, addresses in cluster.items():
    if not isinstance(addresses, list) or not addresses:
      raise _error(f'cluster["{kind}"] must be a non-empty list of '
                   f'"host:port", got {addresses!r}')
    for address in addresses:
      host, _, port = str(address).rpartition(":")
      if not host or not port.isdigit():
        raise _error(f'cluster["{kind}"] address {address!r} is not '
                     '"host:port"')
  if not isinstance(task, dict) or "type" not in task or "index" not in task:
    raise _error('needs "task": {"type": "worker", "index": N}')
  kind, index = task["type"], task["index"]
  if kind not in _TRAINING_TASKS:
    raise _error(f"task type {kind!r} does not train; expected one of "
                 f"{list(_TRAINING_TASKS)}")
  if kind not in cluster:
    raise _error(f"task type {kind!r} is not in the cluster "
                 f"({sorted(cluster)})")
  size = len(cluster[kind])
  if isinstance(index, bool) or not isinstance(index, int) or not (
      0 <= index < size):
    raise _error(f"task index {index!r} is out of range for {kind!r} "
                 f"({size} listed: 0..{size - 1})")
  return config


def strategy(name="default"):
  """The `tf.distribute.Strategy` called `name` (see the module docstring).

  ``"multi-worker"`` checks ``TF_CONFIG`` first (see `check_tf_config`) and
  must run before any other TensorFlow call of the process.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi-worker":
    check_tf_config()
    _check_peers_every(PEER_CHECK_SECONDS)
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(f"Unknown strategy {name!r}; expected 'default', "
                   "'mirrored' or 'multi-worker'.")


# How often a multi-worker strategy checks that every peer is alive. When one
# is not, it aborts the collective ops, so that a worker waiting for a dead
# peer raises `tf.errors.UnavailableError` instead of waiting for ever.
# TensorFlow's default is every 30 s.
PEER_CHECK_SECONDS = 2


def _check_peers_every(seconds):
  """Sets MultiWorkerMirroredStrategy's peer health-check interval.

  TensorFlow keeps it in a class attribute of the strategy's internals (its
  own tests set it the same way); read when a strategy starts its checking
  thread and before each check. Without that attribute this does nothing.
  """
  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  from tensorflow.python.distribute import collective_all_reduce_strategy
  extended = getattr(collective_all_reduce_strategy,
                     "CollectiveAllReduceExtended", None)
  if extended is not None and hasattr(extended, "_check_health_interval"):
    extended._check_health_interval = seconds  # pylint: disable=protected-access


def stop_peer_checks(strat):
  """Stops `strat`'s peer health checks once its collectives are done.

  Workers finish at slightly different times; a peer that has already exited
  would otherwise be reported down (in TensorFlow's log) by one still
  writing its files. The checking thread ends at its next wake-up.
  """
  stop = getattr(getattr(strat, "extended", None),
                 "_check_health_thread_should_stop", None)
  if stop is not None:
    stop.set()


def _task(strat):
  resolver = getattr(strat, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return None, None, {}
  return (resolver.task_type, resolver.task_id,
          resolver.cluster_spec().as_dict())


def num_workers(strat):
  """Number of training processes (1 unless `strat` is multi-worker)."""
  _, _, cluster = _task(strat)
  return sum(len(cluster.get(kind, ())) for kind in _TRAINING_TASKS) or 1


def is_chief(strat):
  """Whether this process writes the run's files (always, for one worker)."""
  kind, index, cluster = _task(strat)
  if kind is None:
    return True
  if "chief" in cluster:
    return kind == "chief"
  return kind == "worker" and index == 0


def global_batch_size(per_worker, strat):
  """Global batch of one step: `per_worker` examples from every worker."""
  return per_worker * num_workers(strat)


def shard_by_data(dataset):
  """`dataset` set to be split across workers batch by batch.

  Each worker builds the same pipeline (same seed, so same order and noise)
  and keeps its slice of every global batch: the steps see exactly the
  batches of a single-process run. Sharding by file would need at least one
  file per worker and change the batches.
  """
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = (
      tf.data.experimental.AutoShardPolicy.DATA)
  return dataset.with_options(options)


@contextlib.contextmanager
def write_dir(path, strat):
  """Yields where this process writes `path`'s files.

  The chief gets `path` itself; any other worker a fresh temporary folder,
  removed on exit, so that it can run the same saving code (which takes part
  in collective ops) without clobbering the chief's files.
  """
  if is_chief(strat):
    yield path
    return
  temp = tempfile.mkdtemp(prefix="tfp-flows-worker-")
  try:
    yield os.path.join(temp, os.path.basename(os.path.normpath(path)) or "out")
  finally:
    shutil.rmtree(temp, ignore_errors=True)
