"""Base distributions and the (conditional) prior end shared by the flow builders."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors.context_affine import ContextAffine

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ["PRIORS", "flow_over_latents", "standard_prior"]

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


def flow_over_latents(parts, event_shape, context_shape, validate_args, dtype,
                      name, prior="gaussian"):
  """The flow `Chain(parts)` over a standard base on the latent vector.

  `parts` run data side first and end on a latent vector of
  prod(event_shape) entries. With `context_shape` ([C]) the prior is
  conditional: a `ContextAffine` on the latent makes it N(mu(c), sigma(c)^2)
  (the Glow paper's class-conditional prior).

  Returns:
    `tfd.TransformedDistribution` named `name`, bijector `{name}_bijector`.
  """
  latent_size = int(np.prod(event_shape))
  parts = list(parts)
  if context_shape is not None:
    parts.append(ContextAffine(latent_size, context_shape,
                               validate_args=validate_args, dtype=dtype,
                               name=f"{name}_prior"))
  return tfd.TransformedDistribution(
      distribution=standard_prior([latent_size], prior, dtype),
      bijector=tfb.Chain(parts, validate_args=validate_args,
                         name=f"{name}_bijector"),
      validate_args=validate_args,
      name=name)
