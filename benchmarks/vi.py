"""Flows as surrogate posteriors and as NeuTra preconditioners: Markdown tables.

Table 1: importance diagnostics (`tfp_flows.vi.importance_diagnostics`, 20000
draws) of surrogates fitted by reverse KL with the same budget (steps, draws
per step, Adam and its learning rate), on the banana, Neal's 10-D funnel,
the 31-D Bayesian logistic regression and Rezende & Mohamed's 2-D energies
U1-U4 (`tfp_flows.targets`):

* ours (iaf): `flows.iaf(event_shape)` at its defaults (5 layers, MADE
  [64, 64]) trained by `vi.VariationalFlowModel` at its defaults;
* ours (planar), ours (radial), ours (sylvester): the classic surrogates,
  `flows.planar` (8 layers), `flows.radial` (8 layers) and
  `flows.sylvester` (4 Householder Sylvester layers, 2 reflections each) at
  their defaults, trained the same way;
* ours (residual_flow): `flows.residual_flow` at its defaults (4 invertible
  residual blocks of 64-64 Lipschitz MLPs, exact log-dets); its samples
  invert each block by fixed-point iteration, with the implicit gradient;
* TFP affine: `tfp.experimental.vi.build_affine_surrogate_posterior`
  (full-rank Gaussian, operators="tril"), trained by
  `tfp.vi.fit_surrogate_posterior`;
* TFP IAF: written from the IAF example of `tfb.MaskedAutoregressiveFlow`'s
  documentation, `tfb.Invert(tfb.MaskedAutoregressiveFlow(
  tfb.AutoregressiveNetwork(params=2, hidden_units=[256, 256])))`, two
  layers with a reversal between, also trained by
  `tfp.vi.fit_surrogate_posterior`.

Table 2: NeuTra (`tfp_flows.neutra.sample`) with our fitted funnel flow
against plain NUTS, the same chains, steps and adaptation: effective samples
(the worst coordinate) per gradient evaluation.

Usage: python benchmarks/vi.py [--steps 5000] [--seeds 0,1,2]
  [--targets banana,U1]
  [--surrogates iaf,planar,radial,sylvester,residual_flow,tfp_affine,tfp_iaf]
"""

import argparse
import functools
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import tfp_flows
from tfp_flows import neutra
from tfp_flows import targets
from tfp_flows import vi
# pylint: enable=g-import-not-at-top,wrong-import-position

tf.get_logger().setLevel("ERROR")
tfb = tfp.bijectors
tfd = tfp.distributions

# Command-line name -> table name.
SURROGATES = {"iaf": "ours (iaf)", "planar": "ours (planar)",
              "radial": "ours (radial)", "sylvester": "ours (sylvester)",
              "residual_flow": "ours (residual_flow)",
              "tfp_affine": "TFP affine", "tfp_iaf": "TFP IAF"}
TARGETS = {"banana": targets.banana, "funnel10": lambda: targets.funnel(10),
           "logistic_regression": targets.logistic_regression,
           **{name: functools.partial(targets.energy, name)
              for name in targets.ENERGIES}}


def tfp_affine(dim, seed):
  return tfp.experimental.vi.build_affine_surrogate_posterior(
      event_shape=[dim], operators="tril", seed=seed)


def tfp_iaf(dim, seed):
  del seed  # AutoregressiveNetwork seeds its initializers globally.
  layers = []
  for i in range(2):
    if i:
      layers.append(tfb.Permute(np.arange(dim)[::-1].astype(np.int32)))
    layers.append(tfb.Invert(tfb.MaskedAutoregressiveFlow(
        shift_and_log_scale_fn=tfb.AutoregressiveNetwork(
            params=2, hidden_units=[256, 256], activation="relu"))))
  return tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [dim]), tfb.Chain(layers))


def fit_ours(target, steps, sample_size, learning_rate, seed, flow="iaf"):
  # The builder's seed picks permutations (IAF) or initial draws (planar,
  # radial, Sylvester); networks' initial weights come from the global
  # stream, seeded here so a seed is one fit.
  tf_keras.utils.set_random_seed(seed)
  flow = tfp_flows.flows.registry.BUILDERS[flow](target.event_shape,
                                                  seed=seed)
  model = vi.VariationalFlowModel(flow, target.log_prob,
                                  sample_size=sample_size, seed=seed)
  model.compile(tf_keras.optimizers.Adam(learning_rate))
  model.fit(epochs=1, steps_per_epoch=steps, verbose=0,
            callbacks=[tfp_flows.NaNGuard()])
  return flow


def fit_tfp(surrogate, target, steps, sample_size, learning_rate, seed):
  dim = target.event_shape[0]
  tf.random.set_seed(seed)
  dist = surrogate(dim, seed)
  if not dist.trainable_variables:
    dist.sample(1)  # AutoregressiveNetwork builds on first use.
  optimizer = tf_keras.optimizers.Adam(learning_rate)

  @tf.function
  def fit():
    return tfp.vi.fit_surrogate_posterior(
        target.log_prob, dist, optimizer, steps, sample_size=sample_size,
        seed=tf.constant([seed, 1]))

  losses = fit()
  if not np.isfinite(losses.numpy()[-1]):
    print(f"  ({target.name}: TFP's fit ended at a non-finite loss)")
  return dist


