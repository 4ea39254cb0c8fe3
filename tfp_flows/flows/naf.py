"""Neural autoregressive flows (Huang et al. 2018) as `tfd.TransformedDistribution`s."""

import tensorflow as tf

from tfp_flows import bijectors as flow_bijectors
from tfp_flows.bijectors.transformers import sigmoidal as dsf
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack

__all__ = ["naf"]


@build_config.records
def naf(event_shape,
        *,
        num_layers=5,
        hidden_units=(64, 64),
        num_sigmoids=8,
        bound=dsf.DEFAULT_BOUND,
        actnorm=True,
        permutation="reverse",
        activation="relu",
        context_shape=None,
        prior="gaussian",
        seed=0,
        validate_args=False,
        dtype=tf.float32,
        name="naf"):
  """Builds a neural autoregressive flow with deep sigmoidal transformers (NAF-DSF).

  Data to latent: flatten, then per layer i an optional ActNorm, a
  `bijectors.MaskedAutoregressiveSigmoidal` and a permutation between
  layers. Entry j of layer i passes through its own monotone sigmoidal
  network, whose parameters a MADE computes from the entries before j:

    z_j = logit( sum_k w_jk sigmoid(a_jk x_j + b_jk) ),
    (a_j, b_j, w_j) = MADE(x_{<j}; c),

  (slope 1 beyond [-`bound`, `bound`]), so that

    log p(x | c) = log p_Z(z) + sum_i sum_j log f_ij'(x_ij)
                   (+ ActNorm's log-det).

  `log_prob` is closed form, one MADE pass per layer; `sample` needs D
  passes per layer, each solving a scalar equation per entry by bracketed
  root finding. Unlike MAF's affine layers, one layer can already turn a
  unimodal conditional into a multimodal one. ActNorm before each layer
  (on by default) keeps the data inside the sigmoids' range.

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1]; D >= 2 entries.
    num_layers: number of NAF layers.
    hidden_units: hidden sizes of each MADE.
    num_sigmoids: K, sigmoids per entry (the paper's DSF "hidden units").
    bound: B: the sigmoidal maps act on [-B, B], slope 1 beyond.
    actnorm: an `ActNorm` (event_ndims=1) before each layer.
    permutation: "reverse" or "random" orders between layers.
    activation: MADE activation.
    context_shape: [C] for a conditional flow p(x | c) (see
      `tfp_flows.context`), else None.
    prior: "gaussian" or "logistic" base.
    seed: seed of the "random" permutations.
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; layers are `{name}_layer{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  #### Example

  ```python
  flow = tfp_flows.flows.naf([2], num_layers=3, num_sigmoids=8)
  model = tfp_flows.FlowModel(flow)
  ```

  References:
    Huang, C.-W., Krueger, D., Lacoste, A. & Courville, A. (2018). Neural
      Autoregressive Flows. ICML. arXiv:1804.00779.
  """
  event_shape, dim = vector_stack.check_stack_args(
      event_shape, num_layers, permutation)
  params = dsf.num_params(num_sigmoids)

  def make_layer(i):
    made = vector_stack.built_made(dim, hidden_units, context_shape,
                                   activation, dtype, f"{name}_made{i}",
                                   params=params)
    return flow_bijectors.MaskedAutoregressiveSigmoidal(
        made, num_sigmoids=num_sigmoids, bound=bound,
        validate_args=validate_args, dtype=dtype, name=f"{name}_layer{i}")

  core = vector_stack.permuted_stack(dim, num_layers, make_layer, actnorm,
                                     permutation, seed, validate_args, dtype,
                                     name)
  return vector_stack.vector_flow(event_shape, dim, core, prior,
                                  validate_args, dtype, name)
