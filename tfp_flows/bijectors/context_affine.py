"""A class-conditional prior as a bijector: y = mu(c) + sigma(c) * x."""

import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib
from tfp_flows.bijectors import base

__all__ = ["ContextAffine"]


class ContextAffine(base.AugmentedBijector):
  """y = mu(c) + exp(log_sigma(c)) * x, elementwise over vectors, from a context c.

  (mu, raw log_sigma) = W c + b, one linear map of the context (the Glow
  paper's class-conditional prior: mean and log-std from a linear map of the
  one-hot class), zero-initialised, so a new layer is the identity. As the
  last (latent-side) bijector of a flow over a standard normal base it turns
  the base into N(mu(c), sigma(c)^2): a prior conditioned on c.

    log |det dy/dx| = sum_d log_sigma_d(c).

  Bounds, as `FactorOut`'s prior: log_sigma = bound * tanh(raw / bound)
  (default 5) and mu clipped to [-S, S] (`base.DEFAULT_SHIFT_BOUND`), so
  any finite input maps to a finite output and log-det.

  Shapes: x, y [..., D]; the context is the bijector kwarg
  `conditional_input`, c [..., C] broadcasting against x's batch.

  #### Example

  ```python
  prior = tfp_flows.bijectors.ContextAffine(64, context_shape=[10])
  latents, labels = tf.random.normal([8, 64]), tf.range(8) % 10
  z = prior.inverse(latents, conditional_input=tf.one_hot(labels, 10))
  ```

  References:
    Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible
      1x1 Convolutions. NeurIPS. arXiv:1807.03039.
  """

  def __init__(self,
               event_size,
               context_shape,
               log_scale_bound=5.,
               shift_bound=base.DEFAULT_SHIFT_BOUND,
               validate_args=False,
               dtype=tf.float32,
               name="context_affine"):
    """Creates the linear map (built: its variables exist at once).

    Args:
      event_size: D.
      context_shape: [C].
      log_scale_bound: bound of |log_sigma|.
      shift_bound: S, mu is clipped to [-S, S]; None for no clip.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype.
      name: name scope.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._event_size = int(event_size)
      if self._event_size < 1:
        raise ValueError(f"`event_size` must be >= 1; got {event_size!r}.")
      self._context_shape = context_lib.as_context_shape(context_shape)
      self._log_scale_bound = base.check_bound(log_scale_bound,
                                               "log_scale_bound")
      self._shift_bound = base.check_bound(shift_bound, "shift_bound")
      self._net = tf_keras.layers.Dense(
          2 * self._event_size, kernel_initializer="zeros",
          dtype=tf.as_dtype(dtype).name, name=f"{name.rstrip('/')}_net")
      self._net.build([None, self._context_shape[0]])
      super().__init__(
          forward_min_event_ndims=1,
          is_constant_jacobian=False,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)

  @property
  def context_shape(self):
    """[C]."""
    return self._context_shape

  def _mu_and_log_sigma(self, x, conditional_input):
    c = context_lib.check_context(conditional_input, self._context_shape,
                                  batch_shape=x.shape[:-1], owner=self.name,
                                  dtype=x.dtype)
    # Dense wants rank 2; a context may come with any batch dims, none too.
    theta = self._net(tf.reshape(c, [-1, self._context_shape[0]]))
    theta = tf.reshape(tf.cast(theta, x.dtype), tf.concat(
        [tf.shape(c)[:-1], [2 * self._event_size]], 0))
    mu, raw = tf.split(theta, 2, axis=-1)
    bound = tf.cast(self._log_scale_bound, x.dtype)
    return base.clip(mu, self._shift_bound), bound * tf.tanh(raw / bound)

  def _augmented_forward(self, x, conditional_input=None):
    x = self._validate_input(x, "x", [self._event_size])
    mu, log_sigma = self._mu_and_log_sigma(x, conditional_input)
    y = mu + x * tf.exp(log_sigma)
    fldj = tf.reduce_sum(log_sigma + tf.zeros_like(x), axis=-1)
    return y, {"fldj": fldj, "ildj": -fldj}

  def _augmented_inverse(self, y, conditional_input=None):
    y = self._validate_input(y, "y", [self._event_size])
    mu, log_sigma = self._mu_and_log_sigma(y, conditional_input)
    x = (y - mu) * tf.exp(-log_sigma)
    fldj = tf.reduce_sum(log_sigma + tf.zeros_like(y), axis=-1)
    return x, {"fldj": fldj, "ildj": -fldj}
