"""The README's claims of the spline flows on the 2-D toys, on its own command.

The README's toy tables come from `python benchmarks/density.py` (its
`toy_nll`: cosine-decayed Adam from 1e-2, MAF 5e-3, batch 512, 50,000
training and 5,000 test points, seed 0). It claims:

* both spline flows (`nsf` couplings and `nsf-ar`) score below every affine
  flow (`realnvp`: affine couplings, `maf`, `iaf`) on every toy;
* both are within 0.02 nats of the true entropy on moons and 8gaussians
  after 3000 steps.

The first holds already at 300 steps (the CI test, every toy; smallest
margin measured: 0.044 nats, moons against realnvp); the second needs the
README's 3000 steps (the slow test). Margins are printed (`pytest -s`).
"""

import functools
import os
import sys

import numpy as np
import pytest

from tfp_flows.toy_entropy import TOY_ENTROPY

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "benchmarks"))
import density  # pylint: disable=g-import-not-at-top,wrong-import-position

pytestmark = pytest.mark.claims

SPLINE = ("nsf", "nsf-ar")
AFFINE = ("realnvp", "maf", "iaf")
CI_STEPS = 300
README_STEPS = 3000
# The smallest margin (nats) by which a spline flow must beat the best
# affine flow at CI_STEPS: a quarter of the smallest measured.
MIN_MARGIN = 0.01


@functools.cache
def _nll(toy, family, steps):
  nll, _ = density.toy_nll(toy, family, dict(toy_steps=steps, toy_batch=512),
                           seed=0)
  return nll


@pytest.mark.parametrize("toy", sorted(TOY_ENTROPY))
def test_spline_flows_beat_every_affine_flow(toy):
  best_affine = min(_nll(toy, f, CI_STEPS) for f in AFFINE)
  for family in SPLINE:
    nll = _nll(toy, family, CI_STEPS)
    margin = best_affine - nll
    print(f"{toy}: {family} {nll:.3f} nats, best affine {best_affine:.3f}: "
          f"margin {margin:.3f} nats ({CI_STEPS} steps)")
    assert np.isfinite(nll) and margin > MIN_MARGIN, (toy, family, margin)


@pytest.mark.slow
@pytest.mark.parametrize("family", SPLINE)
@pytest.mark.parametrize("toy", ["moons", "8gaussians"])
def test_spline_flows_reach_the_entropy(toy, family):
  gap = _nll(toy, family, README_STEPS) - TOY_ENTROPY[toy]
  print(f"{toy}: {family} {gap:+.3f} nats from the entropy "
        f"({README_STEPS} steps)")
  assert gap < 0.02, (toy, family, gap)
