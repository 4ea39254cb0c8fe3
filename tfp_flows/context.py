"""Contexts of conditional flows p(x | c): shapes, checks, and routing to the layers.

A conditional flow is one `tfd.TransformedDistribution` some of whose layers
take a context c (a one-hot class label or any vector) besides their input:

  log p(x | c) = log p_Z(f(x; c)) + log |det df(x; c)/dx|.

The one convention, for every net and bijector of tfp_flows:

* A network is conditional when it was built with `context_shape=[C]` (its
  `context_shape` attribute is not None). It is called
  `net(x, conditional_input=c)`; c is [B, C] (or [C], one context for the
  batch). A conditional net called without c, or an unconditional one given
  one, raises a `ValueError` naming `conditional_input`, the expected and
  the received shape.
* A bijector is a conditional layer when it has a `context_shape` of its own
  (`bijectors.ContextAffine`, `FactorOut` with a conditional prior) or its
  conditioner has one. It takes the context as the bijector kwarg
  `conditional_input` (TFP's name, as in `tfb.MaskedAutoregressiveFlow`).
* TFP's `tfb.Chain` hands its member `b` the kwargs `kwargs[b.name]`;
  `tfb.Invert` hands on all of its kwargs; our bijectors that wrap others
  (`FactorOut`) name them in `wrapped_bijectors` ({kwarg: bijector}) and hand
  each its own kwargs. `bijector_kwargs(flow, c)` builds that nested dict for
  every conditional layer a flow holds, so users never write it.

`log_prob`, `sample`, `encode`, `decode` and the other applications take
`context=` and route it through `call_with_context`.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import tfp_internal
from tfp_flows.bijectors import _context
from tfp_flows.bijectors import base

tfd = tfp.distributions

__all__ = [
    "as_context_shape", "bijector_kwargs", "call_with_context",
    "check_context", "check_flow_context", "conditional_layers",
    "context_shape", "net_context", "optional_context_shape", "shape_config"
]

# The checks shared with the bijectors and nets live below them.
ARG = _context.ARG
as_context_shape = _context.as_context_shape
check_context = _context.check_context
net_context = _context.net_context
optional_context_shape = _context.optional_context_shape
shape_config = _context.shape_config


def _own_context_shape(bijector):
  """[C] when `bijector` takes `conditional_input` itself, else None."""
  shape = getattr(bijector, "context_shape", None)
  if shape is None:
    shape = getattr(getattr(bijector, "conditioner", None), "context_shape",
                    None)
  return shape


def _wrapped(bijector):
  """[(kwarg key, bijector)] that `bijector` hands kwargs on to.

  The key is the member's name for a Chain, None for an Invert (it hands on
  all its kwargs), the `wrapped_bijectors` key for ours.
  """
  members = tfp_internal.chain_members(bijector)
  if members is not None:
    return [(member.name, member) for member in members]
  inverted = tfp_internal.inverted_bijector(bijector)
  if inverted is not None:
    return [(None, inverted)]
  return list(getattr(bijector, "wrapped_bijectors", {}).items())


def _route(bijector):
  """The kwargs that reach `bijector`'s conditional layers, True for c; or None.

  Raises:
    ValueError: two members of one chain share a name but need different
      kwargs (TFP would hand both the same ones).
  """
  wrapped = _wrapped(bijector)
  if wrapped and wrapped[0][0] is None:
    return _route(wrapped[0][1])
  route = {ARG: True} if _own_context_shape(bijector) is not None else {}
  seen = {}
  for key, member in wrapped:
    member_route = _route(member)
    if key in seen and seen[key] != member_route:
      raise ValueError(
          f"Chain {bijector.name!r} holds several members named {key!r} that "
          "need different bijector kwargs; TFP routes kwargs by name, so give "
          "them distinct names.")
    seen[key] = member_route
    if member_route is not None:
      route[key] = member_route
  return route or None


def _bijector_of(flow):
  """A flow's bijector, a bijector itself; None for another distribution."""
  if isinstance(flow, tfd.Distribution):
    return getattr(flow, "bijector", None)
  return flow


