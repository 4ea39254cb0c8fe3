"""Training a flow with tf_keras: `FlowModel`, bits/dim, and a NaN guard.

Bits per dimension follow the papers' convention. Pixels k in {0..K-1} are
dequantized to x = (k + u) / K in [0, 1)^D; a density p on [0, 1)^D is a
density p(x) / K^D on [0, K)^D, so

  bits/dim = (NLL + D log K) / (D ln 2),    NLL = -log p(x) in nats.

With `num_levels=None` the offset is left out (continuous data, e.g. 2-D toys).
"""

import math

import numpy as np
import tensorflow as tf
import tf_keras

__all__ = ["FlowModel", "NaNGuard", "bits_per_dim", "evaluate_bits_per_dim"]


def bits_per_dim(nll, event_size, num_levels=None):
  """Converts a per-example NLL (nats, data in [0, 1)) to bits per dimension.

  Args:
    nll: negative log-likelihood per example, float tensor or number.
    event_size: D, the number of dimensions of one example.
    num_levels: K, the number of discrete levels per dimension, or None for
      continuous data (no D log K offset).

  Returns:
    (nll + D log K) / (D ln 2), same type as `nll`.
  """
  offset = event_size * math.log(num_levels) if num_levels else 0.
  return (nll + offset) / (event_size * math.log(2.))


def _features(data):
  """The data tensor of a batch: `x` or the first item of an `(x, y)` tuple."""
  if isinstance(data, (tuple, list)):
    return data[0]
  return data


class FlowModel(tf_keras.Model):
  """A tf_keras model whose loss is the mean negative log-likelihood.

  `FlowModel(dist)` wraps any distribution with a `log_prob` (a flow built by
  `tfp_flows.flows`, or TFP's own) so that `compile` + `fit` train its
  variables with Keras progress bars, callbacks and distribution strategies.
  Batches are images `x` [B, *event_shape] or `(x, label)` tuples.

  Metrics: `loss` (mean NLL in nats per example, plus any layer losses) and
  `bits_per_dim` (see the module docstring).

  A step whose loss or gradients are not finite applies no update: the
  weights stay those of the last good step, and the reported loss is NaN so
  that `NaNGuard` (or Keras' `TerminateOnNaN`) can stop the run.

  Example:

  ```python
  dist = tfp_flows.flows.nice([8, 8, 1])
  model = tfp_flows.FlowModel(dist, num_levels=17)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  model.fit(tfp_flows.data.load("digits"), epochs=5)
  ```
  """

  def __init__(self, distribution, num_levels=None, **kwargs):
    """Wraps `distribution`.

    Args:
      distribution: a `tfd.Distribution` with a fully defined event shape.
      num_levels: K of the data (17 for digits, 256 for 8-bit images), for
        bits/dim; None for continuous data.
      **kwargs: tf_keras.Model arguments (`name`).
    """
    super().__init__(**kwargs)
    event_shape = distribution.event_shape
    if not event_shape.is_fully_defined():
      raise ValueError("`distribution` must have a fully defined event shape; "
                       f"got {event_shape}.")
    self.distribution = distribution
    self.num_levels = num_levels
    self.event_size = int(np.prod(event_shape.as_list()))
    self.loss_tracker = tf_keras.metrics.Mean(name="loss")
    self.bpd_tracker = tf_keras.metrics.Mean(name="bits_per_dim")

  @property
  def metrics(self):
    return [self.loss_tracker, self.bpd_tracker]

  def call(self, x):
    """Log-density of each example: [B, *event_shape] -> [B]."""
    return self.distribution.log_prob(x)

  def _nll(self, x, training):
    nll = -tf.reduce_mean(self(x, training=training))
    return nll, nll + tf.add_n(self.losses) if self.losses else nll

  def _update_metrics(self, nll, loss):
    self.loss_tracker.update_state(loss)
    self.bpd_tracker.update_state(
        bits_per_dim(nll, self.event_size, self.num_levels))
    return {m.name: m.result() for m in self.metrics}

  def train_step(self, data):
    x = _features(data)
    with tf.GradientTape() as tape:
      nll, loss = self._nll(x, training=True)
    variables = self.trainable_variables
    grads = tape.gradient(loss, variables)
    finite = tf.math.is_finite(loss)
    for g in grads:
      if g is not None:
        finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(g)))
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]

    def apply():
      self.optimizer.apply_gradients(pairs)
      return tf.constant(True)

    tf.cond(finite, apply, lambda: tf.constant(False))
    return self._update_metrics(nll, loss)

  def test_step(self, data):
    nll, loss = self._nll(_features(data), training=False)
    return self._update_metrics(nll, loss)

  def get_config(self):
    # The distribution is Python state built by a builder, not a config.
    return {"num_levels": self.num_levels}


class NaNGuard(tf_keras.callbacks.Callback):
  """Stops training at the first non-finite loss, naming the epoch and step.

  `FlowModel` skips the update of a non-finite step, so the weights at the stop
  are those of the last good step.
  """

  def __init__(self):
    super().__init__()
    self.epoch = 0
    self.stopped_at = None

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    loss = (logs or {}).get("loss")
    if loss is not None and not np.isfinite(loss):
      self.stopped_at = (self.epoch, batch)
      print(f"NaNGuard: non-finite loss ({loss}) at epoch {self.epoch + 1}, "
            f"step {batch + 1}; stopping. The weights are those of the last "
            "finite step.")
      self.model.stop_training = True


def evaluate_bits_per_dim(distribution, dataset, num_levels=None):
  """Mean bits/dim of `distribution` over every example of `dataset`.

  Args:
    distribution: anything with `log_prob` and an `event_shape`.
    dataset: batches of `x` or `(x, label)`.
    num_levels: K of the data, or None for continuous data.

  Returns:
    Python float.
  """
  event_shape = distribution.event_shape.as_list()
  event_size = int(np.prod(event_shape))
  # One trace for every batch size, the last partial batch included.
  log_prob = tf.function(
      distribution.log_prob,
      input_signature=[tf.TensorSpec([None] + event_shape, distribution.dtype)])
  total, count = 0., 0
  for batch in dataset:
    lp = log_prob(_features(batch))
    total += float(tf.reduce_sum(tf.cast(lp, tf.float64)))
    count += int(lp.shape[0])
  if count == 0:
    raise ValueError("`dataset` is empty.")
  return float(bits_per_dim(-total / count, event_size, num_levels))
