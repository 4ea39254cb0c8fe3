"""The `tfp-flows` command line: a thin layer over the Python API.

  tfp-flows train --flow glow --dataset digits --out saved_models/glow-digits
  tfp-flows evaluate --model saved_models/glow-digits
  tfp-flows sample --model saved_models/glow-digits --temperature 0.7 --out grid.png
  tfp-flows export --model saved_models/glow-digits --out /tmp/serving
  tfp-flows interpolate | inpaint | manipulate --model ... --out x.png
  tfp-flows data prepare mnist --from DIR   # no network: from local files

`train` writes into --out: `saved_model/` (the SavedModel with serving
signatures), `flow/` (config and weights, which the other commands rebuild
the flow from), `samples.png`, `metrics.json` and, with --sample-every,
`samples/epoch_NNNN.png`. User errors (unknown dataset, bad values, bad
flags) print one line, `tfp-flows: error: ...`, and exit with status 2; no
traceback. TensorFlow's own start-up log lines are hidden unless --verbose.
"""

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time

# tfp_flows.distribute.strategy's names; importing it would make `--help`
# wait for TensorFlow.
STRATEGIES = ("default", "mirrored", "multi-worker")

__all__ = ["main", "FLOWS", "TRAIN_DEFAULTS", "default_epochs"]

# The command's start, for the time to its first training step (importing
# TensorFlow included).
_STARTED = time.time()

# Training settings per flow, tuned on the offline digits data; the README's
# table comes from them. Architecture defaults live in flows/registry.py.
TRAIN_DEFAULTS = {
    "nice": dict(epochs=250, learning_rate=1e-3, temperature=1.0),
    "realnvp": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
    # Glow's samples are shown at T = 0.7 in the paper.
    "glow": dict(epochs=150, learning_rate=2e-3, temperature=0.7),
    "flowpp": dict(epochs=150, learning_rate=2e-3, temperature=1.0),
    "maf": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
    # IAF's density, hence its training step, takes D = 64 passes per layer;
    # FFJORD's an ODE solve: fewer epochs.
    "iaf": dict(epochs=20, learning_rate=1e-3, temperature=1.0),
    "ffjord": dict(epochs=20, learning_rate=1e-3, temperature=1.0),
    "coupling_flow": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
    "nsf": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
}
# digits' training images, which TRAIN_DEFAULTS' epochs pass over.
_DEFAULTS_TRAIN_IMAGES = 1500
# The names of tfp_flows.flows.registry.BUILDERS (tested); importing it would
# make `--help` wait for TensorFlow.
FLOWS = tuple(TRAIN_DEFAULTS)
# Architecture flags: builder option name -> argparse keyword arguments.
_ARCHITECTURE_FLAGS = {
    "num_coupling_layers": dict(type="int", help="NICE: additive couplings"),
    "hidden_units": dict(type="ints", help="NICE, MAF, IAF, FFJORD, NSF, "
                         "coupling_flow: MLP hidden sizes, comma-separated"),
    "num_layers": dict(type="int", help="MAF, IAF, NSF, coupling_flow: "
                       "layers"),
    "num_bins": dict(type="int", help="NSF: spline bins"),
    "autoregressive": dict(action="store_true", help="NSF: autoregressive "
                           "spline layers (MADE) instead of couplings"),
    "prior": dict(choices=("logistic", "gaussian"), help="NICE: base"),
    "num_scales": dict(type="int", help="RealNVP, Glow, Flow++: scales L "
                       "(squeeze levels)"),
    "num_blocks": dict(type="int", help="RealNVP, Flow++: blocks per net"),
    "hidden_channels": dict(type="int", help="RealNVP, Glow: conditioner "
                            "width"),
    "depth": dict(type="int", help="Glow: steps K per level"),
    "coupling": dict(choices=("affine", "additive", "spline"),
                     help="Glow (affine, additive, spline), coupling_flow "
                     "(affine, additive): coupling"),
    "lu_decomposed": dict(action="store_true", help="Glow: LU 1x1 convs"),
    "filters": dict(type="int", help="Flow++: conditioner width"),
    "num_components": dict(type="int", help="Flow++: logistic mixture "
                           "components per coupling"),
}
_INPAINT_MASKS = ("bottom", "top", "left", "right", "random")


def _int_list(text):
  try:
    values = [int(v) for v in text.split(",") if v.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"expected comma-separated integers, got {text!r}") from None
  if not values or min(values) < 1:
    raise argparse.ArgumentTypeError(
        f"expected positive integers, got {text!r}")
  return values


def _float_list(text):
  try:
    values = [_non_negative_float(v) for v in text.split(",") if v.strip()]
  except argparse.ArgumentTypeError:
    raise argparse.ArgumentTypeError(
        f"expected comma-separated numbers >= 0, got {text!r}") from None
  if not values:
    raise argparse.ArgumentTypeError(f"expected numbers, got {text!r}")
  return values


