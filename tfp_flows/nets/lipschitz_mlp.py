"""A fully connected network with Lipschitz constant below 1: the residual branch of i-ResNets and Residual Flows."""

import math

import numpy as np
import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib

__all__ = ["LipschitzMLP", "lipswish"]

# Slopes of swish z sigmoid(b z) lie in [-0.0998, 1.0998] for every b > 0, so
# dividing by 1.1 makes LipSwish 1-Lipschitz (Chen et al. 2019, section 4.3).
_LIPSWISH_SCALE = 1.1
# softplus(0.5413) = 1: LipSwish starts as swish(z) / 1.1.
INITIAL_BETA_LOGIT = 0.5413


def lipswish(z, beta):
  """(phi(z), phi'(z)) for phi(z) = z sigmoid(beta z) / 1.1, beta > 0.

  phi'(z) = (s + beta z s (1 - s)) / 1.1 with s = sigmoid(beta z), in
  (-0.091, 1): the activation is 1-Lipschitz and, unlike ReLU, its slope is
  smooth, so the log-det's gradient (which differentiates the slope) is too.
  """
  s = tf.sigmoid(beta * z)
  return (z * s / _LIPSWISH_SCALE,
          (s + beta * z * s * (1. - s)) / _LIPSWISH_SCALE)


def context_shift(layer, conditional_input, batch_shape, dtype):
  """c W_c [..., H] for a conditional `layer`, else None (no context allowed).

  `layer` has `context_shape` and, when conditional, a `context_kernel`
  [C, H]; c [..., C] is checked against `batch_shape`.
  """
  if layer.context_shape is None:
    if conditional_input is not None:
      raise ValueError(
          f"{layer.name} is not conditional (built without `context_shape`); "
          f"got a `{context_lib.ARG}` of shape "
          f"{context_lib.shape_of(conditional_input)}.")
    return None
  c = context_lib.check_context(conditional_input, layer.context_shape,
                                batch_shape=batch_shape, owner=layer.name,
                                dtype=dtype)
  return tf.tensordot(c, tf.cast(layer.context_kernel, dtype), 1)


def _normalized(v):
  tiny = np.finfo(v.dtype.as_numpy_dtype).tiny
  return v / tf.maximum(tf.norm(v), tf.sqrt(tf.constant(tiny, v.dtype)))


def _refreshed_on_backward(kernel, state, value):
  """`kernel` unchanged; its backward pass stores `value` in `state`.

  Power iteration advances by one training step's worth each time the
  kernel gets a gradient (a training step), and only then: `log_prob`,
  `sample` and evaluation read the state without changing it, so the
  network is a pure function of its variables between training steps (a
  round trip or two `log_prob` calls agree to the bit).
  """

  @tf.custom_gradient
  def identity(k):

    def gradient(upstream):
      with tf.control_dependencies(
          [state.assign(tf.cast(tf.stop_gradient(value), state.dtype))]):
        return tf.identity(upstream)

    return tf.identity(k), gradient

  return identity(kernel)


