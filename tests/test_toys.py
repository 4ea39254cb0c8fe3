"""Every flow family learns the 2-D toys: test NLL near the toy's true entropy.

The entropy H (`tfp_flows.toy_entropy.TOY_ENTROPY`, computed by quadrature
of each toy's density: moons 2.394, 8gaussians 2.832 nats) is the
lowest test NLL any model can reach, so NLL - H measures how far a trained
flow is from the data density. The CI budgets below are small, so the
margins are loose; the slow variants train longer and assert tighter ones.
Each CI margin is the worst excess measured over seeds 0-2, each slow one
the excess at seed 0, rounded up with some slack (figures in the comments).
Every margin is below the excess of the best single Gaussian (mean and
covariance of the training points; moons 0.90, 8gaussians 1.42 nats), so a
flow that learned no more than a Gaussian fails.

`pytest -m slow -s tests/test_toys.py` prints docs/flows.md's table of test
NLLs (with `-m claims`, the same table at the CI budgets, which `make
test-claims` checks).
"""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.chain import chain
from tfp_flows.flows.coupling_flow import coupling_flow
from tfp_flows.flows.ffjord import ffjord
from tfp_flows.toy_entropy import TOY_ENTROPY as ENTROPY

BUILDERS = {
    "nice": lambda: tfp_flows.flows.nice([2], num_layers=6,
                                         hidden_units=[64, 64],
                                         prior="gaussian"),
    "affine": lambda: coupling_flow([2], num_layers=6,
                                                hidden_units=[64, 64]),
    "maf": lambda: maf([2], num_layers=6, hidden_units=[64, 64]),
    # Fewer layers: IAF's density, hence its training step, is sequential.
    "iaf": lambda: iaf([2], num_layers=4, hidden_units=[64, 64]),
    "ffjord": lambda: ffjord([2], hidden_units=[32, 32], atol=1e-3,
                             rtol=1e-3),
    # Deep sigmoidal flows (8 sigmoids per entry), ActNorm before each layer.
    "naf": lambda: tfp_flows.flows.naf([2], num_layers=6,
                                       hidden_units=[64, 64],
                                       num_sigmoids=8),
    # Invertible residual blocks, Lip(g) <= 0.97^3, exact 2 x 2 log-dets.
    "residual": lambda: tfp_flows.flows.residual_flow(
        [2], num_layers=6, hidden_units=[64, 64]),
    # Two BNAF layers, each a network of 32-32 units per entry.
    "bnaf": lambda: tfp_flows.flows.bnaf([2], num_layers=2,
                                         hidden_units=[32, 32]),
    # RealNVP couplings followed by MAF layers modelling their latent.
    "chain": lambda: chain(
        coupling_flow([2], num_layers=3, name="couplings"),
        maf([2], num_layers=3)),
}

# Adam's peak learning rate (default 1e-2): FFJORD gets further in its few
# steps with 2e-2; MAF trained better with 5e-3 (measured when MADE's
# log-scales were unbounded).
LEARNING_RATES = {"ffjord": 2e-2, "maf": 5e-3, "chain": 5e-3}

