"""A convolutional network with Lipschitz constant below 1 on periodic images: the residual branch of image residual flows."""

import math

import numpy as np
import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib
from tfp_flows.nets import lipschitz_mlp

__all__ = ["LipschitzConvNet", "circular_conv", "conv_spectral_norm"]

# Chen et al.'s image blocks: 3x3, 1x1, 3x3 convolutions.
KERNEL_SIZES = (3, 1, 3)


def circular_conv(x, kernel):
  """x [..., H, W, C_in] correlated circularly with kernel [k, k, C_in, C_out] -> [..., H, W, C_out].

  y[p, q] = sum_{a, b} x[(p + a - r) mod H, (q + b - r) mod W] K[a, b],
  r = (k - 1) / 2, k odd: the image wraps around (a torus), which makes the
  convolution's singular values those of the kernel's Fourier transform
  (`conv_spectral_norm`), exactly.
  """
  size = int(kernel.shape[0])
  if size == 1:
    return tf.tensordot(x, kernel[0, 0], 1)
  r = size // 2
  shape = tf.shape(x)
  images = tf.reshape(x, tf.concat([[-1], shape[-3:]], 0))
  images = tf.concat([images[:, -r:], images, images[:, :r]], 1)
  images = tf.concat([images[:, :, -r:], images, images[:, :, :r]], 2)
  out = tf.nn.conv2d(images, kernel, 1, "VALID")
  return tf.reshape(out, tf.concat([shape[:-1], [int(kernel.shape[-1])]], 0))


def _transposed(kernel):
  """The kernel of the adjoint circular convolution: flipped, in <-> out."""
  return tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])


def _fourier_blocks(kernel, height, width):
  """[F, 2 C_in, 2 C_out]: per frequency the real form [[Re, -Im], [Im, Re]] of K^(f).

  K^(f1, f2) = sum_{a, b} K[a, b] exp(-2 pi i (f1 (a - r) / H + f2 (b - r) / W));
  the real form's singular values are K^(f)'s, each twice.
  """
  size = int(kernel.shape[0])
  offsets = np.arange(size) - size // 2
  phase = 2 * np.pi * (
      np.arange(height)[:, None, None, None] * offsets[None, None, :, None] /
      height +
      np.arange(width)[None, :, None, None] * offsets[None, None, None, :] /
      width)  # [H, W, k, k]
  cos = tf.constant(np.cos(phase), kernel.dtype)
  sin = tf.constant(np.sin(phase), kernel.dtype)
  real = tf.einsum("hwab,abio->hwio", cos, kernel)
  imag = -tf.einsum("hwab,abio->hwio", sin, kernel)
  blocks = tf.concat([tf.concat([real, -imag], -1),
                      tf.concat([imag, real], -1)], -2)
  return tf.reshape(blocks, [height * width] + blocks.shape[-2:].as_list())


def conv_spectral_norm(kernel, height, width):
  """||circular_conv(., kernel)||_2 on H x W images, exact; differentiable in `kernel`.

  The 2-D DFT block-diagonalises a circular convolution (Sedghi et al.
  2019): its singular values are those of the C_in x C_out matrices K^(f),
  one per frequency f, so the norm is max_f sigma_max(K^(f)) (one SVD per
  frequency; for a 1x1 kernel K^ is the kernel itself). Its gradient runs
  through K, not the singular vectors (Miyato et al. 2018): the maximising
  frequency's u^T K^(f) v.
  """
  if int(kernel.shape[0]) == 1:
    blocks = kernel[0]
  else:
    blocks = _fourier_blocks(kernel, height, width)
  _, left, right = tf.linalg.svd(tf.stop_gradient(blocks))
  u, v = left[..., 0], right[..., 0]
  return tf.reduce_max(tf.einsum("fi,fio,fo->f", u, blocks, v))


