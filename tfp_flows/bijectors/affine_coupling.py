"""The affine coupling layer of RealNVP (Dinh et al. 2016) and Glow (2018)."""

import tensorflow as tf

from tfp_flows.bijectors import base
from tfp_flows.bijectors import coupling
from tfp_flows.bijectors.transformers import affine

__all__ = ["AffineCoupling"]


class AffineCoupling(coupling.Coupling):
  """Affine coupling: y_A = x_A, y_B = x_B * s(x_A) + t(x_A).

  `Coupling` with `transformers.Affine(scale_fn, log_scale_bound,
  shift_bound, tail_bound)`; the measurements behind its bounds are here.

  The conditioner returns ONE tensor h_all = conditioner(x_A). Its last axis
  is twice the last axis of x_B. The first half is the shift t and the second
  half is the raw scale h. The log-scale comes from one of two
  parameterisations (`scale_fn`):

  * "exp_tanh" (RealNVP): log s = scale_factor * tanh(h), where `scale_factor`
    is a trainable per-channel variable of shape [last axis of x_B],
    initialised to 1. The bound |log s| < |scale_factor| keeps a new flow
    stable. It starts at 1, not 0: with a zero-initialised conditioner
    (h = 0) a zero factor would leave both d(log s)/d(scale_factor) = tanh(h)
    and d(log s)/dh = scale_factor at zero, so neither could ever train. A
    zero-initialised conditioner therefore makes the layer the identity.
  * "inverse_sigmoid" (Glow): s = 1 / sigmoid(h + 2), so data to latent
    is x_B = (y_B - t) * sigmoid(h + 2), the paper's encoder (its code:
    z2 = (z2 + shift) * sigmoid(h + 2)). Every coupling contracts towards
    the latent (log-det data to latent = sum log sigmoid(h + 2) < 0), so no
    stack of them can blow a latent up; a sharp density comes from ActNorm
    and the priors. log sigmoid(h + 2) is floored at -B (B = 4 by default),
    which bounds sampling's expansion to exp(B) per layer. A
    zero-initialised conditioner gives sigmoid(2) ~ 0.88, not the identity.
  * "sigmoid": s = sigmoid(h + 2), the other orientation: data to latent
    DIVIDES by sigmoid(h + 2), so each coupling can amplify a latent by up
    to exp(B) ~ 55, and amplifications compound through a stack. This was
    Glow's coupling in tfp-flows 0.1.0 (kept so its saved flows load): on
    MNIST, whose background pixels are constant, it learnt slowly and its
    loss spiked (to 1e12 nats on a 28x28 Glow), as the layers amplifying
    the background also amplified the strokes.

  The Jacobian is triangular, so

    log |det J| = sum over the transformed entries of log s,

  and the inverse is x_B = (y_B - t) / s, with the same conditioner output
  because y_A = x_A.

  Bounds, as in `MaskedAutoregressive`: what a ReLU conditioner outputs grows
  with its input, and through a stack each layer feeds the next one's
  conditioner, so unbounded outputs compound (a Glow with log s floored at
  -15 sent inverted digits to latents of 1e22, log_prob -inf). The three
  bounds are the identity inside their range, so a zero-initialised layer
  and a trained one that stays inside behave exactly as without them:

  * the shift is clipped, t = clip(t_raw, -S, S) (`shift_bound`, default
    S = 1e3; data of the flows here have |t| <= 4: in-distribution the
    default Glow on digits stays within |t| <= 3.7);
  * "sigmoid" and "inverse_sigmoid": log sigmoid(h + 2) >= -B
    (`log_scale_bound`, default B = 4): the sigmoid lies in
    [exp(-4), 1) ~ [0.018, 1). Trained on digits, the "sigmoid" Glow's
    log s stayed >= -2.33 and a floor at -5 left test bits/dim unchanged
    to 4 digits (seeds 0 and 1), so the floor did not bind in training;
  * "exp_tanh": |log s| <= B (default B = 3): log s = clip(scale_factor *
    tanh(h), -B, B), so a trained `scale_factor` above B cannot scale by
    more than exp(+-3) ~ [0.05, 20] per layer;
  * linear tails on the data side (`tail_bound` T, default 1e3, as in
    `LogisticMixtureCoupling`): data to latent, x_B = (y_B - t) / s for
    |y_B| <= T, continued with slope 1 beyond,
    x_B = (+-T - t) / s + (y_B -+ T), with log-det 0 there (`forward`
    inverts it piecewise). Data of the flows here reach a coupling at a few
    units (standardised by Glow's ActNorm, logit-preprocessed in RealNVP),
    never near 1e3: trained on digits (seed 0), the default Glow's coupling
    inputs stay within |y_B| <= 6.0, and retraining with the tails gives
    the same test bits/dim (Glow 2.3029, RealNVP 2.0519).

  Whatever the weights, per layer |x_B| <= |y_B| + C with C = (T + S)
  exp(B) (1.1e5 for "sigmoid"'s B = 4, 4.0e4 for RealNVP's B = 3; C = S
  for "inverse_sigmoid", which contracts), and the
  log-det stays within +-B per entry: through a stack, growth is additive
  instead of exp(B) per layer. The Gaussian base overflows only past
  |z| ~ sqrt(3.4e38 / D) (2.3e18 for D = 64). The default Glow's data to
  latent is x - 0.5, then N = 8 steps of ActNorm and 1x1 convolution (a
  fixed gain G and offset A per step, see their docstrings) and a coupling,
  so |z| <= G^8 (|x| + 0.5 + 8 (A + C)) (FactorOut's split prior adds a
  factor exp(5) on its half, after 4 steps): with "inverse_sigmoid"
  (C = 1e3) inputs at 1e4 stay finite for G up to 57 per step
  (G^8 * 2e4 < 2.3e18), with "sigmoid" (C = 1.1e5) up to 35; "sigmoid"
  without the tails gave (e^4 G)^8 * 1e4, past that range for G > 1.14
  (ActNorm's data
  initialisation alone gives G ~ 2-7 on images in [0, 1]). RealNVP has no
  linear layers between its 10 couplings: |z| <= 19 |x| + 3 + 10 C ~ 6e5 at
  1e4. `log_scale_bound=None`, `shift_bound=None` and `tail_bound=None`
  remove the bounds (the floor then is float32's: log s >= -80).

  Shapes: x and y are `batch_shape + event_shape`. The `Coupling` base folds
  the batch into one dim B, and the conditioner maps x_A of shape
  `[B] + event shape of x_A` to `[B] + event_shape[:-1] + [2 * d_B]`. For a
  `num_masked` split,
  d_B is the size of x_B's last axis. For a `mask`, d_B is the event's last
  axis: the conditioner sees the masked event and predicts for every entry,
  and its outputs on the conditioning entries are ignored. The log-det has
  shape `batch_shape`.

  #### Example

  ```python
  import tensorflow_probability as tfp
  import tf_keras
  import tfp_flows

  nets = tfp_flows.nets
  tfb = tfp_flows.bijectors
  # Vectors of size 8: transform the last 4 entries given the first 4.
  layer = tfb.AffineCoupling(nets.MLP([64, 64], output_units=2 * 4),
                             num_masked=4)
  # Images [H, W, C] = [8, 8, 3] with a checkerboard mask (RealNVP).
  conditioner = tf_keras.Sequential([
      tf_keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
      tf_keras.layers.Conv2D(2 * 3, 3, padding="same",
                             kernel_initializer="zeros"),
  ])
  image_layer = tfb.AffineCoupling(
      conditioner, mask=tfb.masks.checkerboard(8, 8, 3), scale_fn="inverse_sigmoid")
  ```

  References:
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
    Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible
      1x1 Convolutions. NeurIPS. arXiv:1807.03039.
  """

  def __init__(self,
               conditioner,
               mask=None,
               num_masked=None,
               reverse=False,
               event_ndims=None,
               scale_fn="exp_tanh",
               channels=None,
               log_scale_bound="default",
               shift_bound=base.DEFAULT_SHIFT_BOUND,
               tail_bound=base.DEFAULT_SHIFT_BOUND,
               packed_checkerboard=None,
               validate_args=False,
               dtype=tf.float32,
               name="affine_coupling"):
    """See `tfp_flows.bijectors.coupling.Coupling` for the shared arguments.

    Args:
      conditioner: callable mapping x_A to the concatenation [t, h] along
        the last axis (2 * d_B entries, see the class docstring).
      mask: binary mask, 1 on the conditioning entries. Exclusive with
        `num_masked`.
      num_masked: size of x_A when splitting the last axis.
      reverse: swap the roles of the two parts.
      event_ndims: rank of the event; defaults to the mask's rank, 3 with a
        packed checkerboard, else 1.
      packed_checkerboard: 0 or 1, a checkerboard of images packed into
        half-width images instead of a mask (see `Coupling`).
      scale_fn: "exp_tanh" (RealNVP), "inverse_sigmoid" (Glow),
        "sigmoid" (tfp-flows 0.1.0's Glow; see the class docstring) or
        "soft_tanh" (MAF's, `transformers.Affine`).
      channels: d_B, the size of x_B's last axis. Given, the "exp_tanh"
        `scale_factor` variable is created here (the builders pass it, so a
        model lists all its weights before any data); else at the first call.
      log_scale_bound: B > 0: |log s| <= B for "exp_tanh", log s >= -B for
        "sigmoid", log sigmoid(h + 2) >= -B for "inverse_sigmoid" (see
        Bounds in the class docstring); "default" for
        `DEFAULT_LOG_SCALE_BOUNDS[scale_fn]`, None for no bound.
      shift_bound: S > 0, the shift is clipped to [-S, S], or None for no
        bound.
      tail_bound: T > 0: the data-to-latent map continues with slope 1
        outside |y_B| <= T (see Bounds); None for the affine map everywhere.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of inputs and outputs.
      name: name scope.

    Raises:
      ValueError: unknown `scale_fn`, a bound that is not positive and
        finite (nor None), or an invalid partition.
    """
    parameters = dict(locals())
    super().__init__(
        conditioner,
        affine.Affine(scale_fn=scale_fn, log_scale_bound=log_scale_bound,
                      shift_bound=shift_bound, tail_bound=tail_bound),
        mask=mask,
        num_masked=num_masked,
        reverse=reverse,
        event_ndims=event_ndims,
        packed_checkerboard=packed_checkerboard,
        channels=channels,
        validate_args=validate_args,
        dtype=dtype,
        parameters=parameters,
        name=name)

  @property
  def scale_fn(self):
    return self.transformer.scale_fn

  @property
  def log_scale_bound(self):
    return self.transformer.log_scale_bound

  @property
  def shift_bound(self):
    return self.transformer.shift_bound

  @property
  def tail_bound(self):
    return self.transformer.tail_bound

  @property
  def scale_factor(self):
    """The "exp_tanh" bound, shape [d_B]; None for the sigmoids or before use."""
    return getattr(self, "_scale_factor", None)
