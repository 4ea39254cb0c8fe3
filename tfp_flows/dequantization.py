"""Uniform and variational (Flow++) dequantization, and their bits/dim.

A flow is a density p on [0, 1)^D; the data are pixels k in {0..K-1}^D. The
flow defines the discrete model (Theis et al. 2016; Ho et al. 2019, sec. 3.1)

  P(k) = integral over u in [0, 1)^D of p((k + u) / K) K^-D du.

For any density q(u | k) on the unit cube (the dequantizer),

  log P(k) = log E_q[p((k + u) / K) / q(u | k)] - D log K
          >= E_q[log p((k + u) / K) - log q(u | k)] - D log K    (Jensen),

and log of the mean over S samples u_1..u_S ~ q of p / q gives the tighter
importance-weighted bound, which tends to log P(k) + D log K as S grows. So
with the per-example bound L(k) = log p((k + u) / K) - log q(u | k) (nats),

  bits/dim = -log2 P(k) / D <= (-E[L] + D log K) / (D ln 2)
           = `tfp_flows.bits_per_dim(-E[L], D, K)`,

the same formula `FlowModel` reports. Equivalently, with the noise scaled to
the data, v = u / K in [0, 1/K)^D with density q_v = K^D q: the "ELBO in
[0, 1) space" E[log p(k/K + v) - log q_v(v)] equals E[L] - D log K, and
bits/dim <= -(that ELBO) / (D ln 2).

* Uniform dequantization: q = 1 on the unit cube, log q = 0, so L is the
  plain log-density of uniformly dequantized data, exactly what
  `FlowModel` on `tfp_flows.data.load(dequantize=True)` computes. It is the
  default (`UniformDequantizer`).
* Variational dequantization: u = sigmoid(f(eps; k)), eps ~ N(0, I), f a
  conditional flow (`VariationalDequantizer`); log q(u | k) = log N(eps) -
  log |det df/deps| - sum log sigmoid'(f), trained jointly with p by
  maximising E[L].

`tfp_flows.FlowModel(flow, dequantizer=q, num_levels=K)` trains either on
bin-centre batches (`data.load(..., dequantize=False)`, x = (k + 0.5) / K;
it recovers k / K = x - 0.5 / K);
`tfp_flows.evaluation.importance_weighted_bits_per_dim` evaluates with S
samples (Flow++ used 4096). A conditional flow's context
reaches a conditional dequantizer q(u | k, c) too.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.bijectors import masks
from tfp_flows.bijectors.invertible_conv1x1 import InvertibleConv1x1
from tfp_flows.bijectors.logistic_mixture_coupling import \
    LogisticMixtureCoupling
from tfp_flows.nets.gated_attention import GatedAttentionNet

__all__ = ["UniformDequantizer", "VariationalDequantizer"]


def _event_axes(event_shape):
  return list(range(-len(event_shape), 0))


class UniformDequantizer(tf.Module):
  """q(u | k) = 1 on [0, 1)^D: u ~ U[0, 1)^D, log q = 0.

  References:
    Theis, L., van den Oord, A. & Bethge, M. (2016). A note on the evaluation of
      generative models. ICLR. arXiv:1511.01844.
  """

  def __init__(self, event_shape, dtype=tf.float32, name="uniform_dequantizer"):
    super().__init__(name=name)
    self.event_shape = tf.TensorShape(event_shape)
    self.dtype = tf.as_dtype(dtype)

  context_shape = None  # Unconditional: q(u | k, c) = q(u | k) = 1.

  def sample_and_log_prob(self, x, seed=None, context=None):
    """(u, log q(u | x)) for scaled pixels x = k / K of shape [B, *event].

    `context` must be None (this q does not depend on one).
    """
    if context is not None:
      raise ValueError("UniformDequantizer is not conditional: `context` must "
                       "be None.")
    u = tf.random.stateless_uniform(tf.shape(x), tfp.random.sanitize_seed(seed),
                                    dtype=self.dtype)
    batch = tf.shape(x)[:tf.rank(x) - self.event_shape.rank]
    return u, tf.zeros(batch, self.dtype)


class VariationalDequantizer(tf_keras.layers.Layer):
  """Flow++'s variational dequantizer q(u | k): u = sigmoid(f(eps; k)).

  eps ~ N(0, I) of the image's shape [H, W, C] goes through `num_steps` steps

    InvertibleConv1x1 -> LogisticMixtureCoupling (checkerboard, alternating)

  in their `forward` (analytic, no root finding) direction, then a sigmoid.
  Every coupling's conditioner (`GatedAttentionNet`) sees the masked eps and,
  in each block, the features h(k) = feature_net(k / K - 0.5) of the
  data (a gated convolutional network without attention, as in the paper).
  Hence

    log q(u | k) = sum log N(eps; 0, 1) - sum_steps log |det J_step|
                   - sum (log sigmoid(f) + log sigmoid(-f)).

  Flow++ (CIFAR-10) uses 4 steps, 96 filters, 2 blocks, 32 components and a
  context network of 3 gated blocks with 32 channels. Its steps also hold an
  ActNorm, left out here: on N(0, I) noise its data-dependent init is about
  the identity, and each coupling's a and b already scale and shift.

  References:
    Ho, J., Chen, X., Srinivas, A., Duan, Y. & Abbeel, P. (2019). Flow++:
      Improving Flow-Based Generative Models with Variational Dequantization and
      Architecture Design. ICML. arXiv:1902.00275.
  """

  def __init__(self,
               event_shape,
               num_steps=2,
               filters=8,
               num_blocks=1,
               num_heads=2,
               num_components=4,
               feature_filters=8,
               feature_blocks=1,
               dropout=0.,
               context_shape=None,
               **kwargs):
    """Creates and builds every layer.

    Args:
      event_shape: [H, W, C] of the images.
      num_steps: conv1x1 + coupling steps of f.
      filters: width of the coupling conditioners.
      num_blocks: blocks per coupling conditioner.
      num_heads: attention heads in the coupling conditioners (0: none).
      num_components: K of the logistic mixtures.
      feature_filters: width, and output channels, of the feature network.
      feature_blocks: gated residual blocks of the feature network.
      context_shape: [C] for q(u | k, c), conditional on the flow's context
        (the feature network takes it), else None.
      dropout: dropout rate of every network (training only).
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    shape = [int(d) for d in event_shape]
    if len(shape) != 3:
      raise ValueError(f"`event_shape` must be [H, W, C]; got {event_shape}.")
    if num_steps < 1:
      raise ValueError(f"`num_steps` must be >= 1; got {num_steps}.")
    self.event_shape = tf.TensorShape(shape)
    height, width, channels = shape
    self.feature_net = GatedAttentionNet(
        feature_filters, feature_filters, num_blocks=feature_blocks,
        num_heads=0, dropout=dropout, zero_init_output=False,
        dtype=self.dtype, context_shape=context_shape,
        name="feature_net")
    self.feature_net.build([None, height, width, channels])
    size = 3 * num_components + 2
    self.steps = []
    for i in range(num_steps):
      net = GatedAttentionNet(
          filters, size * channels, num_blocks=num_blocks, num_heads=num_heads,
          dropout=dropout, feature_channels=feature_filters, dtype=self.dtype,
          name=f"step{i}_net")
      net.build([None, height, width, channels])
      self.steps += [
          InvertibleConv1x1(channels, seed=i, dtype=self.dtype,
                            name=f"step{i}_conv1x1"),
          LogisticMixtureCoupling(
              net, num_components=num_components,
              mask=masks.checkerboard(height, width, channels, parity=i % 2),
              dtype=self.dtype, name=f"step{i}_coupling"),
      ]

  def _flow(self, eps, x, context=None):
    """u = sigmoid(f(eps; x, c)) and log |det du/deps|, per example."""
    features = self.feature_net(x - 0.5, conditional_input=context)
    log_det = 0.
    h = eps
    for step in self.steps:
      kwargs = {"features": features} if isinstance(
          step, LogisticMixtureCoupling) else {}
      # The log-det reads the attributes cached by this forward call.
      out = step.forward(h, **kwargs)
      log_det += step.forward_log_det_jacobian(h, event_ndims=3, **kwargs)
      h = out
    log_det -= tf.reduce_sum(tf.math.softplus(h) + tf.math.softplus(-h),
                             axis=_event_axes(self.event_shape))
    return tf.sigmoid(h), log_det

  def call(self, x, seed=None, context=None):
    """See `sample_and_log_prob`."""
    eps = tf.random.stateless_normal(tf.shape(x),
                                     tfp.random.sanitize_seed(seed),
                                     dtype=self.dtype)
    log_normal = tf.reduce_sum(
        -0.5 * tf.square(eps) - 0.5 * math.log(2 * math.pi),
        axis=_event_axes(self.event_shape))
    u, log_det = self._flow(eps, x, context)
    return u, log_normal - log_det

  @property
  def context_shape(self):
    """[C] when q is conditional on the flow's context, else None."""
    return self.feature_net.context_shape

  def sample_and_log_prob(self, x, seed=None, context=None):
    """Draws u ~ q(. | k, c) and returns (u, log q(u | k, c)).

    Args:
      x: scaled pixels k / K, [B, H, W, C].
      seed: TFP seed (int or stateless pair); None draws a fresh one.
      context: c [B, C] when `context_shape` is set, else None.

    Returns:
      u in (0, 1) of x's shape and log q(u | k) of shape [B] (density on the
      unit cube, the sigmoid's log-det included).
    """
    return self(x, seed=seed, context=context)