class LipschitzConvNet(tf_keras.layers.Layer):
  """g(x) = K_3 * phi(K_2 * phi(K_1 * x + b_1 [+ W_c c]) + b_2) + b_3 with Lip(g) < 1, on images.

  Shapes: x [..., D] -> g(x) [..., D], D = H W C: the flattened image of
  `image_shape` [H, W, C] (so `bijectors.InvertibleResidual` treats it as
  a vector); inside, K_1 (3x3, C -> hidden_units), K_2 (1x1) and K_3 (3x3,
  -> C) are circular convolutions (`circular_conv`: the image wraps around),
  phi the 1-Lipschitz LipSwish (`nets.lipschitz_mlp.lipswish`, a slope beta
  per channel), as Chen et al.'s image blocks. Each kernel is spectrally
  normalised by the EXACT norm of its convolution on H x W images,

    K^_l = K_l / max(1, ||K_l *||_2 / coefficient),

  from the kernel's Fourier transform (`conv_spectral_norm`; with zero
  padding only bounds are known, which is why the convolutions wrap), in
  every call: a pure function of the kernels, the same in training,
  evaluation and export. Lip(g) <= coefficient^3 < 1.

  Like `nets.LipschitzMLP` it gives the Jacobian's products in closed form:
  `call` returns g(x) and the activation slopes; `jvp` (J v) runs the
  convolutions, `vjp` (w^T J) their adjoints (flipped, transposed kernels),
  and `jacobian` ([..., D, D], for the exact log-det on small images) is
  `jvp` of the D basis vectors.

  Conditional (`context_shape=[C']`): a zero-initialised linear map of c
  shifts the first layer's channels (a bias per channel, the same at every
  pixel); called as `net(x, conditional_input=c)`, c [..., C'].

  #### Example

  ```python
  net = tfp_flows.nets.LipschitzConvNet([4, 4, 4], 16)
  net.build([None, 64])
  kernels = net.normalized_kernels()
  g, slopes = net(tf.random.normal([8, 64]), kernels=kernels)
  j = net.jacobian(kernels, slopes)  # [8, 64, 64], norm < 0.97 ** 3
  ```

  References:
    Chen, R. T. Q., Behrmann, J., Duvenaud, D. & Jacobsen, J.-H. (2019).
      Residual Flows for Invertible Generative Modeling. NeurIPS.
      arXiv:1906.02735.
    Sedghi, H., Gupta, V. & Long, P. M. (2019). The Singular Values of
      Convolutional Layers. ICLR. arXiv:1805.10408.
  """

  def __init__(self, image_shape, hidden_units, coefficient=0.97,
               context_shape=None, seed=None, **kwargs):
    """Creates the layer; `build` makes the variables.

    Args:
      image_shape: [H, W, C] of the images.
      hidden_units: channels of the two hidden layers.
      coefficient: c in (0, 1), the bound on each convolution's norm.
      context_shape: [C'] for a conditional network, else None.
      seed: seed of the initial kernels (numpy; None for numpy's global
        generator, seeded by `tf_keras.utils.set_random_seed`).
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.image_shape = [int(d) for d in image_shape]
    if len(self.image_shape) != 3 or min(self.image_shape) < 1:
      raise ValueError(f"`image_shape` must be [H, W, C]; got "
                       f"{list(image_shape)!r}.")
    self.event_size = int(np.prod(self.image_shape))
    if not isinstance(hidden_units, (int, np.integer)) or hidden_units < 1:
      raise ValueError(f"`hidden_units` must be a positive integer (hidden "
                       f"channels); got {hidden_units!r}.")
    self.hidden_units = int(hidden_units)
    coefficient = float(coefficient)
    if not 0. < coefficient < 1.:
      raise ValueError(f"`coefficient` must be in (0, 1) (the bound on each "
                       f"layer's spectral norm); got {coefficient!r}.")
    self.coefficient = coefficient
    self.context_shape = context_lib.optional_context_shape(context_shape)
    self.seed = seed

  def build(self, input_shape):
    rng = np.random if self.seed is None else np.random.default_rng(self.seed)
    channels = self.image_shape[-1]
    sizes = [channels, self.hidden_units, self.hidden_units, channels]
    self.kernels, self.biases, self.beta_logits = [], [], []
    for i, size in enumerate(KERNEL_SIZES):
      fan_in, fan_out = size * size * sizes[i], size * size * sizes[i + 1]
      limit = math.sqrt(6. / (fan_in + fan_out))
      shape = [size, size, sizes[i], sizes[i + 1]]
      self.kernels.append(self.add_weight(
          f"kernel_{i}", shape, initializer=tf_keras.initializers.Constant(
              rng.uniform(-limit, limit, shape))))
      self.biases.append(self.add_weight(f"bias_{i}", [sizes[i + 1]],
                                         initializer="zeros"))
      if i < len(KERNEL_SIZES) - 1:
        self.beta_logits.append(self.add_weight(
            f"beta_logit_{i}", [sizes[i + 1]],
            initializer=tf_keras.initializers.Constant(
                lipschitz_mlp.INITIAL_BETA_LOGIT)))
    if self.context_shape is not None:
      # Zero: a new conditional block is its unconditional self.
      self.context_kernel = self.add_weight(
          "context_kernel", [self.context_shape[0], self.hidden_units],
          initializer="zeros")
    super().build(input_shape)

  def normalized_kernels(self, dtype=None):
    """The spectrally normalised kernels K^_l [k, k, in, out], cast to `dtype`."""
    height, width, _ = self.image_shape
    out = []
    for kernel in self.kernels:
      kernel = tf.cast(kernel, dtype or self.compute_dtype)
      sigma = conv_spectral_norm(kernel, height, width)
      out.append(kernel / tf.maximum(tf.ones([], kernel.dtype),
                                     sigma / self.coefficient))
    return out

  def spectral_norms(self):
    """The exact norms of the normalised convolutions (floats, each <= coefficient)."""
    height, width, _ = self.image_shape
    return [float(conv_spectral_norm(k, height, width))
            for k in self.normalized_kernels(self.dtype)]

  def _image(self, v):
    return tf.reshape(v, tf.concat([tf.shape(v)[:-1], self.image_shape], 0))

  def _flat(self, v):
    return tf.reshape(v, tf.concat([tf.shape(v)[:-3], [self.event_size]], 0))

  def call(self, x, conditional_input=None, kernels=None):
    """(g(x) [..., D], activation slopes [[..., H, W, hidden_units]] x 2).

    `kernels`: `normalized_kernels()` computed once for several calls (the
    fixed-point inverse), else computed here.
    """
    if kernels is None:
      kernels = self.normalized_kernels(x.dtype)
    slopes = []
    h = self._image(x)
    for i, kernel in enumerate(kernels):
      h = circular_conv(h, kernel) + tf.cast(self.biases[i], x.dtype)
      if i == 0:
        shift = lipschitz_mlp.context_shift(self, conditional_input,
                                            x.shape[:-1], x.dtype)
        if shift is not None:
          h = h + shift[..., None, None, :]  # the same at every pixel
      if i < len(kernels) - 1:
        beta = tf.math.softplus(tf.cast(self.beta_logits[i], x.dtype))
        h, slope = lipschitz_mlp.lipswish(h, beta)
        slopes.append(slope)
    return self._flat(h), slopes

  def jvp(self, kernels, slopes, v):
    """J v [..., D] for tangents v [..., D] (J at the call's input)."""
    v = self._image(v)
    for i, kernel in enumerate(kernels):
      v = circular_conv(v, kernel)
      if i < len(slopes):
        v = v * slopes[i]
    return self._flat(v)

  def vjp(self, kernels, slopes, w):
    """w^T J [..., D] for cotangents w [..., D]."""
    w = self._image(w)
    for i in reversed(range(len(kernels))):
      if i < len(slopes):
        w = w * slopes[i]
      w = circular_conv(w, _transposed(kernels[i]))
    return self._flat(w)

  def jacobian(self, kernels, slopes):
    """J = dg/dx [..., D, D] (row i: output i): J of each basis vector."""
    batch = tf.shape(slopes[0])[:-3]
    basis = tf.reshape(tf.eye(self.event_size, dtype=slopes[0].dtype),
                       tf.concat([[self.event_size],
                                  tf.ones_like(batch), [self.event_size]], 0))
    basis = tf.broadcast_to(basis, tf.concat(
        [[self.event_size], batch, [self.event_size]], 0))
    columns = self.jvp(kernels, slopes, basis)  # [D_in, ..., D_out]
    rank = len(slopes[0].shape) - 3 + 2
    return tf.transpose(columns, list(range(1, rank)) + [0])

  def get_config(self):
    config = super().get_config()
    config.update(image_shape=self.image_shape,
                  hidden_units=self.hidden_units,
                  coefficient=self.coefficient,
                  context_shape=context_lib.shape_config(self.context_shape),
                  seed=self.seed)
    return config
