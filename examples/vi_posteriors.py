"""VI and NeuTra on the banana, Neal's funnel or the logistic regression.

Fits the default surrogate, `tfp_flows.flows.iaf(event_shape)`, to the target
(`tfp_flows.targets`) with `tfp_flows.vi.VariationalFlowModel` at its
defaults, prints its importance diagnostics, then draws by NeuTra NUTS
(`tfp_flows.neutra.sample`) and by plain NUTS with the same budget, prints
their effective samples per gradient evaluation, and writes a PNG of the
first two coordinates: the flow's draws, NeuTra's and plain NUTS's.

  python examples/vi_posteriors.py --target funnel --out funnel.png   # ~2 min
  python examples/vi_posteriors.py --target logistic_regression --steps 5000
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import neutra
from tfp_flows import targets
from tfp_flows import vi

TARGETS = {"banana": targets.banana, "funnel": lambda: targets.funnel(10),
           "logistic_regression": targets.logistic_regression}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--target", choices=sorted(TARGETS), default="funnel")
  parser.add_argument("--steps", type=int, default=3000)
  parser.add_argument("--mcmc-steps", type=int, default=500,
                      help="burn-in steps, and as many kept, per chain")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="vi_posterior.png")
  args = parser.parse_args()
  target = TARGETS[args.target]()
  flow = tfp_flows.flows.iaf(target.event_shape, seed=args.seed)
  model = vi.VariationalFlowModel(flow, target.log_prob, seed=args.seed)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  model.fit(epochs=1, steps_per_epoch=args.steps, verbose=0,
            callbacks=[tfp_flows.NaNGuard()])
  found = vi.importance_diagnostics(flow, target.log_prob, seed=args.seed)
  print(f"{target.name}: " + ", ".join(f"{k} {v:.4f}"
                                       for k, v in found.items()))
  panels = [("flow q", flow.sample(2000, seed=args.seed).numpy())]
  for precondition in (True, False):
    samples, report = neutra.sample(
        flow, target.log_prob, num_results=args.mcmc_steps,
        num_burnin_steps=args.mcmc_steps, precondition=precondition,
        seed=args.seed)
    label = "NeuTra NUTS" if precondition else "NUTS"
    print(f"{label}: min ESS {report['min_ess']:.0f} from "
          f"{report['gradient_evaluations']} gradients, ESS per gradient "
          f"{report['ess_per_gradient']:.4f}")
    panels.append((label, samples.reshape(-1, samples.shape[-1])))
  fig, axes = plt.subplots(1, 3, figsize=(10, 3.3), sharex=True, sharey=True)
  for ax, (label, draws) in zip(axes, panels):
    ax.scatter(draws[:, 0], draws[:, 1], s=2, alpha=0.3)
    ax.set_title(label)
    ax.set_xlabel("x[0]")
  axes[0].set_ylabel("x[1]")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  fig.savefig(args.out, dpi=80)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  tf.get_logger().setLevel("ERROR")
  main()
