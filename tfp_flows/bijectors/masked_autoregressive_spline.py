"""The autoregressive rational-quadratic spline layer of neural spline flows (NSF-AR)."""

import tensorflow as tf

from tfp_flows.bijectors import autoregressive
from tfp_flows.bijectors import rational_quadratic_spline as rqs
from tfp_flows.bijectors.transformers import spline

__all__ = ["MaskedAutoregressiveSpline"]


class MaskedAutoregressiveSpline(autoregressive.Autoregressive):
  """Autoregressive spline layer: y_i = g_i(x_i), g_i an RQ spline with parameters theta_i(y_<i).

  `Autoregressive` with `transformers.Spline(num_bins, bound, ...)`.

  Durkan et al.'s (2019) NSF-AR layer in MAF's arrangement: forward maps the
  latent side x to the data side y, and entry i's monotone
  rational-quadratic spline g_i (K bins on [-B, B], the identity outside;
  see `rational_quadratic_spline` for the formulas) has parameters
  theta_i [3K - 1] computed by a MADE (`nets.MADE(..., params=3K - 1)`)
  from the entries of y before i:

    forward:  y_i = g_i(x_i; theta_i(y_<i)),
    inverse:  x_i = g_i^-1(y_i; theta_i(y_<i)),
    log |det dy/dx| = sum_i log g_i'(x_i).

  theta_i's layout is `SplineCoupling`'s: [K raw widths, K raw heights,
  K - 1 raw interior derivatives]; zero gives the identity, so a
  zero-initialised MADE starts the layer at the identity.

  Costs (the `autoregressive.Autoregressive` mechanism): the inverse
  (data -> latent: MAF-style `log_prob`) is ONE MADE pass, transform and
  log-det from it; the forward (sampling; an IAF arrangement's `log_prob`)
  D passes in a `tf.while_loop`, the log-det from the last. Wrapped in
  `tfb.Invert`, the layer samples in one pass (`flows.nsf(...,
  autoregressive=True, inverse=True)`).

  Bounds: each g_i maps [-B, B] onto itself and is the identity outside,
  and the MADE's outputs are clipped to +-1e3 before the softmax and
  softplus, so no finite input overflows, and gradients stay finite (both
  branches of the tails' `tf.where` see guarded inputs).

  Shapes: x and y are `batch_shape + [D]`; the conditioner maps y [..., D]
  (plus `conditional_input=c` when conditional) to [..., D, 3K - 1].
  Log-dets have shape `batch_shape`.

  #### Example

  ```python
  import tfp_flows

  made = tfp_flows.nets.MADE(4, [64, 64], params=3 * 8 - 1)
  made.build([None, 4])  # every variable now; a new layer is the identity
  layer = tfp_flows.bijectors.MaskedAutoregressiveSpline(made, num_bins=8,
                                                         bound=5.)
  ```

  References:
    Durkan, C., Bekasov, A., Murray, I. & Papamakarios, G. (2019). Neural Spline
      Flows. NeurIPS. arXiv:1906.04032.
    Germain, M., Gregor, K., Murray, I. & Larochelle, H. (2015). MADE: Masked
      Autoencoder for Distribution Estimation. ICML. arXiv:1502.03509.
  """

  def __init__(self,
               conditioner,
               num_bins=8,
               bound=rqs.DEFAULT_BOUND,
               min_bin_width=rqs.DEFAULT_MIN_BIN_WIDTH,
               min_bin_height=rqs.DEFAULT_MIN_BIN_HEIGHT,
               min_derivative=rqs.DEFAULT_MIN_DERIVATIVE,
               jit_compile=True,
               validate_args=False,
               dtype=tf.float32,
               name="masked_autoregressive_spline"):
    """Builds the layer over `conditioner`.

    Args:
      conditioner: a MADE with `params=3 * num_bins - 1` (or any callable
        with MADE's masks) mapping y [..., D] (and any bijector kwargs, such
        as `conditional_input`) to [..., D, 3K - 1].
      num_bins: K >= 1.
      bound: B > 0: the splines act on [-B, B], the identity outside.
      min_bin_width: smallest bin width, a fraction of 2B in [0, 1 / K).
      min_bin_height: smallest bin height, a fraction of 2B in [0, 1 / K).
      min_derivative: smallest interior derivative, in [0, 1).
      jit_compile: inside a `tf.function`, run the splines as one
        XLA-compiled function (fused kernels, ~5x faster on a CPU than plain
        ops; see `rational_quadratic_spline.transform`); False for
        platforms without XLA.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of inputs and outputs.
      name: name scope.

    Raises:
      ValueError: a spline setting out of range.
    """
    parameters = dict(locals())
    super().__init__(
        conditioner,
        spline.Spline(num_bins=num_bins, bound=bound,
                      min_bin_width=min_bin_width,
                      min_bin_height=min_bin_height,
                      min_derivative=min_derivative, jit_compile=jit_compile),
        validate_args=validate_args, dtype=dtype, parameters=parameters,
        name=name)

  @property
  def num_bins(self):
    return self.transformer.num_bins

  @property
  def bound(self):
    return self.transformer.bound