def _positive_int(text):
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") \
        from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
  return value


def _non_negative_float(text):
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") \
        from None
  if not value >= 0 or value == float("inf"):
    raise argparse.ArgumentTypeError(
        f"expected a finite number >= 0, got {text}")
  return value


_TYPES = {"int": _positive_int, "ints": _int_list}


def _one_line(text):
  return " ".join(str(text).split())


class _Parser(argparse.ArgumentParser):
  """Reports a bad command line in one line, as the other user errors."""

  def error(self, message, prog=None):
    self.exit(2, f"tfp-flows: error: {_one_line(message)} "
              f"(see {prog or self.prog} --help)\n")

  def parse_args(self, args=None, namespace=None):
    # argparse reports unknown flags with the top-level parser: point to the
    # command's --help instead.
    args, extras = self.parse_known_args(args, namespace)
    if extras:
      command = getattr(args, "command", None)
      self.error(f"unrecognized arguments: {' '.join(extras)}",
                 prog=f"{self.prog} {command}" if command else None)
    return args


def _add_verbose_flag(p, default):
  p.add_argument("--verbose", action="store_true", default=default,
                 help="show TensorFlow's own C++ log lines: start-up notices "
                 "(such as 'failed call to cuInit' without a GPU) and what "
                 "it logs besides raising errors (hidden by default)")


def _add_data_flags(p, dataset_default="digits"):
  p.add_argument("--dataset", default=dataset_default,
                 help="'digits' (offline) or a TFDS image dataset such as "
                 "mnist, fashion_mnist, cifar10, celeb_a, "
                 "downsampled_imagenet/32x32")
  p.add_argument("--data-dir", default=None,
                 help="TFDS data directory (default: $TFDS_DATA_DIR or "
                 "~/tensorflow_datasets)")
  p.add_argument("--download", action="store_true",
                 help="let TFDS download a catalog dataset (needs a network)")
  p.add_argument("--batch-size", type=_positive_int, default=64)
  p.add_argument("--seed", type=int, default=0)


def _add_model_flag(p):
  p.add_argument("--model", required=True,
                 help="folder written by `tfp-flows train --out`")


