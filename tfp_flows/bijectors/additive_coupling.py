"""NICE's additive coupling layer (Dinh, Krueger & Bengio, 2014)."""

import tensorflow as tf

from tfp_flows.bijectors import coupling

__all__ = ["AdditiveCoupling"]


class AdditiveCoupling(coupling.Coupling):
  """Additive coupling: y_A = x_A, y_B = x_B + m(x_A).

  The Jacobian is unit lower-triangular, so log |det J| = 0 for every x, and
  the inverse is x_B = y_B - m(y_A). The Jacobian *matrix* still depends on x
  through m, so this bijector is not `is_constant_jacobian` in TFP's sense.

  Shapes: x and y are `batch_shape + event_shape`; `m` maps x_A to a tensor
  shaped like x_B (the full event when a `mask` is used: its entries on the
  conditioning positions are ignored).

  #### Example

  ```python
  import tensorflow_probability as tfp
  import tfp_flows

  nets = tfp_flows.nets
  tfb = tfp_flows.bijectors
  couplings = [
      tfb.AdditiveCoupling(nets.MLP([256, 256], output_units=32),
                           num_masked=32, reverse=i % 2 == 1)
      for i in range(4)
  ]
  flow = tfp.bijectors.Chain(couplings + [tfb.Rescaling([64])])
  ```
  """

  def __init__(self,
               conditioner,
               mask=None,
               num_masked=None,
               reverse=False,
               event_ndims=None,
               validate_args=False,
               dtype=tf.float32,
               name="additive_coupling"):
    """See `tfp_flows.bijectors.coupling.Coupling` for the arguments.

    `conditioner(x_A)` returns the shift m(x_A), shaped like x_B.
    """
    parameters = dict(locals())
    super().__init__(
        conditioner,
        mask=mask,
        num_masked=num_masked,
        reverse=reverse,
        event_ndims=event_ndims,
        validate_args=validate_args,
        dtype=dtype,
        parameters=parameters,
        name=name)

  def _forward_transform(self, x_b, shift):
    return x_b + shift, None

  def _inverse_transform(self, y_b, shift):
    return y_b - shift, None