def run_vi(args):
  rows = {}
  for target in (TARGETS[name]() for name in args.targets):
    for key in args.surrogates:
      name = SURROGATES[key]
      results = []
      for seed in args.seeds:
        began = time.perf_counter()
        if key.startswith("tfp_"):
          dist = fit_tfp(tfp_affine if key == "tfp_affine" else tfp_iaf,
                         target, args.steps, args.sample_size, args.lr, seed)
        else:
          dist = fit_ours(target, args.steps, args.sample_size, args.lr, seed,
                          flow=key)
        seconds = time.perf_counter() - began
        found = vi.importance_diagnostics(dist, target.log_prob,
                                          num_samples=args.draws, seed=seed)
        found["seconds"] = seconds
        results.append(found)
        print(f"  {target.name} {name} seed {seed}: " + ", ".join(
            f"{k} {v:.4g}" for k, v in found.items()), flush=True)
      rows[(target.name, name)] = (target.log_z, results)
  return rows


def _cell(values, digits=3):
  values = np.asarray(values, float)
  if len(values) == 1:
    return f"{values[0]:.{digits}f}"
  return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def print_vi_table(rows):
  print("\n| target | surrogate | ESS fraction | log Z estimate | "
        "abs log Z error | k-hat | fit seconds |")
  print("|---|---|---|---|---|---|---|")
  for (target, name), (true_log_z, results) in rows.items():
    log_z = [r["log_z"] for r in results]
    error = (_cell([abs(v - true_log_z) for v in log_z])
             if true_log_z is not None else "n/a (unnormalised)")
    print(f"| {target} | {name} | "
          f"{_cell([r['ess_fraction'] for r in results])} | "
          f"{_cell(log_z)} | {error} | "
          f"{_cell([r['k_hat'] for r in results], 2)} | "
          f"{_cell([r['seconds'] for r in results], 0)} |")


def run_neutra(args):
  target = targets.funnel(10)
  flow = fit_ours(target, args.steps, args.sample_size, args.lr,
                  args.seeds[0])
  print("\n| funnel10 sampler | min ESS | gradient evaluations | "
        "ESS per gradient | acceptance | seconds |")
  print("|---|---|---|---|---|---|")
  found = {}
  for precondition in (True, False):
    _, report = neutra.sample(
        flow, target.log_prob, num_results=args.mcmc_steps,
        num_burnin_steps=args.mcmc_steps, num_chains=4,
        precondition=precondition, seed=args.seeds[0])
    found[precondition] = report["ess_per_gradient"]
    print(f"| {'NeuTra NUTS (ours)' if precondition else 'NUTS'} | "
          f"{report['min_ess']:.0f} | {report['gradient_evaluations']} | "
          f"{report['ess_per_gradient']:.4f} | "
          f"{report['acceptance_rate']:.2f} | {report['seconds']:.0f} |",
          flush=True)
  print(f"\nNeuTra / NUTS, ESS per gradient: {found[True] / found[False]:.1f}x")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=5000,
                      help="optimizer steps per fit (default 5000)")
  parser.add_argument("--sample-size", type=int, default=256,
                      help="draws per step (default 256, the model's)")
  parser.add_argument("--lr", type=float, default=1e-3,
                      help="Adam's learning rate (default 1e-3)")
  parser.add_argument("--seeds", default="0",
                      type=lambda s: [int(v) for v in s.split(",")])
  parser.add_argument("--targets", default=",".join(TARGETS),
                      type=lambda s: s.split(","),
                      help=f"comma-separated, of {', '.join(TARGETS)}")
  parser.add_argument("--surrogates", default=",".join(SURROGATES),
                      type=lambda s: s.split(","),
                      help=f"comma-separated, of {', '.join(SURROGATES)}")
  parser.add_argument("--draws", type=int, default=20000,
                      help="draws for the diagnostics (default 20000)")
  parser.add_argument("--mcmc-steps", type=int, default=1000,
                      help="burn-in steps, and as many kept, per chain")
  parser.add_argument("--skip-vi", action="store_true")
  parser.add_argument("--skip-neutra", action="store_true")
  args = parser.parse_args()
  for value, known, what in ((args.targets, TARGETS, "target"),
                             (args.surrogates, SURROGATES, "surrogate")):
    unknown = sorted(set(value) - set(known))
    if unknown:
      parser.error(f"unknown {what}(s) {unknown}; known: {sorted(known)}")
  tf.config.set_visible_devices([], "GPU")
  print(f"steps {args.steps}, {args.sample_size} draws per step, Adam "
        f"{args.lr}, seeds {args.seeds}, diagnostics from {args.draws} draws")
  if not args.skip_vi:
    print_vi_table(run_vi(args))
  if not args.skip_neutra:
    run_neutra(args)


if __name__ == "__main__":
  main()
