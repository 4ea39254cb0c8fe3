"""Flow families by name, with architecture defaults sized for digits."""

import inspect

from tfp_flows.flows.autoregressive import iaf
from tfp_flows.flows.autoregressive import maf
from tfp_flows.flows.bnaf import bnaf
from tfp_flows.flows.coupling_flow import coupling_flow
from tfp_flows.flows.ffjord import ffjord
from tfp_flows.flows.flowpp import flowpp
from tfp_flows.flows.glow import glow
from tfp_flows.flows.naf import naf
from tfp_flows.flows.nice import nice
from tfp_flows.flows.nsf import nsf
from tfp_flows.flows.planar import planar
from tfp_flows.flows.radial import radial
from tfp_flows.flows.realnvp import realnvp
from tfp_flows.flows.residual_flow import multiscale_residual_flow
from tfp_flows.flows.residual_flow import residual_flow
from tfp_flows.flows.sylvester import sylvester

__all__ = ["ARCHITECTURE_DEFAULTS", "BUILDERS", "CONCEPTS", "LEADING",
           "TRAILING", "TRAIN_DEFAULTS", "build", "options"]

BUILDERS = {"nice": nice, "realnvp": realnvp, "glow": glow, "flowpp": flowpp,
            "maf": maf, "iaf": iaf, "ffjord": ffjord, "nsf": nsf,
            "coupling_flow": coupling_flow, "naf": naf, "bnaf": bnaf,
            "residual_flow": residual_flow,
            "multiscale_residual_flow": multiscale_residual_flow,
            "planar": planar,
            "radial": radial, "sylvester": sylvester}

# Training settings per flow, tuned on the offline digits data (epochs over
# its 1,500 training images; `experiment.default_epochs` scales them to
# other datasets); the README's table comes from them.
TRAIN_DEFAULTS = {
    "nice": dict(epochs=250, learning_rate=1e-3, temperature=1.0),
    "realnvp": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
    # Glow's samples are shown at T = 0.7 in the paper.
    "glow": dict(epochs=150, learning_rate=2e-3, temperature=0.7),
    "flowpp": dict(epochs=150, learning_rate=2e-3, temperature=1.0),
    "maf": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
    # IAF's density, hence its training step, takes D = 64 passes per layer;
    # FFJORD's an ODE solve: fewer epochs.
    "iaf": dict(epochs=20, learning_rate=1e-3, temperature=1.0),
    "ffjord": dict(epochs=20, learning_rate=1e-3, temperature=1.0),
    "coupling_flow": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
    "nsf": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
    "naf": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
    "residual_flow": dict(epochs=150, learning_rate=3e-3, temperature=1.0),
    "bnaf": dict(epochs=150, learning_rate=1e-3, temperature=1.0),
    # At 1e-3 it ends 150 epochs at 2.59, still improving (seed 0).
    "multiscale_residual_flow": dict(epochs=150, learning_rate=3e-3,
                                     temperature=1.0),
    # Surrogates for variational inference; on data their density takes a
    # root find per layer (Sylvester: D in sequence per layer).
    "planar": dict(epochs=50, learning_rate=1e-3, temperature=1.0),
    "radial": dict(epochs=50, learning_rate=1e-3, temperature=1.0),
    "sylvester": dict(epochs=20, learning_rate=1e-3, temperature=1.0),
}

# The builders' contract: `builder(event_shape, *, ...)`, keyword-only after
# the shape; an option that several builders take means the same in each
# (the CLI's --help shows these meanings); a builder's keywords start with
# the LEADING ones it takes and end with the TRAILING ones, in these orders
# (tested), its own options between.
CONCEPTS = {
    "num_layers": "flow layers: couplings or autoregressive layers (steps "
                  "per level in a multi-scale flow)",
    "num_scales": "levels L of a multi-scale image flow (its squeezes)",
    "hidden_units": "network width: hidden sizes of each MLP or MADE "
                    "(comma-separated; bnaf: units per entry of each hidden "
                    "layer), or the channels of each conv net (one integer)",
    "num_blocks": "residual blocks of each conv net",
    "coupling": "the coupling transform: affine, additive (or spline: "
                "glow), or in Python a bijectors.transformers object",
    "transformer": "each autoregressive layer's elementwise map: None for "
                   "the affine one, or a bijectors.transformers object",
    "actnorm": "an ActNorm before each layer",
    "permutation": "the order between layers: reverse or random",
    "activation": "the networks' activation",
    "alpha": "the logit preprocessing margin",
    "log_scale_bound": "B: each autoregressive layer's |log-scale| < B",
    "bound": "B: each entry's monotone transform acts on [-B, B], with "
             "slope-1 tails beyond",
    "coefficient": "a residual flow's bound on each layer's spectral norm, "
                   "in (0, 1)",
    "log_det": "a residual flow's log-dets: exact (Jacobians) or estimate "
               "(unbiased power series)",
    "learn_split_prior": "learned N(mu, sigma) priors at a multi-scale "
                         "flow's splits, else standard normal ones",
    "context_shape": "[C] for a conditional flow p(x | c), else None",
    "prior": "the base of the latent: gaussian or logistic",
    "seed": "seed of the flow's random structure (permutations, initial "
            "weights, estimator noise)",
    "validate_args": "check inputs of every bijector at run time",
    "dtype": "float dtype of the flow",
    "name": "name of the distribution",
}
LEADING = ("num_layers", "num_scales", "hidden_units")
TRAILING = ("context_shape", "prior", "seed", "validate_args", "dtype", "name")

