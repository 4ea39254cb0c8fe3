"""NICE's additive transform: g(x) = x + m."""

from tfp_flows.bijectors import base
from tfp_flows.bijectors.transformers import transformer

__all__ = ["Additive"]


class Additive(transformer.Transformer):
  """g(x; m) = x + clip(m, -S, S), log g'(x) = 0 (NICE's coupling).

  P = 1: theta is the raw shift m of each entry (a coupling's conditioner
  returns it shaped like x_B; a MADE [..., D, 1]). The clip to +-S
  (`shift_bound`, default 1e3, exact inside) bounds how far a layer moves
  an entry whatever its network outputs; `bijectors.AdditiveCoupling` says
  why a stack needs it. `shift_bound=None` removes it.

  #### Example

  ```python
  import tfp_flows

  tfb = tfp_flows.bijectors
  net = tfp_flows.nets.MLP([64, 64], output_units=2)
  layer = tfb.Coupling(net, tfb.transformers.Additive(), num_masked=2)
  y = layer.forward(tf.random.normal([5, 4]))
  ```

  References:
    Dinh, L., Krueger, D. & Bengio, Y. (2015). NICE: Non-linear Independent
      Components Estimation. ICLR workshop. arXiv:1410.8516.
  """

  num_params = 1
  params_description = "a raw shift"

  def __init__(self, shift_bound=base.DEFAULT_SHIFT_BOUND):
    """Args: shift_bound: S > 0, or None for no clip."""
    self._shift_bound = base.check_bound(shift_bound, "shift_bound")

  @property
  def shift_bound(self):
    return self._shift_bound

  def get_config(self):
    return {"shift_bound": self._shift_bound}

  def params(self, theta, value, site):
    if site.layout == transformer.AUTOREGRESSIVE:
      theta = theta[..., 0]
    elif (value.shape[-1] is not None and
          theta.shape[-1] not in (None, value.shape[-1])):
      raise ValueError(
          f"{site.owner}: the last axis of the `conditioner` output must be "
          f"{value.shape[-1]} (a shift for each channel of x_B); got "
          f"{theta.shape[-1]} in shape {theta.shape.as_list()}.")
    return base.clip(theta, self._shift_bound)

  def forward(self, x, params):
    return x + params, None

  def inverse(self, y, params):
    return y - params, None
