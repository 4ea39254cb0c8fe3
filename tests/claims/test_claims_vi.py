"""The README's variational-inference claims, on its own command's recipe.

The README's VI tables come from `python benchmarks/vi.py` (its `fit_ours`:
`flows.iaf(event_shape)` at its defaults in `VariationalFlowModel`, Adam
1e-3, 256 draws per step; diagnostics from 20,000 draws). It claims, at
5000 steps:

* ESS fraction >= 0.5 on banana, the 10-D funnel and the 31-D logistic
  regression, and |log Z| <= 0.02 on the two normalised targets (log Z = 0);
* NUTS in the fitted flow's latent space (NeuTra) gets far more effective
  samples per gradient than plain NUTS on the funnel (361x there);
* (docs/vi.md) a residual flow as the surrogate beats the IAF's ESS fraction
  on the logistic regression, at the same log Z.

CI budgets, the smallest at which each holds with margin (measured
2026-12-05, 2 cores; `fit_ours` seeds the global stream, so a seed is one
fit): banana and funnel after 500 steps (ESS fraction 0.98 and 0.74 at
seed 0, 0.98 and 0.84 at seed 1; |log Z| <= 0.002; the funnel's ESS
fraction does not grow with more steps: 0.66 at 1000, 0.60 at 2000, seed
0); the logistic regression needs the README's 5000 steps (0.563 at seed
0; 0.43 after 3000); NeuTra after 500 steps, with 200 burn-in and 200 kept
NUTS steps per chain: 155x (asserted: > 10x). The slow tests check banana
and the funnel at the README's budget (seed 0; the README's table adds
seeds 1 and 2), the residual surrogate's claim (seed 0) and repeat its
NeuTra run. Figures are printed (`pytest
-s`).
"""

import functools
import os
import sys

import pytest

from tfp_flows import neutra
from tfp_flows import targets
from tfp_flows import vi

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "benchmarks"))
import vi as vi_benchmark  # pylint: disable=g-import-not-at-top,wrong-import-position

pytestmark = pytest.mark.claims

TARGETS = {"banana": targets.banana, "funnel10": lambda: targets.funnel(10),
           "logistic_regression": targets.logistic_regression}
README_STEPS = 5000
CI_STEPS = {"banana": 500, "funnel10": 500,
            "logistic_regression": README_STEPS}


@functools.cache
def _fit(name, steps, seed, surrogate="iaf"):
  target = TARGETS[name]()
  flow = vi_benchmark.fit_ours(target, steps, sample_size=256,
                               learning_rate=1e-3, seed=seed, flow=surrogate)
  return target, flow


@functools.cache
def _diagnostics(name, steps, seed, surrogate="iaf"):
  target, flow = _fit(name, steps, seed, surrogate)
  found = vi.importance_diagnostics(flow, target.log_prob, num_samples=20000,
                                    seed=seed)
  print(f"{name}, {surrogate}, {steps} steps, seed {seed}: ESS fraction "
        f"{found['ess_fraction']:.3f}, log Z {found['log_z']:.4f}")
  return target, found


def _check_goals(name, steps, seed):
  target, found = _diagnostics(name, steps, seed)
  assert found["ess_fraction"] >= 0.5, (name, seed, found)
  if target.log_z is not None:
    assert abs(found["log_z"] - target.log_z) <= 0.02, (name, seed, found)


def _neutra_gain(steps, mcmc_steps):
  """NeuTra's ESS per gradient over plain NUTS's on the funnel (seed 0)."""
  target, flow = _fit("funnel10", steps, 0)
  per_gradient = {}
  for precondition in (True, False):
    _, report = neutra.sample(flow, target.log_prob, num_results=mcmc_steps,
                              num_burnin_steps=mcmc_steps, num_chains=4,
                              precondition=precondition, seed=0)
    per_gradient[precondition] = report["ess_per_gradient"]
  gain = per_gradient[True] / per_gradient[False]
  print(f"NeuTra / NUTS, ESS per gradient after {steps} fit steps and "
        f"{mcmc_steps} NUTS steps: {gain:.1f}x")
  return gain


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["banana", "funnel10"])
def test_vi_goals_at_the_ci_budget(name, seed):
  _check_goals(name, CI_STEPS[name], seed)


def test_vi_goals_on_the_logistic_regression():
  _check_goals("logistic_regression", CI_STEPS["logistic_regression"], 0)


def test_neutra_beats_plain_nuts():
  assert _neutra_gain(500, 200) > 10.


@pytest.mark.slow
@pytest.mark.parametrize("name", ["banana", "funnel10"])
def test_vi_goals_at_the_readme_budget(name):
  _check_goals(name, README_STEPS, 0)


@pytest.mark.slow
def test_residual_surrogate_beats_the_iaf_on_the_logistic_regression():
  # docs/vi.md: the residual flow has the highest ESS fraction of any
  # surrogate there on the 31-D logistic regression (seed 0: 0.679 against
  # the IAF's 0.563; a residual fit costs about 5.5 minutes on 2 cores), at
  # the same log Z.
  name = "logistic_regression"
  _, iaf = _diagnostics(name, README_STEPS, 0)
  _, residual = _diagnostics(name, README_STEPS, 0, "residual_flow")
  assert residual["ess_fraction"] > iaf["ess_fraction"] + 0.05, (
      residual, iaf)
  assert abs(residual["log_z"] - iaf["log_z"]) < 0.05, (residual, iaf)


@pytest.mark.slow
def test_neutra_gain_at_the_readme_budget():
  assert _neutra_gain(README_STEPS, 1000) > 100.
