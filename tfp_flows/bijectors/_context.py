"""The low-level context checks that conditional bijectors and nets share.

The convention they implement (a net built with `context_shape=[C]` is
called `net(x, conditional_input=c)`; a conditional bijector takes the
kwarg `conditional_input`) and the routing of a context through a whole
flow are `tfp_flows.context`'s; this module sits below the bijectors and
nets so that they need not import it.
"""

import tensorflow as tf

__all__ = ["ARG", "as_context_shape", "check_context", "net_context", "shape_of",
           "optional_context_shape", "shape_config"]

ARG = "conditional_input"


def as_context_shape(context_shape):  # pylint: disable=redefined-outer-name
  """`context_shape` as a rank-1 `tf.TensorShape` [C], C >= 1."""
  shape = tf.TensorShape(context_shape)
  if shape.rank != 1 or not shape.is_fully_defined() or shape[0] < 1:
    raise ValueError("`context_shape` must be a rank-1 shape [C] with C >= 1 "
                     f"(a one-hot label or a context vector); got "
                     f"{context_shape!r}.")
  return shape


def optional_context_shape(context_shape):  # pylint: disable=redefined-outer-name
  """`as_context_shape(context_shape)`, or None for None: an unconditional net."""
  return None if context_shape is None else as_context_shape(context_shape)


def shape_config(context_shape):  # pylint: disable=redefined-outer-name
  """A net's `context_shape` for its `get_config`: a list, or None."""
  return None if context_shape is None else context_shape.as_list()


def shape_of(value):
  shape = getattr(value, "shape", None)
  return tf.TensorShape(shape).as_list() if shape is not None else value


def check_context(context, context_shape, batch_shape=None,  # pylint: disable=redefined-outer-name
                  arg_name=ARG, owner="this flow", dtype=tf.float32):
  """Returns `context` as a `dtype` tensor, checking its static shape.

  Args:
    context: tensor [..., C], or None.
    context_shape: the expected event shape [C].
    batch_shape: static batch shape the context must broadcast to (the
      input's), or None to skip that check.
    arg_name: the argument named in error messages.
    owner: the layer or flow named in error messages.
    dtype: float dtype of the result (integer one-hot labels are cast).

  Raises:
    ValueError: `context` is None, its trailing shape is not `context_shape`,
      or its batch shape does not broadcast to `batch_shape`.
  """
  expected = tf.TensorShape(context_shape).as_list()
  if context is None:
    raise ValueError(f"{owner} is conditional: `{arg_name}` of shape "
                     f"[..., {', '.join(map(str, expected))}] is required; "
                     "got None.")
  context = tf.convert_to_tensor(context)
  if not (context.dtype.is_floating or context.dtype.is_integer or
          context.dtype.is_bool):
    raise ValueError(f"`{arg_name}` of {owner} must be a number tensor of "
                     f"shape [..., {', '.join(map(str, expected))}]; got "
                     f"dtype {context.dtype.name}.")
  context = tf.cast(context, dtype)
  rank = len(expected)
  shape = context.shape
  if shape.rank is not None and (shape.rank < rank or not shape[
      shape.rank - rank:].is_compatible_with(expected)):
    raise ValueError(
        f"`{arg_name}` of {owner} must have shape [..., "
        f"{', '.join(map(str, expected))}]; got {shape.as_list()}.")
  if batch_shape is not None and shape.rank is not None:
    got = shape[:shape.rank - rank]
    try:
      tf.broadcast_static_shape(got, tf.TensorShape(batch_shape))
    except ValueError:
      raise ValueError(
          f"`{arg_name}` of {owner}: batch shape {got.as_list()} (in shape "
          f"{shape.as_list()}) does not broadcast to the input's batch shape "
          f"{tf.TensorShape(batch_shape).as_list()}.") from None
  return context


def net_context(net, x, conditional_input, batch_ndims=1):
  """The context of one network call, [N, C] with N = prod(batch), or None.

  Applies the convention to a network `net` (which has a `context_shape`
  attribute, None when unconditional) called on x [*batch, ...] with
  `batch_ndims` batch dims: a conditional net needs c [*batch, C] (or [C],
  [1, C]: one for the batch), which is broadcast to the batch and folded to
  one dim; an unconditional net takes none.

  Raises:
    ValueError: c missing or given wrongly, as the module docstring says.
  """
  shape = getattr(net, "context_shape", None)
  if shape is None:
    if conditional_input is not None:
      raise ValueError(
          f"{net.name} is not conditional (built without `context_shape`); "
          f"got a `{ARG}` of shape {shape_of(conditional_input)}.")
    return None
  c = check_context(conditional_input, shape, batch_shape=x.shape[:batch_ndims],
                    owner=net.name, dtype=net.compute_dtype)
  batch = tf.shape(x)[:batch_ndims]
  c = tf.broadcast_to(c, tf.concat([batch, shape.as_list()], 0))
  return tf.reshape(c, [-1, shape[0]])