# (steps, margin in nats) for CI. FFJORD's steps cost ~3x the others', and
# tracing its solver and adjoint ~10-20 s.
CI = {
    ("nice", "moons"): (300, 0.55),  # measured 0.27-0.40
    # Volume-preserving. 0.95 (seed 0), 0.71 (seed 2); seed 1 stays at the
    # single Gaussian's 1.42 even after 600 steps (NICE stuck; not asserted).
    ("nice", "8gaussians"): (300, 1.15),
    ("affine", "moons"): (300, 0.2),  # 0.03-0.07
    ("affine", "8gaussians"): (300, 0.4),  # 0.22-0.28
    ("maf", "moons"): (300, 0.3),  # 0.12-0.17
    ("maf", "8gaussians"): (300, 0.45),  # 0.26-0.37
    ("iaf", "moons"): (300, 0.3),  # 0.13-0.17
    ("iaf", "8gaussians"): (300, 0.4),  # 0.26-0.35
    ("naf", "moons"): (300, 0.15),  # 0.02-0.03
    ("naf", "8gaussians"): (300, 0.25),  # 0.05-0.11
    # Contractive blocks learn slowly: 0.48-0.58 on moons; on 8gaussians
    # 0.54-1.14 at 300 steps, too near the Gaussian's 1.42 to assert (its
    # slow variant below).
    ("residual", "moons"): (300, 0.7),
    ("bnaf", "moons"): (300, 0.25),  # 0.12-0.13
    ("bnaf", "8gaussians"): (300, 0.5),  # 0.34-0.37
    ("ffjord", "moons"): (100, 0.45),  # 0.26-0.35
    ("ffjord", "8gaussians"): (100, 0.35),  # 0.20-0.21
    ("chain", "moons"): (300, 0.25),  # 0.09-0.16
    ("chain", "8gaussians"): (300, 0.6),  # 0.33-0.53
}

# Measured at seed 0 (excess over H): 0.13 / 0.51 (NICE), <= 0.01 on moons
# and 0.08-0.17 on 8gaussians (affine 0.08, MAF 0.10, IAF 0.16, chain 0.17
# with the bounded MaskedAutoregressive layer), 0.003 / 0.001 (FFJORD);
# 25 s per flow, 75-85 s for FFJORD.
SLOW = {
    ("nice", "moons"): (3000, 0.25),
    ("nice", "8gaussians"): (3000, 0.8),
    ("affine", "moons"): (3000, 0.1),
    ("affine", "8gaussians"): (3000, 0.2),
    ("maf", "moons"): (3000, 0.1),
    ("maf", "8gaussians"): (3000, 0.2),
    ("iaf", "moons"): (3000, 0.1),
    ("iaf", "8gaussians"): (3000, 0.3),
    ("naf", "moons"): (3000, 0.1),  # -0.008 (NAF)
    ("naf", "8gaussians"): (3000, 0.1),  # 0.010 (NAF)
    ("residual", "moons"): (3000, 0.1),  # 0.009
    ("residual", "8gaussians"): (3000, 0.1),  # 0.019
    ("bnaf", "moons"): (3000, 0.1),  # 0.016
    ("bnaf", "8gaussians"): (3000, 0.1),  # 0.025
    ("ffjord", "moons"): (1000, 0.1),
    ("ffjord", "8gaussians"): (1000, 0.1),
    ("chain", "moons"): (3000, 0.1),
    ("chain", "8gaussians"): (3000, 0.2),
}


def _train_points(toy, seed=0):
  return tfp_flows.data.toy(toy, 50_000, seed=seed)


def _test_points(toy, seed=0):
  return tfp_flows.data.toy(toy, 5000, seed=seed + 100)


def gaussian_excess(toy, seed=0):
  """Test NLL minus H of the Gaussian with the training points' mean and
  covariance: the best single Gaussian, what a flow must beat."""
  train = _train_points(toy, seed).astype(np.float64)
  test = _test_points(toy, seed).astype(np.float64)
  mean, cov = train.mean(axis=0), np.cov(train.T, bias=True)
  d = test - mean
  nll = (0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d).mean() +
         0.5 * np.log(np.linalg.det(2 * np.pi * cov)))
  return nll - ENTROPY[toy]


