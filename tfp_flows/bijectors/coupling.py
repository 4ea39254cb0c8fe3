"""The coupling layer: y_A = x_A, y_B = g(x_B; conditioner(x_A)), any transformer g."""

import functools

import numpy as np
import tensorflow as tf

from tfp_flows.tfp_internal import ps

from tfp_flows.bijectors import base
from tfp_flows.bijectors import masks
from tfp_flows.bijectors.transformers import transformer as transformer_lib

__all__ = ["Coupling"]


class Coupling(base.AugmentedBijector):
  """Coupling: y_A = x_A, y_B = g(x_B; theta), theta = conditioner(x_A).

  g is the `transformer` (`bijectors.transformers`: `Additive`, `Affine`,
  `Spline`, `LogisticMixture`, `Sigmoidal`), applied to each entry of x_B
  with its own parameters. The Jacobian is block triangular, so

    log |det J| = sum over B of log g'(x_b),

  and the inverse is x_B = g^-1(y_B; conditioner(y_A)), since y_A = x_A.
  One conditioner call per pass (see `base.AugmentedBijector`): the
  transform and its log-det come out of the same call, so `log_prob` runs
  the network once. TFP's built-in couplings run it twice.

  The partition is a binary `mask` (x_A = mask * x, the transform acts where
  mask == 0), a split of the last axis after `num_masked` entries, or a
  `packed_checkerboard` (both halves of an image's checkerboard packed into
  half-width images, so the network runs on half the pixels);
  `reverse=True` swaps the two parts so consecutive layers alternate.
  With a mask the transform also runs on the conditioning entries, and its
  output there is discarded; a transformer that zeroes theta there
  (`zeroes_conditioning`) lets the merge and the log-det sum multiply by
  the mask instead of selecting, which costs less.

  `AdditiveCoupling` (NICE), `AffineCoupling` (RealNVP, Glow),
  `SplineCoupling` (neural spline flows) and `LogisticMixtureCoupling`
  (Flow++) are this layer with one transformer each, and name its options.

  Shapes: x and y are `batch_shape + event_shape`. The batch is folded into
  one dimension N, and the conditioner maps x_A, shaped `[N] + event shape
  of x_A` (plus any bijector kwargs, such as `conditional_input=c`), to
  `[N] + event_shape[:-1] + [P * d_B]`, P = `transformer.num_params`, in
  the transformer's order. For a `num_masked` split d_B is the size of
  x_B's last axis; for a `mask` the event's last axis (outputs on the
  conditioning entries are ignored). The log-det has shape `batch_shape`.

  #### Example

  ```python
  import tfp_flows

  tfb = tfp_flows.bijectors
  # Vectors of size 6: splines with 8 bins for the last 3 entries given the
  # first 3, then affine couplings the other way round.
  spline = tfb.transformers.Spline(num_bins=8)
  affine = tfb.transformers.Affine(scale_fn="inverse_sigmoid")
  layers = [
      tfb.Coupling(tfp_flows.nets.MLP([64], output_units=3 * t.num_params),
                   t, num_masked=3, reverse=i % 2 == 1)
      for i, t in enumerate([spline, affine])
  ]
  x = tf.random.normal([5, 6])
  y = layers[1].forward(layers[0].forward(x))
  ```

  References:
    Dinh, L., Krueger, D. & Bengio, Y. (2015). NICE: Non-linear Independent
      Components Estimation. ICLR workshop. arXiv:1410.8516.
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
  """

  def __init__(self,
               conditioner,
               transformer,
               mask=None,
               num_masked=None,
               reverse=False,
               event_ndims=None,
               channels=None,
               packed_checkerboard=None,
               validate_args=False,
               dtype=tf.float32,
               parameters=None,
               name="coupling"):
    """Builds the partition and registers the conditioner.

    Args:
      conditioner: callable (a tf_keras layer, usually) mapping x_A of shape
        [N, *event of x_A] (one batch dimension), plus any bijector kwargs,
        to the parameters theta of the transform of x_B.
      transformer: a `bijectors.transformers.Transformer`.
      mask: binary array, 1 on the conditioning entries, of event shape or
        broadcastable to it. Exclusive with `num_masked`.
      num_masked: int, size of x_A when splitting the last axis.
      reverse: swap the roles of the two parts.
      event_ndims: rank of the event; defaults to the mask's rank, 3 with a
        packed checkerboard, else 1.
      channels: d_B, the size of x_B's last axis. Given, the transformer's
        per-layer variables (`Affine("exp_tanh")`'s scale factor) are created
        here, so a model lists all its weights before any data; else at the
        first call.
      packed_checkerboard: 0 or 1, for images [H, W, C] (W even): x_A the
        pixels where i + j + parity is even, x_B the others, each packed
        into [H, W / 2, C] (`masks.PackedCheckerboardPartition`), so the
        conditioner maps [N, H, W / 2, C] to [N, H, W / 2, P * C]. Exclusive
        with `mask` and `num_masked`.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of inputs and outputs.
      parameters: a subclass's `dict(locals())`; None for this class's.
      name: name scope of the bijector.

    Raises:
      TypeError: `transformer` is not a `Transformer`.
      ValueError: not exactly one of `mask`, `num_masked` and
        `packed_checkerboard`.
    """
    parameters = dict(locals()) if parameters is None else parameters
    transformer_lib.check(transformer)
    with tf.name_scope(name) as name:
      given = [arg for arg, value in (("mask", mask),
                                      ("num_masked", num_masked),
                                      ("packed_checkerboard",
                                       packed_checkerboard))
               if value is not None]
      if len(given) != 1:
        raise ValueError(
            "Exactly one of `mask`, `num_masked` and `packed_checkerboard` "
            f"must be given; got {given or 'none'}.")
      if mask is not None:
        self._partition = masks.MaskPartition(mask, reverse=reverse)
        default_ndims = np.ndim(mask)
      elif num_masked is not None:
        self._partition = masks.SplitPartition(num_masked, reverse=reverse)
        default_ndims = 1
      else:
        self._partition = masks.PackedCheckerboardPartition(
            packed_checkerboard, reverse=reverse)
        default_ndims = 3
      self._event_ndims = int(default_ndims if event_ndims is None
                              else event_ndims)
      self._conditioner = conditioner
      self._transformer = transformer
      super().__init__(
          forward_min_event_ndims=self._event_ndims,
          is_constant_jacobian=False,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)
    if channels is not None:
      with tf.name_scope(self.name):
        for variable_name in transformer.variable_names:
          base.layer_variable(self, variable_name, int(channels))

  @property
  def conditioner(self):
    return self._conditioner

  @property
  def transformer(self):
    """The `bijectors.transformers.Transformer` applied to x_B."""
    return self._transformer

  def _site(self):
    return transformer_lib.Site(
        layout=transformer_lib.COUPLING,
        zero_conditioning=self._partition.zero_conditioning,
        variable=functools.partial(base.layer_variable, self),
        owner=self.name)

  def _prepare(self, value, arg_name):
    return self._validate_input(
        value, arg_name, self._partition.event_shape(self._event_ndims))

  def _reduce(self, ldj, value):
    if ldj is None:
      return tf.zeros(ps.shape(value)[:ps.rank(value) - self._event_ndims],
                      value.dtype)
    return self._partition.reduce(
        ldj, self._event_ndims,
        conditioning_finite=self._transformer.zeroes_conditioning)

  def _augmented_pass(self, value, arg_name, inverse, **kwargs):
    value = self._prepare(value, arg_name)
    kept, changed = self._partition.split(value)
    theta = base.call_with_one_batch_dim(
        self._conditioner, kept, self._event_ndims, **kwargs)
    params = self._transformer.params(theta, changed, self._site())
    transform = (self._transformer.inverse if inverse
                 else self._transformer.forward)
    out, ldj = transform(changed, params)
    fldj = self._reduce(ldj, value)
    out = self._partition.merge(
        kept, value, out,
        conditioning_finite=self._transformer.zeroes_conditioning)
    return out, {"fldj": fldj, "ildj": -fldj}

  def _augmented_forward(self, x, **kwargs):
    return self._augmented_pass(x, "x", inverse=False, **kwargs)

  def _augmented_inverse(self, y, **kwargs):
    return self._augmented_pass(y, "y", inverse=True, **kwargs)
