"""Factorised base distributions shared by the flow builders."""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

__all__ = ["PRIORS", "standard_prior"]

PRIORS = ("logistic", "gaussian")


def standard_prior(event_shape, prior="gaussian", dtype=tf.float32):
  """A standard factorised base over `event_shape`: N(0, 1) or Logistic(0, 1).

  The standard logistic, log p(h) = -log(1 + e^h) - log(1 + e^-h), is NICE's
  prior: its heavier tails give smoother gradients than a Gaussian's.
  Both are centred at 0 with scale 1, which temperature sampling relies on.
  """
  zero = tf.zeros([], dtype)
  if prior == "logistic":
    scalar = tfd.Logistic(loc=zero, scale=tf.ones([], dtype))
  elif prior in ("gaussian", "normal"):
    scalar = tfd.Normal(loc=zero, scale=tf.ones([], dtype))
  else:
    raise ValueError(f"`prior` must be one of {PRIORS}; got {prior!r}.")
  return tfd.Sample(scalar, sample_shape=list(event_shape))
