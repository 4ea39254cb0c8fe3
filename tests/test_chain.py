"""`chain`: composing flows and bijectors into one TransformedDistribution."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import tfp_flows
from tfp_flows import context
from tfp_flows import testing
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.chain import chain

tfb = tfp.bijectors
tfd = tfp.distributions


def test_outer_flow_gets_the_inner_flow_as_its_prior():
  outer = tfp_flows.flows.nice([4], hidden_units=[8], prior="gaussian")
  prior = maf([4], num_layers=2, hidden_units=[8])
  dist = testing.perturb(chain(outer, prior), 0.2)
  assert dist.distribution is prior.distribution
  assert dist.event_shape == [4]
  assert [b.name for b in dist.bijector.bijectors] == ["chain_part0",
                                                        "chain_part1"]
  x = tf.random.normal([5, 4])
  # log p(x) = log p_prior(g^-1(x)) + log |det dg^-1/dx|, g the outer bijector.
  z = outer.bijector.inverse(x)
  want = prior.log_prob(z) + outer.bijector.inverse_log_det_jacobian(
      x, event_ndims=1)
  np.testing.assert_allclose(dist.log_prob(x), want, rtol=1e-5, atol=1e-5)
  assert dist.sample(3).shape == [3, 4]


def test_every_variable_is_tracked_and_trained():
  tf_keras.utils.set_random_seed(0)
  parts = [tfp_flows.flows.coupling_flow([2], num_layers=2, hidden_units=[8],
                                         actnorm=True, name="a"),
           iaf([2], num_layers=2, hidden_units=[8]),
           maf([2], num_layers=2, hidden_units=[8])]
  dist = chain(*parts)
  model = tfp_flows.FlowModel(dist)
  counts = [len(p.trainable_variables) for p in parts]
  # Coupling layer: MLP (4) + scale factor + ActNorm (2); MADE: 4.
  assert len(model.trainable_variables) == sum(counts) == 2 * 7 + 2 * 4 + 2 * 4
  model.compile(tf_keras.optimizers.Adam(1e-2))
  before = [v.numpy().copy() for v in model.trainable_variables]
  x = tfp_flows.data.toy("8gaussians", 512, seed=0)
  hist = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(128), epochs=3,
                   verbose=0)
  assert hist.history["loss"][-1] < hist.history["loss"][0]
  assert all(not np.array_equal(b, v.numpy())
             for b, v in zip(before, model.trainable_variables))


def test_glow_with_a_maf_prior_on_its_latent():
  glow = tfp_flows.flows.glow([4, 4, 1], num_scales=1, num_layers=1,
                              hidden_units=4)
  prior = maf([16], num_layers=1, hidden_units=[8])
  dist = chain(glow, prior)
  assert dist.event_shape == [4, 4, 1]
  assert len(dist.trainable_variables) == (len(glow.trainable_variables) +
                                           len(prior.trainable_variables))
  x = tf.random.uniform([2, 4, 4, 1])
  assert dist.log_prob(x).shape == [2]
  assert dist.sample(2).shape == [2, 4, 4, 1]


def test_shapes_are_bridged_by_bijectors():
  outer = tfp_flows.flows.nice([8], hidden_units=[8], prior="gaussian")
  inner = maf([2, 4, 1], num_layers=1, hidden_units=[8])
  dist = testing.perturb(chain(outer, inner), 0.2)
  names = [b.name for b in dist.bijector.bijectors]
  assert names == ["chain_part0", "invert_unflatten", "chain_part1"]
  x = tf.random.normal([3, 8])
  z = tf.reshape(outer.bijector.inverse(x), [3, 2, 4, 1])
  want = inner.log_prob(z) + outer.bijector.inverse_log_det_jacobian(
      x, event_ndims=1)
  np.testing.assert_allclose(dist.log_prob(x), want, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match=r"latent shape \[8\] \(8 entries\).*"
                     r"shape \[3\] \(3 entries\)"):
    chain(outer, maf([3], num_layers=1, hidden_units=[8]))


def test_bijectors_and_plain_distributions_as_parts():
  base = tfd.Independent(tfd.Laplace([1., -1.], [0.5, 2.]), 1)
  flow = tfp_flows.flows.coupling_flow([2], num_layers=2, hidden_units=[8])
  dist = chain(tfb.Shift([3., 0.]), flow, base)
  assert dist.distribution is base
  x = tf.random.normal([4, 2])
  np.testing.assert_allclose(dist.log_prob(x), base.log_prob(x - [3., 0.]),
                             rtol=1e-5)  # a fresh coupling flow: identity
  # TFP's own flows count as flows: MultivariateNormalDiag is an affine map
  # of a standard normal, so its base becomes the chain's.
  mvn = tfd.MultivariateNormalDiag(loc=[1., -1.], scale_diag=[0.5, 2.])
  dist = chain(flow, mvn)
  assert dist.distribution is mvn.distribution
  np.testing.assert_allclose(dist.log_prob(x), mvn.log_prob(x), rtol=1e-5)


def test_same_named_parts_are_routed_apart():
  # Two flows both named "maf": only the second is conditional.
  dist = chain(maf([2], num_layers=1, hidden_units=[8]),
               maf([2], num_layers=1, hidden_units=[8], context_shape=[3]))
  assert context.bijector_kwargs(dist, "c") == {
      "chain_part1": {"maf_bijector": {"maf_layer0": {
          "conditional_input": "c"}}}}
  x = tf.random.normal([4, 2])
  assert tfp_flows.log_prob(dist, x, tf.one_hot(2, 3)).shape == [4]


def test_bad_parts():
  flow = maf([2], num_layers=1, hidden_units=[8])
  with pytest.raises(ValueError, match="at least one part"):
    chain()
  with pytest.raises(TypeError, match="must be a distribution; got the "
                     "bijector 'shift'"):
    chain(flow, tfb.Shift([1., 1.]))
  with pytest.raises(TypeError, match="Part 0 must be a flow"):
    chain("nice", flow)
  with pytest.raises(ValueError, match="dtype float64"):
    chain(maf([2], num_layers=1, hidden_units=[8], dtype=tf.float64), flow)
  learned = tfd.TransformedDistribution(
      tfd.Normal(tf.Variable(tf.zeros([2])), 1.), tfb.Shift([1., 1.]))
  with pytest.raises(ValueError, match="base of Part 0 .* holds trainable"):
    chain(learned, flow)


def test_a_mixed_chain_exports_and_serves_in_a_fresh_process(
    tmp_path, serve_in_fresh_process):
  dist = testing.perturb(chain(
      tfp_flows.flows.nice([2, 2, 1], hidden_units=[8], prior="gaussian"),
      iaf([4], num_layers=1, hidden_units=[8]),
      maf([4], num_layers=2, hidden_units=[8], actnorm=True)), 0.2)
  x = np.random.default_rng(5).normal(size=[5, 2, 2, 1]).astype(np.float32)
  dist.log_prob(x)  # ActNorm's data-dependent init.
  out = serve_in_fresh_process(
      tfp_flows.export_saved_model(dist, str(tmp_path / "chain")), x)
  np.testing.assert_allclose(out["log_prob5"], dist.log_prob(x), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(out["decoded5"], x, atol=1e-4)
  assert out["sample_shape"] == [5, 2, 2, 1] and out["sample_finite"]


def test_context_shape_states_and_checks_a_conditional_chain():
  def part(name, context_shape=None):
    return tfp_flows.flows.coupling_flow([2], num_layers=1, hidden_units=[4],
                                         name=name,
                                         context_shape=context_shape)

  dist = chain(part("a", [3]), part("b"), context_shape=[3])
  assert context.context_shape(dist) == [3]
  x = tf.zeros([2, 2])
  assert tfp_flows.log_prob(dist, x, tf.one_hot([0, 2], 3)).shape == [2]
  with pytest.raises(ValueError, match=r"take contexts of shape None"):
    chain(part("a"), part("b"), context_shape=[3])
  with pytest.raises(ValueError, match=r"take contexts of shape \[2\]"):
    chain(part("a", [2]), part("b"), context_shape=[3])
  with pytest.raises(ValueError, match="different context shapes"):
    chain(part("a", [2]), part("b", [3]))
