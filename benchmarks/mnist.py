"""MNIST test bits/dim of each flow family after the same training time.

What it measures: each family of `--families` trains on MNIST's 60,000
training images (uniform dequantization, batch --batch, Adam at `tfp-flows
train`'s learning rate for the family, the registry's architecture) for
--minutes of training time on this machine, then scores the whole 10,000-
image test set. Every --eval-seconds of training the clock stops and the
first --curve-images test images are scored: the bits/dim-against-time
curve, drawn for every family into one PNG. The factorised Gaussian (fitted
in one pass over the training split) and the papers' MNIST figures stand
beside the table. Training time excludes the evaluations, the first step's
tracing included (it is part of training). The input pipeline alone
(`tfp_flows.data.load`: decode, shuffle, batch, dequantize) is timed over
--pipeline-batches batches first, its images/s printed beside each family's
training images/s: the pipeline must not be what limits training.

Families: the registry's builders by name, plus "glow-spline" (Glow with
spline couplings, 11-channel nets: `tfp-flows train --flow glow --coupling
spline --hidden-units 11`) and "flowpp-variational" (Flow++ with its
variational dequantizer, scored by the 16-sample importance-weighted bound
as `tfp-flows train --dequantization variational` does).

MNIST must be prepared in the TFDS data dir (`make data-mnist` on a machine
without the datasets' hosts; TFDS downloads it elsewhere).

  python benchmarks/mnist.py --minutes 5                       # all families
  python benchmarks/mnist.py --minutes 1 --families glow,realnvp --threads 1

Prints a Markdown table and writes the curves PNG (--png) and section
"mnist" of benchmarks/results/<date>-<host>.json.
"""

import os
import sys
import time

import common  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-order
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows.flows.registry import TRAIN_DEFAULTS
# pylint: enable=g-import-not-at-top,wrong-import-order

# Benchmark name -> (registry flow, options over the registry's defaults).
FAMILIES = {
    "glow": ("glow", {}),
    "glow-spline": ("glow", dict(coupling="spline", hidden_units=11)),
    "realnvp": ("realnvp", {}),
    "nsf": ("nsf", {}),
    "maf": ("maf", {}),
    "nice": ("nice", {}),
    "flowpp": ("flowpp", {}),
    "flowpp-variational": ("flowpp", {}),
    # At D = 784 the exact log-det (a 784 x 784 Jacobian per example and
    # block) is out of reach: the unbiased estimate, as the papers.
    "residual_flow": ("residual_flow", dict(log_det="estimate")),
    "multiscale_residual_flow": ("multiscale_residual_flow", {}),
}
# Test bits/dim of the papers' full MNIST runs (GPU-days, models 10-100x
# larger): RealNVP 1.06 and Glow 1.05 as FFJORD (Grathwohl et al., ICLR
# 2019) lists them, FFJORD 0.99, MAF (Papamakarios et al., NeurIPS 2017)
# 1.89, i-ResNet (Behrmann et al., ICML 2019) 1.05, Residual Flows (Chen et
# al., NeurIPS 2019) 0.97; NICE (Dinh et al., 2015) 1980.50 nats of test
# log-likelihood, 8 - 1980.50 / (784 ln 2) = 4.36 bits/dim.
PAPERS = {"realnvp": 1.06, "glow": 1.05, "maf": 1.89, "nice": 4.36,
          "multiscale_residual_flow": 0.97}
PAPERS_OTHERS = "FFJORD 0.99, i-ResNet 1.05"
SECTION = "mnist"


