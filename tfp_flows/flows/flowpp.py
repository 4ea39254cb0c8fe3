"""Flow++ (Ho et al. 2019) as a `tfd.TransformedDistribution`."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.bijectors import masks
from tfp_flows.bijectors.logistic_mixture_coupling import \
    LogisticMixtureCoupling
from tfp_flows.flows import build_config
from tfp_flows.flows import priors
from tfp_flows.flows import shapes as shapes_lib
from tfp_flows.nets.gated_attention import GatedAttentionNet

tfb = tfp.bijectors

__all__ = ["flowpp"]


def _step(shape, net_args, num_components, common, name, **partition):
  """[ActNorm, InvertibleConv1x1, Invert(mixture coupling)] in Chain order.

  Chain's inverse (data -> latent) applies them left to right, and the
  coupling's analytic direction: `log_prob` never root-finds, `sample` does.
  """
  h, w, c = shape
  if "mask" in partition:
    seen, changed = c, c
  else:
    seen, changed = partition["num_masked"], c - partition["num_masked"]
  net = GatedAttentionNet(output_channels=(3 * num_components + 2) * changed,
                          dtype=nets.layer_dtype(common["dtype"]),
                          name=f"{name}_net", **net_args)
  net.build([None, h, w, seen])
  coupling = LogisticMixtureCoupling(net, num_components=num_components,
                                     event_ndims=3, name=f"{name}_coupling",
                                     **partition, **common)
  return [
      flow_bijectors.ActNorm(c, name=f"{name}_actnorm", **common),
      flow_bijectors.InvertibleConv1x1(c, name=f"{name}_conv1x1", **common),
      tfb.Invert(coupling, validate_args=common["validate_args"]),
  ]


def _checkerboard_steps(shape, count, net_args, num_components, common,
                        prefix):
  h, w, c = shape
  return sum((_step(shape, net_args, num_components, common, f"{prefix}{i}",
                    mask=masks.checkerboard(h, w, c, parity=i % 2))
              for i in range(count)), [])


@build_config.records
def flowpp(event_shape,
           *,
           num_scales=1,
           hidden_units=8,
           checkerboard_steps=2,
           channel_steps=2,
           final_steps=2,
           num_blocks=1,
           num_heads=4,
           num_components=4,
           dropout=0.,
           alpha=0.05,
           context_shape=None,
           prior="gaussian",
           validate_args=False,
           dtype=tf.float32,
           name="flowpp"):
  """Builds Flow++'s flow over images in [0, 1), a miniature by default.

  Data to latent: Flow++'s logit preprocessing u = logit(alpha + (1 - 2 alpha)
  x) (`bijectors.Logit`, the paper's ImgProc with alpha = 0.05; its log-det
  counts). Chosen over Glow's x - 0.5: it is the paper's, it gives the
  couplings the unbounded domain their mixtures live on, and its margin
  keeps x = 1 finite (a float32 sigmoid in the variational dequantizer can
  round u up to 1). Then per level

    `checkerboard_steps` steps with checkerboard masks (alternating) ->
    squeeze -> `channel_steps` steps with channel splits (alternating) ->
    factor out half the channels (all levels but the last),

  then `final_steps` checkerboard steps. A step is ActNorm -> invertible 1x1
  convolution -> `LogisticMixtureCoupling` whose conditioner is a
  `GatedAttentionNet` (gated convolutions and self-attention). The latent is
  one vector under a standard normal (factored-out parts included, as
  `FactorOut` arranges).

  The default miniature has 27,946 parameters on [8, 8, 1] digits, Glow's
  budget there (29,980). The paper's CIFAR-10 model (3.08 bits/dim;
  31,443,440 parameters there, 31,703,704 here with the dequantizer) is one
  level with 4 / 2 / 3 steps, trained with a variational dequantizer:

    dist = flowpp([32, 32, 3], num_scales=1, hidden_units=96,
                  checkerboard_steps=4, channel_steps=2, final_steps=3,
                  num_blocks=10, num_heads=4, num_components=32, dropout=0.2)
    dequantizer = dequantization.VariationalDequantizer(
        [32, 32, 3], num_steps=4, filters=96, num_blocks=2,
        num_components=32, feature_filters=32, feature_blocks=3,
        dropout=0.2)
    model = FlowModel(dist, num_levels=256, dequantizer=dequantizer)

  Sampling and `decode` invert each coupling by root finding (see
  `LogisticMixtureCoupling`); `log_prob` and `encode` are analytic.

  Far from the data. Every finite input within the range below gets a
  finite log-density, whatever the coupling networks' weights. Data to
  latent, entrywise (|.| the largest magnitude of an event):

  * `Logit`: |u| <= 18.9 |x| + 2.95 (linear outside [0, 1]);
  * each step's ActNorm and 1x1 convolution are linear: |v| <= G (|u| + A),
    with G their largest gain (exp(-log_scale) times the largest absolute
    row sum of W^-1) and A ActNorm's largest |shift|, fixed by the weights;
  * each mixture coupling adds at most C = 5.97e6 (S = T = 1e3): |y| <=
    |v| + C, with log-det per entry in [-2.2e6, 8] (see Bounds in
    `LogisticMixtureCoupling`).

  With N steps (6 at the defaults) and G >= 1, |z| <= G^N (|u| + N (A + C)),
  and the log-dets sum to at least -2.2e6 * N * D plus the linear layers'
  constant ones. The Gaussian base's log-density over D entries overflows
  float32 only for |z| > sqrt(3.4e38 / D) (2.3e18 for D = 64 digits): an
  input at 1e4 (|u| <= 1.9e5) stays finite for G up to 63 per step
  (G^6 * 3.6e7 < 2.3e18), and with G = 1 inputs up to ~1e17 do. The
  paper's couplings (`tail_bound=None`) multiply by up to e^8 instead:
  1.9e5 * e^48 ~ 1e26 at 1e4, and a log_prob of -inf once their log-scales
  sit at the floor (tested).

  Args:
    event_shape: [H, W, C], H and W divisible by 2**num_scales, with at
      least 2 pixels left after the last squeeze.
    num_scales: L, squeezes (levels of the multi-scale structure).
    hidden_units: the channels of every `GatedAttentionNet` (its
      `filters`; the paper: 96).
    checkerboard_steps: checkerboard steps of each level, before its squeeze.
    channel_steps: channel-split steps of each level, after its squeeze.
    final_steps: checkerboard steps after the last level.
    num_blocks: gated residual blocks of every `GatedAttentionNet`.
    num_heads: attention heads of every `GatedAttentionNet`.
    dropout: dropout rate of every `GatedAttentionNet`.
    num_components: K of every mixture coupling.
    alpha: logit preprocessing margin.
    context_shape: [C] for a conditional flow p(x | c): every conditioner
      sees c and the prior on the latent is N(mu(c), sigma(c)^2)
      (`bijectors.ContextAffine`); else None.
    prior: the base on the latent vector, "gaussian" (the paper's) or
      "logistic" (`priors.standard_prior`).
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution.

  Returns:
    `tfd.TransformedDistribution` over `event_shape`. Train it with
    `FlowModel` on uniformly dequantized data (`data.load(...,
    dequantize=True)`), or, as the paper, with
    `FlowModel(dist, num_levels=K, dequantizer=VariationalDequantizer(...))`
    on bin centres (`dequantize=False`; `tfp_flows.dequantization`).

  References:
    Ho, J., Chen, X., Srinivas, A., Duan, Y. & Abbeel, P. (2019). Flow++:
      Improving Flow-Based Generative Models with Variational Dequantization and
      Architecture Design. ICML. arXiv:1902.00275.
  """
  if num_scales < 1:
    raise ValueError(f"`num_scales` must be >= 1; got {num_scales}.")
  height, width, channels = shapes_lib.check_image_shape(event_shape,
                                                         num_scales)
  if height * width < 4**num_scales * 2:
    raise ValueError(
        f"`event_shape` {list(event_shape)}: {num_scales} squeezes leave a "
        "single pixel, which a checkerboard cannot split.")
  common = dict(validate_args=validate_args, dtype=dtype)
  net_args = dict(filters=hidden_units, num_blocks=num_blocks,
                  num_heads=num_heads, dropout=dropout,
                  context_shape=context_shape)
  # Shapes entering each level, outermost first.
  shapes = [(height, width, channels)]
  for _ in range(num_scales - 1):
    h, w, c = shapes[-1]
    shapes.append((h // 2, w // 2, 2 * c))
  inner = None
  for level in reversed(range(num_scales)):
    h, w, c = shapes[level]
    prefix = f"{name}_level{level}"
    squeezed = (h // 2, w // 2, 4 * c)
    parts = _checkerboard_steps((h, w, c), checkerboard_steps, net_args,
                                num_components, common, f"{prefix}_checker")
    parts.append(tfb.Invert(flow_bijectors.Squeeze(
        event_shape=[h, w, c], validate_args=validate_args)))
    for i in range(channel_steps):
      parts += _step(squeezed, net_args, num_components, common,
                     f"{prefix}_channel{i}", num_masked=2 * c,
                     reverse=i % 2 == 1)
    if inner is None:
      parts += _checkerboard_steps(squeezed, final_steps, net_args,
                                   num_components, common, f"{prefix}_final")
      parts.append(flow_bijectors.Unflatten(list(squeezed),
                                            validate_args=validate_args))
    else:
      parts.append(flow_bijectors.FactorOut(inner, list(squeezed),
                                            name=f"{prefix}_split", **common))
    inner = tfb.Chain(parts, validate_args=validate_args, name=prefix)
  return priors.flow_over_latents(
      [flow_bijectors.Logit(alpha, **common), inner], event_shape,
      context_shape, validate_args, dtype, name, prior)