class LipschitzMLP(tf_keras.layers.Layer):
  """g(x) = K_L^T phi(... phi(K_1^T x + b_1 [+ W_c c]) ...) + b_L with Lip(g) < 1.

  Shapes: x [..., D] -> g(x) [..., D]; `hidden_units` [H_1, ..., H_{L-1}].
  Each kernel K_l is spectrally normalised (Miyato et al. 2018):

    K^_l = K_l / max(1, sigma_l / coefficient),

  sigma_l the largest singular value of K_l: by default exact, from an SVD
  of the kernel in each call (a pure function of the kernels, the same in
  training, evaluation and export; cheap for the kernels of vector flows);
  with `power_iterations=n`, n steps of power iteration per call from a
  stored vector u_l, which advances in every backward pass through the
  kernels (`_refreshed_on_backward`) and starts at the exact singular
  vector: no SVD per call, and sigma_l is then an estimate from
  below, so the bound holds to the iteration's convergence. With
  the 1-Lipschitz LipSwish activation phi (`lipswish`, a slope beta per
  hidden unit), Lip(g) <= prod_l ||K^_l|| <= coefficient^L < 1, what a
  residual block x + g(x) needs to be invertible (Behrmann et al. 2019).

  Besides g(x) the network gives J = dg/dx in closed form, so the residual
  block needs no nested gradient tapes: `call` returns g(x) and the
  activation slopes, from which `jvp` (J v), `vjp` (w^T J) and `jacobian`
  ([..., D, D]) follow by products with the kernels.

  Conditional (`context_shape=[C]`): c enters the first layer through an
  unconstrained linear map W_c (Lipschitz in x is what invertibility
  needs; c is fixed during one inversion); called as
  `net(x, conditional_input=c)` with c [..., C].

  #### Example

  ```python
  net = tfp_flows.nets.LipschitzMLP(2, [64, 64], coefficient=0.97)
  net.build([None, 2])
  kernels = net.normalized_kernels()
  g, slopes = net(tf.random.normal([8, 2]), kernels=kernels)
  j = net.jacobian(kernels, slopes)  # [8, 2, 2], spectral norm < 0.97 ** 3
  ```

  References:
    Miyato, T., Kataoka, T., Koyama, M. & Yoshida, Y. (2018). Spectral
      Normalization for Generative Adversarial Networks. ICLR.
      arXiv:1802.05957.
    Chen, R. T. Q., Behrmann, J., Duvenaud, D. & Jacobsen, J.-H. (2019).
      Residual Flows for Invertible Generative Modeling. NeurIPS.
      arXiv:1906.02735.
  """

  def __init__(self, event_size, hidden_units, coefficient=0.97,
               power_iterations=None, context_shape=None, seed=None,
               **kwargs):
    """Creates the layer; `build` makes the variables.

    Args:
      event_size: D, the input and output size.
      hidden_units: hidden sizes [H_1, ...], at least one.
      coefficient: c in (0, 1), the bound on each kernel's spectral norm.
      power_iterations: None for exact spectral norms (SVD), or the
        power-iteration steps per call (from the stored vector, which each
        backward pass advances).
      context_shape: [C] for a conditional network, else None.
      seed: seed of the initial kernels (numpy; None for numpy's global
        generator, seeded by `tf_keras.utils.set_random_seed`).
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.event_size = int(event_size)
    self.hidden_units = [int(u) for u in hidden_units]
    if not self.hidden_units or min(self.hidden_units) < 1:
      raise ValueError(f"`hidden_units` must be one or more positive sizes; "
                       f"got {hidden_units!r}.")
    coefficient = float(coefficient)
    if not 0. < coefficient < 1.:
      raise ValueError(f"`coefficient` must be in (0, 1) (the bound on each "
                       f"layer's spectral norm); got {coefficient!r}.")
    self.coefficient = coefficient
    if power_iterations is not None and (
        int(power_iterations) != power_iterations or power_iterations < 1):
      raise ValueError(f"`power_iterations` must be a positive integer or "
                       f"None (exact, by SVD); got {power_iterations!r}.")
    self.power_iterations = (None if power_iterations is None else
                             int(power_iterations))
    self.context_shape = context_lib.optional_context_shape(context_shape)
    self.seed = seed

  def build(self, input_shape):
    rng = np.random if self.seed is None else np.random.default_rng(self.seed)
    sizes = [self.event_size] + self.hidden_units + [self.event_size]
    self.kernels, self.biases, self.states, self.beta_logits = [], [], [], []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
      limit = math.sqrt(6. / (fan_in + fan_out))
      kernel = rng.uniform(-limit, limit, [fan_in, fan_out])
      self.kernels.append(self.add_weight(
          f"kernel_{i}", [fan_in, fan_out],
          initializer=tf_keras.initializers.Constant(kernel)))
      self.biases.append(self.add_weight(f"bias_{i}", [fan_out],
                                         initializer="zeros"))
      if self.power_iterations is not None:
        # Power iteration starts at the exact top right singular vector, so
        # the first steps already normalise by the true spectral norm.
        top = np.linalg.svd(kernel)[2][0]
        self.states.append(self.add_weight(
            f"power_iteration_{i}", [fan_out], trainable=False,
            initializer=tf_keras.initializers.Constant(top),
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA))
      if i < len(self.hidden_units):
        self.beta_logits.append(self.add_weight(
            f"beta_logit_{i}", [fan_out],
            initializer=tf_keras.initializers.Constant(INITIAL_BETA_LOGIT)))
    if self.context_shape is not None:
      # Zero: a new conditional block is its unconditional self.
      self.context_kernel = self.add_weight(
          "context_kernel", [self.context_shape[0], self.hidden_units[0]],
          initializer="zeros")
    super().build(input_shape)

  def _spectral_norm(self, kernel, state):
    """(sigma, the advanced state or None) of one kernel [in, out]."""
    k = tf.stop_gradient(kernel)
    if state is None:
      _, left, right = tf.linalg.svd(k)
      v, u = left[:, 0], right[:, 0]
    else:
      u = tf.stop_gradient(tf.cast(state, kernel.dtype))
      for _ in range(self.power_iterations):
        v = _normalized(tf.linalg.matvec(k, u))
        u = _normalized(tf.linalg.matvec(k, v, transpose_a=True))
    # Gradient through the kernel, not the singular vectors (Miyato et al.).
    return tf.reduce_sum(v * tf.linalg.matvec(kernel, u)), (
        None if state is None else u)

  def normalized_kernels(self, dtype=None):
    """The spectrally normalised kernels K^_l [in, out], cast to `dtype`."""
    out = []
    for i, kernel in enumerate(self.kernels):
      state = self.states[i] if self.states else None
      kernel = tf.cast(kernel, dtype or self.compute_dtype)
      sigma, advanced = self._spectral_norm(kernel, state)
      if state is not None:
        kernel = _refreshed_on_backward(kernel, state, advanced)
      out.append(kernel / tf.maximum(tf.ones([], kernel.dtype),
                                     sigma / self.coefficient))
    return out

  def spectral_norms(self):
    """The exact (SVD) spectral norms of the normalised kernels (floats)."""
    return [float(np.linalg.svd(k.numpy(), compute_uv=False)[0])
            for k in self.normalized_kernels(self.dtype)]

  def call(self, x, conditional_input=None, kernels=None):
    """(g(x) [..., D], activation slopes [[..., H_l] per hidden layer]).

    `kernels`: `normalized_kernels()` computed once for several calls (the
    fixed-point inverse), else computed here.
    """
    if kernels is None:
      kernels = self.normalized_kernels(x.dtype)
    slopes = []
    h = x
    for i, kernel in enumerate(kernels):
      h = tf.tensordot(h, kernel, 1) + tf.cast(self.biases[i], x.dtype)
      if i == 0:
        shift = context_shift(self, conditional_input, x.shape[:-1], x.dtype)
        if shift is not None:
          h = h + shift
      if i < len(self.hidden_units):
        beta = tf.math.softplus(tf.cast(self.beta_logits[i], x.dtype))
        h, slope = lipswish(h, beta)
        slopes.append(slope)
    return h, slopes

  @staticmethod
  def jvp(kernels, slopes, v):
    """J v [..., D] for tangents v [..., D] (J at the call's input)."""
    for i, kernel in enumerate(kernels):
      v = tf.tensordot(v, kernel, 1)
      if i < len(slopes):
        v = v * slopes[i]
    return v

  @staticmethod
  def vjp(kernels, slopes, w):
    """w^T J [..., D] for cotangents w [..., D]."""
    for i in reversed(range(len(kernels))):
      if i < len(slopes):
        w = w * slopes[i]
      w = tf.tensordot(w, tf.transpose(kernels[i]), 1)
    return w

  @staticmethod
  def jacobian(kernels, slopes):
    """J = dg/dx [..., D, D] (row i: output i), by products of the kernels."""
    m = tf.transpose(kernels[0])  # [H_1, D]
    for i, kernel in enumerate(kernels[1:]):
      m = tf.einsum("io,...id->...od", kernel, slopes[i][..., None] * m)
    return m

  def get_config(self):
    config = super().get_config()
    config.update(event_size=self.event_size, hidden_units=self.hidden_units,
                  coefficient=self.coefficient,
                  power_iterations=self.power_iterations,
                  context_shape=context_lib.shape_config(self.context_shape),
                  seed=self.seed)
    return config
