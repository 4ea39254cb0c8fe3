"""The harness must pass correct bijectors and catch broken ones.

One deliberately broken bijector per check of `testing.check_bijector`, each
run with only that check (and, where the breakage is specific to it, shown to
pass the checks that cannot see it).
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import testing

tfb = tfp.bijectors


class _Double(tfb.Bijector):
  """y = 2x on vectors: correct, the base of the broken ones below."""

  def __init__(self, dtype=tf.float32, name="double"):
    super().__init__(forward_min_event_ndims=1, dtype=dtype,
                     parameters=dict(locals()), name=name)

  def _forward(self, x):
    return 2. * x

  def _inverse(self, y):
    return y / 2.

  def _forward_log_det_jacobian(self, x):
    n = tf.cast(tf.shape(x)[-1], x.dtype)
    return tf.fill(tf.shape(x)[:-1], n * tf.math.log(tf.constant(2., x.dtype)))


class _WrongLogDet(_Double):
  """Claims log-det 0 (ildj follows from it, so the two agree)."""

  def _forward_log_det_jacobian(self, x):
    return tf.zeros(tf.shape(x)[:-1], x.dtype)


class _WrongInverse(_Double):
  """Inverse off by a constant."""

  def _inverse(self, y):
    return y / 2. + 0.1


class _NotOnto(_Double):
  """y = softplus(x), posing as a bijection of R^n: forward misses y <= 0.

  inverse(forward(x)) == x everywhere, so only points y outside forward's
  range (`sample_y`) show that forward(inverse(y)) != y.
  """

  def _forward(self, x):
    return tf.math.softplus(x)

  def _inverse(self, y):
    return tfp.math.softplus_inverse(y)

  def _forward_log_det_jacobian(self, x):
    return tf.reduce_sum(tf.math.log_sigmoid(x), -1)


class _WrongInverseLogDet(_Double):
  """Correct forward log-det, but an ildj with the wrong sign."""

  def _inverse_log_det_jacobian(self, y):
    # Should be -n log 2.
    return self._forward_log_det_jacobian(y)


class _LogDetOverBatch(_Double):
  """Sums the log-det over the whole batch instead of per event."""

  def _forward_log_det_jacobian(self, x):
    return tf.reduce_sum(tf.math.log(2.) + tf.zeros_like(x))

  def _inverse_log_det_jacobian(self, y):
    return -tf.reduce_sum(tf.math.log(2.) + tf.zeros_like(y))


class _EagerOnly(_Double):
  """Scales by 2 eagerly but by 3 inside a graph (a Python-level branch)."""

  def _scale(self):
    return 2. if tf.executing_eagerly() else 3.

  def _forward(self, x):
    return self._scale() * x

  def _inverse(self, y):
    return y / self._scale()


class _NumpyForward(_Double):
  """forward through `tf.numpy_function`: traceable, but XLA cannot compile it."""

  def _forward(self, x):
    return tf.numpy_function(lambda a: 2. * a, [x], x.dtype, stateful=False)


class _Holder:
  """A plain Python object: TF's tracking does not look inside it."""

  def __init__(self, variable):
    self.variable = variable


class _HiddenVariable(_Double):
  """Its scale is a variable hidden from tracking: it cannot be saved."""

  def __init__(self, dtype=tf.float32):
    super().__init__(dtype, name="hidden_variable")
    self._holder = _Holder(tf.Variable(tf.constant(2., dtype)))

  def _forward(self, x):
    return self._holder.variable * x

  def _inverse(self, y):
    return y / self._holder.variable


def _raises(check, make, **kwargs):
  with pytest.raises(testing.BijectorCheckError, match=f"check '{check}'"):
    testing.check_bijector(make, [3], **kwargs)


def test_passes_tfp_scale_and_reports_every_check():
  report = testing.check_bijector(
      lambda dt: tfb.Scale(tf.Variable(tf.constant(2., dt))), [3],
      expect_trainable=True)
  assert set(report) == {"float32", "float64"}
  assert set(report["float64"]) == {
      "round_trip_forward", "round_trip_inverse", "log_det_inverse",
      "jacobian", "batch_shape", "tf_function", "jit_compile", "saved_model"}


