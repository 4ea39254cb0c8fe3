"""FlowModel, bits/dim, the NaN guard; NICE beats a Gaussian on digits."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import tfp_flows
from tfp_flows import flows

import helpers


def test_bits_per_dim_formula():
  # NLL 0 on [0,1)^D with K levels is log2(K) bits per dim.
  assert tfp_flows.bits_per_dim(0., 64, 17) == pytest.approx(math.log2(17))
  assert tfp_flows.bits_per_dim(64 * math.log(2.), 64) == pytest.approx(1.)


def _toy_dataset(n=64, batch=16, labels=False):
  x = np.random.default_rng(0).uniform(size=[n, 4]).astype(np.float32)
  ds = tf.data.Dataset.from_tensor_slices(
      (x, np.zeros([n], np.int32)) if labels else x)
  return ds.batch(batch)


@pytest.mark.parametrize("labels", [False, True])
def test_fit_trains_every_variable_and_reports_bits_per_dim(labels):
  tf_keras.utils.set_random_seed(1)
  dist = flows.nice([4], hidden_units=[8])
  model = tfp_flows.FlowModel(dist, num_levels=256)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  assert len(model.trainable_variables) == len(dist.trainable_variables) == 17
  before = [v.numpy().copy() for v in dist.trainable_variables]
  hist = model.fit(_toy_dataset(labels=labels), epochs=3, verbose=0)
  assert hist.history["loss"][-1] < hist.history["loss"][0]
  assert all(not np.array_equal(b, v.numpy())
             for b, v in zip(before, dist.trainable_variables))
  loss, bpd = hist.history["loss"][-1], hist.history["bits_per_dim"][-1]
  assert bpd == pytest.approx(tfp_flows.bits_per_dim(loss, 4, 256), rel=1e-4)
  res = model.evaluate(_toy_dataset(labels=labels), verbose=0,
                       return_dict=True)
  assert res["bits_per_dim"] == pytest.approx(
      tfp_flows.evaluate_bits_per_dim(dist, _toy_dataset(), 256), rel=1e-4)


def test_nan_batch_skips_update_and_guard_stops():
  dist = flows.nice([4], hidden_units=[8])
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  model.fit(_toy_dataset(), epochs=1, verbose=0)
  good = [v.numpy().copy() for v in dist.trainable_variables]
  bad = np.full([16, 4], np.nan, np.float32)
  guard = tfp_flows.NaNGuard()
  model.fit(tf.data.Dataset.from_tensors(bad).repeat(3), epochs=2,
            callbacks=[guard], verbose=0)
  assert guard.stopped_at == (0, 0)
  for g, v in zip(good, dist.trainable_variables):
    np.testing.assert_array_equal(g, v.numpy())


def _optimizer_state(model):
  """Adam's moments (and the loss scale); the step counters aside, which
  count skipped steps too."""
  return [v.numpy().copy() for v in model.optimizer.variables()
          if v.dtype.is_floating]


@pytest.mark.parametrize("skip_spikes", [None, 2.])
def test_a_loss_spike_is_skipped_when_asked(skip_spikes):
  tf_keras.utils.set_random_seed(0)
  dist = flows.nice([4], hidden_units=[8])
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2), skip_spikes=skip_spikes)
  normal = np.random.default_rng(0).normal(size=[16, 4]).astype(np.float32)
  for _ in range(5):
    model.train_on_batch(normal)
  weights = [v.numpy().copy() for v in dist.trainable_variables]
  state = _optimizer_state(model)
  # Finite, but its NLL is thousands of nats above the others'.
  logs = model.train_on_batch(normal * 1e3, return_dict=True)
  assert np.isfinite(logs["loss"]) and logs["loss"] > 1e3
  unchanged = all(np.array_equal(w, v.numpy())
                  for w, v in zip(weights, dist.trainable_variables))
  assert unchanged == (skip_spikes is not None)
  if skip_spikes is None:
    assert "skipped_steps" not in logs
    return
  assert logs["skipped_steps"] == 1.
  assert len(state) > len(dist.trainable_variables)  # both moments
  for before, after in zip(state, _optimizer_state(model)):
    np.testing.assert_array_equal(before, after)  # Adam's moments untouched
  # The next ordinary step trains, from an average the spike did not move.
  logs = model.train_on_batch(normal, return_dict=True, reset_metrics=True)
  assert logs["skipped_steps"] == 0.
  assert not all(np.array_equal(w, v.numpy())
                 for w, v in zip(weights, dist.trainable_variables))
  assert float(model.recent_nll) < 100.


def test_skip_spikes_arguments():
  model = tfp_flows.FlowModel(flows.nice([4], hidden_units=[8]))
  for bad in (0., -1., float("nan")):
    with pytest.raises(ValueError, match="`skip_spikes` must be a positive"):
      model.compile("adam", skip_spikes=bad)
  with pytest.raises(ValueError, match="needs `skip_nonfinite=True`"):
    model.compile("adam", skip_nonfinite=False, skip_spikes=1.)


def test_event_shape_must_be_known():
  class _NoShape:
    event_shape = tf.TensorShape(None)
    dtype = tf.float32
  with pytest.raises(ValueError, match="fully defined event shape"):
    tfp_flows.FlowModel(_NoShape())


# A claim of the README at a small budget: run by `make test-claims` (the
# image flows' claims are in tests/claims/test_claims_digits.py).
@pytest.mark.claims
def test_nice_beats_factorized_gaussian_on_digits(tfds_dir):
  tf_keras.utils.set_random_seed(0)
  train = tfp_flows.data.load("digits", "train", 64, seed=0)
  test = tfp_flows.data.load("digits", "test", 64, seed=1)
  dist = flows.nice([8, 8, 1], hidden_units=[64, 64])
  model = tfp_flows.FlowModel(dist, num_levels=17)
  model.compile(tf_keras.optimizers.Adam(3e-3))
  model.fit(train, epochs=60, verbose=0)
  flow_bpd = tfp_flows.evaluate_bits_per_dim(dist, test, 17)
  gauss = tfp_flows.baselines.factorized_gaussian(train)
  gauss_bpd = tfp_flows.evaluate_bits_per_dim(gauss, test, 17)
  assert gauss_bpd == pytest.approx(3.38, abs=0.1)
  assert flow_bpd < gauss_bpd - 0.3, (flow_bpd, gauss_bpd)


def test_linear_warmup():
  schedule = tfp_flows.LinearWarmup(1e-3, 4)
  np.testing.assert_allclose([float(schedule(s)) for s in range(6)],
                             [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
  with pytest.raises(ValueError, match="`warmup_steps` an integer >= 1"):
    tfp_flows.LinearWarmup(1e-3, 0)


class _Recorder(tf_keras.callbacks.Callback):
  """The raw value of `variable` after each training step."""

  def __init__(self, variable):
    super().__init__()
    self.variable = variable
    self.values = []

  def on_train_batch_end(self, batch, logs=None):
    self.values.append(self.variable.numpy().copy())


def _gaussian_model(optimizer, jit_compile=False):
  """FlowModel of N(loc, I) in 2-D: d loss / d loc = loc - mean(x), exactly."""
  loc = tf.Variable(tf.zeros([2]))
  model = tfp_flows.FlowModel(
      tfp.distributions.Independent(tfp.distributions.Normal(loc, 1.), 1))
  model.compile(optimizer, jit_compile=jit_compile)
  return model, loc


def _constant_batches(mean, steps, batch=4):
  x = np.tile(np.asarray(mean, np.float32)[None], [batch, 1])
  return tf.data.Dataset.from_tensors(x).repeat(steps)


def test_linear_warmup_sets_each_steps_learning_rate_in_fit():
  # SGD on N(loc, I): loc <- loc + lr(s) (m - loc), with the hand-written
  # rates 0.1 * (s + 1) / 4 for s < 4, then 0.1.
  model, loc = _gaussian_model(
      tf_keras.optimizers.SGD(tfp_flows.LinearWarmup(0.1, 4)))
  rec = _Recorder(loc)
  m = np.array([1., 2.])
  model.fit(_constant_batches(m, 6), epochs=1, verbose=0, callbacks=[rec])
  want, z = [], np.zeros(2)
  for rate in (0.025, 0.05, 0.075, 0.1, 0.1, 0.1):
    z = z + rate * (m - z)
    want.append(z)
  np.testing.assert_allclose(rec.values, want, rtol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_global_clipnorm_bounds_the_step(jit_compile):
  # A batch 500 away from loc: the raw gradient has norm 500, the clipped one
  # norm 1, so SGD(0.1) moves loc by exactly 0.1 along (3, 4) / 5.
  model, loc = _gaussian_model(
      tf_keras.optimizers.SGD(0.1, global_clipnorm=1.), jit_compile)
  model.fit(_constant_batches([300., 400.], 1), epochs=1, verbose=0)
  np.testing.assert_allclose(loc.numpy(), [0.06, 0.08], rtol=1e-5)
  # Without clipping the same step jumps by 0.1 * 500.
  model, loc = _gaussian_model(tf_keras.optimizers.SGD(0.1), jit_compile)
  model.fit(_constant_batches([300., 400.], 1), epochs=1, verbose=0)
  np.testing.assert_allclose(loc.numpy(), [30., 40.], rtol=1e-5)


def test_ema_after_fit_is_the_moving_average_of_the_recorded_weights():
  # avg_0 = initial weights, avg_s = 0.6 avg_{s-1} + 0.4 w_s after step s;
  # fit ends by writing the average into the weights.
  model, loc = _gaussian_model(
      tf_keras.optimizers.SGD(0.3, use_ema=True, ema_momentum=0.6))
  rec = _Recorder(loc)
  model.fit(_constant_batches([1., -2.], 5), epochs=1, verbose=0,
            callbacks=[rec])
  average = np.zeros(2)
  for w in rec.values:
    average = 0.6 * average + 0.4 * w
  np.testing.assert_allclose(loc.numpy(), average, rtol=1e-5)
  # The raw weights themselves followed plain SGD, and the average lags them.
  z = np.zeros(2)
  for w in rec.values:
    z = z + 0.3 * (np.array([1., -2.]) - z)
    np.testing.assert_allclose(w, z, rtol=1e-5)
  assert np.all(np.abs(loc.numpy()) < np.abs(rec.values[-1]) - 0.05)


def test_ema_weights_are_used_after_fit():
  # With momentum 1 the average never leaves the initial weights, and fit
  # writes the average into the model at its end.
  dist = flows.nice([4], hidden_units=[8])
  initial = [v.numpy().copy() for v in dist.trainable_variables]
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2, use_ema=True, ema_momentum=1.))
  model.fit(_toy_dataset(), epochs=2, verbose=0)
  for a, v in zip(initial, dist.trainable_variables):
    np.testing.assert_allclose(v.numpy(), a, atol=1e-7)


def test_jit_compile_and_clipnorm_fit():
  dist = flows.glow([4, 4, 1], num_scales=1, num_layers=1, hidden_units=4)
  model = tfp_flows.FlowModel(dist, num_levels=256)
  model.compile(tf_keras.optimizers.Adam(1e-3, global_clipnorm=1.),
                jit_compile=True)
  x = np.random.default_rng(0).uniform(size=[16, 4, 4, 1]).astype(np.float32)
  hist = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=2,
                   verbose=0)
  assert np.all(np.isfinite(hist.history["loss"]))


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_keeps_log_dets_and_loss_float32(policy):
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    dist = flows.glow([4, 4, 1], num_scales=1, num_layers=1, hidden_units=4)
    convs = [m for m in dist.submodules
             if isinstance(m, tf_keras.layers.Conv2D)]
    # The networks compute in half precision on float32 weights.
    assert convs and all(c.compute_dtype == policy.split("_")[1]
                         for c in convs)
    assert all(v.dtype == tf.float32 for v in dist.trainable_variables)
    model = tfp_flows.FlowModel(dist, num_levels=256)
    model.compile(tf_keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).uniform(size=[8, 4, 4, 1]).astype(np.float32)
    hist = model.fit(tf.data.Dataset.from_tensors(x), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert dist.log_prob(x).dtype == tf.float32
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("as_dict", [False, True])
def test_fit_initialises_actnorm_on_init_examples(as_dict):
  # Batches of 8; init_examples=20 takes the first three (24 examples),
  # labels riding along in TFDS's dict form.
  dist = flows.glow([4, 4, 1], num_scales=1, num_layers=1, hidden_units=4)
  model = tfp_flows.FlowModel(dist, init_examples=20)
  x = np.random.default_rng(1).uniform(size=[80, 4, 4, 1]).astype(np.float32)
  data = tf.data.Dataset.from_tensor_slices(
      {"image": x, "label": np.zeros([80], np.int32)} if as_dict else x)
  model.compile(tf_keras.optimizers.Adam(0.))
  model.fit(data.batch(8), epochs=1, steps_per_epoch=1, verbose=0)
  actnorm = helpers.bijectors_of_type(dist, tfp_flows.bijectors.ActNorm)[0]
  squeezed = tf.nn.space_to_depth(x[:24] - 0.5, 2)
  np.testing.assert_allclose(actnorm.shift, tf.reduce_mean(squeezed, [0, 1, 2]),
                             rtol=1e-5, atol=1e-6)
  # Control: the first batch alone has other statistics.
  assert not np.allclose(actnorm.shift, tf.reduce_mean(squeezed[:8], [0, 1, 2]),
                         rtol=1e-3)
  with pytest.raises(ValueError, match="init_examples"):
    tfp_flows.FlowModel(dist, init_examples=0)


def test_conditional_model_reads_tfds_dict_batches():
  # TFDS's as_supervised=False form: {"image", "label"}; the label is the
  # class context, exactly as in the (x, y) form.
  # Perturbed: a new MAF is the identity, whatever its context.
  dist = tfp_flows.testing.perturb(
      flows.maf([4], num_layers=2, hidden_units=[8], context_shape=[3]), 0.3)
  model = tfp_flows.FlowModel(dist, num_classes=3)
  model.compile(tf_keras.optimizers.Adam(0.))
  x = np.random.default_rng(2).uniform(size=[16, 4]).astype(np.float32)
  y = np.arange(16, dtype=np.int32) % 3

  def loss(data):
    return model.evaluate(tf.data.Dataset.from_tensors(data), verbose=0,
                          return_dict=True)["loss"]

  want = -np.mean(tfp_flows.log_prob(dist, x, tf.one_hot(y, 3)))
  assert loss({"image": x, "label": y}) == pytest.approx(want, rel=1e-6)
  assert loss((x, y)) == pytest.approx(want, rel=1e-6)
  # Control: the label reaches the flow (another label, another loss).
  assert loss({"image": x, "label": (y + 1) % 3}) != pytest.approx(
      want, rel=1e-4)
  with pytest.raises(ValueError, match="'image' or 'x'"):
    loss({"pixels": x, "label": y})


def test_fit_initialises_actnorm_on_the_first_batch():
  dist = flows.glow([4, 4, 1], num_scales=1, num_layers=1, hidden_units=4)
  model = tfp_flows.FlowModel(dist)
  assert len(model.uninitialized()) == 1
  x = np.random.default_rng(0).uniform(size=[8, 4, 4, 1]).astype(np.float32)
  model.compile(tf_keras.optimizers.Adam(0.))
  model.fit(tf.data.Dataset.from_tensors(x), epochs=1, verbose=0)
  assert not model.uninitialized()
  actnorm = [m for m in dist.submodules
             if isinstance(m, tfp_flows.bijectors.ActNorm)][0]
  # Zero learning rate: the state is exactly the first batch's statistics.
  squeezed = tf.nn.space_to_depth(x - 0.5, 2)
  np.testing.assert_allclose(actnorm.shift, tf.reduce_mean(squeezed, [0, 1, 2]),
                             rtol=1e-5, atol=1e-6)


def _sharded_run(batch_shards):
  """A conditional Glow's losses and weights after SGD steps in K shards."""
  tf_keras.utils.set_random_seed(0)
  dist = flows.glow([4, 4, 1], num_scales=1, num_layers=2, hidden_units=4,
                    context_shape=[3])
  model = tfp_flows.FlowModel(dist, num_classes=3, init_examples=7,
                              batch_shards=batch_shards)
  model.compile(tf_keras.optimizers.SGD(0.05))
  rng = np.random.default_rng(3)
  x = rng.uniform(size=[7, 4, 4, 1]).astype(np.float32)
  y = np.arange(7, dtype=np.int32) % 3
  before = [v.numpy() for v in dist.trainable_variables]
  # One uneven batch of 7, three times; then two examples in K parts.
  hist = model.fit(tf.data.Dataset.from_tensors((x, y)).repeat(3), epochs=1,
                   verbose=0)
  pair = model.evaluate(tf.data.Dataset.from_tensors((x[:2], y[:2])),
                        verbose=0, return_dict=True)["loss"]
  # Control: the steps moved every trainable variable.
  assert all(not np.array_equal(b, v.numpy())
             for b, v in zip(before, dist.trainable_variables))
  return (hist.history["loss"][0], pair,
          [v.numpy() for v in dist.variables])


