"""Reference densities that a flow must beat."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import evaluation

tfd = tfp.distributions

__all__ = ["factorized_gaussian"]


def factorized_gaussian(dataset, min_scale=1e-3):
  """Fits N(mu_d, sigma_d^2) independently to each dimension of `dataset`.

  mu and sigma are the per-dimension mean and standard deviation of every
  example in `dataset` (batches of `x` or `(x, label)`): the maximum-likelihood
  factorised Gaussian, the simplest density a flow should beat.

  Args:
    dataset: batches [B, *event_shape].
    min_scale: floor on sigma for constant dimensions.

  Returns:
    `tfd.Independent` over the event shape of the data.
  """
  total, total_sq, count = 0., 0., 0
  for batch in dataset:
    x = np.asarray(evaluation.split_batch(batch)[0], np.float64)
    total = total + x.sum(axis=0)
    total_sq = total_sq + (x * x).sum(axis=0)
    count += x.shape[0]
  if count == 0:
    raise ValueError("`dataset` is empty.")
  mean = total / count
  std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.))
  std = np.maximum(std, min_scale)
  return tfd.Independent(
      tfd.Normal(tf.constant(mean, tf.float32), tf.constant(std, tf.float32)),
      reinterpreted_batch_ndims=mean.ndim,
      name="factorized_gaussian")
