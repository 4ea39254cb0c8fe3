"""Flow families by name, with architecture defaults sized for digits."""

from tfp_flows.flows.flowpp import flowpp
from tfp_flows.flows.glow import glow
from tfp_flows.flows.nice import nice
from tfp_flows.flows.realnvp import realnvp

__all__ = ["ARCHITECTURE_DEFAULTS", "BUILDERS", "build"]

BUILDERS = {"nice": nice, "realnvp": realnvp, "glow": glow, "flowpp": flowpp}

# The offline digits data (1500 8x8 images) overfit larger networks; these
# sizes give the README's figures.
ARCHITECTURE_DEFAULTS = {
    "nice": dict(num_coupling_layers=4, hidden_units=[64, 64],
                 prior="logistic"),
    "realnvp": dict(num_scales=2, hidden_channels=10, num_blocks=1),
    "glow": dict(num_levels=2, depth=4, hidden_channels=32, coupling="affine",
                 lu_decomposed=False),
    # 27,946 parameters, Glow's budget. The registry builds the flow alone
    # (dequantization="uniform"); the CLI adds a variational dequantizer.
    "flowpp": dict(num_levels=1, checkerboard_steps=2, channel_steps=2,
                   final_steps=2, filters=8, num_blocks=1, num_heads=4,
                   num_components=4),
}


_COMMON = ("validate_args", "dtype")


def build(name, image_shape, **options):
  """Builds flow `name` over `image_shape`; `options` override the defaults.

  Args:
    name: one of `BUILDERS`.
    image_shape: [H, W, C] of the data.
    **options: builder arguments (see each builder), e.g. `depth=8`, and the
      arguments every builder takes (`validate_args`, `dtype`).

  Returns:
    The builder's `tfd.TransformedDistribution`.

  Raises:
    ValueError: unknown flow, or an option the flow does not take.
  """
  if name not in BUILDERS:
    raise ValueError(f"Unknown flow {name!r}; known: {sorted(BUILDERS)}.")
  unknown = set(options) - set(ARCHITECTURE_DEFAULTS[name]) - set(_COMMON)
  if unknown:
    raise ValueError(
        f"Options {sorted(unknown)} do not apply to flow {name!r}; it takes "
        f"{sorted(ARCHITECTURE_DEFAULTS[name])}.")
  kwargs = dict(ARCHITECTURE_DEFAULTS[name], **options)
  return BUILDERS[name](list(image_shape), **kwargs)
