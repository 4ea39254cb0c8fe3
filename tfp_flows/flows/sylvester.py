"""Householder Sylvester flows (van den Berg et al. 2018) as `tfd.TransformedDistribution`s."""

import tensorflow as tf

from tfp_flows import bijectors as flow_bijectors
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack

__all__ = ["sylvester"]


@build_config.records
def sylvester(event_shape,
              *,
              num_layers=4,
              num_reflections=2,
              context_shape=None,
              prior="gaussian",
              seed=0,
              validate_args=False,
              dtype=tf.float32,
              name="sylvester"):
  """Builds a Householder Sylvester flow (H-SNF), a surrogate for variational inference.

  Latent to data: z_0 ~ N(mu, diag sigma^2) on [D] (the base through a
  learned `ActNorm`; with a context a `ContextAffine`, mu(c) and sigma(c),
  as an encoder gives the papers' q0), then `num_layers` Sylvester layers
  (`bijectors.Sylvester`),

    z_k = z_{k-1} + Q_k R_k tanh(R~_k Q_k^T z_{k-1} + b_k),

  Q_k a product of `num_reflections` Householder reflections, R_k, R~_k
  upper triangular with R_ii R~_ii > -1; reshaped to `event_shape`, and

    log q(x) = log q0(z_0) - sum_k sum_i log |1 + (1 - t_ki^2) R_k,ii R~_k,ii|.

  Each layer is a planar flow of rank D rather than 1. Sampling and the
  samples' log-densities are closed form; the density of a given x solves
  D scalar equations per layer in sequence (see `bijectors.Sylvester`).
  Each layer starts as the identity.

  Args:
    event_shape: event shape of x, e.g. [2]; D >= 1 entries.
    num_layers: K Sylvester layers.
    num_reflections: Householder reflections in each Q_k (the paper
      compares 1 to 16 on its VAEs).
    context_shape: [C] for an amortised flow q(x | c): every layer's
      parameters shifted by a zero-initialised linear map of c (see
      `tfp_flows.context`); else None.
    prior: "gaussian" or "logistic" base.
    seed: seed of the layers' initial draws (layer i draws from seed + i).
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; layers are `{name}_layer{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  #### Example

  ```python
  target = tfp_flows.targets.funnel(10)
  flow = tfp_flows.flows.sylvester(target.event_shape)
  model = tfp_flows.vi.VariationalFlowModel(flow, target.log_prob)
  ```

  References:
    van den Berg, R., Hasenclever, L., Tomczak, J. M. & Welling, M. (2018).
      Sylvester Normalizing Flows for Variational Inference. UAI.
      arXiv:1803.05649.
  """
  return vector_stack.layer_flow(
      event_shape, num_layers,
      lambda dim, i: flow_bijectors.Sylvester(
          dim, num_reflections=num_reflections, context_shape=context_shape,
          seed=seed + i, validate_args=validate_args, dtype=dtype,
          name=f"{name}_layer{i}"),
      context_shape, prior, validate_args, dtype, name)
