"""Density quality of each flow family after a fixed budget, next to the best figure.

* 2-D toys (`tfp_flows.data.toy`): test NLL in nats of each family that
  models vectors (nice, realnvp: `flows.coupling_flow`'s affine
  couplings, maf, iaf; ffjord on request: it is slow) after --toy-steps
  Adam steps (tests/test_toys.py's recipe: cosine decay, batch --toy-batch,
  50,000 training points, 5,000 test points of another seed), next to the
  toy's entropy: the lowest NLL any model can reach, so NLL - entropy (the
  gap, in nats) is the figure. The entropies are computed by quadrature of
  each toy's exact density (`tfp_flows.toy_entropy`, to 1e-4 nats; checked
  against samples in tests/test_toy_entropy.py).
* images: test bits/dim of each registry family (`flows.registry`'s
  digits-sized architectures, `tfp-flows train`'s constant learning rates)
  after --image-steps steps of batch --image-batch, uniform dequantization,
  next to a factorised Gaussian and to the papers' figures for full runs
  (what a long run on the full-size model targets; digits also gets this
  package's own full runs, the README's table). digits is offline; mnist
  and cifar10 run where they are prepared locally or a network answers
  within 3 s (then TFDS downloads them), and are skipped with one line
  otherwise.

Training is `FlowModel` + `fit` (as `tfp-flows train`), every flow seeded with
--seed.

  python benchmarks/density.py                    # CPU, small budgets
  python benchmarks/density.py --size full        # the README's budgets
  python benchmarks/density.py --toys moons,rings --toy-families nice,ffjord
"""

import argparse
import socket
import sys
import threading
import time

import common  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-order
import numpy as np
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import flows
from tfp_flows import toy_entropy
from tfp_flows.flows.registry import TRAIN_DEFAULTS
# pylint: enable=g-import-not-at-top,wrong-import-order

# True entropies in nats (computed; see the module docstring).
TOY_ENTROPY = dict(toy_entropy.TOY_ENTROPY)
# The 2-D recipes of tests/test_toys.py: 6 layers of 64-64 networks (IAF 4:
# its density, hence its training step, is sequential); `seed` goes to the
# builders that take one.
TOY_FAMILIES = {
    "nice": lambda seed: flows.nice([2], num_layers=6, hidden_units=[64, 64],
                                    prior="gaussian"),
    "realnvp": lambda seed: flows.coupling_flow([2], num_layers=6,
                                                hidden_units=[64, 64]),
    "maf": lambda seed: flows.maf([2], num_layers=6, hidden_units=[64, 64],
                                  seed=seed),
    "iaf": lambda seed: flows.iaf([2], num_layers=4, hidden_units=[64, 64],
                                  seed=seed),
    "ffjord": lambda seed: flows.ffjord([2], hidden_units=[32, 32],
                                        atol=1e-3, rtol=1e-3),
    # Neural spline flows, 8 bins on [-5, 5] (the toys lie within +-4.9).
    "nsf": lambda seed: flows.nsf([2], num_layers=6, num_bins=8,
                                  hidden_units=[64, 64], seed=seed),
    "nsf-ar": lambda seed: flows.nsf([2], num_layers=6, num_bins=8,
                                     hidden_units=[64, 64],
                                     autoregressive=True, seed=seed),
    # Neural autoregressive flows: 8 sigmoids per entry (ActNorm before
    # each layer, the builder's default).
    "naf": lambda seed: flows.naf([2], num_layers=6, hidden_units=[64, 64],
                                  num_sigmoids=8, seed=seed),
    # Residual flows: blocks x + g(x), Lip(g) <= 0.97^3, exact 2 x 2 log-dets.
    "residual_flow": lambda seed: flows.residual_flow(
        [2], num_layers=6, hidden_units=[64, 64], seed=seed),
    # BNAF: 2 layers, each one network of 2 hidden layers of 32 units per
    # entry (64 units).
    "bnaf": lambda seed: flows.bnaf([2], num_layers=2, hidden_units=[32, 32],
                                    seed=seed),
}
# Adam's peak learning rate, default 1e-2: MAF trains better with less
# (measured when MADE's log-scales were unbounded), FFJORD's few steps get
# further with more.
TOY_LEARNING_RATES = {"maf": 5e-3, "ffjord": 2e-2}
TOY_TRAIN_POINTS = 50_000
TOY_TEST_POINTS = 5_000
DATASETS = ("digits", "mnist", "cifar10")
IMAGE_FAMILIES = tuple(flows.registry.BUILDERS)
# The papers' test bits/dim of full runs: (dataset, figure), from
# realnvp: Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP"
#   (ICLR 2017); glow: Kingma & Dhariwal, "Glow" (NeurIPS 2018); flowpp: Ho
#   et al., "Flow++" (ICML 2019); nice: Dinh, Krueger & Bengio, "NICE" (2015)
#   report MNIST's test log-likelihood, 1980.50 nats, which is
#   8 - 1980.50 / (784 ln 2) = 4.36 bits/dim of 256-level data in [0, 1).
# PUBLISHED_OTHERS: FFJORD (Grathwohl et al., ICLR 2019) MNIST 0.99 and
#   CIFAR-10 3.40, with Glow MNIST 1.05 as FFJORD lists it; MAF (Papamakarios
#   et al., NeurIPS 2017) MNIST 1.89; neural spline flows (Durkan et al.,
#   NeurIPS 2019) CIFAR-10 3.38.
PUBLISHED = {"nice": ("MNIST", 4.36), "realnvp": ("CIFAR-10", 3.49),
             "glow": ("CIFAR-10", 3.35), "flowpp": ("CIFAR-10", 3.08)}
