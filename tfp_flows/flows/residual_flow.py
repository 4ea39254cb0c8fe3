"""Residual flows (Behrmann et al. 2019; Chen et al. 2019) over vectors as `tfd.TransformedDistribution`s."""

import tensorflow as tf

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack

__all__ = ["residual_flow"]


@build_config.records
def residual_flow(event_shape,
                  *,
                  num_layers=4,
                  hidden_units=(64, 64),
                  coefficient=0.97,
                  log_det="exact",
                  actnorm=True,
                  context_shape=None,
                  prior="gaussian",
                  seed=0,
                  validate_args=False,
                  dtype=tf.float32,
                  name="residual_flow"):
  """Builds a residual flow: invertible residual blocks x + g(x), Lip(g) < 1.

  Data to latent: flatten to [D], then per block i an optional ActNorm and
  a `bijectors.InvertibleResidual`,

    x_{i+1} = x_i + g_i(x_i; c),    Lip(g_i) <= coefficient^L < 1,

  g_i a `nets.LipschitzMLP` (kernels normalised by their exact spectral
  norms, LipSwish activations), so

    log p(x | c) = log p_Z(z) + sum_i log det(I + J_{g_i}(x_i))
                   (+ ActNorm's log-det).

  Every block mixes all entries: no permutations between them. With
  `log_det="exact"` (the default) the log-dets come from each block's
  [D, D] Jacobian: `log_prob` is exact and deterministic, O(D^3) per
  example; "estimate" uses Chen et al.'s unbiased Russian-roulette power
  series with the Neumann-series gradient, for events too large for that
  (see `bijectors.InvertibleResidual`). Sampling inverts each block by
  fixed-point iteration (an error if it does not converge).

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1]; D >= 1 entries.
    num_layers: residual blocks.
    hidden_units: hidden sizes of each block's network.
    coefficient: the bound on each kernel's spectral norm, in (0, 1):
      nearer 1 is more expressive, slower to invert.
    log_det: "exact" or "estimate".
    actnorm: an `ActNorm` (event_ndims=1) before each block.
    context_shape: [C] for a conditional flow p(x | c) (see
      `tfp_flows.context`), else None.
    prior: "gaussian" or "logistic" base.
    seed: seed of the networks' initial kernels and the estimator's noise
      (block i uses seed + i).
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; blocks are `{name}_block{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  #### Example

  ```python
  flow = tfp_flows.flows.residual_flow([2], num_layers=6,
                                       hidden_units=[64, 64])
  model = tfp_flows.FlowModel(flow)
  ```

  References:
    Behrmann, J., Grathwohl, W., Chen, R. T. Q., Duvenaud, D. & Jacobsen,
      J.-H. (2019). Invertible Residual Networks. ICML. arXiv:1811.00995.
    Chen, R. T. Q., Behrmann, J., Duvenaud, D. & Jacobsen, J.-H. (2019).
      Residual Flows for Invertible Generative Modeling. NeurIPS.
      arXiv:1906.02735.
  """
  event_shape, dim = vector_stack.check_stack_args(event_shape, num_layers,
                                                   minimum=1)

  def make_block(i):
    network = nets.LipschitzMLP(
        dim, hidden_units, coefficient=coefficient,
        context_shape=context_shape, seed=seed + i,
        dtype=nets.layer_dtype(dtype), name=f"{name}_net{i}")
    network.build([None, dim])
    return flow_bijectors.InvertibleResidual(
        network, log_det=log_det, seed=seed + i, validate_args=validate_args,
        dtype=dtype, name=f"{name}_block{i}")

  # Each block mixes every entry: no permutations between them.
  core = vector_stack.permuted_stack(dim, num_layers, make_block, actnorm,
                                     None, seed, validate_args, dtype, name)
  return vector_stack.vector_flow(event_shape, dim, core, prior,
                                  validate_args, dtype, name)
