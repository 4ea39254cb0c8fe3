"""tfp_flows bijectors: `tfp.bijectors.Bijector` subclasses, one per module."""

from tfp_flows.bijectors import masks
from tfp_flows.bijectors import rational_quadratic_spline
from tfp_flows.bijectors import transformers
from tfp_flows.bijectors.actnorm import ActNorm
from tfp_flows.bijectors.additive_coupling import AdditiveCoupling
from tfp_flows.bijectors.affine_coupling import AffineCoupling
from tfp_flows.bijectors.context_affine import ContextAffine
from tfp_flows.bijectors.autoregressive import Autoregressive
from tfp_flows.bijectors.block_autoregressive import BlockAutoregressive
from tfp_flows.bijectors.coupling import Coupling
from tfp_flows.bijectors.factor_out import FactorOut
from tfp_flows.bijectors.invertible_conv1x1 import InvertibleConv1x1
from tfp_flows.bijectors.invertible_residual import InvertibleResidual
from tfp_flows.bijectors.logistic_mixture_coupling import \
    LogisticMixtureCoupling
from tfp_flows.bijectors.logit import Logit
from tfp_flows.bijectors.masked_autoregressive import MaskedAutoregressive
from tfp_flows.bijectors.masked_autoregressive_sigmoidal import \
    MaskedAutoregressiveSigmoidal
from tfp_flows.bijectors.masked_autoregressive_spline import \
    MaskedAutoregressiveSpline
from tfp_flows.bijectors.permute import Permute
from tfp_flows.bijectors.planar import Planar
from tfp_flows.bijectors.radial import Radial
from tfp_flows.bijectors.rescaling import Rescaling
from tfp_flows.bijectors.spline_coupling import SplineCoupling
from tfp_flows.bijectors.squeeze import Squeeze
from tfp_flows.bijectors.sylvester import Sylvester
from tfp_flows.bijectors.unflatten import Unflatten

__all__ = [
    "ActNorm", "AdditiveCoupling", "AffineCoupling", "Autoregressive",
    "BlockAutoregressive",
    "ContextAffine", "Coupling", "FactorOut", "InvertibleConv1x1",
    "InvertibleResidual", "Logit",
    "LogisticMixtureCoupling", "MaskedAutoregressive",
    "MaskedAutoregressiveSigmoidal", "MaskedAutoregressiveSpline", "Permute", "Planar", "Radial", "Rescaling",
    "SplineCoupling", "Squeeze", "Sylvester", "Unflatten", "masks",
    "rational_quadratic_spline", "transformers"
]