def test_batch_shards_train_and_evaluate_as_one_batch():
  loss, pair, weights = _sharded_run(1)
  for shards in (2, 3):
    shard_loss, shard_pair, shard_weights = _sharded_run(shards)
    assert shard_loss == pytest.approx(loss, rel=1e-5)
    # With 3 parts of 2 examples the empty one's stand-in (the first
    # example again) is dropped: counted, it would change the mean.
    assert shard_pair == pytest.approx(pair, rel=1e-5, abs=1e-4)
    # The same steps, so the same weights (ActNorm's state included: its
    # initialisation saw the whole batch).
    for a, b in zip(weights, shard_weights):
      np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
  with pytest.raises(ValueError, match="batch_shards"):
    tfp_flows.FlowModel(flows.nice([2], hidden_units=[4]), batch_shards=0)


def test_shard_threads():
  shard_threads = tfp_flows.training.shard_threads
  assert shard_threads(2, cores=2) == (1, 2)
  assert shard_threads(2, cores=16) == (8, 2)
  assert shard_threads(4, cores=2) == (1, 4)
  assert shard_threads(1, cores=8) == (8, 2)
  intra, inter = shard_threads(3)
  assert intra >= 1 and inter == 3
  for bad in (0, 1.5, True):
    with pytest.raises(ValueError, match="batch_shards"):
      shard_threads(bad)
  # TensorFlow runs here already: other counts are refused in one message.
  tf.constant(0.) + 1.
  current = tf.config.threading.get_intra_op_parallelism_threads()
  with pytest.raises(RuntimeError, match=rf"wants {current + 5} intra-op .* "
                     "before any TensorFlow op runs"):
    tfp_flows.training.set_shard_threads(2, cores=2 * (current + 5))


