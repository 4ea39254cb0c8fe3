"""Density plots of every flow family on the 2-D toys, side by side.

Trains NICE, an affine-coupling flow (RealNVP's couplings on vectors), MAF,
IAF, NAF (deep sigmoidal flows), FFJORD and a mixed chain (affine couplings, then MAF layers) on each toy
with `tfp_flows.FlowModel`, and writes one PNG: a row per toy, the data's
histogram first, then each flow's density exp(log p(x)) on the same grid,
titled with its test NLL (the toy's true entropy, the best reachable NLL, is
in the row label; computed in `tfp_flows.toy_entropy`).

  python examples/toy_densities.py                       # ~12 min, 2 cores
  python examples/toy_densities.py --toys moons --steps 300 --ffjord-steps 100
  python examples/toy_densities.py --families nice,maf --toys moons --steps 3
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.chain import chain
from tfp_flows.flows.coupling_flow import coupling_flow
from tfp_flows.flows.ffjord import ffjord
from tfp_flows.toy_entropy import TOY_ENTROPY as ENTROPY

# family -> (builder, learning rate); FFJORD trains for --ffjord-steps.
FAMILIES = {
    "NICE": (lambda: tfp_flows.flows.nice([2], num_layers=6,
                                          hidden_units=[64, 64],
                                          prior="gaussian"), 1e-2),
    "affine coupling": (lambda: coupling_flow(
        [2], num_layers=8, hidden_units=[64, 64]), 1e-2),
    "MAF": (lambda: maf([2], num_layers=8, hidden_units=[64, 64]), 5e-3),
    "IAF": (lambda: iaf([2], num_layers=6, hidden_units=[64, 64]), 1e-2),
    "NAF": (lambda: tfp_flows.flows.naf([2], num_layers=6,
                                        hidden_units=[64, 64],
                                        num_sigmoids=8), 1e-2),
    "FFJORD": (lambda: ffjord([2], hidden_units=[64, 64, 64], atol=1e-4,
                              rtol=1e-4), 1e-2),
    "chain (coupling + MAF)": (lambda: chain(
        coupling_flow([2], num_layers=4, name="couplings"),
        maf([2], num_layers=4)), 5e-3),
}

# --families names.
SHORT_NAMES = {"nice": "NICE", "affine": "affine coupling", "maf": "MAF",
               "iaf": "IAF", "naf": "NAF", "ffjord": "FFJORD",
               "chain": "chain (coupling + MAF)"}

LIMIT = 4.5  # the grid spans [-LIMIT, LIMIT]^2


def train(dist, toy, steps, learning_rate, seed):
  """Fits `dist` to the toy with FlowModel; returns its test NLL (nats)."""
  data = tf.data.Dataset.from_tensor_slices(
      tfp_flows.data.toy(toy, 100_000, seed=seed)).shuffle(
          100_000, seed=seed).repeat().batch(512)
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(
      tf_keras.optimizers.schedules.CosineDecay(learning_rate, steps,
                                                alpha=0.02)))
  model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0,
            callbacks=[tfp_flows.NaNGuard()])
  test = tf.data.Dataset.from_tensor_slices(
      tfp_flows.data.toy(toy, 10_000, seed=seed + 1)).batch(2000)
  return tfp_flows.evaluate_nll(dist, test)


def density(dist, points):
  """exp(log p) on a grid of [N, N, 2] points, in batches."""
  log_prob = tf.function(dist.log_prob,
                         input_signature=[tf.TensorSpec([None, 2])])
  flat = points.reshape([-1, 2])
  values = np.concatenate([log_prob(flat[i:i + 4096]).numpy()
                           for i in range(0, len(flat), 4096)])
  return np.exp(values).reshape(points.shape[:2])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--toys", default="moons,8gaussians,checkerboard,rings",
                      help="comma-separated toy names (tfp_flows.data.toy)")
  parser.add_argument("--families", default=",".join(SHORT_NAMES),
                      help="comma-separated, of " + ", ".join(SHORT_NAMES))
  parser.add_argument("--steps", type=int, default=2000,
                      help="training steps per flow (batch 512)")
  parser.add_argument("--ffjord-steps", type=int, default=500,
                      help="training steps for FFJORD, whose steps cost more")
  parser.add_argument("--grid", type=int, default=120,
                      help="density grid points per axis")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="saved_models/toy_densities.png")
  args = parser.parse_args()
  toys = args.toys.split(",")
  names = args.families.split(",")
  unknown = sorted(set(names) - set(SHORT_NAMES))
  if unknown:
    parser.error(f"unknown families {unknown}; known: {list(SHORT_NAMES)}")
  families = {SHORT_NAMES[n]: FAMILIES[SHORT_NAMES[n]] for n in names}
  ticks = np.linspace(-LIMIT, LIMIT, args.grid, dtype=np.float32)
  points = np.stack(np.meshgrid(ticks, ticks[::-1]), axis=-1)
  extent = [-LIMIT, LIMIT, -LIMIT, LIMIT]
  fig, axes = plt.subplots(
      len(toys), len(families) + 1, squeeze=False,
      figsize=(2.2 * (len(families) + 1), 2.4 * len(toys)))
  start = time.time()
  for row, toy in enumerate(toys):
    data = tfp_flows.data.toy(toy, 50_000, seed=args.seed + 2)
    axes[row, 0].hist2d(data[:, 0], data[:, 1], bins=args.grid,
                        range=[[-LIMIT, LIMIT]] * 2, cmap="magma")
    axes[row, 0].set_title("data", fontsize=9)
    axes[row, 0].set_ylabel(f"{toy}\nH = {ENTROPY.get(toy, float('nan')):.3f}",
                            fontsize=9)
    for col, (family, (build, learning_rate)) in enumerate(families.items(),
                                                           start=1):
      tic = time.time()
      tf_keras.utils.set_random_seed(args.seed)
      dist = build()
      steps = args.ffjord_steps if family == "FFJORD" else args.steps
      nll = train(dist, toy, steps, learning_rate, args.seed)
      axes[row, col].imshow(density(dist, points), extent=extent,
                            cmap="magma")
      axes[row, col].set_title(f"{family}\nNLL {nll:.3f}", fontsize=9)
      print(f"{toy:12s} {family:24s} test NLL {nll:.3f} "
            f"({time.time() - tic:.0f} s)", flush=True)
  for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  fig.savefig(args.out, dpi=110)
  print(f"wrote {args.out} in {time.time() - start:.0f} s")


if __name__ == "__main__":
  main()