PUBLISHED_OTHERS = ("MAF MNIST 1.89, FFJORD MNIST 0.99 (CIFAR-10 3.40), "
                    "Glow MNIST 1.05, neural spline flows CIFAR-10 3.38")
# This package's full runs on digits (README: `tfp-flows train` defaults,
# 150-250 epochs), and the factorised Gaussian there.
DIGITS_FULL_RUN = {"nice": 2.70, "glow": 2.31, "realnvp": 2.06,
                   "flowpp": 1.92}
PRESETS = {
    "tiny": dict(toy_steps=5, toy_batch=64, image_steps=2, image_batch=16),
    "small": dict(toy_steps=300, toy_batch=512, image_steps=300,
                  image_batch=64),
    # tests/test_toys.py's slow budget; about the README's digits epochs
    # (150-250 epochs of 24 steps).
    "full": dict(toy_steps=3000, toy_batch=512, image_steps=4000,
                 image_batch=64),
}
PROBE_HOST = ("storage.googleapis.com", 443)
PROBE_SECONDS = 3.


def _names(choices):
  def parse(text):
    names = [n for n in text.split(",") if n]
    unknown = sorted(set(names) - set(choices))
    if unknown:
      raise argparse.ArgumentTypeError(
          f"unknown {unknown}; choose from {','.join(choices)}")
    return names
  return parse


def parse_args(argv=None):
  parser = common.parser(__doc__)
  common.add_common_flags(parser, PRESETS)
  parser.add_argument("--toys", type=_names(TOY_ENTROPY),
                      default=list(TOY_ENTROPY),
                      help="comma-separated toys (default: all; none: '')")
  parser.add_argument("--toy-families", type=_names(TOY_FAMILIES),
                      default=["nice", "realnvp", "maf", "iaf"],
                      help="comma-separated, of " + ",".join(TOY_FAMILIES) +
                      " (default: all but ffjord)")
  parser.add_argument("--datasets", type=_names(DATASETS),
                      default=list(DATASETS),
                      help="comma-separated image datasets (default: all)")
  parser.add_argument("--image-families", type=_names(IMAGE_FAMILIES),
                      default=list(IMAGE_FAMILIES),
                      help="comma-separated registry families (default: all)")
  return parser.parse_args(argv)


def _fit(model, learning_rate, dataset, steps):
  """`steps` Adam steps on `dataset`; `learning_rate`: a number or a schedule."""
  model.compile(tf_keras.optimizers.Adam(learning_rate))
  model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)


def toy_nll(toy, family, s, seed):
  """Test NLL (nats) of `family` trained on `toy`; seconds taken."""
  start = time.perf_counter()
  tf_keras.utils.set_random_seed(seed)
  dist = TOY_FAMILIES[family](seed)
  train = tf.data.Dataset.from_tensor_slices(
      tfp_flows.data.toy(toy, TOY_TRAIN_POINTS, seed=seed)).shuffle(
          TOY_TRAIN_POINTS, seed=seed).repeat().batch(s["toy_batch"])
  # Cosine decay: a large step early, a fine one at the end of a short run.
  _fit(tfp_flows.FlowModel(dist), tf_keras.optimizers.schedules.CosineDecay(
      TOY_LEARNING_RATES.get(family, 1e-2), s["toy_steps"], alpha=0.05),
       train, s["toy_steps"])
  test = tf.data.Dataset.from_tensor_slices(
      tfp_flows.data.toy(toy, TOY_TEST_POINTS, seed=seed + 100)).batch(1000)
  return tfp_flows.evaluate_nll(dist, test), time.perf_counter() - start


def online():
  """Whether PROBE_HOST answers within PROBE_SECONDS.

  In a thread: a name lookup has no timeout of its own and can hang far
  longer on a machine without a network.
  """
  answered = []

  def probe():
    try:
      socket.create_connection(PROBE_HOST, timeout=PROBE_SECONDS).close()
      answered.append(True)
    except OSError:
      pass

  thread = threading.Thread(target=probe, daemon=True)
  thread.start()
  thread.join(PROBE_SECONDS)
  return bool(answered)


def image_data(name, s, seed):
  """(train, test) pipelines of `name`, or a one-line reason to skip it.

  A dataset not prepared locally is downloaded when the network answers.
  """
  kwargs = dict(batch_size=s["image_batch"])
  try:
    tfp_flows.data.load(name, "test", **kwargs)
  except RuntimeError:
    if not online():
      return None, (f"{name}: skipped (not prepared locally, and "
                    f"{PROBE_HOST[0]} did not answer within "
                    f"{PROBE_SECONDS:g} s)")
    kwargs["download"] = True
  train = tfp_flows.data.load(name, "train", seed=seed, repeat=True, **kwargs)
  test = tfp_flows.data.load(name, "test", seed=seed + 1, **kwargs)
  return (train, test), None


