"""The rational-quadratic spline coupling layer of neural spline flows (Durkan et al. 2019)."""

import tensorflow as tf

from tfp_flows.bijectors import coupling
from tfp_flows.bijectors import rational_quadratic_spline as rqs
from tfp_flows.bijectors.transformers import spline

__all__ = ["SplineCoupling"]


class SplineCoupling(coupling.Coupling):
  """Spline coupling: y_A = x_A, y_B = g(x_B; theta(x_A)), g a monotone RQ spline.

  `Coupling` with `transformers.Spline(num_bins, bound, ...)`.

  Each transformed entry gets its own rational-quadratic spline g with K
  bins on [-B, B] and identity tails outside (`rational_quadratic_spline`
  has the formulas), whose widths, heights and interior derivatives the
  conditioner predicts from x_A. The Jacobian is triangular, so

    log |det J| = sum over B of log g'(x_B),

  and the inverse solves one quadratic per entry, with the same conditioner
  output because y_A = x_A. One conditioner call per pass gives both (see
  `Coupling`).

  Layout of the conditioner output: its last axis holds d_B * (3K - 1)
  entries, read as [d_B, 3K - 1] (entry-major), and the 3K - 1 parameters of
  an entry are [K raw widths, K raw heights, K - 1 raw interior
  derivatives] (softmax and shifted softplus, with floors `min_bin_width`,
  `min_bin_height`, `min_derivative`; derivatives at +-B are 1, so g is
  continuously differentiable into its tails). Zero outputs give uniform
  bins and unit derivatives: g is the identity, so a zero-initialised
  conditioner (`nets.MLP`, conditional or not) starts the layer
  at the identity.

  Bounds: g maps [-B, B] onto itself and is the identity outside, so a layer
  moves no entry by more than 2B, and its log-derivative is bounded for any
  finite input (the conditioner's outputs are clipped to +-1e3): a stack of
  splines keeps every finite input finite, and its gradients finite (both
  sides of the tails' `tf.where` are computed on guarded inputs).

  Shapes: x and y are `batch_shape + event_shape`. The `Coupling` base
  folds the batch into one dim, and the conditioner maps x_A, shaped
  `[N] + event shape of x_A`, to `[N] + event_shape[:-1] + [d_B * (3K - 1)]`.
  For a `num_masked` split d_B is the size of x_B's last axis; for a `mask`
  the event's last axis (outputs on the conditioning entries are ignored).
  Conditional: bijector kwargs (`conditional_input=c`) go to the
  conditioner (see `tfp_flows.context`).

  #### Example

  ```python
  import tfp_flows

  nets = tfp_flows.nets
  tfb = tfp_flows.bijectors
  # Vectors of size 6: splines with 8 bins on [-5, 5] for the last 3
  # entries, given the first 3.
  net = nets.MLP([64, 64], output_units=3 * (3 * 8 - 1))
  net.build([None, 3])
  layer = tfb.SplineCoupling(net, num_bins=8, bound=5., num_masked=3)
  ```

  References:
    Durkan, C., Bekasov, A., Murray, I. & Papamakarios, G. (2019). Neural Spline
      Flows. NeurIPS. arXiv:1906.04032.
  """

  def __init__(self,
               conditioner,
               num_bins=8,
               bound=rqs.DEFAULT_BOUND,
               mask=None,
               num_masked=None,
               reverse=False,
               event_ndims=None,
               min_bin_width=rqs.DEFAULT_MIN_BIN_WIDTH,
               min_bin_height=rqs.DEFAULT_MIN_BIN_HEIGHT,
               min_derivative=rqs.DEFAULT_MIN_DERIVATIVE,
               jit_compile=True,
               packed_checkerboard=None,
               validate_args=False,
               dtype=tf.float32,
               name="spline_coupling"):
    """See `tfp_flows.bijectors.coupling.Coupling` for the shared arguments.

    Args:
      conditioner: callable mapping x_A (and any bijector kwargs) to
        d_B * (3K - 1) raw spline parameters per position (class docstring).
      num_bins: K >= 1.
      bound: B > 0: the splines act on [-B, B], the identity outside.
      mask: binary mask, 1 on the conditioning entries. Exclusive with
        `num_masked`.
      num_masked: size of x_A when splitting the last axis.
      reverse: swap the roles of the two parts.
      event_ndims: rank of the event; defaults to the mask's rank, 3 with a
        packed checkerboard, else 1.
      packed_checkerboard: 0 or 1, a checkerboard of images packed into
        half-width images instead of a mask (see `Coupling`).
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
      ValueError: a spline setting out of range, or an invalid partition.
    """
    parameters = dict(locals())
    super().__init__(
        conditioner,
        spline.Spline(num_bins=num_bins, bound=bound,
                      min_bin_width=min_bin_width,
                      min_bin_height=min_bin_height,
                      min_derivative=min_derivative, jit_compile=jit_compile),
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
  def num_bins(self):
    return self.transformer.num_bins

  @property
  def bound(self):
    return self.transformer.bound