def test_sample_grid_writes_png_and_tensorboard(tmp_path):
  dist = flows.nice([2, 2, 1], hidden_units=[4])
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  x = np.random.default_rng(0).uniform(size=[8, 2, 2, 1]).astype(np.float32)
  grid = tfp_flows.SampleGrid(str(tmp_path / "png"), num_samples=4, every=2,
                              log_dir=str(tmp_path / "tb"))
  model.fit(tf.data.Dataset.from_tensors(x), epochs=4, callbacks=[grid],
            verbose=0)
  assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
      "epoch_0002.png", "epoch_0004.png"]
  assert list((tmp_path / "tb").iterdir())


_DISTRIBUTED = helpers.TWO_CPUS + r"""
import json
import numpy as np
import tf_keras
import tfp_flows

x = np.random.default_rng(0).uniform(size=[8, 4, 4, 1]).astype(np.float32)
losses, weights, initial = {}, {}, {}
for name, strategy in [("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                       ("two", tf.distribute.MirroredStrategy(
                           ["/cpu:0", "/cpu:1"]))]:
  tf_keras.utils.set_random_seed(0)
  with strategy.scope():
    dist = tfp_flows.flows.glow([4, 4, 1], num_scales=1, num_layers=1,
                                hidden_units=4)
    model = tfp_flows.FlowModel(dist)
    # The spike check all-reduces the NLL and keeps its average in a
    # variable: it must run, and change nothing, under both strategies.
    model.compile(tf_keras.optimizers.SGD(0.01), skip_spikes=50.)
  model.initialize(x)
  # Every variable of the flow (trainable or not), in the flow's order: the
  # names repeat (each network's "kernel:0"), the order does not.
  initial[name] = [v.numpy().tolist() for v in dist.variables]
  hist = model.fit(tf.data.Dataset.from_tensors(x).repeat(3), epochs=1,
                   verbose=0)
  losses[name] = hist.history["loss"][0]
  weights[name] = [v.numpy().tolist() for v in dist.variables]
trainable = {id(v) for v in dist.trainable_variables}
print("RESULT" + json.dumps({
    "losses": losses, "weights": weights, "initial": initial,
    "names": [v.name for v in dist.variables],
    "trainable": [i for i, v in enumerate(dist.variables)
                  if id(v) in trainable]}))
"""


