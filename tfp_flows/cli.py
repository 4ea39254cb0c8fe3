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
import ast
import dataclasses
import functools
import os
import re
import sys
import tempfile
import time

# tfp_flows.distribute.strategy's names; importing it would make `--help`
# wait for TensorFlow.
STRATEGIES = ("default", "mirrored", "multi-worker")

__all__ = ["build_parser", "main"]

# The command's start, for the time to its first training step (importing
# TensorFlow included).
_STARTED = time.time()

# Builder arguments that are not architecture flags: --conditional sets the
# context; --seed seeds the run; the rest are the Python API's.
# A transformer object has no one-word form on the command line.
_NOT_FLAGS = ("context_shape", "transformer", "seed", "validate_args",
              "dtype", "name")


def _source(module):
  """The syntax tree of `module` (tfp_flows.x.y), read without importing it."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      *module.split(".")[1:]) + ".py"
  with open(path) as f:
    return ast.parse(f.read())


def _imports(tree):
  """{local name: module or 'module.attr'} of a module's `from ... import`s."""
  return {alias.asname or alias.name: f"{node.module}.{alias.name}"
          for node in tree.body if isinstance(node, ast.ImportFrom)
          for alias in node.names}


def _value(node, tree):
  """A default's value: a literal, or the module constant it names."""
  if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
    module = _imports(tree)[node.value.id]
    for stmt in _source(module).body:
      if (isinstance(stmt, ast.Assign) and
          any(getattr(t, "id", None) == node.attr for t in stmt.targets)):
        return ast.literal_eval(stmt.value)
  return ast.literal_eval(node)


def _first_sentence(docstring, argument):
  """The start of `argument`'s entry in a Google-style Args section."""
  lines = docstring.splitlines()
  for i, line in enumerate(lines):
    if line.strip().startswith(f"{argument}:"):
      text = line.strip()[len(argument) + 1:]
      for more in lines[i + 1:]:
        if not more.startswith(line[:len(line) - len(line.lstrip())] + "  "):
          break
        text += " " + more.strip()
      return " ".join(text.replace("`", "").split()).split(". ")[0].rstrip(".")
  return ""


@functools.lru_cache(maxsize=None)
def _registry_tables():
  """{name: syntax tree of its value} of flows/registry.py's assignments."""
  return {stmt.targets[0].id: stmt.value
          for stmt in _source("tfp_flows.flows.registry").body
          if isinstance(stmt, ast.Assign) and
          isinstance(stmt.targets[0], ast.Name)}


def _literal_dicts(table):
  """A registry table {name: dict(k=literal, ...)} as data."""
  return {key.value: {k.arg: ast.literal_eval(k.value)
                      for k in value.keywords}
          for key, value in zip(table.keys, table.values)}


# The registry's flows and training settings (`registry.BUILDERS`,
# `registry.TRAIN_DEFAULTS`), read from its source: importing it would make
# `--help` wait for TensorFlow (tests/test_registry.py checks they agree).
TRAIN_DEFAULTS = _literal_dicts(_registry_tables()["TRAIN_DEFAULTS"])
FLOWS = tuple(key.value for key in _registry_tables()["BUILDERS"].keys)


@functools.lru_cache(maxsize=None)
def _architecture_options():
  """{option: ({flow: its default}, help)} of the registry's builders.

  Read from the source of `tfp_flows/flows/registry.py` (its `BUILDERS`
  and `ARCHITECTURE_DEFAULTS`) and of the builders' signatures and
  docstrings: importing them would make `--help` wait for TensorFlow.
  """
  tables = _registry_tables()
  imported = _imports(_source("tfp_flows.flows.registry"))
  preset = _literal_dicts(tables["ARCHITECTURE_DEFAULTS"])
  options = {}
  for key, value in zip(tables["BUILDERS"].keys, tables["BUILDERS"].values):
    flow, module = key.value, imported[value.id].rsplit(".", 1)[0]
    tree = _source(module)
    builder = next(node for node in tree.body
                   if isinstance(node, ast.FunctionDef) and
                   node.name == value.id)
    for arg, default in zip(builder.args.kwonlyargs,
                            builder.args.kw_defaults):
      if arg.arg in _NOT_FLAGS:
        continue
      default = preset[flow].get(arg.arg, _value(default, tree))
      defaults, helps = options.setdefault(arg.arg, ({}, {}))
      defaults[flow] = default
      helps[flow] = _first_sentence(ast.get_docstring(builder), arg.arg)
  # One builder's option: its own docstring; shared ones: their meaning.
  concepts = ast.literal_eval(tables["CONCEPTS"])
  return {option: (defaults, (concepts[option] if len(defaults) > 1 else
                              f"{next(iter(helps))}: "
                              f"{next(iter(helps.values()))}"))
          for option, (defaults, helps) in options.items()}


