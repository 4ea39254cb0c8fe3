"""Flow++'s conditioner: gated residual convolutions and self-attention."""

import math

import tensorflow as tf
import tf_keras

from tfp_flows.bijectors import _context as context_lib
from tfp_flows.nets import context_bias

__all__ = ["GatedAttentionNet", "concat_elu"]


def concat_elu(x):
  """elu([x, -x]) along the last axis: twice the channels, both signs kept."""
  return tf.nn.elu(tf.concat([x, -x], axis=-1))


def _gate(h):
  """Gated linear unit: first half * sigmoid(second half), last axis."""
  value, gate = tf.split(h, 2, axis=-1)
  return value * tf.sigmoid(gate)


class GatedAttentionNet(tf_keras.layers.Layer):
  """h = Conv3x3_zero(B_n(... B_1(Conv3x3(x)))), the conditioner of Flow++.

  Each block (Ho et al. 2019, section 3.3; their `ConvAttnBlock`) is

    u = LayerNorm(u + GLU(Conv1x1(Dropout(concat_elu(
                     Conv3x3(concat_elu(u)) + Conv1x1(concat_elu(features)))))))
    u = LayerNorm(u + GLU(Conv1x1(Dropout(MultiHeadSelfAttention(u + P)))))

  with GLU(v) = v_1 * sigmoid(v_2) over the two halves of the channels,
  concat_elu(v) = elu([v, -v]), P a learned positional embedding [H, W, F]
  and self-attention over the H * W spatial positions (`num_heads` heads of
  F / num_heads channels, scaled dot products). The features term is present
  only when `feature_channels > 0` (Flow++'s dequantizer conditions every
  block on features of the data this way). `num_heads=0` leaves attention
  out (the paper's context network).

  The output convolution starts at zero (kernel and bias), so a new coupling
  starts at its zero-parameter map (the identity for affine couplings).

  Dropout acts only in training: the `training` argument, or inside a
  tf_keras model called with `training=True` (FlowModel's `fit`), whose flag
  Keras passes down to every layer called within, conditioners included.

  Conditional (`context_shape=[C]`, called `net(x, conditional_input=c)`,
  c [B, C] or [C]): a linear map of c is added to the residual stream after
  the first convolution (`ContextBias`), as in the other conditional nets.

  Shapes: x [B, H, W, C_in] and features [B, H, W, feature_channels] ->
  h [B, H, W, output_channels]. H and W must be static when attention is on
  (they size P). The paper's CIFAR-10 setting is filters=96, num_blocks=10,
  num_heads=4, dropout=0.2.

  References:
    Ho, J., Chen, X., Srinivas, A., Duan, Y. & Abbeel, P. (2019). Flow++:
      Improving Flow-Based Generative Models with Variational Dequantization and
      Architecture Design. ICML. arXiv:1902.00275.
    Salimans, T., Karpathy, A., Chen, X. & Kingma, D. P. (2017). PixelCNN++:
      Improving the PixelCNN with Discretized Logistic Mixture Likelihood and
      Other Modifications. ICLR. arXiv:1701.05517.
    Vaswani, A. et al. (2017). Attention Is All You Need. NeurIPS.
      arXiv:1706.03762.
  """

  def __init__(self,
               filters,
               output_channels,
               num_blocks=2,
               num_heads=4,
               dropout=0.,
               feature_channels=0,
               zero_init_output=True,
               context_shape=None,
               **kwargs):
    """Creates the layers.

    Args:
      filters: F, width of the residual stream.
      output_channels: channels of h.
      num_blocks: gated residual (+ attention) blocks.
      num_heads: attention heads, dividing `filters`; 0 for no attention.
      dropout: dropout rate inside the blocks, in [0, 1).
      feature_channels: channels of the optional `features` input (a map
        of the same height and width as x); 0 for none.
      zero_init_output: zero-initialise the output convolution.
      context_shape: [C] for a conditional network, else None.
      **kwargs: tf_keras layer arguments (`name`, `dtype`).

    Raises:
      ValueError: non-positive sizes, `num_heads` not dividing `filters`, or a
        dropout rate outside [0, 1).
    """
    super().__init__(**kwargs)
    for arg, value, least in (("filters", filters, 1),
                              ("output_channels", output_channels, 1),
                              ("num_blocks", num_blocks, 0),
                              ("num_heads", num_heads, 0),
                              ("feature_channels", feature_channels, 0)):
      if int(value) != value or value < least:
        raise ValueError(
            f"`{arg}` must be an integer >= {least}; got {value!r}.")
    if num_heads and filters % num_heads:
      raise ValueError(f"`num_heads` ({num_heads}) must divide `filters` "
                       f"({filters}).")
    if not 0. <= dropout < 1.:
      raise ValueError(f"`dropout` must be in [0, 1); got {dropout!r}.")
    self.filters = int(filters)
    self.output_channels = int(output_channels)
    self.num_blocks = int(num_blocks)
    self.num_heads = int(num_heads)
    self.dropout = float(dropout)
    self.feature_channels = int(feature_channels)
    self.zero_init_output = bool(zero_init_output)
    f = self.filters
    conv = tf_keras.layers.Conv2D
    dense = tf_keras.layers.Dense
    # The policy, not `self.dtype` (its variable dtype): under a mixed
    # precision policy the sub-layers then compute in half precision too.
    policy = self.dtype_policy
    self.conv_in = conv(f, 3, padding="same", dtype=policy, name="conv_in")
    self.blocks = []
    for i in range(self.num_blocks):
      block = dict(
          conv=conv(f, 3, padding="same", dtype=policy,
                    name=f"block{i}_conv"),
          gate=dense(2 * f, dtype=policy, name=f"block{i}_conv_gate"),
          norm=tf_keras.layers.LayerNormalization(
              epsilon=1e-5, dtype=policy, name=f"block{i}_conv_norm"),
          dropout=tf_keras.layers.Dropout(self.dropout, dtype=policy))
      if self.feature_channels:
        block["features"] = dense(f, dtype=policy, name=f"block{i}_features")
      if self.num_heads:
        block.update(
            qkv=dense(3 * f, dtype=policy, name=f"block{i}_qkv"),
            attention_gate=dense(2 * f, dtype=policy,
                                 name=f"block{i}_attention_gate"),
            attention_norm=tf_keras.layers.LayerNormalization(
                epsilon=1e-5, dtype=policy,
                name=f"block{i}_attention_norm"))
      self.blocks.append(block)
    init = "zeros" if self.zero_init_output else "glorot_uniform"
    self.conv_out = conv(self.output_channels, 3, padding="same",
                         kernel_initializer=init, dtype=policy,
                         name="conv_out")
    self.positions = None
    self.context_shape, self.context_bias = context_bias.for_context(
        context_shape, f, policy)

  def build(self, input_shape):
    # Creates every variable up front (see MLP.build).
    input_shape = tf.TensorShape(input_shape)
    f = self.filters
    hidden = tf.TensorShape([None, None, None, f])
    self.conv_in.build(tf.TensorShape([None, None, None, input_shape[-1]]))
    for block in self.blocks:
      block["conv"].build(tf.TensorShape([None, None, None, 2 * f]))
      block["gate"].build(tf.TensorShape([None, 2 * f]))
      block["norm"].build(hidden)
      if self.feature_channels:
        block["features"].build(
            tf.TensorShape([None, 2 * self.feature_channels]))
      if self.num_heads:
        block["qkv"].build(tf.TensorShape([None, f]))
        block["attention_gate"].build(tf.TensorShape([None, f]))
        block["attention_norm"].build(hidden)
    if self.num_heads and self.num_blocks:
      height, width = input_shape[1], input_shape[2]
      if height is None or width is None:
        raise ValueError(
            f"{self.name}: attention needs a static height and width to size "
            f"its positional embedding; got input shape {input_shape}.")
      self.positions = self.add_weight(
          name="positions", shape=[height, width, f],
          initializer=tf_keras.initializers.RandomNormal(stddev=0.01),
          dtype=self.dtype)
    self.conv_out.build(hidden)
    super().build(input_shape)

  def _attention(self, block, h, training):
    """Gated multi-head self-attention over the spatial positions of h."""
    shape = tf.shape(h)
    f, heads = self.filters, self.num_heads
    qkv = block["qkv"](tf.reshape(h + self.positions, [-1, f]))
    # [B, T, 3, heads, d] -> [3, B, heads, T, d], T = H * W positions.
    qkv = tf.reshape(qkv, [shape[0], -1, 3, heads, f // heads])
    q, k, v = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4]))
    logits = tf.matmul(q, k, transpose_b=True) / math.sqrt(f // heads)
    out = tf.matmul(tf.nn.softmax(logits), v)
    out = tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [-1, f])
    out = block["attention_gate"](block["dropout"](out, training=training))
    return h + tf.reshape(_gate(out), shape)

  def call(self, x, features=None, conditional_input=None, training=None):
    """h = net(x; features, c): [B, H, W, C_in] -> [B, H, W, output_channels]."""
    if self.feature_channels and features is None:
      raise ValueError(f"{self.name} was built with feature_channels="
                       f"{self.feature_channels}: pass `features`.")
    if features is not None and not self.feature_channels:
      raise ValueError(f"{self.name} takes no `features` (feature_channels=0).")
    c = context_lib.net_context(self, x, conditional_input)
    f = self.filters
    h = self.conv_in(x)
    if c is not None:
      h = self.context_bias(h, c)
    shape = tf.shape(h)
    for block in self.blocks:
      c = block["conv"](concat_elu(h))
      if self.feature_channels:
        projected = block["features"](
            tf.reshape(concat_elu(features), [-1, 2 * self.feature_channels]))
        c = c + tf.reshape(projected, shape)
      c = block["dropout"](concat_elu(c), training=training)
      c = block["gate"](tf.reshape(c, [-1, 2 * f]))
      h = block["norm"](h + tf.reshape(_gate(c), shape))
      if self.num_heads:
        h = block["attention_norm"](self._attention(block, h, training))
    return self.conv_out(h)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, output_channels=self.output_channels,
                  num_blocks=self.num_blocks, num_heads=self.num_heads,
                  dropout=self.dropout, feature_channels=self.feature_channels,
                  zero_init_output=self.zero_init_output,
                  context_shape=context_lib.shape_config(self.context_shape))
    return config