def test_mirrored_two_replicas_match_one(tmp_path):
  out = helpers.script_result(_DISTRIBUTED)
  one, two = out["losses"]["one"], out["losses"]["two"]
  assert np.isfinite(one)
  assert two == pytest.approx(one, rel=1e-4)
  weights, names = out["weights"], out["names"]
  # Every variable (ActNorm's state included) has the same value after the
  # same 3 SGD steps.
  assert len(weights["one"]) == len(weights["two"]) == len(names)
  assert len(names) > len(out["trainable"]) > 1
  for name, a, b in zip(names, weights["one"], weights["two"]):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=name)
  # And training moved every trainable variable: they agree because both runs
  # trained alike, not because neither trained.
  for i in out["trainable"]:
    assert not np.allclose(weights["one"][i], out["initial"]["one"][i],
                           rtol=0., atol=1e-7), names[i]


_RESUME = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tf_keras
import tfp_flows
tf.config.experimental.enable_op_determinism()

class Crash(tf_keras.callbacks.Callback):
  def on_epoch_begin(self, epoch, logs=None):
    if epoch == 2:
      raise KeyboardInterrupt

class Epochs(tf_keras.callbacks.Callback):
  def __init__(self):
    super().__init__()
    self.run = []
  def on_epoch_begin(self, epoch, logs=None):
    self.run.append(epoch)

