"""NeuTra: NUTS / HMC in a flow's latent space, with a report."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows
from tfp_flows import neutra

tfb = tfp.bijectors
tfd = tfp.distributions


def _affine_flow(loc, scale):
  return tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [len(loc)]),
      tfb.Chain([tfb.Shift(tf.constant(loc, tf.float32)),
                 tfb.Scale(tf.constant(scale, tf.float32))]))


def test_nuts_in_a_flow_latent_space_returns_finite_draws_and_a_report():
  flow = tfp_flows.flows.iaf([2], num_layers=1, hidden_units=[4])
  target = tfp_flows.targets.banana()
  samples, report = neutra.sample(flow, target.log_prob, num_results=10,
                                  num_burnin_steps=10, num_chains=2,
                                  max_tree_depth=3)
  assert samples.shape == (10, 2, 2)
  assert np.all(np.isfinite(samples))
  assert report["ess"].shape == (2,)
  assert 0 < report["gradient_evaluations"] <= 10 * 2 * 2**3
  assert report["ess_per_gradient"] == pytest.approx(
      report["min_ess"] / report["gradient_evaluations"])
  assert 0. <= report["acceptance_rate"] <= 1.


def test_hmc_counts_its_leapfrog_steps():
  flow = _affine_flow([1., -1.], [2., 0.5])
  target = tfd.MultivariateNormalDiag([1., -1.], [2., 0.5])
  _, report = neutra.sample(flow, target.log_prob, num_results=8,
                            num_burnin_steps=4, num_chains=3, kernel="hmc",
                            adaptation="simple", num_leapfrog_steps=5)
  assert report["gradient_evaluations"] == 8 * 3 * 5
  assert report["burnin_gradient_evaluations"] == 4 * 3 * 5


def test_an_exact_flow_makes_the_target_a_standard_normal():
  # q = p exactly: in the latent space NUTS sees N(0, I) and accepts nearly
  # every proposal; the draws carry the target's scales back.
  loc, scale = np.array([3., -2.]), np.array([10., 0.1])
  flow = _affine_flow(loc, scale)
  target = tfd.MultivariateNormalDiag(loc.astype(np.float32),
                                      scale.astype(np.float32))
  samples, report = neutra.sample(flow, target.log_prob, num_results=100,
                                  num_burnin_steps=50, num_chains=4,
                                  max_tree_depth=3)
  draws = samples.reshape(-1, 2)
  np.testing.assert_allclose(draws.std(0), scale, rtol=0.2)
  assert np.all(np.abs(draws.mean(0) - loc) < 0.2 * scale)
  assert report["acceptance_rate"] > 0.7


def test_bad_arguments():
  flow = _affine_flow([0., 0.], [1., 1.])
  with pytest.raises(ValueError, match="`kernel` must be one of"):
    neutra.sample(flow, flow.log_prob, kernel="mala")
  with pytest.raises(ValueError, match="`adaptation` must be one of"):
    neutra.sample(flow, flow.log_prob, adaptation="none")
  with pytest.raises(ValueError, match="`num_results` must be >= 4"):
    neutra.sample(flow, flow.log_prob, num_results=2)
