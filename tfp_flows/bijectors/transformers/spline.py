"""The monotone rational-quadratic spline of neural spline flows."""

from tfp_flows.bijectors import rational_quadratic_spline as rqs
from tfp_flows.bijectors.transformers import transformer

__all__ = ["Spline"]


class Spline(transformer.Transformer):
  """g(x; theta) a monotone rational-quadratic spline on [-B, B], the identity beyond.

  Each entry gets its own spline with K bins (`num_bins`) on [-B, B]
  (`bound`); theta holds P = 3K - 1 raw parameters per entry, [K widths, K
  heights, K - 1 interior derivatives], with floors `min_bin_width`,
  `min_bin_height` (fractions of 2B) and `min_derivative`;
  `bijectors.rational_quadratic_spline` has the formulas. Zero parameters
  give uniform bins and unit slopes, the identity, so a zero-initialised
  conditioner starts the layer at the identity. A coupling's conditioner
  returns [..., d_B * (3K - 1)], read entry-major as [..., d_B, 3K - 1]; a
  MADE [..., D, 3K - 1]. The inverse solves one quadratic per entry.

  `jit_compile`: inside a `tf.function` the splines run as one XLA-compiled
  function (about 5x faster on a CPU); False for platforms without XLA.

  #### Example

  ```python
  import tfp_flows

  tfb = tfp_flows.bijectors
  spline = tfb.transformers.Spline(num_bins=8, bound=5.)
  net = tfp_flows.nets.MLP([64, 64], output_units=3 * spline.num_params)
  layer = tfb.Coupling(net, spline, num_masked=3)
  x = tf.random.normal([4, 6])
  print(layer.inverse(layer.forward(x)) - x)
  ```

  References:
    Durkan, C., Bekasov, A., Murray, I. & Papamakarios, G. (2019). Neural Spline
      Flows. NeurIPS. arXiv:1906.04032.
  """

  params_description = ("K raw widths, K raw heights and K - 1 raw "
                        "derivatives")

  def __init__(self,
               num_bins=8,
               bound=rqs.DEFAULT_BOUND,
               min_bin_width=rqs.DEFAULT_MIN_BIN_WIDTH,
               min_bin_height=rqs.DEFAULT_MIN_BIN_HEIGHT,
               min_derivative=rqs.DEFAULT_MIN_DERIVATIVE,
               jit_compile=True):
    """Builds the spline's settings.

    Args:
      num_bins: K >= 1.
      bound: B > 0: the splines act on [-B, B], the identity outside.
      min_bin_width: smallest bin width, a fraction of 2B in [0, 1 / K).
      min_bin_height: smallest bin height, a fraction of 2B in [0, 1 / K).
      min_derivative: smallest interior derivative, in [0, 1).
      jit_compile: run the splines XLA-compiled inside a `tf.function`.

    Raises:
      ValueError: a setting out of range, naming it.
    """
    (self._num_bins, self._bound, self._min_bin_width, self._min_bin_height,
     self._min_derivative) = rqs.check_spline_args(
         num_bins, bound, min_bin_width, min_bin_height, min_derivative)
    self._jit_compile = bool(jit_compile)
    self.num_params = rqs.num_params(self._num_bins)

  @property
  def num_bins(self):
    return self._num_bins

  @property
  def bound(self):
    return self._bound

  def get_config(self):
    return {"num_bins": self._num_bins, "bound": self._bound,
            "min_bin_width": self._min_bin_width,
            "min_bin_height": self._min_bin_height,
            "min_derivative": self._min_derivative,
            "jit_compile": self._jit_compile}

  def params(self, theta, value, site):
    if site.layout == transformer.AUTOREGRESSIVE:
      return theta
    return transformer.entry_major(theta, value.shape[-1], self.num_params,
                                   site.owner, self.params_description)

  def _spline(self, value, params, inverse):
    return rqs.transform(value, params, self._num_bins, self._bound,
                         self._min_bin_width, self._min_bin_height,
                         self._min_derivative, inverse=inverse,
                         jit_compile=self._jit_compile)

  def forward(self, x, params):
    return self._spline(x, params, inverse=False)

  def inverse(self, y, params):
    # The inverse spline returns log g'(x), the forward log-derivative.
    return self._spline(y, params, inverse=True)
