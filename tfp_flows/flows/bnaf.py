"""Block neural autoregressive flows (De Cao et al. 2019) as `tfd.TransformedDistribution`s."""

import tensorflow as tf

from tfp_flows import bijectors as flow_bijectors
from tfp_flows.bijectors import block_autoregressive
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack

__all__ = ["bnaf"]


@build_config.records
def bnaf(event_shape,
         *,
         num_layers=2,
         hidden_units=(16, 16),
         bound=block_autoregressive.DEFAULT_BOUND,
         gated_residual=False,
         actnorm=True,
         permutation="reverse",
         context_shape=None,
         prior="gaussian",
         seed=0,
         validate_args=False,
         dtype=tf.float32,
         name="bnaf"):
  """Builds a block neural autoregressive flow (BNAF).

  Data to latent: flatten to [D], then per layer i an optional ActNorm, a
  `bijectors.BlockAutoregressive` and a permutation between layers. Each
  layer is one network whose kernels are block triangular with positive
  diagonal blocks (`hidden_units[l]` units per entry in hidden layer l,
  a leaky tanh between layers), so entry j of its output increases in y_j and
  depends on y_<j only:

    x = F_i(y),   log p(y | c) = log p_Z(z) + sum_i sum_j log dF_ij/dy_j
                                 (+ ActNorm's log-det),

  each diagonal derivative from the diagonal blocks in log space. Unlike
  MAF and NAF there is no conditioner: the transform is the network
  (fewer parameters for the same flexibility, the paper's point).
  `log_prob` is closed form, one network pass per layer; `sample` takes D
  passes per layer, each with a bracketed root find for every entry.

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1]; D >= 2 entries.
    num_layers: BNAF layers.
    hidden_units: units PER ENTRY of each hidden layer (a layer of the
      network has D times as many), e.g. (16, 16).
    bound: B: each layer acts on [-B, B] per entry, slope 1 beyond.
    gated_residual: each layer the paper's gated residual r F(y) + (1 - r) y,
      r = sigmoid of a learned scalar (`bijectors.BlockAutoregressive`).
    actnorm: an `ActNorm` (event_ndims=1) before each layer.
    permutation: "reverse" or "random" orders between layers.
    context_shape: [C] for a conditional flow p(x | c) (see
      `tfp_flows.context`), else None.
    prior: "gaussian" or "logistic" base.
    seed: seed of the initial weights (layer i uses seed + i) and of the
      "random" permutations.
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; layers are `{name}_layer{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  #### Example

  ```python
  flow = tfp_flows.flows.bnaf([2], num_layers=2, hidden_units=[32, 32])
  model = tfp_flows.FlowModel(flow)
  ```

  References:
    De Cao, N., Aziz, W. & Titov, I. (2019). Block Neural Autoregressive
      Flow. UAI. arXiv:1904.04676.
  """
  event_shape, dim = vector_stack.check_stack_args(
      event_shape, num_layers, permutation)

  def make_layer(i):
    return flow_bijectors.BlockAutoregressive(
        dim, hidden_units=hidden_units, bound=bound,
        gated_residual=gated_residual, context_shape=context_shape,
        seed=seed + i,
        validate_args=validate_args, dtype=dtype, name=f"{name}_layer{i}")

  core = vector_stack.permuted_stack(dim, num_layers, make_layer, actnorm,
                                     permutation, seed, validate_args, dtype,
                                     name)
  return vector_stack.vector_flow(event_shape, dim, core, prior,
                                  validate_args, dtype, name)
