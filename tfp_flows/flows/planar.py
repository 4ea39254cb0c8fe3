"""Planar flows (Rezende & Mohamed 2015) as `tfd.TransformedDistribution`s."""

import tensorflow as tf

from tfp_flows import bijectors as flow_bijectors
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack

__all__ = ["planar"]


@build_config.records
def planar(event_shape,
           *,
           num_layers=8,
           context_shape=None,
           prior="gaussian",
           seed=0,
           validate_args=False,
           dtype=tf.float32,
           name="planar"):
  """Builds a planar flow: the classic surrogate posterior for variational inference.

  Latent to data (the sampling direction): z_0 ~ N(mu, diag sigma^2) on
  [D] (the base through a learned `ActNorm`; with a context a
  `ContextAffine`, mu(c) and sigma(c), as an encoder gives the paper's q0),
  then `num_layers` planar layers (`bijectors.Planar`),

    z_k = z_{k-1} + u_hat_k tanh(w_k^T z_{k-1} + b_k),

  and the result reshaped to `event_shape`, so that

    log q(x) = log q0(z_0) - sum_k log |1 + (1 - tanh^2(.)) w_k^T u_hat_k|.

  Sampling and the samples' log-densities are closed form (what variational
  inference needs, `vi.VariationalFlowModel`); the density of a given x
  solves one scalar equation per layer (bracketed root finding, see
  `bijectors.Planar`). Each layer starts as the identity, so the flow starts
  as its Gaussian. The paper fits the 2-D energies U1-U4 with 2 to 32 layers.

  Args:
    event_shape: event shape of x, e.g. [2]; D >= 1 entries.
    num_layers: K planar layers.
    context_shape: [C] for an amortised flow q(x | c): every layer's
      parameters shifted by a zero-initialised linear map of c (see
      `tfp_flows.context`); else None.
    prior: "gaussian" or "logistic" base.
    seed: seed of the layers' initial w (layer i draws from seed + i).
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; layers are `{name}_layer{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  #### Example

  ```python
  target = tfp_flows.targets.energy("U1")
  flow = tfp_flows.flows.planar(target.event_shape, num_layers=16)
  model = tfp_flows.vi.VariationalFlowModel(flow, target.log_prob)
  ```

  References:
    Rezende, D. J. & Mohamed, S. (2015). Variational Inference with Normalizing
      Flows. ICML. arXiv:1505.05770.
  """
  return vector_stack.layer_flow(
      event_shape, num_layers,
      lambda dim, i: flow_bijectors.Planar(
          dim, context_shape=context_shape, seed=seed + i,
          validate_args=validate_args, dtype=dtype, name=f"{name}_layer{i}"),
      context_shape, prior, validate_args, dtype, name)