def parse_args(argv=None):
  parser = common.parser(__doc__)
  parser.add_argument("--families", default=",".join(FAMILIES),
                      help="comma-separated, of " + ",".join(FAMILIES))
  parser.add_argument("--minutes", type=float, default=5.,
                      help="training time per family (default 5)")
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--eval-seconds", type=float, default=30.,
                      help="training seconds between curve points")
  parser.add_argument("--curve-images", type=int, default=1000,
                      help="test images scored for each curve point")
  parser.add_argument("--test-images", type=int, default=None,
                      help="score only the first N test images at the end "
                      "(default: all 10,000)")
  parser.add_argument("--threads", type=int, default=None,
                      help="TensorFlow's intra- and inter-op threads "
                      "(default: every core)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--data-dir", default=None,
                      help="TFDS data dir (default $TFDS_DATA_DIR or "
                      "~/tensorflow_datasets)")
  parser.add_argument("--pipeline-batches", type=int, default=500,
                      help="batches read to time the input pipeline alone")
  parser.add_argument("--png", default=None,
                      help="curves PNG (default: benchmarks/results/"
                      "mnist_curves.png)")
  parser.add_argument("--out", default=common.RESULTS_DIR)
  args = parser.parse_args(argv)
  args.families = [f for f in args.families.split(",") if f]
  unknown = sorted(set(args.families) - set(FAMILIES))
  if unknown:
    parser.error(f"unknown --families {unknown}; choose among "
                 f"{list(FAMILIES)}")
  return args


class _Budget(tf_keras.callbacks.Callback):
  """Stops `fit` after `seconds` of training; calls `probe` every `every`.

  The clock runs only while training: `probe`'s own time is left out.
  """

  def __init__(self, seconds, every, probe):
    super().__init__()
    self.seconds, self.every, self.probe = seconds, every, probe
    self.trained = 0.
    self.steps = 0
    self.curve = []

  def on_train_batch_begin(self, batch, logs=None):
    self._start = time.perf_counter()

  def on_train_batch_end(self, batch, logs=None):
    self.trained += time.perf_counter() - self._start
    self.steps += 1
    due = len(self.curve) * self.every
    if self.trained >= due or self.trained >= self.seconds:
      self.curve.append((self.trained, self.steps, self.probe()))
    if self.trained >= self.seconds:
      self.model.stop_training = True


def _data(args, variational):
  load = dict(batch_size=args.batch, data_dir=args.data_dir)
  train = tfp_flows.data.load("mnist", "train", seed=args.seed, repeat=True,
                              dequantize=not variational, **load)
  split = "test" if args.test_images is None else f"test[:{args.test_images}]"
  test = tfp_flows.data.load("mnist", split, seed=args.seed + 1,
                             dequantize=not variational, **load)
  curve = tfp_flows.data.load("mnist", f"test[:{args.curve_images}]",
                              seed=args.seed + 1,
                              dequantize=not variational, **load)
  return train, test, curve


def run_family(name, args):
  """Trains family `name` for the budget; its row and curve."""
  flow, options = FAMILIES[name]
  variational = name == "flowpp-variational"
  train, test, curve_data = _data(args, variational)
  tf_keras.utils.set_random_seed(args.seed)
  dist = tfp_flows.flows.registry.build(flow, [28, 28, 1],
                                       **{"seed": args.seed, **options})
  dequantizer = (tfp_flows.dequantization.VariationalDequantizer([28, 28, 1])
                 if variational else None)
  model = tfp_flows.FlowModel(dist, num_levels=256, dequantizer=dequantizer)
  model.compile(tf_keras.optimizers.Adam(
      TRAIN_DEFAULTS[flow]["learning_rate"]))

  def score(data, samples=16):
    if variational:
      return tfp_flows.evaluation.importance_weighted_bits_per_dim(
          model, data, num_samples=samples, seed=args.seed)
    return tfp_flows.evaluate_bits_per_dim(dist, data, 256)

  # Curve points use 4 importance samples: 16 would cost more than training.
  budget = _Budget(args.minutes * 60., args.eval_seconds,
                   lambda: score(curve_data, samples=4))
  model.fit(train, epochs=1, steps_per_epoch=10**9, verbose=0,
            callbacks=[budget])
  test_bpd = score(test)
  row = dict(family=name, images_per_second=round(
      budget.steps * args.batch / budget.trained, 1), parameters=int(sum(
      v.shape.num_elements() for v in model.trainable_variables)),
             steps=budget.steps, train_seconds=round(budget.trained, 1),
             test_bits_per_dim=round(float(test_bpd), 4),
             paper=PAPERS.get(flow if name == flow else None))
  return row, [dict(seconds=round(s, 1), steps=n, bits_per_dim=round(b, 4))
               for s, n, b in budget.curve]


