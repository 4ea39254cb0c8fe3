"""NICE's additive coupling layer (Dinh, Krueger & Bengio, 2014)."""

import tensorflow as tf

from tfp_flows.bijectors import base
from tfp_flows.bijectors import coupling
from tfp_flows.bijectors.transformers import additive

__all__ = ["AdditiveCoupling"]


class AdditiveCoupling(coupling.Coupling):
  """Additive coupling: y_A = x_A, y_B = x_B + m(x_A).

  `Coupling` with `transformers.Additive(shift_bound)`.

  The Jacobian is unit lower-triangular, so log |det J| = 0 for every x, and
  the inverse is x_B = y_B - m(y_A). The Jacobian *matrix* still depends on x
  through m, so this bijector is not `is_constant_jacobian` in TFP's sense.

  Bound: the shift is clipped, m = clip(m_raw, -S, S) (`shift_bound`,
  default S = 1e3), exact inside. A ReLU network's output grows with its
  input, and each coupling's output feeds the next one's network, so
  unclipped shifts compound through a stack (K^L |x| for L layers of
  Lipschitz constant K: 6 NICE couplings with perturbed weights sent inputs
  1e4 away to -inf). Clipped, |y_B - x_B| <= S per layer: L layers move a
  point by at most L * S, whatever the weights. Standardised data need
  shifts of a few units, so the clip costs nothing in-distribution; data
  with offsets near 1e3 want a rescaling first.

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

  References:
    Dinh, L., Krueger, D. & Bengio, Y. (2015). NICE: Non-linear Independent
      Components Estimation. ICLR workshop. arXiv:1410.8516.
  """

  def __init__(self,
               conditioner,
               mask=None,
               num_masked=None,
               reverse=False,
               event_ndims=None,
               shift_bound=base.DEFAULT_SHIFT_BOUND,
               packed_checkerboard=None,
               validate_args=False,
               dtype=tf.float32,
               name="additive_coupling"):
    """See `tfp_flows.bijectors.coupling.Coupling` for the arguments.

    `conditioner(x_A)` returns the raw shift m(x_A), shaped like x_B;
    `shift_bound` S > 0 clips it to [-S, S] (None: no clip).
    """
    parameters = dict(locals())
    super().__init__(
        conditioner,
        additive.Additive(shift_bound=shift_bound),
        mask=mask,
        num_masked=num_masked,
        reverse=reverse,
        event_ndims=event_ndims,
        packed_checkerboard=packed_checkerboard,
        validate_args=validate_args,
        dtype=dtype,
        parameters=parameters,
        name=name)

  @property
  def shift_bound(self):
    return self.transformer.shift_bound
