"""The `tfp-flows` command line: a thin layer over the Python API.

  tfp-flows train --flow glow --dataset digits --out saved_models/glow-digits

User errors (unknown dataset, bad argument values) print one line and exit
with status 2; no traceback.
"""

import argparse
import json
import os
import sys
import time

__all__ = ["main", "FLOWS"]

# Per-flow defaults, tuned on the offline digits data (1500 8x8 images): larger
# networks overfit them. Each flow reaches these test bits/dim there (README).
FLOW_DEFAULTS = {
    "nice": dict(epochs=250, learning_rate=1e-3, temperature=1.0,
                 num_layers=4, hidden_units=[64, 64], prior="logistic"),
    "realnvp": dict(epochs=150, learning_rate=1e-3, temperature=1.0,
                    num_scales=2, hidden_channels=10, num_blocks=1),
    # Glow's samples are shown at T = 0.7 in the paper.
    "glow": dict(epochs=150, learning_rate=2e-3, temperature=0.7,
                 num_levels=2, depth=4, hidden_channels=32,
                 coupling="affine", lu=False),
}
FLOWS = tuple(FLOW_DEFAULTS)


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


def build_parser():
  parser = argparse.ArgumentParser(
      prog="tfp-flows",
      description="Train, evaluate and export normalizing flows built on "
      "TensorFlow Probability.")
  sub = parser.add_subparsers(dest="command", required=True)

  train = sub.add_parser(
      "train",
      help="train a flow, report test bits/dim, export a SavedModel",
      description="Train a flow with tf_keras model.fit, print test bits/dim "
      "next to a factorised Gaussian baseline, and write a SavedModel, a "
      "sample grid (samples.png) and metrics.json into --out.")
  train.add_argument("--flow", choices=FLOWS, default="glow",
                     help="flow family (default: glow)")
  train.add_argument("--dataset", default="digits",
                     help="'digits' (offline, the default) or a TFDS image "
                     "dataset name such as mnist or cifar10")
  train.add_argument("--data-dir", default=None,
                     help="TFDS data directory (default: $TFDS_DATA_DIR or "
                     "~/tensorflow_datasets)")
  train.add_argument("--download", action="store_true",
                     help="let TFDS download a catalog dataset (needs a "
                     "network)")
  def per_flow(flag, flows, **kw):
    kw["help"] = (kw.get("help", "") + " [" + ", ".join(flows) +
                  "; default per flow: " + ", ".join(
                      f"{f}={FLOW_DEFAULTS[f][flag.lstrip('-').replace('-', '_')]}"
                      for f in flows) + "]").strip()
    train.add_argument(flag, default=None, **kw)

  train.add_argument("--batch-size", type=_positive_int, default=64)
  per_flow("--epochs", FLOWS, type=_positive_int)
  per_flow("--learning-rate", FLOWS, type=_non_negative_float,
           help="Adam learning rate")
  per_flow("--temperature", FLOWS, type=_non_negative_float,
           help="sampling temperature for samples.png")
  per_flow("--num-layers", ["nice"], type=_positive_int,
           help="additive coupling layers")
  per_flow("--hidden-units", ["nice"], type=_int_list,
           help="hidden layer sizes of each coupling MLP, comma-separated")
  per_flow("--prior", ["nice"], choices=("logistic", "gaussian"),
           help="base distribution")
  per_flow("--num-scales", ["realnvp"], type=_positive_int,
           help="multi-scale levels")
  per_flow("--num-blocks", ["realnvp"], type=_positive_int,
           help="residual blocks per ResNet conditioner")
  per_flow("--hidden-channels", ["realnvp", "glow"], type=_positive_int,
           help="width of the convolutional conditioners")
  per_flow("--num-levels", ["glow"], type=_positive_int,
           help="levels L (squeeze, steps, split)")
  per_flow("--depth", ["glow"], type=_positive_int, help="steps K per level")
  per_flow("--coupling", ["glow"], choices=("affine", "additive"),
           help="coupling type")
  per_flow("--lu", ["glow"], action="store_const", const=True,
           help="LU-decomposed 1x1 convolutions")
  train.add_argument("--num-samples", type=_positive_int, default=64,
                     help="images in samples.png")
  train.add_argument("--seed", type=int, default=0)
  train.add_argument("--out", required=True,
                     help="output folder: the SavedModel, samples.png, "
                     "metrics.json")
  return parser


