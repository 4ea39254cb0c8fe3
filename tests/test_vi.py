"""Reverse-KL fitting through Keras: bounds, training, strategies, bad targets."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import tfp_flows
from tfp_flows import vi

import helpers

tfb = tfp.bijectors
tfd = tfp.distributions


def _gaussian_flow(loc, scale):
  """q = N(loc, diag(scale^2)) as a flow with trainable shift and scale."""
  dim = len(loc)
  return tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [dim]),
      tfb.Chain([tfb.Shift(tf.Variable(loc, dtype=tf.float32)),
                 tfb.Scale(tf.Variable(scale, dtype=tf.float32))]))


def _gaussian_target(loc, scale, log_z):
  target = tfd.MultivariateNormalDiag(loc, scale)
  return lambda x: target.log_prob(x) + log_z


def test_elbo_of_a_gaussian_flow_is_the_closed_form():
  # ELBO = log Z - KL(q || p); KL of diagonal Gaussians in closed form.
  mq, sq = np.array([0.5, -1.]), np.array([0.8, 1.5])
  mp, sp = np.array([0., 1.]), np.array([1.2, 0.7])
  log_z = 2.5
  kl = np.sum(np.log(sp / sq) + (sq**2 + (mq - mp)**2) / (2 * sp**2) - 0.5)
  model = vi.VariationalFlowModel(
      _gaussian_flow(mq, sq),
      _gaussian_target(mp.astype(np.float32), sp.astype(np.float32), log_z),
      sample_size=40000)
  terms = model(None).numpy()
  error = float(terms.std()) / math.sqrt(len(terms))
  assert terms.mean() == pytest.approx(log_z - kl, abs=5 * error)


@pytest.mark.parametrize("importance_samples", [None, 8])
def test_bound_is_exact_when_q_is_the_target(importance_samples):
  # Every weight equals Z: the ELBO and the IWAE bound are log Z exactly.
  loc, scale = np.array([1., -2., 0.5]), np.array([0.5, 2., 1.])
  model = vi.VariationalFlowModel(
      _gaussian_flow(loc, scale),
      _gaussian_target(loc.astype(np.float32), scale.astype(np.float32), 1.7),
      sample_size=16, importance_samples=importance_samples)
  terms = model(None).numpy()
  assert terms.shape == (16,)
  np.testing.assert_allclose(terms, 1.7, atol=1e-4)


def test_iwae_bound_lies_between_elbo_and_log_z():
  flow = _gaussian_flow(np.array([0., 0.]), np.array([1., 1.]))
  target = _gaussian_target(np.array([1., -1.], np.float32),
                            np.array([0.5, 2.], np.float32), 0.)
  bounds = [vi.VariationalFlowModel(flow, target, sample_size=4000,
                                    importance_samples=k)(None).numpy().mean()
            for k in (None, 16)]
  assert bounds[0] < bounds[1] < 0.


def test_sampling_is_one_made_pass_per_iaf_layer():
  flow = tfp_flows.flows.iaf([4], num_layers=3, hidden_units=[8])
  calls = []
  for made in [m for m in flow.submodules
               if isinstance(m, tfp_flows.nets.MADE)]:
    original = made.call
    made.call = lambda *a, _f=original, **k: calls.append(1) or _f(*a, **k)
  x, log_q = vi.sample_and_log_prob(flow, 5, seed=1)
  assert len(calls) == 3
  assert x.shape == (5, 4) and log_q.shape == (5,)


def test_fit_reduces_kl_and_reports_metrics(tmp_path):
  # A correlated, shifted Gaussian; log Z = 0, so -ELBO = KL(q || p).
  target = tfd.MultivariateNormalTriL([1., -0.5], [[1., 0.], [0.9, 0.5]])
  flow = tfp_flows.flows.iaf([2], num_layers=2, hidden_units=[16])
  model = vi.VariationalFlowModel(flow, target.log_prob, sample_size=64)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  before = model.evaluate(steps=5, verbose=0, return_dict=True)
  guard = tfp_flows.NaNGuard()
  history = model.fit(epochs=1, steps_per_epoch=200, verbose=0, callbacks=[
      guard, tf_keras.callbacks.TensorBoard(str(tmp_path / "logs"))])
  after = model.evaluate(steps=5, verbose=0, return_dict=True)
  assert guard.stopped_at is None
  assert set(history.history) == {"loss", "elbo", "ess_fraction", "log_z",
                                  "k_hat"}
  assert -before["elbo"] > 0.5
  assert -after["elbo"] < 0.1
  assert after["ess_fraction"] > 0.8
  assert os.listdir(tmp_path / "logs" / "train")
  found = vi.importance_diagnostics(flow, target.log_prob, num_samples=2000)
  assert abs(found["log_z"]) < 0.05 and found["ess_fraction"] > 0.8


def test_annealing_reports_beta():
  flow = tfp_flows.flows.iaf([2], num_layers=1, hidden_units=[4])
  model = vi.VariationalFlowModel(
      flow, lambda x: -tf.reduce_sum(x**2, -1), sample_size=8,
      annealing=tfp_flows.LinearWarmup(1., 10))
  model.compile("adam")
  history = model.fit(epochs=2, steps_per_epoch=5, verbose=0)
  # Mean of (t + 1) / 10 over steps t = 0..4, then 5..9.
  np.testing.assert_allclose(history.history["beta"], [0.3, 0.8], rtol=1e-5)


def test_annealing_scales_the_target_in_the_loss():
  # log p~ = K everywhere and q fixed (learning rate 0) at the new IAF, the
  # identity: q = N(0, I), whose entropy is H = (D / 2)(1 + log 2 pi), so
  # the loss of step t is -E_q[beta_t K - log q] = -beta_t K - H (H = 2.838
  # for D = 2), while the ELBO, at beta = 1, is K + H.
  k = 1000.
  flow = tfp_flows.flows.iaf([2], num_layers=1, hidden_units=[4])
  model = vi.VariationalFlowModel(
      flow, lambda x: tf.fill(tf.shape(x)[:-1], k), sample_size=1024,
      annealing=tfp_flows.LinearWarmup(1., 4))
  model.compile(tf_keras.optimizers.Adam(0.))
  history = model.fit(epochs=5, steps_per_epoch=1, verbose=0)
  beta = np.minimum(1., (np.arange(5) + 1) / 4)
  entropy = 1 + math.log(2 * math.pi)
  # Tolerance: 5 standard errors of the mean of log q over 1024 draws.
  np.testing.assert_allclose(history.history["beta"], beta, rtol=1e-6)
  np.testing.assert_allclose(history.history["loss"], -beta * k - entropy,
                             atol=0.2)
  np.testing.assert_allclose(history.history["elbo"], k + entropy, atol=0.2)


# Two replicas need two logical CPUs, configured before TensorFlow starts:
# a fresh process.
_TWO_REPLICAS = helpers.TWO_CPUS + r"""
import json
import numpy as np
import tensorflow_probability as tfp
import tf_keras
from tfp_flows import vi
tfb, tfd = tfp.bijectors, tfp.distributions

