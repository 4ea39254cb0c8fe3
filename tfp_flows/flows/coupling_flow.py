"""Coupling flows over vectors (2-D toys, flattened images), optionally conditional."""

import tensorflow as tf

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.bijectors import transformers
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack

__all__ = ["coupling_flow", "coupling_layer", "COUPLINGS"]

COUPLINGS = ("affine", "additive")


def check_coupling(coupling, names):
  """Raises unless `coupling` is one of `names` or a `Transformer`."""
  if not (isinstance(coupling, transformers.Transformer) or
          (isinstance(coupling, str) and coupling in names)):
    raise ValueError(
        f"`coupling` must be one of {names} or a "
        f"tfp_flows.bijectors.transformers.Transformer; got {coupling!r}.")


def coupling_layer(coupling, channels, make_net, name, **kwargs):
  """A coupling of `channels` transformed entries: a preset name or a transformer.

  Args:
    coupling: "affine" (`AffineCoupling`, with `kwargs["scale_fn"]` when
      given), "additive" (`AdditiveCoupling`), or a
      `bijectors.transformers.Transformer` (`Coupling` with it).
    channels: d_B, the size of x_B's last axis.
    make_net: callable (output width) -> the built conditioner.
    name: the layer's name.
    **kwargs: the partition and the layer's other arguments.
  """
  scale_fn = kwargs.pop("scale_fn", None)
  if isinstance(coupling, transformers.Transformer):
    return flow_bijectors.Coupling(make_net(coupling.num_params * channels),
                                   coupling, channels=channels, name=name,
                                   **kwargs)
  if coupling == "affine":
    if scale_fn is not None:
      kwargs["scale_fn"] = scale_fn
    return flow_bijectors.AffineCoupling(make_net(2 * channels),
                                         channels=channels, name=name,
                                         **kwargs)
  return flow_bijectors.AdditiveCoupling(make_net(channels), name=name,
                                         **kwargs)


@build_config.records
def coupling_flow(event_shape,
                  *,
                  num_layers=4,
                  hidden_units=(64, 64),
                  coupling="affine",
                  actnorm=False,
                  activation="relu",
                  context_shape=None,
                  prior="gaussian",
                  validate_args=False,
                  dtype=tf.float32,
                  name="coupling_flow"):
  """Builds RealNVP/NICE-style couplings over vectors, conditional on c if `context_shape`.

  Data to latent: flatten, then per layer i an optional ActNorm and a
  coupling on alternating halves (A the first floor(D/2) entries, then the
  last ones). In TFP's direction (latent u to data v) a coupling is

    affine (RealNVP):  v_B = u_B * exp(log s) + t,  log s = a * tanh(h)
    additive (NICE):   v_B = u_B + t

  with v_A = u_A and (t, h) = MLP(u_A), or MLP([u_A, c]) with a context,
  so that

    log p(x | c) = log p_Z(z) - sum_i sum_B log s_i(u_A, c) (- ActNorm's).

  RealNVP's couplings on vectors (2-D toys, flattened images); the image
  builders (`flows.realnvp`, `flows.glow`) use convolutions instead.

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1]; D >= 2 entries.
    num_layers: number of couplings.
    hidden_units: hidden sizes of each coupling's MLP.
    coupling: "affine" (RealNVP's `AffineCoupling`), "additive" (NICE's)
      or a `bijectors.transformers.Transformer` with its options, e.g.
      `transformers.Spline(num_bins=8)` (NSF-C) or
      `transformers.LogisticMixture(num_components=8)`.
    actnorm: an `ActNorm` (event_ndims=1) before each coupling.
    activation: the MLPs' activation.
    context_shape: [C] for a conditional flow p(x | c), else None.
    prior: "gaussian" or "logistic" base.
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; layers are `{name}_coupling{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  References:
    Dinh, L., Krueger, D. & Bengio, Y. (2015). NICE: Non-linear Independent
      Components Estimation. ICLR workshop. arXiv:1410.8516.
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
  """
  event_shape, dim = vector_stack.check_stack_args(event_shape, num_layers)
  check_coupling(coupling, COUPLINGS)
  half = dim // 2
  changed = dim - half
  common = dict(validate_args=validate_args, dtype=dtype)
  parts = []
  for i in range(num_layers):
    prefix = f"{name}_coupling{i}"

    def make_net(width, prefix=prefix):
      net = nets.MLP(hidden_units, width, activation=activation,
                     context_shape=context_shape,
                     dtype=nets.layer_dtype(dtype), name=f"{prefix}_net")
      net.build([None, half])
      return net

    layer = coupling_layer(coupling, changed, make_net, prefix,
                           num_masked=half, reverse=i % 2 == 1, **common)
    if actnorm:
      parts.append(flow_bijectors.ActNorm(dim, event_ndims=1,
                                          name=f"{name}_actnorm{i}", **common))
    parts.append(layer)
  # In a Chain the data-side bijector comes first: `inverse` (data ->
  # latent) runs the list left to right.
  return vector_stack.vector_flow(event_shape, dim, parts, prior,
                                  validate_args, dtype, name)
