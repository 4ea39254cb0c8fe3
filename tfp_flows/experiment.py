"""One training run as a library call: a `TrainConfig` in, metrics and files out.

`train(TrainConfig(flow="glow", dataset="digits", out="runs/glow"))` builds
the registry's flow (`flows.registry`, `options` over its digits-sized
defaults), loads the data through TFDS, trains it with `FlowModel.fit`
under a `tf.distribute` strategy, scores the test split in bits/dim beside a
factorised Gaussian, and writes into `out`: `saved_model/` (the SavedModel
with serving signatures), `flow/` (config and weights, `load_flow`),
`samples.png` and `metrics.json`. `tfp-flows train` is this function behind
a command line: its flags are `TrainConfig`'s fields.

```python
from tfp_flows import experiment
metrics = experiment.train(experiment.TrainConfig(
    flow="maf", dataset="digits", out="runs/maf-digits",
    options=dict(num_layers=3, hidden_units=[64, 64]), epochs=4))
print(metrics["test_bits_per_dim"])
```
"""

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
import warnings
from typing import Optional

import tensorflow as tf
import tf_keras

from tfp_flows import applications
from tfp_flows import baselines
from tfp_flows import callbacks as callbacks_lib
from tfp_flows import data
from tfp_flows import dequantization as dequantization_lib
from tfp_flows import distribute
from tfp_flows import evaluation
from tfp_flows import export
from tfp_flows import images
from tfp_flows import saving
from tfp_flows import training
from tfp_flows.flows import build_config
from tfp_flows.flows import registry

__all__ = ["TrainConfig", "default_epochs", "train", "write_samples"]

# digits' training images, which TRAIN_DEFAULTS' epochs pass over.
_DEFAULTS_TRAIN_IMAGES = 1500


@dataclasses.dataclass
class TrainConfig:
  """The settings of one training run (`tfp-flows train`'s flags).

  `epochs`, `learning_rate` and `temperature` left None take the flow's
  `registry.TRAIN_DEFAULTS` (epochs scaled to the dataset, `default_epochs`);
  `options` are builder options over `registry.ARCHITECTURE_DEFAULTS`.
  `seed` seeds the whole run: TensorFlow's and numpy's global streams, the
  data order and noise, and the builder's own `seed` (initial weights,
  permutations, estimator noise) unless `options` set it.
  """
  out: str
  flow: str = "glow"
  dataset: str = "digits"
  options: dict = dataclasses.field(default_factory=dict)
  epochs: Optional[int] = None
  learning_rate: Optional[float] = None
  temperature: Optional[float] = None
  data_dir: Optional[str] = None
  download: bool = False
  batch_size: int = 64
  seed: int = 0
  n_bits: Optional[int] = None
  image_size: Optional[int] = None
  flip: bool = False
  conditional: bool = False
  dequantization: str = "uniform"
  steps_per_epoch: Optional[int] = None
  warmup_steps: Optional[int] = None
  clip_norm: Optional[float] = None
  skip_spikes: Optional[float] = None
  ema: Optional[float] = None
  jit_compile: bool = False
  batch_shards: int = 1
  mixed_precision: str = "float32"
  strategy: str = "default"
  checkpoint_dir: Optional[str] = None
  backup_every_steps: Optional[int] = None
  tensorboard_dir: Optional[str] = None
  sample_every: Optional[int] = None
  num_samples: int = 64
  # The time `seconds_to_first_step` counts from (a command's start).
  started: Optional[float] = None