# The offline digits data (1500 8x8 images) overfit larger networks; these
# sizes give the README's figures.
ARCHITECTURE_DEFAULTS = {
    "nice": dict(num_layers=4, hidden_units=[64, 64], prior="logistic"),
    "realnvp": dict(num_scales=2, hidden_units=10, num_blocks=1),
    "glow": dict(num_layers=4, num_scales=2, hidden_units=32,
                 coupling="affine", lu_decomposed=False),
    # 27,946 parameters, Glow's budget. The CLI's --dequantization
    # variational adds a variational dequantizer beside the flow.
    "flowpp": dict(num_scales=1, hidden_units=8, checkerboard_steps=2,
                   channel_steps=2, final_steps=2, num_blocks=1, num_heads=4,
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
    # 3 layers of [16, 16] MADEs, 4 sigmoids per pixel (12 outputs each, the
    # output layers dominate); about 40,000 parameters.
    "naf": dict(num_layers=3, hidden_units=[16, 16], num_sigmoids=4),
    # 4 blocks of 64-48-48-64 Lipschitz MLPs, exact log-dets (64 x 64
    # Jacobians); about 35,000 parameters.
    "residual_flow": dict(num_layers=4, hidden_units=[48, 48]),
    # 2 layers, one hidden layer of 4 units per pixel (256 units); 67,840
    # parameters stored, half of them in masked (zero) blocks, as MADE's.
    "bnaf": dict(num_layers=2, hidden_units=[4]),
    # 2 levels of 4 blocks, 3x3-1x1-3x3 convolutions of 32 channels; about
    # 37,000 parameters. Estimated log-dets (unbiased) in training.
    "multiscale_residual_flow": dict(num_layers=4, num_scales=2,
                                     hidden_units=32, log_det="estimate"),
    # The variational-inference surrogates at their builders' sizes.
    "planar": dict(num_layers=8),
    "radial": dict(num_layers=8),
    "sylvester": dict(num_layers=4, num_reflections=2),
}

def options(name):
  """The options flow `name` takes: its builder's keyword arguments."""
  if name not in BUILDERS:
    raise ValueError(f"Unknown flow {name!r}; known: {sorted(BUILDERS)}.")
  # The first parameter is the event shape, the only positional one.
  return sorted(list(inspect.signature(BUILDERS[name]).parameters)[1:])


def build(name, event_shape, **kwargs):
  """Builds flow `name` over `event_shape`; `kwargs` override the defaults.

  Args:
    name: one of `BUILDERS`.
    event_shape: the data's event shape, [H, W, C] for images.
    **kwargs: builder arguments (`options(name)` lists them), e.g.
      `num_layers=8`, `validate_args=True`. `seed` is taken by every flow:
      a builder with a seed of its own (initial weights, permutations,
      estimator noise) gets it; one without random structure (its networks
      draw from TensorFlow's global stream) ignores it.

  Returns:
    The builder's `tfd.TransformedDistribution`.

  Raises:
    ValueError: unknown flow, or an option its builder does not take.
  """
  valid = options(name)
  if "seed" not in valid:
    kwargs.pop("seed", None)
  unknown = set(kwargs) - set(valid)
  if unknown:
    raise ValueError(
        f"Options {sorted(unknown)} do not apply to flow {name!r}; it takes "
        f"{valid}.")
  return BUILDERS[name](list(event_shape),
                        **dict(ARCHITECTURE_DEFAULTS[name], **kwargs))
