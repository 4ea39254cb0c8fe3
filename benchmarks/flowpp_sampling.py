"""Flow++ sampling cost: root-finding inverse vs the analytic forward pass.

Flow++'s mixture couplings are analytic from data to latent (`log_prob`,
`encode`) and need a root finder from latent to data (`decode`, `sample`).
This times, inside `tf.function`, per batch:

* log_prob: data -> latent with log-dets (what training runs);
* encode:   data -> latent;
* decode:   latent -> data (root finding in every coupling);
* sample:   base draw + decode (`tfp_flows.sample`),

as medians over `--repeats` timed calls after `--warmup` untimed ones, and
prints a Markdown table with images/s and each time as a ratio to log_prob.
decode / encode isolates the root finder: both run the same networks.

The flow is freshly built, its ActNorms initialised on a uniform batch and
every weight moved by N(0, --perturb^2) so the mixtures are not the
near-identity of a new flow (which the root finder inverts in a step or two).

  python benchmarks/flowpp_sampling.py                 # tiny, < 1 min on CPU
  python benchmarks/flowpp_sampling.py --image-shape 32,32,3 --filters 32 \
      --num-components 8 --batch-size 16
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf

import tfp_flows
from tfp_flows.flows.flowpp import flowpp
# pylint: enable=g-import-not-at-top,wrong-import-position


def _ints(text):
  return [int(v) for v in text.split(",")]


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--image-shape", type=_ints, default=[8, 8, 1],
                      help="H,W,C (default 8,8,1: the digits)")
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--num-levels", type=int, default=1)
  parser.add_argument("--checkerboard-steps", type=int, default=2)
  parser.add_argument("--channel-steps", type=int, default=2)
  parser.add_argument("--final-steps", type=int, default=2)
  parser.add_argument("--filters", type=int, default=8)
  parser.add_argument("--num-blocks", type=int, default=1)
  parser.add_argument("--num-heads", type=int, default=4)
  parser.add_argument("--num-components", type=int, default=4)
  parser.add_argument("--perturb", type=float, default=0.05,
                      help="std of the noise added to every weight")
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--jit", action="store_true",
                      help="jit_compile=True (XLA; slower for convolutions "
                      "on CPU)")
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def _run(fn, args):
  # .numpy() waits for the result: a timing covers the whole computation.
  return fn(*args).numpy()


def _median_seconds(cases, repeats, warmup):
  """Median seconds per call of each case, the cases timed round-robin.

  Interleaving spreads any slowdown of a shared machine over every case
  alike, which keeps the ratios steadier than timing the cases one by one.
  """
  for _ in range(warmup):
    for _, fn, args in cases:
      _run(fn, args)
  times = {name: [] for name, _, _ in cases}
  for _ in range(repeats):
    for name, fn, args in cases:
      start = time.perf_counter()
      _run(fn, args)
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
  args = parse_args(argv)
  tf.random.set_seed(args.seed)
  dist = flowpp(args.image_shape, num_levels=args.num_levels,
                checkerboard_steps=args.checkerboard_steps,
                channel_steps=args.channel_steps,
                final_steps=args.final_steps, filters=args.filters,
                num_blocks=args.num_blocks, num_heads=args.num_heads,
                num_components=args.num_components)
  shape = [args.batch_size] + list(args.image_shape)
  x = tf.random.stateless_uniform(shape, [args.seed, 1])
  dist.log_prob(x)  # ActNorm's data-dependent initialisation.
  rng = np.random.default_rng(args.seed)
  for v in dist.trainable_variables:
    v.assign_add(tf.constant(rng.normal(0., args.perturb, v.shape), v.dtype))
  z = tfp_flows.encode(dist, x)
  n = tf.constant(args.batch_size)

  def traced(fn):
    return tf.function(fn, jit_compile=args.jit)

  cases = [
      ("log_prob", traced(dist.log_prob), (x,)),
      ("encode", traced(lambda x: tfp_flows.encode(dist, x)), (x,)),
      ("decode", traced(lambda z: tfp_flows.decode(dist, z)), (z,)),
      ("sample", traced(lambda n: tfp_flows.sample(dist, n)), (n,)),
  ]
  seconds = _median_seconds(cases, args.repeats, args.warmup)
  # A fresh z: the bijector cache would answer decode(z) with x itself.
  error = float(tf.reduce_max(tf.abs(
      tfp_flows.decode(dist, tf.identity(z)) - x)))
  params = sum(int(np.prod(v.shape)) for v in dist.trainable_variables)

  print(f"Flow++ {args.image_shape}, {params:,} parameters, batch "
        f"{args.batch_size}, K={args.num_components}, "
        f"{'XLA' if args.jit else 'tf.function'}; median of {args.repeats} (round-robin) "
        f"after {args.warmup} warm-up calls; decode(encode(x)) max error "
        f"{error:.1e}\n")
  print("| pass | ms / batch | images / s | time / log_prob |")
  print("| --- | ---: | ---: | ---: |")
  for name, _, _ in cases:
    s = seconds[name]
    print(f"| {name} | {1e3 * s:.1f} | {args.batch_size / s:,.0f} | "
          f"{s / seconds['log_prob']:.2f}x |")
  print(f"\nroot finding (decode / encode, same networks): "
        f"{seconds['decode'] / seconds['encode']:.2f}x")


if __name__ == "__main__":
  main()