def _flag_kind(defaults):
  """argparse keyword arguments for an option with these defaults."""
  kinds = {type(v) for v in defaults.values() if v is not None}
  if kinds <= {bool}:
    return dict(action=argparse.BooleanOptionalAction)
  if kinds & {list, tuple}:  # Lists for MLPs, one int for conv nets.
    return dict(type=_int_list)
  if kinds <= {int}:
    return dict(type=_positive_int)
  if kinds <= {int, float}:
    return dict(type=_non_negative_float)
  return dict(type=str)


def _show(value):
  return (",".join(map(str, value)) if isinstance(value, (list, tuple))
          else str(value))


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


def _positive_float(text):
  value = _non_negative_float(text)
  if value == 0:
    raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
  return value


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
  p.add_argument("--seed", type=int, default=0,
                 help="seeds the run: data order and noise, TensorFlow's "
                 "and numpy's streams, and the flow's own seed (initial "
                 "weights, permutations)")


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
  # Every option of the registry's builders, with its defaults per flow.
  for option, (defaults, description) in sorted(
      _architecture_options().items()):
    shown = ", ".join(f"{flow}={_show(value)}"
                      for flow, value in defaults.items())
    train.add_argument("--" + option.replace("_", "-"), default=None,
                       help=f"{description} (default per flow: {shown})",
                       **_flag_kind(defaults))
  train.add_argument("--steps-per-epoch", type=_positive_int, default=None,
                     help="epochs of this many steps over the repeated "
                     "training data (default: one pass per epoch)")
  train.add_argument("--warmup-steps", type=_positive_int, default=None,
                     help="linear learning-rate warm-up steps")
  train.add_argument("--clip-norm", type=_non_negative_float, default=None,
                     help="clip gradients to this global norm")
  train.add_argument("--skip-spikes", type=_positive_float, default=None,
                     metavar="B",
                     help="skip the update of a step whose loss lies more "
                     "than B bits/dim above the recent steps' average "
                     "(FlowModel.compile's skip_spikes)")
  train.add_argument("--ema", type=_non_negative_float, default=None,
                     help="EMA momentum of the weights (e.g. 0.999), used "
                     "for evaluation and export")
  train.add_argument("--jit-compile", action="store_true",
                     help="compile the training step with XLA")
  train.add_argument("--batch-shards", type=_positive_int, default=1,
                     metavar="K",
                     help="compute each batch in K concurrent parts "
                     "(FlowModel's batch_shards; sets TensorFlow's CPU "
                     "threads by training.shard_threads: on 2 cores, K=2 "
                     "steps about 1.3x faster; leave 1 on a GPU)")
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
  """The builder options given on the command line, as `args.flow` takes them.

  Raises:
    ValueError: a width list where the flow takes one integer.
  """
  options = {}
  for option, (defaults, _) in _architecture_options().items():
    value = getattr(args, option)
    if value is None:
      continue
    if isinstance(value, list) and type(defaults.get(args.flow)) is int:
      if len(value) != 1:
        raise ValueError(
            f"--{option.replace('_', '-')} of flow {args.flow!r} is one "
            f"integer (its conv nets' channels); got {_show(value)}.")
      value = value[0]
    options[option] = value
  return options


def train(args):
  """Runs `tfp-flows train`: `experiment.train` with the flags as its config."""
  import tfp_flows.experiment as experiment  # pylint: disable=import-outside-toplevel
  fields = {f.name for f in dataclasses.fields(experiment.TrainConfig)}
  settings = {k: v for k, v in vars(args).items() if k in fields}
  return experiment.train(experiment.TrainConfig(
      options=_architecture(args), started=_STARTED, **settings))


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
        num_cols=len(args.temperatures), zoom=tfp_flows.images.zoom_for(config["image_shape"]))
  else:
    path = tfp_flows.experiment.write_samples(
        dist, num_classes, args.n, args.temperature, seed, args.out,
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
      num_cols=args.steps, zoom=tfp_flows.images.zoom_for(config["image_shape"]))
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
      zoom=tfp_flows.images.zoom_for(config["image_shape"]))
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
      num_cols=len(args.scales), zoom=tfp_flows.images.zoom_for(config["image_shape"]))
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
      import tensorflow  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import,redefined-outer-name
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
