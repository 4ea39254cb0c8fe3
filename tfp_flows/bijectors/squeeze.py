"""RealNVP's squeeze: trade spatial resolution for channels."""

import tensorflow as tf

from tfp_flows.tfp_internal import assert_util, ps, tensorshape_util

from tfp_flows.bijectors import base

__all__ = ["Squeeze"]


def _scale_dim(dim, multiply, divide):
  return None if dim is None else dim * multiply // divide


class Squeeze(base.FlowBijector):
  """Space-to-depth: [H, W, C] -> [H / f, W / f, f * f * C] (RealNVP, Glow).

  Each f x f spatial block becomes one pixel with f * f * C channels, in the
  order of `tf.nn.space_to_depth`:

    y[i, j, (a * f + b) * C + c] = x[i * f + a, j * f + b, c].

  The map only reorders entries, so log |det J| = 0. The Jacobian is a
  constant permutation matrix, so the bijector is `is_constant_jacobian`
  (as TFP's `Reshape` and `Transpose` are). The inverse is depth-to-space.

  Shapes: x: `batch_shape + [H, W, C]` with H and W divisible by f;
  y: `batch_shape + [H / f, W / f, f^2 C]`; `batch_shape` may have any rank,
  including 0. Static shapes that cannot be squeezed raise `ValueError`.
  Under `validate_args`, dynamic ones raise `tf.errors.InvalidArgumentError`.

  #### Example

  ```python
  squeeze = tfp_flows.bijectors.Squeeze()
  squeeze.forward(tf.zeros([8, 32, 32, 3])).shape  # [8, 16, 16, 12]
  squeeze.inverse_event_shape([16, 16, 12])        # [32, 32, 3]
  ```

  References:
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
  """

  def __init__(self, factor=2, event_shape=None, validate_args=False,
               name="squeeze"):
    """Creates the bijector.

    Args:
      factor: int f >= 2, the side of the spatial blocks.
      event_shape: optional [H, W, C] of x. Given, an x (or y) of another
        event shape is refused with a `ValueError` naming both shapes: a flow
        whose data enter here reports a wrongly shaped batch in data terms.
      validate_args: check inputs (finiteness, divisibility of dynamic
        shapes) at run time.
      name: name scope.

    Raises:
      ValueError: `factor` is not an integer >= 2.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      if int(factor) != factor or factor < 2:
        raise ValueError(f"`factor` must be an integer >= 2; got {factor!r}.")
      self._factor = int(factor)
      self._event_shapes = None
      if event_shape is not None:
        x_shape = tf.TensorShape(event_shape)
        self._check_shape(x_shape, "event_shape", inverse=False)
        self._event_shapes = (x_shape, self._new_shape(x_shape, inverse=False))
      super().__init__(
          forward_min_event_ndims=3,
          inverse_min_event_ndims=3,
          is_constant_jacobian=True,
          validate_args=validate_args,
          dtype=None,
          parameters=parameters,
          name=name)

  @property
  def factor(self):
    return self._factor

  @property
  def _is_permutation(self):
    return True

  def _divisors(self, inverse):
    """(axis, name, divisor) of the event dims that must divide evenly."""
    f = self._factor
    if inverse:
      return ((-1, "channel count", f * f),)
    return ((-3, "height", f), (-2, "width", f))

  def _check_shape(self, shape, arg_name, inverse):
    """Raises `ValueError` when a static `shape` cannot be (un)squeezed."""
    shape = tf.TensorShape(shape)
    if shape.rank is None:
      return
    if shape.rank < 3:
      raise ValueError(
          f"`{arg_name}` must have rank >= 3 (an [H, W, C] event); got shape "
          f"{shape.as_list()}.")
    for axis, dim_name, divisor in self._divisors(inverse):
      dim = shape[axis]
      if dim is not None and dim % divisor:
        raise ValueError(
            f"`{arg_name}` must have a {dim_name} divisible by {divisor} "
            f"(factor={self._factor}); got {dim_name} {dim} in shape "
            f"{shape.as_list()}.")

  def _prepare(self, value, arg_name, inverse):
    # The declared event shape first: its error names both whole shapes.
    expected = self._event_shapes and self._event_shapes[int(inverse)]
    value = self._validate_input(value, arg_name, expected)
    self._check_shape(value.shape, arg_name, inverse)
    if not self.validate_args:
      return value
    # The static check above covered the dims known statically.
    checks = [
        assert_util.assert_equal(
            tf.shape(value)[axis] % divisor, 0,
            message=f"`{arg_name}` must have a {dim_name} divisible by "
            f"{divisor} (factor={self._factor}).")
        for axis, dim_name, divisor in self._divisors(inverse)
        if value.shape[axis] is None
    ]
    if not checks:
      return value
    with tf.control_dependencies(checks):
      return tf.identity(value)

  def _apply(self, value, op, out_shape):
    # The depth/space ops want [N, H, W, C]: fold all batch dims into N.
    shape = ps.shape(value)
    flat = tf.reshape(value, ps.concat([[-1], shape[-3:]], axis=0))
    out = op(flat, self._factor)
    out = tf.reshape(out, ps.concat([shape[:-3], ps.shape(out)[1:]], axis=0))
    out.set_shape(out_shape)
    return out

  def _forward(self, x):
    x = self._prepare(x, "x", inverse=False)
    return self._apply(x, tf.nn.space_to_depth,
                       self._new_shape(x.shape, inverse=False))

  def _inverse(self, y):
    y = self._prepare(y, "y", inverse=True)
    return self._apply(y, tf.nn.depth_to_space,
                       self._new_shape(y.shape, inverse=True))

  def _forward_log_det_jacobian(self, x):
    return tf.zeros([], x.dtype)

  def _inverse_log_det_jacobian(self, y):
    return tf.zeros([], y.dtype)

  def _new_shape(self, shape, inverse):
    """[..., H, W, C] -> [..., H / f, W / f, f^2 C], or back when `inverse`.

    Leading dims are kept: TFP may pass an event shape of rank above 3, and
    `_apply` passes whole shapes.
    """
    self._check_shape(shape, "y" if inverse else "x", inverse)
    shape = tf.TensorShape(shape)
    if shape.rank is None:
      return shape
    up, down = (self._factor, 1) if inverse else (1, self._factor)
    h, w, c = shape[-3:]
    return shape[:-3].concatenate(
        [_scale_dim(h, up, down), _scale_dim(w, up, down),
         _scale_dim(c, down * down, up * up)])

  def _new_shape_tensor(self, shape, inverse):
    self._check_shape(tensorshape_util.constant_value_as_shape(shape),
                      "y" if inverse else "x", inverse)
    up, down = (self._factor, 1) if inverse else (1, self._factor)
    return ps.concat([shape[:-3], shape[-3:-1] * up // down,
                      shape[-1:] * (down * down) // (up * up)], axis=0)

  def _forward_event_shape(self, input_shape):
    return self._new_shape(input_shape, inverse=False)

  def _inverse_event_shape(self, output_shape):
    return self._new_shape(output_shape, inverse=True)

  def _forward_event_shape_tensor(self, input_shape):
    return self._new_shape_tensor(input_shape, inverse=False)

  def _inverse_event_shape_tensor(self, output_shape):
    return self._new_shape_tensor(output_shape, inverse=True)
