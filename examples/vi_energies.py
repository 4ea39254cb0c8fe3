"""Rezende & Mohamed's (2015) energies U1-U4 fitted by variational inference.

Fits an IAF (`tfp_flows.flows.iaf`) to each unnormalised density
p(z) ~ exp(-U(z)) (`tfp_flows.targets.energy`) by reverse KL with
`tfp_flows.vi.VariationalFlowModel`, annealing the target as the paper did
(beta from 1/steps_anneal up to 1, `LinearWarmup`), and writes one PNG: a row per energy,
the target density and the flow's density q(z) on [-4, 4]^2 side by side.
Prints each fit's ESS fraction, Pareto k-hat and log Z estimate.

  python examples/vi_energies.py --out docs/vi_energies.png     # ~3 min, 2 cores
  python examples/vi_energies.py --energies U1 --steps 5 --out /tmp/u1.png
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import targets
from tfp_flows import vi

LIMIT = 4.  # the grid spans [-LIMIT, LIMIT]^2, the paper's plots'


def fit(target, steps, num_layers, learning_rate, seed):
  flow = tfp_flows.flows.iaf([2], num_layers=num_layers,
                             hidden_units=[64, 64], seed=seed)
  model = vi.VariationalFlowModel(
      flow, target.log_prob, sample_size=256, seed=seed,
      annealing=tfp_flows.LinearWarmup(1., max(steps // 2, 1)))
  model.compile(tf_keras.optimizers.Adam(learning_rate))
  model.fit(epochs=1, steps_per_epoch=steps, verbose=0,
            callbacks=[tfp_flows.NaNGuard()])
  return flow


def density(log_prob, grid):
  flat = tf.constant(grid.reshape(-1, 2), tf.float32)
  values = tf.concat([log_prob(chunk) for chunk in tf.split(flat, 10)], 0)
  return np.exp(values.numpy().reshape(grid.shape[:2]))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--energies", default=",".join(targets.ENERGIES))
  parser.add_argument("--steps", type=int, default=4000)
  parser.add_argument("--layers", type=int, default=8)
  parser.add_argument("--lr", type=float, default=1e-3)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--grid", type=int, default=200)
  parser.add_argument("--out", default="vi_energies.png")
  args = parser.parse_args()
  names = [n for n in args.energies.split(",") if n]
  axis = np.linspace(-LIMIT, LIMIT, args.grid, dtype=np.float32)
  grid = np.stack(np.meshgrid(axis, axis[::-1]), -1)  # z2 upwards
  fig, axes = plt.subplots(len(names), 2, figsize=(6, 3 * len(names)),
                           squeeze=False)
  for row, name in enumerate(names):
    target = targets.energy(name)
    flow = fit(target, args.steps, args.layers, args.lr, args.seed)
    found = vi.importance_diagnostics(flow, target.log_prob,
                                      num_samples=10000, seed=args.seed)
    print(f"{name}: ESS fraction {found['ess_fraction']:.3f}, k-hat "
          f"{found['k_hat']:.2f}, log Z {found['log_z']:.4f} "
          f"+- {found['log_z_se']:.4f}", flush=True)
    extent = [-LIMIT, LIMIT, -LIMIT, LIMIT]
    axes[row, 0].imshow(density(target.log_prob, grid), extent=extent,
                        cmap="viridis")
    axes[row, 0].set_title(f"{name}: exp(-U)")
    axes[row, 1].imshow(density(flow.log_prob, grid), extent=extent,
                        cmap="viridis")
    axes[row, 1].set_title(f"IAF q, ESS {found['ess_fraction']:.2f}")
    for ax in axes[row]:
      ax.set_xticks([])
      ax.set_yticks([])
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  fig.savefig(args.out, dpi=80)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