def pipeline_images_per_second(args):
  """Images per second of the training pipeline alone (after 20 batches)."""
  batches = iter(tfp_flows.data.load("mnist", "train", batch_size=args.batch,
                                     seed=args.seed, repeat=True,
                                     data_dir=args.data_dir))
  for _ in range(20):
    next(batches)
  start = time.perf_counter()
  for _ in range(args.pipeline_batches):
    next(batches)
  return args.pipeline_batches * args.batch / (time.perf_counter() - start)


def gaussian_row(args):
  load = dict(batch_size=args.batch, data_dir=args.data_dir)
  baseline = tfp_flows.baselines.factorized_gaussian(
      tfp_flows.data.load("mnist", "train", seed=args.seed, **load))
  split = "test" if args.test_images is None else f"test[:{args.test_images}]"
  return dict(family="factorised Gaussian", parameters=2 * 784, steps=None,
              train_seconds=None, paper=None, images_per_second=None,
              test_bits_per_dim=round(tfp_flows.evaluate_bits_per_dim(
                  baseline, tfp_flows.data.load("mnist", split, **load),
                  256), 4))


def render(rows, pipeline, args):
  table = common.markdown_table(
      ["model", "parameters", "steps", "train seconds", "images/s",
       "test bits/dim", "paper (full run)"],
      [[r["family"], f"{r['parameters']:,}",
        "" if r["steps"] is None else r["steps"],
        "" if r["train_seconds"] is None else r["train_seconds"],
        "" if r["images_per_second"] is None else r["images_per_second"],
        f"{r['test_bits_per_dim']:.3f}",
        "" if r["paper"] is None else f"{r['paper']:.2f}"] for r in rows],
      "lrrrrrr")
  return (f"MNIST, {args.minutes:g} min of training per family, batch "
          f"{args.batch}, seed {args.seed}, threads "
          f"{args.threads or 'all'}.\n\n{table}\n\nThe input pipeline "
          f"alone: {pipeline:.0f} images/s. Other papers' MNIST figures: "
          f"{PAPERS_OTHERS}.")


def plot(curves, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for name, points in curves.items():
    ax.plot([p["seconds"] / 60. for p in points],
            [p["bits_per_dim"] for p in points], marker=".", label=name)
  ax.set_xlabel("training minutes (2 CPU cores)")
  ax.set_ylabel("test bits/dim (first test images)")
  ax.set_ylim(top=min(8., ax.get_ylim()[1]))
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=100)
  return path


def main(argv=None):
  args = parse_args(argv)
  if args.threads:
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  pipeline = pipeline_images_per_second(args)
  print(f"pipeline alone: {pipeline:.0f} images/s", file=sys.stderr,
        flush=True)
  rows, curves = [gaussian_row(args)], {}
  for name in args.families:
    print(f"mnist: {name}", file=sys.stderr, flush=True)
    row, curves[name] = run_family(name, args)
    rows.append(row)
    print(f"  {row}", file=sys.stderr, flush=True)
  markdown = render(rows, pipeline, args)
  print(markdown)
  png = plot(curves, args.png or os.path.join(args.out, "mnist_curves.png"))
  settings = {k: v for k, v in vars(args).items() if k != "out"}
  path = common.write_results(args.out, SECTION, "cpu", settings,
                              dict(rows=rows, curves=curves,
                                   pipeline_images_per_second=pipeline),
                              markdown)
  print(f"\ncurves: {png}\nresults: {path}")


if __name__ == "__main__":
  main()
