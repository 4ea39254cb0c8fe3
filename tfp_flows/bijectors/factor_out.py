"""Multi-scale factor-out with an optional learned prior (RealNVP, Glow)."""

import tensorflow as tf

from tfp_flows.tfp_internal import ps

from tfp_flows.bijectors import base

__all__ = ["FactorOut"]


class FactorOut(base.VectorToEventShapes, base.AugmentedBijector):
  """Factors half the channels out of the flow, keeping one standard base.

  Data to latent (`inverse`), for v of shape [H, W, C] split along channels
  into the kept part h [H, W, c] and the factored-out part z [H, W, C - c]:

    eps = (z - mu(h)) * exp(-log_sigma(h))        # learned prior N(mu, sigma)
    latent = concat([inner.inverse(h), flatten(eps)])

  `inner` is the rest of the flow on h (it maps a latent vector to [H, W, c]),
  so the latent of the whole flow is one vector and the flow stays ONE
  `tfd.TransformedDistribution` over a standard normal base: the prior of z,
  N(mu(h), sigma(h)^2) (Glow's learned split prior), is this affine map to
  N(0, 1). Without `prior_net`, mu = 0 and sigma = 1 (RealNVP's factor-out).

  Latent to data (`forward`): h = inner.forward(r), z = mu(h) + sigma(h) * eps.
  log |det d(data)/d(latent)| = sum log_sigma(h) + inner's forward log-det.
  Temperature sampling scales eps, so z ~ N(mu, (T sigma)^2) as in Glow.

  Conditional flows: a `prior_net` with a `context_shape` makes the prior
  N(mu(h, c), sigma(h, c)) (it gets the bijector kwarg `conditional_input`),
  and the kwargs under "inner" go to `inner` (`wrapped_bijectors`), so the
  context reaches every conditional layer of the levels below
  (`tfp_flows.context.bijector_kwargs` builds them).

  Shapes: latent [..., D] with D = dim(inner latent) + H*W*(C - c);
  data [..., H, W, C].

  Bounds: log_sigma is soft-bounded, `bound * tanh(raw / bound)` (default
  5: sigma in (0.007, 148)), so a diverging prior network cannot overflow
  exp(), and mu is clipped to [-S, S] (`mu_bound`, default S = 1e3, exact
  inside), as `MaskedAutoregressive` clips its shift: the prior network is a
  convolution of the kept half, which far from the data can be as large as
  the input times the network's gain. Whatever the weights, |eps| <=
  (|z| + S) exp(5). In-distribution |mu| is a few units (the latents are
  standardised), so the clip changes nothing there.

  References:
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
    Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible
      1x1 Convolutions. NeurIPS. arXiv:1807.03039.
  """

  def __init__(self,
               inner,
               event_shape,
               num_kept=None,
               prior_net=None,
               log_scale_bound=5.,
               mu_bound=base.DEFAULT_SHIFT_BOUND,
               validate_args=False,
               dtype=tf.float32,
               name="factor_out"):
    """Creates the bijector.

    Args:
      inner: bijector mapping a latent vector to [H, W, num_kept] (`forward`).
      event_shape: [H, W, C], the data-side event shape.
      num_kept: c, channels kept for `inner` (default C // 2).
      prior_net: callable h [B, H, W, c] -> [B, H, W, 2 * (C - c)] giving
        (mu, raw log_sigma) along the last axis, zero-initialised so the prior
        starts as N(0, 1) (`nets.SplitPriorNet`); None for a fixed standard
        normal. Conditional when it has a `context_shape`.
      log_scale_bound: bound of |log_sigma|.
      mu_bound: S > 0, mu is clipped to [-S, S]; None for no clip.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype.
      name: name scope.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      event_shape = tf.TensorShape(event_shape)
      if event_shape.rank != 3 or not event_shape.is_fully_defined():
        raise ValueError("`event_shape` must be a fully defined [H, W, C]; "
                         f"got {event_shape}.")
      height, width, channels = event_shape.as_list()
      num_kept = channels // 2 if num_kept is None else int(num_kept)
      if not 0 < num_kept < channels:
        raise ValueError(
            f"`num_kept` must be in [1, {channels - 1}] to split {channels} "
            f"channels; got {num_kept} (a single channel cannot be split).")
      inner_latent = inner.inverse_event_shape([height, width, num_kept])
      if inner_latent.rank != 1:
        raise ValueError("`inner` must map a latent vector to [H, W, "
                         f"num_kept]; its latent shape is {inner_latent}.")
      self._inner = inner
      self._prior_net = prior_net
      self._event_shape = event_shape
      self._num_kept = num_kept
      self._inner_size = inner_latent[0]
      self._out_size = height * width * (channels - num_kept)
      self._latent_size = self._inner_size + self._out_size
      self._log_scale_bound = log_scale_bound
      self._mu_bound = base.check_bound(mu_bound, "mu_bound")
      super().__init__(
          forward_min_event_ndims=1,
          inverse_min_event_ndims=3,
          is_constant_jacobian=prior_net is None and
          inner.is_constant_jacobian,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)

  @property
  def inner(self):
    return self._inner

  @property
  def wrapped_bijectors(self):
    """{kwarg key: bijector}: kwargs["inner"] are handed to `inner`."""
    return {"inner": self._inner}

  @property
  def context_shape(self):
    """[C] when the prior is conditional, else None."""
    return getattr(self._prior_net, "context_shape", None)

  def _prior(self, h, kwargs):
    """(mu, log_sigma) of the factored-out channels given the kept ones."""
    net_kwargs = {}
    if "conditional_input" in kwargs:
      net_kwargs["conditional_input"] = kwargs["conditional_input"]
    theta = base.call_with_one_batch_dim(self._prior_net, h, 3, **net_kwargs)
    mu, raw = tf.split(theta, 2, axis=-1)
    mu = base.clip(mu, self._mu_bound)
    bound = tf.cast(self._log_scale_bound, raw.dtype)
    return mu, bound * tf.tanh(raw / bound)

  def _augmented_forward(self, latent, **kwargs):
    latent = self._validate_input(latent, "x", [self._latent_size])
    r, eps = tf.split(latent, [self._inner_size, self._out_size], axis=-1)
    batch = ps.shape(latent)[:-1]
    height, width, channels = self._event_shape.as_list()
    eps = tf.reshape(eps, ps.concat(
        [batch, [height, width, channels - self._num_kept]], 0))
    inner_kwargs = kwargs.get("inner", {})
    h = self._inner.forward(r, **inner_kwargs)
    # Same `r` tensor: the inner bijector's cache answers without rerunning.
    fldj = self._inner.forward_log_det_jacobian(r, event_ndims=1,
                                                **inner_kwargs)
    z = eps
    if self._prior_net is not None:
      mu, log_sigma = self._prior(h, kwargs)
      z = mu + eps * tf.exp(log_sigma)
      fldj = fldj + tf.reduce_sum(log_sigma, axis=[-3, -2, -1])
    return tf.concat([h, z], axis=-1), {"fldj": fldj, "ildj": -fldj}

  def _augmented_inverse(self, v, **kwargs):
    v = self._validate_input(v, "y", self._event_shape)
    h, z = tf.split(v, [self._num_kept, -1], axis=-1)
    inner_kwargs = kwargs.get("inner", {})
    r = self._inner.inverse(h, **inner_kwargs)
    ildj = self._inner.inverse_log_det_jacobian(h, event_ndims=3,
                                                **inner_kwargs)
    eps = z
    if self._prior_net is not None:
      mu, log_sigma = self._prior(h, kwargs)
      eps = (z - mu) * tf.exp(-log_sigma)
      ildj = ildj - tf.reduce_sum(log_sigma, axis=[-3, -2, -1])
    batch = ps.shape(v)[:-3]
    eps = tf.reshape(eps, ps.concat([batch, [self._out_size]], 0))
    return tf.concat([r, eps], axis=-1), {"fldj": -ildj, "ildj": ildj}
