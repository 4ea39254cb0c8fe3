"""Scoring a flow: bits/dim, the mean NLL of a dataset, the importance-weighted bound.

Bits per dimension follow the papers' convention. Pixels k in {0..K-1} are
dequantized to x = (k + u) / K in [0, 1)^D; a density p on [0, 1)^D is a
density p(x) / K^D on [0, K)^D, so

  bits/dim = (NLL + D log K) / (D ln 2),    NLL = -log p(x) in nats.

With `num_levels=None` the offset is left out (continuous data, e.g. 2-D toys).

A flow whose log-density is a seeded estimate (a residual flow with
`log_det="estimate"`) has its estimators restarted before each evaluation
(`reset_estimators`), so evaluating the same data twice gives the same
numbers.
"""

import math

import numpy as np
import tensorflow as tf

from tfp_flows import applications
from tfp_flows import context as context_lib

__all__ = ["bits_per_dim", "evaluate_bits_per_dim", "evaluate_nll",
           "importance_weighted_bits_per_dim", "reset_estimators",
           "split_batch"]


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


def split_batch(data):
  """(x, y) of a batch: the data and the label/context item, or None.

  A tensor is x alone; a tuple or list is (x,) or (x, y); a dict (TFDS's
  `as_supervised=False`) has x under "image" (or "x") and y under "label"
  (or "context") when present.

  Raises:
    ValueError: a batch of another form, named with what came.
  """
  if isinstance(data, dict):
    x = data.get("image", data.get("x"))
    y = data.get("label", data.get("context"))
    if x is None:
      raise ValueError("A dict batch needs the data under 'image' or 'x'; got "
                       f"keys {sorted(data)}.")
    return x, y
  if isinstance(data, (tuple, list)):
    if len(data) in (1, 2):
      return data[0], (data[1] if len(data) == 2 else None)
    raise ValueError("A batch must be x, (x,), (x, y) or a dict; got a "
                     f"{type(data).__name__} of {len(data)} items.")
  return data, None


def reset_estimators(distribution):
  """Restarts the noise of every seeded log-det estimator in `distribution`.

  Returns the number of estimators reset (each bijector or module with a
  `reset_estimator` method, e.g. `bijectors.InvertibleResidual`).
  """
  found = [m for m in distribution.submodules
           if callable(getattr(m, "reset_estimator", None))]
  for module in found:
    module.reset_estimator()
  return len(found)


def evaluate_nll(distribution, dataset, num_classes=None):
  """Mean negative log-likelihood (nats) of `distribution` over `dataset`.

  Args:
    distribution: anything with `log_prob`, `dtype` and an `event_shape`.
    dataset: batches of `x`, `(x, y)` or dicts (`split_batch`); for a
      conditional flow y is the context, or the class label with
      `num_classes`.
    num_classes: C for one-hot class labels (conditional flows).

  Returns:
    Python float.
  """
  reset_estimators(distribution)
  event_shape = distribution.event_shape.as_list()
  shape = context_lib.context_shape(distribution)
  x_spec = tf.TensorSpec([None] + event_shape, distribution.dtype)
  # One trace for every batch size, the last partial batch included.
  if shape is None:
    log_prob = tf.function(distribution.log_prob, input_signature=[x_spec])
  else:
    log_prob = tf.function(
        lambda x, c: applications.log_prob(distribution, x, c),
        input_signature=[x_spec, tf.TensorSpec([None] + shape.as_list(),
                                               distribution.dtype)])
  total, count = 0., 0
  for batch in dataset:
    x, y = split_batch(batch)
    if shape is None:
      lp = log_prob(x)
    else:
      if y is None:
        context_lib.check_flow_context(distribution, None)
      c = tf.one_hot(y, num_classes, dtype=distribution.dtype) if (
          num_classes) else tf.cast(y, distribution.dtype)
      lp = log_prob(x, c)
    total += float(tf.reduce_sum(tf.cast(lp, tf.float64)))
    count += int(lp.shape[0])
  if count == 0:
    raise ValueError("`dataset` is empty.")
  return -total / count


def evaluate_bits_per_dim(distribution, dataset, num_levels=None,
                          num_classes=None):
  """Mean bits/dim of `distribution` over every example of `dataset`.

  Args:
    distribution: anything with `log_prob`, `dtype` and an `event_shape`.
    dataset: batches as `evaluate_nll` takes them.
    num_levels: K of the data, or None for continuous data.
    num_classes: C for one-hot class labels (conditional flows).

  Returns:
    Python float.
  """
  event_size = int(np.prod(distribution.event_shape.as_list()))
  return float(bits_per_dim(
      evaluate_nll(distribution, dataset, num_classes), event_size,
      num_levels))


def importance_weighted_bits_per_dim(model, dataset, num_samples=16, seed=0,
                                     samples_per_pass=None):
  """Bits/dim of a `FlowModel` with a dequantizer by the importance-weighted bound.

  (-mean over examples of `importance_weighted_log_prob` + D log K) /
  (D ln 2): an upper bound on the discrete model's bits/dim, tighter than the
  training metric, approaching it with S (Flow++ reports S = 4096).

  Args:
    model: `FlowModel` with a `dequantizer`.
    dataset: batches of bin centres x, (x, y) or dicts (`split_batch`); y
      gives the context of a conditional flow.
    num_samples: S.
    seed: int; each batch folds its index in.
    samples_per_pass: see `FlowModel.importance_weighted_log_prob`.

  Returns:
    Python float.
  """
  event_shape = model.distribution.event_shape.as_list()
  x_spec = tf.TensorSpec([None] + event_shape, model.distribution.dtype)
  seed_spec = tf.TensorSpec([2], tf.int32)
  if model.context_shape is None:
    @tf.function(input_signature=[x_spec, seed_spec])
    def bound(x, batch_seed):
      return model.importance_weighted_log_prob(x, num_samples, batch_seed,
                                                samples_per_pass)
  else:
    @tf.function(input_signature=[
        x_spec, seed_spec,
        tf.TensorSpec([None] + model.context_shape.as_list(),
                      model.distribution.dtype)])
    def bound(x, batch_seed, context):
      return model.importance_weighted_log_prob(
          x, num_samples, batch_seed, samples_per_pass, context=context)

  total, count = 0., 0
  for i, batch in enumerate(dataset):
    x, y = model.split_batch(batch)
    args = [] if model.context_shape is None else [model.context(y)]
    lp = bound(x, tf.constant([seed, i], tf.int32), *args)
    total += float(tf.reduce_sum(tf.cast(lp, tf.float64)))
    count += int(lp.shape[0])
  if count == 0:
    raise ValueError("`dataset` is empty.")
  return float(bits_per_dim(-total / count, model.event_size,
                            model.num_levels))
