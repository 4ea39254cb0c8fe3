"""The README's headline claims on digits, each on the README's own command.

Every row of the README's Results table is `tfp-flows train --flow FLOW
--dataset digits --seed S` at the flow's defaults; these tests run the same
commands with fewer epochs (`--epochs`, CI) or as they stand (the slow
variants, seed 0), read `metrics.json`, and check each claim the README
makes of them:

* Glow and RealNVP beat NICE and MAF, with fewer parameters;
* Flow++ beats Glow with fewer parameters;
* Flow++'s variational dequantization beats its uniform dequantization
  (the variational row reports the 16-sample importance-weighted bound,
  which is tighter than the uniform row's E_u bound for the same flow:
  here the uniform flow is scored by the same 16-sample bound, so the
  comparison is of the dequantizers alone);
* NSF (spline couplings) beats MAF at a similar size;
* NAF (deep sigmoidal flows) beats MAF at a similar size;
* BNAF beats MAF (with more parameters: half of them in zero blocks), and
  its gated residual layers beat its plain ones (README budget only);
* the class-conditional Glow scores log2 p(x | class) below the
  unconditional Glow's log2 p(x);
* the multi-scale residual flow beats the (dense) residual flow and Glow
  at a similar size (at the README's budget only: its convolutional blocks
  start slower and pass the dense ones near epoch 45 of 150).

The CI budget (`EPOCHS` of 24 steps) is the smallest measured at which every
claim holds at both seeds with margin; each claim must show at least half
the smallest margin measured there (`CLAIMS`), and at the README's budget
(the slow variants) at least `README_MIN_MARGIN`. Each test prints its
margins (`pytest -rP`). A claim made false fails here: with the context
zeroed in every network and in the top prior, the class-conditional Glow's
margin falls to 0.018; with the variational dequantizer replaced by uniform
noise, Flow++'s to about 0 (both below their thresholds).
"""

import functools
import json
import os

import pytest

import tfp_flows
from tfp_flows import cli

pytestmark = pytest.mark.claims

# 10 epochs of digits (240 steps of batch 64), about 2.5 minutes per seed on
# 2 cores.
EPOCHS = 10
SEEDS = (0, 1)
# At the README's budget (seed 0; the README's table: 0.05 bits/dim and more).
README_MIN_MARGIN = 0.02

# name -> the `tfp-flows train` flags of a README row (besides the dataset,
# epochs, seed and output).
RUNS = {
    "nice": ["--flow", "nice"],
    "maf": ["--flow", "maf"],
    "glow": ["--flow", "glow"],
    "glow-by-class": ["--flow", "glow", "--conditional"],
    "realnvp": ["--flow", "realnvp"],
    "nsf": ["--flow", "nsf"],
    "naf": ["--flow", "naf"],
    "bnaf": ["--flow", "bnaf"],
    "bnaf-gated": ["--flow", "bnaf", "--gated-residual"],
    "residual_flow": ["--flow", "residual_flow"],
    "multiscale_residual_flow": ["--flow", "multiscale_residual_flow"],
    "flowpp": ["--flow", "flowpp"],
    "flowpp-variational": ["--flow", "flowpp", "--dequantization",
                           "variational"],
}


@functools.cache
def _metrics(run, seed, epochs, out_root):
  """metrics.json of the README's command for `run` (cached per worker)."""
  out = os.path.join(out_root, f"{run}-{seed}-{epochs}")
  argv = ["train", *RUNS[run], "--dataset", "digits", "--seed", str(seed),
          "--out", out]
  if epochs is not None:
    argv += ["--epochs", str(epochs)]
  assert cli.main(argv) == 0
  with open(os.path.join(out, "metrics.json")) as f:
    return json.load(f)


