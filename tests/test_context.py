"""Conditional flows: the context convention, routing, helpers, training, export."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows import bijectors as flow_bijectors
import tfp_flows
from tfp_flows import context
from tfp_flows import flows
from tfp_flows import nets
from tfp_flows import testing
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.chain import chain

tfb = tfp.bijectors

BUILDERS = {
    "affine": lambda **kw: flows.coupling_flow(
        [2], num_layers=3, hidden_units=[16], **kw),
    "additive": lambda **kw: flows.coupling_flow(
        [2], num_layers=3, hidden_units=[16], coupling="additive",
        actnorm=True, **kw),
    "maf": lambda **kw: maf([2], num_layers=2, hidden_units=[16], **kw),
    "iaf": lambda **kw: iaf([2], num_layers=2, hidden_units=[16], **kw),
}


def test_conditional_mlp():
  net = nets.MLP([8], 4, context_shape=[3], name="net")
  net.build([None, 2])
  # The first layer sees [x, c]: 2 + 3 inputs; every variable exists.
  assert [v.shape.as_list() for v in net.trainable_variables] == [
      [5, 8], [8], [8, 4], [4]]
  x, c = tf.ones([5, 2]), tf.one_hot([0, 1, 2, 0, 1], 3)
  np.testing.assert_array_equal(net(x, conditional_input=c), tf.zeros([5, 4]))
  for v in net.trainable_variables:
    v.assign(tf.random.normal(v.shape))
  # One context for the whole batch equals that context repeated.
  np.testing.assert_allclose(net(x, conditional_input=c[1]),
                             net(x, conditional_input=tf.tile(c[1:2], [5, 1])))
  with pytest.raises(ValueError, match=r"net is conditional: "
                     r"`conditional_input` of shape \[\.\.\., 3\] is required;"
                     " got None"):
    net(x)
  with pytest.raises(ValueError, match=r"`conditional_input` of net must have "
                     r"shape \[\.\.\., 3\]; got \[5, 4\]"):
    net(x, conditional_input=tf.zeros([5, 4]))
  with pytest.raises(ValueError, match=r"batch shape \[2\].*does not "
                     r"broadcast to the input's batch shape \[5\]"):
    net(x, conditional_input=tf.zeros([2, 3]))
  with pytest.raises(ValueError, match="rank-1 shape"):
    nets.MLP([8], 4, context_shape=[2, 2])


def test_routing_follows_chains_and_inverts():
  dist = BUILDERS["iaf"](context_shape=[3])
  assert context.context_shape(dist) == [3]
  assert context.bijector_kwargs(dist, "c") == {"iaf_inverse": {
      "iaf_layer0": {"conditional_input": "c"},
      "iaf_layer1": {"conditional_input": "c"}}}
  plain = BUILDERS["affine"]()
  assert context.context_shape(plain) is None
  assert context.bijector_kwargs(plain, "c") == {}


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_helpers_give_every_layer_the_context(family):
  dist = testing.perturb(BUILDERS[family](context_shape=[3]), 0.3)
  x = tf.random.normal([4, 2])
  c = tf.one_hot([0, 1, 2, 1], 3)
  tfp_flows.log_prob(dist, x, c)  # ActNorm's data-dependent init.
  got = tfp_flows.log_prob(dist, x, c)
  np.testing.assert_allclose(
      got, dist.log_prob(x, bijector_kwargs=context.bijector_kwargs(dist,
                                                                       c)),
      rtol=1e-6)
  # The context matters.
  other = tfp_flows.log_prob(dist, x, tf.one_hot([1, 2, 0, 0], 3))
  assert np.all(np.abs(got - other) > 1e-4)
  # Latents round-trip under the same context.
  z = tfp_flows.encode(dist, x, c)
  np.testing.assert_allclose(tfp_flows.decode(dist, z, c), x, atol=1e-4)
  # A [2, 2] batch with one shared context equals the flat batch.
  grid = tfp_flows.log_prob(dist, tf.reshape(x, [2, 2, 2]), c[1])
  np.testing.assert_allclose(
      tf.reshape(grid, [4]), tfp_flows.log_prob(dist, x, c[1]), rtol=1e-6)
  assert tfp_flows.sample(dist, 5, context=c[0]).shape == [5, 2]
  assert tfp_flows.sample(dist, 4, 0.5, context=c).shape == [4, 2]


def test_each_context_gives_a_normalised_density():
  dist = testing.perturb(BUILDERS["affine"](context_shape=[2]), 0.2)
  ticks = np.linspace(-8., 8., 321, dtype=np.float32)
  grid = np.stack(np.meshgrid(ticks, ticks), -1).reshape([-1, 2])
  cell = (ticks[1] - ticks[0])**2
  masses = [float(tf.reduce_sum(tf.exp(tfp_flows.log_prob(dist, grid, c))))
            * cell for c in ([1., 0.], [0., 1.])]
  np.testing.assert_allclose(masses, [1., 1.], atol=2e-3)


def test_bad_contexts_name_the_argument_expected_and_seen():
  dist = BUILDERS["maf"](context_shape=[3])
  x = tf.zeros([4, 2])
  with pytest.raises(ValueError, match=r"maf is conditional: `context` of "
                     r"shape \[\.\.\., 3\] is required; got None"):
    tfp_flows.log_prob(dist, x, None)
  with pytest.raises(ValueError, match=r"`context` of maf must have shape "
                     r"\[\.\.\., 3\]; got \[4, 2\]"):
    tfp_flows.sample(dist, 4, context=tf.zeros([4, 2]))
  with pytest.raises(ValueError, match=r"`context` of maf: batch shape \[3\]"):
    tfp_flows.log_prob(dist, x, tf.zeros([3, 3]))
  with pytest.raises(ValueError, match=r"`context` of maf must have shape "
                     r"\[\.\.\., 3\]; got \[\]"):
    tfp_flows.log_prob(dist, x, 1.)
  # Bypassing the helpers, the network still names what is missing.
  with pytest.raises(ValueError, match="`conditional_input` of shape"):
    dist.log_prob(x)
  with pytest.raises(ValueError, match=r"maf is not conditional.*`context` "
                     r"must be None; got shape \[3\]"):
    tfp_flows.log_prob(BUILDERS["maf"](), x, tf.zeros([3]))
  with pytest.raises(ValueError, match="different context shapes"):
    chain(BUILDERS["maf"](context_shape=[3]),
          BUILDERS["affine"](context_shape=[2]))
  net = nets.MLP([4], 2, context_shape=[3])
  net.build([None, 1])
  clash = tfb.Chain([
      flow_bijectors.AffineCoupling(net, num_masked=1, channels=1,
                                    name="twin"),
      tfb.Shift([1., 1.], name="twin")])
  with pytest.raises(ValueError, match="several members named 'twin'"):
    context.bijector_kwargs(clash, "c")


CENTERS = np.array([[0.25, 0.25], [0.75, 0.3], [0.5, 0.75]], np.float32)
NOISE = 0.03
# H(x | y) of x = centers[y] + NOISE * eps, eps ~ N(0, I_2).
CONDITIONAL_ENTROPY = 1. + math.log(2. * math.pi * NOISE**2)


def _labelled(n, seed):
  rng = np.random.default_rng(seed)
  y = rng.integers(3, size=n).astype(np.int32)
  x = CENTERS[y] + NOISE * rng.standard_normal([n, 2]).astype(np.float32)
  return np.clip(x, 0., 1.), y


@pytest.fixture(scope="module")
def trained():
  tf_keras.utils.set_random_seed(0)
  dist = flows.coupling_flow([2], num_layers=4, hidden_units=[32],
                             context_shape=[3], actnorm=True)
  # num_levels=256 makes FlowModel assert x in [0, 1]: labels must not be
  # mistaken for data.
  model = tfp_flows.FlowModel(dist, num_levels=256, num_classes=3)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  x, y = _labelled(4096, 0)
  history = model.fit(
      tf.data.Dataset.from_tensor_slices((x, y)).shuffle(4096, seed=0)
      .repeat().batch(256), steps_per_epoch=100, epochs=3, verbose=0)
  return dist, model, history


def test_conditional_flow_model_learns_p_x_given_y(trained):
  dist, model, history = trained
  assert len(model.trainable_variables) == len(dist.trainable_variables) == (
      4 * (4 + 1 + 2))
  assert history.history["loss"][-1] < history.history["loss"][0]
  x, y = _labelled(2000, 1)
  result = model.evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(500),
                          verbose=0, return_dict=True)
  nll = -float(np.mean(tfp_flows.log_prob(dist, x, tf.one_hot(y, 3))))
  assert result["loss"] == pytest.approx(nll, abs=1e-3)
  # Without its label an example would cost log 3 more nats; the model is
  # within 0.3 nats of the true conditional entropy (measured: 0.02).
  assert nll < CONDITIONAL_ENTROPY + 0.3, (nll, CONDITIONAL_ENTROPY)
  for k in range(3):
    samples = tfp_flows.sample(dist, 200, context=tf.one_hot(k, 3))
    np.testing.assert_allclose(np.mean(samples, 0), CENTERS[k], atol=0.02)


def test_conditional_flow_model_bad_inputs(trained):
  dist, model, _ = trained
  x = tf.constant(_labelled(4, 2)[0])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="must be < num_classes=3"):
    model((x, tf.constant([0, 1, 3, 2])))
  with pytest.raises(TypeError, match="integer class labels"):
    model((x, tf.zeros([4])))
  with pytest.raises(ValueError, match=r"batches must be \(x, y\).*got x "
                     "alone"):
    model.fit(tf.data.Dataset.from_tensors(x), verbose=0)
  with pytest.raises(ValueError, match=r"context_shape \[4\].*got \[3\]"):
    tfp_flows.FlowModel(dist, num_classes=4)
  with pytest.raises(ValueError, match="needs a conditional flow"):
    tfp_flows.FlowModel(flows.nice([2], hidden_units=[4]), num_classes=3)


def test_context_vectors_train_without_num_classes():
  tf_keras.utils.set_random_seed(1)
  dist = maf([2], num_layers=2, hidden_units=[16], context_shape=[1])
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  rng = np.random.default_rng(0)
  c = rng.uniform(-1., 1., size=[1024, 1]).astype(np.float32)
  x = (c * [2., -1.] + 0.1 * rng.standard_normal([1024, 2])).astype(np.float32)
  history = model.fit(tf.data.Dataset.from_tensor_slices((x, c)).batch(128),
                      epochs=4, verbose=0)
  assert history.history["loss"][-1] < history.history["loss"][0] - 1.


def test_export_serves_with_a_context(trained, tmp_path,
                                      serve_in_fresh_process):
  dist, model, _ = trained
  path = tfp_flows.export_saved_model(model, str(tmp_path / "m"))
  x, y = _labelled(5, 3)
  c = np.eye(3, dtype=np.float32)[y]
  out = serve_in_fresh_process(path, x, context=c)
  assert out["signatures"] == ["decode", "encode", "log_prob", "sample"]
  np.testing.assert_allclose(out["log_prob5"], tfp_flows.log_prob(dist, x, c),
                             rtol=1e-5)
  np.testing.assert_allclose(out["decoded5"], x, atol=1e-4)
  assert out["sample_shape"] == [5, 2] and out["sample_finite"]
  assert out["bad_context"] == "refused"


def test_export_refuses_non_finite_weights(tmp_path):
  dist = BUILDERS["maf"](context_shape=[3])
  dist.trainable_variables[0].assign(
      tf.fill(dist.trainable_variables[0].shape, np.nan))
  with pytest.raises(ValueError, match="NaN or inf"):
    tfp_flows.export_saved_model(dist, str(tmp_path / "m"))
  assert not (tmp_path / "m").exists()