def resolve_flow_options(args):
  """Fills the per-flow defaults into `args`; refuses options of other flows."""
  defaults = FLOW_DEFAULTS[args.flow]
  for key in {k for d in FLOW_DEFAULTS.values() for k in d}:
    value = getattr(args, key)
    if value is None:
      setattr(args, key, defaults.get(key))
    elif key not in defaults:
      flag = "--" + key.replace("_", "-")
      raise ValueError(f"{flag} does not apply to --flow {args.flow}.")
  return args


def build_flow(args, shape):
  """The distribution `args` describe, over images of `shape`."""
  from tfp_flows import flows  # pylint: disable=import-outside-toplevel
  if args.flow == "nice":
    return flows.nice(shape, num_coupling_layers=args.num_layers,
                      hidden_units=args.hidden_units, prior=args.prior)
  if args.flow == "realnvp":
    return flows.realnvp(shape, num_scales=args.num_scales,
                         hidden_channels=args.hidden_channels,
                         num_blocks=args.num_blocks)
  return flows.glow(shape, num_levels=args.num_levels, depth=args.depth,
                    hidden_channels=args.hidden_channels,
                    coupling=args.coupling, lu_decomposed=args.lu)


def train(args):
  """Runs `tfp-flows train`; returns the metrics dict it writes."""
  # Imported here so that `--help` and argument errors answer at once.
  import tf_keras  # pylint: disable=import-outside-toplevel
  import tfp_flows  # pylint: disable=import-outside-toplevel

  resolve_flow_options(args)
  tf_keras.utils.set_random_seed(args.seed)
  spec = tfp_flows.data.spec(args.dataset)
  load = dict(batch_size=args.batch_size, data_dir=args.data_dir,
              download=args.download)
  train_ds = tfp_flows.data.load(args.dataset, "train", seed=args.seed, **load)
  test_ds = tfp_flows.data.load(args.dataset, "test", seed=args.seed + 1,
                                **load)

  dist = build_flow(args, spec.shape)
  model = tfp_flows.FlowModel(dist, num_levels=spec.num_levels)
  model.compile(optimizer=tf_keras.optimizers.Adam(args.learning_rate))
  guard = tfp_flows.NaNGuard()
  start = time.time()
  model.fit(train_ds, epochs=args.epochs, callbacks=[guard],
            verbose=1 if sys.stdout.isatty() else 2)
  train_seconds = time.time() - start

  test_bpd = tfp_flows.evaluate_bits_per_dim(dist, test_ds, spec.num_levels)
  baseline = tfp_flows.baselines.factorized_gaussian(train_ds)
  baseline_bpd = tfp_flows.evaluate_bits_per_dim(baseline, test_ds,
                                                 spec.num_levels)

  out = tfp_flows.export_saved_model(model, args.out)
  samples = tfp_flows.sample(dist, args.num_samples, args.temperature)
  png = tfp_flows.images.save_image_grid(
      samples.numpy(), os.path.join(out, "samples.png"),
      zoom=max(1, 64 // spec.shape[0]))

  metrics = {
      "flow": args.flow,
      "dataset": args.dataset,
      "epochs": args.epochs,
      "stopped_early_at": guard.stopped_at,
      "num_parameters": int(sum(v.shape.num_elements()
                                for v in dist.trainable_variables)),
      "train_seconds": round(train_seconds, 1),
      "test_bits_per_dim": round(test_bpd, 4),
      "gaussian_baseline_test_bits_per_dim": round(baseline_bpd, 4),
      "options": {k: v for k, v in vars(args).items() if k != "command"},
  }
  with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=2)
  print(f"test bits/dim: {test_bpd:.4f}  ({args.flow} on {args.dataset}, "
        f"{metrics['num_parameters']} parameters, {train_seconds:.0f} s)")
  print(f"factorised Gaussian baseline test bits/dim: {baseline_bpd:.4f}")
  print(f"SavedModel: {out}")
  print(f"samples: {png}")
  return metrics


def main(argv=None):
  args = build_parser().parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    if args.command == "train":
      train(args)
  except (ValueError, RuntimeError, TypeError) as e:
    print(f"tfp-flows: error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