def image_rows(name, families, s, seed):
  """Test bits/dim of each family on `name`, plus the factorised Gaussian."""
  data, skipped = image_data(name, s, seed)
  if skipped:
    return [], skipped
  train, test = data
  shape = list(tfp_flows.data.image_shape(name))
  levels = tfp_flows.data.levels(name)
  # Fitted in one pass over the training split, as `tfp-flows train` does.
  baseline = tfp_flows.baselines.factorized_gaussian(
      tfp_flows.data.load(name, "train", batch_size=s["image_batch"],
                          seed=seed))
  rows = [dict(dataset=name, family="factorised Gaussian", steps=None,
               parameters=2 * int(np.prod(shape)), seconds=None,
               test_bits_per_dim=tfp_flows.evaluate_bits_per_dim(
                   baseline, test, levels))]
  for family in families:
    print(f"{name}: {family}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    tf_keras.utils.set_random_seed(seed)
    dist = flows.registry.build(family, shape, seed=seed)
    _fit(tfp_flows.FlowModel(dist, num_levels=levels),
         TRAIN_DEFAULTS[family]["learning_rate"], train, s["image_steps"])
    rows.append(dict(
        dataset=name, family=family, steps=s["image_steps"],
        parameters=int(sum(np.prod(v.shape)
                           for v in dist.trainable_variables)),
        test_bits_per_dim=tfp_flows.evaluate_bits_per_dim(dist, test, levels),
        seconds=time.perf_counter() - start))
  return rows, None


def render(results, s, args):
  """The Markdown tables of one run."""
  out = [f"Device {args.device}; sizes --size {args.size}; seed {args.seed}."]
  if results["toys"]:
    families = list(dict.fromkeys(r["family"] for r in results["toys"]))
    cells = {(r["toy"], r["family"]): f"{r['nll']:.3f} ({r['gap']:+.3f})"
             for r in results["toys"]}
    rows = [[f"{toy} ({TOY_ENTROPY[toy]:.3f})"] +
            [cells[(toy, f)] for f in families]
            for toy in dict.fromkeys(r["toy"] for r in results["toys"])]
    out += ["", f"### 2-D toys: test NLL in nats (gap to the entropy) after "
            f"{s['toy_steps']} steps of batch {s['toy_batch']}", "",
            common.markdown_table(["toy (entropy)"] + families, rows,
                                  "l" + "r" * len(families))]
  if results["images"]:
    rows = []
    for r in results["images"]:
      full = []
      if r["dataset"] == "digits" and r["family"] in DIGITS_FULL_RUN:
        full.append(f"digits {DIGITS_FULL_RUN[r['family']]:.2f} (README)")
      if r["family"] in PUBLISHED:
        full.append("{} {:.2f} (paper)".format(*PUBLISHED[r["family"]]))
      rows.append([r["dataset"], r["family"],
                   "" if r["steps"] is None else r["steps"],
                   f"{r['parameters']:,}", f"{r['test_bits_per_dim']:.3f}",
                   ", ".join(full)])
    out += ["", f"### Images: test bits/dim after {s['image_steps']} steps "
            f"of batch {s['image_batch']}", "",
            common.markdown_table(
                ["dataset", "flow", "steps", "parameters", "test bits/dim",
                 "full runs"], rows, "lllrrl"),
            "", f"Other published figures: {PUBLISHED_OTHERS}."]
  if results["skipped"]:
    out += [""] + results["skipped"]
  return "\n".join(out)


def main(argv=None):
  args = parse_args(argv)
  device = common.setup_device(args.device)
  s = common.sizes(args, PRESETS)
  results = dict(toys=[], images=[], skipped=[])
  with tf.device(device):
    for toy in args.toys:
      for family in args.toy_families:
        print(f"{toy}: {family}", file=sys.stderr, flush=True)
        nll, seconds = toy_nll(toy, family, s, args.seed)
        results["toys"].append(dict(
            toy=toy, family=family, steps=s["toy_steps"],
            entropy=TOY_ENTROPY[toy], nll=nll, gap=nll - TOY_ENTROPY[toy],
            seconds=seconds))
    for name in args.datasets:
      rows, skipped = image_rows(name, args.image_families, s, args.seed)
      results["images"] += rows
      if skipped:
        print(skipped, file=sys.stderr, flush=True)
        results["skipped"].append(skipped)
  markdown = render(results, s, args)
  print(markdown)
  settings = dict(size=args.size, sizes=s, toys=args.toys,
                  toy_families=args.toy_families, datasets=args.datasets,
                  image_families=args.image_families, seed=args.seed)
  path = common.write_results(args.out, "density", args.device, settings,
                              results, markdown)
  print(f"\nresults: {path}")


if __name__ == "__main__":
  main()
