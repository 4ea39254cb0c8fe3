"""The MAF and IAF builders: structure, exactness, costs, training, export."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import tfp_flows
from tfp_flows import testing
from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf

import helpers

tfb = tfp.bijectors
tfd = tfp.distributions


@pytest.mark.parametrize("builder", [maf, iaf])
def test_variables_exist_at_construction(builder):
  dist = builder([3], num_layers=3, hidden_units=[8, 8], actnorm=True)
  # Per layer: 3 masked dense layers x (kernel, bias) + ActNorm's 2.
  assert len(dist.trainable_variables) == 3 * (6 + 2)
  model = tfp_flows.FlowModel(dist)
  assert len(model.trainable_variables) == len(dist.trainable_variables)
  assert dist.event_shape == [3]
  assert isinstance(dist.distribution, tfd.Sample)


@pytest.mark.parametrize("builder", [maf, iaf])
def test_fresh_flow_is_the_identity(builder):
  # MADE's output layer starts at zero: shift 0, log-scale 0.
  dist = builder([4], num_layers=2, hidden_units=[8])
  x = tf.random.normal([5, 4])
  np.testing.assert_allclose(dist.log_prob(x),
                             dist.distribution.log_prob(x), rtol=1e-6)


@pytest.mark.parametrize("builder", [maf, iaf])
def test_harness_exact_log_det_and_round_trips(builder):
  def make(dtype):
    flow = builder([3], num_layers=2, hidden_units=[8], actnorm=True,
                   dtype=dtype)
    return testing.perturb(flow, 0.3).bijector
  # `make` perturbs (through the kernels' constraints, keeping MADE's masks)
  # so that ActNorm's initialisation sees a non-trivial flow. The layer's
  # XLA and SavedModel checks are in test_masked_autoregressive.py; export
  # is tested below.
  report = testing.check_bijector(
      make, [3], perturb_variables=0., expect_trainable=True,
      checks=("round_trip_forward", "round_trip_inverse", "log_det_inverse",
              "jacobian", "batch_shape", "tf_function",
              "trainable_variables"))
  assert set(report) == {"float32", "float64"}


def test_maf_density_is_one_pass_sampling_is_sequential(monkeypatch):
  dist = testing.perturb(maf([5], num_layers=2, hidden_units=[8]), 0.3)
  calls = helpers.made_calls(monkeypatch)
  dist.log_prob(tf.random.normal([3, 5]))
  # One pass per layer gives the transform and the log-det (TFP's layer
  # runs its network twice).
  assert calls == ["maf_made0", "maf_made1"]
  calls.clear()
  dist.sample(3)
  assert len(calls) == 5 * 2  # D passes per layer
  calls.clear()
  x, log_prob = dist.experimental_sample_and_log_prob(3)
  assert len(calls) == 5 * 2  # the log-det from the last pass: none added
  np.testing.assert_allclose(log_prob, dist.log_prob(tf.identity(x)),
                             rtol=1e-4, atol=1e-4)


def test_iaf_sampling_is_one_pass_density_is_sequential(monkeypatch):
  dist = testing.perturb(iaf([5], num_layers=2, hidden_units=[8]), 0.3)
  calls = helpers.made_calls(monkeypatch)
  dist.sample(3)
  assert len(calls) == 2  # one per layer
  calls.clear()
  x, log_prob = dist.experimental_sample_and_log_prob(3)
  assert len(calls) == 2  # the log-det from the same pass
  calls.clear()
  np.testing.assert_allclose(dist.log_prob(tf.identity(x)), log_prob,
                             rtol=1e-4, atol=1e-4)
  assert len(calls) == 5 * 2


def test_iaf_is_the_inverted_stack():
  dist = iaf([3], num_layers=2, hidden_units=[8])
  _, inverted = dist.bijector.bijectors
  layer = inverted.bijector.bijectors[0]
  assert isinstance(layer, tfp_flows.bijectors.MaskedAutoregressive)
  assert isinstance(layer.conditioner, tfp_flows.nets.MADE)
  assert layer.log_scale_bound == 3.
  assert inverted.name == "iaf_inverse"
  assert iaf([3], num_layers=1, hidden_units=[8],
             log_scale_bound=None).bijector.bijectors[
      1].bijector.bijectors[0].log_scale_bound is None


def test_images_are_flattened_and_permutations():
  dist = maf([4, 2, 1], num_layers=3, hidden_units=[8],
             permutation="random", seed=3)
  names = [b.name for b in dist.bijector.bijectors]
  assert names[:3] == ["unflatten", "maf_layer0", "maf_permute0"]
  assert dist.sample(2).shape == [2, 4, 2, 1]
  perms = [b.permutation.numpy() for b in dist.bijector.bijectors
           if isinstance(b, tfb.Permute)]
  assert len(perms) == 2 and all(sorted(p) == list(range(8)) for p in perms)
  reverse = maf([3], num_layers=2, hidden_units=[8])
  (perm,) = [b for b in reverse.bijector.bijectors
             if isinstance(b, tfb.Permute)]
  np.testing.assert_array_equal(perm.permutation, [2, 1, 0])


def test_training_moves_every_variable_and_keeps_masks():
  tf_keras.utils.set_random_seed(0)
  dist = iaf([3], num_layers=2, hidden_units=[8], actnorm=True)
  x = np.random.default_rng(0).normal(size=[512, 3])
  x = (x * [1., 2., 3.] + x[:, :1] ** 2).astype(np.float32)
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  before = [v.numpy().copy() for v in dist.trainable_variables]
  hist = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(64), epochs=3,
                   verbose=0)
  assert hist.history["loss"][-1] < hist.history["loss"][0]
  assert all(not np.array_equal(b, v.numpy())
             for b, v in zip(before, dist.trainable_variables))
  # The optimizer re-applies MADE's masks: the flow stays invertible.
  z = tf.random.normal([4, 3])
  np.testing.assert_allclose(
      dist.bijector.inverse(tf.identity(dist.bijector.forward(z))), z,
      atol=1e-4)


def test_bad_arguments():
  with pytest.raises(ValueError, match="`permutation` must be one of"):
    maf([3], permutation="sorted")
  with pytest.raises(ValueError, match="`num_layers` must be >= 1"):
    iaf([3], num_layers=0)
  with pytest.raises(ValueError, match="at least 2 entries"):
    maf([1])
  with pytest.raises(ValueError, match="`log_scale_bound` must be a positive"):
    iaf([3], log_scale_bound=0.)
  with pytest.raises(ValueError, match=r"\[4\].*got \[3\]"):
    maf([4], hidden_units=[8]).log_prob(tf.zeros([2, 3]))
  with pytest.raises(ValueError, match="is not conditional"):
    maf([3], hidden_units=[8]).log_prob(
        tf.zeros([2, 3]), bijector_kwargs={
            "maf_layer0": {"conditional_input": tf.zeros([2, 1])}})


# Data far outside anything seen in training: the bounded log-scale and
# shift keep every layer's output, hence log_prob, finite.
LARGE = np.array([[10., 10.], [-30., 5.], [100., 100.], [1e4, -1e4]],
                 np.float32)


@pytest.mark.parametrize("scale", [2., 3.])
@pytest.mark.parametrize("name", ["maf", "iaf", "conditional_maf",
                                  "conditional_iaf"])
def test_large_weights_and_inputs_stay_finite(name, scale):
  builder = maf if name.endswith("maf") else iaf
  kwargs = dict(context_shape=[3]) if name.startswith("conditional") else {}
  dist = testing.perturb(
      builder([2], num_layers=3, hidden_units=[16, 16], **kwargs), scale)
  x = tf.constant(LARGE)
  if kwargs:
    context = tf.constant(np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])

    def nll(x):
      return -tfp_flows.log_prob(dist, x, context)

    def draw(temperature):
      return tfp_flows.sample(dist, 4, temperature, seed=(1, 2),
                              context=context[0])
  else:

    def nll(x):
      return -dist.log_prob(x)

    def draw(temperature):
      return tfp_flows.sample(dist, 4, temperature=temperature, seed=(1, 2))

  for value in (nll(x), tf.function(nll)(x)):
    assert np.all(np.isfinite(value)), value
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(nll(x))
  grads = tape.gradient(loss, dist.trainable_variables)
  # Every trainable variable gets a gradient (a disconnected graph gives
  # None, which a finiteness check alone would let through).
  assert grads and all(g is not None for g in grads)
  assert all(np.all(np.isfinite(g)) for g in grads)
  for temperature in (0., 0.5, 1., 2.):
    assert np.all(np.isfinite(draw(temperature)))


@pytest.mark.parametrize("builder", [maf, iaf])
def test_export_and_serve_in_a_fresh_process(builder, tmp_path,
                                             serve_in_fresh_process):
  dist = testing.perturb(
      builder([3], num_layers=2, hidden_units=[8], actnorm=True), 0.3)
  x = np.random.default_rng(1).normal(size=[5, 3]).astype(np.float32)
  dist.log_prob(x)  # ActNorm's data-dependent init.
  served = serve_in_fresh_process(
      tfp_flows.export_saved_model(dist, str(tmp_path / "flow")), x)
  np.testing.assert_allclose(served["log_prob5"], dist.log_prob(x),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(served["decoded5"], x, atol=1e-4)
  assert served["sample_shape"] == [5, 3] and served["sample_finite"]
