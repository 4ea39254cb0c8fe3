"""NeuTra HMC (Hoffman et al. 2019): MCMC in the latent space of a fitted flow.

A flow q = f_# N(0, I) fitted to a target p by variational inference makes
the pulled-back target

  p_z(z) = p(f(z)) |det df/dz|

nearly a standard normal, on which HMC and NUTS need one step size and
short trajectories however badly scaled p is (Neal's funnel, say).
`sample` runs `tfp.mcmc.NoUTurnSampler` (or `HamiltonianMonteCarlo`) inside
`tfp.mcmc.TransformedTransitionKernel(bijector=flow.bijector)`, with
step-size adaptation during burn-in, and returns the draws in the target's
space with a report of their effective sample size per gradient evaluation.
One leapfrog step is one gradient of log p_z, which runs the flow forward
once (one pass per layer for an IAF) and the target's gradient once.

#### Example

```python
target = tfp_flows.targets.funnel(3)
flow = tfp_flows.flows.iaf(target.event_shape)  # fitted first, see `vi`
samples, report = tfp_flows.neutra.sample(flow, target.log_prob)
report["ess_per_gradient"]
# The same budget without the flow, for comparison:
tfp_flows.neutra.sample(flow, target.log_prob, precondition=False)
```
"""

import time

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.tfp_internal import unnest


__all__ = ["ADAPTATIONS", "KERNELS", "sample"]

KERNELS = ("nuts", "hmc")
ADAPTATIONS = ("dual_averaging", "simple")


def _kernel(log_prob_fn, kernel, step_size, num_leapfrog_steps,
            max_tree_depth):
  if kernel == "nuts":
    return tfp.mcmc.NoUTurnSampler(log_prob_fn, step_size=step_size,
                                   max_tree_depth=max_tree_depth)
  return tfp.mcmc.HamiltonianMonteCarlo(
      log_prob_fn, step_size=step_size, num_leapfrog_steps=num_leapfrog_steps)


def _leapfrogs(results, kernel, num_leapfrog_steps, num_chains):
  """Leapfrog steps (gradient evaluations) of one MCMC step, per chain."""
  if kernel == "nuts":
    return unnest.get_innermost(results, "leapfrogs_taken")
  return tf.fill([num_chains], tf.constant(num_leapfrog_steps, tf.int32))