def default_epochs(flow, steps_per_epoch, batch_size):
  """The epochs of a run that sets none: the flow's digits budget in steps.

  `registry.TRAIN_DEFAULTS` count epochs over digits' 1,500 training
  images, E epochs of ceil(1500 / batch_size) steps. Another dataset gets
  the epochs that take about as many steps, round(E * ceil(1500 /
  batch_size) / steps_per_epoch), at least 1 and at most E: on MNIST (938
  steps of 64) Glow's 150 become 4, so the defaults stay a CPU-sized budget.
  """
  epochs = registry.TRAIN_DEFAULTS[flow]["epochs"]
  digits_steps = -(-_DEFAULTS_TRAIN_IMAGES // batch_size)
  return max(1, min(epochs, round(epochs * digits_steps / steps_per_epoch)))


def _save_freq(config):
  return config.backup_every_steps or "epoch"


# A backup (`checkpoint_dir`) records the run it belongs to in this file:
# resumed under other settings, BackupAndRestore would restore the weights
# into another model (or none of them, without an error) or the data stream
# would replay other batches. The settings that change the model, the data
# or the optimisation; epochs may grow, the outputs may move.
_RESUME_FILE = "run.json"
_RESUME_SETTINGS = ("dataset", "n_bits", "image_size", "flip", "conditional",
                    "dequantization", "learning_rate", "warmup_steps",
                    "clip_norm", "ema", "mixed_precision", "seed",
                    "backup_every_steps")


def _run_record(config, build, global_batch, steps_per_epoch):
  """The settings of this run that a backup must share to be resumed."""
  record = {key: getattr(config, key) for key in _RESUME_SETTINGS}
  record.update(global_batch_size=global_batch, steps_per_epoch=steps_per_epoch,
                flow=build["flow"], build_version=build["version"])
  record.update({f"{build['flow']}.{key}": value
                 for key, value in build["arguments"].items()})
  return json.loads(json.dumps(record))


def _upgraded_record(saved):
  """A run record of an earlier release with its flow's arguments as this
  release records them (`build_config.upgrade`: renamed, and those its
  builder has taken since at their defaults), so the same command resumes
  its backup. A record without "build_version" is of version 0 or 1
  (runs were recorded from version 0 on; upgrading either from 0 is
  right: the one 0 -> 1 change fills in an argument only where absent)."""
  flow = saved.get("flow")
  if (flow not in registry.BUILDERS or
      saved.get("build_version") == build_config.VERSION):
    return saved
  prefix = f"{flow}."
  upgraded = build_config.upgrade(
      {"flow": flow, "version": saved.get("build_version", 0),
       "arguments": {key[len(prefix):]: value for key, value in saved.items()
                     if key.startswith(prefix)}},
      builder=registry.BUILDERS[flow])
  record = {key: value for key, value in saved.items()
            if not key.startswith(prefix)}
  record.update({prefix + key: value
                 for key, value in upgraded["arguments"].items()},
                build_version=build_config.VERSION)
  return json.loads(json.dumps(record))


def _forget_run(checkpoint_dir):
  path = os.path.join(checkpoint_dir, _RESUME_FILE)
  if os.path.exists(path):
    os.remove(path)


def _check_or_record_run(checkpoint_dir, record, resuming, chief):
  """Refuses to resume another run's backup; records a new run's settings.

  Raises:
    ValueError: the backup in `checkpoint_dir` was made by a run with other
      settings (named, with both values).
  """
  path = os.path.join(checkpoint_dir, _RESUME_FILE)
  if resuming:
    if not os.path.exists(path):  # A backup written before runs were recorded.
      return
    with open(path) as f:
      saved = _upgraded_record(json.load(f))
    differences = [f"{key} {saved.get(key)!r} there, {record.get(key)!r} now"
                   for key in sorted(set(saved) | set(record))
                   if saved.get(key) != record.get(key)]
    if differences:
      raise ValueError(
          f"--checkpoint-dir {checkpoint_dir} holds the backup of another "
          f"run ({'; '.join(differences)}): run the same command to resume "
          "it, or give another --checkpoint-dir (or empty this one) to "
          "start afresh.")
  elif chief:
    os.makedirs(checkpoint_dir, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=checkpoint_dir, suffix=".tmp",
                                     delete=False) as f:
      json.dump(record, f, indent=2)
    os.replace(f.name, path)


def _callbacks(config, out, tensorboard_dir, global_batch):
  """(NaNGuard, Throughput, the rest): Keras's own callbacks keep only the
  chief's files themselves; ours write into this worker's `out`."""
  callbacks = [callbacks_lib.NaNGuard(), callbacks_lib.Throughput(global_batch)]
  if config.checkpoint_dir:
    callbacks.append(tf_keras.callbacks.BackupAndRestore(
        config.checkpoint_dir, save_freq=_save_freq(config)))
  if config.tensorboard_dir:
    callbacks.append(tf_keras.callbacks.TensorBoard(config.tensorboard_dir))
  if config.sample_every or config.tensorboard_dir:
    callbacks.append(callbacks_lib.SampleGrid(
        os.path.join(out, "samples") if config.sample_every else None,
        num_samples=config.num_samples, temperature=config.temperature,
        every=config.sample_every or 1, log_dir=tensorboard_dir))
  return callbacks


def write_samples(dist, num_classes, n, temperature, seed, path, shape,
                  label=None):
  """Writes a PNG grid of n samples of `dist`; returns its path.

  A class-conditional flow (`num_classes`) gets one row per class, ceil(n /
  C) samples each; with `label`, n samples of that class.
  """
  cols, context = None, None
  if num_classes:
    if label is not None:
      labels = [label] * n
    else:
      cols = max(1, -(-n // num_classes))
      labels = [c for c in range(num_classes) for _ in range(cols)]
      n = len(labels)
    context = tf.one_hot(labels, num_classes, dtype=dist.dtype)
  samples = applications.sample(dist, n, temperature, seed=seed,
                                context=context)
  return images.save_image_grid(samples.numpy(), path, num_cols=cols,
                                zoom=images.zoom_for(shape))


def train(config):
  """Runs one training run; returns the metrics it writes to metrics.json.

  Under the "multi-worker" strategy every worker runs all of it (saving
  takes part in collective ops); only the chief's files are kept.

  Raises:
    ValueError: a setting that does not fit (unknown flow, dataset or
      builder option, a conditional run on a dataset without labels, a
      backup of another run in `checkpoint_dir`).
  """
  config = dataclasses.replace(config, options=dict(config.options))
  if config.started is None:
    config.started = time.time()
  if config.flow not in registry.BUILDERS:
    raise ValueError(f"Unknown flow {config.flow!r}; known: "
                     f"{sorted(registry.BUILDERS)}.")
  if config.batch_shards > 1:
    try:
      training.set_shard_threads(config.batch_shards)
    except RuntimeError as e:  # TensorFlow already runs (a Python caller).
      warnings.warn(f"{e} The shards still run, perhaps no faster.")
  # Before any other TensorFlow call: multi-worker collectives are set up at
  # startup.
  strategy = distribute.strategy(config.strategy)
  default_backup = None
  if config.strategy == "multi-worker" and not config.checkpoint_dir:
    # A lost worker stops them all; the restarted run resumes from here.
    config.checkpoint_dir = default_backup = os.path.join(config.out,
                                                          "backup")
  with contextlib.ExitStack() as stack:
    out = stack.enter_context(distribute.write_dir(config.out, strategy))
    tensorboard_dir = config.tensorboard_dir and stack.enter_context(
        distribute.write_dir(config.tensorboard_dir, strategy))
    try:
      metrics = _train(config, strategy, out, tensorboard_dir)
    except tf.errors.UnavailableError as e:
      if config.strategy != "multi-worker":
        raise
      raise RuntimeError(
          f"lost contact with another worker ({type(e).__name__}; "
          "TensorFlow's log shows details with --verbose); start every "
          "worker again with the same command to resume from the last "
          f"backup in {config.checkpoint_dir}") from None
  # BackupAndRestore empties its folder when training completes.
  if (default_backup and distribute.is_chief(strategy) and
      os.path.isdir(default_backup) and not os.listdir(default_backup)):
    os.rmdir(default_backup)
  return metrics


def _train(config, strategy, out, tensorboard_dir):
  for key, value in registry.TRAIN_DEFAULTS[config.flow].items():
    # epochs depend on the dataset's size: set once it is loaded.
    if key != "epochs" and getattr(config, key) is None:
      setattr(config, key, value)
  options = config.options
  tf_keras.utils.set_random_seed(config.seed)
  tf_keras.mixed_precision.set_global_policy(config.mixed_precision)
  shape = data.image_shape(config.dataset, config.image_size)
  levels = data.levels(config.dataset, config.n_bits)
  num_classes = None
  if config.conditional:
    num_classes = data.spec(config.dataset).num_classes
    if num_classes is None:
      raise ValueError(f"--conditional needs class labels; dataset "
                       f"{config.dataset!r} has none.")
    options["context_shape"] = [num_classes]
  global_batch = distribute.global_batch_size(config.batch_size, strategy)
  load = dict(batch_size=global_batch, data_dir=config.data_dir,
              download=config.download, n_bits=config.n_bits,
              image_size=config.image_size, with_labels=config.conditional)
  train_ds = data.load(config.dataset, "train", seed=config.seed,
                       flip=config.flip, **load)
  test_ds = data.load(config.dataset, "test", seed=config.seed + 1, **load)
  # Training reads a stream of passes over the data, each a function of
  # (seed, pass) only, so that a resumed run starts it where the backup
  # left off: it sees exactly the batches of an uninterrupted run.
  steps_per_epoch = config.steps_per_epoch or int(train_ds.cardinality())
  if config.epochs is None:
    config.epochs = default_epochs(config.flow, steps_per_epoch, global_batch)
  start_step = 0
  if config.checkpoint_dir:
    epoch, step = training.resume_position(
        config.checkpoint_dir, steps_per_epoch, _save_freq(config))
    start_step = epoch * steps_per_epoch + step
    if start_step and epoch < config.epochs:
      print(f"resuming from the backup in {config.checkpoint_dir}: epoch "
            f"{epoch + 1}/{config.epochs}, step {step + 1}/{steps_per_epoch} "
            f"(global step {start_step + 1})", flush=True)
  # A variational dequantizer draws its own noise: it trains on bin centres.
  variational = config.dequantization == "variational"
  fit_ds = data.load(
      config.dataset, "train", seed=config.seed, flip=config.flip,
      dequantize=not variational, repeat=True, start_step=start_step, **load)

  with strategy.scope():
    # The run's seed also draws the initial weights of builders that take
    # their own (bnaf, the residual flows): else every seed starts alike.
    dist = registry.build(config.flow, shape,
                          **{"seed": config.seed, **options})
    dequantizer = None
    if variational:
      dequantizer = dequantization_lib.VariationalDequantizer(
          shape, context_shape=options.get("context_shape"))
    model = training.FlowModel(dist, num_levels=levels,
                               dequantizer=dequantizer,
                               num_classes=num_classes,
                               batch_shards=config.batch_shards)
    rate = config.learning_rate
    if config.warmup_steps:
      rate = callbacks_lib.LinearWarmup(rate, config.warmup_steps)
    optimizer = tf_keras.optimizers.Adam(
        rate, global_clipnorm=config.clip_norm,
        use_ema=config.ema is not None,
        ema_momentum=config.ema if config.ema is not None else 0.99)
    model.compile(optimizer=optimizer, jit_compile=config.jit_compile,
                  skip_spikes=config.skip_spikes)
  if config.checkpoint_dir:
    _check_or_record_run(
        config.checkpoint_dir,
        _run_record(config, build_config.build_config(dist), global_batch,
                    steps_per_epoch),
        resuming=bool(start_step), chief=distribute.is_chief(strategy))
  start = time.time()
  callbacks = _callbacks(config, out, tensorboard_dir, global_batch)
  history = model.fit(
      distribute.shard_by_data(fit_ds), epochs=config.epochs,
      steps_per_epoch=steps_per_epoch, callbacks=callbacks,
      verbose=1 if sys.stdout.isatty() else 2)
  train_seconds = time.time() - start
  if config.checkpoint_dir and distribute.is_chief(strategy):
    # BackupAndRestore deleted its backup as `fit` ended; so goes its record.
    _forget_run(config.checkpoint_dir)

  if variational:
    test_bpd = evaluation.importance_weighted_bits_per_dim(
        model, data.load(config.dataset, "test", dequantize=False, **load),
        num_samples=16, seed=config.seed)
  else:
    test_bpd = evaluation.evaluate_bits_per_dim(dist, test_ds, levels,
                                                num_classes)
  baseline = baselines.factorized_gaussian(train_ds)
  baseline_bpd = evaluation.evaluate_bits_per_dim(baseline, test_ds, levels)

  served = export.export_saved_model(model, os.path.join(out, "saved_model"))
  saving.save_flow(dist, os.path.join(out, "flow"), dataset=config.dataset,
                   num_levels=levels, num_classes=num_classes,
                   n_bits=config.n_bits, image_size=config.image_size)
  # The last step every worker takes part in: what is left is this worker's.
  distribute.stop_peer_checks(strategy)
  png = write_samples(dist, num_classes, config.num_samples,
                      config.temperature, None,
                      os.path.join(out, "samples.png"), shape)
  guard, throughput = callbacks[:2]
  examples_per_second = throughput.examples_per_second

  def since_start(wall_time):
    return None if wall_time is None else round(wall_time - config.started, 2)

  metrics = {
      "flow": config.flow,
      "dataset": config.dataset,
      "epochs": config.epochs,
      "stopped_early_at": guard.stopped_at,
      # Steps `--skip-spikes` skipped (the metric counts per epoch).
      "skipped_steps": (int(sum(history.history["skipped_steps"]))
                        if "skipped_steps" in history.history else None),
      # The dequantizer's included: it takes part in the bound.
      "num_parameters": int(sum(v.shape.num_elements()
                                for v in model.trainable_variables)),
      "num_workers": distribute.num_workers(strategy),
      "global_batch_size": global_batch,
      "train_seconds": round(train_seconds, 1),
      "train_examples_per_second": (examples_per_second and
                                    round(examples_per_second, 1)),
      # From the run's start (`started`: TensorFlow's import, data,
      # building, tracing and compiling) and from `fit`'s, to the first
      # step's end.
      "seconds_to_first_step": since_start(throughput.first_step_end),
      "first_step_seconds": throughput.first_step_seconds and round(
          throughput.first_step_seconds, 2),
      # Epochs run by this call (after any resumed from a backup).
      "train_loss_per_epoch": [float(v) for v in
                               history.history.get("loss", [])],
      "test_bits_per_dim": round(test_bpd, 4),
      "gaussian_baseline_test_bits_per_dim": round(baseline_bpd, 4),
      "options": {k: v for k, v in dataclasses.asdict(config).items()
                  if k != "started"},
  }
  with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=2)
  print(f"test bits/dim: {test_bpd:.4f}  ({config.flow} on {config.dataset}, "
        f"{metrics['num_parameters']} parameters, {train_seconds:.0f} s)")
  print(f"factorised Gaussian baseline test bits/dim: {baseline_bpd:.4f}")
  if metrics["skipped_steps"]:
    print(f"skipped {metrics['skipped_steps']} steps whose loss lay more than "
          f"{config.skip_spikes} bits/dim above the recent average")
  if throughput.first_step_end is not None:
    print(f"first training step done {metrics['seconds_to_first_step']:.1f} "
          f"s after the command started ("
          f"{metrics['first_step_seconds']:.1f} s of it in `fit`: tracing, "
          "compiling and running the step)")
  if distribute.is_chief(strategy):
    print(f"SavedModel: {served}")
    print(f"samples: {png}")
  else:
    print("not the chief: its files were written to a temporary folder, "
          "now removed")
  return metrics
