"""RealNVP (Dinh, Sohl-Dickstein & Bengio, 2016) as a `tfd.TransformedDistribution`."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.bijectors import masks
from tfp_flows.flows import build_config
from tfp_flows.flows import priors
from tfp_flows.flows import shapes as shapes_lib

tfb = tfp.bijectors

__all__ = ["CHECKERBOARDS", "realnvp"]


CHECKERBOARDS = ("masked", "packed")


def _coupling(shape_in, conditioning, net_args, common, name, **partition):
  """An exp-tanh affine coupling whose ResNet sees `conditioning` channels."""
  h, w, c = shape_in
  changed = c - partition.get("num_masked", 0)
  if "packed_checkerboard" in partition:
    w //= 2  # The ResNet sees, and predicts for, half-width images.
  net = nets.ResNet(output_channels=2 * changed, name=f"{name}_net", **net_args)
  net.build([None, h, w, conditioning])
  return flow_bijectors.AffineCoupling(net, event_ndims=3, scale_fn="exp_tanh",
                                       channels=changed,
                                       name=name, **partition, **common)


@build_config.records
def realnvp(event_shape,
            *,
            num_scales=2,
            hidden_units=32,
            num_blocks=2,
            alpha=0.05,
            checkerboard="masked",
            context_shape=None,
            prior="gaussian",
            validate_args=False,
            dtype=tf.float32,
            name="realnvp"):
  """Builds RealNVP's multi-scale flow over images in [0, 1).

  Data to latent: the logit preprocessing u = logit(alpha + (1 - 2 alpha) x)
  (its log-det counts, so log_prob is in data space), then per scale

    3 checkerboard affine couplings (alternating masks) -> squeeze ->
    3 channel-wise affine couplings (alternating halves) -> factor out half,

  and on the last scale 4 checkerboard couplings. Couplings use
  y_B = x_B * exp(log s) + t with log s = scale * tanh(h) and ResNet
  conditioners (`nets.ResNet`); factored-out halves are standard normal.

  Args:
    event_shape: [H, W, C], H and W divisible by 2**(num_scales - 1).
    num_scales: number of scales (the paper: 4 on CIFAR-10). The number of
      couplings per scale is the paper's (3 + 3, 4 on the last).
    hidden_units: ResNet width, its channels (the paper: 64).
    num_blocks: residual blocks per ResNet (the paper: 8).
    alpha: logit preprocessing constant (the paper: 0.05).
    checkerboard: "masked": each checkerboard coupling's ResNet sees the
      whole masked image [H, W, C] and half its outputs are used (the
      paper's description); "packed": both halves of the board are packed
      into half-width images [H, W / 2, C]
      (`masks.PackedCheckerboardPartition`), so the ResNet runs on half the
      pixels and predicts only what is used (about half the network work;
      normflows' layout; needs W divisible by 2**num_scales). The same
      parameters either way; a different model (packed neighbours lie at
      other offsets).
    context_shape: [C] for a conditional flow p(x | c): every ResNet sees c
      and the prior on the latent is N(mu(c), sigma(c)^2)
      (`bijectors.ContextAffine`); else None.
    prior: the base on the latent vector, "gaussian" (the paper's) or
      "logistic" (`priors.standard_prior`).
    validate_args: check inputs of every bijector at run time (includes
      data in [0, 1] for the logit).
    dtype: float dtype.
    name: name of the distribution.

  Returns:
    `tfd.TransformedDistribution` over `event_shape`.

  References:
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
  """
  if num_scales < 1:
    raise ValueError(f"`num_scales` must be >= 1; got {num_scales}.")
  h, w, c = shapes_lib.check_image_shape(event_shape, num_scales - 1)
  if checkerboard not in CHECKERBOARDS:
    raise ValueError(f"`checkerboard` must be one of {CHECKERBOARDS}; got "
                     f"{checkerboard!r}.")
  if checkerboard == "packed" and w % 2 ** num_scales:
    raise ValueError(
        f"checkerboard='packed' needs the width {w} divisible by "
        f"2**num_scales = {2 ** num_scales} (an even width at every scale); "
        "pad the images or use checkerboard='masked'.")
  common = dict(validate_args=validate_args, dtype=dtype)
  net_args = dict(hidden_channels=hidden_units, num_blocks=num_blocks,
                  context_shape=context_shape, dtype=nets.layer_dtype(dtype))
  # Shapes entering each scale, outermost first.
  shapes = [(h, w, c)]
  for _ in range(num_scales - 1):
    h, w, c = shapes[-1]
    shapes.append((h // 2, w // 2, 2 * c))
  inner = None
  for scale in reversed(range(num_scales)):
    h, w, c = shapes[scale]
    prefix = f"{name}_scale{scale}"
    last = scale == num_scales - 1
    parts = [
        _coupling((h, w, c), c, net_args, common, f"{prefix}_checker{i}",
                  **({"packed_checkerboard": i % 2}
                     if checkerboard == "packed" else
                     {"mask": masks.checkerboard(h, w, c, parity=i % 2)}))
        for i in range(4 if last else 3)
    ]
    if last:
      parts.append(flow_bijectors.Unflatten([h, w, c],
                                            validate_args=validate_args))
    else:
      squeezed = (h // 2, w // 2, 4 * c)
      parts.append(tfb.Invert(flow_bijectors.Squeeze(
          event_shape=[h, w, c], validate_args=validate_args)))
      parts += [
          _coupling(squeezed, 2 * c, net_args, common, f"{prefix}_channel{i}",
                    num_masked=2 * c, reverse=i % 2 == 1)
          for i in range(3)
      ]
      parts.append(flow_bijectors.FactorOut(inner, list(squeezed),
                                            name=f"{prefix}_split", **common))
    inner = tfb.Chain(parts, validate_args=validate_args, name=prefix)
  return priors.flow_over_latents(
      [flow_bijectors.Logit(alpha, **common), inner], event_shape,
      context_shape, validate_args, dtype, name, prior)
