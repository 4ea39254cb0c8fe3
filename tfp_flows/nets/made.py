"""MADE (Germain et al. 2015): the autoregressive conditioner of MAF and IAF."""

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.bijectors import _context as context_lib
from tfp_flows import tfp_internal

tfb = tfp.bijectors

__all__ = ["MADE"]


class MADE(tfb.AutoregressiveNetwork):
  """TFP's MADE with `params` outputs per entry, zero-initialised; optionally conditional.

  Output i depends only on the inputs that come before entry i in
  `input_order` (MADE's masks, kept by the kernels' constraints through
  training), which is what makes `bijectors.MaskedAutoregressive` invertible.

  Shapes: x [..., D] (and c [..., C] or [C]) -> [..., D, params]: for
  `bijectors.MaskedAutoregressive` (params=2) the shift and the raw
  log-scale of each entry, for `bijectors.MaskedAutoregressiveSpline`
  (params=3K - 1) its raw spline parameters. The output layer starts at
  zero, so a new autoregressive layer is the identity. Conditional
  (`context_shape=[C]`), the context enters every layer through its own
  dense map (TFP's `conditional_input_layers="all_layers"`); a missing or wrongly shaped
  `conditional_input` raises a `ValueError` naming the argument, the
  expected and the received shape (TFP's own message names neither shape).

  #### Example

  ```python
  made = tfp_flows.nets.MADE(4, [64, 64])
  made.build([None, 4])  # every variable now
  layer = tfp_flows.bijectors.MaskedAutoregressive(made)
  ```

  References:
    Germain, M., Gregor, K., Murray, I. & Larochelle, H. (2015). MADE: Masked
      Autoencoder for Distribution Estimation. ICML. arXiv:1502.03509.
  """

  def __init__(self, event_size, hidden_units, context_shape=None,
               activation="relu", input_order="left-to-right", params=2,
               **kwargs):
    """Creates the network; `build([None, event_size])` creates its variables.

    Args:
      event_size: D.
      hidden_units: hidden layer sizes.
      context_shape: [C] for a conditional network, else None.
      activation: hidden activation.
      input_order: MADE's degree order of the inputs ("left-to-right",
        "right-to-left", "random" or a permutation of 1..D).
      **kwargs: `tf_keras` layer arguments (`name`, `dtype`).
    """
    self._context_shape = context_lib.optional_context_shape(context_shape)
    super().__init__(
        params=int(params),
        event_shape=[int(event_size)],
        hidden_units=[int(u) for u in hidden_units],
        conditional=context_shape is not None,
        conditional_event_shape=(None if context_shape is None else
                                 self._context_shape.as_list()),
        input_order=input_order,
        activation=activation,
        **kwargs)

  @property
  def context_shape(self):
    """[C] for a conditional network, else None (`tfp_flows.context`)."""
    return self._context_shape

  def build(self, input_shape):
    super().build(input_shape)
    # Zero the output layer (and the context's dense map into it) so that a
    # new layer is the identity, as our couplings' nets are: on the 2-D toys
    # this trains markedly faster than TFP's Glorot start (8gaussians, 400
    # steps: 3.01 nats against 3.65). TFP applies one initializer to every
    # layer, so the output layer is found among its layers: the Dense layers
    # after the last hidden activation.
    layers = tfp_internal.autoregressive_network_layers(self)
    hidden = [i for i, layer in enumerate(layers)
              if isinstance(layer, tf_keras.layers.Activation)]
    for layer in layers[hidden[-1] + 1 if hidden else 0:]:
      if isinstance(layer, tf_keras.layers.Dense):
        layer.kernel.assign(tf.zeros_like(layer.kernel))

  def call(self, x, conditional_input=None):
    c = context_lib.net_context(self, x, conditional_input,
                                batch_ndims=x.shape.rank - 1)
    if c is not None:
      # One context row per input row, whatever x's batch dims: TFP's
      # network concatenates them without broadcasting.
      c = tf.reshape(tf.cast(c, self.dtype), tf.concat(
          [tf.shape(x)[:-1], self._context_shape.as_list()], 0))
    return super().call(x, conditional_input=c)