def conditional_layers(flow):
  """The bijectors of `flow` that take the context, outermost first."""
  found = []

  def visit(bijector):
    if bijector is None:
      return
    if _own_context_shape(bijector) is not None:
      found.append(bijector)
    for _, member in _wrapped(bijector):
      visit(member)

  visit(_bijector_of(flow))
  return found


def context_shape(flow):
  """The context shape [C] of a flow's conditional layers; None without any.

  Args:
    flow: `tfd.TransformedDistribution` or bijector.

  Raises:
    ValueError: its conditional layers expect different context shapes.
  """
  shapes = {}
  for layer in conditional_layers(flow):
    shapes.setdefault(tuple(_own_context_shape(layer).as_list()),
                      []).append(layer.name)
  if len(shapes) > 1:
    listing = "; ".join(f"{list(shape)} in {names}"
                        for shape, names in shapes.items())
    raise ValueError("The conditional layers of this flow expect different "
                     f"context shapes: {listing}.")
  return tf.TensorShape(list(next(iter(shapes)))) if shapes else None


def check_flow_context(flow, context):
  """The flow's context shape [C], or None; raises when `context` does not fit.

  Raises:
    ValueError: a conditional flow without a context, or an unconditional
      one given a context; the message names `context` and both shapes.
  """
  shape = context_shape(flow)
  if shape is None and context is not None:
    raise ValueError(
        f"{flow.name} is not conditional (built without `context_shape`): "
        f"`context` must be None; got shape {_context.shape_of(context)}.")
  if shape is not None and context is None:
    raise ValueError(
        f"{flow.name} is conditional: `context` of shape [..., {shape[0]}] is "
        "required; got None.")
  return shape


def bijector_kwargs(flow, context):
  """Kwargs of `flow.bijector` that give `context` to every conditional layer.

  Use as `dist.log_prob(x, bijector_kwargs=bijector_kwargs(dist, c))` or
  `dist.bijector.forward(z, **bijector_kwargs(dist, c))`. The context must
  match the input's batch: `call_with_context` folds and broadcasts it.

  Args:
    flow: `tfd.TransformedDistribution` or bijector.
    context: tensor [B, C].

  Returns:
    Nested dict keyed by bijector names; {} for a flow without conditional
    layers.
  """
  bijector = _bijector_of(flow)
  route = (_route(bijector) if bijector is not None else None) or {}
  return tf.nest.map_structure(lambda _: context, route)


def call_with_context(dist, fn, value, event_shape, context, arg_name):
  """fn(value, kwargs) with `context` routed; `fn(value, {})` without one.

  With a context, `value` [*batch, *event_shape] is folded to
  [N, *event_shape] and the context, broadcast to [*batch, C], to [N, C]:
  conditioners fold their input's batch (`base.call_with_one_batch_dim`) but
  see the context as given, so both must arrive with the same single batch
  dim. The result's leading dim is unfolded to `batch`.

  Raises:
    ValueError: see `check_flow_context`; a context whose shape does not fit.
  """
  expected = check_flow_context(dist, context)
  value = tf.convert_to_tensor(value, dist.dtype, name=arg_name)
  if expected is None:
    return fn(value, {})
  base.check_event_shape(value, event_shape, arg_name)
  rank = value.shape.rank - len(event_shape)
  context = check_context(context, expected, value.shape[:rank], "context",
                          dist.name, dist.dtype)
  batch = tf.shape(value)[:rank]
  flat = tf.reshape(value, tf.concat([[-1], event_shape], 0))
  flat_context = tf.reshape(
      tf.broadcast_to(context, tf.concat([batch, expected.as_list()], 0)),
      [-1, expected[0]])
  out = fn(flat, bijector_kwargs(dist, flat_context))
  return tf.reshape(out, tf.concat([batch, tf.shape(out)[1:]], 0))
