"""ActNorm: harness, data-dependent init, per-instance state and caching."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows import testing
from tfp_flows.bijectors.actnorm import ActNorm

tfd = tfp.distributions

SPATIAL_AXES = (0, 1, 2)


def _data(seed, mean=(3., -1.), std=(2., 0.5), shape=(16, 4, 4, 2)):
  """Images whose channels have distinct means and scales."""
  rng = np.random.default_rng(seed)
  return tf.constant(np.asarray(mean) + np.asarray(std) *
                     rng.standard_normal(shape), tf.float32)


@pytest.mark.parametrize("channels", [2, None])
def test_harness_images(channels):
  testing.check_bijector(
      lambda dtype: ActNorm(channels, validate_args=True, dtype=dtype),
      event_shape=[4, 4, 2], expect_trainable=True)


def test_harness_vectors():
  testing.check_bijector(
      lambda dtype: ActNorm(3, event_ndims=1, dtype=dtype),
      event_shape=[3], expect_trainable=True)


def test_first_inverse_normalises_latent_side():
  actnorm = ActNorm(2)
  assert not actnorm.initialized.numpy()
  y = _data(0)
  x = actnorm.inverse(y)
  assert actnorm.initialized.numpy()
  np.testing.assert_allclose(tf.reduce_mean(x, SPATIAL_AXES), [0., 0.],
                             atol=1e-5)
  np.testing.assert_allclose(tf.math.reduce_std(x, SPATIAL_AXES), [1., 1.],
                             rtol=1e-4)
  # The log-det counts H * W = 16 entries per channel, and is not reduced
  # over the batch.
  log_std = np.log(np.std(y.numpy(), axis=SPATIAL_AXES))
  ildj = actnorm.inverse_log_det_jacobian(y, event_ndims=3)
  np.testing.assert_allclose(ildj, -16. * log_std.sum(), atol=1e-4)
  assert actnorm.inverse_log_det_jacobian(y, event_ndims=4).shape == []


def test_first_forward_normalises_its_output():
  actnorm = ActNorm(2)
  y = actnorm.forward(_data(1))
  np.testing.assert_allclose(tf.reduce_mean(y, SPATIAL_AXES), [0., 0.],
                             atol=1e-5)
  np.testing.assert_allclose(tf.math.reduce_std(y, SPATIAL_AXES), [1., 1.],
                             rtol=1e-4)


def test_second_call_does_not_reinitialise():
  actnorm = ActNorm(2)
  actnorm.inverse(_data(0))
  shift, log_scale = actnorm.shift.numpy(), actnorm.log_scale.numpy()
  x = actnorm.inverse(_data(1, mean=(10., 10.)))
  np.testing.assert_array_equal(actnorm.shift, shift)
  np.testing.assert_array_equal(actnorm.log_scale, log_scale)
  assert np.all(tf.reduce_mean(x, SPATIAL_AXES).numpy() > 1.)


def test_equal_instances_keep_separate_state_and_cache():
  first, second = ActNorm(2), ActNorm(2)
  first.inverse(_data(0))
  second.inverse(_data(1, mean=(-5., 5.), std=(0.1, 3.)))
  x = _data(2, mean=(0., 0.), std=(1., 1.))
  # The same tensor object through both: a shared TFP cache entry would hand
  # the second bijector the first one's output.
  y_first, y_second = first.forward(x), second.forward(x)
  assert np.abs(y_first.numpy() - y_second.numpy()).max() > 1.
  np.testing.assert_allclose(first.inverse(y_first), x, atol=1e-5)
  np.testing.assert_allclose(second.inverse(y_second), x, atol=1e-5)
  assert not np.allclose(first.forward_log_det_jacobian(x, event_ndims=3),
                         second.forward_log_det_jacobian(x, event_ndims=3))


def test_checkpoint_restores_initialised_state(tmp_path):
  actnorm = ActNorm(2)
  actnorm.inverse(_data(0))
  path = tf.train.Checkpoint(actnorm=actnorm).write(str(tmp_path / "ckpt"))
  other = _data(1, mean=(10., -10.))
  for fresh in (ActNorm(2), ActNorm()):  # Eager and deferred (lazy) restore.
    tf.train.Checkpoint(actnorm=fresh).read(path)
    assert fresh.initialized.numpy()
    np.testing.assert_allclose(fresh.inverse(other), actnorm.inverse(other))
    np.testing.assert_array_equal(fresh.shift, actnorm.shift)
    np.testing.assert_array_equal(fresh.log_scale, actnorm.log_scale)


def test_tf_keras_weights_restore_initialised_state(tmp_path):

  class Model(tf_keras.Model):

    def __init__(self):
      super().__init__()
      self.actnorm = ActNorm(2)

    def call(self, y):
      return self.actnorm.inverse(y)

  model = Model()
  model(_data(0))
  path = str(tmp_path / "weights")
  model.save_weights(path)
  restored = Model()
  restored.load_weights(path)
  assert restored.actnorm.initialized.numpy()
  other = _data(1, mean=(10., -10.))
  np.testing.assert_allclose(restored(other), model(other))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_initialises_inside_tf_function(jit_compile):
  actnorm = ActNorm(2)
  inverse = tf.function(actnorm.inverse, jit_compile=jit_compile)
  x = inverse(_data(0))
  assert actnorm.initialized.numpy()
  np.testing.assert_allclose(tf.reduce_mean(x, SPATIAL_AXES), [0., 0.],
                             atol=1e-5)
  # The traced function does not initialise again.
  x_other = inverse(_data(1, mean=(10., 10.)))
  assert np.all(tf.reduce_mean(x_other, SPATIAL_AXES).numpy() > 1.)


def test_functions_traced_after_the_init_hold_no_cond():
  # The cond is traced (two branch functions) only while the layer is not
  # initialised: a training step traced after `FlowModel.initialize` skips it.
  actnorm = ActNorm(2)

  def conds():
    graph = tf.function(actnorm.inverse).get_concrete_function(
        tf.TensorSpec([None, 4, 4, 2])).graph
    return [op.type for op in graph.get_operations() if "If" in op.type]

  assert conds()
  actnorm.inverse(_data(0))
  assert not conds()
  # Restored from a checkpoint, initialised too.
  restored = ActNorm(2)
  restored.initialized.assign(True)
  graph = tf.function(restored.forward).get_concrete_function(
      tf.TensorSpec([None, 4, 4, 2])).graph
  assert not [op for op in graph.get_operations() if "If" in op.type]


def test_log_prob_initialises_and_trains():
  actnorm = ActNorm(2)
  base = tfd.Sample(tfd.Normal(0., 1.), [4, 4, 2])
  dist = tfd.TransformedDistribution(base, actnorm)
  y = _data(0)

  @tf.function
  def loss_and_grads(y):
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(dist.log_prob(y))
    return loss, tape.gradient(loss, actnorm.trainable_variables)

  loss, grads = loss_and_grads(y)
  assert actnorm.initialized.numpy()
  want = base.log_prob(actnorm.inverse(y)) + actnorm.inverse_log_det_jacobian(
      y, event_ndims=3)
  np.testing.assert_allclose(loss, -tf.reduce_mean(want), rtol=1e-5)
  assert len(grads) == 2 and all(g is not None for g in grads)
  # The init is the maximum-likelihood Gaussian fit: gradients vanish there.
  for g in grads:
    np.testing.assert_allclose(g, np.zeros([2]), atol=1e-3)


def test_wrong_channel_count_raises():
  with pytest.raises(ValueError,
                     match=r"`y` must have event shape \[None, None, 2\]"):
    ActNorm(2).inverse(tf.zeros([1, 4, 4, 3]))
  lazy = ActNorm()
  lazy.forward(tf.ones([1, 4, 4, 3]))
  with pytest.raises(ValueError, match=r"`x` must have event shape"):
    lazy.forward(tf.ones([1, 4, 4, 2]))


@pytest.mark.parametrize("arg,value", [("channels", 0), ("event_ndims", 0),
                                       ("channels", 2.5)])
def test_bad_arguments_raise(arg, value):
  with pytest.raises(ValueError, match=f"`{arg}` must be a positive integer; "
                     f"got {value}"):
    ActNorm(**{arg: value})


def test_nan_input_raises_under_validate_args():
  actnorm = ActNorm(2, validate_args=True)
  y = _data(0).numpy()
  y[0, 1, 1, 0] = np.nan
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="`y` must be finite"):
    actnorm.inverse(y)
  assert not actnorm.initialized.numpy()


def test_empty_batch_does_not_initialise():
  actnorm = ActNorm(channels=2)
  assert actnorm.inverse(tf.zeros([0, 3, 3, 2])).shape == [0, 3, 3, 2]
  assert not actnorm.initialized.numpy()
  x = tf.random.stateless_normal([4, 3, 3, 2], [1, 2]) * 3. + 1.
  z = actnorm.inverse(x)
  assert actnorm.initialized.numpy()
  assert np.all(np.isfinite(z))
