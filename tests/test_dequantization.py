"""Dequantization: bits/dim accounting, q's density, training, IW bound."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import tfp_flows
from tfp_flows import flows
from tfp_flows import testing
from tfp_flows.dequantization import UniformDequantizer
from tfp_flows.dequantization import VariationalDequantizer
from tfp_flows.training import FlowModel
from tfp_flows.evaluation import importance_weighted_bits_per_dim

tfd = tfp.distributions

K = 17
SHAPE = [2, 2, 1]


def _beta_flow():
  """A fixed density on [0, 1)^4 (no variables), enough for the accounting."""
  return tfd.Sample(tfd.Beta(tf.constant(2.), tf.constant(3.)), SHAPE)


def _centres(n, seed=0):
  k = np.random.default_rng(seed).integers(0, K, [n] + SHAPE)
  return tf.constant((k + 0.5) / K, tf.float32)


class FixedNoise(tf.Module):
  """A dequantizer whose u is given: q = 1 on the cube, like uniform noise."""

  def __init__(self, u):
    super().__init__()
    self.u = u

  def sample_and_log_prob(self, x, seed=None):
    del seed
    return self.u, tf.zeros(tf.shape(x)[:1])


def test_uniform_accounting_equals_uniform_dequantization_nll():
  """Loss and bits/dim on bin centres == those of the dequantized data."""
  x = _centres(8)
  u = tf.random.stateless_uniform([8] + SHAPE, [1, 2])
  dist = _beta_flow()
  model = FlowModel(dist, dequantizer=FixedNoise(u), num_levels=K)
  model.compile(tf_keras.optimizers.Adam())
  metrics = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
  # What the data pipeline's uniform dequantization gives: x = (k + u) / K.
  dequantized = x - 0.5 / K + u / K
  nll = -float(tf.reduce_mean(dist.log_prob(dequantized)))
  np.testing.assert_allclose(metrics["loss"], nll, rtol=1e-5)
  np.testing.assert_allclose(
      metrics["bits_per_dim"], (nll + 4 * math.log(K)) / (4 * math.log(2.)),
      rtol=1e-5)
  # A plain FlowModel on the dequantized data reports the same numbers.
  plain = tfp_flows.FlowModel(dist, num_levels=K)
  plain.compile(tf_keras.optimizers.Adam())
  want = plain.evaluate(dequantized, batch_size=8, verbose=0, return_dict=True)
  np.testing.assert_allclose(metrics["bits_per_dim"], want["bits_per_dim"],
                             rtol=1e-5)


def test_uniform_dequantizer_and_importance_weighted_bound():
  x = _centres(5)
  dist = _beta_flow()
  model = FlowModel(dist, num_levels=K,
                    dequantizer=UniformDequantizer(SHAPE, dist.dtype))
  seed = tf.constant([3, 4])
  # S samples one at a time: the bound is the log-mean-exp of p(x_k + u_s/K),
  # with u_s from the seed folded with s.
  s = 6
  log_p = []
  for i in range(s):
    u = tf.random.stateless_uniform(
        [5] + SHAPE, tf.random.experimental.stateless_fold_in(seed, i))
    log_p.append(dist.log_prob(x - 0.5 / K + u / K))
  want = tf.reduce_logsumexp(tf.stack(log_p), 0) - math.log(s)
  got = model.importance_weighted_log_prob(x, s, seed, samples_per_pass=1)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # All samples in one pass: another draw of the same bound.
  together = model.importance_weighted_log_prob(x, s, seed)
  assert together.shape == [5]
  with pytest.raises(ValueError, match="positive multiple"):
    model.importance_weighted_log_prob(x, 6, seed, samples_per_pass=4)


# Closed forms for the product of Beta(2, 3) densities p(x) = 12 x (1 - x)^2
# on each of D = 4 pixels, all pixels of example k at level k.
D = 4


def _beta_cdf(x):
  return 6. * x**2 - 8. * x**3 + 3. * x**4


def _beta_log_density_integral(x):
  """Antiderivative of log(12 x (1 - x)^2), with 0 log 0 = 0."""
  def xlogx(t):
    return np.where(t > 0., t * np.log(np.maximum(t, 1e-300)), 0.)
  return x * math.log(12.) + xlogx(x) - x - 2. * (xlogx(1. - x) - (1. - x))


def _exact(levels):
  """(log P(k) + D log K, E_u[L]) per example: the discrete model's
  log-probability of the bin (through the CDF) and the uniform ELBO
  (through the integral of log p over the bin), both on the [0, K) scale."""
  lo, hi = levels / K, (levels + 1) / K
  log_bin = D * np.log(_beta_cdf(hi) - _beta_cdf(lo)) + D * math.log(K)
  elbo = D * K * (_beta_log_density_integral(hi) -
                  _beta_log_density_integral(lo))
  return log_bin, elbo


def _same_level_centres(levels, dtype=tf.float64):
  x = (np.asarray(levels, np.float64) + 0.5) / K
  return tf.constant(np.broadcast_to(x[:, None, None, None],
                                     [len(levels)] + SHAPE).copy(), dtype)


def _float64_beta_model():
  dist = tfd.Sample(tfd.Beta(tf.constant(2., tf.float64),
                             tf.constant(3., tf.float64)), SHAPE)
  return FlowModel(dist, dequantizer=UniformDequantizer(SHAPE, tf.float64),
                   num_levels=K)


def test_importance_weighted_bound_against_the_exact_bin_probability():
  # Uniform q: the bound with S samples tends to log P(k) + D log K from
  # below, starting at the ELBO E[L] (S = 1). Both ends in closed form.
  model = _float64_beta_model()
  levels = np.arange(1, K - 1)  # inner bins: the density is > 0 on each
  x = _same_level_centres(levels)
  log_bin, elbo = _exact(levels)
  assert np.all(elbo < log_bin)  # Jensen
  tight = model.importance_weighted_log_prob(x, 4096, seed=(3, 4),
                                             samples_per_pass=1024).numpy()
  # Measured: within 0.017 per bin, 0.002 on average.
  np.testing.assert_allclose(tight, log_bin, atol=0.03)
  assert abs(np.mean(tight - log_bin)) < 0.005
  loose = elbo < log_bin - 0.03
  assert np.sum(loose) >= 3
  assert np.all(tight[loose] - elbo[loose] > 0.5 * (log_bin - elbo)[loose])
  # S = 1 is the ELBO: its mean over 256 draws per bin is E[L].
  reps = 256
  one = model.importance_weighted_log_prob(
      tf.tile(x, [reps, 1, 1, 1]), 1, seed=(5, 6)).numpy().reshape(reps, -1)
  se = one.std(0) / math.sqrt(reps)
  assert np.all(np.abs(one.mean(0) - elbo) < 4. * se + 1e-3), (
      one.mean(0) - elbo, se)


def test_importance_weighted_bound_tightens_with_samples_on_average():
  # All bins, the edge ones included (where the ELBO's gap is largest).
  model = _float64_beta_model()
  levels = np.arange(K)
  x = _same_level_centres(levels)
  log_bin, elbo = _exact(levels)
  means, ses = {}, {}
  for s, reps in ((1, 512), (64, 16)):
    bound = model.importance_weighted_log_prob(
        tf.tile(x, [reps, 1, 1, 1]), s, seed=(7, s)).numpy()
    # Mean over bins of each replicate's bound, then over the replicates.
    per_rep = bound.reshape(reps, K).mean(1)
    means[s], ses[s] = per_rep.mean(), per_rep.std() / math.sqrt(reps)
  # Exact mean gaps: 0.31 nats for the ELBO; about 0.3 / 64 for S = 64.
  assert np.mean(log_bin - elbo) == pytest.approx(0.307, abs=1e-3)
  assert abs(means[1] - np.mean(elbo)) < 4. * ses[1], (means, ses)
  assert means[1] < means[64] - 0.15
  assert abs(means[64] - np.mean(log_bin)) < 4. * ses[64] + 0.01, (means,
                                                                   ses)


def test_importance_weighted_bits_per_dim_is_the_exact_discrete_figure():
  # With S large the bound is the discrete model's own bits/dim,
  # -log2 P(k) / D, from the Beta CDF.
  model = _float64_beta_model()
  levels = np.arange(1, K - 1)
  log_bin, _ = _exact(levels)
  data = tf.data.Dataset.from_tensor_slices(
      _same_level_centres(levels)).batch(8)
  want = float(np.mean(-(log_bin - D * math.log(K)))) / (D * math.log(2.))
  got = importance_weighted_bits_per_dim(model, data, num_samples=4096,
                                         samples_per_pass=1024)
  assert got == pytest.approx(want, abs=3e-3)
  # The training metric (S = 1) is visibly looser on the same data.
  elbo_bpd = importance_weighted_bits_per_dim(model, data, num_samples=1)
  assert elbo_bpd > want + 3e-3


def test_single_sample_bound_is_the_variational_elbo_by_hand():
  # S = 1 with Flow++'s q: log p(k/K + u/K) - log q(u | k) for the u that q
  # draws from the pass's seed (the seed folded with pass 0).
  tf_keras.utils.set_random_seed(0)
  deq = _dequantizer()
  testing.perturb(deq, 0.1)
  dist = _beta_flow()
  model = FlowModel(dist, dequantizer=deq, num_levels=K)
  x = _centres(4, seed=2)
  seed = tf.constant([8, 9])
  scaled = x - 0.5 / K
  u, log_q = deq.sample_and_log_prob(
      scaled, seed=tf.random.experimental.stateless_fold_in(seed, 0))
  assert np.max(np.abs(log_q)) > 0.1  # not the uniform q
  want = dist.log_prob(scaled + u / K) - log_q
  got = model.importance_weighted_log_prob(x, 1, seed)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _dequantizer(dtype=tf.float32, **kwargs):
  args = dict(num_steps=2, filters=4, num_heads=2, num_components=3,
              feature_filters=4)
  args.update(kwargs)
  return VariationalDequantizer(SHAPE, dtype=dtype, **args)


def test_variational_log_q_is_the_change_of_variables_density():
  tf_keras.utils.set_random_seed(0)
  deq = _dequantizer(tf.float64)
  x = tf.cast(_centres(3) - 0.5 / K, tf.float64)
  testing.perturb(deq, 0.1)
  seed = tf.constant([5, 6])
  u, log_q = deq.sample_and_log_prob(x, seed=seed)
  assert u.shape == [3] + SHAPE and log_q.shape == [3]
  assert np.all((u > 0.) & (u < 1.))
  # log q = log N(eps) - log |det du/deps| with the Jacobian from autodiff.
  eps = tf.random.stateless_normal([3] + SHAPE, seed, dtype=tf.float64)
  flat = tf.reshape(eps, [3, 4])
  with tf.GradientTape() as tape:
    tape.watch(flat)
    u_of_eps = deq._flow(tf.reshape(flat, [3] + SHAPE), x)[0]  # pylint: disable=protected-access
    out = tf.reshape(u_of_eps, [3, 4])
  _, log_det = tf.linalg.slogdet(tape.batch_jacobian(out, flat))
  log_normal = tf.reduce_sum(
      tfd.Normal(tf.constant(0., tf.float64), 1.).log_prob(flat), -1)
  np.testing.assert_allclose(out, tf.reshape(u, [3, 4]), rtol=1e-12)
  np.testing.assert_allclose(log_q, log_normal - log_det,
                             rtol=1e-9)
  # q depends on the data through the context network.
  u_other, _ = deq.sample_and_log_prob(tf.reverse(x, [0]), seed=seed)
  assert np.max(np.abs(u_other - u)) > 1e-6


def test_each_coupling_network_runs_once_per_sample():
  deq = _dequantizer()
  counts = []
  for step in deq.steps:
    if hasattr(step, "conditioner"):
      net = step.conditioner

      def counting(x_a, features, net=net):
        counts.append(1)
        return net(x_a, features=features)

      step._conditioner = counting  # pylint: disable=protected-access
  deq.sample_and_log_prob(_centres(2) - 0.5 / K, seed=1)
  assert len(counts) == 2


@pytest.mark.parametrize("variational", [False, True])
def test_fit_on_digits_bin_centres(tfds_dir, variational):
  del tfds_dir
  tf_keras.utils.set_random_seed(0)
  dist = flows.glow([8, 8, 1], num_scales=1, num_layers=1, hidden_units=4)
  deq = UniformDequantizer([8, 8, 1])
  if variational:
    deq = VariationalDequantizer([8, 8, 1], num_steps=1, filters=4,
                                 num_heads=2, num_components=2,
                                 feature_filters=4)
  model = FlowModel(dist, dequantizer=deq, num_levels=K)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  train = tfp_flows.data.load("digits", "train[:256]", 64, dequantize=False,
                              seed=0)
  test = tfp_flows.data.load("digits", "test[:128]", 64, dequantize=False)
  before = [v.numpy().copy() for v in model.trainable_variables]
  history = model.fit(train, epochs=2, verbose=0)
  assert np.all(np.isfinite(history.history["loss"]))
  moved = [not np.array_equal(b, v.numpy())
           for b, v in zip(before, model.trainable_variables)]
  assert all(moved)
  if variational:
    assert len(model.trainable_variables) > len(dist.trainable_variables)
  elbo = model.evaluate(test, verbose=0, return_dict=True)["bits_per_dim"]
  iw = importance_weighted_bits_per_dim(model, test, num_samples=16)
  assert np.isfinite(elbo) and np.isfinite(iw)
  # The importance-weighted bound is the tighter one.
  assert iw < elbo


def test_bad_arguments():
  with pytest.raises(ValueError, match="`num_levels`"):
    FlowModel(_beta_flow(), dequantizer=UniformDequantizer(SHAPE))
  with pytest.raises(ValueError, match=r"\[H, W, C\]"):
    VariationalDequantizer([4, 4])
  with pytest.raises(ValueError, match="`num_steps` must be >= 1"):
    VariationalDequantizer(SHAPE, num_steps=0)


def test_conditional_flow_with_a_conditional_variational_dequantizer():
  tf_keras.utils.set_random_seed(0)
  dist = flows.flowpp([4, 4, 1], hidden_units=4, checkerboard_steps=1,
                      channel_steps=0, final_steps=0, num_heads=1,
                      num_components=2, context_shape=[3])
  deq = VariationalDequantizer([4, 4, 1], num_steps=1, filters=4, num_heads=1,
                               num_components=2, feature_filters=4,
                               context_shape=[3])
  assert deq.context_shape == [3]
  model = FlowModel(dist, dequantizer=deq, num_levels=K, num_classes=3)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  rng = np.random.default_rng(0)
  x = ((rng.integers(0, K, [12, 4, 4, 1]) + 0.5) / K).astype(np.float32)
  y = np.arange(12, dtype=np.int32) % 3
  ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(6)
  context_map = deq.feature_net.context_bias.trainable_variables[0]
  before = context_map.numpy()
  history = model.fit(ds, epochs=2, verbose=0)
  assert np.all(np.isfinite(history.history["loss"]))
  # The dequantizer's context map trained with the flow.
  assert not np.array_equal(before, context_map.numpy())
  # q(u | k, c) depends on c: the same noise, another class, another log q.
  centres = tf.constant(x[:2] - 0.5 / K)
  _, log_q = deq.sample_and_log_prob(centres, seed=(1, 2),
                                     context=tf.one_hot([0, 0], 3))
  _, other = deq.sample_and_log_prob(centres, seed=(1, 2),
                                     context=tf.one_hot([1, 1], 3))
  assert np.max(np.abs(log_q - other)) > 1e-4
  bpd = importance_weighted_bits_per_dim(model, ds, num_samples=4)
  assert np.isfinite(bpd)


def test_importance_samples_per_pass_default_scales_with_the_event():
  # All S samples of a 64-entry event in one pass (the digits figures'
  # draws), one at a time for 784 entries: 16 copies of a 28x28 batch ran
  # Flow++'s attention out of memory. The bound equals the one-pass-each
  # draw with the same seed.
  for shape, per_pass in (([8, 8, 1], 16), ([28, 28, 1], 1)):
    model = tfp_flows.FlowModel(
        tfp_flows.flows.nice(shape, num_layers=2, hidden_units=[4]),
        num_levels=256,
        dequantizer=tfp_flows.dequantization.VariationalDequantizer(
            shape, num_steps=1, filters=4))
    x = tf.fill([2] + shape, 0.5)
    np.testing.assert_allclose(
        model.importance_weighted_log_prob(x, 16, [1, 2]),
        model.importance_weighted_log_prob(x, 16, [1, 2],
                                           samples_per_pass=per_pass),
        rtol=1e-6)