def run(backup, crash=False):
  tf_keras.utils.set_random_seed(0)
  dist = tfp_flows.flows.glow([4, 4, 1], num_scales=1, num_layers=1,
                              hidden_units=4)
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2, use_ema=True,
                                         ema_momentum=0.9))
  x = np.random.default_rng(0).uniform(size=[16, 4, 4, 1]).astype("float32")
  epochs = Epochs()
  callbacks = [tf_keras.callbacks.BackupAndRestore(backup)] if backup else []
  callbacks += [epochs, Crash()] if crash else [epochs]
  try:
    model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=4,
              callbacks=callbacks, verbose=0)
  except KeyboardInterrupt:
    return None
  optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
  # The flow's variables, then the optimizer's: its step count, Adam's
  # moments and the EMA's averages.
  return {"epochs": epochs.run,
          "variables": [v.numpy().tolist() for v in dist.variables],
          "optimizer": [v.numpy().tolist() for v in optimizer.variables]}

straight = run(None)
assert run(sys.argv[1], crash=True) is None
resumed = run(sys.argv[1])
print("RESULT" + json.dumps({"straight": straight, "resumed": resumed}))
"""


def test_resume_from_backup_matches_an_uninterrupted_run(tmp_path):
  import json  # pylint: disable=import-outside-toplevel
  import os  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  proc = subprocess.run(
      [sys.executable, "-c", _RESUME, str(tmp_path / "backup")],
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.split("RESULT", 1)[1])
  straight, resumed = out["straight"], out["resumed"]
  # The resumed run trains only the epochs the crash left (a run that
  # restored nothing would redo all 4 and match just as well).
  assert straight["epochs"] == [0, 1, 2, 3]
  assert resumed["epochs"] == [2, 3]
  for key in ("variables", "optimizer"):
    assert len(straight[key]) == len(resumed[key]) > 1
    for a, b in zip(straight[key], resumed[key]):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  # Adam's step count: 4 epochs of 2 batches.
  assert straight["optimizer"][0] == resumed["optimizer"][0] == 8


def test_fit_and_train_on_batch_trace_the_training_step_once():
  # The optimizer's slots exist before the first step: a step function that
  # created them would be traced twice (Glow: seconds per trace).
  dist = tfp_flows.flows.glow([4, 4, 1], num_scales=1, num_layers=1,
                              hidden_units=4)
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  data = tf.data.Dataset.from_tensor_slices(
      tf.random.uniform([8, 4, 4, 1])).batch(4)
  model.fit(data, epochs=2, verbose=0)
  assert model.train_function.experimental_get_tracing_count() == 1
  assert len(model.optimizer.variables) > 2 * len(model.trainable_variables)
  # So does `train_on_batch` (and any direct caller of
  # `make_train_function`) on a fresh model.
  fresh = tfp_flows.FlowModel(tfp_flows.flows.glow(
      [4, 4, 1], num_scales=1, num_layers=1, hidden_units=4))
  fresh.initialize(tf.random.uniform([4, 4, 4, 1]))
  fresh.compile(tf_keras.optimizers.Adam(1e-3))
  fresh.train_on_batch(tf.random.uniform([4, 4, 4, 1]))
  fresh.train_on_batch(tf.random.uniform([4, 4, 4, 1]))
  assert fresh.train_function.experimental_get_tracing_count() == 1


# The smallest Glow; 3 epochs of 4 steps, a backup every 3 steps. Killed as
# step 8 begins (epoch 2, step 4), the run resumes from the backup after step
# 6 at epoch 2, step 3: mid-epoch, and step 7 is redone.
_KILL_FLAGS = [
    "train", "--flow", "glow", "--num-scales", "1", "--num-layers", "1",
    "--hidden-units", "4", "--num-samples", "4", "--batch-size", "16",
    "--steps-per-epoch", "4", "--epochs", "3", "--seed", "5"]


def _flow_variables(out):
  dist, _ = tfp_flows.load_flow(str(out / "flow"))
  return {v.name: v.numpy() for v in dist.variables}


# Three CLI runs, one SIGKILLed: `make test-slow` (run by CI); the resume
# itself is checked in-process by test_resume_from_backup_matches_an_uninterrupted_run.
@pytest.mark.slow
def test_cli_killed_mid_epoch_resumes_on_the_same_batches(tmp_path, tfds_dir):
  import os  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  del tfds_dir  # Sets TFDS_DATA_DIR, which the processes inherit.
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_DETERMINISTIC_OPS="1")
  resumable = [*_KILL_FLAGS, "--out", str(tmp_path / "resumed"),
               "--checkpoint-dir", str(tmp_path / "backup"),
               "--backup-every-steps", "3"]
  script = os.path.join(os.path.dirname(__file__), "kill_at_step.py")
  # One process: the uninterrupted run, then the same run killed.
  killed = subprocess.run(
      [sys.executable, script, "8", "--first", *_KILL_FLAGS, "--out",
       str(tmp_path / "straight"), "--then", *resumable],
      capture_output=True, text=True, timeout=300, env=env)
  assert killed.returncode == -9, killed.stderr[-3000:]
  assert tfp_flows.training.resume_position(
      str(tmp_path / "backup"), 4, 3) == (1, 2)

  # Another model on the same backup: refused, naming what differs.
  other = [*resumable, "--hidden-units", "8"]
  refused = subprocess.run(
      [sys.executable, "-m", "tfp_flows.cli", *other],
      capture_output=True, text=True, timeout=300, env=env)
  assert refused.returncode == 2, refused.stderr[-3000:]
  assert ("holds the backup of another run (glow.hidden_units 4 there, 8 "
          "now)") in refused.stderr, refused.stderr[-3000:]

  resumed = subprocess.run(
      [sys.executable, "-m", "tfp_flows.cli", *resumable],
      capture_output=True, text=True, timeout=300, env=env)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert (f"resuming from the backup in {tmp_path / 'backup'}: epoch 2/3, "
          "step 3/4 (global step 7)") in resumed.stdout, resumed.stdout
  assert "Epoch 1/3" not in resumed.stdout and "Epoch 3/3" in resumed.stdout
  assert not (tmp_path / "backup").exists() or not os.listdir(
      tmp_path / "backup")
  straight = _flow_variables(tmp_path / "straight")
  again = _flow_variables(tmp_path / "resumed")
  assert straight.keys() == again.keys() and straight
  for name, value in straight.items():
    np.testing.assert_array_equal(again[name], value, err_msg=name)
