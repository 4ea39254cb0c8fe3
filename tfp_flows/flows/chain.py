"""Composing flows and bijectors into one `tfd.TransformedDistribution`."""

import numpy as np
import tensorflow_probability as tfp

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import context as context_lib
from tfp_flows.flows import build_config

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ["chain"]


def _is_flow(part):
  # tfd.TransformedDistribution(...) builds TFP's private base class when a
  # bijector holds Keras layers, so isinstance cannot tell a flow.
  return (isinstance(part, tfd.Distribution) and
          isinstance(getattr(part, "bijector", None), tfb.Bijector))


def _describe(i, part):
  return f"Part {i} ({part.name!r})"


def _reshape(inner_shape, outer_shape, validate_args):
  """A bijector whose forward maps events of `inner_shape` to `outer_shape`.

  Flattens, then unflattens (`Unflatten` names both shapes in its errors);
  either step is left out where its side is already a vector.
  """
  parts = []
  if outer_shape.rank != 1:
    parts.append(flow_bijectors.Unflatten(outer_shape,
                                          validate_args=validate_args))
  if inner_shape.rank != 1:
    parts.append(tfb.Invert(flow_bijectors.Unflatten(
        inner_shape, validate_args=validate_args)))
  return parts


@build_config.records
def chain(*parts, context_shape=None, validate_args=False, name="chain"):
  """Composes flows and bijectors, data side first, into one flow.

  `chain(p_1, ..., p_k)` is the flow whose data-to-latent map runs p_1, then
  p_2, ..., then p_k, each on the latent of the one before:

    x -> g_1^-1 -> g_2^-1 -> ... -> g_k^-1 -> z ~ base of p_k,
    log p(x) = log p_base(z) + sum_i log |det dg_i^-1/d(input of g_i^-1)|,

  where g_i is the bijector of a flow p_i (a `tfd.TransformedDistribution`)
  or p_i itself (a `tfb.Bijector`, latent to data like every TFP bijector).
  So `chain(outer, prior)` replaces the base of the flow `outer` by the flow
  `prior`, which then models `outer`'s latent: NICE couplings followed by MAF
  layers (`chain(nice, maf)`), a Glow with a MAF prior on its latent vector
  (`chain(glow, maf)`), an IAF over another flow's latent (`chain(iaf, flow)`),
  or a TFP bijector between two flows.

  Shapes: the last part must be a distribution; it provides the base (its
  own base when it is a flow, itself otherwise). Working outward from it, a
  flow part's latent shape (the event shape of its base) must hold as many
  entries as the event arriving from the inner parts; when the two shapes
  differ, a flatten/unflatten (`Unflatten`) is inserted between them. A
  bijector part maps whatever event arrives (`forward_event_shape`). The
  bases of the outer flows are dropped, so they must hold no variables.

  Each part's bijector becomes one member of the result's `tfb.Chain`,
  wrapped in a one-member Chain named `{name}_part{i}`: TFP routes bijector
  kwargs (the context of conditional layers, see `tfp_flows.context`)
  by name, and the wrapping keeps two parts with equal names (two `maf`
  flows, say) apart.

  Args:
    *parts: flows (`tfd.TransformedDistribution`) and `tfb.Bijector`s, data
      side first; the last a distribution.
    context_shape: None, or [C]: the chain is then a conditional flow, and
      its conditional parts (built with `context_shape=[C]`; at least one)
      must all take contexts of that shape. A chain is conditional whenever
      a part is; this argument states and checks it.
    validate_args: check inputs of every bijector at run time.
    name: name of the distribution.

  Returns:
    `tfd.TransformedDistribution` whose bijector is a `tfb.Chain` and whose
    base is the innermost base; its variables are those of every part.

  Raises:
    ValueError: no parts, sizes or dtypes that do not match, an outer flow
      whose base holds variables, or parts whose context shapes differ from
      each other or from `context_shape`.
    TypeError: a part that is neither a flow nor a bijector, or a last part
      that is not a distribution.
  """
  if not parts:
    raise ValueError("`chain` needs at least one part; got none.")
  for i, part in enumerate(parts):
    if not (_is_flow(part) or isinstance(part, tfb.Bijector) or
            (i == len(parts) - 1 and isinstance(part, tfd.Distribution))):
      raise TypeError(
          f"Part {i} must be a flow (tfd.TransformedDistribution) or a "
          f"tfb.Bijector; got {type(part).__name__}.")
  last = parts[-1]
  if not isinstance(last, tfd.Distribution):
    raise TypeError(
        f"The last part provides the base and must be a distribution; got "
        f"the bijector {last.name!r}.")
  base = last.distribution if _is_flow(last) else last
  shape, dtype = base.event_shape, base.dtype
  members = []  # Chain order, data side first; built from the base outward.
  inner_parts = parts if _is_flow(last) else parts[:-1]
  for i in reversed(range(len(inner_parts))):
    part = inner_parts[i]
    if _is_flow(part):
      latent = part.distribution.event_shape
      if i < len(inner_parts) - 1 or not _is_flow(last):
        if part.distribution.trainable_variables:
          raise ValueError(
              f"The base of {_describe(i, part)} holds trainable variables, "
              "which the chain would drop (the inner parts replace it).")
        if not (shape.is_fully_defined() and latent.is_fully_defined()):
          raise ValueError(
              f"{_describe(i, part)}: event shapes must be fully defined; "
              f"got latent {latent} and inner event {shape}.")
        if np.prod(latent.as_list()) != np.prod(shape.as_list()):
          raise ValueError(
              f"{_describe(i, part)} has latent shape {latent.as_list()} "
              f"({int(np.prod(latent.as_list()))} entries), but the parts "
              f"inside it model events of shape {shape.as_list()} "
              f"({int(np.prod(shape.as_list()))} entries).")
        if latent != shape:
          members = _reshape(shape, latent, validate_args) + members
      if part.dtype != dtype:
        raise ValueError(f"{_describe(i, part)} has dtype {part.dtype.name}; "
                         f"the chain's base has {dtype.name}.")
      bijector, shape = part.bijector, part.event_shape
    else:
      bijector, shape = part, part.forward_event_shape(shape)
    members.insert(0, tfb.Chain([bijector], validate_args=validate_args,
                                name=f"{name}_part{i}"))
  flow = tfd.TransformedDistribution(
      distribution=base,
      bijector=tfb.Chain(members, validate_args=validate_args,
                         name=f"{name}_bijector"),
      validate_args=validate_args,
      name=name)
  got = context_lib.context_shape(flow)  # Differing parts raise here.
  if context_shape is not None and (
      got is None or got.as_list() != list(context_shape)):
    raise ValueError(
        f"chain(context_shape={list(context_shape)}): the conditional parts "
        f"take contexts of shape {None if got is None else got.as_list()}; "
        "build them with the same `context_shape`.")
  return flow
