"""tfp_flows: normalizing flows as TensorFlow Probability bijectors.

Public API:

* `tfp_flows.bijectors`: AdditiveCoupling, AffineCoupling, ActNorm,
  InvertibleConv1x1, Squeeze, FactorOut, Logit, Rescaling, Unflatten, Coupling
  (base class), masks.
* `tfp_flows.nets`: conditioner networks (MLP, ResNet, GlowNet).
* `tfp_flows.flows`: builders returning `tfd.TransformedDistribution`
  (nice, realnvp, glow).
* `FlowModel`, `NaNGuard`, `bits_per_dim`, `evaluate_bits_per_dim`: training.
* `sample`, `encode`, `decode`, `interpolate`: temperature sampling and
  latent maps.
* `export_saved_model`: SavedModel with serving signatures.
* `data`: TFDS pipelines, the offline digits dataset, 2-D toys.
* `testing`: the bijector check harness.
"""

from tfp_flows import baselines
from tfp_flows import bijectors
from tfp_flows import data
from tfp_flows import flows
from tfp_flows import images
from tfp_flows import nets
from tfp_flows import testing
from tfp_flows.applications import decode
from tfp_flows.applications import encode
from tfp_flows.applications import interpolate
from tfp_flows.applications import sample
from tfp_flows.export import export_saved_model
from tfp_flows.training import FlowModel
from tfp_flows.training import NaNGuard
from tfp_flows.training import bits_per_dim
from tfp_flows.training import evaluate_bits_per_dim

__version__ = "0.1.0"

__all__ = [
    "FlowModel", "NaNGuard", "baselines", "bijectors", "bits_per_dim", "data",
    "decode", "encode", "evaluate_bits_per_dim", "export_saved_model", "flows",
    "images", "interpolate", "nets", "sample", "testing"
]
