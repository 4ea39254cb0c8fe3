"""The deep sigmoidal flow of neural autoregressive flows (NAF-DSF) on the autoregressive layer."""

import tensorflow as tf

from tfp_flows.bijectors import autoregressive
from tfp_flows.bijectors.transformers import sigmoidal

__all__ = ["MaskedAutoregressiveSigmoidal"]


class MaskedAutoregressiveSigmoidal(autoregressive.Autoregressive):
  """Neural autoregressive layer: entry i through a deep sigmoidal flow with parameters from y_<i.

  `Autoregressive` with `transformers.Sigmoidal(num_sigmoids, ...)`:
  Huang et al.'s (2018) NAF with the DSF transformer, in MAF's arrangement
  (forward: latent x -> data y). The data-to-latent map of entry i is the
  monotone sigmoidal network

    x_i = f_i(y_i) = logit( sum_k w_ik sigmoid(a_ik y_i + b_ik) ),

  a_ik > 0, w_i on the simplex, (a_i, b_i, w_i) = theta_i(y_<i) from a MADE
  (`nets.MADE(..., params=3K)`), continued with slope 1 beyond [-B, B]
  (`base.linear_tails`): a strictly increasing bijection of the real line
  whatever the parameters, and a universal approximator of monotone maps as
  K grows (the paper's Proposition 2). The log-slope is computed in a
  cancellation-free form (`sigmoidal`).

  * inverse (data -> latent; `log_prob`): closed form, ONE MADE pass gives
    x and log |det dx/dy| = sum_i log f_i'(y_i).
  * forward (latent -> data; sampling): D MADE passes (the
    `autoregressive.Autoregressive` loop), each solving f_i(y_i) = x_i by a
    bracketed root finder (`base.search_root` on [-B, B], the tails solved
    exactly: |residual| <= `tolerance` or the bracket a few ulps wide, at
    most `max_iterations` steps), with the implicit function's gradient
    (`base.implicit_root`).

  theta_i's layout: [K raw log-slopes, K raw shifts, K raw weight logits];
  log a = clip(raw, +-`log_slope_bound`), b = clip(raw, +-1e3) + a fixed
  offset per unit (spread over [-2, 2]: a zero-initialised MADE would give
  identical units identical gradients forever), w = softmax(clip(raw,
  +-1e3)). A new layer (MADE output 0) is a smooth increasing map with slope
  1 in the tails, not the identity.

  Shapes: x and y are `batch_shape + [D]`; the conditioner maps y [..., D]
  (plus `conditional_input=c` when conditional) to [..., D, 3K]. Log-dets
  have shape `batch_shape`.

  #### Example

  ```python
  import tfp_flows
  from tfp_flows.bijectors.transformers import sigmoidal as dsf

  made = tfp_flows.nets.MADE(4, [64, 64], params=dsf.num_params(8))
  made.build([None, 4])
  layer = tfp_flows.bijectors.MaskedAutoregressiveSigmoidal(
      made, num_sigmoids=8)
  x = layer.inverse(tf.random.normal([10, 4]))  # closed form, one pass
  ```

  References:
    Huang, C.-W., Krueger, D., Lacoste, A. & Courville, A. (2018). Neural
      Autoregressive Flows. ICML. arXiv:1804.00779.
    Germain, M., Gregor, K., Murray, I. & Larochelle, H. (2015). MADE: Masked
      Autoencoder for Distribution Estimation. ICML. arXiv:1502.03509.
  """

  def __init__(self,
               conditioner,
               num_sigmoids=8,
               bound=sigmoidal.DEFAULT_BOUND,
               log_slope_bound=sigmoidal.DEFAULT_LOG_SLOPE_BOUND,
               tolerance=None,
               max_iterations=60,
               validate_args=False,
               dtype=tf.float32,
               name="masked_autoregressive_sigmoidal"):
    """Builds the layer over `conditioner`.

    Args:
      conditioner: a MADE with `params=3 * num_sigmoids` (or any callable
        with MADE's masks) mapping y [..., D] (and any bijector kwargs, such
        as `conditional_input`) to [..., D, 3K].
      num_sigmoids: K >= 1, the sigmoids of each entry's transform.
      bound: B > 0: the sigmoidal map on [-B, B], slope 1 beyond.
      log_slope_bound: each |log a_k| <= this (a positive number).
      tolerance: the forward's stopping tolerance on |f(y) - x|; None for
        `base.DEFAULT_ROOT_TOLERANCES` of the dtype.
      max_iterations: cap on the forward's root-finder steps.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of inputs and outputs.
      name: name scope.

    Raises:
      ValueError: `num_sigmoids` < 1, or a bound not a positive number.
    """
    parameters = dict(locals())
    super().__init__(
        conditioner,
        sigmoidal.Sigmoidal(num_sigmoids=num_sigmoids, bound=bound,
                            log_slope_bound=log_slope_bound,
                            tolerance=tolerance,
                            max_iterations=max_iterations),
        validate_args=validate_args, dtype=dtype, parameters=parameters,
        name=name)

  @property
  def num_sigmoids(self):
    return self.transformer.num_sigmoids
