"""The FFJORD builder: exact and Hutchinson traces, tolerances, training, export."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import testing
from tfp_flows.flows.ffjord import ffjord


# Graph mode throughout: eager ODE solves step through Python loops (10x).


@tf.function
def _brute_force_log_prob(dist, x, h=1e-5):
  """log p_Z(f^-1(x)) + log |det df^-1/dx|, the Jacobian by central differences.

  One batched solve at x and x +- h e_j; independent of the trace and of
  autodiff through the solver. With solver tolerances far below h^2 the
  differences are accurate to about 1e-6.
  """
  batch, dim = x.shape
  steps = h * tf.eye(dim, dtype=x.dtype)
  shifted = tf.concat(  # [1 + 2 D, B, D]
      [x[None], x[None] + steps[:, None], x[None] - steps[:, None]], 0)
  z = tf.reshape(dist.bijector.inverse(tf.reshape(shifted, [-1, dim])),
                 [1 + 2 * dim, batch, dim])
  # jac[b, i, j] = dz_i / dx_j
  jac = tf.transpose((z[1:1 + dim] - z[1 + dim:]) / (2 * h), [1, 2, 0])
  return dist.distribution.log_prob(z[0]) + tf.linalg.slogdet(jac)[1]


@tf.function
def _log_prob(dist, x):
  return dist.log_prob(x)


@tf.function
def _round_trip(dist, x):
  return dist.bijector.forward(tf.identity(dist.bijector.inverse(x)))


def test_variables_exist_at_construction():
  dist = ffjord([3], hidden_units=[8, 8])
  # 3 dense layers x (kernel, bias); the first sees [z, t].
  assert len(dist.trainable_variables) == 6
  assert dist.trainable_variables[0].shape == [4, 8]
  model = tfp_flows.FlowModel(dist)
  assert len(model.trainable_variables) == 6


def test_fresh_flow_is_the_identity():
  dist = ffjord([2], hidden_units=[8])
  x = tf.random.normal([4, 2])
  np.testing.assert_allclose(dist.log_prob(x), dist.distribution.log_prob(x),
                             rtol=1e-6)


def test_exact_trace_log_prob_matches_the_jacobian():
  dist = testing.perturb(ffjord([3], hidden_units=[8], atol=1e-12,
                                rtol=1e-12, dtype=tf.float64), 0.5)
  x = tf.constant(np.random.default_rng(1).normal(size=[4, 3]))
  np.testing.assert_allclose(_log_prob(dist, x),
                             _brute_force_log_prob(dist, x), rtol=1e-9)
  np.testing.assert_allclose(_round_trip(dist, x), x, atol=1e-9)


def test_hutchinson_estimate_is_unbiased():
  exact = testing.perturb(ffjord([3], hidden_units=[8], dtype=tf.float64), 0.3)
  noisy = ffjord([3], hidden_units=[8], trace="hutchinson",
                 num_trace_samples=1000, dtype=tf.float64)
  for a, b in zip(noisy.trainable_variables, exact.trainable_variables):
    a.assign(b)
  x = tf.constant(np.random.default_rng(2).normal(size=[4, 3]))
  want = _log_prob(exact, x)
  got = _log_prob(noisy, x)
  assert not np.allclose(got, want, rtol=1e-9)  # an estimate, not the trace
  np.testing.assert_allclose(got, want, atol=0.1)


def test_tolerances_reach_the_solver():
  errors = {}
  for tol in (1e-2, 1e-8):
    dist = testing.perturb(ffjord([2], hidden_units=[8], atol=tol, rtol=tol,
                                  dtype=tf.float64), 0.5)
    x = tf.constant(np.random.default_rng(3).normal(size=[16, 2]))
    errors[tol] = float(np.max(np.abs(_round_trip(dist, x) - x)))
  assert errors[1e-8] < 1e-6 < errors[1e-2], errors


def test_images_are_flattened_and_bad_inputs():
  dist = ffjord([2, 2, 1], hidden_units=[8])
  assert dist.distribution.event_shape == [4]
  assert dist.sample(3).shape == [3, 2, 2, 1]
  with pytest.raises(ValueError, match=r"\[2, 2, 1\].*got \[2, 2, 3\]"):
    dist.log_prob(tf.zeros([1, 2, 2, 3]))
  with pytest.raises(ValueError, match="`trace` must be one of"):
    ffjord([2], trace="skilling")
  with pytest.raises(ValueError, match="`atol` must be > 0"):
    ffjord([2], atol=0.)
  with pytest.raises(ValueError, match="`rtol` must be > 0"):
    ffjord([2], rtol=-1.)


def test_training_moves_every_variable():
  tf_keras.utils.set_random_seed(0)
  dist = ffjord([2], hidden_units=[16], atol=1e-3, rtol=1e-3)
  x = tfp_flows.data.toy("moons", 1024, seed=0)
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-2))
  before = [v.numpy().copy() for v in dist.trainable_variables]
  hist = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(256), epochs=3,
                   verbose=0)
  assert hist.history["loss"][-1] < hist.history["loss"][0]
  assert all(not np.array_equal(b, v.numpy())
             for b, v in zip(before, dist.trainable_variables))


# An ODE solve traced for export and served in a fresh process: `make test-slow`
# (run by CI); tests/test_every_builder.py serves every builder's export too.
@pytest.mark.slow
def test_exports_and_serves_in_a_fresh_process(tmp_path,
                                               serve_in_fresh_process):
  # The Dormand-Prince solve and the exact trace's gradient loop are plain
  # TensorFlow ops: the SavedModel serves without TFP.
  dist = testing.perturb(ffjord([2], hidden_units=[8], atol=1e-6, rtol=1e-6),
                         0.3)
  x = np.random.default_rng(4).normal(size=[5, 2]).astype(np.float32)
  path = tfp_flows.export_saved_model(dist, str(tmp_path / "ffjord"))
  out = serve_in_fresh_process(path, x)
  np.testing.assert_allclose(out["log_prob5"], _log_prob(dist, x), rtol=1e-4)
  np.testing.assert_allclose(out["decoded5"], x, atol=1e-4)
  assert out["sample_shape"] == [5, 2] and out["sample_finite"]
  assert out["resampled"] < 1e-3