def train_and_score(family, toy, steps, seed=0, batch_size=512):
  """Trains a fresh flow with FlowModel; returns (test NLL, the flow)."""
  tf_keras.utils.set_random_seed(seed)
  learning_rate = LEARNING_RATES.get(family, 1e-2)
  dist = BUILDERS[family]()
  train = tf.data.Dataset.from_tensor_slices(
      _train_points(toy, seed)).shuffle(
          50_000, seed=seed).repeat().batch(batch_size)
  model = tfp_flows.FlowModel(dist)
  # Cosine decay: a large step early, a fine one at the end of a short run.
  model.compile(tf_keras.optimizers.Adam(
      tf_keras.optimizers.schedules.CosineDecay(learning_rate, steps,
                                                alpha=0.05)))
  model.fit(train, steps_per_epoch=steps, epochs=1, verbose=0)
  test = tf.data.Dataset.from_tensor_slices(
      _test_points(toy, seed)).batch(1000)
  return tfp_flows.evaluate_nll(dist, test), dist


# Test NLLs of this run, printed as a table when the module ends.
_RESULTS = {}
_COLUMNS = {"nice": "NICE", "affine": "affine coupling", "maf": "MAF",
            "iaf": "IAF", "naf": "NAF", "bnaf": "BNAF",
            "residual": "residual flow",
            "ffjord": "FFJORD",
            "chain": "coupling + MAF chain"}


_HEADER = ("| toy (entropy) | " + " | ".join(_COLUMNS.values()) +
           " | Gaussian |")


def test_the_docs_show_this_table():
  with open(os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), "docs", "flows.md")) as f:
    assert _HEADER + "\n" in f.read()


@pytest.fixture(scope="module", autouse=True)
def nll_table():
  """Prints (seen with `pytest -s`) the test NLL of each family on each toy
  that ran, as docs/flows.md's table."""
  yield
  if not _RESULTS:
    return
  toys = sorted({toy for _, toy in _RESULTS}, key=list(ENTROPY).index)
  lines = ["", "Test NLL (nats) on the 2-D toys, seed 0, batch 512 "
           "(steps in brackets); the last column: the best single Gaussian",
           _HEADER, "| --- |" + " ---: |" * (len(_COLUMNS) + 1)]
  for toy in toys:
    cells = []
    for family in _COLUMNS:
      nll, steps = _RESULTS.get((family, toy), (None, None))
      cells.append("" if nll is None else f"{nll:.3f} ({steps})")
    gaussian = ENTROPY[toy] + gaussian_excess(toy)
    lines.append(f"| {toy} ({ENTROPY[toy]:.3f}) | " + " | ".join(cells) +
                 f" | {gaussian:.3f} |")
  print("\n".join(lines))
  _RESULTS.clear()


@pytest.mark.parametrize("toy", sorted({toy for _, toy in CI} |
                                       {toy for _, toy in SLOW}))
def test_every_margin_is_below_a_single_gaussians_excess(toy):
  gap = gaussian_excess(toy)
  # moons 0.902, 8gaussians 1.420 nats at seed 0.
  assert 0.5 < gap < 2., gap
  for budgets in (CI, SLOW):
    for (family, name), (_, margin) in budgets.items():
      if name == toy:
        assert margin < gap, (
            f"{family} on {toy}: margin {margin} nats lets through a flow no "
            f"better than a single Gaussian ({gap:.3f} above the entropy)")


def _check(family, toy, steps, margin):
  nll, _ = train_and_score(family, toy, steps)
  _RESULTS[(family, toy)] = (nll, steps)
  excess = nll - ENTROPY[toy]
  assert np.isfinite(nll)
  assert excess < margin, (
      f"{family} on {toy}: test NLL {nll:.3f} is {excess:.3f} nats above the "
      f"entropy {ENTROPY[toy]}; allowed {margin}.")


# A claim of the README at a small budget: run by `make test-claims`.
@pytest.mark.claims
@pytest.mark.parametrize("family, toy", sorted(CI))
def test_learns_toy_within_margin(family, toy):
  _check(family, toy, *CI[(family, toy)])


@pytest.mark.slow
@pytest.mark.parametrize("family, toy", sorted(SLOW))
def test_learns_toy_closely(family, toy):
  _check(family, toy, *SLOW[(family, toy)])
