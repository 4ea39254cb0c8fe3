"""tfp_flows: normalizing flows as TensorFlow Probability bijectors.

Public API:

* `tfp_flows.bijectors`: AdditiveCoupling, AffineCoupling, ActNorm,
  InvertibleConv1x1, LogisticMixtureCoupling, MaskedAutoregressive, Squeeze,
  FactorOut, Logit, Rescaling, Unflatten, Coupling (base class), masks.
* `tfp_flows.nets`: conditioner networks (MLP, ResNet, GlowNet,
  GatedAttentionNet, MADE).
* `tfp_flows.flows`: builders returning `tfd.TransformedDistribution`
  (nice, realnvp, glow, flowpp, maf, iaf, ffjord), and `chain`, which
  composes flows and bijectors into one.
* `tfp_flows.conditional`: conditional flows p(x | c): context-aware
  conditioners, `coupling_flow`, routing of the context (`log_prob`,
  `sample`, ...), `ConditionalFlowModel`, `export_conditional_saved_model`.
* `tfp_flows.dequantization`: uniform and variational dequantization,
  `DequantizedFlowModel`, `importance_weighted_bits_per_dim`.
* `FlowModel`, `LinearWarmup`, `NaNGuard`, `SampleGrid`, `Throughput`,
  `bits_per_dim`, `evaluate_nll`, `evaluate_bits_per_dim`: training and
  evaluation.
* `distribute`: strategies by name (multi-worker from TF_CONFIG), chief-only
  writing, sharding by data.
* `sample`, `temperature_grid`, `encode`, `decode`, `interpolate`, `inpaint`,
  `attribute_direction`, `manipulate`: the papers' applications.
* `save_flow`, `load_flow`: a trained flow as config + weights.
* `export_saved_model`: SavedModel with serving signatures.
* `data`: TFDS pipelines, the offline digits dataset, 2-D toys.
* `testing`: the bijector check harness.
"""

from tfp_flows import baselines
from tfp_flows import bijectors
from tfp_flows import conditional
from tfp_flows import data
from tfp_flows import dequantization
from tfp_flows import distribute
from tfp_flows import flows
from tfp_flows import images
from tfp_flows import nets
from tfp_flows import testing
from tfp_flows.applications import attribute_direction
from tfp_flows.applications import decode
from tfp_flows.applications import encode
from tfp_flows.applications import inpaint
from tfp_flows.applications import interpolate
from tfp_flows.applications import manipulate
from tfp_flows.applications import sample
from tfp_flows.applications import temperature_grid
from tfp_flows.export import export_saved_model
from tfp_flows.saving import load_flow
from tfp_flows.saving import save_flow
from tfp_flows.training import FlowModel
from tfp_flows.training import LinearWarmup
from tfp_flows.training import NaNGuard
from tfp_flows.training import SampleGrid
from tfp_flows.training import Throughput
from tfp_flows.training import bits_per_dim
from tfp_flows.training import evaluate_bits_per_dim
from tfp_flows.training import evaluate_nll

__version__ = "0.1.0"

__all__ = [
    "FlowModel", "LinearWarmup", "NaNGuard", "SampleGrid", "Throughput",
    "attribute_direction", "baselines", "bijectors", "bits_per_dim",
    "conditional", "data",
    "decode", "dequantization", "distribute", "encode", "evaluate_bits_per_dim",
    "evaluate_nll", "export_saved_model", "flows", "images", "inpaint",
    "interpolate", "load_flow", "manipulate", "nets", "sample", "save_flow",
    "temperature_grid", "testing"
]