def sample(flow,
           target_log_prob_fn,
           num_results=500,
           num_burnin_steps=500,
           num_chains=4,
           kernel="nuts",
           precondition=True,
           adaptation="dual_averaging",
           step_size=0.1,
           num_leapfrog_steps=8,
           max_tree_depth=10,
           target_accept_prob=0.8,
           seed=0,
           jit_compile=False):
  """Draws from the target by NUTS or HMC in the flow's latent space.

  Chains start at draws from the flow. Step sizes adapt (one per chain)
  during the first 80% of the burn-in: dual averaging
  (`tfp.mcmc.DualAveragingStepSizeAdaptation`) or
  `tfp.mcmc.SimpleStepSizeAdaptation`, towards `target_accept_prob`.

  Args:
    flow: a fitted flow, a `tfd.TransformedDistribution` over a standard
      base (e.g. trained by `vi.VariationalFlowModel`).
    target_log_prob_fn: log p~(x): x [num_chains, *event] -> [num_chains].
    num_results: draws kept per chain.
    num_burnin_steps: steps discarded first (adaptation included).
    num_chains: independent chains.
    kernel: "nuts" or "hmc".
    precondition: False runs the same sampler on the target itself, from
      the same starting points: the baseline NeuTra is measured against.
    adaptation: "dual_averaging" or "simple".
    step_size: initial step size.
    num_leapfrog_steps: HMC's trajectory length.
    max_tree_depth: NUTS's largest tree, 2^depth leapfrog steps.
    target_accept_prob: the adaptation's target acceptance rate.
    seed: int seed.
    jit_compile: compile the chain with XLA.

  Returns:
    (samples, report): samples [num_results, num_chains, *event] (NumPy) in
    the target's space, and a dict with `ess` (per event entry, summed over
    chains; `tfp.mcmc.effective_sample_size`), `min_ess`,
    `gradient_evaluations` (leapfrog steps of the kept draws, all chains),
    `burnin_gradient_evaluations`, `ess_per_gradient` (min_ess /
    gradient_evaluations), `acceptance_rate`, `step_size` (mean of the
    chains' final ones) and `seconds` (wall time, tracing included).

  Raises:
    ValueError: an unknown `kernel` or `adaptation`, or too few results or
      chains.

  References:
    Hoffman, M., Sountsov, P., Dillon, J. V., Langmore, I., Tran, D. &
      Vasudevan, S. (2019). NeuTra-lizing Bad Geometry in Hamiltonian Monte
      Carlo Using Neural Transport. arXiv:1903.03704.
    Hoffman, M. D. & Gelman, A. (2014). The No-U-Turn Sampler: Adaptively
      Setting Path Lengths in Hamiltonian Monte Carlo. JMLR 15, 1593-1623.
      arXiv:1111.4246.
  """
  if kernel not in KERNELS:
    raise ValueError(f"`kernel` must be one of {KERNELS}; got {kernel!r}.")
  if adaptation not in ADAPTATIONS:
    raise ValueError(f"`adaptation` must be one of {ADAPTATIONS}; got "
                     f"{adaptation!r}.")
  if num_results < 4 or num_chains < 1 or num_burnin_steps < 0:
    raise ValueError(
        "`num_results` must be >= 4 (for ESS), `num_chains` >= 1 and "
        f"`num_burnin_steps` >= 0; got {num_results}, {num_chains}, "
        f"{num_burnin_steps}.")
  dtype = flow.dtype
  step_size = tf.fill([num_chains] + [1] * flow.event_shape.rank,
                      tf.constant(step_size, dtype))
  inner = _kernel(target_log_prob_fn, kernel, step_size, num_leapfrog_steps,
                  max_tree_depth)
  if precondition:
    inner = tfp.mcmc.TransformedTransitionKernel(inner, flow.bijector)
  num_adaptation_steps = int(0.8 * num_burnin_steps)
  if adaptation == "dual_averaging":
    mcmc = tfp.mcmc.DualAveragingStepSizeAdaptation(
        inner, num_adaptation_steps=num_adaptation_steps,
        target_accept_prob=tf.constant(target_accept_prob, dtype))
  else:
    mcmc = tfp.mcmc.SimpleStepSizeAdaptation(
        inner, num_adaptation_steps=num_adaptation_steps,
        target_accept_prob=tf.constant(target_accept_prob, dtype))
  init_seed, chain_seed = tfp.random.split_seed(seed, 2)

  def trace(_, results):
    return (_leapfrogs(results, kernel, num_leapfrog_steps, num_chains),
            unnest.get_innermost(results, "is_accepted"),
            unnest.get_innermost(results, "step_size"))

  @tf.function(jit_compile=jit_compile, autograph=False)
  def run():
    # One chain through burn-in and draws, traced whole and split after:
    # the burn-in's gradient evaluations are reported too.
    return tfp.mcmc.sample_chain(
        num_burnin_steps + num_results,
        flow.sample(num_chains, seed=init_seed), kernel=mcmc,
        trace_fn=trace, seed=chain_seed)

  began = time.perf_counter()
  states, (leapfrogs, accepted, step_sizes) = run()
  seconds = time.perf_counter() - began
  draws = states[num_burnin_steps:]
  leapfrogs = leapfrogs.numpy()
  ess = tfp.mcmc.effective_sample_size(draws, cross_chain_dims=1).numpy()
  grads = int(np.sum(leapfrogs[num_burnin_steps:]))
  min_ess = float(np.min(ess))
  report = {
      "ess": ess,
      "min_ess": min_ess,
      "gradient_evaluations": grads,
      "burnin_gradient_evaluations": int(np.sum(leapfrogs[:num_burnin_steps])),
      "ess_per_gradient": min_ess / max(grads, 1),
      "acceptance_rate": float(np.mean(accepted.numpy()[num_burnin_steps:])),
      "step_size": float(np.mean(step_sizes.numpy()[-1])),
      "seconds": seconds,
  }
  return draws.numpy(), report