def build_parser():
  parser = _Parser(
      prog="tfp-flows",
      description="Train, evaluate, sample and export normalizing flows "
      "built on TensorFlow Probability.")
  _add_verbose_flag(parser, default=False)
  sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                              required=True)

  train = sub.add_parser(
      "train", help="train a flow, report test bits/dim, export it",
      description="Train a flow with tf_keras model.fit, print test bits/dim "
      "next to a factorised Gaussian baseline, and write into --out "
      "saved_model/ (SavedModel), flow/ (config and weights), samples.png "
      "and metrics.json.")
  train.add_argument("--flow", choices=FLOWS, default="glow",
                     help="flow family (default: glow)")
  _add_data_flags(train)
  train.add_argument("--n-bits", type=_positive_int, default=None,
                     help="keep the n most significant pixel bits (Glow's "
                     "5-bit CelebA)")
  train.add_argument("--image-size", type=_positive_int, default=None,
                     help="centre-crop and resize images to this side")
  train.add_argument("--flip", action="store_true",
                     help="random horizontal flips")
  train.add_argument("--conditional", action="store_true",
                     help="class-conditional flow p(x | class): the "
                     "dataset's labels, one-hot, are the context of every "
                     "conditioner and of the prior")
  train.add_argument("--dequantization", choices=("uniform", "variational"),
                     default="uniform",
                     help="uniform noise, or a variational dequantizer "
                     "trained with the flow (Flow++); its test bits/dim are "
                     "the 16-sample importance-weighted bound (default: "
                     "uniform)")
  for key in ("epochs", "learning_rate", "temperature"):
    defaults = ", ".join(f"{f}={TRAIN_DEFAULTS[f][key]}" for f in FLOWS)
    kind = _positive_int if key == "epochs" else _non_negative_float
    train.add_argument("--" + key.replace("_", "-"), type=kind, default=None,
                       help=f"default per flow: {defaults}" + {
                           "temperature": " (temperature of samples.png)",
                           "epochs": " (for digits' 1,500 training images; "
                                     "a larger dataset gets the epochs of "
                                     "about as many steps, at least 1: "
                                     "on MNIST 4 for 150)",
                       }.get(key, ""))
  for option, spec in _ARCHITECTURE_FLAGS.items():
    kw = dict(spec)
    if "type" in kw:
      kw["type"] = _TYPES[kw["type"]]
    kw["help"] += " (default: see tfp_flows.flows.registry)"
    train.add_argument("--" + option.replace("_", "-"),
                       default=None, **kw)
  train.add_argument("--steps-per-epoch", type=_positive_int, default=None,
                     help="epochs of this many steps over the repeated "
                     "training data (default: one pass per epoch)")
  train.add_argument("--warmup-steps", type=_positive_int, default=None,
                     help="linear learning-rate warm-up steps")
  train.add_argument("--clip-norm", type=_non_negative_float, default=None,
                     help="clip gradients to this global norm")
  train.add_argument("--ema", type=_non_negative_float, default=None,
                     help="EMA momentum of the weights (e.g. 0.999), used "
                     "for evaluation and export")
  train.add_argument("--jit-compile", action="store_true",
                     help="compile the training step with XLA")
  train.add_argument("--mixed-precision",
                     choices=("float32", "mixed_float16", "mixed_bfloat16"),
                     default="float32",
                     help="Keras dtype policy of the networks (log-dets and "
                     "loss stay float32)")
  train.add_argument("--strategy", choices=STRATEGIES, default="default",
                     help="tf.distribute strategy: mirrored = all local GPUs "
                     "(or the CPU); multi-worker = one process per host, "
                     "cluster from $TF_CONFIG, same command on every host; "
                     "--batch-size is per worker")
  train.add_argument("--checkpoint-dir", default=None,
                     help="back up every epoch here and resume from it when "
                     "the same command runs again, on the very batches an "
                     "uninterrupted run would see (multi-worker default: "
                     "OUT/backup)")
  train.add_argument("--backup-every-steps", type=_positive_int,
                     default=None,
                     help="with --checkpoint-dir (multi-worker: its default): "
                     "back up every N steps instead of every epoch, so "
                     "that a resumed run redoes fewer steps (each backup "
                     "writes a checkpoint)")
  train.add_argument("--tensorboard-dir", default=None,
                     help="TensorBoard scalars and sample images")
  train.add_argument("--sample-every", type=_positive_int, default=None,
                     help="write a sample grid every N epochs into "
                     "--out/samples/")
  train.add_argument("--num-samples", type=_positive_int, default=64,
                     help="images in samples.png")
  train.add_argument("--out", required=True, help="output folder")

  evaluate = sub.add_parser(
      "evaluate", help="test NLL and bits/dim of a trained flow",
      description="Rebuild a trained flow and report its NLL (nats) and "
      "bits/dim on a split, with uniform dequantization.")
  _add_model_flag(evaluate)
  _add_data_flags(evaluate, dataset_default=None)
  evaluate.add_argument("--split", default="test")

  sample = sub.add_parser(
      "sample", help="write a PNG grid of samples",
      description="Sample a trained flow at a temperature, or a grid of "
      "temperatures (rows: latents, columns: temperatures).")
  _add_model_flag(sample)
  sample.add_argument("--n", type=_positive_int, default=64)
  sample.add_argument("--temperature", type=_non_negative_float,
                      default=1.0)
  sample.add_argument("--temperatures", type=_float_list, default=None,
                      help="comma-separated; draws a temperature grid "
                      "(e.g. 0,0.5,0.7,0.85,1) instead")
  sample.add_argument("--seed", type=int, default=0)
  sample.add_argument("--class", dest="label", type=int, default=None,
                      help="class-conditional flows: sample this class "
                      "(default: one row per class)")
  sample.add_argument("--out", required=True, help="PNG path")

  export = sub.add_parser(
      "export", help="write a SavedModel of a trained flow",
      description="Rebuild a trained flow and export it as a SavedModel "
      "with log_prob, sample, encode and decode signatures.")
  _add_model_flag(export)
  export.add_argument("--out", required=True, help="SavedModel folder")

  interpolate = sub.add_parser(
      "interpolate", help="latent interpolation between test images",
      description="Decode straight lines between the latents of pairs of "
      "test images (one row per pair).")
  _add_model_flag(interpolate)
  _add_data_flags(interpolate, dataset_default=None)
  interpolate.add_argument("--pairs", type=_positive_int, default=6)
  interpolate.add_argument("--steps", type=_positive_int, default=8)
  interpolate.add_argument("--out", required=True, help="PNG path")

  inpaint = sub.add_parser(
      "inpaint", help="fill masked pixels by MAP (NICE)",
      description="Mask part of test images and fill it by projected "
      "gradient ascent on log p(x); rows: masked, inpainted, original.")
  _add_model_flag(inpaint)
  _add_data_flags(inpaint, dataset_default=None)
  inpaint.add_argument("--mask", choices=_INPAINT_MASKS, default="bottom")
  inpaint.add_argument("--count", type=_positive_int, default=8)
  inpaint.add_argument("--steps", type=_positive_int, default=300)
  inpaint.add_argument("--out", required=True, help="PNG path")

  manipulate = sub.add_parser(
      "manipulate", help="move test images along a class direction (Glow)",
      description="Take the latent direction from the mean of class "
      "--from-class to the mean of class --to-class (training images) and "
      "decode test images of --from-class moved along it.")
  _add_model_flag(manipulate)
  _add_data_flags(manipulate, dataset_default=None)
  manipulate.add_argument("--from-class", type=int, default=1)
  manipulate.add_argument("--to-class", type=int, default=7)
  manipulate.add_argument("--count", type=_positive_int, default=6)
  manipulate.add_argument("--scales", type=_float_list,
                          default=[0., 0.25, 0.5, 0.75, 1.])
  manipulate.add_argument("--out", required=True, help="PNG path")

  data_parser = sub.add_parser(
      "data", help="prepare a TFDS dataset from local files",
      description="`data prepare` builds a TFDS dataset from local copies "
      "of its download files, for machines that cannot reach the dataset's "
      "own hosts (with a network, --download lets TFDS fetch it).")
  data_sub = data_parser.add_subparsers(dest="data_command",
                                        metavar="SUBCOMMAND", required=True)
  prepare = data_sub.add_parser(
      "prepare", help="prepare a TFDS dataset from copies of its files",
      description="Check each download file of a TFDS dataset in --from "
      "against the size and sha256 that TFDS records for it, then have TFDS "
      "prepare the dataset from them, as after a download.")
  prepare.add_argument("name", metavar="DATASET",
                       help="TFDS dataset, e.g. mnist, fashion_mnist")
  prepare.add_argument("--from", dest="source_dir", metavar="DIR",
                       required=True,
                       help="folder holding the dataset's download files "
                       "under their own names (mnist: "
                       "train-images-idx3-ubyte.gz and three more)")
  prepare.add_argument("--data-dir", default=None,
                       help="TFDS data directory (default: $TFDS_DATA_DIR or "
                       "~/tensorflow_datasets)")
  _add_verbose_flag(prepare, default=argparse.SUPPRESS)
  # Also after the command; SUPPRESS keeps one given before it.
  for command in sub.choices.values():
    _add_verbose_flag(command, default=argparse.SUPPRESS)
  return parser