target = tfd.MultivariateNormalDiag([2., 2.], [0.5, 0.5])
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
tf_keras.utils.set_random_seed(0)
with strategy.scope():
  loc, scale = tf.Variable([0., 0.]), tf.Variable([1., 1.])
  q = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [2]),
                                  tfb.Chain([tfb.Shift(loc), tfb.Scale(scale)]))
  model = vi.VariationalFlowModel(q, target.log_prob, sample_size=32)
  model.compile(tf_keras.optimizers.SGD(0.01))
out = {}
terms = strategy.run(tf.function(lambda: model(None)))
out["terms"] = [t.numpy().tolist() for t in
                strategy.experimental_local_results(terms)]
model.fit(epochs=1, steps_per_epoch=1, verbose=0)
out["step"] = (loc.numpy() / 0.01).tolist()
with strategy.scope():
  model.compile(tf_keras.optimizers.Adam(0.1))
history = model.fit(epochs=2, steps_per_epoch=40, verbose=0)
out["loss"] = history.history["loss"]
out["loc"], out["scale"] = loc.numpy().tolist(), scale.numpy().tolist()
try:
  with strategy.scope():
    vi.VariationalFlowModel(q, target.log_prob, sample_size=33)
except ValueError as e:
  out["odd"] = str(e)
