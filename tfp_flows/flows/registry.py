"""Flow families by name, with architecture defaults sized for digits."""

import inspect

from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.coupling_flow import coupling_flow
from tfp_flows.flows.ffjord import ffjord
from tfp_flows.flows.flowpp import flowpp
from tfp_flows.flows.glow import glow
from tfp_flows.flows.nice import nice
from tfp_flows.flows.nsf import nsf
from tfp_flows.flows.realnvp import realnvp

__all__ = ["ARCHITECTURE_DEFAULTS", "BUILDERS", "build", "options"]

BUILDERS = {"nice": nice, "realnvp": realnvp, "glow": glow, "flowpp": flowpp,
            "maf": maf, "iaf": iaf, "ffjord": ffjord, "nsf": nsf,
            "coupling_flow": coupling_flow}

# The offline digits data (1500 8x8 images) overfit larger networks; these
# sizes give the README's figures.
ARCHITECTURE_DEFAULTS = {
    "nice": dict(num_coupling_layers=4, hidden_units=[64, 64],
                 prior="logistic"),
    "realnvp": dict(num_scales=2, hidden_channels=10, num_blocks=1),
    "glow": dict(num_scales=2, depth=4, hidden_channels=32, coupling="affine",
                 lu_decomposed=False),
    # 27,946 parameters, Glow's budget. The registry builds the flow alone
    # (dequantization="uniform"); the CLI adds a variational dequantizer.
    "flowpp": dict(num_scales=1, checkerboard_steps=2, channel_steps=2,
                   final_steps=2, filters=8, num_blocks=1, num_heads=4,
                   num_components=4),
    # Flattened 64-pixel images; about 36,000 parameters, as NICE and Glow.
    "maf": dict(num_layers=5, hidden_units=[32, 32]),
    "iaf": dict(num_layers=5, hidden_units=[32, 32]),
    # NSF-C: 4 couplings of 22-22 MLPs whose output layers (11 spline
    # parameters for each of 32 pixels) dominate; 37,824 parameters. ActNorm
    # standardises each pixel, so the data fill the splines' [-5, 5].
    "nsf": dict(num_layers=4, num_bins=4, hidden_units=[22, 22],
                actnorm=True),
    # The exact trace (D = 64 network passes per solver stage) keeps
    # log_prob deterministic; loose tolerances keep the solves short.
    "ffjord": dict(hidden_units=[64, 64], trace="exact", atol=1e-3,
                   rtol=1e-3),
    # Flattened images, RealNVP's affine couplings on halves; about 36,000
    # parameters.
    "coupling_flow": dict(num_layers=6, hidden_units=[48, 48]),
}

# Builder arguments that change what a builder returns (Flow++'s variational
# dequantizer makes it return a pair): the registry builds the flow alone.
_NOT_OPTIONS = frozenset({"dequantization", "dequantizer_options"})


def options(name):
  """The options flow `name` takes: its builder's keyword arguments."""
  if name not in BUILDERS:
    raise ValueError(f"Unknown flow {name!r}; known: {sorted(BUILDERS)}.")
  # The first parameter is the event (image) shape, passed positionally.
  parameters = list(inspect.signature(BUILDERS[name]).parameters)[1:]
  return sorted(set(parameters) - _NOT_OPTIONS)


def build(name, image_shape, **kwargs):
  """Builds flow `name` over `image_shape`; `kwargs` override the defaults.

  Args:
    name: one of `BUILDERS`.
    image_shape: the data's event shape, [H, W, C] for images.
    **kwargs: builder arguments (`options(name)` lists them), e.g.
      `depth=8`, `validate_args=True`.

  Returns:
    The builder's `tfd.TransformedDistribution`.

  Raises:
    ValueError: unknown flow, or an option its builder does not take.
  """
  valid = options(name)
  unknown = set(kwargs) - set(valid)
  if unknown:
    raise ValueError(
        f"Options {sorted(unknown)} do not apply to flow {name!r}; it takes "
        f"{valid}.")
  return BUILDERS[name](list(image_shape),
                        **dict(ARCHITECTURE_DEFAULTS[name], **kwargs))