@functools.cache
def _importance_weighted_bits(run, seed, epochs, out_root):
  """The 16-sample importance-weighted test bits/dim of a uniform run's flow.

  The bound `--dequantization variational` reports, with the uniform
  dequantizer as q (log q = 0): log (1/16) sum_s p(x + u_s), u_s ~ U[0, 1).
  """
  _metrics(run, seed, epochs, out_root)
  dist, config = tfp_flows.load_flow(
      os.path.join(out_root, f"{run}-{seed}-{epochs}", "flow"))
  model = tfp_flows.FlowModel(
      dist, num_levels=config["num_levels"],
      dequantizer=tfp_flows.dequantization.UniformDequantizer(
          dist.event_shape, dist.dtype))
  test = tfp_flows.data.load("digits", "test", batch_size=64,
                             dequantize=False)
  return tfp_flows.evaluation.importance_weighted_bits_per_dim(
      model, test, num_samples=16, seed=seed)


@pytest.fixture(scope="module")
def out_root(tmp_path_factory):
  return str(tmp_path_factory.mktemp("claims"))


def _check_beats(better, worse, seeds, epochs, out_root, fewer_parameters,
                 min_margin):
  """Asserts `better`'s test bits/dim lies below `worse`'s at every seed."""
  for seed in seeds:
    good = _metrics(better, seed, epochs, out_root)
    bad = _metrics(worse, seed, epochs, out_root)
    good_bits, bad_bits = good["test_bits_per_dim"], bad["test_bits_per_dim"]
    bound = ""
    if good["options"]["dequantization"] != bad["options"]["dequantization"]:
      bad_bits = _importance_weighted_bits(worse, seed, epochs, out_root)
      bound = (f" (both by the 16-sample bound; {worse}'s own bound "
               f"{bad['test_bits_per_dim']:.4f})")
    margin = bad_bits - good_bits
    print(f"{better} {good_bits:.4f} < {worse} {bad_bits:.4f}{bound} (seed "
          f"{seed}, epochs {epochs or 'default'}): margin {margin:.4f} "
          "bits/dim")
    assert margin > min_margin, (better, worse, seed, margin, min_margin)
    if fewer_parameters:
      assert good["num_parameters"] < bad["num_parameters"], (
          better, good["num_parameters"], worse, bad["num_parameters"])


# (better, worse, with fewer parameters too, the margin required at the CI
# budget in bits/dim: half the smaller of the two seeds' margins measured
# there on 2026-12-05, given in the comment).
CLAIMS = [
    ("glow", "nice", True, 1.5),  # 2.97
    ("glow", "maf", True, 0.14),  # 0.28
    ("realnvp", "nice", True, 1.7),  # 3.40
    ("realnvp", "maf", True, 0.36),  # 0.73
    ("flowpp", "glow", True, 0.33),  # 0.66
    ("flowpp-variational", "flowpp", False, 0.03),  # 0.06 at the same bound
    ("nsf", "maf", False, 0.32),  # 0.65
    ("naf", "maf", False, 0.26),  # 0.53 (2026-12-06)
    ("bnaf", "maf", False, 0.22),  # 0.47 (2026-12-07)
    ("glow-by-class", "glow", False, 0.075),  # 0.15
]


def _claim_id(claim):
  return f"{claim[0]}-beats-{claim[1]}"


@pytest.mark.parametrize("better, worse, fewer, margin", CLAIMS,
                         ids=map(_claim_id, CLAIMS))
def test_claim_at_the_ci_budget(better, worse, fewer, margin, out_root,
                                tfds_dir):
  _check_beats(better, worse, SEEDS, EPOCHS, out_root, fewer, margin)


# Claims that hold at the README's budget but not at the CI one (margins of
# seeds 0, 1, 2 on 2026-12-07: 0.114, 0.123, 0.114 against the residual
# flow; 0.060, 0.056, 0.083 against Glow; the gated BNAF 0.027, 0.022,
# 0.018 against the plain one, docs/naf.md).
README_ONLY_CLAIMS = [
    ("multiscale_residual_flow", "residual_flow", False),
    ("multiscale_residual_flow", "glow", False),
    ("bnaf-gated", "bnaf", False),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "better, worse, fewer", [c[:3] for c in CLAIMS] + README_ONLY_CLAIMS,
    ids=map(_claim_id, CLAIMS + README_ONLY_CLAIMS))
def test_claim_at_the_readme_budget(better, worse, fewer, out_root, tfds_dir):
  _check_beats(better, worse, (0,), None, out_root, fewer, README_MIN_MARGIN)
