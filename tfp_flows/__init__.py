"""tfp_flows: normalizing flows as TensorFlow Probability bijectors.

Public API:

* `tfp_flows.bijectors`: AdditiveCoupling, AffineCoupling, SplineCoupling,
  LogisticMixtureCoupling, Coupling (base class), MaskedAutoregressive,
  MaskedAutoregressiveSpline, MaskedAutoregressiveSigmoidal,
  Autoregressive (base class), BlockAutoregressive, InvertibleResidual,
  ActNorm, InvertibleConv1x1, Permute, Squeeze, FactorOut, Logit, Rescaling,
  Unflatten, ContextAffine, Planar, Radial, Sylvester, masks,
  rational_quadratic_spline.
* `tfp_flows.nets`: conditioner networks (MLP, ResNet, GlowNet,
  GatedAttentionNet, MADE, SplitPriorNet) and residual branches
  (LipschitzMLP, LipschitzConvNet).
* `tfp_flows.flows`: builders returning `tfd.TransformedDistribution`
  (nice, realnvp, glow, flowpp, maf, iaf, nsf, naf, bnaf, residual_flow,
  multiscale_residual_flow, ffjord, coupling_flow, planar, radial,
  sylvester; their `registry`), and `chain`,
  which composes flows and bijectors into one.
* `tfp_flows.context`: the context convention of conditional flows p(x | c)
  and its routing (`context_shape`, `bijector_kwargs`); every builder takes
  `context_shape=[C]` and every application `context=`.
* `tfp_flows.dequantization`: uniform and variational dequantizers (train
  with `FlowModel(..., dequantizer=)`).
* `FlowModel` (`training`), its callbacks `LinearWarmup`, `NaNGuard`,
  `SampleGrid`, `Throughput` (`callbacks`), and `bits_per_dim`,
  `evaluate_nll`, `evaluate_bits_per_dim` (`evaluation`;
  `evaluation.importance_weighted_bits_per_dim`: the bound of a dequantized
  flow).
* `experiment`: one training run as a library call (`TrainConfig` ->
  metrics and files), what `tfp-flows train` runs.
* `distribute`: strategies by name (multi-worker from TF_CONFIG), chief-only
  writing, sharding by data.
* `sample`, `log_prob`, `temperature_grid`, `encode`, `decode`,
  `interpolate`, `inpaint`, `attribute_direction`, `manipulate`: the papers'
  applications, each with `context=` for conditional flows.
* `save_flow`, `load_flow`: a trained flow as config + weights.
* `export_saved_model`: SavedModel with serving signatures.
* `data`: TFDS pipelines, the offline digits dataset, 2-D toys.
* `testing`: the bijector check harness.
* `VariationalFlowModel`, `vi`: reverse-KL / IWAE fitting of a flow to an
  unnormalised target through Keras, `importance_diagnostics`,
  `sample_and_log_prob`; `diagnostics`: ESS fraction, log Z with its
  standard error, Pareto k-hat; `neutra`: NeuTra NUTS/HMC; `targets`:
  banana, funnel, logistic regression, Rezende & Mohamed's energies.

`import tfp_flows` is light: each submodule, and TensorFlow with it, loads on
first use of a name from it.
"""

import importlib
import typing

__version__ = "0.1.0"

# Everything below loads on first access (PEP 562), so that `import
# tfp_flows` and `tfp-flows --help` do not wait for TensorFlow.
# Public name -> submodule that defines it.
_ATTRIBUTES = {
    "attribute_direction": "applications",
    "decode": "applications",
    "encode": "applications",
    "inpaint": "applications",
    "interpolate": "applications",
    "log_prob": "applications",
    "manipulate": "applications",
    "sample": "applications",
    "temperature_grid": "applications",
    "export_saved_model": "export",
    "load_flow": "saving",
    "save_flow": "saving",
    "FlowModel": "training",
    "LinearWarmup": "callbacks",
    "NaNGuard": "callbacks",
    "SampleGrid": "callbacks",
    "Throughput": "callbacks",
    "bits_per_dim": "evaluation",
    "evaluate_bits_per_dim": "evaluation",
    "evaluate_nll": "evaluation",
    "VariationalFlowModel": "vi",
}
# Every submodule and subpackage, public or not, so that `tfp_flows.training`
# works after a plain `import tfp_flows` as it did when they were imported
# eagerly.
_SUBMODULES = frozenset({
    "applications", "baselines", "bijectors", "callbacks", "cli", "context",
    "data", "dequantization", "diagnostics", "distribute", "evaluation",
    "experiment",
    "export", "files",
    "flows", "images", "nets", "neutra", "saving", "targets", "testing",
    "tfp_internal", "toy_entropy", "training", "vi",
})

__all__ = [
    "FlowModel", "LinearWarmup", "NaNGuard", "SampleGrid", "Throughput",
    "VariationalFlowModel", "attribute_direction", "baselines", "bijectors",
    "bits_per_dim", "context", "data", "decode",
    "dequantization", "diagnostics", "distribute", "encode", "experiment",
    "evaluate_bits_per_dim", "evaluate_nll", "export_saved_model", "flows",
    "images", "inpaint", "interpolate", "load_flow", "log_prob", "manipulate",
    "nets", "neutra", "sample", "save_flow", "targets", "temperature_grid",
    "testing", "vi"
]


def __getattr__(name):
  if name in _ATTRIBUTES:
    module = importlib.import_module(f"{__name__}.{_ATTRIBUTES[name]}")
    value = getattr(module, name)
  elif name in _SUBMODULES:
    value = importlib.import_module(f"{__name__}.{name}")
  else:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  globals()[name] = value  # Later accesses skip this function.
  return value


def __dir__():
  return sorted(set(globals()) | set(__all__) | _SUBMODULES)


if typing.TYPE_CHECKING:  # For type checkers and IDEs: the same names, eagerly.
  # pylint: disable=g-import-not-at-top,unused-import
  from tfp_flows import baselines, bijectors, context, data
  from tfp_flows import dequantization, diagnostics, distribute, experiment
  from tfp_flows import flows, images
  from tfp_flows import nets, neutra, targets, testing, vi
  from tfp_flows.applications import (attribute_direction, decode, encode,
                                      inpaint, interpolate, log_prob,
                                      manipulate,
                                      sample, temperature_grid)
  from tfp_flows.export import export_saved_model
  from tfp_flows.saving import load_flow, save_flow
  from tfp_flows.vi import VariationalFlowModel
  from tfp_flows.callbacks import (LinearWarmup, NaNGuard, SampleGrid,
                                   Throughput)
  from tfp_flows.evaluation import (bits_per_dim, evaluate_bits_per_dim,
                                    evaluate_nll)
  from tfp_flows.training import FlowModel