def _architecture(args):
  return {k: getattr(args, k) for k in _ARCHITECTURE_FLAGS
          if getattr(args, k) not in (None, False)}


def _zoom(shape):
  return max(1, 64 // shape[0])


def default_epochs(flow, steps_per_epoch, batch_size):
  """`--epochs` when not given: the flow's digits budget, in training steps.

  TRAIN_DEFAULTS count epochs over digits' 1,500 training images, E epochs
  of ceil(1500 / batch_size) steps. Another dataset gets the epochs that
  take about as many steps, round(E * ceil(1500 / batch_size) /
  steps_per_epoch), at least 1 and at most E: on MNIST (938 steps of 64)
  Glow's 150 become 4, so the defaults stay a CPU-sized budget.
  """
  epochs = TRAIN_DEFAULTS[flow]["epochs"]
  digits_steps = -(-_DEFAULTS_TRAIN_IMAGES // batch_size)
  return max(1, min(epochs, round(epochs * digits_steps / steps_per_epoch)))


def _save_freq(args):
  return args.backup_every_steps or "epoch"


# A backup (`--checkpoint-dir`) records the run it belongs to in this file:
# resumed under other settings, BackupAndRestore would restore the weights
# into another model (or none of them, without an error) or the data stream
# would replay other batches. The settings that change the model, the data
# or the optimisation; --epochs may grow, the outputs may move.
_RESUME_FILE = "run.json"
_RESUME_SETTINGS = ("dataset", "n_bits", "image_size", "flip", "conditional",
                    "dequantization", "learning_rate", "warmup_steps",
                    "clip_norm", "ema", "mixed_precision", "seed",
                    "backup_every_steps")


def _run_record(args, build, global_batch, steps_per_epoch):
  """The settings of this run that a backup must share to be resumed."""
  record = {key: getattr(args, key) for key in _RESUME_SETTINGS}
  record.update(global_batch_size=global_batch, steps_per_epoch=steps_per_epoch,
                flow=build["flow"])
  record.update({f"{build['flow']}.{key}": value
                 for key, value in build["arguments"].items()})
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
      saved = json.load(f)
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


def _callbacks(args, out, tensorboard_dir, global_batch, tfp_flows, tf_keras):
  """(NaNGuard, Throughput, the rest): Keras's own callbacks keep only the
  chief's files themselves; ours write into this worker's `out`."""
  callbacks = [tfp_flows.NaNGuard(), tfp_flows.Throughput(global_batch)]
  if args.checkpoint_dir:
    callbacks.append(tf_keras.callbacks.BackupAndRestore(
        args.checkpoint_dir, save_freq=_save_freq(args)))
  if args.tensorboard_dir:
    callbacks.append(tf_keras.callbacks.TensorBoard(args.tensorboard_dir))
  if args.sample_every or args.tensorboard_dir:
    callbacks.append(tfp_flows.SampleGrid(
        os.path.join(out, "samples") if args.sample_every else None,
        num_samples=args.num_samples, temperature=args.temperature,
        every=args.sample_every or 1, log_dir=tensorboard_dir))
  return callbacks


def train(args):
  """Runs `tfp-flows train`; returns the metrics dict it writes.

  Under ``--strategy multi-worker`` every worker runs all of it (saving
  takes part in collective ops); only the chief's files are kept.
  """
  # Imported here so that `--help` and argument errors answer at once.
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tf_keras  # pylint: disable=import-outside-toplevel
  import tfp_flows  # pylint: disable=import-outside-toplevel
  distribute = tfp_flows.distribute

  # Before any other TensorFlow call: multi-worker collectives are set up at
  # startup.
  strategy = distribute.strategy(args.strategy)
  default_backup = None
  if args.strategy == "multi-worker" and not args.checkpoint_dir:
    # A lost worker stops them all; the restarted run resumes from here.
    args.checkpoint_dir = default_backup = os.path.join(args.out, "backup")
  with contextlib.ExitStack() as stack:
    out = stack.enter_context(distribute.write_dir(args.out, strategy))
    tensorboard_dir = args.tensorboard_dir and stack.enter_context(
        distribute.write_dir(args.tensorboard_dir, strategy))
    try:
      metrics = _train(args, strategy, out, tensorboard_dir, tf_keras,
                       tfp_flows)
    except tf.errors.UnavailableError as e:
      if args.strategy != "multi-worker":
        raise
      raise RuntimeError(
          f"lost contact with another worker ({type(e).__name__}; "
          "TensorFlow's log shows details with --verbose); start every "
          "worker again "
          "with the same command to resume from the last backup in "
          f"{args.checkpoint_dir}") from None
  # BackupAndRestore empties its folder when training completes.
  if (default_backup and distribute.is_chief(strategy) and
      os.path.isdir(default_backup) and not os.listdir(default_backup)):
    os.rmdir(default_backup)
  return metrics


def _train(args, strategy, out, tensorboard_dir, tf_keras, tfp_flows):
  distribute = tfp_flows.distribute
  for key, value in TRAIN_DEFAULTS[args.flow].items():
    # epochs depend on the dataset's size: set once it is loaded.
    if key != "epochs" and getattr(args, key) is None:
      setattr(args, key, value)
  options = _architecture(args)
  tf_keras.utils.set_random_seed(args.seed)
  tf_keras.mixed_precision.set_global_policy(args.mixed_precision)
  shape = tfp_flows.data.image_shape(args.dataset, args.image_size)
  levels = tfp_flows.data.levels(args.dataset, args.n_bits)
  num_classes = None
  if args.conditional:
    num_classes = tfp_flows.data.spec(args.dataset).num_classes
    if num_classes is None:
      raise ValueError(f"--conditional needs class labels; dataset "
                       f"{args.dataset!r} has none.")
    options["context_shape"] = [num_classes]
  global_batch = distribute.global_batch_size(args.batch_size, strategy)
  load = dict(batch_size=global_batch, data_dir=args.data_dir,
              download=args.download, n_bits=args.n_bits,
              image_size=args.image_size, with_labels=args.conditional)
  train_ds = tfp_flows.data.load(args.dataset, "train", seed=args.seed,
                                 flip=args.flip, **load)
  test_ds = tfp_flows.data.load(args.dataset, "test", seed=args.seed + 1,
                                **load)
  # Training reads a stream of passes over the data, each a function of
  # (seed, pass) only, so that a resumed run starts it where the backup
  # left off: it sees exactly the batches of an uninterrupted run.
  steps_per_epoch = args.steps_per_epoch or int(train_ds.cardinality())
  if args.epochs is None:
    args.epochs = default_epochs(args.flow, steps_per_epoch, global_batch)
  start_step = 0
  if args.checkpoint_dir:
    epoch, step = tfp_flows.training.resume_position(
        args.checkpoint_dir, steps_per_epoch, _save_freq(args))
    start_step = epoch * steps_per_epoch + step
    if start_step and epoch < args.epochs:
      print(f"resuming from the backup in {args.checkpoint_dir}: epoch "
            f"{epoch + 1}/{args.epochs}, step {step + 1}/{steps_per_epoch} "
            f"(global step {start_step + 1})", flush=True)
  # A variational dequantizer draws its own noise: it trains on bin centres.
  variational = args.dequantization == "variational"
  fit_ds = tfp_flows.data.load(
      args.dataset, "train", seed=args.seed, flip=args.flip,
      dequantize=not variational, repeat=True, start_step=start_step, **load)

  with strategy.scope():
    dist = tfp_flows.flows.registry.build(args.flow, shape, **options)
    dequantizer = None
    if variational:
      dequantizer = tfp_flows.dequantization.VariationalDequantizer(
          shape, context_shape=options.get("context_shape"))
    model = tfp_flows.FlowModel(dist, num_levels=levels,
                                dequantizer=dequantizer,
                                num_classes=num_classes)
    rate = args.learning_rate
    if args.warmup_steps:
      rate = tfp_flows.LinearWarmup(rate, args.warmup_steps)
    optimizer = tf_keras.optimizers.Adam(
        rate, global_clipnorm=args.clip_norm, use_ema=args.ema is not None,
        ema_momentum=args.ema if args.ema is not None else 0.99)
    model.compile(optimizer=optimizer, jit_compile=args.jit_compile)
  if args.checkpoint_dir:
    _check_or_record_run(
        args.checkpoint_dir,
        _run_record(args, tfp_flows.flows.build_config.build_config(dist),
                    global_batch, steps_per_epoch),
        resuming=bool(start_step), chief=distribute.is_chief(strategy))
  start = time.time()
  callbacks = _callbacks(args, out, tensorboard_dir, global_batch, tfp_flows,
                         tf_keras)
  history = model.fit(
      distribute.shard_by_data(fit_ds), epochs=args.epochs,
      steps_per_epoch=steps_per_epoch, callbacks=callbacks,
      verbose=1 if sys.stdout.isatty() else 2)
  train_seconds = time.time() - start
  if args.checkpoint_dir and distribute.is_chief(strategy):
    # BackupAndRestore deleted its backup as `fit` ended; so goes its record.
    _forget_run(args.checkpoint_dir)

  if variational:
    test_bpd = tfp_flows.training.importance_weighted_bits_per_dim(
        model, tfp_flows.data.load(args.dataset, "test", dequantize=False,
                                   **load),
        num_samples=16, seed=args.seed)
  else:
    test_bpd = tfp_flows.evaluate_bits_per_dim(dist, test_ds, levels,
                                               num_classes)
  baseline = tfp_flows.baselines.factorized_gaussian(train_ds)
  baseline_bpd = tfp_flows.evaluate_bits_per_dim(baseline, test_ds, levels)

  served = tfp_flows.export_saved_model(model, os.path.join(out, "saved_model"))
  tfp_flows.save_flow(dist, os.path.join(out, "flow"), dataset=args.dataset,
                      num_levels=levels,
                      num_classes=num_classes, n_bits=args.n_bits,
                      image_size=args.image_size)
  # The last step every worker takes part in: what is left is this worker's.
  distribute.stop_peer_checks(strategy)
  png = _write_samples(tfp_flows, dist, num_classes, args.num_samples,
                       args.temperature, None, os.path.join(out, "samples.png"),
                       shape)
  guard, throughput = callbacks[:2]
  rate = throughput.examples_per_second
  metrics = {
      "flow": args.flow,
      "dataset": args.dataset,
      "epochs": args.epochs,
      "stopped_early_at": guard.stopped_at,
      # The dequantizer's included: it takes part in the bound.
      "num_parameters": int(sum(v.shape.num_elements()
                                for v in model.trainable_variables)),
      "num_workers": distribute.num_workers(strategy),
      "global_batch_size": global_batch,
      "train_seconds": round(train_seconds, 1),
      "train_examples_per_second": rate and round(rate, 1),
      # From the command's start (TensorFlow's import, data, building,
      # tracing and compiling) and from `fit`'s, to the first step's end.
      "seconds_to_first_step": _since_start(throughput.first_step_end),
      "first_step_seconds": throughput.first_step_seconds and round(
          throughput.first_step_seconds, 2),
      # Epochs run by this command (after any resumed from a backup).
      "train_loss_per_epoch": [float(v) for v in
                               history.history.get("loss", [])],
      "test_bits_per_dim": round(test_bpd, 4),
      "gaussian_baseline_test_bits_per_dim": round(baseline_bpd, 4),
      "options": {k: v for k, v in vars(args).items() if k != "command"},
  }
  with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=2)
  print(f"test bits/dim: {test_bpd:.4f}  ({args.flow} on {args.dataset}, "
        f"{metrics['num_parameters']} parameters, {train_seconds:.0f} s)")
  print(f"factorised Gaussian baseline test bits/dim: {baseline_bpd:.4f}")
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


def _since_start(wall_time):
  return None if wall_time is None else round(wall_time - _STARTED, 2)


def _write_samples(tfp_flows, dist, num_classes, n, temperature, seed, path,
                   shape, label=None):
  """A PNG grid of n samples; a class-conditional flow's one row per class.

  With `label`, n samples of that class; without, ceil(n / C) samples of
  each class, one row each.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  cols, context = None, None
  if num_classes:
    if label is not None:
      labels = [label] * n
    else:
      cols = max(1, -(-n // num_classes))
      labels = [c for c in range(num_classes) for _ in range(cols)]
      n = len(labels)
    context = tf.one_hot(labels, num_classes, dtype=dist.dtype)
  samples = tfp_flows.sample(dist, n, temperature, seed=seed, context=context)
  return tfp_flows.images.save_image_grid(samples.numpy(), path,
                                          num_cols=cols, zoom=_zoom(shape))


def _load(args):
  """(distribution, config) of --model; fills --dataset from the config."""
  import tfp_flows  # pylint: disable=import-outside-toplevel
  dist, config = tfp_flows.load_flow(os.path.join(args.model, "flow"))
  if getattr(args, "dataset", "unset") is None:
    args.dataset = config["dataset"]
  return dist, config


def _test_images(args, config, count, labels=False, split="test"):
  import tfp_flows  # pylint: disable=import-outside-toplevel
  ds = tfp_flows.data.load(
      args.dataset, split, batch_size=count, dequantize=False,
      data_dir=args.data_dir, download=args.download, seed=args.seed,
      with_labels=labels, n_bits=config.get("n_bits"),
      image_size=config.get("image_size"), shuffle=False)
  return next(iter(ds))


def _test_images_and_contexts(args, config, count):
  """(images, one-hot contexts or None) of `count` test images."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  num_classes = config.get("num_classes")
  if not num_classes:
    return _test_images(args, config, count), None
  x, y = _test_images(args, config, count, labels=True)
  return x, tf.one_hot(y, num_classes)


def evaluate(args):
  import tfp_flows  # pylint: disable=import-outside-toplevel
  dist, config = _load(args)
  num_classes = config.get("num_classes")
  ds = tfp_flows.data.load(
      args.dataset, args.split, batch_size=args.batch_size, seed=args.seed,
      data_dir=args.data_dir, download=args.download,
      n_bits=config.get("n_bits"), image_size=config.get("image_size"),
      with_labels=bool(num_classes))
  nll = tfp_flows.evaluate_nll(dist, ds, num_classes)
  bpd = tfp_flows.bits_per_dim(nll, dist.event_shape.num_elements(),
                               config["num_levels"])
  print(f"{args.split} NLL: {nll:.2f} nats per image in [0, 1)  "
        f"bits/dim: {bpd:.4f}  ({config['flow']} on {args.dataset})")
  return bpd


def sample(args):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tfp_flows  # pylint: disable=import-outside-toplevel
  dist, config = _load(args)
  seed = (args.seed, 0)
  num_classes = config.get("num_classes")
  if args.label is not None and not num_classes:
    raise ValueError(f"--class {args.label}: the flow in {args.model} is not "
                     "class-conditional (train it with --conditional).")
  if args.label is not None and not 0 <= args.label < num_classes:
    raise ValueError(f"--class must be in [0, {num_classes - 1}] for "
                     f"{config['dataset']}; got {args.label}.")
  if args.temperatures:
    context = None
    if num_classes:
      label = 0 if args.label is None else args.label
      context = tf.one_hot(label, num_classes, dtype=dist.dtype)
    grid = tfp_flows.temperature_grid(dist, args.n, args.temperatures,
                                      seed=seed, context=context).numpy()
    path = tfp_flows.images.save_image_grid(
        grid.reshape((-1,) + grid.shape[2:]), args.out,
        num_cols=len(args.temperatures), zoom=_zoom(config["image_shape"]))
  else:
    path = _write_samples(tfp_flows, dist, num_classes, args.n,
                          args.temperature, seed, args.out,
                          config["image_shape"], args.label)
  print(f"samples: {path}")


def export(args):
  import tfp_flows  # pylint: disable=import-outside-toplevel
  dist, _ = _load(args)
  print(f"SavedModel: {tfp_flows.export_saved_model(dist, args.out)}")


def interpolate(args):
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tfp_flows  # pylint: disable=import-outside-toplevel
  dist, config = _load(args)
  x, contexts = _test_images_and_contexts(args, config, 2 * args.pairs)
  # A conditional flow interpolates under the class of each pair's first.
  rows = [tfp_flows.interpolate(
      dist, x[2 * i], x[2 * i + 1], args.steps,
      context=None if contexts is None else contexts[2 * i])
          for i in range(args.pairs)]
  path = tfp_flows.images.save_image_grid(
      np.concatenate([r.numpy() for r in rows]), args.out,
      num_cols=args.steps, zoom=_zoom(config["image_shape"]))
  print(f"interpolations: {path}")


def _inpaint_mask(kind, shape, seed):
  import numpy as np  # pylint: disable=import-outside-toplevel
  h, w, c = shape
  observed = np.ones([h, w, c], np.float32)
  if kind == "bottom":
    observed[h // 2:] = 0.
  elif kind == "top":
    observed[:h // 2] = 0.
  elif kind == "left":
    observed[:, :w // 2] = 0.
  elif kind == "right":
    observed[:, w // 2:] = 0.
  else:
    observed = (np.random.default_rng(seed).uniform(size=[h, w, 1]) > 0.5
                ).astype(np.float32).repeat(c, axis=-1)
  return observed


def inpaint(args):
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tfp_flows  # pylint: disable=import-outside-toplevel
  dist, config = _load(args)
  x, contexts = _test_images_and_contexts(args, config, args.count)
  x = x.numpy()
  observed = _inpaint_mask(args.mask, config["image_shape"], args.seed)
  filled = tfp_flows.inpaint(dist, x, observed, steps=args.steps,
                             context=contexts).numpy()
  masked = x * observed + 0.5 * (1. - observed)
  path = tfp_flows.images.save_image_grid(
      np.concatenate([masked, filled, x]), args.out, num_cols=args.count,
      zoom=_zoom(config["image_shape"]))
  print(f"rows masked / inpainted / original: {path}")


def manipulate(args):
  import tfp_flows  # pylint: disable=import-outside-toplevel
  dist, config = _load(args)
  if config.get("num_classes"):
    raise ValueError(
        "manipulate moves images between classes in an unconditional flow's "
        f"latent space; the flow in {args.model} is class-conditional: use "
        "`tfp-flows sample --class N` instead.")
  train_x, train_y = _test_images(args, config, 10_000, labels=True,
                                  split="train")
  test_x, test_y = _test_images(args, config, 10_000, labels=True)
  groups = {c: train_x.numpy()[train_y.numpy() == c]
            for c in (args.from_class, args.to_class)}
  if any(len(g) == 0 for g in groups.values()):
    raise ValueError(f"--from-class {args.from_class} and --to-class "
                     f"{args.to_class} must both be classes of "
                     f"{args.dataset}.")
  direction = tfp_flows.attribute_direction(dist, groups[args.from_class],
                                            groups[args.to_class])
  x = test_x.numpy()[test_y.numpy() == args.from_class][:args.count]
  grid = tfp_flows.manipulate(dist, x, direction, args.scales).numpy()
  path = tfp_flows.images.save_image_grid(
      grid.reshape((-1,) + grid.shape[2:]), args.out,
      num_cols=len(args.scales), zoom=_zoom(config["image_shape"]))
  print(f"class {args.from_class} -> {args.to_class}, scales {args.scales}: "
        f"{path}")


def data(args):
  """Runs `tfp-flows data prepare` (the only data subcommand)."""
  import tfp_flows  # pylint: disable=import-outside-toplevel
  info = tfp_flows.data.prepare(args.name, args.source_dir,
                                data_dir=args.data_dir)
  sizes = ", ".join(f"{split} {info.splits[split].num_examples}"
                    for split in sorted(info.splits))
  print(f"{info.full_name} prepared in {info.data_dir} (examples: {sizes})")


_COMMANDS = {"train": train, "evaluate": evaluate, "sample": sample,
             "export": export, "interpolate": interpolate,
             "inpaint": inpaint, "manipulate": manipulate, "data": data}


# What TensorFlow's C++ code logs (absl / glog format: severity, date, time,
# thread, file:line), absl's notice that it logs to stderr before it is set
# up, and the second line of the CPU-instructions notice.
_TF_LOG_LINE = re.compile(
    r"[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.+-]+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) "
    r"|To enable the following instructions: .* rebuild TensorFlow")


def _import_tensorflow_quietly():
  """Imports TensorFlow without its C++ start-up log lines.

  TF_CPP_MIN_LOG_LEVEL=3 hides what TensorFlow logs once it has read it (such
  as "failed call to cuInit" on a machine without a GPU), but the lines
  logged while its libraries load (oneDNN, "Could not find cuda drivers",
  absl's "All log messages before absl::InitializeLog()") ignore it. So the
  import writes into a temporary file instead of file descriptor 2; then
  every other line is passed on to stderr, and all of them if the import
  fails.
  """
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  if "tensorflow" in sys.modules:
    return
  try:
    sys.stderr.flush()
    saved = os.dup(2)
  except (OSError, ValueError, AttributeError):  # No usable stderr.
    import tensorflow  # pylint: disable=import-outside-toplevel,unused-import
    return
  failed = True
  with tempfile.TemporaryFile() as captured:
    try:
      os.dup2(captured.fileno(), 2)
      import tensorflow  # pylint: disable=import-outside-toplevel,unused-import,redefined-outer-name
      failed = False
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      lines = captured.read().decode(errors="replace").splitlines(True)
      sys.stderr.write("".join(
          line for line in lines
          if failed or not _TF_LOG_LINE.match(line)))
      sys.stderr.flush()


def main(argv=None):
  args = build_parser().parse_args(argv)
  if not args.verbose:
    _import_tensorflow_quietly()
  try:
    _COMMANDS[args.command](args)
  except (ValueError, RuntimeError) as e:
    print(f"tfp-flows: error: {_one_line(e)} (see tfp-flows {args.command} "
          "--help)", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
