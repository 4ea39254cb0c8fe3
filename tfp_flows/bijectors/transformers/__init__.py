"""Transformers: the elementwise monotone maps of coupling and autoregressive layers.

A transformer is g(x; theta), applied to each transformed entry, with its
options (bins, bounds, tolerances) and no weights; a layer gives it theta
from its conditioner: `bijectors.Coupling(conditioner, transformer, ...)`
and `bijectors.Autoregressive(made, transformer)`. The named layers
(`AffineCoupling`, `MaskedAutoregressive`, `SplineCoupling`, ...) and the
builders (`flows.realnvp`, `flows.glow`, `flows.maf`, `flows.nsf`, ...) are
presets of these two with one transformer each.

* `Additive`: x + t (NICE).
* `Affine`: s x + t, s from "exp_tanh" (RealNVP), "inverse_sigmoid" (Glow),
  "soft_tanh" (MAF, IAF) or "sigmoid".
* `Spline`: rational-quadratic splines (neural spline flows).
* `LogisticMixture`: a mixture of logistics' CDF (Flow++).
* `Sigmoidal`: a deep sigmoidal flow (NAF), explicit from data to latent.
"""

from tfp_flows.bijectors.transformers.additive import Additive
from tfp_flows.bijectors.transformers.affine import Affine
from tfp_flows.bijectors.transformers.logistic_mixture import LogisticMixture
from tfp_flows.bijectors.transformers.sigmoidal import Sigmoidal
from tfp_flows.bijectors.transformers.spline import Spline
from tfp_flows.bijectors.transformers.transformer import Transformer

__all__ = ["Additive", "Affine", "LogisticMixture", "Sigmoidal", "Spline",
           "TRANSFORMERS", "Transformer", "from_config"]

TRANSFORMERS = (Additive, Affine, LogisticMixture, Sigmoidal, Spline)


def from_config(name, config):
  """The transformer `type(t).__name__ == name` with `t.get_config() == config`.

  Raises:
    ValueError: an unknown name, listing the known ones.
  """
  known = {cls.__name__: cls for cls in TRANSFORMERS}
  if name not in known:
    raise ValueError(f"Unknown transformer {name!r}; known: {sorted(known)}.")
  return known[name](**config)
