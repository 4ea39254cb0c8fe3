"""Radial flows (Rezende & Mohamed 2015) as `tfd.TransformedDistribution`s."""

import tensorflow as tf

from tfp_flows import bijectors as flow_bijectors
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack

__all__ = ["radial"]


@build_config.records
def radial(event_shape,
           *,
           num_layers=8,
           context_shape=None,
           prior="gaussian",
           seed=0,
           validate_args=False,
           dtype=tf.float32,
           name="radial"):
  """Builds a radial flow: contractions and expansions around learned points.

  Latent to data: z_0 ~ N(mu, diag sigma^2) on [D] (the base through a
  learned `ActNorm`; with a context a `ContextAffine`, mu(c) and sigma(c),
  as an encoder gives the papers' q0), then `num_layers` radial layers
  (`bijectors.Radial`),

    z_k = z_{k-1} + beta_k (z_{k-1} - z0_k) / (alpha_k + |z_{k-1} - z0_k|),

  reshaped to `event_shape`; log q(x) = log q0(z_0) - sum_k log |det|_k
  with each layer's log-det in closed form. Both directions are closed form
  (the inverse solves a quadratic in the radius). Each layer starts near the
  identity. Beside planar flows, the paper's other surrogate.

  Args:
    event_shape: event shape of x, e.g. [2]; D >= 1 entries.
    num_layers: K radial layers.
    context_shape: [C] for an amortised flow q(x | c): every layer's
      parameters shifted by a zero-initialised linear map of c (see
      `tfp_flows.context`); else None.
    prior: "gaussian" or "logistic" base.
    seed: seed of the layers' initial centres z0_k (layer i draws from
      seed + i).
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; layers are `{name}_layer{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  References:
    Rezende, D. J. & Mohamed, S. (2015). Variational Inference with Normalizing
      Flows. ICML. arXiv:1505.05770.
  """
  return vector_stack.layer_flow(
      event_shape, num_layers,
      lambda dim, i: flow_bijectors.Radial(
          dim, context_shape=context_shape, seed=seed + i,
          validate_args=validate_args, dtype=dtype, name=f"{name}_layer{i}"),
      context_shape, prior, validate_args, dtype, name)