def test_passes_the_correct_base_of_the_broken_bijectors():
  report = testing.check_bijector(
      _Double, [3], expect_trainable=False,
      sample_y=lambda shape, dtype, rng: rng.standard_normal(shape))
  assert max(report["float64"].values()) < 1e-12


def test_catches_wrong_inverse():
  with pytest.raises(testing.BijectorCheckError,
                     match="'round_trip_forward'.*worst error"):
    testing.check_bijector(_WrongInverse, [3], checks=["round_trip_forward"])


def test_catches_forward_not_onto_the_codomain():
  normal = lambda shape, dtype, rng: rng.standard_normal(shape)  # pylint: disable=unnecessary-lambda-assignment
  _raises("round_trip_inverse", _NotOnto, checks=["round_trip_inverse"],
          sample_y=normal)
  # Every other check passes: inverse(forward(x)) is x, the log-dets are right.
  testing.check_bijector(_NotOnto, [3], sample_y=normal, checks=[
      c for c in testing.ALL_CHECKS if c != "round_trip_inverse"])


def test_catches_wrong_inverse_log_det():
  _raises("log_det_inverse", _WrongInverseLogDet, checks=["log_det_inverse"])
  # The forward log-det is right: the Jacobian check cannot see the bug.
  testing.check_bijector(_WrongInverseLogDet, [3], checks=["jacobian"])


def test_catches_wrong_log_det():
  with pytest.raises(testing.BijectorCheckError, match="'jacobian'"):
    testing.check_bijector(_WrongLogDet, [3], checks=["jacobian"])


def test_catches_log_det_reduced_over_the_batch():
  _raises("batch_shape", _LogDetOverBatch, checks=["batch_shape"])


def test_catches_graph_behaviour_differing_from_eager():
  _raises("tf_function", _EagerOnly, checks=["tf_function"])
  # Eagerly it is a correct bijector.
  testing.check_bijector(_EagerOnly, [3], checks=[
      "round_trip_forward", "round_trip_inverse", "log_det_inverse",
      "jacobian", "batch_shape"])


def test_catches_op_that_xla_cannot_compile():
  with pytest.raises(testing.BijectorCheckError,
                     match="'jit_compile'.*raised InvalidArgumentError"):
    testing.check_bijector(_NumpyForward, [3], checks=["jit_compile"])
  testing.check_bijector(_NumpyForward, [3], checks=["tf_function"])


def test_catches_state_a_saved_model_cannot_hold():
  _raises("saved_model", _HiddenVariable, checks=["saved_model"])
  testing.check_bijector(_HiddenVariable, [3], checks=["tf_function",
                                                       "jit_compile"])


def test_catches_missing_variables():
  with pytest.raises(testing.BijectorCheckError, match="trainable_variables"):
    testing.check_bijector(lambda dt: tfb.Scale(tf.constant(2., dt)), [3],
                           expect_trainable=True)


def test_catches_unexpected_variables():
  with pytest.raises(testing.BijectorCheckError,
                     match="'trainable_variables'.*expected none, found 1"):
    testing.check_bijector(
        lambda dt: tfb.Scale(tf.Variable(tf.constant(2., dt))), [3],
        expect_trainable=False, checks=["trainable_variables"])


def test_every_check_has_a_broken_bijector_here():
  # Keeps this file in step with the harness: a new check needs a test here.
  assert set(testing.ALL_CHECKS) == {
      "round_trip_forward", "round_trip_inverse", "log_det_inverse",
      "jacobian", "batch_shape", "tf_function", "jit_compile",
      "trainable_variables", "saved_model"}


def test_unknown_check_name():
  with pytest.raises(ValueError, match="Unknown checks"):
    testing.check_bijector(lambda dt: tfb.Exp(), [3], checks=["nope"])


def test_error_is_relative_above_one():
  assert testing._error([102.], [100.]) == pytest.approx(0.02)  # pylint: disable=protected-access
  assert testing._error([np.nan], [1.]) == np.inf  # pylint: disable=protected-access
