"""The harness must pass correct bijectors and catch broken ones."""

import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import testing

tfb = tfp.bijectors


class _WrongLogDet(tfb.Bijector):
  """y = 2x but claims log-det 0."""

  def __init__(self, dtype):
    super().__init__(forward_min_event_ndims=1, dtype=dtype,
                     parameters=dict(locals()), name="wrong_log_det")

  def _forward(self, x):
    return 2. * x

  def _inverse(self, y):
    return y / 2.

  def _forward_log_det_jacobian(self, x):
    return tf.zeros(tf.shape(x)[:-1], x.dtype)


class _WrongInverse(_WrongLogDet):
  """Inverse off by a constant."""

  def _inverse(self, y):
    return y / 2. + 0.1

  def _forward_log_det_jacobian(self, x):
    # The correct log-det of y = 2x on 3 entries: only the inverse is wrong.
    return tf.fill(tf.shape(x)[:-1], 3. * tf.math.log(tf.constant(2., x.dtype)))


def test_passes_tfp_scale_and_reports_every_check():
  report = testing.check_bijector(
      lambda dt: tfb.Scale(tf.Variable(tf.constant(2., dt))), [3],
      expect_trainable=True)
  assert set(report) == {"float32", "float64"}
  assert set(report["float64"]) == {
      "round_trip_forward", "round_trip_inverse", "log_det_inverse",
      "jacobian", "batch_shape", "tf_function", "jit_compile", "saved_model"}


def test_catches_wrong_log_det():
  with pytest.raises(testing.BijectorCheckError, match="'jacobian'"):
    testing.check_bijector(_WrongLogDet, [3], checks=["jacobian"])


def test_catches_wrong_inverse():
  with pytest.raises(testing.BijectorCheckError,
                     match="'round_trip_forward'.*worst error"):
    testing.check_bijector(_WrongInverse, [3], checks=["round_trip_forward"])


def test_catches_missing_variables():
  with pytest.raises(testing.BijectorCheckError, match="trainable_variables"):
    testing.check_bijector(lambda dt: tfb.Scale(tf.constant(2., dt)), [3],
                           expect_trainable=True)


def test_unknown_check_name():
  with pytest.raises(ValueError, match="Unknown checks"):
    testing.check_bijector(lambda dt: tfb.Exp(), [3], checks=["nope"])
