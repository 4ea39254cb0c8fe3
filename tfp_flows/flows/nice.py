"""NICE (Dinh, Krueger & Bengio, 2014) as a `tfd.TransformedDistribution`."""

import tensorflow as tf

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack

__all__ = ["nice"]


@build_config.records
def nice(event_shape,
         *,
         num_layers=4,
         hidden_units=(256, 256),
         activation="relu",
         context_shape=None,
         prior="logistic",
         validate_args=False,
         dtype=tf.float32,
         name="nice"):
  """Builds NICE: additive couplings, a diagonal rescaling, a factorised prior.

  The data-to-latent map is h = exp(-s) * g_L(... g_1(flatten(x))), each g_i
  an additive coupling on the flattened event (halves that alternate), so

    log p(x) = sum_d log p_H(h_d) - sum_d s_d

  (the couplings have unit Jacobian). In TFP's direction the bijector maps
  latent to data: Unflatten o g_1^-1 o ... o g_L^-1 o Rescaling(s).

  The paper's MNIST model is `nice([28, 28, 1], num_layers=4,
  hidden_units=[1000] * 5)` with the
  logistic prior.

  Args:
    event_shape: data event shape, e.g. `[8, 8, 1]` or `[2]`.
    num_layers: number of additive couplings (the paper: 4).
    hidden_units: hidden layer sizes of each coupling's ReLU MLP.
    activation: the MLPs' activation.
    context_shape: [C] for a conditional flow p(x | c) (every coupling's MLP
      sees c, `nets.MLP`), else None.
    prior: "logistic" (the paper's) or "gaussian".
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype of the flow.
    name: name of the distribution.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with trainable variables.

  References:
    Dinh, L., Krueger, D. & Bengio, Y. (2015). NICE: Non-linear Independent
      Components Estimation. ICLR workshop. arXiv:1410.8516.
  """
  event_shape, dim = vector_stack.event_size(event_shape)
  if num_layers < 1:
    raise ValueError(f"`num_layers` must be >= 1; got {num_layers}.")
  half = dim // 2
  couplings = []
  for i in range(num_layers):
    reverse = i % 2 == 1
    net = nets.MLP(hidden_units, output_units=dim - half, activation=activation,
                   context_shape=context_shape, dtype=nets.layer_dtype(dtype),
                   name=f"{name}_coupling_{i}_net")
    net.build([None, half])
    # x_A is the first `half` entries, or the last `half` when reversed.
    couplings.append(
        flow_bijectors.AdditiveCoupling(
            net,
            num_masked=half,
            reverse=reverse,
            validate_args=validate_args,
            dtype=dtype,
            name=f"{name}_coupling_{i}"))
  # Chain applies its list right to left in `forward` (latent -> data);
  # vector_flow puts Unflatten first even for vectors: without it a vector of
  # the wrong size broadcasts through the additive couplings into a silently
  # wrong log_prob.
  rescaling = flow_bijectors.Rescaling(event_shape=[dim],
                                       validate_args=validate_args,
                                       dtype=dtype, name=f"{name}_rescaling")
  return vector_stack.vector_flow(event_shape, dim,
                                  couplings[::-1] + [rescaling], prior,
                                  validate_args, dtype, name)