print("RESULT" + json.dumps(out))
"""


def test_fit_under_a_two_replica_strategy():
  out = helpers.script_result(_TWO_REPLICAS)
  # Each replica draws half of sample_size from its own random stream.
  first, second = out["terms"]
  assert len(first) == len(second) == 16
  assert not np.allclose(first, second)
  # q = N(0, I), target N(2, 0.25 I): the loss's gradient in loc is
  # -mean(grad log p(x)) = -4 (2 - mean(eps)) over the 32 draws, so an SGD
  # step moves loc by lr * 4 (2 - mean(eps)): 8 +- 0.71 (one standard
  # error). Summing the replicas' mean gradients instead would give 16.
  assert np.all(np.abs(np.array(out["step"]) - 8.) < 2.5), out["step"]
  # Trained with split draws, q reaches the target.
  assert out["loss"][1] < out["loss"][0]
  np.testing.assert_allclose(out["loc"], [2., 2.], atol=0.1)
  np.testing.assert_allclose(out["scale"], [0.5, 0.5], atol=0.1)
  # Found when the model is built, not in its first traced step.
  assert out["odd"] == ("`sample_size`=33 must divide by the number of "
                        "replicas, 2.")


def test_amortised_fit_over_contexts():
  # q(x | c) for the target N(x; 2 c, 0.5^2 I): the mean must follow c.
  flow = tfp_flows.flows.iaf([2], num_layers=2, hidden_units=[16],
                             context_shape=[1])

  def log_prob(x, c):
    return tfd.MultivariateNormalDiag(2. * tf.tile(c, [1, 2]),
                                      [0.5, 0.5]).log_prob(x)

  contexts = tf.data.Dataset.from_tensor_slices(
      np.random.RandomState(0).uniform(-1, 1, [512, 1]).astype(np.float32))
  model = vi.VariationalFlowModel(flow, log_prob, sample_size=16)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  model.fit(contexts.batch(32).repeat(), epochs=1, steps_per_epoch=300,
            verbose=0)
  for c in (-0.8, 0.8):
    x = tfp_flows.sample(flow, 500, seed=1, context=tf.constant([c]))
    np.testing.assert_allclose(np.mean(x, 0), [2 * c, 2 * c], atol=0.25)
  found = vi.importance_diagnostics(flow, log_prob, num_samples=500,
                                    context=[0.5])
  assert found["ess_fraction"] > 0.5


def test_target_returning_nan_is_a_clear_error():
  flow = tfp_flows.flows.iaf([2], num_layers=1, hidden_units=[4])
  model = vi.VariationalFlowModel(
      flow, lambda x: tf.where(x[..., 0] > 0., np.nan, 0.), sample_size=32)
  model.compile("adam")
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="returned NaN or \\+inf"):
    model.fit(epochs=1, steps_per_epoch=2, verbose=0)


def test_target_of_the_wrong_shape_is_a_clear_error():
  flow = tfp_flows.flows.iaf([3], num_layers=1, hidden_units=[4])
  model = vi.VariationalFlowModel(flow, lambda x: -x**2, sample_size=32)
  model.compile("adam")
  with pytest.raises(ValueError, match=r"one log-density per draw.*"
                     r"shape \[32\]; got shape \[32, 3\]"):
    model.fit(epochs=1, steps_per_epoch=2, verbose=0)


def test_zero_density_everywhere_stops_nan_guard_without_an_update():
  flow = tfp_flows.flows.iaf([2], num_layers=1, hidden_units=[4])
  model = vi.VariationalFlowModel(
      flow, lambda x: tf.fill(tf.shape(x)[:-1], -np.inf), sample_size=8)
  model.compile("adam")
  weights = [v.numpy() for v in flow.trainable_variables]
  guard = tfp_flows.NaNGuard()
  model.fit(epochs=3, steps_per_epoch=4, verbose=0, callbacks=[guard])
  assert guard.stopped_at == (0, 0)
  for before, variable in zip(weights, flow.trainable_variables):
    np.testing.assert_array_equal(before, variable.numpy())


def test_bad_arguments():
  flow = tfp_flows.flows.iaf([2], num_layers=1, hidden_units=[4])
  with pytest.raises(ValueError, match="`sample_size` must be an integer"):
    vi.VariationalFlowModel(flow, lambda x: x[..., 0], sample_size=0)
  with pytest.raises(ValueError, match="`importance_samples`"):
    vi.VariationalFlowModel(flow, lambda x: x[..., 0], importance_samples=1.5)
  with pytest.raises(TypeError, match="`annealing`"):
    vi.VariationalFlowModel(flow, lambda x: x[..., 0], annealing=0.5)
  model = vi.VariationalFlowModel(flow, lambda x: x[..., 0])
  model.compile("adam")
  with pytest.raises(ValueError, match="needs `steps_per_epoch`"):
    model.fit(epochs=1)
  conditional_flow = tfp_flows.flows.iaf([2], num_layers=1, hidden_units=[4],
                                         context_shape=[3])
  model = vi.VariationalFlowModel(conditional_flow, lambda x, c: x[..., 0])
  model.compile("adam")
  with pytest.raises(ValueError, match="dataset of contexts"):
    model.fit(epochs=1, steps_per_epoch=1)
  with pytest.raises(ValueError, match="`context` must be None"):
    vi.sample_and_log_prob(flow, 3, context=tf.zeros([1, 3]))


@pytest.mark.parametrize("name", ["planar", "radial", "sylvester"])
def test_a_surrogate_named_is_its_builder_at_its_defaults(name):
  target = tfp_flows.targets.banana()
  model = vi.VariationalFlowModel(name, target.log_prob,
                                  event_shape=target.event_shape,
                                  sample_size=8)
  want = tfp_flows.flows.registry.BUILDERS[name](target.event_shape)
  assert model.flow.name == name
  assert model.flow.event_shape == [2]
  assert [v.shape for v in model.flow.trainable_variables] == [
      v.shape for v in want.trainable_variables]
  model.compile(tf_keras.optimizers.Adam(1e-3))
  history = model.fit(epochs=1, steps_per_epoch=2, verbose=0).history
  assert np.isfinite(history["elbo"][0])


def test_the_models_seed_draws_a_named_surrogates_weights():
  target = tfp_flows.targets.banana()

  def weights(seed):
    model = vi.VariationalFlowModel("planar", target.log_prob,
                                    event_shape=target.event_shape, seed=seed)
    return [v.numpy() for v in model.flow.trainable_variables]

  same = [np.array_equal(a, b) for a, b in zip(weights(0), weights(0))]
  differ = [not np.array_equal(a, b) for a, b in zip(weights(0), weights(1))]
  assert all(same) and any(differ)


def test_a_surrogate_by_name_needs_a_known_name_and_the_event_shape():
  log_prob = tfp_flows.targets.banana().log_prob
  with pytest.raises(ValueError, match="Unknown flow 'planer'; known:"):
    vi.VariationalFlowModel("planer", log_prob, event_shape=[2])
  with pytest.raises(ValueError, match="needs `event_shape`"):
    vi.VariationalFlowModel("planar", log_prob)
  flow = tfp_flows.flows.planar([2])
  with pytest.raises(ValueError, match="`event_shape` is for a `flow` given "
                     "by name"):
    vi.VariationalFlowModel(flow, log_prob, event_shape=[2])
